//! `triage run` and `triage report`: glue over `triage-batch`.

use crate::{Exit, InputError, load, load_directory, render_diagnostic};
use std::io::IsTerminal as _;
use std::path::PathBuf;
use triage_batch::run::Resume;
use triage_batch::{At, ColumnMap, Detail, InputFormat, InputSpec, MailOptions, OutputFormat, RunConfig};

/// What `triage run` was asked for.
#[derive(Debug, Clone)]
pub struct RunArgs {
    /// The rule directory.
    pub rules_dir: PathBuf,
    /// The inputs, in order.
    pub inputs: Vec<PathBuf>,
    /// Every input's format, instead of telling it from the name.
    pub input_format: Option<String>,
    /// Where decisions go (standard output without).
    pub out: Option<PathBuf>,
    /// Where rejects go.
    pub rejects: Option<PathBuf>,
    /// `jsonl` or `csv` (default: from `--out`'s extension).
    pub format: Option<String>,
    /// `lean` or `full`.
    pub detail: String,
    /// `--now`.
    pub now: Option<String>,
    /// `--as-of-creation`.
    pub as_of_creation: bool,
    /// A directory file instead of the rule set's.
    pub directory: Option<PathBuf>,
    /// Deciding threads (0: one per core).
    pub threads: usize,
    /// Continue an interrupted run.
    pub resume: bool,
    /// `COLUMN=FIELD` pairs.
    pub map: Vec<String>,
    /// A column mapping file.
    pub map_file: Option<PathBuf>,
    /// Support sender patterns.
    pub support: Vec<String>,
    /// Days within which messages join a thread by subject.
    pub thread_window_days: u32,
    /// Records per chunk.
    pub chunk: usize,
    /// Benchmarks: parse and write back, do not decide.
    pub parse_only: bool,
}

/// Runs `triage run`: exit 0 when every record was decided, 1 when any was
/// rejected (or the rules are refused), 2 on usage and I/O errors.
///
/// # Errors
/// Usage, I/O and input errors (exit 2).
pub fn run(args: &RunArgs) -> Result<Exit, InputError> {
    let mut set = load(&args.rules_dir)?;
    let Some(rules) = set.rules.take() else {
        let mut text = String::new();
        for d in set.diagnostics.iter().filter(|d| d.is_error()) {
            text.push_str(&render_diagnostic(d, &set.sources));
            text.push_str("\n\n");
        }
        eprintln!("{text}the rule set is refused; run `triage check` for details");
        return Ok(Exit::Failed);
    };
    let directory = match &args.directory {
        Some(p) => load_directory(p)?,
        None => set.directory.clone(),
    };
    let at = match (&args.now, args.as_of_creation) {
        (Some(_), true) => return Err(InputError("give --now or --as-of-creation, not both".to_string())),
        (Some(now), false) => At::Now(
            chrono::DateTime::parse_from_rfc3339(now)
                .map_err(|e| {
                    InputError(format!("--now `{now}` is not an RFC 3339 instant: {e}; {}", triage_core::OFFSET_HINT))
                })?
                .with_timezone(&chrono::Utc),
        ),
        (None, true) => At::Creation,
        // The adapter reads the clock once for the whole run.
        (None, false) => At::Now(chrono::Utc::now()),
    };
    let forced =
        match &args.input_format {
            Some(name) => Some(InputFormat::parse(name).ok_or_else(|| {
                InputError(format!("--input-format `{name}` is not one of jsonl, json, csv, mbox, eml"))
            })?),
            None => None,
        };
    let mut inputs = Vec::with_capacity(args.inputs.len());
    for path in &args.inputs {
        // Standard input is JSON Lines unless told otherwise.
        let format = if path.as_os_str() == "-" { Some(forced.unwrap_or(InputFormat::Jsonl)) } else { forced };
        inputs.push(InputSpec::new(path.clone(), format).map_err(|e| InputError(e.0))?);
    }
    let format = match args.format.as_deref() {
        Some("jsonl") => OutputFormat::Jsonl,
        Some("csv") => OutputFormat::Csv,
        Some(other) => return Err(InputError(format!("--format `{other}` is not jsonl or csv"))),
        None if args.out.as_ref().is_some_and(|p| p.extension().is_some_and(|e| e.eq_ignore_ascii_case("csv"))) => {
            OutputFormat::Csv
        }
        None => OutputFormat::Jsonl,
    };
    let detail = match args.detail.as_str() {
        "lean" => Detail::Lean,
        "full" => Detail::Full,
        other => return Err(InputError(format!("--detail `{other}` is not lean or full"))),
    };
    let mut columns = ColumnMap::default();
    if let Some(f) = &args.map_file {
        columns.add_file(f).map_err(|e| InputError(e.0))?;
    }
    columns.add_pairs(args.map.iter().map(String::as_str)).map_err(|e| InputError(e.0))?;
    let rejects_path = match (&args.rejects, &args.out) {
        (Some(r), _) => r.clone(),
        (None, Some(out)) => {
            let mut name = out.as_os_str().to_owned();
            name.push(".rejects.jsonl");
            PathBuf::from(name)
        }
        (None, None) => PathBuf::from("rejects.jsonl"),
    };
    if args.out.as_ref().is_some_and(|o| *o == rejects_path) {
        return Err(InputError("--out and --rejects name the same file".to_string()));
    }
    let resume = if args.resume {
        let Some(out) = &args.out else {
            return Err(InputError(
                "--resume needs --out: it continues the output file an earlier run wrote".to_string(),
            ));
        };
        triage_batch::resume_point(out, &rejects_path, format).map_err(|e| InputError(e.0))?
    } else {
        Resume::default()
    };
    let open = |path: &PathBuf, append: bool| {
        let mut o = std::fs::OpenOptions::new();
        o.create(true);
        if append {
            o.append(true);
        } else {
            o.write(true).truncate(true);
        }
        o.open(path).map_err(|e| InputError(format!("cannot write `{}`: {e}", path.display())))
    };
    let mut rejects = open(&rejects_path, args.resume)?;
    let mut stdout;
    let mut file;
    let out: &mut dyn std::io::Write = match &args.out {
        Some(p) => {
            file = open(p, args.resume)?;
            &mut file
        }
        None => {
            stdout = std::io::stdout().lock();
            &mut stdout
        }
    };
    let config = RunConfig {
        inputs,
        format,
        detail,
        at,
        threads: args.threads,
        columns,
        mail: MailOptions { support: args.support.clone(), window_secs: i64::from(args.thread_window_days) * 86_400 },
        chunk: args.chunk.max(1),
        resume,
        parse_only: args.parse_only,
    };
    let bar = if std::io::stderr().is_terminal() {
        let bar = indicatif::ProgressBar::new_spinner();
        bar.set_style(
            indicatif::ProgressStyle::with_template("{spinner} {pos} records · {per_sec} · {elapsed}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
        );
        bar
    } else {
        indicatif::ProgressBar::hidden()
    };
    let started = std::time::Instant::now();
    let summary = triage_batch::run(&rules, &directory, &config, out, &mut rejects, &mut |n| bar.set_position(n))
        .map_err(|e| InputError(e.0))?;
    bar.finish_and_clear();
    let elapsed = started.elapsed().as_secs_f64();
    let mut text = String::new();
    for note in &summary.notes {
        text.push_str(&format!("note: {note}\n"));
    }
    for c in &summary.inputs {
        text.push_str(&format!("{}: read {} = decided {} + rejected {}\n", c.input, c.read, c.decided, c.rejected));
    }
    let fresh = summary.records.saturating_sub(summary.resumed_after);
    text.push_str(&format!(
        "{} record(s): {} decided, {} rejected{}; {:.2} s ({:.0} records/s)\n",
        summary.records,
        summary.decided,
        summary.rejected,
        if summary.resumed_after > 0 {
            format!(
                " ({} written by the earlier run, resumed after record {})",
                summary.resumed_after,
                summary.resumed_after - 1
            )
        } else {
            String::new()
        },
        elapsed,
        if elapsed > 0.0 { fresh as f64 / elapsed } else { 0.0 }
    ));
    if summary.rejected > 0 {
        text.push_str(&format!("rejects (with their position and reason) are in {}\n", rejects_path.display()));
    }
    eprint!("{text}");
    Ok(if summary.rejected > 0 { Exit::Failed } else { Exit::Ok })
}

/// What `triage report` was asked for.
#[derive(Debug, Clone)]
pub struct ReportArgs {
    /// The decisions (`triage run`'s lean output).
    pub decisions: PathBuf,
    /// Escalation states (`triage escalate`'s output) that replace the
    /// run's replay of those cases.
    pub states: Vec<PathBuf>,
    /// Where the report goes (standard output without).
    pub out: Option<PathBuf>,
    /// `html` or `json` (default: json when --out ends in .json).
    pub format: Option<String>,
    /// A directory file, for agents' capacities.
    pub directory: Option<PathBuf>,
}

/// Runs `triage report`: exit 0, or 1 when some lines were not decisions
/// (the report is still written, and says so).
///
/// # Errors
/// Usage and I/O errors (exit 2).
pub fn report(args: &ReportArgs) -> Result<Exit, InputError> {
    let json = match args.format.as_deref() {
        Some("json") => true,
        Some("html") => false,
        Some(other) => return Err(InputError(format!("--format `{other}` is not html or json"))),
        None => args.out.as_ref().is_some_and(|p| p.extension().is_some_and(|e| e.eq_ignore_ascii_case("json"))),
    };
    let capacity = match &args.directory {
        Some(p) => load_directory(p)?.agents().iter().map(|a| (a.id.to_string(), a.capacity)).collect(),
        None => std::collections::BTreeMap::new(),
    };
    let started = std::time::Instant::now();
    let report = triage_batch::report::build(std::slice::from_ref(&args.decisions), &args.states, &capacity)
        .map_err(|e| InputError(e.0))?;
    let text = if json {
        let mut t = serde_json::to_string_pretty(&report).map_err(|e| InputError(e.to_string()))?;
        t.push('\n');
        t
    } else {
        triage_batch::report::html(&report)
    };
    match &args.out {
        Some(p) => std::fs::write(p, text).map_err(|e| InputError(format!("cannot write `{}`: {e}", p.display())))?,
        None => {
            use std::io::Write as _;
            let mut stdout = std::io::stdout().lock();
            stdout
                .write_all(text.as_bytes())
                .and_then(|()| stdout.flush())
                .map_err(|e| InputError(format!("cannot write output: {e}")))?;
        }
    }
    eprintln!(
        "{} case(s) in the report{}; {:.2} s",
        report.cases,
        if report.unreadable > 0 {
            format!(", {} line(s) left out (not lean decisions)", report.unreadable)
        } else {
            String::new()
        },
        started.elapsed().as_secs_f64()
    );
    for e in &report.unreadable_examples {
        eprintln!("  {e}");
    }
    Ok(if report.unreadable > 0 { Exit::Failed } else { Exit::Ok })
}
