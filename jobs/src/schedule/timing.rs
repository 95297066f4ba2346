//! When a schedule fires: fixed intervals and wall-clock (cron) times in a time zone.
//!
//! 1. [`Timing::Every`] fires at `anchor + k * period` for every integer `k`: fixed instants
//!    that do not depend on when a process started, so a restart neither delays nor doubles
//!    a run. The default anchor is the Unix epoch, so `every 5m` fires at :00, :05, :10, ...
//! 2. [`Timing::Cron`] fires at the wall-clock times a cron expression matches, in the
//!    schedule's time zone. Matching is done on local wall-clock time, then each match is
//!    mapped to one instant:
//!    - a time that exists once is that instant;
//!    - a time the clock passes twice (the hour repeated when daylight-saving time ends)
//!      fires once, at its first occurrence: a daily 02:30 job in `Europe/Berlin` runs at
//!      02:30 CEST on the last Sunday of October, not again at 02:30 CET;
//!    - a time the clock skips (the hour lost when daylight-saving time starts) fires once,
//!      at the first instant after the gap: a daily 02:30 job in `Europe/Berlin` runs at
//!      03:00 CEST on the last Sunday of March. Several skipped times of one gap share that
//!      instant and so fire once.
//! 3. The set of tick instants is fixed by the timing and zone alone; every process computes
//!    the same ticks, which is what lets a tick be claimed by `(schedule, tick time)`.

use std::time::Duration;

use chrono::{DateTime, LocalResult, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;

/// When a schedule fires. Build it through [`super::Schedule`]'s methods (`every`, `cron`,
/// `daily_at`, ...), or directly:
///
/// ```
/// use std::time::Duration;
/// use jobs::schedule::Timing;
/// let t = Timing::every(Duration::from_secs(300));
/// let after = "2026-01-01T10:02:00Z".parse().unwrap();
/// assert_eq!(t.next_after(after, chrono_tz::UTC).unwrap().to_rfc3339(), "2026-01-01T10:05:00+00:00");
/// let c = Timing::cron("0 3 * * *").unwrap();
/// assert_eq!(c.next_after(after, chrono_tz::Europe::Berlin).unwrap().to_rfc3339(), "2026-01-02T02:00:00+00:00");
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Timing {
    /// Every `period`, at `anchor + k * period`.
    Every {
        /// The interval (at least one millisecond).
        period: Duration,
        /// One of the instants it fires at (default: the Unix epoch).
        anchor: DateTime<Utc>,
    },
    /// At the wall-clock times a cron expression matches.
    Cron(CronTiming),
}

/// A parsed cron expression with the text it came from.
#[derive(Debug, Clone)]
pub struct CronTiming {
    expr: String,
    cron: Box<croner::Cron>,
}

impl CronTiming {
    /// The expression as written.
    pub fn expr(&self) -> &str {
        &self.expr
    }
}

impl Timing {
    /// Every `period`, anchored at the Unix epoch.
    pub fn every(period: Duration) -> Self {
        Timing::Every {
            period,
            anchor: DateTime::<Utc>::UNIX_EPOCH,
        }
    }

    /// A cron expression: 5 fields (`min hour day month weekday`), 6 with seconds first, or
    /// `@hourly`, `@daily`, `@weekly`, `@monthly` (also `@yearly`). Day of month and day of
    /// week combine as in Vixie cron (either matches when both are restricted). A field
    /// with no values (`,` or `+` alone) is refused: croner would accept it and then search
    /// thousands of years for a time that never comes.
    pub fn cron(expr: &str) -> Result<Self, String> {
        let fields = expr.split_whitespace().count();
        if !expr.trim_start().starts_with('@') && !(5..=6).contains(&fields) {
            return Err(format!("expected 5 or 6 fields, found {fields}"));
        }
        let empty = |f: &str| f.trim_start_matches('+').split(',').all(str::is_empty);
        if let Some(i) = expr.split_whitespace().position(empty) {
            return Err(format!("field {} has no values", i + 1));
        }
        let cron = croner::parser::CronParser::builder()
            .seconds(croner::parser::Seconds::Optional)
            .year(croner::parser::Year::Disallowed)
            .build()
            .parse(expr)
            .map_err(|e| e.to_string())?;
        Ok(Timing::Cron(CronTiming {
            expr: expr.trim().to_owned(),
            cron: Box::new(cron),
        }))
    }

    /// A short description for logs and the dashboard: `every 300s`, `cron 0 3 * * *`.
    pub fn describe(&self) -> String {
        match self {
            Timing::Every { period, .. } => format!("every {}", humanize(*period)),
            Timing::Cron(c) => format!("cron {}", c.expr),
        }
    }

    /// The first tick strictly after `after`, or `None` when there is none (a cron
    /// expression that never matches, such as the 31st of February).
    pub fn next_after(&self, after: DateTime<Utc>, zone: Tz) -> Option<DateTime<Utc>> {
        match self {
            Timing::Every { period, anchor } => every_next(*period, *anchor, after),
            Timing::Cron(c) => cron_next(&c.cron, after, zone),
        }
    }
}

fn humanize(d: Duration) -> String {
    let s = d.as_secs();
    if d.subsec_millis() != 0 {
        format!("{}ms", d.as_millis())
    } else if s % 86_400 == 0 {
        format!("{}d", s / 86_400)
    } else if s % 3_600 == 0 {
        format!("{}h", s / 3_600)
    } else if s % 60 == 0 {
        format!("{}m", s / 60)
    } else {
        format!("{s}s")
    }
}

fn every_next(
    period: Duration,
    anchor: DateTime<Utc>,
    after: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    let p = i64::try_from(period.as_millis()).ok().filter(|p| *p > 0)?;
    let since = after.timestamp_millis() - anchor.timestamp_millis();
    let k = since.div_euclid(p) + 1;
    let at = anchor.timestamp_millis().checked_add(k.checked_mul(p)?)?;
    DateTime::from_timestamp_millis(at)
}

/// The first instant strictly after `after` whose local wall-clock time matches `cron`.
fn cron_next(cron: &croner::Cron, after: DateTime<Utc>, zone: Tz) -> Option<DateTime<Utc>> {
    let mut local = after.with_timezone(&zone).naive_local();
    // A match can map to an instant at or before `after` only around a repeated hour, so a
    // few steps always suffice; the bound guards against a pattern that never resolves.
    for _ in 0..64 {
        let next = cron.find_next_occurrence(&local, false).ok()?;
        if let Some(instant) = resolve(zone, next) {
            if instant > after {
                return Some(instant);
            }
        }
        local = next;
    }
    None
}

/// The instant of a local wall-clock time: itself, the first of two, or the end of a gap.
pub(crate) fn resolve(zone: Tz, local: NaiveDateTime) -> Option<DateTime<Utc>> {
    match zone.from_local_datetime(&local) {
        LocalResult::Single(t) | LocalResult::Ambiguous(t, _) => Some(t.with_timezone(&Utc)),
        LocalResult::None => {
            // In a gap: the first whole minute that exists is where the clock landed.
            let minute = local.and_utc().timestamp().div_euclid(60) * 60;
            let mut probe = DateTime::from_timestamp(minute, 0)?.naive_utc();
            for _ in 0..(26 * 60) {
                probe += chrono::Duration::minutes(1);
                if let Some(t) = zone.from_local_datetime(&probe).earliest() {
                    return Some(t.with_timezone(&Utc));
                }
            }
            None
        }
    }
}
