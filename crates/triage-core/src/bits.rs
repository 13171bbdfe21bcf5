//! A fixed-size bitset: which phrases hit, which rules remain candidates.

/// A set of small integers below a fixed bound.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Bits {
    words: Vec<u64>,
}

impl Bits {
    /// An empty set able to hold `0..n`.
    pub fn new(n: usize) -> Self {
        Bits { words: vec![0; n.div_ceil(64)] }
    }

    /// The set `0..n`.
    pub fn full(n: usize) -> Self {
        // One allocation: room for the partial last word from the start.
        let mut words = Vec::with_capacity(n.div_ceil(64));
        words.resize(n / 64, u64::MAX);
        if !n.is_multiple_of(64) {
            words.push((1u64 << (n % 64)) - 1);
        }
        Bits { words }
    }

    pub fn set(&mut self, i: usize) {
        if let Some(w) = self.words.get_mut(i / 64) {
            *w |= 1 << (i % 64);
        }
    }

    pub fn clear(&mut self, i: usize) {
        if let Some(w) = self.words.get_mut(i / 64) {
            *w &= !(1 << (i % 64));
        }
    }

    /// Keeps only members also in `a` or `b`, without allocating.
    pub fn and_with_union(&mut self, a: &Bits, b: Option<&Bits>) {
        match b {
            None => self.and_with(a),
            Some(b) => {
                for ((x, a), b) in self.words.iter_mut().zip(&a.words).zip(&b.words) {
                    *x &= *a | *b;
                }
            }
        }
    }

    pub fn get(&self, i: usize) -> bool {
        self.words.get(i / 64).is_some_and(|w| w & (1 << (i % 64)) != 0)
    }

    /// Keeps only members also in `other`.
    pub fn and_with(&mut self, other: &Bits) {
        for (a, b) in self.words.iter_mut().zip(&other.words) {
            *a &= *b;
        }
    }

    /// Adds every member of `other`.
    pub fn or_with(&mut self, other: &Bits) {
        for (a, b) in self.words.iter_mut().zip(&other.words) {
            *a |= *b;
        }
    }

    /// Removes every member of `other`.
    pub fn and_not(&mut self, other: &Bits) {
        for (a, b) in self.words.iter_mut().zip(&other.words) {
            *a &= !*b;
        }
    }

    /// Becomes a copy of `other` (of the same size), without allocating.
    pub fn copy_from(&mut self, other: &Bits) {
        self.words.copy_from_slice(&other.words);
    }

    /// Whether there are no members.
    pub fn is_empty(&self) -> bool {
        self.words.iter().all(|w| *w == 0)
    }

    /// The smallest member.
    pub fn first(&self) -> Option<usize> {
        self.words.iter().enumerate().find(|(_, w)| **w != 0).map(|(i, w)| i * 64 + w.trailing_zeros() as usize)
    }

    /// How many members there are.
    pub fn count(&self) -> usize {
        self.words.iter().map(|w| w.count_ones() as usize).sum()
    }

    /// Members in increasing order.
    pub fn iter(&self) -> impl Iterator<Item = usize> + '_ {
        self.words.iter().enumerate().flat_map(|(wi, &w)| {
            let mut w = w;
            std::iter::from_fn(move || {
                if w == 0 {
                    return None;
                }
                let tz = w.trailing_zeros() as usize;
                w &= w - 1;
                Some(wi * 64 + tz)
            })
        })
    }
}

/// Below this many rows in all, a row set is always a bitset.
const LIST_MIN_ROWS: usize = 4096;

/// A set of rows in an index: a bitset, or, when it holds few of many rows
/// (under 1 in 32 of at least [`LIST_MIN_ROWS`]), the list of its rows. An
/// index with a set per distinct value then takes memory linear in its
/// entries: 50,000 rules or rows each naming its own value once took
/// gigabytes as 50,000 bitsets of 50,000 bits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RowSet {
    /// Every row, as bits.
    Bits(Bits),
    /// The rows, ascending.
    List(Vec<u32>),
}

impl RowSet {
    /// The set of `rows` (ascending) out of `n`.
    pub fn of(rows: Vec<u32>, n: usize) -> RowSet {
        if n >= LIST_MIN_ROWS && rows.len().saturating_mul(32) < n {
            RowSet::List(rows)
        } else {
            let mut bits = Bits::new(n);
            for r in rows {
                bits.set(r as usize);
            }
            RowSet::Bits(bits)
        }
    }

    /// Adds the set's rows to `out`.
    pub fn or_into(&self, out: &mut Bits) {
        match self {
            RowSet::Bits(b) => out.or_with(b),
            RowSet::List(rows) => rows.iter().for_each(|&r| out.set(r as usize)),
        }
    }
}

impl Bits {
    /// [`Bits::and_with_union`] with a row set.
    pub fn and_with_union_set(&mut self, a: &Bits, b: Option<&RowSet>) {
        match b {
            None => self.and_with(a),
            Some(RowSet::Bits(b)) => self.and_with_union(a, Some(b)),
            Some(RowSet::List(rows)) => {
                let kept: Vec<u32> = rows.iter().copied().filter(|&r| self.get(r as usize)).collect();
                self.and_with(a);
                kept.iter().for_each(|&r| self.set(r as usize));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_get_iter_and() {
        let mut a = Bits::new(130);
        for i in [0, 5, 64, 129] {
            a.set(i);
        }
        assert_eq!(a.iter().collect::<Vec<_>>(), vec![0, 5, 64, 129]);
        let mut b = Bits::new(130);
        b.set(64);
        b.set(7);
        a.and_with(&b);
        assert_eq!(a.iter().collect::<Vec<_>>(), vec![64]);
        assert!(!a.get(200));
        assert_eq!(Bits::full(3).iter().count(), 3);
    }

    #[test]
    fn row_sets_act_alike_as_lists_and_bits() {
        for n in [100, 10_000] {
            let rows = vec![3, 70, 99];
            let set = RowSet::of(rows.clone(), n);
            assert_eq!(matches!(set, RowSet::List(_)), n == 10_000);
            let mut out = Bits::new(n);
            set.or_into(&mut out);
            assert_eq!(out.iter().collect::<Vec<_>>(), [3, 70, 99]);
            let mut kept = Bits::full(n);
            kept.clear(70);
            let mut base = Bits::new(n);
            base.set(5);
            kept.and_with_union_set(&base, Some(&set));
            assert_eq!(kept.iter().collect::<Vec<_>>(), [3, 5, 99]);
        }
    }
}
