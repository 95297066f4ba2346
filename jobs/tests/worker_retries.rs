//! The retry path: Sidekiq's backoff, recovery on retry, retry = 0 / false, dead = false, hooks.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::{Events, Oops};
use jobs::backend::{AdminBackend, JobSet};
use jobs::chrono::Duration as Span;
use jobs::clock::Clock;
use jobs::envelope::JobEnvelope;
use jobs::prelude::*;
use jobs::retry::{Backoff, Exhausted, RetryDecision};

#[jobs::job(queue = "r_always")]
async fn always_fails(n: u32) -> Result<(), Oops> {
    Err(Oops(format!("failure of {n}")))
}

#[jobs::job(queue = "r_flaky")]
async fn flaky_job(ctx: JobContext, events: State<Events>) -> Result<(), Oops> {
    if ctx.attempt() == 1 {
        return Err(Oops("first attempt fails".into()));
    }
    events.send(format!("performed on attempt {}", ctx.attempt()));
    Ok(())
}

#[jobs::job(queue = "r_zero", retry = 0)]
async fn no_retries(n: u32) -> Result<(), Oops> {
    Err(Oops(format!("poisoned {n}")))
}

#[jobs::job(queue = "r_false", retry = false)]
async fn never_retried(n: u32) -> Result<(), Oops> {
    Err(Oops(format!("dropped {n}")))
}

#[jobs::job(queue = "r_nodead", retry = 1, dead = false)]
async fn not_kept_dead(n: u32) -> Result<(), Oops> {
    Err(Oops(format!("forgotten {n}")))
}

static EXHAUSTED_CALLS: AtomicUsize = AtomicUsize::new(0);

fn discard_when_exhausted(job: &JobEnvelope, failure: &Failure) -> Exhausted {
    assert_eq!(job.class, "HookedJob");
    assert!(failure.message.contains("hooked"));
    EXHAUSTED_CALLS.fetch_add(1, Ordering::SeqCst);
    Exhausted::Discard
}

#[jobs::job(queue = "r_hook", retry = 0, on_exhausted = discard_when_exhausted)]
async fn hooked_job(n: u32) -> Result<(), Oops> {
    Err(Oops(format!("hooked {n}")))
}

#[jobs::job(queue = "r_const", backoff = Backoff::Constant(Duration::from_secs(7)))]
async fn constant_backoff(n: u32) -> Result<(), Oops> {
    Err(Oops(format!("constant {n}")))
}

fn by_error(n: u32, failure: &Failure) -> RetryDecision {
    if failure.message.contains("fatal") {
        RetryDecision::Kill
    } else if failure.message.contains("ignore") {
        RetryDecision::Discard
    } else {
        RetryDecision::After(Duration::from_secs(100 * u64::from(n + 1)))
    }
}

#[jobs::job(queue = "r_custom", backoff = Backoff::Custom(by_error))]
async fn custom_backoff(what: String) -> Result<(), Oops> {
    Err(Oops(what))
}

/// A worker on `queue` with a manual clock.
fn start_worker(
    backend: &std::sync::Arc<jobs::memory::MemoryBackend>,
    clock: &std::sync::Arc<jobs::clock::ManualClock>,
    queue: &str,
    registry: jobs::Registry,
) -> common::Running {
    common::spawn(
        common::worker(backend)
            .queues([queue])
            .clock(clock.clone())
            .registry(registry)
            .build()
            .unwrap(),
    )
}

#[tokio::test]
async fn the_first_failure_waits_15_to_24_seconds_per_sidekiqs_schedule() {
    let backend = common::backend();
    let clock = common::clock();
    let client = common::client(&backend, &clock);
    let registry = jobs::Registry::new().with::<AlwaysFails>().unwrap();
    let running = start_worker(&backend, &clock, "r_always", registry);
    for n in 0..20 {
        AlwaysFails::set()
            .client(&client)
            .perform_later(n)
            .await
            .unwrap();
    }
    let retries = common::eventually("20 retries", || async {
        let jobs = common::list(&backend, JobSet::Retry).await;
        (jobs.len() == 20).then_some(jobs)
    })
    .await;
    running.stop().await;
    let mut delays = Vec::new();
    for stored in retries {
        let delay = (stored.at.unwrap() - common::start()).num_seconds();
        assert!((15..=24).contains(&delay), "first retry after {delay}s");
        delays.push(delay);
    }
    delays.sort_unstable();
    delays.dedup();
    assert!(delays.len() > 1, "the delay is jittered: {delays:?}");
}

#[tokio::test]
async fn a_flaky_job_recovers_on_its_retry() {
    let backend = common::backend();
    let clock = common::clock();
    let client = common::client(&backend, &clock);
    let (events, mut rx) = common::events();
    let running = common::spawn(
        common::worker(&backend)
            .queues(["r_flaky"])
            .clock(clock.clone())
            .registry(jobs::Registry::new().with::<FlakyJob>().unwrap())
            .state(events)
            .build()
            .unwrap(),
    );
    let jid = FlakyJob::set()
        .client(&client)
        .perform_later()
        .await
        .unwrap();
    let retry = common::the_one(&backend, JobSet::Retry).await;
    assert_eq!(retry.job.jid, jid);
    common::assert_no_event(&mut rx).await;

    clock.advance(Duration::from_secs(25));
    assert_eq!(common::next(&mut rx).await, "performed on attempt 2");
    let stats = common::processed(&backend, 2).await;
    assert_eq!((stats.processed, stats.failed), (2, 1));
    assert!(common::list(&backend, JobSet::Retry).await.is_empty());
    assert!(common::list(&backend, JobSet::Dead).await.is_empty());
    running.stop().await;
}

#[tokio::test]
async fn retry_zero_goes_dead_at_once() {
    let backend = common::backend();
    let clock = common::clock();
    let client = common::client(&backend, &clock);
    let registry = jobs::Registry::new().with::<NoRetries>().unwrap();
    let running = start_worker(&backend, &clock, "r_zero", registry);
    let jid = NoRetries::set()
        .client(&client)
        .perform_later(1)
        .await
        .unwrap();
    let dead = common::the_one(&backend, JobSet::Dead).await;
    running.stop().await;
    assert_eq!(dead.job.jid, jid);
    assert_eq!(dead.job.error_message.as_deref(), Some("poisoned 1"));
    assert!(common::list(&backend, JobSet::Retry).await.is_empty());
}

#[tokio::test]
async fn retry_false_discards_a_failed_job() {
    let backend = common::backend();
    let clock = common::clock();
    let client = common::client(&backend, &clock);
    let registry = jobs::Registry::new().with::<NeverRetried>().unwrap();
    let running = start_worker(&backend, &clock, "r_false", registry);
    NeverRetried::set()
        .client(&client)
        .perform_later(1)
        .await
        .unwrap();
    let stats = common::processed(&backend, 1).await;
    running.stop().await;
    assert_eq!(stats.failed, 1, "it ran and failed");
    assert_eq!((stats.retries, stats.dead, stats.enqueued), (0, 0, 0));
}

#[tokio::test]
async fn retry_set_per_enqueue_overrides_the_job() {
    let backend = common::backend();
    let clock = common::clock();
    let client = common::client(&backend, &clock);
    let registry = jobs::Registry::new().with::<AlwaysFails>().unwrap();
    let running = start_worker(&backend, &clock, "r_always", registry);
    AlwaysFails::set()
        .client(&client)
        .retry(0)
        .perform_later(1)
        .await
        .unwrap();
    common::the_one(&backend, JobSet::Dead).await;
    AlwaysFails::set()
        .client(&client)
        .retry(false)
        .perform_later(2)
        .await
        .unwrap();
    let stats = common::processed(&backend, 2).await;
    running.stop().await;
    assert_eq!((stats.failed, stats.dead, stats.retries), (2, 1, 0));
}

#[tokio::test]
async fn dead_false_discards_when_retries_are_exhausted() {
    let backend = common::backend();
    let clock = common::clock();
    let client = common::client(&backend, &clock);
    let registry = jobs::Registry::new().with::<NotKeptDead>().unwrap();
    let running = start_worker(&backend, &clock, "r_nodead", registry);
    NotKeptDead::set()
        .client(&client)
        .perform_later(1)
        .await
        .unwrap();
    let retry = common::the_one(&backend, JobSet::Retry).await;
    clock.set(retry.at.unwrap());
    let stats = common::processed(&backend, 2).await;
    running.stop().await;
    assert_eq!(stats.failed, 2, "the retry ran and failed");
    assert_eq!((stats.retries, stats.dead, stats.enqueued), (0, 0, 0));
}

#[tokio::test]
async fn on_exhausted_may_discard_instead_of_keeping_the_job_dead() {
    let backend = common::backend();
    let clock = common::clock();
    let client = common::client(&backend, &clock);
    let registry = jobs::Registry::new().with::<HookedJob>().unwrap();
    let running = start_worker(&backend, &clock, "r_hook", registry);
    HookedJob::set()
        .client(&client)
        .perform_later(1)
        .await
        .unwrap();
    let stats = common::processed(&backend, 1).await;
    running.stop().await;
    assert_eq!(EXHAUSTED_CALLS.load(Ordering::SeqCst), 1);
    assert_eq!((stats.failed, stats.dead, stats.retries), (1, 0, 0));
}

#[tokio::test]
async fn a_constant_backoff_schedules_every_retry_after_the_same_delay() {
    let backend = common::backend();
    let clock = common::clock();
    let client = common::client(&backend, &clock);
    let registry = jobs::Registry::new().with::<ConstantBackoff>().unwrap();
    let running = start_worker(&backend, &clock, "r_const", registry);
    ConstantBackoff::set()
        .client(&client)
        .perform_later(1)
        .await
        .unwrap();
    let first = common::the_one(&backend, JobSet::Retry).await;
    assert_eq!(first.at, Some(common::start() + Span::seconds(7)));
    clock.advance(Duration::from_secs(7));
    let second = common::eventually("the second failure", || async {
        let jobs = common::list(&backend, JobSet::Retry).await;
        jobs.into_iter().find(|s| s.job.retry_count == Some(1))
    })
    .await;
    running.stop().await;
    assert_eq!(second.at, Some(common::start() + Span::seconds(14)));
}

#[tokio::test]
async fn a_custom_backoff_decides_delay_kill_or_discard_from_the_error() {
    let backend = common::backend();
    let clock = common::clock();
    let client = common::client(&backend, &clock);
    let registry = jobs::Registry::new().with::<CustomBackoff>().unwrap();
    let running = start_worker(&backend, &clock, "r_custom", registry);
    let later = CustomBackoff::set()
        .client(&client)
        .perform_later("later".into())
        .await
        .unwrap();
    let fatal = CustomBackoff::set()
        .client(&client)
        .perform_later("fatal".into())
        .await
        .unwrap();
    CustomBackoff::set()
        .client(&client)
        .perform_later("ignore".into())
        .await
        .unwrap();
    let stats = common::processed(&backend, 3).await;
    running.stop().await;
    assert_eq!(stats.failed, 3);
    let retry = common::the_one(&backend, JobSet::Retry).await;
    assert_eq!(retry.job.jid, later);
    assert_eq!(retry.at, Some(common::start() + Span::seconds(100)));
    let dead = common::the_one(&backend, JobSet::Dead).await;
    assert_eq!(
        dead.job.jid, fatal,
        "Kill sends the job to the dead set with retries left"
    );
}

#[tokio::test]
async fn a_job_in_the_retry_set_retried_now_through_the_admin_side_runs_at_once() {
    let backend = common::backend();
    let clock = common::clock();
    let client = common::client(&backend, &clock);
    let (events, mut rx) = common::events();
    let running = common::spawn(
        common::worker(&backend)
            .queues(["r_flaky"])
            .clock(clock.clone())
            .registry(jobs::Registry::new().with::<FlakyJob>().unwrap())
            .state(events)
            .build()
            .unwrap(),
    );
    let jid = FlakyJob::set()
        .client(&client)
        .perform_later()
        .await
        .unwrap();
    common::the_one(&backend, JobSet::Retry).await;
    let params =
        jobs::backend::JobActionParams::jids(JobSet::Retry, vec![jid.into_jid()], clock.now());
    assert_eq!(backend.job_enqueue_now(params).await.unwrap(), 1);
    assert_eq!(common::next(&mut rx).await, "performed on attempt 2");
    running.stop().await;
}

#[tokio::test]
async fn the_dead_set_is_trimmed_to_its_limits_and_the_trim_is_counted() {
    let backend = common::backend();
    let clock = common::clock();
    let client = common::client(&backend, &clock);
    let limits = jobs::backend::DeadLimits {
        max_jobs: 2,
        max_age: Duration::from_secs(3600),
    };
    let running = common::spawn(
        common::worker(&backend)
            .queues(["r_zero"])
            .concurrency(1)
            .clock(clock.clone())
            .dead_limits(limits)
            .registry(jobs::Registry::new().with::<NoRetries>().unwrap())
            .build()
            .unwrap(),
    );
    for n in 1..=3 {
        NoRetries::set()
            .client(&client)
            .perform_later(n)
            .await
            .unwrap();
        common::processed(&backend, u64::from(n)).await;
        clock.advance(Duration::from_secs(1));
    }
    running.stop().await;
    let dead = common::list(&backend, JobSet::Dead).await;
    let mut messages: Vec<_> = dead
        .iter()
        .map(|s| s.job.error_message.clone().unwrap())
        .collect();
    messages.sort();
    assert_eq!(
        messages,
        ["poisoned 2", "poisoned 3"],
        "the oldest was trimmed"
    );
    assert_eq!(backend.stats().await.unwrap().dead_trimmed, 1);
}
