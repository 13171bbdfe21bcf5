//! Instants in answers, written as chrono's serde writes a `DateTime<Utc>`
//! (RFC 3339 in UTC: `2026-03-02T07:55:00Z`), but straight into a 20-byte
//! buffer rather than through the formatting machinery: a decision carries
//! up to a dozen of them, and the service spent about 4 % of its time
//! formatting them (`benches/http/`). Instants with a fraction of a second
//! or outside the years 0–9999 are left to chrono.

use chrono::{DateTime, Datelike, Timelike, Utc};
use serde::{Serialize, Serializer};

/// `#[serde(serialize_with)]` for a `DateTime<Utc>`.
pub(crate) fn utc<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    match whole_seconds(t) {
        Some(buf) => match std::str::from_utf8(&buf) {
            Ok(text) => s.serialize_str(text),
            Err(_) => t.serialize(s),
        },
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

fn whole_seconds(t: &DateTime<Utc>) -> Option<[u8; 20]> {
    let year = u32::try_from(t.year()).ok().filter(|y| *y <= 9999)?;
    if t.nanosecond() != 0 {
        return None;
    }
    let mut b = *b"0000-00-00T00:00:00Z";
    let mut put = |at: usize, value: u32, digits: usize| {
        let mut v = value;
        for i in (0..digits).rev() {
            b[at + i] = b'0' + (v % 10) as u8;
            v /= 10;
        }
    };
    put(0, year, 4);
    put(5, t.month(), 2);
    put(8, t.day(), 2);
    put(11, t.hour(), 2);
    put(14, t.minute(), 2);
    put(17, t.second(), 2);
    Some(b)
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, TimeZone, Utc};
    use proptest::prelude::*;

    #[derive(serde::Serialize)]
    struct Ours(#[serde(serialize_with = "super::utc")] DateTime<Utc>);

    proptest! {
        /// The same text as chrono's own serde, whole seconds or not.
        #[test]
        fn writes_what_chrono_writes(secs in -62_167_219_200i64..253_402_300_800, nanos in prop_oneof![Just(0u32), 0u32..1_000_000_000]) {
            let t = Utc.timestamp_opt(secs, nanos).single().unwrap_or_default();
            prop_assert_eq!(serde_json::to_string(&Ours(t)).ok(), serde_json::to_string(&t).ok());
        }
    }
}
