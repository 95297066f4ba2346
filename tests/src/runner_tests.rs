//! Tests of the runner itself: declared skips, `Unsupported` skips, `require_all`, failures.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use jobs::backend::{AdminBackend, BackendError};

use crate::{run_case, CaseResult, Factory};

const CASES: &[&str] = &["area::one", "area::two"];

fn memory() -> Factory {
    Factory::new(|| async { jobs::memory::MemoryBackend::new() })
}

async fn unsupported(_: Arc<dyn AdminBackend>) -> CaseResult {
    Err(BackendError::Unsupported {
        backend: "memory",
        operation: "job_kill",
    }
    .into())
}

async fn refused(_: Arc<dyn AdminBackend>) -> CaseResult {
    Err(BackendError::msg("the server said no").into())
}

#[tokio::test]
async fn a_declared_skip_does_not_run_the_case() {
    let ran = Arc::new(AtomicBool::new(false));
    let flag = ran.clone();
    let factory = memory().skip("area::one", "not supported here");
    run_case(
        "runner-self-test",
        "area::one",
        CASES,
        factory,
        |_| async move {
            flag.store(true, Ordering::SeqCst);
            Ok(())
        },
    )
    .await;
    assert!(!ran.load(Ordering::SeqCst), "a skipped case ran");
}

#[tokio::test]
async fn other_cases_still_run_beside_a_skip() {
    let ran = Arc::new(AtomicBool::new(false));
    let flag = ran.clone();
    let factory = memory().skip("area::one", "not supported here");
    run_case(
        "runner-self-test",
        "area::two",
        CASES,
        factory,
        |b| async move {
            assert_eq!(b.name(), "memory");
            flag.store(true, Ordering::SeqCst);
            Ok(())
        },
    )
    .await;
    assert!(ran.load(Ordering::SeqCst), "a case not skipped did not run");
}

#[tokio::test]
async fn an_unsupported_error_skips() {
    run_case(
        "runner-self-test",
        "area::one",
        CASES,
        memory(),
        unsupported,
    )
    .await;
}

#[tokio::test]
#[should_panic(expected = "must pass every case")]
async fn require_all_turns_a_skip_into_a_failure() {
    run_case(
        "memory",
        "area::one",
        CASES,
        memory().require_all(),
        unsupported,
    )
    .await;
}

#[tokio::test]
#[should_panic(expected = "which is not a case")]
async fn a_skip_naming_no_case_fails() {
    let factory = memory().skip("area::tow", "typo");
    run_case("runner-self-test", "area::one", CASES, factory, |_| async {
        Ok(())
    })
    .await;
}

#[tokio::test]
#[should_panic(expected = "the server said no")]
async fn any_other_backend_error_fails() {
    run_case("runner-self-test", "area::one", CASES, memory(), refused).await;
}
