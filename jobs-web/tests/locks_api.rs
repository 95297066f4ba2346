//! `api/locks`: the locks held, page by page, and releasing one, which lets a job with the
//! same key be stored again; releasing from the page or the API is refused like every other
//! action.

mod common;

use std::sync::Arc;

use axum::body::Body;
use axum::http::Request;
use chrono::Utc;
use common::locks::*;
use common::*;
use jobs::clock::ManualClock;
use jobs::envelope::flow::UniqueUntil;
use jobs::envelope::JobEnvelope;
use jobs_web::{Access, Dashboard};
use serde_json::json;

#[tokio::test]
async fn the_api_lists_pages_and_releases_locks() {
    let b = memory();
    let jobs: Vec<JobEnvelope> = (0..3)
        .map(|i| {
            unique(
                "Sync",
                "sync",
                i,
                UniqueUntil::Success,
                t() + secs(3600 + i),
            )
        })
        .collect();
    for job in &jobs {
        assert!(push(&b, job.clone(), t()).await);
    }
    let clock = Arc::new(ManualClock::new(t()));
    let app = app_at(&b, &clock);

    let v = get(&app, "/admin/jobs/api/locks").await.json();
    assert_eq!(
        (&v["supported"], &v["page"], &v["per_page"], &v["more"]),
        (&json!(true), &json!(1), &json!(25), &json!(false))
    );
    let first = &v["locks"][0];
    let mut keys: Vec<_> = first.as_object().unwrap().keys().cloned().collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "class",
            "expires_at",
            "expires_in",
            "jid",
            "key",
            "queue",
            "until"
        ]
    );
    assert_eq!(first["key"], key(&jobs[0]));
    assert_eq!(first["jid"], jobs[0].jid.as_str());
    assert_eq!(
        (&first["class"], &first["queue"]),
        (&json!("Sync"), &json!("sync"))
    );
    assert_eq!(first["until"], "success");
    assert_eq!(first["expires_at"], "2030-01-15T13:00:00Z");
    assert_eq!(first["expires_in"], 3600.0);

    // Paged: two, then the last one.
    let p1 = get(&app, "/admin/jobs/api/locks?per_page=2").await.json();
    assert_eq!(
        (p1["locks"].as_array().unwrap().len(), &p1["more"]),
        (2, &json!(true))
    );
    let p2 = get(&app, "/admin/jobs/api/locks?per_page=2&page=2")
        .await
        .json();
    assert_eq!(
        (p2["locks"].as_array().unwrap().len(), &p2["more"]),
        (1, &json!(false))
    );
    assert_eq!(p2["locks"][0]["key"], key(&jobs[2]));
    let html = get(&app, "/admin/jobs/locks?per_page=2").await.body;
    assert!(
        html.contains("href=\"/admin/jobs/locks?page=2&amp;per_page=2\""),
        "{html}"
    );
    let r = get(&app, "/admin/jobs/api/locks?per_page=ten").await;
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["error"]["code"], "bad_request");

    // Release: the same key is stored again; a second release is a 404.
    let k = key(&jobs[1]);
    let uri = format!("/admin/jobs/api/locks/{k}/release");
    let r = post_json(&app, &uri, json!({})).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json(), json!({ "key": k, "released": true }));
    assert!(!held(&b, t()).await.contains(&k));
    assert!(
        push(
            &b,
            unique("Sync", "sync", 1, UniqueUntil::Success, t() + secs(60)),
            t()
        )
        .await
    );
    // The new holder's lock is held now; release it too, then there is none.
    assert_eq!(post_json(&app, &uri, json!({})).await.status, 200);
    let r = post_json(&app, &uri, json!({})).await;
    assert_eq!(r.status, 404, "{}", r.body);
    assert_eq!(
        r.json(),
        json!({ "error": { "code": "not_found", "message": "no such lock held" } })
    );
    let r = get(&app, &uri).await;
    assert_eq!(r.status, 405);
    assert_eq!(r.json()["error"]["code"], "method_not_allowed");
}

#[tokio::test]
async fn releasing_is_refused_without_the_guard() {
    let b = memory();
    let now = Utc::now();
    let job = unique("Sync", "sync", 1, UniqueUntil::Success, now + secs(3600));
    let k = key(&job);
    assert!(push(&b, job.clone(), now).await);
    let page = format!("/admin/jobs/locks/{k}/release");
    let api = format!("/admin/jobs/api/locks/{k}/release");

    // From another site: 403, whatever the headers claim.
    for (origin, site) in [
        (Some("https://evil.example"), None),
        (Some("null"), None),
        (None, Some("cross-site")),
        (Some("http://localhost"), Some("same-site")),
    ] {
        for uri in [&page, &api] {
            let mut req = Request::post(uri.as_str())
                .header("host", "localhost")
                .header("content-type", "application/x-www-form-urlencoded");
            if let Some(o) = origin {
                req = req.header("origin", o);
            }
            if let Some(s) = site {
                req = req.header("sec-fetch-site", s);
            }
            let r = send(
                &app(&b),
                req.body(Body::from(format!("jid={}", job.jid))).unwrap(),
            )
            .await;
            assert_eq!(r.status, 403, "{uri} {origin:?} {site:?}");
        }
    }
    let r = post_json(&app(&b), &api, json!({})).await;
    assert_eq!(
        r.status, 200,
        "a same-origin request is let through: {}",
        r.body
    );
    assert!(
        push(
            &b,
            unique("Sync", "sync", 1, UniqueUntil::Success, now + secs(3600)),
            now
        )
        .await
    );

    // Read-only, and a viewer: no button, and the POSTs are refused.
    for (what, d) in [
        ("read-only", Dashboard::new(b.clone()).read_only(true)),
        (
            "viewer",
            Dashboard::new(b.clone()).authorize(|_| Access::read_only()),
        ),
    ] {
        let app = with(d);
        let list = get(&app, "/admin/jobs/locks").await.body;
        assert!(
            list.contains(&k[..12]) && !list.contains("Release…"),
            "{what}: {list}"
        );
        let confirm = get(&app, &page).await.body;
        assert!(
            confirm.contains("You may not take actions here."),
            "{what}: {confirm}"
        );
        assert_eq!(post(&app, &page, "").await.status, 403, "{what}");
        assert_eq!(post_json(&app, &api, json!({})).await.status, 403, "{what}");
    }
    assert_eq!(held(&b, now).await, [k]);
}
