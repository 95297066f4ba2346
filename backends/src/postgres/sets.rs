//! The admin side's job sets as SQL: which rows a set, filter or selection means, in order.
//!
//! 1. A [`JobSet`] is a `state` (and, for a queue, a `queue`) with its order: a queue
//!    head first, scheduled and retry soonest first, dead most recent first.
//! 2. Jids and the class filter are matched in SQL ([`matching`]); the text filter is
//!    applied in Rust with [`JobFilter::matches`] by the callers, listing (`listing.rs`)
//!    and actions (`actions.rs`).
//! 3. Every read of a job goes through [`stored`] or `poison::read`, so a payload that is
//!    not a job is shown as one that keeps its text instead of failing the read.

use chrono::{DateTime, Utc};
use jobs::backend::{BackendError, JobFilter, JobSet, StoredJob};
use sqlx::postgres::PgRow;
use sqlx::{Postgres, QueryBuilder};

use super::error::Sqlx;
use super::poison;
use super::sql::quoted;
use super::Inner;

/// The columns [`stored`] reads, in the order [`Stored`] holds them.
pub(super) const STORED: &str = "payload::text, run_at, enqueued_at, jid, queue";

/// A row read with [`STORED`]: payload text, time, `enqueued_at`, jid, queue.
pub(super) type Stored = (String, DateTime<Utc>, Option<f64>, String, String);

/// Where a set's jobs are: their state, their queue, and their order.
pub(super) struct SetPlace<'a> {
    pub(super) state: &'static str,
    pub(super) queue: Option<&'a str>,
    pub(super) order: &'static str,
}

impl<'a> SetPlace<'a> {
    pub(super) fn of(set: &'a JobSet) -> Result<Self, BackendError> {
        Ok(match set {
            JobSet::Queue(name) => SetPlace {
                state: "available",
                queue: Some(name),
                order: "priority, position",
            },
            JobSet::Scheduled => SetPlace {
                state: "scheduled",
                queue: None,
                order: "run_at, position",
            },
            JobSet::Retry => SetPlace {
                state: "retryable",
                queue: None,
                order: "run_at, position",
            },
            JobSet::Dead => SetPlace {
                state: "dead",
                queue: None,
                order: "run_at DESC, position DESC",
            },
            _ => {
                return Err(BackendError::Unsupported {
                    backend: "postgres",
                    operation: "this job set",
                })
            }
        })
    }
}

/// `SELECT <columns> FROM jobs WHERE <set, jids, class>`, without order.
pub(super) fn matching<'q>(
    inner: &Inner,
    columns: &str,
    place: &SetPlace<'q>,
    jids: Option<&'q [String]>,
    filter: &'q JobFilter,
) -> QueryBuilder<'q, Postgres> {
    let mut q = QueryBuilder::new(format!(
        "SELECT {columns} FROM {}.jobs WHERE state = '{}'",
        quoted(inner.schema()),
        place.state
    ));
    if let Some(queue) = place.queue {
        q.push(" AND queue = ").push_bind(queue);
    }
    if let Some(jids) = jids {
        q.push(" AND jid = ANY(").push_bind(jids).push(")");
    }
    if let Some(class) = &filter.class {
        q.push(" AND payload->>'class' = ").push_bind(class);
    }
    q
}

/// A row of the [`STORED`] columns as a job of `set`; a payload that is not a job reads as
/// the dead job that keeps its text (`poison.rs`).
pub(super) fn stored(inner: &Inner, row: &PgRow, set: &JobSet) -> Result<StoredJob, BackendError> {
    let place = SetPlace::of(set)?;
    let row: Stored = sqlx::FromRow::from_row(row).or_backend(&inner.cx)?;
    Ok(StoredJob {
        job: poison::read(&row, place.state),
        set: set.clone(),
        at: (!matches!(set, JobSet::Queue(_))).then_some(row.1),
    })
}
