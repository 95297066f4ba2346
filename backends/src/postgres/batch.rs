//! Batches on Postgres: a row per batch and a row per member (migration 11), moved in the
//! settle's own transaction by the shared [`walk`].
//!
//! 1. [`settle`] runs inside `finish.rs`'s transaction for every applied item whose job
//!    carries a batch id: the batch row is locked (`FOR UPDATE`, so concurrent settles of
//!    one batch queue up), the member's row changes state, the counts change by that move
//!    only, and due callbacks are claimed (their `*_at` set) and pushed there too.
//! 2. The [`BatchStore`] side creates, grows, seals, reads, lists and cleans up batches,
//!    each in one transaction.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use jobs::backend::{
    BackendError, BatchAddParams, BatchCreateParams, BatchStatus, BatchStore, FinishOutcome,
    PushParams,
};
use jobs::batch::{
    child_member, walk, BatchInfo, BatchTx, Counts, Fired, Loaded, MemberState, BATCH_FIELD,
    CHILD_PREFIX,
};
use jobs::envelope::{to_epoch, JobEnvelope};
use sqlx::{Connection, PgConnection, Row};

use super::error::Sqlx;
use super::{push, Inner};

/// A [`BatchTx`] over a connection inside a transaction.
struct Tx<'a> {
    inner: &'a Inner,
    conn: &'a mut PgConnection,
    now: DateTime<Utc>,
    queued: bool,
}

fn decode(row: &sqlx::postgres::PgRow) -> Result<Loaded, BackendError> {
    let info: String = row
        .try_get("info")
        .map_err(|e| BackendError::Decode(e.to_string()))?;
    let info: BatchInfo =
        serde_json::from_str(&info).map_err(|e| BackendError::Decode(format!("batch: {e}")))?;
    let get = |c: &str| -> u64 { row.try_get::<i64, _>(c).unwrap_or(0).max(0) as u64 };
    let at = |c: &str| -> Option<f64> { row.try_get(c).ok().flatten() };
    let mut counts = Counts::default();
    counts.pending = get("pending");
    counts.succeeded = get("succeeded");
    counts.failed = get("failed");
    counts.dead = get("dead");
    let mut fired = Fired::default();
    fired.complete = at("complete_at");
    fired.success = at("success_at");
    fired.death = at("death_at");
    let sealed: bool = row.try_get("sealed").unwrap_or(false);
    Ok(Loaded::new(info, sealed, fired, counts))
}

const COLUMNS: &str = "info, sealed, pending, succeeded, failed, dead, complete_at, success_at,
    death_at";

async fn load(
    inner: &Inner,
    conn: &mut PgConnection,
    bid: &str,
    lock: bool,
) -> Result<Option<Loaded>, BackendError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM __SCHEMA__.batches WHERE bid = $1{}",
        if lock { " FOR UPDATE" } else { "" }
    );
    let row = sqlx::query(&inner.q(&sql))
        .bind(bid)
        .fetch_optional(&mut *conn)
        .await
        .or_backend(&inner.cx)?;
    row.as_ref().map(decode).transpose()
}

#[async_trait]
impl BatchTx for Tx<'_> {
    async fn load(&mut self, bid: &str) -> Result<Option<Loaded>, BackendError> {
        load(self.inner, self.conn, bid, true).await
    }

    async fn member_move(
        &mut self,
        bid: &str,
        member: &str,
        to: MemberState,
    ) -> Result<Option<MemberState>, BackendError> {
        // The old state, read in the same statement that changes it (the batch row is
        // locked, so no other settle of this batch runs meanwhile).
        let sql = "UPDATE __SCHEMA__.batch_members AS m SET state = $3
            FROM (SELECT state FROM __SCHEMA__.batch_members WHERE bid = $1 AND member = $2)
                AS old
            WHERE m.bid = $1 AND m.member = $2
            RETURNING old.state";
        let from: Option<String> = sqlx::query_scalar(&self.inner.q(sql))
            .bind(bid)
            .bind(member)
            .bind(to.as_str())
            .fetch_optional(&mut *self.conn)
            .await
            .or_backend(&self.inner.cx)?;
        Ok(from.as_deref().and_then(MemberState::parse))
    }

    async fn save(&mut self, bid: &str, c: Counts, f: Fired) -> Result<(), BackendError> {
        let sql = "UPDATE __SCHEMA__.batches SET pending = $2, succeeded = $3, failed = $4,
                dead = $5, complete_at = $6, success_at = $7, death_at = $8 WHERE bid = $1";
        sqlx::query(&self.inner.q(sql))
            .bind(bid)
            .bind(c.pending as i64)
            .bind(c.succeeded as i64)
            .bind(c.failed as i64)
            .bind(c.dead as i64)
            .bind(f.complete)
            .bind(f.success)
            .bind(f.death)
            .execute(&mut *self.conn)
            .await
            .or_backend(&self.inner.cx)?;
        Ok(())
    }

    async fn enqueue(&mut self, jobs: Vec<JobEnvelope>) -> Result<(), BackendError> {
        let pushed = push::insert(self.inner, self.conn, PushParams::new(jobs, self.now)).await?;
        self.queued |= pushed.queued;
        Ok(())
    }
}

/// Whether a settle of `job` touches a batch (and so needs a transaction).
pub(super) fn is_member(job: &JobEnvelope) -> bool {
    job.extra.contains_key(BATCH_FIELD)
}

/// Moves the batch member of a settled `job` (if it has a batch) by its outcome, inside the
/// settle's transaction on `conn`; returns whether a callback went to a queue.
pub(super) async fn settle(
    inner: &Inner,
    conn: &mut PgConnection,
    job: &JobEnvelope,
    outcome: &FinishOutcome,
    failed: bool,
    now: DateTime<Utc>,
) -> Result<bool, BackendError> {
    let Some(bid) = job.extra.get(BATCH_FIELD).and_then(|b| b.as_str()) else {
        return Ok(false);
    };
    let Some(to) = MemberState::after(outcome, failed) else {
        return Ok(false);
    };
    // One statement moves the member and its batch's counts (the batch row stays locked
    // until commit); only when that makes a callback due does the walk run.
    let row = sqlx::query(&inner.q(MOVE))
        .bind(bid)
        .bind(&job.jid)
        .bind(to.as_str())
        .fetch_optional(&mut *conn)
        .await
        .or_backend(&inner.cx)?;
    let Some(row) = row else {
        return Ok(false);
    };
    let l = decode(&row)?;
    let p = jobs::batch::plan(l.counts, l.sealed, l.fired);
    if p.fire.is_empty() && p.in_parent.is_none() && !p.parent_death {
        return Ok(false);
    }
    let mut tx = Tx {
        inner,
        conn,
        now,
        queued: false,
    };
    walk(&mut tx, bid, None, false, now).await?;
    Ok(tx.queued)
}

/// Moves member `$2` of batch `$1` to state `$3` and its batch's counts by that move (no
/// row when the member is absent or already there); returns the batch as [`decode`] reads
/// it. Both CTEs read the member's state before the update.
const MOVE: &str = "WITH old AS (
        SELECT state FROM __SCHEMA__.batch_members WHERE bid = $1 AND member = $2),
    moved AS (
        UPDATE __SCHEMA__.batch_members SET state = $3
        WHERE bid = $1 AND member = $2 AND state <> $3 RETURNING 1)
    UPDATE __SCHEMA__.batches SET
        pending = pending - (o.state = 'pending')::int + ($3 = 'pending')::int,
        succeeded = succeeded - (o.state = 'succeeded')::int + ($3 = 'succeeded')::int,
        failed = failed - (o.state = 'failed')::int + ($3 = 'failed')::int,
        dead = dead - (o.state = 'dead')::int + ($3 = 'dead')::int
    FROM old AS o
    WHERE bid = $1 AND EXISTS (SELECT 1 FROM moved)
    RETURNING info, sealed, pending, succeeded, failed, dead, complete_at, success_at,
        death_at";

fn missing(bid: &str) -> BackendError {
    BackendError::Conflict(format!(
        "batch {bid} does not exist (never created, or expired)"
    ))
}

/// Registers `jobs` as pending members of `bid` and pushes them; true when any was queued.
async fn add_members(
    inner: &Inner,
    conn: &mut PgConnection,
    bid: &str,
    jobs: Vec<JobEnvelope>,
    now: DateTime<Utc>,
) -> Result<bool, BackendError> {
    if jobs.is_empty() {
        return Ok(false);
    }
    let jids: Vec<String> = jobs.iter().map(|j| j.jid.clone()).collect();
    let sql = "WITH added AS (
            INSERT INTO __SCHEMA__.batch_members (bid, member, state)
            SELECT $1, m, 'pending' FROM unnest($2::text[]) AS m
            ON CONFLICT DO NOTHING RETURNING 1)
        UPDATE __SCHEMA__.batches SET pending = pending + (SELECT count(*) FROM added)
        WHERE bid = $1";
    sqlx::query(&inner.q(sql))
        .bind(bid)
        .bind(&jids)
        .execute(&mut *conn)
        .await
        .or_backend(&inner.cx)?;
    Ok(push::insert(inner, conn, PushParams::new(jobs, now))
        .await?
        .queued)
}

async fn seal_in(
    inner: &Inner,
    conn: &mut PgConnection,
    bid: &str,
    now: DateTime<Utc>,
) -> Result<bool, BackendError> {
    let sql = "UPDATE __SCHEMA__.batches SET sealed = true WHERE bid = $1 AND NOT sealed";
    let sealed = sqlx::query(&inner.q(sql))
        .bind(bid)
        .execute(&mut *conn)
        .await
        .or_backend(&inner.cx)?
        .rows_affected();
    if sealed == 0 {
        return Ok(false);
    }
    let mut tx = Tx {
        inner,
        conn,
        now,
        queued: false,
    };
    walk(&mut tx, bid, None, false, now).await?;
    Ok(tx.queued)
}

async fn status(
    inner: &Inner,
    conn: &mut PgConnection,
    bid: &str,
) -> Result<Option<BatchStatus>, BackendError> {
    let Some(l) = load(inner, conn, bid, false).await? else {
        return Ok(None);
    };
    let sql = "SELECT member, state FROM __SCHEMA__.batch_members
        WHERE bid = $1 AND (state IN ('failed', 'dead') OR member LIKE 'b:%')
        ORDER BY member LIMIT 2000";
    let members: Vec<(String, String)> = sqlx::query_as(&inner.q(sql))
        .bind(bid)
        .fetch_all(&mut *conn)
        .await
        .or_backend(&inner.cx)?;
    let mut s = BatchStatus::new(l.info, l.counts);
    s.sealed = l.sealed;
    s.fired = l.fired;
    for (member, state) in members {
        match member.strip_prefix(CHILD_PREFIX) {
            Some(child) => s.children.push(child.to_owned()),
            None if s.failed_jids.len() < 1000 && state != "pending" => s.failed_jids.push(member),
            None => {}
        }
    }
    Ok(Some(s))
}

#[async_trait]
impl BatchStore for super::PostgresBackend {
    async fn batch_create(&self, p: BatchCreateParams) -> Result<(), BackendError> {
        let inner = &*self.inner;
        let info =
            serde_json::to_string(&p.info).map_err(|e| BackendError::Decode(e.to_string()))?;
        let bid = p.info.bid.clone();
        let mut conn = inner.pool.acquire().await.or_backend(&inner.cx)?;
        let mut tx = conn.begin().await.or_backend(&inner.cx)?;
        if let Some(parent) = &p.info.parent {
            if load(inner, &mut tx, parent, true).await?.is_none() {
                return Err(missing(parent));
            }
        }
        let sql = "INSERT INTO __SCHEMA__.batches (bid, info, expires_at) VALUES ($1, $2, $3)";
        sqlx::query(&inner.q(sql))
            .bind(&bid)
            .bind(info)
            .bind(p.info.expires_at)
            .execute(&mut *tx)
            .await
            .or_backend(&inner.cx)?;
        if let Some(parent) = &p.info.parent {
            let sql = "WITH m AS (INSERT INTO __SCHEMA__.batch_members (bid, member, state)
                    VALUES ($1, $2, 'pending') RETURNING 1)
                UPDATE __SCHEMA__.batches SET pending = pending + 1 WHERE bid = $1";
            sqlx::query(&inner.q(sql))
                .bind(parent)
                .bind(child_member(&bid))
                .execute(&mut *tx)
                .await
                .or_backend(&inner.cx)?;
        }
        let mut queued = add_members(inner, &mut tx, &bid, p.jobs, p.now).await?;
        if p.sealed {
            queued |= seal_in(inner, &mut tx, &bid, p.now).await?;
        }
        tx.commit().await.or_backend(&inner.cx)?;
        if queued {
            inner.wake.wake_all();
        }
        Ok(())
    }

    async fn batch_add(&self, p: BatchAddParams) -> Result<(), BackendError> {
        let inner = &*self.inner;
        let mut conn = inner.pool.acquire().await.or_backend(&inner.cx)?;
        let mut tx = conn.begin().await.or_backend(&inner.cx)?;
        let Some(l) = load(inner, &mut tx, &p.bid, true).await? else {
            return Err(missing(&p.bid));
        };
        if l.fired.complete.is_some() {
            return Err(BackendError::Conflict(format!(
                "batch {} already completed: no member can be added",
                p.bid
            )));
        }
        let queued = add_members(inner, &mut tx, &p.bid, p.jobs, p.now).await?;
        tx.commit().await.or_backend(&inner.cx)?;
        if queued {
            inner.wake.wake_all();
        }
        Ok(())
    }

    async fn batch_seal(&self, bid: &str, now: DateTime<Utc>) -> Result<(), BackendError> {
        let inner = &*self.inner;
        let mut conn = inner.pool.acquire().await.or_backend(&inner.cx)?;
        let mut tx = conn.begin().await.or_backend(&inner.cx)?;
        if load(inner, &mut tx, bid, true).await?.is_none() {
            return Err(missing(bid));
        }
        let queued = seal_in(inner, &mut tx, bid, now).await?;
        tx.commit().await.or_backend(&inner.cx)?;
        if queued {
            inner.wake.wake_all();
        }
        Ok(())
    }

    async fn batch_status(&self, bid: &str) -> Result<Option<BatchStatus>, BackendError> {
        let inner = &*self.inner;
        let mut conn = inner.pool.acquire().await.or_backend(&inner.cx)?;
        status(inner, &mut conn, bid).await
    }

    async fn batch_list(
        &self,
        offset: usize,
        limit: usize,
    ) -> Result<Vec<BatchStatus>, BackendError> {
        let inner = &*self.inner;
        let mut conn = inner.pool.acquire().await.or_backend(&inner.cx)?;
        let sql = "SELECT bid FROM __SCHEMA__.batches ORDER BY id DESC LIMIT $1 OFFSET $2";
        let bids: Vec<String> = sqlx::query_scalar(&inner.q(sql))
            .bind(limit as i64)
            .bind(offset as i64)
            .fetch_all(&mut *conn)
            .await
            .or_backend(&inner.cx)?;
        let mut out = Vec::with_capacity(bids.len());
        for bid in bids {
            if let Some(s) = status(inner, &mut conn, &bid).await? {
                out.push(s);
            }
        }
        Ok(out)
    }

    async fn batch_cleanup(&self, now: DateTime<Utc>) -> Result<u64, BackendError> {
        let inner = &*self.inner;
        let sql = "WITH gone AS (DELETE FROM __SCHEMA__.batches WHERE expires_at <= $1
                RETURNING bid),
            members AS (DELETE FROM __SCHEMA__.batch_members
                WHERE bid IN (SELECT bid FROM gone))
            SELECT count(*) FROM gone";
        let n: i64 = sqlx::query_scalar(&inner.q(sql))
            .bind(to_epoch(now))
            .fetch_one(&inner.pool)
            .await
            .or_backend(&inner.cx)?;
        Ok(n.max(0) as u64)
    }
}
