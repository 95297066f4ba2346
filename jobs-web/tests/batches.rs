//! The Batches pages: every batch with its progress, one batch with its counts, callbacks'
//! state and failed members (linked), and "retry all failed", which puts the members in
//! retry and dead back on their queues.

mod common;

use chrono::Utc;
use common::*;
use jobs::backend::*;
use jobs::batch::{BatchEvent, BatchInfo, BATCH_FIELD};
use jobs::envelope::JobEnvelope;

/// A sealed batch `bid` of three members on queue `imports`: one succeeded, one failed (in
/// retry), one dead; with a success and a death callback.
async fn batch(b: &std::sync::Arc<dyn AdminBackend>, bid: &str) -> (String, String) {
    let now = Utc::now();
    let info = BatchInfo::new(
        bid,
        "import 2026-12",
        0.0,
        std::time::Duration::from_secs(3_000_000_000),
    )
    .callback(
        BatchEvent::Success,
        JobEnvelope::new("ImportDone", "cb", vec![]),
    )
    .callback(
        BatchEvent::Death,
        JobEnvelope::new("ImportAlert", "cb", vec![]),
    );
    let members: Vec<JobEnvelope> = (0..3)
        .map(|i| {
            let mut j = JobEnvelope::new("ImportRow", "imports", vec![i.into()]);
            j.extra.insert(BATCH_FIELD.into(), bid.into());
            j
        })
        .collect();
    b.batches()
        .unwrap()
        .batch_create(BatchCreateParams::new(info, now).jobs(members).sealed(true))
        .await
        .unwrap();
    let got = b
        .job_reserve(ReserveParams::new(vec!["imports".into()], "p1", now).limit(10))
        .await
        .unwrap();
    let later = now + chrono::Duration::hours(1);
    let outcomes = [
        (FinishOutcome::Completed, false),
        (FinishOutcome::Retry { at: later }, true),
        (FinishOutcome::Dead, true),
    ];
    let items = got
        .iter()
        .zip(outcomes)
        .map(|(r, (o, f))| Finish::new(r.token.clone(), r.job.clone(), o, f))
        .collect();
    b.job_finish(FinishParams::new(items, now)).await.unwrap();
    (got[1].job.jid.clone(), got[2].job.jid.clone())
}

#[tokio::test]
async fn the_list_and_the_page_show_progress_callbacks_and_failed_members() {
    let b = memory();
    let (retrying, dead) = batch(&b, "b-import").await;
    let app = app(&b);
    let list = get(&app, "/admin/jobs/batches").await;
    assert_eq!(list.status, 200, "{}", list.body);
    assert!(list.body.contains("import 2026-12"), "{}", list.body);
    assert!(
        list.body.contains("/admin/jobs/batches/b-import"),
        "{}",
        list.body
    );
    assert!(
        list.body.contains("complete, with failures"),
        "{}",
        list.body
    );
    let page = get(&app, "/admin/jobs/batches/b-import").await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(
        page.body.contains(r#"<dd id="batch-total">3</dd>"#),
        "{}",
        page.body
    );
    assert!(
        page.body.contains(r#"<progress max="3" value="3""#),
        "{}",
        page.body
    );
    assert!(
        page.body
            .contains(&format!("/admin/jobs/retries/{retrying}")),
        "{}",
        page.body
    );
    assert!(
        page.body.contains(&format!("/admin/jobs/dead/{dead}")),
        "{}",
        page.body
    );
    // death fired, success did not.
    let callbacks = page.body.split("id=\"callbacks\"").nth(1).unwrap_or("");
    assert!(
        callbacks.contains("ImportAlert") && callbacks.contains("fired"),
        "{callbacks}"
    );
    assert!(
        callbacks.contains("waiting for 2 failed members to succeed"),
        "{callbacks}"
    );
    assert!(page.body.contains("Retry all failed"), "{}", page.body);
    assert_eq!(get(&app, "/admin/jobs/batches/nope").await.status, 404);
}

#[tokio::test]
async fn retry_all_failed_puts_the_failed_members_back_on_their_queue() {
    let b = memory();
    let (retrying, dead) = batch(&b, "b-retry").await;
    let app = app(&b);
    let resp = post(&app, "/admin/jobs/batches/b-retry/retry", "").await;
    assert_eq!(resp.status, 303, "{}", resp.body);
    let queued = b
        .job_list(JobListParams::new(JobSet::Queue("imports".into()), 100))
        .await
        .unwrap();
    let mut jids: Vec<String> = queued.jobs.into_iter().map(|j| j.job.jid).collect();
    jids.sort();
    let mut want = vec![retrying, dead];
    want.sort();
    assert_eq!(jids, want);
}

/// A workflow's page says why its dependant waits: for its pending parents, for a dead
/// parent to be retried, or that it was cancelled when a parent died.
#[tokio::test]
async fn a_workflow_page_says_why_the_dependant_waits() {
    use jobs::batch::{After, ParentDeath};
    let b = memory();
    let client = jobs::Client::new(b.clone());
    let parent = |n: i64| JobEnvelope::new("FetchPrices", "prices", vec![n.into()]);
    let report = || JobEnvelope::new("BuildReport", "reports", vec![]);
    let waiting = After::new(vec![parent(1), parent(2)])
        .then(&client, report())
        .await
        .unwrap();
    let app = app(&b);
    let page = get(&app, &format!("/admin/jobs/batches/{}", waiting.bid())).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(
        page.body.contains("BuildReport waits for 2 parents"),
        "{}",
        page.body
    );
    let callbacks = page.body.split("id=\"callbacks\"").nth(1).unwrap_or("");
    assert!(
        callbacks.contains("BuildReport") && callbacks.contains("waiting for 2 pending members"),
        "{callbacks}"
    );

    // Its parents are taken; one dies: with Cancel the dependant is cancelled for good.
    let cancelled = After::new(vec![parent(3), parent(4)])
        .on_parent_death(ParentDeath::Cancel)
        .then(&client, report())
        .await
        .unwrap();
    let now = Utc::now();
    let got = b
        .job_reserve(ReserveParams::new(vec!["prices".into()], "p1", now).limit(10))
        .await
        .unwrap();
    let items = got
        .iter()
        .filter(|r| r.job.args[0] == 3)
        .map(|r| Finish::new(r.token.clone(), r.job.clone(), FinishOutcome::Dead, true))
        .collect();
    b.job_finish(FinishParams::new(items, now)).await.unwrap();
    let page = get(&app, &format!("/admin/jobs/batches/{}", cancelled.bid())).await;
    let callbacks = page.body.split("id=\"callbacks\"").nth(1).unwrap_or("");
    assert!(
        callbacks.contains("cancelled: a member died"),
        "{callbacks}"
    );
}
