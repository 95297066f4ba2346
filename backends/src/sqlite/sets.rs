//! The admin side's job sets: listing, fetching and acting on jobs of a queue or a set.
//!
//! 1. A [`JobSet`] is a state (and, for a queue, a name) with its order: a queue oldest
//!    first, scheduled and retry soonest first, dead most recent first.
//! 2. Filters: `class` is matched in SQL; `text` is matched exactly as
//!    [`JobFilter::matches`] does, on decoded jobs, after an `instr` pre-filter on the
//!    stored JSON whenever the text would appear there unescaped.
//! 3. Actions resolve their [`Selection`] to row ids inside one write transaction and move
//!    those rows with the shared moves.

use jobs::backend::{
    BackendError, JobActionParams, JobFilter, JobListParams, JobPage, JobSet, Selection, StoredJob,
};

use super::db::{decode_job, from_micros, id_list, Db, Tx};
use super::error::{self, Sqlx};
use super::moves;

/// A set as SQL: its state, its queue, and its listing order.
struct SetSql<'a> {
    state: &'static str,
    queue: Option<&'a str>,
    /// The order a listing shows.
    listing: &'static str,
}

fn set_sql(set: &JobSet) -> Result<SetSql<'_>, BackendError> {
    let (state, queue, listing) = match set {
        JobSet::Queue(name) => ("available", Some(name.as_str()), "pos"),
        JobSet::Scheduled => ("scheduled", None, "run_at, pos"),
        JobSet::Retry => ("retryable", None, "run_at, pos"),
        JobSet::Dead => ("dead", None, "run_at DESC, pos DESC"),
        _ => {
            return Err(BackendError::Unsupported {
                backend: "sqlite",
                operation: "this job set",
            })
        }
    };
    Ok(SetSql {
        state,
        queue,
        listing,
    })
}

/// Whether `text` appears verbatim in the JSON of any job it matches: JSON escapes only
/// quotes, backslashes and control characters.
fn prefilterable(text: &str) -> bool {
    !text.chars().any(|c| c == '"' || c == '\\' || c < ' ')
}

/// Selects `columns` of the jobs of a set that may match `filter`, in `order`; the binds
/// follow in the order [`bind_filter`] adds them.
fn candidates(s: &SetSql<'_>, filter: &JobFilter, columns: &str, order: &str) -> String {
    let mut sql = format!("SELECT {columns} FROM jobs WHERE state = '{}'", s.state);
    if s.queue.is_some() {
        sql.push_str(" AND queue = ?");
    }
    if filter.class.is_some() {
        sql.push_str(" AND class = ?");
    }
    if filter.text.as_deref().is_some_and(prefilterable) {
        sql.push_str(" AND instr(payload, ?) > 0");
    }
    if !order.is_empty() {
        sql.push_str(" ORDER BY ");
        sql.push_str(order);
    }
    sql
}

macro_rules! bind_filter {
    ($query:expr, $s:expr, $filter:expr) => {{
        let mut q = $query;
        if let Some(queue) = $s.queue {
            q = q.bind(queue);
        }
        if let Some(class) = &$filter.class {
            q = q.bind(class.as_str());
        }
        if let Some(text) = $filter.text.as_deref().filter(|t| prefilterable(t)) {
            q = q.bind(text);
        }
        q
    }};
}

/// A page of a set.
pub(super) async fn job_list(db: &Db, p: JobListParams) -> Result<JobPage, BackendError> {
    let s = set_sql(&p.set)?;
    let at = |run_at: i64| (s.queue.is_none()).then(|| from_micros(run_at));
    let limit = usize::try_from(p.limit).unwrap_or(usize::MAX);
    let mut tx = db.read().await?;
    if p.filter.text.is_none() {
        let sql = candidates(&s, &p.filter, "count(*)", "");
        let total: i64 = bind_filter!(sqlx::query_scalar(&sql), s, p.filter)
            .fetch_one(&mut *tx)
            .await
            .or_backend(&db.cx)?;
        let sql = candidates(&s, &p.filter, "run_at, payload", s.listing) + " LIMIT ? OFFSET ?";
        let rows: Vec<(i64, String)> = bind_filter!(sqlx::query_as(&sql), s, p.filter)
            .bind(i64::try_from(p.limit).unwrap_or(i64::MAX))
            .bind(i64::try_from(p.offset).unwrap_or(i64::MAX))
            .fetch_all(&mut *tx)
            .await
            .or_backend(&db.cx)?;
        let jobs = rows
            .into_iter()
            .map(|(run_at, payload)| {
                Ok(StoredJob {
                    job: decode_job(&payload)?,
                    set: p.set.clone(),
                    at: at(run_at),
                })
            })
            .collect::<Result<_, BackendError>>()?;
        return Ok(JobPage {
            total: u64::try_from(total).unwrap_or(0),
            jobs,
        });
    }
    let sql = candidates(&s, &p.filter, "run_at, payload", s.listing);
    let rows: Vec<(i64, String)> = bind_filter!(sqlx::query_as(&sql), s, p.filter)
        .fetch_all(&mut *tx)
        .await
        .or_backend(&db.cx)?;
    let mut total = 0u64;
    let mut jobs = Vec::new();
    for (run_at, payload) in rows {
        let job = decode_job(&payload)?;
        if !p.filter.matches(&job) {
            continue;
        }
        let index = total;
        total += 1;
        if index >= p.offset && jobs.len() < limit {
            jobs.push(StoredJob {
                job,
                set: p.set.clone(),
                at: at(run_at),
            });
        }
    }
    Ok(JobPage { total, jobs })
}

/// One job of a set by jid.
pub(super) async fn job_get(
    db: &Db,
    set: JobSet,
    jid: &str,
) -> Result<Option<StoredJob>, BackendError> {
    let s = set_sql(&set)?;
    let mut sql = format!(
        "SELECT run_at, payload FROM jobs WHERE jid = ? AND state = '{}'",
        s.state
    );
    if s.queue.is_some() {
        sql.push_str(" AND queue = ?");
    }
    let mut query = sqlx::query_as::<_, (i64, String)>(&sql).bind(jid);
    if let Some(queue) = s.queue {
        query = query.bind(queue);
    }
    let row = query.fetch_optional(&db.readers).await.or_backend(&db.cx)?;
    let Some((run_at, payload)) = row else {
        return Ok(None);
    };
    let at = s.queue.is_none().then(|| from_micros(run_at));
    Ok(Some(StoredJob {
        job: decode_job(&payload)?,
        set,
        at,
    }))
}

/// The row ids a selection picks in a set, in the set's time order (oldest first).
async fn select_ids(
    db: &Db,
    tx: &mut Tx<'_>,
    s: &SetSql<'_>,
    selection: &Selection,
) -> Result<Vec<i64>, BackendError> {
    let order = if s.queue.is_some() {
        "pos"
    } else {
        "run_at, pos"
    };
    match selection {
        Selection::Jids(jids) => {
            let list = serde_json::to_string(jids).map_err(|e| error::encode("job ids", e))?;
            let none = JobFilter::default();
            let sql = candidates(s, &none, "id", "")
                + " AND jid IN (SELECT value FROM json_each(?)) ORDER BY "
                + order;
            bind_filter!(sqlx::query_scalar(&sql), s, none)
                .bind(list)
                .fetch_all(&mut **tx)
                .await
                .or_backend(&db.cx)
        }
        Selection::Matching(filter) if filter.text.is_none() => {
            let sql = candidates(s, filter, "id", order);
            bind_filter!(sqlx::query_scalar(&sql), s, filter)
                .fetch_all(&mut **tx)
                .await
                .or_backend(&db.cx)
        }
        Selection::Matching(filter) => {
            let sql = candidates(s, filter, "id, payload", order);
            let rows: Vec<(i64, String)> = bind_filter!(sqlx::query_as(&sql), s, filter)
                .fetch_all(&mut **tx)
                .await
                .or_backend(&db.cx)?;
            let mut ids = Vec::new();
            for (id, payload) in rows {
                if filter.matches(&decode_job(&payload)?) {
                    ids.push(id);
                }
            }
            Ok(ids)
        }
        _ => Err(BackendError::Unsupported {
            backend: "sqlite",
            operation: "this selection",
        }),
    }
}

/// Deletes the selected jobs; returns how many.
pub(super) async fn job_delete(db: &Db, p: JobActionParams) -> Result<u64, BackendError> {
    let s = set_sql(&p.set)?;
    let mut tx = db.write().await?;
    let ids = select_ids(db, &mut tx, &s, &p.selection).await?;
    let done = sqlx::query("DELETE FROM jobs WHERE id IN (SELECT value FROM json_each(?1))")
        .bind(id_list(&ids))
        .execute(&mut *tx)
        .await
        .or_backend(&db.cx)?;
    db.commit(tx).await?;
    Ok(done.rows_affected())
}

/// Moves the selected jobs to the tails of their queues now; 0 for a queue.
pub(super) async fn job_enqueue_now(db: &Db, p: JobActionParams) -> Result<u64, BackendError> {
    if matches!(p.set, JobSet::Queue(_)) {
        return Ok(0);
    }
    let s = set_sql(&p.set)?;
    let mut tx = db.write().await?;
    let ids = select_ids(db, &mut tx, &s, &p.selection).await?;
    let moved = moves::enqueue(db, &mut tx, &ids, p.now).await?;
    db.commit(tx).await?;
    if moved > 0 {
        db.wake_reservers();
    }
    Ok(moved)
}

/// Moves the selected jobs to the dead set, trimming it; 0 for the dead set.
pub(super) async fn job_kill(db: &Db, p: JobActionParams) -> Result<u64, BackendError> {
    if p.set == JobSet::Dead {
        return Ok(0);
    }
    let s = set_sql(&p.set)?;
    let mut tx = db.write().await?;
    let ids = select_ids(db, &mut tx, &s, &p.selection).await?;
    let (moved, _trimmed) = moves::kill(db, &mut tx, &ids, p.now, p.dead_limits).await?;
    db.commit(tx).await?;
    Ok(moved)
}
