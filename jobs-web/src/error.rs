//! Errors a handler answers with, never a crash: a stable code (which fixes the status) and
//! a message.
//!
//! 1. Pages send a [`WebError`] as an HTML page in the dashboard's layout, with the status,
//!    the message and a way back (`error_page.rs`); plain text (`400 Bad Request days must
//!    be …`) where no layout may be shown (a request that may not view the dashboard).
//! 2. The API (anything under `api/`) sends it as JSON through [`ApiError`]:
//!    `{"error": {"code": "bad_request", "message": "days must be …"}}`. The guard, the
//!    fallback and the API's extractors use the same shape, so no API answer is text.

use axum::http::{header, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use jobs::backend::BackendError;
use serde::Serialize;

/// What went wrong, as a stable `snake_case` code that clients of the API can match on.
/// Each code has one HTTP status.
///
/// ```
/// use jobs_web::ErrorCode;
/// assert_eq!(ErrorCode::ReadOnly.as_str(), "read_only");
/// assert_eq!(ErrorCode::ReadOnly.status(), axum::http::StatusCode::FORBIDDEN);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ErrorCode {
    /// 400: a parameter or the body was wrong; the message names it.
    BadRequest,
    /// 403: the authorization hook refused viewing, or acting.
    Forbidden,
    /// 403: a state-changing request came from another site.
    CrossSite,
    /// 403: the dashboard is read-only, so every action is refused.
    ReadOnly,
    /// 404: no such page, job, process, schedule or action.
    NotFound,
    /// 405: the path exists, but not for this method.
    MethodNotAllowed,
    /// 409: more jobs match now than the confirmation stated.
    Conflict,
    /// 413: the request body is too large.
    PayloadTooLarge,
    /// 500: the dashboard itself failed.
    Internal,
    /// 503: the backend failed or could not be reached.
    BackendUnavailable,
}

impl ErrorCode {
    /// The code as sent in the API's `error.code`.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::BadRequest => "bad_request",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::CrossSite => "cross_site",
            ErrorCode::ReadOnly => "read_only",
            ErrorCode::NotFound => "not_found",
            ErrorCode::MethodNotAllowed => "method_not_allowed",
            ErrorCode::Conflict => "conflict",
            ErrorCode::PayloadTooLarge => "payload_too_large",
            ErrorCode::Internal => "internal",
            ErrorCode::BackendUnavailable => "backend_unavailable",
        }
    }

    /// The HTTP status it is sent with.
    pub fn status(self) -> StatusCode {
        match self {
            ErrorCode::BadRequest => StatusCode::BAD_REQUEST,
            ErrorCode::Forbidden | ErrorCode::CrossSite | ErrorCode::ReadOnly => {
                StatusCode::FORBIDDEN
            }
            ErrorCode::NotFound => StatusCode::NOT_FOUND,
            ErrorCode::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ErrorCode::Conflict => StatusCode::CONFLICT,
            ErrorCode::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::BackendUnavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }
}

/// A failed request: its [`ErrorCode`] and a message for the user.
///
/// ```
/// use jobs_web::{ErrorCode, WebError};
/// let e = WebError::bad_request("page must be a whole number");
/// assert_eq!(e.code, ErrorCode::BadRequest);
/// assert_eq!(e.status(), axum::http::StatusCode::BAD_REQUEST);
/// assert_eq!(e.to_string(), "page must be a whole number");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
#[non_exhaustive]
pub struct WebError {
    /// What kind of failure; fixes the status.
    pub code: ErrorCode,
    /// What went wrong, in words.
    pub message: String,
}

impl WebError {
    /// An error with `code` and `message`.
    ///
    /// ```
    /// use jobs_web::{ErrorCode, WebError};
    /// let e = WebError::new(ErrorCode::Conflict, "3 jobs match now, not 2");
    /// assert_eq!(e.status().as_u16(), 409);
    /// ```
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        WebError {
            code,
            message: message.into(),
        }
    }

    /// A 400 ([`ErrorCode::BadRequest`]) with `message`.
    pub fn bad_request(message: impl Into<String>) -> Self {
        WebError::new(ErrorCode::BadRequest, message)
    }

    /// A 404 ([`ErrorCode::NotFound`]) with `message`.
    pub fn not_found(message: impl Into<String>) -> Self {
        WebError::new(ErrorCode::NotFound, message)
    }

    /// A 403 ([`ErrorCode::Forbidden`]) with `message`.
    pub fn forbidden(message: impl Into<String>) -> Self {
        WebError::new(ErrorCode::Forbidden, message)
    }

    /// The HTTP status of its code.
    pub fn status(&self) -> StatusCode {
        self.code.status()
    }
}

impl From<BackendError> for WebError {
    fn from(e: BackendError) -> Self {
        tracing::warn!(error = %e, "dashboard: backend call failed");
        WebError::new(
            ErrorCode::BackendUnavailable,
            format!("the backend failed: {e}"),
        )
    }
}

/// Pages: plain text, `<status> <message>`.
impl IntoResponse for WebError {
    /// Plain text; the guard turns a page's into an HTML page in the dashboard's layout
    /// (it finds the error in the answer's extensions).
    fn into_response(self) -> Response {
        let status = self.status();
        let body = format!("{status} {}\n", self.message);
        let mut resp = (
            status,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            body,
        )
            .into_response();
        resp.extensions_mut().insert(self);
        resp
    }
}

/// A [`WebError`] answered as the API's JSON error.
#[derive(Debug)]
pub(crate) struct ApiError(pub(crate) WebError);

impl From<WebError> for ApiError {
    fn from(e: WebError) -> Self {
        ApiError(e)
    }
}

impl From<BackendError> for ApiError {
    fn from(e: BackendError) -> Self {
        ApiError(e.into())
    }
}

/// The body of every API error: `{"error": {"code": …, "message": …}}`.
#[derive(Debug, Serialize)]
struct ErrorBody<'a> {
    error: ErrorDetail<'a>,
}

/// What went wrong: the stable code and the words.
#[derive(Debug, Serialize)]
struct ErrorDetail<'a> {
    code: ErrorCode,
    message: &'a str,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.0.code,
                message: &self.0.message,
            },
        };
        (self.0.status(), Json(body)).into_response()
    }
}

/// Whether `path` (as the dashboard's router sees it) is part of the JSON API.
pub(crate) fn is_api(path: &str) -> bool {
    path == "/api" || path.starts_with("/api/")
}

/// Answers `e` the way the part of the dashboard at `path` answers errors.
pub(crate) fn answer(path: &str, e: WebError) -> Response {
    if is_api(path) {
        ApiError(e).into_response()
    } else {
        e.into_response()
    }
}

/// What an unknown path under the mount answers (JSON under `api/`).
pub(crate) async fn not_found(uri: Uri) -> Response {
    let what = if is_api(uri.path()) {
        "no such API endpoint"
    } else {
        "no such page"
    };
    answer(uri.path(), WebError::not_found(what))
}

/// What an API path answers to a method it does not take (with axum's `Allow` header).
pub(crate) async fn method_not_allowed(method: Method) -> ApiError {
    ApiError(WebError::new(
        ErrorCode::MethodNotAllowed,
        format!("{method} is not allowed here"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_serialize_as_their_names() {
        for code in [
            ErrorCode::BadRequest,
            ErrorCode::Forbidden,
            ErrorCode::CrossSite,
            ErrorCode::ReadOnly,
            ErrorCode::NotFound,
            ErrorCode::MethodNotAllowed,
            ErrorCode::Conflict,
            ErrorCode::PayloadTooLarge,
            ErrorCode::Internal,
            ErrorCode::BackendUnavailable,
        ] {
            let json = serde_json::to_value(code).ok();
            assert_eq!(json, Some(serde_json::json!(code.as_str())));
        }
        assert!(is_api("/api/stats") && is_api("/api") && !is_api("/apis"));
    }

    #[tokio::test]
    async fn a_backend_failure_is_a_503_backend_unavailable() {
        let e = WebError::from(BackendError::msg("connection refused"));
        let resp = ApiError(e.clone()).into_response();
        assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
        let body = axum::body::to_bytes(resp.into_body(), 1 << 16).await.ok();
        let json: Option<serde_json::Value> = body.and_then(|b| serde_json::from_slice(&b).ok());
        let code = json.as_ref().map(|j| &j["error"]["code"]);
        assert_eq!(code, Some(&serde_json::json!("backend_unavailable")));
        let message = json.as_ref().and_then(|j| j["error"]["message"].as_str());
        assert!(
            message.is_some_and(|m| m.contains("connection refused")),
            "{json:?}"
        );
        // The same error on a page is text.
        let page = answer("/dead", e).into_response();
        assert_eq!(page.status(), StatusCode::SERVICE_UNAVAILABLE);
        let ct = page.headers().get(header::CONTENT_TYPE).cloned();
        assert_eq!(
            ct,
            Some(header::HeaderValue::from_static(
                "text/plain; charset=utf-8"
            ))
        );
    }
}
