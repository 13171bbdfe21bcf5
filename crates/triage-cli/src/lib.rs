//! The I/O around the core for the `triage` command: finding and reading
//! rule files, test files and directories, and rendering diagnostics for
//! people. `cargo test` uses the same functions to run the example rule
//! sets' tests, so both runners see the same files.

pub mod batch;
pub mod serve;
pub mod train;

use std::fmt::Write as _;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use triage_core::testing::{RuleTest, TestOutcome, parse_tests};
use triage_core::{CompiledRules, Diagnostic, Directory};

/// Exit codes, stated once: 0 ok, 1 rule errors or failing tests, 2 usage,
/// I/O or input errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Everything passed.
    Ok = 0,
    /// Rule errors or failing tests.
    Failed = 1,
    /// Usage, I/O or input errors.
    Input = 2,
}

/// An error reading inputs (exit code 2).
#[derive(Debug)]
pub struct InputError(pub String);

impl std::fmt::Display for InputError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Numbered lines (from 1), each its text (or what was read from it) or
/// why it cannot be read.
pub type Lines<T> = Vec<(usize, Result<T, String>)>;

/// Whether a line holds only JSON's white space (space, tab, CR): such a
/// line is skipped. Any other character, Unicode spaces included, makes a
/// line that is read, and rejected if it is not a case.
pub fn is_blank(line: &[u8]) -> bool {
    line.iter().all(|b| matches!(b, b' ' | b'\t' | b'\r'))
}

/// The non-blank lines of a JSON Lines input with their numbers: each
/// line's text, or why it cannot be read. A line that is not UTF-8 is
/// rejected alone, with its number; the rest go on. A `\r` before the line
/// break is dropped, and so is a byte-order mark at the start of the input.
pub fn split_lines(bytes: &[u8]) -> Lines<String> {
    let bytes = bytes.strip_prefix("\u{feff}".as_bytes()).unwrap_or(bytes);
    let mut out = Vec::new();
    for (i, raw) in bytes.split(|&b| b == b'\n').enumerate() {
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        if is_blank(raw) {
            continue;
        }
        let line = match std::str::from_utf8(raw) {
            Ok(l) => Ok(l.to_string()),
            Err(e) => Err(format!("not UTF-8 text (an invalid byte at column {})", e.valid_up_to() + 1)),
        };
        out.push((i + 1, line));
    }
    out
}

/// A JSON Lines input read as cases: each non-blank line a case or, with
/// its number, the reason it is not one.
pub fn parse_case_lines(bytes: &[u8]) -> Lines<triage_core::Case> {
    split_lines(bytes)
        .into_iter()
        .map(|(n, line)| (n, line.and_then(|l| triage_core::Case::from_json(&l).map_err(|e| e.to_string()))))
        .collect()
}

/// A rule, test or directory file's text, with where each line starts so
/// that showing the line of each of many diagnostics stays linear.
#[derive(Debug)]
pub struct Source {
    /// The file's name as diagnostics give it.
    pub name: String,
    /// The whole text.
    pub text: String,
    /// Byte offset of each line's start.
    line_starts: Vec<usize>,
}

impl Source {
    /// Indexes `text`'s lines.
    pub fn new(name: String, text: String) -> Self {
        let line_starts = std::iter::once(0).chain(text.match_indices('\n').map(|(i, _)| i + 1)).collect();
        Source { name, text, line_starts }
    }

    /// Line `n` (from 1) without its line break, as `str::lines` gives it.
    pub fn line(&self, n: usize) -> Option<&str> {
        let start = *self.line_starts.get(n.checked_sub(1)?)?;
        if start >= self.text.len() {
            return None;
        }
        Some(match self.line_starts.get(n) {
            // A `\r\n` line break is dropped whole.
            Some(&next) => self.text[start..next - 1].strip_suffix('\r').unwrap_or(&self.text[start..next - 1]),
            None => &self.text[start..],
        })
    }
}

/// A rule directory read from disk.
#[derive(Debug)]
pub struct RuleSet {
    /// Each rule file, in evaluation order.
    pub sources: Vec<Source>,
    /// The compiled rules, when there were no errors.
    pub rules: Option<CompiledRules>,
    /// Every diagnostic.
    pub diagnostics: Vec<Diagnostic>,
    /// `directory.yaml` beside the rules, or an empty directory.
    pub directory: Directory,
    /// The version of `directory.yaml`'s text (`triage_core::content_version`),
    /// when there is one.
    pub directory_version: Option<String>,
    /// The model files the `classifiers:` section names that were read, as
    /// the rules write them (relative to the rule directory).
    pub models: Vec<String>,
}

/// The largest rule, test or directory file read, bytes. Real rule sets are
/// kilobytes; a directory of 100,000 accounts is a few megabytes.
pub const MAX_FILE_BYTES: u64 = 64 << 20;

/// Reads a rule, test or directory file: a regular file (after following
/// symlinks) of at most [`MAX_FILE_BYTES`], in UTF-8. A FIFO, a device
/// (`/dev/zero`) or a socket is refused before it is opened, so nothing
/// blocks or reads without end.
fn read(path: &Path) -> Result<String, InputError> {
    use std::io::Read as _;
    let cannot = |e: std::io::Error| InputError(format!("cannot read `{}`: {e}", path.display()));
    let meta = std::fs::metadata(path).map_err(cannot)?;
    if !meta.is_file() {
        return Err(InputError(format!(
            "`{}` is not a regular file (a directory, FIFO, device or socket); rule, test and directory files must be \
             regular files",
            path.display()
        )));
    }
    let too_big = || {
        InputError(format!("`{}` is larger than {} MiB, the limit for one file", path.display(), MAX_FILE_BYTES >> 20))
    };
    if meta.len() > MAX_FILE_BYTES {
        return Err(too_big());
    }
    let mut bytes = Vec::new();
    std::fs::File::open(path).map_err(cannot)?.take(MAX_FILE_BYTES + 1).read_to_end(&mut bytes).map_err(cannot)?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(too_big());
    }
    String::from_utf8(bytes).map_err(|e| {
        InputError(format!(
            "`{}` is not UTF-8 text (byte {} is not valid)",
            path.display(),
            e.utf8_error().valid_up_to()
        ))
    })
}

/// Most bytes a JSON Lines input may hold (1 GiB): it is read whole, so
/// larger inputs must be split.
pub const MAX_LINES_BYTES: u64 = 1 << 30;

/// A file's bytes, or standard input's for `-`, at most `limit` of them. A
/// named input must be a regular file or a pipe: a device such as
/// `/dev/zero` is refused before it is read, and anything longer than the
/// limit is refused rather than read without end.
///
/// # Errors
/// When it cannot be read, is not a file or pipe, or is too long.
pub fn read_bytes(arg: &str, limit: u64) -> Result<Vec<u8>, InputError> {
    let too_long =
        || InputError(format!("`{arg}` is longer than {} MiB, the limit for this input; split it", limit >> 20));
    let mut bytes = Vec::new();
    if arg == "-" {
        std::io::stdin()
            .take(limit + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| InputError(format!("cannot read standard input: {e}")))?;
    } else {
        let kind = std::fs::metadata(arg).map_err(|e| InputError(format!("cannot read `{arg}`: {e}")))?.file_type();
        #[cfg(unix)]
        let pipe = std::os::unix::fs::FileTypeExt::is_fifo(&kind);
        #[cfg(not(unix))]
        let pipe = false;
        if !kind.is_file() && !pipe {
            return Err(InputError(format!("`{arg}` is not a regular file or a pipe")));
        }
        std::fs::File::open(arg)
            .and_then(|f| f.take(limit + 1).read_to_end(&mut bytes))
            .map_err(|e| InputError(format!("cannot read `{arg}`: {e}")))?;
    }
    if bytes.len() as u64 > limit {
        return Err(too_long());
    }
    Ok(bytes)
}

/// A JSON Lines (or JSON) input's bytes, at most [`MAX_LINES_BYTES`].
///
/// # Errors
/// As [`read_bytes`].
pub fn read_limited(arg: &str) -> Result<Vec<u8>, InputError> {
    read_bytes(arg, MAX_LINES_BYTES)
}

/// Every file below `dir`. Symlinks are followed, but a directory (by its
/// canonical path) is entered once only, so a link back to a parent can
/// neither loop nor read a file twice through two paths.
fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), InputError> {
    let mut seen = std::collections::BTreeSet::new();
    walk_once(dir, out, &mut seen)
}

fn walk_once(
    dir: &Path,
    out: &mut Vec<PathBuf>,
    seen: &mut std::collections::BTreeSet<PathBuf>,
) -> Result<(), InputError> {
    let cannot = |e: std::io::Error| InputError(format!("cannot read directory `{}`: {e}", dir.display()));
    if !seen.insert(dir.canonicalize().map_err(cannot)?) {
        return Ok(());
    }
    for entry in std::fs::read_dir(dir).map_err(cannot)? {
        let path = entry.map_err(cannot)?.path();
        // Hidden entries are not the author's: `.git`, editor swap files,
        // the `..data` folders of a Kubernetes ConfigMap (whose files are
        // reached through the links beside them).
        if path.file_name().is_some_and(|n| n.to_string_lossy().starts_with('.')) {
            continue;
        }
        if path.is_dir() {
            walk_once(&path, out, seen)?;
        } else {
            out.push(path);
        }
    }
    Ok(())
}

/// Keeps the first path (in sorted order) of each file reached through
/// several (a symlink to a file beside it).
fn distinct_files(files: &mut Vec<PathBuf>) {
    let mut seen = std::collections::BTreeSet::new();
    files.retain(|p| seen.insert(p.canonicalize().unwrap_or_else(|_| p.clone())));
}

fn is_yaml(p: &Path) -> bool {
    p.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("yaml") || e.eq_ignore_ascii_case("yml"))
}

fn in_tests_dir(root: &Path, p: &Path) -> bool {
    p.strip_prefix(root).ok().is_some_and(|rel| rel.components().any(|c| c.as_os_str() == "tests"))
}

/// Rule files of a rule directory: every `*.yaml` below it except hidden
/// entries (names starting with `.`), test directories, `*.test.yaml` and
/// the top-level `directory.yaml`, sorted by
/// path so the order is the same on every machine.
pub fn rule_files(root: &Path) -> Result<Vec<PathBuf>, InputError> {
    if !root.is_dir() {
        return Err(InputError(format!("`{}` is not a directory of rule files", root.display())));
    }
    let mut all = Vec::new();
    walk(root, &mut all)?;
    let mut files: Vec<PathBuf> = all
        .into_iter()
        .filter(|p| is_yaml(p))
        .filter(|p| !in_tests_dir(root, p))
        .filter(|p| !p.to_string_lossy().ends_with(".test.yaml"))
        .filter(|p| p.parent() != Some(root) || p.file_name().is_none_or(|n| n != "directory.yaml"))
        .collect();
    files.sort();
    distinct_files(&mut files);
    Ok(files)
}

/// Test files of a rule directory: `tests/*.test.yaml` at any depth, sorted.
pub fn test_files(root: &Path) -> Result<Vec<PathBuf>, InputError> {
    let mut all = Vec::new();
    walk(root, &mut all)?;
    let mut files: Vec<PathBuf> =
        all.into_iter().filter(|p| in_tests_dir(root, p) && p.to_string_lossy().ends_with(".test.yaml")).collect();
    files.sort();
    distinct_files(&mut files);
    Ok(files)
}

/// Reads a directory file (YAML or JSON).
pub fn load_directory(path: &Path) -> Result<Directory, InputError> {
    load_directory_versioned(path).map(|(directory, _)| directory)
}

/// Reads a directory file, with the version of the text it was read from
/// (`triage_core::content_version`).
pub fn load_directory_versioned(path: &Path) -> Result<(Directory, String), InputError> {
    let text = read(path)?;
    // Problems already name the file, line and column.
    let directory = Directory::from_text(&path.display().to_string(), &text).map_err(|e| InputError(e.to_string()))?;
    Ok((directory, triage_core::content_version(&[("directory", &text)])))
}

/// Reads and compiles a rule directory.
pub fn load(root: &Path) -> Result<RuleSet, InputError> {
    load_named(root, |path| path.display().to_string())
}

/// As [`load`], with each file named relative to `root` (`10-categories.yaml`,
/// `teams/emea.yaml`) in diagnostics and decision traces: what a service
/// shows its clients, who need not learn where the rules live on the server.
///
/// # Errors
/// As [`load`].
pub fn load_relative(root: &Path) -> Result<RuleSet, InputError> {
    load_named(root, |path| path.strip_prefix(root).unwrap_or(path).display().to_string())
}

fn load_named(root: &Path, name: impl Fn(&Path) -> String) -> Result<RuleSet, InputError> {
    let mut sources = Vec::new();
    for path in rule_files(root)? {
        sources.push(Source::new(name(&path), read(&path)?));
    }
    if sources.is_empty() {
        return Err(InputError(format!("no `*.yaml` rule files in `{}`", root.display())));
    }
    let pairs: Vec<(&str, &str)> = sources.iter().map(|s| (s.name.as_str(), s.text.as_str())).collect();
    // Model files the `classifiers:` section names, relative to the rule
    // directory, read as rule files are (a regular file, at most 64 MiB,
    // UTF-8). One that is not there is left out, and compiling says so at
    // the line that names it.
    let mut models = Vec::new();
    // One that cannot be read (a directory, not UTF-8) is left out too,
    // and the compiler's "not found" at its line says why instead.
    let mut unreadable: Vec<(String, String)> = Vec::new();
    for path in triage_core::classifier_files(&pairs) {
        let file = root.join(&path);
        if std::fs::symlink_metadata(&file).is_err() {
            continue;
        }
        match read(&file) {
            Ok(text) => models.push((path, text)),
            Err(e) => unreadable.push((path, e.0)),
        }
    }
    let attached: Vec<(&str, &str)> = models.iter().map(|(p, t)| (p.as_str(), t.as_str())).collect();
    let (rules, mut diagnostics) = triage_core::compile_with_files(&pairs, &attached);
    for d in diagnostics.iter_mut().filter(|d| d.code == "model-missing") {
        if let Some((path, why)) = unreadable.iter().find(|(p, _)| d.message.contains(&format!("`{p}`"))) {
            d.code = "model-unreadable";
            d.message = format!("model file `{path}` cannot be read: {why}");
            d.help = Some(format!(
                "put a model file there: `triage train CASES.jsonl --label LABEL --out RULES_DIR/{path}`"
            ));
        }
    }
    let dir_file = root.join("directory.yaml");
    let (directory, directory_version) = if dir_file.is_file() {
        let (directory, version) = load_directory_versioned(&dir_file)?;
        (directory, Some(version))
    } else {
        (Directory::new(), None)
    };
    let models = models.into_iter().map(|(path, _)| path).collect();
    Ok(RuleSet { sources, rules, diagnostics, directory, directory_version, models })
}

/// What the lint finds in a compiled rule set, less what the compiler
/// already said about the same rule under the same code.
pub fn lint_findings(set: &RuleSet) -> Vec<Diagnostic> {
    let Some(rules) = &set.rules else { return Vec::new() };
    triage_core::lint(rules)
        .into_iter()
        .filter(|f| !set.diagnostics.iter().any(|d| d.code == f.code && d.rule == f.rule))
        .collect()
}

/// Renders a diagnostic for people, with the offending source line.
pub fn render_diagnostic(d: &Diagnostic, sources: &[Source]) -> String {
    let mut out = format!("{}[{}]: {}", d.severity, d.code, d.message);
    let _ = write!(out, "\n  --> {}:{}:{}", d.file, d.line, d.column);
    if let Some(rule) = &d.rule {
        let _ = write!(out, " (rule `{rule}`)");
    }
    let line = sources.iter().find(|s| s.name == d.file).and_then(|s| s.line(d.line as usize));
    if let Some(line) = line {
        let (shown, col) = window(line, d.column.saturating_sub(1) as usize);
        let num = d.line.to_string();
        let pad = " ".repeat(num.len());
        let caret = " ".repeat(col);
        let _ = write!(out, "\n {pad} |\n {num} | {shown}\n {pad} | {caret}^");
    }
    if let Some(help) = &d.help {
        let _ = write!(out, "\n  = help: {help}");
    }
    if let Some(example) = &d.example {
        let _ = write!(out, "\n  = example: {example}");
    }
    out
}

/// At most 100 characters of `line` around character `col`, and the
/// caret's column within them, so minified or generated lines stay readable.
fn window(line: &str, col: usize) -> (String, usize) {
    const WIDTH: usize = 100;
    let chars: Vec<char> = line.chars().collect();
    if chars.len() <= WIDTH {
        return (line.to_string(), col);
    }
    let start = col.saturating_sub(WIDTH / 2).min(chars.len() - WIDTH);
    let end = start + WIDTH;
    let mut s: String = chars[start..end].iter().collect();
    let mut caret = col - start;
    if start > 0 {
        s.insert(0, '…');
        caret += 1;
    }
    if end < chars.len() {
        s.push('…');
    }
    (s, caret)
}

/// The results of running a rule directory's tests.
#[derive(Debug, Default)]
pub struct TestReport {
    /// Every test's outcome, in file order.
    pub outcomes: Vec<TestOutcome>,
    /// Problems reading test files (each counts as a failure).
    pub problems: Vec<String>,
    /// What the tests exercised of the rule set.
    pub coverage: Option<triage_core::testing::CoverageReport>,
}

impl TestReport {
    /// Tests that passed.
    pub fn passed(&self) -> usize {
        self.outcomes.iter().filter(|o| o.passed()).count()
    }

    /// Tests that failed, plus unreadable tests.
    pub fn failed(&self) -> usize {
        self.outcomes.len() - self.passed() + self.problems.len()
    }

    /// A readable report: failures in full, then `N passed, M failed`.
    pub fn render(&self, verbose: bool) -> String {
        let mut out = String::new();
        for p in &self.problems {
            let _ = writeln!(out, "{p}\n");
        }
        for o in &self.outcomes {
            if o.passed() {
                if verbose {
                    let _ = writeln!(out, "ok      {} ({})", o.name, o.location);
                }
                continue;
            }
            let _ = writeln!(out, "FAILED  {} ({})", o.name, o.location);
            for f in &o.failures {
                let _ = writeln!(out, "    {f}");
            }
            if let Some(trace) = &o.trace {
                for line in trace.lines() {
                    let _ = writeln!(out, "    | {line}");
                }
            }
            out.push('\n');
        }
        let _ = writeln!(out, "{} passed, {} failed", self.passed(), self.failed());
        out
    }
}

/// Runs every test under a rule directory whose name contains `filter`.
/// Rule errors are returned as `Err` with the rendered diagnostics.
pub fn run_tests(root: &Path, filter: Option<&str>) -> Result<Result<TestReport, String>, InputError> {
    let set = load(root)?;
    let Some(rules) = &set.rules else {
        let rendered: Vec<String> = set.diagnostics.iter().map(|d| render_diagnostic(d, &set.sources)).collect();
        return Ok(Err(rendered.join("\n\n")));
    };
    let mut report = TestReport::default();
    for path in test_files(root)? {
        let name = path.display().to_string();
        let source = Source::new(name, read(&path)?);
        let (tests, diags) = parse_tests(&source.name, &source.text);
        let sources = [source];
        report.problems.extend(diags.iter().map(|d| render_diagnostic(d, &sources)));
        let selected = tests.iter().filter(|t: &&RuleTest| filter.is_none_or(|f| t.name.contains(f)));
        report.outcomes.extend(selected.map(|t| t.run(rules, &set.directory)));
    }
    report.coverage = Some(triage_core::testing::coverage(rules, &report.outcomes));
    Ok(Ok(report))
}
