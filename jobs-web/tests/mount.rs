//! Links, forms and assets resolve under the mount point, behind a proxy that strips a
//! prefix (`X-Forwarded-Prefix`), and at the root; assets carry cache headers.

mod common;

use axum::body::Body;
use axum::http::Request;
use axum::Router;
use common::*;

/// Fetches every link of `page` through `app`, as a proxy stripping the prefix would.
async fn links_resolve(app: &Router, page: &str, prefix: &str, headers: &[(&str, &str)]) {
    let mut req = Request::get(page).header("host", "localhost");
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let r = send(app, req.body(Body::empty()).unwrap()).await;
    assert_eq!(r.status, 200, "{page}");
    let urls = urls(&r.body);
    assert!(urls.len() > 5, "{page}: {urls:?}");
    for url in urls {
        assert!(
            url.starts_with(prefix),
            "{page}: {url} is not under {prefix}"
        );
        // What the proxy forwards: the URL with the stripped prefix removed.
        let forwarded = match headers.iter().find(|(k, _)| *k == "x-forwarded-prefix") {
            Some((_, p)) => url
                .strip_prefix(p.trim_end_matches('/'))
                .unwrap_or(&url)
                .to_owned(),
            None => url.clone(),
        };
        let forwarded = if forwarded.starts_with('/') {
            forwarded
        } else {
            format!("/{forwarded}")
        };
        let r = get(app, &forwarded).await;
        // Links answer 200; form actions without their fields answer 405 (POST only) or
        // 400 (a confirmation without a selection): either way the route is there.
        let ok = match r.status.as_u16() {
            200 => true,
            400 | 405 => body_has_form_action(&r_page_body(app, page, headers).await, &url),
            _ => false,
        };
        assert!(ok, "{page}: {url} (as {forwarded}) gave {}", r.status);
    }
}

async fn r_page_body(app: &Router, page: &str, headers: &[(&str, &str)]) -> String {
    let mut req = Request::get(page).header("host", "localhost");
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    send(app, req.body(Body::empty()).unwrap()).await.body
}

fn body_has_form_action(body: &str, url: &str) -> bool {
    body.contains(&format!("action=\"{url}\""))
}

fn seeded_pages(s: &Seeded) -> Vec<String> {
    vec![
        "".into(),
        "/busy".into(),
        "/queues".into(),
        format!("/queues/{}", s.queue),
        "/scheduled".into(),
        "/retries".into(),
        format!("/dead/{}", s.dead),
    ]
}

#[tokio::test]
async fn links_and_assets_resolve_under_the_mount() {
    let b = memory();
    let s = seed(&b, "SendWelcomeEmail", "mailers", "a").await;
    let app = app(&b);
    for p in seeded_pages(&s) {
        links_resolve(&app, &format!("/admin/jobs{p}"), "/admin/jobs", &[]).await;
    }
    // Forms post under the mount too.
    let page = get(&app, "/admin/jobs/queues").await.body;
    assert!(page.contains("action=\"/admin/jobs/queues/mailers/pause\""));
    // axum's nest does not match a trailing slash on the mount point; the pages never
    // link there (the home link is the mount point itself).
    assert!(!page.contains("href=\"/admin/jobs/\""));
}

#[tokio::test]
async fn links_follow_a_forwarded_prefix() {
    let b = memory();
    let s = seed(&b, "SendWelcomeEmail", "mailers", "a").await;
    // Nested, behind a proxy that strips /ops.
    let app = app(&b);
    let fwd = [("x-forwarded-prefix", "/ops")];
    for p in seeded_pages(&s) {
        links_resolve(&app, &format!("/admin/jobs{p}"), "/ops/admin/jobs", &fwd).await;
    }
    // At the root of its own server, behind a proxy that strips /jobs/.
    let root: Router = jobs_web::Dashboard::new(b.clone()).router();
    let fwd = [("x-forwarded-prefix", "/jobs/")];
    for p in seeded_pages(&s) {
        let page = if p.is_empty() { "/".to_owned() } else { p };
        links_resolve(&root, &page, "/jobs", &fwd).await;
    }
    let home = get(&root, "/").await.body;
    assert!(home.contains("href=\"/queues\""), "{home}");
}

#[tokio::test]
async fn assets_are_embedded_and_cached() {
    let b = memory();
    let app = app(&b);
    let home = get(&app, "/admin/jobs").await.body;
    let css = urls(&home)
        .into_iter()
        .find(|u| u.ends_with(".css"))
        .unwrap();
    let js = urls(&home)
        .into_iter()
        .find(|u| u.ends_with(".js"))
        .unwrap();
    let svg = urls(&home)
        .into_iter()
        .find(|u| u.ends_with(".svg"))
        .unwrap();
    for (url, ct) in [
        (&css, "text/css"),
        (&js, "text/javascript"),
        (&svg, "image/svg+xml"),
    ] {
        let r = get(&app, url).await;
        assert_eq!(r.status, 200, "{url}");
        assert!(r.headers["content-type"].to_str().unwrap().starts_with(ct));
        assert!(r.headers["cache-control"]
            .to_str()
            .unwrap()
            .contains("immutable"));
        let etag = r.headers["etag"].to_str().unwrap().to_owned();
        let req = Request::get(url.as_str())
            .header("if-none-match", &etag)
            .body(Body::empty())
            .unwrap();
        let again = send(&app, req).await;
        assert_eq!(again.status, 304);
        assert!(again.body.is_empty());
    }
    // The plain name works too, revalidated by ETag; unknown assets are 404.
    let r = get(&app, "/admin/jobs/assets/style.css").await;
    assert_eq!(r.status, 200);
    assert!(r.headers["cache-control"]
        .to_str()
        .unwrap()
        .contains("must-revalidate"));
    assert_eq!(get(&app, "/admin/jobs/assets/evil.css").await.status, 404);
    // The CSS and JS need no external fonts or CDN.
    for url in [&css, &js] {
        let body = get(&app, url).await.body;
        assert!(
            !body.contains("http://") && !body.contains("https://") && !body.contains("@import")
        );
    }
    // Pages are never cached.
    assert_eq!(
        get(&app, "/admin/jobs").await.headers["cache-control"],
        "no-store"
    );
}

#[tokio::test]
async fn redirects_after_actions_stay_under_the_prefix() {
    let b = memory();
    seed(&b, "SendWelcomeEmail", "mailers", "a").await;
    let app = app(&b);
    let req = Request::post("/admin/jobs/queues/mailers/pause")
        .header("host", "localhost")
        .header("origin", "http://localhost")
        .header("x-forwarded-prefix", "/ops")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Body::from("paused=true"))
        .unwrap();
    let r = send(&app, req).await;
    assert_eq!(r.status, 303);
    assert_eq!(r.location(), "/ops/admin/jobs/queues");
    // The recurring page links under the mount as well.
    let page = get(&app, "/admin/jobs/recurring").await.body;
    assert!(page.contains("href=\"/admin/jobs/recurring\""));
}
