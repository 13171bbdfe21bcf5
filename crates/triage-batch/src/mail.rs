//! Mail exports made into cases: mbox files and `.eml` messages are read,
//! grouped into threads, and each thread becomes one case with its history.
//!
//! - **Reading.** An mbox is cut at its `From ` postmark lines (a `From `
//!   line in a body is not a postmark unless it follows a blank line and
//!   carries a sender and a date); `>From ` lines are unquoted (mboxrd).
//!   Each message is parsed with `mail-parser` (MIME, base64,
//!   quoted-printable, RFC 2047 words, every common charset including
//!   ISO-8859-1, Windows-1252 and Shift-JIS).
//! - **Text.** The text part, or the HTML part converted to text by
//!   `html2text` when there is no text part. Quoted replies (`>` lines and
//!   everything after an `On … wrote:` header or an Outlook
//!   `-----Original Message-----` / `From:`…`Sent:` block) and signatures
//!   (after `-- `) are kept out of the text the rules see; the original
//!   text is kept in the thread.
//! - **Threads.** Messages that share a `Message-ID` through `In-Reply-To`
//!   or `References` are one thread; then threads whose subjects are the
//!   same once reply and forward prefixes are removed (`Re:`, `AW:`, `SV:`,
//!   `Fwd:`, `WG:`, `TR:`, `RV:`, `回复:`, …), that share a participant and
//!   whose messages are within the thread window of each other join. A
//!   message seen twice (the same `Message-ID` in two exports) counts once.
//! - **History.** The thread's first message opens the case (`created`);
//!   each later one is `customer_replied`, or `agent_replied` when its
//!   sender matches a support address pattern.

use crate::input::{MAX_RAW_BYTES, Position};
use chrono::{DateTime, FixedOffset};
use serde::Serialize;
use std::collections::BTreeMap;

/// How mail becomes cases.
#[derive(Debug, Clone)]
pub struct MailOptions {
    /// Sender patterns of the support team (`*` matches any run of
    /// characters; compared without case), e.g. `*@support.example.com`.
    pub support: Vec<String>,
    /// How far apart (seconds) two messages may be and still join one
    /// thread by subject and participants. Default 14 days.
    pub window_secs: i64,
}

impl Default for MailOptions {
    fn default() -> Self {
        MailOptions { support: Vec::new(), window_secs: 14 * 86_400 }
    }
}

impl MailOptions {
    /// Whether `address` is one of the support team's.
    pub fn is_support(&self, address: &str) -> bool {
        let address = address.to_ascii_lowercase();
        self.support.iter().any(|p| glob(&p.to_ascii_lowercase(), &address))
    }
}

/// `*`-only glob match.
fn glob(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == text;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !text.starts_with(first) || !text[first.len()..].ends_with(last) || text.len() < first.len() + last.len() {
        return false;
    }
    let mut rest = &text[first.len()..text.len() - last.len()];
    for part in &parts[1..parts.len() - 1] {
        match rest.find(part) {
            Some(i) => rest = &rest[i + part.len()..],
            None => return false,
        }
    }
    true
}

/// One message as read: where it was, and what threading and the case need.
#[derive(Debug, Clone, Serialize)]
pub struct Message {
    /// Index of its input in the run.
    #[serde(skip)]
    pub input: usize,
    /// Its input's name.
    pub input_name: String,
    /// Where it is in its input.
    #[serde(flatten)]
    pub position: Position,
    /// `Message-ID`, without the angle brackets.
    pub message_id: Option<String>,
    #[serde(skip)]
    in_reply_to: Vec<String>,
    #[serde(skip)]
    references: Vec<String>,
    /// Subject as written.
    pub subject: Option<String>,
    /// Sender's address.
    pub from: Option<String>,
    /// Sender's display name.
    #[serde(skip)]
    pub from_name: Option<String>,
    /// `Date`.
    pub date: DateTime<FixedOffset>,
    /// `Content-Language`, its primary tag (`de-DE` → `de`).
    #[serde(skip)]
    pub language: Option<String>,
    /// Every address in From, To and Cc, lower case.
    #[serde(skip)]
    participants: Vec<String>,
    /// Whether the sender is support (`agent_replied`) or not.
    pub from_support: bool,
    /// The text the rules see: quotes and signature removed.
    #[serde(skip)]
    pub text: String,
    /// The message's whole text as it came (text part, or HTML as text).
    pub original: String,
    /// Whether this message repeats one read before (same `Message-ID`).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub duplicate: bool,
    /// Whether its `Message-ID` was first used by a different message (it
    /// then links nothing).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub id_reused: bool,
}

/// A thread: its messages oldest first, and the case state built from them.
#[derive(Debug)]
pub struct Thread {
    /// The messages, oldest first.
    pub messages: Vec<Message>,
    /// The case and its history.
    pub state: triage_core::CaseState,
}

/// A message that could not be read: its input, position, why, and bytes.
#[derive(Debug)]
pub(crate) struct Unreadable {
    pub input: usize,
    pub position: Position,
    pub reason: String,
    pub raw: Vec<u8>,
}

/// A raw message and where it came from.
#[derive(Debug)]
pub(crate) struct Raw {
    pub input: usize,
    pub input_name: String,
    pub position: Position,
    pub bytes: Vec<u8>,
}

/// Cuts an mbox into messages: each with its index and the byte offset of
/// its `From ` line. Calls `emit` for each; stops early when it says so.
pub(crate) fn split_mbox(
    mut reader: impl std::io::BufRead,
    mut emit: impl FnMut(u64, u64, Vec<u8>),
) -> std::io::Result<()> {
    let mut line = Vec::with_capacity(256);
    let mut current: Option<(u64, Vec<u8>)> = None;
    let (mut offset, mut index) = (0u64, 0u64);
    let mut previous_blank = true;
    loop {
        line.clear();
        let n = reader.read_until(b'\n', &mut line)?;
        if n == 0 {
            break;
        }
        let at = offset;
        offset += n as u64;
        if previous_blank && is_postmark(&line) {
            if let Some((start, bytes)) = current.take() {
                emit(index, start, trim_separator(bytes));
                index += 1;
            }
            current = Some((at, Vec::new()));
            previous_blank = false;
            continue;
        }
        previous_blank = line == b"\n" || line == b"\r\n";
        let Some((_, bytes)) = current.as_mut() else {
            // Bytes before the first postmark are not a message of the mbox:
            // they are kept as one record, which `parse` refuses.
            if !line.iter().all(u8::is_ascii_whitespace) {
                let mut head = NOT_MBOX.to_vec();
                head.extend_from_slice(&line);
                current = Some((at, head));
            }
            continue;
        };
        // mboxrd: one `>` of a `>…>From ` line was added when it was written.
        let quoted = line.iter().position(|&b| b != b'>').is_some_and(|i| i > 0 && line[i..].starts_with(b"From "));
        bytes.extend_from_slice(if quoted { &line[1..] } else { &line });
    }
    if let Some((start, bytes)) = current {
        emit(index, start, trim_separator(bytes));
    }
    Ok(())
}

/// The blank line that separates a message from the next postmark is not
/// part of the message.
fn trim_separator(mut bytes: Vec<u8>) -> Vec<u8> {
    if bytes.ends_with(b"\r\n\r\n") {
        bytes.truncate(bytes.len() - 2);
    } else if bytes.ends_with(b"\n\n") {
        bytes.truncate(bytes.len() - 1);
    }
    bytes
}

/// Whether a line is an mbox postmark: `From SENDER DATE` with a time of day
/// and a year in the date (`From a@b.example Mon Mar  2 09:00:00 2026`).
fn is_postmark(line: &[u8]) -> bool {
    let Some(rest) = line.strip_prefix(b"From ") else { return false };
    let Ok(rest) = std::str::from_utf8(rest) else { return false };
    let mut words = rest.split_whitespace();
    if words.next().is_none() {
        return false;
    }
    let date: Vec<&str> = words.collect();
    let time = date.iter().any(|w| {
        let p: Vec<&str> = w.split(':').collect();
        p.len() >= 2 && p.iter().all(|x| !x.is_empty() && x.len() <= 2 && x.bytes().all(|b| b.is_ascii_digit()))
    });
    let year = date.iter().any(|w| w.len() == 4 && w.bytes().all(|b| b.is_ascii_digit()));
    time && year
}

/// Marks bytes of an mbox that come before its first `From ` postmark.
const NOT_MBOX: &[u8] = b"\0triage:not-mbox\0";

/// Parses one message, or says why it cannot be a case's message.
pub(crate) fn parse(mut raw: Raw, options: &MailOptions) -> Result<Message, Unreadable> {
    if let Some(rest) = raw.bytes.strip_prefix(NOT_MBOX) {
        let bytes = rest.to_vec();
        raw.bytes = bytes;
        return Err(Unreadable {
            input: raw.input,
            position: raw.position,
            reason: "not an mbox message: the text before the first `From ` postmark line (an mbox file starts with \
                     one; a single message is an .eml file)"
                .to_string(),
            raw: raw.bytes.into_iter().take(MAX_RAW_BYTES).collect(),
        });
    }
    let unreadable = |raw: Raw, reason: String| Unreadable {
        input: raw.input,
        position: raw.position,
        reason,
        raw: raw.bytes.into_iter().take(MAX_RAW_BYTES).collect(),
    };
    let parser = mail_parser::MessageParser::default();
    let fixed = plain_date(&raw.bytes);
    let Some(m) = parser.parse(fixed.as_deref().unwrap_or(&raw.bytes)) else {
        return Err(unreadable(raw, "not a mail message: no header could be read".to_string()));
    };
    if m.headers().is_empty() {
        return Err(unreadable(raw, "not a mail message: no header could be read".to_string()));
    }
    // An offset the parser would wrap (`+9999`) is no offset.
    let zone_ok = m.header_raw("Date").and_then(|d| d.split_whitespace().last()).is_none_or(|z| {
        let b = z.as_bytes();
        let numeric = b.len() == 5 && (b[0] == b'+' || b[0] == b'-') && b[1..].iter().all(u8::is_ascii_digit);
        !numeric || (z[1..3] <= *"14" && z[3..5] < *"60")
    });
    let year = m.header_raw("Date").and_then(header_year);
    let Some(date) = m.date().filter(|d| zone_ok && d.is_valid()).and_then(|d| to_chrono(d, year)) else {
        let why = match m.header_raw("Date") {
            Some(d) => format!("the Date header `{}` is not a date; a case needs the instant it was opened", d.trim()),
            None => "no Date header; a case needs the instant it was opened".to_string(),
        };
        return Err(unreadable(raw, why));
    };
    let ids = |v: &mail_parser::HeaderValue| -> Vec<String> {
        match v {
            mail_parser::HeaderValue::Text(t) => vec![t.trim().to_string()],
            mail_parser::HeaderValue::TextList(l) => l.iter().map(|t| t.trim().to_string()).collect(),
            _ => Vec::new(),
        }
    };
    let from = m.from().and_then(|a| a.first());
    let from_address = from.and_then(|a| a.address()).map(|a| a.trim().to_ascii_lowercase());
    let mut participants: Vec<String> = Vec::new();
    for list in [m.from(), m.to(), m.cc()].into_iter().flatten() {
        participants.extend(list.iter().filter_map(|a| a.address()).map(|a| a.trim().to_ascii_lowercase()));
    }
    participants.sort();
    participants.dedup();
    let original = body_text(&m);
    let text = strip_quotes(&original);
    let language = m
        .header("Content-Language")
        .and_then(|v| v.as_text())
        .and_then(|l| l.split([',', '-', '_']).next())
        .map(|l| l.trim().to_ascii_lowercase())
        .filter(|l| !l.is_empty());
    Ok(Message {
        input: raw.input,
        input_name: raw.input_name,
        position: raw.position,
        message_id: m.message_id().map(|s| s.trim().to_string()).filter(|s| !s.is_empty()),
        in_reply_to: ids(m.in_reply_to()),
        references: ids(m.references()),
        subject: m.subject().map(|s| s.trim().to_string()),
        from_support: from_address.as_deref().is_some_and(|a| options.is_support(a)),
        from: from_address,
        from_name: from.and_then(|a| a.name()).map(|n| n.trim().to_string()).filter(|n| !n.is_empty()),
        date,
        language,
        participants,
        text,
        original,
        duplicate: false,
        id_reused: false,
    })
}

/// The year a `Date` header's text gives, read as RFC 5322 §4.3 says: four
/// digits (or more) as written, three digits plus 1900, two digits plus
/// 2000 below 50 and 1900 from 50. The parser takes `0049` for 2049;
/// `None` when no year follows a month name.
fn header_year(date: &str) -> Option<i32> {
    const MONTHS: [&str; 12] = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"];
    let mut words = date.split(|c: char| c.is_whitespace() || c == ',').filter(|w| !w.is_empty());
    words.find(|w| MONTHS.iter().any(|m| w.eq_ignore_ascii_case(m)))?;
    let year = words.next()?;
    let value: i32 = year.parse().ok().filter(|_| year.bytes().all(|b| b.is_ascii_digit()))?;
    Some(match year.len() {
        2 if value < 50 => 2000 + value,
        2 => 1900 + value,
        3 => 1900 + value,
        _ => value,
    })
}

/// A parsed `Date` as an instant (in `year` when the header's text gives
/// one, see [`header_year`]), or `None` when it names no real one (30
/// February, 25:00, an offset beyond ±14:00 or with 60 minutes or more).
fn to_chrono(d: &mail_parser::DateTime, year: Option<i32>) -> Option<DateTime<FixedOffset>> {
    use chrono::TimeZone as _;
    if d.tz_hour > 14 || d.tz_minute >= 60 {
        return None;
    }
    let secs = (i32::from(d.tz_hour) * 3600 + i32::from(d.tz_minute) * 60) * if d.tz_before_gmt { -1 } else { 1 };
    let offset = FixedOffset::east_opt(secs)?;
    let year = year.unwrap_or(i32::from(d.year));
    let date = chrono::NaiveDate::from_ymd_opt(year, u32::from(d.month), u32::from(d.day))?;
    let time = chrono::NaiveTime::from_hms_opt(u32::from(d.hour), u32::from(d.minute), u32::from(d.second))?;
    offset.from_local_datetime(&date.and_time(time)).single()
}

/// The message with its `Date` header written the way the parser reads
/// it, when it is not: a time without seconds (`08:55`) gets `:00`, and
/// the zones `UT`, `Z` and the one-letter military zones (which RFC 5322
/// §4.3 says to read as `-0000`) become `+0000`. The parser would otherwise
/// take the next header line into the date and lose it. `None` when
/// nothing needs changing.
fn plain_date(bytes: &[u8]) -> Option<Vec<u8>> {
    let head_end =
        bytes.windows(2).position(|w| w == b"\n\n").or_else(|| bytes.windows(4).position(|w| w == b"\r\n\r\n"))?;
    let mut at = 0;
    while at < head_end {
        let end = bytes[at..].iter().position(|&b| b == b'\n').map_or(bytes.len(), |i| at + i);
        let line = &bytes[at..end];
        if line.len() > 5 && line[..5].eq_ignore_ascii_case(b"date:") {
            let text = std::str::from_utf8(&line[5..]).ok()?;
            let cr = text.ends_with('\r');
            let mut words: Vec<String> = text.split_whitespace().map(str::to_string).collect();
            let mut changed = false;
            if let Some(zone) = words.last_mut()
                && (zone.eq_ignore_ascii_case("ut")
                    || (zone.len() == 1
                        && zone.bytes().all(|b| b.is_ascii_alphabetic() && !b.eq_ignore_ascii_case(&b'j'))))
            {
                *zone = "+0000".to_string();
                changed = true;
            }
            for w in &mut words {
                let b = w.as_bytes();
                if b.len() == 5 && b[2] == b':' && b.iter().enumerate().all(|(i, c)| i == 2 || c.is_ascii_digit()) {
                    w.push_str(":00");
                    changed = true;
                }
            }
            if !changed {
                return None;
            }
            let mut out = Vec::with_capacity(bytes.len() + 8);
            out.extend_from_slice(&bytes[..at]);
            out.extend_from_slice(b"Date: ");
            out.extend_from_slice(words.join(" ").as_bytes());
            if cr {
                out.push(b'\r');
            }
            out.extend_from_slice(&bytes[end..]);
            return Some(out);
        }
        at = end + 1;
    }
    None
}

/// The message's text: its first text part, else its HTML as text.
fn body_text(m: &mail_parser::Message) -> String {
    for part in m.text_bodies() {
        if let mail_parser::PartType::Text(t) = &part.body {
            return t.replace("\r\n", "\n");
        }
    }
    for part in m.html_bodies() {
        if let mail_parser::PartType::Html(h) = &part.body {
            return html2text::from_read(h.as_bytes(), 10_000).unwrap_or_else(|_| h.to_string());
        }
    }
    String::new()
}

/// The text without quoted replies and the signature. When nothing is left
/// (a message that only forwards), the text as it came.
pub fn strip_quotes(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let mut kept: Vec<&str> = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let t = line.trim();
        if t == "--" || line.trim_end_matches('\r') == "-- " || is_reply_header(t, lines.get(i + 1).map(|l| l.trim())) {
            break;
        }
        if t.starts_with('>') {
            continue;
        }
        kept.push(line.trim_end());
    }
    while kept.last().is_some_and(|l| l.trim().is_empty()) {
        kept.pop();
    }
    while kept.first().is_some_and(|l| l.trim().is_empty()) {
        kept.remove(0);
    }
    if kept.is_empty() { text.trim().to_string() } else { kept.join("\n") }
}

/// Whether a line opens the quoted part of a reply.
fn is_reply_header(line: &str, next: Option<&str>) -> bool {
    let lower = line.to_lowercase();
    let wrote = |l: &str| {
        (l.starts_with("on ") && l.ends_with("wrote:"))
            || (l.starts_with("am ") && l.ends_with("schrieb:"))
            || (l.starts_with("le ") && (l.ends_with("a écrit :") || l.ends_with("a écrit:")))
            || (l.starts_with("el ") && l.ends_with("escribió:"))
            || (l.starts_with("il ") && l.ends_with("ha scritto:"))
            || (l.starts_with("op ") && l.ends_with("geschreven:"))
    };
    if wrote(&lower) {
        return true;
    }
    // A header wrapped over two lines: `On Mon, 2 Mar 2026, Dana <d@x>` / `wrote:`.
    if (lower.starts_with("on ") || lower.starts_with("am ") || lower.starts_with("le "))
        && let Some(next) = next
        && wrote(&format!("{lower} {}", next.to_lowercase()))
    {
        return true;
    }
    let dashes = lower.trim_matches('-').trim();
    if line.starts_with("-----")
        && matches!(dashes, "original message" | "ursprüngliche nachricht" | "message d'origine" | "forwarded message")
    {
        return true;
    }
    // Outlook: `From: …` followed by `Sent: …` (or `Von:` / `Gesendet:`).
    if let Some(next) = next {
        let next = next.to_lowercase();
        return (lower.starts_with("from:") && (next.starts_with("sent:") || next.starts_with("date:")))
            || (lower.starts_with("von:") && next.starts_with("gesendet:"))
            || (lower.starts_with("de :") && next.starts_with("envoyé :"));
    }
    false
}

/// The subject without reply and forward prefixes, lower case, white space
/// folded: what threads are compared by when their headers do not link them.
pub fn normalize_subject(subject: &str) -> String {
    const PREFIXES: &[&str] = &[
        "re", "aw", "sv", "vs", "ynt", "odp", "antw", "res", "fwd", "fw", "wg", "tr", "rv", "enc", "doorst", "vl",
        "回复", "回覆", "答复", "转发", "轉寄", "返信", "転送", "답장", "전달",
    ];
    let mut s = subject.trim();
    loop {
        let before = s;
        // `[EXT]`-style tags in front.
        if s.starts_with('[')
            && let Some(end) = s.find(']')
            && end < 24
        {
            s = s[end + 1..].trim_start();
        }
        for p in PREFIXES {
            if s.len() >= p.len() && s.is_char_boundary(p.len()) && s[..p.len()].eq_ignore_ascii_case(p) {
                let rest = &s[p.len()..];
                // `Re[2]:`, `Re(3):`
                let rest = match rest.strip_prefix('[').or_else(|| rest.strip_prefix('(')) {
                    Some(r) => r.trim_start_matches(|c: char| c.is_ascii_digit()).trim_start_matches([']', ')']),
                    None => rest,
                };
                let rest = rest.trim_start();
                if let Some(r) = rest.strip_prefix(':').or_else(|| rest.strip_prefix('：')) {
                    s = r.trim_start();
                    break;
                }
            }
        }
        if s == before {
            break;
        }
    }
    s.split_whitespace().collect::<Vec<_>>().join(" ").to_lowercase()
}

/// Groups messages into threads, each built into a case state. Threads
/// come in the order of their first message's place in the inputs; the
/// result does not depend on the order messages were parsed in.
pub(crate) fn thread(mut messages: Vec<Message>, options: &MailOptions) -> Vec<Thread> {
    // Messages in input order (input, then position in it).
    messages.sort_by_key(|m| (m.input, position_key(&m.position)));
    // A message read twice counts once. A Message-ID that a different
    // message reuses (another sender, date or subject: a broken client)
    // links nothing for it.
    let mut first_of_id: BTreeMap<String, usize> = BTreeMap::new();
    for i in 0..messages.len() {
        let Some(id) = messages[i].message_id.clone() else { continue };
        match first_of_id.get(&id) {
            Some(&j) => {
                let (a, b) = (&messages[j], &messages[i]);
                let same = a.from == b.from
                    && a.date == b.date
                    && a.subject.as_deref().map(normalize_subject) == b.subject.as_deref().map(normalize_subject);
                if same {
                    messages[i].duplicate = true;
                } else {
                    messages[i].id_reused = true;
                }
            }
            None => {
                first_of_id.insert(id, i);
            }
        }
    }
    // Union-find over messages, linked through the ids they name.
    let n = messages.len();
    let mut parent: Vec<usize> = (0..n).collect();
    fn find(parent: &mut [usize], mut i: usize) -> usize {
        while parent[i] != i {
            parent[i] = parent[parent[i]];
            i = parent[i];
        }
        i
    }
    fn union(parent: &mut [usize], a: usize, b: usize) {
        let (ra, rb) = (find(parent, a), find(parent, b));
        if ra != rb {
            let (lo, hi) = if ra < rb { (ra, rb) } else { (rb, ra) };
            parent[hi] = lo;
        }
    }
    // An id named but not read (a parent outside the export) still links
    // the messages that name it.
    let mut holder_of_id: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, m) in messages.iter().enumerate() {
        let named = m.message_id.iter().filter(|_| !m.id_reused).chain(&m.in_reply_to).chain(&m.references);
        for id in named {
            match holder_of_id.get(id.as_str()) {
                Some(&j) => union(&mut parent, i, j),
                None => {
                    holder_of_id.insert(id.as_str(), i);
                }
            }
        }
    }
    // Then by subject, participants and time.
    let mut groups: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for i in 0..n {
        let r = find(&mut parent, i);
        groups.entry(r).or_default().push(i);
    }
    let mut order: Vec<(DateTime<FixedOffset>, usize)> = groups
        .iter()
        .map(|(&root, ms)| (ms.iter().map(|&i| messages[i].date).min().unwrap_or(messages[root].date), root))
        .collect();
    order.sort();
    struct Open {
        root: usize,
        last: i64,
        participants: Vec<String>,
    }
    let mut by_subject: BTreeMap<String, Vec<Open>> = BTreeMap::new();
    for (first, root) in order {
        let members = &groups[&root];
        let subject =
            members.iter().find_map(|&i| messages[i].subject.as_deref()).map(normalize_subject).unwrap_or_default();
        let mut people: Vec<String> = members
            .iter()
            .flat_map(|&i| messages[i].participants.iter().cloned())
            .filter(|a| !options.is_support(a))
            .collect();
        people.sort();
        people.dedup();
        let last = members.iter().map(|&i| messages[i].date.timestamp()).max().unwrap_or(0);
        if subject.is_empty() {
            continue;
        }
        let open = by_subject.entry(subject).or_default();
        let joined = open.iter_mut().rev().find(|o| {
            first.timestamp() - o.last <= options.window_secs
                && o.participants.iter().any(|p| people.binary_search(p).is_ok())
        });
        match joined {
            Some(o) => {
                union(&mut parent, o.root, root);
                o.last = o.last.max(last);
                o.participants.extend(people);
                o.participants.sort();
                o.participants.dedup();
            }
            None => open.push(Open { root, last, participants: people }),
        }
    }
    let mut threads: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for i in 0..n {
        let r = find(&mut parent, i);
        threads.entry(r).or_default().push(i);
    }
    // Roots are the smallest member, so the map's order is input order.
    let mut slots: Vec<Option<Message>> = messages.into_iter().map(Some).collect();
    threads
        .into_values()
        .map(|members| {
            let mut ms: Vec<Message> = members.into_iter().filter_map(|i| slots[i].take()).collect();
            ms.sort_by_key(|m| (m.date, m.input, position_key(&m.position)));
            let state = case_state(&ms);
            Thread { messages: ms, state }
        })
        .collect()
}

/// A position's place in its input, for ordering.
pub(crate) fn position_key(p: &Position) -> (u64, String) {
    match p {
        Position::Line { line } | Position::Row { line, .. } | Position::Element { line, .. } => (*line, String::new()),
        Position::Message { offset, .. } | Position::Offset { offset } => (*offset, String::new()),
        Position::File { file } => (0, file.clone()),
    }
}

/// The case a thread opens and its history.
fn case_state(ms: &[Message]) -> triage_core::CaseState {
    use triage_core::{Case, CaseState, Event, EventKind, Requester};
    let unique: Vec<&Message> = ms.iter().filter(|m| !m.duplicate).collect();
    let unique = if unique.is_empty() { ms.iter().collect() } else { unique };
    let first = unique[0];
    let opener = unique.iter().find(|m| !m.from_support).copied().unwrap_or(first);
    let key = match &first.message_id {
        Some(id) if !first.id_reused => id.clone(),
        _ => format!("{}#{:?}", first.input_name, first.position),
    };
    let case = Case {
        id: format!("mail-{:016x}", fnv1a(key.as_bytes())),
        created_at: Some(first.date),
        channel: Some("email".to_string()),
        subject: first.subject.clone().or_else(|| opener.subject.clone()),
        body: Some(opener.text.clone()),
        requester: Some(Requester {
            email: opener.from.clone(),
            name: opener.from_name.clone(),
            language: opener.language.clone(),
        }),
        ..Case::default()
    };
    let mut events = vec![Event {
        at: first.date,
        kind: EventKind::Created,
        status: None,
        priority: None,
        tier: None,
        team: None,
        agent: None,
    }];
    for (i, m) in unique.iter().enumerate() {
        let kind = if m.from_support { EventKind::AgentReplied } else { EventKind::CustomerReplied };
        if i == 0 && kind == EventKind::CustomerReplied {
            continue; // the customer's first message is the case itself
        }
        events.push(Event { at: m.date, kind, status: None, priority: None, tier: None, team: None, agent: None });
    }
    CaseState { case, events, ..Default::default() }
}

/// FNV-1a, 64 bits: a stable case id from a thread's first `Message-ID`.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn subjects_lose_their_prefixes() {
        assert_eq!(normalize_subject("Re: AW: Fwd:  API is  down"), "api is down");
        assert_eq!(normalize_subject("RE[2]: Invoice"), "invoice");
        assert_eq!(normalize_subject("回复：账单问题"), "账单问题");
        assert_eq!(normalize_subject("[EXT] SV: Faktura"), "faktura");
        assert_eq!(normalize_subject("Reply needed"), "reply needed");
    }

    #[test]
    fn quotes_and_signatures_are_kept_out() {
        let text = "Still broken.\n\nOn Mon, 2 Mar 2026 at 09:00, Help <help@x.example> wrote:\n> did you try\n";
        assert_eq!(strip_quotes(text), "Still broken.");
        let text = "Thanks!\n-- \nDana\nACME Ops";
        assert_eq!(strip_quotes(text), "Thanks!");
        let text = "See below\n\nFrom: Help Desk\nSent: Monday\nSubject: x\nold text";
        assert_eq!(strip_quotes(text), "See below");
        assert_eq!(strip_quotes("> only a quote"), "> only a quote");
    }

    #[test]
    fn postmarks_are_told_from_body_lines() {
        assert!(is_postmark(b"From dana@acme.example Mon Mar  2 09:00:00 2026\n"));
        assert!(!is_postmark(b"From my point of view, it is down.\n"));
        let mbox = b"From a@x Mon Mar  2 09:00:00 2026\nSubject: one\n\nFrom here on\n>From quoted\n\nFrom b@x Mon Mar  2 10:00:00 2026\nSubject: two\n\nhi\n";
        let mut got = Vec::new();
        split_mbox(&mbox[..], |i, off, bytes| got.push((i, off, String::from_utf8(bytes).unwrap()))).unwrap();
        assert_eq!(got.len(), 2);
        assert!(got[0].2.contains("From here on\nFrom quoted\n"), "{}", got[0].2);
        assert_eq!(got[1].1, 75);
    }

    #[test]
    fn support_patterns_match_senders() {
        let o =
            MailOptions { support: vec!["*@support.example".into(), "help@acme.example".into()], ..Default::default() };
        assert!(o.is_support("Lin@Support.example"));
        assert!(o.is_support("help@acme.example"));
        assert!(!o.is_support("dana@acme.example"));
    }
}
