//! A web app with the jobs dashboard at `/admin/jobs`, behind the app's own login.
//!
//! `cargo run --example web_app`, then open the printed URL and log in as `admin` /
//! `jobs-demo`. It listens on 127.0.0.1:3000 (`PORT` changes the port), uses `JOBS_URL` or
//! else `sqlite://jobs.db` (or memory when SQLite is unavailable), and runs a worker and a
//! producer, so jobs flow through every page: welcome emails, push notifications (some
//! scheduled), a flaky payment API (retries, and deaths for declined cards), slow PDF
//! generation (busy workers), search-index updates, and a nightly recurring report.
//!
//! Ctrl-C (SIGINT) or SIGTERM stops it: the server stops accepting and finishes its requests,
//! the producer stops, and the worker finishes its jobs (up to 5 s, then puts the rest back on
//! their queues); the process then exits 0. The server and the worker share one
//! `jobs::shutdown_signal`, and the worker runs with `run_until`, so it leaves the process's
//! signals alone; a second Ctrl-C exits at once.
//!
//! `/livez` and `/readyz` are the worker's health probes, answered by the app's own router
//! from `Worker::health()` (no second port; see `docs/deploy.md`).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::{from_fn_with_state, Next};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::{Form, Router};
use jobs::backend::AdminBackend;
use jobs::prelude::*;
use jobs::retry::Backoff;
use jobs::schedule::{Schedule, Scheduler};

const DEMO_USER: &str = "admin";
/// A second demo user whose dashboard role may only look (no form, every action 403).
const VIEWER: &str = "viewer";
const DEMO_PASSWORD: &str = "jobs-demo";
const COOKIE: &str = "demo_session";

#[derive(Debug, thiserror::Error)]
enum AppError {
    #[error("payment gateway timed out")]
    GatewayTimeout,
    #[error("card declined for order {0}")]
    Declined(u64),
}

/// A tiny pseudo-random source for the demo (no extra dependency).
fn roll(n: u64) -> u64 {
    static SEED: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(7, |d| d.as_nanos() as u64);
    let x = SEED.fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed) ^ nanos;
    let x = (x ^ (x >> 33)).wrapping_mul(0xff51_afd7_ed55_8ccd);
    (x ^ (x >> 29)) % n.max(1)
}

/// Sends the welcome email to a new user. The address is personal data: the dashboard, its
/// API and the worker's logs show `[redacted]` in its place (the job still gets it).
#[jobs::job(queue = "mailers", redact = [email])]
async fn send_welcome_email(user_id: u64, email: String) -> Result<(), AppError> {
    tokio::time::sleep(Duration::from_millis(300 + roll(700))).await;
    tracing::info!(
        user_id,
        domain = email.rsplit('@').next(),
        "welcome email sent"
    );
    Ok(())
}

/// Sends a push notification to a device.
#[jobs::job(queue = "push")]
async fn send_push_notification(device: String, message: String) -> Result<(), AppError> {
    tokio::time::sleep(Duration::from_millis(100 + roll(300))).await;
    tracing::info!(%device, %message, "push sent");
    Ok(())
}

/// Charges an order through a flaky third-party API: it times out now and then (retried
/// 15 s later), and declines every seventh order (which dies after its retries).
#[jobs::job(queue = "critical", retry = 2, backoff = Backoff::Constant(Duration::from_secs(15)))]
async fn charge_payment(order_id: u64, amount_cents: u64) -> Result<(), AppError> {
    tokio::time::sleep(Duration::from_millis(200 + roll(800))).await;
    if order_id % 7 == 0 {
        return Err(AppError::Declined(order_id));
    }
    if roll(4) == 0 {
        return Err(AppError::GatewayTimeout);
    }
    tracing::info!(order_id, amount_cents, "payment captured");
    Ok(())
}

/// Renders an invoice PDF: slow, so the Busy page shows it running.
#[jobs::job(queue = "default")]
async fn generate_invoice_pdf(order_id: u64) -> Result<(), AppError> {
    tokio::time::sleep(Duration::from_secs(3 + roll(6))).await;
    tracing::info!(order_id, "invoice rendered");
    Ok(())
}

/// Updates the search index for a changed document.
#[jobs::job(queue = "search")]
async fn update_search_index(kind: String, id: u64) -> Result<(), AppError> {
    tokio::time::sleep(Duration::from_millis(150 + roll(400))).await;
    tracing::info!(%kind, id, "search index updated");
    Ok(())
}

/// Builds the nightly sales report (a recurring job: see `schedules`).
#[jobs::job(queue = "default")]
async fn nightly_sales_report(region: String) -> Result<(), AppError> {
    tokio::time::sleep(Duration::from_secs(2)).await;
    tracing::info!(%region, "sales report built");
    Ok(())
}

/// The recurring jobs: a nightly report at 02:00 Berlin time, and a full reindex every 10 min.
fn schedules(backend: Arc<dyn AdminBackend>) -> Result<Scheduler, jobs::schedule::ScheduleError> {
    let report = NightlySalesReport {
        region: "EU".into(),
    };
    let reindex = UpdateSearchIndex {
        kind: "all".into(),
        id: 0,
    };
    Scheduler::builder(backend)
        .schedule(
            Schedule::new("nightly-sales-report")
                .cron("0 2 * * *")
                .time_zone("Europe/Berlin")
                .perform(&report),
        )
        .schedule(
            Schedule::new("search-reindex")
                .every(Duration::from_secs(600))
                .perform(&reindex),
        )
        .build()
}

/// What the app's requests would enqueue, a few times a second.
async fn produce() -> Result<(), EnqueueError> {
    let mut n: u64 = 100;
    loop {
        n += 1;
        match roll(6) {
            0 => SendWelcomeEmail::perform_later(n, format!("user{n}@example.com"))
                .await
                .map(drop)?,
            1 => {
                let msg = "Your order shipped".to_string();
                let wait = Duration::from_secs(30 + roll(300));
                SendPushNotification::perform_in(wait, format!("device-{n}"), msg)
                    .await
                    .map(drop)?
            }
            2 => SendPushNotification::perform_later(format!("device-{n}"), "Hi!".into())
                .await
                .map(drop)?,
            3 => ChargePayment::perform_later(n, 1_000 + roll(90_000))
                .await
                .map(drop)?,
            4 => GenerateInvoicePdf::perform_later(n).await.map(drop)?,
            _ => UpdateSearchIndex::perform_later("product".into(), n)
                .await
                .map(drop)?,
        }
        tokio::time::sleep(Duration::from_millis(400 + roll(1200))).await;
    }
}

/// The app's sessions: random tokens of logged-in users, and who each is.
type Sessions = Arc<Mutex<HashMap<String, String>>>;

fn session_of(headers: &HeaderMap) -> Option<String> {
    let cookies = headers.get(header::COOKIE)?.to_str().ok()?;
    cookies.split(';').find_map(|c| {
        let (k, v) = c.trim().split_once('=')?;
        (k == COOKIE).then(|| v.to_owned())
    })
}

fn logged_in(sessions: &Sessions, headers: &HeaderMap) -> bool {
    let Some(token) = session_of(headers) else {
        return false;
    };
    sessions
        .lock()
        .map(|s| s.contains_key(&token))
        .unwrap_or(false)
}

/// The user of a request's session, if any.
fn user_of(sessions: &Sessions, headers: &HeaderMap) -> Option<String> {
    let token = session_of(headers)?;
    sessions.lock().ok()?.get(&token).cloned()
}

/// The app's own auth layer, in front of the dashboard.
async fn require_login(State(sessions): State<Sessions>, req: Request, next: Next) -> Response {
    if logged_in(&sessions, req.headers()) {
        next.run(req).await
    } else {
        Redirect::to("/login").into_response()
    }
}

const PAGE_HEAD: &str = "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>Acme shop</title></head>\
<body><h1>Acme shop</h1>";

async fn home(State(sessions): State<Sessions>, headers: HeaderMap) -> Html<String> {
    let body = if logged_in(&sessions, &headers) {
        "<p>You are logged in. <a href=\"/admin/jobs\">Open the jobs dashboard</a>.</p>\
         <form method=\"post\" action=\"/logout\"><button>Log out</button></form>"
    } else {
        "<p><a href=\"/login\">Log in</a> to see the jobs dashboard.</p>"
    };
    Html(format!("{PAGE_HEAD}{body}</body></html>"))
}

async fn login_form() -> Html<String> {
    Html(format!(
        "{PAGE_HEAD}<form method=\"post\" action=\"/login\">\
         <p><label>User <input name=\"user\" autocomplete=\"username\"></label></p>\
         <p><label>Password <input name=\"password\" type=\"password\" autocomplete=\"current-password\"></label></p>\
         <p><button type=\"submit\">Log in</button></p></form>\
         <p>Demo login: {DEMO_USER} / {DEMO_PASSWORD} (or {VIEWER} / {DEMO_PASSWORD}, read-only)</p></body></html>"
    ))
}

async fn login(
    State(sessions): State<Sessions>,
    Form(f): Form<HashMap<String, String>>,
) -> Response {
    let user = f.get("user").map(String::as_str).unwrap_or("");
    let ok = (user == DEMO_USER || user == VIEWER)
        && f.get("password").map(String::as_str) == Some(DEMO_PASSWORD);
    if !ok {
        return (
            StatusCode::UNAUTHORIZED,
            Html(format!(
                "{PAGE_HEAD}<p>Wrong login. <a href=\"/login\">Try again</a>.</p></body></html>"
            )),
        )
            .into_response();
    }
    let token = format!("{:032x}", rand::random::<u128>());
    if let Ok(mut s) = sessions.lock() {
        s.insert(token.clone(), user.to_owned());
    }
    let cookie = format!("{COOKIE}={token}; Path=/; HttpOnly; SameSite=Lax");
    ([(header::SET_COOKIE, cookie)], Redirect::to("/admin/jobs")).into_response()
}

async fn logout(State(sessions): State<Sessions>, headers: HeaderMap) -> Response {
    if let (Some(token), Ok(mut s)) = (session_of(&headers), sessions.lock()) {
        s.remove(&token);
    }
    let cookie = format!("{COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0");
    ([(header::SET_COOKIE, cookie)], Redirect::to("/")).into_response()
}

/// The worker's Kubernetes probes as routes of the app: `/livez` (200 while the process
/// answers) and `/readyz` (200 while the worker is connected to its store and not draining).
fn probes(health: jobs::worker::Health) -> Router {
    fn answer(probe: jobs::worker::Probe) -> (StatusCode, String) {
        let status = StatusCode::from_u16(probe.status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
        (status, probe.body)
    }
    let live = health.clone();
    Router::new()
        .route(
            "/livez",
            get(move || {
                let probe = live.livez();
                async move { answer(probe) }
            }),
        )
        .route(
            "/readyz",
            get(move || {
                let probe = health.readyz();
                async move { answer(probe) }
            }),
        )
}

async fn backend() -> Result<(String, Arc<dyn AdminBackend>), jobs::ConnectError> {
    if let Ok(url) = std::env::var(jobs::JOBS_URL) {
        let b = jobs_backends::connect(&url).await?;
        return Ok((url, b));
    }
    match jobs_backends::connect("sqlite://jobs.db").await {
        Ok(b) => Ok(("sqlite://jobs.db".into(), b)),
        Err(e) => {
            tracing::warn!(error = %e, "SQLite unavailable; using memory://");
            Ok((
                "memory://".into(),
                jobs_backends::connect("memory://").await?,
            ))
        }
    }
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    jobs_examples::exit_on_error(run().await)
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    jobs_examples::init_logging();
    let (url, backend) = backend().await?;
    jobs::set_default_client(Client::new(backend.clone()));
    let sessions: Sessions = Arc::default();

    // The recurring jobs, and the dashboard (nested behind the app's login), told which
    // schedules this app declares so it can mark records left by older versions.
    let scheduler = schedules(backend.clone());
    let declared: Vec<String> = match &scheduler {
        Ok(s) => s.schedules().iter().map(|s| s.name().to_owned()).collect(),
        Err(_) => Vec::new(),
    };
    let mut worker = Worker::builder(backend.clone());
    match scheduler {
        Ok(s) => worker = worker.scheduler(s),
        Err(e) => tracing::warn!(error = %e, "no recurring jobs on this backend"),
    }
    let worker = worker
        .queues(["critical", "mailers", "push", "default", "search"])
        .concurrency(4)
        .poll_interval(Duration::from_millis(500))
        .tag("web_app")
        .shutdown_timeout(Duration::from_secs(5))
        .build()?;
    let health = worker.health();

    // Roles: the admin may do everything, the viewer only look; the audit (the dashboard's
    // Actions page and the log) names who acted.
    let (roles, names) = (sessions.clone(), sessions.clone());
    let dashboard = jobs_web::Dashboard::new(backend.clone())
        .declared_schedules(declared)
        .authorize(
            move |parts| match user_of(&roles, &parts.headers).as_deref() {
                Some(DEMO_USER) => jobs_web::Access::full(),
                Some(_) => jobs_web::Access::read_only(),
                None => jobs_web::Access::none(),
            },
        )
        .identify(move |parts| user_of(&names, &parts.headers))
        .router();
    let app = Router::new()
        .route("/", get(home))
        .route("/login", get(login_form).post(login))
        .route("/logout", axum::routing::post(logout))
        .route(
            "/admin/jobs/",
            get(|| async { Redirect::permanent("/admin/jobs") }),
        )
        .with_state(sessions.clone())
        .nest(
            "/admin/jobs",
            dashboard.layer(from_fn_with_state(sessions, require_login)),
        )
        .merge(probes(health));

    let worker = tokio::spawn(worker.run_until(jobs::shutdown_signal()));
    let producer = tokio::spawn(async {
        if let Err(e) = produce().await {
            tracing::error!(error = %e, "demo producer stopped");
        }
    });

    let port: u16 = std::env::var("PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(3000);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    let addr = listener.local_addr()?;
    println!("Acme shop at http://{addr}/ (dashboard: http://{addr}/admin/jobs)");
    println!(
        "demo login: {DEMO_USER} / {DEMO_PASSWORD}; backend: {}",
        jobs::redact_url(&url)
    );
    axum::serve(listener, app)
        .with_graceful_shutdown(jobs::shutdown_signal())
        .await?;
    producer.abort();
    worker.await??;
    println!("stopped");
    Ok(())
}
