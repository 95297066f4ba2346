//! User code that misbehaves around a job (panicking hooks, absurd delays) never loses or
//! strands the job, and the worker keeps working.

mod common;

use std::time::Duration;

use common::{Events, Oops};
use jobs::backend::{AdminBackend, JobSet};
use jobs::envelope::JobEnvelope;
use jobs::prelude::*;
use jobs::retry::{Backoff, Exhausted, RetryDecision};
use jobs::worker::{Next, ServerMiddleware};
use jobs::JobResult;

fn exploding_hook(_: &JobEnvelope, _: &Failure) -> Exhausted {
    panic!("the on_exhausted hook exploded")
}

#[jobs::job(queue = "m_hook", retry = 0, on_exhausted = exploding_hook)]
async fn exhausted_with_bad_hook(n: u32) -> Result<(), Oops> {
    Err(Oops(format!("hook job {n}")))
}

fn exploding_backoff(_: u32, _: &Failure) -> RetryDecision {
    panic!("the backoff exploded")
}

#[jobs::job(queue = "m_backoff", backoff = Backoff::Custom(exploding_backoff))]
async fn failing_with_bad_backoff(n: u32) -> Result<(), Oops> {
    Err(Oops(format!("backoff job {n}")))
}

#[jobs::job(queue = "m_forever")]
async fn snooze_forever(events: State<Events>, forever: bool) -> Result<Outcome, Oops> {
    if forever {
        return Ok(Outcome::snooze(Duration::MAX));
    }
    events.send("performed");
    Ok(Outcome::Done)
}

#[jobs::job(queue = "m_mw")]
async fn behind_bad_middleware(events: State<Events>, n: u32) -> Result<(), Oops> {
    events.send(format!("performed {n}"));
    Ok(())
}

struct Exploding;

#[jobs::__private::async_trait]
impl ServerMiddleware for Exploding {
    async fn call(&self, ctx: JobContext, next: Next<'_>) -> JobResult {
        if ctx.envelope().args.first() == Some(&serde_json::json!(1)) {
            panic!("the middleware exploded");
        }
        next.run(ctx).await
    }
}

/// Waits until the worker reports no running job.
async fn nothing_running(backend: &jobs::memory::MemoryBackend, id: &str) {
    common::eventually("no running job", || async {
        let procs = backend.process_list().await.unwrap();
        procs
            .iter()
            .any(|p| p.info.id == id && p.running.is_empty())
            .then_some(())
    })
    .await;
}

#[tokio::test]
async fn a_panicking_on_exhausted_hook_leaves_the_job_dead() {
    let backend = common::backend();
    let client = Client::new(backend.clone());
    let running = common::spawn(
        common::worker(&backend)
            .queues(["m_hook"])
            .registry(
                jobs::Registry::new()
                    .with::<ExhaustedWithBadHook>()
                    .unwrap(),
            )
            .build()
            .unwrap(),
    );
    let jid = ExhaustedWithBadHook::set()
        .client(&client)
        .perform_later(1)
        .await
        .unwrap();
    let dead = common::the_one(&backend, JobSet::Dead).await;
    assert_eq!(dead.job.jid, jid);
    assert_eq!(dead.job.error_message.as_deref(), Some("hook job 1"));
    nothing_running(&backend, &running.id).await;
    running.stop().await;
}

#[tokio::test]
async fn a_panicking_backoff_falls_back_to_the_default_schedule() {
    let backend = common::backend();
    let clock = common::clock();
    let client = common::client(&backend, &clock);
    let running = common::spawn(
        common::worker(&backend)
            .queues(["m_backoff"])
            .clock(clock.clone())
            .registry(
                jobs::Registry::new()
                    .with::<FailingWithBadBackoff>()
                    .unwrap(),
            )
            .build()
            .unwrap(),
    );
    FailingWithBadBackoff::set()
        .client(&client)
        .perform_later(1)
        .await
        .unwrap();
    let retry = common::the_one(&backend, JobSet::Retry).await;
    let delay = (retry.at.unwrap() - common::start()).num_seconds();
    assert!((15..=24).contains(&delay), "retry after {delay}s");
    nothing_running(&backend, &running.id).await;
    running.stop().await;
}

#[tokio::test]
async fn a_snooze_too_long_for_the_calendar_is_kept_and_the_worker_goes_on() {
    let backend = common::backend();
    let client = Client::new(backend.clone());
    let (events, mut rx) = common::events();
    let running = common::spawn(
        common::worker(&backend)
            .queues(["m_forever"])
            .concurrency(1)
            .registry(jobs::Registry::new().with::<SnoozeForever>().unwrap())
            .state(events)
            .build()
            .unwrap(),
    );
    let jid = SnoozeForever::set()
        .client(&client)
        .perform_later(true)
        .await
        .unwrap();
    let snoozed = common::the_one(&backend, JobSet::Scheduled).await;
    assert_eq!(snoozed.job.jid, jid);
    assert!(snoozed.at.unwrap() > common::start() + jobs::chrono::Duration::days(365 * 1000));
    SnoozeForever::set()
        .client(&client)
        .perform_later(false)
        .await
        .unwrap();
    assert_eq!(common::next(&mut rx).await, "performed");
    nothing_running(&backend, &running.id).await;
    running.stop().await;
}

#[tokio::test]
async fn a_panicking_server_middleware_fails_the_job_like_a_panic() {
    let backend = common::backend();
    let client = Client::new(backend.clone());
    let (events, mut rx) = common::events();
    let running = common::spawn(
        common::worker(&backend)
            .queues(["m_mw"])
            .concurrency(1)
            .middleware(Exploding)
            .registry(jobs::Registry::new().with::<BehindBadMiddleware>().unwrap())
            .state(events)
            .build()
            .unwrap(),
    );
    BehindBadMiddleware::set()
        .client(&client)
        .perform_later(1)
        .await
        .unwrap();
    BehindBadMiddleware::set()
        .client(&client)
        .perform_later(2)
        .await
        .unwrap();
    assert_eq!(common::next(&mut rx).await, "performed 2");
    let failed = common::the_one(&backend, JobSet::Retry).await;
    let message = failed.job.error_message.unwrap();
    assert!(message.contains("the middleware exploded"), "{message}");
    running.stop().await;
}
