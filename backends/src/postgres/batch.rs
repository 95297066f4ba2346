//! Batches on Postgres: a row per batch and a row per member (migration 11), moved in the
//! settle's own transaction by the shared [`walk`].
//!
//! 1. [`settle`] runs inside `finish.rs`'s transaction for the applied items whose jobs
//!    carry a batch id: per batch, one statement moves its members' rows and its counts by
//!    those moves only (the batch row stays locked to commit, so concurrent settles of one
//!    batch queue up), and due callbacks are claimed (their `*_at` set) and pushed there too.
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
    let (counts, sealed, fired) = decode_state(row);
    Ok(Loaded::new(info, sealed, fired, counts))
}

/// A batch row's counts, seal and fired times (no `info`: the settle reads only these).
fn decode_state(row: &sqlx::postgres::PgRow) -> (Counts, bool, Fired) {
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
    (counts, sealed, fired)
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

/// Moves the batch members among settled `jobs` (each with its outcome and whether it
/// failed; jobs of no batch are passed over) inside the settle's transaction on `conn`:
/// one statement per batch moves all of that batch's members and its counts, batches taken
/// in bid order (so two settles never lock two batch rows in opposite orders); only when
/// that makes a callback due does the walk run. Returns whether a callback went to a queue.
pub(super) async fn settle(
    inner: &Inner,
    conn: &mut PgConnection,
    jobs: &[(&JobEnvelope, &FinishOutcome, bool)],
    now: DateTime<Utc>,
) -> Result<bool, BackendError> {
    let mut by_batch: std::collections::BTreeMap<&str, (Vec<&str>, Vec<&str>)> =
        std::collections::BTreeMap::new();
    for (job, outcome, failed) in jobs {
        let Some(bid) = job.extra.get(BATCH_FIELD).and_then(|b| b.as_str()) else {
            continue;
        };
        let Some(to) = MemberState::after(outcome, *failed) else {
            continue;
        };
        let entry = by_batch.entry(bid).or_default();
        entry.0.push(&job.jid);
        entry.1.push(to.as_str());
    }
    let mut queued = false;
    for (bid, (members, states)) in by_batch {
        // The batch row stays locked until commit.
        let row = sqlx::query(&inner.q(MOVE))
            .bind(bid)
            .bind(&members)
            .bind(&states)
            .fetch_optional(&mut *conn)
            .await
            .or_backend(&inner.cx)?;
        let Some(row) = row else {
            continue;
        };
        let (counts, sealed, fired) = decode_state(&row);
        let p = jobs::batch::plan(counts, sealed, fired);
        if p.fire.is_empty() && p.in_parent.is_none() && !p.parent_death {
            continue;
        }
        let mut tx = Tx {
            inner,
            conn: &mut *conn,
            now,
            queued: false,
        };
        walk(&mut tx, bid, None, false, now).await?;
        queued |= tx.queued;
    }
    Ok(queued)
}

/// Moves members `$2` of batch `$1` to states `$3` (pairwise; a member absent or already
/// there is passed over, one named twice moves once) and the batch's counts by the moves
/// made; no row when nothing moved. Returns the batch's counts, seal and fired times
/// ([`decode_state`]). The update of a member re-checks the state it was read in, so a
/// concurrent move of it is never counted twice.
const MOVE: &str = "WITH input AS (
        SELECT DISTINCT ON (member) member, state
        FROM unnest($2::text[], $3::text[]) AS i(member, state)),
    old AS (
        SELECT m.member, m.state AS was, i.state AS goes
        FROM __SCHEMA__.batch_members AS m JOIN input AS i ON i.member = m.member
        WHERE m.bid = $1 AND m.state <> i.state),
    moved AS (
        UPDATE __SCHEMA__.batch_members AS m SET state = o.goes FROM old AS o
        WHERE m.bid = $1 AND m.member = o.member AND m.state = o.was
        RETURNING o.was, o.goes),
    delta AS (
        SELECT count(*) AS n,
            count(*) FILTER (WHERE goes = 'pending') - count(*) FILTER (WHERE was = 'pending') AS pending,
            count(*) FILTER (WHERE goes = 'succeeded') - count(*) FILTER (WHERE was = 'succeeded') AS succeeded,
            count(*) FILTER (WHERE goes = 'failed') - count(*) FILTER (WHERE was = 'failed') AS failed,
            count(*) FILTER (WHERE goes = 'dead') - count(*) FILTER (WHERE was = 'dead') AS dead
        FROM moved)
    UPDATE __SCHEMA__.batches AS b SET
        pending = b.pending + d.pending,
        succeeded = b.succeeded + d.succeeded,
        failed = b.failed + d.failed,
        dead = b.dead + d.dead
    FROM delta AS d
    WHERE b.bid = $1 AND d.n > 0
    RETURNING b.sealed, b.pending, b.succeeded, b.failed, b.dead, b.complete_at,
        b.success_at, b.death_at";

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
