//! Near-duplicate text: the text a case is compared on, its MinHash
//! signature, and [`SimilarityIndex`], an index of recent cases that finds
//! the ones whose text is like a new case's.
//!
//! - **Text**: subject and body with quoted replies (`>` lines, an `On …
//!   wrote:` line and everything after it, Outlook's `-----Original
//!   Message-----` and `From:`/`Sent:` blocks) and the signature (after a
//!   `-- ` line) left out, and reply or forward prefixes (`Re:`, `AW:`,
//!   `Fwd:`, `WG:`, …) taken off the subject. It is normalized as phrases
//!   are (case, white space, Unicode compatibility forms), accents are
//!   folded (`é` → `e`), and cut into words as phrases are (so Han
//!   ideographs are words of their own).
//! - **Shingles**: every word that is not a common function word, without
//!   the commonest English inflections (`calls` → `call`), hashed to 64
//!   bits with a fixed seed. Single words rather than word pairs: two
//!   customers describing one problem share words far more often than
//!   word order.
//! - **Signature**: MinHash (Broder, 1997) with [`SIGNATURE_LEN`] hash
//!   functions from a seeded multiply-shift family, each bin kept as its
//!   low 8 bits (b-bit MinHash, Li and König, 2010). The share of equal
//!   bins of two signatures, less the 1 in 256 that agree by chance,
//!   estimates the Jaccard similarity of their shingle sets, with a standard error of `sqrt(J(1-J)/64)` (±0.06 at
//!   0.5). (One-permutation hashing was tried first and dropped: with
//!   densification its estimates of short texts, a dozen words, erred by up
//!   to 0.3.)
//! - **Candidates**: cases are grouped by their blocking key values; a
//!   group of up to 64 cases is compared case by case. A larger one is
//!   searched by LSH banding: the bins are cut into bands of `rows` bins,
//!   and two cases are candidates when one band is equal (the key values
//!   are part of each band's hash). `rows` is the largest of 1 to 8 for
//!   which a pair at the threshold is a candidate with probability at
//!   least 0.98 (`1 - (1 - t^rows)^bands`). With one row per band
//!   (thresholds below about 0.3) a band is a single value, which most
//!   cases of a group share with some other: banding cannot narrow the
//!   search, and every group is compared case by case.
//!
//! Everything is seeded and ordered: the same cases inserted in any order
//! give the same answers, on every machine.

use std::collections::{BTreeMap, BTreeSet};
use unicode_normalization::UnicodeNormalization as _;

/// Bins in a signature.
pub const SIGNATURE_LEN: usize = 64;

/// The seed of every hash here (fixed: signatures are comparable across
/// runs and machines).
const SEED: u64 = 0x7472_6961_6765_2d31; // "triage-1"

/// A case's text summary: [`SIGNATURE_LEN`] MinHash bins of 8 bits, the
/// lowest bits of each minimum (b-bit minwise hashing, Li and König,
/// "b-Bit Minwise Hashing", WWW 2010): 64 bytes a case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Signature(pub [u8; SIGNATURE_LEN]);

/// The chance two different minimums share their lowest 8 bits.
const BIN_COLLISION: f64 = 1.0 / 256.0;

impl Signature {
    /// The estimated Jaccard similarity of the two texts' shingle sets, 0 to
    /// 1: the share of equal bins, less the share that 8-bit bins of
    /// different minimums are equal by chance (`(m - 1/256) / (1 - 1/256)`,
    /// at least 0).
    pub fn similarity(&self, other: &Signature) -> f64 {
        let equal = self.0.iter().zip(&other.0).filter(|(a, b)| a == b).count();
        let m = equal as f64 / SIGNATURE_LEN as f64;
        ((m - BIN_COLLISION) / (1.0 - BIN_COLLISION)).clamp(0.0, 1.0)
    }
}

/// A 64-bit mix (the SplitMix64 finalizer, Steele, Lea and Flood, 2014).
pub(crate) fn mix(mut x: u64) -> u64 {
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// A seeded 64-bit hash of bytes (FNV-1a, then mixed).
pub(crate) fn hash_bytes(seed: u64, bytes: &[u8]) -> u64 {
    let mut h = fnv_start(seed);
    for &b in bytes {
        fnv_step(&mut h, b);
    }
    mix(h)
}

/// The FNV-1a state [`hash_bytes`] starts from, for hashing a byte at a
/// time (then [`fnv_step`] each byte, then [`mix`]).
pub(crate) fn fnv_start(seed: u64) -> u64 {
    0xcbf2_9ce4_8422_2325 ^ seed
}

/// One byte into an FNV-1a state.
pub(crate) fn fnv_step(h: &mut u64, b: u8) {
    *h ^= u64::from(b);
    *h = h.wrapping_mul(0x0000_0100_0000_01b3);
}

/// Words that say nothing about what a case is about (function words,
/// greetings, thanks), in the languages the example rules serve (English,
/// German, French, Spanish, Dutch, Portuguese, Italian), accents folded.
pub(crate) const FUNCTION_WORDS: &[&str] = &[
    "a", "about", "after", "again", "al", "als", "also", "am", "an", "and", "any", "are", "as", "at", "au", "auf",
    "aus", "be", "been", "before", "bei", "best", "bitte", "bonjour", "but", "by", "can", "ce", "ciao", "con", "could",
    "da", "danke", "dans", "das", "de", "dear", "del", "dem", "den", "der", "des", "di", "did", "die", "do", "does",
    "du", "e", "een", "ein", "eine", "el", "en", "er", "es", "est", "et", "for", "from", "gracias", "grazie", "gruss",
    "grusse", "had", "hallo", "has", "have", "he", "hello", "her", "here", "het", "hi", "his", "hola", "how", "i",
    "ich", "if", "il", "im", "in", "into", "is", "ist", "it", "its", "je", "just", "kindly", "la", "las", "le", "les",
    "lo", "los", "me", "mein", "meine", "merci", "mit", "mon", "my", "na", "nao", "no", "now", "o", "obrigado", "of",
    "ola", "on", "or", "ou", "our", "par", "para", "pas", "please", "por", "pour", "que", "regards", "se", "shall",
    "she", "should", "since", "so", "some", "still", "sur", "team", "than", "thank", "thanks", "that", "the", "their",
    "them", "then", "there", "they", "this", "thx", "to", "today", "un", "una", "und", "une", "uno", "us", "van",
    "von", "was", "we", "were", "what", "when", "which", "who", "why", "will", "with", "would", "y", "you", "your",
    "zu",
];

/// Takes reply and forward prefixes off a subject (`Re: AW: Fwd: x` → `x`).
pub(crate) fn strip_subject_prefixes(subject: &str) -> &str {
    const PREFIXES: &[&str] = &[
        "re", "aw", "sv", "vs", "fw", "fwd", "wg", "tr", "rv", "enc", "doorst", "antw", "odp", "回复", "转发", "答复",
    ];
    let mut s = subject.trim_start();
    loop {
        let Some(colon) = s.find([':', '：']) else { return s };
        let head = s[..colon].trim();
        // `Re[2]:` and `Re(2):` count too.
        let head = head.split(['[', '(']).next().unwrap_or(head).trim();
        if PREFIXES.iter().any(|p| p.eq_ignore_ascii_case(head) || *p == head) {
            let width = s[colon..].chars().next().map_or(1, char::len_utf8);
            s = s[colon + width..].trim_start();
        } else {
            return s;
        }
    }
}

/// A body without what was quoted from earlier mail or signed under it:
/// lines from the first quote header (`On … wrote:`, `Am … schrieb …:`,
/// `Le … a écrit :`, `-----Original Message-----`, an Outlook `From:` line
/// followed by `Sent:`) or signature separator (`-- `) on are dropped, and
/// so are `>` lines.
pub fn own_text(body: &str) -> String {
    let mut out = String::with_capacity(body.len());
    let mut lines = body.lines().peekable();
    while let Some(line) = lines.next() {
        let t = line.trim();
        if t.starts_with('>') {
            continue;
        }
        if line == "-- " || t == "--" {
            break;
        }
        // Every quote header starts with one of these (in any case): other
        // lines need no closer look. (Lower-casing never makes ASCII of
        // other characters but the Kelvin sign's `k`, which none of them
        // holds, so the test is the same on the line as it is lower-cased.)
        let may_head = QUOTE_HEAD_STARTS
            .iter()
            .any(|p| t.as_bytes().get(..p.len()).is_some_and(|head| head.eq_ignore_ascii_case(p.as_bytes())));
        if !may_head {
            out.push_str(line);
            out.push('\n');
            continue;
        }
        if quote_header(t, lines.peek().copied()) {
            break;
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// Whether a trimmed line opens quoted mail (`On … wrote:`, `Am …
/// schrieb …:`, `Le … a écrit`, `El … escribió`, `-----Original
/// Message-----` and Outlook's German, French and Spanish separators,
/// `Begin forwarded message`, or an Outlook `From:` line whose `next` line
/// is `Sent:`), in any letter case and accents composed or not.
fn quote_header(t: &str, next: Option<&str>) -> bool {
    // Decomposed accents (`é` as `e` and a combining mark) compose first.
    let lower = if t.is_ascii() { t.to_lowercase() } else { t.nfc().collect::<String>().to_lowercase() };
    (lower.starts_with("on ") && lower.ends_with("wrote:"))
        || (lower.starts_with("am ") && lower.ends_with(':') && lower.contains("schrieb"))
        || (lower.starts_with("le ") && lower.contains("a écrit"))
        || (lower.starts_with("el ") && lower.contains("escribió"))
        || separator(&lower)
        || lower.starts_with("begin forwarded message")
        || ((lower.starts_with("from:") || lower.starts_with("von:") || lower.starts_with("de:"))
            && next.is_some_and(|n| {
                let n = n.trim().nfc().collect::<String>().to_lowercase();
                n.starts_with("sent:") || n.starts_with("gesendet:") || n.starts_with("envoyé :")
            }))
}

/// Whether a lower-cased line is a mail program's separator before quoted
/// or forwarded mail (`-----Original Message-----`, `-----Ursprüngliche
/// Nachricht-----`, `-----Message d'origine-----`, `---------- Mensaje
/// reenviado ---------`, …).
fn separator(lower: &str) -> bool {
    lower.starts_with("-----")
        && ["original", "forwarded", "ursprüngliche", "weitergeleitet", "d'origine", "transféré", "reenviado"]
            .iter()
            .any(|w| lower.contains(w))
}

/// How the lines [`own_text`] stops at begin (besides the signature
/// separator, which it compares whole).
const QUOTE_HEAD_STARTS: [&str; 9] =
    ["on ", "am ", "le ", "el ", "-----", "begin forwarded message", "from:", "von:", "de:"];

/// A word without the commonest English inflections and a final `e`
/// (`calls`, `called`, `calling` → `call`; `charge`, `charged` →
/// `charg`), so that rephrasings share their words. Only Latin words of more than four letters are touched.
fn stem(word: &str) -> &str {
    if word.len() <= 4 || !word.is_ascii() {
        return word;
    }
    for suffix in ["ing", "ed", "es", "s", "e"] {
        if let Some(stem) = word.strip_suffix(suffix)
            && stem.len() >= 3
            && !stem.ends_with('s')
        {
            return stem;
        }
    }
    word
}

/// The shingle hashes of a case's text (see the module documentation),
/// sorted and without repeats. The body's own text is compared; when it
/// has fewer than 8 distinct words (`FYI, see below` over a forward), the
/// text it quotes is compared too.
pub fn shingles(subject: Option<&str>, body: Option<&str>) -> Vec<u64> {
    compared(subject, body).0
}

/// The shingles and identifiers of the text a case is compared on.
fn compared(subject: Option<&str>, body: Option<&str>) -> (Vec<u64>, Vec<u32>) {
    compared_with(subject, body, &mut |_, _| {})
}

/// [`compared`], telling `each` every word compared and its shingle hash.
fn compared_with(subject: Option<&str>, body: Option<&str>, each: &mut dyn FnMut(&str, u64)) -> (Vec<u64>, Vec<u32>) {
    let subject = subject.map(strip_subject_prefixes);
    let own = body.map(own_text);
    // A forward or a reply that adds only a line (`FYI, see below`) is
    // about what it quotes: then the quoted text counts too.
    match body {
        Some(b)
            if words_of(None, own.as_deref(), &mut |_, _| {}).0.len() < FEW_WORDS
                && b.len() > own.as_ref().map_or(0, String::len) =>
        {
            words_of(subject, Some(&quoted_text(b)), each)
        }
        _ => words_of(subject, own.as_deref(), each),
    }
}

/// The words two texts share as they are compared (each word as the first
/// text writes it, lower case, in the order it first appears there): what
/// made their similarity.
pub fn shared_words(a: (Option<&str>, Option<&str>), b: (Option<&str>, Option<&str>)) -> Vec<String> {
    let theirs = compared(b.0, b.1).0;
    let mut out: Vec<String> = Vec::new();
    compared_with(a.0, a.1, &mut |word, h| {
        if theirs.binary_search(&h).is_ok() && !out.iter().any(|w| w == word) {
            out.push(word.to_string());
        }
    });
    out
}

/// Fewer distinct words than this in a message's own text, and its quoted
/// text is compared too.
const FEW_WORDS: usize = 8;

/// A body with quote markers (`>`), quote headers and the header lines of
/// a forwarded message (`From:`, `Sent:`, `To:`, `Subject:`, …) taken out,
/// and the signature dropped: everything said in it, own or quoted.
fn quoted_text(body: &str) -> String {
    const HEADERS: &[&str] = &[
        "from:",
        "sent:",
        "to:",
        "cc:",
        "subject:",
        "date:",
        "von:",
        "gesendet:",
        "an:",
        "betreff:",
        "de :",
        "envoyé :",
        "à :",
        "objet :",
    ];
    let mut out = String::with_capacity(body.len());
    for line in body.lines() {
        if line == "-- " {
            break;
        }
        let t = line.trim_start_matches(|c: char| c == '>' || c.is_whitespace());
        let lower = t.to_lowercase();
        if HEADERS.iter().any(|h| lower.starts_with(h))
            || separator(&lower)
            || lower.starts_with("begin forwarded message")
            || (lower.starts_with("on ") && lower.ends_with("wrote:"))
        {
            continue;
        }
        out.push_str(t);
        out.push('\n');
    }
    out
}

/// The shingles of a subject and a text (see [`shingles`]), and the
/// hashes of its identifiers: e-mail addresses, and words of at least
/// three characters with a digit in them (`4411`, `E1204`, `٤٤١١`) other
/// than years.
fn words_of(subject: Option<&str>, body: Option<&str>, each: &mut dyn FnMut(&str, u64)) -> (Vec<u64>, Vec<u32>) {
    let mut text = String::new();
    if let Some(s) = subject {
        text.push_str(s);
        text.push('\n');
    }
    if let Some(b) = body {
        text.push_str(b);
    }
    let normalized = crate::text::normalize(&text);
    let mut out = Vec::new();
    let mut ids = Vec::new();
    let mut folded = String::new();
    for token in normalized.split(' ') {
        // An e-mail address is one identifier, not its parts (which the
        // addresses of one company share).
        let address = token.contains('@');
        if address {
            let whole = token.trim_matches(|c: char| !c.is_alphanumeric());
            ids.push((hash_bytes(SEED, whole.as_bytes()) >> 32) as u32);
        }
        // A run of one-letter words (Han, kana, Thai: scripts written
        // without spaces) is compared by pairs of letters, as a single
        // letter says little.
        let mut run: Option<String> = None;
        let mut run_len = 0usize;
        for word in crate::text::words(token) {
            let word = crate::text::unaccented(word, &mut folded);
            if !word.is_ascii() && word.chars().count() == 1 {
                if let Some(previous) = &run {
                    let pair = format!("{previous}{word}");
                    let h = hash_bytes(SEED, pair.as_bytes());
                    each(&pair, h);
                    out.push(h);
                }
                run = Some(word.to_string());
                run_len += 1;
                continue;
            }
            if run_len == 1
                && let Some(single) = run.take()
            {
                let h = hash_bytes(SEED, single.as_bytes());
                each(&single, h);
                out.push(h);
            }
            run = None;
            run_len = 0;
            if FUNCTION_WORDS.binary_search(&word).is_ok() {
                continue;
            }
            let h = hash_bytes(SEED, stem(word).as_bytes());
            each(word, h);
            out.push(h);
            if !address && word.chars().count() >= 3 && word.chars().any(char::is_numeric) && !is_year(word) {
                ids.push((h >> 32) as u32);
            }
        }
        if run_len == 1
            && let Some(single) = run
        {
            let h = hash_bytes(SEED, single.as_bytes());
            each(&single, h);
            out.push(h);
        }
    }
    out.sort_unstable();
    out.dedup();
    ids.sort_unstable();
    ids.dedup();
    (out, ids)
}

/// The MinHash signature of a shingle set; `None` for an empty one (a case
/// with no words is like no other). Bin `i` is the least of
/// `(a_i · s + b_i) >> 32` over the shingles `s` (multiply-shift hashing
/// of the already mixed shingle hashes, with odd multipliers `a_i` drawn
/// from the seed), kept as its low 8 bits.
pub fn signature(shingles: &[u64]) -> Option<Signature> {
    if shingles.is_empty() {
        return None;
    }
    let mut bins = [u32::MAX; SIGNATURE_LEN];
    for &s in shingles {
        for (bin, (a, b)) in bins.iter_mut().zip(MULTIPLIERS.iter().zip(OFFSETS.iter())) {
            let v = (a.wrapping_mul(s).wrapping_add(*b) >> 32) as u32;
            if v < *bin {
                *bin = v;
            }
        }
    }
    let mut out = [0u8; SIGNATURE_LEN];
    for (o, b) in out.iter_mut().zip(bins) {
        *o = (b & 0xFF) as u8;
    }
    Some(Signature(out))
}

/// The hash family's multipliers (odd) and offsets, one per bin, drawn
/// from [`SEED`] by SplitMix64.
const MULTIPLIERS: [u64; SIGNATURE_LEN] = family(1);
const OFFSETS: [u64; SIGNATURE_LEN] = family(2);

const fn family(salt: u64) -> [u64; SIGNATURE_LEN] {
    let mut out = [0u64; SIGNATURE_LEN];
    let mut i = 0;
    while i < SIGNATURE_LEN {
        let mut x = SEED ^ (salt << 56) ^ (i as u64);
        x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        x ^= x >> 31;
        out[i] = x | 1;
        i += 1;
    }
    out
}

/// Identifiers a fingerprint keeps (the first in hash order).
const MAX_IDENTIFIERS: usize = 4;

/// A case's text as the index keeps it: its [`Signature`] and the hashes
/// of up to four identifiers in it (invoice, contract or error numbers).
/// Two texts that both name identifiers and share none are about different
/// things however alike their words (`invoice 4411 charged twice` is not
/// `invoice 5532 charged twice`); an index made
/// [`SimilarityIndex::with_identifiers`] does not match them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fingerprint {
    /// The MinHash signature.
    pub signature: Signature,
    identifiers: [u32; MAX_IDENTIFIERS],
    count: u8,
}

impl Fingerprint {
    /// The fingerprint of a subject and body (see [`shingles`]); `None`
    /// when they have no words.
    pub fn of(subject: Option<&str>, body: Option<&str>) -> Option<Fingerprint> {
        let (shingles, ids) = compared(subject, body);
        let signature = signature(&shingles)?;
        let mut identifiers = [0u32; MAX_IDENTIFIERS];
        let count = ids.len().min(MAX_IDENTIFIERS);
        identifiers[..count].copy_from_slice(&ids[..count]);
        Some(Fingerprint { signature, identifiers, count: count as u8 })
    }

    /// A fingerprint of a signature alone (no identifiers).
    pub fn from_signature(signature: Signature) -> Fingerprint {
        Fingerprint { signature, identifiers: [0; MAX_IDENTIFIERS], count: 0 }
    }

    fn identifiers(&self) -> &[u32] {
        &self.identifiers[..usize::from(self.count)]
    }

    /// Whether both name identifiers and none is shared.
    pub fn conflicts(&self, other: &Fingerprint) -> bool {
        let (a, b) = (self.identifiers(), other.identifiers());
        !a.is_empty() && !b.is_empty() && !a.iter().any(|x| b.contains(x))
    }
}

/// Whether a word is a year (1900–2099): a date names one, and two
/// different requests share it.
fn is_year(word: &str) -> bool {
    word.len() == 4 && (word.starts_with("19") || word.starts_with("20")) && word.bytes().all(|b| b.is_ascii_digit())
}

/// The exact Jaccard similarity of two sorted shingle sets ([`shingles`]):
/// shared over all, 0 for two empty sets. What a signature estimates, for
/// measuring it.
pub fn jaccard(a: &[u64], b: &[u64]) -> f64 {
    let (mut i, mut j, mut both) = (0, 0, 0usize);
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                both += 1;
                i += 1;
                j += 1;
            }
        }
    }
    let union = a.len() + b.len() - both;
    if union == 0 { 0.0 } else { both as f64 / union as f64 }
}

/// The rows per LSH band for a similarity threshold: the most (1 to 8) for
/// which a pair exactly at the threshold is a candidate with probability
/// at least 0.98.
pub fn rows_for(threshold: f64) -> usize {
    let t = threshold.clamp(0.0, 1.0);
    (1..=8)
        .rev()
        .find(|&r| {
            let bands = (SIGNATURE_LEN / r) as i32;
            1.0 - (1.0 - t.powi(r as i32)).powi(bands) >= 0.98
        })
        .unwrap_or(1)
}

/// A case in the index: 128 bytes (an id of up to 24 bytes is kept
/// inline, a longer one on the heap).
#[derive(Debug, Clone)]
struct Entry {
    id: compact_str::CompactString,
    /// Unix seconds.
    at: i64,
    /// The hash of its blocking key values.
    key: u64,
    text: Fingerprint,
}

/// Cases whose blocking keys agree: compared one by one while they are
/// few, through LSH bands once they are more than [`BAND_ABOVE`].
#[derive(Debug, Clone, Default)]
struct Group {
    slots: Vec<u32>,
    banded: bool,
}

/// A group of more cases than this is searched through LSH bands; a
/// smaller one is compared case by case (cheaper than its bands, and
/// exact about the estimate). Blocking keys such as a requester's e-mail
/// keep most groups small.
const BAND_ABOVE: usize = 64;

/// At most this many cases of a group compared case by case (its latest).
const MAX_COMPARED: usize = 2048;

/// At most this many cases taken from one LSH band (its latest).
const MAX_PER_BAND: usize = 64;

/// One case like the queried one.
#[derive(Debug, Clone, PartialEq)]
pub struct Similar {
    /// Its id.
    pub case_id: String,
    /// Estimated Jaccard similarity, 0 to 1.
    pub score: f64,
    /// When it was opened (Unix seconds).
    pub at: i64,
}

/// An index of recent cases by the text they are about, for one kind of
/// match (duplicates, or incidents): caller-owned, no I/O, no clock.
/// Insert each decided case; query a new case against those before it;
/// evict the ones older than the window.
///
/// Cases are matched when their blocking keys agree (the caller gives the
/// key values; none is a key too) and their estimated similarity reaches
/// the threshold. Answers are ordered by score, then time, then case id,
/// so they do not depend on the order cases were inserted in.
///
/// ```
/// use triage_core::similarity::{Fingerprint, SimilarityIndex};
/// let mut index = SimilarityIndex::new(0.5);
/// let sig = |s: &str| Fingerprint::of(Some(s), None).unwrap();
/// index.insert("a", 0, &["ann@example.com"], sig("Invoice 4411 charged twice this month"));
/// index.insert("b", 60, &["bob@example.com"], sig("Invoice 4411 charged twice this month"));
/// let found = index.query(120, &["ann@example.com"], &sig("Re: invoice 4411 charged twice this month"));
/// assert_eq!(found.len(), 1);
/// assert_eq!(found[0].case_id, "a");
/// ```
#[derive(Debug, Clone)]
pub struct SimilarityIndex {
    threshold: f64,
    /// Whether texts with conflicting identifiers never match.
    identifiers: bool,
    rows: usize,
    bands: usize,
    /// Slot → entry (`None` once evicted; slots are reused).
    entries: Vec<Option<Entry>>,
    free: Vec<u32>,
    /// Key hash → the cases with those key values.
    groups: BTreeMap<u64, Group>,
    /// Band hash → slots, for the cases of groups larger than
    /// [`BAND_ABOVE`].
    buckets: BTreeMap<u64, Vec<u32>>,
    /// (time, slot) of every entry, for eviction.
    by_time: BTreeSet<(i64, u32)>,
    /// (hash of the id, slot) of every entry, so that a case inserted again
    /// replaces itself; ids whose hashes collide are told apart by the
    /// entry's own id.
    by_id: BTreeSet<(u64, u32)>,
}

impl SimilarityIndex {
    /// An empty index matching at `threshold` (estimated Jaccard, 0 to 1).
    pub fn new(threshold: f64) -> SimilarityIndex {
        let rows = rows_for(threshold);
        SimilarityIndex {
            threshold,
            identifiers: false,
            rows,
            bands: SIGNATURE_LEN / rows,
            entries: Vec::new(),
            free: Vec::new(),
            groups: BTreeMap::new(),
            buckets: BTreeMap::new(),
            by_time: BTreeSet::new(),
            by_id: BTreeSet::new(),
        }
    }

    /// The same index, where two texts whose identifiers conflict
    /// ([`Fingerprint::conflicts`]) never match.
    pub fn with_identifiers(mut self) -> SimilarityIndex {
        self.identifiers = true;
        self
    }

    /// Cases in the index.
    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    /// Whether the index is empty.
    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    /// The threshold it matches at.
    pub fn threshold(&self) -> f64 {
        self.threshold
    }

    fn id_hash(id: &str) -> u64 {
        hash_bytes(SEED, id.as_bytes())
    }

    /// The slot of the case with this id, if the index has it.
    fn slot_of(&self, id: &str) -> Option<u32> {
        let h = Self::id_hash(id);
        self.by_id
            .range((h, 0)..=(h, u32::MAX))
            .map(|&(_, slot)| slot)
            .find(|&slot| self.entries.get(slot as usize).and_then(Option::as_ref).is_some_and(|e| e.id == id))
    }

    fn key_hash(keys: &[&str]) -> u64 {
        let mut h = SEED;
        for k in keys {
            h = mix(h ^ hash_bytes(SEED, k.as_bytes()));
        }
        h
    }

    fn band_hashes(&self, key: u64, signature: &Signature) -> impl Iterator<Item = u64> + '_ {
        let rows = self.rows;
        let sig = *signature;
        (0..self.bands).map(move |b| {
            let mut h = mix(key ^ (b as u64 + 1));
            for &v in &sig.0[b * rows..(b + 1) * rows] {
                h = mix(h ^ u64::from(v));
            }
            h
        })
    }

    /// Adds a case opened at `at` (Unix seconds) with its blocking key
    /// values. A case already in the index (by id) is replaced.
    pub fn insert(&mut self, id: &str, at: i64, keys: &[&str], text: Fingerprint) {
        self.remove(id);
        let key = Self::key_hash(keys);
        let slot = match self.free.pop() {
            Some(s) => s,
            None => {
                self.entries.push(None);
                u32::try_from(self.entries.len() - 1).unwrap_or(u32::MAX)
            }
        };
        if let Some(e) = self.entries.get_mut(slot as usize) {
            *e = Some(Entry { id: id.into(), at, key, text });
        }
        let group = self.groups.entry(key).or_default();
        group.slots.push(slot);
        if group.banded {
            self.add_bands(slot);
        } else if group.slots.len() > BAND_ABOVE && self.rows > 1 {
            group.banded = true;
            let members = group.slots.clone();
            for s in members {
                self.add_bands(s);
            }
        }
        self.by_time.insert((at, slot));
        self.by_id.insert((Self::id_hash(id), slot));
    }

    /// The band hashes of the case in a slot.
    fn bands_of(&self, slot: u32) -> Vec<u64> {
        match self.entries.get(slot as usize) {
            Some(Some(e)) => self.band_hashes(e.key, &e.text.signature).collect(),
            _ => Vec::new(),
        }
    }

    fn add_bands(&mut self, slot: u32) {
        for h in self.bands_of(slot) {
            self.buckets.entry(h).or_default().push(slot);
        }
    }

    /// Takes a case out of the index; whether it was there.
    pub fn remove(&mut self, id: &str) -> bool {
        match self.slot_of(id) {
            Some(slot) => {
                self.remove_slot(slot);
                true
            }
            None => false,
        }
    }

    /// Takes the case in a slot out of the index.
    fn remove_slot(&mut self, slot: u32) {
        let Some((key, id_hash)) =
            self.entries.get(slot as usize).and_then(Option::as_ref).map(|e| (e.key, Self::id_hash(&e.id)))
        else {
            return;
        };
        self.by_id.remove(&(id_hash, slot));
        if let Some(group) = self.groups.get_mut(&key) {
            if let Some(i) = group.slots.iter().position(|&s| s == slot) {
                group.slots.swap_remove(i);
            }
            let (banded, empty) = (group.banded, group.slots.is_empty());
            if empty {
                self.groups.remove(&key);
            }
            if banded {
                for h in self.bands_of(slot) {
                    if let Some(list) = self.buckets.get_mut(&h) {
                        list.retain(|&s| s != slot);
                        if list.is_empty() {
                            self.buckets.remove(&h);
                        }
                    }
                }
            }
        }
        if let Some(entry) = self.entries.get_mut(slot as usize).and_then(Option::take) {
            self.by_time.remove(&(entry.at, slot));
        }
        self.free.push(slot);
    }

    /// Takes out every case opened before `before` (Unix seconds); how many.
    pub fn evict_before(&mut self, before: i64) -> usize {
        let old: Vec<u32> = self.by_time.range(..(before, 0)).map(|&(_, slot)| slot).collect();
        for &slot in &old {
            self.remove_slot(slot);
        }
        old.len()
    }

    /// The slots to compare a text with: the whole group of its key values
    /// while it is small, else the ones sharing a band.
    fn candidate_slots(&self, key: u64, text: &Fingerprint) -> std::borrow::Cow<'_, [u32]> {
        let Some(group) = self.groups.get(&key) else { return std::borrow::Cow::Borrowed(&[]) };
        if !group.banded {
            // The latest of a large group compared case by case.
            let from = group.slots.len().saturating_sub(MAX_COMPARED);
            return std::borrow::Cow::Borrowed(&group.slots[from..]);
        }
        let mut slots: Vec<u32> = Vec::new();
        for h in self.band_hashes(key, &text.signature) {
            if let Some(list) = self.buckets.get(&h) {
                // A band many cases share (one sender's repeated alert) gives
                // its latest only, so a query costs the same however many.
                slots.extend_from_slice(&list[list.len().saturating_sub(MAX_PER_BAND)..]);
            }
        }
        slots.sort_unstable();
        slots.dedup();
        std::borrow::Cow::Owned(slots)
    }

    /// The ids of the cases a text is compared with (keys agreeing; in a
    /// group of more than 64, those sharing an LSH band), before the
    /// similarity and window checks, sorted: what the banding finds, for
    /// measuring it against an exact computation.
    pub fn candidates(&self, keys: &[&str], text: &Fingerprint) -> Vec<String> {
        let key = Self::key_hash(keys);
        let slots = self.candidate_slots(key, text);
        let mut ids: Vec<String> = slots
            .iter()
            .filter_map(|&s| self.entries.get(s as usize)?.as_ref())
            .filter(|e| e.key == key)
            .map(|e| e.id.to_string())
            .collect();
        ids.sort();
        ids
    }

    /// The cases whose keys agree with `keys` and whose text is at least
    /// as similar as the threshold, opened within `window` seconds of `at`
    /// (either side), most similar first (then earliest, then by id).
    pub fn query_within(&self, at: i64, window: i64, keys: &[&str], text: &Fingerprint) -> Vec<Similar> {
        self.query_best(at, window, keys, text, usize::MAX)
    }

    /// [`SimilarityIndex::query_within`], the `limit` best only.
    pub fn query_best(&self, at: i64, window: i64, keys: &[&str], text: &Fingerprint, limit: usize) -> Vec<Similar> {
        let key = Self::key_hash(keys);
        let slots = self.candidate_slots(key, text);
        let mut found: Vec<(f64, &Entry)> = slots
            .iter()
            .filter_map(|&s| self.entries.get(s as usize)?.as_ref())
            .filter(|e| e.key == key && e.at.abs_diff(at) <= window.unsigned_abs())
            .filter(|e| !(self.identifiers && e.text.conflicts(text)))
            .filter_map(|e| {
                let score = e.text.signature.similarity(&text.signature);
                (score >= self.threshold).then_some((score, e))
            })
            .collect();
        found.sort_by(|(sa, a), (sb, b)| sb.total_cmp(sa).then(a.at.cmp(&b.at)).then_with(|| a.id.cmp(&b.id)));
        found.truncate(limit);
        found.into_iter().map(|(score, e)| Similar { case_id: e.id.to_string(), score, at: e.at }).collect()
    }

    /// [`SimilarityIndex::query_within`] with no time limit.
    pub fn query(&self, at: i64, keys: &[&str], text: &Fingerprint) -> Vec<Similar> {
        self.query_within(at, i64::MAX, keys, text)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use proptest::prelude::*;

    fn sig(s: &str) -> Fingerprint {
        Fingerprint::of(Some(s), None).unwrap()
    }

    #[test]
    fn function_words_are_sorted() {
        assert!(FUNCTION_WORDS.windows(2).all(|w| w[0] < w[1]));
    }

    /// [`own_text`] as it was first written: every line looked at as a
    /// possible quote header.
    fn own_text_reference(body: &str) -> String {
        let lines: Vec<&str> = body.lines().collect();
        let mut out = String::new();
        for (i, line) in lines.iter().enumerate() {
            let t = line.trim();
            if t.starts_with('>') {
                continue;
            }
            if quote_header(t, lines.get(i + 1).copied()) || *line == "-- " || t == "--" {
                break;
            }
            out.push_str(line);
            out.push('\n');
        }
        out
    }

    proptest::proptest! {
        #[test]
        fn own_text_is_what_it_always_was(
            lines in proptest::collection::vec(
                "(On Mon, Ann wrote:|ON x WROTE:|Am 3. schrieb x:|AM x SCHRIEB:|Le x A ÉCRIT|El x escribió|----- Original|-----FORWARDED|Begin Forwarded Message|FROM: a|Von: b|De: c|Sent: d|GESENDET: e|Envoyé : f|-- |--| -- |> q|  > q|\u{212a}on x|İon|[a-zA-Z :>-]{0,12})",
                0..8,
            ),
            crlf in proptest::bool::ANY,
        ) {
            let body = lines.join(if crlf { "\r\n" } else { "\n" });
            proptest::prop_assert_eq!(own_text(&body), own_text_reference(&body));
        }
    }

    #[test]
    fn quotes_signatures_and_prefixes_are_left_out() {
        let own = "The quarterly export fails with error 500 since Monday's upgrade of the reporting server.";
        let body = format!("{own}\n\nOn Mon, 2 Mar 2026, Ann wrote:\n> something else entirely\n");
        let a = shingles(Some("Re: AW: Export fails"), Some(&body));
        let b = shingles(Some("Export fails"), Some(&format!("{own}\n-- \nBob\nACME Corp")));
        assert_eq!(a, b);
        // A forward that adds a line is compared with what it forwards.
        let forward =
            format!("FYI, see below.\n\n-----Original Message-----\nFrom: ann@a.example\nSent: Monday\n\n{own}");
        assert_eq!(
            shingles(Some("Fwd: Export fails"), Some(&forward)),
            shingles(Some("Export fails"), Some(&format!("FYI, see below.\n{own}")))
        );
        let reply = format!("Any news?\n\nOn Monday, Ann wrote:\n> {own}");
        assert_eq!(
            shingles(Some("Re: Export fails"), Some(&reply)),
            shingles(Some("Export fails"), Some(&format!("Any news?\n{own}")))
        );
        assert_eq!(strip_subject_prefixes("RE[2]: Fwd：回复: x"), "x");
        assert!(own_text("hi\nFrom: a@b\nSent: Monday\nold").ends_with("hi\n"));
        // Accents composed or not, and Outlook's separators in German,
        // French and Spanish.
        let nfd: String = "Merci.\nLe lun. 3 mars, Support a écrit :\n> old".nfd().collect();
        assert_eq!(own_text(&nfd), "Merci.\n");
        for sep in ["-----Ursprüngliche Nachricht-----", "-----Message d'origine-----", "-----Mensaje original-----"] {
            assert_eq!(own_text(&format!("Thanks, fixed.\n\n{sep}\nVon: a\nalt")), "Thanks, fixed.\n\n", "{sep}");
        }
    }

    #[test]
    fn scripts_without_spaces_are_compared_by_pairs_of_letters() {
        let login = sig("ไม่สามารถเข้าสู่ระบบได้ รหัสผ่านไม่ถูกต้อง");
        let refund = sig("ต้องการขอคืนเงินสำหรับใบแจ้งหนี้");
        assert!(
            login.signature.similarity(&refund.signature) < 0.3,
            "{}",
            login.signature.similarity(&refund.signature)
        );
        let again = sig("ไม่สามารถเข้าสู่ระบบได้ รหัสผ่านไม่ถูก");
        assert!(login.signature.similarity(&again.signature) > 0.5);
        let a = sig("ログインできません。パスワードが違うと言われます");
        let b = sig("請求書の金額が二重になっています");
        assert!(a.signature.similarity(&b.signature) < 0.2, "{}", a.signature.similarity(&b.signature));
    }

    #[test]
    fn shared_words_name_what_made_the_score() {
        let words = shared_words(
            (Some("Re: Invoice 4411 charged twice"), Some("Please refund the second charge.")),
            (Some("Charged twice for invoice 4411"), Some("We were charged two times; refund one.")),
        );
        assert_eq!(words, vec!["invoice", "4411", "charged", "twice", "refund", "charge"]);
    }

    #[test]
    fn accents_case_and_width_fold() {
        assert_eq!(shingles(Some("Café RÉSUMÉ"), None), shingles(Some("cafe resume"), None));
        assert_eq!(shingles(Some("ＲＥＦＵＮＤ now"), None), shingles(Some("refund now"), None));
        assert!(shingles(Some("the a of"), None).is_empty());
        assert!(signature(&[]).is_none());
    }

    #[test]
    fn an_entry_takes_128_bytes() {
        assert_eq!(std::mem::size_of::<Option<Entry>>(), 128);
    }

    #[test]
    fn rows_follow_the_threshold() {
        assert_eq!(rows_for(0.5), 2);
        assert_eq!(rows_for(0.7), 4);
        assert_eq!(rows_for(0.3), 1);
        assert_eq!(rows_for(0.9), 8);
    }

    #[test]
    fn keys_and_window_must_agree_and_eviction_forgets() {
        let mut index = SimilarityIndex::new(0.5);
        let text = "Cannot export the quarterly report to PDF since the update";
        index.insert("a", 0, &["ann"], sig(text));
        index.insert("b", 10_000, &["ann"], sig(text));
        index.insert("c", 0, &["bob"], sig(text));
        let found = index.query_within(100, 3600, &["ann"], &sig(text));
        assert_eq!(found.iter().map(|s| s.case_id.as_str()).collect::<Vec<_>>(), vec!["a"]);
        assert!(index.query(100, &["ann"], &sig("Our invoice shows a wrong VAT number")).is_empty());
        assert_eq!(index.evict_before(5_000), 2);
        assert_eq!(index.len(), 1);
        let found = index.query(100, &["ann"], &sig(text));
        assert_eq!(found[0].case_id, "b");
        // Different invoice numbers: different requests, with identifiers.
        let mut strict = SimilarityIndex::new(0.5).with_identifiers();
        strict.insert("x", 0, &[], sig("Invoice 4411 was charged twice this month"));
        assert!(strict.query(0, &[], &sig("Invoice 5532 was charged twice this month")).is_empty());
        assert_eq!(strict.query(0, &[], &sig("Invoice 4411 charged twice this month")).len(), 1);
        assert_eq!(strict.query(0, &[], &sig("An invoice was charged twice this month")).len(), 1);
        // Inserting an id again replaces it.
        index.insert("b", 20_000, &["ann"], sig(text));
        assert_eq!(index.len(), 1);
        assert_eq!(index.query(0, &["ann"], &sig(text))[0].at, 20_000);
    }

    fn text_of(words: &[u8]) -> String {
        words.iter().map(|w| format!("w{w}")).collect::<Vec<_>>().join(" ")
    }

    proptest! {
        /// The estimate stays near the exact similarity: never a match the
        /// exact computation puts more than 0.3 (about five standard
        /// errors) below the threshold.
        #[test]
        fn matches_are_near_the_exact_similarity(
            texts in proptest::collection::vec(proptest::collection::vec(0u8..60, 3..30), 2..120),
        ) {
            let mut index = SimilarityIndex::new(0.5);
            let sets: Vec<Vec<u64>> = texts.iter().map(|t| shingles(Some(&text_of(t)), None)).collect();
            for (i, s) in sets.iter().enumerate() {
                if let Some(sig) = signature(s) {
                    index.insert(&i.to_string(), 0, &[], Fingerprint::from_signature(sig));
                }
            }
            for s in &sets {
                let Some(sig) = signature(s) else { continue };
                for m in index.query(0, &[], &Fingerprint::from_signature(sig)) {
                    let other = &sets[m.case_id.parse::<usize>().unwrap()];
                    prop_assert!(jaccard(s, other) >= 0.5 - 0.3, "{} vs {}", m.score, jaccard(s, other));
                }
            }
        }

        /// Answers do not depend on the order cases went in.
        #[test]
        fn insertion_order_does_not_matter(
            texts in proptest::collection::vec(proptest::collection::vec(0u8..20, 3..12), 2..120),
            rotate in 0usize..20,
        ) {
            let build = |order: Vec<usize>| {
                let mut index = SimilarityIndex::new(0.4);
                for i in order {
                    if let Some(sig) = Fingerprint::of(Some(&text_of(&texts[i])), None) {
                        index.insert(&i.to_string(), (i % 3) as i64, &[], sig);
                    }
                }
                index
            };
            let n = texts.len();
            let mut order: Vec<usize> = (0..n).collect();
            let a = build(order.clone());
            order.rotate_left(rotate % n);
            order.reverse();
            let b = build(order);
            for t in &texts {
                if let Some(sig) = Fingerprint::of(Some(&text_of(t)), None) {
                    prop_assert_eq!(a.query(1, &[], &sig), b.query(1, &[], &sig));
                }
            }
        }
    }
}
