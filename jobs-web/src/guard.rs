//! The guard around every request of the dashboard.
//!
//! 1. Asks the authorization hook what the request may do ([`crate::Access`]); without
//!    [`crate::Action::View`] → 403.
//! 2. A request that is not GET or HEAD must pass the cross-site check (see
//!    [`cross_site`]) and may act at all (not read-only, the hook grants some action), else
//!    403 and the handler never runs, so nothing changes. Refusals under `api/` are JSON
//!    errors with the codes `forbidden`, `cross_site` and `read_only`. Which action a
//!    request needs is checked by its handler, through a permit (see `permit`).
//! 3. Works out the mount point, the access and the user ([`crate::Ctx`]) for the handler.
//! 4. Turns a page's error ([`WebError`] in the answer's extensions) into an HTML page in
//!    the layout with a way back (`error_page.rs`); the API's stay JSON.
//! 5. Adds the security headers to every answer: a strict Content-Security-Policy with no
//!    inline scripts or styles, no framing, no sniffing, no referrer to other sites, and
//!    `no-store` on everything but the hashed assets.

use axum::extract::{Request, State};
use axum::http::header::{self, HeaderMap, HeaderValue};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;

use crate::error::{self, ErrorCode};
use crate::{error_page, mount, Access, Action, AppState, Ctx, WebError};

/// The Content-Security-Policy every answer carries.
pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; \
form-action 'self'; frame-ancestors 'none'";

/// The middleware: see the module docs.
pub(crate) async fn guard(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let (parts, body) = req.into_parts();
    let mut access = match &state.authorize {
        Some(hook) => hook(&parts),
        None => Access::full(),
    };
    if state.read_only {
        access = if access.allows(Action::View) {
            access.reads()
        } else {
            Access::none()
        };
    }
    let safe = parts.method == Method::GET || parts.method == Method::HEAD;
    let refusal = if !access.allows(Action::View) {
        Some((ErrorCode::Forbidden, "you may not view the jobs dashboard"))
    } else if !safe && cross_site(&parts.headers, state.behind_proxy) {
        Some((ErrorCode::CrossSite, "cross-site request refused"))
    } else if !safe && state.read_only {
        Some((ErrorCode::ReadOnly, "the dashboard is read-only"))
    } else if !safe && !access.can_act() {
        Some((
            ErrorCode::Forbidden,
            "you may not take actions on the dashboard",
        ))
    } else {
        None
    };
    let path = parts.uri.path().to_owned();
    // Pages answer errors in the layout, once the request may see the dashboard at all.
    let ctx = access.allows(Action::View).then(|| Ctx {
        base: mount::base_of(&parts),
        access,
        user: state.identify.as_ref().and_then(|hook| hook(&parts)),
        read_only: state.read_only,
    });
    let mut resp = match (refusal, &ctx) {
        (Some((code, why)), _) => error::answer(&path, WebError::new(code, why)),
        (None, None) => error::answer(&path, WebError::forbidden("you may not view")),
        (None, Some(ctx)) => {
            let mut req = Request::from_parts(parts, body);
            req.extensions_mut().insert(ctx.clone());
            next.run(req).await
        }
    };
    if let (Some(ctx), false) = (&ctx, error::is_api(&path)) {
        if let Some(e) = resp.extensions_mut().remove::<WebError>() {
            resp = error_page::render(ctx, &path, &e);
        }
    }
    secure_headers(resp.headers_mut());
    resp
}

/// Whether a state-changing request comes from another site.
///
/// Refused when `Sec-Fetch-Site` is present and neither `same-origin` nor `none`, or when
/// `Origin` is present and its host does not match the request's host: `Host`, or, only
/// when `behind_proxy` (see [`crate::Dashboard::behind_proxy`]), the first host of
/// `X-Forwarded-Host`. Without a proxy that header is whatever the client sent, so it is
/// ignored.
///
/// ```
/// use axum::http::HeaderMap;
/// use jobs_web::guard::cross_site;
/// let mut h = HeaderMap::new();
/// h.insert("host", "app.example".parse().unwrap());
/// h.insert("origin", "https://evil.example".parse().unwrap());
/// assert!(cross_site(&h, false));
/// h.insert("origin", "https://app.example".parse().unwrap());
/// assert!(!cross_site(&h, false));
///
/// // A proxy forwards to an internal host and says which host the browser used.
/// let mut h = HeaderMap::new();
/// h.insert("host", "10.0.0.5:8080".parse().unwrap());
/// h.insert("x-forwarded-host", "app.example".parse().unwrap());
/// h.insert("origin", "https://app.example".parse().unwrap());
/// assert!(!cross_site(&h, true));
/// // Without a proxy, the header proves nothing: anyone can send it.
/// assert!(cross_site(&h, false));
/// ```
pub fn cross_site(headers: &HeaderMap, behind_proxy: bool) -> bool {
    if let Some(site) = headers.get("sec-fetch-site") {
        let ok = matches!(site.to_str(), Ok("same-origin") | Ok("none"));
        if !ok {
            return true;
        }
    }
    if let Some(origin) = headers.get(header::ORIGIN) {
        let forwarded = behind_proxy
            .then(|| headers.get("x-forwarded-host"))
            .flatten()
            .and_then(|h| h.to_str().ok())
            .and_then(|h| h.split(',').next())
            .map(str::trim);
        let host = forwarded.or_else(|| {
            headers
                .get(header::HOST)
                .and_then(|h| h.to_str().ok())
                .map(str::trim)
        });
        let origin_host = origin
            .to_str()
            .ok()
            .and_then(|o| o.split_once("://"))
            .map(|(_, rest)| rest.trim_end_matches('/'));
        return match (origin_host, host) {
            (Some(o), Some(h)) => !o.eq_ignore_ascii_case(h),
            _ => true,
        };
    }
    false
}

fn secure_headers(h: &mut HeaderMap) {
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
}
