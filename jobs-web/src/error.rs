//! Errors a handler answers with: a status and a plain-text message, never a crash.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use jobs::backend::BackendError;

/// A failed request: its status and a message for the user (sent as plain text).
///
/// ```
/// let e = jobs_web::WebError::bad_request("page must be a whole number");
/// assert_eq!(e.status, axum::http::StatusCode::BAD_REQUEST);
/// ```
#[derive(Debug, Clone)]
pub struct WebError {
    /// The HTTP status.
    pub status: StatusCode,
    /// What went wrong, in words.
    pub message: String,
}

impl WebError {
    /// A 400 with `message`.
    pub fn bad_request(message: impl Into<String>) -> Self {
        WebError {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
        }
    }

    /// A 404 with `message`.
    pub fn not_found(message: impl Into<String>) -> Self {
        WebError {
            status: StatusCode::NOT_FOUND,
            message: message.into(),
        }
    }

    /// A 403 with `message`.
    pub fn forbidden(message: impl Into<String>) -> Self {
        WebError {
            status: StatusCode::FORBIDDEN,
            message: message.into(),
        }
    }
}

impl From<BackendError> for WebError {
    fn from(e: BackendError) -> Self {
        tracing::warn!(error = %e, "dashboard: backend call failed");
        WebError {
            status: StatusCode::SERVICE_UNAVAILABLE,
            message: format!("the backend failed: {e}"),
        }
    }
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        let body = format!("{} {}\n", self.status, self.message);
        (
            self.status,
            [(
                axum::http::header::CONTENT_TYPE,
                "text/plain; charset=utf-8",
            )],
            body,
        )
            .into_response()
    }
}

/// What an unknown path under the mount answers.
pub(crate) async fn not_found() -> WebError {
    WebError::not_found("no such page")
}
