//! Progress and results through a real worker and client, the same on every backend: a
//! job's return value read with `Client::result`/`wait_result`, its per-job retention, the
//! size cap, the distinct answers, and progress shown while the job runs.

use std::sync::Arc;
use std::time::{Duration, Instant};

use jobs::backend::{JidParams, JobStatus};
use jobs::clock::ManualClock;
use jobs::prelude::*;
use jobs::ResultError;
use serde::{Deserialize, Serialize};

use super::worker::{client_on, registry_of, ApiDown, Running};
use crate::support::*;
use crate::CaseResult;

const QUEUE: &str = "conformance-results";

/// What [`conformance_report`] returns.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// The argument.
    pub n: u64,
    /// A label made from it.
    pub label: String,
}

/// Returns a [`Report`], kept one hour.
#[jobs::job(
    name = "ConformanceReport",
    queue = "conformance-results",
    result_ttl = "1h"
)]
async fn conformance_report(n: u64) -> Result<Report, ApiDown> {
    Ok(Report {
        n,
        label: format!("report {n}"),
    })
}

/// Returns a string of `len` bytes.
#[jobs::job(name = "ConformanceHuge", queue = "conformance-results")]
async fn conformance_huge(len: u64) -> Result<String, ApiDown> {
    Ok("x".repeat(len as usize))
}

/// Opened by the case when [`conformance_reporting`] may end.
static GATE: tokio::sync::Notify = tokio::sync::Notify::const_new();

/// Reports 50 % (written at once), then 75 % (held by the throttle), then waits for the
/// gate and returns 42.
#[jobs::job(name = "ConformanceReporting", queue = "conformance-results")]
async fn conformance_reporting(ctx: JobContext) -> Result<u32, ApiDown> {
    let fail = |e: jobs::ProgressError| ApiDown(e.to_string());
    ctx.progress(50, "half way").await.map_err(fail)?;
    ctx.progress_with(75, "three quarters", serde_json::json!({"rows": 750}))
        .await
        .map_err(fail)?;
    GATE.notified().await;
    Ok(42)
}

/// A worker of this file's jobs, keeping results up to 1,000 bytes.
fn start(b: &Subject) -> Running {
    let clock = Arc::new(ManualClock::new(t0()));
    let jobs = registry_of([
        jobs::registry::JobRegistration::of::<ConformanceReport>(),
        jobs::registry::JobRegistration::of::<ConformanceHuge>(),
        jobs::registry::JobRegistration::of::<ConformanceReporting>(),
    ]);
    let client = client_on(b, &clock);
    Running::launch(b, (client, clock), jobs, &[QUEUE], |w| {
        w.result_max_bytes(1000)
    })
}

async fn enqueue<J: jobs::Job>(w: &Running, job: J) -> String {
    w.client
        .enqueue(job, &jobs::EnqueueOptions::default())
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .into_jid()
}

/// Polls the job's status until `done` holds (at most 30 s: real servers are slow).
async fn wait_status(
    w: &Running,
    jid: &str,
    what: &str,
    done: impl Fn(&JobStatus) -> bool,
) -> Result<JobStatus, jobs::backend::BackendError> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let s = w.client.status(jid).await?;
        if done(&s) {
            return Ok(s);
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}: {s:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A job's `Ok` value is kept for its `result_ttl` and read back typed; the wrong type is a
/// mismatch naming it; a result over the cap sends the job dead with an error naming the
/// size and the answer is "failed"; a pending job is "not finished", an unknown one
/// "missing"; a running job shows its progress, the throttled last report included.
pub async fn worker_keeps_results_and_progress(b: Subject) -> CaseResult {
    let w = start(&b);
    let jid = enqueue(&w, ConformanceReport::new(7)).await;
    let got: Report = w
        .client
        .wait_result(&jid, Duration::from_secs(30))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        got,
        Report {
            n: 7,
            label: "report 7".into()
        }
    );
    let stored = b
        .job_result(JidParams::new(&jid, t0()))
        .await?
        .unwrap_or_else(|| panic!("no result"));
    assert_eq!(
        stored.expires_at - stored.finished_at,
        chrono::Duration::hours(1),
        "kept for the job's result_ttl"
    );
    match w.client.result::<Vec<bool>>(&jid).await {
        Err(ResultError::Mismatch { type_name, .. }) => {
            assert!(type_name.contains("Vec<bool>"), "{type_name}")
        }
        other => panic!("expected a mismatch, got {other:?}"),
    }

    let huge = enqueue(&w, ConformanceHuge::new(2000)).await;
    wait_status(&w, &huge, "the oversized result's job to die", |s| {
        matches!(s, JobStatus::Dead { .. })
    })
    .await?;
    match w.client.result::<String>(&huge).await {
        Err(ResultError::Failed { error: Some(e), .. }) => assert!(
            e.contains("2002 bytes") && e.contains("limit of 1000"),
            "the error names the size and the cap: {e}"
        ),
        other => panic!("expected failed, got {other:?}"),
    }

    let later = scheduled(job(QUEUE, 1), t0() + chrono::Duration::hours(1));
    push(&b, vec![later.clone()], t0()).await?;
    match w.client.result::<u32>(&later.jid).await {
        Err(ResultError::NotFinished {
            status: JobStatus::Scheduled { .. },
            ..
        }) => {}
        other => panic!("expected not finished, got {other:?}"),
    }
    match w.client.result::<u32>("ffffffffffffffffffffffff").await {
        Err(ResultError::Missing { .. }) => {}
        other => panic!("expected missing, got {other:?}"),
    }

    let running = enqueue(&w, ConformanceReporting::new()).await;
    let shown = wait_status(
        &w,
        &running,
        "the held 75 % report",
        |s| matches!(s, JobStatus::Running { progress: Some(p) } if p.percent == 75),
    )
    .await?;
    if let JobStatus::Running { progress: Some(p) } = shown {
        assert_eq!(p.message, "three quarters");
        assert_eq!(p.data, Some(serde_json::json!({"rows": 750})));
    }
    match w.client.result::<u32>(&running).await {
        Err(ResultError::NotFinished {
            status: JobStatus::Running { .. },
            ..
        }) => {}
        other => panic!("expected not finished (running), got {other:?}"),
    }
    GATE.notify_one();
    let answer: u32 = w
        .client
        .wait_result(&running, Duration::from_secs(30))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(answer, 42);

    w.stop().await;
    Ok(())
}
