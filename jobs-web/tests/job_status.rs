//! Progress and results on the dashboard: a running job's progress bar on Busy, on its job
//! page and in the API; a finished job's result on its page and in the API, redacted for a
//! job that declares redacted arguments and hidden under `hide_args`.

mod common;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use chrono::Utc;
use common::*;
use jobs::backend::*;
use jobs::envelope::JobEnvelope;
use serde_json::json;

const QUEUE: &str = "exports";

#[derive(Debug, thiserror::Error)]
#[error("never")]
struct Never;

/// Returns a value made from a secret argument: its result is redacted.
#[jobs::job(name = "SecretExport", queue = "exports", redact = [token])]
async fn secret_export(token: String) -> Result<String, Never> {
    Ok(format!("made with {token}"))
}

/// Pushes a job of `class`, reserves it as process `p1` (listed as running it) and returns
/// its lease.
async fn running(b: &Arc<dyn AdminBackend>, class: &str) -> Reserved {
    let now = Utc::now();
    let job = JobEnvelope::new(class, QUEUE, vec![json!("t-1")]);
    b.job_push(PushParams::new(vec![job.clone()], now))
        .await
        .unwrap();
    let r = b
        .job_reserve(ReserveParams::new(vec![QUEUE.into()], "host:1:p1", now))
        .await
        .unwrap()
        .remove(0);
    let info = ProcessInfo {
        id: "host:1:p1".into(),
        hostname: "host".into(),
        pid: 1,
        tag: None,
        queues: vec![QUEUE.into()],
        concurrency: 5,
        started_at: now,
        labels: vec![],
        version: "0.1.0".into(),
    };
    let runs = vec![RunningJob {
        job: (*r.job).clone(),
        started_at: now,
    }];
    b.process_heartbeat(
        HeartbeatParams::new(info, now)
            .running(runs)
            .lease_ttl(Duration::from_secs(600)),
    )
    .await
    .unwrap();
    r
}

/// Settles `r` as completed with `json` as its result.
async fn complete(b: &Arc<dyn AdminBackend>, r: &Reserved, json: &str) {
    let item = Finish::new(
        r.token.clone(),
        r.job.clone(),
        FinishOutcome::Completed,
        false,
    )
    .with_result(ResultWrite::new(json, Duration::from_secs(3600)));
    let report = b
        .job_finish(FinishParams::new(vec![item], Utc::now()))
        .await
        .unwrap();
    assert!(report.lost.is_empty());
}

fn hidden_app(b: &Arc<dyn AdminBackend>) -> Router {
    Router::new().nest(
        "/admin/jobs",
        jobs_web::Dashboard::new(b.clone()).hide_args(true).router(),
    )
}

#[tokio::test]
async fn running_job_shows_its_progress_everywhere() {
    let b = memory();
    let app = app(&b);
    let r = running(&b, "PlainExport").await;
    let p = Progress::new(40, "rows 400 of 1000", Utc::now()).data(json!({"rows": 400}));
    assert!(b
        .job_progress(ProgressParams::new(r.token.clone(), &r.job.jid, p))
        .await
        .unwrap());

    let busy = get(&app, "/admin/jobs/busy").await;
    assert!(
        busy.body.contains(r#"<progress max="100" value="40">"#),
        "{}",
        busy.body
    );
    assert!(busy.body.contains("rows 400 of 1000"));
    assert!(
        busy.body
            .contains(&format!("/admin/jobs/jobs/{}", r.job.jid)),
        "Busy links the job page"
    );

    let page = get(&app, &format!("/admin/jobs/jobs/{}", r.job.jid)).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("running"));
    assert!(page.body.contains(r#"value="40""#));
    assert!(
        page.body.contains("&quot;rows&quot;: 400") || page.body.contains("\"rows\": 400"),
        "{}",
        page.body
    );

    let api = get(&app, &format!("/admin/jobs/api/jobs/{}", r.job.jid))
        .await
        .json();
    assert_eq!(api["status"]["state"], "running");
    assert_eq!(api["status"]["progress"]["percent"], 40);
    let procs = get(&app, "/admin/jobs/api/processes").await.json();
    assert_eq!(
        procs["processes"][0]["running"][0]["progress"]["message"],
        "rows 400 of 1000"
    );
}

#[tokio::test]
async fn finished_job_shows_its_result_redacted_where_due() {
    let b = memory();
    let app = app(&b);
    let plain = running(&b, "PlainExport").await;
    complete(&b, &plain, r#"{"file":"export-7.csv"}"#).await;
    let page = get(&app, &format!("/admin/jobs/jobs/{}", plain.job.jid)).await;
    assert!(page.body.contains("succeeded"), "{}", page.body);
    assert!(page.body.contains("export-7.csv"));
    let api = get(&app, &format!("/admin/jobs/api/jobs/{}", plain.job.jid))
        .await
        .json();
    assert_eq!(api["status"]["state"], "succeeded");
    assert_eq!(api["result"], json!({"file": "export-7.csv"}));
    assert_eq!(api["result_masked"], false);

    let hidden = hidden_app(&b);
    let api = get(&hidden, &format!("/admin/jobs/api/jobs/{}", plain.job.jid))
        .await
        .json();
    assert_eq!(api["result"], "[hidden]", "hide_args hides results too");
    let page = get(&hidden, &format!("/admin/jobs/jobs/{}", plain.job.jid)).await;
    assert!(!page.body.contains("export-7.csv"));

    let _ = SecretExport::new(String::new());
    let secret = running(&b, "SecretExport").await;
    complete(&b, &secret, r#""made with t-1""#).await;
    let page = get(&app, &format!("/admin/jobs/jobs/{}", secret.job.jid)).await;
    assert!(!page.body.contains("made with"), "{}", page.body);
    assert!(page.body.contains("[redacted]"));
    let api = get(&app, &format!("/admin/jobs/api/jobs/{}", secret.job.jid))
        .await
        .json();
    assert_eq!(api["result"], "[redacted]");

    let unknown = get(&app, "/admin/jobs/api/jobs/ffffffffffffffffffffffff")
        .await
        .json();
    assert_eq!(unknown["status"]["state"], "unknown");
    assert_eq!(unknown["result"], serde_json::Value::Null);
}
