//! The runner: read in chunks on one thread, decide each chunk in
//! parallel, write in input order; and where an interrupted run resumes.

use crate::input::{self, InputFormat, InputSpec, Item, MAX_RAW_BYTES, Payload, Position};
use crate::mail::{self, MailOptions};
use crate::output::{CSV_COLUMNS, LeanDecision, OutputFormat, Reject, Source};
use crate::{BatchError, ColumnMap};
use chrono::{DateTime, Utc};
use rayon::prelude::*;
use serde::Serialize;
use std::io::{Read, Seek, Write};
use std::path::Path;
use triage_core::{Case, CaseState, CompiledRules, Directory, Options, Recent, Related};

/// The instant cases are decided at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum At {
    /// Every case at this instant; histories are replayed up to it.
    Now(DateTime<Utc>),
    /// Each case at its own `created_at` (a case without one is rejected);
    /// a history is replayed up to its last event.
    Creation,
}

/// How much of each decision is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Detail {
    /// [`LeanDecision`]: what was decided, no trace.
    Lean,
    /// `{"record", "source", "decision", "escalation"}` with the whole
    /// decision and trace (JSON Lines only).
    Full,
}

/// Everything a run needs besides the rules, directory and files.
#[derive(Debug, Clone)]
pub struct RunConfig {
    /// The inputs, read in this order (all mail inputs are threaded
    /// together, at the place of the first).
    pub inputs: Vec<InputSpec>,
    /// How decisions are written.
    pub format: OutputFormat,
    /// How much of each.
    pub detail: Detail,
    /// When cases are decided.
    pub at: At,
    /// Threads deciding (0: one per core).
    pub threads: usize,
    /// CSV column mapping.
    pub columns: ColumnMap,
    /// How mail becomes cases.
    pub mail: MailOptions,
    /// Records per chunk (read, decided and written together).
    pub chunk: usize,
    /// Where to start: from [`resume_point`], or the default (nothing done).
    pub resume: Resume,
    /// For benchmarks: read and parse each case and write it back (with its
    /// record and source) without deciding it: the limit a run is measured
    /// against.
    pub parse_only: bool,
}

/// Counts for one input. `read = decided + rejected` (for mail, counted in
/// messages: a thread's messages are decided or rejected with it).
#[derive(Debug, Clone, Default, Serialize)]
pub struct InputCounts {
    /// The input as named.
    pub input: String,
    /// Records (lines, rows, elements, messages) read.
    pub read: u64,
    /// Of those, decided.
    pub decided: u64,
    /// Of those, in the rejects file.
    pub rejected: u64,
}

/// What a run did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Summary {
    /// Per input, in order.
    pub inputs: Vec<InputCounts>,
    /// Records of the run (a mail thread is one record).
    pub records: u64,
    /// Cases decided (one per record written to the output).
    pub decided: u64,
    /// Records rejected.
    pub rejected: u64,
    /// Records skipped because an earlier run wrote them (`--resume`).
    pub resumed_after: u64,
    /// Things worth saying once (CSV columns no field takes, …).
    pub notes: Vec<String>,
}

impl Summary {
    /// Whether every input's counts add up.
    pub fn adds_up(&self) -> bool {
        self.inputs.iter().all(|c| c.read == c.decided + c.rejected)
    }
}

/// Where a run starts: what an earlier, interrupted run already wrote.
#[derive(Debug, Clone, Default)]
pub struct Resume {
    /// Records `0..skip` are done (decided or rejected).
    pub skip: u64,
    /// Of those, the ones in the rejects file (sorted).
    pub rejected: Vec<u64>,
    /// Whether the CSV output already has its header row.
    pub header_written: bool,
}

/// A decided or rejected record, ready to write.
struct Outcome {
    /// Whether the record is rejected (its line is in `reject`, empty for
    /// a record an earlier run rejected).
    rejected: bool,
    output: Option<Written>,
    reject: Option<Vec<u8>>,
    /// Per input: how many of its records this outcome settles.
    inputs: Vec<(usize, u64)>,
}

enum Written {
    Line(Vec<u8>),
    Row(Vec<String>),
}

/// A CSV input's header and the case field each column fills.
#[derive(Debug)]
pub(crate) struct CsvColumns {
    fields: Vec<Option<String>>,
    header: Vec<String>,
}

/// Checks a run's settings and inputs before anything is written: every
/// input can be opened, every CSV header (of a file; standard input's is
/// checked when it is read) fits the column mapping. Returns notes worth
/// printing once (columns nothing takes, options an input ignores).
///
/// # Errors
/// The first problem, naming the input and a fix.
pub fn check(config: &RunConfig) -> Result<Vec<String>, BatchError> {
    if config.detail == Detail::Full && config.format == OutputFormat::Csv {
        return Err(BatchError(
            "--detail full writes the whole decision as JSON Lines and cannot be written as CSV; use --format jsonl \
             (or leave out --detail)"
                .to_string(),
        ));
    }
    let mut notes = Vec::new();
    let mut any_csv = false;
    let mut any_mail = false;
    for spec in &config.inputs {
        let stdin = spec.path.as_os_str() == "-";
        match spec.format {
            InputFormat::Csv => any_csv = true,
            InputFormat::Mbox | InputFormat::Eml => any_mail = true,
            _ => {}
        }
        if stdin {
            if spec.format.is_mail() {
                return Err(BatchError(format!(
                    "standard input cannot be read as {}; give the mail as a file or directory",
                    if spec.format == InputFormat::Mbox { "mbox" } else { ".eml" }
                )));
            }
            continue;
        }
        match spec.format {
            InputFormat::Eml => {
                if eml_files(&spec.path)?.is_empty() {
                    return Err(BatchError(format!(
                        "`{}` holds no .eml file: a directory is read as a folder of mail; give the files of other \
                         kinds (`{}/*.jsonl`) one by one",
                        spec.name, spec.name
                    )));
                }
            }
            InputFormat::Csv if !is_pipe(&spec.path) => {
                let mut reader = csv_reader(input::open(spec)?, &spec.name)?;
                let header = csv_header(&mut reader, &spec.name)?;
                let (_, unused) = config.columns.resolve(&header, &spec.name)?;
                if !unused.is_empty() {
                    notes.push(format!(
                        "{}: column(s) {} fill no case field and were ignored (map them with --map COLUMN=FIELD)",
                        spec.name,
                        unused.iter().map(|c| format!("`{c}`")).collect::<Vec<_>>().join(", ")
                    ));
                }
            }
            // A pipe is read once: opening it here would take what the
            // reader needs (or wait for a writer that never comes back).
            _ if is_pipe(&spec.path) => {}
            _ => {
                input::open(spec)?;
            }
        }
    }
    if !any_csv && !config.columns.columns.is_empty() {
        notes.push("--map and --map-file apply to CSV inputs only; no input is CSV".to_string());
    }
    if any_mail && config.mail.support.is_empty() {
        notes.push(
            "no --support-address: every message counts as the customer's, so agents' replies do not stop the SLA \
             clocks; name the support team's senders, e.g. --support-address '*@support.example.com'"
                .to_string(),
        );
    }
    Ok(notes)
}

/// Whether a path is a pipe (read once, so its header is checked as it is read).
fn is_pipe(path: &Path) -> bool {
    #[cfg(unix)]
    {
        std::fs::metadata(path).is_ok_and(|m| std::os::unix::fs::FileTypeExt::is_fifo(&m.file_type()))
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        false
    }
}

/// A mail record waiting for its place: its order key, payload, input and
/// position.
type MailEntry = ((usize, u64, String), Payload, usize, Position);

/// What deciding needs, shared by the threads.
struct Ctx<'a> {
    rules: &'a CompiledRules,
    directory: &'a Directory,
    config: &'a RunConfig,
    options: Options,
}

/// Decides every record of the inputs and writes decisions to `out` and
/// rejects (JSON Lines) to `rejects`, in input order. `progress` is called
/// after each chunk with the records done so far.
///
/// # Errors
/// An input that cannot be opened, a CSV header the mapping does not fit,
/// or output that cannot be written. Records that cannot be read or
/// decided are not errors: they are rejected and counted.
pub fn run(
    rules: &CompiledRules,
    directory: &Directory,
    config: &RunConfig,
    out: &mut dyn Write,
    rejects: &mut dyn Write,
    progress: &mut dyn FnMut(u64),
) -> Result<Summary, BatchError> {
    let notes = check(config)?;
    let mut summary = Summary {
        inputs: config.inputs.iter().map(|s| InputCounts { input: s.name.clone(), ..InputCounts::default() }).collect(),
        resumed_after: config.resume.skip,
        notes,
        ..Summary::default()
    };
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(config.threads)
        .thread_name(|i| format!("triage-run-{i}"))
        .build()
        .map_err(|e| BatchError(format!("cannot start the deciding threads: {e}")))?;
    // Lean lines and CSV rows show no trace: it is not written at all.
    let options = match config.detail {
        Detail::Full => Options::default(),
        Detail::Lean => Options::with_trace(triage_core::TraceLevel::Off),
    };
    let ctx = Ctx { rules, directory, config, options };
    let csv_rows = |rows: &[Vec<String>]| -> Result<Vec<u8>, BatchError> {
        let mut w = csv::WriterBuilder::new().has_headers(false).from_writer(Vec::new());
        for r in rows {
            w.write_record(r).map_err(|e| BatchError(format!("cannot write the output: {e}")))?;
        }
        w.into_inner().map_err(|e| BatchError(format!("cannot write the output: {e}")))
    };
    if config.format == OutputFormat::Csv && !config.resume.header_written {
        let header: Vec<String> = CSV_COLUMNS.iter().map(|c| (*c).to_string()).collect();
        let bytes = csv_rows(&[header])?;
        out.write_all(&bytes).and_then(|()| out.flush()).map_err(|e| BatchError::io("cannot write the output", &e))?;
    }
    let (tx, rx) = std::sync::mpsc::sync_channel::<Result<Vec<Item>, BatchError>>(2);
    // Three stages at once: this thread writes chunk k while the pool
    // decides chunk k + 1 and the reader reads chunk k + 2.
    let (decided_tx, decided_rx) = std::sync::mpsc::sync_channel::<Result<Vec<Outcome>, BatchError>>(2);
    std::thread::scope(|scope| -> Result<(), BatchError> {
        let (pool, ctx) = (&pool, &ctx);
        scope.spawn(move || read_all(config, pool, &tx));
        scope.spawn(move || {
            // Duplicates and incidents: one memory for the run, in input order.
            let mut recent = Recent::new(rules);
            let enabled = recent.enabled() && !config.parse_only;
            for chunk in rx {
                let outcomes = chunk.map(|chunk| {
                    pool.install(|| settle_chunk(ctx, &chunk, if enabled { Some(&mut recent) } else { None }))
                });
                if decided_tx.send(outcomes).is_err() {
                    return;
                }
            }
        });
        let mut done = 0u64;
        for outcomes in decided_rx {
            let outcomes = outcomes?;
            let mut reject_bytes = Vec::new();
            // The chunk's lines in one buffer of their size, not one grown
            // by doubling (which copied the chunk about twice more).
            let size = outcomes.iter().map(|o| if let Some(Written::Line(l)) = &o.output { l.len() } else { 0 }).sum();
            let mut out_bytes = Vec::with_capacity(size);
            let mut rows = Vec::new();
            for o in outcomes {
                summary.records += 1;
                let rejected = o.rejected;
                if rejected {
                    summary.rejected += 1;
                } else {
                    summary.decided += 1;
                }
                for (input, n) in &o.inputs {
                    let c = &mut summary.inputs[*input];
                    c.read += n;
                    if rejected {
                        c.rejected += n;
                    } else {
                        c.decided += n;
                    }
                }
                if let Some(r) = o.reject {
                    reject_bytes.extend_from_slice(&r);
                }
                match o.output {
                    Some(Written::Line(l)) => {
                        out_bytes.extend_from_slice(&l);
                    }
                    Some(Written::Row(r)) => rows.push(r),
                    None => {}
                }
                done += 1;
            }
            if !rows.is_empty() {
                out_bytes.extend_from_slice(&csv_rows(&rows)?);
            }
            // Rejects first: a resumed run trusts the output, and drops
            // rejects past its last record.
            rejects
                .write_all(&reject_bytes)
                .and_then(|()| rejects.flush())
                .map_err(|e| BatchError::io("cannot write the rejects file", &e))?;
            out.write_all(&out_bytes)
                .and_then(|()| out.flush())
                .map_err(|e| BatchError::io("cannot write the output", &e))?;
            progress(done);
        }
        Ok(())
    })?;
    Ok(summary)
}

/// A CSV input's header row (a trailing `\r` of a CRLF file removed).
fn csv_header(reader: &mut csv::Reader<Taken>, name: &str) -> Result<Vec<String>, BatchError> {
    let header = reader.byte_headers().map_err(|e| BatchError(format!("{name}: cannot read the header row: {e}")))?;
    let header: Vec<String> = header.iter().map(|h| String::from_utf8_lossy(h).trim().to_string()).collect();
    if header.iter().all(String::is_empty) {
        return Err(BatchError(format!(
            "{name}: no header row (the file is empty); a CSV input starts with its column names"
        )));
    }
    Ok(header)
}

/// A CSV input as the CSV reader takes it, keeping the bytes taken and not
/// yet given back as a record: a record's own text (its quotes, its line
/// ends, the raw bytes of a reject) is read from them.
struct Taken {
    inner: Box<dyn std::io::BufRead + Send>,
    /// Bytes taken from `base` on.
    bytes: Vec<u8>,
    /// The input's byte offset of `bytes[0]`.
    base: u64,
    /// Line ends before `base`.
    lines: u64,
    /// Whether the byte before `base` is a `\r` (which ends a line unless
    /// a `\n` follows).
    cr: bool,
    /// The field separator.
    delimiter: u8,
}

/// Whether every quoted field of a record's text closes where a field
/// ends (its closing quote followed by the separator, the line end or the
/// end). When one does not, a quote was left open and the reader took the
/// lines after it into this record.
fn quotes_close(text: &[u8], delimiter: u8) -> bool {
    let mut i = 0;
    let mut field_start = true;
    while i < text.len() {
        let b = text[i];
        if field_start && b == b'"' {
            // A quoted field: to its closing quote (`""` is a quote in it).
            i += 1;
            loop {
                match text.get(i) {
                    None => return false,
                    Some(b'"') if text.get(i + 1) == Some(&b'"') => i += 2,
                    Some(b'"') => break,
                    Some(_) => i += 1,
                }
            }
            i += 1;
            match text.get(i) {
                None => return true,
                Some(&c) if c == delimiter || c == b'\n' || c == b'\r' => {}
                Some(_) => return false,
            }
            continue;
        }
        field_start = b == delimiter || b == b'\n' || b == b'\r';
        i += 1;
    }
    true
}

impl std::io::Read for Taken {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.bytes.extend_from_slice(&buf[..n]);
        Ok(n)
    }
}

impl Taken {
    /// The bytes from offset `from` to `to` (clamped to what is held).
    fn slice(&self, from: u64, to: u64) -> &[u8] {
        let at = |o: u64| usize::try_from(o.saturating_sub(self.base)).unwrap_or(usize::MAX).min(self.bytes.len());
        &self.bytes[at(from)..at(to).max(at(from))]
    }

    /// The line (from 1) of offset `at`, where a record starts.
    fn line_of(&self, at: u64) -> u64 {
        let (n, cr) = line_ends(self.slice(self.base, at), self.cr);
        self.lines + n + u64::from(cr) + 1
    }

    /// Forgets the bytes before offset `to`.
    fn release(&mut self, to: u64) {
        let n = usize::try_from(to.saturating_sub(self.base)).unwrap_or(usize::MAX).min(self.bytes.len());
        let (ends, cr) = line_ends(&self.bytes[..n], self.cr);
        self.lines += ends;
        self.cr = cr;
        self.bytes.drain(..n);
        self.base += n as u64;
    }
}

/// Line ends in `bytes`: `\n`, `\r\n` (one) and a lone `\r`; `cr` says
/// the byte before them is a `\r`. Returns the count and whether the last
/// byte is a `\r` (a line end unless a `\n` follows).
fn line_ends(bytes: &[u8], mut cr: bool) -> (u64, bool) {
    let mut n = 0;
    for &b in bytes {
        if cr && b != b'\n' {
            n += 1;
        }
        cr = b == b'\r';
        if b == b'\n' {
            n += 1;
        }
    }
    (n, cr)
}

/// A CSV reader with the separator the header uses most. Records end at a
/// line end, whichever it is (`\n`, `\r\n` or `\r`, even mixed in one
/// file), so line numbers count the same in CRLF, LF and CR files.
fn csv_reader(mut file: Box<dyn std::io::BufRead + Send>, name: &str) -> Result<csv::Reader<Taken>, BatchError> {
    let head = file.fill_buf().map_err(|e| BatchError::io(format!("cannot read `{name}`"), &e))?;
    let first = head.split(|&b| b == b'\n' || b == b'\r').next().unwrap_or(&[]);
    let count = |sep: u8| first.iter().filter(|&&b| b == sep).count();
    let delimiter = [b',', b';', b'\t'].into_iter().max_by_key(|&s| (count(s), s == b',')).unwrap_or(b',');
    let taken = Taken { inner: file, bytes: Vec::new(), base: 0, lines: 0, cr: false, delimiter };
    Ok(csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .terminator(csv::Terminator::CRLF)
        .flexible(true)
        .from_reader(taken))
}

/// A record without the `\r` a CRLF line leaves on its last field.
fn strip_cr(record: &csv::ByteRecord) -> csv::ByteRecord {
    let n = record.len();
    match record.get(n.wrapping_sub(1)) {
        Some(last) if last.ends_with(b"\r") => {
            let mut out = csv::ByteRecord::with_capacity(record.as_slice().len(), n);
            for (i, f) in record.iter().enumerate() {
                out.push_field(if i + 1 == n { &f[..f.len() - 1] } else { f });
            }
            out.set_position(record.position().cloned());
            out
        }
        _ => record.clone(),
    }
}

/// The reader thread: every input's records, in chunks, numbered in order.
fn read_all(
    config: &RunConfig,
    pool: &rayon::ThreadPool,
    tx: &std::sync::mpsc::SyncSender<Result<Vec<Item>, BatchError>>,
) {
    let chunk_len = config.chunk.max(1);
    let mut chunk = Vec::with_capacity(chunk_len);
    let mut record = 0u64;
    let mut mail_done = false;
    // false once the receiver is gone (the run failed writing).
    let push = |chunk: &mut Vec<Item>, item: Item| -> bool {
        chunk.push(item);
        if chunk.len() >= chunk_len {
            let full = std::mem::replace(chunk, Vec::with_capacity(chunk_len));
            return tx.send(Ok(full)).is_ok();
        }
        true
    };
    for (i, spec) in config.inputs.iter().enumerate() {
        let mut emit_from = |input: usize, position: Position, payload: Payload| {
            let item = Item { record, input, position, payload };
            record += 1;
            push(&mut chunk, item)
        };
        let mut emit = |position: Position, payload: Payload| emit_from(i, position, payload);
        let result = match spec.format {
            InputFormat::Jsonl => input::open(spec).and_then(|r| input::read_jsonl(r, &mut emit, &spec.name)),
            InputFormat::Json => input::open(spec).and_then(|r| input::read_json(r, &mut emit, &spec.name)),
            InputFormat::Csv => read_csv(spec, &config.columns, &mut emit),
            InputFormat::Mbox | InputFormat::Eml if mail_done => Ok(()),
            InputFormat::Mbox | InputFormat::Eml => {
                mail_done = true;
                read_mail(config, pool, &mut emit_from)
            }
        };
        if let Err(e) = result {
            let _ = tx.send(Err(e));
            return;
        }
    }
    if !chunk.is_empty() {
        let _ = tx.send(Ok(chunk));
    }
}

fn read_csv(
    spec: &InputSpec,
    columns: &ColumnMap,
    emit: &mut dyn FnMut(Position, Payload) -> bool,
) -> Result<(), BatchError> {
    let mut reader = csv_reader(input::open(spec)?, &spec.name)?;
    let header: Vec<String> =
        csv_header(&mut reader, &spec.name)?.into_iter().map(|h| h.trim_end_matches('\r').to_string()).collect();
    let (fields, _) = columns.resolve(&header, &spec.name)?;
    let columns = std::sync::Arc::new(CsvColumns { fields, header });
    let mut row = 0u64;
    let mut record = csv::ByteRecord::new();
    loop {
        let from = reader.position().byte();
        let read = reader.read_byte_record(&mut record);
        let to = reader.position().byte();
        let taken = reader.get_ref();
        // The record's text, blank lines before it left out.
        let text = taken.slice(from, to);
        let blank = text.iter().take_while(|&&b| b == b'\n' || b == b'\r').count();
        let text = &text[blank..];
        let line = taken.line_of(from + blank as u64);
        let payload = match read {
            Ok(false) => return Ok(()),
            Ok(true) => {
                // Without the line end it ended at.
                let end = text.iter().rposition(|&b| b != b'\n' && b != b'\r').map_or(0, |i| i + 1);
                let body = &text[..end];
                if body.iter().any(|&b| b == b'\n' || b == b'\r') && !quotes_close(body, taken.delimiter) {
                    let (ends, cr) = line_ends(body, false);
                    let last = line + ends + u64::from(cr);
                    Payload::Unreadable {
                        reason: format!(
                            "a quote opened on line {line} is not closed where it should be, so lines {line} to \
                             {last} were read as one row; close the quote (a quote inside a quoted field is written \
                             twice: \"\")"
                        ),
                        raw: body[..body.len().min(input::MAX_RAW_BYTES)].to_vec(),
                    }
                } else {
                    Payload::Row(strip_cr(&record), columns.clone())
                }
            }
            Err(e) => {
                if let csv::ErrorKind::Io(io) = e.kind() {
                    return Err(BatchError::io(format!("cannot read `{}`", spec.name), io));
                }
                Payload::Unreadable {
                    reason: format!("not a CSV row: {e}"),
                    raw: text[..text.len().min(input::MAX_RAW_BYTES)].to_vec(),
                }
            }
        };
        reader.get_mut().release(to);
        row += 1;
        if !emit(Position::Row { row, line }, payload) {
            return Ok(());
        }
    }
}

/// Every mail input, threaded together: threads and unreadable messages in
/// the order of their first message's place in the inputs.
fn read_mail(
    config: &RunConfig,
    pool: &rayon::ThreadPool,
    emit: &mut dyn FnMut(usize, Position, Payload) -> bool,
) -> Result<(), BatchError> {
    let mut raws = Vec::new();
    // Threads and unreadable messages; entries named `.eml` that are no
    // file to read are rejects too, not lost.
    let mut entries: Vec<MailEntry> = Vec::new();
    for (i, spec) in config.inputs.iter().enumerate() {
        match spec.format {
            InputFormat::Mbox => {
                let reader = input::open(spec)?;
                mail::split_mbox(reader, |message, offset, bytes| {
                    raws.push(mail::Raw {
                        input: i,
                        input_name: spec.name.clone(),
                        position: Position::Message { message, offset },
                        bytes,
                    });
                })
                .map_err(|e| BatchError::io(format!("cannot read `{}`", spec.name), &e))?;
            }
            InputFormat::Eml => {
                for (file, path, odd) in eml_files(&spec.path)? {
                    if let Some(reason) = odd {
                        let position = Position::File { file };
                        entries.push((
                            order_key(i, &position),
                            Payload::Unreadable { reason, raw: Vec::new() },
                            i,
                            position,
                        ));
                        continue;
                    }
                    let bytes = std::fs::read(&path)
                        .map_err(|e| BatchError::io(format!("cannot read `{}`", path.display()), &e))?;
                    raws.push(mail::Raw {
                        input: i,
                        input_name: spec.name.clone(),
                        position: Position::File { file },
                        bytes,
                    });
                }
            }
            _ => {}
        }
    }
    let parsed: Vec<Result<mail::Message, mail::Unreadable>> =
        pool.install(|| raws.into_par_iter().map(|raw| mail::parse(raw, &config.mail)).collect());
    let mut messages = Vec::new();
    for p in parsed {
        match p {
            Ok(m) => messages.push(m),
            Err(u) => {
                let key = order_key(u.input, &u.position);
                entries.push((key, Payload::Unreadable { reason: u.reason, raw: u.raw }, u.input, u.position));
            }
        }
    }
    for t in mail::thread(messages, &config.mail) {
        let Some(first) = t.messages.iter().min_by_key(|m| order_key(m.input, &m.position)) else { continue };
        let (key, input, position) = (order_key(first.input, &first.position), first.input, first.position.clone());
        entries.push((key, Payload::Thread(Box::new(t)), input, position));
    }
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    for (_, payload, input, position) in entries {
        if !emit(input, position, payload) {
            break;
        }
    }
    Ok(())
}

fn order_key(input: usize, p: &Position) -> (usize, u64, String) {
    let (at, file) = mail::position_key(p);
    (input, at, file)
}

/// An `.eml` entry: its name relative to the input, its path, and why it
/// cannot be read when it is no regular file.
type EmlFile = (String, std::path::PathBuf, Option<String>);

/// The `.eml` files of an input: the file itself, or a directory's, in
/// name order (sub-directories included, hidden entries skipped), each
/// with its name relative to the input, and why it cannot be read when an
/// entry named `.eml` is no regular file (a pipe, a device, a link to
/// nothing).
fn eml_files(root: &Path) -> Result<Vec<EmlFile>, BatchError> {
    if root.is_file() {
        return Ok(vec![(root.display().to_string(), root.to_path_buf(), None)]);
    }
    let mut found = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    // A folder reached twice (a symbolic link to itself or to a parent) is
    // read once.
    let mut seen = std::collections::BTreeSet::new();
    while let Some(dir) = stack.pop() {
        if let Ok(real) = std::fs::canonicalize(&dir)
            && !seen.insert(real)
        {
            continue;
        }
        let entries =
            std::fs::read_dir(&dir).map_err(|e| BatchError::io(format!("cannot read `{}`", dir.display()), &e))?;
        for entry in entries {
            let entry = entry.map_err(|e| BatchError::io(format!("cannot read `{}`", dir.display()), &e))?;
            let path = entry.path();
            let hidden = entry.file_name().to_string_lossy().starts_with('.');
            if hidden {
                continue;
            }
            // Followed through links: folders are walked, regular files
            // read; a pipe, a device or a broken link named `.eml` is no
            // mail, and is rejected as such.
            let eml = path.extension().is_some_and(|e| e.eq_ignore_ascii_case("eml"));
            let odd = match std::fs::metadata(&path) {
                Ok(meta) if meta.is_dir() => {
                    stack.push(path);
                    continue;
                }
                _ if !eml => continue,
                Ok(meta) if meta.is_file() => None,
                Ok(_) => Some("not a regular file (a pipe or a device): no message was read from it".to_string()),
                Err(e) => Some(format!("cannot be read ({e}); a link to nothing, or a file removed during the run")),
            };
            let name = path.strip_prefix(root).unwrap_or(&path).display().to_string();
            found.push((name, path, odd));
        }
    }
    found.sort();
    Ok(found)
}

/// A record decided, not yet written: what [`Recent::observe`] may still
/// change before [`finish`] writes it.
struct Decided<'i> {
    case: Case,
    decision: triage_core::Decision,
    /// Boxed: most records have no history, and a decided record is moved
    /// a few times on its way to the writer.
    escalation: Option<Box<triage_core::Escalation>>,
    /// Events replayed.
    count: usize,
    at: DateTime<Utc>,
    created_at: Option<String>,
    thread: Option<&'i [mail::Message]>,
    signature: Option<triage_core::similarity::Fingerprint>,
    /// The history replayed, what it said was found (a case state's
    /// `related`) and the instant of the replay: replayed again when the
    /// run's own window finds something else.
    history: Option<(Vec<triage_core::Event>, Related, DateTime<Utc>)>,
}

/// A record settled as far as it can be on its own.
enum Settled<'i> {
    /// Rejected, or counted (done by the run being resumed).
    Done(Outcome),
    /// Decided; written by [`finish`].
    Decided(Box<Decided<'i>>, Vec<(usize, u64)>),
}

/// The inputs a record counts for: one record of its input, or each
/// message of a thread in its own input.
fn inputs_of(item: &Item) -> Vec<(usize, u64)> {
    match &item.payload {
        Payload::Thread(t) => {
            let mut per: Vec<(usize, u64)> = Vec::new();
            for m in &t.messages {
                match per.iter_mut().find(|(i, _)| *i == m.input) {
                    Some((_, n)) => *n += 1,
                    None => per.push((m.input, 1)),
                }
            }
            per
        }
        _ => vec![(item.input, 1)],
    }
}

/// The record's own bytes, for its reject.
fn raw_of(item: &Item) -> (Vec<u8>, Option<&[mail::Message]>) {
    match &item.payload {
        Payload::Unreadable { raw, .. } => (raw.clone(), None),
        Payload::Json(bytes) => (bytes.to_vec(), None),
        Payload::Row(row, _) => (csv_text(row), None),
        Payload::Thread(t) => (Vec::new(), Some(&t.messages)),
    }
}

/// A reject line for a record.
fn reject_outcome(ctx: &Ctx, item: &Item, reason: &str, inputs: Vec<(usize, u64)>) -> Outcome {
    let name = &ctx.config.inputs[item.input].name;
    let source = Source { input: name, position: &item.position };
    let (raw, thread) = raw_of(item);
    let mut r = Reject::new(item.record, source, reason, &raw);
    r.thread = thread;
    let mut line = serde_json::to_vec(&r).unwrap_or_default();
    line.push(b'\n');
    Outcome { rejected: true, output: None, reject: Some(line), inputs }
}

/// Decides and writes one chunk, in order. With `recent` (the rules'
/// duplicates and incidents), records are decided in parallel, compared
/// with the ones before them one by one in input order, then written in
/// parallel; records an earlier run wrote are decided and compared too (so
/// a resumed run compares as the uninterrupted one did) but not written.
fn settle_chunk(ctx: &Ctx, chunk: &[Item], recent: Option<&mut Recent>) -> Vec<Outcome> {
    let skip = ctx.config.resume.skip;
    let counted = |item: &Item| {
        let rejected = ctx.config.resume.rejected.binary_search(&item.record).is_ok();
        Outcome { rejected, output: None, reject: None, inputs: inputs_of(item) }
    };
    let Some(recent) = recent else {
        return chunk
            .par_iter()
            .map(|item| {
                if item.record < skip {
                    // Written by the run being resumed: counted, not decided again.
                    return counted(item);
                }
                match settle(ctx, item, false) {
                    Settled::Done(o) => o,
                    Settled::Decided(d, inputs) => finish(ctx, item, &d, inputs),
                }
            })
            .collect();
    };
    let mut settled: Vec<Settled> = chunk.par_iter().map(|item| settle(ctx, item, true)).collect();
    for s in &mut settled {
        if let Settled::Decided(d, _) = s {
            let d = &mut **d;
            let found = recent.observe(
                ctx.rules,
                ctx.directory,
                &ctx.options,
                &d.case,
                d.signature.as_ref(),
                &mut d.decision,
                d.at,
            );
            // What the run found is what the history's escalation reads.
            if let Some((_, related, _)) = &mut d.history
                && !found.is_empty()
                && found != *related
            {
                *related = found;
                d.escalation = None;
            }
        }
    }
    chunk
        .par_iter()
        .zip(settled)
        .map(|(item, s)| match s {
            _ if item.record < skip => counted(item),
            Settled::Done(o) => o,
            Settled::Decided(mut d, inputs) => {
                if let Err(e) = replay_again(ctx, &mut d) {
                    return reject_outcome(ctx, item, &e, inputs);
                }
                finish(ctx, item, &d, inputs)
            }
        })
        .collect()
}

/// Replays a history again with what the run's window found, when that
/// differs from what its case state said (see [`decide`]).
fn replay_again(ctx: &Ctx, d: &mut Decided<'_>) -> Result<(), String> {
    let Some((events, related, at)) = &d.history else { return Ok(()) };
    if d.escalation.is_some() {
        return Ok(());
    }
    let state = CaseState { case: d.case.clone(), events: events.clone(), related: related.clone() };
    let esc = triage_core::escalate(ctx.rules, &state, ctx.directory, *at, &ctx.options)
        .map_err(|e| format!("the history cannot be replayed: {e}"))?;
    d.escalation = Some(Box::new(esc));
    Ok(())
}

/// A case's history as read: its events and what its case state says was
/// found.
type History = (Vec<triage_core::Event>, Related);

/// A record read: its case, history (a case state or a thread) and mail.
type ReadRecord<'i> = (Case, Option<History>, Option<&'i [mail::Message]>);

/// Reads and decides one record (and replays its history), or rejects it.
/// `sign`: also take the case's text signature.
fn settle<'i>(ctx: &Ctx, item: &'i Item, sign: bool) -> Settled<'i> {
    let inputs = inputs_of(item);
    let rejected = |reason: &str| Settled::Done(reject_outcome(ctx, item, reason, inputs.clone()));
    let read: Result<ReadRecord<'i>, String> = match &item.payload {
        Payload::Unreadable { reason, .. } => Err(reason.clone()),
        Payload::Json(bytes) => read_json_record(bytes).map(|(c, e)| (c, e, None)),
        Payload::Row(row, columns) => read_row(row, columns).map(|c| (c, None, None)),
        Payload::Thread(t) => {
            Ok((t.state.case.clone(), Some((t.state.events.clone(), t.state.related.clone())), Some(&t.messages[..])))
        }
    };
    let (case, events, thread) = match read {
        Ok(r) => r,
        Err(e) => return rejected(&e),
    };
    if case.id.trim().is_empty() {
        // Cases are told apart by id: in the duplicate and incident windows,
        // in the output, and by whoever reads it.
        return rejected("the case's `id` is empty; give every case its own id");
    }
    if ctx.config.parse_only {
        return Settled::Done(echo(ctx, item, &case, events.as_ref().map(|(e, _)| &e[..]), inputs));
    }
    match decide(ctx, case, events, thread, sign) {
        Ok(d) => Settled::Decided(d, inputs),
        Err(e) => rejected(&e),
    }
}

/// Benchmarks only (`--parse-only`): the case read, written back.
fn echo(
    ctx: &Ctx,
    item: &Item,
    case: &Case,
    events: Option<&[triage_core::Event]>,
    inputs: Vec<(usize, u64)>,
) -> Outcome {
    #[derive(serde::Serialize)]
    struct Echo<'a, S> {
        record: u64,
        source: &'a S,
        case: &'a Case,
        events: Option<&'a [triage_core::Event]>,
    }
    let name = &ctx.config.inputs[item.input].name;
    let source = Source { input: name, position: &item.position };
    let echo = Echo { record: item.record, source: &source, case, events };
    match serde_json::to_vec(&echo) {
        Ok(mut line) => {
            line.push(b'\n');
            Outcome { rejected: false, output: Some(Written::Line(line)), reject: None, inputs }
        }
        Err(e) => reject_outcome(ctx, item, &format!("cannot write the case: {e}"), inputs),
    }
}

/// A CSV row as a case.
fn read_row(row: &csv::ByteRecord, columns: &CsvColumns) -> Result<Case, String> {
    let CsvColumns { fields, header } = columns;
    let cells: Vec<&str> = row
        .iter()
        .map(std::str::from_utf8)
        .collect::<Result<_, _>>()
        .map_err(|e| format!("not UTF-8 text: {e}; save the export as UTF-8"))?;
    if cells.len() != header.len() {
        let mut why = format!("the row has {} field(s) where the header has {}", cells.len(), header.len());
        if cells.iter().any(|c| c.contains('\n')) {
            why.push_str(
                "; a quoted field runs over several lines: an unclosed quote takes in the rows after it, which are \
                 in this record",
            );
        }
        return Err(why);
    }
    crate::csvmap::row_to_json(fields, header, &cells).and_then(|v| Case::from_value(v).map_err(|e| e.to_string()))
}

/// A CSV row written back as CSV text, for its reject.
fn csv_text(row: &csv::ByteRecord) -> Vec<u8> {
    let mut w = csv::WriterBuilder::new().has_headers(false).from_writer(Vec::new());
    let _ = w.write_byte_record(row);
    let mut bytes = w.into_inner().unwrap_or_default();
    if bytes.last() == Some(&b'\n') {
        bytes.pop();
    }
    bytes.truncate(MAX_RAW_BYTES);
    bytes
}

/// A JSON record as a case, or a case state (`{"case", "events"}`).
fn read_json_record(bytes: &[u8]) -> Result<(Case, Option<History>), String> {
    let text = std::str::from_utf8(bytes)
        .map_err(|e| format!("not UTF-8 text (an invalid byte at column {})", e.valid_up_to() + 1))?;
    match Case::from_json(text) {
        Ok(case) => Ok((case, None)),
        Err(e) => {
            // A case state has a `case`; a case has none. A state the map
            // cannot be read as (nested too deep) still names `case` first.
            let state = serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(text)
                .map(|o| o.contains_key("case") && !o.contains_key("id"))
                .unwrap_or_else(|_| e.to_string().contains("unknown field `case`"));
            if !state {
                return Err(e.to_string());
            }
            let s = CaseState::from_json(text).map_err(|e| format!("case state: {e}"))?;
            Ok((s.case, Some((s.events, s.related))))
        }
    }
}

/// Decides a case (and replays its history).
fn decide<'i>(
    ctx: &Ctx,
    case: Case,
    history: Option<History>,
    thread: Option<&'i [mail::Message]>,
    sign: bool,
) -> Result<Box<Decided<'i>>, String> {
    let at = match ctx.config.at {
        At::Now(t) => t,
        // A history's `created` event gives the instant when the case
        // does not (the clocks start there too).
        At::Creation => match case.created_at.or_else(|| {
            let first = history.as_ref()?.0.first()?;
            (first.kind == triage_core::EventKind::Created).then_some(first.at)
        }) {
            Some(t) => t.with_timezone(&Utc),
            None => {
                return Err("the case has no `created_at` (nor a history starting with a `created` event): with \
                            --as-of-creation each case is decided at its own created_at (give it one, or decide at \
                            one instant with --now)"
                    .to_string());
            }
        },
    };
    let decision = triage_core::triage(ctx.rules, &case, ctx.directory, at, &ctx.options);
    let created_at = case.created_at.map(|t| {
        match triage_core::Rfc3339::whole_seconds(&t.naive_local(), t.offset().local_minus_utc(), false) {
            Some(text) => text.as_str().to_string(),
            None => t.to_rfc3339(),
        }
    });
    let signature = if sign { Recent::signature(&case) } else { None };
    // Boxed where it is made: a decided record is a few kilobytes, and it
    // is passed on, not copied.
    let Some((events, related)) = history else {
        return Ok(Box::new(Decided {
            case,
            decision,
            escalation: None,
            count: 0,
            at,
            created_at,
            thread,
            signature,
            history: None,
        }));
    };
    let replay_at = match ctx.config.at {
        At::Now(t) => t,
        At::Creation => events.iter().map(|e| e.at.with_timezone(&Utc)).max().map_or(at, |last| last.max(at)),
    };
    // The events replayed: those after the instant are not (the replay
    // warns `future-events`).
    let count = events.iter().filter(|e| e.at <= replay_at).count();
    let state = CaseState { case, events, related };
    let esc = triage_core::escalate(ctx.rules, &state, ctx.directory, replay_at, &ctx.options)
        .map_err(|e| format!("the history cannot be replayed: {e}"))?;
    let CaseState { case, events, related } = state;
    Ok(Box::new(Decided {
        case,
        decision,
        escalation: Some(Box::new(esc)),
        count,
        at,
        created_at,
        thread,
        signature,
        history: Some((events, related, replay_at)),
    }))
}

/// Writes a decided record: its lean or full line, or its CSV row.
fn finish(ctx: &Ctx, item: &Item, d: &Decided<'_>, inputs: Vec<(usize, u64)>) -> Outcome {
    let name = &ctx.config.inputs[item.input].name;
    let source = Source { input: name, position: &item.position };
    match write_decided(ctx, item, source, d) {
        Ok(w) => Outcome { rejected: false, output: Some(w), reject: None, inputs },
        Err(e) => reject_outcome(ctx, item, &e, inputs),
    }
}

fn write_decided(ctx: &Ctx, item: &Item, source: Source, d: &Decided<'_>) -> Result<Written, String> {
    let Decided { decision, escalation, count, at, created_at, thread, .. } = d;
    let (at, thread) = (*at, *thread);
    let replay = escalation.as_deref().map(|e| (e, *count));
    let lean = || LeanDecision::new(item.record, source.clone(), decision, created_at.clone(), at, replay, thread);
    let written = match (ctx.config.format, ctx.config.detail) {
        (OutputFormat::Csv, _) => Written::Row(lean().csv_row()),
        (OutputFormat::Jsonl, Detail::Lean) => {
            // A lean line is about 550 bytes with the example rules: one
            // allocation a record, not the four of a vector grown from
            // serde_json's 128.
            let mut line = Vec::with_capacity(1024);
            lean().write_json(&mut line).map_err(|e| format!("cannot write the decision: {e}"))?;
            line.push(b'\n');
            Written::Line(line)
        }
        (OutputFormat::Jsonl, Detail::Full) => {
            // `record` leads the line, as in lean output: --resume reads it.
            #[derive(serde::Serialize)]
            struct Full<'a, S, D, E, T> {
                record: u64,
                source: &'a S,
                decision: &'a D,
                escalation: &'a E,
                thread: &'a T,
            }
            let full = Full { record: item.record, source: &source, decision, escalation, thread: &thread };
            let mut line = serde_json::to_vec(&full).map_err(|e| format!("cannot write the decision: {e}"))?;
            line.push(b'\n');
            Written::Line(line)
        }
    };
    Ok(written)
}

/// Where a run writing `output` (and `rejects`) resumes: checks that the
/// files are what an earlier run of this program wrote (records in order,
/// every record before the last one in exactly one of the two files), then
/// cuts the output after its last complete record and the rejects before
/// the first record after it, and says how many records are done.
///
/// # Errors
/// When the files cannot be read or cut, or were changed since they were
/// written (a line this program did not write, records out of order or
/// missing from both); nothing is cut then.
pub fn resume_point(output: &Path, rejects: &Path, format: OutputFormat) -> Result<Resume, BatchError> {
    let scan = match format {
        OutputFormat::Jsonl => jsonl_scan(output)?,
        OutputFormat::Csv => csv_scan(output)?,
    };
    let (keep_rejects, rejected) = rejects_scan(rejects, scan.next)?;
    let found = scan.decided + rejected.len() as u64;
    if found != scan.next {
        return Err(BatchError(format!(
            "cannot resume: of the {} record(s) before the last one in `{}`, {} are decisions there and {} rejects in \
             `{}`, so {} are in neither: the rejects file was changed, cut or is another run's. Start again without \
             --resume",
            scan.next,
            output.display(),
            scan.decided,
            rejected.len(),
            rejects.display(),
            scan.next.abs_diff(found)
        )));
    }
    if output.exists() {
        open_rw(output)?
            .set_len(scan.keep)
            .map_err(|e| BatchError::io(format!("cannot cut `{}`", output.display()), &e))?;
    }
    if rejects.exists() {
        open_rw(rejects)?
            .set_len(keep_rejects)
            .map_err(|e| BatchError::io(format!("cannot cut `{}`", rejects.display()), &e))?;
    }
    Ok(Resume { skip: scan.next, rejected, header_written: scan.header })
}

fn open_rw(path: &Path) -> Result<std::fs::File, BatchError> {
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .map_err(|e| BatchError::io(format!("cannot resume from `{}`", path.display()), &e))
}

/// What an interrupted output holds.
struct Scan {
    /// The record after the last complete one.
    next: u64,
    /// Complete decisions.
    decided: u64,
    /// Bytes to keep (through the last complete record).
    keep: u64,
    /// Whether a CSV header is there.
    header: bool,
}

/// The record number a line this program wrote starts with:
/// `{"record":N,`.
fn record_of(line: &[u8]) -> Option<u64> {
    let rest = line.strip_prefix(b"{\"record\":")?;
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 || rest.get(digits) != Some(&b',') {
        return None;
    }
    std::str::from_utf8(&rest[..digits]).ok()?.parse().ok()
}

fn not_ours(path: &Path, line: u64) -> BatchError {
    BatchError(format!(
        "cannot resume: line {line} of `{}` is not a record this program wrote (or is out of order); the file was \
         changed or is not a `triage run` output. Start again without --resume",
        path.display()
    ))
}

fn jsonl_scan(path: &Path) -> Result<Scan, BatchError> {
    let mut scan = Scan { next: 0, decided: 0, keep: 0, header: false };
    if !path.exists() {
        return Ok(scan);
    }
    let file =
        std::fs::File::open(path).map_err(|e| BatchError::io(format!("cannot read `{}`", path.display()), &e))?;
    let mut reader = std::io::BufReader::with_capacity(1 << 20, file);
    let mut line = Vec::new();
    let (mut at, mut n) = (0u64, 0u64);
    loop {
        line.clear();
        let got = std::io::BufRead::read_until(&mut reader, b'\n', &mut line)
            .map_err(|e| BatchError::io(format!("cannot read `{}`", path.display()), &e))?;
        if got == 0 || line.last() != Some(&b'\n') {
            return Ok(scan); // the end, or a line cut by the interruption
        }
        n += 1;
        at += got as u64;
        // A kept line is whole JSON as well as numbered in order.
        match record_of(&line) {
            Some(r) if r >= scan.next && serde_json::from_slice::<serde::de::IgnoredAny>(&line).is_ok() => {
                scan.next = r + 1;
                scan.decided += 1;
                scan.keep = at;
            }
            _ => return Err(not_ours(path, n)),
        }
    }
}

fn csv_scan(path: &Path) -> Result<Scan, BatchError> {
    let mut scan = Scan { next: 0, decided: 0, keep: 0, header: false };
    if !path.exists() {
        return Ok(scan);
    }
    let mut file =
        std::fs::File::open(path).map_err(|e| BatchError::io(format!("cannot read `{}`", path.display()), &e))?;
    let cannot = |e: std::io::Error| BatchError::io(format!("cannot read `{}`", path.display()), &e);
    let len = file.metadata().map_err(cannot)?.len();
    // Whether the file's last line ended: if not, its last row was cut.
    let mut last = [0u8; 1];
    if len > 0 {
        file.seek(std::io::SeekFrom::Start(len - 1)).and_then(|_| file.read_exact(&mut last)).map_err(cannot)?;
        file.seek(std::io::SeekFrom::Start(0)).map_err(cannot)?;
    }
    let ended = last[0] == b'\n';
    let mut reader =
        csv::ReaderBuilder::new().has_headers(false).flexible(true).from_reader(std::io::BufReader::new(file));
    let mut row = csv::ByteRecord::new();
    let mut rows = 0u64;
    loop {
        match reader.read_byte_record(&mut row) {
            Ok(true) => {}
            Ok(false) | Err(_) => return Ok(scan),
        }
        rows += 1;
        // A row is complete when it has every column and its line ended.
        let end = reader.position().byte();
        if row.len() != CSV_COLUMNS.len() {
            // Only the last row may be short: it was cut.
            return if end < len { Err(not_ours(path, rows)) } else { Ok(scan) };
        }
        let complete = ended || end < len;
        if !complete {
            return Ok(scan); // cut by the interruption
        }
        if !scan.header {
            if row.get(0) != Some(b"record") {
                return Err(not_ours(path, rows));
            }
            scan.header = true;
            scan.keep = end;
            continue;
        }
        let r = std::str::from_utf8(row.get(0).unwrap_or_default()).ok().and_then(|s| s.parse::<u64>().ok());
        match r {
            Some(r) if r >= scan.next => {
                scan.next = r + 1;
                scan.decided += 1;
                scan.keep = end;
            }
            _ => return Err(not_ours(path, rows)),
        }
    }
}

/// The rejects of records before `next` (complete lines only): the bytes to
/// keep and their record numbers.
fn rejects_scan(path: &Path, next: u64) -> Result<(u64, Vec<u64>), BatchError> {
    let mut kept = Vec::new();
    if !path.exists() {
        return Ok((0, kept));
    }
    let file =
        std::fs::File::open(path).map_err(|e| BatchError::io(format!("cannot read `{}`", path.display()), &e))?;
    let mut reader = std::io::BufReader::with_capacity(1 << 20, file);
    let mut line = Vec::new();
    let (mut at, mut keep, mut n) = (0u64, 0u64, 0u64);
    loop {
        line.clear();
        let got = std::io::BufRead::read_until(&mut reader, b'\n', &mut line)
            .map_err(|e| BatchError::io(format!("cannot read `{}`", path.display()), &e))?;
        if got == 0 || line.last() != Some(&b'\n') {
            return Ok((keep, kept));
        }
        n += 1;
        at += got as u64;
        let whole = serde_json::from_slice::<serde::de::IgnoredAny>(&line).is_ok();
        match record_of(&line) {
            Some(r) if r < next && whole && kept.last().is_none_or(|&l| r > l) => {
                kept.push(r);
                keep = at;
            }
            Some(r) if r >= next => return Ok((keep, kept)),
            _ => return Err(not_ours(path, n)),
        }
    }
}

/// What identifies a run, kept beside its output (`OUT.run.json`) so that
/// `--resume` continues only the run that wrote the output: the program,
/// the rules version, each input (name, format, size, modification time),
/// and every setting that changes what is written.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct RunIdentity {
    /// This program's version.
    pub program: String,
    /// The rules version decisions are made with.
    pub rules_version: String,
    /// The directory's content version.
    pub directory_version: String,
    /// Each input: name, format, bytes, modified (Unix milliseconds).
    pub inputs: Vec<(String, String, u64, i64)>,
    /// `jsonl` or `csv`.
    pub format: String,
    /// `lean` or `full`.
    pub detail: String,
    /// The instant (RFC 3339) or `creation`.
    pub at: String,
    /// CSV column mapping.
    pub columns: Vec<(String, Option<String>)>,
    /// Support sender patterns.
    pub support: Vec<String>,
    /// Thread window, seconds.
    pub window_secs: i64,
}

impl RunIdentity {
    /// The identity of a run of `config` with these rules and directory.
    ///
    /// # Errors
    /// An input that is not a file or directory whose size can be read
    /// (standard input cannot be resumed).
    pub fn of(config: &RunConfig, rules_version: &str, directory_version: &str) -> Result<RunIdentity, BatchError> {
        let mut inputs = Vec::new();
        for spec in &config.inputs {
            if spec.path.as_os_str() == "-" {
                return Err(BatchError("standard input cannot be resumed: give the input as a file".to_string()));
            }
            let meta = std::fs::metadata(&spec.path)
                .map_err(|e| BatchError::io(format!("cannot read `{}`", spec.name), &e))?;
            let modified = meta
                .modified()
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
            let format =
                serde_json::to_value(spec.format).ok().and_then(|v| v.as_str().map(String::from)).unwrap_or_default();
            inputs.push((spec.name.clone(), format, if meta.is_dir() { 0 } else { meta.len() }, modified));
        }
        Ok(RunIdentity {
            program: env!("CARGO_PKG_VERSION").to_string(),
            rules_version: rules_version.to_string(),
            directory_version: directory_version.to_string(),
            inputs,
            format: match config.format {
                OutputFormat::Jsonl => "jsonl",
                OutputFormat::Csv => "csv",
            }
            .to_string(),
            detail: match config.detail {
                Detail::Lean => "lean",
                Detail::Full => "full",
            }
            .to_string(),
            at: match config.at {
                At::Now(t) => t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
                At::Creation => "creation".to_string(),
            },
            columns: config.columns.columns.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
            support: config.mail.support.clone(),
            window_secs: config.mail.window_secs,
        })
    }

    /// What differs from `earlier`, in words (empty when nothing does).
    pub fn differences(&self, earlier: &RunIdentity) -> Vec<String> {
        let mut d = Vec::new();
        let mut differ = |what: &str, now: String, then: String| {
            if now != then {
                d.push(format!("{what}: {then} then, {now} now"));
            }
        };
        differ("program version", self.program.clone(), earlier.program.clone());
        differ("rules version", self.rules_version.clone(), earlier.rules_version.clone());
        differ("directory version", self.directory_version.clone(), earlier.directory_version.clone());
        let inputs = |i: &[(String, String, u64, i64)]| {
            i.iter().map(|(n, f, b, m)| format!("{n} ({f}, {b} bytes, modified {m})")).collect::<Vec<_>>().join(", ")
        };
        differ("inputs", inputs(&self.inputs), inputs(&earlier.inputs));
        differ("--format", self.format.clone(), earlier.format.clone());
        differ("--detail", self.detail.clone(), earlier.detail.clone());
        differ("--now/--as-of-creation", self.at.clone(), earlier.at.clone());
        differ("column mapping", format!("{:?}", self.columns), format!("{:?}", earlier.columns));
        differ("--support-address", format!("{:?}", self.support), format!("{:?}", earlier.support));
        differ(
            "--thread-window-days",
            (self.window_secs / 86_400).to_string(),
            (earlier.window_secs / 86_400).to_string(),
        );
        d
    }
}
