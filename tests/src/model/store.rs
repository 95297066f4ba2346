//! Where one backend's model test runs: the [`ModelStore`] that opens the backend for each
//! case and, where the backend allows it, restarts it under a case; and [`suite`], which
//! runs the cases under proptest.
//!
//! 1. [`ModelStore::open`] gives a backend on an empty store for each case;
//!    [`ModelStore::restart`] drops the backend in use and opens a fresh one on the same
//!    store (restarting the store itself first where that is cheap enough).
//!    [`ModelStore::restarts`] is the capability: `Op::Restart` is generated only when it is
//!    true.
//! 2. [`Fresh`] is the store of a backend without a restart: a factory called per case.
//! 3. [`suite`] builds one runtime and one store for all the cases of a test (so a private
//!    server lives as long as the test, and is stopped when it ends, even when it fails),
//!    and runs `JOBS_MODEL_CASES` cases (default 200) of up to 40 steps, shrinking a failure.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::io::Write;

use async_trait::async_trait;
use proptest::test_runner::{Config, TestCaseError, TestError, TestRunner};

use super::{ops, Caps};
use crate::support::Subject;
use crate::CaseError;

/// The store under one backend's model test.
#[async_trait(?Send)]
pub trait ModelStore {
    /// Whether the backend can be restarted under a case (`Op::Restart` is generated).
    fn restarts(&self) -> bool {
        true
    }

    /// A backend on an empty store, for a new case.
    async fn open(&mut self) -> Result<Subject, CaseError>;

    /// Drops `old`, the backend in use, and opens a fresh one on the same store (same file,
    /// schema or key prefix), with everything stored kept; `hard` asks for a crash rather
    /// than a clean stop where the store tells them apart.
    async fn restart(&mut self, old: Subject, hard: bool) -> Result<Subject, CaseError> {
        let _ = (old, hard);
        Err(CaseError::Skip("this backend has no restart".into()))
    }
}

/// The store of a backend that cannot be restarted: `factory` gives a fresh backend per case.
pub struct Fresh<F>(pub F);

#[async_trait(?Send)]
impl<F, Fut> ModelStore for Fresh<F>
where
    F: Fn() -> Fut,
    Fut: Future<Output = Result<Subject, CaseError>>,
{
    fn restarts(&self) -> bool {
        false
    }

    async fn open(&mut self) -> Result<Subject, CaseError> {
        (self.0)().await
    }
}

/// How many cases: `JOBS_MODEL_CASES`, default 200.
pub fn cases() -> u32 {
    std::env::var("JOBS_MODEL_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200)
}

/// Runs the model test of backend `name` on the store `make` gives; `source_file` is the
/// test's file (where proptest keeps the failures it found). Panics with the smallest
/// failing sequence found.
pub fn suite<S, Fut>(name: &str, source_file: &'static str, make: Fut)
where
    S: ModelStore,
    Fut: Future<Output = Result<S, CaseError>>,
{
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("cannot build a runtime: {e}"));
    let store = match rt.block_on(make) {
        Ok(store) => store,
        Err(CaseError::Skip(reason)) => {
            report_skip(name, &reason);
            return;
        }
        Err(CaseError::Backend(e)) => panic!("setup failed: {e}"),
    };
    let caps = Caps {
        restart: store.restarts(),
    };
    let store = RefCell::new(store);
    let skipped = Cell::new(false);
    let config = Config {
        cases: cases(),
        source_file: Some(source_file),
        ..Config::default()
    };
    let mut runner = TestRunner::new(config);
    let result = runner.run(&ops(caps), |ops| {
        let mut store = store.borrow_mut();
        rt.block_on(async {
            let subject = store.open().await?;
            super::run(&mut *store, subject, ops).await
        })
        .or_else(|e| match e {
            CaseError::Skip(reason) => {
                if !skipped.replace(true) {
                    report_skip(name, &reason);
                }
                Ok(())
            }
            CaseError::Backend(e) => {
                Err(TestCaseError::fail(format!("a backend call failed: {e}")))
            }
        })
    });
    // The store (a private server, say) goes before the runtime it runs on.
    drop(store);
    match result {
        Ok(()) => {}
        Err(TestError::Abort(why)) => panic!("{name}: the model test aborted: {why}"),
        Err(TestError::Fail(why, ops)) => {
            panic!("{name}: {why}\nsmallest failing sequence: {ops:#?}")
        }
    }
}

/// Says why cases were skipped, past the test harness's capture.
fn report_skip(name: &str, reason: &str) {
    let _ = writeln!(std::io::stderr(), "SKIPPED model {name}: {reason}");
}
