//! The worker applies a job's limits: at most `limit` of a concurrency key run at once while
//! other keys run beside them; a job over its rate, or stopped by a full `Limiter`, is
//! snoozed to when a start frees (no attempt counted, no failure recorded); bad per-call
//! limits are refused naming the option; priority aging runs at each poll.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::{Events, Gate, Oops};
use jobs::backend::*;
use jobs::chrono::Utc;
use jobs::prelude::*;
use jobs::{Concurrency, EnqueueError, LimitError, Limiter, Rate};

/// How many jobs of key 1 run now, and the most that ever did.
#[derive(Clone, Default)]
struct Peak {
    now: Arc<AtomicUsize>,
    max: Arc<AtomicUsize>,
}

#[jobs::job(queue = "limits", concurrency(limit = 1, key = account))]
async fn sync_account(
    events: State<Events>,
    gate: State<Gate>,
    peak: State<Peak>,
    account: u32,
    n: u32,
) -> Result<(), Oops> {
    if account == 1 {
        let running = peak.now.fetch_add(1, Ordering::SeqCst) + 1;
        peak.max.fetch_max(running, Ordering::SeqCst);
    }
    events.send(format!("account {account} job {n} started"));
    gate.pass().await;
    if account == 1 {
        peak.now.fetch_sub(1, Ordering::SeqCst);
    }
    Ok(())
}

#[tokio::test]
async fn one_key_runs_one_at_a_time_while_other_keys_run_beside_it() {
    let backend = common::backend();
    let client = jobs::Client::new(backend.clone());
    for n in 0..3 {
        client
            .enqueue(SyncAccount::new(1, n), &Default::default())
            .await
            .unwrap();
    }
    client
        .enqueue(SyncAccount::new(2, 0), &Default::default())
        .await
        .unwrap();
    let (events, mut rx) = common::events();
    let (gate, peak) = (Gate::new(), Peak::default());
    let worker = common::worker(&backend)
        .queues(["limits"])
        .concurrency(4)
        .state(events)
        .state(gate.clone())
        .state(peak.clone())
        .registry(jobs::Registry::new().with::<SyncAccount>().unwrap())
        .build()
        .unwrap();
    let worker = common::spawn(worker);
    let mut first = vec![common::next(&mut rx).await, common::next(&mut rx).await];
    first.sort();
    assert_eq!(
        first,
        ["account 1 job 0 started", "account 2 job 0 started"]
    );
    common::assert_no_event(&mut rx).await;
    // Both end; the next job of key 1 starts, and no other.
    gate.open(2);
    assert_eq!(common::next(&mut rx).await, "account 1 job 1 started");
    common::assert_no_event(&mut rx).await;
    gate.open(1);
    assert_eq!(common::next(&mut rx).await, "account 1 job 2 started");
    gate.open(1);
    let stats = common::processed(&backend, 4).await;
    worker.stop().await;
    assert_eq!((stats.processed, stats.failed), (4, 0));
    assert_eq!(
        peak.max.load(Ordering::SeqCst),
        1,
        "never two of key 1 at once"
    );
}

/// A worker of queue `limits` running job `J` one at a time, reporting to `events`.
fn one_at_a_time<J: jobs::Job>(
    backend: &Arc<jobs::memory::MemoryBackend>,
    events: Events,
) -> common::Running {
    let worker = common::worker(backend)
        .queues(["limits"])
        .concurrency(1)
        .state(events)
        .registry(jobs::Registry::new().with::<J>().unwrap())
        .build()
        .unwrap();
    common::spawn(worker)
}

#[jobs::job(queue = "limits", rate(limit = 2, per = "1h"))]
async fn call_partner(events: State<Events>, n: u32) -> Result<(), Oops> {
    events.send(format!("call {n}"));
    Ok(())
}

#[tokio::test]
async fn a_job_over_its_rate_waits_in_the_scheduled_set_without_an_attempt() {
    let backend = common::backend();
    let client = jobs::Client::new(backend.clone());
    let before = Utc::now();
    for n in 0..3 {
        client
            .enqueue(CallPartner::new(n), &Default::default())
            .await
            .unwrap();
    }
    let (events, mut rx) = common::events();
    let worker = one_at_a_time::<CallPartner>(&backend, events);
    assert_eq!(common::next(&mut rx).await, "call 0");
    assert_eq!(common::next(&mut rx).await, "call 1");
    let waiting = common::eventually("the third call to be snoozed", || async {
        let list = common::list(&backend, JobSet::Scheduled).await;
        list.into_iter().next()
    })
    .await;
    worker.stop().await;
    common::assert_no_event(&mut rx).await;
    let at = waiting.at.expect("a scheduled job has a time");
    assert!(
        at >= before + jobs::chrono::Duration::minutes(59),
        "it waits until the first start leaves the hour's window: {at}"
    );
    assert_eq!(waiting.job.retry_count, None, "no attempt counted");
    assert_eq!(waiting.job.error_message, None, "no failure recorded");
    let stats = backend.stats().await.unwrap();
    assert_eq!((stats.processed, stats.failed, stats.retries), (2, 0, 0));
}

static EXPORTS: Limiter = Limiter::rate("exports", 1, Duration::from_secs(3600));

#[derive(Debug, thiserror::Error)]
enum ExportError {
    #[error("export limited")]
    Limited(#[from] LimitError),
}

#[jobs::job(queue = "limits")]
async fn export(events: State<Events>, n: u32) -> Result<(), ExportError> {
    EXPORTS.acquire("tenant-1").await?;
    events.send(format!("export {n}"));
    Ok(())
}

#[tokio::test]
async fn a_full_limiter_inside_a_job_snoozes_it_instead_of_failing_it() {
    let backend = common::backend();
    let client = jobs::Client::new(backend.clone());
    for n in 0..2 {
        client
            .enqueue(Export::new(n), &Default::default())
            .await
            .unwrap();
    }
    let (events, mut rx) = common::events();
    let worker = one_at_a_time::<Export>(&backend, events);
    assert_eq!(common::next(&mut rx).await, "export 0");
    let waiting = common::eventually("the second export to be snoozed", || async {
        common::list(&backend, JobSet::Scheduled)
            .await
            .into_iter()
            .next()
    })
    .await;
    worker.stop().await;
    assert_eq!(waiting.job.retry_count, None, "no attempt counted");
    assert_eq!(waiting.job.error_message, None, "not recorded as a failure");
    assert!(waiting.at.expect("scheduled") > Utc::now() + jobs::chrono::Duration::minutes(59));
    let stats = backend.stats().await.unwrap();
    assert_eq!((stats.processed, stats.failed, stats.retries), (1, 0, 0));
    let usage = backend
        .limits_list(LimitsListParams::new(Utc::now()))
        .await
        .unwrap();
    assert_eq!(usage.len(), 1);
    assert_eq!(usage[0].key, "limiter:exports:tenant-1");
    assert_eq!((usage[0].in_use, usage[0].limit), (1, 1));
}

#[tokio::test]
async fn bad_per_call_limits_are_refused_naming_the_option() {
    let backend = common::backend();
    let client = jobs::Client::new(backend.clone());
    let err = CallPartner::set()
        .client(&client)
        .concurrency(Concurrency::limit(0))
        .perform_later(1)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            EnqueueError::BadOption {
                option: "concurrency.limit",
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("concurrency.limit"), "{err}");
    let err = CallPartner::set()
        .client(&client)
        .rate(Rate::limit(5, Duration::ZERO))
        .perform_later(1)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            EnqueueError::BadOption {
                option: "rate.per",
                ..
            }
        ),
        "{err}"
    );
    let stats = backend.stats().await.unwrap();
    assert_eq!(stats.enqueued, 0, "nothing was stored");
}

#[tokio::test]
async fn a_worker_with_priority_aging_lets_a_long_waiting_job_overtake() {
    let backend = common::backend();
    let clock = common::clock();
    let client = common::client(&backend, &clock);
    let low = CallPartner::set()
        .client(&client)
        .priority(9)
        .queue("aging")
        .perform_later(1)
        .await
        .unwrap();
    clock.advance(Duration::from_secs(100));
    CallPartner::set()
        .client(&client)
        .queue("aging")
        .perform_later(2)
        .await
        .unwrap();
    let first = |list: Vec<StoredJob>| list.first().map(|s| s.job.jid.clone());
    assert_ne!(
        first(common::list(&backend, JobSet::Queue("aging".into())).await),
        Some(low.to_string()),
        "strict priorities before any aging pass"
    );
    // A worker that works another queue still ages every queue at each poll.
    let worker = common::worker(&backend)
        .queues(["elsewhere"])
        .clock(clock.clone())
        .priority_aging(Duration::from_secs(10))
        .state(common::events().0)
        .registry(jobs::Registry::new().with::<CallPartner>().unwrap())
        .build()
        .unwrap();
    let worker = common::spawn(worker);
    common::eventually("the low job to lead its queue", || async {
        let list = common::list(&backend, JobSet::Queue("aging".into())).await;
        (first(list) == Some(low.to_string())).then_some(())
    })
    .await;
    worker.stop().await;
}
