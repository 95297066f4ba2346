//! The poison area: bytes in the store that are not a job must never hold other jobs hostage.
//!
//! 1. [`RawStore`] is the one thing these cases need beyond [`AdminBackend`]: a way to put
//!    bytes into a queue or set exactly as given, past every check a client makes. Each
//!    backend's glue implements it with its driver (a memory backend stores typed envelopes,
//!    so it has no bytes to corrupt and does not run this area).
//! 2. [`poison_suite!`](crate::poison_suite) generates one test per case, as
//!    [`conformance_suite!`](crate::conformance_suite) does.
//! 3. The cases (in `cases/poison.rs`) put every kind of bad payload (not UTF-8, not JSON,
//!    not an object, no class, nested past the decoder) beside valid jobs, and check that the
//!    valid ones run, that each bad one is in the dead set on its own with its bytes and an
//!    error, and that no listing fails meanwhile.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use jobs::backend::{AdminBackend, BackendError};

/// Where raw bytes go. The queue is the one a store that keeps a queue beside the payload
/// (a SQL row) files them under; a store that keeps only the payload ignores it outside
/// [`RawPlace::Queue`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RawPlace {
    /// The tail of the queue.
    Queue(String),
    /// The scheduled set, due at the time, for the queue.
    Scheduled(String, DateTime<Utc>),
    /// The retry set, due at the time, for the queue.
    Retry(String, DateTime<Utc>),
    /// The dead set, dead since the time, from the queue.
    Dead(String, DateTime<Utc>),
}

/// Stores bytes as they are, bypassing the client and the backend's encoding.
#[async_trait]
pub trait RawStore: Send + Sync {
    /// Puts `bytes` at `place`. A store that keeps a job id beside the payload (a SQL row's
    /// `jid` column) uses `jid`; one that keeps only the payload ignores it.
    async fn put_raw(&self, place: RawPlace, jid: &str, bytes: &[u8]) -> Result<(), BackendError>;
}

/// A backend and its raw side, sharing one store.
#[derive(Clone)]
pub struct PoisonSubject {
    /// The backend under test.
    pub backend: Arc<dyn AdminBackend>,
    /// Its raw side.
    pub raw: Arc<dyn RawStore>,
}

type SubjectFuture = Pin<Box<dyn Future<Output = Result<PoisonSubject, crate::CaseError>> + Send>>;

/// Builds a fresh, isolated [`PoisonSubject`] for each case.
#[derive(Clone)]
pub struct PoisonFactory {
    make: Arc<dyn Fn() -> SubjectFuture + Send + Sync>,
}

impl PoisonFactory {
    /// A factory from an async closure.
    pub fn new<F, Fut>(make: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<PoisonSubject, crate::CaseError>> + Send + 'static,
    {
        PoisonFactory {
            make: Arc::new(move || Box::pin(make())),
        }
    }
}

/// Runs one poison case; called by the generated tests.
#[doc(hidden)]
pub async fn run_poison_case<C, Fut>(backend: &str, case: &str, factory: PoisonFactory, body: C)
where
    C: FnOnce(PoisonSubject) -> Fut,
    Fut: Future<Output = crate::CaseResult>,
{
    let subject = match (factory.make)().await {
        Ok(s) => s,
        Err(crate::CaseError::Skip(reason)) => {
            use std::io::Write;
            let _ = writeln!(std::io::stderr(), "SKIPPED {backend}::{case}: {reason}");
            return;
        }
        Err(crate::CaseError::Backend(e)) => panic!("{backend}::{case}: setup failed: {e}"),
    };
    match tokio::time::timeout(crate::CASE_TIMEOUT, body(subject)).await {
        Ok(Ok(())) => {}
        Ok(Err(crate::CaseError::Skip(reason))) => {
            panic!("{backend}::{case} skipped ({reason}); every store of bytes must pass")
        }
        Ok(Err(crate::CaseError::Backend(e))) => panic!(
            "{backend}::{case}: a backend call failed ({:?}): {e}",
            e.kind()
        ),
        Err(_) => panic!(
            "{backend}::{case} did not end within {:?}",
            crate::CASE_TIMEOUT
        ),
    }
}

/// Generates the poison area for one backend: `poison_suite!(name, factory)`, where
/// `factory` is a [`PoisonFactory`] expression.
#[macro_export]
macro_rules! poison_suite {
    ($backend:ident, $factory:expr $(,)?) => {
        $crate::poison_suite!(@generate $backend, $factory,
            undecodable_queue_members_are_buried_and_the_rest_run,
            every_kind_of_bad_payload_is_buried_with_its_bytes,
            listings_show_bad_members_instead_of_failing,
            promotion_moves_valid_jobs_and_buries_bad_ones,
            bad_dead_jobs_list_and_delete_by_id,
            a_payload_too_deep_to_decode_keeps_its_jid,
        );
    };
    (@generate $backend:ident, $factory:expr, $($case:ident),* $(,)?) => {
        mod $backend {
            #[allow(unused_imports)]
            use super::*;
            $(
                #[::tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    $crate::poison::run_poison_case(
                        stringify!($backend),
                        concat!("poison::", stringify!($case)),
                        $factory,
                        $crate::cases::poison::$case,
                    )
                    .await;
                }
            )*
        }
    };
}
