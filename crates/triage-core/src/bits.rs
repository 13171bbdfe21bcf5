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
}
