//! Per-action authorization: every state-changing route of the pages and the API needs one
//! action; a role with only that action changes state, a role with every other action gets
//! 403 and changes nothing; pages show only the forms of the actions granted.

mod common;

use axum::http::StatusCode;
use common::roles::*;
use common::routes::*;
use common::*;
use jobs_web::{Access, Action};

/// Every action but view is needed by some route (`cancel` by `POST cancel`, the sets'
/// `cancel` action and `POST api/cancel`); `reveal_args` is a read (a GET with `?reveal=1`, see tests/redaction.rs), not a route.
#[tokio::test]
async fn every_action_has_a_route() {
    let w = world().await;
    let needed: Vec<Action> = cases(&w).iter().map(|c| c.action).collect();
    for a in Action::ALL {
        let expected = !matches!(a, Action::View | Action::RevealArgs);
        assert_eq!(needed.contains(&a), expected, "{a}");
    }
}

/// The route pattern of the router that answers `path`: of those that match it segment by
/// segment, the one whose first differing segment is literal (as the router picks).
fn route_of<'a>(patterns: &[&'a str], path: &str) -> Option<&'a str> {
    let segs: Vec<&str> = path.split('?').next()?.split('/').collect();
    let param = |s: &str| s.starts_with('{');
    patterns
        .iter()
        .copied()
        .filter(|p| {
            let ps: Vec<&str> = p.split('/').collect();
            ps.len() == segs.len() && ps.iter().zip(&segs).all(|(p, s)| param(p) || p == s)
        })
        .min_by_key(|p| p.split('/').map(param).collect::<Vec<bool>>())
}

/// Every path of the router that takes POST has cases in the table walked below, so a new
/// state-changing route cannot go untested for its action.
#[tokio::test]
async fn every_post_route_of_the_router_is_walked() {
    let w = world().await;
    let routes = jobs_web::Dashboard::action_routes();
    assert!(routes.len() >= 14, "{routes:?}");
    let mut walked = std::collections::HashSet::new();
    for case in cases(&w) {
        let path = case.uri.trim_start_matches("/admin/jobs");
        let route = route_of(&routes, path);
        assert!(route.is_some(), "{path} is no POST route of {routes:?}");
        walked.extend(route);
    }
    for r in &routes {
        assert!(walked.contains(r), "no case walks POST {r}");
    }
    // The matching picks what the router picks.
    assert_eq!(
        route_of(&routes, "/api/processes/signal"),
        Some("/api/processes/signal")
    );
    assert_eq!(
        route_of(&routes, "/api/dead/retry"),
        Some("/api/{set}/{id}")
    );
}

#[tokio::test]
async fn each_route_needs_exactly_its_action() {
    let n = cases(&world().await).len();
    for i in 0..n {
        // A fresh world per case: each starts from the same state.
        let w = world().await;
        let case = cases(&w).swap_remove(i);
        prepare(&w, &case.prep).await;
        let what = format!("{} {}", case.uri, case.action);
        let is_api = matches!(case.body, Body::Json(_));

        // Every other action: refused, nothing changes.
        let lacking = dashboard(&w.b, Access::full().without(case.action), |_| {});
        let before = case.probe.read(&w).await;
        let all_before = snapshot(&w.b).await;
        let r = call(&lacking, &case).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{what}: {}", r.body);
        if is_api {
            assert_eq!(r.json()["error"]["code"], "forbidden", "{what}");
        } else {
            assert!(
                r.body.contains("403 Forbidden") && r.body.contains("you may not"),
                "{what}: {}",
                r.body
            );
        }
        assert_eq!(
            case.probe.read(&w).await,
            before,
            "{what}: changed when refused"
        );
        assert_eq!(
            snapshot(&w.b).await,
            all_before,
            "{what}: changed when refused"
        );

        // Only this action: done.
        let only = dashboard(&w.b, Access::only([case.action]), |_| {});
        let r = call(&only, &case).await;
        let ok = if is_api { 200 } else { 303 };
        assert_eq!(r.status, ok, "{what}: {}", r.body);
        let after = case.probe.read(&w).await;
        assert_ne!(after, before, "{what}: nothing changed");
    }
}

/// The pages of a world, confirmations included.
fn pages(w: &World) -> Vec<String> {
    let s = &w.s;
    let key = form(&[("key", WAIT_KEY)]);
    vec![
        "/admin/jobs".into(),
        "/admin/jobs/busy".into(),
        "/admin/jobs/queues".into(),
        "/admin/jobs/queues/payments".into(),
        "/admin/jobs/queues/payments/clear".into(),
        "/admin/jobs/scheduled".into(),
        "/admin/jobs/retries".into(),
        "/admin/jobs/dead".into(),
        format!("/admin/jobs/scheduled/{}", s.scheduled),
        format!("/admin/jobs/retries/{}", s.retry),
        format!("/admin/jobs/dead/{}", s.dead),
        format!("/admin/jobs/dead/confirm?action=delete&jid={}", s.dead),
        "/admin/jobs/retries/confirm?action=kill&scope=all".into(),
        "/admin/jobs/scheduled/confirm?action=enqueue&scope=all".into(),
        "/admin/jobs/recurring".into(),
        "/admin/jobs/locks".into(),
        format!("/admin/jobs/locks/{}/release", seg(&w.lock)),
        "/admin/jobs/limits".into(),
        format!("/admin/jobs/limits/waiting?{key}"),
        format!("/admin/jobs/limits/waiting/confirm?{key}&jid={}", w.waiting),
        "/admin/jobs/metrics".into(),
        "/admin/jobs/actions".into(),
    ]
}

/// How many forms posting somewhere a page has.
fn post_forms(body: &str) -> usize {
    body.split("<form")
        .skip(1)
        .filter(|f| {
            let head = f.split('>').next().unwrap_or("");
            head.to_ascii_lowercase().contains("method=\"post\"")
        })
        .count()
}

#[tokio::test]
async fn a_read_only_role_sees_no_form_that_posts() {
    let w = world().await;
    let viewer = dashboard(&w.b, Access::read_only(), |_| {});
    let full = dashboard(&w.b, Access::full(), |_| {});
    let mut posting_pages = 0;
    for uri in pages(&w) {
        let r = get(&viewer, &uri).await;
        assert_eq!(r.status, 200, "{uri}: {}", r.body);
        assert_eq!(post_forms(&r.body), 0, "{uri}: {}", r.body);
        let r = get(&full, &uri).await;
        assert_eq!(r.status, 200, "{uri}: {}", r.body);
        if post_forms(&r.body) > 0 {
            posting_pages += 1;
        }
    }
    // The same pages have forms for a role that may act: the check above is not empty.
    assert!(posting_pages >= 10, "{posting_pages}");
}

#[tokio::test]
async fn pages_show_only_the_buttons_of_granted_actions() {
    let w = world().await;
    let s = &w.s;
    let retry = dashboard(&w.b, Access::only([Action::Retry]), |_| {});
    let dead = get(&retry, "/admin/jobs/dead").await.body;
    assert!(
        dead.contains(">Retry now<") && !dead.contains(">Delete<"),
        "{dead}"
    );
    let detail = get(&retry, &format!("/admin/jobs/retries/{}", s.retry))
        .await
        .body;
    assert!(
        detail.contains(">Retry now<") && !detail.contains(">Kill<"),
        "{detail}"
    );
    let confirm = get(
        &retry,
        &format!("/admin/jobs/dead/confirm?action=delete&jid={}", s.dead),
    )
    .await
    .body;
    assert_eq!(post_forms(&confirm), 0, "{confirm}");
    assert!(
        confirm.contains("You may not take this action."),
        "{confirm}"
    );
    let queues = get(&retry, "/admin/jobs/queues").await.body;
    assert!(
        !queues.contains(">Pause<") && !queues.contains("Clear…"),
        "{queues}"
    );

    let quiet = dashboard(&w.b, Access::only([Action::Quiet]), |_| {});
    let busy = get(&quiet, "/admin/jobs/busy").await.body;
    assert!(
        busy.contains(">Quiet<") && !busy.contains(">Stop<"),
        "{busy}"
    );

    let pause = dashboard(&w.b, Access::only([Action::Pause]), |_| {});
    let queues = get(&pause, "/admin/jobs/queues").await.body;
    assert!(
        queues.contains(">Pause<") && !queues.contains("Clear…"),
        "{queues}"
    );
    let queue = get(&pause, "/admin/jobs/queues/payments").await.body;
    assert!(!queue.contains(">Delete<"), "{queue}");

    let release = dashboard(&w.b, Access::only([Action::Release]), |_| {});
    let locks = get(&release, "/admin/jobs/locks").await.body;
    assert!(locks.contains("Release…"), "{locks}");
    let recurring = get(&release, "/admin/jobs/recurring").await.body;
    assert!(!recurring.contains("Run now"), "{recurring}");
    let schedule = dashboard(&w.b, Access::only([Action::Schedule]), |_| {});
    let recurring = get(&schedule, "/admin/jobs/recurring").await.body;
    assert!(recurring.contains("Run now"), "{recurring}");
    let locks = get(&schedule, "/admin/jobs/locks").await.body;
    assert!(!locks.contains("Release…"), "{locks}");
}

#[tokio::test]
async fn a_role_without_view_sees_nothing_and_changes_nothing() {
    let w = world().await;
    let nobody = dashboard(&w.b, Access::none(), |_| {});
    let before = snapshot(&w.b).await;
    assert_eq!(get(&nobody, "/admin/jobs").await.status, 403);
    let r = post(&nobody, "/admin/jobs/queues/payments/clear", "").await;
    assert_eq!(r.status, 403);
    assert_eq!(snapshot(&w.b).await, before);
}
