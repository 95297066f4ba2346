//! Picking jobs for the admin side: which rows a set, filter or selection means, in order.
//!
//! 1. A [`JobSet`] is a `state` (and, for a queue, a `queue`) with its order: a queue
//!    head first, scheduled and retry soonest first, dead most recent first.
//! 2. Jids and the class filter are matched in SQL; the text filter is applied in Rust
//!    with [`JobFilter::matches`], so it means exactly what it means on every backend.
//! 3. Actions lock the rows they picked (`FOR UPDATE`) inside their transaction, so a
//!    concurrent reserve skips them and a concurrent move makes them no longer match.

use chrono::{DateTime, Utc};
use futures::TryStreamExt;
use jobs::backend::{
    BackendError, JobFilter, JobListParams, JobPage, JobSet, Selection, StoredJob,
};
use jobs::envelope::JobEnvelope;
use sqlx::postgres::PgRow;
use sqlx::types::Json;
use sqlx::{PgConnection, Postgres, QueryBuilder, Row};

use super::error::Sqlx;
use super::rows;
use super::sql::quoted;

/// The columns [`PostgresBackend::stored`] reads, in order.
pub(super) const STORED: &str = "payload, run_at, enqueued_at";
use super::PostgresBackend;

/// Where a set's jobs are: their state, their queue, and their order.
pub(super) struct SetPlace<'a> {
    pub(super) state: &'static str,
    pub(super) queue: Option<&'a str>,
    order: &'static str,
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

impl PostgresBackend {
    /// `SELECT <columns> FROM jobs WHERE <set, jids, class>`, without order.
    fn matching<'q>(
        &self,
        columns: &str,
        place: &SetPlace<'q>,
        jids: Option<&'q [String]>,
        filter: &'q JobFilter,
    ) -> QueryBuilder<'q, Postgres> {
        let mut q = QueryBuilder::new(format!(
            "SELECT {columns} FROM {}.jobs WHERE state = '{}'",
            quoted(self.schema()),
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

    /// A page of a set: `total` matching jobs, `limit` of them from `offset`.
    pub(super) async fn list(&self, p: &JobListParams) -> Result<JobPage, BackendError> {
        let place = SetPlace::of(&p.set)?;
        let offset = i64::try_from(p.offset).unwrap_or(i64::MAX);
        let limit = i64::try_from(p.limit).unwrap_or(i64::MAX);
        let pool = &self.inner.pool;
        if p.filter.text.is_none() {
            let total: i64 = self
                .matching("count(*)", &place, None, &p.filter)
                .build_query_scalar()
                .fetch_one(pool)
                .await
                .or_backend(&self.inner.cx)?;
            let mut q = self.matching(STORED, &place, None, &p.filter);
            q.push(format!(" ORDER BY {} OFFSET ", place.order))
                .push_bind(offset)
                .push(" LIMIT ")
                .push_bind(limit);
            let rows = q.build().fetch_all(pool).await.or_backend(&self.inner.cx)?;
            let jobs = rows
                .iter()
                .map(|row| self.stored(row, &p.set))
                .collect::<Result<_, _>>()?;
            return Ok(JobPage {
                total: u64::try_from(total).unwrap_or(0),
                jobs,
            });
        }
        // The text filter: walk the set in order, matching in Rust.
        let mut q = self.matching(STORED, &place, None, &p.filter);
        q.push(format!(" ORDER BY {}", place.order));
        let mut rows = q.build().fetch(pool);
        let mut page = JobPage::default();
        while let Some(row) = rows.try_next().await.or_backend(&self.inner.cx)? {
            let stored = self.stored(&row, &p.set)?;
            if !p.filter.matches(&stored.job) {
                continue;
            }
            if page.total >= p.offset && (page.jobs.len() as u64) < p.limit {
                page.jobs.push(stored);
            }
            page.total += 1;
        }
        Ok(page)
    }

    /// Locks and returns the ids of the rows `selection` picks in `set`, in set order.
    pub(super) async fn select_ids(
        &self,
        conn: &mut PgConnection,
        set: &JobSet,
        selection: &Selection,
    ) -> Result<Vec<i64>, BackendError> {
        let place = SetPlace::of(set)?;
        let all = JobFilter::default();
        let (jids, filter) = match selection {
            Selection::Jids(jids) => (Some(jids.as_slice()), &all),
            Selection::Matching(filter) => (None, filter),
            _ => {
                return Err(BackendError::Unsupported {
                    backend: "postgres",
                    operation: "this job selection",
                })
            }
        };
        let columns = if filter.text.is_some() {
            "id, payload"
        } else {
            "id"
        };
        let mut q = self.matching(columns, &place, jids, filter);
        q.push(format!(" ORDER BY {} FOR UPDATE", place.order));
        let rows = q
            .build()
            .fetch_all(&mut *conn)
            .await
            .or_backend(&self.inner.cx)?;
        let mut ids = Vec::with_capacity(rows.len());
        for row in rows {
            let id: i64 = row.try_get(0).or_backend(&self.inner.cx)?;
            if filter.text.is_some() {
                let Json(job): Json<JobEnvelope> = row.try_get(1).or_backend(&self.inner.cx)?;
                if !filter.matches(&job) {
                    continue;
                }
            }
            ids.push(id);
        }
        Ok(ids)
    }

    /// A row of the [`STORED`] columns as a job of `set`.
    pub(super) fn stored(&self, row: &PgRow, set: &JobSet) -> Result<StoredJob, BackendError> {
        let job = rows::job(row, 0, 2).or_backend(&self.inner.cx)?;
        let run_at: DateTime<Utc> = row.try_get(1).or_backend(&self.inner.cx)?;
        Ok(StoredJob {
            job,
            set: set.clone(),
            at: (!matches!(set, JobSet::Queue(_))).then_some(run_at),
        })
    }
}
