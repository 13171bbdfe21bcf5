//! `triage`: check, test, eval, explain and escalate support cases.
//!
//! This file only parses arguments and dispatches; exit codes are stated in
//! [`triage_cli::Exit`].

use chrono::{DateTime, Utc};
use clap::{CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use triage_cli::{
    Exit, InputError, Lines, MAX_LINES_BYTES, lint_findings, load, load_directory, parse_case_lines, read_bytes,
    render_diagnostic, run_tests, split_lines,
};
use triage_core::{
    BatchMode, Case, CaseState, EscalationRecord, Options, RecordStatus, Severity, TraceLevel, escalate,
    escalation_report, explain, triage,
};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "triage", version, about = "Decide, test and explain how support cases are triaged")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Human,
    Json,
}

#[derive(Clone, Copy, ValueEnum)]
enum Mode {
    /// Most urgent first, loads updated as it goes.
    Greedy,
    /// The plan of greatest total match score (minimum-cost flow).
    Optimal,
}

#[derive(Clone, Copy, ValueEnum)]
enum Trace {
    /// The rule behind each step.
    Decisions,
    /// Also why every other rule did not match.
    Full,
}

impl Trace {
    fn level(self) -> TraceLevel {
        match self {
            Trace::Decisions => TraceLevel::Decisions,
            Trace::Full => TraceLevel::Full,
        }
    }
}

#[derive(clap::Args)]
struct CaseArgs {
    /// The rule directory.
    rules_dir: PathBuf,
    /// The case as JSON, or `-` for standard input.
    #[arg(long)]
    case: String,
    /// A directory file (YAML or JSON); default: RULES_DIR/directory.yaml.
    #[arg(long)]
    directory: Option<PathBuf>,
    /// The instant to decide at (RFC 3339); default: now.
    #[arg(long)]
    now: Option<String>,
    /// Recent cases (JSON Lines, in the order they came) the case is
    /// compared with for the rules' `duplicates:` and `incidents:`.
    #[arg(long, value_name = "CASES.jsonl")]
    index: Option<PathBuf>,
}

#[derive(Subcommand)]
enum Command {
    /// Compile a rule directory and report every problem.
    Check {
        /// The rule directory.
        rules_dir: PathBuf,
        /// Output format.
        #[arg(long, value_enum, default_value = "human")]
        format: Format,
    },
    /// Look for rules no case reaches, conditions that never hold, gaps and
    /// overlaps in decision tables; exit 1 when anything is found.
    Lint {
        /// The rule directory.
        rules_dir: PathBuf,
        /// Output format.
        #[arg(long, value_enum, default_value = "human")]
        format: Format,
    },
    /// Run the rule tests in RULES_DIR/**/tests/*.test.yaml.
    Test {
        /// The rule directory.
        rules_dir: PathBuf,
        /// Run only tests whose name contains this text.
        #[arg(long)]
        filter: Option<String>,
        /// List passing tests too.
        #[arg(long, short)]
        verbose: bool,
        /// Report which rules and table rows the tests exercised.
        #[arg(long)]
        coverage: bool,
        /// With --coverage: fail (exit 1) when coverage is below this percentage.
        #[arg(long, value_name = "PCT", requires = "coverage", value_parser = percent)]
        threshold: Option<f64>,
        /// Output format of the coverage report.
        #[arg(long, value_enum, default_value = "human")]
        format: Format,
    },
    /// Decide one case and print the decision as JSON.
    Eval {
        #[command(flatten)]
        args: CaseArgs,
        /// How much of the reasoning to include.
        #[arg(long, value_enum, default_value = "decisions")]
        trace: Trace,
    },
    /// Decide one case and explain the decision step by step.
    Explain {
        #[command(flatten)]
        args: CaseArgs,
    },
    /// Replay case histories: the escalation actions due, SLA state and
    /// when to ask again, as JSON (one line per case for JSON Lines input).
    Escalate {
        /// The rule directory.
        rules_dir: PathBuf,
        /// A case state (`case` and `events`) as JSON, JSON Lines of them,
        /// or `-` for standard input.
        #[arg(long)]
        state: String,
        /// The instant to escalate at (RFC 3339); default: now.
        #[arg(long)]
        now: Option<String>,
        /// A directory file (YAML or JSON); default: RULES_DIR/directory.yaml.
        #[arg(long)]
        directory: Option<PathBuf>,
        /// Include why each rule fired and the policy changes in full.
        #[arg(long, value_enum, default_value = "decisions")]
        trace: Trace,
        /// Print the open escalation records, highest risk first, instead.
        #[arg(long)]
        report: bool,
    },
    /// Decide and assign a batch of cases (JSON Lines) greedily; one
    /// decision per line out, a summary on standard error.
    Assign {
        /// The rule directory.
        rules_dir: PathBuf,
        /// Cases as JSON Lines, or `-` for standard input.
        #[arg(long)]
        cases: String,
        /// A directory file (YAML or JSON); default: RULES_DIR/directory.yaml.
        #[arg(long)]
        directory: Option<PathBuf>,
        /// The instant to decide at (RFC 3339); default: now.
        #[arg(long)]
        now: Option<String>,
        /// How to assign: greedy (priority, SLA due, age order) or optimal
        /// (greatest total match score).
        #[arg(long, value_enum, default_value = "greedy")]
        mode: Mode,
    },
    /// Decide every case under two rule sets and report what changed,
    /// field by field, with the rule that decided on each side.
    Diff {
        /// The rule directory as it is.
        old_rules: PathBuf,
        /// The rule directory as proposed.
        new_rules: PathBuf,
        /// Cases as JSON Lines, or `-` for standard input.
        cases: String,
        /// A directory file for both sides; default: each rule set's own
        /// directory.yaml.
        #[arg(long)]
        directory: Option<PathBuf>,
        /// The instant to decide at (RFC 3339); default: now.
        #[arg(long)]
        now: Option<String>,
        /// Output format.
        #[arg(long, value_enum, default_value = "human")]
        format: Format,
    },
    /// Time every decision on a corpus of cases: p50, p99 and the slowest
    /// decision, and decisions per second on one core.
    Bench {
        /// The rule directory.
        rules_dir: PathBuf,
        /// Cases as JSON Lines, or `-` for standard input.
        cases: String,
        /// A directory file (YAML or JSON); default: RULES_DIR/directory.yaml.
        #[arg(long)]
        directory: Option<PathBuf>,
        /// The instant to decide at (RFC 3339); default: now.
        #[arg(long)]
        now: Option<String>,
        /// Timed passes over the corpus (after one untimed warm-up pass), 1
        /// to 1000; cases × rounds is at most 50 million.
        #[arg(long, default_value = "3", value_parser = clap::value_parser!(u32).range(1..=1000))]
        rounds: u32,
        /// Time decisions with the full trace (why every other rule did not match).
        #[arg(long, value_enum, default_value = "decisions")]
        trace: Trace,
        /// Output format.
        #[arg(long, value_enum, default_value = "human")]
        format: Format,
    },
    /// Serve decisions over HTTP: triage, explain, escalate, assign and
    /// check, with hot reload, limits, metrics and an OpenAPI document
    Serve {
        /// The rule directory.
        rules_dir: PathBuf,
        /// A directory file (YAML or JSON) instead of RULES_DIR/directory.yaml.
        #[arg(long)]
        directory: Option<PathBuf>,
        /// Address to listen on (port 0: any free port, printed at start).
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: std::net::SocketAddr,
        /// Reload when the rule directory or the directory file changes.
        #[arg(long)]
        watch: bool,
        /// A file holding the token `POST /v1/rules/reload` requires
        /// (`Authorization: Bearer …`, at least 16 characters); without it
        /// that endpoint always answers 401.
        #[arg(long)]
        admin_token_file: Option<PathBuf>,
        /// Log as JSON lines (one object per event) instead of text.
        #[arg(long)]
        json_logs: bool,
        /// Largest body of a one-case request, bytes (1 to 2^40).
        #[arg(long, default_value_t = 1 << 20, value_parser = clap::value_parser!(u64).range(1..=1 << 40))]
        max_body: u64,
        /// Largest body of a batch, assign or check request, bytes (1 to
        /// 2^40).
        #[arg(long, default_value_t = 64 << 20, value_parser = clap::value_parser!(u64).range(1..=1 << 40))]
        max_batch_body: u64,
        /// Request body bytes held in memory at once over all requests
        /// (then 503 `overloaded`); at least --max-batch-body.
        #[arg(long, default_value_t = 256 << 20)]
        max_buffered: u64,
        /// Longest a request may run, seconds, 1 to 86400 (then 503
        /// `timeout`).
        #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=86_400))]
        timeout: u64,
        /// Requests in progress at once, 1 to 1,000,000; more are answered 503
        /// `overloaded`.
        #[arg(long, default_value_t = 512, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
        concurrency: u64,
        /// Keep case histories and the outbox of actions (`/v1/cases/…`) in
        /// an embedded database in this folder (DIR/triage.db).
        #[arg(long, conflicts_with = "database")]
        data: Option<PathBuf>,
        /// Keep them in PostgreSQL instead (postgres://user@host/db),
        /// shared by several replicas.
        #[arg(long)]
        database: Option<String>,
        /// Deliver the outbox to the webhook and chat sinks in this YAML
        /// file (needs --data or --database); without it actions stay in
        /// the outbox for clients to read.
        #[arg(long)]
        sinks: Option<PathBuf>,
        /// Seconds a replica holds the cases and actions it claimed; after
        /// it dies, another takes them over when this runs out.
        #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(2..=3600))]
        lease: u64,
    },
    /// Decide a backlog: JSON Lines, JSON, CSV, mbox and .eml inputs, in
    /// parallel, one decision per case in input order; bad records go to a
    /// rejects file with their position (exit 1 when any did)
    Run(triage_cli::batch::RunArgs),
    /// Train a text classifier on labelled cases (naive Bayes over words
    /// and word pairs), cross-validate it (--eval K) or test it on held-out
    /// cases (--test FILE)
    Train(triage_cli::train::TrainArgs),
    /// A report for managers from `triage run`'s decisions: workload, tier
    /// mix, SLA compliance, manual reviews and cases over time, as one
    /// self-contained HTML page (or JSON)
    Report {
        /// The decisions `triage run` wrote (JSON Lines, lean).
        decisions: PathBuf,
        /// Escalation states (`triage escalate`'s output) that replace the
        /// run's replay of those cases' SLA clocks.
        states: Vec<PathBuf>,
        /// Write the report here (default, or `-`: standard output).
        #[arg(long)]
        out: Option<PathBuf>,
        /// html or json (default: json when --out ends in .json, else html).
        #[arg(long)]
        format: Option<String>,
        /// A directory file: agents' capacities to measure their load against.
        #[arg(long)]
        directory: Option<PathBuf>,
    },
    /// Move an escalation record through its lifecycle
    /// (open → active → resolved → closed) and print the new record.
    Record {
        /// The record as JSON (from an `open_escalation` action), or `-`.
        record: String,
        /// The status to move to: active, resolved or closed.
        #[arg(long)]
        to: String,
        /// When (RFC 3339); default: now.
        #[arg(long)]
        at: Option<String>,
        /// A note; closing requires the lessons learned here.
        #[arg(long)]
        note: Option<String>,
    },
}

/// `triage --version`: the program's version and the time zone database
/// release its calendars use.
fn version_text() -> String {
    format!("{} (time zones: IANA tzdb {})", env!("CARGO_PKG_VERSION"), triage_core::TZDB_VERSION)
}

fn main() -> ExitCode {
    // Leaked once: clap keeps a version text for the life of the program.
    let version: &'static str = version_text().leak();
    let matches = Cli::command().version(version).get_matches();
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    let result = match cli.command {
        Command::Check { rules_dir, format } => check(&rules_dir, format, false),
        Command::Lint { rules_dir, format } => check(&rules_dir, format, true),
        Command::Test { rules_dir, filter, verbose, coverage, threshold, format } => {
            let cov = coverage.then_some(CoverageArgs { threshold, json: matches!(format, Format::Json) });
            test(&rules_dir, filter.as_deref(), verbose, cov)
        }
        Command::Eval { args, trace } => decide(&args, Some(trace)),
        Command::Explain { args } => decide(&args, None),
        Command::Escalate { rules_dir, state, now, directory, trace, report } => {
            escalate_states(&rules_dir, &state, now.as_deref(), directory.as_deref(), trace, report)
        }
        Command::Assign { rules_dir, cases, directory, now, mode } => {
            assign_cases(&rules_dir, &cases, directory.as_deref(), now.as_deref(), mode)
        }
        Command::Diff { old_rules, new_rules, cases, directory, now, format } => {
            diff(&old_rules, &new_rules, &cases, directory.as_deref(), now.as_deref(), format)
        }
        Command::Bench { rules_dir, cases, directory, now, rounds, trace, format } => {
            let how = BenchArgs { directory, now, rounds, trace, format };
            bench(&rules_dir, &cases, &how)
        }
        Command::Run(args) => triage_cli::batch::run(&args),
        Command::Train(args) => triage_cli::train::train(&args),
        Command::Report { decisions, states, out, format, directory } => {
            triage_cli::batch::report(&triage_cli::batch::ReportArgs { decisions, states, out, format, directory })
        }
        Command::Record { record, to, at, note } => move_record(&record, &to, at.as_deref(), note.as_deref()),
        Command::Serve { max_batch_body, max_buffered, .. } if max_buffered < max_batch_body => {
            Err(InputError(format!(
                "--max-buffered ({max_buffered} bytes) must be at least --max-batch-body ({max_batch_body} bytes): a \
             batch that may be sent must fit in the memory for bodies"
            )))
        }
        Command::Serve {
            rules_dir,
            directory,
            listen,
            watch,
            admin_token_file,
            json_logs,
            max_body,
            max_batch_body,
            max_buffered,
            timeout,
            concurrency,
            data,
            database,
            sinks,
            lease,
        } => triage_cli::serve::serve(triage_cli::serve::ServeArgs {
            sinks,
            lease: std::time::Duration::from_secs(lease),
            rules_dir,
            directory,
            listen,
            watch,
            admin_token_file,
            json_logs,
            store: match (data, database) {
                (Some(dir), _) => Some(triage_cli::serve::StoreAt::Dir(dir)),
                (None, Some(url)) => Some(triage_cli::serve::StoreAt::Url(url)),
                (None, None) => None,
            },
            limits: triage_http::Limits {
                body_bytes: usize::try_from(max_body).unwrap_or(usize::MAX),
                batch_body_bytes: usize::try_from(max_batch_body).unwrap_or(usize::MAX),
                timeout: std::time::Duration::from_secs(timeout),
                concurrency: usize::try_from(concurrency).unwrap_or(usize::MAX),
                buffered_bytes: usize::try_from(max_buffered).unwrap_or(usize::MAX),
                ..triage_http::Limits::default()
            },
        }),
    };
    let code = match result {
        Ok(exit) => exit,
        Err(e) => {
            eprintln!("error: {e}");
            Exit::Input
        }
    };
    ExitCode::from(code as u8)
}

fn out(text: &str) -> Result<(), InputError> {
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
        .map_err(|e| InputError(format!("cannot write output: {e}")))
}

/// `check`, and `lint` (which fails on warnings too).
fn check(dir: &Path, format: Format, strict: bool) -> Result<Exit, InputError> {
    let mut set = load(dir)?;
    let found = lint_findings(&set);
    set.diagnostics.extend(found);
    // The rules against the default directory: teams, skills, calendars.
    if let Some(rules) = &set.rules {
        let file = dir.join("directory.yaml").display().to_string();
        let found = triage_core::check_directory(rules, &set.directory, &file);
        set.diagnostics.extend(found);
    }
    let errors = set.diagnostics.iter().filter(|d| d.severity == Severity::Error).count();
    let warnings = set.diagnostics.len() - errors;
    match format {
        Format::Json => {
            let json = serde_json::to_string_pretty(&set.diagnostics).map_err(|e| InputError(e.to_string()))?;
            out(&format!("{json}\n"))?;
        }
        Format::Human => {
            let mut text = String::new();
            for d in &set.diagnostics {
                text.push_str(&render_diagnostic(d, &set.sources));
                text.push_str("\n\n");
            }
            match &set.rules {
                Some(rules) => text.push_str(&format!(
                    "ok: {} rules in {} files, {warnings} warning(s), version {} (time zones: IANA tzdb {})\n",
                    rules.rule_count(),
                    rules.files().count(),
                    rules.version(),
                    rules.tzdb_version()
                )),
                None => text.push_str(&format!("{errors} error(s), {warnings} warning(s): the rule set is refused\n")),
            }
            out(&text)?;
        }
    }
    Ok(if errors > 0 || (strict && warnings > 0) { Exit::Failed } else { Exit::Ok })
}

/// What `test --coverage` was asked for.
struct CoverageArgs {
    threshold: Option<f64>,
    json: bool,
}

/// A percentage from 0 to 100.
fn percent(text: &str) -> Result<f64, String> {
    match text.trim().trim_end_matches('%').parse::<f64>() {
        Ok(x) if (0.0..=100.0).contains(&x) => Ok(x),
        _ => Err(format!("`{text}` is not a percentage from 0 to 100")),
    }
}

fn test(dir: &Path, filter: Option<&str>, verbose: bool, coverage: Option<CoverageArgs>) -> Result<Exit, InputError> {
    match run_tests(dir, filter)? {
        Err(rendered) => {
            out(&format!("{rendered}\n\nthe rule set does not compile; no test was run\n"))?;
            Ok(Exit::Failed)
        }
        Ok(report) => {
            // Running nothing is a failure: a misnamed `test/` folder or a
            // mistyped filter must not pass a CI gate.
            let nothing = report.outcomes.is_empty() && report.problems.is_empty();
            if nothing {
                let why = match filter {
                    Some(f) => format!("no test name contains `{f}`"),
                    None => "no tests found".to_string(),
                };
                out(&format!("{why}: looked in {}/**/tests/*.test.yaml\n", dir.display()))?;
            }
            let mut exit = if report.failed() > 0 || nothing { Exit::Failed } else { Exit::Ok };
            match (&coverage, &report.coverage) {
                (Some(args), Some(cov)) => {
                    if args.json {
                        // The test summary goes to standard error so the
                        // JSON on standard output stays parseable.
                        eprint!("{}", report.render(verbose));
                        let json = serde_json::to_string_pretty(cov).map_err(|e| InputError(e.to_string()))?;
                        out(&format!("{json}\n"))?;
                    } else {
                        out(&report.render(verbose))?;
                        out(&format!("\n{}", cov.render()))?;
                    }
                    if let Some(min) = args.threshold
                        && cov.percent < min
                    {
                        eprintln!("coverage {:.1} % is below the threshold of {min} %", cov.percent);
                        exit = Exit::Failed;
                    }
                }
                _ => out(&report.render(verbose))?,
            }
            Ok(exit)
        }
    }
}

/// A file's text, or standard input for `-`.
fn read_input(arg: &str) -> Result<String, InputError> {
    let bytes = read_bytes(arg, triage_cli::MAX_FILE_BYTES)?;
    String::from_utf8(bytes).map_err(|e| {
        let at = e.utf8_error().valid_up_to();
        let line = e.as_bytes()[..at].iter().filter(|&&b| b == b'\n').count() + 1;
        InputError(format!("{arg}:{line}: not UTF-8 text (an invalid byte at offset {at})"))
    })
}

/// A JSON Lines input read as cases.
fn case_lines(arg: &str) -> Result<Lines<Case>, InputError> {
    Ok(parse_case_lines(&read_bytes(arg, MAX_LINES_BYTES)?))
}

/// The memory of recent cases for `--index`: each case of the file
/// decided (at its `created_at`, else `now`) and observed in file order.
fn recent_from(
    rules: &triage_core::CompiledRules,
    directory: &triage_core::Directory,
    path: &Path,
    now: DateTime<Utc>,
) -> Result<triage_core::Recent, InputError> {
    let mut recent = triage_core::Recent::new(rules).keeping_texts();
    if !recent.enabled() {
        eprintln!("note: the rules have no `duplicates:` or `incidents:` section; --index changes nothing");
        return Ok(recent);
    }
    let text =
        std::fs::read_to_string(path).map_err(|e| InputError(format!("cannot read `{}`: {e}", path.display())))?;
    let mut undated = 0usize;
    for (i, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let case =
            Case::from_json(line).map_err(|e| InputError(format!("{}:{}: not a case: {e}", path.display(), i + 1)))?;
        undated += usize::from(case.created_at.is_none());
        let at = case.created_at.map_or(now, |t| t.with_timezone(&Utc));
        let mut d = triage(rules, &case, directory, at, &Options::default());
        recent.observe(
            rules,
            directory,
            &Options::default(),
            &case,
            triage_core::Recent::signature(&case).as_ref(),
            &mut d,
            at,
        );
    }
    if undated > 0 {
        eprintln!(
            "note: {undated} case(s) of `{}` have no `created_at`; they are taken as opened at --now",
            path.display()
        );
    }
    Ok(recent)
}

fn read_case(arg: &str) -> Result<Case, InputError> {
    Case::from_json(&read_input(arg)?).map_err(|e| InputError(format!("{arg}: {e}")))
}

/// The directory file given, else the rule set's own `directory.yaml`.
fn directory_or_default(set: &triage_cli::RuleSet, file: Option<&Path>) -> Result<triage_core::Directory, InputError> {
    match file {
        Some(p) => load_directory(p),
        None => Ok(set.directory.clone()),
    }
}

/// A rule directory compiled, with the directory and the instant to decide at.
struct Ready {
    rules: triage_core::CompiledRules,
    directory: triage_core::Directory,
    now: DateTime<Utc>,
}

/// Loads and compiles `dir`, reads the directory (the file given, else the
/// rule set's own) and `--now`; `None` when the rules are refused (their
/// errors are printed).
fn ready(dir: &Path, directory: Option<&Path>, now: Option<&str>) -> Result<Option<Ready>, InputError> {
    let mut set = load(dir)?;
    if compiled(&set).is_none() {
        return Ok(None);
    }
    let directory = directory_or_default(&set, directory)?;
    let now = parse_now(now)?;
    Ok(set.rules.take().map(|rules| Ready { rules, directory, now }))
}

/// The compiled rules, or the errors rendered on standard error.
fn compiled(set: &triage_cli::RuleSet) -> Option<&triage_core::CompiledRules> {
    if set.rules.is_none() {
        let mut text = String::new();
        for d in set.diagnostics.iter().filter(|d| d.is_error()) {
            text.push_str(&render_diagnostic(d, &set.sources));
            text.push_str("\n\n");
        }
        eprintln!("{text}the rule set is refused; run `triage check` for details");
    }
    set.rules.as_ref()
}

/// A pretty-printed state document that did not parse as JSON: its error,
/// which names the field, line and column.
fn one_state_document(text: &str) -> Result<serde_json::Value, String> {
    CaseState::from_json(text).map_err(|e| e.to_string())?;
    serde_json::from_str(text).map_err(|e| e.to_string())
}

fn escalate_states(
    dir: &Path,
    state: &str,
    now: Option<&str>,
    directory: Option<&Path>,
    trace: Trace,
    report: bool,
) -> Result<Exit, InputError> {
    let Some(Ready { rules, directory, now }) = ready(dir, directory, now)? else { return Ok(Exit::Failed) };
    let level = trace.level();
    let bytes = read_bytes(state, MAX_LINES_BYTES)?;
    // One JSON document, or JSON Lines with a state per line (a line that
    // is not UTF-8 is rejected alone). A text that opens with `{` or `[`
    // alone on its first line is pretty-printed JSON, never JSON Lines: its
    // syntax error is reported with line and column rather than line by line.
    let text = std::str::from_utf8(&bytes).ok();
    let single = text.and_then(|text| serde_json::from_str::<serde_json::Value>(text).ok());
    let pretty = text.filter(|t| matches!(t.lines().map(str::trim).find(|l| !l.is_empty()), Some("{" | "[")));
    let by_line = single.is_none() && pretty.is_none();
    let lines: Vec<(usize, Result<serde_json::Value, String>)> = match (single, pretty) {
        (Some(v), _) => vec![(1, Ok(v))],
        (None, Some(text)) => vec![(1, one_state_document(text))],
        (None, None) => split_lines(&bytes)
            .into_iter()
            .map(|(n, l)| (n, l.and_then(|l| serde_json::from_str(&l).map_err(|e| e.to_string()))))
            .collect(),
    };
    if lines.is_empty() {
        return Err(InputError(format!("{state}: no case state in the input (it is empty or blank)")));
    }
    let many = lines.len() > 1;
    let mut rejected = 0;
    let mut output = String::new();
    let mut records = Vec::new();
    for (line, value) in lines {
        let result = value.and_then(|v| CaseState::from_value(v).map_err(|e| e.to_string())).and_then(|s| {
            escalate(&rules, &s, &directory, now, &Options::with_trace(level)).map_err(|e| e.to_string())
        });
        match result {
            Ok(esc) => {
                records.extend(esc.actions.iter().filter_map(|a| a.record.as_deref().cloned()));
                if !report {
                    let json = if many { serde_json::to_string(&esc) } else { serde_json::to_string_pretty(&esc) };
                    output.push_str(&json.map_err(|e| InputError(e.to_string()))?);
                    output.push('\n');
                }
            }
            Err(e) if by_line => {
                rejected += 1;
                eprintln!("{state}:{line}: {e}");
            }
            Err(e) => {
                rejected += 1;
                eprintln!("{state}: {e}");
            }
        }
    }
    if report {
        output.push_str(&render_report(&records));
    }
    out(&output)?;
    Ok(if rejected > 0 { Exit::Failed } else { Exit::Ok })
}

fn assign_cases(
    dir: &Path,
    cases: &str,
    directory: Option<&Path>,
    now: Option<&str>,
    mode: Mode,
) -> Result<Exit, InputError> {
    let Some(Ready { rules, directory, now }) = ready(dir, directory, now)? else { return Ok(Exit::Failed) };
    let mut batch = Vec::new();
    let mut rejected = 0;
    for (n, case) in case_lines(cases)? {
        match case {
            Ok(c) => batch.push(c),
            Err(e) => {
                rejected += 1;
                eprintln!("{cases}:{n}: {e}");
            }
        }
    }
    let mode = match mode {
        Mode::Greedy => BatchMode::Greedy,
        Mode::Optimal => BatchMode::Optimal,
    };
    let plan = triage_core::assign_batch_plan(&rules, &batch, &directory, now, mode, &Options::default());
    let decisions = plan.decisions;
    let mut output = String::new();
    // Cases assigned through each team, and units each agent took, for
    // the summary.
    let mut cases_of_team: std::collections::BTreeMap<&str, usize> = std::collections::BTreeMap::new();
    let mut units_of_agent: std::collections::BTreeMap<&str, i64> = std::collections::BTreeMap::new();
    // Every decided case lands in exactly one count, so they add up.
    let (mut assigned, mut queued, mut review, mut deflected, mut unrouted, mut score) = (0, 0, 0, 0, 0, 0);
    for d in &decisions {
        output.push_str(&serde_json::to_string(d).map_err(|e| InputError(e.to_string()))?);
        output.push('\n');
        match d.routing() {
            triage_core::Routing::ManualReview => review += 1,
            triage_core::Routing::Assigned => assigned += 1,
            triage_core::Routing::Queued => queued += 1,
            triage_core::Routing::Deflected => deflected += 1,
            triage_core::Routing::NoTeam => unrouted += 1,
        }
        if let Some(a) = &d.assignment {
            score += a.score;
            if let Some(agent) = &a.agent {
                *cases_of_team.entry(a.team.as_str()).or_default() += 1;
                *units_of_agent.entry(agent.as_str()).or_default() += a.units;
            }
        }
    }
    out(&output)?;
    let mut summary = format!(
        "{} case(s) read: {} decided ({assigned} assigned, {queued} queued, {review} for manual review, {deflected} \
         deflected to self-service, {unrouted} with no team), {rejected} rejected; {} plan, total match score \
         {score}\n",
        decisions.len() + rejected,
        decisions.len(),
        mode.name()
    );
    if let Some(q) = &plan.quality {
        summary.push_str(&format!("  plan: {q}\n"));
    }
    // A team's load is its members' load, so an agent in two teams shows
    // the units they took in both.
    for t in directory.teams() {
        let members = directory.agents().iter().filter(|a| a.teams.iter().any(|m| *m == t.id));
        let (mut before, mut after, mut capacity) = (0i64, 0i64, 0i64);
        for a in members {
            before = before.saturating_add(a.load);
            after =
                after.saturating_add(a.load).saturating_add(units_of_agent.get(a.id.as_str()).copied().unwrap_or(0));
            capacity = capacity.saturating_add(a.capacity);
        }
        let cases = cases_of_team.get(t.id.as_str()).copied().unwrap_or(0);
        summary.push_str(&format!(
            "  {:<16} load {before} → {after} of {capacity} units ({cases} case(s) assigned through it)\n",
            t.id
        ));
    }
    eprint!("{summary}");
    Ok(if rejected > 0 { Exit::Failed } else { Exit::Ok })
}

/// The fields `diff` compares, each with the trace stage whose rule
/// decides it.
const DIFF_FIELDS: &[(&str, &str)] = &[
    ("territory", "territory"),
    ("category", "categorize"),
    ("priority", "priority"),
    ("tier", "tier"),
    ("deflect", "tier"),
    ("sla_policy", "sla"),
    ("team", "assign"),
    ("agent", "assign"),
    ("queue", "assign"),
    ("manual_review", "review"),
];

fn diff_value(d: &triage_core::Decision, field: &str) -> serde_json::Value {
    use serde_json::json;
    match field {
        "territory" => json!(d.territory),
        "category" => json!(d.category),
        "priority" => json!(d.priority),
        "tier" => json!(d.tier),
        "deflect" => json!(d.deflect.iter().map(|a| a.id.as_str()).collect::<Vec<_>>()),
        "sla_policy" => json!(d.sla.as_ref().map(|s| &s.policy)),
        "team" => json!(d.team),
        "agent" => json!(d.agent),
        "queue" => json!(d.queue),
        _ => json!(d.manual_review.as_ref().map(|m| &m.reason)),
    }
}

/// Whether a field is the same in both decisions, without building values.
fn same_field(a: &triage_core::Decision, b: &triage_core::Decision, field: &str) -> bool {
    match field {
        "territory" => a.territory == b.territory,
        "category" => a.category == b.category,
        "priority" => a.priority == b.priority,
        "tier" => a.tier == b.tier,
        "deflect" => a.deflect.len() == b.deflect.len() && a.deflect.iter().zip(&b.deflect).all(|(x, y)| x.id == y.id),
        "sla_policy" => a.sla.as_ref().map(|s| &s.policy) == b.sla.as_ref().map(|s| &s.policy),
        "team" => a.team == b.team,
        "agent" => a.agent == b.agent,
        "queue" => a.queue == b.queue,
        _ => a.manual_review.as_ref().map(|m| &m.reason) == b.manual_review.as_ref().map(|m| &m.reason),
    }
}

/// The rules of a stage that decided (matched or applied), joined.
fn deciding_rules(d: &triage_core::Decision, stage: &str) -> String {
    let ids: Vec<&str> = d
        .trace
        .iter()
        .filter(|t| {
            t.stage == stage && matches!(t.outcome, triage_core::Outcome::Matched | triage_core::Outcome::Applied)
        })
        .filter_map(|t| t.rule.as_deref())
        .collect();
    if ids.is_empty() { "-".to_string() } else { ids.join("+") }
}

fn diff(
    old_dir: &Path,
    new_dir: &Path,
    cases: &str,
    directory: Option<&Path>,
    now: Option<&str>,
    format: Format,
) -> Result<Exit, InputError> {
    let (old_set, new_set) = (load(old_dir)?, load(new_dir)?);
    let (Some(old), Some(new)) = (compiled(&old_set), compiled(&new_set)) else { return Ok(Exit::Failed) };
    let old_directory = directory_or_default(&old_set, directory)?;
    let new_directory = directory_or_default(&new_set, directory)?;
    let now = parse_now(now)?;
    let lines = case_lines(cases)?;
    let bar =
        indicatif::ProgressBar::with_draw_target(Some(lines.len() as u64), indicatif::ProgressDrawTarget::stderr());
    let options = Options::default();
    let mut output = String::new();
    let (mut changed, mut rejected) = (0usize, 0usize);
    let mut per_field: std::collections::BTreeMap<&str, usize> = std::collections::BTreeMap::new();
    let mut per_rule: std::collections::BTreeMap<(String, String), usize> = std::collections::BTreeMap::new();
    let started = std::time::Instant::now();
    for (i, (n, case)) in lines.iter().enumerate() {
        if i % 4096 == 0 {
            bar.set_position(i as u64);
        }
        let case = match case {
            Ok(c) => c,
            Err(e) => {
                rejected += 1;
                bar.suspend(|| eprintln!("{cases}:{n}: {e}"));
                continue;
            }
        };
        let a = triage(old, case, &old_directory, now, &options);
        let b = triage(new, case, &new_directory, now, &options);
        let mut changes = Vec::new();
        for (field, stage) in DIFF_FIELDS {
            if same_field(&a, &b, field) {
                continue;
            }
            let (va, vb) = (diff_value(&a, field), diff_value(&b, field));
            if va != vb {
                let (ra, rb) = (deciding_rules(&a, stage), deciding_rules(&b, stage));
                *per_field.entry(field).or_default() += 1;
                *per_rule.entry((ra.clone(), rb.clone())).or_default() += 1;
                changes
                    .push(serde_json::json!({ "field": field, "old": va, "new": vb, "old_rule": ra, "new_rule": rb }));
            }
        }
        if changes.is_empty() {
            continue;
        }
        changed += 1;
        match format {
            Format::Json => {
                let row = serde_json::json!({ "line": n, "case_id": case.id, "changes": changes });
                output.push_str(&row.to_string());
                output.push('\n');
            }
            Format::Human => {
                output.push_str(&format!("{}:{} case `{}`\n", cases, n, triage_core::explain::printable(&case.id)));
                for c in &changes {
                    output.push_str(&format!(
                        "  {:<13} {} → {}   ({} → {})\n",
                        c["field"].as_str().unwrap_or_default(),
                        c["old"],
                        c["new"],
                        c["old_rule"].as_str().unwrap_or_default(),
                        c["new_rule"].as_str().unwrap_or_default()
                    ));
                }
            }
        }
    }
    bar.finish_and_clear();
    let elapsed = started.elapsed().as_secs_f64();
    let decided = lines.len() - rejected;
    match format {
        Format::Json => {
            let summary = serde_json::json!({
                "summary": {
                    "cases": decided,
                    "changed": changed,
                    "rejected": rejected,
                    "per_field": per_field,
                    "per_rule": per_rule.iter().map(|((a, b), n)| serde_json::json!({ "old_rule": a, "new_rule": b, "cases": n })).collect::<Vec<_>>(),
                }
            });
            output.push_str(&summary.to_string());
            output.push('\n');
        }
        Format::Human => {
            output.push_str(&format!("\n{changed} of {decided} case(s) changed; {rejected} rejected\n"));
            if !per_field.is_empty() {
                output.push_str("by field:\n");
                for (f, n) in &per_field {
                    output.push_str(&format!("  {f:<13} {n}\n"));
                }
                output.push_str("by rule (old → new):\n");
                let mut rules: Vec<_> = per_rule.iter().collect();
                rules.sort_by(|x, y| y.1.cmp(x.1).then(x.0.cmp(y.0)));
                for ((a, b), n) in rules {
                    output.push_str(&format!("  {n:>7}  {a} → {b}\n"));
                }
            }
        }
    }
    out(&output)?;
    if elapsed > 0.0 {
        // Each side decides every case, so the rate of one rule set alone
        // is decisions made over the time taken.
        eprintln!(
            "{decided} case(s) decided under both rule sets in {elapsed:.2} s ({:.0} decisions/s)",
            decided as f64 * 2.0 / elapsed
        );
    }
    Ok(if rejected > 0 { Exit::Failed } else { Exit::Ok })
}

fn render_report(records: &[EscalationRecord]) -> String {
    let open = escalation_report(records);
    if open.is_empty() {
        return "no open escalations\n".to_string();
    }
    let mut text = format!(
        "{:>5}  {:<3}  {:<9}  {:<12}  {:<20}  {:<20}  {}\n",
        "risk", "sev", "status", "case", "owner", "opened", "rule"
    );
    for r in open {
        text.push_str(&format!(
            "{:>5.1}  {:<3}  {:<9}  {:<12}  {:<20}  {:<20}  {}\n",
            r.risk.score,
            r.severity,
            r.status.name(),
            triage_core::explain::printable(&r.case_id),
            triage_core::explain::printable(&r.owner),
            r.opened_at.format("%Y-%m-%dT%H:%MZ"),
            r.rule
        ));
    }
    text
}

fn move_record(arg: &str, to: &str, at: Option<&str>, note: Option<&str>) -> Result<Exit, InputError> {
    let record: EscalationRecord = serde_json::from_str(&read_input(arg)?)
        .map_err(|e| InputError(format!("{arg}: not an escalation record: {e}")))?;
    let Some(to) = RecordStatus::parse(to) else {
        return Err(InputError(format!("--to `{to}` is not a status; use active, resolved or closed")));
    };
    let at = parse_now(at)?;
    match record.transition(to, at, note) {
        Ok(next) => {
            let json = serde_json::to_string_pretty(&next).map_err(|e| InputError(e.to_string()))?;
            out(&format!("{json}\n"))?;
            Ok(Exit::Ok)
        }
        Err(e) => {
            eprintln!("error: {e}");
            Ok(Exit::Failed)
        }
    }
}

/// How `bench` was asked to run.
struct BenchArgs {
    directory: Option<PathBuf>,
    now: Option<String>,
    rounds: u32,
    trace: Trace,
    format: Format,
}

/// The value at quantile `q` (0–1) of sorted durations, in microseconds.
fn quantile_us(sorted: &[std::time::Duration], q: f64) -> f64 {
    let Some(last) = sorted.len().checked_sub(1) else { return 0.0 };
    let i = ((last as f64) * q).round() as usize;
    sorted[i.min(last)].as_secs_f64() * 1e6
}

fn bench(dir: &Path, cases: &str, how: &BenchArgs) -> Result<Exit, InputError> {
    let Some(Ready { rules, directory, now }) = ready(dir, how.directory.as_deref(), how.now.as_deref())? else {
        return Ok(Exit::Failed);
    };
    let mut corpus = Vec::new();
    let mut rejected = 0usize;
    let parsing = std::time::Instant::now();
    for (n, case) in case_lines(cases)? {
        match case {
            Ok(c) => corpus.push(c),
            Err(e) => {
                rejected += 1;
                eprintln!("{cases}:{n}: {e}");
            }
        }
    }
    let parse_us = parsing.elapsed().as_secs_f64() * 1e6 / (corpus.len() + rejected).max(1) as f64;
    if corpus.is_empty() {
        return Err(InputError(format!("`{cases}` holds no case to time")));
    }
    // Each timed decision keeps its time (16 bytes) for the percentiles.
    const MAX_TIMED: usize = 50_000_000;
    if corpus.len().saturating_mul(how.rounds as usize) > MAX_TIMED {
        return Err(InputError(format!(
            "{} case(s) × {} round(s) is more than {MAX_TIMED} timed decisions; use fewer rounds",
            corpus.len(),
            how.rounds
        )));
    }
    let options = Options::with_trace(how.trace.level());
    // One untimed pass settles caches and lazily built indexes.
    for case in &corpus {
        std::hint::black_box(triage(&rules, case, &directory, now, &options));
    }
    let mut times = Vec::with_capacity(corpus.len() * how.rounds as usize);
    let total = std::time::Instant::now();
    for _ in 0..how.rounds {
        for case in &corpus {
            let t = std::time::Instant::now();
            let d = triage(&rules, case, &directory, now, &options);
            times.push(t.elapsed());
            drop(std::hint::black_box(d));
        }
    }
    let total = total.elapsed().as_secs_f64();
    times.sort_unstable();
    let mean_us = times.iter().map(std::time::Duration::as_secs_f64).sum::<f64>() * 1e6 / times.len() as f64;
    let report = serde_json::json!({
        "cases": corpus.len(),
        "rejected": rejected,
        "rounds": how.rounds,
        "decisions": times.len(),
        "p50_us": quantile_us(&times, 0.5),
        "p90_us": quantile_us(&times, 0.9),
        "p99_us": quantile_us(&times, 0.99),
        "max_us": quantile_us(&times, 1.0),
        "mean_us": mean_us,
        "decisions_per_second": (times.len() as f64 / total).round(),
        "parse_us": parse_us,
    });
    match how.format {
        Format::Json => out(&format!("{report}\n"))?,
        Format::Human => out(&format!(
            "{} decisions ({} case(s) × {} round(s), one core)\n  p50 {:.2} µs · p90 {:.2} µs · p99 {:.2} µs · slowest {:.2} µs · mean {:.2} µs\n  {:.0} decisions/s; reading a case from JSON: {:.2} µs\n",
            times.len(),
            corpus.len(),
            how.rounds,
            quantile_us(&times, 0.5),
            quantile_us(&times, 0.9),
            quantile_us(&times, 0.99),
            quantile_us(&times, 1.0),
            mean_us,
            times.len() as f64 / total,
            parse_us,
        ))?,
    }
    Ok(if rejected > 0 { Exit::Failed } else { Exit::Ok })
}

fn parse_now(now: Option<&str>) -> Result<DateTime<Utc>, InputError> {
    match now {
        // The adapter reads the clock once and hands the instant to the core.
        None => Ok(Utc::now()),
        Some(s) => triage_core::parse_instant(s).map(|t| t.with_timezone(&Utc)).map_err(|e| {
            InputError(format!("--now `{s}` is not an RFC 3339 instant: {e}; {}", triage_core::OFFSET_HINT))
        }),
    }
}

fn decide(args: &CaseArgs, trace: Option<Trace>) -> Result<Exit, InputError> {
    let Some(Ready { rules, directory, now }) = ready(&args.rules_dir, args.directory.as_deref(), args.now.as_deref())?
    else {
        return Ok(Exit::Failed);
    };
    let case = read_case(&args.case)?;
    let level = trace.unwrap_or(Trace::Full).level();
    let mut decision = triage(&rules, &case, &directory, now, &Options::with_trace(level));
    if let Some(index) = &args.index {
        let mut recent = recent_from(&rules, &directory, index, now)?;
        let signature = triage_core::Recent::signature(&case);
        recent.observe(&rules, &directory, &Options::with_trace(level), &case, signature.as_ref(), &mut decision, now);
    }
    match trace {
        Some(_) => {
            let json = serde_json::to_string_pretty(&decision).map_err(|e| InputError(e.to_string()))?;
            out(&format!("{json}\n"))?;
        }
        None => out(&explain::render(&decision))?,
    }
    Ok(Exit::Ok)
}
