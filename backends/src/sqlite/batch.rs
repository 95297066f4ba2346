//! Batches on SQLite: a row per batch and a row per member (`0009_batches.sql`,
//! `0010_batch_member_trigger.sql`), moved by the settle that ends the member's job.
//!
//! 1. A member whose job is removed without a failure moves in the removal's statement, by
//!    a trigger, which notes its batch in `batch_due` when a callback became due;
//!    [`fire_due`] then walks the noted batches (the shared [`walk`]) and deletes their notes
//!    in one write transaction, run by the same settle, or by the next promotion pass when
//!    the settling process died first.
//! 2. [`settle`] runs inside `finish.rs`'s transaction for every other applied item whose
//!    job carries a batch id (a retry, a death, a failed discard, an expiry): the member's
//!    row changes state, the counts change by that move only (three statements), and only
//!    when a callback is due are they claimed (their `*_at` set) and inserted as jobs there
//!    too, by the walk.
//! 3. [`BatchStore`] creates, grows, seals, reads, lists and cleans up batches, each in one write
//!    transaction (or one read snapshot).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use jobs::backend::{
    BackendError, BatchAddParams, BatchCreateParams, BatchStatus, BatchStore, FinishOutcome,
};
use jobs::batch::{
    child_member, walk, BatchInfo, BatchTx, Counts, Fired, Loaded, MemberState, BATCH_FIELD,
    CHILD_PREFIX,
};
use jobs::envelope::{to_epoch, JobEnvelope};
use sqlx::sqlite::SqliteConnection;
use sqlx::Row;

use super::db::Db;
use super::error::Sqlx;
use super::push;

/// A [`BatchTx`] over a connection inside a write transaction.
struct Tx<'a> {
    db: &'a Db,
    conn: &'a mut SqliteConnection,
    now: DateTime<Utc>,
}

fn decode(row: &sqlx::sqlite::SqliteRow) -> Result<Loaded, BackendError> {
    let info: String = row
        .try_get("info")
        .map_err(|e| BackendError::Decode(e.to_string()))?;
    let info: BatchInfo =
        serde_json::from_str(&info).map_err(|e| BackendError::Decode(format!("batch: {e}")))?;
    let (counts, sealed, fired) = decode_state(row);
    Ok(Loaded::new(info, sealed, fired, counts))
}

/// A batch row's counts, seal and fired times (no `info`: the settle reads only these).
fn decode_state(row: &sqlx::sqlite::SqliteRow) -> (Counts, bool, Fired) {
    let get = |c: &str| -> i64 { row.try_get(c).unwrap_or(0) };
    let at = |c: &str| -> Option<f64> { row.try_get(c).ok().flatten() };
    let mut counts = Counts::default();
    counts.pending = get("pending").max(0) as u64;
    counts.succeeded = get("succeeded").max(0) as u64;
    counts.failed = get("failed").max(0) as u64;
    counts.dead = get("dead").max(0) as u64;
    let mut fired = Fired::default();
    fired.complete = at("complete_at");
    fired.success = at("success_at");
    fired.death = at("death_at");
    (counts, get("sealed") != 0, fired)
}

const LOAD: &str = "SELECT info, sealed, pending, succeeded, failed, dead, complete_at,
    success_at, death_at FROM batches WHERE bid = ?1";

#[async_trait]
impl BatchTx for Tx<'_> {
    async fn load(&mut self, bid: &str) -> Result<Option<Loaded>, BackendError> {
        let row = sqlx::query(LOAD)
            .bind(bid)
            .fetch_optional(&mut *self.conn)
            .await
            .or_backend(&self.db.cx)?;
        row.as_ref().map(decode).transpose()
    }

    async fn member_move(
        &mut self,
        bid: &str,
        member: &str,
        to: MemberState,
    ) -> Result<Option<MemberState>, BackendError> {
        let from: Option<String> =
            sqlx::query_scalar("SELECT state FROM batch_members WHERE bid = ?1 AND member = ?2")
                .bind(bid)
                .bind(member)
                .fetch_optional(&mut *self.conn)
                .await
                .or_backend(&self.db.cx)?;
        let Some(from) = from.as_deref().and_then(MemberState::parse) else {
            return Ok(None);
        };
        if from != to {
            sqlx::query("UPDATE batch_members SET state = ?3 WHERE bid = ?1 AND member = ?2")
                .bind(bid)
                .bind(member)
                .bind(to.as_str())
                .execute(&mut *self.conn)
                .await
                .or_backend(&self.db.cx)?;
        }
        Ok(Some(from))
    }

    async fn save(&mut self, bid: &str, c: Counts, f: Fired) -> Result<(), BackendError> {
        sqlx::query(
            "UPDATE batches SET pending = ?2, succeeded = ?3, failed = ?4, dead = ?5,
                complete_at = ?6, success_at = ?7, death_at = ?8 WHERE bid = ?1",
        )
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
        .or_backend(&self.db.cx)?;
        Ok(())
    }

    async fn enqueue(&mut self, jobs: Vec<JobEnvelope>) -> Result<(), BackendError> {
        insert_jobs(self.db, self.conn, jobs, self.now).await
    }
}

async fn insert_jobs(
    db: &Db,
    conn: &mut SqliteConnection,
    jobs: Vec<JobEnvelope>,
    now: DateTime<Utc>,
) -> Result<(), BackendError> {
    if jobs.is_empty() {
        return Ok(());
    }
    let rows = push::prepare(jobs, now, false)?;
    let (sql, rows) = push::encode(&rows)?;
    push::insert(db, conn, sql, &rows).await
}

/// Moves the batch members among settled `jobs` (each with its outcome and whether it
/// failed; jobs of no batch are passed over) inside the settle's write transaction on
/// `conn`, in one call however many there are ([`MOVE`]: the counts change by the moves
/// only, then the members move, then the batches are read back). Only when that makes a
/// callback due does the walk run (it reads the batch's `info`). Returns whether a callback
/// was enqueued.
pub(super) async fn settle(
    db: &Db,
    conn: &mut SqliteConnection,
    jobs: &[(&JobEnvelope, &FinishOutcome, bool)],
    now: DateTime<Utc>,
) -> Result<bool, BackendError> {
    // A member named twice moves once, by its first mention.
    let mut named = std::collections::HashSet::new();
    let moves: Vec<[&str; 3]> = jobs
        .iter()
        .filter_map(|(job, outcome, failed)| {
            let bid = job.extra.get(BATCH_FIELD)?.as_str()?;
            let to = MemberState::after(outcome, *failed)?;
            named
                .insert((bid, job.jid.as_str()))
                .then_some([bid, job.jid.as_str(), to.as_str()])
        })
        .collect();
    if moves.is_empty() {
        return Ok(false);
    }
    let encoded = serde_json::to_string(&moves)
        .map_err(|e| BackendError::Decode(format!("batch members: {e}")))?;
    let rows = sqlx::query(MOVE)
        .bind(encoded)
        .fetch_all(&mut *conn)
        .await
        .or_backend(&db.cx)?;
    let mut due = Vec::new();
    for row in rows {
        let (c, sealed, fired) = decode_state(&row);
        let p = jobs::batch::plan(c, sealed, fired);
        if !p.fire.is_empty() || p.in_parent.is_some() || p.parent_death {
            due.push(row.try_get("bid").or_backend(&db.cx)?);
        }
    }
    walk_each(db, conn, due, now).await
}

/// Walks each batch of `bids` inside the write transaction on `conn` (the shared [`walk`]:
/// it fires what is due and moves the batch in its parent); whether a callback was
/// enqueued.
async fn walk_each(
    db: &Db,
    conn: &mut SqliteConnection,
    bids: Vec<String>,
    now: DateTime<Utc>,
) -> Result<bool, BackendError> {
    let mut queued = false;
    for bid in bids {
        let mut tx = Tx {
            db,
            conn: &mut *conn,
            now,
        };
        queued |= walk(&mut tx, &bid, None, false, now).await?;
    }
    Ok(queued)
}

/// Moves members `?1` (a JSON array of `[bid, member, state]`, each named once): the
/// counts of their batches change first, by the moves from the states they are in (an
/// absent member or one already there changes nothing), then the members move, then the
/// batches are returned in bid order ([`decode_state`], with `bid`). Three statements run
/// by one call.
const MOVE: &str = "
    WITH m AS (
        SELECT json_extract(j.value, '$[0]') AS bid, json_extract(j.value, '$[1]') AS member,
            json_extract(j.value, '$[2]') AS goes
        FROM json_each(?1) AS j)
    UPDATE batches SET
        pending = pending + (SELECT coalesce(sum((m.goes = 'pending') - (b.state = 'pending')), 0)
            FROM m JOIN batch_members AS b ON b.bid = m.bid AND b.member = m.member
            WHERE m.bid = batches.bid AND b.state <> m.goes),
        succeeded = succeeded + (SELECT coalesce(sum((m.goes = 'succeeded') - (b.state = 'succeeded')), 0)
            FROM m JOIN batch_members AS b ON b.bid = m.bid AND b.member = m.member
            WHERE m.bid = batches.bid AND b.state <> m.goes),
        failed = failed + (SELECT coalesce(sum((m.goes = 'failed') - (b.state = 'failed')), 0)
            FROM m JOIN batch_members AS b ON b.bid = m.bid AND b.member = m.member
            WHERE m.bid = batches.bid AND b.state <> m.goes),
        dead = dead + (SELECT coalesce(sum((m.goes = 'dead') - (b.state = 'dead')), 0)
            FROM m JOIN batch_members AS b ON b.bid = m.bid AND b.member = m.member
            WHERE m.bid = batches.bid AND b.state <> m.goes)
    WHERE bid IN (SELECT json_extract(value, '$[0]') FROM json_each(?1));
    UPDATE batch_members AS b SET state = json_extract(j.value, '$[2]')
    FROM json_each(?1) AS j
    WHERE b.bid = json_extract(j.value, '$[0]') AND b.member = json_extract(j.value, '$[1]')
        AND b.state <> json_extract(j.value, '$[2]');
    SELECT bid, sealed, pending, succeeded, failed, dead, complete_at, success_at, death_at
    FROM batches WHERE bid IN (SELECT json_extract(value, '$[0]') FROM json_each(?1))
    ORDER BY bid";

/// Fires the callbacks of the batches noted due by the member trigger
/// (`0010_batch_member_trigger.sql`), in a write transaction of its own ([`fire_due_in`]).
pub(super) async fn fire_due(db: &Db, now: DateTime<Utc>) -> Result<bool, BackendError> {
    let mut tx = db.write().await?;
    let queued = fire_due_in(db, &mut tx, now).await?;
    db.commit(tx).await?;
    Ok(queued)
}

/// Inside the write transaction on `conn`: deletes every note in `batch_due` and walks its
/// batch, so the callbacks fire with the note's removal (and a batch walked twice fires
/// nothing twice: its fired times are set). Returns whether a callback was enqueued.
pub(super) async fn fire_due_in(
    db: &Db,
    conn: &mut SqliteConnection,
    now: DateTime<Utc>,
) -> Result<bool, BackendError> {
    let due: Vec<String> = sqlx::query_scalar("DELETE FROM batch_due RETURNING bid")
        .fetch_all(&mut *conn)
        .await
        .or_backend(&db.cx)?;
    walk_each(db, conn, due, now).await
}

/// Whether a settle of `job` touches a batch (and so needs the write transaction).
pub(super) fn is_member(job: &JobEnvelope) -> bool {
    job.extra.contains_key(BATCH_FIELD)
}

fn missing(bid: &str) -> BackendError {
    BackendError::Conflict(format!(
        "batch {bid} does not exist (never created, or expired)"
    ))
}

/// Registers `jobs` as pending members of `bid` and inserts them.
async fn add_members(
    db: &Db,
    conn: &mut SqliteConnection,
    bid: &str,
    jobs: Vec<JobEnvelope>,
    now: DateTime<Utc>,
) -> Result<(), BackendError> {
    if jobs.is_empty() {
        return Ok(());
    }
    let jids: Vec<&str> = jobs.iter().map(|j| j.jid.as_str()).collect();
    let list = serde_json::to_string(&jids).map_err(|e| super::error::encode("jids", e))?;
    let added = sqlx::query(
        "INSERT OR IGNORE INTO batch_members (bid, member, state)
         SELECT ?1, value, 'pending' FROM json_each(?2)",
    )
    .bind(bid)
    .bind(list)
    .execute(&mut *conn)
    .await
    .or_backend(&db.cx)?
    .rows_affected();
    sqlx::query("UPDATE batches SET pending = pending + ?2 WHERE bid = ?1")
        .bind(bid)
        .bind(added as i64)
        .execute(&mut *conn)
        .await
        .or_backend(&db.cx)?;
    insert_jobs(db, conn, jobs, now).await
}

async fn seal_in(
    db: &Db,
    conn: &mut SqliteConnection,
    bid: &str,
    now: DateTime<Utc>,
) -> Result<bool, BackendError> {
    let sealed = sqlx::query("UPDATE batches SET sealed = 1 WHERE bid = ?1 AND sealed = 0")
        .bind(bid)
        .execute(&mut *conn)
        .await
        .or_backend(&db.cx)?
        .rows_affected();
    if sealed == 0 {
        return Ok(false);
    }
    let mut tx = Tx { db, conn, now };
    walk(&mut tx, bid, None, false, now).await
}

async fn exists(
    db: &Db,
    conn: &mut SqliteConnection,
    bid: &str,
) -> Result<Option<Loaded>, BackendError> {
    let row = sqlx::query(LOAD)
        .bind(bid)
        .fetch_optional(&mut *conn)
        .await
        .or_backend(&db.cx)?;
    row.as_ref().map(decode).transpose()
}

async fn status(
    db: &Db,
    conn: &mut SqliteConnection,
    bid: &str,
) -> Result<Option<BatchStatus>, BackendError> {
    let Some(l) = exists(db, conn, bid).await? else {
        return Ok(None);
    };
    let members: Vec<(String, String)> = sqlx::query_as(
        "SELECT member, state FROM batch_members
         WHERE bid = ?1 AND (state IN ('failed', 'dead') OR member LIKE 'b:%')
         ORDER BY member LIMIT 2000",
    )
    .bind(bid)
    .fetch_all(&mut *conn)
    .await
    .or_backend(&db.cx)?;
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
impl BatchStore for super::SqliteBackend {
    async fn batch_create(&self, p: BatchCreateParams) -> Result<(), BackendError> {
        let db = &*self.db;
        let info = serde_json::to_string(&p.info).map_err(|e| super::error::encode("batch", e))?;
        let bid = p.info.bid.clone();
        let queued = push::any_available(&push::prepare(p.jobs.clone(), p.now, false)?);
        let mut tx = db.write().await?;
        if let Some(parent) = &p.info.parent {
            if exists(db, &mut tx, parent).await?.is_none() {
                return Err(missing(parent));
            }
        }
        sqlx::query("INSERT INTO batches (bid, info, expires_at) VALUES (?1, ?2, ?3)")
            .bind(&bid)
            .bind(info)
            .bind(p.info.expires_at)
            .execute(&mut *tx)
            .await
            .or_backend(&db.cx)?;
        if let Some(parent) = &p.info.parent {
            let member = child_member(&bid);
            sqlx::query(
                "INSERT INTO batch_members (bid, member, state) VALUES (?1, ?2, 'pending')",
            )
            .bind(parent)
            .bind(member)
            .execute(&mut *tx)
            .await
            .or_backend(&db.cx)?;
            sqlx::query("UPDATE batches SET pending = pending + 1 WHERE bid = ?1")
                .bind(parent)
                .execute(&mut *tx)
                .await
                .or_backend(&db.cx)?;
        }
        add_members(db, &mut tx, &bid, p.jobs, p.now).await?;
        let fired = p.sealed && seal_in(db, &mut tx, &bid, p.now).await?;
        db.commit(tx).await?;
        if queued || fired {
            db.wake_reservers();
        }
        Ok(())
    }

    async fn batch_add(&self, p: BatchAddParams) -> Result<(), BackendError> {
        let db = &*self.db;
        let mut tx = db.write().await?;
        let Some(l) = exists(db, &mut tx, &p.bid).await? else {
            return Err(missing(&p.bid));
        };
        if l.fired.complete.is_some() {
            return Err(BackendError::Conflict(format!(
                "batch {} already completed: no member can be added",
                p.bid
            )));
        }
        add_members(db, &mut tx, &p.bid, p.jobs, p.now).await?;
        db.commit(tx).await?;
        db.wake_reservers();
        Ok(())
    }

    async fn batch_seal(&self, bid: &str, now: DateTime<Utc>) -> Result<(), BackendError> {
        let db = &*self.db;
        let mut tx = db.write().await?;
        if exists(db, &mut tx, bid).await?.is_none() {
            return Err(missing(bid));
        }
        let fired = seal_in(db, &mut tx, bid, now).await?;
        db.commit(tx).await?;
        if fired {
            db.wake_reservers();
        }
        Ok(())
    }

    async fn batch_status(&self, bid: &str) -> Result<Option<BatchStatus>, BackendError> {
        let mut tx = self.db.read().await?;
        status(&self.db, &mut tx, bid).await
    }

    async fn batch_list(
        &self,
        offset: usize,
        limit: usize,
    ) -> Result<Vec<BatchStatus>, BackendError> {
        let mut tx = self.db.read().await?;
        let bids: Vec<String> =
            sqlx::query_scalar("SELECT bid FROM batches ORDER BY id DESC LIMIT ?1 OFFSET ?2")
                .bind(limit as i64)
                .bind(offset as i64)
                .fetch_all(&mut *tx)
                .await
                .or_backend(&self.db.cx)?;
        let mut out = Vec::with_capacity(bids.len());
        for bid in bids {
            if let Some(s) = status(&self.db, &mut tx, &bid).await? {
                out.push(s);
            }
        }
        Ok(out)
    }

    async fn batch_cleanup(&self, now: DateTime<Utc>) -> Result<u64, BackendError> {
        let db = &*self.db;
        let now = to_epoch(now);
        let mut tx = db.write().await?;
        sqlx::query(
            "DELETE FROM batch_members WHERE bid IN (SELECT bid FROM batches WHERE expires_at <= ?1)",
        )
        .bind(now)
        .execute(&mut *tx)
        .await
        .or_backend(&db.cx)?;
        let n = sqlx::query("DELETE FROM batches WHERE expires_at <= ?1")
            .bind(now)
            .execute(&mut *tx)
            .await
            .or_backend(&db.cx)?
            .rows_affected();
        db.commit(tx).await?;
        Ok(n)
    }
}
