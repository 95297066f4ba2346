//! `jobs-web`: the dashboard of `jobs`, an axum [`Router`] over [`AdminBackend`] only.
//!
//! 1. [`Dashboard`] builds the router: HTML pages, a JSON API under `api/`, and embedded
//!    assets, all addressed relative to wherever the host app nests it (and to
//!    `X-Forwarded-Prefix` when a proxy strips a prefix).
//! 2. [`guard`] runs on every request: the authorization hook, read-only mode, the
//!    cross-site check on POST, and the security headers (a strict CSP, no framing).
//! 3. Pages live in `pages`, the API in `api`; both load through `data`, the one place
//!    that calls [`AdminBackend`] and reads the clock ([`Dashboard::clock`]).
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

mod api;
mod assets;
mod data;
mod error;
mod fmt;
pub mod guard;
mod layout;
mod mount;
mod pages;
mod params;
#[cfg(feature = "standalone")]
pub mod standalone;

use std::sync::Arc;

use axum::http::request::Parts;
use axum::routing::{get, post};
use axum::Router;
use jobs::backend::AdminBackend;
use jobs::clock::{Clock, SystemClock};

pub use error::{ErrorCode, WebError};
pub use mount::Ctx;
pub use pages::recurring::{cron_words, schedule_timing, ScheduleTiming};

/// What one request may do, as decided by the [`Dashboard::authorize`] hook.
///
/// ```
/// use jobs_web::Access;
/// assert!(Access::VIEW.view && !Access::VIEW.act);
/// assert_eq!(Access::FULL, Access { view: true, act: true });
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Access {
    /// Whether the pages and the read side of the API may be seen.
    pub view: bool,
    /// Whether actions (POST) may be taken.
    pub act: bool,
}

impl Access {
    /// Viewing and acting.
    pub const FULL: Access = Access {
        view: true,
        act: true,
    };
    /// Viewing only.
    pub const VIEW: Access = Access {
        view: true,
        act: false,
    };
    /// Nothing.
    pub const NONE: Access = Access {
        view: false,
        act: false,
    };
}

/// The per-request authorization hook: given the request's parts, what it may do.
pub type AuthorizeFn = Arc<dyn Fn(&Parts) -> Access + Send + Sync>;

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
    /// Decides per request whether viewing and acting are allowed.
    pub(crate) authorize: Option<AuthorizeFn>,
}

/// Builds the dashboard's [`Router`], to nest under any path of a host app.
///
/// ```
/// use std::sync::Arc;
/// use jobs::backend::AdminBackend;
/// use jobs_web::{Access, Dashboard};
/// let backend: Arc<dyn AdminBackend> = Arc::new(jobs::memory::MemoryBackend::new());
/// let dashboard = Dashboard::new(backend)
///     .authorize(|parts| match parts.headers.get("x-role").and_then(|v| v.to_str().ok()) {
///         Some("admin") => Access::FULL,
///         Some("support") => Access::VIEW,
///         _ => Access::NONE,
///     })
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

    /// Decide per request whether viewing and acting are allowed (see [`Access`]).
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # let backend: Arc<dyn jobs::backend::AdminBackend> = Arc::new(jobs::memory::MemoryBackend::new());
    /// let router = jobs_web::Dashboard::new(backend)
    ///     .authorize(|_parts| jobs_web::Access::VIEW)
    ///     .router();
    /// # let _: axum::Router = router;
    /// ```
    pub fn authorize(mut self, f: impl Fn(&Parts) -> Access + Send + Sync + 'static) -> Self {
        self.state.authorize = Some(Arc::new(f));
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
        Router::new()
            .route("/", get(pages::dashboard::page))
            .route("/busy", get(pages::busy::page))
            .route("/busy/signal", post(pages::busy::signal))
            .route("/queues", get(pages::queues::list))
            .route("/queues/{name}", get(pages::queues::browse))
            .route(
                "/queues/{name}/clear",
                get(pages::queues::confirm_clear).post(pages::queues::clear),
            )
            .route("/queues/{name}/pause", post(pages::queues::pause))
            .route("/queues/{name}/delete", post(pages::queues::delete))
            .route("/limits", get(pages::limits::list))
            .route("/limits/waiting", get(pages::limits::waiting))
            .route("/limits/waiting/confirm", get(pages::limits::confirm))
            .route("/limits/waiting/delete", post(pages::limits::delete))
            .route("/locks", get(pages::locks::list))
            .route("/locks/holder", get(pages::locks::holder))
            .route(
                "/locks/{key}/release",
                get(pages::locks::confirm).post(pages::locks::release),
            )
            .route("/recurring", get(pages::recurring::list))
            .route("/recurring/{name}/{action}", post(pages::recurring::act))
            .route("/metrics", get(pages::metrics::page))
            .route("/{set}", get(pages::sets::list))
            .route("/{set}/confirm", get(pages::sets::confirm))
            .route("/{set}/action", post(pages::sets::act))
            .route("/{set}/{jid}", get(pages::sets::detail))
            .route("/assets/{file}", get(assets::serve))
            .merge(api::routes())
            .fallback(error::not_found)
            .layer(axum::middleware::from_fn_with_state(
                state.clone(),
                guard::guard,
            ))
            .with_state(state)
    }
}
