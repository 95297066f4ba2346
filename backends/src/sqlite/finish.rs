//! Finishing reserved jobs: every outcome of one call in one write.
//!
//! 1. [`job_finish`] applies its items in one statement or one write transaction. The
//!    worker's settler already hands over the outcomes of every job that ended meanwhile in
//!    one call, one call at a time, so there is nothing left to group here: a queue that
//!    committed concurrent calls together (group commit) grouped 0 of 1,200 calls in
//!    `jobs-bench noop` on SQLite at c50, c200 and with single enqueues, and was removed.
//! 2. Every item is fenced by its lease token: the removals of a batch are one `UPDATE ...
//!    RETURNING` to state `done`, whose trigger counts and deletes each row; a move is one
//!    `UPDATE` per item; each matches only a `running` row whose lease token is the item's,
//!    and an item that matches nothing is lost and neither applied nor counted.
//! 3. A batch of removals only (the common case) is that one statement, its own
//!    transaction; a batch with moves is one `BEGIN IMMEDIATE` transaction that also counts
//!    the moves and trims the dead set once per caller that killed a job.
//! 4. An expired job (never run) is deleted in that transaction, fenced as a move, and
//!    counted in the total `expired` counter only. Every end but a retry or a snooze
//!    releases the job's unique lock in its statement: a removal or expiry deletes the row,
//!    a move to dead fires the trigger that clears its key (`unique.rs`).
//! 5. Every settle of a job with a concurrency limit frees its slot and brings the oldest
//!    job waiting for the key back to its queue, by a trigger on the row leaving `running`
//!    (`limits.rs`); a lost settle matches no row, so it frees nothing.
//! 6. An item carrying a result (a job's return value) is settled in the transaction, and
//!    its result written there for the items that applied (`results.rs`): a lost settle
//!    stores none.
//! 7. A batch member removed without a failure is moved in its batch by a trigger of the
//!    removal, so it needs no transaction; every other member's settle takes the
//!    transaction path (`batch.rs`). When the removal may have left a batch due, the call
//!    fires its callbacks before it returns.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use jobs::backend::{BackendError, FinishOutcome, FinishParams, FinishReport};
use jobs::envelope::limits::CONCURRENCY_FIELD;

use sqlx::sqlite::SqliteConnection;

use super::db::{encode_job, micros, parse_token, Db, Tx};
use super::error::Sqlx;
use super::moves;

/// Finishes the leased jobs named in `?1` (a JSON array of `[row id, nonce, failed, now]`)
/// whose lease is still that nonce: each is marked `done`, which a trigger counts for the
/// day of `now` and deletes, and another moves a batch member that did not fail in its
/// batch (`0010_batch_member_trigger.sql`). Returns the row ids finished, each with whether
/// its trigger may have noted its batch due: the batch was sealed with at most one member
/// pending just before (a row's `RETURNING` is read before its own triggers run). The `+`
/// keeps the planner on the row ids rather than the partial index of running jobs.
pub(super) const REMOVE: &str =
    "UPDATE jobs SET state = 'done', run_at = f.now, finish_failed = f.failed
    FROM (SELECT value ->> 0 AS id, value ->> 1 AS nonce, value ->> 2 AS failed,
                 value ->> 3 AS now
          FROM json_each(?1)) AS f
    WHERE jobs.id = f.id AND +jobs.state = 'running' AND jobs.lease_token = f.nonce
    RETURNING jobs.id, CASE WHEN jobs.batch_member IS NULL THEN 0 ELSE coalesce(
        (SELECT b.sealed = 1 AND b.pending <= 1
         FROM batch_members AS m JOIN batches AS b ON b.bid = m.bid
         WHERE m.id = jobs.batch_member), 0) END";

/// Moves leased job `?1` (lease nonce `?2`) to state `?3` at `?4`, position `?5`, storing
/// the envelope `?8` (queue `?6`, class `?7`). The row keeps its jid: a finish settles a
/// job, it cannot rename it (and so can never collide with another job's id and fail the
/// other finishes of its batch). The run ended, so its rescue count starts again.
const MOVE: &str = "UPDATE jobs SET state = ?3, run_at = ?4, pos = ?5, queue = ?6, class = ?7,
        payload = ?8, lease_owner = NULL, lease_token = NULL, lease_seq = NULL,
        lease_expires_at = NULL, rescues = 0
    WHERE id = ?1 AND state = 'running' AND lease_token = ?2";

/// Deletes leased job `?1` (lease nonce `?2`), expired unrun.
pub(super) const EXPIRE: &str =
    "DELETE FROM jobs WHERE id = ?1 AND state = 'running' AND lease_token = ?2";

/// Settles reserved jobs in one write.
pub(super) async fn job_finish(
    db: &Arc<Db>,
    p: FinishParams,
) -> Result<FinishReport, BackendError> {
    if p.items.is_empty() {
        return Ok(FinishReport::default());
    }
    if p.items
        .iter()
        .any(|i| i.outcome == FinishOutcome::Cancelled)
    {
        return Box::pin(super::cancel::finish_with_cancels(db, p)).await;
    }
    let items = plan(0, &p)?;
    // A settled job with a concurrency limit may have brought a waiting job back to its
    // queue (a trigger): this process's idle reservers are told, as after a push.
    let limited = p
        .items
        .iter()
        .any(|i| i.job.extra.contains_key(CONCURRENCY_FIELD));
    let (report, queued) = apply(db, std::slice::from_ref(&p), items).await?;
    // A batch member's settle may have enqueued a callback: told the same way.
    if (limited && report.lost.len() < p.items.len()) || queued {
        db.wake_reservers();
    }
    Ok(report)
}

/// Where one item goes.
enum Step {
    Remove,
    /// Deleted unrun and counted as expired (in the transaction, as a move).
    Expire,
    Move {
        state: &'static str,
        run_at: i64,
        payload: String,
    },
}

/// One item of the batch: whose it is, its row and nonce, and where it goes.
struct Item {
    caller: usize,
    index: usize,
    row: Option<(i64, String)>,
    step: Step,
}

/// Applies the planned `items` of `callers` (their params, by index) in one write and
/// reports, per caller, the items whose lease was lost and the dead jobs trimmed, and
/// whether a batch callback was enqueued.
async fn apply(
    db: &Db,
    callers: &[FinishParams],
    items: Vec<Item>,
) -> Result<(FinishReport, bool), BackendError> {
    // A row named twice is attempted once, by its first item; the others are lost.
    let mut named = HashSet::new();
    let attempted: Vec<bool> = items
        .iter()
        .map(|i| i.row.as_ref().is_some_and(|(id, _)| named.insert(*id)))
        .collect();
    // A batch member's settle moves its batch in the same transaction (`batch.rs`), but for
    // one that did not fail: its removal's trigger moves it.
    let moving = items.iter().zip(&attempted).any(|(i, a)| {
        *a && (matches!(i.step, Step::Move { .. } | Step::Expire)
            || settles_in_batch(i, &callers[i.caller].items[i.index]))
    });
    // A result is stored in the settle's transaction, so an item carrying one takes the
    // transaction path (`results.rs`).
    let recording = items.iter().zip(&attempted).any(|(i, a)| {
        let f = &callers[i.caller].items[i.index];
        *a && f.result.is_some() && matches!(f.outcome, FinishOutcome::Completed)
    });
    let mut trimmed = vec![0; callers.len()];
    let mut queued = false;
    let applied = if !moving && !recording {
        // Removals only: one statement, its own transaction.
        let mut conn = db.exec().await?;
        let (applied, due) = remove(db, &mut conn, callers, &items, &attempted).await?;
        conn.settle();
        // A batch the removals left due fires its callbacks now (`batch.rs`).
        if due {
            if let Some(p) = callers.first() {
                queued |= super::batch::fire_due(db, p.now).await?;
            }
        }
        applied
    } else {
        let mut tx = db.write().await?;
        let applied = run(
            db,
            &mut tx,
            (callers, &items, &attempted),
            &mut trimmed,
            &mut queued,
        )
        .await?;
        let kept: Vec<_> = items
            .iter()
            .zip(&applied)
            .filter(|(_, ok)| **ok)
            .filter_map(|(i, _)| {
                let p = &callers[i.caller];
                let f = &p.items[i.index];
                let r = f.result.as_ref()?;
                matches!(f.outcome, FinishOutcome::Completed).then_some((
                    f.job.jid.as_str(),
                    f.job.class.as_str(),
                    r,
                    p.now,
                ))
            })
            .collect();
        super::results::store(db, &mut tx, &kept).await?;
        db.commit(tx).await?;
        applied
    };
    let mut report = FinishReport::default();
    for (item, ok) in items.iter().zip(applied) {
        if !ok {
            report.lost.push(item.index);
        }
    }
    report.dead_trimmed = trimmed.iter().sum();
    Ok((report, queued))
}

/// Encodes a caller's items before the write lock is taken.
fn plan(caller: usize, p: &FinishParams) -> Result<Vec<Item>, BackendError> {
    let now = micros(p.now);
    p.items
        .iter()
        .enumerate()
        .map(|(index, item)| {
            let step = match &item.outcome {
                FinishOutcome::Completed | FinishOutcome::Discard => Step::Remove,
                FinishOutcome::Expired => Step::Expire,
                FinishOutcome::Retry { at } => Step::Move {
                    state: "retryable",
                    run_at: micros(*at),
                    payload: encode_job(&item.job)?,
                },
                FinishOutcome::Snooze { at } => Step::Move {
                    state: "scheduled",
                    run_at: micros(*at),
                    payload: encode_job(&item.job)?,
                },
                FinishOutcome::Dead => Step::Move {
                    state: "dead",
                    run_at: now,
                    payload: encode_job(&item.job)?,
                },
                _ => {
                    return Err(BackendError::Unsupported {
                        backend: "sqlite",
                        operation: "this finish outcome",
                    })
                }
            };
            let row = parse_token(&item.token).map(|(id, nonce)| (id, nonce.to_owned()));
            Ok(Item {
                caller,
                index,
                row,
                step,
            })
        })
        .collect()
}

/// Whether `item` (of finish `f`) moves in its batch through the settle transaction: a
/// member, unless its removal's trigger moves it (it is removed without a failure).
fn settles_in_batch(item: &Item, f: &jobs::backend::Finish) -> bool {
    super::batch::is_member(&f.job) && (f.failed || !matches!(item.step, Step::Remove))
}

/// Finishes the attempted removals with one [`REMOVE`] (whose triggers count and delete
/// them, and move the members among them that did not fail in their batches); returns,
/// per item, whether it was applied, and whether a batch may have been noted due.
async fn remove(
    db: &Db,
    conn: &mut SqliteConnection,
    callers: &[FinishParams],
    items: &[Item],
    attempted: &[bool],
) -> Result<(Vec<bool>, bool), BackendError> {
    let removals: Vec<(i64, &str, bool, i64)> = items
        .iter()
        .zip(attempted)
        .filter(|(i, a)| **a && matches!(i.step, Step::Remove))
        .filter_map(|(i, _)| {
            let p = &callers[i.caller];
            let (id, nonce) = i.row.as_ref()?;
            Some((*id, nonce.as_str(), p.items[i.index].failed, micros(p.now)))
        })
        .collect();
    let mut due = false;
    let removed: HashSet<i64> = if removals.is_empty() {
        HashSet::new()
    } else {
        let list = serde_json::to_string(&removals)
            .map_err(|e| super::error::encode("lease tokens", e))?;
        sqlx::query_as::<_, (i64, bool)>(REMOVE)
            .bind(list)
            .fetch_all(conn)
            .await
            .or_backend(&db.cx)?
            .into_iter()
            .map(|(id, maybe_due)| {
                due |= maybe_due;
                id
            })
            .collect()
    };
    let applied = items
        .iter()
        .zip(attempted)
        .map(|(i, a)| {
            *a && matches!(i.step, Step::Remove)
                && i.row.as_ref().is_some_and(|(id, _)| removed.contains(id))
        })
        .collect();
    Ok((applied, due))
}

/// Applies every attempted item inside `tx`: removals as in [`remove`], moves one by one,
/// then their counters and the dead set's trim (into `trimmed`, per caller). Returns, per
/// item, whether it was applied.
async fn run(
    db: &Db,
    tx: &mut Tx<'_>,
    (callers, items, attempted): (&[FinishParams], &[Item], &[bool]),
    trimmed: &mut [u64],
    queued: &mut bool,
) -> Result<Vec<bool>, BackendError> {
    let (mut applied, due) = remove(db, tx, callers, items, attempted).await?;
    let moving = items
        .iter()
        .zip(attempted)
        .filter(|(i, a)| **a && matches!(i.step, Step::Move { .. }))
        .count();
    // No move, no positions: a settle of batch members or results only skips the write.
    let mut pos = if moving > 0 {
        moves::next_positions(db, tx, moving).await?
    } else {
        0
    };
    let mut days: HashMap<chrono::NaiveDate, (u64, u64, chrono::DateTime<chrono::Utc>)> =
        HashMap::new();
    let mut killed = vec![false; callers.len()];
    let mut expired = 0;
    for (n, (item, attempt)) in items.iter().zip(attempted).enumerate() {
        if let (Some((id, nonce)), true, Step::Expire) = (&item.row, *attempt, &item.step) {
            applied[n] = sqlx::query(EXPIRE)
                .bind(id)
                .bind(nonce)
                .execute(&mut **tx)
                .await
                .or_backend(&db.cx)?
                .rows_affected()
                > 0;
            expired += u64::from(applied[n]);
            continue;
        }
        let (
            Some((id, nonce)),
            true,
            Step::Move {
                state,
                run_at,
                payload,
            },
        ) = (&item.row, *attempt, &item.step)
        else {
            continue;
        };
        let p = &callers[item.caller];
        let finish = &p.items[item.index];
        pos += 1;
        applied[n] = sqlx::query(MOVE)
            .bind(id)
            .bind(nonce)
            .bind(*state)
            .bind(run_at)
            .bind(pos - 1)
            .bind(&finish.job.queue)
            .bind(&finish.job.class)
            .bind(payload)
            .execute(&mut **tx)
            .await
            .or_backend(&db.cx)?
            .rows_affected()
            > 0;
        if !applied[n] {
            continue;
        }
        let day = days.entry(p.now.date_naive()).or_insert((0, 0, p.now));
        if !matches!(finish.outcome, FinishOutcome::Snooze { .. }) {
            day.0 += 1;
        }
        if finish.failed {
            day.1 += 1;
        }
        killed[item.caller] |= matches!(finish.outcome, FinishOutcome::Dead);
    }
    for (caller, p) in callers.iter().enumerate() {
        if killed[caller] {
            trimmed[caller] = moves::trim_dead(db, tx, p.now, p.dead_limits).await?;
        }
    }
    for (processed, failed, now) in days.into_values() {
        moves::count(db, tx, now, processed, failed, 0).await?;
    }
    moves::count_expired(db, tx, expired).await?;
    // The batch members settled here that no trigger moved move in their batches, in a
    // few statements; then the batches the triggers left due fire.
    let members: Vec<_> = items
        .iter()
        .zip(&applied)
        .filter(|(_, ok)| **ok)
        .map(|(item, _)| (item, &callers[item.caller].items[item.index]))
        .filter(|(item, f)| settles_in_batch(item, f))
        .map(|(_, f)| (&*f.job, &f.outcome, f.failed))
        .collect();
    if let Some(p) = callers.first() {
        *queued |= super::batch::settle(db, tx, &members, p.now).await?;
        if due {
            *queued |= super::batch::fire_due_in(db, tx, p.now).await?;
        }
    }
    Ok(applied)
}
