//! `POST api/cancel` with `{"jids": [..]}`: cancel jobs wherever they are, the answer for each.

use axum::extract::State;
use axum::{Extension, Json};
use serde::Serialize;

use super::request::JsonBody;
use super::ApiResult;
use crate::permit::Op;
use crate::{AppState, Ctx, WebError};

/// What a cancel did to one job.
#[derive(Debug, Serialize)]
pub(crate) struct CancelAnswer {
    /// The job.
    pub jid: String,
    /// `cancelled`, `requested`, `not_found` or `already_finished`.
    pub answer: &'static str,
}

/// The answers, in the order of the jids given.
#[derive(Debug, Serialize)]
pub(crate) struct Cancelled {
    /// One per jid.
    pub jobs: Vec<CancelAnswer>,
}

/// `POST api/cancel`.
pub(crate) async fn cancel(
    State(st): State<AppState>,
    Extension(ctx): Extension<Ctx>,
    JsonBody(body): JsonBody,
) -> ApiResult<Cancelled> {
    let permit = ctx.permit(Op::Cancel)?;
    if body.jids.is_empty() || body.jids.iter().any(|j| j.is_empty()) {
        return Err(WebError::bad_request("give jids: the jobs to cancel").into());
    }
    let jids = body.jids.clone();
    let answers = st.cancel(permit, body.jids, st.now()).await?;
    Ok(Json(Cancelled {
        jobs: jids
            .into_iter()
            .zip(answers)
            .map(|(jid, a)| CancelAnswer {
                jid,
                answer: a.as_str(),
            })
            .collect(),
    }))
}
