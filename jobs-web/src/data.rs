//! Every call the pages and the API make to the backend, in one place, and the time they
//! read: handlers load through these methods of [`AppState`] and only render what they get.
//!
//! 1. [`AppState::now`] is the injected clock ([`crate::Dashboard::clock`]); a handler reads
//!    it once and passes that instant to every call and formatter of its request.
//! 2. Backend errors become [`WebError`]s (503) here; lookups that find nothing become 404s
//!    with the same words for the pages and the API.
//! 3. Every job loaded passes through [`AppState::shown`] (in `redact`), so no page or API
//!    answer sees arguments the dashboard must not show.
//! 4. A method that changes state takes a [`Permit`] (the request was checked for the
//!    operation's action) and, once done, gives its audit record to the `on_action` hook.

mod cancel;

use chrono::{DateTime, Utc};
use jobs::backend::{
    BackendError, DayStats, ErrorKind, JobActionParams, JobFilter, JobListParams, JobPage, JobSet,
    ProcessRecord, ProcessSignal, QueueInfo, Selection, Stats, StoredJob, UniqueHeld,
    UniqueListParams, UniqueReleaseParams,
};
use jobs::backend::{
    EnableParams, JobGetParams, MetricsQueryParams, ProcessSignalParams, QueueClearParams,
    QueueListParams, QueuePauseParams, RunNowParams, ScheduleRemoveParams, StatsHistoryParams,
};
use jobs::metrics::{hour_of, Counts, JobMetrics};
use jobs::schedule::ScheduleRecord;

use crate::pages::{SetAction, SetKind};
use crate::params::Paging;
use crate::permit::{describe_jids, describe_selection, Permit};
use crate::redact::Reveal;
use crate::{AppState, WebError};

/// Where a job is, as a page can link to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Place {
    /// Waiting in this queue.
    Queue(String),
    /// In the scheduled, retry or dead set.
    Set(SetKind),
    /// Running in a live process.
    Running,
}

/// How many locks one backend call reads while looking for one key.
const LOCK_CHUNK: usize = 500;

impl AppState {
    /// The current time, from the injected clock.
    pub(crate) fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// The backend's name (`memory`, `redis`, ...).
    pub(crate) fn backend_name(&self) -> &'static str {
        self.backend.name()
    }

    /// The totals.
    pub(crate) async fn stats(&self) -> Result<Stats, WebError> {
        Ok(self.backend.stats().await?)
    }

    /// Processed and failed per day, for the `days` days up to `now`'s day, oldest first.
    pub(crate) async fn history(
        &self,
        now: DateTime<Utc>,
        days: u64,
    ) -> Result<Vec<DayStats>, WebError> {
        let days = u32::try_from(days).unwrap_or(u32::MAX);
        Ok(self
            .backend
            .stats_history(StatsHistoryParams::new(now.date_naive(), days))
            .await?)
    }

    /// The server facts, as `(label, value)`. The error stays a [`BackendError`] so the
    /// dashboard page can show "unavailable" without logging a failed request.
    pub(crate) async fn facts(&self) -> Result<Vec<(String, String)>, BackendError> {
        self.backend.facts().await
    }

    /// Every queue, with its latency at `now`.
    pub(crate) async fn queues(&self, now: DateTime<Utc>) -> Result<Vec<QueueInfo>, WebError> {
        Ok(self.backend.queue_list(QueueListParams::new(now)).await?)
    }

    /// One queue, if the backend knows it.
    pub(crate) async fn queue(
        &self,
        name: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<QueueInfo>, WebError> {
        Ok(self.queues(now).await?.into_iter().find(|q| q.name == name))
    }

    /// Gives the audit record of a permitted operation to the `on_action` hook, and keeps
    /// it for the Recent actions page.
    fn audit(&self, permit: Permit, target: String, count: u64) {
        let event = permit.record(target, count);
        (self.on_action)(&event);
        self.recent.push(self.now(), event);
    }

    /// Pauses (`true`) or resumes (`false`) a queue.
    pub(crate) async fn queue_pause(
        &self,
        permit: Permit,
        name: &str,
        paused: bool,
    ) -> Result<(), WebError> {
        self.backend
            .queue_pause(QueuePauseParams::new(name, paused))
            .await?;
        self.audit(permit, format!("queue {name}"), 1);
        Ok(())
    }

    /// Removes every job waiting in a queue; how many.
    pub(crate) async fn queue_clear(&self, permit: Permit, name: &str) -> Result<u64, WebError> {
        let n = self
            .backend
            .queue_clear(QueueClearParams::new(name))
            .await?;
        self.audit(permit, format!("queue {name}"), n);
        Ok(n)
    }

    /// Deletes these jobs from a queue; how many.
    pub(crate) async fn queue_delete(
        &self,
        permit: Permit,
        name: &str,
        jids: Vec<String>,
        now: DateTime<Utc>,
    ) -> Result<u64, WebError> {
        let target = describe_jids(&format!("queue {name}"), &jids);
        let p = JobActionParams::jids(JobSet::Queue(name.to_owned()), jids, now);
        let n = self.backend.job_delete(p).await?;
        self.audit(permit, target, n);
        Ok(n)
    }

    /// One page of a set (or a queue), filtered.
    pub(crate) async fn jobs(
        &self,
        set: JobSet,
        paging: Paging,
        filter: JobFilter,
    ) -> Result<JobPage, WebError> {
        let mut p = JobListParams::new(set, paging.per_page);
        p.offset = paging.offset();
        p.filter = filter;
        let mut page = self.backend.job_list(p).await?;
        for j in &mut page.jobs {
            self.shown(&mut j.job, None);
        }
        Ok(page)
    }

    /// One job of a set, its arguments shown as `reveal` allows; 404 when it is not there.
    pub(crate) async fn job(
        &self,
        kind: SetKind,
        jid: &str,
        reveal: Option<Reveal>,
    ) -> Result<StoredJob, WebError> {
        let mut j = self
            .backend
            .job_get(JobGetParams::new(kind.set(), jid))
            .await?
            .ok_or_else(|| WebError::not_found("no such job in this set"))?;
        self.shown(&mut j.job, reveal);
        Ok(j)
    }

    /// How many jobs of `kind` a selection covers now.
    pub(crate) async fn count(
        &self,
        kind: SetKind,
        selection: &Selection,
    ) -> Result<u64, WebError> {
        match selection {
            Selection::Jids(jids) => {
                let mut n = 0;
                for jid in jids {
                    if self
                        .backend
                        .job_get(JobGetParams::new(kind.set(), jid))
                        .await?
                        .is_some()
                    {
                        n += 1;
                    }
                }
                Ok(n)
            }
            Selection::Matching(filter) => {
                let mut p = JobListParams::new(kind.set(), 1);
                p.filter = filter.clone();
                Ok(self.backend.job_list(p).await?.total)
            }
            _ => Err(WebError::bad_request("unknown selection")),
        }
    }

    /// Applies `action` to the selected jobs of `kind` at `now`; how many it moved.
    pub(crate) async fn apply(
        &self,
        permit: Permit,
        kind: SetKind,
        action: SetAction,
        selection: Selection,
        now: DateTime<Utc>,
    ) -> Result<u64, WebError> {
        let target = describe_selection(kind.slug(), &selection);
        let mut p = JobActionParams::jids(kind.set(), Vec::new(), now);
        p.selection = selection;
        let n = match action {
            SetAction::Enqueue | SetAction::Retry => self.backend.job_enqueue_now(p).await?,
            SetAction::Delete => self.backend.job_delete(p).await?,
            SetAction::Kill => self.backend.job_kill(p).await?,
            SetAction::Cancel => {
                let jids = match &p.selection {
                    Selection::Jids(jids) => jids.clone(),
                    other => {
                        let mut list = JobListParams::new(kind.set(), u64::MAX);
                        if let Selection::Matching(filter) = other {
                            list.filter = filter.clone();
                        }
                        let page = self.backend.job_list(list).await?;
                        page.jobs.into_iter().map(|s| s.job.jid).collect()
                    }
                };
                let answers = self
                    .backend
                    .job_cancel(jobs::backend::CancelParams::new(jids, now))
                    .await?;
                answers
                    .iter()
                    .filter(|a| **a == jobs::backend::Cancellation::Cancelled)
                    .count() as u64
            }
        };
        self.audit(permit, target, n);
        Ok(n)
    }

    /// The live processes.
    pub(crate) async fn processes(&self) -> Result<Vec<ProcessRecord>, WebError> {
        let mut procs = self.backend.process_list().await?;
        for r in procs.iter_mut().flat_map(|p| &mut p.running) {
            self.shown(&mut r.job, None);
        }
        Ok(procs)
    }

    /// Leaves a signal for a live process; 404 when no such process is alive.
    pub(crate) async fn signal(
        &self,
        permit: Permit,
        process: &str,
        signal: ProcessSignal,
    ) -> Result<(), WebError> {
        let process = process.to_owned();
        if !self.processes().await?.iter().any(|p| p.info.id == process) {
            return Err(WebError::not_found("no such process"));
        }
        self.backend
            .process_signal(ProcessSignalParams::new(process.clone(), signal))
            .await?;
        self.audit(permit, format!("process {process}"), 1);
        Ok(())
    }

    /// The recurring schedules; `None` when the backend keeps none.
    pub(crate) async fn schedules(&self) -> Result<Option<Vec<ScheduleRecord>>, WebError> {
        match self.backend.schedules() {
            Some(store) => {
                let mut records = store.schedule_list().await?;
                for r in &mut records {
                    self.shown(&mut r.job, None);
                }
                Ok(Some(records))
            }
            None => Ok(None),
        }
    }

    /// Enables, disables or runs (at `now`) a schedule; the enqueued job's id for `run`.
    pub(crate) async fn schedule_act(
        &self,
        permit: Permit,
        name: &str,
        action: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<String>, WebError> {
        let store = self
            .backend
            .schedules()
            .ok_or_else(|| WebError::not_found("this backend keeps no recurring schedules"))?;
        let found = match action {
            "enable" | "disable" => {
                store
                    .schedule_set_enabled(EnableParams::new(name, action == "enable"))
                    .await?
            }
            "run" => {
                return match store.schedule_run_now(RunNowParams::new(name, now)).await? {
                    Some(jid) => {
                        self.audit(permit, format!("schedule {name}"), 1);
                        Ok(Some(jid))
                    }
                    None => Err(WebError::not_found("no such schedule")),
                }
            }
            "remove" => {
                store
                    .schedule_remove(ScheduleRemoveParams::new(name))
                    .await?
            }
            _ => {
                return Err(WebError::not_found(
                    "schedule actions: enable, disable, run, remove",
                ))
            }
        };
        if found {
            self.audit(permit, format!("schedule {name}"), 1);
            Ok(None)
        } else {
            Err(WebError::not_found("no such schedule"))
        }
    }

    /// The job metrics of the last `hours` hours up to `now`; `None` when the backend keeps
    /// none.
    pub(crate) async fn metrics(
        &self,
        hours: u64,
        now: DateTime<Utc>,
    ) -> Result<Option<Vec<JobMetrics>>, WebError> {
        let Some(store) = self.backend.metrics() else {
            return Ok(None);
        };
        let from = i64::try_from(hours)
            .ok()
            .and_then(chrono::Duration::try_hours)
            .and_then(|back| now.checked_sub_signed(back))
            .unwrap_or(DateTime::<Utc>::MIN_UTC);
        Ok(Some(
            store
                .metrics_query(MetricsQueryParams::new(from, now))
                .await?,
        ))
    }

    /// The metrics of job `class`, hour by hour, for the last `hours` hours up to `now`
    /// (oldest first; an hour it did not run in has zero counts); `None` when the backend
    /// keeps none. One query per hour: at most 72.
    pub(crate) async fn job_series(
        &self,
        class: &str,
        hours: u64,
        now: DateTime<Utc>,
    ) -> Result<Option<Vec<(DateTime<Utc>, Counts)>>, WebError> {
        let Some(store) = self.backend.metrics() else {
            return Ok(None);
        };
        let last = hour_of(now);
        let mut series = Vec::new();
        for back in (0..hours.max(1)).rev() {
            let Some(hour) = i64::try_from(back)
                .ok()
                .and_then(chrono::Duration::try_hours)
                .and_then(|d| last.checked_sub_signed(d))
            else {
                continue;
            };
            let end = hour + chrono::Duration::minutes(59);
            let rows = store
                .metrics_query(MetricsQueryParams::new(hour, end))
                .await?;
            let counts = rows
                .into_iter()
                .find(|r| r.class == class)
                .map(|r| r.counts)
                .unwrap_or_default();
            series.push((hour, counts));
        }
        Ok(Some(series))
    }

    /// A page of the concurrency and rate limits in use at `now`, and whether more follow;
    /// `None` when the backend keeps no limits.
    pub(crate) async fn limits(
        &self,
        now: DateTime<Utc>,
        paging: Paging,
    ) -> Result<Option<(Vec<jobs::backend::LimitUsage>, bool)>, WebError> {
        let offset = usize::try_from(paging.offset()).unwrap_or(usize::MAX);
        let limit = usize::try_from(paging.per_page).unwrap_or(1);
        let params = jobs::backend::LimitsListParams::new(now)
            .clock(self.clock.lease_clock())
            .page(offset, limit.saturating_add(1));
        match self.backend.limits_list(params).await {
            Ok(mut used) => {
                let more = used.len() > limit;
                used.truncate(limit);
                Ok(Some((used, more)))
            }
            Err(e) if e.kind() == ErrorKind::Unsupported => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// A page of the jobs moved aside waiting for a slot of concurrency key `key`, oldest
    /// first, and whether more follow; `None` when the backend keeps no limits.
    pub(crate) async fn limit_waiting(
        &self,
        key: &str,
        paging: Paging,
    ) -> Result<Option<(Vec<jobs::envelope::JobEnvelope>, bool)>, WebError> {
        let offset = usize::try_from(paging.offset()).unwrap_or(usize::MAX);
        let limit = usize::try_from(paging.per_page).unwrap_or(1);
        let params =
            jobs::backend::LimitWaitingParams::new(key).page(offset, limit.saturating_add(1));
        match self.backend.limit_waiting(params).await {
            Ok(mut jobs) => {
                let more = jobs.len() > limit;
                jobs.truncate(limit);
                for job in &mut jobs {
                    self.shown(job, None);
                }
                Ok(Some((jobs, more)))
            }
            Err(e) if e.kind() == ErrorKind::Unsupported => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// The job `jid` if it waits for a slot of concurrency key `key` (read a page at a
    /// time); 404 when it does not.
    pub(crate) async fn limit_waiting_job(
        &self,
        key: &str,
        jid: &str,
    ) -> Result<jobs::envelope::JobEnvelope, WebError> {
        const PAGE: usize = 1000;
        let mut offset = 0;
        loop {
            let params = jobs::backend::LimitWaitingParams::new(key).page(offset, PAGE);
            let jobs = self.backend.limit_waiting(params).await?;
            let last = jobs.len() < PAGE;
            if let Some(mut job) = jobs.into_iter().find(|j| j.jid == jid) {
                self.shown(&mut job, None);
                return Ok(job);
            }
            if last {
                return Err(WebError::not_found(
                    "this job does not wait for a slot of this key (any more)",
                ));
            }
            offset += PAGE;
        }
    }

    /// Deletes jobs waiting for a slot of concurrency key `key`; how many.
    pub(crate) async fn limit_waiting_delete(
        &self,
        permit: Permit,
        key: &str,
        jids: Vec<String>,
    ) -> Result<u64, WebError> {
        let target = describe_jids(&format!("waiting for {key}"), &jids);
        let params = jobs::backend::LimitWaitingDeleteParams::new(key, jids);
        let n = self.backend.limit_waiting_delete(params).await?;
        self.audit(permit, target, n);
        Ok(n)
    }

    /// A page of the unique locks held at `now`, soonest to lapse first, and whether more
    /// follow; `None` when the backend keeps no unique locks.
    pub(crate) async fn locks(
        &self,
        now: DateTime<Utc>,
        paging: Paging,
    ) -> Result<Option<(Vec<UniqueHeld>, bool)>, WebError> {
        let offset = usize::try_from(paging.offset()).unwrap_or(usize::MAX);
        let limit = usize::try_from(paging.per_page).unwrap_or(1);
        // One more than the page: whether a next page has rows, without counting them all.
        let params = UniqueListParams::new(now).page(offset, limit.saturating_add(1));
        match self.backend.unique_list(params).await {
            Ok(mut held) => {
                let more = held.len() > limit;
                held.truncate(limit);
                Ok(Some((held, more)))
            }
            Err(e) if e.kind() == ErrorKind::Unsupported => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// The unique lock `key` held at `now`; 404 when none is.
    pub(crate) async fn lock(&self, key: &str, now: DateTime<Utc>) -> Result<UniqueHeld, WebError> {
        let mut offset = 0;
        loop {
            let params = UniqueListParams::new(now).page(offset, LOCK_CHUNK);
            let held = self.backend.unique_list(params).await?;
            let read = held.len();
            if let Some(h) = held.into_iter().find(|h| h.key == key) {
                return Ok(h);
            }
            if read < LOCK_CHUNK {
                return Err(WebError::not_found("no such lock held"));
            }
            offset += read;
        }
    }

    /// Releases the unique lock `key` (its job stays); 404 when no lock of that key was there.
    pub(crate) async fn lock_release(&self, permit: Permit, key: &str) -> Result<(), WebError> {
        if self
            .backend
            .unique_release(UniqueReleaseParams::new(key))
            .await?
        {
            self.audit(permit, format!("lock {key}"), 1);
            Ok(())
        } else {
            Err(WebError::not_found("no such lock held"))
        }
    }

    /// Where the job `jid` of `queue` is now: in its queue, a set, or running; 404 when it
    /// is in none of them (it ended, or runs in a process that has not beaten yet).
    pub(crate) async fn locate(&self, jid: &str, queue: &str) -> Result<Place, WebError> {
        let get = |set: JobSet| self.backend.job_get(JobGetParams::new(set, jid));
        if get(JobSet::Queue(queue.to_owned())).await?.is_some() {
            return Ok(Place::Queue(queue.to_owned()));
        }
        for kind in [
            SetKind::Scheduled,
            SetKind::Retries,
            SetKind::Dead,
            SetKind::Cancelled,
        ] {
            if get(kind.set()).await?.is_some() {
                return Ok(Place::Set(kind));
            }
        }
        let procs = self.processes().await?;
        if procs
            .iter()
            .flat_map(|p| &p.running)
            .any(|r| r.job.jid == jid)
        {
            return Ok(Place::Running);
        }
        Err(WebError::not_found(
            "no such job waiting, scheduled, retrying, dead or running",
        ))
    }
}
