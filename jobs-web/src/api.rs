//! The JSON API under `api/`: everything the pages show and do, for tests and scripts.
//!
//! Reads are GET; actions are POST (with a JSON body where one is needed, sent as
//! `application/json`) and pass the same guard as the pages. Numbers are clamped as on the
//! pages; bad values get a 400 with a message.

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap};
use axum::routing::{get, post};
use axum::{Json, Router};
use jobs::backend::{JobFilter, JobSet, Selection, StoredJob};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::pages::busy::parse_signal;
use crate::pages::SetKind;
use crate::params::{Paging, Pairs, DAYS, HOURS, MAX_JIDS};
use crate::{AppState, WebError};

type ApiResult = Result<Json<Value>, WebError>;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/stats", get(stats))
        .route("/api/history", get(history))
        .route("/api/queues", get(queues))
        .route("/api/queues/{name}", get(queue_jobs))
        .route("/api/queues/{name}/{action}", post(queue_action))
        .route("/api/processes", get(processes))
        .route("/api/processes/signal", post(signal))
        .route("/api/facts", get(facts))
        .route("/api/metrics", get(metrics))
        .route("/api/recurring", get(recurring))
        .route("/api/recurring/{name}/{action}", post(recurring_action))
        .route("/api/{set}", get(set_list))
        .route("/api/{set}/count", get(set_count))
        .route("/api/{set}/{id}", get(set_job).post(set_action))
}

fn job_json(j: &StoredJob) -> Value {
    json!({ "at": j.at, "job": j.job })
}

async fn stats(State(st): State<AppState>) -> ApiResult {
    let now = st.now();
    let s = st.stats().await?;
    let procs = st.processes().await?;
    let busy: usize = procs.iter().map(|p| p.running.len()).sum();
    Ok(Json(json!({
        "backend": st.backend_name(),
        "processed": s.processed, "failed": s.failed, "dead_trimmed": s.dead_trimmed,
        "enqueued": s.enqueued, "scheduled": s.scheduled, "retries": s.retries, "dead": s.dead,
        "processes": procs.len(), "busy": busy, "now": now,
    })))
}

async fn facts(State(st): State<AppState>) -> ApiResult {
    let rows: Vec<Value> = st
        .facts()
        .await?
        .into_iter()
        .map(|(label, value)| json!({ "label": label, "value": value }))
        .collect();
    Ok(Json(json!({ "backend": st.backend_name(), "facts": rows })))
}

async fn metrics(State(st): State<AppState>, RawQuery(raw): RawQuery) -> ApiResult {
    let hours = Pairs::parse(raw.as_deref()).num("hours", HOURS)?;
    let now = st.now();
    let rows = st.metrics(hours, now).await?;
    let ms = |d: Option<std::time::Duration>| d.map(|d| d.as_secs_f64() * 1000.0);
    let jobs: Option<Vec<Value>> = rows.map(|rows| {
        rows.iter()
            .map(|r| {
                json!({
                    "class": r.class, "processed": r.counts.processed, "failed": r.counts.failed,
                    "avg_ms": ms(r.counts.average()), "p95_ms": ms(r.counts.p95()),
                })
            })
            .collect()
    });
    Ok(Json(json!({
        "hours": hours, "enabled": jobs.is_some(), "now": now,
        "jobs": jobs.unwrap_or_default(),
    })))
}

async fn history(State(st): State<AppState>, RawQuery(raw): RawQuery) -> ApiResult {
    let days = Pairs::parse(raw.as_deref()).num("days", DAYS)?;
    let h = st.history(st.now(), days).await?;
    let rows: Vec<Value> = h
        .iter()
        .map(|d| json!({ "date": d.date, "processed": d.processed, "failed": d.failed }))
        .collect();
    Ok(Json(json!({ "days": days, "history": rows })))
}

async fn queues(State(st): State<AppState>) -> ApiResult {
    let qs = st.queues(st.now()).await?;
    let rows: Vec<Value> = qs
        .iter()
        .map(|q| json!({ "name": q.name, "size": q.size, "latency": q.latency.as_secs_f64(), "paused": q.paused }))
        .collect();
    Ok(Json(json!({ "queues": rows })))
}

async fn list(st: &AppState, set: JobSet, q: &Pairs, filter: JobFilter) -> ApiResult {
    let paging = Paging::from(q)?;
    let page = st.jobs(set, paging, filter).await?;
    let jobs: Vec<Value> = page.jobs.iter().map(job_json).collect();
    Ok(Json(json!({
        "total": page.total, "page": paging.page, "per_page": paging.per_page, "jobs": jobs,
    })))
}

async fn queue_jobs(
    State(st): State<AppState>,
    Path(name): Path<String>,
    RawQuery(raw): RawQuery,
) -> ApiResult {
    let q = Pairs::parse(raw.as_deref());
    list(&st, JobSet::Queue(name), &q, JobFilter::default()).await
}

/// The body of actions on jobs: job ids, or `all` with an optional filter.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Body {
    #[serde(default)]
    jids: Vec<String>,
    #[serde(default)]
    all: bool,
    class: Option<String>,
    q: Option<String>,
    process: Option<String>,
    signal: Option<String>,
}

fn parse_body(headers: &HeaderMap, body: &[u8]) -> Result<Body, WebError> {
    if body.is_empty() {
        return Ok(Body::default());
    }
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !json {
        return Err(WebError::bad_request("send the body as application/json"));
    }
    let b: Body = serde_json::from_slice(body)
        .map_err(|e| WebError::bad_request(format!("bad JSON body: {e}")))?;
    if b.jids.len() > MAX_JIDS {
        return Err(WebError::bad_request(format!(
            "select at most {MAX_JIDS} jobs at once"
        )));
    }
    Ok(b)
}

fn body_selection(b: Body) -> Result<Selection, WebError> {
    let some = |s: Option<String>| s.filter(|s| !s.trim().is_empty());
    if b.all {
        Ok(Selection::Matching(JobFilter {
            class: some(b.class),
            text: some(b.q),
        }))
    } else if b.jids.is_empty() {
        Err(WebError::bad_request("give jids, or all: true"))
    } else {
        Ok(Selection::Jids(b.jids))
    }
}

async fn queue_action(
    State(st): State<AppState>,
    Path((name, action)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult {
    match action.as_str() {
        "pause" | "resume" => {
            st.queue_pause(&name, action == "pause").await?;
            Ok(Json(json!({ "queue": name, "paused": action == "pause" })))
        }
        "clear" => Ok(Json(
            json!({ "queue": name, "removed": st.queue_clear(&name).await? }),
        )),
        "delete" => {
            let jids = parse_body(&headers, &body)?.jids;
            if jids.is_empty() {
                return Err(WebError::bad_request("give jids"));
            }
            let deleted = st.queue_delete(&name, jids, st.now()).await?;
            Ok(Json(json!({ "deleted": deleted })))
        }
        _ => Err(WebError::not_found(
            "queue actions: pause, resume, clear, delete",
        )),
    }
}

async fn processes(State(st): State<AppState>) -> ApiResult {
    let now = st.now();
    let rows: Vec<Value> = st
        .processes()
        .await?
        .iter()
        .map(|p| {
            let running: Vec<Value> = p
                .running
                .iter()
                .map(|r| json!({
                    "job": r.job, "started_at": r.started_at,
                    "running_for": (now - r.started_at).num_milliseconds().max(0) as f64 / 1000.0,
                }))
                .collect();
            json!({ "info": p.info, "beat_at": p.beat_at, "quiet": p.quiet, "busy": p.running.len(), "running": running })
        })
        .collect();
    Ok(Json(json!({ "processes": rows })))
}

async fn signal(State(st): State<AppState>, headers: HeaderMap, body: Bytes) -> ApiResult {
    let b = parse_body(&headers, &body)?;
    let process = b
        .process
        .ok_or_else(|| WebError::bad_request("give process"))?;
    let sig = parse_signal(b.signal.as_deref().unwrap_or(""))?;
    st.signal(&process, sig).await?;
    Ok(Json(json!({ "process": process, "signal": b.signal })))
}

async fn set_list(
    State(st): State<AppState>,
    Path(slug): Path<String>,
    RawQuery(raw): RawQuery,
) -> ApiResult {
    let kind = SetKind::from_slug(&slug)?;
    let q = Pairs::parse(raw.as_deref());
    list(&st, kind.set(), &q, q.filter()).await
}

async fn set_count(
    State(st): State<AppState>,
    Path(slug): Path<String>,
    RawQuery(raw): RawQuery,
) -> ApiResult {
    let kind = SetKind::from_slug(&slug)?;
    let q = Pairs::parse(raw.as_deref());
    let sel = match q.jids()? {
        jids if !jids.is_empty() => Selection::Jids(jids),
        _ => Selection::Matching(q.filter()),
    };
    Ok(Json(json!({ "count": st.count(kind, &sel).await? })))
}

async fn set_job(
    State(st): State<AppState>,
    Path((slug, jid)): Path<(String, String)>,
) -> ApiResult {
    let kind = SetKind::from_slug(&slug)?;
    Ok(Json(job_json(&st.job(kind, &jid).await?)))
}

async fn set_action(
    State(st): State<AppState>,
    Path((slug, action)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult {
    let kind = SetKind::from_slug(&slug)?;
    let action = kind.action(&action)?;
    let sel = body_selection(parse_body(&headers, &body)?)?;
    let n = st.apply(kind, action, sel, st.now()).await?;
    Ok(Json(json!({ "action": action.name(), "count": n })))
}

async fn recurring(State(st): State<AppState>) -> ApiResult {
    let Some(records) = st.schedules().await? else {
        return Ok(Json(json!({ "supported": false, "schedules": [] })));
    };
    let rows: Vec<Value> = records
        .iter()
        .map(|r| {
            let t = crate::pages::recurring::schedule_timing(r, 5);
            json!({
                "name": r.name, "description": r.description, "words": t.words, "zone": t.zone,
                "next": t.next, "last_run": r.last_run, "enabled": r.enabled, "job": r.job,
            })
        })
        .collect();
    Ok(Json(json!({ "supported": true, "schedules": rows })))
}

async fn recurring_action(
    State(st): State<AppState>,
    Path((name, action)): Path<(String, String)>,
) -> ApiResult {
    let jid = st.schedule_act(&name, &action, st.now()).await?;
    Ok(Json(
        json!({ "schedule": name, "action": action, "jid": jid }),
    ))
}
