//! Priority aging on SQLite: one pass moves each waiting job whose wait earned a better band
//! into it, reading only the head of each band.
//!
//! 1. A queue runs in `(priority, pos)` order. An aged job gets its new band in `priority`
//!    and a negative `pos`, below every job of that band (a job given back to the head has
//!    band -1, so it still runs first): an aged job runs ahead of the jobs of its new band,
//!    the latest pass's ahead of the earlier ones, and among the jobs of one pass the
//!    oldest first. Its payload (declared priority, `enqueued_at`) is not touched; a row
//!    that leaves its queue gets its band and position back from its payload when it
//!    returns (`moves::enqueue`), or band -1 from a requeue.
//! 2. So each band is two runs, each in the order its jobs come due: the jobs pushed there
//!    (`pos >= 0`, first pushed first: they climb after one step) and the jobs aged into it
//!    (`pos < 0`, earliest moved first, read from the `pos` nearest 0: each climbs one
//!    step after it arrived). The pass reads each run from that end and stops at the
//!    first job that stays, so it reads the jobs that move plus at most two per band, and
//!    never a whole queue. A job of one pass can come due a moment (at most the time
//!    between passes) after a younger one of the same pass that stays; it climbs at the
//!    next pass.
//! 3. A reader first looks at the two heads of every band of every known queue; only when
//!    one is due does the pass take the write lock, and read and move under it.

use std::collections::BTreeMap;

use jobs::backend::{AgeParams, BackendError};
use jobs::envelope::flow::{MAX_PRIORITY, PRIORITY_FIELD};

use super::db::{Db, Tx};
use super::error::{self, Sqlx};

/// The declared priority of row `j` as `JobEnvelope::priority` reads it: a non-negative
/// JSON integer capped at `?3` (the path is `?2`), else 0; 0 for a payload that is not JSON.
macro_rules! declared {
    ($j:literal) => {
        concat!(
            "CASE WHEN NOT json_valid(",
            $j,
            ".payload) THEN 0 WHEN json_type(",
            $j,
            ".payload, ?2) = 'integer' THEN max(0, min(?3, ",
            $j,
            ".payload ->> ?2)) ELSE 0 END"
        )
    };
}

/// Per known queue and band 1..9 that has jobs: the enqueue time of the first job pushed
/// there, and the enqueue time and declared priority of the first job aged into it (`?1`
/// is not used: the parameters are numbered as in the other statements). Materialized, so
/// each head is read once: two index seeks per band.
const HEADS: &str = concat!(
    "WITH RECURSIVE band (t) AS (SELECT 1 UNION ALL SELECT t + 1 FROM band WHERE t < ?3),
     heads AS MATERIALIZED (
        SELECT k.name AS queue, band.t AS t,
            (SELECT j.run_at FROM jobs AS j
             WHERE j.queue = k.name AND j.state = 'available' AND j.priority = band.t
               AND j.pos >= 0
             ORDER BY j.pos LIMIT 1) AS pushed_at,
            (SELECT j.id FROM jobs AS j
             WHERE j.queue = k.name AND j.state = 'available' AND j.priority = band.t
               AND j.pos < 0
             ORDER BY j.pos DESC LIMIT 1) AS aged_id
        FROM known_queues AS k CROSS JOIN band
     )
     SELECT h.queue, h.t, h.pushed_at, a.run_at, ",
    declared!("a"),
    "
     FROM heads AS h LEFT JOIN jobs AS a ON a.id = h.aged_id
     WHERE h.pushed_at IS NOT NULL OR h.aged_id IS NOT NULL"
);

/// Up to `?4` jobs pushed into band `?5` of queue `?1`, from position `?6` on, first pushed
/// first: row, enqueue time, position, declared priority.
const PUSHED: &str = concat!(
    "SELECT j.id, j.run_at, j.pos, ",
    declared!("j"),
    " FROM jobs AS j
     WHERE j.queue = ?1 AND j.state = 'available' AND j.priority = ?5 AND j.pos >= ?6
     ORDER BY j.pos LIMIT ?4"
);

/// Up to `?4` jobs aged into band `?5` of queue `?1`, below position `?6`, earliest moved
/// first: row, enqueue time, position, declared priority.
const AGED: &str = concat!(
    "SELECT j.id, j.run_at, j.pos, ",
    declared!("j"),
    " FROM jobs AS j
     WHERE j.queue = ?1 AND j.state = 'available' AND j.priority = ?5 AND j.pos < ?6
     ORDER BY j.pos DESC LIMIT ?4"
);

/// The lowest position in band `?2` of queue `?1`, or 0: the jobs moved in go below it.
const FLOOR: &str = "SELECT coalesce(min(pos), 0) FROM jobs
    WHERE queue = ?1 AND state = 'available' AND priority = ?2 AND pos < 0";

/// Moves each row of the JSON array `?1` of `[id, band, position]` there.
const MOVE: &str = "UPDATE jobs SET priority = m.value ->> 1, pos = m.value ->> 2
    FROM json_each(?1) AS m
    WHERE jobs.id = m.value ->> 0 AND jobs.state = 'available'";

/// Rows read per query while walking a run; most walks stop at the first.
const CHUNK: i64 = 64;

/// A band's heads: queue, band, enqueue time of its first pushed job, and enqueue time and
/// declared priority of its first aged one (µs; 0 for none).
type Head = (String, i64, Option<i64>, Option<i64>, i64);

/// A row read from a band: id, enqueue time (µs), position, declared priority.
type Row = (i64, i64, i64, i64);

/// A job that moves: its row, enqueue time (µs), the band it came from and the one it
/// goes to.
struct Mover {
    id: i64,
    enqueued_us: i64,
    band: u8,
    target: u8,
}

/// The band a job declared `declared` and enqueued at `enqueued_us` runs in now.
fn target(p: &AgeParams, declared: i64, enqueued_us: i64) -> u8 {
    let declared = u8::try_from(declared.clamp(0, i64::from(MAX_PRIORITY))).unwrap_or(0);
    // Microseconds to epoch seconds, as the envelope's `enqueued_at` holds them.
    p.aged(declared, enqueued_us as f64 / 1e6)
}

/// Moves every waiting job whose wait earned a better band into it; returns how many moved.
pub(super) async fn priority_age(db: &Db, p: AgeParams) -> Result<u64, BackendError> {
    let path = format!("$.{PRIORITY_FIELD}");
    let heads: Vec<Head> = sqlx::query_as(HEADS)
        .bind(1)
        .bind(&path)
        .bind(MAX_PRIORITY)
        .fetch_all(&db.readers)
        .await
        .or_backend(&db.cx)?;
    let mut due: Vec<(String, u8)> = Vec::new();
    for (queue, band, pushed_at, aged_at, declared) in heads {
        let Ok(band) = u8::try_from(band) else {
            continue;
        };
        let pushed = pushed_at.is_some_and(|at| target(&p, i64::from(band), at) < band);
        let aged = aged_at.is_some_and(|at| target(&p, declared, at) < band);
        if pushed || aged {
            due.push((queue, band));
        }
    }
    if due.is_empty() {
        return Ok(0);
    }
    let mut tx = db.write().await?;
    let mut by_queue: BTreeMap<String, Vec<Mover>> = BTreeMap::new();
    for (queue, band) in due {
        let movers = by_queue.entry(queue.clone()).or_default();
        walk(db, &mut tx, &p, &queue, band, Run::Pushed, movers).await?;
        walk(db, &mut tx, &p, &queue, band, Run::Aged, movers).await?;
    }
    let mut moved = 0;
    for (queue, movers) in by_queue {
        moved += place(db, &mut tx, &queue, movers).await?;
    }
    db.commit(tx).await?;
    Ok(moved)
}

/// The two runs of a band.
#[derive(Clone, Copy)]
enum Run {
    /// Jobs pushed into the band (`pos >= 0`), first pushed first.
    Pushed,
    /// Jobs aged into the band (`pos < 0`), earliest moved first.
    Aged,
}

/// Reads run `run` of band `band` of `queue` from its end that comes due first, adding
/// each job that moves to `movers`, up to the first that stays.
async fn walk(
    db: &Db,
    tx: &mut Tx<'_>,
    p: &AgeParams,
    queue: &str,
    band: u8,
    run: Run,
    movers: &mut Vec<Mover>,
) -> Result<(), BackendError> {
    let path = format!("$.{PRIORITY_FIELD}");
    // Both runs start at position 0: the pushed one upwards, the aged one downwards.
    let mut from = 0;
    loop {
        let sql = match run {
            Run::Pushed => PUSHED,
            Run::Aged => AGED,
        };
        let rows: Vec<Row> = sqlx::query_as(sql)
            .bind(queue)
            .bind(&path)
            .bind(MAX_PRIORITY)
            .bind(CHUNK)
            .bind(band)
            .bind(from)
            .fetch_all(&mut **tx)
            .await
            .or_backend(&db.cx)?;
        let full = i64::try_from(rows.len()).unwrap_or(0) == CHUNK;
        for (id, enqueued_us, pos, declared) in rows {
            let to = target(p, declared, enqueued_us);
            if to >= band {
                return Ok(());
            }
            movers.push(Mover {
                id,
                enqueued_us,
                band,
                target: to,
            });
            from = match run {
                Run::Pushed => pos.saturating_add(1),
                Run::Aged => pos,
            };
        }
        if !full {
            return Ok(());
        }
    }
}

/// Moves `movers` of `queue` into their bands, each below the jobs already there, the
/// oldest lowest; returns how many moved.
async fn place(
    db: &Db,
    tx: &mut Tx<'_>,
    queue: &str,
    mut movers: Vec<Mover>,
) -> Result<u64, BackendError> {
    // Oldest first, then from the band that ran first: the order they keep.
    movers.sort_by_key(|m| (m.target, m.enqueued_us, m.band));
    let mut rows: Vec<(i64, u8, i64)> = Vec::with_capacity(movers.len());
    let mut at = 0;
    while at < movers.len() {
        let band = movers[at].target;
        let end = movers[at..]
            .iter()
            .position(|m| m.target != band)
            .map_or(movers.len(), |n| at + n);
        let floor: i64 = sqlx::query_scalar(FLOOR)
            .bind(queue)
            .bind(band)
            .fetch_one(&mut **tx)
            .await
            .or_backend(&db.cx)?;
        let n = i64::try_from(end - at).unwrap_or(i64::MAX);
        let first = floor.saturating_sub(n);
        for (i, m) in movers[at..end].iter().enumerate() {
            let pos = first.saturating_add(i64::try_from(i).unwrap_or(i64::MAX));
            rows.push((m.id, band, pos));
        }
        at = end;
    }
    if rows.is_empty() {
        return Ok(0);
    }
    let list = serde_json::to_string(&rows).map_err(|e| error::encode("a list of moves", e))?;
    let done = sqlx::query(MOVE)
        .bind(list)
        .execute(&mut **tx)
        .await
        .or_backend(&db.cx)?;
    Ok(done.rows_affected())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sqlite::SqliteBackend;
    use jobs::backend::{AdminBackend, Backend, PushParams};

    /// The plan of `sql` with `binds` (text, integer) bound, one detail line per step.
    async fn plan(b: &SqliteBackend, sql: &str, binds: &[(Option<&str>, i64)]) -> Vec<String> {
        let sql = format!("EXPLAIN QUERY PLAN {sql}");
        let mut q = sqlx::query_as::<_, (i64, i64, i64, String)>(&sql);
        for (text, n) in binds {
            q = match text {
                Some(t) => q.bind(*t),
                None => q.bind(*n),
            };
        }
        let rows = q.fetch_all(&b.db.readers).await.unwrap();
        rows.into_iter().map(|r| r.3).collect()
    }

    /// Every read of the pass seeks into `jobs_available` and reads it in order: no scan of
    /// `jobs`, no sort.
    #[tokio::test]
    async fn the_pass_reads_band_heads_from_the_index() {
        let b = SqliteBackend::temporary().await.unwrap();
        let now = chrono::Utc::now();
        let jobs: Vec<_> = (0..3000)
            .map(|i| {
                let mut job = jobs::envelope::JobEnvelope::new("A", ["a", "b"][i % 2], vec![]);
                job.set_priority((i % 10) as u8);
                job
            })
            .collect();
        b.job_push(PushParams::new(jobs, now - chrono::Duration::seconds(30)))
            .await
            .unwrap();
        let p = AgeParams::new(now, std::time::Duration::from_secs(10));
        assert_eq!(b.priority_age(p).await.unwrap(), 2700);
        sqlx::query("ANALYZE").execute(&b.db.readers).await.unwrap();
        let path = format!("$.{PRIORITY_FIELD}");
        let max = i64::from(MAX_PRIORITY);
        let walk = [
            (Some("a"), 0),
            (Some(path.as_str()), 0),
            (None, max),
            (None, CHUNK),
            (None, 4),
            (None, 0),
        ];
        for (sql, binds) in [
            (
                HEADS,
                &[(None, 1), (Some(path.as_str()), 0), (None, max)][..],
            ),
            (PUSHED, &walk[..]),
            (AGED, &walk[..]),
            (FLOOR, &[(Some("a"), 0), (None, 4)][..]),
        ] {
            let steps = plan(&b, sql, binds).await;
            assert!(
                steps.iter().any(|s| s.contains("jobs_available")),
                "{sql}: {steps:?}"
            );
            assert!(
                !steps
                    .iter()
                    .any(|s| s.starts_with("SCAN j") && !s.contains("INDEX")),
                "a full scan of jobs for {sql}: {steps:?}"
            );
            assert!(
                !steps.iter().any(|s| s.contains("TEMP B-TREE")),
                "a sort for {sql}: {steps:?}"
            );
        }
        b.clear_all().await.unwrap();
    }
}
