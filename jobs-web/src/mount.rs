//! Where the dashboard is mounted, so every link, form and asset URL follows it.
//!
//! 1. The nest prefix is what the host app's router stripped: the original path minus the
//!    path the dashboard's router sees.
//! 2. A reverse proxy that strips a prefix says so in `X-Forwarded-Prefix`; it is put in
//!    front, after checking it is a plain path (so it can never point elsewhere).

use axum::http::request::Parts;

use crate::permit::{Op, Permit};
use crate::{Access, Action, WebError};

/// Per-request facts the guard works out for the pages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ctx {
    /// The URL path of the dashboard's root, without a trailing slash (`""` at the root).
    pub base: String,
    /// What this request may do: the authorization hook's answer, with every action taken
    /// away when the dashboard is read-only. Pages show only the buttons it allows.
    pub access: Access,
    /// Who makes the request, as the identify hook says (for the audit record).
    pub user: Option<String>,
    /// Whether the dashboard runs read-only.
    pub read_only: bool,
}

impl Ctx {
    /// Whether this request may take `action` (and so sees its buttons).
    ///
    /// ```
    /// use jobs_web::{Access, Action, Ctx};
    /// let ctx = Ctx { base: String::new(), access: Access::only([Action::Retry]), user: None, read_only: false };
    /// assert!(ctx.can(Action::Retry) && !ctx.can(Action::Delete));
    /// ```
    pub fn can(&self, action: Action) -> bool {
        self.access.allows(action)
    }

    /// Whether this request may take any action at all.
    ///
    /// ```
    /// use jobs_web::{Access, Ctx};
    /// let ctx = Ctx { base: String::new(), access: Access::read_only(), user: None, read_only: false };
    /// assert!(!ctx.can_act());
    /// ```
    pub fn can_act(&self) -> bool {
        self.access.can_act()
    }

    /// A permit for `op` when the request may take its action; else 403 `forbidden`.
    pub(crate) fn permit(&self, op: Op) -> Result<Permit, WebError> {
        Permit::check(self, op)
    }

    /// The URL of `path` (which starts with `/`) under the mount point.
    ///
    /// ```
    /// let access = jobs_web::Access::full();
    /// let ctx = jobs_web::Ctx { base: "/admin/jobs".into(), access, user: None, read_only: false };
    /// assert_eq!(ctx.url("/queues"), "/admin/jobs/queues");
    /// ```
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// The URL of the dashboard's home page.
    ///
    /// ```
    /// let access = jobs_web::Access::full();
    /// let ctx = jobs_web::Ctx { base: String::new(), access, user: None, read_only: false };
    /// assert_eq!(ctx.home(), "/");
    /// ```
    pub fn home(&self) -> String {
        if self.base.is_empty() {
            "/".to_owned()
        } else {
            self.base.clone()
        }
    }
}

/// The mount point of the request: forwarded prefix plus nest prefix.
pub(crate) fn base_of(parts: &Parts) -> String {
    let inner = parts.uri.path();
    let original = parts
        .extensions
        .get::<axum::extract::OriginalUri>()
        .map(|o| o.0.path().to_owned())
        .unwrap_or_else(|| inner.to_owned());
    let nested = nest_prefix(&original, inner);
    let forwarded = parts
        .headers
        .get("x-forwarded-prefix")
        .and_then(|v| v.to_str().ok())
        .and_then(clean_prefix)
        .unwrap_or_default();
    format!("{forwarded}{nested}")
}

fn nest_prefix(original: &str, inner: &str) -> String {
    let prefix = if inner == "/" {
        original.trim_end_matches('/')
    } else {
        original.strip_suffix(inner).unwrap_or("")
    };
    prefix.trim_end_matches('/').to_owned()
}

/// A forwarded prefix is kept only when it is a plain absolute path.
fn clean_prefix(raw: &str) -> Option<String> {
    let p = raw.trim().trim_end_matches('/');
    if p.is_empty() {
        return None;
    }
    let plain = p.starts_with('/')
        && !p.contains("//")
        && !p.split('/').any(|seg| seg == "..")
        && p.len() <= 200
        && p.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/-_.~".contains(&b));
    plain.then(|| p.to_owned())
}

/// Percent-encodes one path segment (a queue name, a jid).
pub(crate) fn seg(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Encodes pairs as a query string (without the `?`).
pub(crate) fn query(pairs: &[(&str, &str)]) -> String {
    let mut ser = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        if !v.is_empty() {
            ser.append_pair(k, v);
        }
    }
    ser.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes() {
        assert_eq!(nest_prefix("/admin/jobs", "/"), "/admin/jobs");
        assert_eq!(nest_prefix("/admin/jobs/", "/"), "/admin/jobs");
        assert_eq!(nest_prefix("/admin/jobs/queues", "/queues"), "/admin/jobs");
        assert_eq!(nest_prefix("/queues", "/queues"), "");
        assert_eq!(clean_prefix("/proxy/"), Some("/proxy".into()));
        assert_eq!(clean_prefix("//evil.example"), None);
        assert_eq!(clean_prefix("/a\"><script>"), None);
        assert_eq!(clean_prefix("https://evil"), None);
        assert_eq!(seg("a b/<c>"), "a%20b%2F%3Cc%3E");
    }
}
