//! Keyword, phrase and regex matching over text fields, compiled once.
//!
//! Every phrase any rule (or knowledge article, or sentiment lexicon) looks
//! for in one field goes into a single Aho-Corasick automaton for that field,
//! and every regex over that field into one `RegexSet`. Evaluating a case
//! scans each field once and records which phrases and regexes hit in a
//! bitset; conditions then only test bits.
//!
//! Phrase semantics, as rule authors read them: matching ignores case, runs
//! of white space and Unicode compatibility forms (text and phrases are
//! compared in NFKC, so `ＲＥＦＵＮＤ` is `refund` and `ｼｽﾃﾑ` is `システム`;
//! final sigma, `ß` and dotted capital I fold too), and a phrase matches whole words only
//! (`refund` does not match `refunded`). A trailing `*` makes the last word
//! a prefix (`refund*` matches `refunds` and `refunded`).
//!
//! Words end where a letter or digit meets anything else, and where Unicode
//! text segmentation (UAX #29, through `unicode-segmentation`) puts a word
//! boundary between two letters: each Han ideograph and each Hiragana
//! character is a word of its own, a run of Katakana is one word, and a
//! change of script is a boundary. So `障害` matches `システム障害が発生`,
//! `退款` matches `我要申请退款` and `refund` matches `请帮我refund这个订单`,
//! while `car` still does not match `daycare`. Hangul syllables join into
//! words as Latin letters do (Korean is written with spaces; a particle
//! written onto a word needs `*`, as in `환불*`). Thai, Lao, Khmer and
//! Burmese have no boundaries without a dictionary, so their phrases match
//! anywhere, though never inside a character's combining marks.

use crate::bits::Bits;
use crate::schema::Slot;
use aho_corasick::{AhoCorasick, AhoCorasickBuilder, AhoCorasickKind, MatchKind};
use regex::{RegexSet, RegexSetBuilder};
use std::collections::BTreeMap;
use unicode_normalization::UnicodeNormalization;

/// ASCII white space as `char::is_whitespace` sees it (which includes the
/// vertical tab, unlike `u8::is_ascii_whitespace`).
fn ascii_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
}

/// `str::trim`, also taking off the invisible format characters a value
/// pasted from a document or a spreadsheet carries at its ends (zero-width
/// space and joiners, the byte-order mark, the word joiner, soft hyphen,
/// direction marks), without decoding characters when both ends are plain
/// ASCII that is not white space (nearly every id, code and name).
pub(crate) fn trim(s: &str) -> &str {
    match (s.as_bytes().first(), s.as_bytes().last()) {
        (Some(&a), Some(&b)) if a.is_ascii_graphic() && b.is_ascii_graphic() => s,
        _ => s.trim_matches(|c: char| c.is_whitespace() || invisible_format(c)),
    }
}

/// Format characters (Unicode category Cf) that show nothing: `DE` with a
/// zero-width space after it is `DE` to whoever typed it.
pub(crate) fn invisible_format(c: char) -> bool {
    matches!(c, '\u{00AD}' | '\u{180E}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2064}' | '\u{FEFF}')
}

/// Lower-cases and folds white space, the form both phrases and text are
/// matched in: runs of white space become one space, none at either end.
///
/// Runs of bytes that need no change (lower-case ASCII, digits,
/// punctuation, single spaces between words) are copied in one piece; only
/// upper-case letters, other white space and non-ASCII characters are
/// handled one at a time.
pub(crate) fn normalize_into(text: &str, out: &mut String) {
    // Compatibility forms (full-width Latin, half-width Katakana with its
    // voiced marks, ligatures) and decomposed accents or Hangul jamo are
    // brought to one form first (NFKC); plain ASCII needs nothing.
    if !text.is_ascii()
        && unicode_normalization::is_nfkc_quick(text.chars()) != unicode_normalization::IsNormalized::Yes
    {
        let composed: String = text.nfkc().collect();
        normalize_nfkc_into(&composed, out);
    } else {
        normalize_nfkc_into(text, out);
    }
}

/// [`normalize_into`] of text already in NFKC.
fn normalize_nfkc_into(text: &str, out: &mut String) {
    out.clear();
    out.reserve(text.len());
    let bytes = text.as_bytes();
    let mut run = 0;
    let mut pending_space = false;
    let mut i = 0;
    let flush = |out: &mut String, pending: &mut bool, from: usize, to: usize| {
        if from < to {
            if *pending && !out.is_empty() {
                out.push(' ');
            }
            *pending = false;
            out.push_str(&text[from..to]);
        }
    };
    while i < bytes.len() {
        let b = bytes[i];
        let plain = match b {
            b'a'..=b'z' | b'0'..=b'9' => true,
            b' ' => {
                !pending_space
                    && (i > run || !out.is_empty())
                    && bytes.get(i + 1).is_some_and(|&n| n.is_ascii() && !ascii_space(n))
            }
            _ => b.is_ascii() && !b.is_ascii_uppercase() && !ascii_space(b),
        };
        if plain {
            i += 1;
            continue;
        }
        flush(out, &mut pending_space, run, i);
        if b.is_ascii() {
            if ascii_space(b) {
                pending_space = pending_space || !out.is_empty();
            } else {
                if pending_space {
                    out.push(' ');
                    pending_space = false;
                }
                out.push(char::from(b.to_ascii_lowercase()));
            }
            i += 1;
        } else {
            let Some(c) = text[i..].chars().next() else { break };
            i += c.len_utf8();
            if invisible(c) {
                // Left out.
            } else if c.is_whitespace() {
                pending_space = pending_space || !out.is_empty();
            } else {
                if pending_space {
                    out.push(' ');
                    pending_space = false;
                }
                push_folded(c, out);
            }
        }
        run = i;
    }
    flush(out, &mut pending_space, run, bytes.len());
}

/// Lower-cases one character as [`push_lower`] does for country names
/// (final sigma, `ß`, dotted capital I folded), with the typographic
/// apostrophe as `'` (`don’t`).
///
/// [`push_lower`]: crate::normalize::country_key::push_lower
fn push_folded(c: char, out: &mut String) {
    match c {
        '\u{2019}' | '\u{2018}' | '\u{02BC}' => out.push('\''),
        _ => crate::normalize::country_key::push_lower(c, out),
    }
}

/// Characters that show nothing and are left out of normalized text, so
/// what is on either side joins (`re\u{ad}fund` is `refund`): the soft
/// hyphen, zero-width space, non-joiner and joiner, word joiner and
/// byte-order mark.
fn invisible(c: char) -> bool {
    matches!(c, '\u{ad}' | '\u{200b}'..='\u{200d}' | '\u{2060}' | '\u{feff}')
}

/// The plain definition `normalize_into` must agree with.
#[cfg(test)]
fn normalize_reference(text: &str) -> String {
    let mut out = String::new();
    let mut pending_space = false;
    for c in text.nfkc() {
        if invisible(c) {
            continue;
        }
        if c.is_whitespace() {
            pending_space = !out.is_empty();
            continue;
        }
        if pending_space {
            out.push(' ');
            pending_space = false;
        }
        push_folded(c, &mut out);
    }
    out
}

/// A word with its accents taken off (`é` → `e`: canonical decomposition
/// without the combining marks), in `buf` when it has any to take.
pub(crate) fn unaccented<'a>(word: &'a str, buf: &'a mut String) -> &'a str {
    if word.is_ascii() {
        return word;
    }
    use unicode_normalization::UnicodeNormalization as _;
    buf.clear();
    buf.extend(word.nfd().filter(|&c| !unicode_normalization::char::is_combining_mark(c)));
    buf.as_str()
}

pub(crate) fn normalize(text: &str) -> String {
    let mut s = String::new();
    normalize_into(text, &mut s);
    s
}

fn is_word(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Whether a phrase may start or end between `before` and `after` (either
/// may be the text's end): a letter or digit meets something else, or UAX
/// #29 breaks the word between two non-ASCII letters (see the module
/// documentation). ASCII letters and digits never break among themselves.
fn boundary(before: Option<char>, after: Option<char>) -> bool {
    let (Some(a), Some(b)) = (before, after) else { return true };
    if !is_word(a) || !is_word(b) {
        // A combining mark belongs to the letter before it.
        return !(is_word(a) && is_mark(b));
    }
    if a.is_ascii() && b.is_ascii() {
        return false;
    }
    // Korean writes Latin letters and digits straight onto Hangul
    // (`API오류`, `오류500`); UAX #29 joins them, a reader does not.
    if is_hangul(a) != is_hangul(b) {
        return true;
    }
    word_break(a, b)
}

/// The words of normalized text ([`normalize_into`]), as phrases see them:
/// runs of letters, digits and their combining marks between boundaries
/// ([`boundary`]), in order.
pub(crate) fn words(text: &str) -> impl Iterator<Item = &str> {
    let mut rest = text.char_indices().peekable();
    std::iter::from_fn(move || {
        // To the first letter or digit.
        let (start, mut prev) = loop {
            let (i, c) = rest.next()?;
            if is_word(c) {
                break (i, c);
            }
        };
        let mut end = start + prev.len_utf8();
        while let Some(&(i, c)) = rest.peek() {
            if boundary(Some(prev), Some(c)) {
                break;
            }
            rest.next();
            end = i + c.len_utf8();
            prev = c;
        }
        Some(&text[start..end])
    })
}

fn is_hangul(c: char) -> bool {
    matches!(u32::from(c), 0xAC00..=0xD7A3 | 0x1100..=0x11FF | 0x3130..=0x318F | 0xA960..=0xA97F | 0xD7B0..=0xD7FF)
}

/// Whether UAX #29 puts a word boundary between two adjacent characters.
fn word_break(a: char, b: char) -> bool {
    use unicode_segmentation::UnicodeSegmentation;
    let mut buf = [0u8; 8];
    let la = a.encode_utf8(&mut buf).len();
    let lb = b.encode_utf8(&mut buf[la..]).len();
    std::str::from_utf8(&buf[..la + lb]).is_ok_and(|pair| pair.split_word_bounds().nth(1).is_some())
}

fn is_mark(c: char) -> bool {
    unicode_normalization::char::is_combining_mark(c)
}

/// Above this many bytes of phrases in one field, the automaton is a
/// contiguous NFA (smaller, a little slower to scan) instead of a full DFA.
const DFA_MAX_PATTERN_BYTES: usize = 64 * 1024;

/// Above this many bytes in its longest phrase, a field's automaton is a
/// contiguous NFA too: aho-corasick 1.1.5 fills each DFA state's missing
/// transitions by walking the failure chain in the NFA, so building the DFA
/// of a periodic phrase (`ab ab ab …`) costs the square of its length
/// (100 KB took 40 s). The NFA scans in linear time all the same.
const DFA_MAX_PHRASE_BYTES: usize = 256;

/// How many phrases make one guard state (see [`guard_pattern`]).
const PHRASES_PER_GUARD_STATE: usize = 16;

/// A pattern that never matches normalized text (it is made of `0xFF`
/// bytes, which UTF-8 never contains), put first in every automaton of
/// more than a few hundred phrases, one byte per 16 phrases.
///
/// Why: aho-corasick 1.1.5 moves match states ahead of the others after
/// building its trie, and its `Remapper::remap` then follows every chain of
/// moves from each of its members, which is quadratic when a few non-match
/// states are moved past many match states. That is the case for keywords
/// that extend one another (`kw1, kw10, kw100…`): 100,000 of them took 17 s
/// to compile. The guard's non-match states, created first, share the moves
/// so that no chain is longer than about 16 states, and the work is linear
/// in the number of phrases again.
fn guard_pattern(phrases: usize) -> Option<Vec<u8>> {
    (phrases > 256).then(|| vec![0xFF; phrases / PHRASES_PER_GUARD_STATE + 1])
}

/// Collects phrases and regexes per field while rules compile.
#[derive(Debug, Default)]
pub(crate) struct TextBuilder {
    /// Per scanned field: normalized phrase, prefix flag, global id.
    phrases: BTreeMap<Slot, Vec<(String, bool, u32)>>,
    phrase_ids: BTreeMap<(Slot, String, bool), u32>,
    regexes: BTreeMap<Slot, Vec<(String, u32)>>,
    regex_ids: BTreeMap<(Slot, String), u32>,
    next_phrase: u32,
    next_regex: u32,
    /// The phrase text of every global id, for traces.
    phrase_text: Vec<String>,
    /// A field made of other fields (`text` = subject and body): its
    /// phrases and regexes are added to the parts' matchers under the same
    /// ids, so each part is scanned once.
    compound: Option<(Slot, [Slot; 2])>,
}

impl TextBuilder {
    /// A builder that files `whole`'s patterns under its `parts`.
    pub fn with_compound(whole: Slot, parts: [Slot; 2]) -> Self {
        TextBuilder { compound: Some((whole, parts)), ..TextBuilder::default() }
    }

    fn targets(&self, slot: Slot) -> Vec<Slot> {
        match self.compound {
            Some((whole, parts)) if whole == slot => parts.to_vec(),
            _ => vec![slot],
        }
    }

    /// Registers a phrase for `slot` and returns its global id. `None` for an
    /// empty phrase.
    pub fn phrase(&mut self, slot: Slot, raw: &str) -> Option<u32> {
        let mut norm = normalize(raw);
        let prefix = norm.ends_with('*');
        if prefix {
            norm.pop();
            norm = norm.trim_end().to_string();
        }
        if norm.is_empty() {
            return None;
        }
        let key = (slot, norm.clone(), prefix);
        if let Some(&id) = self.phrase_ids.get(&key) {
            return Some(id);
        }
        let id = self.next_phrase;
        self.next_phrase += 1;
        self.phrase_ids.insert(key, id);
        for target in self.targets(slot) {
            self.phrases.entry(target).or_default().push((norm.clone(), prefix, id));
        }
        self.phrase_text.push(raw.trim().to_string());
        Some(id)
    }

    /// Checks and registers a regex for `slot`; the error text if invalid.
    pub fn regex(&mut self, slot: Slot, pattern: &str) -> Result<u32, String> {
        if let Some(&id) = self.regex_ids.get(&(slot, pattern.to_string())) {
            return Ok(id);
        }
        regex::RegexBuilder::new(pattern)
            .case_insensitive(true)
            .size_limit(1 << 20)
            .build()
            .map_err(|e| e.to_string())?;
        let id = self.next_regex;
        self.next_regex += 1;
        self.regex_ids.insert((slot, pattern.to_string()), id);
        for target in self.targets(slot) {
            self.regexes.entry(target).or_default().push((pattern.to_string(), id));
        }
        Ok(id)
    }

    pub fn build(self) -> Result<TextIndex, String> {
        let mut fields: BTreeMap<Slot, FieldMatcher> = BTreeMap::new();
        for (slot, list) in &self.phrases {
            let guard = guard_pattern(list.len());
            let patterns: Vec<&[u8]> =
                guard.iter().map(Vec::as_slice).chain(list.iter().map(|(p, _, _)| p.as_bytes())).collect();
            // A full DFA scans fastest; its size grows with the patterns'
            // total length and its build time with the longest one.
            let total: usize = list.iter().map(|(p, _, _)| p.len()).sum();
            let longest = list.iter().map(|(p, _, _)| p.len()).max().unwrap_or(0);
            let kind = if total <= DFA_MAX_PATTERN_BYTES && longest <= DFA_MAX_PHRASE_BYTES {
                AhoCorasickKind::DFA
            } else {
                AhoCorasickKind::ContiguousNFA
            };
            let ac = AhoCorasickBuilder::new()
                .match_kind(MatchKind::Standard)
                .kind(Some(kind))
                .build(&patterns)
                .map_err(|e| e.to_string())?;
            // The guard's entry is never read: a `str` holds no 0xFF byte.
            let meta = guard
                .iter()
                .map(|_| (u32::MAX, true))
                .chain(list.iter().map(|(_, prefix, id)| (*id, *prefix)))
                .collect();
            fields.entry(*slot).or_default().phrases = Some((ac, meta));
        }
        for (slot, list) in &self.regexes {
            let set = RegexSetBuilder::new(list.iter().map(|(p, _)| p.as_str()))
                .case_insensitive(true)
                .size_limit(1 << 24)
                .build()
                .map_err(|e| e.to_string())?;
            let ids = list.iter().map(|(_, id)| *id).collect();
            fields.entry(*slot).or_default().regexes = Some((set, ids));
        }
        Ok(TextIndex {
            fields: fields.into_iter().collect(),
            phrase_count: self.next_phrase as usize,
            regex_count: self.next_regex as usize,
            phrase_text: self.phrase_text,
        })
    }
}

#[derive(Debug, Default)]
pub(crate) struct FieldMatcher {
    phrases: Option<(AhoCorasick, Vec<(u32, bool)>)>,
    regexes: Option<(RegexSet, Vec<u32>)>,
}

/// All automata and regex sets of a rule set.
#[derive(Debug)]
pub(crate) struct TextIndex {
    pub fields: Vec<(Slot, FieldMatcher)>,
    pub phrase_count: usize,
    pub regex_count: usize,
    pub phrase_text: Vec<String>,
}

/// Which phrases and regexes hit for one case.
#[derive(Debug, Clone)]
pub(crate) struct Hits {
    pub phrases: Bits,
    pub regexes: Bits,
}

impl TextIndex {
    /// Scans each field once. `text_of(slot)` gives the field's raw text.
    /// Scans each field once. `text_of(slot)` gives the field's raw text
    /// in up to two parts (the `text` field is subject and body); a phrase
    /// or regex hits when it is found in either part, never across them.
    pub fn scan<'a>(&self, mut text_of: impl FnMut(Slot) -> [Option<&'a str>; 2]) -> Hits {
        let mut hits = Hits { phrases: Bits::new(self.phrase_count), regexes: Bits::new(self.regex_count) };
        let mut norm = String::new();
        for (slot, m) in &self.fields {
            for raw in text_of(*slot).into_iter().flatten() {
                if let Some((ac, meta)) = &m.phrases {
                    normalize_into(raw, &mut norm);
                    for found in ac.find_overlapping_iter(norm.as_str()) {
                        let (id, prefix) = meta[found.pattern().as_usize()];
                        if hits.phrases.get(id as usize) {
                            continue;
                        }
                        let matched = &norm[found.start()..found.end()];
                        let before_ok = boundary(norm[..found.start()].chars().next_back(), matched.chars().next());
                        let after_ok =
                            prefix || boundary(matched.chars().next_back(), norm[found.end()..].chars().next());
                        if before_ok && after_ok {
                            hits.phrases.set(id as usize);
                        }
                    }
                }
                if let Some((set, ids)) = &m.regexes {
                    for i in set.matches(raw).iter() {
                        hits.regexes.set(ids[i] as usize);
                    }
                }
            }
        }
        hits
    }
}

/// A piece of a note written with [`join_into`]: text as is, or a whole
/// number in decimal.
pub(crate) enum Piece<'a> {
    /// Text, copied as is.
    S(&'a str),
    /// A count, in decimal digits.
    N(usize),
    /// A signed number (capacity units), in decimal digits.
    I(i64),
}

/// Appends `pieces` to `out`. The notes every assignment writes are joined
/// this way rather than with `write!`, whose formatting machinery cost
/// about 600 instructions a note (a twentieth of a decision).
pub(crate) fn join_into(out: &mut String, pieces: &[Piece<'_>]) {
    let mut digits = itoa::Buffer::new();
    for p in pieces {
        match p {
            Piece::S(s) => out.push_str(s),
            Piece::N(n) => out.push_str(digits.format(*n)),
            Piece::I(n) => out.push_str(digits.format(*n)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hits_for(phrases: &[&str], text: &str) -> Vec<bool> {
        let mut b = TextBuilder::default();
        let ids: Vec<u32> = phrases.iter().map(|p| b.phrase(0, p).unwrap()).collect();
        let idx = b.build().unwrap();
        let h = idx.scan(|_| [Some(text), None]);
        ids.iter().map(|&i| h.phrases.get(i as usize)).collect()
    }

    #[test]
    fn phrases_match_whole_words_ignoring_case_and_spacing() {
        assert_eq!(
            hits_for(
                &["is down", "outage", "refund", "refund*", "ÄRGER"],
                "The API  IS\nDown; outages everywhere, refunded. ärger!"
            ),
            vec![true, false, false, true, true]
        );
    }

    #[test]
    fn phrases_in_scripts_without_spaces_match_at_unicode_word_boundaries() {
        assert_eq!(hits_for(&["障害"], "システム障害が発生しました"), vec![true]);
        assert_eq!(hits_for(&["退款"], "我要申请退款"), vec![true]);
        assert_eq!(hits_for(&["refund"], "请帮我refund这个订单"), vec![true]);
        assert_eq!(hits_for(&["システム", "ステム"], "システム障害"), vec![true, false], "Katakana runs are one word");
        assert_eq!(hits_for(&["car", "care"], "daycare"), vec![false, false]);
        assert_eq!(hits_for(&["ログイン"], "ログインできません"), vec![true]);
        assert_eq!(hits_for(&["api"], "ＡＰＩが落ちています"), vec![true], "full-width Latin is folded");
        assert_eq!(
            hits_for(&["システム", "ガイド"], "ｼｽﾃﾑ障害、ｶﾞｲﾄﾞ"),
            vec![true, true],
            "half-width Katakana is folded"
        );
        assert_eq!(hits_for(&["환불"], "환불 요청"), vec![true]);
        assert_eq!(hits_for(&["환불", "환불*"], "환불을 원합니다"), vec![false, true]);
        assert_eq!(hits_for(&["คืนเงิน"], "ขอคืนเงินค่ะ"), vec![true], "Thai has no boundaries to find");
        assert_eq!(hits_for(&["cafe"], "cafe\u{301} au lait"), vec![false], "a combining mark belongs to its letter");
        assert_eq!(hits_for(&["ärger"], "Ärger!"), vec![true]);
        assert_eq!(hits_for(&["σοφος", "straße", "istanbul", "don't"], "ΣΟΦΟΣ STRASSE İSTANBUL don’t"), vec![true; 4]);
        // Invisible characters join what they stand between.
        assert_eq!(
            hits_for(
                &["refund", "money back", "login"],
                "re\u{ad}fund mo\u{200d}ney\u{200b} back \u{feff}log\u{2060}in"
            ),
            vec![true; 3]
        );
        assert_eq!(normalize("a \u{200b} b"), "a b");
        assert_eq!(
            hits_for(
                &["café", "file", "환불"],
                "cafe\u{301} \u{FB01}le \u{1112}\u{116A}\u{11AB}\u{1107}\u{116E}\u{11AF}"
            ),
            vec![true; 3]
        );
        assert_eq!(
            hits_for(&["api", "오류", "500"], "API오류가 발생 오류500"),
            vec![true, true, true],
            "Latin and digits meet Hangul"
        );
        assert_eq!(hits_for(&["バグ", "ラーメン"], "ﾊﾞｸﾞとﾗｰﾒﾝ"), vec![true, true]);
    }

    #[test]
    fn keywords_that_extend_one_another_match_past_the_guard() {
        // Enough phrases for the guard pattern to go first in the automaton.
        let words: Vec<String> = (1..=2_000).map(|i| format!("kw{i}")).collect();
        let mut b = TextBuilder::default();
        let ids: Vec<u32> = words.iter().map(|w| b.phrase(0, w).unwrap()).collect();
        let idx = b.build().unwrap();
        let h = idx.scan(|_| [Some("see KW10 and kw1999, not kw20000"), None]);
        let hit: Vec<&str> =
            ids.iter().zip(&words).filter(|(i, _)| h.phrases.get(**i as usize)).map(|(_, w)| w.as_str()).collect();
        assert_eq!(hit, ["kw10", "kw1999"]);
    }

    #[test]
    fn a_long_periodic_phrase_matches_whole_words() {
        let phrase = "ab ".repeat(400);
        let text = format!("x {phrase}y");
        assert_eq!(hits_for(&[phrase.trim(), "ab ab"], &text), vec![true, true]);
        assert_eq!(hits_for(&[phrase.trim()], &"ab ".repeat(399)), vec![false]);
    }

    #[test]
    fn overlapping_phrases_all_hit() {
        assert_eq!(hits_for(&["service unavailable", "unavailable"], "service unavailable"), vec![true, true]);
    }

    #[test]
    fn normalize_folds_space_and_case() {
        assert_eq!(normalize("  Hello \t WORLD\n"), "hello world");
        assert_eq!(normalize("a \u{a0}b\u{2003}\u{2003}C"), "a b c");
        assert_eq!(normalize("ÄRGER  über Ünterschrift"), "ärger über ünterschrift");
        assert_eq!(normalize("x\x0by"), "x y");
    }

    proptest::proptest! {
        #[test]
        fn fast_normalize_agrees_with_the_reference(text in "[a-zA-Z0-9 \t\n\x0bÄäß\u{a0}\u{2003}.,İＡｚ０\u{3000}障ｶｼﾞﾟςΣß\u{301}ﬁ’\u{ad}\u{200b}\u{200d}\u{feff}]{0,40}") {
            proptest::prop_assert_eq!(normalize(&text), normalize_reference(&text));
        }
    }
}
