//! XSS, CSRF (with the proxy check), GET-never-mutates, clamping and 400s, headers,
//! read-only mode and the hook.

mod common;

use std::sync::Arc;

use axum::body::Body;
use axum::http::Request;
use axum::Router;
use common::*;
use jobs_web::{Access, Dashboard};

/// Every page that shows seeded data, for a seed `s`.
fn pages(s: &Seeded) -> Vec<String> {
    let q = seg(&s.queue);
    vec![
        "/admin/jobs".into(),
        "/admin/jobs/busy".into(),
        "/admin/jobs/queues".into(),
        format!("/admin/jobs/queues/{q}"),
        format!("/admin/jobs/queues/{q}/clear"),
        "/admin/jobs/scheduled".into(),
        "/admin/jobs/retries".into(),
        "/admin/jobs/dead".into(),
        format!("/admin/jobs/scheduled/{}", s.scheduled),
        format!("/admin/jobs/retries/{}", s.retry),
        format!("/admin/jobs/dead/{}", s.dead),
        format!("/admin/jobs/dead/confirm?action=delete&jid={}", s.dead),
        "/admin/jobs/dead/confirm?action=retry&scope=all".into(),
        "/admin/jobs/recurring".into(),
        "/admin/jobs/locks".into(),
        "/admin/jobs/metrics".into(),
        "/admin/jobs/metrics?hours=72".into(),
    ]
}

#[tokio::test]
async fn payloads_in_job_fields_come_back_inert() {
    for payload in [XSS, XSS_ATTR] {
        let b = memory();
        // Class, queue, args, error message, backtrace, process tag and host all carry it.
        let s = seed(&b, payload, payload, payload).await;
        let app = app(&b);
        for uri in pages(&s) {
            let r = get(&app, &uri).await;
            assert_eq!(r.status, 200, "{uri}: {}", r.body);
            assert_inert(&uri, &r.body);
        }
        // The data is shown, escaped.
        let dead = get(&app, &format!("/admin/jobs/dead/{}", s.dead))
            .await
            .body;
        let escaped = if payload == XSS {
            "&lt;script&gt;alert(1)&lt;/script&gt;"
        } else {
            "&quot;'&gt;&lt;img src=x onerror=alert(1)&gt;"
        };
        assert!(dead.contains(escaped), "{dead}");
        let metrics = get(&app, "/admin/jobs/metrics").await.body;
        assert!(metrics.contains(escaped), "{metrics}");
        // The JSON API gives the name back as data, for scripts to escape.
        let api = get(&app, "/admin/jobs/api/metrics").await.json();
        assert_eq!(api["jobs"][0]["class"], payload);
    }
}

#[tokio::test]
async fn payloads_in_query_parameters_come_back_inert() {
    let b = memory();
    let s = seed(&b, "SendPush", "push", "hello").await;
    let app = app(&b);
    for payload in [XSS, XSS_ATTR] {
        let p = form(&[("x", payload)]);
        let v = &p[2..];
        for uri in pages(&s) {
            let sep = if uri.contains('?') { '&' } else { '?' };
            for key in [
                "class", "q", "page", "per_page", "days", "poll", "hours", "action", "scope",
                "jid", "zzz",
            ] {
                let r = get(&app, &format!("{uri}{sep}{key}={v}")).await;
                assert_inert(&format!("{uri} {key}"), &r.body);
                if r.status != 200 {
                    assert_eq!(r.status, 400, "{uri} {key}");
                    // An error page in the layout, the payload escaped in it.
                    assert!(r.headers["content-type"]
                        .to_str()
                        .unwrap()
                        .starts_with("text/html"));
                }
            }
        }
        // A forged forwarded prefix is ignored, not reflected.
        let req = Request::get("/admin/jobs")
            .header("x-forwarded-prefix", payload)
            .body(Body::empty())
            .unwrap();
        let r = send(&app, req).await;
        assert_inert("prefix", &r.body);
        assert!(r.body.contains("href=\"/admin/jobs/queues\""));
    }
}

#[tokio::test]
async fn security_headers_on_every_answer() {
    let b = memory();
    let app = app(&b);
    for uri in [
        "/admin/jobs",
        "/admin/jobs/api/stats",
        "/admin/jobs/nope",
        "/admin/jobs?page=x",
    ] {
        let r = get(&app, uri).await;
        let h = &r.headers;
        let csp = h["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("default-src 'self'") && csp.contains("frame-ancestors 'none'"));
        assert!(!csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"));
        assert_eq!(h["x-content-type-options"], "nosniff");
        assert_eq!(h["x-frame-options"], "DENY");
        assert!(h.contains_key("referrer-policy"));
    }
    // No inline scripts or styles in the pages themselves.
    let body = get(&app, "/admin/jobs").await.body;
    assert!(
        !body.contains("<style") && !body.contains("style=\"") && !body.contains(" on"),
        "{body}"
    );
    assert_inert("dashboard", &body);
}

fn cross_site_posts(uri: &str, body: &str) -> Vec<Request<Body>> {
    let base = || {
        Request::post(uri)
            .header("host", "localhost")
            .header("content-type", "application/x-www-form-urlencoded")
    };
    vec![
        base()
            .header("origin", "https://evil.example")
            .body(Body::from(body.to_owned()))
            .unwrap(),
        base()
            .header("origin", "null")
            .body(Body::from(body.to_owned()))
            .unwrap(),
        base()
            .header("sec-fetch-site", "cross-site")
            .body(Body::from(body.to_owned()))
            .unwrap(),
        base()
            .header("sec-fetch-site", "same-site")
            .body(Body::from(body.to_owned()))
            .unwrap(),
        base()
            .header("origin", "http://localhost")
            .header("sec-fetch-site", "cross-site")
            .body(Body::from(body.to_owned()))
            .unwrap(),
    ]
}

/// Every action of the pages and the API, for a seed `s`.
fn actions(s: &Seeded) -> Vec<(String, String)> {
    let q = &s.queue;
    vec![
        (
            format!("/admin/jobs/queues/{q}/pause"),
            "paused=true".into(),
        ),
        (format!("/admin/jobs/queues/{q}/clear"), String::new()),
        (
            format!("/admin/jobs/queues/{q}/delete"),
            form(&[("jid", &s.queued)]),
        ),
        (
            "/admin/jobs/busy/signal".into(),
            form(&[("process", &s.process), ("signal", "stop")]),
        ),
        (
            "/admin/jobs/dead/action".into(),
            form(&[("action", "delete"), ("scope", "all")]),
        ),
        (
            "/admin/jobs/retries/action".into(),
            form(&[("action", "kill"), ("jid", &s.retry)]),
        ),
        (
            "/admin/jobs/scheduled/action".into(),
            form(&[("action", "enqueue"), ("jid", &s.scheduled)]),
        ),
        (format!("/admin/jobs/api/queues/{q}/clear"), String::new()),
        (format!("/admin/jobs/api/queues/{q}/pause"), String::new()),
        ("/admin/jobs/api/dead/delete".into(), String::new()),
        ("/admin/jobs/locks/ab12/release".into(), "jid=x".into()),
        ("/admin/jobs/api/locks/ab12/release".into(), String::new()),
    ]
}

#[tokio::test]
async fn cross_site_posts_get_403_and_change_nothing() {
    let b = memory();
    let s = seed(&b, "ChargeCard", "payments", "x").await;
    let app = app(&b);
    let before = snapshot(&b).await;
    for (uri, body) in actions(&s) {
        for req in cross_site_posts(&uri, &body) {
            let r = send(&app, req).await;
            assert_eq!(r.status, 403, "{uri}");
        }
    }
    assert_eq!(snapshot(&b).await, before);
    // The same POST from the same origin works.
    let r = post(&app, "/admin/jobs/queues/payments/pause", "paused=true").await;
    assert_eq!(r.status, 303);
    assert_ne!(snapshot(&b).await, before);
}

#[tokio::test]
async fn get_never_changes_anything() {
    let b = memory();
    let s = seed(&b, "ChargeCard", "payments", "x").await;
    let app = app(&b);
    let before = snapshot(&b).await;
    let mut uris = pages(&s);
    uris.extend(
        actions(&s)
            .into_iter()
            .map(|(u, body)| format!("{u}?{body}")),
    );
    uris.push("/admin/jobs/api/dead/delete?all=true".into());
    for uri in &uris {
        let r = get(&app, uri).await;
        assert!(
            r.status == 200 || r.status == 405 || r.status == 404,
            "{uri}: {}",
            r.status
        );
    }
    assert_eq!(snapshot(&b).await, before);
}

#[tokio::test]
async fn numbers_are_clamped_and_bad_values_get_400() {
    let b = memory();
    seed(&b, "A", "default", "x").await;
    let app = app(&b);
    let r = get(
        &app,
        "/admin/jobs/api/history?days=99999999999999999999999999",
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["history"].as_array().unwrap().len(), 90);
    let r = get(&app, "/admin/jobs/api/dead?per_page=1000000&page=0").await;
    assert_eq!(
        (r.json()["per_page"].as_u64(), r.json()["page"].as_u64()),
        (Some(100), Some(1))
    );
    let r = get(&app, "/admin/jobs?poll=0&days=0").await;
    assert!(r.body.contains("data-interval=\"2\""), "{}", r.body);
    let r = get(&app, "/admin/jobs/api/metrics?hours=0").await;
    assert_eq!(r.json()["hours"], 1);
    let r = get(&app, "/admin/jobs/api/metrics?hours=99999999999999999999").await;
    assert_eq!(r.json()["hours"], 72);
    let r = get(&app, "/admin/jobs/metrics?hours=1000").await;
    assert!(r.body.contains("last 72 hours"), "{}", r.body);
    let r = get(&app, "/admin/jobs?poll=100000").await;
    assert!(r.body.contains("data-interval=\"60\""));
    for uri in [
        "/admin/jobs?days=abc",
        "/admin/jobs?poll=1.5",
        "/admin/jobs/dead?page=-1",
        "/admin/jobs/dead?per_page=ten",
        "/admin/jobs/queues/default?page=1e9",
        "/admin/jobs/api/history?days=%20x",
        "/admin/jobs/metrics?hours=-1",
        "/admin/jobs/api/metrics?hours=1h",
    ] {
        let r = get(&app, uri).await;
        assert_eq!(r.status, 400, "{uri}");
        assert!(
            r.body.contains("must be a whole number"),
            "{uri}: {}",
            r.body
        );
    }
}

async fn try_everything(app: &Router, s: &Seeded) -> (Vec<u16>, Vec<u16>) {
    let mut posts = Vec::new();
    for (uri, body) in actions(s) {
        posts.push(post(app, &uri, &body).await.status.as_u16());
    }
    let mut gets = Vec::new();
    for uri in pages(s) {
        gets.push(get(app, &uri).await.status.as_u16());
    }
    (gets, posts)
}

#[tokio::test]
async fn read_only_mode_refuses_actions() {
    let b = memory();
    let s = seed(&b, "ChargeCard", "payments", "x").await;
    let app = Router::new().nest(
        "/admin/jobs",
        Dashboard::new(b.clone()).read_only(true).router(),
    );
    let before = snapshot(&b).await;
    let (gets, posts) = try_everything(&app, &s).await;
    assert!(gets.iter().all(|s| *s == 200), "{gets:?}");
    assert!(posts.iter().all(|s| *s == 403), "{posts:?}");
    assert_eq!(snapshot(&b).await, before);
    let page = get(&app, "/admin/jobs/dead").await.body;
    assert!(page.contains("read-only") && !page.contains("Retry now"));
}

#[tokio::test]
async fn the_hook_decides_viewing_and_acting() {
    let b = memory();
    let s = seed(&b, "ChargeCard", "payments", "x").await;
    let hooked = |access: Access| -> Router {
        Router::new().nest(
            "/admin/jobs",
            Dashboard::new(b.clone())
                .authorize(move |_| access)
                .router(),
        )
    };
    let before = snapshot(&b).await;
    let (gets, posts) = try_everything(&hooked(Access::read_only()), &s).await;
    assert!(
        gets.iter().all(|s| *s == 200) && posts.iter().all(|s| *s == 403),
        "{gets:?} {posts:?}"
    );
    let (gets, posts) = try_everything(&hooked(Access::none()), &s).await;
    assert!(gets.iter().all(|s| *s == 403) && posts.iter().all(|s| *s == 403));
    assert_eq!(snapshot(&b).await, before);
    assert!(!get(&hooked(Access::read_only()), "/admin/jobs/busy")
        .await
        .body
        .contains(">Stop<"));

    // The hook sees the request: a header decides.
    let app = Router::new().nest(
        "/admin/jobs",
        Dashboard::new(b.clone())
            .authorize(|parts| {
                if parts.headers.contains_key("x-admin") {
                    Access::full()
                } else {
                    Access::read_only()
                }
            })
            .router(),
    );
    assert_eq!(
        post(&app, "/admin/jobs/queues/payments/pause", "paused=true")
            .await
            .status,
        403
    );
    let req = Request::post("/admin/jobs/queues/payments/pause")
        .header("x-admin", "1")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Body::from("paused=true"))
        .unwrap();
    assert_eq!(send(&app, req).await.status, 303);
    let _ = Arc::clone(&b);
}

/// A POST through a proxy: the browser's origin is the public host, which only
/// `X-Forwarded-Host` names; `Host` is the internal address.
fn proxied_pause() -> Request<Body> {
    Request::post("/admin/jobs/queues/payments/pause")
        .header("host", "10.0.0.5:8080")
        .header("x-forwarded-host", "jobs.example.com")
        .header("origin", "https://jobs.example.com")
        .header("sec-fetch-site", "same-origin")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Body::from("paused=true"))
        .unwrap()
}

#[tokio::test]
async fn forwarded_host_is_trusted_only_behind_a_proxy() {
    let b = memory();
    seed(&b, "ChargeCard", "payments", "x").await;
    let before = snapshot(&b).await;

    // By default anyone may send X-Forwarded-Host, so it proves nothing: refused.
    let r = send(&app(&b), proxied_pause()).await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(r.body.contains("cross-site"), "{}", r.body);
    assert_eq!(snapshot(&b).await, before);
    // The API too, in JSON.
    let req = Request::post("/admin/jobs/api/queues/payments/pause")
        .header("host", "10.0.0.5:8080")
        .header("x-forwarded-host", "jobs.example.com")
        .header("origin", "https://jobs.example.com")
        .body(Body::empty())
        .unwrap();
    let r = send(&app(&b), req).await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert_eq!(r.json()["error"]["code"], "cross_site");
    assert_eq!(snapshot(&b).await, before);

    // Behind a proxy the app declares, the forwarded host is the one the browser used.
    let proxied = Router::new().nest(
        "/admin/jobs",
        Dashboard::new(b.clone()).behind_proxy(true).router(),
    );
    let r = send(&proxied, proxied_pause()).await;
    assert_eq!(r.status, 303, "{}", r.body);
    let queues = get(&proxied, "/admin/jobs/api/queues").await.json();
    let payments = queues["queues"]
        .as_array()
        .and_then(|qs| qs.iter().find(|q| q["name"] == "payments"))
        .cloned();
    assert_eq!(payments.map(|q| q["paused"].clone()), Some(true.into()));

    // Still refused from another site, and when the proxy says another host.
    let mut evil = proxied_pause();
    evil.headers_mut()
        .insert("origin", "https://evil.example".parse().unwrap());
    assert_eq!(send(&proxied, evil).await.status, 403);
    let mut other = proxied_pause();
    other
        .headers_mut()
        .insert("x-forwarded-host", "other.example.com".parse().unwrap());
    assert_eq!(send(&proxied, other).await.status, 403);
}
