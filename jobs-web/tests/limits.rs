//! The Limits page and `api/limits`: each concurrency key in use (slots taken / limit, jobs
//! waiting aside) and each rate key with starts in its window (starts / limit, when a full
//! window frees), by the dashboard's clock.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::locks::*;
use common::*;
use jobs::backend::*;
use jobs::clock::ManualClock;
use jobs::envelope::limits::ConcurrencyLimit;
use jobs::envelope::JobEnvelope;

/// Three jobs of key `account:1` limited to one at once: one reserved, two waiting aside;
/// and two starts of a rate limit of 5 per minute, then three more (full).
async fn seed_limits(b: &Arc<dyn AdminBackend>) {
    let jobs: Vec<JobEnvelope> = (0..3)
        .map(|i| {
            let mut j = JobEnvelope::new("SyncAccount", "sync", vec![1.into(), i.into()]);
            j.set_concurrency(Some(ConcurrencyLimit::new("account:1", 1)));
            j
        })
        .collect();
    b.job_push(PushParams::new(jobs, t())).await.unwrap();
    let taken = b
        .job_reserve(ReserveParams::new(vec!["sync".into()], "p1", t()).limit(10))
        .await
        .unwrap();
    assert_eq!(taken.len(), 1);
    for s in 0..5 {
        let p = RateAcquireParams::new("partner", 5, Duration::from_secs(60), t() + secs(s));
        assert_eq!(b.rate_acquire(p).await.unwrap(), RateDecision::Granted);
    }
}

#[tokio::test]
async fn the_page_shows_slots_waiting_jobs_and_rate_windows() {
    let b = memory();
    seed_limits(&b).await;
    let clock = Arc::new(ManualClock::new(t() + secs(10)));
    let app = app_at(&b, &clock);
    let r = get(&app, "/admin/jobs/limits").await;
    assert_eq!(r.status, 200, "{}", r.body);
    let page = r.body;
    assert!(page.contains("class=\"current\">Limits</a>"), "{page}");
    let conc = page
        .split("<tr>")
        .find(|row| row.contains("account:1"))
        .unwrap_or_else(|| panic!("no account:1 row in {page}"));
    assert!(conc.contains("concurrency"), "{conc}");
    assert!(conc.contains("1 / 1"), "one slot of one in use: {conc}");
    assert!(
        conc.contains("title=\"the jobs waiting aside\">2</a></td>"),
        "two jobs waiting aside: {conc}"
    );
    let rate = page
        .split("<tr>")
        .find(|row| row.contains("partner"))
        .unwrap_or_else(|| panic!("no partner row in {page}"));
    assert!(rate.contains("rate per 1m"), "{rate}");
    assert!(rate.contains("5 / 5"), "{rate}");
    assert!(
        rate.contains("in 50s"),
        "the first start leaves the window in 50 s: {rate}"
    );
}

#[tokio::test]
async fn the_api_lists_limits_and_leaves_out_emptied_windows() {
    let b = memory();
    seed_limits(&b).await;
    let clock = Arc::new(ManualClock::new(t() + secs(10)));
    let app = app_at(&b, &clock);
    let v = get(&app, "/admin/jobs/api/limits").await.json();
    assert_eq!(v["supported"], true);
    let rows = v["limits"].as_array().unwrap();
    assert_eq!(rows.len(), 2, "{v}");
    assert_eq!(rows[0]["kind"], "concurrency");
    assert_eq!(rows[0]["key"], "account:1");
    assert_eq!(
        (rows[0]["in_use"].as_u64(), rows[0]["waiting"].as_u64()),
        (Some(1), Some(2))
    );
    assert_eq!(rows[1]["kind"], "rate");
    assert_eq!(rows[1]["per_secs"], 60.0);
    assert_eq!(rows[1]["in_use"], 5);
    // A minute later the window is empty and nothing is listed for it.
    clock.advance(Duration::from_secs(120));
    let v = get(&app, "/admin/jobs/api/limits").await.json();
    let rows = v["limits"].as_array().unwrap();
    assert_eq!(rows.len(), 1, "{v}");
}

#[tokio::test]
async fn the_jobs_waiting_for_a_slot_are_listed_per_key() {
    let b = memory();
    seed_limits(&b).await;
    let clock = Arc::new(ManualClock::new(t() + secs(10)));
    let app = app_at(&b, &clock);
    let limits = get(&app, "/admin/jobs/limits").await.body;
    assert!(
        limits.contains("href=\"/admin/jobs/limits/waiting?key=account%3A1\""),
        "the waiting count links to the jobs: {limits}"
    );
    let r = get(&app, "/admin/jobs/limits/waiting?key=account%3A1").await;
    assert_eq!(r.status, 200, "{}", r.body);
    let rows: Vec<&str> = r.body.split("<tr>").skip(2).collect();
    assert_eq!(rows.len(), 2, "two jobs wait aside: {}", r.body);
    assert!(
        rows[0].contains("SyncAccount") && rows[0].contains("[1,1]"),
        "{}",
        rows[0]
    );
    assert!(rows[1].contains("[1,2]"), "oldest first: {}", rows[1]);
    let first = get(
        &app,
        "/admin/jobs/limits/waiting?key=account%3A1&per_page=1",
    )
    .await;
    assert!(first.body.contains("[1,1]") && !first.body.contains("[1,2]"));
    assert!(
        first
            .body
            .contains("?key=account%3A1&amp;page=2&amp;per_page=1"),
        "the next page keeps the key: {}",
        first.body
    );
    let none = get(&app, "/admin/jobs/limits/waiting?key=nobody").await;
    assert!(none.body.contains("No job waits for a slot of this key."));
    assert_eq!(get(&app, "/admin/jobs/limits/waiting").await.status, 400);

    let v = get(&app, "/admin/jobs/api/limits/waiting?key=account:1")
        .await
        .json();
    let jobs = v["jobs"].as_array().unwrap();
    assert_eq!(jobs.len(), 2, "{v}");
    assert_eq!(jobs[0]["args"], serde_json::json!([1, 1]));
    assert_eq!(
        (v["key"].as_str(), v["more"].as_bool()),
        (Some("account:1"), Some(false))
    );
    let bad = get(&app, "/admin/jobs/api/limits/waiting").await;
    assert_eq!(bad.status, 400);
    assert!(
        bad.body.contains("key"),
        "the error names the parameter: {}",
        bad.body
    );
}

#[tokio::test]
async fn an_operator_deletes_a_job_waiting_for_a_slot_after_a_confirmation() {
    let b = memory();
    seed_limits(&b).await;
    let clock = Arc::new(ManualClock::new(t() + secs(10)));
    let app = app_at(&b, &clock);
    let waiting = |b: Arc<dyn AdminBackend>| async move {
        b.limit_waiting(LimitWaitingParams::new("account:1"))
            .await
            .unwrap()
    };
    let before = waiting(b.clone()).await;
    assert_eq!(before.len(), 2);
    let (jid, other) = (before[0].jid.clone(), before[1].jid.clone());

    let page = get(&app, "/admin/jobs/limits/waiting?key=account%3A1")
        .await
        .body;
    let confirm_url = format!("/admin/jobs/limits/waiting/confirm?key=account%3A1&amp;jid={jid}");
    assert!(
        page.contains(&confirm_url),
        "each job links to its confirmation: {page}"
    );
    let confirm = get(
        &app,
        &format!("/admin/jobs/limits/waiting/confirm?key=account%3A1&jid={jid}"),
    )
    .await;
    assert_eq!(confirm.status, 200, "{}", confirm.body);
    assert!(confirm
        .body
        .contains(&format!("<code id=\"confirm-jid\">{jid}</code>")));
    assert!(confirm.body.contains("Delete job"));
    assert_eq!(waiting(b.clone()).await.len(), 2, "a GET changes nothing");

    let r = post(
        &app,
        "/admin/jobs/limits/waiting/delete",
        &form(&[("key", "account:1"), ("jid", &jid)]),
    )
    .await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(
        r.location(),
        format!("/admin/jobs/limits/waiting?key=account%3A1&deleted={jid}")
    );
    let left = waiting(b.clone()).await;
    assert_eq!(
        left.iter().map(|j| j.jid.as_str()).collect::<Vec<_>>(),
        [other.as_str()]
    );
    assert!(get(&app, &r.location()).await.body.contains("Deleted job"));
    // Again: it no longer waits.
    let again = post(
        &app,
        "/admin/jobs/limits/waiting/delete",
        &form(&[("key", "account:1"), ("jid", &jid)]),
    )
    .await;
    assert_eq!(again.status, 409, "{}", again.body);
    assert_eq!(
        get(
            &app,
            &format!("/admin/jobs/limits/waiting/confirm?key=account%3A1&jid={jid}")
        )
        .await
        .status,
        404
    );
    // The API deletes the other.
    let v = post_json(
        &app,
        "/admin/jobs/api/limits/waiting/delete?key=account:1",
        serde_json::json!({ "jids": [other] }),
    )
    .await;
    assert_eq!(v.status, 200, "{}", v.body);
    assert_eq!(v.json()["deleted"], 1);
    assert!(waiting(b.clone()).await.is_empty());
    let none = post_json(
        &app,
        "/admin/jobs/api/limits/waiting/delete?key=account:1",
        serde_json::json!({}),
    )
    .await;
    assert_eq!(none.status, 400, "{}", none.body);
    assert!(none.body.contains("jids"), "{}", none.body);
}
