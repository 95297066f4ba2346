//! Retry policy through the real worker, the same on every backend: discarding exhausted
//! jobs, custom backoff decisions, the stored error chain, and the error and death handlers.

use std::time::Duration;

use jobs::backend::JobSet;
use jobs::envelope::JobEnvelope;
use jobs::retry::Backoff;

use super::worker::{only, wait_for, ApiDown, Running};
use crate::support::*;
use crate::CaseResult;

/// Fails with `retry = 0, dead = false`: discarded when exhausted.
#[jobs::job(
    name = "ConformanceNoDead",
    queue = "conformance-worker",
    retry = 0,
    dead = false
)]
pub(crate) async fn conformance_no_dead() -> Result<(), ApiDown> {
    Err(ApiDown("no dead".into()))
}

fn discard_exhausted(_: &JobEnvelope, _: &jobs::Failure) -> jobs::retry::Exhausted {
    jobs::retry::Exhausted::Discard
}

/// Fails with `retry = 0` and an `on_exhausted` hook that discards.
#[jobs::job(name = "ConformanceExhaustedHook", queue = "conformance-worker", retry = 0,
    on_exhausted = discard_exhausted)]
pub(crate) async fn conformance_exhausted_hook() -> Result<(), ApiDown> {
    Err(ApiDown("hook".into()))
}

fn policy(_retry: u32, failure: &jobs::Failure) -> jobs::retry::RetryDecision {
    use jobs::retry::RetryDecision;
    if failure.message.contains("invalid") {
        RetryDecision::Discard
    } else if failure.message.contains("fraud") {
        RetryDecision::Kill
    } else {
        RetryDecision::After(Duration::from_secs(5))
    }
}

/// Fails with its argument as message; a custom policy decides what follows.
#[jobs::job(name = "ConformancePolicy", queue = "conformance-worker", backoff = Backoff::Custom(policy))]
pub(crate) async fn conformance_policy(what: String) -> Result<(), ApiDown> {
    Err(ApiDown(what))
}

/// An error with a source, for the stored chain.
#[derive(Debug)]
pub struct Outer(ApiDown);

impl std::fmt::Display for Outer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("charge failed")
    }
}

impl std::error::Error for Outer {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

/// Fails with a two-level error chain and `retry = 0`.
#[jobs::job(
    name = "ConformanceChain",
    queue = "conformance-worker",
    retry = 0,
    backtrace = true
)]
pub(crate) async fn conformance_chain() -> Result<(), Outer> {
    Err(Outer(ApiDown("card declined".into())))
}

/// When retries are exhausted, `dead = false` and an `on_exhausted` hook that says discard
/// drop the job instead of keeping it dead; both still count as failed.
pub async fn exhausted_jobs_discard_when_told(b: Subject) -> CaseResult {
    let w = Running::start(&b);
    w.enqueue(ConformanceNoDead::new()).await;
    w.enqueue(ConformanceExhaustedHook::new()).await;
    let stats = wait_for(&b, "both runs", |s| s.processed == 2).await?;
    assert_eq!(
        (stats.failed, stats.dead, stats.retries, stats.enqueued),
        (2, 0, 0, 0),
        "{stats:?}"
    );
    w.stop().await;
    Ok(())
}

/// A custom backoff decides per failure: retry after its own delay, discard, or kill.
pub async fn custom_backoff_retries_discards_or_kills(b: Subject) -> CaseResult {
    let w = Running::start(&b);
    for what in ["timeout", "invalid card", "fraud"] {
        w.enqueue(ConformancePolicy::new(what.into())).await;
    }
    let stats = wait_for(&b, "three failures", |s| s.processed == 3).await?;
    assert_eq!(
        (stats.retries, stats.dead, stats.failed),
        (1, 1, 3),
        "{stats:?}"
    );
    let retry = only(&b, JobSet::Retry).await?;
    assert_eq!(
        retry.at.map(|at| (at - t0()).num_seconds()),
        Some(5),
        "the policy's delay"
    );
    assert_eq!(
        only(&b, JobSet::Dead).await?.job.error_message.as_deref(),
        Some("api down: fraud")
    );
    w.stop().await;
    Ok(())
}

/// The stored failure has the error's source chain; error and death handlers are called.
pub async fn error_chain_and_handlers(b: Subject) -> CaseResult {
    let (errors_tx, mut errors) = tokio::sync::mpsc::unbounded_channel();
    let (deaths_tx, mut deaths) = tokio::sync::mpsc::unbounded_channel();
    let w = Running::start_with(&b, move |builder| {
        builder
            .on_error(move |job, failure| {
                let _ = errors_tx.send((job.jid.clone(), failure.message.clone()));
            })
            .on_death(move |job, _| {
                let _ = deaths_tx.send(job.jid.clone());
            })
    });
    let jid = w.enqueue(ConformanceChain::new()).await;
    wait_for(&b, "the death", |s| s.dead == 1).await?;
    let dead = only(&b, JobSet::Dead).await?;
    assert_eq!(
        dead.job.error_message.as_deref(),
        Some("charge failed: api down: card declined")
    );
    assert_eq!(
        dead.job.error_backtrace,
        Some(serde_json::json!([
            "charge failed",
            "api down: card declined"
        ]))
    );
    let within = Duration::from_secs(10);
    let error = tokio::time::timeout(within, errors.recv())
        .await
        .ok()
        .flatten();
    assert_eq!(
        error,
        Some((
            jid.clone(),
            "charge failed: api down: card declined".to_owned()
        ))
    );
    let death = tokio::time::timeout(within, deaths.recv())
        .await
        .ok()
        .flatten();
    assert_eq!(death, Some(jid));
    w.stop().await;
    Ok(())
}
