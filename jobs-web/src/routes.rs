//! The dashboard's route table: every path with its handler, built through [`Routes`],
//! which registers reads as GET and actions as POST and lists the paths of each, so
//! [`crate::Dashboard::action_routes`] and [`crate::Dashboard::read_routes`] (and the tests
//! that walk them) cannot miss one.

use axum::handler::Handler;
use axum::routing::{get, post};
use axum::Router;

use crate::{api, assets, pages, AppState};

/// A router being built, and the paths of it that take POST.
pub(crate) struct Routes {
    router: Router<AppState>,
    gets: Vec<&'static str>,
    posts: Vec<&'static str>,
}

impl Routes {
    /// No routes yet.
    pub(crate) fn new() -> Routes {
        Routes {
            router: Router::new(),
            gets: Vec::new(),
            posts: Vec::new(),
        }
    }

    /// `path` answers GET (and HEAD) with `handler`, which changes nothing.
    pub(crate) fn read<H, T>(mut self, path: &'static str, handler: H) -> Routes
    where
        H: Handler<T, AppState>,
        T: 'static,
    {
        self.router = self.router.route(path, get(handler));
        self.gets.push(path);
        self
    }

    /// `path` answers POST with `handler`, a state-changing action: it must get a permit
    /// for its operation before it changes anything (see `permit`).
    pub(crate) fn act<H, T>(mut self, path: &'static str, handler: H) -> Routes
    where
        H: Handler<T, AppState>,
        T: 'static,
    {
        self.router = self.router.route(path, post(handler));
        self.posts.push(path);
        self
    }

    /// Changes the router built so far (a fallback of its own), keeping the paths.
    pub(crate) fn map(mut self, f: impl FnOnce(Router<AppState>) -> Router<AppState>) -> Routes {
        self.router = f(self.router);
        self
    }

    /// Adds the routes of `other`.
    pub(crate) fn merge(mut self, other: Routes) -> Routes {
        self.router = self.router.merge(other.router);
        self.gets.extend(other.gets);
        self.posts.extend(other.posts);
        self
    }

    /// The paths that answer GET.
    pub(crate) fn reads(&self) -> Vec<&'static str> {
        self.gets.clone()
    }

    /// The router, and the paths of it that take POST.
    pub(crate) fn into_parts(self) -> (Router<AppState>, Vec<&'static str>) {
        (self.router, self.posts)
    }
}

/// Every route of the dashboard: the pages, the assets and the API.
pub(crate) fn all() -> Routes {
    use pages::*;
    Routes::new()
        .read("/", dashboard::page)
        .read("/busy", busy::page)
        .act("/busy/signal", busy::signal)
        .read("/cancel", cancel::confirm)
        .act("/cancel", cancel::act)
        .read("/queues", queues::list)
        .read("/queues/{name}", queues::browse)
        .read("/queues/{name}/clear", queues::confirm_clear)
        .act("/queues/{name}/clear", queues::clear)
        .act("/queues/{name}/pause", queues::pause)
        .act("/queues/{name}/delete", queues::delete)
        .read("/limits", limits::list)
        .read("/limits/waiting", limits::waiting)
        .read("/limits/waiting/confirm", limits::confirm)
        .act("/limits/waiting/delete", limits::delete)
        .read("/locks", locks::list)
        .read("/locks/holder", locks::holder)
        .read("/locks/{key}/release", locks::confirm)
        .act("/locks/{key}/release", locks::release)
        .read("/recurring", recurring::list)
        .act("/recurring/{name}/{action}", recurring::act)
        .read("/metrics.txt", crate::scrape::scrape)
        .read("/metrics", metrics::page)
        .read("/metrics/{class}", job_metrics::page)
        .read("/actions", actions::list)
        .read("/jobs/{jid}", job_status::page)
        .read("/{set}", sets::list)
        .read("/{set}/confirm", sets::confirm)
        .act("/{set}/action", sets::act)
        .read("/{set}/{jid}", sets::detail)
        .read("/assets/{file}", assets::serve)
        .merge(api::routes())
}
