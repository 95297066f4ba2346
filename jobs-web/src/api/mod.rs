//! The JSON API under `api/`: everything the pages show and do, for tests and scripts.
//!
//! 1. Reads are GET; actions are POST (with a JSON body where one is needed, sent as
//!    `application/json`) and pass the same guard as the pages.
//! 2. Every answer is one of the `Serialize` types of `types`. Numbers are clamped as on
//!    the pages.
//! 3. Every error, including the guard's refusals, unknown paths, wrong methods and bad
//!    path segments or bodies, is `{"error": {"code": "…", "message": "…"}}` with a stable
//!    code (see [`crate::ErrorCode`]); a bad query parameter is a 400 `bad_request` whose
//!    message names the parameter.

mod actions;
mod cancel;
mod limits;
mod locks;
mod request;
mod types;

use axum::extract::{RawQuery, State};
use axum::{Extension, Json};
use jobs::backend::{JobFilter, JobSet, Selection};

use self::request::{ApiPath, JsonBody};
use self::types::*;
use crate::error::{self, ApiError};
use crate::pages::busy::{parse_signal, signal_op};
use crate::pages::queues::pause_op;
use crate::pages::SetKind;
use crate::params::{Paging, Pairs, DAYS, HOURS};
use crate::permit::Op;
use crate::redact::Reveal;
use crate::routes::Routes;
use crate::{AppState, Ctx, WebError};

/// What a handler answers: a typed body, or a JSON error.
type ApiResult<T> = Result<Json<T>, ApiError>;

/// The API's routes, every error in JSON (a wrong method too).
pub(crate) fn routes() -> Routes {
    Routes::new()
        .read("/api/stats", stats)
        .read("/api/history", history)
        .read("/api/queues", queues)
        .read("/api/queues/{name}", queue_jobs)
        .act("/api/queues/{name}/{action}", queue_action)
        .read("/api/processes", processes)
        .act("/api/processes/signal", signal)
        .act("/api/cancel", cancel::cancel)
        .read("/api/facts", facts)
        .read("/api/metrics", metrics)
        .read("/api/limits", limits::list)
        .read("/api/limits/waiting", limits::waiting)
        .act("/api/limits/waiting/delete", limits::waiting_delete)
        .read("/api/locks", locks::list)
        .act("/api/locks/{key}/release", locks::release)
        .read("/api/actions", actions::list)
        .read("/api/recurring", recurring)
        .read("/api/jobs/{jid}", job_report)
        .act("/api/recurring/{name}/{action}", recurring_action)
        .read("/api/{set}", set_list)
        .read("/api/{set}/count", set_count)
        .read("/api/{set}/{id}", set_job)
        .act("/api/{set}/{id}", set_action)
        .map(|r| r.method_not_allowed_fallback(error::method_not_allowed))
}

async fn stats(State(st): State<AppState>) -> ApiResult<StatsBody> {
    let now = st.now();
    let s = st.stats().await?;
    let procs = st.processes().await?;
    Ok(Json(StatsBody::new(st.backend_name(), s, &procs, now)))
}

async fn facts(State(st): State<AppState>) -> ApiResult<FactsBody> {
    let facts = st
        .facts()
        .await?
        .into_iter()
        .map(|(label, value)| Fact { label, value })
        .collect();
    Ok(Json(FactsBody {
        backend: st.backend_name(),
        facts,
    }))
}

async fn metrics(State(st): State<AppState>, RawQuery(raw): RawQuery) -> ApiResult<MetricsBody> {
    let hours = Pairs::parse(raw.as_deref()).num("hours", HOURS)?;
    let now = st.now();
    let rows = st.metrics(hours, now).await?;
    Ok(Json(MetricsBody {
        hours,
        enabled: rows.is_some(),
        now,
        jobs: rows
            .unwrap_or_default()
            .into_iter()
            .map(MetricsRow::from)
            .collect(),
    }))
}

async fn history(State(st): State<AppState>, RawQuery(raw): RawQuery) -> ApiResult<HistoryBody> {
    let days = Pairs::parse(raw.as_deref()).num("days", DAYS)?;
    let h = st.history(st.now(), days).await?;
    Ok(Json(HistoryBody {
        days,
        history: h.into_iter().map(DayRow::from).collect(),
    }))
}

async fn queues(State(st): State<AppState>) -> ApiResult<QueuesBody> {
    let qs = st.queues(st.now()).await?;
    Ok(Json(QueuesBody {
        queues: qs.into_iter().map(QueueRow::from).collect(),
    }))
}

async fn list(st: &AppState, set: JobSet, q: &Pairs, filter: JobFilter) -> ApiResult<JobsPageBody> {
    let paging = Paging::from(q)?;
    let page = st.jobs(set, paging, filter).await?;
    Ok(Json(JobsPageBody::new(paging, page.total, page.jobs)))
}

async fn queue_jobs(
    State(st): State<AppState>,
    ApiPath(name): ApiPath<String>,
    RawQuery(raw): RawQuery,
) -> ApiResult<JobsPageBody> {
    let q = Pairs::parse(raw.as_deref());
    list(&st, JobSet::Queue(name), &q, JobFilter::default()).await
}

async fn queue_action(
    State(st): State<AppState>,
    Extension(ctx): Extension<Ctx>,
    ApiPath((name, action)): ApiPath<(String, String)>,
    body: Result<JsonBody, ApiError>,
) -> ApiResult<QueueActed> {
    Ok(Json(match action.as_str() {
        "pause" | "resume" => {
            let paused = action == "pause";
            let permit = ctx.permit(pause_op(paused))?;
            st.queue_pause(permit, &name, paused).await?;
            QueueActed::Paused(QueuePaused {
                queue: name,
                paused,
            })
        }
        "clear" => {
            let permit = ctx.permit(Op::QueueClear)?;
            let removed = st.queue_clear(permit, &name).await?;
            QueueActed::Cleared(QueueCleared {
                queue: name,
                removed,
            })
        }
        "delete" => {
            let permit = ctx.permit(Op::QueueDelete)?;
            // Only `delete` reads the body.
            let JsonBody(body) = body?;
            if body.jids.is_empty() {
                return Err(WebError::bad_request("give jids").into());
            }
            let deleted = st.queue_delete(permit, &name, body.jids, st.now()).await?;
            QueueActed::Deleted(JobsDeleted { deleted })
        }
        _ => return Err(WebError::not_found("queue actions: pause, resume, clear, delete").into()),
    }))
}

async fn processes(State(st): State<AppState>) -> ApiResult<ProcessesBody> {
    let now = st.now();
    let procs = st.processes().await?;
    let mut processes: Vec<ProcessRow> =
        procs.into_iter().map(|p| ProcessRow::new(p, now)).collect();
    let progress = st
        .progress_of(
            processes
                .iter()
                .flat_map(|p| p.running.iter().map(|r| r.job.jid.clone()))
                .collect(),
        )
        .await;
    for row in processes.iter_mut().flat_map(|p| p.running.iter_mut()) {
        row.progress = progress.get(&row.job.jid).cloned();
    }
    Ok(Json(ProcessesBody { processes }))
}

/// `GET api/jobs/{jid}`: where the job is, its progress, and its result as the job page
/// shows it (`?reveal=1` as there).
async fn job_report(
    State(st): State<AppState>,
    Extension(ctx): Extension<Ctx>,
    ApiPath(jid): ApiPath<String>,
    RawQuery(raw): RawQuery,
) -> ApiResult<crate::job_status::JobReport> {
    let reveal = Reveal::asked(&ctx, &Pairs::parse(raw.as_deref()));
    Ok(Json(st.job_report(&jid, reveal).await?))
}

async fn signal(
    State(st): State<AppState>,
    Extension(ctx): Extension<Ctx>,
    JsonBody(body): JsonBody,
) -> ApiResult<Signalled> {
    let process = body
        .process
        .ok_or_else(|| WebError::bad_request("give process"))?;
    let name = body.signal.unwrap_or_default();
    let sig = parse_signal(&name)?;
    let permit = ctx.permit(signal_op(sig))?;
    st.signal(permit, &process, sig).await?;
    Ok(Json(Signalled {
        process,
        signal: name,
    }))
}

async fn set_list(
    State(st): State<AppState>,
    ApiPath(slug): ApiPath<String>,
    RawQuery(raw): RawQuery,
) -> ApiResult<JobsPageBody> {
    let kind = SetKind::from_slug(&slug)?;
    let q = Pairs::parse(raw.as_deref());
    list(&st, kind.set(), &q, q.filter()).await
}

async fn set_count(
    State(st): State<AppState>,
    ApiPath(slug): ApiPath<String>,
    RawQuery(raw): RawQuery,
) -> ApiResult<CountBody> {
    let kind = SetKind::from_slug(&slug)?;
    let q = Pairs::parse(raw.as_deref());
    let sel = match q.jids()? {
        jids if !jids.is_empty() => Selection::Jids(jids),
        _ => Selection::Matching(q.filter()),
    };
    Ok(Json(CountBody {
        count: st.count(kind, &sel).await?,
    }))
}

/// `GET api/{set}/{id}`: one job; `?reveal=1` as on its page (see `redact`).
async fn set_job(
    State(st): State<AppState>,
    Extension(ctx): Extension<Ctx>,
    ApiPath((slug, jid)): ApiPath<(String, String)>,
    RawQuery(raw): RawQuery,
) -> ApiResult<JobRow> {
    let kind = SetKind::from_slug(&slug)?;
    let reveal = Reveal::asked(&ctx, &Pairs::parse(raw.as_deref()));
    Ok(Json(JobRow::from(st.job(kind, &jid, reveal).await?)))
}

async fn set_action(
    State(st): State<AppState>,
    Extension(ctx): Extension<Ctx>,
    ApiPath((slug, action)): ApiPath<(String, String)>,
    JsonBody(body): JsonBody,
) -> ApiResult<ActionDone> {
    let kind = SetKind::from_slug(&slug)?;
    let action = kind.action(&action)?;
    let permit = ctx.permit(Op::Jobs(action))?;
    let sel = body.selection()?;
    let count = st.apply(permit, kind, action, sel, st.now()).await?;
    Ok(Json(ActionDone {
        action: action.name(),
        count,
    }))
}

async fn recurring(State(st): State<AppState>) -> ApiResult<RecurringBody> {
    let records = st.schedules().await?;
    Ok(Json(RecurringBody {
        supported: records.is_some(),
        schedules: records
            .unwrap_or_default()
            .into_iter()
            .map(|r| ScheduleRow::new(r, st.declared.as_deref()))
            .collect(),
    }))
}

async fn recurring_action(
    State(st): State<AppState>,
    Extension(ctx): Extension<Ctx>,
    ApiPath((name, action)): ApiPath<(String, String)>,
) -> ApiResult<ScheduleActed> {
    let permit = ctx.permit(Op::schedule(&action)?)?;
    let jid = st.schedule_act(permit, &name, &action, st.now()).await?;
    Ok(Json(ScheduleActed {
        schedule: name,
        action,
        jid,
    }))
}
