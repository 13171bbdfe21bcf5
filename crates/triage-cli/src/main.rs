//! `triage`: check, test, eval and explain support-case rules.
//!
//! This file only parses arguments and dispatches; exit codes are stated in
//! [`triage_cli::Exit`].

use chrono::{DateTime, Utc};
use clap::{Parser, Subcommand, ValueEnum};
use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use triage_cli::{Exit, InputError, load, load_directory, render_diagnostic, run_tests};
use triage_core::{Case, Options, Severity, TraceLevel, explain, triage};

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
enum Trace {
    /// The rule behind each step.
    Decisions,
    /// Also why every other rule did not match.
    Full,
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
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Check { rules_dir, format } => check(&rules_dir, format),
        Command::Test { rules_dir, filter, verbose } => test(&rules_dir, filter.as_deref(), verbose),
        Command::Eval { args, trace } => decide(&args, Some(trace)),
        Command::Explain { args } => decide(&args, None),
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

fn check(dir: &Path, format: Format) -> Result<Exit, InputError> {
    let set = load(dir)?;
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
                    "ok: {} rules in {} files, {warnings} warning(s), version {}\n",
                    rules.rule_count(),
                    rules.files().count(),
                    rules.version()
                )),
                None => text.push_str(&format!("{errors} error(s), {warnings} warning(s): the rule set is refused\n")),
            }
            out(&text)?;
        }
    }
    Ok(if errors > 0 { Exit::Failed } else { Exit::Ok })
}

fn test(dir: &Path, filter: Option<&str>, verbose: bool) -> Result<Exit, InputError> {
    match run_tests(dir, filter)? {
        Err(rendered) => {
            out(&format!("{rendered}\n\nthe rule set does not compile; no test was run\n"))?;
            Ok(Exit::Failed)
        }
        Ok(report) => {
            if report.outcomes.is_empty() && report.problems.is_empty() {
                out(&format!("no tests found in {}/**/tests/*.test.yaml\n", dir.display()))?;
            }
            out(&report.render(verbose))?;
            Ok(if report.failed() > 0 { Exit::Failed } else { Exit::Ok })
        }
    }
}

fn read_case(arg: &str) -> Result<Case, InputError> {
    let text = if arg == "-" {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .map_err(|e| InputError(format!("cannot read the case from standard input: {e}")))?;
        s
    } else {
        std::fs::read_to_string(arg).map_err(|e| InputError(format!("cannot read `{arg}`: {e}")))?
    };
    Case::from_json(&text).map_err(|e| InputError(format!("{arg}: {e}")))
}

fn parse_now(now: Option<&str>) -> Result<DateTime<Utc>, InputError> {
    match now {
        // The adapter reads the clock once and hands the instant to the core.
        None => Ok(Utc::now()),
        Some(s) => DateTime::parse_from_rfc3339(s)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|e| InputError(format!("--now `{s}` is not an RFC 3339 instant: {e}"))),
    }
}

fn decide(args: &CaseArgs, trace: Option<Trace>) -> Result<Exit, InputError> {
    let set = load(&args.rules_dir)?;
    let Some(rules) = &set.rules else {
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
    let case = read_case(&args.case)?;
    let now = parse_now(args.now.as_deref())?;
    let level = match trace {
        Some(Trace::Decisions) => TraceLevel::Decisions,
        Some(Trace::Full) | None => TraceLevel::Full,
    };
    let decision = triage(rules, &case, &directory, now, &Options::with_trace(level));
    match trace {
        Some(_) => {
            let json = serde_json::to_string_pretty(&decision).map_err(|e| InputError(e.to_string()))?;
            out(&format!("{json}\n"))?;
        }
        None => out(&explain::render(&decision))?,
    }
    Ok(Exit::Ok)
}
