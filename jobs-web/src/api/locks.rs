//! The API of unique locks: `GET api/locks` (the locks held now, page by page) and
//! `POST api/locks/{key}/release`, with their answer types.

use axum::extract::{RawQuery, State};
use axum::{Extension, Json};
use chrono::{DateTime, Utc};
use jobs::backend::UniqueHeld;
use jobs::envelope::flow::UniqueUntil;
use serde::Serialize;

use super::request::ApiPath;
use super::ApiResult;
use crate::params::{Paging, Pairs};
use crate::permit::Op;
use crate::{AppState, Ctx};

/// `GET api/locks?page=&per_page=`: the unique locks held by the dashboard's clock, soonest
/// to lapse first.
#[derive(Debug, Serialize)]
pub(crate) struct LocksBody {
    /// Whether the backend keeps unique locks (when not, `locks` is empty).
    pub supported: bool,
    /// This page's number, from 1.
    pub page: u64,
    /// Rows per page, clamped to 1–100.
    pub per_page: u64,
    /// Whether the next page has locks (the total is not counted).
    pub more: bool,
    /// This page's locks.
    pub locks: Vec<LockRow>,
}

/// One unique lock held.
#[derive(Debug, Serialize)]
pub(crate) struct LockRow {
    /// The lock's key.
    pub key: String,
    /// The id of the job that holds it.
    pub jid: String,
    /// That job's name.
    pub class: String,
    /// That job's queue.
    pub queue: String,
    /// Until when it is held: `start` (while the job waits) or `success` (until it ends for
    /// good).
    pub until: UniqueUntil,
    /// When it lapses whatever becomes of the job.
    pub expires_at: DateTime<Utc>,
    /// Seconds until then, by the dashboard's clock.
    pub expires_in: f64,
}

impl LockRow {
    fn new(h: UniqueHeld, now: DateTime<Utc>) -> Self {
        LockRow {
            expires_in: (h.expires_at - now).num_milliseconds() as f64 / 1000.0,
            key: h.key,
            jid: h.jid,
            class: h.class,
            queue: h.queue,
            until: h.until,
            expires_at: h.expires_at,
        }
    }
}

/// `POST api/locks/{key}/release`: the lock was there and is released (else a 404).
#[derive(Debug, Serialize)]
pub(crate) struct LockReleased {
    /// The lock's key.
    pub key: String,
    /// Always `true`: a lock that was not there is a 404 `not_found`.
    pub released: bool,
}

pub(super) async fn list(
    State(st): State<AppState>,
    RawQuery(raw): RawQuery,
) -> ApiResult<LocksBody> {
    let paging = Paging::from(&Pairs::parse(raw.as_deref()))?;
    let now = st.now();
    let found = st.locks(now, paging).await?;
    let supported = found.is_some();
    let (held, more) = found.unwrap_or_default();
    Ok(Json(LocksBody {
        supported,
        page: paging.page,
        per_page: paging.per_page,
        more,
        locks: held.into_iter().map(|h| LockRow::new(h, now)).collect(),
    }))
}

pub(super) async fn release(
    State(st): State<AppState>,
    Extension(ctx): Extension<Ctx>,
    ApiPath(key): ApiPath<String>,
) -> ApiResult<LockReleased> {
    let permit = ctx.permit(Op::LockRelease)?;
    st.lock_release(permit, &key).await?;
    Ok(Json(LockReleased {
        key,
        released: true,
    }))
}
