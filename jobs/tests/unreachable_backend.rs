//! A job whose outcome cannot be reported while the backend is unreachable is not lost: the
//! worker keeps retrying the report with backoff until the backend answers again.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use jobs::backend::*;
use jobs::prelude::*;

mod common;
use common::hooked::{Hooked, Hooks};

#[derive(Debug, thiserror::Error)]
#[error("flaky: {0}")]
struct FlakyError(&'static str);

#[jobs::job(name = "UnreachableFails", retry = 3)]
async fn unreachable_fails() -> Result<(), FlakyError> {
    Err(FlakyError("third-party API down"))
}

#[jobs::job(name = "UnreachableSucceeds")]
async fn unreachable_succeeds() -> Result<(), FlakyError> {
    Ok(())
}

/// `job_finish` and `job_reserve` fail with connection errors while their counters are
/// above zero (`job_finish` first with conflicts while `finish_conflicts` is); finishes are
/// counted.
struct Flaky {
    finish_failures: AtomicU32,
    finish_conflicts: AtomicU32,
    reserve_failures: AtomicU32,
    finish_calls: AtomicU32,
}

fn down() -> BackendError {
    BackendError::connection("flaky://test", "connection refused")
}

fn take(counter: &AtomicU32) -> bool {
    counter
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok()
}

#[jobs::__private::async_trait]
impl Hooks for Flaky {
    async fn before_reserve(&self) -> Result<(), BackendError> {
        if take(&self.reserve_failures) {
            return Err(down());
        }
        Ok(())
    }
    async fn before_finish(&self, _p: &FinishParams) -> Result<(), BackendError> {
        self.finish_calls.fetch_add(1, Ordering::SeqCst);
        if take(&self.finish_conflicts) {
            return Err(BackendError::Conflict("deadlock detected".into()));
        }
        if take(&self.finish_failures) {
            return Err(down());
        }
        Ok(())
    }
}

fn flaky(finish_failures: u32, reserve_failures: u32) -> Arc<Hooked<Flaky>> {
    Arc::new(Hooked::new(Flaky {
        finish_failures: AtomicU32::new(finish_failures),
        finish_conflicts: AtomicU32::new(0),
        reserve_failures: AtomicU32::new(reserve_failures),
        finish_calls: AtomicU32::new(0),
    }))
}

async fn run_until(
    backend: Arc<Hooked<Flaky>>,
    registry: jobs::Registry,
    done: impl Fn(&Stats) -> bool,
) -> Stats {
    let running = common::spawn(
        common::worker(&backend)
            .registry(registry)
            .fetch_wait(Duration::from_millis(20))
            .build()
            .unwrap(),
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    let stats = loop {
        let stats = backend.inner.stats().await.unwrap();
        if done(&stats) {
            break stats;
        }
        assert!(
            Instant::now() < deadline,
            "did not settle in time: {stats:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    running.stop().await;
    stats
}

#[tokio::test]
async fn a_failure_reported_while_the_backend_is_down_reaches_the_retry_set() {
    let backend = flaky(3, 0);
    let client = Client::new(backend.clone());
    UnreachableFails::set()
        .client(&client)
        .perform_later()
        .await
        .unwrap();
    let registry = jobs::Registry::new().with::<UnreachableFails>().unwrap();
    let stats = run_until(backend.clone(), registry, |s| s.retries == 1).await;
    assert_eq!(stats.failed, 1);
    assert_eq!(stats.enqueued, 0);
    assert_eq!(
        backend.hooks.finish_calls.load(Ordering::SeqCst),
        4,
        "three refused reports, then one that landed"
    );
    let page = backend
        .inner
        .job_list(JobListParams::new(JobSet::Retry, 10))
        .await
        .unwrap();
    assert_eq!(
        page.jobs[0].job.error_message.as_deref(),
        Some("flaky: third-party API down")
    );
}

/// Enqueues one job that succeeds and runs a worker until it is processed, without failure.
async fn perform_one_success(backend: &Arc<Hooked<Flaky>>) {
    let client = Client::new(backend.clone());
    UnreachableSucceeds::set()
        .client(&client)
        .perform_later()
        .await
        .unwrap();
    let registry = jobs::Registry::new().with::<UnreachableSucceeds>().unwrap();
    let stats = run_until(backend.clone(), registry, |s| s.processed == 1).await;
    assert_eq!(stats.failed, 0);
}

#[tokio::test]
async fn a_worker_backs_off_while_reserve_fails_and_carries_on() {
    let backend = flaky(0, 4);
    perform_one_success(&backend).await;
    assert_eq!(
        backend.hooks.reserve_failures.load(Ordering::SeqCst),
        0,
        "every refused reserve was retried"
    );
}

/// A store that rolls a whole finish back as a deadlock (Postgres: a heartbeat and a settle
/// locking the same rows in different orders) has applied none of it: the batch is sent
/// again, so the job is not left running under a lease the heartbeat keeps alive.
#[tokio::test]
async fn a_finish_refused_as_a_deadlock_is_sent_again() {
    let backend = flaky(0, 0);
    backend.hooks.finish_conflicts.store(2, Ordering::SeqCst);
    perform_one_success(&backend).await;
    assert_eq!(
        backend.hooks.finish_calls.load(Ordering::SeqCst),
        3,
        "two refused reports, then one that landed"
    );
}
