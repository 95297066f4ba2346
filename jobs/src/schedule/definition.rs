//! A schedule: a name, when it fires, in which time zone, which job with which arguments,
//! and what to do about ticks missed while no scheduler ran.
//!
//! 1. [`Schedule`] is built with chained calls; a mistake (a bad cron expression, an unknown
//!    zone) is kept and reported by [`Schedule::check`], naming the schedule.
//! 2. [`CatchUp`] is the policy for missed ticks.
//! 3. [`Schedule::job_at`] builds the envelope a tick enqueues.

use std::time::Duration;

use chrono::{DateTime, Utc, Weekday};
use chrono_tz::Tz;
use serde_json::Value;

use super::{ScheduleError, Timing};
use crate::envelope::{to_epoch, JobEnvelope, RetrySetting};
use crate::job::Job;
use crate::registry::Registry;

/// What a scheduler does with ticks that passed while no scheduler ran.
///
/// When a scheduler looks, the latest due tick is *on time* if it is at most the grace
/// period old (default 60 s) and always runs; every other due tick was *missed* (no
/// scheduler looked at its time) and is handled by this policy. So `Once` after downtime
/// runs the latest missed tick, plus the current one if it is on time.
///
/// ```
/// use jobs::schedule::{CatchUp, Schedule};
/// assert_eq!(CatchUp::default(), CatchUp::Once);
/// let s = Schedule::new("sync").hourly_at(15).job("Sync", vec![]).catch_up(CatchUp::Each(24));
/// assert_eq!(s.catch_up_policy(), CatchUp::Each(24));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum CatchUp {
    /// Missed ticks are dropped; the schedule resumes at its next tick.
    Skip,
    /// At most one run for all missed ticks together (the latest of them). The default.
    #[default]
    Once,
    /// Each missed tick runs, oldest first, but at most the `n` most recent of them.
    Each(u32),
}

/// One recurring job.
///
/// ```
/// use jobs::schedule::{CatchUp, Schedule};
/// let monthly = Schedule::new("monthly_invoices")
///     .monthly_on(1, 9, 0)
///     .time_zone("Europe/Berlin")
///     .job("RunInvoices", vec![serde_json::json!("eu")])
///     .queue("billing")
///     .catch_up(CatchUp::Once);
/// assert!(monthly.check(None).is_ok());
/// let after = "2026-03-15T00:00:00Z".parse().unwrap();
/// assert_eq!(monthly.next_after(after).unwrap().to_rfc3339(), "2026-04-01T07:00:00+00:00");
/// ```
#[derive(Debug, Clone)]
pub struct Schedule {
    name: String,
    timing: Option<Timing>,
    zone: Tz,
    job: Option<String>,
    args: Vec<Value>,
    queue: Option<String>,
    retry: Option<RetrySetting>,
    catch_up: CatchUp,
    error: Option<ScheduleError>,
}

impl Schedule {
    /// A schedule called `name` (unique among schedules; the key of its state in the backend).
    pub fn new(name: impl Into<String>) -> Self {
        Schedule {
            name: name.into(),
            timing: None,
            zone: Tz::UTC,
            job: None,
            args: Vec::new(),
            queue: None,
            retry: None,
            catch_up: CatchUp::default(),
            error: None,
        }
    }

    pub(crate) fn fail(mut self, e: ScheduleError) -> Self {
        self.error.get_or_insert(e);
        self
    }

    fn bad_time(self, reason: String) -> Self {
        let entry = self.name.clone();
        self.fail(ScheduleError::InvalidTime { entry, reason })
    }

    /// Fires every `period` at fixed instants: multiples of `period` since the Unix epoch.
    pub fn every(self, period: Duration) -> Self {
        self.every_from(period, DateTime::<Utc>::UNIX_EPOCH)
    }

    /// Fires every `period` at `anchor + k * period`.
    pub fn every_from(mut self, period: Duration, anchor: DateTime<Utc>) -> Self {
        if period.as_millis() == 0 {
            return self.bad_time("the interval must be at least 1ms".into());
        }
        self.timing = Some(Timing::Every { period, anchor });
        self
    }

    /// Fires at the wall-clock times of a cron expression (5 or 6 fields, or `@hourly`,
    /// `@daily`, `@weekly`, `@monthly`), in the schedule's time zone.
    pub fn cron(mut self, expr: &str) -> Self {
        match Timing::cron(expr) {
            Ok(t) => {
                self.timing = Some(t);
                self
            }
            Err(reason) => {
                let entry = self.name.clone();
                self.fail(ScheduleError::InvalidCron {
                    entry,
                    expr: expr.to_owned(),
                    reason,
                })
            }
        }
    }

    /// Keeps an error when `hour:minute` is not a time of day.
    fn hm(self, hour: u32, minute: u32) -> (Self, bool) {
        if hour > 23 || minute > 59 {
            return (
                self.bad_time(format!("{hour:02}:{minute:02} is not a time of day")),
                false,
            );
        }
        (self, true)
    }

    /// Every day at `hour:minute` local time.
    pub fn daily_at(self, hour: u32, minute: u32) -> Self {
        match self.hm(hour, minute) {
            (s, true) => s.cron(&format!("{minute} {hour} * * *")),
            (s, false) => s,
        }
    }

    /// On day `day` (1-31) of every month at `hour:minute`; months without that day are
    /// skipped, as in cron.
    pub fn monthly_on(self, day: u32, hour: u32, minute: u32) -> Self {
        if !(1..=31).contains(&day) {
            return self.bad_time(format!("day {day} is not a day of the month (1-31)"));
        }
        match self.hm(hour, minute) {
            (s, true) => s.cron(&format!("{minute} {hour} {day} * *")),
            (s, false) => s,
        }
    }

    /// Every hour at `minute` past.
    pub fn hourly_at(self, minute: u32) -> Self {
        match self.hm(0, minute) {
            (s, true) => s.cron(&format!("{minute} * * * *")),
            (s, false) => s,
        }
    }

    /// On the given weekdays at `hour:minute`.
    pub fn weekly_on(self, days: &[Weekday], hour: u32, minute: u32) -> Self {
        if days.is_empty() {
            return self.bad_time("no weekday given".into());
        }
        let list: Vec<String> = days
            .iter()
            .map(|d| d.num_days_from_sunday().to_string())
            .collect();
        match self.hm(hour, minute) {
            (s, true) => s.cron(&format!("{minute} {hour} * * {}", list.join(","))),
            (s, false) => s,
        }
    }

    /// The IANA time zone of wall-clock times (default `UTC`), such as `Europe/Berlin`.
    pub fn time_zone(mut self, zone: &str) -> Self {
        match zone.parse::<Tz>() {
            Ok(z) => {
                self.zone = z;
                self
            }
            Err(_) => {
                let entry = self.name.clone();
                self.fail(ScheduleError::UnknownTimeZone {
                    entry,
                    zone: zone.to_owned(),
                })
            }
        }
    }

    /// The job to enqueue, by wire name, with its JSON arguments.
    pub fn job(mut self, name: impl Into<String>, args: Vec<Value>) -> Self {
        self.job = Some(name.into());
        self.args = args;
        self
    }

    /// The job to enqueue, typed: its wire name and arguments, and its queue and retry
    /// unless overridden.
    pub fn perform<J: Job>(mut self, job: &J) -> Self {
        match job.to_args() {
            Ok(args) => self.job(J::NAME, args),
            Err(e) => {
                let entry = self.name.clone();
                self.job = Some(J::NAME.to_owned());
                self.fail(ScheduleError::BadArgs {
                    entry,
                    job: J::NAME.to_owned(),
                    reason: e.to_string(),
                })
            }
        }
    }

    /// Enqueue to this queue instead of the job's own.
    pub fn queue(mut self, queue: impl Into<String>) -> Self {
        self.queue = Some(queue.into());
        self
    }

    /// Use this retry setting instead of the job's own.
    pub fn retry(mut self, retry: RetrySetting) -> Self {
        self.retry = Some(retry);
        self
    }

    /// What to do with missed ticks (default [`CatchUp::Once`]).
    pub fn catch_up(mut self, policy: CatchUp) -> Self {
        self.catch_up = policy;
        self
    }

    /// The name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The timing, once set.
    pub fn timing(&self) -> Option<&Timing> {
        self.timing.as_ref()
    }

    /// The time zone.
    pub fn zone(&self) -> Tz {
        self.zone
    }

    /// The job's wire name, once set.
    pub fn job_name(&self) -> Option<&str> {
        self.job.as_deref()
    }

    /// The job's arguments.
    pub fn args(&self) -> &[Value] {
        &self.args
    }

    /// The catch-up policy.
    pub fn catch_up_policy(&self) -> CatchUp {
        self.catch_up
    }

    /// `cron 0 3 * * * (Europe/Berlin)`, for logs and the dashboard.
    pub fn describe(&self) -> String {
        let timing = self
            .timing
            .as_ref()
            .map_or_else(|| "no timing".to_owned(), Timing::describe);
        match &self.timing {
            Some(Timing::Cron(_)) => format!("{timing} ({})", self.zone.name()),
            _ => timing,
        }
    }

    /// The first tick strictly after `after`.
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.timing.as_ref()?.next_after(after, self.zone)
    }

    /// The first error made while building, a missing timing or job, and, given a
    /// registry, an unknown job or arguments its decoder refuses.
    pub fn check(&self, registry: Option<&Registry>) -> Result<(), ScheduleError> {
        if let Some(e) = &self.error {
            return Err(e.clone());
        }
        let entry = || self.name.clone();
        if self.timing.is_none() {
            return Err(ScheduleError::Missing {
                entry: entry(),
                field: "a timing (cron, every, daily_at, ...)",
            });
        }
        let Some(job) = &self.job else {
            return Err(ScheduleError::Missing {
                entry: entry(),
                field: "the job to enqueue",
            });
        };
        if let Some(registry) = registry {
            let Some(reg) = registry.get(job) else {
                return Err(ScheduleError::UnknownJob {
                    entry: entry(),
                    job: job.clone(),
                });
            };
            (reg.decode_args)(&self.args).map_err(|e| ScheduleError::BadArgs {
                entry: entry(),
                job: job.clone(),
                reason: e.to_string(),
            })?;
        }
        Ok(())
    }

    /// The job a tick enqueues: a fresh jid, the schedule's queue and retry overrides (else
    /// the registered job's, else `default` and 25), created at `now`, and the schedule's
    /// name and tick in the extra fields `schedule` and `schedule_tick`.
    pub fn job_at(
        &self,
        registry: Option<&Registry>,
        tick: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> JobEnvelope {
        let class = self.job.clone().unwrap_or_default();
        let options = registry
            .and_then(|r| r.get_with_options(&class))
            .map(|(_, options)| options);
        let queue = self
            .queue
            .clone()
            .or_else(|| options.map(|o| o.queue.to_owned()))
            .unwrap_or_else(|| "default".to_owned());
        let mut job = JobEnvelope::new(class, queue, self.args.clone());
        job.created_at = to_epoch(now);
        if let Some(retry) = self.retry.or_else(|| options.map(|o| o.retry)) {
            job.retry = retry;
        }
        if let Some(o) = options {
            if !o.dead {
                job.dead = Some(false);
            }
        }
        job.extra
            .insert("schedule".into(), Value::String(self.name.clone()));
        job.extra
            .insert("schedule_tick".into(), Value::from(to_epoch(tick)));
        job
    }
}
