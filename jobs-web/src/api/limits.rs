//! The API of limits: `GET api/limits` (the concurrency and rate limits in use now, page by
//! page), `GET api/limits/waiting` (the jobs waiting aside for a slot of one key) and
//! `POST api/limits/waiting/delete`, with their answer types.

use axum::extract::{RawQuery, State};
use axum::{Extension, Json};
use chrono::{DateTime, Utc};
use jobs::backend::{LimitKind, LimitUsage};
use jobs::envelope::JobEnvelope;
use serde::Serialize;

use super::request::JsonBody;
use super::ApiResult;
use crate::params::{Paging, Pairs};
use crate::permit::Op;
use crate::{AppState, Ctx, WebError};

/// `GET api/limits?page=&per_page=`: concurrency limits first, then rate limits, each by key.
#[derive(Debug, Serialize)]
pub(crate) struct LimitsBody {
    /// Whether the backend keeps limits (when not, `limits` is empty).
    pub supported: bool,
    /// This page's number, from 1.
    pub page: u64,
    /// Rows per page, clamped to 1–100.
    pub per_page: u64,
    /// Whether the next page has limits.
    pub more: bool,
    /// This page's limits.
    pub limits: Vec<LimitRow>,
}

/// One limit in use.
#[derive(Debug, Serialize)]
pub(crate) struct LimitRow {
    /// `concurrency` or `rate`.
    pub kind: &'static str,
    /// The limit's key.
    pub key: String,
    /// The limit.
    pub limit: u32,
    /// Concurrency: slots taken; rate: starts in the window.
    pub in_use: u64,
    /// Concurrency: jobs waiting aside for a slot; rate: 0.
    pub waiting: u64,
    /// Rate: the window in seconds; concurrency: absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub per_secs: Option<f64>,
    /// Rate: when a full window frees.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub frees_at: Option<DateTime<Utc>>,
}

impl From<LimitUsage> for LimitRow {
    fn from(u: LimitUsage) -> Self {
        let (kind, per_secs) = match u.kind {
            LimitKind::Rate { per } => ("rate", Some(per.as_secs_f64())),
            _ => ("concurrency", None),
        };
        LimitRow {
            kind,
            key: u.key,
            limit: u.limit,
            in_use: u.in_use,
            waiting: u.waiting,
            per_secs,
            frees_at: u.frees_at,
        }
    }
}

pub(super) async fn list(
    State(st): State<AppState>,
    RawQuery(raw): RawQuery,
) -> ApiResult<LimitsBody> {
    let paging = Paging::from(&Pairs::parse(raw.as_deref()))?;
    let found = st.limits(st.now(), paging).await?;
    let supported = found.is_some();
    let (used, more) = found.unwrap_or_default();
    Ok(Json(LimitsBody {
        supported,
        page: paging.page,
        per_page: paging.per_page,
        more,
        limits: used.into_iter().map(LimitRow::from).collect(),
    }))
}

/// `GET api/limits/waiting?key=&page=&per_page=`: the jobs moved aside waiting for a slot of
/// concurrency key `key`, oldest first.
#[derive(Debug, Serialize)]
pub(crate) struct WaitingBody {
    /// Whether the backend keeps limits (when not, `jobs` is empty).
    pub supported: bool,
    /// The concurrency key.
    pub key: String,
    /// This page's number, from 1.
    pub page: u64,
    /// Rows per page, clamped to 1–100.
    pub per_page: u64,
    /// Whether the next page has jobs.
    pub more: bool,
    /// This page's jobs, in their wire format, the next to come back first.
    pub jobs: Vec<JobEnvelope>,
}

pub(super) async fn waiting(
    State(st): State<AppState>,
    RawQuery(raw): RawQuery,
) -> ApiResult<WaitingBody> {
    let q = Pairs::parse(raw.as_deref());
    let paging = Paging::from(&q)?;
    let key = match q.get("key") {
        Some(key) if !key.is_empty() => key.to_owned(),
        _ => return Err(WebError::bad_request("key: the concurrency key is required").into()),
    };
    let found = st.limit_waiting(&key, paging).await?;
    let supported = found.is_some();
    let (jobs, more) = found.unwrap_or_default();
    Ok(Json(WaitingBody {
        supported,
        key,
        page: paging.page,
        per_page: paging.per_page,
        more,
        jobs,
    }))
}

/// `POST api/limits/waiting/delete?key=` with `{"jids": [...]}`: how many of those jobs were
/// waiting for a slot of `key` and are deleted (with their unique locks).
#[derive(Debug, Serialize)]
pub(crate) struct WaitingDeleted {
    /// The concurrency key.
    pub key: String,
    /// How many jobs were deleted.
    pub deleted: u64,
}

pub(super) async fn waiting_delete(
    State(st): State<AppState>,
    Extension(ctx): Extension<Ctx>,
    RawQuery(raw): RawQuery,
    JsonBody(body): JsonBody,
) -> ApiResult<WaitingDeleted> {
    let permit = ctx.permit(Op::WaitingDelete)?;
    let q = Pairs::parse(raw.as_deref());
    let key = match q.get("key") {
        Some(key) if !key.is_empty() => key.to_owned(),
        _ => return Err(WebError::bad_request("key: the concurrency key is required").into()),
    };
    if body.jids.is_empty() {
        return Err(WebError::bad_request("jids: give the jobs to delete").into());
    }
    let deleted = st.limit_waiting_delete(permit, &key, body.jids).await?;
    Ok(Json(WaitingDeleted { key, deleted }))
}
