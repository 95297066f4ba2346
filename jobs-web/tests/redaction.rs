//! Redacted arguments: a job declared with `#[job(redact = [..])]` has its secret argument
//! in a queue, the scheduled, retry and dead sets, running (Busy), a recurring schedule, a
//! concurrency wait and a unique lock; every GET route of the dashboard (pages and API,
//! walked from its route table) is fetched and no body holds the secret. `hide_args` hides
//! every argument, and `?reveal=1` shows the others only to a role granted `reveal_args`.

mod common;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use chrono::Utc;
use common::*;
use jobs::backend::*;
use jobs::envelope::flow::{UniqueLock, UniqueUntil};
use jobs::envelope::limits::ConcurrencyLimit;
use jobs::envelope::{to_epoch, JobEnvelope};
use jobs_web::{Access, Action, Dashboard};
use serde_json::{json, Value};

const SECRET: &str = "4111-1111-1111-1111";
/// An argument not declared secret: shown, unless `hide_args`.
const VISIBLE: &str = "order-visible-77";
const CLASS: &str = "RedactedCharge";
const QUEUE: &str = "payments";
const WAIT_KEY: &str = "redacted:1";

#[derive(Debug, thiserror::Error)]
#[error("declined")]
struct Declined;

#[jobs::job(name = "RedactedCharge", queue = "payments", redact = [card_number])]
async fn redacted_charge(order: String, card_number: String) -> Result<(), Declined> {
    let _ = (order, card_number);
    Ok(())
}

fn args() -> Vec<Value> {
    vec![json!(VISIBLE), json!(SECRET)]
}

/// Where [`seed`] put the jobs.
struct Ids {
    scheduled: String,
    retry: String,
    dead: String,
    cancelled: String,
    waiting: String,
    lock: String,
    lock_jid: String,
    batch: String,
}

/// The secret everywhere a job can be.
async fn seed(b: &Arc<dyn AdminBackend>) -> Ids {
    let now = Utc::now();
    let later = now + chrono::Duration::hours(1);
    let queued = JobEnvelope::new(CLASS, QUEUE, args());
    // A payload of another count (an older version of the job): nothing can be shown.
    let older = JobEnvelope::new(CLASS, QUEUE, vec![json!(SECRET)]);
    let mut scheduled = JobEnvelope::new(CLASS, QUEUE, args());
    scheduled.at = Some(to_epoch(later));
    let mut cancelled = JobEnvelope::new(CLASS, QUEUE, args());
    cancelled.at = Some(to_epoch(later));
    b.job_push(PushParams::new(
        vec![queued, older, scheduled.clone(), cancelled.clone()],
        now,
    ))
    .await
    .unwrap();
    let retry = fail(
        b,
        CLASS,
        QUEUE,
        &args(),
        "x",
        FinishOutcome::Retry { at: later },
    )
    .await;
    let dead = fail(b, CLASS, QUEUE, &args(), "x", FinishOutcome::Dead).await;

    let info = ProcessInfo {
        id: "host:1:redact".into(),
        hostname: "host".into(),
        pid: 1,
        tag: None,
        queues: vec![QUEUE.into()],
        concurrency: 5,
        started_at: now,
        labels: vec![],
        version: "0.1.0".into(),
    };
    let running = vec![RunningJob {
        job: JobEnvelope::new(CLASS, QUEUE, args()),
        started_at: now,
    }];
    b.process_heartbeat(
        HeartbeatParams::new(info, now)
            .running(running)
            .lease_ttl(Duration::from_secs(600)),
    )
    .await
    .unwrap();

    b.schedules()
        .unwrap()
        .schedule_declare(jobs::schedule::DeclareParams::new(
            "nightly-charge",
            "every 1h",
            JobEnvelope::new(CLASS, QUEUE, args()),
            Some(later),
        ))
        .await
        .unwrap();

    let limited: Vec<JobEnvelope> = (0..2)
        .map(|_| {
            let mut j = JobEnvelope::new(CLASS, "limited", args());
            j.set_concurrency(Some(ConcurrencyLimit::new(WAIT_KEY, 1)));
            j
        })
        .collect();
    b.job_push(PushParams::new(limited, now)).await.unwrap();
    let taken = b
        .job_reserve(ReserveParams::new(vec!["limited".into()], "p1", now).limit(10))
        .await
        .unwrap();
    assert_eq!(taken.len(), 1);
    let waiting = b
        .limit_waiting(LimitWaitingParams::new(WAIT_KEY))
        .await
        .unwrap();
    assert_eq!(waiting.len(), 1);

    let mut unique = JobEnvelope::new(CLASS, "uniq", args());
    let lock = UniqueLock::new(
        CLASS,
        None,
        &unique.args,
        UniqueUntil::Success,
        to_epoch(later),
    );
    unique.set_unique(Some(lock));
    let (lock, lock_jid) = (unique.unique().unwrap().key, unique.jid.clone());
    b.job_push(PushParams::new(vec![unique], now))
        .await
        .unwrap();

    b.job_cancel(jobs::backend::CancelParams::new(
        vec![cancelled.jid.clone()],
        now,
    ))
    .await
    .unwrap();
    // A batch whose member carries the secret in its redacted argument.
    let client = jobs::Client::new(b.clone());
    let batch = jobs::batch::Batch::new()
        .description("charges")
        .create(&client)
        .await
        .unwrap();
    batch
        .push_all([RedactedCharge::new(VISIBLE.to_owned(), SECRET.to_owned())])
        .await
        .unwrap();
    Ids {
        batch: batch.bid().to_owned(),
        cancelled: cancelled.jid,
        scheduled: scheduled.jid,
        retry,
        dead,
        waiting: waiting[0].jid.clone(),
        lock,
        lock_jid,
    }
}

fn app(b: &Arc<dyn AdminBackend>, hide: bool, access: Access) -> Router {
    let d = Dashboard::new(b.clone())
        .hide_args(hide)
        .metrics_endpoint(|| "jobs_busy 0\n".to_owned())
        .authorize(move |_| access);
    Router::new().nest("/admin/jobs", d.router())
}

const SETS: [&str; 4] = ["scheduled", "retries", "dead", "cancelled"];

/// The URIs that exercise GET route `pattern` on what [`seed`] stored, each with and
/// without `?reveal=1` where a job is shown. A route not listed fails the test, so a new
/// read route cannot go unchecked.
fn uris(pattern: &str, ids: &Ids, assets: &[String]) -> Vec<String> {
    let jid = |slug: &str| match slug {
        "scheduled" => ids.scheduled.clone(),
        "retries" => ids.retry.clone(),
        "cancelled" => ids.cancelled.clone(),
        _ => ids.dead.clone(),
    };
    let key = form(&[("key", WAIT_KEY)]);
    let per_set = |f: &dyn Fn(&str) -> Vec<String>| SETS.iter().flat_map(|s| f(s)).collect();
    let p = |s: &str| format!("/admin/jobs{s}");
    match pattern {
        "/" => vec!["/admin/jobs".into()],
        "/busy" | "/queues" | "/limits" | "/locks" | "/recurring" | "/metrics" | "/actions" => {
            vec![p(pattern)]
        }
        "/queues/{name}" => vec![
            p("/queues/payments"),
            p("/queues/payments?reveal=1"),
            p("/queues/limited"),
            p("/queues/uniq"),
        ],
        "/queues/{name}/clear" => vec![p("/queues/payments/clear")],
        "/limits/waiting" => vec![p(&format!("/limits/waiting?{key}"))],
        "/limits/waiting/confirm" => vec![p(&format!(
            "/limits/waiting/confirm?{key}&jid={}",
            ids.waiting
        ))],
        "/locks/holder" => vec![p(&format!("/locks/holder?jid={}&queue=uniq", ids.lock_jid))],
        "/locks/{key}/release" => vec![p(&format!("/locks/{}/release", seg(&ids.lock)))],
        "/{set}" => per_set(&|s| vec![p(&format!("/{s}")), p(&format!("/{s}?q=4111"))]),
        "/{set}/confirm" => {
            per_set(&|s| vec![p(&format!("/{s}/confirm?action=delete&jid={}", jid(s)))])
        }
        "/{set}/{jid}" => per_set(&|s| {
            vec![
                p(&format!("/{s}/{}", jid(s))),
                p(&format!("/{s}/{}?reveal=1", jid(s))),
            ]
        }),
        // A job name's metrics page: counts and durations only, no arguments.
        "/metrics/{class}" => vec![p("/metrics/Charge")],
        // The app's Prometheus text: counts by queue and job name, never arguments.
        "/metrics.txt" => vec![p("/metrics.txt")],
        "/assets/{file}" => assets.to_vec(),
        // Names the jobs by jid only.
        "/cancel" => vec![p(&format!("/cancel?jid={}", ids.scheduled))],
        "/api/stats" | "/api/history" | "/api/queues" | "/api/processes" | "/api/facts"
        | "/api/metrics" | "/api/limits" | "/api/locks" | "/api/actions" | "/api/recurring" => {
            vec![p(pattern)]
        }
        "/api/queues/{name}" => vec![
            p("/api/queues/payments"),
            p("/api/queues/limited"),
            p("/api/queues/uniq"),
        ],
        "/api/limits/waiting" => vec![p(&format!("/api/limits/waiting?{key}"))],
        "/api/{set}" => per_set(&|s| vec![p(&format!("/api/{s}"))]),
        "/api/{set}/count" => per_set(&|s| vec![p(&format!("/api/{s}/count"))]),
        "/api/{set}/{id}" => per_set(&|s| {
            vec![
                p(&format!("/api/{s}/{}", jid(s))),
                p(&format!("/api/{s}/{}?reveal=1", jid(s))),
            ]
        }),
        // A job's status page and its API twin (progress, result), for a job of each set.
        "/jobs/{jid}" => per_set(&|s| {
            vec![
                p(&format!("/jobs/{}", jid(s))),
                p(&format!("/jobs/{}?reveal=1", jid(s))),
            ]
        }),
        "/api/jobs/{jid}" => per_set(&|s| {
            vec![
                p(&format!("/api/jobs/{}", jid(s))),
                p(&format!("/api/jobs/{}?reveal=1", jid(s))),
            ]
        }),
        // A batch whose member's redacted argument is the secret.
        "/batches" => vec![p("/batches")],
        "/batches/{bid}" => vec![p(&format!("/batches/{}", ids.batch))],
        other => panic!("GET {other} is not walked by this test: add it to `uris`"),
    }
}

/// Every GET route, for every role and setting: no body holds the secret.
#[tokio::test]
async fn no_page_or_api_answer_shows_a_redacted_argument() {
    let b = memory();
    let ids = seed(&b).await;
    let routes = Dashboard::read_routes();
    assert!(routes.len() >= 30, "{routes:?}");
    for hide in [false, true] {
        for access in [Access::full(), Access::read_only()] {
            let app = app(&b, hide, access);
            let home = get(&app, "/admin/jobs").await;
            let assets: Vec<String> = urls(&home.body)
                .into_iter()
                .filter(|u| u.starts_with("/admin/jobs/assets/"))
                .collect();
            assert!(!assets.is_empty(), "{}", home.body);
            let mut marked = 0;
            for pattern in &routes {
                for uri in uris(pattern, &ids, &assets) {
                    let r = get(&app, &uri).await;
                    let ok = r.status.is_success() || r.status.is_redirection();
                    assert!(ok, "{uri}: {} {}", r.status, r.body);
                    assert!(
                        !r.body.contains(SECRET),
                        "hide={hide} {access:?} {uri} shows the secret: {}",
                        r.body
                    );
                    if r.body.contains("[redacted]") || r.body.contains("[hidden]") {
                        marked += 1;
                    }
                }
            }
            // The pages and answers that show arguments show them masked: the check above
            // looked at arguments, not at pages without any.
            assert!(
                marked >= 20,
                "hide={hide}: only {marked} bodies showed masked args"
            );
        }
    }
}

/// Declared redaction: the secret is masked, the other argument shown, on every kind of
/// place a job is listed; a payload of another count shows none.
#[tokio::test]
async fn declared_arguments_are_masked_and_the_others_shown() {
    let b = memory();
    let ids = seed(&b).await;
    let app = app(&b, false, Access::full());
    for uri in [
        "/admin/jobs/queues/payments".to_owned(),
        "/admin/jobs/busy".into(),
        "/admin/jobs/recurring".into(),
        format!("/admin/jobs/limits/waiting?{}", form(&[("key", WAIT_KEY)])),
        format!("/admin/jobs/dead/{}", ids.dead),
    ] {
        let body = get(&app, &uri).await.body;
        assert!(body.contains(VISIBLE), "{uri}: {body}");
        assert!(body.contains("[redacted]"), "{uri}: {body}");
    }
    let queue = get(&app, "/admin/jobs/api/queues/payments").await.json();
    let shown: Vec<&Value> = queue["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| &j["job"]["args"])
        .collect();
    assert!(
        shown.contains(&&json!([VISIBLE, "[redacted]"])),
        "{shown:?}"
    );
    assert!(shown.contains(&&json!(["[redacted]"])), "{shown:?}");
    // The store keeps the real values (Sidekiq reads the same payload).
    let stored = b
        .job_get(JobGetParams::new(JobSet::Dead, &ids.dead))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.job.args, args());
}

/// `hide_args(true)` hides every argument; `?reveal=1` shows the undeclared ones only to a
/// role granted `reveal_args`, on the page and in the API, and never the declared secret.
#[tokio::test]
async fn hide_args_hides_all_and_reveal_needs_its_action() {
    let b = memory();
    let ids = seed(&b).await;
    let page = format!("/admin/jobs/retries/{}", ids.retry);
    let api = format!("/admin/jobs/api/retries/{}", ids.retry);
    let revealed = |uri: &str| format!("{uri}?reveal=1");

    let lead = app(&b, true, Access::only([Action::RevealArgs]));
    let body = get(&lead, &page).await.body;
    assert!(
        !body.contains(VISIBLE) && body.contains("[hidden]"),
        "{body}"
    );
    assert!(body.contains("Reveal arguments"), "{body}");
    let body = get(&lead, &revealed(&page)).await.body;
    assert!(body.contains(VISIBLE), "{body}");
    assert!(
        body.contains("[redacted]") && !body.contains(SECRET),
        "{body}"
    );
    let json = get(&lead, &revealed(&api)).await.json();
    assert_eq!(json["job"]["args"], json!([VISIBLE, "[redacted]"]));
    let json = get(&lead, &api).await.json();
    assert_eq!(json["job"]["args"], json!(["[hidden]", "[hidden]"]));
    // Lists stay hidden: reveal is per job.
    for uri in [
        "/admin/jobs/retries",
        "/admin/jobs/busy",
        "/admin/jobs/recurring",
    ] {
        let body = get(&lead, &revealed(uri)).await.body;
        assert!(
            !body.contains(VISIBLE) && body.contains("[hidden]"),
            "{uri}: {body}"
        );
    }

    // Without the action: the hidden view, no offer, whatever the query says.
    for access in [
        Access::read_only(),
        Access::full().without(Action::RevealArgs),
    ] {
        let other = app(&b, true, access);
        let body = get(&other, &revealed(&page)).await.body;
        assert!(
            !body.contains(VISIBLE) && body.contains("[hidden]"),
            "{body}"
        );
        assert!(!body.contains("Reveal arguments"), "{body}");
        let json = get(&other, &revealed(&api)).await.json();
        assert_eq!(json["job"]["args"], json!(["[hidden]", "[hidden]"]));
    }

    // A read-only dashboard keeps the reveal (it changes nothing)...
    let read_only = Dashboard::new(b.clone())
        .hide_args(true)
        .read_only(true)
        .authorize(|_| Access::only([Action::RevealArgs]));
    let read_only = Router::new().nest("/admin/jobs", read_only.router());
    let body = get(&read_only, &revealed(&page)).await.body;
    assert!(body.contains(VISIBLE), "{body}");
    // ...and the action opens no state change.
    let r = post(&lead, "/admin/jobs/queues/payments/clear", "").await;
    assert_eq!(r.status, 403, "{}", r.body);

    // Without hide_args there is nothing to reveal: no offer.
    let shown = app(&b, false, Access::full());
    let body = get(&shown, &page).await.body;
    assert!(
        body.contains(VISIBLE) && !body.contains("Reveal arguments"),
        "{body}"
    );
}
