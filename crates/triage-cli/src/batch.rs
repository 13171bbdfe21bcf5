//! `triage run` and `triage report`: glue over `triage-batch`.

use crate::{Exit, InputError, load, load_directory, render_diagnostic};
use std::io::IsTerminal as _;
use std::path::Path;
use std::path::PathBuf;
use triage_batch::run::Resume;
use triage_batch::{At, ColumnMap, Detail, InputFormat, InputSpec, MailOptions, OutputFormat, RunConfig, RunIdentity};

/// What `triage run` was asked for.
#[derive(Debug, Clone, clap::Args)]
pub struct RunArgs {
    /// The rule directory.
    pub rules_dir: PathBuf,
    /// Inputs: .jsonl, .json, .csv, .mbox files and .eml files or
    /// directories of them; `-` is standard input (JSON Lines).
    #[arg(required = true)]
    pub inputs: Vec<PathBuf>,
    /// Read every input as this format: jsonl, json, csv, mbox or eml.
    #[arg(long)]
    pub input_format: Option<String>,
    /// Write decisions here (default, or `-`: standard output).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Write rejects here (default: OUT.rejects.jsonl, or rejects.jsonl).
    #[arg(long)]
    pub rejects: Option<PathBuf>,
    /// jsonl or csv (default: csv when --out ends in .csv).
    #[arg(long)]
    pub format: Option<String>,
    /// lean (what was decided) or full (the whole decision and trace).
    #[arg(long, default_value = "lean")]
    pub detail: String,
    /// Decide every case at this instant (RFC 3339); default: now.
    #[arg(long, conflicts_with = "as_of_creation")]
    pub now: Option<String>,
    /// Decide each case at its own created_at (for a migration).
    #[arg(long)]
    pub as_of_creation: bool,
    /// A directory file (YAML or JSON); default: RULES_DIR/directory.yaml.
    #[arg(long)]
    pub directory: Option<PathBuf>,
    /// Deciding threads, 1 to 256; 0 (the default) is one per core.
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u16).range(0..=256))]
    pub threads: u16,
    /// Continue an interrupted run from the last complete record of --out.
    #[arg(long)]
    pub resume: bool,
    /// CSV: COLUMN=FIELD (repeat), e.g. --map "Ticket ID=id"; COLUMN= ignores it.
    #[arg(long = "map", value_name = "COLUMN=FIELD")]
    pub map: Vec<String>,
    /// CSV: a YAML file of `columns:` COLUMN: FIELD pairs.
    #[arg(long)]
    pub map_file: Option<PathBuf>,
    /// Mail: sender pattern of the support team (repeat; `*` wildcard),
    /// e.g. "*@support.example.com": their messages are agent replies.
    #[arg(long = "support-address", value_name = "PATTERN")]
    pub support_address: Vec<String>,
    /// Mail: days within which messages with the same subject and a
    /// shared participant join one thread.
    #[arg(long, default_value_t = 14)]
    pub thread_window_days: u32,
    /// Records read, decided and written together.
    #[arg(long, default_value_t = 4096, hide = true)]
    pub chunk: usize,
    /// Benchmarks only: read, parse and write each case back without
    /// deciding (the limit benches/batch measures against).
    #[arg(long, hide = true)]
    pub parse_only: bool,
}

/// Runs `triage run`: exit 0 when every record was decided, 1 when any was
/// rejected (or the rules are refused), 2 on usage and I/O errors.
///
/// # Errors
/// Usage, I/O and input errors (exit 2).
pub fn run(args: &RunArgs) -> Result<Exit, InputError> {
    let args = &*dash_out_is_stdout(args, |a| &mut a.out);
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
            triage_core::parse_instant(now)
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
    // A regular file (or one to be made) as --out; a device such as
    // /dev/null gets no rejects or run file beside it.
    let out_is_file = args.out.as_ref().is_some_and(|p| std::fs::metadata(p).map_or(true, |m| m.is_file()));
    let beside = |suffix: &str| {
        args.out.as_ref().filter(|_| out_is_file).map(|out| {
            let mut name = out.as_os_str().to_owned();
            name.push(suffix);
            PathBuf::from(name)
        })
    };
    let rejects_path = match &args.rejects {
        Some(r) if r.as_os_str() == "-" => {
            return Err(InputError(
                "--rejects needs a file: rejects are JSON Lines of their own, kept apart from the decisions and the \
                 run's messages (give --rejects FILE)"
                    .to_string(),
            ));
        }
        Some(r) => r.clone(),
        None => beside(".rejects.jsonl").unwrap_or_else(|| PathBuf::from("rejects.jsonl")),
    };
    let identity_path = beside(".run.json");
    // No file is written over another this run reads or writes, nor into
    // the rule directory.
    let mut written: Vec<(&str, &Path)> = Vec::new();
    if let Some(out) = &args.out {
        written.push(("--out", out));
    }
    written.push(("--rejects", &rejects_path));
    if let Some(run_file) = &identity_path {
        written.push(("the run file", run_file));
    }
    let mut read: Vec<(String, &Path)> =
        args.inputs.iter().map(|p| (format!("the input `{}`", p.display()), p.as_path())).collect();
    if let Some(p) = &args.map_file {
        read.push((format!("the --map-file `{}`", p.display()), p));
    }
    if let Some(p) = &args.directory {
        read.push((format!("the --directory file `{}`", p.display()), p));
    }
    check_written(&written, &read, &args.rules_dir)?;
    let mut config = RunConfig {
        inputs,
        format,
        detail,
        at,
        threads: usize::from(args.threads),
        columns,
        mail: MailOptions {
            support: args.support_address.clone(),
            window_secs: i64::from(args.thread_window_days) * 86_400,
        },
        chunk: args.chunk.max(1),
        resume: Resume::default(),
        parse_only: args.parse_only,
    };
    let directory_version = directory_version(&args.rules_dir, args.directory.as_deref());
    if args.resume {
        let (Some(out), Some(identity_path)) = (&args.out, &identity_path) else {
            return Err(InputError(
                "--resume needs --out naming a file: it continues the output file an earlier run wrote".to_string(),
            ));
        };
        if args.inputs.iter().any(|p| p.as_os_str() == "-") {
            return Err(InputError(
                "a run reading standard input cannot be resumed: what it read cannot be read again. Give the input \
                 as a file, or start again without --resume"
                    .to_string(),
            ));
        }
        let earlier: RunIdentity = std::fs::read_to_string(identity_path)
            .map_err(|e| {
                InputError(format!(
                    "cannot resume `{}`: its run file `{}` cannot be read ({e}); it is written when a run starts, so \
                     this output was not written by `triage run --out`. Start again without --resume",
                    out.display(),
                    identity_path.display()
                ))
            })
            .and_then(|t| {
                serde_json::from_str(&t).map_err(|e| {
                    InputError(format!("cannot resume: `{}` is not a run file: {e}", identity_path.display()))
                })
            })?;
        // Without --now or --as-of-creation, the run goes on as it started:
        // at its instant, or at each case's creation.
        if args.now.is_none() && !args.as_of_creation {
            if earlier.at == "creation" {
                config.at = At::Creation;
            } else if let Ok(t) = chrono::DateTime::parse_from_rfc3339(&earlier.at) {
                config.at = At::Now(t.with_timezone(&chrono::Utc));
            }
        }
        let now = RunIdentity::of(&config, rules.version(), &directory_version).map_err(|e| InputError(e.0))?;
        let differences = now.differences(&earlier);
        if !differences.is_empty() {
            return Err(InputError(format!(
                "cannot resume `{}`: it was written by another run ({}). Run it again as it was, or start again \
                 without --resume",
                out.display(),
                differences.join("; ")
            )));
        }
    }
    // Everything is checked before any file is written.
    triage_batch::check(&config).map_err(|e| InputError(e.0))?;
    if args.resume
        && let Some(out) = &args.out
    {
        config.resume = triage_batch::resume_point(out, &rejects_path, format).map_err(|e| InputError(e.0))?;
    }
    // Both outputs are opened and locked before either is cut, so a run
    // that cannot open one leaves the other as it was.
    let out_existed = args.out.as_deref().is_some_and(|p| p.exists());
    let out_file = args.out.as_deref().map(open_locked).transpose()?;
    let mut rejects = match open_locked(&rejects_path) {
        Ok(f) => f,
        Err(e) => {
            // The output this run made, still empty, goes with it.
            if let (Some(path), false) = (&args.out, out_existed) {
                drop(out_file);
                let _ = std::fs::remove_file(path);
            }
            return Err(e);
        }
    };
    let prepare = |file: &std::fs::File, path: &Path| {
        if file.metadata().is_ok_and(|m| m.is_file()) {
            if args.resume {
                use std::io::Seek as _;
                let mut f = file;
                f.seek(std::io::SeekFrom::End(0))
                    .map_err(|e| InputError(format!("cannot write `{}`: {e}", path.display())))?;
            } else {
                file.set_len(0).map_err(|e| InputError(format!("cannot write `{}`: {e}", path.display())))?;
            }
        }
        Ok::<_, InputError>(())
    };
    if let (Some(f), Some(p)) = (&out_file, &args.out) {
        prepare(f, p)?;
    }
    prepare(&rejects, &rejects_path)?;
    let mut stdout;
    let mut file;
    let out: &mut dyn std::io::Write = match out_file {
        Some(f) => {
            file = f;
            &mut file
        }
        None => {
            stdout = std::io::stdout().lock();
            &mut stdout
        }
    };
    if !args.resume
        && let Some(identity_path) = &identity_path
    {
        match RunIdentity::of(&config, rules.version(), &directory_version) {
            Ok(identity) => {
                let text = serde_json::to_string_pretty(&identity).map_err(|e| InputError(e.to_string()))?;
                std::fs::write(identity_path, text)
                    .map_err(|e| InputError(format!("cannot write `{}`: {e}", identity_path.display())))?;
            }
            // A run that cannot be resumed (it reads standard input) leaves
            // no run file, not even an earlier run's.
            Err(_) => {
                let _ = std::fs::remove_file(identity_path);
            }
        }
    }
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

/// Opens an output for writing without cutting it, and takes its lock: one
/// writer per file (`triage run` holds it for the whole run), a second one
/// stops rather than waits. Devices are not locked.
fn open_locked(path: &Path) -> Result<std::fs::File, InputError> {
    let file = std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(false)
        .open(path)
        .map_err(|e| InputError(format!("cannot write `{}`: {e}", path.display())))?;
    if file.metadata().is_ok_and(|m| m.is_file()) {
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(InputError(format!(
                    "another run is writing `{}`; wait for it or write elsewhere",
                    path.display()
                )));
            }
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(InputError(format!("cannot lock `{}`: {e}", path.display())));
            }
        }
    }
    Ok(file)
}

/// Refuses outputs that name one another, a file the run reads, or a place
/// inside the rule directory (where the next load would read them as
/// rules).
fn check_written(written: &[(&str, &Path)], read: &[(String, &Path)], rules_dir: &Path) -> Result<(), InputError> {
    let rules_files = files_under(rules_dir);
    let rules_dir = std::fs::canonicalize(rules_dir).ok();
    for (i, (what, path)) in written.iter().enumerate() {
        for (other, other_path) in read {
            if same_file(path, other_path) {
                return Err(InputError(format!(
                    "{what} `{}` is {other}: writing it would destroy it; write elsewhere",
                    path.display()
                )));
            }
        }
        for (other, other_path) in &written[..i] {
            if same_file(path, other_path) {
                return Err(InputError(format!("{other} and {what} name the same file `{}`", path.display())));
            }
        }
        let inside = |place: Option<PathBuf>| rules_dir.as_ref().zip(place).is_some_and(|(d, p)| p.starts_with(d));
        // The place the path names, and where a link there leads.
        if inside(place_of(path)) || inside(link_target(path)) || rules_files.iter().any(|f| same_file(path, f)) {
            return Err(InputError(format!(
                "{what} `{}` is (or leads) inside the rule directory `{}`: the next load would read it as \
                 rules (or it would overwrite one); write elsewhere",
                path.display(),
                rules_dir.as_deref().unwrap_or(Path::new("?")).display()
            )));
        }
    }
    Ok(())
}

/// Where a symbolic link at `path` leads (followed to its end, the last
/// target need not exist); `None` when `path` is not a link.
fn link_target(path: &Path) -> Option<PathBuf> {
    let mut at = path.to_path_buf();
    let mut followed = false;
    for _ in 0..40 {
        // The end: a file, a folder, or nothing yet.
        if !std::fs::symlink_metadata(&at).is_ok_and(|m| m.file_type().is_symlink()) {
            break;
        }
        let to = std::fs::read_link(&at).ok()?;
        at = match at.parent() {
            Some(dir) if to.is_relative() => dir.join(to),
            _ => to,
        };
        followed = true;
    }
    followed.then(|| place_of(&at)).flatten()
}

/// Every file under a folder (at most 10,000, four levels down): the rule
/// files, their tests and cases.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![(dir.to_path_buf(), 0)];
    while let Some((d, depth)) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else { continue };
        for e in entries.flatten() {
            let p = e.path();
            match e.file_type() {
                Ok(t) if t.is_dir() && depth < 4 => stack.push((p, depth + 1)),
                Ok(t) if t.is_file() && out.len() < 10_000 => out.push(p),
                _ => {}
            }
        }
    }
    out
}

/// `args` with `--out -` taken as no `--out`: standard output, as an input
/// of `-` is standard input.
fn dash_out_is_stdout<A: Clone>(args: &A, out: fn(&mut A) -> &mut Option<PathBuf>) -> std::borrow::Cow<'_, A> {
    let mut copy = args.clone();
    let slot = out(&mut copy);
    if slot.as_ref().is_some_and(|p| p.as_os_str() == "-") {
        *slot = None;
        std::borrow::Cow::Owned(copy)
    } else {
        std::borrow::Cow::Borrowed(args)
    }
}

/// The run file `triage run --out PATH` writes beside PATH.
fn run_file_of(out: &Path) -> Option<PathBuf> {
    if out.as_os_str() == "-" {
        return None;
    }
    let mut name = out.as_os_str().to_owned();
    name.push(".run.json");
    Some(PathBuf::from(name))
}

/// Where a path is once its folder is resolved (the file need not exist).
fn place_of(p: &Path) -> Option<PathBuf> {
    if p.as_os_str() == "-" || std::fs::metadata(p).is_ok_and(|m| !(m.is_file() || m.is_dir())) {
        return None;
    }
    let parent = p.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::canonicalize(parent).ok().map(|d| d.join(p.file_name().unwrap_or_default()))
}

/// Whether two paths name one file: the same file when both exist, else
/// the same place once their folders are resolved. Devices (`/dev/null`)
/// are never "the same" as anything.
fn same_file(a: &Path, b: &Path) -> bool {
    if a.as_os_str() == "-" || b.as_os_str() == "-" {
        return false;
    }
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(x), Ok(y)) => {
            if !(x.is_file() || x.is_dir()) || !(y.is_file() || y.is_dir()) {
                return false;
            }
            #[cfg(unix)]
            {
                use std::os::unix::fs::MetadataExt as _;
                x.dev() == y.dev() && x.ino() == y.ino()
            }
            #[cfg(not(unix))]
            {
                std::fs::canonicalize(a).ok() == std::fs::canonicalize(b).ok()
            }
        }
        _ => place_of(a).is_some() && place_of(a) == place_of(b),
    }
}

/// The content version of the directory a run decides with.
fn directory_version(rules_dir: &Path, file: Option<&Path>) -> String {
    let path = file.map_or_else(|| rules_dir.join("directory.yaml"), Path::to_path_buf);
    let text = std::fs::read_to_string(path).unwrap_or_default();
    triage_core::content_version(&[("directory", &text)])
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
    let args = &*dash_out_is_stdout(args, |a| &mut a.out);
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
    if let Some(out) = &args.out {
        let mut read: Vec<(String, &Path)> = std::iter::once(&args.decisions)
            .chain(&args.states)
            .map(|p| (format!("the input `{}`", p.display()), p.as_path()))
            .collect();
        if let Some(p) = &args.directory {
            read.push((format!("the --directory file `{}`", p.display()), p));
        }
        for (what, path) in &read {
            if same_file(out, path) {
                return Err(InputError(format!(
                    "--out `{}` is {what}: writing it would destroy it; write elsewhere",
                    out.display()
                )));
            }
            if let Some(run_file) = run_file_of(path)
                && same_file(out, &run_file)
            {
                return Err(InputError(format!(
                    "--out `{}` is the run file of `{}`: writing it would stop that run from being resumed; write \
                     elsewhere",
                    out.display(),
                    path.display()
                )));
            }
        }
    }
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
        Some(p) => {
            use std::io::Write as _;
            let mut file = open_locked(p)?;
            let is_file = file.metadata().is_ok_and(|m| m.is_file());
            (if is_file { file.set_len(0) } else { Ok(()) })
                .and_then(|()| file.write_all(text.as_bytes()))
                .and_then(|()| file.flush())
                .map_err(|e| InputError(format!("cannot write `{}`: {e}", p.display())))?;
        }
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
    if report.repeated_case_ids > 0 {
        eprintln!(
            "note: {} decision(s) repeat a case id seen before (was an input read twice?)",
            report.repeated_case_ids
        );
    }
    Ok(if report.unreadable > 0 { Exit::Failed } else { Exit::Ok })
}
