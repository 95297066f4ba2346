//! `GET metrics.txt`: the app's Prometheus metrics beside the dashboard, behind its guard,
//! when [`crate::Dashboard::metrics_endpoint`] gave a way to render them; a 404 otherwise.

use axum::extract::State;
use axum::http::{header, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

use crate::AppState;

/// Renders the metrics text (the Prometheus text format, version 0.0.4).
pub(crate) type RenderFn = std::sync::Arc<dyn Fn() -> String + Send + Sync>;

/// The scrape, or the dashboard's 404 when no metrics endpoint was configured.
pub(crate) async fn scrape(State(state): State<AppState>, uri: Uri) -> Response {
    let Some(render) = &state.metrics_text else {
        return crate::error::not_found(uri).await;
    };
    (
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        render(),
    )
        .into_response()
}
