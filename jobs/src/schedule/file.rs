//! Schedules declared in a TOML file, in the spirit of sidekiq-scheduler's schedule file,
//! and the check that CI runs on it.
//!
//! 1. [`ScheduleFile::parse`] reads one table per schedule; a key or value it does not
//!    accept is an error naming the entry.
//! 2. [`ScheduleFile::check`] validates every entry against a job registry (unknown job,
//!    arguments the job's decoder refuses) and returns every error, not just the first.
//! 3. [`check_file`] does both and lists the next fire times of each entry, for
//!    `cargo run --example schedule_check -- schedule.toml`.
//!
//! ```toml
//! [nightly_report]
//! cron = "30 2 * * *"          # 5 fields, 6 with seconds, or @hourly/@daily/@weekly/@monthly
//! time_zone = "Europe/Berlin"  # IANA name; default UTC
//! job = "NightlyReport"        # the job's wire name (`class` is accepted too)
//! args = ["sales"]             # JSON-compatible arguments, checked with the job's decoder
//! queue = "reports"            # optional: overrides the job's queue
//! retry = 3                    # optional: a count, true or false
//! catch_up = "once"            # "skip", "once" (default) or "each"
//! catch_up_limit = 10          # with "each": at most this many missed ticks run
//!
//! [heartbeat_ping]
//! every = "5m"                 # ms, s, m, h, d, w; anchored at the Unix epoch
//! job = "Ping"
//! ```

use std::fmt;

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::{CatchUp, Schedule, ScheduleError};
use crate::envelope::RetrySetting;
use crate::registry::Registry;

const KEYS: &[&str] = &[
    "cron",
    "every",
    "time_zone",
    "job",
    "class",
    "args",
    "queue",
    "retry",
    "catch_up",
    "catch_up_limit",
];

/// The schedules of one file, sorted by name.
///
/// ```
/// use jobs::schedule::ScheduleFile;
/// let file = ScheduleFile::parse("schedule.toml", r#"
///     [nightly]
///     cron = "0 3 * * *"
///     time_zone = "Europe/Berlin"
///     job = "NightlyReport"
/// "#).unwrap();
/// assert_eq!(file.schedules()[0].name(), "nightly");
/// ```
#[derive(Debug, Clone)]
pub struct ScheduleFile {
    path: String,
    schedules: Vec<Schedule>,
}

impl ScheduleFile {
    /// Reads and parses a file.
    pub fn load(path: impl AsRef<std::path::Path>) -> Result<Self, ScheduleError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| ScheduleError::File {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        Self::parse(&path.display().to_string(), &text)
    }

    /// Parses the text of a file called `path` (used in errors). Only a TOML syntax error
    /// fails here; a wrong entry is kept and reported by [`ScheduleFile::check`].
    pub fn parse(path: &str, text: &str) -> Result<Self, ScheduleError> {
        let table: toml::Table = toml::from_str(text).map_err(|e| ScheduleError::File {
            path: path.to_owned(),
            reason: e.to_string().trim_end().to_owned(),
        })?;
        let schedules = table
            .into_iter()
            .map(|(name, value)| entry(name, value))
            .collect();
        Ok(ScheduleFile {
            path: path.to_owned(),
            schedules,
        })
    }

    /// The file's path as given.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The schedules.
    pub fn schedules(&self) -> &[Schedule] {
        &self.schedules
    }

    /// The schedules, to give to [`super::SchedulerBuilder::file`].
    pub fn into_schedules(self) -> Vec<Schedule> {
        self.schedules
    }

    /// Every error of every entry, checked against `registry` when given.
    pub fn check(&self, registry: Option<&Registry>) -> Vec<ScheduleError> {
        self.schedules
            .iter()
            .filter_map(|s| s.check(registry).err())
            .collect()
    }
}

fn entry(name: String, value: toml::Value) -> Schedule {
    let s = Schedule::new(name.clone());
    let invalid = |reason: String| ScheduleError::InvalidEntry {
        entry: name.clone(),
        reason,
    };
    let toml::Value::Table(t) = value else {
        return s.fail(invalid(
            "must be a table of keys ([name] then key = value lines)".into(),
        ));
    };
    if let Some(k) = t.keys().find(|k| !KEYS.contains(&k.as_str())) {
        return s.fail(invalid(format!(
            "unknown key `{k}` (known: {})",
            KEYS.join(", ")
        )));
    }
    let text = |key: &str| -> Result<Option<&str>, ScheduleError> {
        match t.get(key) {
            None => Ok(None),
            Some(toml::Value::String(v)) => Ok(Some(v.as_str())),
            Some(other) => Err(invalid(format!(
                "`{key}` must be a string, not {}",
                other.type_str()
            ))),
        }
    };
    match build(s.clone(), &t, &text) {
        Ok(s) => s,
        Err(e) => s.fail(e),
    }
}

type Text<'a> = dyn Fn(&str) -> Result<Option<&'a str>, ScheduleError> + 'a;

fn build(mut s: Schedule, t: &toml::Table, text: &Text<'_>) -> Result<Schedule, ScheduleError> {
    let entry = s.name().to_owned();
    let invalid = |reason: String| ScheduleError::InvalidEntry {
        entry: entry.clone(),
        reason,
    };
    s = match (text("cron")?, text("every")?) {
        (Some(_), Some(_)) => {
            return Err(invalid("give either `cron` or `every`, not both".into()))
        }
        (Some(expr), None) => s.cron(expr),
        (None, Some(every)) => {
            s.every(parse_duration(every).map_err(|r| invalid(format!("`every`: {r}")))?)
        }
        (None, None) => {
            return Err(ScheduleError::Missing {
                entry,
                field: "`cron` or `every`",
            })
        }
    };
    if let Some(zone) = text("time_zone")? {
        s = s.time_zone(zone);
    }
    let job = match (text("job")?, text("class")?) {
        (Some(j), _) | (None, Some(j)) => j,
        (None, None) => {
            return Err(ScheduleError::Missing {
                entry,
                field: "`job`",
            })
        }
    };
    let args = match t.get("args") {
        None => Vec::new(),
        Some(toml::Value::Array(items)) => items
            .iter()
            .map(|v| serde_json::to_value(v).map_err(|e| invalid(format!("`args`: {e}"))))
            .collect::<Result<Vec<Value>, _>>()?,
        // sidekiq-scheduler accepts a single argument without the array.
        Some(one) => vec![serde_json::to_value(one).map_err(|e| invalid(format!("`args`: {e}")))?],
    };
    s = s.job(job, args);
    if let Some(q) = text("queue")? {
        s = s.queue(q);
    }
    s = match t.get("retry") {
        None => s,
        Some(toml::Value::Boolean(b)) => s.retry(RetrySetting::Enabled(*b)),
        Some(toml::Value::Integer(n)) => {
            s.retry(RetrySetting::Count(u32::try_from(*n).map_err(|_| {
                invalid(format!("`retry` = {n} is out of range"))
            })?))
        }
        Some(other) => {
            return Err(invalid(format!(
                "`retry` must be a count or a boolean, not {}",
                other.type_str()
            )))
        }
    };
    let limit = match t.get("catch_up_limit") {
        None => None,
        Some(toml::Value::Integer(n)) => Some(
            u32::try_from(*n)
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| invalid(format!("`catch_up_limit` = {n} must be at least 1")))?,
        ),
        Some(other) => {
            return Err(invalid(format!(
                "`catch_up_limit` must be a number, not {}",
                other.type_str()
            )))
        }
    };
    let policy = match (text("catch_up")?, limit) {
        (None | Some("once"), None) => CatchUp::Once,
        (Some("skip"), None) => CatchUp::Skip,
        (Some("each"), n) => CatchUp::Each(n.unwrap_or(100)),
        (Some(p @ ("once" | "skip")), Some(_)) => {
            return Err(invalid(format!(
                "`catch_up_limit` only goes with catch_up = \"each\", not \"{p}\""
            )))
        }
        (None, Some(_)) => {
            return Err(invalid(
                "`catch_up_limit` only goes with catch_up = \"each\"".into(),
            ))
        }
        (Some(other), _) => {
            return Err(invalid(format!(
                "`catch_up` must be \"skip\", \"once\" or \"each\", not \"{other}\""
            )))
        }
    };
    Ok(s.catch_up(policy))
}

/// Parses `500ms`, `30s`, `5m`, `2h`, `1d`, `1w`, or sums such as `1h30m`.
///
/// ```
/// use std::time::Duration;
/// assert_eq!(jobs::schedule::parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
/// assert!(jobs::schedule::parse_duration("5 parsecs").is_err());
/// ```
pub fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    let mut total = 0u128;
    let mut rest = text.trim();
    if rest.is_empty() {
        return Err("empty duration".into());
    }
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        let n: u128 = rest[..digits]
            .parse()
            .map_err(|_| format!("`{text}` is not a duration such as 30s, 5m, 2h or 1d"))?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let ms = match rest[..unit_len].trim() {
            "ms" => 1,
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            "w" => 604_800_000,
            _ => {
                return Err(format!(
                    "`{text}` is not a duration such as 30s, 5m, 2h or 1d"
                ))
            }
        };
        total = total.saturating_add(n.saturating_mul(ms));
        rest = &rest[unit_len..];
    }
    let ms = u64::try_from(total).map_err(|_| format!("`{text}` is too long"))?;
    if ms == 0 {
        return Err("the interval must be at least 1ms".into());
    }
    Ok(std::time::Duration::from_millis(ms))
}

/// The outcome of [`check_file`]: each entry's next fire times.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckReport {
    /// `(name, description, next fire times)` of each entry, by name.
    pub entries: Vec<(String, String, Vec<DateTime<Utc>>)>,
}

impl fmt::Display for CheckReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (name, description, times) in &self.entries {
            writeln!(f, "{name}: {description}")?;
            for t in times {
                writeln!(f, "  {}", t.to_rfc3339())?;
            }
        }
        Ok(())
    }
}

/// Validates a schedule file against `registry` and lists the next `n` fire times after
/// `now` of each entry; on any error returns all of them.
///
/// ```
/// let file = jobs::schedule::ScheduleFile::parse("s.toml", "[a]\nevery = \"1h\"\njob = \"Ping\"\n").unwrap();
/// let now = "2026-01-01T00:30:00Z".parse().unwrap();
/// let report = jobs::schedule::check_file(&file, None, now, 2).unwrap();
/// assert_eq!(report.entries[0].2.len(), 2);
/// assert!(report.to_string().contains("2026-01-01T01:00:00+00:00"));
/// ```
pub fn check_file(
    file: &ScheduleFile,
    registry: Option<&Registry>,
    now: DateTime<Utc>,
    n: usize,
) -> Result<CheckReport, Vec<ScheduleError>> {
    let mut errors = file.check(registry);
    let mut seen = std::collections::HashSet::new();
    for s in file.schedules() {
        if !seen.insert(s.name()) {
            errors.push(ScheduleError::Duplicate {
                entry: s.name().to_owned(),
            });
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let entries = file
        .schedules()
        .iter()
        .map(|s| {
            let mut times = Vec::with_capacity(n);
            let mut t = now;
            while times.len() < n {
                match s.next_after(t) {
                    Some(next) => {
                        times.push(next);
                        t = next;
                    }
                    None => break,
                }
            }
            (s.name().to_owned(), s.describe(), times)
        })
        .collect();
    Ok(CheckReport { entries })
}
