//! Outcomes a job returns (snooze, discard, kill) and the error and death handlers.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{Events, Oops};
use jobs::backend::JobSet;
use jobs::chrono::Duration as Span;
use jobs::prelude::*;

/// How many times each job ran.
#[derive(Clone, Default)]
struct Runs(Arc<AtomicUsize>);

#[jobs::job(queue = "o_snooze")]
async fn snoozing_job(
    ctx: JobContext,
    runs: State<Runs>,
    events: State<Events>,
) -> Result<Outcome, Oops> {
    let run = runs.0 .0.fetch_add(1, Ordering::SeqCst) + 1;
    events.send(format!("run {run}, attempt {}", ctx.attempt()));
    if run == 1 {
        return Ok(Outcome::snooze(Duration::from_secs(60)));
    }
    Ok(Outcome::Done)
}

#[jobs::job(queue = "o_discard")]
async fn discarding_job(reason: String) -> Result<Outcome, Oops> {
    Ok(Outcome::discard(reason))
}

#[jobs::job(queue = "o_kill")]
async fn killing_job(reason: String) -> Result<Outcome, Oops> {
    Ok(Outcome::kill(reason))
}

#[jobs::job(queue = "o_kill_noretry", retry = false)]
async fn killing_unretried_job(reason: String) -> Result<Outcome, Oops> {
    Ok(Outcome::kill(reason))
}

#[jobs::job(queue = "o_kill_nodead", dead = false)]
async fn killing_undead_job(reason: String) -> Result<Outcome, Oops> {
    Ok(Outcome::kill(reason))
}

#[jobs::job(queue = "o_fail", retry = 1)]
async fn handled_failure(events: State<Events>, n: u32) -> Result<(), Oops> {
    if n == 0 {
        events.send("performed 0");
        return Ok(());
    }
    Err(Oops(format!("failure {n}")))
}

#[tokio::test]
async fn snooze_goes_to_scheduled_without_counting_a_retry_and_runs_later() {
    let backend = common::backend();
    let clock = common::clock();
    let client = common::client(&backend, &clock);
    let (events, mut rx) = common::events();
    let running = common::spawn(
        common::worker(&backend)
            .queues(["o_snooze"])
            .clock(clock.clone())
            .registry(jobs::Registry::new().with::<SnoozingJob>().unwrap())
            .state(events)
            .state(Runs::default())
            .build()
            .unwrap(),
    );
    let jid = SnoozingJob::set()
        .client(&client)
        .perform_later()
        .await
        .unwrap();
    assert_eq!(common::next(&mut rx).await, "run 1, attempt 1");
    let snoozed = common::the_one(&backend, JobSet::Scheduled).await;
    assert_eq!(snoozed.job.jid, jid);
    assert_eq!(snoozed.at, Some(common::start() + Span::seconds(60)));
    assert_eq!(snoozed.job.retry_count, None, "a snooze is not a retry");
    assert_eq!(snoozed.job.error_message, None);
    assert!(common::list(&backend, JobSet::Retry).await.is_empty());
    common::assert_no_event(&mut rx).await;

    clock.advance(Duration::from_secs(60));
    assert_eq!(common::next(&mut rx).await, "run 2, attempt 1");
    let stats = common::processed(&backend, 1).await;
    running.stop().await;
    assert_eq!(stats.failed, 0);
    assert_eq!(
        stats.processed, 1,
        "the snooze itself is not counted as processed"
    );
    assert_eq!((stats.scheduled, stats.enqueued), (0, 0));
}

#[tokio::test]
async fn discard_removes_the_job_without_failing_it() {
    let backend = common::backend();
    let client = Client::new(backend.clone());
    let running = common::spawn(
        common::worker(&backend)
            .queues(["o_discard"])
            .registry(jobs::Registry::new().with::<DiscardingJob>().unwrap())
            .build()
            .unwrap(),
    );
    DiscardingJob::set()
        .client(&client)
        .perform_later("account closed".into())
        .await
        .unwrap();
    let stats = common::processed(&backend, 1).await;
    running.stop().await;
    assert_eq!(stats.failed, 0);
    assert_eq!(
        (stats.enqueued, stats.scheduled, stats.retries, stats.dead),
        (0, 0, 0, 0)
    );
}

#[tokio::test]
async fn kill_sends_the_job_to_the_dead_set_at_once_and_calls_death_handlers() {
    let backend = common::backend();
    let client = Client::new(backend.clone());
    let deaths = Arc::new(Mutex::new(Vec::new()));
    let seen = deaths.clone();
    let running = common::spawn(
        common::worker(&backend)
            .queues(["o_kill"])
            .registry(jobs::Registry::new().with::<KillingJob>().unwrap())
            .on_death(move |job, failure| {
                seen.lock()
                    .unwrap()
                    .push((job.jid.clone(), failure.message.clone()));
            })
            .build()
            .unwrap(),
    );
    let jid = KillingJob::set()
        .client(&client)
        .perform_later("poisoned payload".into())
        .await
        .unwrap()
        .into_jid();
    let dead = common::the_one(&backend, JobSet::Dead).await;
    running.stop().await;
    assert_eq!(dead.job.jid, jid);
    assert_eq!(
        dead.job.retry,
        jobs::envelope::RetrySetting::Count(25),
        "it had retries left"
    );
    assert_eq!(dead.job.error_message.as_deref(), Some("poisoned payload"));
    assert_eq!(dead.job.error_class.as_deref(), Some("jobs::Killed"));
    assert!(common::list(&backend, JobSet::Retry).await.is_empty());
    assert_eq!(
        *deaths.lock().unwrap(),
        vec![(jid, "poisoned payload".to_string())]
    );
}

/// Runs `job` on a worker with a death handler; returns the deaths the handler saw.
async fn run_killed<J: jobs::Job>(
    backend: &Arc<jobs::memory::MemoryBackend>,
    queue: &'static str,
    job: J,
) -> (String, Vec<(String, String)>) {
    let client = Client::new(backend.clone());
    let deaths = Arc::new(Mutex::new(Vec::new()));
    let seen = deaths.clone();
    let running = common::spawn(
        common::worker(backend)
            .queues([queue])
            .registry(jobs::Registry::new().with::<J>().unwrap())
            .on_death(move |job, failure| {
                seen.lock()
                    .unwrap()
                    .push((job.jid.clone(), failure.message.clone()));
            })
            .build()
            .unwrap(),
    );
    let jid = client.enqueue(job, &Default::default()).await.unwrap();
    common::processed(backend, 1).await;
    running.stop().await;
    let deaths = deaths.lock().unwrap().clone();
    (jid.to_string(), deaths)
}

#[tokio::test]
async fn kill_means_dead_even_when_the_job_is_not_retried() {
    let backend = common::backend();
    let (jid, deaths) = run_killed(
        &backend,
        "o_kill_noretry",
        KillingUnretriedJob::new("poisoned".into()),
    )
    .await;
    let dead = common::the_one(&backend, JobSet::Dead).await;
    assert_eq!(dead.job.jid, jid);
    assert_eq!(dead.job.error_class.as_deref(), Some("jobs::Killed"));
    assert_eq!(deaths, vec![(jid, "poisoned".to_string())]);
}

#[tokio::test]
async fn kill_with_dead_false_keeps_nothing_but_still_calls_death_handlers() {
    let backend = common::backend();
    let (jid, deaths) = run_killed(
        &backend,
        "o_kill_nodead",
        KillingUndeadJob::new("poisoned".into()),
    )
    .await;
    assert!(common::list(&backend, JobSet::Dead).await.is_empty());
    assert!(common::list(&backend, JobSet::Retry).await.is_empty());
    assert_eq!(deaths, vec![(jid, "poisoned".to_string())]);
}

#[tokio::test]
async fn every_error_handler_is_called_and_a_panicking_one_does_not_stop_the_worker() {
    let backend = common::backend();
    let clock = common::clock();
    let client = common::client(&backend, &clock);
    let (events, mut rx) = common::events();
    let first = Arc::new(Mutex::new(Vec::new()));
    let second = Arc::new(Mutex::new(Vec::new()));
    let deaths = Arc::new(Mutex::new(Vec::new()));
    let (a, b, d) = (first.clone(), second.clone(), deaths.clone());
    let running = common::spawn(
        common::worker(&backend)
            .queues(["o_fail"])
            .concurrency(1)
            .clock(clock.clone())
            .registry(jobs::Registry::new().with::<HandledFailure>().unwrap())
            .state(events)
            .on_error(move |job, failure| {
                a.lock()
                    .unwrap()
                    .push((job.jid.clone(), job.retry_count, failure.message.clone()));
            })
            .on_error(|_, _| panic!("a broken error tracker"))
            .on_error(move |job, _| b.lock().unwrap().push(job.jid.clone()))
            .on_death(|_, _| panic!("a broken death handler"))
            .on_death(move |job, _| d.lock().unwrap().push(job.jid.clone()))
            .build()
            .unwrap(),
    );
    let jid = HandledFailure::set()
        .client(&client)
        .perform_later(1)
        .await
        .unwrap()
        .into_jid();
    let retry = common::the_one(&backend, JobSet::Retry).await;
    clock.set(retry.at.unwrap());
    let dead = common::the_one(&backend, JobSet::Dead).await;
    assert_eq!(dead.job.jid, jid);

    // The worker is still up and performs later jobs.
    HandledFailure::set()
        .client(&client)
        .perform_later(0)
        .await
        .unwrap();
    assert_eq!(common::next(&mut rx).await, "performed 0");
    running.stop().await;
    assert_eq!(
        *first.lock().unwrap(),
        vec![
            (jid.clone(), Some(0), "failure 1".to_string()),
            (jid.clone(), Some(1), "failure 1".to_string()),
        ]
    );
    assert_eq!(
        *second.lock().unwrap(),
        vec![jid.clone(), jid.clone()],
        "handlers after a panicking one still run"
    );
    assert_eq!(*deaths.lock().unwrap(), vec![jid]);
}
