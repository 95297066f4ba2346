//! The `envelope` target's check: bytes as a backend finds them stored, through the path
//! the backends and the worker take.
//!
//! 1. Decode as the backends do (UTF-8, then `JobEnvelope::from_json`); what decodes must
//!    encode, decode to the same envelope and encode to the same text.
//! 2. What the worker then reads from it (attempt, retry limit, timestamps) and the failure
//!    plan it stores (`jobs::retry::plan_failure`), which must round-trip too.
//! 3. The shallow scan (`TopLevel`, `top_level_str`) never reads past the text, and on a
//!    payload the decoder accepts it reaches the end and finds `class`, `queue` and `jid`.
//! 4. Every input, decodable or not, made into the dead wrapper (`undecodable`) keeps its
//!    bytes and its jid, and that wrapper round-trips.
//! 5. As the proptest campaign (`jobs/tests/fuzz_inputs.rs`): the text with invalid UTF-8
//!    replaced decodes and round-trips, or is refused.

use base64::Engine;
use jobs::backend::FinishOutcome;
use jobs::chrono::{DateTime, Utc};
use jobs::envelope::UNDECODABLE_ERROR;
use jobs::envelope::{from_epoch, top_level_str, undecodable, JobEnvelope, TopLevel};
use jobs::retry::{plan_failure, Backoff};
use jobs::{Failure, FailureKind, JobOptions};
use serde_json::Value;

/// A fixed "now", so that a run is the same each time (AFL's stability).
fn now() -> DateTime<Utc> {
    DateTime::from_timestamp(1_767_225_600, 250_000_000).unwrap_or_default()
}

/// Runs every check on `data`; panics when one fails.
pub fn check(data: &[u8]) {
    let why = match std::str::from_utf8(data) {
        Ok(text) => match JobEnvelope::from_json(text) {
            Ok(job) => {
                round_trips(&job);
                scan_agrees(text, &job);
                worker_reads(job);
                None
            }
            Err(e) => Some(e.to_string()),
        },
        Err(e) => Some(format!("not UTF-8: {e}")),
    };
    buried(data, why.as_deref().unwrap_or("decoded"));
    let lossy = String::from_utf8_lossy(data);
    scan_in_bounds(&lossy);
    if let Ok(job) = JobEnvelope::from_json(&lossy) {
        round_trips(&job);
    }
}

/// Encodes `job`, decodes it and encodes it again: the same envelope, the same text.
fn round_trips(job: &JobEnvelope) {
    let text = job.to_json().expect("a decoded envelope encodes");
    let back = JobEnvelope::from_json(&text)
        .unwrap_or_else(|e| panic!("an encoded envelope decodes ({e}): {text}"));
    assert_eq!(&back, job, "round trip through {text}");
    let again = back.to_json().expect("a decoded envelope encodes");
    assert_eq!(again, text, "encoding is stable");
}

/// What the worker reads from a decoded job, and the envelope it stores after a failure.
fn worker_reads(job: JobEnvelope) {
    assert!(job.attempt() >= 1);
    let _ = job.retry.max_retries();
    for t in [
        Some(job.created_at),
        job.enqueued_at,
        job.at,
        job.failed_at,
        job.retried_at,
    ]
    .into_iter()
    .flatten()
    {
        let _ = from_epoch(t);
    }
    let options = [
        JobOptions::new(),
        JobOptions::new().backoff(Backoff::Exponential {
            base: std::time::Duration::from_secs(1),
            max: std::time::Duration::MAX,
            jitter: false,
        }),
    ];
    let failures = [
        Failure::new(FailureKind::Error, "RuntimeError", "boom"),
        Failure::new(FailureKind::Killed, "jobs::Killed", "killed"),
    ];
    for (options, failure) in options.iter().zip(&failures) {
        let mut failed = job.clone();
        let plan = plan_failure(&mut failed, failure, options, now());
        assert_eq!(failed.retry_count, Some(plan.retry_count));
        assert_eq!(failed.error_class.as_ref(), Some(&failure.class));
        if failure.kind == FailureKind::Killed {
            let dead = matches!(plan.outcome, FinishOutcome::Dead | FinishOutcome::Discard);
            assert!(dead, "a killed job dies: {:?}", plan.outcome);
        }
        round_trips(&failed);
    }
}

/// On text the decoder read as a job, the shallow scan reaches the object's end and finds
/// the same `class`, `queue` and `jid` (the Redis backend edits stored payloads with it).
fn scan_agrees(text: &str, job: &JobEnvelope) {
    let mut members = TopLevel::new(text);
    members.by_ref().for_each(drop);
    assert!(
        members.complete(),
        "the scan stops early in a job: {text:?}"
    );
    for (name, value) in [
        ("class", &job.class),
        ("queue", &job.queue),
        ("jid", &job.jid),
    ] {
        assert_eq!(
            top_level_str(text, name).as_ref(),
            Some(value),
            "`{name}` of {text:?}"
        );
    }
}

/// Every member the scan finds lies inside the text, its value inside the member.
fn scan_in_bounds(text: &str) {
    for m in TopLevel::new(text) {
        assert!(
            text.get(m.span.clone()).is_some(),
            "{:?} in {text:?}",
            m.span
        );
        assert!(
            text.get(m.value.clone()).is_some(),
            "{:?} in {text:?}",
            m.value
        );
        assert!(m.span.start <= m.value.start && m.value.end == m.span.end);
    }
}

/// The dead wrapper of `data` keeps its bytes and the jid they name, and round-trips.
fn buried(data: &[u8], why: &str) {
    let dead = undecodable(data, "default", "queue `default`", why, now());
    assert!(!dead.jid.is_empty());
    assert_eq!(dead.error_class.as_deref(), Some(UNDECODABLE_ERROR));
    match std::str::from_utf8(data) {
        Ok(text) => {
            assert_eq!(dead.args, [Value::String(text.to_owned())]);
            if let Some(jid) = top_level_str(text, "jid").filter(|j| !j.is_empty()) {
                assert_eq!(dead.jid, jid);
            }
        }
        Err(_) => {
            let kept = dead.extra.get("raw_base64").and_then(Value::as_str);
            let bytes = kept.and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok());
            assert_eq!(bytes.as_deref(), Some(data), "raw_base64 keeps the bytes");
        }
    }
    round_trips(&dead);
}
