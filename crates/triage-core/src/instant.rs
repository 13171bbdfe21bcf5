//! Instants in answers, written as chrono's serde writes a `DateTime<Utc>`
//! (RFC 3339 in UTC: `2026-03-02T07:55:00Z`), but straight into a 20-byte
//! buffer rather than through the formatting machinery: a decision carries
//! up to a dozen of them, and the service spent about 4 % of its time
//! formatting them (`benches/http/`). Instants with a fraction of a second
//! or outside the years 0–9999 are left to chrono. [`Rfc3339`] is public:
//! batch runs write their lean lines and CSV rows with it.

use chrono::{DateTime, Datelike, NaiveDateTime, Timelike, Utc};
use serde::{Serialize, Serializer};

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
        let two = |buf: &mut [u8], at: usize, n: u32| {
            buf[at] = b'0' + (n / 10 % 10) as u8;
            buf[at + 1] = b'0' + (n % 10) as u8;
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

    /// The text: 20 bytes with `Z`, else 25.
    pub fn as_str(&self) -> &str {
        // Only ASCII digits and separators are written.
        std::str::from_utf8(&self.buf[..usize::from(self.len)]).unwrap_or_default()
    }
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
            prop_assert_eq!(local.is_some(), nanos == 0);
            if let Some(text) = local {
                prop_assert_eq!(text.as_str(), fixed.to_rfc3339());
            }
            if let Some(text) = super::Rfc3339::utc(&t) {
                prop_assert_eq!(text.as_str(), t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
            }
        }
    }
}
