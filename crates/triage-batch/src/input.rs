//! Inputs of a batch run: which format each is, where each record sits in
//! it, and the readers that cut JSON Lines, JSON and CSV inputs into
//! records without holding the whole input.

use crate::BatchError;
use serde::Serialize;
use std::io::{BufRead, Read};
use std::path::{Path, PathBuf};

/// How an input is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum InputFormat {
    /// One JSON case (or case state) per line; blank lines are skipped.
    Jsonl,
    /// A JSON array of cases, or JSON documents one after another
    /// (pretty-printed cases concatenated).
    Json,
    /// A header row, then one case per row; `,`, `;` or tab separated
    /// (whichever the header uses most), quoted fields may hold newlines.
    Csv,
    /// An mbox file (mboxo or mboxrd: `>From ` lines unquoted).
    Mbox,
    /// One `.eml` message, or a directory of them (read in name order,
    /// sub-directories included).
    Eml,
}

impl InputFormat {
    /// The format named on the command line (`--input-format`).
    pub fn parse(name: &str) -> Option<InputFormat> {
        Some(match name {
            "jsonl" | "ndjson" => InputFormat::Jsonl,
            "json" => InputFormat::Json,
            "csv" | "tsv" => InputFormat::Csv,
            "mbox" => InputFormat::Mbox,
            "eml" => InputFormat::Eml,
            _ => return None,
        })
    }

    /// Whether the input is mail (threaded before it is decided).
    pub fn is_mail(self) -> bool {
        matches!(self, InputFormat::Mbox | InputFormat::Eml)
    }

    /// The format of `path` from its extension (a directory is `.eml`
    /// files; a file that starts with `From ` is an mbox).
    ///
    /// # Errors
    /// When the path cannot be read or its format cannot be told; the
    /// message says to pass `--input-format`.
    pub fn detect(path: &Path) -> Result<InputFormat, BatchError> {
        let meta =
            std::fs::metadata(path).map_err(|e| BatchError::io(format!("cannot read `{}`", path.display()), &e))?;
        if meta.is_dir() {
            return Ok(InputFormat::Eml);
        }
        let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase();
        let by_ext = match ext.as_str() {
            "jsonl" | "ndjson" => Some(InputFormat::Jsonl),
            "json" => Some(InputFormat::Json),
            "csv" | "tsv" => Some(InputFormat::Csv),
            "mbox" | "mbx" | "mbs" => Some(InputFormat::Mbox),
            "eml" => Some(InputFormat::Eml),
            _ => None,
        };
        if let Some(f) = by_ext {
            return Ok(f);
        }
        let mut head = [0u8; 5];
        let n = std::fs::File::open(path).and_then(|mut f| f.read(&mut head)).unwrap_or(0);
        if &head[..n] == b"From " {
            return Ok(InputFormat::Mbox);
        }
        Err(BatchError(format!(
            "cannot tell the format of `{}` from its name; name it .jsonl, .json, .csv, .mbox or .eml, or pass \
             --input-format jsonl|json|csv|mbox|eml",
            path.display()
        )))
    }
}

/// One input of a run.
#[derive(Debug, Clone)]
pub struct InputSpec {
    /// Where it is.
    pub path: PathBuf,
    /// How it is read.
    pub format: InputFormat,
    /// How it is named in decisions, rejects and counts (the path as given).
    pub name: String,
}

impl InputSpec {
    /// An input whose format is `format`, or found from the path.
    ///
    /// # Errors
    /// When the format cannot be told ([`InputFormat::detect`]).
    pub fn new(path: PathBuf, format: Option<InputFormat>) -> Result<InputSpec, BatchError> {
        let format = match format {
            Some(f) => f,
            None => InputFormat::detect(&path)?,
        };
        Ok(InputSpec { name: path.display().to_string(), path, format })
    }
}

/// Where a record sits in its input. Line and row numbers count from 1,
/// element and message indexes from 0, byte offsets from 0.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Position {
    /// A JSON Lines line.
    Line {
        /// Line number.
        line: u64,
    },
    /// A CSV row (the header is not counted).
    Row {
        /// Row number.
        row: u64,
        /// The line the row starts on.
        line: u64,
    },
    /// An element of a JSON array (or a document of a JSON stream).
    Element {
        /// Index in the array.
        element: u64,
        /// The line it starts on.
        line: u64,
    },
    /// A message of an mbox file.
    Message {
        /// Index in the file.
        message: u64,
        /// Byte offset of its `From ` line.
        offset: u64,
    },
    /// An `.eml` file.
    File {
        /// The file, as found under the input.
        file: String,
    },
    /// What follows a read error: the rest of the input from this byte.
    Offset {
        /// Byte offset.
        offset: u64,
    },
}

/// A record as read, before it is decided.
#[derive(Debug)]
pub(crate) enum Payload {
    /// JSON text of a case or case state.
    Json(Box<[u8]>),
    /// A CSV row, with its input's column map resolved against its header.
    Row(csv::ByteRecord, std::sync::Arc<crate::run::CsvColumns>),
    /// A mail thread made into a case state.
    Thread(Box<crate::mail::Thread>),
    /// A record that could not be read: why, and its bytes.
    Unreadable { reason: String, raw: Vec<u8> },
}

/// A record of a run: its index in the run, its input and position.
#[derive(Debug)]
pub(crate) struct Item {
    /// Index in the run (over all inputs, in order), from 0.
    pub record: u64,
    /// Index of the input in the run's inputs.
    pub input: usize,
    pub position: Position,
    pub payload: Payload,
}

/// Longest line (or JSON document, or CSV row) read whole; a longer one is
/// rejected with its first bytes.
pub(crate) const MAX_RECORD_BYTES: usize = 16 << 20;
/// How much of an over-long or unreadable record its reject carries.
pub(crate) const MAX_RAW_BYTES: usize = 64 << 10;

/// Opens a file input (a regular file or a pipe; `-` is standard input).
pub(crate) fn open(spec: &InputSpec) -> Result<Box<dyn BufRead + Send>, BatchError> {
    if spec.path.as_os_str() == "-" {
        return Ok(Box::new(std::io::BufReader::with_capacity(1 << 20, std::io::stdin())));
    }
    let file =
        std::fs::File::open(&spec.path).map_err(|e| BatchError::io(format!("cannot read `{}`", spec.name), &e))?;
    let meta = file.metadata().map_err(|e| BatchError::io(format!("cannot read `{}`", spec.name), &e))?;
    #[cfg(unix)]
    let pipe = std::os::unix::fs::FileTypeExt::is_fifo(&meta.file_type());
    #[cfg(not(unix))]
    let pipe = false;
    if !meta.is_file() && !pipe {
        return Err(BatchError(format!("`{}` is not a regular file or a pipe", spec.name)));
    }
    Ok(Box::new(std::io::BufReader::with_capacity(1 << 20, file)))
}

/// Reads JSON Lines: each non-blank line a record, in order. A line longer
/// than [`MAX_RECORD_BYTES`] is a record that cannot be read.
pub(crate) fn read_jsonl(
    mut reader: impl BufRead,
    mut emit: impl FnMut(Position, Payload) -> bool,
    name: &str,
) -> Result<(), BatchError> {
    let mut line_no = 0u64;
    let mut line = Vec::with_capacity(4096);
    loop {
        line.clear();
        let (n, overflow) = read_line_capped(&mut reader, &mut line)
            .map_err(|e| BatchError::io(format!("cannot read `{name}`"), &e))?;
        if n == 0 {
            return Ok(());
        }
        line_no += 1;
        let mut text: &[u8] = &line;
        if line_no == 1 {
            text = text.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(text);
        }
        let text = text.strip_suffix(b"\n").unwrap_or(text);
        let text = text.strip_suffix(b"\r").unwrap_or(text);
        if overflow {
            let reason = format!("the line is longer than {} MiB; split the record", MAX_RECORD_BYTES >> 20);
            if !emit(Position::Line { line: line_no }, Payload::Unreadable { reason, raw: text.to_vec() }) {
                return Ok(());
            }
            continue;
        }
        if text.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        if !emit(Position::Line { line: line_no }, Payload::Json(text.into())) {
            return Ok(());
        }
    }
}

/// Reads one line into `line` (with its `\n`), keeping at most
/// [`MAX_RAW_BYTES`] of a line longer than [`MAX_RECORD_BYTES`] (not
/// counting its `\n` or `\r\n`): the bytes consumed, and whether the line
/// was too long.
fn read_line_capped(reader: &mut impl BufRead, line: &mut Vec<u8>) -> std::io::Result<(usize, bool)> {
    let (total, over) = read_line_within(reader, line, MAX_RECORD_BYTES + 2)?;
    if over {
        return Ok((total, true));
    }
    let text = line.strip_suffix(b"\n").unwrap_or(line);
    let text = text.strip_suffix(b"\r").unwrap_or(text);
    if text.len() > MAX_RECORD_BYTES {
        line.truncate(MAX_RAW_BYTES);
        return Ok((total, true));
    }
    Ok((total, false))
}

/// [`read_line_capped`] with `cap` bytes for the line and its ending.
fn read_line_within(reader: &mut impl BufRead, line: &mut Vec<u8>, cap: usize) -> std::io::Result<(usize, bool)> {
    let mut total = 0usize;
    loop {
        let buf = match reader.fill_buf() {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if buf.is_empty() {
            return Ok((total, total > cap));
        }
        let (take, done) = match memchr::memchr(b'\n', buf) {
            Some(i) => (i + 1, true),
            None => (buf.len(), false),
        };
        let room = if total + take > cap { MAX_RAW_BYTES.saturating_sub(line.len().min(MAX_RAW_BYTES)) } else { take };
        if total + take > cap && line.len() > MAX_RAW_BYTES {
            line.truncate(MAX_RAW_BYTES);
        }
        line.extend_from_slice(&buf[..take.min(room)]);
        total += take;
        reader.consume(take);
        if done {
            return Ok((total, total > cap));
        }
    }
}

/// Reads a JSON array of cases, or JSON documents one after another. The
/// input is read whole (at most 1 GiB). After a syntax error the rest of
/// the input is one record that cannot be read (nothing after it can be
/// trusted to start a record).
pub(crate) fn read_json(
    mut reader: impl Read,
    mut emit: impl FnMut(Position, Payload) -> bool,
    name: &str,
) -> Result<(), BatchError> {
    const LIMIT: u64 = 1 << 30;
    let mut bytes = Vec::new();
    reader
        .by_ref()
        .take(LIMIT + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| BatchError::io(format!("cannot read `{name}`"), &e))?;
    if bytes.len() as u64 > LIMIT {
        return Err(BatchError(format!(
            "`{name}` is longer than 1 GiB, the limit for a JSON array (read whole); write it as JSON Lines, which \
             streams"
        )));
    }
    let start = if bytes.starts_with(b"\xEF\xBB\xBF") { 3 } else { 0 };
    let mut pos = skip_ws(&bytes, start);
    let array = bytes.get(pos) == Some(&b'[');
    if array {
        pos = skip_ws(&bytes, pos + 1);
    }
    let mut index = 0u64;
    let line_of =
        |at: usize, from: usize, line: u64| line + bytes[from..at].iter().filter(|&&b| b == b'\n').count() as u64;
    let (mut line_at, mut line) = (0usize, 1u64);
    // An element that follows the one before it with no comma between: it
    // is rejected (the array is broken there) and reading goes on.
    let mut no_comma = false;
    loop {
        if pos >= bytes.len() {
            if array {
                let reason = "the JSON array is not closed (no `]` at the end)".to_string();
                emit(Position::Offset { offset: pos as u64 }, Payload::Unreadable { reason, raw: Vec::new() });
            }
            return Ok(());
        }
        if array && bytes[pos] == b']' {
            let rest = skip_ws(&bytes, pos + 1);
            if rest < bytes.len() {
                let reason = "more after the JSON array's closing `]`".to_string();
                let raw = bytes[rest..].iter().copied().take(MAX_RAW_BYTES).collect();
                emit(Position::Offset { offset: rest as u64 }, Payload::Unreadable { reason, raw });
            }
            return Ok(());
        }
        line = line_of(pos, line_at, line);
        line_at = pos;
        let mut stream = serde_json::Deserializer::from_slice(&bytes[pos..]).into_iter::<serde::de::IgnoredAny>();
        match stream.next() {
            Some(Ok(_)) => {
                let end = pos + stream.byte_offset();
                let payload = if std::mem::take(&mut no_comma) {
                    let reason = format!(
                        "no `,` between element {} and element {index} of the JSON array: this element is set \
                         aside rather than guessed at",
                        index.saturating_sub(1)
                    );
                    Payload::Unreadable { reason, raw: bytes[pos..end].iter().copied().take(MAX_RAW_BYTES).collect() }
                } else {
                    Payload::Json(bytes[pos..end].into())
                };
                if !emit(Position::Element { element: index, line }, payload) {
                    return Ok(());
                }
                index += 1;
                pos = skip_ws(&bytes, end);
                if array {
                    match bytes.get(pos) {
                        Some(b',') => {
                            pos = skip_ws(&bytes, pos + 1);
                            if bytes.get(pos) == Some(&b']') {
                                let reason = "a comma before the closing `]`: JSON allows none".to_string();
                                emit(
                                    Position::Offset { offset: pos as u64 },
                                    Payload::Unreadable { reason, raw: b",]".to_vec() },
                                );
                                return Ok(());
                            }
                        }
                        Some(b']') | None => {}
                        Some(b'{' | b'[') => no_comma = true,
                        Some(_) => {
                            let reason = format!("expected `,` or `]` after element {} of the JSON array", index - 1);
                            let raw = bytes[pos..].iter().copied().take(MAX_RAW_BYTES).collect();
                            emit(Position::Offset { offset: pos as u64 }, Payload::Unreadable { reason, raw });
                            return Ok(());
                        }
                    }
                }
            }
            Some(Err(e)) => {
                // Where the error is, counted from the start of the input.
                let text = e.to_string();
                let what = text.rsplit_once(" at line ").map_or(text.as_str(), |(w, _)| w);
                let at_line = line + e.line().saturating_sub(1) as u64;
                no_comma = false;
                let next = resync(&bytes, pos + 1, array);
                let end = next.unwrap_or(bytes.len());
                let reason = format!(
                    "element {index} is not JSON: {what} at line {at_line}, column {}{}",
                    e.column(),
                    match next {
                        Some(_) => String::new(),
                        None => "; no later element could be told apart, so the rest of the input is this record"
                            .to_string(),
                    }
                );
                let raw = bytes[pos..end].iter().copied().take(MAX_RAW_BYTES).collect();
                if !emit(Position::Element { element: index, line }, Payload::Unreadable { reason, raw }) {
                    return Ok(());
                }
                index += 1;
                match next {
                    Some(n) => pos = n,
                    None => return Ok(()),
                }
            }
            None => return Ok(()),
        }
    }
}

/// Where the next element starts after a syntax error: the first place
/// that looks like an element's start ([`element_start`]) and from which a
/// whole element reads (so a `},{` inside a broken element's string is not
/// taken for one); when no such place reads within 64 tries, the first that
/// looks like one.
fn resync(bytes: &[u8], from: usize, array: bool) -> Option<usize> {
    let first = element_start(bytes, from, array)?;
    let mut at = first;
    for _ in 0..64 {
        let mut stream = serde_json::Deserializer::from_slice(&bytes[at..]).into_iter::<serde::de::IgnoredAny>();
        if matches!(stream.next(), Some(Ok(_))) {
            return Some(at);
        }
        match element_start(bytes, at + 1, array) {
            Some(next) => at = next,
            None => break,
        }
    }
    Some(first)
}

/// The next place that looks like an element's start: an object opening
/// after `},` (in an array) or after `}` and a line break (in a stream of
/// documents).
fn element_start(bytes: &[u8], from: usize, array: bool) -> Option<usize> {
    let mut i = from;
    while i < bytes.len() {
        if bytes[i] == b'{' {
            let mut j = i;
            let mut newline = false;
            while j > from && bytes[j - 1].is_ascii_whitespace() {
                newline |= bytes[j - 1] == b'\n';
                j -= 1;
            }
            let before = j.checked_sub(1).map(|k| bytes[k]);
            if array && before == Some(b',') {
                let mut k = j - 1;
                while k > from && bytes[k - 1].is_ascii_whitespace() {
                    k -= 1;
                }
                if k > from && bytes[k - 1] == b'}' {
                    return Some(i);
                }
            }
            if !array && before == Some(b'}') && newline {
                return Some(i);
            }
        }
        i += 1;
    }
    None
}

fn skip_ws(bytes: &[u8], mut pos: usize) -> usize {
    while pos < bytes.len() && bytes[pos].is_ascii_whitespace() {
        pos += 1;
    }
    pos
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// A line of exactly the limit is read whole, with either line ending;
    /// one byte more is too long, and keeps its first bytes only.
    #[test]
    fn the_line_limit_counts_the_record_not_its_line_ending() {
        for ending in [&b"\n"[..], b"\r\n", b""] {
            for (extra, over) in [(0usize, false), (1, true)] {
                let mut text = vec![b'x'; MAX_RECORD_BYTES + extra];
                text.extend_from_slice(ending);
                text.extend_from_slice(b"next\n");
                let mut reader = std::io::BufReader::with_capacity(1 << 16, &text[..]);
                let mut line = Vec::new();
                let (n, too_long) = read_line_capped(&mut reader, &mut line).unwrap();
                let whole = MAX_RECORD_BYTES + extra + ending.len() + if ending.is_empty() { 5 } else { 0 };
                if ending.is_empty() {
                    // Without an ending the next line is part of this one.
                    assert!(too_long, "{extra}");
                    assert_eq!(n, whole);
                    continue;
                }
                assert_eq!((n, too_long), (whole, over), "{ending:?} {extra}");
                assert_eq!(line.len(), if over { MAX_RAW_BYTES } else { whole });
                line.clear();
                assert_eq!(read_line_capped(&mut reader, &mut line).unwrap(), (5, false));
                assert_eq!(line, b"next\n");
            }
        }
    }
}
