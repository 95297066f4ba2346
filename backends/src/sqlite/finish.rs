//! Finishing reserved jobs, with concurrent finishes committed together.
//!
//! 1. [`job_finish`] queues its items and takes its turn; whoever holds the turn applies
//!    every finish queued so far in one write transaction (group commit) and answers each
//!    caller, so fifty worker slots acknowledging one job each cost one commit, not fifty.
//!    The batch runs in its own task: a caller that gives up cannot cut it short.
//! 2. Every item is fenced by its lease token: a removal is one `DELETE ... RETURNING` for
//!    all removed items of the batch, a move one `UPDATE` per item, each matching only a
//!    `running` row whose lease token is the item's; an item that matches nothing is lost and
//!    neither applied nor counted.
//! 3. Counters are added once per day in the batch; the dead set is trimmed once per caller
//!    that killed a job, with that caller's limits.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use jobs::backend::{BackendError, FinishOutcome, FinishParams, FinishReport};
use tokio::sync::oneshot;

use super::db::{encode_job, id_list, micros, parse_token, Db, Tx};
use super::error::Sqlx;
use super::moves;

/// One caller's finish, waiting for its batch.
type Pending = (
    FinishParams,
    oneshot::Sender<Result<FinishReport, BackendError>>,
);

/// The queue of finishes and the turn to apply them.
#[derive(Debug, Default)]
pub(super) struct Finishes {
    queue: Mutex<Vec<Pending>>,
    turn: tokio::sync::Mutex<()>,
}

/// Removes the jobs with row ids `?1` (a JSON array) whose lease is one of `?2` (a JSON
/// array of `"row id:nonce"`); returns the row ids removed. Rows are found by id (the `+`
/// keeps the planner off the partial index of running jobs), and each lease is checked
/// against the set the second list makes.
pub(super) const REMOVE: &str = "DELETE FROM jobs
    WHERE id IN (SELECT value FROM json_each(?1))
      AND +state = 'running'
      AND (id || ':' || lease_token) IN (SELECT value FROM json_each(?2))
    RETURNING id";

/// Moves leased job `?1` (lease nonce `?2`) to state `?3` at `?4`, position `?5`, storing
/// the envelope `?9` (jid `?6`, queue `?7`, class `?8`).
const MOVE: &str = "UPDATE jobs SET state = ?3, run_at = ?4, pos = ?5, jid = ?6, queue = ?7,
        class = ?8, payload = ?9, lease_owner = NULL, lease_token = NULL, lease_seq = NULL, lease_expires_at = NULL
    WHERE id = ?1 AND state = 'running' AND lease_token = ?2";

/// Settles reserved jobs, together with any other finishes in flight.
pub(super) async fn job_finish(
    db: &Arc<Db>,
    p: FinishParams,
) -> Result<FinishReport, BackendError> {
    if p.items.is_empty() {
        return Ok(FinishReport::default());
    }
    let (reply, mut answer) = oneshot::channel();
    lock(&db.finishes.queue).push((p, reply));
    let abandoned = || Err(BackendError::msg("the finish was abandoned before it ran"));
    tokio::select! {
        biased;
        // Another caller's batch took this finish and has answered.
        result = &mut answer => return result.unwrap_or_else(|_| abandoned()),
        turn = db.finishes.turn.lock() => {
            // Everything queued so far, this finish included unless a batch took it already.
            let batch = std::mem::take(&mut *lock(&db.finishes.queue));
            if !batch.is_empty() {
                // In a task of its own, so the batch completes even if this caller gives up.
                let db = db.clone();
                let _ = tokio::spawn(async move { apply(&db, batch).await }).await;
            }
            drop(turn);
        }
    }
    answer.await.unwrap_or_else(|_| abandoned())
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Nothing that can panic runs under this lock.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Where one item goes.
enum Step {
    Remove,
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

/// Applies a batch and answers every caller in it.
async fn apply(db: &Db, batch: Vec<Pending>) {
    let mut callers = Vec::with_capacity(batch.len());
    let mut replies = Vec::with_capacity(batch.len());
    let mut items = Vec::new();
    for (p, reply) in batch {
        match plan(callers.len(), &p) {
            Ok(planned) => {
                items.extend(planned);
                callers.push(p);
                replies.push(reply);
            }
            Err(e) => {
                let _ = reply.send(Err(e));
            }
        }
    }
    let mut reports = vec![FinishReport::default(); callers.len()];
    let result = async {
        let mut tx = db.write().await?;
        run(db, &mut tx, &callers, &items, &mut reports).await?;
        db.commit(tx).await
    }
    .await;
    match result {
        Ok(()) => {
            for (reply, report) in replies.into_iter().zip(reports) {
                let _ = reply.send(Ok(report));
            }
        }
        Err(e) => {
            for reply in replies {
                let _ = reply.send(Err(duplicate(&e)));
            }
        }
    }
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

/// Applies the items inside `tx`, filling in each caller's report.
async fn run(
    db: &Db,
    tx: &mut Tx<'_>,
    callers: &[FinishParams],
    items: &[Item],
    reports: &mut [FinishReport],
) -> Result<(), BackendError> {
    // A row named twice is attempted once, by its first item; the others are lost.
    let mut named = HashSet::new();
    let attempted: Vec<bool> = items
        .iter()
        .map(|i| i.row.as_ref().is_some_and(|(id, _)| named.insert(*id)))
        .collect();

    let removals: Vec<(i64, &str)> = items
        .iter()
        .zip(&attempted)
        .filter(|(i, a)| **a && matches!(i.step, Step::Remove))
        .filter_map(|(i, _)| i.row.as_ref().map(|(id, nonce)| (*id, nonce.as_str())))
        .collect();
    let removed: HashSet<i64> = if removals.is_empty() {
        HashSet::new()
    } else {
        let ids: Vec<i64> = removals.iter().map(|(id, _)| *id).collect();
        let tokens: Vec<String> = removals
            .iter()
            .map(|(id, nonce)| format!("{id}:{nonce}"))
            .collect();
        let tokens =
            serde_json::to_string(&tokens).map_err(|e| super::error::encode("lease tokens", e))?;
        sqlx::query_scalar(REMOVE)
            .bind(id_list(&ids))
            .bind(tokens)
            .fetch_all(&mut **tx)
            .await
            .or_backend(&db.cx)?
            .into_iter()
            .collect()
    };

    let moving = items
        .iter()
        .zip(&attempted)
        .filter(|(i, a)| **a && matches!(i.step, Step::Move { .. }))
        .count();
    let mut pos = if moving > 0 {
        moves::next_positions(db, tx, moving).await?
    } else {
        0
    };
    let mut applied = vec![false; items.len()];
    for (n, (item, attempt)) in items.iter().zip(&attempted).enumerate() {
        let (Some((id, nonce)), true) = (&item.row, *attempt) else {
            continue;
        };
        applied[n] = match &item.step {
            Step::Remove => removed.contains(id),
            Step::Move {
                state,
                run_at,
                payload,
            } => {
                let job = &callers[item.caller].items[item.index].job;
                pos += 1;
                sqlx::query(MOVE)
                    .bind(id)
                    .bind(nonce)
                    .bind(*state)
                    .bind(run_at)
                    .bind(pos - 1)
                    .bind(&job.jid)
                    .bind(&job.queue)
                    .bind(&job.class)
                    .bind(payload)
                    .execute(&mut **tx)
                    .await
                    .or_backend(&db.cx)?
                    .rows_affected()
                    > 0
            }
        };
    }

    // Reports and counters, per caller and per day.
    let mut days: HashMap<chrono::NaiveDate, (u64, u64, chrono::DateTime<chrono::Utc>)> =
        HashMap::new();
    let mut killed = vec![false; callers.len()];
    for (item, ok) in items.iter().zip(&applied) {
        let p = &callers[item.caller];
        if !ok {
            reports[item.caller].lost.push(item.index);
            continue;
        }
        let finish = &p.items[item.index];
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
            reports[caller].dead_trimmed = moves::trim_dead(db, tx, p.now, p.dead_limits).await?;
        }
    }
    for (processed, failed, now) in days.into_values() {
        moves::count(db, tx, now, processed, failed, 0).await?;
    }
    Ok(())
}

/// The same error for another caller of the batch (errors are not `Clone`).
fn duplicate(e: &BackendError) -> BackendError {
    match e {
        BackendError::Connection { target, message } => BackendError::Connection {
            target: target.clone(),
            message: message.clone(),
        },
        BackendError::Timeout(d) => BackendError::Timeout(*d),
        BackendError::Decode(m) => BackendError::Decode(m.clone()),
        BackendError::Conflict(m) => BackendError::Conflict(m.clone()),
        BackendError::LeaseLost { jid, reason } => BackendError::LeaseLost {
            jid: jid.clone(),
            reason: reason.clone(),
        },
        BackendError::Unsupported { backend, operation } => {
            BackendError::Unsupported { backend, operation }
        }
        other => BackendError::msg(other.to_string()),
    }
}
