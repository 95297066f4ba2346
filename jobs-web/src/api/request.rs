//! What the API reads from a request besides the query: path segments and the JSON body of
//! actions. Every failure is an [`ApiError`] (JSON) saying what was wrong, never axum's text.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Path, Request};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use jobs::backend::{JobFilter, Selection};
use serde::de::DeserializeOwned;
use serde::Deserialize;

use crate::error::{ApiError, ErrorCode};
use crate::params::MAX_JIDS;
use crate::WebError;

/// An extractor's refusal as an API error: 413 stays 413, a server-side failure is
/// `internal`, anything else a 400.
fn rejected(status: StatusCode, message: String) -> ApiError {
    let code = match status {
        StatusCode::PAYLOAD_TOO_LARGE => ErrorCode::PayloadTooLarge,
        s if s.is_server_error() => ErrorCode::Internal,
        _ => ErrorCode::BadRequest,
    };
    ApiError(WebError::new(code, message))
}

/// The path's parameters, like axum's `Path`, refused as JSON.
pub(crate) struct ApiPath<T>(pub(crate) T);

impl<S, T> FromRequestParts<S> for ApiPath<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match Path::<T>::from_request_parts(parts, state).await {
            Ok(Path(t)) => Ok(ApiPath(t)),
            Err(r) => Err(rejected(r.status(), r.body_text())),
        }
    }
}

/// The body of actions: job ids, or `all` with an optional filter; a process and a signal.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Body {
    /// The jobs to act on.
    #[serde(default)]
    pub jids: Vec<String>,
    /// Act on every job matching `class` and `q` instead.
    #[serde(default)]
    pub all: bool,
    /// With `all`: only jobs with this name.
    pub class: Option<String>,
    /// With `all`: only jobs with this text in their arguments or error.
    pub q: Option<String>,
    /// The process to signal.
    pub process: Option<String>,
    /// The signal: `quiet` or `stop`.
    pub signal: Option<String>,
}

impl Body {
    /// The jobs the body selects; a 400 when it selects none.
    pub(crate) fn selection(self) -> Result<Selection, WebError> {
        let some = |s: Option<String>| s.filter(|s| !s.trim().is_empty());
        if self.all {
            let mut filter = JobFilter::new();
            filter.class = some(self.class);
            filter.text = some(self.q);
            Ok(Selection::Matching(filter))
        } else if self.jids.is_empty() {
            Err(WebError::bad_request("give jids, or all: true"))
        } else {
            Ok(Selection::Jids(self.jids))
        }
    }
}

/// An action's [`Body`]: empty, or JSON sent as `application/json`, with at most
/// [`MAX_JIDS`] job ids.
pub(crate) struct JsonBody(pub(crate) Body);

impl<S: Send + Sync> FromRequest<S> for JsonBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json"));
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|r| rejected(r.status(), r.body_text()))?;
        Ok(JsonBody(parse(json, &bytes)?))
    }
}

fn parse(json: bool, bytes: &[u8]) -> Result<Body, WebError> {
    if bytes.is_empty() {
        return Ok(Body::default());
    }
    if !json {
        return Err(WebError::bad_request("send the body as application/json"));
    }
    let b: Body = serde_json::from_slice(bytes)
        .map_err(|e| WebError::bad_request(format!("bad JSON body: {e}")))?;
    if b.jids.len() > MAX_JIDS {
        return Err(WebError::bad_request(format!(
            "select at most {MAX_JIDS} jobs at once"
        )));
    }
    Ok(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies() {
        assert!(parse(false, b"").is_ok_and(|b| b.jids.is_empty() && !b.all));
        let e = parse(false, b"{}").err().map(|e| e.message);
        assert_eq!(e.as_deref(), Some("send the body as application/json"));
        let e = parse(true, br#"{"jidz": []}"#).err().map(|e| e.message);
        assert!(e.is_some_and(|m| m.contains("jidz")));
        let many = serde_json::json!({ "jids": vec!["x"; MAX_JIDS + 1] }).to_string();
        assert!(parse(true, many.as_bytes()).is_err());
        let sel = parse(true, br#"{"all": true, "q": " "}"#).and_then(Body::selection);
        assert_eq!(sel.ok(), Some(Selection::Matching(JobFilter::default())));
        assert!(Body::default().selection().is_err());
        assert_eq!(
            rejected(StatusCode::PAYLOAD_TOO_LARGE, String::new())
                .0
                .code,
            ErrorCode::PayloadTooLarge
        );
    }
}
