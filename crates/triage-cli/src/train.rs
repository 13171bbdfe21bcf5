//! `triage train`: a text classifier from labelled cases
//! (`triage_core::classify`), its cross-validation and its test on a
//! held-out file.

use crate::{Exit, InputError};
use serde_json::Value;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Instant;
use triage_core::classify::{self, Algorithm, Evaluation, Example, Model, Tally, TrainOptions};

/// What `triage train` was asked for.
#[derive(Debug, Clone, clap::Args)]
pub struct TrainArgs {
    /// Labelled cases: JSON Lines (or a JSON array) of cases, each with a
    /// `subject` and/or `body` and the label values (`"category":
    /// "billing"`); `-` is standard input.
    #[arg(required = true)]
    pub inputs: Vec<String>,
    /// A field to learn (repeat): `category`, `priority`, `team`, or a
    /// dotted path such as `labels.category`.
    #[arg(long = "label", required = true)]
    pub labels: Vec<String>,
    /// Write the model here (JSON).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// K-fold cross-validation of each label (K from 2), reported instead
    /// of (or, with --out, as well as) training one model.
    #[arg(long, value_name = "K")]
    pub eval: Option<usize>,
    /// Evaluate on these labelled cases (JSON Lines) after training.
    #[arg(long, value_name = "CASES.jsonl")]
    pub test: Option<String>,
    /// complement-nb (default) or multinomial-nb.
    #[arg(long, default_value = "complement-nb")]
    pub algorithm: String,
    /// Additive smoothing: a number from 0.000001 to 1000, or `auto` (the
    /// default): for each label, the best of 0.03 to 30 on a held-out tenth
    /// of the cases.
    #[arg(long, default_value = "auto")]
    pub alpha: String,
    /// A word (or pair) must appear in at least this many cases.
    #[arg(long, default_value_t = 2)]
    pub min_count: u32,
    /// At most this many words and pairs are kept, the commonest.
    #[arg(long, default_value_t = 200_000)]
    pub max_features: usize,
    /// human or json (the evaluation report).
    #[arg(long, default_value = "human")]
    pub format: String,
}

/// A labelled case as read: subject, body, and one value (or none) per
/// label.
type Row = (Option<String>, Option<String>, Vec<Option<String>>);

/// Labelled cases read from the inputs: their texts and label values, and
/// what could not be used.
struct Labelled {
    rows: Vec<Row>,
    /// Records read.
    read: u64,
    /// Records that were not a JSON object with text, with where they were.
    unusable: Vec<String>,
    /// Label values of the wrong kind (counted as missing), with where.
    odd: Vec<String>,
}

impl Labelled {
    fn examples(&self) -> Vec<Example<'_>> {
        self.rows
            .iter()
            .map(|(s, b, l)| Example {
                subject: s.as_deref(),
                body: b.as_deref(),
                labels: l.iter().map(Option::as_deref).collect(),
            })
            .collect()
    }
}

/// The value at a dotted path.
fn lookup<'v>(record: &'v Value, path: &str) -> Option<&'v Value> {
    let mut v = record;
    for part in path.split('.') {
        v = v.get(part)?;
    }
    Some(v)
}

/// A label's value in a record: the field at a dotted path, as text.
fn label_of(record: &Value, path: &str) -> Option<String> {
    match lookup(record, path)? {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn read_labelled(inputs: &[String], labels: &[String]) -> Result<Labelled, InputError> {
    let mut out = Labelled { rows: Vec::new(), read: 0, unusable: Vec::new(), odd: Vec::new() };
    for input in inputs {
        let bytes = crate::read_limited(input)?;
        // A byte order mark is not part of the first record.
        let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&bytes);
        // A JSON array (the whole input one), or JSON Lines.
        let array = if bytes.trim_ascii_start().starts_with(b"[") {
            serde_json::from_slice::<Vec<Value>>(bytes).ok()
        } else {
            None
        };
        let records: Vec<(String, Result<Value, String>)> = match array {
            Some(items) => items.into_iter().enumerate().map(|(i, v)| (format!("{input}[{i}]"), Ok(v))).collect(),
            None => bytes
                .split(|&b| b == b'\n')
                .enumerate()
                .filter(|(_, l)| !l.trim_ascii().is_empty())
                .map(|(i, l)| {
                    let read = match std::str::from_utf8(l) {
                        Ok(text) => serde_json::from_str(text).map_err(|e| format!("not JSON: {e}")),
                        Err(e) => Err(format!("not UTF-8 text (an invalid byte at column {})", e.valid_up_to() + 1)),
                    };
                    (format!("{input}:{}", i + 1), read)
                })
                .collect(),
        };
        for (at, record) in records {
            out.read += 1;
            let record = match record {
                Ok(v @ Value::Object(_)) => v,
                Ok(_) => {
                    out.unusable.push(format!("{at}: not a JSON object"));
                    continue;
                }
                Err(e) => {
                    out.unusable.push(format!("{at}: {e}"));
                    continue;
                }
            };
            let text = |k: &str| record.get(k).and_then(Value::as_str).map(str::to_string);
            let (subject, body) = (text("subject"), text("body"));
            if subject.as_deref().unwrap_or("").trim().is_empty() && body.as_deref().unwrap_or("").trim().is_empty() {
                out.unusable.push(format!("{at}: no `subject` or `body` text to learn from"));
                continue;
            }
            let values: Vec<Option<String>> = labels.iter().map(|l| label_of(&record, l)).collect();
            for (l, v) in labels.iter().zip(&values) {
                if v.is_none() && lookup(&record, l).is_some_and(|x| x.is_object() || x.is_array()) {
                    out.odd.push(format!("{at}: `{l}` is an object or a list, not a label value"));
                }
            }
            out.rows.push((subject, body, values));
        }
    }
    Ok(out)
}

fn options(args: &TrainArgs) -> Result<TrainOptions, InputError> {
    let algorithm = Algorithm::parse(&args.algorithm)
        .ok_or_else(|| InputError(format!("--algorithm `{}`: use multinomial-nb or complement-nb", args.algorithm)))?;
    let alpha = match args.alpha.trim() {
        a if a.eq_ignore_ascii_case("auto") => None,
        given => match given.parse::<f64>() {
            Ok(a) if (classify::MIN_ALPHA..=classify::MAX_ALPHA).contains(&a) => Some(a),
            _ => {
                return Err(InputError(format!(
                    "--alpha {given}: give `auto` (the default: chosen per label) or a number from {} to {}, such as 1",
                    classify::MIN_ALPHA,
                    classify::MAX_ALPHA
                )));
            }
        },
    };
    if args.max_features == 0 {
        return Err(InputError("--max-features 0: give at least 1".into()));
    }
    Ok(TrainOptions { algorithm, alpha, min_count: args.min_count, max_features: args.max_features })
}

/// The smoothing each fold chose: every fold's for ten folds or fewer
/// (`0.3, 1, 1, 1, 1`), else each value with its number of folds, smallest
/// first (`1 ×2900, 3 ×100`), so leave-one-out does not print a line of
/// thousands.
fn fold_alphas(alphas: &[f64]) -> String {
    if alphas.len() <= 10 {
        return alphas.iter().map(f64::to_string).collect::<Vec<_>>().join(", ");
    }
    let mut sorted = alphas.to_vec();
    sorted.sort_by(f64::total_cmp);
    let mut groups: Vec<(f64, usize)> = Vec::new();
    for a in sorted {
        match groups.last_mut() {
            Some((v, n)) if *v == a => *n += 1,
            _ => groups.push((a, 1)),
        }
    }
    groups.iter().map(|(v, n)| format!("{v} ×{n}")).collect::<Vec<_>>().join(", ")
}

/// Runs `triage train`: exit 0 when a model was written or evaluated, 2
/// on usage, input and training errors (too few cases, one class).
///
/// # Errors
/// Usage, I/O and input errors (exit 2).
pub fn train(args: &TrainArgs) -> Result<Exit, InputError> {
    let json = match args.format.as_str() {
        "human" => false,
        "json" => true,
        other => return Err(InputError(format!("--format `{other}`: use human or json"))),
    };
    if args.out.is_none() && args.eval.is_none() && args.test.is_none() {
        return Err(InputError("say what to do: --out MODEL.json, --eval K or --test CASES.jsonl".into()));
    }
    let mut seen = std::collections::BTreeSet::new();
    if let Some(l) = args.labels.iter().find(|l| !seen.insert(l.as_str())) {
        return Err(InputError(format!("--label `{l}` is given twice")));
    }
    for l in &args.labels {
        classify::label_name(l).map_err(|why| InputError(format!("--label: {why}")))?;
    }
    let options = options(args)?;
    // A test file that is not there is said before training, not after.
    if let Some(test) = args.test.as_deref().filter(|t| *t != "-")
        && let Err(e) = std::fs::metadata(test)
    {
        return Err(InputError(format!("--test `{test}`: {e}")));
    }
    let labels: Vec<&str> = args.labels.iter().map(String::as_str).collect();
    let data = read_labelled(&args.inputs, &args.labels)?;
    tell_skipped(&data);
    let examples = data.examples();
    let mut summary =
        format!("read {} record(s) = {} with text + {} skipped", data.read, examples.len(), data.unusable.len());
    for (i, l) in labels.iter().enumerate() {
        let without = examples.iter().filter(|e| e.labels[i].is_none()).count();
        if without > 0 {
            let _ = write!(summary, "; {without} without `{l}`");
        }
    }
    eprintln!("{summary}");
    let mut reports: Vec<(String, Evaluation)> = Vec::new();
    if let Some(k) = args.eval {
        for head in 0..labels.len() {
            let started = Instant::now();
            let e = classify::cross_validate(&examples, &labels, head, k, &options)
                .map_err(|e| InputError(e.to_string()))?;
            eprintln!(
                "{k}-fold cross-validation of `{}` in {:.1} s (alpha per fold: {})",
                labels[head],
                started.elapsed().as_secs_f64(),
                fold_alphas(&e.alphas)
            );
            reports.push((format!("{k}-fold cross-validation"), e));
        }
    }
    if args.out.is_some() || args.test.is_some() {
        let started = Instant::now();
        let model = classify::train(&examples, &labels, &options).map_err(|e| InputError(e.to_string()))?;
        let took = started.elapsed().as_secs_f64();
        let classes: Vec<String> = labels
            .iter()
            .map(|l| format!("`{l}` {} classes (alpha {})", model.classes(l).len(), model.alpha(l).unwrap_or_default()))
            .collect();
        eprintln!(
            "trained on {} case(s) in {took:.2} s: {}, {} features ({})",
            examples.len(),
            classes.join(", "),
            model.vocabulary_len(),
            model.algorithm().name()
        );
        if let Some(out) = &args.out {
            if let Some(parent) = out.parent().filter(|p| !p.as_os_str().is_empty()) {
                std::fs::create_dir_all(parent)
                    .map_err(|e| InputError(format!("cannot make the folder `{}`: {e}", parent.display())))?;
            }
            let json = model.to_json();
            // A model the rules could not read is not written.
            if json.len() as u64 > crate::MAX_FILE_BYTES {
                return Err(InputError(format!(
                    "the model would be {} MiB, over the {} MiB a rule directory's file may be; train it with fewer \
                     features (`--max-features {}`) or fewer classes",
                    json.len() >> 20,
                    crate::MAX_FILE_BYTES >> 20,
                    suggested_features(model.vocabulary_len(), json.len())
                )));
            }
            write_whole(out, json.as_bytes())?;
            eprintln!("model written to {} (training set {})", out.display(), model.training().set_hash);
        }
        if let Some(test) = &args.test {
            let held = read_labelled(std::slice::from_ref(test), &args.labels)?;
            tell_skipped(&held);
            eprintln!(
                "{test}: read {} record(s) = {} with text + {} skipped",
                held.read,
                held.rows.len(),
                held.unusable.len()
            );
            for (head, label) in labels.iter().enumerate() {
                let e = test_model(&model, &held, head, label);
                if e.cases == 0 {
                    return Err(InputError(format!("{test}: no case has a `{label}` to test against")));
                }
                reports.push((format!("test on {test}"), e));
            }
        }
    }
    if !reports.is_empty() {
        let text = if json { json_report(&reports) } else { human_report(&reports) };
        print!("{text}");
    }
    Ok(Exit::Ok)
}

/// Names the first five records skipped and label values ignored.
fn tell_skipped(data: &Labelled) {
    for (list, what) in [(&data.unusable, "skipped"), (&data.odd, "ignored")] {
        for u in list.iter().take(5) {
            eprintln!("{what} {u}");
        }
        if list.len() > 5 {
            eprintln!("{what} {} more", list.len() - 5);
        }
    }
}

/// A feature count whose model would fit in a rule file with room to
/// spare (the file's size is about proportional to the features).
fn suggested_features(features: usize, bytes: usize) -> usize {
    let fits = (crate::MAX_FILE_BYTES as f64 * 0.8 / bytes.max(1) as f64 * features as f64) as usize;
    (fits / 1000 * 1000).max(1000)
}

fn test_model(model: &Model, held: &Labelled, head: usize, label: &str) -> Evaluation {
    let mut tally = Tally::default();
    for e in held.examples() {
        let Some(truth) = e.labels.get(head).copied().flatten() else { continue };
        if let Some(p) = model.predict(e.subject, e.body).get(head) {
            tally.add(truth, &p.class, p.confidence);
        }
    }
    Evaluation { alphas: model.alpha(label).into_iter().collect(), ..tally.evaluation(label) }
}

fn json_report(reports: &[(String, Evaluation)]) -> String {
    let list: Vec<Value> =
        reports.iter().map(|(how, e)| serde_json::json!({ "evaluation": how, "result": e })).collect();
    serde_json::to_string_pretty(&list).unwrap_or_default() + "\n"
}

fn human_report(reports: &[(String, Evaluation)]) -> String {
    let mut out = String::new();
    for (how, e) in reports {
        let _ = writeln!(out, "`{}`, {how}: {} case(s)", e.label, e.cases);
        let _ = writeln!(out, "  accuracy {:.3} · macro-F1 {:.3}", e.accuracy, e.macro_f1);
        let width = e.classes.iter().map(|c| c.class.chars().count()).max().unwrap_or(5).max(5);
        let _ = writeln!(out, "  {:width$}  support  precision  recall     F1", "class");
        for c in &e.classes {
            let _ = writeln!(
                out,
                "  {:width$}  {:>7}  {:>9.3}  {:>6.3}  {:>5.3}",
                c.class, c.support, c.precision, c.recall, c.f1
            );
        }
        let _ = writeln!(out, "  confusion (rows: true class, columns: guessed, in the order above):");
        for (c, row) in e.classes.iter().zip(&e.confusion) {
            let cells: Vec<String> = row.iter().map(|n| format!("{n:>5}")).collect();
            let _ = writeln!(out, "  {:width$} {}", c.class, cells.join(""));
        }
        let _ = writeln!(out, "  calibration (how often a guess that sure was right):");
        for b in &e.calibration {
            let _ = writeln!(
                out,
                "    confidence {:.1}–{:.1}: {:>7} guess(es), mean {:.3}, right {:.3}",
                b.from, b.to, b.guesses, b.mean_confidence, b.accuracy
            );
        }
    }
    out
}

/// Writes a file whole: into a temporary file beside it, then renamed over
/// it, so a service watching the folder never reads half a model.
fn write_whole(path: &std::path::Path, bytes: &[u8]) -> Result<(), InputError> {
    let cannot = |e: std::io::Error| InputError(format!("cannot write `{}`: {e}", path.display()));
    if path.is_dir() {
        return Err(InputError(format!(
            "`{}` is a folder; name the model file, e.g. `models/support.json`",
            path.display()
        )));
    }
    let name = path.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
    let temporary = path.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
    std::fs::write(&temporary, bytes).map_err(cannot)?;
    std::fs::rename(&temporary, path).map_err(|e| {
        let _ = std::fs::remove_file(&temporary);
        cannot(e)
    })
}

#[cfg(test)]
mod tests {
    use super::fold_alphas;

    #[test]
    fn few_folds_list_their_smoothing_and_many_are_counted() {
        assert_eq!(fold_alphas(&[0.3, 1.0, 1.0]), "0.3, 1, 1");
        let many: Vec<f64> = (0..3000).map(|i| if i % 30 == 0 { 3.0 } else { 1.0 }).collect();
        assert_eq!(fold_alphas(&many), "1 ×2900, 3 ×100");
        assert_eq!(fold_alphas(&[]), "");
    }
}
