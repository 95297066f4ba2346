//! Planner statistics for `jobs` before autovacuum has gathered any.
//!
//! 1. Without statistics the planner guesses 0.5% for `queue = $1` and again for
//!    `state = 'available'`, so it expects a handful of rows per queue and reserves with a
//!    bitmap scan of the whole queue and a sort, not by walking `jobs_available_idx` from
//!    the head. With 200,000 jobs queued that is ~125 ms per reserve (a 7.8 MB on-disk
//!    sort) instead of ~1.7 ms (`EXPLAIN (ANALYZE, BUFFERS)` in `bench/notes-postgres.md`).
//! 2. Autovacuum analyzes the table eventually, but not before its next run after a burst,
//!    and never when it is off. So once per backend, after a bulk push and at each rescue
//!    until then, [`ensure_statistics`] starts a task that runs `ANALYZE`
//!    on `jobs` when it has no statistics yet and holds at least [`MIN_ROWS`] jobs (the
//!    push or rescue does not wait for it). Any statistics will do:
//!    the row count scales with the table's size at plan time, and the queue and state
//!    distributions are what make the head walk the cheap plan at every depth.
//! 3. It is best effort: a failure (say, a role that does not own the table) is logged at
//!    debug level and the reserve still works, only slower on deep queues.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;

use super::Inner;

/// Fewer jobs than this and even the sorting plan is cheap: wait for more.
pub(super) const MIN_ROWS: i64 = 1000;

const UNKNOWN: u8 = 0;
const CHECKING: u8 = 1;
const PRESENT: u8 = 2;

/// Whether this backend has seen statistics for `jobs` (or gathered them).
#[derive(Debug, Default)]
pub(super) struct Statistics {
    state: AtomicU8,
}

/// Analyzes `jobs`, in a task of its own so no call waits for it, if it has no planner
/// statistics and enough rows to matter. One check at a time; none once they exist.
pub(super) fn ensure_statistics(inner: &Arc<Inner>) {
    let state = &inner.statistics.state;
    if state
        .compare_exchange(UNKNOWN, CHECKING, Ordering::AcqRel, Ordering::Acquire)
        .is_err()
    {
        return;
    }
    let this = inner.clone();
    tokio::spawn(async move {
        let next = match gather_statistics(&this).await {
            Ok(true) => PRESENT,
            Ok(false) => UNKNOWN,
            Err(error) => {
                tracing::debug!(%error, "could not analyze the jobs table");
                UNKNOWN
            }
        };
        this.statistics.state.store(next, Ordering::Release);
    });
}

/// True once statistics exist; runs `ANALYZE` when they do not and the table is big.
async fn gather_statistics(inner: &Inner) -> Result<bool, sqlx::Error> {
    let schema = inner.schema();
    let sql = super::sql::Queries::inline(
        schema,
        "SELECT EXISTS (SELECT 1 FROM pg_stats
                        WHERE schemaname = $1 AND tablename = 'jobs' AND attname = 'state'),
                (SELECT count(*) FROM (SELECT 1 FROM __SCHEMA__.jobs LIMIT $2) AS head)",
    );
    let (present, rows): (bool, i64) = sqlx::query_as(&sql)
        .bind(schema)
        .bind(MIN_ROWS)
        .fetch_one(&inner.pool)
        .await?;
    if present {
        return Ok(true);
    }
    if rows < MIN_ROWS {
        return Ok(false);
    }
    let analyze = super::sql::Queries::inline(schema, "ANALYZE __SCHEMA__.jobs");
    sqlx::query(&analyze).execute(&inner.pool).await?;
    tracing::debug!(
        schema,
        "analyzed the jobs table: it had no planner statistics"
    );
    Ok(true)
}
