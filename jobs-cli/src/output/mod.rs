//! How results are written: tables ([`table`]), JSON, and the small formats they share
//! (times, durations, set names, shortened text).

pub mod table;

use std::io::Write;
use std::time::Duration;

use chrono::{DateTime, Utc};
use jobs::backend::{JobSet, StoredJob};
use serde::Serialize;

use crate::error::CliError;

/// Writes a line to stderr (notes, errors), ignoring a stderr that cannot be written.
pub fn note(text: &str) {
    let _ = writeln!(std::io::stderr(), "{text}");
}

/// Writes `value` as pretty JSON and a newline.
pub fn json(out: &mut dyn Write, value: &impl Serialize) -> Result<(), CliError> {
    serde_json::to_writer_pretty(&mut *out, value)?;
    writeln!(out)?;
    Ok(())
}

/// A time for a table: `2026-03-01 12:00:05`, in UTC.
pub fn time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S").to_string()
}

/// A time given as epoch seconds, for a table.
pub fn epoch_time(secs: f64) -> String {
    time(jobs::envelope::from_epoch(secs))
}

/// A time for JSON: RFC 3339 in UTC.
pub fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// A duration in the two largest units: `0s`, `42s`, `3m 05s`, `2h 10m`, `4d 03h`.
pub fn duration(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m {:02}s", s / 60, s % 60),
        3600..=86_399 => format!("{}h {:02}m", s / 3600, s % 3600 / 60),
        _ => format!("{}d {:02}h", s / 86_400, s % 86_400 / 3600),
    }
}

/// How long ago `t` was, as of `now`: `12s ago` (times in the future read `in 5m 00s`).
pub fn ago(now: DateTime<Utc>, t: DateTime<Utc>) -> String {
    match (now - t).to_std() {
        Ok(d) => format!("{} ago", duration(d)),
        Err(_) => format!("in {}", duration((t - now).to_std().unwrap_or_default())),
    }
}

/// `text` cut to `max` characters, ending in `…` when cut; newlines become spaces.
pub fn shorten(text: &str, max: usize) -> String {
    let flat: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if flat.chars().count() <= max {
        return flat;
    }
    let mut cut: String = flat.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

/// The name of a set as the commands take it: `queue NAME`, `scheduled`, `retry`, `dead`.
pub fn set_name(set: &JobSet) -> String {
    match set {
        JobSet::Queue(name) => format!("queue {name}"),
        JobSet::Scheduled => "scheduled".to_owned(),
        JobSet::Retry => "retry".to_owned(),
        JobSet::Dead => "dead".to_owned(),
        JobSet::Cancelled => "cancelled".to_owned(),
        _ => "another set".to_owned(),
    }
}

/// A job of a set as JSON: where it is, when, and the job as stored.
#[derive(Debug, Serialize)]
pub struct JobJson<'a> {
    /// `queue`, `scheduled`, `retry` or `dead`.
    pub set: &'static str,
    /// The queue holding it, when `set` is `queue`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub queue: Option<&'a str>,
    /// When it runs (scheduled, retry) or died (dead), RFC 3339.
    pub at: Option<String>,
    /// The job as stored, in its wire format.
    pub job: &'a jobs::envelope::JobEnvelope,
}

impl<'a> JobJson<'a> {
    /// The JSON form of `stored`.
    pub fn new(stored: &'a StoredJob) -> Self {
        let (set, queue) = match &stored.set {
            JobSet::Queue(name) => ("queue", Some(name.as_str())),
            JobSet::Scheduled => ("scheduled", None),
            JobSet::Retry => ("retry", None),
            JobSet::Dead => ("dead", None),
            JobSet::Cancelled => ("cancelled", None),
            _ => ("other", None),
        };
        JobJson {
            set,
            queue,
            at: stored.at.map(rfc3339),
            job: &stored.job,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_in_two_units() {
        let d = |s| duration(Duration::from_secs(s));
        assert_eq!(
            [d(0), d(42), d(185), d(7_800), d(356_400)],
            ["0s", "42s", "3m 05s", "2h 10m", "4d 03h"]
        );
    }

    #[test]
    fn long_text_is_shortened_on_one_line() {
        assert_eq!(shorten("a\nb", 10), "a b");
        assert_eq!(shorten("abcdef", 4), "abc…");
    }
}
