//! Tests of the retry schedule against Sidekiq's formula and of where failed jobs go.

use super::*;
use crate::envelope::RetrySetting;

fn now() -> DateTime<Utc> {
    "2026-01-01T00:00:00Z".parse().unwrap()
}

fn failure() -> Failure {
    Failure::new(FailureKind::Error, "MailError", "smtp down")
}

#[test]
fn sidekiq_backoff_follows_the_formula_for_every_retry() {
    for n in 0..25u32 {
        let d = Backoff::Sidekiq.delay(n).unwrap().as_secs();
        let base = u64::from(n).pow(4) + 15;
        assert!(
            d >= base && d <= base + 9 * (u64::from(n) + 1),
            "retry {n}: {d}s"
        );
    }
}

#[test]
fn twenty_five_retries_span_about_three_weeks() {
    let min: u64 = (0..25).map(|n| sidekiq_delay(n, 0).as_secs()).sum();
    let max: u64 = (0..25).map(|n| sidekiq_delay(n, 9).as_secs()).sum();
    let day = 86_400.0;
    assert!(
        (20.0..21.0).contains(&(min as f64 / day)),
        "{}",
        min as f64 / day
    );
    assert!(
        (20.0..21.0).contains(&(max as f64 / day)),
        "{}",
        max as f64 / day
    );
}

#[test]
fn first_failure_sets_failed_at_and_retry_count_zero_then_retried_at() {
    let mut job = JobEnvelope::new("A", "q", vec![]);
    let plan = plan_failure(&mut job, &failure(), &JobOptions::new(), now());
    assert_eq!(plan.retry_count, 0);
    assert_eq!(job.failed_at, Some(to_epoch(now())));
    assert_eq!(job.retried_at, None);
    assert_eq!(job.error_class.as_deref(), Some("MailError"));
    assert_eq!(job.error_message.as_deref(), Some("smtp down"));
    match plan.outcome {
        FinishOutcome::Retry { at } => {
            let secs = (at - now()).num_seconds();
            assert!((15..=24).contains(&secs), "{secs}");
        }
        other => panic!("expected retry, got {other:?}"),
    }
    let plan = plan_failure(&mut job, &failure(), &JobOptions::new(), now());
    assert_eq!(plan.retry_count, 1);
    assert_eq!(job.retried_at, Some(to_epoch(now())));
}

#[test]
fn retry_false_discards_and_retry_zero_goes_dead() {
    let mut job = JobEnvelope::new("A", "q", vec![]);
    job.retry = RetrySetting::Enabled(false);
    assert_eq!(
        plan_failure(&mut job, &failure(), &JobOptions::new(), now()).outcome,
        FinishOutcome::Discard
    );
    let mut job = JobEnvelope::new("A", "q", vec![]);
    job.retry = RetrySetting::Count(0);
    assert_eq!(
        plan_failure(&mut job, &failure(), &JobOptions::new(), now()).outcome,
        FinishOutcome::Dead
    );
}

#[test]
fn exhausted_retries_die_unless_dead_is_false_or_the_hook_discards() {
    let mut job = JobEnvelope::new("A", "q", vec![]);
    job.retry = RetrySetting::Count(2);
    job.retry_count = Some(1);
    assert_eq!(
        plan_failure(&mut job.clone(), &failure(), &JobOptions::new(), now()).outcome,
        FinishOutcome::Dead
    );
    let opts = JobOptions::new().dead(false);
    assert_eq!(
        plan_failure(&mut job.clone(), &failure(), &opts, now()).outcome,
        FinishOutcome::Discard
    );
    let opts = JobOptions::new().on_exhausted(|_, _| Exhausted::Discard);
    assert_eq!(
        plan_failure(&mut job.clone(), &failure(), &opts, now()).outcome,
        FinishOutcome::Discard
    );
    job.dead = Some(false);
    assert_eq!(
        plan_failure(&mut job, &failure(), &JobOptions::new(), now()).outcome,
        FinishOutcome::Discard
    );
}

#[test]
fn a_custom_policy_can_retry_after_discard_or_kill() {
    fn policy(n: u32, f: &Failure) -> RetryDecision {
        if f.message.contains("invalid") {
            RetryDecision::Discard
        } else if f.message.contains("fraud") {
            RetryDecision::Kill
        } else {
            RetryDecision::After(Duration::from_secs(u64::from(n) + 1))
        }
    }
    let opts = JobOptions::new().backoff(Backoff::Custom(policy));
    let mut job = JobEnvelope::new("A", "q", vec![]);
    let plan = plan_failure(&mut job, &failure(), &opts, now());
    assert_eq!(
        plan.outcome,
        FinishOutcome::Retry {
            at: now() + chrono::Duration::seconds(1)
        }
    );
    let invalid = Failure::new(FailureKind::Error, "E", "invalid card");
    assert_eq!(
        plan_failure(&mut job.clone(), &invalid, &opts, now()).outcome,
        FinishOutcome::Discard
    );
    let fraud = Failure::new(FailureKind::Error, "E", "fraud");
    assert_eq!(
        plan_failure(&mut job, &fraud, &opts, now()).outcome,
        FinishOutcome::Dead
    );
}

#[test]
fn a_killed_failure_dies_at_once() {
    let mut job = JobEnvelope::new("A", "q", vec![]);
    let killed = Failure::new(FailureKind::Killed, "jobs::Killed", "fraud suspected");
    assert_eq!(
        plan_failure(&mut job, &killed, &JobOptions::new(), now()).outcome,
        FinishOutcome::Dead
    );
}

#[test]
fn backtrace_setting_controls_what_is_stored() {
    let f = Failure::new(FailureKind::Panic, "panic", "boom").with_backtrace("frame1\nframe2");
    let mut job = JobEnvelope::new("A", "q", vec![]);
    plan_failure(
        &mut job,
        &f,
        &JobOptions::new().backtrace(crate::job::BacktraceSetting::Off),
        now(),
    );
    assert_eq!(job.error_backtrace, None);
    plan_failure(
        &mut job,
        &f,
        &JobOptions::new().backtrace(crate::job::BacktraceSetting::Lines(1)),
        now(),
    );
    assert_eq!(
        job.error_backtrace,
        Some(serde_json::json!(["boom", "frame1"]))
    );
}
