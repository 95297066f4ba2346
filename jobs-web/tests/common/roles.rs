//! A backend with something for every action of the dashboard to act on (a job in every
//! set and a queue, a live process, a recurring schedule, a unique lock, a job waiting
//! aside for a concurrency slot), and probes that read back what each action changes.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use chrono::Utc;
use jobs::backend::*;
use jobs::envelope::flow::UniqueUntil;
use jobs::envelope::limits::ConcurrencyLimit;
use jobs::envelope::JobEnvelope;
use jobs_web::{Access, AuditEvent, Dashboard};

use super::locks::{key, push, unique};
use super::{seed, Seeded};

/// The name of the recurring schedule of [`world`].
pub const SCHEDULE: &str = "nightly";
/// The queue its runs go to.
pub const REPORTS: &str = "reports";
/// The concurrency key one job of [`world`] waits for.
pub const WAIT_KEY: &str = "account:1";

/// What [`world`] put where.
pub struct World {
    pub b: Arc<dyn AdminBackend>,
    pub s: Seeded,
    /// The key of the unique lock held, and its holder.
    pub lock: String,
    pub lock_jid: String,
    /// The job waiting aside for a slot of [`WAIT_KEY`].
    pub waiting: String,
    /// A batch whose one member failed (in the retry set).
    pub batch: String,
}

pub async fn world() -> World {
    let b = super::memory();
    let s = seed(&b, "ChargeCard", "payments", "x").await;
    let now = Utc::now();
    let job = JobEnvelope::new("Report", REPORTS, vec![]);
    b.schedules()
        .unwrap()
        .schedule_declare(jobs::schedule::DeclareParams::new(
            SCHEDULE,
            "every 1h",
            job,
            Some(now + chrono::Duration::hours(1)),
        ))
        .await
        .unwrap();
    let held = unique(
        "Sync",
        "uniq",
        1,
        UniqueUntil::Success,
        now + chrono::Duration::hours(1),
    );
    let (lock, lock_jid) = (key(&held), held.jid.clone());
    assert!(push(&b, held, now).await);
    let limited: Vec<JobEnvelope> = (0..2)
        .map(|i| {
            let mut j = JobEnvelope::new("SyncAccount", "sync", vec![i.into()]);
            j.set_concurrency(Some(ConcurrencyLimit::new(WAIT_KEY, 1)));
            j
        })
        .collect();
    b.job_push(PushParams::new(limited, now)).await.unwrap();
    let taken = b
        .job_reserve(ReserveParams::new(vec!["sync".into()], "p1", now).limit(10))
        .await
        .unwrap();
    assert_eq!(taken.len(), 1);
    let waiting = waiting_jids(&b).await;
    assert_eq!(waiting.len(), 1);
    let batch = dead_batch(&b, now).await;
    World {
        batch,
        waiting: waiting[0].clone(),
        b,
        s,
        lock,
        lock_jid,
    }
}

/// The dashboard over `b` under `/admin/jobs`, granting `access`, naming the user from the
/// `x-user` header, and giving its audit events to `on_action`.
pub fn dashboard(
    b: &Arc<dyn AdminBackend>,
    access: Access,
    on_action: impl Fn(&AuditEvent) + Send + Sync + 'static,
) -> Router {
    let d = Dashboard::new(b.clone())
        .authorize(move |_| access)
        .identify(|parts| Some(parts.headers.get("x-user")?.to_str().ok()?.to_owned()))
        .on_action(on_action);
    Router::new().nest("/admin/jobs", d.router())
}

pub async fn waiting_jids(b: &Arc<dyn AdminBackend>) -> Vec<String> {
    let jobs = b
        .limit_waiting(LimitWaitingParams::new(WAIT_KEY))
        .await
        .unwrap();
    jobs.into_iter().map(|j| j.jid).collect()
}

/// What one action changes, read through `AdminBackend`.
#[derive(Debug, Clone)]
pub enum Probe {
    /// Whether queue `.0` is paused.
    Paused(String),
    /// The jobs in a set or queue.
    Jobs(JobSet),
    /// The signals left for the seeded process (reading them takes them).
    Signals,
    /// The schedule's enabled flag and the size of its queue.
    Schedule,
    /// The unique locks held.
    Locks,
    /// The jobs waiting for a slot of [`WAIT_KEY`].
    Waiting,
}

impl Probe {
    pub async fn read(&self, w: &World) -> String {
        let b = &w.b;
        let now = Utc::now();
        match self {
            Probe::Paused(q) => {
                let qs = b.queue_list(QueueListParams::new(now)).await.unwrap();
                let paused = qs.iter().find(|i| &i.name == q).map(|i| i.paused);
                format!("{paused:?}")
            }
            Probe::Jobs(set) => {
                let page = b
                    .job_list(JobListParams::new(set.clone(), 1000))
                    .await
                    .unwrap();
                let jids: Vec<_> = page.jobs.into_iter().map(|j| j.job.jid).collect();
                format!("{jids:?}")
            }
            Probe::Signals => {
                let procs = b.process_list().await.unwrap();
                let p = procs
                    .into_iter()
                    .find(|p| p.info.id == w.s.process)
                    .unwrap();
                let reply = b
                    .process_heartbeat(
                        HeartbeatParams::new(p.info, now)
                            .running(p.running)
                            .quiet(p.quiet)
                            .lease_ttl(Duration::from_secs(600)),
                    )
                    .await
                    .unwrap();
                format!("{:?}", reply.signals)
            }
            Probe::Schedule => {
                let list = b.schedules().unwrap().schedule_list().await.unwrap();
                let enabled: Vec<_> = list.iter().map(|r| (&r.name, r.enabled)).collect();
                let runs = b
                    .job_list(JobListParams::new(JobSet::Queue(REPORTS.into()), 1000))
                    .await
                    .unwrap()
                    .total;
                format!("{enabled:?} runs={runs}")
            }
            Probe::Locks => {
                let held = b.unique_list(UniqueListParams::new(now)).await.unwrap();
                let keys: Vec<_> = held.into_iter().map(|h| h.key).collect();
                format!("{keys:?}")
            }
            Probe::Waiting => format!("{:?}", waiting_jids(b).await),
        }
    }
}

/// A sealed batch whose one member (queue `batchq`) failed and waits in the retry set;
/// returns its id.
async fn dead_batch(b: &Arc<dyn AdminBackend>, now: chrono::DateTime<Utc>) -> String {
    use jobs::backend::{BatchCreateParams, Finish, FinishOutcome, FinishParams};
    let info = jobs::batch::BatchInfo::new(
        "roles-batch",
        "roles",
        0.0,
        std::time::Duration::from_secs(86_400 * 365 * 100),
    );
    let mut member = JobEnvelope::new("Import", "batchq", vec![]);
    member
        .extra
        .insert(jobs::batch::BATCH_FIELD.into(), "roles-batch".into());
    b.batches()
        .unwrap()
        .batch_create(
            BatchCreateParams::new(info, now)
                .jobs(vec![member])
                .sealed(true),
        )
        .await
        .unwrap();
    let taken = b
        .job_reserve(ReserveParams::new(vec!["batchq".into()], "p1", now).limit(10))
        .await
        .unwrap();
    assert_eq!(taken.len(), 1);
    let r = &taken[0];
    let later = now + chrono::Duration::hours(1);
    let item = Finish::new(
        r.token.clone(),
        r.job.clone(),
        FinishOutcome::Retry { at: later },
        true,
    );
    b.job_finish(FinishParams::new(vec![item], now))
        .await
        .unwrap();
    "roles-batch".to_owned()
}
