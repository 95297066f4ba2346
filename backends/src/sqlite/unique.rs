//! Unique locks: claimed by a push in the row of the job that holds them, listed and
//! released by an operator.
//!
//! 1. A lock is the row's `unique_key` (with `unique_until` and `unique_expires_at`); the
//!    partial unique index `jobs_unique` lets one row hold a key. A row releases only its
//!    own lock, by clearing its key or by going away: deletes (finish, admin delete, queue
//!    clear) and the trigger `jobs_unique_release` (moves to dead, the start of a job held
//!    until it starts) do it in the statement of the transition (migration 5).
//! 2. [`push`] is one write transaction: it reads the holders of the batch's keys through
//!    the index, frees the lapsed ones, decides each job in order (store, duplicate, or
//!    replace a waiting holder, deleted there), then stores the jobs kept with one insert.
//!    A single job that does not replace first tries one insert that the unique index
//!    refuses when its key is held (`push_free`): a free key, the common case, costs one
//!    statement as a plain push does; a refused one takes the transaction.
//! 3. [`unique_list`] reads the locks held (not lapsed) from the index; [`unique_release`]
//!    clears a key, leaving its job where it is.

use std::collections::HashMap;

use jobs::backend::{
    BackendError, PushConflict, PushReport, UniqueHeld, UniqueListParams, UniqueReleaseParams,
};
use jobs::envelope::flow::UniqueUntil;

use super::db::{from_micros, id_list, micros, Db};
use super::error::{self, Sqlx};
use super::push::{self, Row};

/// The rows holding the keys of `?1` (a JSON array): row, key, jid, state, lapse time.
pub(super) const HOLDERS: &str = "SELECT id, unique_key, jid, state, unique_expires_at FROM jobs
    WHERE unique_key IN (SELECT value FROM json_each(?1)) AND unique_key IS NOT NULL";

/// Clears the locks of the rows of `?1` (a JSON array of row ids).
const FREE: &str =
    "UPDATE jobs SET unique_key = NULL WHERE id IN (SELECT value FROM json_each(?1))";

/// Deletes the waiting jobs of `?1` (a JSON array of row ids), replaced by a push: queued,
/// scheduled, retrying, or moved aside for a concurrency slot (a row that holds no slot, so
/// no trigger fires for it).
const DELETE_WAITING: &str = "DELETE FROM jobs WHERE id IN (SELECT value FROM json_each(?1))
    AND state IN ('available', 'scheduled', 'retryable', 'waiting')";

/// Who holds a key, as a push walks its jobs.
enum Holder {
    /// A stored row: its id, and whether it waits (queued, scheduled, retrying).
    Stored { id: i64, waiting: bool },
    /// A job of this push, kept so far: its index.
    Pushed(usize),
}

/// Stores the jobs of one push with unique jobs among them, in one write transaction;
/// reports the duplicates and replacements.
pub(super) async fn push(
    db: &Db,
    rows: Vec<Row>,
    now: i64,
    on_conflict: PushConflict,
) -> Result<PushReport, BackendError> {
    if rows.len() == 1 && on_conflict != PushConflict::Replace && push_free(db, &rows).await? {
        return Ok(PushReport::default());
    }
    let keys: Vec<&str> = rows
        .iter()
        .filter_map(|r| r.lock.as_ref().map(|l| l.key.as_str()))
        .collect();
    let keys = serde_json::to_string(&keys).map_err(|e| error::encode("unique keys", e))?;
    let mut tx = db.write().await?;
    let stored: Vec<(i64, String, String, String, i64)> = sqlx::query_as(HOLDERS)
        .bind(keys)
        .fetch_all(&mut *tx)
        .await
        .or_backend(&db.cx)?;
    // A lapsed lock never blocks: its row lets it go in this transaction.
    let (lapsed, live): (Vec<_>, Vec<_>) = stored.into_iter().partition(|h| h.4 <= now);
    if !lapsed.is_empty() {
        let ids: Vec<i64> = lapsed.iter().map(|h| h.0).collect();
        sqlx::query(FREE)
            .bind(id_list(&ids))
            .execute(&mut *tx)
            .await
            .or_backend(&db.cx)?;
    }
    let mut holders: HashMap<String, (String, Holder)> = live
        .into_iter()
        .map(|(id, key, jid, state, _)| {
            let waiting = matches!(
                state.as_str(),
                "available" | "scheduled" | "retryable" | "waiting"
            );
            (key, (jid, Holder::Stored { id, waiting }))
        })
        .collect();

    let mut report = PushReport::default();
    let mut kept = vec![true; rows.len()];
    let mut replaced = Vec::new();
    for (i, row) in rows.iter().enumerate() {
        let Some(lock) = &row.lock else { continue };
        if let Some((jid, holder)) = holders.get(&lock.key).filter(|(jid, _)| *jid != row.jid) {
            let waiting = match holder {
                Holder::Stored { waiting, .. } => *waiting,
                Holder::Pushed(_) => true,
            };
            if on_conflict != PushConflict::Replace || !waiting {
                report.duplicates.push((i, jid.clone()));
                kept[i] = false;
                continue;
            }
            match holder {
                Holder::Stored { id, .. } => replaced.push(*id),
                Holder::Pushed(j) => kept[*j] = false,
            }
            report.replaced.push((i, jid.clone()));
        }
        holders.insert(lock.key.clone(), (row.jid.clone(), Holder::Pushed(i)));
    }
    if !replaced.is_empty() {
        sqlx::query(DELETE_WAITING)
            .bind(id_list(&replaced))
            .execute(&mut *tx)
            .await
            .or_backend(&db.cx)?;
    }
    let stored: Vec<&Row> = rows
        .iter()
        .zip(&kept)
        .filter(|(_, k)| **k)
        .map(|(r, _)| r)
        .collect();
    if !stored.is_empty() {
        let (sql, json) = push::encode(stored.iter().copied())?;
        push::insert(db, &mut tx, sql, &json).await?;
    }
    db.commit(tx).await?;
    if push::any_available(stored) {
        db.wake_reservers();
    }
    Ok(report)
}

/// One job whose key is free, stored by one statement: the insert skips a row that any
/// uniqueness constraint refuses; whether it was stored. A refused row (its key held,
/// lapsed or not, or its jid taken) goes through [`push`]'s transaction, which decides.
async fn push_free(db: &Db, rows: &[Row]) -> Result<bool, BackendError> {
    let (sql, json) = push::encode(rows.iter())?;
    let sql = format!("{sql} WHERE true ON CONFLICT DO NOTHING RETURNING id");
    let mut conn = db.exec().await?;
    let stored = sqlx::query(&sql)
        .bind(json)
        .fetch_optional(&mut *conn)
        .await
        .or_backend(&db.cx)?;
    conn.settle();
    if stored.is_some() && push::any_available(rows) {
        db.wake_reservers();
    }
    Ok(stored.is_some())
}

/// The locks held at `?1`, soonest to lapse first, `?2` of them from the `?3`th: key, jid,
/// class, queue, until, lapse time.
pub(super) const LIST: &str =
    "SELECT unique_key, jid, class, queue, unique_until, unique_expires_at FROM jobs
    WHERE unique_key IS NOT NULL AND unique_expires_at > ?1
    ORDER BY unique_expires_at, unique_key LIMIT ?2 OFFSET ?3";

/// The locks held at `now` (lapsed ones left out), soonest to lapse first, one page.
pub(super) async fn unique_list(
    db: &Db,
    p: UniqueListParams,
) -> Result<Vec<UniqueHeld>, BackendError> {
    let rows: Vec<(String, String, String, String, Option<String>, i64)> = sqlx::query_as(LIST)
        .bind(micros(p.now))
        .bind(i64::try_from(p.limit).unwrap_or(i64::MAX))
        .bind(i64::try_from(p.offset).unwrap_or(i64::MAX))
        .fetch_all(&db.readers)
        .await
        .or_backend(&db.cx)?;
    Ok(rows
        .into_iter()
        .map(|(key, jid, class, queue, until, expires_at)| {
            let until = match until.as_deref() {
                Some("start") => UniqueUntil::Start,
                _ => UniqueUntil::Success,
            };
            UniqueHeld::new(key, jid, class, queue, until, from_micros(expires_at))
        })
        .collect())
}

/// Clears lock `?1` from the row that holds it.
pub(super) const RELEASE: &str = "UPDATE jobs SET unique_key = NULL WHERE unique_key = ?1";

/// Releases lock `key`, lapsed or not; whether a row held it. The job stays as it is.
pub(super) async fn unique_release(db: &Db, p: UniqueReleaseParams) -> Result<bool, BackendError> {
    let mut conn = db.exec().await?;
    let done = sqlx::query(RELEASE)
        .bind(&p.key)
        .execute(&mut *conn)
        .await
        .or_backend(&db.cx)?;
    conn.settle();
    Ok(done.rows_affected() > 0)
}
