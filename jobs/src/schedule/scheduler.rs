//! The scheduler service: turns due ticks into jobs, exactly once per tick across processes.
//!
//! 1. [`SchedulerBuilder`] collects schedules (in code or from a file), checks each against
//!    the job registry, and refuses a backend without a [`ScheduleStore`].
//! 2. [`Scheduler::tick`] is one pass at the clock's `now`: declare the schedules (a
//!    schedule whose timing changed since its record was made starts over), report
//!    orphans (records no longer declared: logged, never fired), and for each enabled
//!    schedule whose stored `next_run` is due, pick the ticks to run by its [`CatchUp`]
//!    policy and claim each through the store (claim and push are one atomic step), then
//!    raise `next_run`.
//! 3. [`Scheduler::run`] repeats passes until [`SchedulerHandle::stop`], waking at the next
//!    tick or every poll interval, whichever is sooner; it sends [`SchedulerEvent`]s that
//!    tests wait on instead of sleeping.

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use super::{CatchUp, ClaimParams, DeclareParams, Schedule, ScheduleError, ScheduleRecord};
use super::{ScheduleFile, ScheduleStore};
use crate::backend::{AdminBackend, BackendError};
use crate::backend::{AdvanceParams, EnableParams, RunNowParams, ScheduleRemoveParams};
use crate::clock::{Clock, SystemClock};
use crate::registry::Registry;

/// Ticks enumerated per schedule and pass before older ones are passed over.
const MAX_TICKS: usize = 10_000;

/// Configures a [`Scheduler`].
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use std::time::Duration;
/// use jobs::schedule::{Schedule, ScheduleError, Scheduler};
/// let backend = jobs::connect("memory://").await.unwrap();
/// let refused = Scheduler::builder(backend)
///     .registry(jobs::Registry::new())
///     .poll_interval(Duration::from_millis(500))
///     .grace(Duration::from_secs(30))
///     .schedule(Schedule::new("nightly").daily_at(3, 0).job("NoSuchJob", vec![]))
///     .build();
/// assert!(matches!(refused, Err(ScheduleError::UnknownJob { .. })));
/// # });
/// ```
#[must_use]
pub struct SchedulerBuilder {
    backend: Arc<dyn AdminBackend>,
    schedules: Vec<Schedule>,
    registry: Option<Registry>,
    clock: Arc<dyn Clock>,
    poll: Duration,
    grace: Duration,
}

impl SchedulerBuilder {
    /// Adds a schedule.
    pub fn schedule(mut self, schedule: Schedule) -> Self {
        self.schedules.push(schedule);
        self
    }

    /// Adds every schedule of a parsed schedule file.
    pub fn file(mut self, file: ScheduleFile) -> Self {
        self.schedules.extend(file.into_schedules());
        self
    }

    /// Checks jobs and arguments against this registry (default: every `#[job]`).
    pub fn registry(mut self, registry: Registry) -> Self {
        self.registry = Some(registry);
        self
    }

    /// Reads time from `clock` (tests pass a [`crate::clock::ManualClock`]).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The longest wait between passes (default 1 s); a pass also runs at each tick.
    pub fn poll_interval(mut self, d: Duration) -> Self {
        self.poll = d;
        self
    }

    /// How late the latest due tick may be seen and still count as on time rather than
    /// missed (default 60 s). Earlier due ticks are always missed. Missed ticks follow each
    /// schedule's [`CatchUp`] policy.
    pub fn grace(mut self, d: Duration) -> Self {
        self.grace = d;
        self
    }

    /// Checks every schedule (timing, zone, job, arguments), refuses duplicate names and a
    /// backend without a schedule store.
    pub fn build(self) -> Result<Scheduler, ScheduleError> {
        if self.backend.schedules().is_none() {
            return Err(ScheduleError::Unsupported {
                backend: self.backend.name(),
            });
        }
        let registry = match self.registry {
            Some(r) => r,
            None => Registry::from_inventory()?,
        };
        let mut by_name = BTreeMap::new();
        for s in self.schedules {
            s.check(Some(&registry))?;
            let name = s.name().to_owned();
            if by_name.insert(name.clone(), s).is_some() {
                return Err(ScheduleError::Duplicate { entry: name });
            }
        }
        let (events, _) = broadcast::channel(1024);
        Ok(Scheduler {
            backend: self.backend,
            schedules: by_name.into_values().collect(),
            registry,
            clock: self.clock,
            poll: self.poll,
            grace: self.grace,
            events,
            stop: CancellationToken::new(),
            declared: Mutex::new(HashSet::new()),
            orphans_told: Mutex::new(HashSet::new()),
        })
    }
}

/// What a scheduler did, sent to [`Scheduler::subscribe`]rs.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum SchedulerEvent {
    /// This process claimed a tick and enqueued its job.
    Enqueued {
        /// The schedule.
        schedule: String,
        /// The tick.
        tick: DateTime<Utc>,
        /// The job's id.
        jid: String,
    },
    /// A record in the store is declared by no schedule here; it is not fired.
    Orphaned {
        /// The record's name.
        schedule: String,
    },
    /// A pass ended at this time.
    Pass {
        /// The clock's time at the pass.
        at: DateTime<Utc>,
    },
}

/// What one pass did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PassReport {
    /// `(schedule, tick, jid)` of each tick this process claimed and enqueued, oldest first.
    pub enqueued: Vec<(String, DateTime<Utc>, String)>,
    /// Missed ticks dropped by their catch-up policy.
    pub dropped: u64,
    /// Records in the store that no schedule here declares.
    pub orphaned: Vec<String>,
}

/// A schedule's state with whether this scheduler still declares it.
#[derive(Debug, Clone, PartialEq)]
pub struct ScheduleStatus {
    /// The shared state.
    pub record: ScheduleRecord,
    /// True when no schedule of this scheduler has this name: it is listed, never fired.
    pub orphaned: bool,
}

/// Stops a running [`Scheduler`].
#[derive(Debug, Clone)]
pub struct SchedulerHandle {
    stop: CancellationToken,
}

impl SchedulerHandle {
    /// Ends [`Scheduler::run`] after the current pass.
    pub fn stop(&self) {
        self.stop.cancel();
    }
}

/// Enqueues recurring jobs. Run any number of them against one backend: each tick is
/// claimed by exactly one.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use std::sync::Arc;
/// use std::time::Duration;
/// use jobs::clock::ManualClock;
/// use jobs::schedule::{Schedule, Scheduler};
///
/// #[derive(Debug, thiserror::Error)]
/// #[error("never")]
/// struct Never;
/// #[jobs::job(name = "SchedulerDocCleanup")]
/// async fn cleanup() -> Result<(), Never> { Ok(()) }
///
/// let backend = jobs::connect("memory://").await.unwrap();
/// let clock = Arc::new(ManualClock::new("2026-01-01T00:00:00Z".parse().unwrap()));
/// let scheduler = Scheduler::builder(backend)
///     .registry(jobs::Registry::new().with::<Cleanup>().unwrap())
///     .clock(clock.clone())
///     .schedule(Schedule::new("cleanup").every(Duration::from_secs(60)).job("SchedulerDocCleanup", vec![]))
///     .build()
///     .unwrap();
/// assert!(scheduler.tick().await.unwrap().enqueued.is_empty()); // declares; next run 00:01
/// clock.advance(Duration::from_secs(60));
/// assert_eq!(scheduler.tick().await.unwrap().enqueued.len(), 1);
/// assert!(scheduler.tick().await.unwrap().enqueued.is_empty()); // once per tick
/// # });
/// ```
pub struct Scheduler {
    backend: Arc<dyn AdminBackend>,
    schedules: Vec<Schedule>,
    registry: Registry,
    clock: Arc<dyn Clock>,
    poll: Duration,
    grace: Duration,
    events: broadcast::Sender<SchedulerEvent>,
    stop: CancellationToken,
    declared: Mutex<HashSet<String>>,
    /// The orphaned records already logged: each is logged once per process, not each pass.
    orphans_told: Mutex<HashSet<String>>,
}

impl Scheduler {
    /// Starts configuring a scheduler on `backend`.
    pub fn builder(backend: Arc<dyn AdminBackend>) -> SchedulerBuilder {
        SchedulerBuilder {
            backend,
            schedules: Vec::new(),
            registry: None,
            clock: Arc::new(SystemClock),
            poll: Duration::from_secs(1),
            grace: Duration::from_secs(60),
        }
    }

    /// The schedules, by name.
    pub fn schedules(&self) -> &[Schedule] {
        &self.schedules
    }

    /// Events of every later pass.
    pub fn subscribe(&self) -> broadcast::Receiver<SchedulerEvent> {
        self.events.subscribe()
    }

    /// A handle that stops [`Scheduler::run`].
    pub fn handle(&self) -> SchedulerHandle {
        SchedulerHandle {
            stop: self.stop.clone(),
        }
    }

    fn store(&self) -> Result<&dyn ScheduleStore, BackendError> {
        self.backend.schedules().ok_or(BackendError::Unsupported {
            backend: self.backend.name(),
            operation: "recurring jobs",
        })
    }

    fn emit(&self, event: SchedulerEvent) {
        let _ = self.events.send(event);
    }

    /// Every record in the store, marked orphaned when no schedule here declares it.
    pub async fn status(&self) -> Result<Vec<ScheduleStatus>, BackendError> {
        let records = self.store()?.schedule_list().await?;
        Ok(records
            .into_iter()
            .map(|record| ScheduleStatus {
                orphaned: !self.schedules.iter().any(|s| s.name() == record.name),
                record,
            })
            .collect())
    }

    /// Disables or enables a schedule for every process; returns whether it exists.
    pub async fn set_enabled(&self, name: &str, enabled: bool) -> Result<bool, BackendError> {
        self.store()?
            .schedule_set_enabled(EnableParams::new(name, enabled))
            .await
    }

    /// Enqueues a schedule's job once, now; returns its id (`None`: no such schedule).
    pub async fn run_now(&self, name: &str) -> Result<Option<String>, BackendError> {
        self.store()?
            .schedule_run_now(RunNowParams::new(name, self.clock.now()))
            .await
    }

    /// One pass at the clock's current time.
    pub async fn tick(&self) -> Result<PassReport, BackendError> {
        let store = self.store()?;
        let now = self.clock.now();
        let mut report = PassReport::default();
        let mut records: BTreeMap<String, ScheduleRecord> = store
            .schedule_list()
            .await?
            .into_iter()
            .map(|r| (r.name.clone(), r))
            .collect();
        for s in &self.schedules {
            let fresh = !self.declared_contains(s.name());
            let record = match records.remove(s.name()) {
                Some(r) if !fresh => r,
                existing => self.declare(store, s, existing, now).await?,
            };
            self.pass_one(store, s, &record, now, &mut report).await?;
        }
        for name in records.into_keys() {
            let first = self
                .orphans_told
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(name.clone());
            if first {
                tracing::warn!(schedule = %name, "schedule in the backend is declared nowhere here; not firing it (remove it, or declare it again)");
            }
            self.emit(SchedulerEvent::Orphaned {
                schedule: name.clone(),
            });
            report.orphaned.push(name);
        }
        self.emit(SchedulerEvent::Pass { at: now });
        Ok(report)
    }

    /// Declares `s`, refreshing its description and job. When its timing changed since the
    /// stored record was made (another description), the record starts over, so an old
    /// `next_run` far in the future cannot hold back the new timing; the enabled flag is kept.
    async fn declare(
        &self,
        store: &dyn ScheduleStore,
        s: &Schedule,
        existing: Option<ScheduleRecord>,
        now: DateTime<Utc>,
    ) -> Result<ScheduleRecord, BackendError> {
        let mut template = s.job_at(Some(&self.registry), now, now);
        template.extra.remove("schedule_tick");
        let params = DeclareParams::new(
            s.name().to_owned(),
            s.describe(),
            template,
            s.next_after(now),
        );
        let changed = existing.filter(|old| old.description != params.description);
        if let Some(old) = &changed {
            tracing::info!(schedule = %s.name(), from = %old.description, to = %params.description, "timing changed; the schedule's runs start over");
            store
                .schedule_remove(ScheduleRemoveParams::new(s.name()))
                .await?;
        }
        let mut record = store.schedule_declare(params).await?;
        if changed.is_some_and(|old| !old.enabled) {
            store
                .schedule_set_enabled(EnableParams::new(s.name(), false))
                .await?;
            record.enabled = false;
        }
        self.declared_insert(s.name());
        Ok(record)
    }

    async fn pass_one(
        &self,
        store: &dyn ScheduleStore,
        s: &Schedule,
        record: &ScheduleRecord,
        now: DateTime<Utc>,
        report: &mut PassReport,
    ) -> Result<(), BackendError> {
        let next_after_now = s.next_after(now);
        let Some(next) = record.next_run.filter(|n| *n <= now) else {
            if record.next_run.is_none() {
                if let Some(n) = next_after_now {
                    store
                        .schedule_advance(AdvanceParams::new(s.name(), n))
                        .await?;
                }
            }
            return Ok(());
        };
        if record.enabled {
            let (fire, dropped) = self.due_ticks(s, next, now);
            report.dropped += dropped;
            if dropped > 0 {
                tracing::info!(schedule = %s.name(), dropped, policy = ?s.catch_up_policy(), "missed ticks passed over");
            }
            for tick in fire {
                let job = s.job_at(Some(&self.registry), tick, now);
                let jid = job.jid.clone();
                if store
                    .schedule_claim(ClaimParams::new(s.name(), tick, job, now))
                    .await?
                {
                    tracing::debug!(schedule = %s.name(), %tick, %jid, "tick enqueued");
                    self.emit(SchedulerEvent::Enqueued {
                        schedule: s.name().to_owned(),
                        tick,
                        jid: jid.clone(),
                    });
                    report.enqueued.push((s.name().to_owned(), tick, jid));
                }
            }
        }
        if let Some(n) = next_after_now {
            store
                .schedule_advance(AdvanceParams::new(s.name(), n))
                .await?;
        }
        Ok(())
    }

    /// The ticks from `from` to `now` to run, oldest first, and how many were dropped.
    fn due_ticks(
        &self,
        s: &Schedule,
        from: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> (Vec<DateTime<Utc>>, u64) {
        let grace = chrono::Duration::from_std(self.grace).unwrap_or(chrono::Duration::MAX);
        let mut due = std::collections::VecDeque::new();
        let mut t = s.next_after(from - chrono::Duration::milliseconds(1));
        let mut skipped = 0u64;
        while let Some(tick) = t.filter(|t| *t <= now) {
            if due.len() == MAX_TICKS {
                due.pop_front();
                skipped += 1;
            }
            due.push_back(tick);
            t = s.next_after(tick);
        }
        let mut due = Vec::from(due);
        // Only the latest due tick can be on time; any earlier one had its own moment to run.
        let split = match due.last() {
            Some(last) if now.signed_duration_since(*last) <= grace => due.len() - 1,
            _ => due.len(),
        };
        let on_time = due.split_off(split);
        let missed = due;
        let keep = match s.catch_up_policy() {
            CatchUp::Skip => 0,
            CatchUp::Once => 1,
            CatchUp::Each(n) => n as usize,
        };
        let kept = missed.len().min(keep);
        let dropped = skipped + (missed.len() - kept) as u64;
        let mut fire: Vec<_> = missed[missed.len() - kept..].to_vec();
        fire.extend(on_time);
        (fire, dropped)
    }

    fn declared_contains(&self, name: &str) -> bool {
        self.declared
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(name)
    }

    fn declared_insert(&self, name: &str) {
        self.declared
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(name.to_owned());
    }

    /// Runs passes until [`SchedulerHandle::stop`]: at each tick, and at least every poll
    /// interval. A backend error is logged and the pass retried at the next wake.
    pub async fn run(&self) {
        loop {
            if let Err(e) = self.tick().await {
                tracing::warn!(error = %e, "scheduler pass failed; trying again");
            }
            let now = self.clock.now();
            let until_tick = self
                .schedules
                .iter()
                .filter_map(|s| s.next_after(now))
                .min()
                .and_then(|t| (t - now).to_std().ok())
                .map_or(self.poll, |d| d + Duration::from_millis(5));
            tokio::select! {
                () = self.stop.cancelled() => return,
                () = tokio::time::sleep(until_tick.min(self.poll)) => {}
            }
        }
    }
}
