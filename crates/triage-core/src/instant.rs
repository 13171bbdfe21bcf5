//! Instants in answers, written as chrono's serde writes a `DateTime<Utc>`
//! (RFC 3339 in UTC: `2026-03-02T07:55:00Z`), but straight into a 20-byte
//! buffer rather than through the formatting machinery: a decision carries
//! up to a dozen of them, and the service spent about 4 % of its time
//! formatting them (`benches/http/`). Instants with a fraction of a second
//! or outside the years 0–9999 are left to chrono. [`Rfc3339`] is public:
//! batch runs write their lean lines and CSV rows with it.

use chrono::{DateTime, Datelike, FixedOffset, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Timelike, Utc};
use serde::de::{self, Deserializer, Visitor};
use serde::{Serialize, Serializer};
use std::fmt;

/// `#[serde(serialize_with)]` for a `DateTime<Utc>`.
pub(crate) fn utc<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    match Rfc3339::utc(t) {
        Some(text) => s.serialize_str(text.as_str()),
        None => t.serialize(s),
    }
}

/// `#[serde(serialize_with)]` for an `Option<DateTime<Utc>>`.
pub(crate) fn utc_opt<S: Serializer>(t: &Option<DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => utc(t, s),
        None => s.serialize_none(),
    }
}

/// RFC 3339 text of an instant with whole seconds and a four-digit year,
/// written into a buffer without the formatting machinery, byte for byte
/// as chrono writes it: `Z` for UTC when asked, else `+HH:MM`. Instants
/// it does not cover (a fraction of a second, a year outside 0–9999, an
/// offset in seconds) are left to chrono. The one writer of instants for
/// answers, lean lines and CSV rows.
#[derive(Debug, Clone, Copy)]
pub struct Rfc3339 {
    buf: [u8; 25],
    len: u8,
}

impl Rfc3339 {
    /// `local` at `offset` seconds east of UTC, with `Z` for a zero offset
    /// when `z`; `None` when the instant has a fraction of a second, a year
    /// outside 0–9999 or an offset in seconds.
    pub fn whole_seconds(local: &NaiveDateTime, offset: i32, z: bool) -> Option<Rfc3339> {
        let year = local.year();
        if local.nanosecond() != 0 || !(0..=9999).contains(&year) || offset % 60 != 0 {
            return None;
        }
        let mut buf = [0u8; 25];
        // Two digits from a table of "00" to "99": every field is below 100.
        let two = |buf: &mut [u8], at: usize, n: u32| {
            let i = (n as usize % 100) * 2;
            buf[at..at + 2].copy_from_slice(&DIGIT_PAIRS[i..i + 2]);
        };
        let year = year.unsigned_abs();
        two(&mut buf, 0, year / 100);
        two(&mut buf, 2, year % 100);
        buf[4] = b'-';
        two(&mut buf, 5, local.month());
        buf[7] = b'-';
        two(&mut buf, 8, local.day());
        buf[10] = b'T';
        two(&mut buf, 11, local.hour());
        buf[13] = b':';
        two(&mut buf, 14, local.minute());
        buf[16] = b':';
        two(&mut buf, 17, local.second());
        let len = if offset == 0 && z {
            buf[19] = b'Z';
            20
        } else {
            buf[19] = if offset < 0 { b'-' } else { b'+' };
            let minutes = offset.unsigned_abs() / 60;
            two(&mut buf, 20, minutes / 60);
            buf[22] = b':';
            two(&mut buf, 23, minutes % 60);
            25
        };
        Some(Rfc3339 { buf, len })
    }

    /// An instant in UTC as chrono's serde writes a `DateTime<Utc>`
    /// (`2026-03-02T07:55:00Z`).
    pub fn utc(t: &DateTime<Utc>) -> Option<Rfc3339> {
        Rfc3339::whole_seconds(&t.naive_utc(), 0, true)
    }

    /// The text's bytes (ASCII), for writers that take bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[..usize::from(self.len)]
    }

    /// The text: 20 bytes with `Z`, else 25.
    pub fn as_str(&self) -> &str {
        // Only ASCII digits and separators are written.
        std::str::from_utf8(self.as_bytes()).unwrap_or_default()
    }
}

/// `#[serde(deserialize_with)]` for a `DateTime<FixedOffset>` read from
/// JSON or YAML text: the common strict form (see [`parse_strict`]) read
/// directly, anything else by chrono's own relaxed parser, whose value and
/// error message it is in either case.
pub(crate) fn fixed<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<FixedOffset>, D::Error> {
    d.deserialize_str(FixedVisitor)
}

/// [`fixed`] for an `Option`: absent and `null` are `None`.
pub(crate) fn fixed_opt<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DateTime<FixedOffset>>, D::Error> {
    struct Optional;
    impl<'de> Visitor<'de> for Optional {
        type Value = Option<DateTime<FixedOffset>>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an RFC 3339 formatted date and time string")
        }
        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            fixed(d).map(Some)
        }
    }
    d.deserialize_option(Optional)
}

/// Reads an instant as chrono's `DateTime<FixedOffset>` deserializer does
/// (its expectation text too).
struct FixedVisitor;

impl Visitor<'_> for FixedVisitor {
    type Value = DateTime<FixedOffset>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an RFC 3339 formatted date and time string")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        parse_instant(v).map_err(E::custom)
    }
}

/// Reads an RFC 3339 instant as chrono's relaxed reader (`str::parse`,
/// which its serde uses) does, with its values and errors (the common
/// strict form read faster, see [`parse_strict`]),
/// except a leap second (`…:60`), which is read as the instant it ends:
/// the first second of the next minute. SLA clocks count POSIX seconds,
/// which have no 61st second; chrono keeps a leap second as second 59 with
/// a whole second of fraction, and every clock counted from it would run a
/// second early (`2026-06-30T23:59:60Z` plus 8 hours was `07:59:59`).
///
/// # Errors
/// chrono's [`chrono::ParseError`] for text that is not an RFC 3339 instant.
pub fn parse_instant(text: &str) -> Result<DateTime<FixedOffset>, chrono::ParseError> {
    match parse_strict(text) {
        Some(t) => Ok(t),
        None => text.parse().map(past_leap_second),
    }
}

/// A leap second moved to the instant it ends (see [`parse_instant`]);
/// any other instant as it is.
fn past_leap_second(t: DateTime<FixedOffset>) -> DateTime<FixedOffset> {
    let nanos = t.nanosecond();
    if nanos < 1_000_000_000 {
        return t;
    }
    // Any instant within the leap second is the one it ends at.
    DateTime::from_timestamp(t.timestamp() + 1, 0).map_or(t, |u| u.with_timezone(&t.timezone()))
}

/// `YYYY-MM-DDTHH:MM:SS`, an optional fraction of one to nine digits, and
/// `Z` or `±HH:MM` — what nearly every system writes — read field by field;
/// `None` for anything else, including what chrono's relaxed reading
/// accepts besides (a space for `T`, a lower-case `z`, `UTC`, a missing
/// colon, a leap second, a signed year) and what it refuses, which the
/// caller leaves to chrono. Whatever this reads, chrono reads the same
/// (`instant::tests`); chrono's reader, driven by a format description,
/// took about 1,500 instructions a case.
pub(crate) fn parse_strict(s: &str) -> Option<DateTime<FixedOffset>> {
    let b = s.as_bytes();
    let num = |at: usize, len: usize| -> Option<u32> {
        b.get(at..at + len)?.iter().try_fold(0u32, |n, &c| c.is_ascii_digit().then(|| n * 10 + u32::from(c - b'0')))
    };
    let at = |i: usize, c: u8| b.get(i) == Some(&c);
    if !(at(4, b'-') && at(7, b'-') && at(10, b'T') && at(13, b':') && at(16, b':')) {
        return None;
    }
    let (year, month, day) = (num(0, 4)?, num(5, 2)?, num(8, 2)?);
    let (hour, minute, second) = (num(11, 2)?, num(14, 2)?, num(17, 2)?);
    let mut i = 19;
    let mut nanos = 0;
    if at(i, b'.') {
        let digits = b[i + 1..].iter().take_while(|c| c.is_ascii_digit()).count();
        if !(1..=9).contains(&digits) {
            return None;
        }
        nanos = num(i + 1, digits)? * 10u32.pow(9 - digits as u32);
        i += 1 + digits;
    }
    let offset = match b.get(i..)? {
        b"Z" => 0,
        [sign @ (b'+' | b'-'), _, _, b':', _, _] => {
            let (h, m) = (num(i + 1, 2)?, num(i + 4, 2)?);
            if m >= 60 {
                return None;
            }
            let east = i32::try_from(h * 3600 + m * 60).ok()?;
            if *sign == b'-' { -east } else { east }
        }
        _ => return None,
    };
    if second >= 60 {
        return None;
    }
    let date = NaiveDate::from_ymd_opt(i32::try_from(year).ok()?, month, day)?;
    let time = NaiveTime::from_hms_nano_opt(hour, minute, second, nanos)?;
    FixedOffset::east_opt(offset)?.from_local_datetime(&date.and_time(time)).single()
}

/// "00", "01", … "99", one after another.
const DIGIT_PAIRS: &[u8; 200] = b"00010203040506070809101112131415161718192021222324252627282930313233343536373839\
404142434445464748495051525354555657585960616263646566676869707172737475767778798081828384858687888990919293949596979899";

#[cfg(test)]
mod tests {
    use chrono::{DateTime, TimeZone, Utc};
    use proptest::prelude::*;

    #[derive(serde::Serialize)]
    struct Ours(#[serde(serialize_with = "super::utc")] DateTime<Utc>);

    /// Instants near the strict form: every field in and out of range, the
    /// separators chrono's relaxed reading allows, fractions of 0 to 10
    /// digits, offsets with and without a colon, and a byte changed; with
    /// whether the text has the strict form.
    fn near_rfc3339() -> impl Strategy<Value = (String, bool)> {
        let fields = (0u32..=9999, 0u32..=13, 0u32..=32, 0u32..=25, 0u32..=61, 0u32..=61);
        let sep = prop_oneof![Just("T"), Just("T"), Just("t"), Just(" ")];
        let fraction = prop_oneof![
            Just(String::new()),
            (1usize..=10, any::<u64>()).prop_map(|(n, d)| format!(".{:010}", d % 10_000_000_000)[..=n].to_string())
        ];
        let offset = prop_oneof![
            Just(("Z".to_string(), true)),
            Just(("z".to_string(), false)),
            Just(("-00:00".to_string(), true)),
            Just(("+0530".to_string(), false)),
            Just((" UTC".to_string(), false)),
            (any::<bool>(), 0u32..=25, 0u32..=61)
                .prop_map(|(neg, h, m)| (format!("{}{h:02}:{m:02}", if neg { '-' } else { '+' }), true)),
        ];
        let edit = prop::option::of((
            any::<prop::sample::Index>(),
            prop_oneof![Just(' '), Just('x'), Just('9'), Just('+'), Just('é')],
        ));
        (fields, sep, fraction, offset, edit).prop_map(
            |((y, mo, d, h, mi, s), sep, fraction, (offset, strict_offset), edit)| {
                let text = format!("{y:04}-{mo:02}-{d:02}{sep}{h:02}:{mi:02}:{s:02}{fraction}{offset}");
                let strict = sep == "T" && strict_offset && fraction.len() <= 10 && s < 60 && edit.is_none();
                match edit {
                    Some((at, c)) => {
                        let mut chars: Vec<char> = text.chars().collect();
                        let i = at.index(chars.len());
                        chars[i] = c;
                        (chars.into_iter().collect(), false)
                    }
                    None => (text, strict),
                }
            },
        )
    }

    #[test]
    fn a_leap_second_is_the_instant_it_ends() {
        let read = |t: &str| super::parse_instant(t).unwrap().with_timezone(&Utc).to_rfc3339();
        assert_eq!(read("2026-06-30T23:59:60Z"), "2026-07-01T00:00:00+00:00");
        assert_eq!(read("2026-07-01T01:59:60+02:00"), "2026-07-01T00:00:00+00:00");
        assert_eq!(read("2026-06-30T23:59:60.250Z"), "2026-07-01T00:00:00+00:00");
        assert_eq!(read("2026-06-30T23:59:59Z"), "2026-06-30T23:59:59+00:00");
        let case = crate::Case::from_json(r#"{"id": "a", "created_at": "2026-06-30T23:59:60Z"}"#).unwrap();
        assert_eq!(case.created_at.unwrap().timestamp(), 1_782_864_000);
        assert!(super::parse_instant("2026-06-30T23:59:61Z").is_err());
    }

    proptest! {
        /// What the strict reader reads, chrono reads the same; and it
        /// reads every instant of the strict form that chrono accepts.
        #[test]
        fn strict_instants_are_read_as_chrono_reads_them((text, strict) in near_rfc3339()) {
            let chrono_reads = text.parse::<DateTime<chrono::FixedOffset>>().ok();
            match super::parse_strict(&text) {
                Some(t) => prop_assert_eq!(Some(t), chrono_reads),
                None => prop_assert!(!strict || chrono_reads.is_none(), "{} is strict and chrono reads it", text),
            }
        }

        /// A case's `created_at` and an event's `at` are read as chrono's
        /// deserializer reads them: the same value, or the same error.
        #[test]
        fn instants_in_documents_are_read_as_chrono_reads_them((text, _) in near_rfc3339(), raw in prop_oneof![Just(None), Just(Some("null")), Just(Some("5")), Just(Some("[]"))]) {
            let value = raw.map_or_else(|| serde_json::to_string(&text).unwrap(), str::to_string);
            let ours = crate::Case::from_json(&format!(r#"{{"id": "a", "created_at": {value}}}"#)).map(|c| c.created_at);
            let theirs = serde_json::from_str::<Option<DateTime<chrono::FixedOffset>>>(&value);
            match (ours, theirs) {
                (Ok(a), Ok(b)) => prop_assert_eq!(a, b.map(super::past_leap_second)),
                (Err(a), Err(b)) => prop_assert!(a.message.contains(&b.to_string().split(" at line").next().unwrap_or_default().to_string()), "{} / {}", a.message, b),
                (a, b) => prop_assert!(false, "{:?} against {:?}", a, b),
            }
            let event = format!(r#"{{"at": {value}, "kind": "created"}}"#);
            let ours = serde_json::from_str::<crate::Event>(&event).map(|e| e.at).map_err(|e| e.to_string());
            let theirs = serde_json::from_str::<DateTime<chrono::FixedOffset>>(&value).map_err(|e| e.to_string());
            prop_assert_eq!(ours.is_ok(), theirs.is_ok());
            if let (Ok(a), Ok(b)) = (ours, theirs) {
                prop_assert_eq!(a, super::past_leap_second(b));
            }
        }

        /// The same text as chrono's own serde, whole seconds or not.
        #[test]
        fn writes_what_chrono_writes(secs in -62_167_219_200i64..253_402_300_800, nanos in prop_oneof![Just(0u32), 0u32..1_000_000_000]) {
            let t = Utc.timestamp_opt(secs, nanos).single().unwrap_or_default();
            prop_assert_eq!(serde_json::to_string(&Ours(t)).ok(), serde_json::to_string(&t).ok());
        }

        /// With an offset, the text is chrono's RFC 3339: `+HH:MM`, or `Z`
        /// when asked for at offset zero.
        #[test]
        fn offsets_are_written_as_chrono_writes_them(
            secs in -62_167_219_200i64..253_402_300_799,
            nanos in prop_oneof![Just(0u32), 0u32..1_000_000_000],
            offset_minutes in -1439i32..1439,
        ) {
            let t = Utc.timestamp_opt(secs, nanos).single().unwrap_or_default();
            let fixed = t.with_timezone(&chrono::FixedOffset::east_opt(offset_minutes * 60).unwrap());
            let local = super::Rfc3339::whole_seconds(&fixed.naive_local(), fixed.offset().local_minus_utc(), false);
            let year = chrono::Datelike::year(&fixed.naive_local());
            prop_assert_eq!(local.is_some(), nanos == 0 && (0..=9999).contains(&year));
            if let Some(text) = local {
                prop_assert_eq!(text.as_str(), fixed.to_rfc3339());
            }
            if let Some(text) = super::Rfc3339::utc(&t) {
                prop_assert_eq!(text.as_str(), t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
            }
        }
    }
}
