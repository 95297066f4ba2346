//! Every page renders, and every action does what it says (and confirms the count first).

mod common;

use common::*;
use jobs::backend::*;
use jobs::envelope::JobEnvelope;
use serde_json::json;

#[tokio::test]
async fn every_page_renders() {
    let b = memory();
    let s = seed(&b, "SendWelcomeEmail", "mailers", "alice@example.com").await;
    let app = app(&b);
    let pages = [
        ("/admin/jobs", "Processed"),
        ("/admin/jobs?days=7", "History"),
        ("/admin/jobs/busy", "web-alice@example.com"),
        ("/admin/jobs/queues", "mailers"),
        ("/admin/jobs/queues/mailers", "SendWelcomeEmail"),
        ("/admin/jobs/queues/mailers/clear", "removes"),
        ("/admin/jobs/scheduled", "SendWelcomeEmail"),
        ("/admin/jobs/retries", "gateway said"),
        ("/admin/jobs/dead", "gateway said"),
        ("/admin/jobs/locks", "No unique locks held."),
        (
            &format!("/admin/jobs/scheduled/{}", s.scheduled),
            "Arguments",
        ),
        (&format!("/admin/jobs/retries/{}", s.retry), "Backtrace"),
        (
            &format!("/admin/jobs/dead/{}", s.dead),
            "at pay (alice@example.com)",
        ),
    ];
    for (uri, needle) in pages {
        let r = get(&app, uri).await;
        assert_eq!(r.status, 200, "{uri}: {}", r.body);
        assert!(r.body.contains(needle), "{uri} lacks {needle}");
        let ct = r.headers["content-type"].to_str().unwrap();
        assert!(ct.starts_with("text/html"), "{uri}: {ct}");
    }
    // Busy shows the running job and for how long; the detail page shows attempts.
    let busy = get(&app, "/admin/jobs/busy").await.body;
    assert!(busy.contains("Running for") && busy.contains("SendWelcomeEmail"));
    let detail = get(&app, &format!("/admin/jobs/retries/{}", s.retry))
        .await
        .body;
    assert!(detail.contains("Attempts") && detail.contains("PaymentErroralice@example.com"));
    // Unknown set, unknown job: 404.
    assert_eq!(get(&app, "/admin/jobs/nope").await.status, 404);
    assert_eq!(get(&app, "/admin/jobs/dead/ffff").await.status, 404);
}

#[tokio::test]
async fn queue_pause_resume_delete_and_clear() {
    let b = memory();
    let s = seed(&b, "GeneratePdf", "pdf", "invoice-7").await;
    let app = app(&b);
    let r = post(&app, "/admin/jobs/queues/pdf/pause", "paused=true").await;
    assert_eq!(r.status, 303);
    assert_eq!(r.location(), "/admin/jobs/queues");
    let info = |b: std::sync::Arc<dyn AdminBackend>| async move {
        let q = b
            .queue_list(QueueListParams::new(chrono::Utc::now()))
            .await
            .unwrap()
            .into_iter()
            .find(|q| q.name == "pdf");
        q.unwrap_or(QueueInfo {
            name: "pdf".into(),
            size: 0,
            latency: Default::default(),
            paused: false,
        })
    };
    assert!(info(b.clone()).await.paused);
    assert!(get(&app, "/admin/jobs/queues")
        .await
        .body
        .contains("Resume"));
    post(&app, "/admin/jobs/queues/pdf/pause", "paused=false").await;
    assert!(!info(b.clone()).await.paused);
    assert_eq!(
        post(&app, "/admin/jobs/queues/pdf/pause", "paused=maybe")
            .await
            .status,
        400
    );

    // Delete one job.
    let r = post(
        &app,
        "/admin/jobs/queues/pdf/delete",
        &form(&[("jid", &s.queued)]),
    )
    .await;
    assert_eq!(r.status, 303);
    assert_eq!(info(b.clone()).await.size, 0);

    // Clear: the confirmation states the count, and only the POST removes.
    let more: Vec<_> = (0..3)
        .map(|i| jobs::envelope::JobEnvelope::new("GeneratePdf", "pdf", vec![i.into()]))
        .collect();
    b.job_push(PushParams::new(more, chrono::Utc::now()))
        .await
        .unwrap();
    let confirm = get(&app, "/admin/jobs/queues/pdf/clear").await;
    assert!(
        confirm
            .body
            .contains("removes <strong id=\"confirm-count\">3</strong> jobs"),
        "{}",
        confirm.body
    );
    assert_eq!(info(b.clone()).await.size, 3);
    let r = post(&app, "/admin/jobs/queues/pdf/clear", "expected=3").await;
    assert_eq!(r.status, 303);
    assert_eq!(info(b.clone()).await.size, 0);
}

#[tokio::test]
async fn busy_quiet_and_stop() {
    let b = memory();
    let s = seed(&b, "SendPush", "push", "device-1").await;
    let app = app(&b);
    let page = get(&app, "/admin/jobs/busy").await.body;
    assert!(page.contains("Quiet") && page.contains("Stop"));
    for sig in ["quiet", "stop"] {
        let r = post(
            &app,
            "/admin/jobs/busy/signal",
            &form(&[("process", &s.process), ("signal", sig)]),
        )
        .await;
        assert_eq!(r.status, 303, "{}", r.body);
    }
    let rec = b.process_list().await.unwrap().pop().unwrap();
    let reply = b
        .process_heartbeat(
            HeartbeatParams::new(rec.info, chrono::Utc::now())
                .running(vec![])
                .quiet(true)
                .lease_ttl(std::time::Duration::from_secs(60)),
        )
        .await
        .unwrap();
    assert_eq!(
        reply.signals,
        vec![ProcessSignal::Quiet, ProcessSignal::Stop]
    );
    let bad = post(
        &app,
        "/admin/jobs/busy/signal",
        &form(&[("process", &s.process), ("signal", "kill")]),
    )
    .await;
    assert_eq!(bad.status, 400);
    let unknown = post(&app, "/admin/jobs/busy/signal", "process=nope&signal=quiet").await;
    assert_eq!(unknown.status, 404);
}

async fn count(b: &std::sync::Arc<dyn AdminBackend>, set: JobSet) -> u64 {
    b.job_list(JobListParams::new(set, 1)).await.unwrap().total
}

#[tokio::test]
async fn set_actions_on_one_a_selection_and_all_matching() {
    let b = memory();
    let a = seed(&b, "ChargeCard", "payments", "order-1").await;
    let c = seed(&b, "ChargeCard", "payments", "order-2").await;
    let d = seed(&b, "UpdateSearchIndex", "search", "doc-9").await;
    let app = app(&b);

    // One job, from its detail page: the confirm page states 1, the POST retries it.
    let confirm = get(
        &app,
        &format!("/admin/jobs/dead/confirm?action=retry&jid={}", a.dead),
    )
    .await;
    assert!(
        confirm
            .body
            .contains("<strong id=\"confirm-count\">1</strong>"),
        "{}",
        confirm.body
    );
    assert_eq!(count(&b, JobSet::Dead).await, 3);
    let r = post(
        &app,
        "/admin/jobs/dead/action",
        &form(&[("action", "retry"), ("jid", &a.dead), ("expected", "1")]),
    )
    .await;
    assert_eq!(r.status, 303);
    assert_eq!(count(&b, JobSet::Dead).await, 2);
    assert!(b
        .job_get(JobGetParams::new(JobSet::Queue("payments".into()), &a.dead))
        .await
        .unwrap()
        .is_some());

    // A selection of two retries: kill.
    let q = form(&[("action", "kill"), ("jid", &a.retry), ("jid", &c.retry)]);
    let confirm = get(&app, &format!("/admin/jobs/retries/confirm?{q}")).await;
    assert!(confirm
        .body
        .contains("<strong id=\"confirm-count\">2</strong>"));
    post(&app, "/admin/jobs/retries/action", &q).await;
    assert_eq!(count(&b, JobSet::Retry).await, 1);
    assert_eq!(count(&b, JobSet::Dead).await, 4);

    // All matching a filter: delete dead ChargeCard jobs mentioning order-2.
    let q = form(&[
        ("action", "delete"),
        ("scope", "all"),
        ("class", "ChargeCard"),
        ("q", "order-2"),
    ]);
    let confirm = get(&app, &format!("/admin/jobs/dead/confirm?{q}")).await;
    assert!(
        confirm
            .body
            .contains("<strong id=\"confirm-count\">2</strong>"),
        "{}",
        confirm.body
    );
    let r = post(&app, "/admin/jobs/dead/action", &format!("{q}&expected=2")).await;
    assert_eq!(r.status, 303);
    assert_eq!(r.location(), "/admin/jobs/dead?class=ChargeCard&q=order-2");
    assert_eq!(count(&b, JobSet::Dead).await, 2);

    // More matching now than confirmed: refused, nothing changed.
    let q = form(&[("action", "delete"), ("scope", "all"), ("expected", "1")]);
    assert_eq!(post(&app, "/admin/jobs/dead/action", &q).await.status, 409);
    assert_eq!(count(&b, JobSet::Dead).await, 2);

    // Scheduled: enqueue now, and the filter narrows the listing.
    let list = get(&app, "/admin/jobs/scheduled?class=UpdateSearchIndex")
        .await
        .body;
    assert!(list.contains(&d.scheduled) && !list.contains(&a.scheduled));
    let list = get(&app, "/admin/jobs/retries?q=doc-9").await.body;
    assert!(list.contains(&d.retry));
    post(
        &app,
        "/admin/jobs/scheduled/action",
        &form(&[("action", "enqueue"), ("jid", &d.scheduled)]),
    )
    .await;
    assert!(b
        .job_get(JobGetParams::new(
            JobSet::Queue("search".into()),
            &d.scheduled
        ))
        .await
        .unwrap()
        .is_some());

    // An action a set does not offer, and an empty selection: 400.
    assert_eq!(
        post(
            &app,
            "/admin/jobs/dead/action",
            &form(&[("action", "kill"), ("jid", &c.dead)])
        )
        .await
        .status,
        400
    );
    assert_eq!(
        get(&app, "/admin/jobs/dead/confirm?action=delete")
            .await
            .status,
        400
    );
}

#[tokio::test]
async fn paging_through_a_set() {
    let b = memory();
    for i in 0..7 {
        common::fail(
            &b,
            "Nightly",
            "default",
            &[i.into()],
            &format!("n{i}"),
            FinishOutcome::Dead,
        )
        .await;
    }
    let app = app(&b);
    let p1 = get(&app, "/admin/jobs/dead?per_page=3").await.body;
    assert!(p1.contains("Page 1 of 3") && p1.contains("7 jobs"), "{p1}");
    assert!(
        p1.contains("href=\"/admin/jobs/dead?page=2&amp;per_page=3\""),
        "{p1}"
    );
    let p3 = get(&app, "/admin/jobs/dead?per_page=3&page=3").await.body;
    assert!(p3.contains("Page 3 of 3") && p3.contains("rel=\"prev\""));
    assert_eq!(p3.matches("name=\"jid\"").count(), 1);
}

/// The buttons that act on every job of a listing say what they do with the count, in
/// English: `Retry all 3 jobs`, `Delete the 1 matching job`.
#[tokio::test]
async fn bulk_buttons_read_as_english_with_the_count() {
    let b = memory();
    for text in ["a", "b", "c"] {
        fail(
            &b,
            "Charge",
            "payments",
            &[json!(text)],
            text,
            FinishOutcome::Dead,
        )
        .await;
    }
    let app = app(&b);
    let page = get(&app, "/admin/jobs/dead").await.body;
    assert!(page.contains(">Retry all 3 jobs<"), "{page}");
    assert!(page.contains(">Delete all 3 jobs<"), "{page}");
    assert!(
        !page.contains("All 3 jobs:") && !page.contains("now all"),
        "{page}"
    );
    let one = get(&app, "/admin/jobs/dead?q=gateway+said+b").await.body;
    assert!(one.contains(">Retry the 1 matching job<"), "{one}");
}

/// The job page has a Backtrace section only when the job has a backtrace to show.
#[tokio::test]
async fn a_backtrace_section_only_when_there_is_one() {
    let b = memory();
    let with = fail(
        &b,
        "Charge",
        "payments",
        &[json!(1)],
        "x",
        FinishOutcome::Dead,
    )
    .await;
    let app = app(&b);
    let page = get(&app, &format!("/admin/jobs/dead/{with}")).await.body;
    assert!(page.contains("<h2>Backtrace</h2>"), "{page}");

    // One stored with an empty backtrace, as Sidekiq may write it.
    let now = chrono::Utc::now();
    let j = JobEnvelope::new("Charge", "staging-bt", vec![json!(2)]);
    b.job_push(PushParams::new(vec![j], now)).await.unwrap();
    let r = b
        .job_reserve(ReserveParams::new(vec!["staging-bt".into()], "seeder", now))
        .await
        .unwrap()
        .pop()
        .unwrap();
    let mut stored = (*r.job).clone();
    stored.error_class = Some("Boom".into());
    stored.error_message = Some("no trace".into());
    stored.error_backtrace = Some(json!([]));
    let jid = stored.jid.clone();
    b.job_finish(FinishParams::new(
        vec![Finish::new(r.token, stored, FinishOutcome::Dead, true)],
        now,
    ))
    .await
    .unwrap();
    let page = get(&app, &format!("/admin/jobs/dead/{jid}")).await.body;
    assert!(page.contains("no trace"), "{page}");
    assert!(!page.contains("Backtrace"), "{page}");
}

/// Charts carry their scale: the history chart's y-axis names the busiest day's count, half
/// of it and 0, its x-axis the first and last day, and every bar its numbers on hover; the
/// live chart has the axes and grid `app.js` fills, a hover line and a status line that
/// says when polling stops. Times are `<time>` elements the script puts in the viewer's zone.
#[tokio::test]
async fn charts_have_axes_a_scale_and_a_polling_status() {
    let b = memory();
    let s = seed(&b, "Charge", "payments", "x").await;
    let app = app(&b);
    let page = get(&app, "/admin/jobs?days=7").await.body;
    let history = &page[page.find("id=\"history-chart\"").unwrap() - 200..];
    assert!(history.contains("class=\"y-axis\""), "{history}");
    let today = chrono::Utc::now().date_naive();
    let stats = b
        .stats_history(StatsHistoryParams::new(today, 7))
        .await
        .unwrap();
    let busiest = stats
        .iter()
        .map(|d| d.processed.max(d.failed))
        .max()
        .unwrap()
        .max(1);
    assert!(
        page.contains(&format!(
            "<span>{busiest}</span><span>{}</span><span>0</span>",
            busiest / 2
        )),
        "{page}"
    );
    let (first, last) = (stats.first().unwrap().date, stats.last().unwrap().date);
    assert!(
        page.contains(&format!("<span>{first}</span><span>{last}</span>")),
        "{page}"
    );
    assert!(page.contains("class=\"grid\""));
    assert!(
        page.contains(&format!("<title>{last}: ")),
        "hover values on each day"
    );
    for id in ["live-y", "live-hover", "live-status"] {
        assert!(page.contains(&format!("id=\"{id}\"")), "{id}");
    }
    let retry = get(&app, &format!("/admin/jobs/retries/{}", s.retry))
        .await
        .body;
    assert!(
        retry.contains("<time class=\"local\" datetime=\""),
        "{retry}"
    );
}

/// The Busy page's tables stack into named cells on a phone (`table.stack`, one label per
/// cell), so the actions column is never off-screen at 390 px.
#[tokio::test]
async fn busy_tables_stack_with_named_cells_on_small_screens() {
    let b = memory();
    seed(&b, "Charge", "payments", "x").await;
    let page = get(&app(&b), "/admin/jobs/busy").await.body;
    assert_eq!(page.matches("<table class=\"stack\">").count(), 2, "{page}");
    for label in ["Started", "Heartbeat", "Queues", "State", "Running for"] {
        assert!(page.contains(&format!("data-label=\"{label}\"")), "{label}");
    }
    let css = get(&app(&b), "/admin/jobs").await.body;
    let href = css.split("href=\"").find(|s| s.contains("style-")).unwrap();
    let css_url = &href[..href.find('"').unwrap()];
    let style = get(&app(&b), css_url).await.body;
    assert!(
        style.contains("table.stack td[data-label]::before"),
        "{style}"
    );
}

/// The Busy card and the backend panel's "Threads busy" are one number: both are
/// `data-stat="busy"`, so the live refresh updates them together and they never disagree in
/// one view.
#[tokio::test]
async fn busy_card_and_backend_panel_are_refreshed_together() {
    let b = memory();
    seed(&b, "Charge", "payments", "x").await;
    let page = get(&app(&b), "/admin/jobs").await.body;
    assert_eq!(page.matches("data-stat=\"busy\">1<").count(), 2, "{page}");
}
