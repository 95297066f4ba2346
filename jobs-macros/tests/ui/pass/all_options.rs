//! Every option, and a custom backoff function.

use std::time::Duration;

use jobs::envelope::{JobEnvelope, RetrySetting};
use jobs::prelude::*;
use jobs::retry::{Backoff, Exhausted, RetryDecision};
use jobs::BacktraceSetting;

#[derive(Debug, thiserror::Error)]
#[error("flaky")]
struct Flaky;

fn keep_dead(_job: &JobEnvelope, _failure: &Failure) -> Exhausted {
    Exhausted::Dead
}

#[jobs::job(
    queue = "reports",
    retry = false,
    name = "Reports::Nightly",
    timeout = "1m30s",
    dead = false,
    backoff = jobs::retry::Backoff::Constant(Duration::from_secs(5)),
    backtrace = 20,
    on_exhausted = keep_dead,
)]
async fn nightly_report(day: String) -> Result<(), Flaky> {
    let _ = day;
    Ok(())
}

fn decide(n: u32, _failure: &Failure) -> RetryDecision {
    RetryDecision::After(Duration::from_secs(u64::from(n)))
}

#[jobs::job(retry = 0, backoff = Backoff::Custom(decide), backtrace = false, timeout = "250ms")]
async fn custom(id: u64) -> Result<(), Flaky> {
    let _ = id;
    Ok(())
}

#[jobs::job(retry = true, backtrace = true, timeout = "2h")]
async fn defaults_spelled_out() -> Result<(), Flaky> {
    Ok(())
}

fn main() {
    let o = NightlyReport::options();
    assert_eq!(NightlyReport::NAME, "Reports::Nightly");
    assert_eq!(o.queue, "reports");
    assert_eq!(o.retry, RetrySetting::Enabled(false));
    assert_eq!(o.timeout, Some(Duration::from_secs(90)));
    assert!(!o.dead);
    assert!(matches!(o.backoff, Backoff::Constant(d) if d == Duration::from_secs(5)));
    assert_eq!(o.backtrace, BacktraceSetting::Lines(20));
    assert!(o.on_exhausted.is_some());

    let o = Custom::options();
    assert_eq!(o.retry, RetrySetting::Count(0));
    assert!(matches!(o.backoff, Backoff::Custom(_)));
    assert_eq!(o.backtrace, BacktraceSetting::Off);
    assert_eq!(o.timeout, Some(Duration::from_millis(250)));

    let o = DefaultsSpelledOut::options();
    assert_eq!(o.retry, RetrySetting::Enabled(true));
    assert_eq!(o.backtrace, BacktraceSetting::Chain);
    assert_eq!(o.timeout, Some(Duration::from_secs(7200)));
}
