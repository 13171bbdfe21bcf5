//! Normalization: the stage before everything else. Country, region, postal
//! code, language and e-mail are cleaned into `normalized`; the case keeps
//! its raw values; whatever cannot be cleaned, or contradicts itself, becomes
//! a warning with a code. Rules read the normalized values.
//!
//! Countries resolve from ISO 3166-1 alpha-2, alpha-3 and numeric codes, the
//! ISO English names (from `rust_iso3166`), the built-in names in
//! [`names`] and the rule set's own `normalize: { countries: … }`, all
//! compared case-, accent- and punctuation-insensitively. Regions resolve to
//! ISO 3166-2 codes from the subdivision names and codes of `rust_iso3166`
//! plus rule data; languages to BCP 47 tags from ISO 639 (`isolang`) names,
//! native names and codes.

pub(crate) mod country_key;
mod function_words;

/// The generated country table (see `build.rs`).
mod country_table {
    include!(concat!(env!("OUT_DIR"), "/countries.rs"));
}

use crate::diag::{Diagnostic, Pos};
use crate::syntax::{Node, NodeKind};
use regex::Regex;
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::OnceLock;
use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

/// Folds a name for lookup: lower case, accents and punctuation removed,
/// no spaces. `"U.S.A."`, `"u s a"` and `"USA"` all fold to `"usa"`;
/// `"Österreich"` to `"osterreich"`.
pub(crate) fn fold(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    if s.is_ascii() {
        // Nothing to decompose: keep letters and digits, lower-cased.
        out.extend(s.bytes().filter(u8::is_ascii_alphanumeric).map(|b| char::from(b.to_ascii_lowercase())));
        return out;
    }
    for c in s.nfkd() {
        if is_combining_mark(c) {
            // Accents go; vowel signs of Indic and other scripts stay.
            if !country_key::is_diacritic(c) {
                out.push(c);
            }
            continue;
        }
        if c.is_alphanumeric() {
            out.extend(c.to_lowercase());
        }
    }
    out
}

/// [`fold`] into a caller's buffer when the text is ASCII and the result
/// fits: the lookups of every case's country and language then allocate
/// nothing.
fn fold_ascii<'b>(s: &str, buf: &'b mut [u8; 48]) -> Option<&'b str> {
    if !s.is_ascii() {
        return None;
    }
    let mut n = 0;
    for b in s.bytes().filter(u8::is_ascii_alphanumeric) {
        *buf.get_mut(n)? = b.to_ascii_lowercase();
        n += 1;
    }
    std::str::from_utf8(&buf[..n]).ok()
}

/// A lookup key: [`fold_ascii`] where it applies, else [`fold`].
fn fold_key<'b>(s: &str, buf: &'b mut [u8; 48]) -> std::borrow::Cow<'b, str> {
    match fold_ascii(s, buf) {
        Some(k) => std::borrow::Cow::Borrowed(k),
        None => std::borrow::Cow::Owned(fold(s)),
    }
}

/// The cleaned values of a case. `None` where the case gave nothing or the
/// value could not be cleaned (a warning says which).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Normalized {
    /// ISO 3166-1 alpha-2, e.g. `DE`.
    pub country: Option<String>,
    /// ISO 3166-2, e.g. `DE-BY`.
    pub region: Option<String>,
    /// Trimmed, upper-cased, inner white space folded.
    pub postal_code: Option<String>,
    /// BCP 47 language tag, e.g. `de` or `pt-BR`.
    pub language: Option<String>,
    /// Where `language` came from: `requester` (the case said it) or
    /// `detected` (read from the text; `normalize.detect_languages`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub language_from: Option<&'static str>,
    /// The language the text reads as, when the case gave none and the
    /// rules ask: one of `normalize.detect_languages`, with the detector's
    /// confidence (0 to 1).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub language_detected: Option<DetectedLanguage>,
    /// Trimmed, domain lower-cased.
    pub email: Option<String>,
}

/// A language read from a case's text.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DetectedLanguage {
    /// BCP 47 tag, e.g. `de`.
    pub language: String,
    /// 0 to 1, how far ahead of the runner-up the language is: the
    /// function-word vote's margin when the vote was clear, whatlang's
    /// confidence otherwise (see [`function_words`]); three decimals.
    pub confidence: f64,
    /// Which read it: `function words` (the vote was clear) or `trigrams`
    /// (whatlang).
    pub by: &'static str,
}

/// Bytes of text the language is read from: the first few sentences tell
/// it as well as the whole mail, at a fraction of the time.
const DETECT_BYTES: usize = 256;

/// Below this confidence a text's language is not taken (the detector
/// could not tell, as for a body of one letter repeated).
const MIN_DETECT_CONFIDENCE: f64 = 0.2;

/// A problem found while normalizing: a warning code and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Finding {
    pub code: &'static str,
    pub message: String,
    /// Whether the data is wrong (rather than merely missing): such cases
    /// raise an admin alert when they cannot be placed in a territory.
    pub bad_data: bool,
}

/// One normalization step, for the trace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Step {
    pub field: &'static str,
    pub from: String,
    pub to: String,
    pub how: &'static str,
}

/// Lookup tables, built once when rules compile.
#[derive(Debug)]
pub(crate) struct Normalizer {
    /// The rule set's own country names by [`country_key`]; the built-in
    /// names are in the generated table.
    countries: BTreeMap<String, String>,
    /// Rule-data region aliases per country: folded alias → ISO 3166-2 code.
    /// ISO subdivisions themselves are looked up in the ISO data per case.
    region_aliases: BTreeMap<String, BTreeMap<String, String>>,
    /// Folded ISO 3166-2 code, region code and name → subdivision codes,
    /// built the first time a case names a region: most rule sets compile
    /// far more often in tests than they meet a region, and the table folds
    /// some 15,000 names.
    subdivisions: OnceLock<BTreeMap<String, Vec<&'static str>>>,
    /// Languages with a two-letter code, by folded code, name and native
    /// name, plus rule aliases; others are looked up in the ISO 639 data.
    languages: BTreeMap<String, String>,
    postal: BTreeMap<String, Regex>,
    /// Language → the countries where it fits, if the rules ask for checks.
    language_countries: BTreeMap<String, Vec<String>>,
    /// `detect_languages`: the languages a case's text may be read as
    /// (tag, and the detector's name for it), in the rules' order.
    detect: Vec<(String, whatlang::Lang)>,
    /// The detector for them, made once.
    detector: Option<whatlang::Detector>,
    /// The function-word vote asked first, when every one of them has a
    /// list ([`function_words`]).
    vote: Option<function_words::Vote>,
}

const NORMALIZE_KEYS: &[&str] =
    &["countries", "regions", "languages", "postal_codes", "language_countries", "detect_languages"];

/// An index over a country table's keys (they are distinct: `build.rs`
/// makes each table from a map): open addressing from a key's hash to
/// its position + 1 (0 is empty), at most half full. A lookup reads a
/// slot or two and one entry, where a binary search of the 26,000 names
/// compared fifteen keys spread over the whole table, each likely a
/// cache miss in a service whose caches other work has taken.
struct KeyIndex {
    slots: Vec<u32>,
    mask: usize,
}

/// Seeds the index's hash ("country-").
const KEY_SEED: u64 = 0x636f_756e_7472_792d;

impl KeyIndex {
    fn new(table: &[(&str, [u8; 2], u8)]) -> KeyIndex {
        let size = (table.len() * 2).next_power_of_two().max(2);
        let (mut slots, mask) = (vec![0u32; size], size - 1);
        for (i, (key, _, _)) in table.iter().enumerate() {
            let mut at = crate::similarity::hash_bytes(KEY_SEED, key.as_bytes()) as usize & mask;
            while slots[at] != 0 {
                at = (at + 1) & mask;
            }
            slots[at] = u32::try_from(i + 1).unwrap_or(u32::MAX);
        }
        KeyIndex { slots, mask }
    }

    /// The position of `key` in `table` (the one the index was made
    /// over), if it is there.
    fn find(&self, table: &[(&str, [u8; 2], u8)], key: &str) -> Option<usize> {
        let mut at = crate::similarity::hash_bytes(KEY_SEED, key.as_bytes()) as usize & self.mask;
        loop {
            let i = (self.slots[at] as usize).checked_sub(1)?;
            if table.get(i).is_some_and(|(k, _, _)| *k == key) {
                return Some(i);
            }
            at = (at + 1) & self.mask;
        }
    }
}

/// The index over `COUNTRY_NAMES`, made the first time a name is looked up.
fn names_index() -> &'static KeyIndex {
    static INDEX: OnceLock<KeyIndex> = OnceLock::new();
    INDEX.get_or_init(|| KeyIndex::new(country_table::COUNTRY_NAMES))
}

impl Normalizer {
    /// Builds the tables from the ISO data, the built-in names and the
    /// rule set's `normalize:` sections, reporting bad rule data.
    pub fn build(sections: &[(&str, &Node)], diags: &mut Vec<Diagnostic>) -> Normalizer {
        let mut n = Normalizer {
            countries: BTreeMap::new(),
            region_aliases: BTreeMap::new(),
            subdivisions: OnceLock::new(),
            languages: BTreeMap::new(),
            postal: BTreeMap::new(),
            language_countries: BTreeMap::new(),
            detect: Vec::new(),
            detector: None,
            vote: None,
        };
        for lang in isolang::languages() {
            let Some(code) = lang.to_639_1() else { continue };
            n.languages.insert(fold(code), code.to_string());
            n.languages.insert(fold(lang.to_639_3()), code.to_string());
            n.languages.insert(fold(lang.to_name()), code.to_string());
            if let Some(autonym) = lang.to_autonym() {
                n.languages.insert(fold(autonym), code.to_string());
            }
        }
        for (file, node) in sections {
            n.rule_data(file, node, diags);
        }
        if !n.detect.is_empty() {
            n.detector = Some(whatlang::Detector::with_allowlist(n.detect.iter().map(|(_, l)| *l).collect()));
            let tags: Vec<&str> = n.detect.iter().map(|(t, _)| t.as_str()).collect();
            n.vote = function_words::Vote::new(&tags);
        }
        n
    }

    fn rule_data(&mut self, file: &str, node: &Node, diags: &mut Vec<Diagnostic>) {
        let NodeKind::Map(entries) = &node.kind else {
            diags.push(Diagnostic::wrong_type(file, node.pos, "`normalize`", "a mapping", &node.describe()));
            return;
        };
        for (key, value) in entries {
            if key.name == "detect_languages" {
                self.detect_languages(file, value, diags);
                continue;
            }
            let pairs = match string_map(file, value, &format!("`normalize.{}`", key.name), diags) {
                Some(p) => p,
                None => continue,
            };
            match key.name.as_str() {
                "countries" => {
                    for (alias, pos, target) in pairs {
                        match target.scalar_text().and_then(|t| self.country(&t).map(|(c, _)| c)) {
                            Some(code) => {
                                self.countries.insert(country_key::country_key(&alias), code);
                            }
                            None => diags.push(unknown_code(file, target.pos.max(pos), "country", &target.describe())),
                        }
                    }
                }
                "regions" => {
                    for (country, pos, table) in pairs {
                        let Some((code, _)) = self.country(&country) else {
                            diags.push(unknown_code(file, pos, "country", &format!("`{country}`")));
                            continue;
                        };
                        let Some(aliases) = string_map(file, table, "a region alias table", diags) else { continue };
                        for (alias, apos, target) in aliases {
                            let resolved = target.scalar_text().and_then(|t| self.iso_region(&code, &t));
                            match resolved {
                                Some(r) => {
                                    self.region_aliases.entry(code.clone()).or_default().insert(fold(&alias), r);
                                }
                                None => diags.push(unknown_code(file, apos, "region", &target.describe())),
                            }
                        }
                    }
                }
                "languages" => {
                    for (alias, pos, target) in pairs {
                        match target.scalar_text().and_then(|t| self.language(&t).map(|(l, _)| l)) {
                            Some(tag) => {
                                self.languages.insert(fold(&alias), tag);
                            }
                            None => diags.push(unknown_code(file, pos, "language", &target.describe())),
                        }
                    }
                }
                "postal_codes" => {
                    for (country, pos, pattern) in pairs {
                        let Some((code, _)) = self.country(&country) else {
                            diags.push(unknown_code(file, pos, "country", &format!("`{country}`")));
                            continue;
                        };
                        let Some(p) = pattern.as_str() else {
                            diags.push(Diagnostic::wrong_type(
                                file,
                                pattern.pos,
                                "a postal code pattern",
                                "a regular expression in quotes",
                                &pattern.describe(),
                            ));
                            continue;
                        };
                        match Regex::new(p) {
                            Ok(re) => {
                                self.postal.insert(code, re);
                            }
                            Err(e) => diags.push(Diagnostic::invalid_regex(file, pattern.pos, &e.to_string())),
                        }
                    }
                }
                "language_countries" => {
                    for (lang, pos, list) in pairs {
                        let Some((tag, _)) = self.language(&lang) else {
                            diags.push(unknown_code(file, pos, "language", &format!("`{lang}`")));
                            continue;
                        };
                        let NodeKind::Seq(items) = &list.kind else {
                            diags.push(Diagnostic::wrong_type(
                                file,
                                list.pos,
                                "the countries of a language",
                                "a list",
                                &list.describe(),
                            ));
                            continue;
                        };
                        let mut codes = Vec::new();
                        for item in items {
                            match item.scalar_text().and_then(|t| self.country(&t)) {
                                Some((c, _)) => codes.push(c),
                                None => diags.push(unknown_code(file, item.pos, "country", &item.describe())),
                            }
                        }
                        self.language_countries.insert(primary(&tag).to_string(), codes);
                    }
                }
                other => diags.push(Diagnostic::unknown_key(file, key.pos, other, "`normalize`", NORMALIZE_KEYS)),
            }
        }
    }

    /// A country's alpha-2 code and how it was recognised: the rule set's
    /// own names first, then the generated tables of codes and names. A
    /// short ASCII word in one case (`DE`, `deu`, `276`) is looked up as a
    /// code first; anything else as a name first, and text with letters
    /// beyond ASCII (`Mỹ`, `Áo`) as a name only, so a foreign name never
    /// turns into the code it happens to spell. A name written inverted
    /// (`Congo, The Democratic Republic of the`) or with a parenthesis
    /// (`Korea (Republic of)`) is also tried the other way round; a flag
    /// emoji (🇩🇪) is its code.
    pub fn country(&self, raw: &str) -> Option<(String, &'static str)> {
        let raw = crate::text::trim(raw);
        if let Some(code) = flag_code(raw) {
            return self.country_by_key(&code, Lookup::Code).map(|(c, how, _)| (c, how));
        }
        let first = self.country_by_key(raw, Lookup::Any);
        if first.is_some() || !raw.contains([',', '(']) {
            return first.map(|(code, how, _)| (code, how));
        }
        let variants = country_key::country_name_variants(raw);
        if let Some((code, how, _)) =
            variants.iter().filter(|(_, shortened)| !shortened).find_map(|(v, _)| self.country_by_key(v, Lookup::Any))
        {
            return Some((code, how));
        }
        // A qualifier is left out only when it cannot change the answer:
        // it names the same country (`Brasil (BR)`), or it is one word and
        // the rest is an ISO name, official name or alias (`Germany
        // (DE)`, `Hong Kong (China)`). `Saint Martin (Dutch part)` is not
        // `Saint Martin`.
        let (head, _) = variants.iter().find(|(_, shortened)| *shortened)?;
        let (code, how, rank) = self.country_by_key(head, Lookup::Any)?;
        let qualifier = raw.split_once('(').and_then(|(_, q)| q.split_once(')')).map_or("", |(q, _)| q);
        let same = self.country_by_key(qualifier, Lookup::Any).is_some_and(|(c, _, _)| c == code);
        let one_word = qualifier.split_whitespace().count() == 1;
        (same || (rank <= AUTHORITATIVE && one_word)).then_some((code, how))
    }

    /// The code, how it was recognised, and the rank of the source (see
    /// `build.rs`; rule aliases count as authoritative).
    fn country_by_key(&self, raw: &str, lookup: Lookup) -> Option<(String, &'static str, u8)> {
        let mut buf = [0; 64];
        let key = match country_key::country_key_ascii(raw, &mut buf) {
            Some(k) => std::borrow::Cow::Borrowed(k),
            None => std::borrow::Cow::Owned(country_key::country_key(raw)),
        };
        if key.is_empty() {
            return None;
        }
        // A number is a numeric code only when it is written as one:
        // `-276` or `2 76` is not Germany's `276`.
        let digits = key.bytes().all(|b| b.is_ascii_digit());
        if digits && crate::text::trim(raw).chars().any(|c| !c.is_numeric()) {
            return None;
        }
        // Numeric codes are three digits; "76" means "076".
        if key.len() < 3 && digits {
            return self.country_by_key(&format!("{key:0>3}"), Lookup::Code);
        }
        if let Some(code) = self.countries.get(&*key) {
            return Some((code.clone(), "rule alias", AUTHORITATIVE));
        }
        // The entry at a position of a table: its code, how it was
        // recognised, and its rank.
        let entry = |table: &[(&str, [u8; 2], u8)], i: usize| {
            let (_, code, how) = table[i];
            (String::from_utf8_lossy(&code).into_owned(), country_table::COUNTRY_HOW[usize::from(how)], how)
        };
        let search = |table: &[(&str, [u8; 2], u8)], key: &str| {
            table.binary_search_by(|(k, _, _)| (*k).cmp(key)).ok().map(|i| entry(table, i))
        };
        let (codes, names) = (country_table::COUNTRY_CODES, country_table::COUNTRY_NAMES);
        let code = || search(codes, &key);
        let name = || names_index().find(names, &key).map(|i| entry(names, i));
        // Only authoritative names (ISO names, official names, aliases)
        // for a short ASCII word: `EU`, `Sin` or `Nga` is not the foreign
        // name it happens to spell.
        let authoritative = |found: Option<(String, &'static str, u8)>| found.filter(|f| f.2 <= AUTHORITATIVE);
        // Full-width `ＤＥ` is written in ASCII as far as codes go.
        let ascii = raw.is_ascii() || raw.nfkc().all(|c| c.is_ascii());
        match lookup {
            Lookup::Code => code(),
            Lookup::Any if ascii && key.len() <= 3 => code().or_else(|| authoritative(name())),
            Lookup::Any if ascii => name().or_else(code),
            // A spelling of the vowel signs the data does not have, if its
            // skeleton names one country only.
            Lookup::Any => name().or_else(|| {
                search(country_table::COUNTRY_SKELETONS, &country_key::skeleton(&key)?)
                    .map(|(code, _, rank)| (code, "name spelled another way", rank))
            }),
        }
    }

    /// A language's BCP 47 tag (`de`, `pt-BR`) and how it was recognised.
    pub fn language(&self, raw: &str) -> Option<(String, &'static str)> {
        let trimmed = crate::text::trim(raw);
        // A tag with a region: `de-DE`, `pt_br`.
        let mut parts = trimmed.split(['-', '_']);
        let first = parts.next().unwrap_or_default();
        let region = parts.next();
        if let Some(region) = region
            && region.len() == 2
            && region.chars().all(|c| c.is_ascii_alphabetic())
            && let Some(base) = self.languages.get(&fold(first))
        {
            return Some((format!("{base}-{}", region.to_uppercase()), "BCP 47 tag"));
        }
        let mut buf = [0; 48];
        if let Some(t) = self.languages.get(&*fold_key(trimmed, &mut buf)) {
            return Some((t.clone(), "ISO 639"));
        }
        // Languages without a two-letter code: by three-letter code, English
        // name or native name.
        let lower = trimmed.to_lowercase();
        isolang::Language::from_639_3(&lower)
            .or_else(|| isolang::Language::from_name(trimmed))
            .or_else(|| isolang::Language::from_autonym(trimmed))
            .map(|l| (l.to_639_1().unwrap_or_else(|| l.to_639_3()).to_string(), "ISO 639-3"))
    }

    /// A subdivision of `country` by ISO 3166-2 code, region code or name.
    fn iso_region(&self, country: &str, raw: &str) -> Option<String> {
        let key = fold(raw);
        if let Some(code) = self.region_aliases.get(country).and_then(|m| m.get(&key)) {
            return Some(code.clone());
        }
        let prefix = format!("{country}-");
        let index = self.subdivision_index();
        let in_country = |key: &str| index.get(key)?.iter().find(|c| c.starts_with(&prefix)).map(|c| c.to_string());
        in_country(&key).or_else(|| in_country(&fold(&format!("{prefix}{raw}"))))
    }

    fn subdivision_index(&self) -> &BTreeMap<String, Vec<&'static str>> {
        self.subdivisions.get_or_init(|| {
            let mut index: BTreeMap<String, Vec<&'static str>> = BTreeMap::new();
            for c in rust_iso3166::ALL {
                for s in c.subdivisions().unwrap_or_default() {
                    for key in [fold(s.code), fold(s.region_code), fold(s.name)] {
                        let codes = index.entry(key).or_default();
                        if !codes.contains(&s.code) {
                            codes.push(s.code);
                        }
                    }
                }
            }
            index
        })
    }

    /// `normalize.detect_languages: [en, de, fr]`: the languages a case's
    /// text may be read as when it gives none.
    fn detect_languages(&mut self, file: &str, node: &Node, diags: &mut Vec<Diagnostic>) {
        let NodeKind::Seq(items) = &node.kind else {
            let d = Diagnostic::wrong_type(
                file,
                node.pos,
                "`normalize.detect_languages`",
                "a list of languages (`[en, de, fr]`)",
                &node.describe(),
            );
            diags.push(d);
            return;
        };
        let warn = |pos, message: String, help: &str| {
            Diagnostic::custom("detect-languages", crate::diag::Severity::Warning, file, pos, message).with_help(help)
        };
        for item in items {
            let tag = item.scalar_text().and_then(|t| self.language(&t)).map(|(tag, _)| tag);
            if let Some(tag) = &tag
                && tag.contains('-')
            {
                let d = Diagnostic::wrong_type(
                    file,
                    item.pos,
                    "a language to detect",
                    &format!(
                        "a language without a region (`{}`): text tells the language, not the country",
                        primary(tag)
                    ),
                    &item.describe(),
                );
                diags.push(d);
                continue;
            }
            let found = tag.and_then(|tag| {
                // Chinese is Mandarin to the detector.
                let three = match isolang::Language::from_639_1(&tag).map(|l| l.to_639_3())? {
                    "zho" => "cmn",
                    other => other,
                };
                whatlang::Lang::from_code(three).map(|l| (tag, l))
            });
            match found {
                Some(pair) if !self.detect.contains(&pair) => self.detect.push(pair),
                Some((tag, _)) => {
                    diags.push(warn(item.pos, format!("`{tag}` is listed twice"), "list each language once"));
                }
                None => {
                    let d = Diagnostic::wrong_type(
                        file,
                        item.pos,
                        "a language to detect",
                        "a language the detector knows (one of some 70, by ISO 639 code or name: `en`, `German`)",
                        &item.describe(),
                    );
                    diags.push(d);
                }
            }
        }
        if self.detect.len() < 2 {
            let message = format!(
                "`detect_languages` lists {} language(s): the detector chooses among them, so with fewer than two every \
                 text reads as the one (or none)",
                self.detect.len()
            );
            diags.push(warn(node.pos, message, "list every language the cases come in, at least two"));
        }
    }

    /// The language of a case's subject and body (quoted mail left out), if
    /// it is one of `detect_languages`.
    fn detect(&self, case: &crate::Case) -> Option<DetectedLanguage> {
        let detector = self.detector.as_ref()?;
        let cut = |t: &str, most: usize| -> usize {
            let mut end = t.len().min(most);
            while !t.is_char_boundary(end) {
                end -= 1;
            }
            end
        };
        let mut text = case.subject.clone().unwrap_or_default();
        if let Some(b) = &case.body {
            text.push_str(".\n");
            // Quotes are dropped from a prefix of the body only: what is
            // read is its start anyway.
            text.push_str(&crate::similarity::own_text(&b[..cut(b, 4 * DETECT_BYTES)]));
        }
        // Text that is the same to a reader reads the same: decomposed
        // accents (as some mail programs send them) and full-width letters
        // in their usual form (NFKC).
        if !text.is_ascii()
            && unicode_normalization::is_nfkc_quick(text.chars()) != unicode_normalization::IsNormalized::Yes
        {
            text = text.nfkc().collect();
        }
        let end = cut(&text, DETECT_BYTES);
        // Rounded: a float is not promised to be the same last bit on
        // every machine, the answer is.
        let rounded = |c: f64| (c * 1000.0).round() / 1000.0;
        if let Some(v) = self.vote.as_ref().and_then(|vote| vote.decide(&text[..end])) {
            let (tag, _) = self.detect.get(v.index)?;
            return Some(DetectedLanguage {
                language: tag.clone(),
                confidence: rounded(v.margin),
                by: "function words",
            });
        }
        let info = detector.detect(&text[..end]).filter(|i| i.confidence() >= MIN_DETECT_CONFIDENCE)?;
        let (tag, _) = self.detect.iter().find(|(_, l)| *l == info.lang())?;
        Some(DetectedLanguage { language: tag.clone(), confidence: rounded(info.confidence()), by: "trigrams" })
    }

    /// Cleans a case's location, language and e-mail; a case that gives no
    /// language has it read from its text when the rules list languages to
    /// detect.
    pub fn normalize_case(&self, case: &crate::Case, mut steps: Option<&mut Vec<Step>>) -> (Normalized, Vec<Finding>) {
        let req = case.requester.as_ref();
        // ISO 639's codes for no particular language (undetermined,
        // multiple, uncoded, no linguistic content) say nothing: the text
        // is read instead.
        let given = req
            .and_then(|r| r.language.as_deref())
            .map(str::trim)
            .filter(|l| !l.is_empty() && !["und", "mul", "mis", "zxx"].iter().any(|c| l.eq_ignore_ascii_case(c)));
        let (mut out, findings) = self.normalize(
            case.country.as_deref(),
            case.region.as_deref(),
            case.postal_code.as_deref(),
            given,
            req.and_then(|r| r.email.as_deref()),
            steps.as_deref_mut(),
        );
        // A language the case gives but no one knows (`klingon`) is
        // warned about, and the text is read instead.
        if out.language.is_some() {
            out.language_from = Some("requester");
        } else if let Some(found) = self.detect(case) {
            if let Some(steps) = steps {
                steps.push(Step {
                    field: "language",
                    from: "(the text)".to_string(),
                    to: found.language.clone(),
                    how: if found.by == "function words" {
                        "detected by function words"
                    } else {
                        "detected by trigrams"
                    },
                });
            }
            out.language = Some(found.language.clone());
            out.language_from = Some("detected");
            out.language_detected = Some(found);
        }
        (out, findings)
    }

    /// Cleans location, language and e-mail values.
    pub fn normalize(
        &self,
        country: Option<&str>,
        region: Option<&str>,
        postal_code: Option<&str>,
        language: Option<&str>,
        email: Option<&str>,
        mut step: Option<&mut Vec<Step>>,
    ) -> (Normalized, Vec<Finding>) {
        let mut out = Normalized::default();
        let mut findings = Vec::new();
        fn given(v: Option<&str>) -> Option<&str> {
            v.map(str::trim).filter(|s| !s.is_empty())
        }
        let mut record = |field: &'static str, from: &str, to: &str, how: &'static str| {
            if let Some(steps) = step.as_deref_mut() {
                steps.push(Step { field, from: shown(from), to: to.to_string(), how });
            }
        };

        if let Some(raw) = given(country) {
            match self.country(raw) {
                Some((code, how)) => {
                    record("country", raw, &code, how);
                    out.country = Some(code);
                }
                None => findings.push(Finding {
                    code: "unknown-country",
                    message: format!("country `{}` is not a known country name or ISO code", shown(raw)),
                    bad_data: true,
                }),
            }
        }

        if let Some(raw) = given(region) {
            let key = fold(raw);
            let found = out.country.as_deref().and_then(|c| self.iso_region(c, raw));
            match (found, &out.country) {
                (Some(code), _) => {
                    record("region", raw, &code, "ISO 3166-2");
                    out.region = Some(code);
                }
                (None, None) if given(country).is_some() => findings.push(Finding {
                    code: "unknown-region",
                    message: format!("region `{}` cannot be checked: the country is not recognised", shown(raw)),
                    bad_data: true,
                }),
                (None, country) => {
                    // A full code or a name unique in the world tells the
                    // country when the case gave none.
                    let candidates = self.region_candidates(&key);
                    match (candidates.as_slice(), country) {
                        ([only], None) => {
                            let inferred = only.split('-').next().unwrap_or_default().to_string();
                            record("region", raw, only, "ISO 3166-2");
                            record("country", raw, &inferred, "from the region");
                            out.region = Some(only.clone());
                            out.country = Some(inferred);
                        }
                        ([], _) | (_, None) => findings.push(Finding {
                            code: "unknown-region",
                            message: format!(
                                "region `{}` is not a known subdivision{}",
                                shown(raw),
                                match country {
                                    Some(c) => format!(" of `{c}`"),
                                    None => String::new(),
                                }
                            ),
                            bad_data: true,
                        }),
                        (_, Some(c)) => findings.push(Finding {
                            code: "region-country-mismatch",
                            message: format!("region `{}` is not in country `{c}`", shown(raw)),
                            bad_data: true,
                        }),
                    }
                }
            }
        }

        if let Some(raw) = given(postal_code) {
            let cleaned = raw.split_whitespace().collect::<Vec<_>>().join(" ").to_uppercase();
            if let Some(c) = &out.country
                && let Some(re) = self.postal.get(c)
                && !re.is_match(&cleaned)
            {
                findings.push(Finding {
                    code: "postal-code-mismatch",
                    message: format!("postal code `{}` does not fit the pattern for `{c}`", shown(raw)),
                    bad_data: true,
                });
            }
            if cleaned != raw {
                record("postal_code", raw, &cleaned, "trimmed and upper-cased");
            }
            out.postal_code = Some(cleaned);
        }

        if let Some(raw) = given(language) {
            match self.language(raw) {
                Some((tag, how)) => {
                    if tag != raw {
                        record("language", raw, &tag, how);
                    }
                    if let (Some(c), Some(fits)) = (&out.country, self.language_countries.get(primary(&tag)))
                        && !fits.contains(c)
                    {
                        findings.push(Finding {
                            code: "language-country-mismatch",
                            message: format!("language `{tag}` is unusual for country `{c}`"),
                            bad_data: false,
                        });
                    }
                    out.language = Some(tag);
                }
                None => findings.push(Finding {
                    code: "unknown-language",
                    message: format!("language `{}` is not a known language name or code", shown(raw)),
                    bad_data: false,
                }),
            }
        }

        if let Some(raw) = given(email) {
            match raw.rsplit_once('@') {
                Some((local, domain))
                    if !local.is_empty()
                        && domain.contains('.')
                        && !domain.starts_with('.')
                        && !domain.ends_with('.')
                        && !raw
                            .chars()
                            .any(|c| c.is_whitespace() || crate::text::invisible_format(c) || c.is_control()) =>
                {
                    let cleaned = format!("{local}@{}", domain.to_lowercase());
                    if cleaned != raw {
                        record("email", raw, &cleaned, "domain lower-cased");
                    }
                    out.email = Some(cleaned);
                }
                _ => findings.push(Finding {
                    code: "invalid-email",
                    message: format!("`{}` is not an e-mail address", shown(raw)),
                    bad_data: false,
                }),
            }
        }
        (out, findings)
    }

    /// Subdivisions anywhere whose code or name folds to `key`, to infer a
    /// country the case did not give. A full ISO 3166-2 code wins outright.
    fn region_candidates(&self, key: &str) -> Vec<String> {
        let index = self.subdivision_index();
        let found = index.get(key).map(Vec::as_slice).unwrap_or_default();
        if let Some(full) = found.iter().find(|c| fold(c) == key) {
            return vec![full.to_string()];
        }
        let mut out: Vec<String> = Vec::new();
        for aliases in self.region_aliases.values() {
            if let Some(code) = aliases.get(key) {
                out.push(code.clone());
            }
        }
        for code in found {
            if !out.iter().any(|o| o == code) {
                out.push(code.to_string());
            }
        }
        out
    }
}

/// A value as a message shows it: at most 64 characters, so a huge input
/// does not fill the warnings, the trace and every alert with itself.
pub(crate) fn shown(raw: &str) -> String {
    match raw.char_indices().nth(64) {
        Some((i, _)) => format!("{}…", &raw[..i]),
        None => raw.to_string(),
    }
}

/// Sources up to this rank (codes, ISO names, official names, aliases) are
/// authoritative (see `build.rs`).
const AUTHORITATIVE: u8 = 5;

/// How a key may be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lookup {
    /// As an ISO code only.
    Code,
    /// As a code or a name (see [`Normalizer::country`]).
    Any,
}

/// The code a flag emoji stands for: two regional indicator symbols
/// (U+1F1E6–U+1F1FF) spell an ISO 3166-1 alpha-2 code.
fn flag_code(raw: &str) -> Option<String> {
    let letters: Option<String> = raw
        .chars()
        .map(|c| match u32::from(c) {
            cp @ 0x1F1E6..=0x1F1FF => char::from_u32(cp - 0x1F1E6 + u32::from(b'A')),
            _ => None,
        })
        .collect();
    letters.filter(|l| l.len() == 2)
}

fn primary(tag: &str) -> &str {
    tag.split('-').next().unwrap_or(tag)
}

fn unknown_code(file: &str, pos: Pos, what: &str, found: &str) -> Diagnostic {
    Diagnostic::custom(
        "unknown-code",
        crate::diag::Severity::Error,
        file,
        pos,
        format!("{found} is not a known {what} name or code"),
    )
}

/// The entries of a mapping as `(key, position, value)`.
fn string_map<'n>(
    file: &str,
    node: &'n Node,
    what: &str,
    diags: &mut Vec<Diagnostic>,
) -> Option<Vec<(String, Pos, &'n Node)>> {
    match &node.kind {
        NodeKind::Map(entries) => Some(entries.iter().map(|(k, v)| (k.name.clone(), k.pos, v)).collect()),
        _ => {
            diags.push(Diagnostic::wrong_type(file, node.pos, what, "a mapping", &node.describe()));
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn normalizer() -> Normalizer {
        Normalizer::build(&[], &mut Vec::new())
    }

    #[test]
    fn the_name_index_finds_every_name_where_a_binary_search_would() {
        let table = country_table::COUNTRY_NAMES;
        let index = names_index();
        for (i, (key, _, _)) in table.iter().enumerate() {
            assert_eq!(index.find(table, key), Some(i), "{key}");
        }
        for missing in ["", "atlantis", "deutschlandx", "germ"] {
            assert_eq!(index.find(table, missing), None, "{missing}");
            assert!(table.binary_search_by(|(k, _, _)| (*k).cmp(missing)).is_err());
        }
        // The index serves any table of distinct keys: the codes too.
        let codes = KeyIndex::new(country_table::COUNTRY_CODES);
        assert!(
            country_table::COUNTRY_CODES
                .iter()
                .enumerate()
                .all(|(i, (k, _, _))| codes.find(country_table::COUNTRY_CODES, k) == Some(i))
        );
    }

    /// Rows of a tab-separated test table, comments and blank lines left out.
    fn rows(text: &str) -> impl Iterator<Item = Vec<&str>> {
        text.lines().filter(|l| !l.starts_with('#') && !l.trim().is_empty()).map(|l| l.split('\t').collect())
    }

    #[test]
    fn every_iso_code_short_and_official_name() {
        let n = normalizer();
        let mut failed = Vec::new();
        let mut checked = 0;
        for row in rows(include_str!("../../testdata/iso3166-1.tsv")) {
            let code = row[0];
            for name in row.iter().filter(|v| !v.is_empty()) {
                checked += 1;
                let got = n.country(name).map(|c| c.0);
                if got.as_deref() != Some(code) {
                    failed.push(format!("{name:?} → {got:?}, want {code}"));
                }
            }
        }
        assert!(checked > 1000, "{checked}");
        assert!(failed.is_empty(), "{} of {checked} failed:\n{}", failed.len(), failed.join("\n"));
    }

    #[test]
    fn invisible_characters_at_the_ends_kosovo_and_turkish_capitals() {
        let n = normalizer();
        for (raw, code) in [
            ("DE\u{200b}", "DE"),
            ("\u{feff}DE", "DE"),
            ("\u{200e}Deutschland\u{2060}", "DE"),
            ("Nga\u{200b}", "NG"),
            ("XK", "XK"),
            ("XKX", "XK"),
            ("Kosovo", "XK"),
            ("BİRLEŞİK KRALLIK", "GB"),
            ("Birleşik Krallık", "GB"),
        ] {
            assert_eq!(n.country(raw).map(|c| c.0).as_deref(), Some(code), "{raw:?}");
        }
        assert_eq!(n.country("\u{200b}"), None);
        // `Is.` for one island as for several.
        assert_eq!(n.country("Heard Is. and McDonald Is.").map(|c| c.0).as_deref(), Some("HM"));
        assert_eq!(n.country("Christmas Is.").map(|c| c.0).as_deref(), Some("CX"));
        // Numbers with signs or spaces are not numeric codes.
        assert_eq!(n.country(" 276 ").map(|c| c.0).as_deref(), Some("DE"));
        assert_eq!(n.country("76").map(|c| c.0).as_deref(), Some("BR"));
        for not_a_code in ["-276", "2 76", "27.6", "+49"] {
            assert_eq!(n.country(not_a_code), None, "{not_a_code}");
        }
        // Consonant skeletons are read for Indic scripts only: Iraq and
        // Swaziland in Tibetan were Uruguay and Switzerland.
        assert_eq!(n.country("ଚିଲି").map(|c| c.0).as_deref(), Some("CL"));
        for other in ["ཨི་རག།", "སུ་ཝ་ཛི་ལེནཌ", "བུ་རུ་ནེ།", "ཨང་གི་ལ"]
        {
            assert_eq!(n.country(other), None, "{other}");
        }
        assert_eq!(crate::text::trim("\u{feff} ab\u{200b}c \u{00ad}"), "ab\u{200b}c");
    }

    #[test]
    fn alternative_inverted_abbreviated_and_native_names() {
        let n = normalizer();
        let mut failed = Vec::new();
        for row in rows(include_str!("../../testdata/country-names.tsv")) {
            let got = n.country(row[0]).map(|c| c.0);
            if got.as_deref() != Some(row[1]) {
                failed.push(format!("{:?} → {got:?}, want {}", row[0], row[1]));
            }
        }
        assert!(failed.is_empty(), "{}", failed.join("\n"));
        for not_a_country in ["Atlantis", "the", "", "()"] {
            assert_eq!(n.country(not_a_country), None, "{not_a_country}");
        }
        // Names that are ambiguous or missing from the data may stay
        // unknown, but must never name another country.
        for (name, code) in [
            ("EU", "XX"),
            ("Sin", "SG"),
            ("Mon", "MC"),
            ("Canary Islands", "ES"),
            ("Saint Martin (Dutch part)", "SX"),
            ("Sint-Maarten (Frans deel)", "MF"),
            ("Конго (Киншаса)", "CD"),
            // keshvar's ISO official name of VG is `Virgin Islands`.
            ("Virgin Islands", "VG"),
            ("अमेरिका", "US"),
            ("ടോംഗ", "TO"),
            ("టోగో", "TG"),
            ("កូរ៉ាកៅ", "CW"),
            ("ګیانا", "GY"),
        ] {
            let got = n.country(name).map(|c| c.0);
            assert!(got.is_none() || got.as_deref() == Some(code), "{name:?} → {got:?}");
        }
        // The alpha-3 code `AND` is Andorra, not a word to leave out.
        assert_eq!(n.country("AND").map(|c| c.0).as_deref(), Some("AD"));
    }

    #[test]
    fn rule_aliases_come_before_the_built_in_names() {
        let yaml = "countries: { Georgia: US, Ruritania: AT }";
        let node = crate::syntax::parse("r.yaml", yaml).unwrap_or_else(|e| panic!("{e:?}"));
        let mut diags = Vec::new();
        let n = Normalizer::build(&[("r.yaml", &node)], &mut diags);
        assert!(diags.is_empty(), "{diags:?}");
        assert_eq!(n.country("georgia"), Some(("US".to_string(), "rule alias")));
        assert_eq!(n.country("Ruritania").map(|c| c.0).as_deref(), Some("AT"));
        assert_eq!(normalizer().country("Georgia"), Some(("GE".to_string(), "ISO name")));
    }

    #[test]
    fn ascii_keys_agree_with_the_general_key() {
        for name in ["St. Lucia", "Trinidad & Tobago", "The Gambia", "AND", "U.S.A.", "Congo (Dem. Rep.)", "x", ""] {
            let mut buf = [0; 64];
            assert_eq!(country_key::country_key_ascii(name, &mut buf), Some(&*country_key::country_key(name)));
        }
    }

    #[test]
    fn regions_languages_postal_codes_and_emails() {
        let n = normalizer();
        let (out, findings) =
            n.normalize(Some("DE"), Some("Bayern"), Some(" 80331 "), Some("German"), Some(" Ops@ACME.Example "), None);
        assert_eq!(out.region.as_deref(), Some("DE-BY"));
        assert_eq!(out.postal_code.as_deref(), Some("80331"));
        assert_eq!(out.language.as_deref(), Some("de"));
        assert_eq!(out.email.as_deref(), Some("Ops@acme.example"));
        assert!(findings.is_empty(), "{findings:?}");
        let (out, _) = n.normalize(None, Some("DE-BY"), None, Some("pt_br"), None, None);
        assert_eq!(out.country.as_deref(), Some("DE"), "a full region code gives the country");
        assert_eq!(out.language.as_deref(), Some("pt-BR"));
        let (_, findings) = n.normalize(Some("FR"), Some("Bayern"), None, Some("Klingonese"), Some("nobody"), None);
        let codes: Vec<&str> = findings.iter().map(|f| f.code).collect();
        assert_eq!(codes, ["region-country-mismatch", "unknown-language", "invalid-email"]);
        // An address with an invisible or control character inside is not one.
        for bad in ["ops\u{200b}@acme.example", "ops@acme.example\u{202e}x", "ops@acme\u{7}.example"] {
            let (out, findings) = n.normalize(None, None, None, None, Some(bad), None);
            assert_eq!((out.email, findings.first().map(|f| f.code)), (None, Some("invalid-email")), "{bad:?}");
        }
    }

    #[test]
    fn fold_ignores_case_accents_and_punctuation() {
        assert_eq!(fold("Côte d'Ivoire"), "cotedivoire");
        assert_eq!(fold("U.S.A."), "usa");
        assert_eq!(fold(" Ünited  Kingdom "), "unitedkingdom");
    }
}
