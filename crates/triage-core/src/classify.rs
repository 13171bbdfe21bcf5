//! Learned triage: a linear text classifier trained on the cases a support
//! team has already labelled, and explained by the words that decided it.
//!
//! - **Features**: the words of the subject and of the body's own text
//!   (quoted mail and signatures left out, as [`crate::similarity`] does),
//!   normalized as phrases are (case, white space, Unicode compatibility
//!   forms, accents folded) and cut into words as phrases are, with
//!   numbers dropped; each word and each pair of neighbouring words is a
//!   feature, counted. [`TOKENIZER_VERSION`] names this recipe; a model
//!   trained with another is refused.
//! - **Vocabulary**: features found in at least `min_count` training
//!   cases, the commonest [`TrainOptions::max_features`] of them.
//! - **Model**: complement naive Bayes (Rennie, Shih, Teevan and Karger,
//!   "Tackling the Poor Assumptions of Naive Bayes Text Classifiers", ICML
//!   2003; the default, chosen by measured accuracy), or multinomial naive
//!   Bayes, both with additive smoothing. A model has one *head* per trained label (`category`,
//!   `priority`, `team`) over one shared vocabulary.
//! - **Confidence**: the softmax of the class scores at a temperature
//!   fitted on a held-out tenth of the training cases, so the three shown
//!   add up to at most 1 and a guess of 0.8 is right about 8 times in 10.
//!
//! Everything is ordered and seeded: the same cases give a byte-identical
//! model file, and the same model and case give the same answer on every
//! machine (sums run in a fixed order; ties go to the class first in name
//! order).

use crate::name::Name;
use crate::similarity::{fnv_start, fnv_step, hash_bytes, mix, own_text, strip_subject_prefixes};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// The feature recipe this build computes. A model file records the one it
/// was trained with; loading a model of another recipe is an error, since
/// its weights would be read against the wrong features.
pub const TOKENIZER_VERSION: &str = "triage-words/1";

/// The model file format this build reads and writes.
pub const MODEL_FORMAT: &str = "triage-model/2";

/// The seed of feature hashes (fixed: part of [`TOKENIZER_VERSION`]).
const SEED: u64 = 0x7472_6961_6765_2d77; // "triage-w"

/// Words longer than this many bytes (hashes, base64, URLs run together)
/// are not features.
const MAX_WORD_BYTES: usize = 40;

/// How a model weighs words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Algorithm {
    /// Multinomial naive Bayes: per class, the smoothed share of each
    /// feature among the class's features, plus the class's prior.
    MultinomialNb,
    /// Complement naive Bayes: per class, how rare each feature is in the
    /// *other* classes (steadier than multinomial when classes are of very
    /// different sizes). No prior.
    ComplementNb,
}

impl Algorithm {
    /// The name in model files and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::MultinomialNb => "multinomial-nb",
            Algorithm::ComplementNb => "complement-nb",
        }
    }

    /// The algorithm of a name ([`Algorithm::name`]).
    pub fn parse(name: &str) -> Option<Algorithm> {
        match name {
            "multinomial-nb" => Some(Algorithm::MultinomialNb),
            "complement-nb" => Some(Algorithm::ComplementNb),
            _ => None,
        }
    }
}

/// How to train.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrainOptions {
    /// The algorithm.
    pub algorithm: Algorithm,
    /// Additive (Lidstone) smoothing added to every feature count, from
    /// [`MIN_ALPHA`] to [`MAX_ALPHA`]; `None` (the default) chooses it per
    /// label from [`ALPHA_TRIES`] by accuracy on a held-out tenth of the
    /// training cases (1 when there are fewer than 200 cases).
    pub alpha: Option<f64>,
    /// A feature must appear in at least this many training cases.
    pub min_count: u32,
    /// At most this many features are kept, the commonest first.
    pub max_features: usize,
}

impl Default for TrainOptions {
    /// Complement naive Bayes, `alpha` chosen per label, features seen in 2
    /// cases, at most 200,000 of them: the best of the settings measured on
    /// the generated evaluation set (`benches/classify/RESULTS.md`:
    /// complement beat multinomial by 0.7 to 1.1 points at every `alpha`
    /// tried; the best `alpha` was 1 for the category and 10 for the
    /// priority, so one fixed value served one of them badly).
    fn default() -> Self {
        TrainOptions { algorithm: Algorithm::ComplementNb, alpha: None, min_count: 2, max_features: 200_000 }
    }
}

/// The smoothing values tried for each label when none is given, in the
/// order a tie is settled (the first tried wins): 1, then outwards.
pub const ALPHA_TRIES: [f64; 7] = [1.0, 0.3, 3.0, 0.1, 10.0, 30.0, 0.03];

/// The smoothing of a label trained without held-out cases to choose it.
pub const DEFAULT_ALPHA: f64 = 1.0;

/// A labelled case: its text and one value (or none) per trained label,
/// in the order the labels were asked for.
#[derive(Debug, Clone)]
pub struct Example<'a> {
    /// Subject line.
    pub subject: Option<&'a str>,
    /// Message body.
    pub body: Option<&'a str>,
    /// The case's value of each label; `None` when it has none (the case
    /// then trains the other labels only).
    pub labels: Vec<Option<&'a str>>,
}

/// Why a model file cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ModelError(pub String);

/// What the model file holds (see [`Model`]).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ModelFile {
    format: String,
    tokenizer: String,
    algorithm: Algorithm,
    training: TrainingInfo,
    /// Feature names, sorted: a word, or two words with a space between.
    vocabulary: Vec<String>,
    heads: Vec<HeadFile>,
}

/// Where a model came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainingInfo {
    /// Cases trained on.
    pub cases: u64,
    /// FNV-1a (64 bits, hex) over every training case's subject, body and
    /// labels, in order: the same training set gives the same hash.
    pub set_hash: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct HeadFile {
    /// The label this head predicts (`category`).
    label: String,
    /// The additive smoothing its weights were made with.
    alpha: f64,
    /// Its classes, sorted.
    classes: Vec<String>,
    /// Training cases per class.
    class_counts: Vec<u64>,
    /// Log prior per class (0 for complement naive Bayes).
    prior: Vec<f32>,
    /// One row per feature (vocabulary order), one weight per class.
    weights: Vec<f32>,
    /// Scores are divided by this before the softmax that gives the
    /// confidence (temperature scaling, Guo, Pleiss, Sun and Weinberger,
    /// "On Calibration of Modern Neural Networks", ICML 2017), fitted on a
    /// held-out tenth of the training cases so a guess of 0.8 is right
    /// about 8 times in 10. It never changes which class wins.
    temperature: f64,
}

/// A trained model, ready to predict: the file's content plus a lookup
/// table from feature hash to vocabulary index.
///
/// Read one with [`Model::from_json`], write one with [`Model::to_json`].
#[derive(Clone)]
pub struct Model {
    file: ModelFile,
    /// Open addressing, one word a slot: the feature hash's top 44 bits
    /// over its vocabulary index + 1 (20 bits); 0 is empty. One memory
    /// read a lookup.
    slots: Vec<u64>,
    mask: usize,
    /// Per label: its name and its classes' names, made once.
    names: Vec<(Name, Vec<Name>)>,
    /// Per feature: its name, when explanations may name it ([`telling`]).
    telling: Vec<Option<Name>>,
    /// The same as one bit a feature (set when it may be named): the
    /// explanation's scan reads these few kilobytes, not `telling`.
    telling_bits: Vec<u64>,
    /// Every label's weights of a feature side by side (feature-major,
    /// `width` a feature, label `i` from `offsets[i]`), so one feature's
    /// weights for all labels are one or two cache lines. A row is padded
    /// with zeros to a whole number of [`LANES`], so a prediction adds
    /// rows up in whole vector registers.
    rows: Vec<f32>,
    width: usize,
    offsets: Vec<usize>,
}

/// Weights a row is padded to a multiple of: four `f32` fill one SSE
/// register, which every x86-64 processor has.
const LANES: usize = 4;

/// The largest weight or prior a model file may hold, either sign. A
/// trained one is a logarithm of smoothed counts (a few dozen at most); a
/// hand-made `3e38` would overflow a case's sum to infinity, and its
/// confidences to NaN.
const MAX_WEIGHT: f32 = 1e6;

/// How many features [`Model::found`] looks up together.
const LOOKAHEAD: usize = 32;

/// Bits of a slot that hold the vocabulary index + 1.
const INDEX_BITS: u32 = 20;
const INDEX_MASK: u64 = (1 << INDEX_BITS) - 1;

impl fmt::Debug for Model {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Model")
            .field("algorithm", &self.file.algorithm)
            .field("labels", &self.labels())
            .field("vocabulary", &self.file.vocabulary.len())
            .field("training", &self.file.training)
            .finish()
    }
}

/// One label's guess for a case.
///
/// JSON: `{"model": "support", "label": "category", "class": "billing",
/// "confidence": 0.91, "top": [{"class": "billing", "confidence": 0.91},
/// …], "words": ["refund", "charged twice"]}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Prediction {
    /// The classifier's name in the rules' `classifiers:` section (empty
    /// from [`Model::predict`] itself).
    pub model: Name,
    /// The label predicted (`category`).
    pub label: Name,
    /// The class chosen.
    pub class: Name,
    /// The model's confidence in it, 0 to 1.
    pub confidence: f64,
    /// The best three classes (or fewer), best first, with their
    /// confidence.
    pub top: Vec<Guess>,
    /// The features that weighed most for the chosen class over the
    /// runner-up, most first (at most 5; function words left out).
    pub words: Vec<Name>,
    /// How many of the model's features the text has (each occurrence
    /// counted). 0: the guess is the classes' prior alone, and the rules
    /// are given no guess.
    pub features: u32,
}

/// A class and the model's confidence in it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Guess {
    /// The class.
    pub class: Name,
    /// 0 to 1.
    pub confidence: f64,
}

/// Calls `each` with every feature of a case's text, in text order: each
/// word, then the pair it makes with the word before it, as (hash, word,
/// None) or (hash, first word, Some(second word)).
fn each_feature(subject: Option<&str>, body: Option<&str>, each: &mut impl FnMut(u64, &str, Option<&str>)) {
    let mut normalized = String::new();
    let mut folded = String::new();
    let mut prev = String::new();
    let mut one = |text: &str, normalized: &mut String| {
        if text.is_ascii() {
            // Normalized ASCII is the text lower-cased with its spaces
            // squeezed, and its words the runs of letters, digits and `_`:
            // read straight from the text.
            let words = text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).filter(|w| !w.is_empty());
            fold_words(words, &mut folded, &mut prev, each);
        } else {
            crate::text::normalize_into(text, normalized);
            words_of(normalized, &mut folded, &mut prev, each);
        }
    };
    each_text(subject, body, &mut |text| one(text, &mut normalized));
}

/// Calls `one` with the texts features are read from: the subject without
/// its reply and forward prefixes, then the body's own text (quotes and
/// signature left out) or, when that is under four words, the whole body.
fn each_text(subject: Option<&str>, body: Option<&str>, one: &mut impl FnMut(&str)) {
    let own = body.map(own_text);
    each_text_of(subject, body, own.as_deref(), one);
}

/// [`each_text`] with the body's [`own_text`] already made.
fn each_text_of(subject: Option<&str>, body: Option<&str>, own: Option<&str>, one: &mut impl FnMut(&str)) {
    if let Some(s) = subject {
        one(strip_subject_prefixes(s));
    }
    if let (Some(b), Some(own)) = (body, own) {
        // A forward with a line on top is about what it forwards.
        let text = if own.split_whitespace().nth(3).is_none() { b } else { own };
        one(text);
    }
}

/// The hashes [`each_feature`] gives for a case's text, in the same
/// order, without naming the features: what a prediction needs.
///
/// Text of ASCII and Latin-1 letters (with the common punctuation around
/// them) is read in one pass over its bytes, each word lower-cased,
/// unaccented and hashed as it is read ([`latin_hashes`]); other text goes
/// the way [`each_feature`] goes.
fn each_hash(subject: Option<&str>, body: Option<&str>, own: Option<&str>, each: &mut impl FnMut(u64)) {
    each_text_of(subject, body, own, &mut |text| {
        if !latin_hashes(text, each) {
            let mut normalized = String::new();
            let (mut folded, mut prev) = (String::new(), String::new());
            crate::text::normalize_into(text, &mut normalized);
            words_of(&normalized, &mut folded, &mut prev, &mut |h, _, _| each(h));
        }
    });
}

/// A character [`latin_hashes`] can read without normalizing the text:
/// Some(its lower-case unaccented form, empty when it separates words),
/// None when the text needs [`crate::text::normalize_into`].
///
/// The forms are what NFKC, lower-casing and [`crate::text::unaccented`]
/// make of them: Latin-1 letters are already composed and their lower case
/// is Latin-1 too; `æ`, `ð`, `ø` and `þ` have no accent to lose, and `ß`
/// folds to `ss` as everywhere in matching. The
/// separators are punctuation whose compatibility form holds no letter or
/// digit either (no-break space, `«`, `»`, `¡`, `¿`, typographic quotes and
/// dashes, `…`, `€`).
fn latin_form(c: char) -> Option<&'static str> {
    Some(match c {
        'À'..='Å' | 'à'..='å' => "a",
        'Ç' | 'ç' => "c",
        'È'..='Ë' | 'è'..='ë' => "e",
        'Ì'..='Ï' | 'ì'..='ï' => "i",
        'Ñ' | 'ñ' => "n",
        'Ò'..='Ö' | 'ò'..='ö' => "o",
        'Ù'..='Ü' | 'ù'..='ü' => "u",
        'Ý' | 'ý' | 'ÿ' => "y",
        'Æ' | 'æ' => "æ",
        'Ð' | 'ð' => "ð",
        'Ø' | 'ø' => "ø",
        'Þ' | 'þ' => "þ",
        'ß' => "ss",
        '\u{a0}' | '«' | '»' | '¡' | '¿' | '\u{2010}'..='\u{2015}' | '\u{2018}'..='\u{201f}' | '…' | '€' => "",
        _ => return None,
    })
}

/// Calls `each` with the hashes of the words and word pairs of `text`
/// when every character of it is ASCII or [`latin_form`] knows it, and
/// says whether it did (when it did not, `each` was not called).
fn latin_hashes(text: &str, each: &mut impl FnMut(u64)) -> bool {
    if !text.is_ascii() && !text.chars().all(|c| c.is_ascii() || latin_form(c).is_some()) {
        return false;
    }
    let bytes = text.as_bytes();
    let mut prev: Option<u64> = None;
    let mut i = 0;
    // One word at a time: its FNV-1a state (as `hash_bytes` keeps it), its length as
    // normalized text (lower case keeps each letter's width), and whether
    // it is all digits.
    while i < bytes.len() {
        let mut h = fnv_start(SEED);
        // Every byte of the word or'ed: a word byte has bit 0x40 unless it
        // is a digit (`0`-`9` are 0x30-0x39; letters and `_` are above
        // 0x40).
        let (start, mut seen) = (i, 0u8);
        while i < bytes.len() {
            let t = WORD_BYTE[usize::from(bytes[i])];
            if t.wrapping_sub(1) < 0x7f {
                seen |= t;
                fnv_step(&mut h, t);
                i += 1;
            } else if t == 0 {
                break;
            } else {
                let c = text[i..].chars().next().unwrap_or('\0');
                let form = latin_form(c).unwrap_or_default();
                if form.is_empty() {
                    break;
                }
                seen |= 0x40;
                for &b in form.as_bytes() {
                    fnv_step(&mut h, b);
                }
                i += c.len_utf8();
            }
        }
        // Its length as normalized text: lower case keeps each letter's
        // width, so it is the bytes read.
        let (len, digits) = (i - start, seen & 0x40 == 0);
        if len == 0 {
            // A separator: ASCII (one byte) or a Latin one.
            i += if bytes[i].is_ascii() { 1 } else { text[i..].chars().next().map_or(1, char::len_utf8) };
            continue;
        }
        if len > MAX_WORD_BYTES || digits {
            prev = None;
            continue;
        }
        let h = mix(h);
        each(h);
        if let Some(p) = prev {
            each(pair_hash(p, h));
        }
        prev = Some(h);
    }
    true
}

/// What [`latin_hashes`] makes of a byte: a byte of a word (ASCII letter,
/// digit or `_`) as it hashes (lower case), 0 for an ASCII separator,
/// 0x80 for a byte of a longer character.
const WORD_BYTE: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        t[b] = if !c.is_ascii() {
            0x80
        } else if c.is_ascii_alphanumeric() || c == b'_' {
            c.to_ascii_lowercase()
        } else {
            0
        };
        b += 1;
    }
    t
};

/// The features of one normalized text (subject or body: no pair spans
/// the two).
fn words_of(normalized: &str, folded: &mut String, prev: &mut String, each: &mut impl FnMut(u64, &str, Option<&str>)) {
    if normalized.is_ascii() {
        // ASCII words are the runs of letters, digits and `_`: what
        // `text::words` finds, without its Unicode boundary rules.
        let words = normalized.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).filter(|w| !w.is_empty());
        return fold_words(words, folded, prev, each);
    }
    fold_words(crate::text::words(normalized), folded, prev, each);
}

fn fold_words<'w>(
    words: impl Iterator<Item = &'w str>,
    folded: &mut String,
    prev: &mut String,
    each: &mut impl FnMut(u64, &str, Option<&str>),
) {
    let mut prev_hash: Option<u64> = None;
    for word in words {
        if word.len() > MAX_WORD_BYTES || word.bytes().all(|b| b.is_ascii_digit()) {
            prev_hash = None;
            continue;
        }
        let word = if word.bytes().any(|b| b.is_ascii_uppercase()) {
            folded.clear();
            folded.extend(word.bytes().map(|b| char::from(b.to_ascii_lowercase())));
            folded.as_str()
        } else {
            crate::text::unaccented(word, folded)
        };
        let h = word_hash(word);
        each(h, word, None);
        if let Some(p) = prev_hash {
            each(pair_hash(p, h), prev, Some(word));
        }
        prev.clear();
        prev.push_str(word);
        prev_hash = Some(h);
    }
}

fn word_hash(word: &str) -> u64 {
    hash_bytes(SEED, word.as_bytes())
}

fn pair_hash(first: u64, second: u64) -> u64 {
    mix(first.rotate_left(23) ^ second ^ SEED)
}

/// The feature hash of a vocabulary entry (a word, or two words with a
/// space between).
fn entry_hash(entry: &str) -> u64 {
    match entry.split_once(' ') {
        Some((a, b)) => pair_hash(word_hash(a), word_hash(b)),
        None => word_hash(entry),
    }
}

/// The features of a case's text as they would be named in a vocabulary,
/// in text order (for tests and explanations).
pub fn features(subject: Option<&str>, body: Option<&str>) -> Vec<String> {
    let mut out = Vec::new();
    each_feature(subject, body, &mut |_, a, b| match b {
        Some(b) => out.push(format!("{a} {b}")),
        None => out.push(a.to_string()),
    });
    out
}

/// FNV-1a over the examples' text and labels, 16 hex digits.
fn set_hash(examples: &[Example<'_>]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |bytes: &[u8]| {
        for &b in bytes.iter().chain([0xff].iter()) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    };
    for e in examples {
        eat(e.subject.unwrap_or("").as_bytes());
        eat(e.body.unwrap_or("").as_bytes());
        for l in &e.labels {
            eat(l.unwrap_or("").as_bytes());
        }
    }
    format!("{h:016x}")
}

/// Trains a model with one head per label of `labels` (names such as
/// `category`; each example carries its values in the same order).
///
/// # Errors
/// When a label has fewer than two classes among the examples, when no
/// feature is seen `min_count` times, or when the options are out of range.
pub fn train(examples: &[Example<'_>], labels: &[&str], options: &TrainOptions) -> Result<Model, ModelError> {
    if let Some(alpha) = options.alpha
        && !(MIN_ALPHA..=MAX_ALPHA).contains(&alpha)
    {
        return Err(ModelError(format!(
            "alpha (--alpha) must be from {MIN_ALPHA} to {MAX_ALPHA}, not {alpha}; by default it is chosen per label"
        )));
    }
    let all = count(examples, labels, options)?;
    let mut alphas = vec![options.alpha.unwrap_or(DEFAULT_ALPHA); labels.len()];
    let mut temperatures = vec![1.0; labels.len()];
    // The smoothing (when not given) and the temperatures, from counts of
    // nine tenths of the cases tried on the tenth they did not see (when
    // there are enough cases to spare one).
    if examples.len() >= MIN_CALIBRATION_CASES {
        // By text, so copies of a case (a mailbox has them) are all held
        // out or all kept: a copy on each side would make the smallest
        // smoothing look best.
        let held = |i: usize| text_hash(&examples[i]).is_multiple_of(10);
        let fitting: Vec<Example<'_>> =
            examples.iter().enumerate().filter(|(i, _)| !held(*i)).map(|(_, e)| e.clone()).collect();
        if let Ok(part_counts) = count(&fitting, labels, options) {
            let part = assemble(&part_counts, &alphas, options)?;
            let tried: Vec<&Example<'_>> =
                examples.iter().enumerate().filter(|(i, _)| held(*i)).map(|(_, e)| e).collect();
            // Each held-out text read once, for every label.
            let found: Vec<Vec<(u32, f32)>> =
                tried.iter().map(|e| part.found(e.subject, e.body, e.body.map(own_text).as_deref())).collect();
            for head in 0..labels.len() {
                let classes = &part_counts.classes[head];
                let truths: Vec<(usize, usize)> = tried
                    .iter()
                    .enumerate()
                    .filter_map(|(k, e)| {
                        let truth = e.labels.get(head).copied().flatten()?;
                        classes.binary_search_by(|x| x.as_str().cmp(truth)).ok().map(|c| (k, c))
                    })
                    .collect();
                // A label on fewer than 200 cases keeps the default: a
                // tenth of them is too few to choose by.
                let labelled = examples.iter().filter(|e| e.labels.get(head).copied().flatten().is_some()).count();
                let tries: &[f64] = if options.alpha.is_some() || labelled < MIN_CALIBRATION_CASES {
                    &alphas[head..=head]
                } else {
                    &ALPHA_TRIES
                };
                let mut best: Option<(usize, HeadFile, Vec<Scored>)> = None;
                for &alpha in tries {
                    let h = head_file(&part_counts, head, alpha, options.algorithm);
                    let seen: Vec<Scored> = truths.iter().map(|&(k, c)| (head_scores(&h, &found[k]), c)).collect();
                    let right = seen.iter().filter(|(scores, truth)| winner(scores) == *truth).count();
                    if best.as_ref().is_none_or(|(most, _, _)| right > *most) {
                        best = Some((right, h, seen));
                    }
                }
                if let Some((_, h, seen)) = best {
                    alphas[head] = h.alpha;
                    temperatures[head] = best_temperature(&seen);
                }
            }
        }
    }
    let mut model = assemble(&all, &alphas, options)?;
    for (h, t) in model.file.heads.iter_mut().zip(temperatures) {
        h.temperature = t;
    }
    Ok(model)
}

/// A head's score of each class for the features found, as
/// [`Model::predict`] sums them, from the head's own weights.
fn head_scores(h: &HeadFile, found: &[(u32, f32)]) -> Vec<f64> {
    let n = h.classes.len();
    let mut sums = vec![0f32; n];
    for &(f, count) in found {
        let f = f as usize;
        for (s, w) in sums.iter_mut().zip(&h.weights[f * n..(f + 1) * n]) {
            *s += count * w;
        }
    }
    h.prior.iter().zip(sums).map(|(p, s)| f64::from(p + s)).collect()
}

/// A seeded hash of a case's subject and body: where it goes when cases
/// are split (copies go together).
fn text_hash(e: &Example<'_>) -> u64 {
    let subject = hash_bytes(SEED.rotate_left(7), e.subject.unwrap_or("").as_bytes());
    mix(subject ^ hash_bytes(subject, e.body.unwrap_or("").as_bytes()))
}

/// A held-out case's class scores and the index of its true class.
type Scored = (Vec<f64>, usize);

/// The class with the highest score (the first of equals).
fn winner(scores: &[f64]) -> usize {
    let mut best = 0;
    for (c, s) in scores.iter().enumerate() {
        if *s > scores[best] {
            best = c;
        }
    }
    best
}

/// The smallest smoothing: below it, a word never seen in a class makes
/// a weight no float holds.
pub const MIN_ALPHA: f64 = 1e-6;
/// The largest: above it, smoothing drowns every count.
pub const MAX_ALPHA: f64 = 1e3;

/// Training cases below which no tenth is held out to fit temperatures.
const MIN_CALIBRATION_CASES: usize = 200;

/// The temperature (0.05 to 100) with the least negative log-likelihood of
/// the true classes: a coarse geometric grid, then a finer one around its
/// best. 1 when nothing was seen.
fn best_temperature(seen: &[(Vec<f64>, usize)]) -> f64 {
    if seen.is_empty() {
        return 1.0;
    }
    let loss = |t: f64| -> f64 {
        seen.iter()
            .map(|(scores, truth)| {
                let top = scores.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                let sum: f64 = scores.iter().map(|s| ((s - top) / t).exp()).sum();
                sum.ln() - (scores[*truth] - top) / t
            })
            .sum()
    };
    let grid = |from: f64, to: f64, steps: usize| -> f64 {
        let ratio = (to / from).powf(1.0 / steps as f64);
        let mut best = (f64::INFINITY, 1.0);
        for i in 0..=steps {
            let t = from * ratio.powi(i as i32);
            let l = loss(t);
            if l < best.0 {
                best = (l, t);
            }
        }
        best.1
    };
    let coarse = grid(0.05, 100.0, 40);
    let fine = grid(coarse / 1.25, coarse * 1.25, 20);
    // Written with 4 significant digits: the model file stays readable.
    let digits = 3 - fine.log10().floor() as i32;
    let scale = 10f64.powi(digits);
    (fine * scale).round() / scale
}

/// What training counted: the vocabulary and, per label, each class's
/// cases and each feature's occurrences in them.
struct Counts {
    labels: Vec<String>,
    /// Feature names in vocabulary (name) order.
    vocabulary: Vec<String>,
    /// Per label: its classes, sorted.
    classes: Vec<Vec<String>>,
    /// Per label: class × feature occurrences, feature-major, vocabulary
    /// order.
    counts: Vec<Vec<f64>>,
    /// Per label: training cases per class.
    class_counts: Vec<Vec<u64>>,
    training: TrainingInfo,
}

fn count(examples: &[Example<'_>], labels: &[&str], options: &TrainOptions) -> Result<Counts, ModelError> {
    if labels.is_empty() {
        return Err(ModelError("name at least one label to train".into()));
    }
    for label in labels {
        label_name(label).map_err(ModelError)?;
    }
    // Document frequency of every feature.
    let mut seen: Vec<u64> = Vec::new();
    let mut doc: Vec<u64> = Vec::new();
    for e in examples {
        doc.clear();
        each_feature(e.subject, e.body, &mut |h, _, _| doc.push(h));
        doc.sort_unstable();
        doc.dedup();
        seen.extend_from_slice(&doc);
    }
    seen.sort_unstable();
    let mut df: Vec<(u64, u32)> = Vec::new();
    for h in seen {
        match df.last_mut() {
            Some((last, n)) if *last == h => *n += 1,
            _ => df.push((h, 1)),
        }
    }
    df.retain(|(_, n)| *n >= options.min_count.max(1));
    if df.len() > options.max_features {
        // The commonest; equal counts by hash, so the choice is stable.
        df.sort_unstable_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        df.truncate(options.max_features);
        df.sort_unstable();
    }
    if df.is_empty() {
        return Err(ModelError(format!(
            "no word appears in {} or more of the {} cases (--min-count): too few cases to learn from, or a \
             minimum too high",
            options.min_count.max(1),
            examples.len()
        )));
    }
    let by_hash: Vec<u64> = df.iter().map(|(h, _)| *h).collect();
    let features = by_hash.len();

    // Classes of each label, sorted.
    let mut classes: Vec<Vec<&str>> = vec![Vec::new(); labels.len()];
    for e in examples {
        for (i, l) in e.labels.iter().enumerate().take(labels.len()) {
            if let Some(l) = l {
                classes[i].push(l);
            }
        }
    }
    // Classes that differ only in letter case are one (rules compare
    // classes without case): the first spelling in byte order names it.
    let mut class_of: Vec<BTreeMap<String, usize>> = Vec::with_capacity(labels.len());
    for (c, label) in classes.iter_mut().zip(labels) {
        c.sort_unstable();
        c.dedup();
        let mut seen: BTreeMap<String, &str> = BTreeMap::new();
        for &name in c.iter() {
            seen.entry(name.to_ascii_lowercase()).or_insert(name);
        }
        c.retain(|name| seen.get(&name.to_ascii_lowercase()) == Some(name));
        class_of.push(
            seen.into_keys()
                .map(|k| {
                    let i = c.iter().position(|name| name.to_ascii_lowercase() == k).unwrap_or(0);
                    (k, i)
                })
                .collect(),
        );
        if c.len() < 2 {
            return Err(ModelError(format!(
                "`{label}` has {} value(s) among the cases; a classifier needs at least two",
                c.len()
            )));
        }
    }

    // Counts per head: class × feature (feature-major, hash order), and
    // the names of the features kept.
    let mut counts: Vec<Vec<f64>> = classes.iter().map(|c| vec![0.0; features * c.len()]).collect();
    let mut class_counts: Vec<Vec<u64>> = classes.iter().map(|c| vec![0; c.len()]).collect();
    let mut names: Vec<Option<String>> = vec![None; features];
    let mut row: Vec<usize> = Vec::new();
    for e in examples {
        row.clear();
        each_feature(e.subject, e.body, &mut |h, a, b| {
            if let Ok(i) = by_hash.binary_search(&h) {
                row.push(i);
                if names[i].is_none() {
                    names[i] = Some(match b {
                        Some(b) => format!("{a} {b}"),
                        None => a.to_string(),
                    });
                }
            }
        });
        for (head, l) in e.labels.iter().enumerate().take(labels.len()) {
            let Some(l) = l else { continue };
            let Some(&c) = class_of[head].get(&l.to_ascii_lowercase()) else { continue };
            let n = classes[head].len();
            class_counts[head][c] += 1;
            for &f in &row {
                counts[head][f * n + c] += 1.0;
            }
        }
    }

    // Vocabulary in name order; the counts follow it.
    let mut order: Vec<usize> = (0..features).collect();
    let name_of = |i: usize| names[i].as_deref().unwrap_or("");
    order.sort_by(|&a, &b| name_of(a).cmp(name_of(b)).then(a.cmp(&b)));
    let vocabulary: Vec<String> = order.iter().map(|&i| name_of(i).to_string()).collect();
    let counts = counts
        .iter()
        .zip(&classes)
        .map(|(counts, c)| {
            let n = c.len();
            order.iter().flat_map(|&f| counts[f * n..(f + 1) * n].iter().copied()).collect()
        })
        .collect();
    Ok(Counts {
        labels: labels.iter().map(|l| l.to_string()).collect(),
        vocabulary,
        classes: classes.iter().map(|c| c.iter().map(|s| s.to_string()).collect()).collect(),
        counts,
        class_counts,
        training: TrainingInfo { cases: examples.len() as u64, set_hash: set_hash(examples) },
    })
}

/// One label's weights from its counts at a smoothing (temperature 1).
fn head_file(counts: &Counts, head: usize, alpha: f64, algorithm: Algorithm) -> HeadFile {
    let n = counts.classes[head].len();
    let features = counts.vocabulary.len();
    let c_counts = &counts.counts[head];
    let mut class_total = vec![0.0f64; n];
    for f in 0..features {
        for c in 0..n {
            class_total[c] += c_counts[f * n + c];
        }
    }
    let all_total: f64 = class_total.iter().sum();
    let v = features as f64;
    let labelled: u64 = counts.class_counts[head].iter().sum();
    let mut weights = Vec::with_capacity(features * n);
    for row in c_counts.chunks_exact(n) {
        let row_total: f64 = row.iter().sum();
        for c in 0..n {
            let w = match algorithm {
                Algorithm::MultinomialNb => ((row[c] + alpha) / (class_total[c] + alpha * v)).ln(),
                Algorithm::ComplementNb => {
                    -((row_total - row[c] + alpha) / (all_total - class_total[c] + alpha * v)).ln()
                }
            };
            weights.push(stored(w));
        }
    }
    let prior = match algorithm {
        Algorithm::MultinomialNb => {
            counts.class_counts[head].iter().map(|&k| stored((k as f64 / labelled.max(1) as f64).ln())).collect()
        }
        Algorithm::ComplementNb => vec![0.0; n],
    };
    HeadFile {
        label: counts.labels[head].clone(),
        alpha,
        classes: counts.classes[head].clone(),
        class_counts: counts.class_counts[head].clone(),
        prior,
        weights,
        temperature: 1.0,
    }
}

/// A model of the counts, each label at its smoothing.
fn assemble(counts: &Counts, alphas: &[f64], options: &TrainOptions) -> Result<Model, ModelError> {
    let heads = (0..counts.labels.len())
        .map(|head| head_file(counts, head, alphas.get(head).copied().unwrap_or(DEFAULT_ALPHA), options.algorithm))
        .collect();
    let file = ModelFile {
        format: MODEL_FORMAT.into(),
        tokenizer: TOKENIZER_VERSION.into(),
        algorithm: options.algorithm,
        training: counts.training.clone(),
        vocabulary: counts.vocabulary.clone(),
        heads,
    };
    Model::from_file(file)
}

impl Model {
    fn from_file(mut file: ModelFile) -> Result<Model, ModelError> {
        if file.format != MODEL_FORMAT {
            return Err(ModelError(format!(
                "the model's format is `{}`; this build reads `{MODEL_FORMAT}` (train the model again)",
                file.format
            )));
        }
        if file.tokenizer != TOKENIZER_VERSION {
            return Err(ModelError(format!(
                "the model was trained with tokenizer `{}`; this build computes `{TOKENIZER_VERSION}` (train the model again)",
                file.tokenizer
            )));
        }
        let v = file.vocabulary.len();
        if v == 0 || v as u64 >= INDEX_MASK {
            return Err(ModelError(format!(
                "the model's vocabulary has {v} entries; a model holds 1 to {} features",
                INDEX_MASK - 1
            )));
        }
        if let Some(w) = file.vocabulary.windows(2).find(|w| w[0] >= w[1]) {
            return Err(ModelError(format!(
                "the model's vocabulary is not sorted and distinct (`{}` before `{}`): its weights would be read \
                 against the wrong words",
                w[0], w[1]
            )));
        }
        if file.heads.is_empty() {
            return Err(ModelError("the model has no labels".into()));
        }
        for (i, h) in file.heads.iter().enumerate() {
            let n = h.classes.len();
            if n < 2 {
                return Err(ModelError(format!(
                    "label `{}` has {n} class(es); a model chooses between two or more (train on cases with at \
                     least two values of the label)",
                    h.label
                )));
            }
            if h.prior.len() != n || h.class_counts.len() != n || h.weights.len() != n * v {
                return Err(ModelError(format!(
                    "label `{}` is malformed: {n} classes, {} priors, {} counts and {} weights for {v} features",
                    h.label,
                    h.prior.len(),
                    h.class_counts.len(),
                    h.weights.len()
                )));
            }
            if !(MIN_ALPHA..=MAX_ALPHA).contains(&h.alpha) {
                return Err(ModelError(format!(
                    "label `{}` has alpha {}, outside {MIN_ALPHA} to {MAX_ALPHA}",
                    h.label, h.alpha
                )));
            }
            if !(h.temperature > 0.0 && h.temperature.is_finite()) {
                return Err(ModelError(format!("label `{}` has a temperature that is not above 0", h.label)));
            }
            if h.weights.iter().chain(&h.prior).any(|w| !w.is_finite()) {
                return Err(ModelError(format!("label `{}` has a weight that is not a finite number", h.label)));
            }
            if let Some(w) = h.weights.iter().chain(&h.prior).find(|w| w.abs() > MAX_WEIGHT) {
                return Err(ModelError(format!(
                    "label `{}` has a weight of {w}, beyond ±{MAX_WEIGHT}: a case's sums could overflow and give no \
                     confidence (trained weights are logarithms, a few dozen at most)",
                    h.label
                )));
            }
            if file.heads[..i].iter().any(|o| o.label == h.label) {
                return Err(ModelError(format!("label `{}` is trained twice", h.label)));
            }
            if let Err(why) = label_name(&h.label) {
                return Err(ModelError(why));
            }
            if h.classes.iter().any(|c| c.trim().is_empty()) || h.classes.windows(2).any(|w| w[0] >= w[1]) {
                return Err(ModelError(format!(
                    "label `{}`: its classes must be non-empty, distinct and sorted",
                    h.label
                )));
            }
            // Rules compare classes without (ASCII) letter case.
            if let Some((a, b)) = h
                .classes
                .iter()
                .enumerate()
                .find_map(|(j, a)| h.classes[j + 1..].iter().find(|b| b.eq_ignore_ascii_case(a)).map(|b| (a, b)))
            {
                return Err(ModelError(format!(
                    "label `{}`: classes `{a}` and `{b}` differ only in letter case, which rules cannot tell apart",
                    h.label
                )));
            }
        }
        let size = (v * 2).next_power_of_two();
        let mask = size - 1;
        let mut slots = vec![0u64; size];
        for (i, entry) in file.vocabulary.iter().enumerate() {
            let h = entry_hash(entry);
            let mut s = (h as usize) & mask;
            loop {
                match slots[s] {
                    0 => {
                        slots[s] = (h & !INDEX_MASK) | (i as u64 + 1);
                        break;
                    }
                    k if k & !INDEX_MASK == h & !INDEX_MASK => {
                        return Err(ModelError(format!(
                            "vocabulary entries `{}` and `{entry}` are the same feature",
                            file.vocabulary[(k & INDEX_MASK) as usize - 1]
                        )));
                    }
                    _ => s = (s + 1) & mask,
                }
            }
        }
        let names = file
            .heads
            .iter()
            .map(|h| (Name::from(h.label.as_str()), h.classes.iter().map(|c| Name::from(c.as_str())).collect()))
            .collect();
        let telling: Vec<Option<Name>> =
            file.vocabulary.iter().map(|w| telling(w).then(|| Name::from(w.as_str()))).collect();
        let mut telling_bits = vec![0u64; v.div_ceil(64)];
        for (i, t) in telling.iter().enumerate() {
            if t.is_some() {
                telling_bits[i / 64] |= 1 << (i % 64);
            }
        }
        let mut offsets = Vec::with_capacity(file.heads.len());
        let mut width = 0;
        for h in &file.heads {
            offsets.push(width);
            width += h.classes.len();
        }
        let width = width.next_multiple_of(LANES);
        let mut rows = Vec::with_capacity(width * v);
        for f in 0..v {
            for h in &file.heads {
                let n = h.classes.len();
                rows.extend_from_slice(&h.weights[f * n..(f + 1) * n]);
            }
            rows.resize((f + 1) * width, 0.0);
        }
        // The rows hold the weights now; the file's copy would double
        // the model's memory.
        for h in &mut file.heads {
            h.weights = Vec::new();
        }
        Ok(Model { file, slots, mask, names, telling, telling_bits, rows, width, offsets })
    }

    /// Reads a model file's JSON text.
    ///
    /// # Errors
    /// When the text is not a model file of [`MODEL_FORMAT`] trained with
    /// [`TOKENIZER_VERSION`], or its shapes disagree.
    pub fn from_json(text: &str) -> Result<Model, ModelError> {
        // The format first: a file of another format is told so, not
        // that one of its fields is unknown.
        #[derive(Deserialize)]
        struct Format {
            format: Option<String>,
        }
        if let Ok(Format { format: Some(format) }) = serde_json::from_str::<Format>(text)
            && format != MODEL_FORMAT
        {
            return Err(ModelError(format!(
                "the model's format is `{format}`; this build reads `{MODEL_FORMAT}` (train the model again)"
            )));
        }
        let file: ModelFile = serde_json::from_str(text).map_err(|e| ModelError(format!("not a model file: {e}")))?;
        Model::from_file(file)
    }

    /// The model file's JSON text: one line per vocabulary entry and per
    /// label, so a diff of two models reads; byte-identical for the same
    /// training cases and options.
    pub fn to_json(&self) -> String {
        let f = &self.file;
        let mut out = String::from("{\n");
        let s = |v: &str| json(v);
        out.push_str(&format!("  \"format\": {},\n", s(&f.format)));
        out.push_str(&format!("  \"tokenizer\": {},\n", s(&f.tokenizer)));
        out.push_str(&format!("  \"algorithm\": {},\n", s(f.algorithm.name())));
        out.push_str(&format!("  \"training\": {},\n", json(&f.training)));
        out.push_str("  \"vocabulary\": [\n");
        for (i, w) in f.vocabulary.iter().enumerate() {
            let comma = if i + 1 < f.vocabulary.len() { "," } else { "" };
            out.push_str(&format!("    {}{comma}\n", s(w)));
        }
        out.push_str("  ],\n  \"heads\": [\n");
        for (i, h) in f.heads.iter().enumerate() {
            out.push_str(&format!(
                "    {{\"label\": {}, \"alpha\": {}, \"temperature\": {}, \"classes\": {}, \"class_counts\": {}, \"prior\": {}, \"weights\": {}}}{}\n",
                s(&h.label),
                json(&h.alpha),
                json(&h.temperature),
                json(&h.classes),
                json(&h.class_counts),
                json(&h.prior),
                json(&self.head_weights(i)),
                if i + 1 < f.heads.len() { "," } else { "" }
            ));
        }
        out.push_str("  ]\n}\n");
        out
    }

    /// The labels the model predicts, in training order.
    pub fn labels(&self) -> Vec<&str> {
        self.file.heads.iter().map(|h| h.label.as_str()).collect()
    }

    /// The classes of a label, sorted; empty when the model does not
    /// predict it.
    pub fn classes(&self, label: &str) -> Vec<&str> {
        self.file
            .heads
            .iter()
            .find(|h| h.label == label)
            .map(|h| h.classes.iter().map(String::as_str).collect())
            .unwrap_or_default()
    }

    /// Label `head`'s weights, feature-major, as the model file holds them.
    fn head_weights(&self, head: usize) -> Vec<f32> {
        let (n, off) = (self.file.heads[head].classes.len(), self.offsets[head]);
        self.rows.chunks_exact(self.width).flat_map(|row| row[off..off + n].iter().copied()).collect()
    }

    /// The additive smoothing a label's weights were made with (chosen
    /// or given when training); `None` when the model does not predict it.
    pub fn alpha(&self, label: &str) -> Option<f64> {
        self.file.heads.iter().find(|h| h.label == label).map(|h| h.alpha)
    }

    /// The number of features.
    pub fn vocabulary_len(&self) -> usize {
        self.file.vocabulary.len()
    }

    /// The algorithm it was trained with.
    pub fn algorithm(&self) -> Algorithm {
        self.file.algorithm
    }

    /// What it was trained on.
    pub fn training(&self) -> &TrainingInfo {
        &self.file.training
    }

    fn lookup(&self, h: u64) -> Option<usize> {
        let mut s = (h as usize) & self.mask;
        loop {
            match self.slots[s] {
                0 => return None,
                k if k & !INDEX_MASK == h & !INDEX_MASK => return Some((k & INDEX_MASK) as usize - 1),
                _ => s = (s + 1) & self.mask,
            }
        }
    }

    /// The vocabulary indexes found in a case's text with how often each
    /// occurs, in index order.
    ///
    /// Features are looked up [`LOOKAHEAD`] at a time: the first slot of
    /// each is read before any is probed, so the table's cache misses
    /// overlap instead of following one another.
    fn found(&self, subject: Option<&str>, body: Option<&str>, own: Option<&str>) -> Vec<(u32, f32)> {
        let mut hits: Vec<u32> = Vec::with_capacity(128);
        let mut pending = [0u64; LOOKAHEAD];
        let mut n = 0;
        each_hash(subject, body, own, &mut |h| {
            pending[n] = h;
            n += 1;
            if n == LOOKAHEAD {
                self.lookup_all(&pending, &mut hits);
                n = 0;
            }
        });
        self.lookup_all(&pending[..n], &mut hits);
        hits.sort_unstable();
        let mut out: Vec<(u32, f32)> = Vec::with_capacity(hits.len());
        for f in hits {
            match out.last_mut() {
                Some((last, n)) if *last == f => *n += 1.0,
                _ => out.push((f, 1.0)),
            }
        }
        out
    }

    /// Pushes the vocabulary index of each of `hashes` that has one.
    fn lookup_all(&self, hashes: &[u64], hits: &mut Vec<u32>) {
        let mut first = [0u64; LOOKAHEAD];
        for (slot, &h) in first.iter_mut().zip(hashes) {
            *slot = self.slots[(h as usize) & self.mask];
        }
        for (&h, &k) in hashes.iter().zip(&first) {
            let found = match k {
                0 => None,
                k if k & !INDEX_MASK == h & !INDEX_MASK => Some((k & INDEX_MASK) as usize - 1),
                _ => self.lookup(h),
            };
            if let Some(i) = found {
                hits.push(i as u32);
            }
        }
    }

    /// Every label's guess for a case's subject and body, in training
    /// order.
    pub fn predict(&self, subject: Option<&str>, body: Option<&str>) -> Vec<Prediction> {
        let own = body.map(own_text);
        self.predict_own(subject, body, own.as_deref())
    }

    /// [`Model::predict`] with the body's [`own_text`] already made
    /// (`Some` exactly when the body is), for a decision that also
    /// scores its sentiment from it.
    pub(crate) fn predict_own(&self, subject: Option<&str>, body: Option<&str>, own: Option<&str>) -> Vec<Prediction> {
        let found = self.found(subject, body, own);
        // Counts are small whole numbers, exact in f32.
        let features = found.iter().map(|&(_, n)| n).sum::<f32>() as u32;
        // Every label's sums in one pass over the features' rows.
        let sums = match self.width / LANES {
            1 => self.row_sums::<1>(&found),
            2 => self.row_sums::<2>(&found),
            3 => self.row_sums::<3>(&found),
            4 => self.row_sums::<4>(&found),
            5 => self.row_sums::<5>(&found),
            6 => self.row_sums::<6>(&found),
            7 => self.row_sums::<7>(&found),
            8 => self.row_sums::<8>(&found),
            _ => {
                let mut sums = vec![0f32; self.width];
                for &(f, count) in &found {
                    let row = f as usize * self.width;
                    for (s, w) in sums.iter_mut().zip(&self.rows[row..row + self.width]) {
                        *s += count * w;
                    }
                }
                sums
            }
        };
        self.file
            .heads
            .iter()
            .enumerate()
            .map(|(i, h)| {
                let off = self.offsets[i];
                let scores: Vec<f64> =
                    h.prior.iter().zip(&sums[off..off + h.classes.len()]).map(|(p, s)| f64::from(p + s)).collect();
                self.head_predict(i, h, &scores, &found, features)
            })
            .collect()
    }

    /// Every label's sums of `found`'s rows times their counts, for a
    /// model whose rows are `N` lanes wide (up to 32 classes in all, most
    /// models): a fixed number of lanes adds a row in `N` vector
    /// multiplies and adds, each lane's weights multiplied and added as
    /// they would be one by one (the same sums).
    fn row_sums<const N: usize>(&self, found: &[(u32, f32)]) -> Vec<f32> {
        let mut sums = [[0f32; LANES]; N];
        for &(f, count) in found {
            let row = f as usize * self.width;
            let (lanes, _) = self.rows[row..row + self.width].as_chunks::<LANES>();
            let Ok(lanes) = <&[[f32; LANES]; N]>::try_from(lanes) else { continue };
            for (s, w) in sums.iter_mut().zip(lanes) {
                *s = [s[0] + count * w[0], s[1] + count * w[1], s[2] + count * w[2], s[3] + count * w[3]];
            }
        }
        sums.as_flattened().to_vec()
    }

    fn head_predict(
        &self,
        head: usize,
        h: &HeadFile,
        scores: &[f64],
        found: &[(u32, f32)],
        features: u32,
    ) -> Prediction {
        let n = h.classes.len();
        // The best three, by score and then class order, without sorting:
        // the classes come in order, so one the three already hold stays
        // ahead of a later one with the same score. Most classes are
        // behind the third and cost one comparison.
        let mut ranked: [Option<usize>; 3] = [None; 3];
        for (c, &s) in scores.iter().enumerate().take(n) {
            if ranked[2].is_none_or(|r| s > scores[r])
                && let Some(p) = ranked.iter().position(|r| r.is_none_or(|r| s > scores[r]))
            {
                ranked.copy_within(p..2, p + 1);
                ranked[p] = Some(c);
            }
        }
        let best = ranked[0].unwrap_or(0);
        let second = ranked[1].unwrap_or(best);
        // Softmax at the head's temperature, from the largest score so
        // nothing overflows.
        let top = scores[best];
        let exps: Vec<f64> = scores.iter().map(|s| ((s - top) / h.temperature).exp()).collect();
        let sum: f64 = exps.iter().sum();
        let confidence = |c: usize| exps[c] / sum;
        let (label, classes) = &self.names[head];
        Prediction {
            model: Name::default(),
            label: label.clone(),
            class: classes[best].clone(),
            confidence: confidence(best),
            top: ranked
                .iter()
                .flatten()
                .map(|&c| Guess { class: classes[c].clone(), confidence: confidence(c) })
                .collect(),
            words: self.weighed(head, found, best, second),
            features,
        }
    }

    /// The features that weighed most for `best` over `second` (their
    /// weights' difference times their count), at most 5, most first (ties
    /// by vocabulary order), leaving out function words.
    fn weighed(&self, head: usize, found: &[(u32, f32)], best: usize, second: usize) -> Vec<Name> {
        let mut top: [(f32, u32); 5] = [(0.0, u32::MAX); 5];
        let off = self.offsets[head];
        // A chunk at a time: first the features that weigh for `best` and
        // may be named, gathered without a branch (which way a weight
        // goes is a coin toss the processor would guess wrong half the
        // time); then the few of them that reach the five.
        for chunk in found.chunks(64) {
            let mut weighing = [(0f32, 0u32); 64];
            let mut n = 0;
            for &(f, count) in chunk {
                let row = f as usize * self.width + off;
                let d = count * (self.rows[row + best] - self.rows[row + second]);
                let named = (self.telling_bits[f as usize / 64] >> (f % 64)) & 1 == 1;
                weighing[n] = (d, f);
                n += usize::from((d > 0.0) & named);
            }
            for &(d, f) in &weighing[..n] {
                if d < top[4].0 {
                    continue;
                }
                // Insert into the sorted five, pushing the rest down.
                let mut entry = (d, f);
                for slot in &mut top {
                    if entry.0 > slot.0 || (entry.0 == slot.0 && entry.1 < slot.1) {
                        std::mem::swap(slot, &mut entry);
                    }
                }
            }
        }
        top.iter().filter(|(d, _)| *d > 0.0).filter_map(|&(_, f)| self.telling[f as usize].clone()).collect()
    }
}

/// Whether `label` can name a field (`predicted.LABEL`): dotted names of
/// letters, digits, `_` and `-`, none of whose parts is empty, and not
/// ending in `confidence` (which `predicted.LABEL.confidence` uses).
///
/// # Errors
/// Why it cannot, in words.
pub fn label_name(label: &str) -> Result<(), String> {
    let ok_part = |p: &str| !p.is_empty() && p.chars().all(|c| c.is_alphanumeric() || c == '_' || c == '-');
    if !label.split('.').all(ok_part) {
        return Err(format!(
            "label `{label}` cannot name a field: use letters, digits, `_` and `-`, with `.` between parts \
             (`category`, `labels.team`)"
        ));
    }
    if label.rsplit('.').next() == Some("confidence") {
        return Err(format!(
            "label `{label}` cannot end in `confidence`: `predicted.LABEL.confidence` is its confidence"
        ));
    }
    Ok(())
}

/// Whether a feature says something to a reader: not a function word
/// (`the`, `und`, `please`) nor a pair of them. Such words still count in
/// the score; they are only left out of explanations.
fn telling(feature: &str) -> bool {
    feature.split(' ').any(|w| crate::similarity::FUNCTION_WORDS.binary_search(&w).is_err())
}

/// A weight as stored: 4 decimals (a score moves by at most 0.00005 a
/// word), which keeps model files about a third smaller.
fn stored(w: f64) -> f32 {
    ((w * 1e4).round() / 1e4) as f32
}

/// Compact JSON of a part of a model file.
fn json<T: Serialize + ?Sized>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

/// How well a model's guesses of one label match the truth.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Evaluation {
    /// The label evaluated.
    pub label: String,
    /// Cases evaluated (those with a value of the label).
    pub cases: u64,
    /// Share of cases whose guess was right, 0 to 1.
    pub accuracy: f64,
    /// Mean of the classes' F1 scores, 0 to 1 (each class counts the same,
    /// however rare).
    pub macro_f1: f64,
    /// Per class, in name order.
    pub classes: Vec<ClassScore>,
    /// `confusion[i][j]`: cases of class `i` guessed as class `j` (the
    /// order of [`Evaluation::classes`]).
    pub confusion: Vec<Vec<u64>>,
    /// Guesses by confidence, in tenths (0–0.1, …, 0.9–1): how often a
    /// guess that sure was right. Empty bins are left out.
    pub calibration: Vec<CalibrationBin>,
    /// The smoothing (alpha) of the label in each model that guessed: one
    /// per fold for cross-validation, one for a held-out test.
    pub alphas: Vec<f64>,
}

/// One class's scores.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClassScore {
    /// The class.
    pub class: String,
    /// Cases that truly are of it.
    pub support: u64,
    /// Of the cases guessed as it, the share that are (0 when none was).
    pub precision: f64,
    /// Of the cases that are of it, the share guessed so.
    pub recall: f64,
    /// The harmonic mean of precision and recall.
    pub f1: f64,
}

/// Guesses whose confidence fell in `[from, to)` (the last bin includes 1).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CalibrationBin {
    /// Lower bound.
    pub from: f64,
    /// Upper bound.
    pub to: f64,
    /// Guesses in the bin.
    pub guesses: u64,
    /// Their mean confidence.
    pub mean_confidence: f64,
    /// The share of them that were right.
    pub accuracy: f64,
}

/// Tallies guesses into an [`Evaluation`].
#[derive(Debug, Clone, Default)]
pub struct Tally {
    /// (truth, guess, confidence) per case.
    guesses: Vec<(String, String, f64)>,
}

impl Tally {
    /// Records one case's truth and guess.
    pub fn add(&mut self, truth: &str, guess: &str, confidence: f64) {
        self.guesses.push((truth.to_string(), guess.to_string(), confidence));
    }

    /// The scores of what was recorded, for `label`.
    pub fn evaluation(&self, label: &str) -> Evaluation {
        let mut names: Vec<&str> =
            self.guesses.iter().flat_map(|(t, g, _)| [t.as_str(), g.as_str()]).collect::<Vec<_>>();
        names.sort_unstable();
        names.dedup();
        // Names that differ only in letter case are one class, as training
        // merges them: spelled as the first in byte order.
        let mut spelling: BTreeMap<String, &str> = BTreeMap::new();
        for &n in &names {
            spelling.entry(n.to_ascii_lowercase()).or_insert(n);
        }
        let mut classes: Vec<&str> = spelling.values().copied().collect();
        classes.sort_unstable();
        let k = classes.len();
        let index = |c: &str| {
            let named = spelling.get(&c.to_ascii_lowercase()).copied().unwrap_or(c);
            classes.binary_search(&named).unwrap_or(0)
        };
        let mut confusion = vec![vec![0u64; k]; k];
        let mut bins = [(0u64, 0.0f64, 0u64); 10];
        for (t, g, conf) in &self.guesses {
            confusion[index(t)][index(g)] += 1;
            let b = ((conf * 10.0) as usize).min(9);
            bins[b].0 += 1;
            bins[b].1 += conf;
            bins[b].2 += u64::from(t.eq_ignore_ascii_case(g));
        }
        let cases = self.guesses.len() as u64;
        let right: u64 = (0..k).map(|i| confusion[i][i]).sum();
        let ratio = |a: u64, b: u64| if b == 0 { 0.0 } else { a as f64 / b as f64 };
        let scores: Vec<ClassScore> = (0..k)
            .map(|i| {
                let support: u64 = confusion[i].iter().sum();
                let guessed: u64 = (0..k).map(|r| confusion[r][i]).sum();
                let precision = ratio(confusion[i][i], guessed);
                let recall = ratio(confusion[i][i], support);
                let f1 = if precision + recall > 0.0 { 2.0 * precision * recall / (precision + recall) } else { 0.0 };
                ClassScore { class: classes[i].to_string(), support, precision, recall, f1 }
            })
            .collect();
        // Classes only ever guessed (never true) do not count in macro-F1,
        // as in scikit-learn's `f1_score(average="macro")` over the true
        // labels.
        let truths: Vec<&ClassScore> = scores.iter().filter(|s| s.support > 0).collect();
        // (An empty sum of floats is -0; the 0 makes it 0.)
        let macro_f1 = 0.0 + truths.iter().map(|s| s.f1).sum::<f64>() / truths.len().max(1) as f64;
        let calibration = bins
            .iter()
            .enumerate()
            .filter(|(_, b)| b.0 > 0)
            .map(|(i, b)| CalibrationBin {
                from: i as f64 / 10.0,
                to: (i + 1) as f64 / 10.0,
                guesses: b.0,
                mean_confidence: b.1 / b.0 as f64,
                accuracy: ratio(b.2, b.0),
            })
            .collect();
        Evaluation {
            label: label.to_string(),
            cases,
            accuracy: ratio(right, cases),
            macro_f1,
            classes: scores,
            confusion,
            calibration,
            alphas: Vec::new(),
        }
    }
}

/// K-fold cross-validation of `labels[head]`: the examples are dealt into
/// `k` folds by a seeded hash of their position (so an input sorted by
/// class still mixes), each fold is guessed by a model trained on the
/// others, and every guess is tallied.
///
/// # Errors
/// When `k` is below 2 or above the number of examples, or a fold's
/// training fails ([`train`]).
pub fn cross_validate(
    examples: &[Example<'_>],
    labels: &[&str],
    head: usize,
    k: usize,
    options: &TrainOptions,
) -> Result<Evaluation, ModelError> {
    if k < 2 || k > examples.len() {
        return Err(ModelError(format!("--eval needs 2 to {} folds, not {k}", examples.len())));
    }
    let label = labels.get(head).copied().unwrap_or("");
    // By text, so copies of a case are in one fold (else a fold would be
    // guessed by a model that saw its copies).
    let fold_of = |i: usize| (text_hash(&examples[i]) % k as u64) as usize;
    let mut tally = Tally::default();
    let mut alphas = Vec::with_capacity(k);
    for fold in 0..k {
        let train_set: Vec<Example<'_>> =
            examples.iter().enumerate().filter(|(i, _)| fold_of(*i) != fold).map(|(_, e)| e.clone()).collect();
        let model = train(&train_set, labels, options)?;
        alphas.extend(model.alpha(label));
        for (_, e) in examples.iter().enumerate().filter(|(i, _)| fold_of(*i) == fold) {
            let Some(truth) = e.labels.get(head).copied().flatten() else { continue };
            let p = model.predict(e.subject, e.body);
            if let Some(p) = p.get(head) {
                tally.add(truth, &p.class, p.confidence);
            }
        }
    }
    Ok(Evaluation { alphas, ..tally.evaluation(label) })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The hashes [`each_feature`] gives, for comparing with [`each_hash`].
    fn feature_hashes(subject: Option<&str>, body: Option<&str>) -> Vec<u64> {
        let mut out = Vec::new();
        each_feature(subject, body, &mut |h, _, _| out.push(h));
        out
    }

    fn hashes(subject: Option<&str>, body: Option<&str>) -> Vec<u64> {
        let mut out = Vec::new();
        let own = body.map(own_text);
        each_hash(subject, body, own.as_deref(), &mut |h| out.push(h));
        out
    }

    #[test]
    fn the_word_byte_table_is_what_it_says() {
        for b in 0..=255u8 {
            let word = b.is_ascii_alphanumeric() || b == b'_';
            let expected = if !b.is_ascii() {
                0x80
            } else if word {
                b.to_ascii_lowercase()
            } else {
                0
            };
            assert_eq!(WORD_BYTE[usize::from(b)], expected, "{b}");
        }
    }

    #[test]
    fn the_latin_scan_hashes_as_the_features_are_named() {
        for text in [
            "Grüße aus München: die Straße ist gesperrt, Ärger über Rückerstattung!",
            "L’équipe a reçu «deux» factures… ¿Por qué? ¡Señor García! Ça coûte 12 €",
            "ÆØÅ æøå Ðð Þþ ÿ ÝÝ naïve CAFÉ café_latte 2024 12345678901 x\u{a0}y a–b—c",
            "Fwd: Re: AW: Mañana",
            "",
            "   ",
            "ÀÀÀÀÀÀÀÀÀÀÀÀÀÀÀÀÀÀÀÀÀÀÀÀÀÀÀÀÀÀÀÀÀÀÀÀÀÀÀÀÀ short",
        ] {
            assert_eq!(hashes(Some(text), Some(text)), feature_hashes(Some(text), Some(text)), "{text}");
        }
        // Text the scan leaves to normalization (a ligature, a combining
        // accent, Cyrillic, `µ`) hashes the same too.
        for text in ["ﬁle ﬁne", "cafe\u{301} ok", "Привет мир", "5µm"] {
            assert!(!latin_hashes(text, &mut |_| {}), "{text}");
            assert_eq!(hashes(Some(text), None), feature_hashes(Some(text), None), "{text}");
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 512, ..Default::default() })]

        /// Whatever the text, a prediction sees the features training saw.
        #[test]
        fn hashes_are_the_features_of_any_text(
            subject in "[a-zA-Z0-9 _:.,'’«»¿¡\u{a0}–…€À-ÿµªﬁ\u{301}Жж日本-]{0,40}",
            body in "(([a-zA-Z0-9 _\n>.,'’«»¿¡\u{a0}–…€À-ÿ-]{0,12}|On Mon wrote:\n|-- \n|ﬁ|\u{301}|Ж|日){0,12})",
        ) {
            proptest::prop_assert_eq!(
                hashes(Some(&subject), Some(&body)),
                feature_hashes(Some(&subject), Some(&body))
            );
        }
    }

    fn ex<'a>(subject: &'a str, body: &'a str, label: &'a str) -> Example<'a> {
        Example { subject: Some(subject), body: Some(body), labels: vec![Some(label)] }
    }

    fn corpus() -> Vec<Example<'static>> {
        let mut v = Vec::new();
        for _ in 0..3 {
            v.push(ex("Refund please", "I was charged twice, please refund the money", "billing"));
            v.push(ex("Invoice copy", "Please send a copy of the invoice, charged twice", "billing"));
            v.push(ex("Cannot log in", "The password reset link does not work", "login"));
            v.push(ex("Login broken", "I cannot log in, password rejected", "login"));
            v.push(ex("Site down", "The dashboard does not load, outage for everyone", "outage"));
            v.push(ex("Outage", "Nothing loads, everyone affected by the outage", "outage"));
        }
        v
    }

    #[test]
    fn features_are_words_and_pairs_without_quotes_numbers_or_accents() {
        let f = features(
            Some("Re: Facturación"),
            Some("Refund 4411 NOW, said Ann Lee\n\nOn Mon, Bob wrote:\n> old invoice text"),
        );
        let want = ["facturacion", "refund", "now", "said", "now said", "ann", "said ann", "lee", "ann lee"];
        assert_eq!(f, want, "{f:?}");
        let f = features(Some("charged twice"), None);
        assert_eq!(f, vec!["charged", "twice", "charged twice"]);
    }

    #[test]
    fn it_learns_and_explains_with_the_words_that_decided() {
        let m = train(&corpus(), &["category"], &TrainOptions::default()).unwrap();
        let p = &m.predict(Some("money back"), Some("please refund, charged twice"))[0];
        assert_eq!(p.class.as_str(), "billing");
        assert!(p.confidence > 0.5 && p.confidence <= 1.0, "{p:?}");
        assert_eq!(p.top.len(), 3);
        assert!(p.top.windows(2).all(|w| w[0].confidence >= w[1].confidence));
        assert!(p.words.iter().any(|w| w.contains("refund") || w.contains("charged")), "{p:?}");
        let p = &m.predict(Some("outage"), Some("nothing loads"))[0];
        assert_eq!(p.class.as_str(), "outage");
        // No known word: the prior decides, with low confidence.
        let p = &m.predict(Some("zzz"), None)[0];
        assert!(p.confidence < 0.5, "{p:?}");
        assert!(p.words.is_empty());
    }

    #[test]
    fn training_is_byte_identical_and_the_file_reads_back() {
        let o = TrainOptions::default();
        let a = train(&corpus(), &["category"], &o).unwrap().to_json();
        let b = train(&corpus(), &["category"], &o).unwrap().to_json();
        assert_eq!(a, b);
        let back = Model::from_json(&a).unwrap();
        assert_eq!(back.to_json(), a);
        assert_eq!(back.labels(), vec!["category"]);
        assert_eq!(back.classes("category"), vec!["billing", "login", "outage"]);
        assert_eq!(back.training().cases, 18);
        let p1 = back.predict(Some("password"), None);
        let p2 = train(&corpus(), &["category"], &o).unwrap().predict(Some("password"), None);
        assert_eq!(p1, p2);
    }

    /// What a prediction's sums and ranking are, weight by weight: every
    /// label's sums over the features in index order, the best three by
    /// score and then class order. Models of 3, 20 + 3 and 37 + 3 classes
    /// (rows padded to whole lanes, lanes fixed at compile time, and the
    /// loop for wider models).
    #[test]
    fn predictions_sum_and_rank_as_weight_by_weight() {
        let mut seed = 7u64;
        let mut next = |n: usize| {
            seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            (seed >> 33) as usize % n
        };
        let words: Vec<String> = (0..60).map(|i| format!("w{}x", i * 7)).collect();
        for classes in [3usize, 20, 37] {
            let rows: Vec<(String, String, String, String)> = (0..600)
                .map(|_| {
                    let (c, p) = (next(classes), next(3));
                    let text: Vec<&str> = (0..6).map(|k| words[(c * 3 + k * next(5)) % words.len()].as_str()).collect();
                    (text[..2].join(" "), text[2..].join(" "), format!("c{c}"), format!("p{p}"))
                })
                .collect();
            let examples: Vec<Example<'_>> = rows
                .iter()
                .map(|(s, b, c, p)| Example {
                    subject: Some(s),
                    body: Some(b),
                    labels: if classes == 3 {
                        vec![Some(c.as_str())]
                    } else {
                        vec![Some(c.as_str()), Some(p.as_str())]
                    },
                })
                .collect();
            let labels: &[&str] = if classes == 3 { &["category"] } else { &["category", "priority"] };
            let model =
                Model::from_json(&train(&examples, labels, &TrainOptions::default()).unwrap().to_json()).unwrap();
            for (subject, body, _, _) in rows.iter().take(200) {
                let own = own_text(body);
                let found = model.found(Some(subject), Some(body), Some(&own));
                let got = model.predict(Some(subject), Some(body));
                for (head, p) in got.iter().enumerate() {
                    let h = &model.file.heads[head];
                    let (n, weights) = (h.classes.len(), model.head_weights(head));
                    let mut sums = vec![0f32; n];
                    for &(f, count) in &found {
                        for (c, s) in sums.iter_mut().enumerate() {
                            *s += count * weights[f as usize * n + c];
                        }
                    }
                    let scores: Vec<f64> = h.prior.iter().zip(&sums).map(|(p, s)| f64::from(p + s)).collect();
                    let mut order: Vec<usize> = (0..n).collect();
                    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]).then(a.cmp(&b)));
                    let top: Vec<&str> = p.top.iter().map(|g| g.class.as_str()).collect();
                    let want: Vec<&str> = order.iter().take(3).map(|&c| h.classes[c].as_str()).collect();
                    assert_eq!(top, want, "{classes} classes, head {head}: {subject} / {body}");
                    let best = order[0];
                    let sum: f64 = scores.iter().map(|s| ((s - scores[best]) / h.temperature).exp()).sum();
                    assert_eq!(p.confidence.to_bits(), (1.0 / sum).to_bits(), "{classes} classes: {subject}");
                    assert_eq!(p.class.as_str(), h.classes[best]);
                }
            }
        }
    }

    /// 400 texts of four overlapping classes (two words of the class, one
    /// of another); `tagged` adds one of 37 case words to the subject.
    fn overlapping(tagged: bool) -> Vec<(String, String)> {
        let words = ["refund", "invoice", "password", "login", "outage", "slow", "export", "import"];
        (0..400)
            .map(|i| {
                let class = i % 4;
                let (a, b, c) = (words[class * 2], words[class * 2 + 1], words[(i * 7 + 3) % 8]);
                let tag = if tagged { format!(" case{}", i % 37) } else { String::new() };
                (format!("{a} {c}{tag}"), format!("{b} {}", ["x", "y", "z"][i % 3]))
            })
            .collect()
    }

    #[test]
    fn confidence_is_calibrated_on_a_held_out_tenth_and_stays_deterministic() {
        let texts = overlapping(false);
        let examples: Vec<Example<'_>> = texts
            .iter()
            .enumerate()
            .map(|(i, (s, b))| Example {
                subject: Some(s),
                body: Some(b),
                labels: vec![Some(["billing", "login", "outage", "data"][i % 4])],
            })
            .collect();
        let a = train(&examples, &["category"], &TrainOptions::default()).unwrap();
        let b = train(&examples, &["category"], &TrainOptions::default()).unwrap();
        assert_eq!(a.to_json(), b.to_json());
        let t = a.file.heads[0].temperature;
        assert!(t > 0.0 && t.is_finite() && t != 1.0, "{t}");
        // A temperature never changes the class, only the confidence.
        let mut flat = a.clone();
        flat.file.heads[0].temperature = 1.0;
        for (s, b) in texts.iter().take(40) {
            let (x, y) = (&a.predict(Some(s), Some(b))[0], &flat.predict(Some(s), Some(b))[0]);
            assert_eq!(x.class, y.class);
        }
    }

    #[test]
    fn smoothing_is_chosen_per_label_unless_given_and_is_written_in_the_model() {
        let texts = overlapping(true);
        let examples: Vec<Example<'_>> = texts
            .iter()
            .enumerate()
            .map(|(i, (s, b))| Example {
                subject: Some(s),
                body: Some(b),
                // The second label follows a word that means nothing else.
                labels: vec![Some(["billing", "login", "outage", "data"][i % 4]), Some(["P2", "P3"][(i % 37) % 2])],
            })
            .collect();
        let chosen = train(&examples, &["category", "priority"], &TrainOptions::default()).unwrap();
        for label in ["category", "priority"] {
            let a = chosen.alpha(label).unwrap();
            assert!(ALPHA_TRIES.contains(&a), "{label}: {a}");
        }
        assert!(chosen.to_json().contains("\"alpha\": "));
        // Read back, the same.
        let again = Model::from_json(&chosen.to_json()).unwrap();
        assert_eq!(again.to_json(), chosen.to_json());
        // A smoothing given is used for every label.
        let given = TrainOptions { alpha: Some(2.5), ..TrainOptions::default() };
        let fixed = train(&examples, &["category", "priority"], &given).unwrap();
        assert_eq!((fixed.alpha("category"), fixed.alpha("priority")), (Some(2.5), Some(2.5)));
        assert_eq!(fixed.alpha("team"), None);
        // A vocabulary out of order, or a smoothing out of range, is refused.
        let json = chosen.to_json();
        let (a, b) = (chosen.file.vocabulary[0].clone(), chosen.file.vocabulary[1].clone());
        let swapped = json.replacen(&format!("\"{a}\",\n    \"{b}\""), &format!("\"{b}\",\n    \"{a}\""), 1);
        assert_ne!(swapped, json);
        assert!(Model::from_json(&swapped).unwrap_err().0.contains("not sorted"));
        let alpha = json.replacen("\"alpha\": ", "\"alpha\": -", 1);
        assert!(Model::from_json(&alpha).unwrap_err().0.contains("alpha"));
        // Another format is told as such, whatever its fields.
        let old = chosen.to_json().replace(MODEL_FORMAT, "triage-model/1").replace("\"alpha\": ", "\"smoothing\": ");
        assert!(Model::from_json(&old).unwrap_err().0.contains("train the model again"));
        // A label on fewer than 200 of the cases keeps the default.
        let sparse: Vec<Example<'_>> = examples
            .iter()
            .enumerate()
            .map(|(i, e)| Example { labels: vec![e.labels[0], e.labels[1].filter(|_| i % 4 == 0)], ..e.clone() })
            .collect();
        let m = train(&sparse, &["category", "priority"], &TrainOptions::default()).unwrap();
        assert_eq!(m.alpha("priority"), Some(DEFAULT_ALPHA));
        // Out of range is refused.
        let wrong = TrainOptions { alpha: Some(0.0), ..TrainOptions::default() };
        assert!(train(&examples, &["category"], &wrong).unwrap_err().0.contains("alpha"));
        // Too few cases to hold a tenth out: the default.
        let few = train(&examples[..100], &["category"], &TrainOptions::default()).unwrap();
        assert_eq!(few.alpha("category"), Some(DEFAULT_ALPHA));
    }

    #[test]
    fn multinomial_naive_bayes_also_learns() {
        let o = TrainOptions { algorithm: Algorithm::MultinomialNb, ..TrainOptions::default() };
        let m = train(&corpus(), &["category"], &o).unwrap();
        assert_eq!(m.predict(Some("password reset"), None)[0].class.as_str(), "login");
    }

    #[test]
    fn bad_models_and_training_sets_are_refused_with_a_reason() {
        let one = vec![ex("a b", "c d", "x"), ex("a b", "c d", "x")];
        let e = train(&one, &["category"], &TrainOptions::default()).unwrap_err();
        assert!(e.0.contains("at least two"), "{e}");
        let e = train(&[], &["category"], &TrainOptions::default()).unwrap_err();
        assert!(e.0.contains("too few"), "{e}");
        let good = train(&corpus(), &["category"], &TrainOptions::default()).unwrap().to_json();
        let e = Model::from_json(&good.replace(TOKENIZER_VERSION, "triage-words/0")).unwrap_err();
        assert!(e.0.contains("train the model again"), "{e}");
        let e = Model::from_json("{}").unwrap_err();
        assert!(e.0.contains("not a model file"), "{e}");
        let e = Model::from_json(&good.replace("\"prior\": [", "\"prior\": [1,")).unwrap_err();
        assert!(e.0.contains("malformed"), "{e}");
        // A hand-made weight so large that a case's sum would overflow.
        let mut v: serde_json::Value = serde_json::from_str(&good).unwrap();
        v["heads"][0]["weights"][0] = serde_json::json!(3e38);
        let e = Model::from_json(&v.to_string()).unwrap_err();
        assert!(e.0.contains("beyond"), "{e}");
        // One class: nothing to choose between, said so.
        let mut v: serde_json::Value = serde_json::from_str(&good).unwrap();
        let n = v["heads"][0]["classes"].as_array().unwrap().len();
        let head = &mut v["heads"][0];
        head["classes"] = serde_json::json!([head["classes"][0]]);
        head["prior"] = serde_json::json!([head["prior"][0]]);
        head["class_counts"] = serde_json::json!([head["class_counts"][0]]);
        let weights: Vec<serde_json::Value> = head["weights"].as_array().unwrap().iter().step_by(n).cloned().collect();
        head["weights"] = serde_json::Value::Array(weights);
        let e = Model::from_json(&v.to_string()).unwrap_err();
        assert!(e.0.contains("has 1 class(es)"), "{e}");
    }

    const RULES: &str = "classifiers:\n  support: models/support.json\n\
        categories:\n  - id: outage\n    when: { subject: { contains: outage } }\n    set: { category: outage }\n\
        \x20 - id: learned\n    when: { predicted.category.confidence: { gte: 0.5 } }\n\
        \x20   set: { category: { from: predicted.category } }\n\
        \x20 - id: general\n    set: { category: general }\n";

    fn case(subject: &str, body: &str) -> crate::Case {
        crate::Case::from_json(&serde_json::json!({"id": "c", "subject": subject, "body": body}).to_string()).unwrap()
    }

    #[test]
    fn rules_read_a_classifier_and_a_category_falls_back_to_it() {
        let model = train(&corpus(), &["category"], &TrainOptions::default()).unwrap().to_json();
        let (rules, diags) = crate::compile_with_files(&[("r/rules.yaml", RULES)], &[("models/support.json", &model)]);
        let rules = rules.unwrap_or_else(|| panic!("{diags:?}"));
        assert_eq!(crate::classifier_files(&[("r/rules.yaml", RULES)]), vec!["models/support.json"]);
        let now = "2026-03-02T09:00:00Z".parse().unwrap();
        let dir = crate::Directory::new();
        let d = crate::triage(
            &rules,
            &case("money back", "I was charged twice, refund please"),
            &dir,
            now,
            &Default::default(),
        );
        assert_eq!(d.category.as_str(), "billing", "{d:?}");
        assert_eq!(d.predicted.len(), 1);
        assert_eq!(d.predicted[0].model.as_str(), "support");
        assert!((d.confidence - d.predicted[0].confidence).abs() < 1e-12);
        // A lean trace names the classifier; a full one says what it guessed.
        let lean = d.trace.iter().find(|t| t.stage == "classify").unwrap();
        assert_eq!((lean.rule.as_deref(), lean.why.as_deref()), (Some("support"), None));
        let full = crate::Options::with_trace(crate::TraceLevel::Full);
        let d = crate::triage(&rules, &case("money back", "I was charged twice, refund please"), &dir, now, &full);
        let note = d.trace.iter().find(|t| t.stage == "classify").unwrap();
        let why = note.why.as_deref().unwrap();
        assert!(why.starts_with("classifier `support` (models/support.json) guessed category `billing`"), "{why}");
        assert_eq!((note.file.as_deref(), note.line), (Some("r/rules.yaml"), Some(2)));
        // A rule before it still wins; the model's guess is still given.
        let d = crate::triage(&rules, &case("outage", "refund"), &dir, now, &Default::default());
        assert_eq!(d.category.as_str(), "outage");
        assert_eq!(d.predicted.len(), 1);
        // The model's text is part of the rules version.
        let other = train(&corpus()[..12], &["category"], &TrainOptions::default()).unwrap().to_json();
        let (again, _) = crate::compile_with_files(&[("r/rules.yaml", RULES)], &[("models/support.json", &other)]);
        assert_ne!(again.unwrap().version(), rules.version());
    }

    #[test]
    fn a_missing_or_broken_model_or_an_unknown_label_is_an_error_at_its_line() {
        let model = train(&corpus(), &["category"], &TrainOptions::default()).unwrap().to_json();
        let code = |rules: &str, files: &[(&str, &str)]| {
            let (r, diags) = crate::compile_with_files(&[("rules.yaml", rules)], files);
            assert!(r.is_none());
            diags.iter().find(|d| d.is_error()).map(|d| (d.code, d.line)).unwrap()
        };
        assert_eq!(code(RULES, &[]), ("model-missing", 2));
        assert_eq!(code(RULES, &[("models/support.json", "{}")]), ("model-unreadable", 2));
        let outside = RULES.replace("models/support.json", "../secret.json");
        assert_eq!(code(&outside, &[("../secret.json", &model)]), ("model-outside", 2));
        let unknown = RULES.replace("from: predicted.category", "from: predicted.team");
        assert_eq!(code(&unknown, &[("models/support.json", &model)]), ("unknown-field", 9));
        let typo = RULES.replace("predicted.category.confidence", "predicted.categry.confidence");
        assert_eq!(code(&typo, &[("models/support.json", &model)]).0, "unknown-field");
        // A class the model never guesses: an error with the nearest class.
        let class = RULES.replace("when: { subject: { contains: outage } }", "when: { predicted.category: billng }");
        let (r, diags) = crate::compile_with_files(&[("rules.yaml", &class)], &[("models/support.json", &model)]);
        assert!(r.is_none());
        let d = diags.iter().find(|d| d.is_error()).unwrap();
        assert_eq!((d.code, d.line), ("invalid-value", 5), "{d:?}");
        let text = format!("{d:?}");
        assert!(text.contains("billng") && text.contains("did you mean `billing`"), "{text}");
        // A label no model predicts: the hint names what they do predict.
        let team = RULES.replace("when: { subject: { contains: outage } }", "when: { predicted.team: tier1 }");
        let (_, diags) = crate::compile_with_files(&[("rules.yaml", &team)], &[("models/support.json", &model)]);
        let d = diags.iter().find(|d| d.code == "unknown-field").unwrap();
        assert!(d.help.as_deref().unwrap_or("").contains("predicted.category"), "{d:?}");
        // A confidence bound beyond 0 to 1 (a percent) is warned about.
        let percent = RULES.replace("gte: 0.5", "gte: 60");
        let (r, diags) = crate::compile_with_files(&[("rules.yaml", &percent)], &[("models/support.json", &model)]);
        assert!(r.is_some());
        assert!(diags.iter().any(|d| d.code == "impossible-condition" && d.line == 8), "{diags:?}");
        // A class it does guess compiles, in any case.
        let known = RULES.replace("when: { subject: { contains: outage } }", "when: { predicted.category: Outage }");
        let (r, diags) = crate::compile_with_files(&[("rules.yaml", &known)], &[("models/support.json", &model)]);
        assert!(r.is_some(), "{diags:?}");
    }

    #[test]
    fn classes_that_differ_only_in_letter_case_are_one() {
        let mut c = corpus();
        c.push(ex("Refund please", "I was charged twice, please refund the money", "Billing"));
        c.push(ex("Invoice", "A copy of the invoice please", "BILLING"));
        let model = train(&c, &["category"], &TrainOptions::default()).unwrap();
        assert_eq!(model.classes("category"), ["BILLING", "login", "outage"]);
        let p = model.predict(Some("Refund"), Some("charged twice, refund the money"));
        assert_eq!(p[0].class.as_ref(), "BILLING");
        // Evaluation scores the merged class, not each spelling.
        let e = cross_validate(&c, &["category"], 0, 3, &TrainOptions::default()).unwrap();
        assert_eq!(e.classes.iter().map(|c| c.class.as_str()).collect::<Vec<_>>(), ["BILLING", "login", "outage"]);
        // Only ASCII letter case, as rules compare: `Ärger` and `ärger` stay two.
        c.push(ex("Angry", "furious about the service", "Ärger"));
        c.push(ex("Angry", "furious about the outage", "ärger"));
        let model = train(&c, &["category"], &TrainOptions::default()).unwrap();
        assert_eq!(model.classes("category").len(), 5);
        // A model file with two such classes is refused.
        let json = train(&corpus(), &["category"], &TrainOptions::default()).unwrap().to_json();
        let err = Model::from_json(&json.replace("\"billing\"", "\"LOGIN\"")).unwrap_err();
        assert!(err.to_string().contains("differ only in letter case"), "{err}");
    }

    #[test]
    fn cross_validation_adds_up() {
        let c = corpus();
        let e = cross_validate(&c, &["category"], 0, 3, &TrainOptions::default()).unwrap();
        // One smoothing per fold's model, each a value tried.
        assert_eq!(e.alphas.len(), 3);
        assert!(e.alphas.iter().all(|a| ALPHA_TRIES.contains(a)), "{:?}", e.alphas);
        assert_eq!(e.cases, 18);
        let total: u64 = e.confusion.iter().flatten().sum();
        assert_eq!(total, 18);
        assert_eq!(e.calibration.iter().map(|b| b.guesses).sum::<u64>(), 18);
        assert!(e.accuracy > 0.5 && e.macro_f1 > 0.5, "{e:?}");
        assert!(cross_validate(&c, &["category"], 0, 1, &TrainOptions::default()).is_err());
    }
}

/// Sentiment compatible with VADER: the scores of the reference
/// (vaderSentiment 3.3.2, Hutto and Gilbert) on its README's example
/// sentences and on support mail, to 4 decimals.
#[cfg(test)]
mod vader_tests {
    /// (sentence, the reference's compound score), as the reference
    /// printed them.
    const REFERENCE: &[(&str, f64)] = &[
        ("VADER is smart, handsome, and funny.", 0.8316),
        ("VADER is smart, handsome, and funny!", 0.8439),
        ("VADER is very smart, handsome, and funny.", 0.8545),
        ("VADER is VERY SMART, handsome, and FUNNY.", 0.9227),
        ("VADER is VERY SMART, handsome, and FUNNY!!!", 0.9342),
        ("VADER is VERY SMART, uber handsome, and FRIGGIN FUNNY!!!", 0.9469),
        ("VADER is not smart, handsome, nor funny.", -0.7424),
        ("The book was good.", 0.4404),
        ("At least it isn't a horrible book.", 0.431),
        ("The book was only kind of good.", 0.3832),
        ("The plot was good, but the characters are uncompelling and the dialog is not great.", -0.7042),
        ("Today SUX!", -0.5461),
        ("Today only kinda sux! But I'll get by, lol", 0.5249),
        ("Make sure you :) or :D today!", 0.8633),
        ("Catch utf-8 emoji such as 💘 and 💋 and 😁", 0.875),
        ("Not bad at all", 0.431),
        ("This is the third time I write: your service is down AGAIN and nobody answers. Terrible!", -0.5255),
        ("Thanks a lot, the refund arrived, great job!", 0.807),
        ("Please reset my password.", 0.3182),
        ("I am furious, we were charged twice and I want my money back NOW!!!", -0.7249),
    ];

    const RULES: &str = "sentiment:\n  english: vader\n  negative: [\"stinks\"]\ncategories: [{ id: all, set: { category: general } }]\n\
        priority:\n  - id: angry\n    when: { sentiment.label: negative, sentiment.score: { lte: -0.5 } }\n    raise: 1\n";

    fn decide(subject: &str) -> crate::Decision {
        let rules = crate::compile_sources(&[("r.yaml", RULES)]).0.unwrap();
        let case = crate::Case::from_json(&serde_json::json!({"id": "c", "subject": subject}).to_string()).unwrap();
        let now = "2026-03-02T09:00:00Z".parse().unwrap();
        crate::triage(&rules, &case, &crate::Directory::new(), now, &Default::default())
    }

    #[test]
    fn english_text_scores_as_the_reference_does() {
        for (sentence, compound) in REFERENCE {
            let d = decide(sentence);
            assert_eq!(d.sentiment.score, *compound, "{sentence}");
            let label = if *compound >= 0.05 {
                "positive"
            } else if *compound <= -0.05 {
                "negative"
            } else {
                "neutral"
            };
            assert_eq!(d.sentiment.label, label, "{sentence}");
        }
    }

    #[test]
    fn the_authors_phrases_win_and_rules_read_score_and_label() {
        // "stinks" is the authors' word: their lexicon decides (-0.5).
        let d = decide("This great product stinks");
        assert_eq!((d.sentiment.score, d.sentiment.label), (-0.5, "negative"));
        // An angry customer goes up a step; a happy one does not.
        assert_eq!(
            decide("I am furious, we were charged twice and I want my money back NOW!!!").priority.as_str(),
            "P3"
        );
        assert_eq!(decide("Thanks a lot, the refund arrived, great job!").priority.as_str(), "P4");
        // Without `english: vader` a case no phrase matches is neutral.
        let plain = RULES.replace("  english: vader\n", "");
        let rules = crate::compile_sources(&[("r.yaml", &plain)]).0.unwrap();
        let case = crate::Case::from_json(r#"{"id": "c", "subject": "Terrible, awful service"}"#).unwrap();
        let d = crate::triage(
            &rules,
            &case,
            &crate::Directory::new(),
            "2026-03-02T09:00:00Z".parse().unwrap(),
            &Default::default(),
        );
        assert_eq!(d.sentiment.score, 0.0);
        let bad = RULES.replace("english: vader", "english: klingon");
        assert_eq!(crate::compile_sources(&[("r.yaml", &bad)]).1[0].code, "invalid-value");
    }
}

/// Language detection: a case that gives no language is read as one of
/// the languages the rules list.
#[cfg(test)]
mod language_tests {
    const RULES: &str = "normalize:\n  detect_languages: [en, de, fr, es]\n\
        categories: [{ id: all, set: { category: general } }]\n\
        priority:\n  - id: german\n    when: { requester.language: de }\n    raise: 1\n";

    fn decide(rules: &str, case: serde_json::Value) -> crate::Decision {
        let (rules, diags) = crate::compile_sources(&[("r.yaml", rules)]);
        let rules = rules.unwrap_or_else(|| panic!("{diags:?}"));
        let case = crate::Case::from_json(&case.to_string()).unwrap();
        let now = "2026-03-02T09:00:00Z".parse().unwrap();
        crate::triage(&rules, &case, &crate::Directory::new(), now, &Default::default())
    }

    #[test]
    fn the_text_tells_the_language_when_the_case_does_not() {
        let german = serde_json::json!({"id": "c", "subject": "Rechnung doppelt abgebucht",
            "body": "Guten Tag, leider wurde unsere Rechnung zweimal abgebucht. Bitte erstatten Sie den Betrag."});
        let d = decide(RULES, german.clone());
        assert_eq!(d.normalized.language.as_deref(), Some("de"), "{:?}", d.normalized);
        assert_eq!(d.normalized.language_from, Some("detected"));
        let found = d.normalized.language_detected.as_ref().unwrap();
        assert!(found.confidence > 0.0 && found.confidence <= 1.0, "{found:?}");
        // Four German function words and no other language's: the vote.
        assert_eq!((found.by, found.confidence), ("function words", 1.0));
        // Too few function words to vote: the trigrams read it.
        let short =
            serde_json::json!({"id": "c", "subject": "Rechnung doppelt abgebucht", "body": "Rechnungsnummer fehlt"});
        let d = decide(RULES, short);
        let found = d.normalized.language_detected.as_ref().unwrap();
        assert_eq!((d.normalized.language.as_deref(), found.by), (Some("de"), "trigrams"), "{found:?}");
        // Decomposed accents read as composed ones do.
        use unicode_normalization::UnicodeNormalization as _;
        let nfd = |v: &serde_json::Value| {
            let mut v = v.clone();
            for k in ["subject", "body"] {
                v[k] = serde_json::json!(v[k].as_str().unwrap().nfd().collect::<String>());
            }
            v
        };
        let zurich = serde_json::json!({"id": "c", "subject": "Grüße",
            "body": "Wir dürfen für die Rückerstattung nicht länger warten, bitte prüfen Sie das."});
        let (a, b) = (decide(RULES, zurich.clone()), decide(RULES, nfd(&zurich)));
        assert_eq!(a.normalized.language_detected, b.normalized.language_detected);
        assert_eq!(a.normalized.language.as_deref(), Some("de"));
        // `und` (ISO 639: undetermined) says nothing: the text is read.
        let mut und = german.clone();
        und["requester"] = serde_json::json!({"language": "und"});
        let d = decide(RULES, und);
        assert_eq!((d.normalized.language.as_deref(), d.normalized.language_from), (Some("de"), Some("detected")));
        assert!(d.warnings.is_empty(), "{:?}", d.warnings);
        let french = serde_json::json!({"id": "c", "subject": "Facture en double",
            "body": "Bonjour, notre facture a été débitée deux fois, pouvez-vous nous rembourser ?"});
        assert_eq!(decide(RULES, french).normalized.language.as_deref(), Some("fr"));
        // What the requester says wins, and says where it came from.
        let mut told = german.clone();
        told["requester"] = serde_json::json!({"language": "English"});
        let d = decide(RULES, told);
        assert_eq!((d.normalized.language.as_deref(), d.normalized.language_from), (Some("en"), Some("requester")));
        assert!(d.normalized.language_detected.is_none());
        // Without `detect_languages` nothing is detected.
        let plain = RULES.replace("normalize:\n  detect_languages: [en, de, fr, es]\n", "");
        assert!(decide(&plain, german).normalized.language.is_none());
        // A language the detector does not know is refused at its line.
        let bad = RULES.replace("[en, de, fr, es]", "[en, de, klingon]");
        let diags = crate::compile_sources(&[("r.yaml", &bad)]).1;
        assert_eq!((diags[0].code, diags[0].line), ("wrong-type", 2), "{diags:?}");
        let region = RULES.replace("[en, de, fr, es]", "[en, pt-BR]");
        assert!(crate::compile_sources(&[("r.yaml", &region)]).0.is_none());
        // One language, or one twice, is a warning.
        for list in ["[en]", "[]", "[en, de, en]"] {
            let odd = RULES.replace("[en, de, fr, es]", list);
            let diags = crate::compile_sources(&[("r.yaml", &odd)]).1;
            assert_eq!(diags.iter().map(|d| d.code).collect::<Vec<_>>(), ["detect-languages"], "{list}: {diags:?}");
        }
    }

    #[test]
    fn chinese_an_unknown_stated_language_and_no_text_to_tell() {
        let zh = RULES.replace("[en, de, fr, es]", "[zh, ja, en]");
        let d = decide(&zh, serde_json::json!({"id": "c", "body": "你好，我们的账单被重复扣款了，请退款。谢谢"}));
        assert_eq!(d.normalized.language.as_deref(), Some("zh"), "{:?}", d.normalized);
        // A language no one knows is warned about, and the text read.
        let german = serde_json::json!({"id": "c", "requester": {"language": "klingon"},
            "body": "Guten Tag, leider wurde unsere Rechnung zweimal abgebucht. Bitte erstatten Sie den Betrag."});
        let d = decide(RULES, german);
        assert_eq!((d.normalized.language.as_deref(), d.normalized.language_from), (Some("de"), Some("detected")));
        assert!(d.warnings.iter().any(|w| w.code == "unknown-language"), "{:?}", d.warnings);
        // One letter a megabyte long tells nothing.
        let d = decide(RULES, serde_json::json!({"id": "c", "body": "a".repeat(100_000)}));
        assert!(d.normalized.language.is_none(), "{:?}", d.normalized);
    }

    #[test]
    fn vader_reads_english_and_unknown_languages_only() {
        let rules = format!("{RULES}sentiment:\n  english: vader\n");
        let thanks = "Hallo, kein Problem mehr, das Problem ist gelöst. Vielen Dank für die schnelle Hilfe!";
        let d = decide(&rules, serde_json::json!({"id": "c", "body": thanks}));
        assert_eq!((d.normalized.language.as_deref(), d.sentiment.score), (Some("de"), 0.0), "{:?}", d.sentiment);
        let d =
            decide(&rules, serde_json::json!({"id": "c", "body": "This is terrible, nothing works and I am furious."}));
        assert!(d.sentiment.score < -0.5, "{:?}", d.sentiment);
    }
}
