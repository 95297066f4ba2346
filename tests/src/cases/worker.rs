//! Error handling through the real worker, the same on every backend: retries with their
//! recorded errors, the dead set, discard, panics, timeouts, outcomes and unknown jobs.
//!
//! Each case runs a [`jobs::Worker`] on the backend under test with a [`ManualClock`]
//! starting at [`t0`]: retry delays pass by advancing the clock, never by waiting.

use std::sync::Arc;
use std::time::{Duration, Instant};

use jobs::backend::{Backend, JobSet, Stats, StoredJob};
use jobs::clock::ManualClock;
use jobs::envelope::{to_epoch, JobEnvelope};
use jobs::prelude::*;
use jobs::retry::Backoff;
use jobs::worker::WorkerHandle;
use jobs::Registry;

use crate::support::*;
use crate::CaseResult;

/// The error the cases' jobs return.
#[derive(Debug)]
pub struct ApiDown(pub String);

impl std::fmt::Display for ApiDown {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "api down: {}", self.0)
    }
}

impl std::error::Error for ApiDown {}

/// Fails its first run, succeeds on the retry.
#[jobs::job(name = "ConformanceFlaky", queue = "conformance-worker")]
async fn conformance_flaky(ctx: JobContext, order: u64) -> Result<(), ApiDown> {
    if ctx.attempt() == 1 {
        return Err(ApiDown(format!("order {order}")));
    }
    Ok(())
}

/// Never succeeds; one retry, one second apart.
#[jobs::job(name = "ConformancePoison", queue = "conformance-worker", retry = 1,
    backoff = Backoff::Constant(Duration::from_secs(1)))]
async fn conformance_poison(card: String) -> Result<(), ApiDown> {
    Err(ApiDown(card))
}

/// Fails, with `retry = 0`: straight to the dead set.
#[jobs::job(name = "ConformanceNoRetry", queue = "conformance-worker", retry = 0)]
async fn conformance_no_retry() -> Result<(), ApiDown> {
    Err(ApiDown("no retry".into()))
}

/// Fails, with `retry = false`: discarded at once.
#[jobs::job(
    name = "ConformanceDiscardOnFailure",
    queue = "conformance-worker",
    retry = false
)]
async fn conformance_discard_on_failure() -> Result<(), ApiDown> {
    Err(ApiDown("discard".into()))
}

/// Panics.
#[jobs::job(name = "ConformancePanics", queue = "conformance-worker")]
async fn conformance_panics() -> Result<(), ApiDown> {
    panic!("boom in a job")
}

/// Runs past its timeout.
#[jobs::job(
    name = "ConformanceSlow",
    queue = "conformance-worker",
    timeout = "50ms"
)]
async fn conformance_slow() -> Result<(), ApiDown> {
    tokio::time::sleep(Duration::from_secs(30)).await;
    Ok(())
}

/// Ends with the outcome its argument names.
#[jobs::job(name = "ConformanceOutcome", queue = "conformance-worker")]
async fn conformance_outcome(what: String) -> Result<Outcome, ApiDown> {
    Ok(match what.as_str() {
        "snooze" => Outcome::snooze(Duration::from_secs(60)),
        "discard" => Outcome::discard("nothing to do"),
        "kill" => Outcome::kill("fraud suspected"),
        _ => Outcome::Done,
    })
}

fn registry() -> Registry {
    let mut r = Registry::new();
    let all = [
        jobs::registry::JobRegistration::of::<ConformanceFlaky>(),
        jobs::registry::JobRegistration::of::<ConformancePoison>(),
        jobs::registry::JobRegistration::of::<ConformanceNoRetry>(),
        jobs::registry::JobRegistration::of::<ConformanceDiscardOnFailure>(),
        jobs::registry::JobRegistration::of::<ConformancePanics>(),
        jobs::registry::JobRegistration::of::<ConformanceSlow>(),
        jobs::registry::JobRegistration::of::<ConformanceOutcome>(),
        jobs::registry::JobRegistration::of::<super::worker_policy::ConformanceNoDead>(),
        jobs::registry::JobRegistration::of::<super::worker_policy::ConformanceExhaustedHook>(),
        jobs::registry::JobRegistration::of::<super::worker_policy::ConformancePolicy>(),
        jobs::registry::JobRegistration::of::<super::worker_policy::ConformanceChain>(),
    ];
    for reg in all {
        r.insert(reg).unwrap_or_else(|e| panic!("{e}"));
    }
    r
}

/// A worker on `b`, its client and clock, running until [`Running::stop`].
pub(crate) struct Running {
    handle: WorkerHandle,
    task: tokio::task::JoinHandle<Result<(), jobs::worker::WorkerError>>,
    pub(crate) client: Client,
    pub(crate) clock: Arc<ManualClock>,
}

impl Running {
    pub(crate) fn start(b: &Subject) -> Running {
        Self::start_with(b, |w| w)
    }

    pub(crate) fn start_with(
        b: &Subject,
        configure: impl FnOnce(jobs::WorkerBuilder) -> jobs::WorkerBuilder,
    ) -> Running {
        let clock = Arc::new(ManualClock::new(t0()));
        let client = client_on(b, &clock);
        Self::launch(
            b,
            (client, clock),
            registry(),
            &["conformance-worker"],
            configure,
        )
    }

    /// A worker on `b` running the jobs of `registry` from `queues`, with `client` and
    /// `clock` (the client's), polling every 20 ms and handling no signals, started; the
    /// case's own options are added by `configure`.
    pub(crate) fn launch(
        b: &Subject,
        (client, clock): (Client, Arc<ManualClock>),
        registry: Registry,
        queues: &[&str],
        configure: impl FnOnce(jobs::WorkerBuilder) -> jobs::WorkerBuilder,
    ) -> Running {
        let backend: Arc<dyn Backend> = b.clone();
        let worker = configure(Worker::builder(backend))
            .registry(registry)
            .queues(queues.iter().copied())
            .clock(clock.clone())
            .client(client.clone())
            .handle_signals(false)
            .fetch_wait(Duration::from_millis(50))
            .poll_interval(Duration::from_millis(20))
            .build()
            .unwrap_or_else(|e| panic!("worker: {e}"));
        let handle = worker.handle();
        Running {
            handle,
            task: tokio::spawn(worker.run()),
            client,
            clock,
        }
    }

    /// Enqueues `job` on the worker's backend with its default options.
    pub(crate) async fn enqueue<J: jobs::Job>(&self, job: J) -> String {
        let opts = jobs::EnqueueOptions::default();
        self.client
            .enqueue(job, &opts)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .into_jid()
    }

    /// Stops the worker and waits for it; how long the stop took.
    pub(crate) async fn stop(self) -> Duration {
        let began = Instant::now();
        self.handle.stop();
        let out = self
            .task
            .await
            .unwrap_or_else(|e| panic!("worker task: {e}"));
        out.unwrap_or_else(|e| panic!("worker: {e}"));
        began.elapsed()
    }
}

/// A client on `b` reading `clock`.
pub(crate) fn client_on(b: &Subject, clock: &Arc<ManualClock>) -> Client {
    let backend: Arc<dyn Backend> = b.clone();
    Client::builder(backend).clock(clock.clone()).build()
}

/// A registry of `jobs`.
pub(crate) fn registry_of(
    jobs: impl IntoIterator<Item = jobs::registry::JobRegistration>,
) -> Registry {
    let mut registry = Registry::new();
    for reg in jobs {
        registry.insert(reg).unwrap_or_else(|e| panic!("{e}"));
    }
    registry
}

/// Polls the backend's stats until `done` holds (at most 30 s: real servers are slow).
pub(crate) async fn wait_for(
    b: &Subject,
    what: &str,
    done: impl Fn(&Stats) -> bool,
) -> Result<Stats, jobs::backend::BackendError> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let stats = b.stats().await?;
        if done(&stats) {
            return Ok(stats);
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}: {stats:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The only job of a set.
pub(crate) async fn only(
    b: &Subject,
    set: JobSet,
) -> Result<StoredJob, jobs::backend::BackendError> {
    let mut jobs = list(b, set.clone()).await?;
    assert_eq!(jobs.len(), 1, "one job in {set:?}: {jobs:?}");
    Ok(jobs.remove(0))
}

/// A flaky job fails, is recorded in the retry set as Sidekiq records it (error class and
/// message, `failed_at`, `retry_count` 0, retry 15–24 s later), and succeeds once due.
pub async fn flaky_job_retries_then_succeeds(b: Subject) -> CaseResult {
    let w = Running::start(&b);
    let jid = w.enqueue(ConformanceFlaky::new(7)).await;
    wait_for(&b, "the first failure", |s| s.retries == 1).await?;
    let retry = only(&b, JobSet::Retry).await?;
    assert_eq!(retry.job.jid, jid);
    assert_eq!(
        retry.job.error_message.as_deref(),
        Some("api down: order 7")
    );
    assert!(
        retry
            .job
            .error_class
            .as_deref()
            .is_some_and(|c| c.ends_with("ApiDown")),
        "{:?}",
        retry.job.error_class
    );
    assert_eq!(retry.job.retry_count, Some(0));
    assert_eq!(retry.job.failed_at, Some(to_epoch(t0())));
    let delay = retry.at.map(|at| (at - t0()).num_seconds());
    assert!(
        delay.is_some_and(|d| (15..=24).contains(&d)),
        "first retry 15-24 s later, got {delay:?}"
    );
    w.clock.advance(Duration::from_secs(25));
    let stats = wait_for(&b, "the retry to succeed", |s| {
        s.processed == 2 && s.retries == 0 && s.enqueued == 0
    })
    .await?;
    assert_eq!(stats.failed, 1, "{stats:?}");
    w.stop().await;
    Ok(())
}

/// A job that never succeeds lands in the dead set after its retries, with its last error
/// and `retry_count`, and stays there for inspection.
pub async fn poisoned_job_lands_in_dead_set(b: Subject) -> CaseResult {
    let w = Running::start(&b);
    w.enqueue(ConformancePoison::new("4111".into())).await;
    wait_for(&b, "the first failure", |s| s.retries == 1).await?;
    w.clock.advance(Duration::from_secs(2));
    let stats = wait_for(&b, "the death", |s| s.dead == 1).await?;
    assert_eq!(
        (stats.processed, stats.failed, stats.retries),
        (2, 2, 0),
        "{stats:?}"
    );
    let dead = only(&b, JobSet::Dead).await?;
    assert_eq!(dead.job.retry_count, Some(1));
    assert_eq!(dead.job.error_message.as_deref(), Some("api down: 4111"));
    assert!(dead.job.retried_at.is_some());
    w.stop().await;
    Ok(())
}

/// `retry = 0` sends a failed job to the dead set at once; `retry = false` discards it.
pub async fn retry_zero_dies_and_retry_false_discards(b: Subject) -> CaseResult {
    let w = Running::start(&b);
    w.enqueue(ConformanceNoRetry::new()).await;
    w.enqueue(ConformanceDiscardOnFailure::new()).await;
    let stats = wait_for(&b, "both runs", |s| s.processed == 2).await?;
    assert_eq!(
        (stats.failed, stats.dead, stats.retries, stats.enqueued),
        (2, 1, 0, 0),
        "{stats:?}"
    );
    assert_eq!(
        only(&b, JobSet::Dead).await?.job.class,
        "ConformanceNoRetry"
    );
    w.stop().await;
    Ok(())
}

/// A panic and a timeout fail like errors, recorded with what happened; the worker goes on.
pub async fn panics_and_timeouts_fail_like_errors(b: Subject) -> CaseResult {
    let w = Running::start(&b);
    w.enqueue(ConformancePanics::new()).await;
    w.enqueue(ConformanceSlow::new()).await;
    wait_for(&b, "both failures", |s| s.retries == 2).await?;
    let retries = list(&b, JobSet::Retry).await?;
    let message = |class: &str| {
        retries
            .iter()
            .find(|s| s.job.class == class)
            .and_then(|s| s.job.error_message.clone())
            .unwrap_or_default()
    };
    assert!(
        message("ConformancePanics").contains("boom in a job"),
        "{}",
        message("ConformancePanics")
    );
    assert!(
        message("ConformanceSlow").contains("timed out after 50ms"),
        "{}",
        message("ConformanceSlow")
    );
    w.enqueue(ConformanceOutcome::new("done".into())).await;
    wait_for(&b, "a later job after the panic", |s| s.processed == 3).await?;
    w.stop().await;
    Ok(())
}

/// Snooze goes to the scheduled set without counting a retry; discard keeps nothing and
/// counts no failure; kill goes to the dead set at once, with its reason.
pub async fn outcomes_snooze_discard_kill(b: Subject) -> CaseResult {
    let w = Running::start(&b);
    for what in ["snooze", "discard", "kill"] {
        w.enqueue(ConformanceOutcome::new(what.into())).await;
    }
    // Each outcome is counted in the same step that settles it: the discard as processed, the
    // kill as processed and failed, the snooze in the scheduled set only. So once the
    // scheduled and dead sets hold one each and two runs are counted, all three settled, and
    // a counted snooze would show as a third.
    let stats = wait_for(&b, "the three outcomes", |s| {
        s.scheduled == 1 && s.dead == 1 && s.enqueued == 0 && s.processed >= 2
    })
    .await?;
    assert_eq!(
        (stats.processed, stats.failed),
        (2, 1),
        "snooze is not counted: {stats:?}"
    );
    let snoozed = only(&b, JobSet::Scheduled).await?;
    assert_eq!(snoozed.job.retry_count, None, "a snooze is not a retry");
    assert_eq!(snoozed.at.map(|at| (at - t0()).num_seconds()), Some(60));
    assert_eq!(
        only(&b, JobSet::Dead).await?.job.error_message.as_deref(),
        Some("fraud suspected")
    );
    w.stop().await;
    Ok(())
}

/// A job whose wire name no worker knows is not dropped: it fails, naming itself and the
/// registered jobs, and waits in the retry set.
pub async fn unknown_job_follows_the_retry_path(b: Subject) -> CaseResult {
    let w = Running::start(&b);
    let job = JobEnvelope::new(
        "NoSuchJob",
        "conformance-worker",
        vec![serde_json::json!(1)],
    );
    w.client
        .push(vec![job.clone()])
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    wait_for(&b, "the failure", |s| s.retries == 1).await?;
    let retry = only(&b, JobSet::Retry).await?;
    assert_eq!(retry.job.jid, job.jid);
    let message = retry.job.error_message.unwrap_or_default();
    assert!(message.contains("no job named `NoSuchJob`"), "{message}");
    assert!(
        message.contains("ConformanceFlaky"),
        "names the registered jobs: {message}"
    );
    w.stop().await;
    Ok(())
}

/// Arguments that do not fit the job fail naming the argument, and wait in the retry set.
pub async fn bad_arguments_follow_the_retry_path(b: Subject) -> CaseResult {
    let w = Running::start(&b);
    let job = JobEnvelope::new(
        "ConformanceFlaky",
        "conformance-worker",
        vec![serde_json::json!("seven")],
    );
    w.client
        .push(vec![job])
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    wait_for(&b, "the failure", |s| s.retries == 1).await?;
    let message = only(&b, JobSet::Retry)
        .await?
        .job
        .error_message
        .unwrap_or_default();
    assert!(
        message.contains("`order: u64`") && message.contains("\"seven\""),
        "{message}"
    );
    w.stop().await;
    Ok(())
}
