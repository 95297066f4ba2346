//! Unique jobs: a lock is three columns of its holder's row, taken in the push's transaction.
//!
//! 1. [`push`] stores a batch with unique jobs in one transaction (a savepoint inside the
//!    app's own): `unique_hold.sql` clears the lapsed locks of the batch's keys and locks
//!    the rows of the live ones; [`Plan`] takes the jobs in order as the memory backend
//!    does (a duplicate is skipped, or replaces a waiting holder, also within the batch);
//!    the waiting holders replaced are deleted and the jobs kept are inserted with
//!    `push_flow.sql`. A key another push took since the holders were read leaves its job
//!    out of the insert: the transaction is rolled back and tried again, and the holder is
//!    then read like any other. A single job that does not replace first tries the insert
//!    alone: a free key, the common case of `perform_later`, costs one statement as a
//!    plain push does.
//! 2. Releasing a lock is setting its row's `unique_key` to NULL (or deleting the row) in
//!    the statement that moves the job (`finish.sql`, `reserve.sql`, the admin actions, the
//!    rescue's burial); migration 7 describes the columns.
//! 3. [`unique_list`] and [`unique_release`] are the admin side's view of the locks.

use std::collections::HashMap;

use jobs::backend::{
    BackendError, PushConflict, PushParams, PushReport, UniqueHeld, UniqueListParams,
    UniqueReleaseParams,
};
use jobs::envelope::flow::UniqueUntil;
use jobs::envelope::JobEnvelope;
use sqlx::{Connection, PgConnection, Row};

use super::error::Sqlx;
use super::push::{FlowRows, Pushed};
use super::Inner;

/// How many times a push tries again when another push takes one of its keys under it.
const ATTEMPTS: usize = 8;

/// Stores a batch with unique jobs in one transaction; see the module documentation.
pub(super) async fn push(
    inner: &Inner,
    conn: &mut PgConnection,
    p: PushParams,
) -> Result<Pushed, BackendError> {
    if p.jobs.len() == 1 && p.on_conflict != PushConflict::Replace {
        // One job whose key is free (the common case): one insert, which the unique index
        // refuses when the key is held, lapsed or not; a refused job takes the transaction.
        let mut rows = FlowRows::with_capacity(1);
        for job in &p.jobs {
            rows.add(job.clone(), p.now)?;
        }
        if rows.insert(inner, &mut *conn, p.now).await? == 1 {
            return Ok(Pushed {
                queued: rows.queued,
                report: PushReport::default(),
            });
        }
    }
    let mut keys: Vec<String> = p
        .jobs
        .iter()
        .filter_map(|j| j.unique().map(|l| l.key))
        .collect();
    keys.sort_unstable();
    keys.dedup();
    for _ in 0..ATTEMPTS {
        let mut tx = conn.begin().await.or_backend(&inner.cx)?;
        let rows = sqlx::query(&inner.sql.unique_hold)
            .bind(&keys)
            .bind(p.now)
            .fetch_all(&mut *tx)
            .await
            .or_backend(&inner.cx)?;
        let mut held = HashMap::with_capacity(rows.len());
        for row in rows {
            let key: String = row.try_get(0).or_backend(&inner.cx)?;
            let holder = Holder {
                jid: row.try_get(1).or_backend(&inner.cx)?,
                row: Some(row.try_get(2).or_backend(&inner.cx)?),
                waiting: row.try_get(3).or_backend(&inner.cx)?,
            };
            held.insert(key, holder);
        }
        let plan = Plan::new(&p.jobs, held, p.on_conflict)?;
        if !plan.delete.is_empty() {
            sqlx::query(&inner.q("DELETE FROM __SCHEMA__.jobs WHERE id = ANY($1)"))
                .bind(&plan.delete)
                .execute(&mut *tx)
                .await
                .or_backend(&inner.cx)?;
        }
        let mut rows = FlowRows::with_capacity(p.jobs.len());
        for (job, keep) in p.jobs.iter().zip(&plan.keep) {
            if *keep {
                rows.add(job.clone(), p.now)?;
            }
        }
        let stored = rows.insert(inner, &mut tx, p.now).await?;
        if stored == rows.len() {
            tx.commit().await.or_backend(&inner.cx)?;
            return Ok(Pushed {
                queued: rows.queued,
                report: plan.report,
            });
        }
        // Another push took a key after the holders were read: read them again.
        tx.rollback().await.or_backend(&inner.cx)?;
    }
    Err(BackendError::Conflict(format!(
        "the unique locks of a push kept being taken by other pushes ({ATTEMPTS} attempts)"
    )))
}

/// Who holds a key as a push goes through its jobs.
#[derive(Debug, Clone)]
struct Holder {
    jid: String,
    /// The stored row that holds it; `None` for a job of this push.
    row: Option<i64>,
    /// Whether it waits (queue, scheduled or retry set): a push may replace it.
    waiting: bool,
}

/// What a push does with each of its jobs, given the stored holders of their keys.
#[derive(Debug, Default)]
struct Plan {
    /// Per job: whether it is inserted.
    keep: Vec<bool>,
    /// Stored holders replaced by a job of the push: their rows are deleted.
    delete: Vec<i64>,
    report: PushReport,
}

impl Plan {
    /// Takes `jobs` in order, as the memory backend does: a job whose key another job holds
    /// (`held`, then the jobs before it) is a duplicate, or with [`PushConflict::Replace`]
    /// takes a waiting holder's place. A job whose jid is stored already, holding its key,
    /// is a conflict, as a job stored twice is on the plain path.
    fn new(
        jobs: &[JobEnvelope],
        mut held: HashMap<String, Holder>,
        on_conflict: PushConflict,
    ) -> Result<Self, BackendError> {
        let mut plan = Plan {
            keep: vec![true; jobs.len()],
            ..Plan::default()
        };
        let mut by_jid: HashMap<&str, usize> = HashMap::new();
        for (i, job) in jobs.iter().enumerate() {
            let Some(lock) = job.unique() else {
                continue;
            };
            let holder = held.get(&lock.key).cloned();
            match holder {
                Some(h) if h.jid == job.jid && h.row.is_some() => {
                    return Err(BackendError::Conflict(format!(
                        "job {} is stored already",
                        job.jid
                    )));
                }
                // Two jobs of one jid in the batch: the insert refuses the second.
                Some(h) if h.jid == job.jid => {}
                None => {}
                Some(h) if on_conflict == PushConflict::Replace && h.waiting => {
                    match h.row {
                        Some(row) => plan.delete.push(row),
                        None => {
                            if let Some(&j) = by_jid.get(h.jid.as_str()) {
                                plan.keep[j] = false;
                            }
                        }
                    }
                    plan.report.replaced.push((i, h.jid));
                }
                Some(h) => {
                    plan.keep[i] = false;
                    plan.report.duplicates.push((i, h.jid));
                    continue;
                }
            }
            by_jid.insert(job.jid.as_str(), i);
            held.insert(
                lock.key,
                Holder {
                    jid: job.jid.clone(),
                    row: None,
                    waiting: true,
                },
            );
        }
        Ok(plan)
    }
}

/// The locks held at `p.now`, soonest to lapse first, paged.
pub(super) async fn unique_list(
    inner: &Inner,
    p: UniqueListParams,
) -> Result<Vec<UniqueHeld>, BackendError> {
    let sql = inner.q(
        "SELECT unique_key, jid, coalesce(payload->>'class', ''), queue, unique_until,
                unique_expires_at
         FROM __SCHEMA__.jobs
         WHERE unique_key IS NOT NULL AND unique_expires_at > $1
         ORDER BY unique_expires_at, unique_key COLLATE \"C\"
         OFFSET $2 LIMIT $3",
    );
    let rows = sqlx::query(&sql)
        .bind(p.now)
        .bind(i64::try_from(p.offset).unwrap_or(i64::MAX))
        .bind(i64::try_from(p.limit).unwrap_or(i64::MAX))
        .fetch_all(&inner.pool)
        .await
        .or_backend(&inner.cx)?;
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let until: Option<String> = row.try_get(4).or_backend(&inner.cx)?;
        out.push(UniqueHeld::new(
            row.try_get::<String, _>(0).or_backend(&inner.cx)?,
            row.try_get::<String, _>(1).or_backend(&inner.cx)?,
            row.try_get::<String, _>(2).or_backend(&inner.cx)?,
            row.try_get::<String, _>(3).or_backend(&inner.cx)?,
            match until.as_deref() {
                Some("start") => UniqueUntil::Start,
                _ => UniqueUntil::Success,
            },
            row.try_get(5).or_backend(&inner.cx)?,
        ));
    }
    Ok(out)
}

/// Releases lock `p.key` (its job stays); whether a job held it.
pub(super) async fn unique_release(
    inner: &Inner,
    p: UniqueReleaseParams,
) -> Result<bool, BackendError> {
    let sql = inner.q("UPDATE __SCHEMA__.jobs SET unique_key = NULL WHERE unique_key = $1");
    let done = sqlx::query(&sql)
        .bind(&p.key)
        .execute(&inner.pool)
        .await
        .or_backend(&inner.cx)?;
    Ok(done.rows_affected() > 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use jobs::envelope::flow::UniqueLock;

    fn job(n: i64, key: &str) -> JobEnvelope {
        let mut j = JobEnvelope::new("J", "q", vec![n.into()]);
        j.set_unique(Some(UniqueLock::new(
            "J",
            None,
            &[key.into()],
            UniqueUntil::Success,
            2e9,
        )));
        j
    }

    fn stored(job: &JobEnvelope, row: i64, waiting: bool) -> HashMap<String, Holder> {
        let key = job.unique().map(|l| l.key).unwrap_or_default();
        let holder = Holder {
            jid: "held".into(),
            row: Some(row),
            waiting,
        };
        HashMap::from([(key, holder)])
    }

    #[test]
    fn skip_reports_each_duplicate_by_index_with_its_holder() {
        let jobs = [job(1, "a"), job(2, "a"), job(3, "b"), job(4, "b")];
        let plan = Plan::new(&jobs, stored(&jobs[0], 7, true), PushConflict::Skip).unwrap();
        assert_eq!(plan.keep, vec![false, false, true, false]);
        assert_eq!(
            plan.report.duplicates,
            vec![
                (0, "held".into()),
                (1, "held".into()),
                (3, jobs[2].jid.clone())
            ]
        );
        assert!(plan.delete.is_empty() && plan.report.replaced.is_empty());
    }

    #[test]
    fn replace_chains_through_the_batch_and_spares_a_running_holder() {
        let jobs = [job(1, "a"), job(2, "a"), job(3, "b")];
        let plan = Plan::new(&jobs, stored(&jobs[0], 7, true), PushConflict::Replace).unwrap();
        assert_eq!(plan.keep, vec![false, true, true]);
        assert_eq!(plan.delete, vec![7]);
        assert_eq!(
            plan.report.replaced,
            vec![(0, "held".into()), (1, jobs[0].jid.clone())]
        );
        let running = Plan::new(&jobs, stored(&jobs[0], 7, false), PushConflict::Replace).unwrap();
        assert_eq!(running.keep, vec![false, false, true]);
        assert_eq!(
            running.report.duplicates,
            vec![(0, "held".into()), (1, "held".into())]
        );
        assert!(running.delete.is_empty());
    }
}
