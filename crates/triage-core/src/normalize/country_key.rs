//! The lookup key of a country name: the one spelling every way of writing
//! a name comes down to. The build script keys the country data with it and
//! normalization keys each case's value with it, so both sides agree by
//! construction.
//!
//! A key is the name's words, lower-cased (the dotless `ı` as `i`), accents and punctuation removed,
//! joined without spaces, where
//! - `&`, `and`, `the` and `of` are left out when the name has more than
//!   one word (`Trinidad & Tobago`, `The Gambia`, `Democratic Republic of
//!   the Congo`, `Korea, Rep.` as `Rep. Korea` = `Republic of Korea`); a
//!   single word is kept, so the alpha-3 code `AND` stays Andorra;
//! - common abbreviations are written out: `St` → `saint`, `Ste` →
//!   `sainte`, `Mt` → `mount`, `Rep` → `republic`, `Dem` → `democratic`,
//!   `Fed` and `Federated` → `federal`, `Sts` → `states`, `PDR` → `people's
//!   democratic republic`, `Is`/`Isl`/`Isls` → `islands` (`St. Lucia`,
//!   `Congo (Dem. Rep.)`, `Micronesia, Fed. Sts.`, `Lao PDR`).
//!
//! This file is also compiled into the build script (`build.rs`), so it
//! uses nothing of the crate.

use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

/// Whether a combining mark is a diacritic that names are written with or
/// without (Latin, Greek and Cyrillic accents, Arabic short vowels, Hebrew
/// points), rather than part of the spelling: Indic, Southeast Asian and
/// other vowel signs change the word and are kept (`கினியா` is not
/// `கென்யா`).
///
/// The nukta and the virama (halant) of Indic scripts are left out too:
/// people type them inconsistently (`ब्राजील` and `ब्राज़ील` are one name),
/// and without them the vowel signs still tell names apart.
pub fn is_diacritic(c: char) -> bool {
    matches!(u32::from(c),
        0x0300..=0x036F | 0x1AB0..=0x1AFF | 0x1DC0..=0x1DFF | 0x20D0..=0x20FF | 0xFE20..=0xFE2F
        | 0x0483..=0x0489 | 0x0591..=0x05C7 | 0x064B..=0x065F | 0x0670 | 0x06D6..=0x06ED
        // Nukta.
        | 0x093C | 0x09BC | 0x0A3C | 0x0ABC | 0x0B3C | 0x0CBC | 0x1B34
        // Virama, halant, coeng.
        | 0x094D | 0x09CD | 0x0A4D | 0x0ACD | 0x0B4D | 0x0BCD | 0x0C4D | 0x0CCD | 0x0D4D | 0x0DCA
        | 0x0E3A | 0x0F84 | 0x1039 | 0x103A | 0x17D2 | 0x1B44)
}

/// Characters that are invisible in a name and join rather than split it:
/// zero-width joiners and spaces, the byte-order mark.
fn is_invisible(c: char) -> bool {
    matches!(c, '\u{200B}'..='\u{200D}' | '\u{2060}' | '\u{FEFF}')
}

/// Lower-cases one letter into `word`, with the forms that spell the same
/// word folded together: final sigma as sigma (`ΣΟΦΟΣ` is `σοφος`), `ß` as
/// `ss` (`STRASSE` is `straße`), dotted capital I as `i` (`İSTANBUL` is
/// `istanbul`). Country keys and phrase matching both fold this way.
pub fn push_lower(c: char, word: &mut String) {
    match c {
        'ς' => word.push('σ'),
        'ß' | 'ẞ' => word.push_str("ss"),
        'İ' => word.push('i'),
        _ => word.extend(c.to_lowercase().map(|l| if l == 'ς' { 'σ' } else { l })),
    }
}

/// Words dropped from names of more than one word.
const FILLER: [&str; 3] = ["the", "and", "of"];

/// Abbreviations and the words they stand for.
const ABBREVIATIONS: [(&str, &str); 12] = [
    ("st", "saint"),
    ("ste", "sainte"),
    ("mt", "mount"),
    ("rep", "republic"),
    ("dem", "democratic"),
    ("fed", "federal"),
    ("federated", "federal"),
    ("sts", "states"),
    ("pdr", "peoplesdemocraticrepublic"),
    ("is", "islands"),
    ("isl", "islands"),
    ("isls", "islands"),
];

/// The key of `name` (see the module documentation). Empty when the name
/// has no letters or digits.
pub fn country_key(name: &str) -> String {
    let mut words: Vec<String> = Vec::new();
    let mut word = String::new();
    let end_word = |word: &mut String, words: &mut Vec<String>| {
        if !word.is_empty() {
            words.push(std::mem::take(word));
        }
    };
    if name.is_ascii() {
        for b in name.bytes() {
            if b.is_ascii_alphanumeric() {
                word.push(char::from(b.to_ascii_lowercase()));
            } else if b != b'\'' && b != b'.' {
                // An apostrophe or a dot joins (`Côte d'Ivoire`, `U.S.A.`
                // stay one word); other punctuation and spaces split.
                end_word(&mut word, &mut words);
            }
        }
    } else {
        // Compatibility forms too: full-width letters, ligatures.
        for c in name.nfkd() {
            if is_combining_mark(c) {
                if !is_diacritic(c) {
                    word.push(c);
                }
                continue;
            }
            if c == 'ı' {
                // Turkish and Azerbaijani dotless i: capitals cannot tell it
                // from `i` (`KRALLIK` is `Krallık`), so keys do not either.
                word.push('i');
            } else if c.is_alphanumeric() {
                push_lower(c, &mut word);
            } else if c != '\'' && c != '.' && c != '\u{2019}' && !is_invisible(c) {
                end_word(&mut word, &mut words);
            }
        }
    }
    end_word(&mut word, &mut words);
    join(&words)
}

/// [`country_key`] into a caller's buffer when the name is ASCII and the
/// key fits: every case's country is looked up without allocating.
pub fn country_key_ascii<'b>(name: &str, buf: &'b mut [u8; 64]) -> Option<&'b str> {
    if !name.is_ascii() {
        return None;
    }
    let joins = |c: char| c.is_ascii_alphanumeric() || c == '\'' || c == '.';
    let words = || name.split(move |c: char| !joins(c)).filter(|w| w.bytes().any(|b| b.is_ascii_alphanumeric()));
    let several = words().nth(1).is_some();
    // Compares a word's letters and digits with a lower-case word.
    let is = |w: &str, target: &str| {
        w.bytes().filter(u8::is_ascii_alphanumeric).map(|b| b.to_ascii_lowercase()).eq(target.bytes())
    };
    let mut n = 0;
    let mut push = |b: u8| -> Option<()> {
        *buf.get_mut(n)? = b;
        n += 1;
        Some(())
    };
    for w in words() {
        if several && FILLER.iter().any(|f| is(w, f)) {
            continue;
        }
        // A name of one word is never an abbreviation (`St` alone is not
        // `saint`): only a name of several words looks them up.
        match ABBREVIATIONS.iter().find(|(short, _)| several && is(w, short)) {
            Some((_, long)) => {
                for b in long.bytes() {
                    push(b)?;
                }
            }
            _ => {
                for b in w.bytes().filter(u8::is_ascii_alphanumeric) {
                    push(b.to_ascii_lowercase())?;
                }
            }
        }
    }
    std::str::from_utf8(&buf[..n]).ok()
}

/// The key without any combining marks: the consonant skeleton of a name
/// in an Indic script (Devanagari to Sinhala, U+0900–U+0DFF) whose vowel
/// signs people spell in more than one way (`ଚିଲି`, `ଚିଲ୍ଲୀ`). Only a
/// fallback, since skeletons of different names can meet; `None` when it
/// is the key itself or the name is in another script. Tibetan, Thai or
/// Myanmar names are short strings of syllables whose consonants alone
/// name another country as often as theirs (`ཨི་རག།`, Iraq, has
/// Uruguay's skeleton).
pub fn skeleton(key: &str) -> Option<String> {
    let indic = |c: char| ('\u{0900}'..='\u{0DFF}').contains(&c) || c.is_ascii_digit();
    let bare: String = key.chars().filter(|&c| !is_combining_mark(c)).collect();
    (bare.len() != key.len() && bare.chars().all(indic)).then_some(bare)
}

/// Joins words into a key: filler left out of names of several words,
/// abbreviations written out.
fn join(words: &[String]) -> String {
    let several = words.len() > 1;
    let mut out = String::new();
    for w in words {
        if several && FILLER.contains(&w.as_str()) {
            continue;
        }
        match ABBREVIATIONS.iter().find(|(short, _)| short == w) {
            Some((_, long)) if several => out.push_str(long),
            _ => out.push_str(w),
        }
    }
    out
}

/// The other orders a name is written in: `Korea, Republic of` and `Korea
/// (Republic of)` are also `Republic of Korea`; `Bolivia (Plurinational
/// State of)` is also `Bolivia`. The name itself is not included. A variant
/// that leaves a qualifier out (`Bolivia`) is flagged `true`: it may name
/// another country as well (`Congo` from `Congo (Democratic Republic of
/// the)`), so it counts for less.
pub fn country_name_variants(name: &str) -> Vec<(String, bool)> {
    let mut out = Vec::new();
    if let Some((head, rest)) = name.split_once('(') {
        let (inner, after) = rest.split_once(')').unwrap_or((rest, ""));
        let (head, inner, after) = (head.trim(), inner.trim(), after.trim());
        out.push((format!("{inner} {head} {after}").trim().to_string(), false));
        out.push((format!("{head} {after}").trim().to_string(), true));
    }
    if let Some((head, tail)) = name.split_once(',') {
        out.push((format!("{} {}", tail.trim(), head.trim()), false));
    }
    out
}
