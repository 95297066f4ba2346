//! The API of recent actions: `GET api/actions`, the last actions taken through this
//! dashboard process, newest first, with its answer type.

use axum::extract::State;
use axum::Json;
use chrono::{DateTime, Utc};
use serde::Serialize;

use super::ApiResult;
use crate::recent::{Done, KEPT};
use crate::AppState;

/// `GET api/actions`: the actions kept in memory by this process, newest first.
#[derive(Debug, Serialize)]
pub(crate) struct ActionsBody {
    /// How many actions are kept at most.
    pub kept: usize,
    /// The actions, newest first.
    pub actions: Vec<ActionRow>,
}

/// One action taken.
#[derive(Debug, Serialize)]
pub(crate) struct ActionRow {
    /// When, by the dashboard's clock.
    pub at: DateTime<Utc>,
    /// Who, as the identify hook named them (`null` when it did not).
    pub user: Option<String>,
    /// The action it needed (`retry`, `delete`, `pause`, ...).
    pub action: &'static str,
    /// What was done within it (`resume`, `clear`, `run`, ...).
    pub verb: &'static str,
    /// What it was done to.
    pub target: String,
    /// How many jobs or items it affected.
    pub count: u64,
}

impl From<Done> for ActionRow {
    fn from(d: Done) -> Self {
        ActionRow {
            at: d.at,
            user: d.event.user,
            action: d.event.action.name(),
            verb: d.event.verb,
            target: d.event.target,
            count: d.event.count,
        }
    }
}

pub(super) async fn list(State(st): State<AppState>) -> ApiResult<ActionsBody> {
    Ok(Json(ActionsBody {
        kept: KEPT,
        actions: st
            .recent
            .newest_first()
            .into_iter()
            .map(ActionRow::from)
            .collect(),
    }))
}
