//! What the API answers: one `Serialize` type per response body, each built from what the
//! backend returned. The field names are the JSON keys; times are RFC 3339 strings in UTC,
//! durations are seconds (or milliseconds where the name ends in `_ms`).

use chrono::{DateTime, NaiveDate, Utc};
use jobs::backend::{DayStats, ProcessInfo, ProcessRecord, QueueInfo, Stats, StoredJob};
use jobs::envelope::JobEnvelope;
use jobs::metrics::JobMetrics;
use jobs::schedule::ScheduleRecord;
use serde::Serialize;

use crate::pages::recurring::schedule_timing;
use crate::params::Paging;

/// `GET api/stats`: the totals, the live processes and the server time.
#[derive(Debug, Serialize)]
pub(crate) struct StatsBody {
    /// The backend's name (`memory`, `redis`, `postgres`, `sqlite`).
    pub backend: &'static str,
    /// Jobs run to an end, successful or not.
    pub processed: u64,
    /// Runs that failed.
    pub failed: u64,
    /// Dead jobs trimmed to keep within the limits.
    pub dead_trimmed: u64,
    /// Jobs dropped unstarted past their expiry (neither processed nor failed).
    pub expired: u64,
    /// Jobs waiting in all queues.
    pub enqueued: u64,
    /// Jobs in the scheduled set.
    pub scheduled: u64,
    /// Jobs in the retry set.
    pub retries: u64,
    /// Jobs in the dead set.
    pub dead: u64,
    /// Live processes.
    pub processes: usize,
    /// Jobs running now, across all processes.
    pub busy: usize,
    /// The dashboard's clock.
    pub now: DateTime<Utc>,
}

impl StatsBody {
    pub(crate) fn new(
        backend: &'static str,
        s: Stats,
        procs: &[ProcessRecord],
        now: DateTime<Utc>,
    ) -> Self {
        StatsBody {
            backend,
            processed: s.processed,
            failed: s.failed,
            dead_trimmed: s.dead_trimmed,
            expired: s.expired,
            enqueued: s.enqueued,
            scheduled: s.scheduled,
            retries: s.retries,
            dead: s.dead,
            processes: procs.len(),
            busy: procs.iter().map(|p| p.running.len()).sum(),
            now,
        }
    }
}

/// `GET api/facts`: facts about the server, as the dashboard lists them.
#[derive(Debug, Serialize)]
pub(crate) struct FactsBody {
    /// The backend's name.
    pub backend: &'static str,
    /// The facts, in the backend's order.
    pub facts: Vec<Fact>,
}

/// One fact: `{"label": "Redis version", "value": "7.2.4"}`.
#[derive(Debug, Serialize)]
pub(crate) struct Fact {
    /// What it is.
    pub label: String,
    /// Its value, as shown.
    pub value: String,
}

/// `GET api/metrics?hours=`: runs per job name over the last `hours` hours.
#[derive(Debug, Serialize)]
pub(crate) struct MetricsBody {
    /// The period, clamped to 1–72.
    pub hours: u64,
    /// Whether the backend keeps metrics (when not, `jobs` is empty).
    pub enabled: bool,
    /// The end of the period: the dashboard's clock.
    pub now: DateTime<Utc>,
    /// One row per job name.
    pub jobs: Vec<MetricsRow>,
}

/// The metrics of one job name.
#[derive(Debug, Serialize)]
pub(crate) struct MetricsRow {
    /// The job's wire name.
    pub class: String,
    /// Runs that ended.
    pub processed: u64,
    /// Of those, runs that failed.
    pub failed: u64,
    /// Average duration in milliseconds; `null` without runs.
    pub avg_ms: Option<f64>,
    /// Estimated 95th percentile duration in milliseconds; `null` without runs.
    pub p95_ms: Option<f64>,
}

impl From<JobMetrics> for MetricsRow {
    fn from(m: JobMetrics) -> Self {
        let ms = |d: Option<std::time::Duration>| d.map(|d| d.as_secs_f64() * 1000.0);
        MetricsRow {
            processed: m.counts.processed,
            failed: m.counts.failed,
            avg_ms: ms(m.counts.average()),
            p95_ms: ms(m.counts.p95()),
            class: m.class,
        }
    }
}

/// `GET api/history?days=`: processed and failed per UTC day, oldest first.
#[derive(Debug, Serialize)]
pub(crate) struct HistoryBody {
    /// How many days, clamped to 1–90; the last is the clock's day.
    pub days: u64,
    /// One row per day.
    pub history: Vec<DayRow>,
}

/// One day of history.
#[derive(Debug, Serialize)]
pub(crate) struct DayRow {
    /// The day, `YYYY-MM-DD`.
    pub date: NaiveDate,
    /// Jobs processed that day.
    pub processed: u64,
    /// Jobs failed that day.
    pub failed: u64,
}

impl From<DayStats> for DayRow {
    fn from(d: DayStats) -> Self {
        DayRow {
            date: d.date,
            processed: d.processed,
            failed: d.failed,
        }
    }
}

/// `GET api/queues`: every queue, sorted by name.
#[derive(Debug, Serialize)]
pub(crate) struct QueuesBody {
    /// The queues.
    pub queues: Vec<QueueRow>,
}

/// One queue.
#[derive(Debug, Serialize)]
pub(crate) struct QueueRow {
    /// Its name.
    pub name: String,
    /// Jobs waiting in it.
    pub size: u64,
    /// Seconds its oldest job has waited, by the dashboard's clock.
    pub latency: f64,
    /// Whether workers skip it.
    pub paused: bool,
}

impl From<QueueInfo> for QueueRow {
    fn from(q: QueueInfo) -> Self {
        QueueRow {
            latency: q.latency.as_secs_f64(),
            name: q.name,
            size: q.size,
            paused: q.paused,
        }
    }
}

/// `GET api/queues/{name}` and `GET api/{set}`: one page of jobs.
#[derive(Debug, Serialize)]
pub(crate) struct JobsPageBody {
    /// How many jobs match in all.
    pub total: u64,
    /// This page's number, from 1.
    pub page: u64,
    /// Rows per page, clamped to 1–100.
    pub per_page: u64,
    /// This page's jobs.
    pub jobs: Vec<JobRow>,
}

impl JobsPageBody {
    pub(crate) fn new(paging: Paging, total: u64, jobs: Vec<StoredJob>) -> Self {
        JobsPageBody {
            total,
            page: paging.page,
            per_page: paging.per_page,
            jobs: jobs.into_iter().map(JobRow::from).collect(),
        }
    }
}

/// One job of a set; also the answer of `GET api/{set}/{jid}`. A queue's jobs come in the
/// order they run.
#[derive(Debug, Serialize)]
pub(crate) struct JobRow {
    /// When it runs (scheduled, retries) or died (dead); `null` in a queue.
    pub at: Option<DateTime<Utc>>,
    /// Its priority: 0 runs first (the default), 9 last.
    pub priority: u8,
    /// The job, in its wire format.
    pub job: JobEnvelope,
}

impl From<StoredJob> for JobRow {
    fn from(j: StoredJob) -> Self {
        JobRow {
            at: j.at,
            priority: j.job.priority(),
            job: j.job,
        }
    }
}

/// `POST api/queues/{name}/pause` and `…/resume`.
#[derive(Debug, Serialize)]
pub(crate) struct QueuePaused {
    /// The queue.
    pub queue: String,
    /// Whether it is paused now.
    pub paused: bool,
}

/// `POST api/queues/{name}/clear`.
#[derive(Debug, Serialize)]
pub(crate) struct QueueCleared {
    /// The queue.
    pub queue: String,
    /// How many jobs were removed.
    pub removed: u64,
}

/// `POST api/queues/{name}/delete` with `{"jids": […]}`.
#[derive(Debug, Serialize)]
pub(crate) struct JobsDeleted {
    /// How many of the named jobs were deleted.
    pub deleted: u64,
}

/// `POST api/queues/{name}/{action}`: one of the three answers below.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub(crate) enum QueueActed {
    /// `pause` and `resume`.
    Paused(QueuePaused),
    /// `clear`.
    Cleared(QueueCleared),
    /// `delete`.
    Deleted(JobsDeleted),
}

/// `GET api/processes`: the live processes.
#[derive(Debug, Serialize)]
pub(crate) struct ProcessesBody {
    /// The processes, by id.
    pub processes: Vec<ProcessRow>,
}

/// One live process.
#[derive(Debug, Serialize)]
pub(crate) struct ProcessRow {
    /// What it said about itself (id, hostname, pid, queues, concurrency, ...).
    pub info: ProcessInfo,
    /// When it last beat.
    pub beat_at: DateTime<Utc>,
    /// Whether it stopped taking jobs.
    pub quiet: bool,
    /// How many jobs it runs now.
    pub busy: usize,
    /// What it runs now.
    pub running: Vec<RunningRow>,
}

/// A job a process runs now.
#[derive(Debug, Serialize)]
pub(crate) struct RunningRow {
    /// The job.
    pub job: JobEnvelope,
    /// When this run started.
    pub started_at: DateTime<Utc>,
    /// Seconds it has run, by the dashboard's clock (never negative), to the millisecond.
    pub running_for: f64,
    /// Its last progress report, if it made one.
    pub progress: Option<jobs::backend::Progress>,
}

impl ProcessRow {
    pub(crate) fn new(p: ProcessRecord, now: DateTime<Utc>) -> Self {
        let running: Vec<RunningRow> = p
            .running
            .into_iter()
            .map(|r| RunningRow {
                running_for: (now - r.started_at).num_milliseconds().max(0) as f64 / 1000.0,
                started_at: r.started_at,
                job: r.job,
                progress: None,
            })
            .collect();
        ProcessRow {
            info: p.info,
            beat_at: p.beat_at,
            quiet: p.quiet,
            busy: running.len(),
            running,
        }
    }
}

/// `POST api/processes/signal` with `{"process": …, "signal": "quiet" | "stop"}`.
#[derive(Debug, Serialize)]
pub(crate) struct Signalled {
    /// The process's id.
    pub process: String,
    /// The signal left for it.
    pub signal: String,
}

/// `GET api/{set}/count?class=&q=` or `?jid=…`: how many jobs a selection covers.
#[derive(Debug, Serialize)]
pub(crate) struct CountBody {
    /// The number of jobs.
    pub count: u64,
}

/// `POST api/{set}/{action}`: what an action on a set did.
#[derive(Debug, Serialize)]
pub(crate) struct ActionDone {
    /// The action: `enqueue`, `retry`, `delete` or `kill`.
    pub action: &'static str,
    /// How many jobs it moved.
    pub count: u64,
}

/// `GET api/recurring`: the recurring schedules.
#[derive(Debug, Serialize)]
pub(crate) struct RecurringBody {
    /// Whether the backend keeps schedules (when not, `schedules` is empty).
    pub supported: bool,
    /// The schedules.
    pub schedules: Vec<ScheduleRow>,
}

/// One schedule, with its timing read back from its description.
#[derive(Debug, Serialize)]
pub(crate) struct ScheduleRow {
    /// Its name.
    pub name: String,
    /// Its timing as stored: `cron 0 3 * * * (Europe/Berlin)`, `every 5m`.
    pub description: String,
    /// The timing in words: `every day at 03:00`.
    pub words: String,
    /// The time zone (`UTC` for intervals).
    pub zone: String,
    /// The next five fire times, from the stored next run on.
    pub next: Vec<DateTime<Utc>>,
    /// When it last fired; `null` if never.
    pub last_run: Option<DateTime<Utc>>,
    /// Whether it fires.
    pub enabled: bool,
    /// The job it enqueues.
    pub job: JobEnvelope,
    /// Whether no schedule of the app declares it (it never fires); `null` when the
    /// dashboard was not told which the app declares (`Dashboard::declared_schedules`).
    pub orphaned: Option<bool>,
}

impl ScheduleRow {
    /// The row of `r`, given the names of the declared schedules, if known.
    pub(crate) fn new(
        r: ScheduleRecord,
        declared: Option<&std::collections::BTreeSet<String>>,
    ) -> Self {
        let orphaned = declared.map(|d| !d.contains(&r.name));
        let t = schedule_timing(&r, 5);
        ScheduleRow {
            name: r.name,
            description: r.description,
            words: t.words,
            zone: t.zone,
            next: t.next,
            last_run: r.last_run,
            enabled: r.enabled,
            job: r.job,
            orphaned,
        }
    }
}

/// `POST api/recurring/{name}/{action}` with `enable`, `disable`, `run` or `remove`.
#[derive(Debug, Serialize)]
pub(crate) struct ScheduleActed {
    /// The schedule's name.
    pub schedule: String,
    /// The action taken.
    pub action: String,
    /// The id of the job `run` enqueued; `null` for `enable` and `disable`.
    pub jid: Option<String>,
}
