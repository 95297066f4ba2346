//! `jobs-web`: the dashboard of `jobs`, an axum [`Router`] over [`AdminBackend`] only.
//!
//! 1. [`Dashboard`] builds the router: HTML pages, a JSON API under `api/`, and embedded
//!    assets, all addressed relative to wherever the host app nests it (and to
//!    `X-Forwarded-Prefix` when a proxy strips a prefix).
//! 2. [`guard`] runs on every request: the authorization hook ([`Access`], a set of
//!    [`Action`]s), read-only mode, the cross-site check on POST, and the security headers
//!    (a strict CSP, no framing).
//! 3. Pages live in `pages`, the API in `api`; both load through `data`, the one place
//!    that calls [`AdminBackend`] and reads the clock ([`Dashboard::clock`]). A handler
//!    that changes state first gets a permit for its operation (`permit`: the one table of
//!    which action each operation needs, 403 when it is not granted); the `data` method
//!    spends it and gives an [`AuditEvent`] to the [`Dashboard::on_action`] hook (and to
//!    `recent`, the in-memory list behind the Recent actions page). Every job `data` loads
//!    passes through `redact` first, so no page or API answer shows arguments the job
//!    declares secret, or any under [`Dashboard::hide_args`] unless revealed.
//! 4. Errors ([`WebError`]) are plain text on pages; under `api/` every answer is JSON,
//!    errors included: `{"error": {"code": "bad_request", "message": "days must be …"}}`,
//!    with the stable codes of [`ErrorCode`].
//!
//! # Features
//!
//! - `standalone` (default): the `jobs-web` binary and the `standalone` module it uses.
//!   The binary connects to any backend by URL, so this feature compiles every backend of
//!   `jobs-backends` (and sqlx and redis with them). An app that only nests the router turns
//!   it off: `jobs-web = { version = "…", default-features = false }`.
//!
//! ```
//! use std::sync::Arc;
//! use jobs::backend::AdminBackend;
//! let backend: Arc<dyn AdminBackend> = Arc::new(jobs::memory::MemoryBackend::new());
//! let app: axum::Router = axum::Router::new()
//!     .nest("/admin/jobs", jobs_web::Dashboard::new(backend).router());
//! # let _ = app;
//! ```
#![warn(missing_docs)]

mod access;
mod api;
mod assets;
mod data;
mod error;
mod error_page;
mod fmt;
pub mod guard;
mod job_status;
mod layout;
mod mount;
mod pages;
mod params;
mod permit;
mod recent;
mod redact;
mod routes;
mod scrape;
#[cfg(feature = "standalone")]
pub mod standalone;

use std::sync::Arc;

use axum::http::request::Parts;
use axum::Router;
use jobs::backend::AdminBackend;
use jobs::clock::{Clock, SystemClock};

pub use access::{Access, Action};
pub use error::{ErrorCode, WebError};
pub use mount::Ctx;
pub use pages::recurring::{cron_words, schedule_timing, ScheduleTiming};
pub use permit::AuditEvent;

/// The per-request authorization hook: given the request's parts, what it may do.
pub type AuthorizeFn = Arc<dyn Fn(&Parts) -> Access + Send + Sync>;

/// The per-request identify hook: given the request's parts, who makes it (for the audit).
pub type IdentifyFn = Arc<dyn Fn(&Parts) -> Option<String> + Send + Sync>;

/// Everything a handler needs: the backend, the clock and the options. Handlers reach the
/// backend and the time only through its methods (in `data`).
#[derive(Clone)]
pub(crate) struct AppState {
    /// The backend, seen only through its admin side.
    pub(crate) backend: Arc<dyn AdminBackend>,
    /// Where handlers read the current time.
    pub(crate) clock: Arc<dyn Clock>,
    /// When set, every action is refused with 403.
    pub(crate) read_only: bool,
    /// Decides per request which actions are allowed.
    pub(crate) authorize: Option<AuthorizeFn>,
    /// Names the user of a request.
    pub(crate) identify: Option<IdentifyFn>,
    /// Given what every state-changing request did.
    pub(crate) on_action: permit::OnActionFn,
    /// The last actions, for the Recent actions page.
    pub(crate) recent: Arc<recent::Recent>,
    /// Whether `X-Forwarded-Host` is trusted by the cross-site check.
    pub(crate) behind_proxy: bool,
    /// The names of the schedules the app declares, when it said (the Recurring page marks
    /// the others as orphaned).
    pub(crate) declared: Option<Arc<std::collections::BTreeSet<String>>>,
    /// Renders the app's metrics for `GET metrics.txt`, when the app asked for it.
    pub(crate) metrics_text: Option<scrape::RenderFn>,
    /// Whether every job argument is hidden unless revealed (see `redact`).
    pub(crate) hide_args: bool,
}

/// Builds the dashboard's [`Router`], to nest under any path of a host app.
///
/// ```
/// use std::sync::Arc;
/// use jobs::backend::AdminBackend;
/// use jobs_web::{Access, Action, Dashboard};
/// let backend: Arc<dyn AdminBackend> = Arc::new(jobs::memory::MemoryBackend::new());
/// let dashboard = Dashboard::new(backend)
///     .authorize(|parts| match parts.headers.get("x-role").and_then(|v| v.to_str().ok()) {
///         Some("admin") => Access::full(),
///         Some("support") => Access::only([Action::Retry, Action::Pause]),
///         Some("viewer") => Access::read_only(),
///         _ => Access::none(),
///     })
///     .identify(|parts| {
///         let user = parts.headers.get("x-user")?.to_str().ok()?;
///         Some(user.to_owned())
///     })
///     .on_action(|event| event.log())
///     .router();
/// let app: axum::Router = axum::Router::new().nest("/admin/jobs", dashboard);
/// # let _ = app;
/// ```
pub struct Dashboard {
    state: AppState,
}

impl Dashboard {
    /// A dashboard over `backend`, allowing everything the host app lets through.
    pub fn new(backend: Arc<dyn AdminBackend>) -> Self {
        Dashboard {
            state: AppState {
                backend,
                clock: Arc::new(SystemClock),
                read_only: false,
                authorize: None,
                identify: None,
                on_action: Arc::new(AuditEvent::log),
                recent: Arc::default(),
                behind_proxy: false,
                declared: None,
                metrics_text: None,
                hide_args: false,
            },
        }
    }

    /// Refuse every action with 403 (pages and the read API stay available).
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # let backend: Arc<dyn jobs::backend::AdminBackend> = Arc::new(jobs::memory::MemoryBackend::new());
    /// let router = jobs_web::Dashboard::new(backend).read_only(true).router();
    /// # let _: axum::Router = router;
    /// ```
    pub fn read_only(mut self, on: bool) -> Self {
        self.state.read_only = on;
        self
    }

    /// Read the current time from `clock` (default: [`SystemClock`]), as the worker does:
    /// relative times ("in 5m 00s", "2h 00m ago"), latencies, the days of the history and
    /// the `now` of actions all come from it, so a page can be tested at a fixed instant.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # let backend: Arc<dyn jobs::backend::AdminBackend> = Arc::new(jobs::memory::MemoryBackend::new());
    /// use jobs::clock::ManualClock;
    /// let clock = Arc::new(ManualClock::new("2026-03-10T12:00:00Z".parse().unwrap()));
    /// let router = jobs_web::Dashboard::new(backend).clock(clock).router();
    /// # let _: axum::Router = router;
    /// ```
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.state.clock = clock;
        self
    }

    /// Decide per request which [`Action`]s are allowed (see [`Access`]; default: all).
    /// A request without [`Action::View`] is refused; a state-changing request whose action
    /// is not granted is refused with 403 and changes nothing; pages hide the buttons of the
    /// actions not granted.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # let backend: Arc<dyn jobs::backend::AdminBackend> = Arc::new(jobs::memory::MemoryBackend::new());
    /// use jobs_web::{Access, Action};
    /// let router = jobs_web::Dashboard::new(backend)
    ///     .authorize(|parts| {
    ///         if parts.headers.contains_key("x-oncall") {
    ///             Access::full().without(Action::Delete)
    ///         } else {
    ///             Access::read_only()
    ///         }
    ///     })
    ///     .router();
    /// # let _: axum::Router = router;
    /// ```
    pub fn authorize(mut self, f: impl Fn(&Parts) -> Access + Send + Sync + 'static) -> Self {
        self.state.authorize = Some(Arc::new(f));
        self
    }

    /// Name the user of each request (a session, a header set by the app's auth layer), for
    /// the [`AuditEvent`]s given to [`Dashboard::on_action`]. Without it, events name no one.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # let backend: Arc<dyn jobs::backend::AdminBackend> = Arc::new(jobs::memory::MemoryBackend::new());
    /// let router = jobs_web::Dashboard::new(backend)
    ///     .identify(|parts| Some(parts.headers.get("x-user")?.to_str().ok()?.to_owned()))
    ///     .router();
    /// # let _: axum::Router = router;
    /// ```
    pub fn identify(
        mut self,
        f: impl Fn(&Parts) -> Option<String> + Send + Sync + 'static,
    ) -> Self {
        self.state.identify = Some(Arc::new(f));
        self
    }

    /// Give every state-changing request that succeeded to `f`, as an [`AuditEvent`] (who,
    /// which action, on what, how many affected). The default logs it with
    /// `tracing::info!` ([`AuditEvent::log`]); a refused request gives nothing.
    ///
    /// ```
    /// # use std::sync::{Arc, Mutex};
    /// # let backend: Arc<dyn jobs::backend::AdminBackend> = Arc::new(jobs::memory::MemoryBackend::new());
    /// let seen: Arc<Mutex<Vec<jobs_web::AuditEvent>>> = Arc::default();
    /// let keep = seen.clone();
    /// let router = jobs_web::Dashboard::new(backend)
    ///     .on_action(move |e| {
    ///         e.log();
    ///         if let Ok(mut seen) = keep.lock() {
    ///             seen.push(e.clone());
    ///         }
    ///     })
    ///     .router();
    /// # let _: axum::Router = router;
    /// ```
    pub fn on_action(mut self, f: impl Fn(&AuditEvent) + Send + Sync + 'static) -> Self {
        self.state.on_action = Arc::new(f);
        self
    }

    /// Say the dashboard is behind a reverse proxy that sets `X-Forwarded-Host` (default:
    /// not). Only then does the cross-site check compare a POST's `Origin` with that header
    /// instead of `Host`; without a proxy, anyone could send it (see [`guard::cross_site`]).
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # let backend: Arc<dyn jobs::backend::AdminBackend> = Arc::new(jobs::memory::MemoryBackend::new());
    /// let router = jobs_web::Dashboard::new(backend).behind_proxy(true).router();
    /// # let _: axum::Router = router;
    /// ```
    pub fn behind_proxy(mut self, on: bool) -> Self {
        self.state.behind_proxy = on;
        self
    }

    /// Tells the dashboard which recurring schedules the app declares (its scheduler's), so
    /// the Recurring page marks a record no schedule declares any more as orphaned: it never
    /// fires, and its Remove action deletes it. Without this the dashboard cannot tell (a
    /// standalone dashboard runs none of the app's code) and marks nothing.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # let backend: Arc<dyn jobs::backend::AdminBackend> = Arc::new(jobs::memory::MemoryBackend::new());
    /// // With a scheduler at hand:
    /// // scheduler.schedules().iter().map(|s| s.name().to_owned())
    /// let names = ["nightly".to_owned(), "hourly-sync".to_owned()];
    /// let router = jobs_web::Dashboard::new(backend).declared_schedules(names).router();
    /// # let _: axum::Router = router;
    /// ```
    pub fn declared_schedules(mut self, names: impl IntoIterator<Item = String>) -> Self {
        self.state.declared = Some(Arc::new(names.into_iter().collect()));
        self
    }

    /// Hide every job argument on every page and API answer (default: show them), for
    /// stores whose arguments are personal data or secrets the dashboard cannot know of. The
    /// page of a scheduled, retry or dead job offers "Reveal arguments" (`?reveal=1`, also on
    /// `GET api/{set}/{id}`) to a role granted [`Action::RevealArgs`]; any other role gets
    /// the hidden view. Lists (queues, sets, Busy, Recurring, Limits) stay hidden.
    ///
    /// Independently, arguments a job declares secret with `#[job(redact = [..])]` are
    /// always shown as `"[redacted]"`, even on reveal: they are secrets, not noise. The
    /// dashboard learns them from the `#[job]`s of the program it runs in, so that works
    /// only when it is mounted in the app that declares the jobs; the standalone binary
    /// runs none of the app's code, so use `hide_args(true)` (`--hide-args`) there.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # let backend: Arc<dyn jobs::backend::AdminBackend> = Arc::new(jobs::memory::MemoryBackend::new());
    /// use jobs_web::{Access, Action};
    /// let router = jobs_web::Dashboard::new(backend)
    ///     .hide_args(true)
    ///     .authorize(|parts| {
    ///         if parts.headers.contains_key("x-support-lead") {
    ///             Access::only([Action::Retry, Action::RevealArgs])
    ///         } else {
    ///             Access::only([Action::Retry])
    ///         }
    ///     })
    ///     .router();
    /// # let _: axum::Router = router;
    /// ```
    pub fn hide_args(mut self, on: bool) -> Self {
        self.state.hide_args = on;
        self
    }

    /// Serves the app's Prometheus metrics at `GET metrics.txt` under the dashboard's
    /// mount point (`/metrics` is the dashboard's own per-job metrics page), answering with
    /// what `render` gives. The request passes the dashboard's guard like any page: the
    /// [`authorize`](Self::authorize) hook must grant it [`Action::View`], so a scraper
    /// authenticates as a (read-only) role of its own. Without this the path is a 404.
    ///
    /// With `jobs`' `prometheus` feature, render from the handle
    /// `jobs::telemetry::prometheus::install()` gave; any other exporter's text works too.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # let backend: Arc<dyn jobs::backend::AdminBackend> = Arc::new(jobs::memory::MemoryBackend::new());
    /// use jobs_web::{Access, Dashboard};
    /// let render = || String::from("jobs_busy 0\n"); // say, `move || handle.render()`
    /// let router = Dashboard::new(backend)
    ///     .metrics_endpoint(render)
    ///     .authorize(|parts| match parts.headers.get("authorization") {
    ///         Some(v) if v == "Bearer scraper-token" => Access::read_only(),
    ///         _ => Access::none(),
    ///     })
    ///     .router();
    /// # let _: axum::Router = router;
    /// ```
    pub fn metrics_endpoint(mut self, render: impl Fn() -> String + Send + Sync + 'static) -> Self {
        self.state.metrics_text = Some(Arc::new(render));
        self
    }

    /// The router: pages, `api/…` and `assets/…`, with the guard around all of them.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # let backend: Arc<dyn jobs::backend::AdminBackend> = Arc::new(jobs::memory::MemoryBackend::new());
    /// let app: axum::Router = axum::Router::new()
    ///     .nest("/admin/jobs", jobs_web::Dashboard::new(backend).router());
    /// # let _ = app;
    /// ```
    pub fn router(self) -> Router {
        let state = self.state;
        let (routes, _) = routes::all().into_parts();
        routes
            .fallback(error::not_found)
            .layer(axum::middleware::from_fn_with_state(
                state.clone(),
                guard::guard,
            ))
            .with_state(state)
    }

    /// The paths, relative to the mount point, that take POST: the state-changing routes of
    /// the pages and the API. Each needs one [`Action`] (see its variants) and answers 403
    /// without it; everything else is GET and changes nothing.
    ///
    /// ```
    /// let posts = jobs_web::Dashboard::action_routes();
    /// assert!(posts.contains(&"/queues/{name}/pause"));
    /// assert!(posts.contains(&"/api/{set}/{id}"));
    /// assert!(!posts.contains(&"/queues"));
    /// ```
    pub fn action_routes() -> Vec<&'static str> {
        routes::all().into_parts().1
    }

    /// The paths, relative to the mount point, that answer GET: the pages, the read API
    /// and the assets. None changes anything; each needs [`Action::View`].
    ///
    /// ```
    /// let reads = jobs_web::Dashboard::read_routes();
    /// assert!(reads.contains(&"/queues/{name}"));
    /// assert!(reads.contains(&"/api/{set}/{id}"));
    /// assert!(!reads.contains(&"/busy/signal"));
    /// ```
    pub fn read_routes() -> Vec<&'static str> {
        routes::all().reads()
    }
}
