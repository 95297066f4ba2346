//! No job is lost when things go wrong: a vanished worker, an unreachable backend, long jobs.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::{Events, Gate, Oops};
use jobs::backend::*;
use jobs::clock::Clock;
use jobs::memory::MemoryBackend;
use jobs::prelude::*;

#[jobs::job(queue = "x_gated")]
async fn stuck_job(gate: State<Gate>, events: State<Events>, n: u32) -> Result<(), Oops> {
    events.send(format!("start {n}"));
    gate.pass().await;
    events.send(format!("done {n}"));
    Ok(())
}

#[jobs::job(queue = "x_long")]
async fn long_job(events: State<Events>) -> Result<(), Oops> {
    events.send("start");
    // Work that outlives the lease several times over.
    tokio::time::sleep(Duration::from_millis(900)).await;
    events.send("done");
    Ok(())
}

#[jobs::job(queue = "x_plain", retry = 3)]
async fn plain_job(events: State<Events>, fail: bool) -> Result<(), Oops> {
    events.send(format!("performed fail={fail}"));
    if fail {
        return Err(Oops("it failed".into()));
    }
    Ok(())
}

/// Forwards to memory, failing the first calls of `job_reserve` and `job_finish`.
#[derive(Clone, Default)]
struct Unreachable {
    inner: Arc<MemoryBackend>,
    reserve_failures: Arc<AtomicUsize>,
    finish_failures: Arc<AtomicUsize>,
}

fn take_one(n: &AtomicUsize) -> bool {
    n.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |v| v.checked_sub(1))
        .is_ok()
}

#[jobs::__private::async_trait]
impl Backend for Unreachable {
    fn name(&self) -> &'static str {
        "unreachable"
    }
    async fn job_push(&self, params: PushParams) -> Result<(), BackendError> {
        self.inner.job_push(params).await
    }
    async fn job_reserve(&self, params: ReserveParams) -> Result<Vec<Reserved>, BackendError> {
        if take_one(&self.reserve_failures) {
            return Err(BackendError::connection("test", "connection refused"));
        }
        self.inner.job_reserve(params).await
    }
    async fn job_finish(&self, params: FinishParams) -> Result<FinishReport, BackendError> {
        if take_one(&self.finish_failures) {
            return Err(BackendError::connection("test", "connection reset"));
        }
        self.inner.job_finish(params).await
    }
    async fn job_requeue(&self, params: RequeueParams) -> Result<(), BackendError> {
        self.inner.job_requeue(params).await
    }
    async fn process_heartbeat(
        &self,
        params: HeartbeatParams,
    ) -> Result<HeartbeatReply, BackendError> {
        self.inner.process_heartbeat(params).await
    }
    async fn process_remove(&self, id: &ProcessId) -> Result<(), BackendError> {
        self.inner.process_remove(id).await
    }
    async fn scheduled_promote(&self, params: PromoteParams) -> Result<u64, BackendError> {
        self.inner.scheduled_promote(params).await
    }
    async fn lease_rescue(&self, params: RescueParams) -> Result<u64, BackendError> {
        self.inner.lease_rescue(params).await
    }
}

#[tokio::test]
async fn jobs_of_a_worker_whose_run_future_is_dropped_are_rescued_by_another() {
    let backend = common::backend();
    let clock = common::clock();
    let client = Client::new(backend.clone());
    let (events, mut rx) = common::events();
    let gate = Gate::new();
    let build = |events: Events| {
        common::worker(&backend)
            .queues(["x_gated"])
            .clock(clock.clone())
            .lease_ttl(Duration::from_secs(60))
            .registry(jobs::Registry::new().with::<StuckJob>().unwrap())
            .state(gate.clone())
            .state(events)
            .build()
            .unwrap()
    };
    let crashed = build(events.clone());
    let crashed_id = crashed.id().to_owned();
    let task = tokio::spawn(crashed.run());
    StuckJob::set()
        .client(&client)
        .perform_later(1)
        .await
        .unwrap();
    assert_eq!(common::next(&mut rx).await, "start 1");
    // The embedding app drops the worker (say, a select! in main picked the web server).
    task.abort();
    let _ = task.await;

    // It no longer beats: its record keeps its last beat time.
    clock.advance(Duration::from_secs(61));
    let beats = async {
        loop {
            let procs = backend.process_list().await.unwrap();
            if procs
                .iter()
                .any(|p| p.info.id == crashed_id && p.beat_at == clock.now())
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    };
    let still_beating = tokio::time::timeout(common::QUIET, beats).await.is_ok();
    assert!(
        !still_beating,
        "a dropped worker still beats and extends its leases"
    );

    // Its leases have expired; another worker rescues and performs the job.
    let rescuer = common::spawn(build(events));
    assert_eq!(common::next(&mut rx).await, "start 1");
    gate.open(1);
    assert_eq!(common::next(&mut rx).await, "done 1");
    let stats = common::processed(&backend, 1).await;
    assert_eq!((stats.processed, stats.enqueued), (1, 0));
    let procs = backend.process_list().await.unwrap();
    assert!(
        procs.iter().all(|p| p.info.id != crashed_id),
        "the vanished process is pruned"
    );
    rescuer.stop().await;
}

#[tokio::test]
async fn the_heartbeat_extends_the_leases_of_a_long_job_so_it_runs_once() {
    let backend = common::backend();
    let client = Client::new(backend.clone());
    let (events, mut rx) = common::events();
    let running = common::spawn(
        common::worker(&backend)
            .queues(["x_long"])
            .concurrency(2)
            .lease_ttl(Duration::from_millis(300))
            .registry(jobs::Registry::new().with::<LongJob>().unwrap())
            .state(events)
            .build()
            .unwrap(),
    );
    LongJob::set()
        .client(&client)
        .perform_later()
        .await
        .unwrap();
    assert_eq!(common::next(&mut rx).await, "start");
    assert_eq!(
        common::next(&mut rx).await,
        "done",
        "not started a second time"
    );
    let stats = common::processed(&backend, 1).await;
    running.stop().await;
    assert_eq!((stats.processed, stats.failed, stats.enqueued), (1, 0, 0));
}

#[tokio::test]
async fn an_unreachable_backend_delays_work_without_losing_it() {
    let backend = Unreachable::default();
    backend.reserve_failures.store(3, Ordering::SeqCst);
    backend.finish_failures.store(2, Ordering::SeqCst);
    let client = Client::new(Arc::new(backend.clone()));
    let (events, mut rx) = common::events();
    let running = common::spawn(
        Worker::builder(Arc::new(backend.clone()))
            .handle_signals(false)
            .fetch_wait(Duration::from_millis(50))
            .poll_interval(Duration::from_millis(20))
            .queues(["x_plain"])
            .concurrency(1)
            .registry(jobs::Registry::new().with::<PlainJob>().unwrap())
            .state(events)
            .build()
            .unwrap(),
    );
    let jid = PlainJob::set()
        .client(&client)
        .perform_later(true)
        .await
        .unwrap();
    assert_eq!(common::next(&mut rx).await, "performed fail=true");
    // Reporting the failure fails twice; the worker keeps trying and it lands in the retry set.
    let retry = common::the_one(&backend.inner, JobSet::Retry).await;
    assert_eq!(retry.job.jid, jid);
    assert_eq!(retry.job.error_message.as_deref(), Some("it failed"));
    PlainJob::set()
        .client(&client)
        .perform_later(false)
        .await
        .unwrap();
    assert_eq!(common::next(&mut rx).await, "performed fail=false");
    let stats = common::processed(&backend.inner, 2).await;
    running.stop().await;
    assert_eq!(backend.reserve_failures.load(Ordering::SeqCst), 0);
    assert_eq!(backend.finish_failures.load(Ordering::SeqCst), 0);
    assert_eq!((stats.processed, stats.failed), (2, 1));
    common::assert_no_event(&mut rx).await;
}
