//! The admin side: queues, counters, resets, and the delegation of job-set calls.
//!
//! 1. Queues: known queues (made known by a trigger when a job becomes available in them)
//!    and paused ones, with size and head latency read from the `jobs_available` index.
//! 2. Counters are kept per day: a total is the sum of its days; set sizes are counts over
//!    each state's partial index.
//! 3. Job sets live in `sets.rs`, processes in `process.rs`, recurring-job state in
//!    `schedule.rs`, metrics and facts in `metrics.rs`.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use jobs::backend::*;

use super::db::micros;
use super::error::Sqlx;
use super::{metrics, moves, process, sets, SqliteBackend};

#[async_trait]
impl AdminBackend for SqliteBackend {
    async fn queue_list(&self, now: DateTime<Utc>) -> Result<Vec<QueueInfo>, BackendError> {
        let db = &self.db;
        let rows: Vec<(String, i64, Option<i64>, bool)> = sqlx::query_as(
            "WITH names (name) AS (SELECT name FROM known_queues UNION SELECT name FROM paused_queues)
             SELECT n.name,
                    (SELECT count(*) FROM jobs WHERE queue = n.name AND state = 'available'),
                    (SELECT run_at FROM jobs WHERE queue = n.name AND state = 'available'
                     ORDER BY pos LIMIT 1),
                    EXISTS (SELECT 1 FROM paused_queues p WHERE p.name = n.name)
             FROM names n ORDER BY n.name",
        )
        .fetch_all(&db.readers)
        .await
        .or_backend(&db.cx)?;
        let now = micros(now);
        Ok(rows
            .into_iter()
            .map(|(name, size, head, paused)| QueueInfo {
                name,
                size: u64::try_from(size).unwrap_or(0),
                latency: head.map_or(Duration::ZERO, |t| {
                    Duration::from_micros(u64::try_from(now.saturating_sub(t)).unwrap_or(0))
                }),
                paused,
            })
            .collect())
    }

    async fn queue_pause(&self, queue: &str, paused: bool) -> Result<(), BackendError> {
        let db = &self.db;
        let sql = if paused {
            "INSERT OR IGNORE INTO paused_queues (name) VALUES (?1)"
        } else {
            "DELETE FROM paused_queues WHERE name = ?1"
        };
        let mut tx = db.write().await?;
        sqlx::query(sql)
            .bind(queue)
            .execute(&mut *tx)
            .await
            .or_backend(&db.cx)?;
        db.commit(tx).await?;
        if !paused {
            db.wake_reservers();
        }
        Ok(())
    }

    async fn queue_clear(&self, queue: &str) -> Result<u64, BackendError> {
        let db = &self.db;
        let mut tx = db.write().await?;
        let done = sqlx::query("DELETE FROM jobs WHERE queue = ?1 AND state = 'available'")
            .bind(queue)
            .execute(&mut *tx)
            .await
            .or_backend(&db.cx)?;
        sqlx::query("DELETE FROM known_queues WHERE name = ?1")
            .bind(queue)
            .execute(&mut *tx)
            .await
            .or_backend(&db.cx)?;
        db.commit(tx).await?;
        Ok(done.rows_affected())
    }

    async fn job_list(&self, params: JobListParams) -> Result<JobPage, BackendError> {
        sets::job_list(&self.db, params).await
    }

    async fn job_get(&self, set: JobSet, jid: &str) -> Result<Option<StoredJob>, BackendError> {
        sets::job_get(&self.db, set, jid).await
    }

    async fn job_delete(&self, params: JobActionParams) -> Result<u64, BackendError> {
        sets::job_delete(&self.db, params).await
    }

    async fn job_enqueue_now(&self, params: JobActionParams) -> Result<u64, BackendError> {
        sets::job_enqueue_now(&self.db, params).await
    }

    async fn job_kill(&self, params: JobActionParams) -> Result<u64, BackendError> {
        sets::job_kill(&self.db, params).await
    }

    async fn process_list(&self) -> Result<Vec<ProcessRecord>, BackendError> {
        process::process_list(&self.db).await
    }

    async fn process_signal(
        &self,
        id: &ProcessId,
        signal: ProcessSignal,
    ) -> Result<(), BackendError> {
        process::process_signal(&self.db, id, signal).await
    }

    async fn stats(&self) -> Result<Stats, BackendError> {
        let db = &self.db;
        let row: (i64, i64, i64, i64, i64, i64, i64) = sqlx::query_as(
            "SELECT
                 (SELECT coalesce(sum(value), 0) FROM counters WHERE name = 'processed'),
                 (SELECT coalesce(sum(value), 0) FROM counters WHERE name = 'failed'),
                 (SELECT coalesce(sum(value), 0) FROM counters WHERE name = 'dead_trimmed'),
                 (SELECT count(*) FROM jobs WHERE state = 'available'),
                 (SELECT count(*) FROM jobs WHERE state = 'scheduled'),
                 (SELECT count(*) FROM jobs WHERE state = 'retryable'),
                 (SELECT count(*) FROM jobs WHERE state = 'dead')",
        )
        .fetch_one(&db.readers)
        .await
        .or_backend(&db.cx)?;
        let n = |v: i64| u64::try_from(v).unwrap_or(0);
        Ok(Stats {
            processed: n(row.0),
            failed: n(row.1),
            dead_trimmed: n(row.2),
            enqueued: n(row.3),
            scheduled: n(row.4),
            retries: n(row.5),
            dead: n(row.6),
        })
    }

    async fn stats_history(
        &self,
        today: NaiveDate,
        days: u32,
    ) -> Result<Vec<DayStats>, BackendError> {
        let db = &self.db;
        let dates: Vec<NaiveDate> = (0..days)
            .rev()
            .filter_map(|back| today.checked_sub_days(chrono::Days::new(u64::from(back))))
            .collect();
        let (Some(first), Some(last)) = (dates.first(), dates.last()) else {
            return Ok(Vec::new());
        };
        let rows: Vec<(String, String, i64)> = sqlx::query_as(
            "SELECT name, period, value FROM counters
             WHERE name IN ('processed', 'failed') AND period >= ?1 AND period <= ?2",
        )
        .bind(moves::period(*first))
        .bind(moves::period(*last))
        .fetch_all(&db.readers)
        .await
        .or_backend(&db.cx)?;
        let mut counts = std::collections::HashMap::new();
        for (name, day, value) in rows {
            counts.insert((name, day), u64::try_from(value).unwrap_or(0));
        }
        let get = |name: &str, day: &str| {
            counts
                .get(&(name.to_owned(), day.to_owned()))
                .copied()
                .unwrap_or(0)
        };
        Ok(dates
            .iter()
            .map(|date| {
                let day = moves::period(*date);
                DayStats {
                    date: *date,
                    processed: get("processed", &day),
                    failed: get("failed", &day),
                }
            })
            .collect())
    }

    async fn facts(&self) -> Result<Vec<(String, String)>, BackendError> {
        metrics::facts(&self.db).await
    }

    fn schedules(&self) -> Option<&dyn jobs::schedule::ScheduleStore> {
        Some(self)
    }

    async fn clear_all(&self) -> Result<(), BackendError> {
        let db = &self.db;
        let mut tx = db.write().await?;
        for table in [
            "jobs",
            "known_queues",
            "paused_queues",
            "process_signals",
            "processes",
            "counters",
            "schedules",
            "schedule_claims",
            "job_metrics",
        ] {
            sqlx::query(&format!("DELETE FROM {table}"))
                .execute(&mut *tx)
                .await
                .or_backend(&db.cx)?;
        }
        db.commit(tx).await
    }
}
