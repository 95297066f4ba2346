//! Putting jobs in: push to a queue's tail or the scheduled set.
//!
//! 1. [`job_push`] encodes every job before taking the writer. A push without unique jobs
//!    stores them all with one statement (so all or none) and wakes this process's
//!    reservers; one with a unique job is one write transaction that claims the locks
//!    (`unique.rs`).
//! 2. [`prepare`] and [`insert`] are the two halves of a store, shared with the unique push
//!    and the schedule claim, which push inside their own transactions. Jobs without a
//!    priority, a lock or a concurrency limit go in with [`INSERT`], the statement of a
//!    push before flow control; a batch with any goes in with [`INSERT_FLOW`], which also
//!    fills those columns (the concurrency key and limit are read from the envelope here,
//!    once, so the reserve never decodes a job to learn them), as does a batch with a batch
//!    member, whose row is linked to its member row (`batch.rs`).

use chrono::{DateTime, Utc};
use jobs::backend::{BackendError, PushParams, PushReport};
use jobs::envelope::flow::UniqueUntil;
use jobs::envelope::{from_epoch, to_epoch, JobEnvelope};

use sqlx::sqlite::SqliteConnection;

use super::db::{encode_job, micros, Db};
use super::error::{self, Sqlx};
use super::unique;

/// Stores jobs: those with `at` in the scheduled set, the others at their queues' tails;
/// reports the unique jobs it did not store as given.
pub(super) async fn job_push(db: &Db, p: PushParams) -> Result<PushReport, BackendError> {
    if p.jobs.is_empty() {
        return Ok(PushReport::default());
    }
    let rows = prepare(p.jobs, p.now, true)?;
    if rows.iter().any(|r| r.lock.is_some()) {
        return unique::push(db, rows, micros(p.now), p.on_conflict).await;
    }
    let available = any_available(&rows);
    let (sql, rows) = encode(&rows)?;
    // One statement, so all or none, and it takes the write lock when it starts.
    let mut conn = db.exec().await?;
    insert(db, &mut conn, sql, &rows).await?;
    conn.settle();
    if available {
        db.wake_reservers();
    }
    Ok(PushReport::default())
}

/// A job encoded for [`insert`].
#[derive(Debug)]
pub(super) struct Row {
    pub(super) jid: String,
    queue: String,
    class: String,
    /// `available` or `scheduled`.
    state: &'static str,
    run_at: i64,
    payload: String,
    priority: u8,
    /// The unique lock the row is to hold.
    pub(super) lock: Option<Lock>,
    /// The concurrency key and limit of a job that has one.
    concurrency: Option<(String, u32)>,
    /// The batch of a member job, whose member row the insert looks up.
    bid: Option<String>,
}

/// A unique lock as its row stores it.
#[derive(Debug)]
pub(super) struct Lock {
    pub(super) key: String,
    until: &'static str,
    expires_at: i64,
}

/// Whether any of `rows` goes to a queue (and so should wake reservers).
pub(super) fn any_available<'a>(rows: impl IntoIterator<Item = &'a Row>) -> bool {
    rows.into_iter().any(|r| r.state == "available")
}

/// Encodes jobs for [`insert`]: one with `at` for the scheduled set at that time, any other
/// for its queue with `enqueued_at = now`; each with its priority and, when `locks`, its
/// unique lock (a schedule claim's job takes none).
pub(super) fn prepare(
    jobs: Vec<JobEnvelope>,
    now: DateTime<Utc>,
    locks: bool,
) -> Result<Vec<Row>, BackendError> {
    let enqueued_at = to_epoch(now);
    let now = micros(now);
    let mut rows = Vec::with_capacity(jobs.len());
    for mut job in jobs {
        let (state, run_at) = match job.at.take() {
            Some(at) => ("scheduled", micros(from_epoch(at))),
            None => {
                job.enqueued_at = Some(enqueued_at);
                ("available", now)
            }
        };
        let lock = job.unique().filter(|_| locks).map(|l| Lock {
            key: l.key,
            until: match l.until {
                UniqueUntil::Start => "start",
                _ => "success",
            },
            expires_at: micros(from_epoch(l.expires_at)),
        });
        // A plain job answers from a map lookup; only a job with the field decodes it.
        let concurrency = job.concurrency().map(|c| (c.key, c.limit.max(1)));
        let bid = job
            .extra
            .get(jobs::batch::BATCH_FIELD)
            .and_then(|b| b.as_str())
            .map(str::to_owned);
        let payload = encode_job(&job)?;
        rows.push(Row {
            concurrency,
            priority: job.priority(),
            jid: job.jid,
            queue: job.queue,
            class: job.class,
            state,
            run_at,
            payload,
            lock,
            bid,
        });
    }
    Ok(rows)
}

/// The statement that stores `rows` and the JSON array it reads: [`INSERT`] for plain
/// jobs, [`INSERT_FLOW`] when any has a priority or a concurrency limit, else
/// [`INSERT_LOCKED`] when any has a lock. A batch member goes in with [`INSERT_FLOW`], which
/// stores its batch.
pub(super) fn encode<'a>(
    rows: impl IntoIterator<Item = &'a Row> + Clone,
) -> Result<(&'static str, String), BackendError> {
    let flow = rows
        .clone()
        .into_iter()
        .any(|r| r.priority != 0 || r.concurrency.is_some() || r.bid.is_some());
    let locked = !flow && rows.clone().into_iter().any(|r| r.lock.is_some());
    if locked {
        let rows: Vec<_> = rows
            .into_iter()
            .map(|r| {
                let lock = r.lock.as_ref();
                (
                    &r.jid,
                    &r.queue,
                    &r.class,
                    r.state,
                    r.run_at,
                    &r.payload,
                    lock.map(|l| &l.key),
                    lock.map(|l| l.until),
                    lock.map(|l| l.expires_at),
                )
            })
            .collect();
        let json = serde_json::to_string(&rows).map_err(|e| error::encode("jobs", e))?;
        return Ok((INSERT_LOCKED, json));
    }
    let json = if flow {
        let rows: Vec<_> = rows
            .into_iter()
            .map(|r| {
                let lock = r.lock.as_ref();
                let limit = r.concurrency.as_ref();
                (
                    &r.jid,
                    &r.queue,
                    &r.class,
                    r.state,
                    r.run_at,
                    &r.payload,
                    r.priority,
                    lock.map(|l| &l.key),
                    lock.map(|l| l.until),
                    lock.map(|l| l.expires_at),
                    limit.map(|l| &l.0),
                    limit.map(|l| l.1),
                    &r.bid,
                )
            })
            .collect();
        serde_json::to_string(&rows)
    } else {
        let rows: Vec<_> = rows
            .into_iter()
            .map(|r| (&r.jid, &r.queue, &r.class, r.state, r.run_at, &r.payload))
            .collect();
        serde_json::to_string(&rows)
    };
    let json = json.map_err(|e| error::encode("jobs", e))?;
    Ok((if flow { INSERT_FLOW } else { INSERT }, json))
}

/// Inserts plain rows, a JSON array of `[jid, queue, class, state, run_at, payload]`, in
/// one statement: positions follow the `pos` sequence, read once by the statement, and a
/// trigger moves the sequence past them.
pub(super) const INSERT: &str = "INSERT INTO jobs (jid, queue, class, state, run_at, pos, payload)
    SELECT value ->> 0, value ->> 1, value ->> 2, value ->> 3, value ->> 4,
           (SELECT s.value FROM sequences AS s WHERE s.name = 'pos') + key + 1, value ->> 5
    FROM json_each(?1)";

/// [`INSERT`] for rows that also carry `priority, unique_key, unique_until,
/// unique_expires_at, concurrency_key, concurrency_limit, bid` (the lock's three null for a
/// job without a lock, the limit's two for a job without a concurrency limit, the batch for
/// a job of none). A member's row is stored with its member row's id
/// (`0010_batch_member_trigger.sql`), registered before it.
pub(super) const INSERT_FLOW: &str =
    "INSERT INTO jobs (jid, queue, class, state, run_at, pos, payload,
                      priority, unique_key, unique_until, unique_expires_at,
                      concurrency_key, concurrency_limit, batch_member)
    SELECT value ->> 0, value ->> 1, value ->> 2, value ->> 3, value ->> 4,
           (SELECT s.value FROM sequences AS s WHERE s.name = 'pos') + key + 1, value ->> 5,
           value ->> 6, value ->> 7, value ->> 8, value ->> 9, value ->> 10, value ->> 11,
           CASE WHEN value ->> 12 IS NULL THEN NULL ELSE (SELECT m.id FROM batch_members AS m
               WHERE m.bid = value ->> 12 AND m.member = value ->> 0) END
    FROM json_each(?1)";

/// [`INSERT`] for rows that also carry `unique_key, unique_until, unique_expires_at` (null
/// for a job without a lock): a push of unique jobs with no priority or limit reads three
/// fewer fields per row than [`INSERT_FLOW`].
pub(super) const INSERT_LOCKED: &str =
    "INSERT INTO jobs (jid, queue, class, state, run_at, pos, payload,
                      unique_key, unique_until, unique_expires_at)
    SELECT value ->> 0, value ->> 1, value ->> 2, value ->> 3, value ->> 4,
           (SELECT s.value FROM sequences AS s WHERE s.name = 'pos') + key + 1, value ->> 5,
           value ->> 6, value ->> 7, value ->> 8
    FROM json_each(?1)";

/// Runs `sql` ([`INSERT`], [`INSERT_LOCKED`] or [`INSERT_FLOW`], as [`encode`] chose) for
/// encoded rows.
pub(super) async fn insert(
    db: &Db,
    conn: &mut SqliteConnection,
    sql: &'static str,
    rows: &str,
) -> Result<(), BackendError> {
    sqlx::query(sql)
        .bind(rows)
        .execute(conn)
        .await
        .or_backend(&db.cx)?;
    Ok(())
}
