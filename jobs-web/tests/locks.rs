//! The Locks page: the unique locks held by the dashboard's clock (never a lapsed one),
//! where each holding job is, and releasing one after a confirmation, which lets a job with
//! the same key be stored again.

mod common;

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use common::locks::*;
use common::*;
use jobs::backend::*;
use jobs::clock::ManualClock;
use jobs::envelope::flow::UniqueUntil;
use jobs::envelope::to_epoch;

/// The `<tr>` of the first row containing `needle`.
fn row_with<'a>(body: &'a str, needle: &str) -> &'a str {
    body.split("<tr>")
        .find(|row| row.contains(needle))
        .unwrap_or_else(|| panic!("no row with {needle} in {body}"))
}

#[tokio::test]
async fn the_page_lists_the_locks_held_and_not_a_lapsed_one() {
    let b = memory();
    let held_job = unique(
        "SyncAccount",
        "sync",
        1,
        UniqueUntil::Success,
        t() + secs(3600),
    );
    let soon = unique("SyncAccount", "sync", 2, UniqueUntil::Start, t() + secs(30));
    let lapsed = unique(
        "SyncAccount",
        "sync",
        3,
        UniqueUntil::Success,
        t() - secs(1),
    );
    assert!(push(&b, lapsed.clone(), t() - secs(3600)).await);
    assert!(push(&b, held_job.clone(), t() - secs(60)).await);
    assert!(push(&b, soon.clone(), t()).await);
    let clock = Arc::new(ManualClock::new(t()));
    let app = app_at(&b, &clock);

    let r = get(&app, "/admin/jobs/locks").await;
    assert_eq!(r.status, 200, "{}", r.body);
    let page = r.body;
    assert!(page.contains("class=\"current\">Locks</a>"), "{page}");
    let k = key(&held_job);
    let row = row_with(&page, &k);
    // The key shortened, in full on hover; the job, its queue, until when and when it lapses.
    assert!(
        row.contains(&format!("<code title=\"{k}\">{}…</code>", &k[..12])),
        "{row}"
    );
    assert!(
        row.contains("SyncAccount") && row.contains(&held_job.jid),
        "{row}"
    );
    let holder = format!(
        "/admin/jobs/locks/holder?jid={}&amp;queue=sync",
        held_job.jid
    );
    assert!(row.contains(&holder), "{row}");
    assert!(row.contains("href=\"/admin/jobs/queues/sync\""), "{row}");
    assert!(row.contains(">success<"), "{row}");
    assert!(
        row.contains("in 1h 00m") && row.contains("2030-01-15 13:00:00 UTC"),
        "{row}"
    );
    assert!(
        row.contains(&format!("href=\"/admin/jobs/locks/{k}/release\""))
            && row.contains("Release…"),
        "{row}"
    );
    let soon_row = row_with(&page, &key(&soon));
    assert!(
        soon_row.contains(">start<") && soon_row.contains("in 30s"),
        "{soon_row}"
    );
    // Soonest to lapse first; the lapsed lock is not there.
    assert!(page.find(&key(&soon)) < page.find(&k), "{page}");
    assert!(!page.contains(&key(&lapsed)[..12]), "{page}");
    assert!(!page.contains(&lapsed.jid), "{page}");

    // A minute later the 30-second lock has lapsed too.
    clock.advance(Duration::from_secs(60));
    let page = get(&app, "/admin/jobs/locks").await.body;
    assert!(
        page.contains(&k) && !page.contains(&key(&soon)[..12]),
        "{page}"
    );
    assert!(page.contains("in 59m 00s"), "{page}");

    // Nothing held: the page says so.
    clock.advance(Duration::from_secs(7200));
    let page = get(&app, "/admin/jobs/locks").await.body;
    assert!(page.contains("No unique locks held."), "{page}");
}

#[tokio::test]
async fn the_job_link_goes_where_the_holding_job_is() {
    let b = memory();
    let now = Utc::now();
    let later = now + secs(3600);
    let waiting = unique("Sync", "sync", 1, UniqueUntil::Success, later);
    let mut scheduled = unique("Sync", "sync", 2, UniqueUntil::Success, later);
    scheduled.at = Some(to_epoch(now + secs(600)));
    let running = unique("Sync", "run", 3, UniqueUntil::Success, later);
    for job in [&waiting, &scheduled, &running] {
        assert!(push(&b, job.clone(), now).await);
    }
    let got = b
        .job_reserve(ReserveParams::new(vec!["run".into()], "host:1:x", now))
        .await
        .unwrap();
    assert_eq!(got.len(), 1);
    let info = ProcessInfo {
        id: "host:1:x".into(),
        hostname: "host".into(),
        pid: 1,
        tag: None,
        queues: vec!["run".into()],
        concurrency: 1,
        started_at: now,
        labels: vec![],
        version: "0.1.0".into(),
    };
    b.process_heartbeat(
        HeartbeatParams::new(info, now)
            .running(vec![RunningJob {
                job: (*got[0].job).clone(),
                started_at: now,
            }])
            .quiet(false)
            .lease_ttl(Duration::from_secs(600)),
    )
    .await
    .unwrap();
    let app = app(&b);
    let go = |jid: String, queue: &'static str| {
        let app = app.clone();
        async move {
            let q = form(&[("jid", &jid), ("queue", queue)]);
            get(&app, &format!("/admin/jobs/locks/holder?{q}")).await
        }
    };
    let r = go(waiting.jid.clone(), "sync").await;
    assert_eq!(
        (r.status.as_u16(), r.location()),
        (303, "/admin/jobs/queues/sync".into())
    );
    let r = go(scheduled.jid.clone(), "sync").await;
    assert_eq!(
        r.location(),
        format!("/admin/jobs/scheduled/{}", scheduled.jid)
    );
    let r = go(running.jid.clone(), "run").await;
    assert_eq!(r.location(), "/admin/jobs/busy");
    assert_eq!(go("nobody".into(), "sync").await.status, 404);
    assert_eq!(
        get(&app, "/admin/jobs/locks/holder?queue=sync")
            .await
            .status,
        400
    );
}

#[tokio::test]
async fn releasing_from_the_page_lets_the_same_key_be_stored_again() {
    let b = memory();
    let now = Utc::now();
    let first = unique("Sync", "sync", 1, UniqueUntil::Success, now + secs(3600));
    let k = key(&first);
    assert!(push(&b, first.clone(), now).await);
    let again = || unique("Sync", "sync", 1, UniqueUntil::Success, now + secs(3600));
    assert!(
        !push(&b, again(), now).await,
        "held: a duplicate is not stored"
    );
    let app = app(&b);

    // The confirmation shows the lock in full and changes nothing.
    let confirm = get(&app, &format!("/admin/jobs/locks/{k}/release")).await;
    assert_eq!(confirm.status, 200, "{}", confirm.body);
    assert!(
        confirm
            .body
            .contains(&format!("<code id=\"confirm-key\">{k}</code>"))
            && confirm.body.contains(&first.jid)
            && confirm.body.contains("Release lock"),
        "{}",
        confirm.body
    );
    assert_eq!(held(&b, now).await, vec![k.clone()]);

    // The POST releases it and says so.
    let r = post(
        &app,
        &format!("/admin/jobs/locks/{k}/release"),
        &form(&[("jid", &first.jid)]),
    )
    .await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(r.location(), format!("/admin/jobs/locks?released={k}"));
    assert!(held(&b, now).await.is_empty());
    let page = get(&app, &r.location()).await.body;
    assert!(page.contains("Released lock"), "{page}");
    assert!(page.contains("No unique locks held."), "{page}");
    // The job that held it stays; a job with the same key is stored now.
    let second = again();
    assert!(push(&b, second.clone(), now).await);
    let queue = b
        .job_list(JobListParams::new(JobSet::Queue("sync".into()), 10))
        .await
        .unwrap();
    let jids: Vec<_> = queue.jobs.iter().map(|j| j.job.jid.clone()).collect();
    assert_eq!(jids, [first.jid.clone(), second.jid.clone()]);

    // A stale confirmation (another job holds the key now) is refused; a lock that is not
    // there is a 404.
    let r = post(
        &app,
        &format!("/admin/jobs/locks/{k}/release"),
        &form(&[("jid", &first.jid)]),
    )
    .await;
    assert_eq!(r.status, 409, "{}", r.body);
    assert_eq!(held(&b, now).await, vec![k.clone()]);
    let r = post(&app, "/admin/jobs/locks/ffff/release", "").await;
    assert_eq!(r.status, 404, "{}", r.body);
    assert_eq!(
        get(&app, "/admin/jobs/locks/ffff/release").await.status,
        404
    );
}

#[tokio::test]
async fn payloads_in_a_lock_come_back_inert() {
    let b = memory();
    let now = Utc::now();
    let job = unique(XSS, XSS_ATTR, 1, UniqueUntil::Success, now + secs(3600));
    assert!(push(&b, job.clone(), now).await);
    let app = app(&b);
    for uri in [
        "/admin/jobs/locks".to_owned(),
        format!("/admin/jobs/locks/{}/release", key(&job)),
        format!("/admin/jobs/locks?released={}", seg(XSS_ATTR)),
    ] {
        let r = get(&app, &uri).await;
        assert_eq!(r.status, 200, "{uri}: {}", r.body);
        assert_inert(&uri, &r.body);
        assert!(
            r.body.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
            "{uri}"
        );
    }
}
