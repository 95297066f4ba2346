//! Reserving jobs: up to `limit` in one statement, waiting for a push when there are none.
//!
//! 1. [`job_reserve`] takes up to `limit` jobs in one statement, which holds the write
//!    lock from its start: an `UPDATE ... RETURNING` marks `running`, with owner, token and
//!    expiry, the head jobs of each queue in the order given (paused ones skipped), a
//!    queue's head being its smallest (priority, position), the order of the
//!    `jobs_available` index. A job whose unique lock is held until it starts lets it go
//!    in that statement (a trigger, `unique.rs`). When nothing is there it waits for this
//!    process's [`Notify`](tokio::sync::Notify) or the poll interval, whichever comes
//!    first; a poll first asks a reader whether any job is available, so idle processes do
//!    not contend for the write lock.
//! 2. A token is `row id:nonce`, the nonce new for each reserve call (`lease.rs` says how
//!    settles are fenced by it).
//! 3. Each returned row is decoded on its own, its payload read as bytes: the valid ones are
//!    handed out, and each that is not a job (`poison.rs`) is moved to the dead set in the
//!    same call, so it never holds the valid jobs of its batch in `running`.
//! 4. A job with a concurrency limit whose key is full is moved aside (`waiting`) by the
//!    reserve statement instead of leased (see [`reserve_sql`]); when jobs moved aside
//!    filled the statement's candidates, [`reserve_ahead_sql`] reads further on, leasing
//!    what it may and moving aside every job of a full key it meets, so a full key never
//!    blocks its queue and each moved job is read and written once. A slot
//!    frees, and the oldest waiting job of its key comes back, by a trigger on the row
//!    that leaves `running` (migration 6, `limits.rs`).

use jobs::backend::{BackendError, DeadLimits, ReserveParams, Reserved};
use tokio::time::Instant;

use super::db::{after, nonce, token, Db};
use super::error::Sqlx;
use super::poison::{self, Bad};

/// Reserves up to `limit` jobs, waiting up to `wait` for one to be pushed.
pub(super) async fn job_reserve(db: &Db, p: ReserveParams) -> Result<Vec<Reserved>, BackendError> {
    let deadline = Instant::now() + p.wait;
    let mut polled = false;
    loop {
        let notified = db.wake.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let got = if polled && !any_available(db, &p.queues).await? {
            Vec::new()
        } else {
            try_reserve(db, &p).await?
        };
        if !got.is_empty() || p.limit == 0 || p.queues.is_empty() || Instant::now() >= deadline {
            return Ok(got);
        }
        let poll_at = (Instant::now() + db.poll_interval).min(deadline);
        tokio::select! {
            _ = &mut notified => polled = false,
            _ = tokio::time::sleep_until(poll_at) => polled = true,
        }
    }
}

/// Whether any queue of `?1` (a JSON array) that is not paused holds an available job.
pub(super) const ANY_AVAILABLE: &str = "SELECT EXISTS (SELECT 1 FROM jobs
    WHERE state = 'available'
      AND queue IN (SELECT value FROM json_each(?1))
      AND queue NOT IN (SELECT name FROM paused_queues))";

/// Whether any of `queues` that is not paused has an available job, read without the
/// write lock.
async fn any_available(db: &Db, queues: &[String]) -> Result<bool, BackendError> {
    let names =
        serde_json::to_string(queues).map_err(|e| super::error::encode("queue names", e))?;
    sqlx::query_scalar(ANY_AVAILABLE)
        .bind(names)
        .fetch_one(&db.readers)
        .await
        .or_backend(&db.cx)
}

/// The reserve statement for `queues` queues: leases up to `?4` jobs, taken from the head
/// of queue `?5`, then of `?6`, ... (skipping paused ones), to owner `?1` with nonce `?2`
/// until `?3`; returns each job's row, queue, priority, position, envelope, jid, rescue
/// count and new state. A queue runs in (priority, position) order, the order of its index.
///
/// It is one statement, so it needs no explicit transaction: SQLite takes the write lock
/// when the statement starts, before it reads, and waits for it under the busy timeout,
/// exactly as `BEGIN IMMEDIATE` would. The lease number is one more than any running
/// lease's; the subquery does not depend on the row, so SQLite evaluates it once.
///
/// A job with a concurrency limit is granted a slot when the leased rows of its key, plus
/// the candidates of its key up to it in run order, stay within its limit; one that is not
/// becomes `waiting` (moved aside; a trigger takes back its lease and attempt) in the same
/// statement and is returned as such. The decisions are the table `g`, computed once
/// (`MATERIALIZED`) when the first job with a key asks, from the heads of the queues read
/// again at that moment: the statement has then written only jobs without a key, which
/// hold no slot and stand ahead of every candidate left, so `g` sees the slots and the run
/// order the statement started with, whatever order SQLite writes the rows in. (`g` may
/// also rank jobs past the statement's `?4`; they all come after the ones it leases, so
/// they change no decision.) A job without a key never asks (`CASE` stops first), so the
/// plain path is the statement it was.
pub(super) fn reserve_sql(queues: usize) -> String {
    let keyed = arms(
        queues,
        ", concurrency_key AS ck, concurrency_limit AS cl",
        4,
    );
    let plain = arms(queues, "", 4);
    format!(
        "WITH g AS MATERIALIZED (
        SELECT id, (SELECT count(*) FROM jobs AS k
                    WHERE k.state = 'running' AND k.concurrency_key = c.ck)
                   + row_number() OVER (PARTITION BY ck ORDER BY qi, priority, pos, id) <= cl
               AS granted
        FROM ({keyed}) AS c
        WHERE ck IS NOT NULL)
    UPDATE jobs SET state = CASE WHEN concurrency_key IS NULL THEN 'running'
            WHEN (SELECT granted FROM g WHERE g.id = jobs.id) THEN 'running'
            ELSE 'waiting' END,
        lease_owner = ?1, lease_token = ?2, lease_expires_at = ?3, attempts = attempts + 1,
        lease_seq = (SELECT coalesce(max(lease_seq), 0) + 1 FROM jobs WHERE state = 'running')
    WHERE id IN (SELECT id FROM ({plain}) ORDER BY qi, priority, pos LIMIT ?4)
    RETURNING id, queue, priority, pos, payload, jid, rescues, state"
    )
}

/// The statement that goes on after jobs moved aside filled the candidates of
/// [`reserve_sql`]: it reads the next `?{queues + 5}` candidates (binds as there
/// otherwise), leases the first `?4` it may, and moves aside every one among them whose key
/// is full, so the jobs of a hot key met further on are moved in this one statement rather
/// than one reserve at a time. Every decision comes from the candidates and slots as they
/// stood, in run order: SQLite computes the `FROM` of an `UPDATE ... FROM` whole before it
/// writes a row.
pub(super) fn reserve_ahead_sql(queues: usize) -> String {
    let window = queues + 5;
    let keyed = arms(
        queues,
        ", concurrency_key AS ck, concurrency_limit AS cl",
        window,
    );
    format!(
        "WITH c AS (SELECT * FROM ({keyed}) ORDER BY qi, priority, pos LIMIT ?{window}),
    d AS (
        SELECT id, qi, priority, pos, CASE WHEN ck IS NULL THEN 0 ELSE
                (SELECT count(*) FROM jobs AS k
                 WHERE k.state = 'running' AND k.concurrency_key = c.ck)
                + row_number() OVER (PARTITION BY ck ORDER BY qi, priority, pos, id) > cl
            END AS denied
        FROM c)
    UPDATE jobs SET state = CASE WHEN p.denied THEN 'waiting' ELSE 'running' END,
        lease_owner = ?1, lease_token = ?2, lease_expires_at = ?3, attempts = attempts + 1,
        lease_seq = (SELECT coalesce(max(lease_seq), 0) + 1 FROM jobs WHERE state = 'running')
    FROM (SELECT id, denied FROM (
            SELECT id, denied, sum(NOT denied)
                OVER (ORDER BY qi, priority, pos, id ROWS UNBOUNDED PRECEDING) AS granted
            FROM d)
          WHERE denied OR granted <= ?4) AS p
    WHERE jobs.id = p.id
    RETURNING jobs.id, queue, priority, pos, payload, jid, rescues, state"
    )
}

/// The head of each of `queues` queues (`?5`, `?6`, ...; paused ones skipped), up to
/// `?{limit}` jobs each, as a compound select of `id, qi` (the queue's rank), `priority,
/// pos` and `columns`.
fn arms(queues: usize, columns: &str, limit: usize) -> String {
    let mut arms = String::new();
    for i in 0..queues {
        if i > 0 {
            arms.push_str("\n            UNION ALL ");
        }
        let q = i + 5;
        arms.push_str(&format!(
            "SELECT * FROM (SELECT id, {i} AS qi, priority, pos{columns} FROM jobs
                WHERE queue = ?{q} AND state = 'available'
                  AND NOT EXISTS (SELECT 1 FROM paused_queues WHERE name = ?{q})
                ORDER BY priority, pos LIMIT ?{limit})"
        ));
    }
    arms
}

/// How many candidates [`reserve_ahead_sql`] reads to fill `room` leases.
fn window(room: usize) -> usize {
    room.saturating_mul(8).saturating_add(64)
}

/// The most queues one reserve statement reads.
const QUEUES_PER_STATEMENT: usize = 100;

/// One attempt: takes what is there now.
async fn try_reserve(db: &Db, p: &ReserveParams) -> Result<Vec<Reserved>, BackendError> {
    if p.limit == 0 || p.queues.is_empty() {
        return Ok(Vec::new());
    }
    // Each queue once, in the order given.
    let mut queues: Vec<&str> = Vec::with_capacity(p.queues.len());
    for q in &p.queues {
        if !queues.contains(&q.as_str()) {
            queues.push(q);
        }
    }
    let nonce = nonce();
    let mut rows = Vec::new();
    // SQLite allows 500 terms in a compound SELECT: a longer list of queues takes several
    // statements, each reserving what the ones before left room for.
    for group in queues.chunks(QUEUES_PER_STATEMENT) {
        let mut ahead = false;
        loop {
            let room = p.limit.saturating_sub(rows.len());
            if room == 0 {
                break;
            }
            let sql = if ahead {
                reserve_ahead_sql(group.len())
            } else {
                reserve_sql(group.len())
            };
            let mut query = sqlx::query_as::<_, Row>(&sql)
                .bind(&p.process)
                .bind(&nonce)
                .bind(after(p.lease_clock.host_time(p.now), p.lease_ttl))
                .bind(i64::try_from(room).unwrap_or(i64::MAX));
            for q in group {
                query = query.bind(*q);
            }
            if ahead {
                query = query.bind(i64::try_from(window(room)).unwrap_or(i64::MAX));
            }
            let mut conn = db.exec().await?;
            let got = query.fetch_all(&mut *conn).await.or_backend(&db.cx)?;
            conn.settle();
            let read = got.len();
            let before = rows.len();
            rows.extend(got.into_iter().filter(|r| r.7 == "running"));
            let (leased, moved) = (rows.len() - before, read - (rows.len() - before));
            // Done when nothing was moved aside, when the room is filled, or when fewer
            // candidates were there than read (the queues ran out).
            let candidates = if ahead { window(room) } else { room };
            if moved == 0 || leased == room || read < candidates {
                break;
            }
            // Jobs moved aside took room among the candidates: the jobs behind them are
            // read by the statement that looks further ahead.
            ahead = true;
        }
    }
    let rank = |queue: &str| queues.iter().position(|q| *q == queue);
    rows.sort_by_cached_key(|(_, queue, priority, pos, ..)| (rank(queue), *priority, *pos));

    let mut out = Vec::with_capacity(rows.len());
    let mut bad = Vec::new();
    for (id, queue, _, _, payload, jid, rescues, _) in rows {
        match poison::decode(&payload) {
            Ok(job) => out.push(
                Reserved::new(job, token(id, &nonce))
                    .rescues(u32::try_from(rescues).unwrap_or(u32::MAX)),
            ),
            Err(error) => bad.push(Bad {
                id,
                jid: String::from_utf8_lossy(&jid).into_owned(),
                queue,
                state: "running",
                lease: Some(nonce.clone()),
                raw: payload,
                error,
            }),
        }
    }
    if !bad.is_empty() {
        // The valid jobs are leased already: a failure here must not keep them from their
        // worker. The bad rows then stay leased until their lease expires, and the reserve
        // that takes them again buries them.
        if let Err(e) = bury(db, &bad, p).await {
            tracing::error!(error = %e, rows = bad.len(), "could not move undecodable jobs to the dead set; they return to their queue when their lease expires");
        }
    }
    Ok(out)
}

/// A row the reserve statement returns: id, queue, priority, position, payload bytes, jid
/// bytes, rescue count, and `running` (leased) or `waiting` (moved aside).
type Row = (i64, String, i64, i64, Vec<u8>, Vec<u8>, i64, String);

/// Moves the reserved rows that are not jobs to the dead set, in one write transaction.
async fn bury(db: &Db, bad: &[Bad], p: &ReserveParams) -> Result<(), BackendError> {
    let mut tx = db.write().await?;
    poison::bury(db, &mut tx, bad, p.now, DeadLimits::default()).await?;
    db.commit(tx).await
}
