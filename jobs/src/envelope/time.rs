//! Epoch-second timestamps as the envelope stores them, reading Sidekiq 8's milliseconds too.

use chrono::{DateTime, TimeZone, Utc};

/// Integers above this are taken to be milliseconds (Sidekiq 8), not seconds.
const MILLIS_THRESHOLD: f64 = 100_000_000_000.0;

/// The current time as epoch seconds.
pub fn epoch_now() -> f64 {
    epoch_of(unix_now())
}

/// The system clock, as a duration since the Unix epoch (zero for a clock set before it).
/// Cheaper than `Utc::now`, which also works out the calendar date.
pub(crate) fn unix_now() -> std::time::Duration {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
}

/// A time since the Unix epoch as epoch seconds, to the microsecond (as [`to_epoch`]).
pub(crate) fn epoch_of(since_epoch: std::time::Duration) -> f64 {
    since_epoch.as_micros() as f64 / 1_000_000.0
}

/// A time as epoch seconds with sub-second precision.
///
/// ```
/// use chrono::{TimeZone, Utc};
/// let t = Utc.timestamp_millis_opt(1_500).unwrap();
/// assert_eq!(jobs::envelope::to_epoch(t), 1.5);
/// ```
pub fn to_epoch(t: DateTime<Utc>) -> f64 {
    t.timestamp_micros() as f64 / 1_000_000.0
}

/// Epoch seconds back to a time (saturating to the epoch for values chrono cannot hold).
///
/// ```
/// assert_eq!(jobs::envelope::from_epoch(1.5).timestamp_millis(), 1_500);
/// ```
pub fn from_epoch(secs: f64) -> DateTime<Utc> {
    let micros = (secs * 1_000_000.0).round() as i64;
    Utc.timestamp_micros(micros).single().unwrap_or_default()
}

fn normalize(n: &serde_json::Number) -> Option<f64> {
    if let Some(i) = n.as_i64() {
        let f = i as f64;
        return Some(if f > MILLIS_THRESHOLD { f / 1000.0 } else { f });
    }
    n.as_f64()
}

pub(super) mod seconds {
    use serde::{de::Error, Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(*v)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        let n = serde_json::Number::deserialize(d)?;
        super::normalize(&n).ok_or_else(|| D::Error::custom(format!("invalid timestamp {n}")))
    }
}

pub(super) mod seconds_opt {
    use serde::{de::Error, Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &Option<f64>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(v) => s.serialize_f64(*v),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
        match Option::<serde_json::Number>::deserialize(d)? {
            None => Ok(None),
            Some(n) => super::normalize(&n)
                .map(Some)
                .ok_or_else(|| D::Error::custom(format!("invalid timestamp {n}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_system_clock_reads_as_chrono_does() {
        assert_eq!(
            epoch_of(std::time::Duration::from_micros(1_500_001)),
            1.500001
        );
        let (before, now, after) = (to_epoch(Utc::now()), epoch_now(), to_epoch(Utc::now()));
        assert!(before <= now && now <= after, "{before} {now} {after}");
    }
}
