//! Priorities and expired jobs on the dashboard: a queue lists its jobs in the order they run
//! with each one's priority (page and API), a job's page shows its priority, and the count of
//! jobs dropped past their expiry is on the dashboard and in `api/stats`.

mod common;

use chrono::Utc;
use common::*;
use jobs::backend::*;
use jobs::envelope::{to_epoch, JobEnvelope};
use serde_json::json;

fn job(queue: &str, n: i64, priority: u8) -> JobEnvelope {
    let mut j = JobEnvelope::new("Render", queue, vec![json!(n)]);
    j.set_priority(priority);
    j
}

/// The text of each `<td class="num">` cell that opens a row of `body`'s table.
fn first_cells(body: &str) -> Vec<String> {
    body.split("<tr><td class=\"num\">")
        .skip(1)
        .filter_map(|row| row.split('<').next())
        .map(str::to_owned)
        .collect()
}

#[tokio::test]
async fn a_queue_lists_its_jobs_in_run_order_with_their_priority() {
    let b = memory();
    let now = Utc::now();
    let jobs = [
        job("render", 1, 5),
        job("render", 2, 0),
        job("render", 3, 9),
        job("render", 4, 0),
        job("render", 5, 3),
    ];
    b.job_push(PushParams::new(jobs.to_vec(), now))
        .await
        .unwrap();
    let app = app(&b);
    let run_order = [&jobs[1], &jobs[3], &jobs[4], &jobs[0], &jobs[2]];

    let page = get(&app, "/admin/jobs/queues/render").await.body;
    assert!(
        page.contains("<th class=\"num\" title=\"priority 0 runs first, 9 last; oldest first within a priority\">Priority</th>"),
        "{page}"
    );
    assert!(
        page.contains("In the order they run: priority 0 runs first"),
        "{page}"
    );
    assert_eq!(first_cells(&page), ["0", "0", "3", "5", "9"]);
    let at = |jid: &str| {
        page.find(jid)
            .unwrap_or_else(|| panic!("{jid} missing: {page}"))
    };
    let places: Vec<usize> = run_order.iter().map(|j| at(&j.jid)).collect();
    assert!(places.windows(2).all(|w| w[0] < w[1]), "{places:?}");

    let v = get(&app, "/admin/jobs/api/queues/render").await.json();
    let rows = v["jobs"].as_array().unwrap();
    let got: Vec<(String, u64)> = rows
        .iter()
        .map(|r| {
            let jid = r["job"]["jid"].as_str().unwrap_or_default().to_owned();
            (jid, r["priority"].as_u64().unwrap_or(99))
        })
        .collect();
    let want: Vec<(String, u64)> = run_order
        .iter()
        .map(|j| (j.jid.clone(), u64::from(j.priority())))
        .collect();
    assert_eq!(got, want);
}

#[tokio::test]
async fn a_jobs_page_shows_its_priority() {
    let b = memory();
    let now = Utc::now();
    let mut later = job("render", 1, 7);
    later.at = Some(to_epoch(now + chrono::Duration::hours(1)));
    b.job_push(PushParams::new(vec![later.clone()], now))
        .await
        .unwrap();
    let app = app(&b);
    let page = get(&app, &format!("/admin/jobs/scheduled/{}", later.jid))
        .await
        .body;
    assert!(
        page.contains("<dt>Priority</dt><dd title=\"priority 0 runs first, 9 last; oldest first within a priority\">7</dd>"),
        "{page}"
    );
    let one = get(&app, &format!("/admin/jobs/api/scheduled/{}", later.jid))
        .await
        .json();
    assert_eq!(one["priority"], 7);
}

#[tokio::test]
async fn the_expired_count_is_on_the_dashboard_and_in_the_api() {
    let b = memory();
    let now = Utc::now();
    for n in 0..2 {
        let mut stale = job("reports", n, 0);
        stale.set_expires_at(Some(to_epoch(now) - 1.0));
        b.job_push(PushParams::new(vec![stale], now)).await.unwrap();
        let r = b
            .job_reserve(ReserveParams::new(vec!["reports".into()], "host:1:x", now))
            .await
            .unwrap()
            .pop()
            .unwrap();
        let finish = Finish::new(r.token, r.job, FinishOutcome::Expired, false);
        b.job_finish(FinishParams::new(vec![finish], now))
            .await
            .unwrap();
    }
    assert_eq!(b.stats().await.unwrap().expired, 2);
    let app = app(&b);
    let home = get(&app, "/admin/jobs").await.body;
    assert!(
        home.contains(
            "<span class=\"n\" data-stat=\"expired\">2</span><span class=\"l\">Expired</span>"
        ),
        "{home}"
    );
    let st = get(&app, "/admin/jobs/api/stats").await.json();
    assert_eq!(
        (&st["expired"], &st["processed"], &st["failed"]),
        (&json!(2), &json!(0), &json!(0))
    );
}
