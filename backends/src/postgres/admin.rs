//! The Postgres backend's admin side: queues, listing and moving jobs, processes, counters.
//!
//! 1. Queue listing, pause and clear read and write `queues` and `paused_queues`.
//! 2. Job actions select their rows (`select.rs`) and move them in one transaction.
//! 3. Stats sum the counter shards; `clear_all` truncates every table but keeps the
//!    sequences, so a lease token from before can never match a row after.

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use jobs::backend::*;
use jobs::envelope::to_epoch;
use sqlx::types::Json;
use sqlx::Row;

use super::error::Sqlx;
use super::rows::StoredProcess;
use super::select::{SetPlace, STORED};
use super::sql::Queries;
use super::PostgresBackend;

impl PostgresBackend {
    fn q(&self, sql: &str) -> String {
        Queries::inline(self.schema(), sql)
    }
}

#[async_trait]
impl AdminBackend for PostgresBackend {
    async fn queue_list(&self, now: DateTime<Utc>) -> Result<Vec<QueueInfo>, BackendError> {
        let sql = self.q("WITH names AS (
                 SELECT name FROM __SCHEMA__.queues UNION SELECT name FROM __SCHEMA__.paused_queues
             )
             SELECT n.name,
                    (SELECT count(*) FROM __SCHEMA__.jobs j
                     WHERE j.queue = n.name AND j.state = 'available') AS size,
                    (SELECT j.enqueued_at FROM __SCHEMA__.jobs j
                     WHERE j.queue = n.name AND j.state = 'available'
                     ORDER BY j.priority, j.position LIMIT 1) AS head_enqueued_at,
                    EXISTS (SELECT 1 FROM __SCHEMA__.paused_queues p WHERE p.name = n.name)
             FROM names n");
        let rows = sqlx::query(&sql)
            .fetch_all(&self.inner.pool)
            .await
            .or_backend(&self.inner.cx)?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let enqueued_at: Option<f64> = row.try_get(2).or_backend(&self.inner.cx)?;
            let secs = enqueued_at.map_or(0.0, |t| (to_epoch(now) - t).max(0.0));
            out.push(QueueInfo {
                name: row.try_get(0).or_backend(&self.inner.cx)?,
                size: u64::try_from(row.try_get::<i64, _>(1).or_backend(&self.inner.cx)?)
                    .unwrap_or(0),
                latency: std::time::Duration::from_secs_f64(secs),
                paused: row.try_get(3).or_backend(&self.inner.cx)?,
            });
        }
        // Byte order, whatever the database's collation.
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    async fn queue_pause(&self, queue: &str, paused: bool) -> Result<(), BackendError> {
        let sql = if paused {
            self.q("INSERT INTO __SCHEMA__.paused_queues (name) VALUES ($1) ON CONFLICT DO NOTHING")
        } else {
            self.q(
                "WITH gone AS (DELETE FROM __SCHEMA__.paused_queues WHERE name = $1 RETURNING name)
                 SELECT pg_notify(__CHANNEL__, name) FROM gone",
            )
        };
        sqlx::query(&sql)
            .bind(queue)
            .execute(&self.inner.pool)
            .await
            .or_backend(&self.inner.cx)?;
        self.inner.wake.wake_all();
        Ok(())
    }

    async fn queue_clear(&self, queue: &str) -> Result<u64, BackendError> {
        let sql = self.q("WITH cleared AS (
                 DELETE FROM __SCHEMA__.jobs WHERE queue = $1 AND state = 'available' RETURNING 1
             ), forgotten AS (
                 DELETE FROM __SCHEMA__.queues WHERE name = $1
             )
             SELECT count(*) FROM cleared");
        let n: i64 = sqlx::query_scalar(&sql)
            .bind(queue)
            .fetch_one(&self.inner.pool)
            .await
            .or_backend(&self.inner.cx)?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    async fn job_list(&self, params: JobListParams) -> Result<JobPage, BackendError> {
        self.list(&params).await
    }

    async fn job_get(&self, set: JobSet, jid: &str) -> Result<Option<StoredJob>, BackendError> {
        let place = SetPlace::of(&set)?;
        let sql = self.q(&format!(
            "SELECT {STORED} FROM __SCHEMA__.jobs
             WHERE jid = $1 AND state = '{}' AND ($2::text IS NULL OR queue = $2)",
            place.state
        ));
        let row = sqlx::query(&sql)
            .bind(jid)
            .bind(place.queue)
            .fetch_optional(&self.inner.pool)
            .await
            .or_backend(&self.inner.cx)?;
        row.map(|row| self.stored(&row, &set)).transpose()
    }

    async fn job_delete(&self, p: JobActionParams) -> Result<u64, BackendError> {
        let mut tx = self.inner.pool.begin().await.or_backend(&self.inner.cx)?;
        let ids = self.select_ids(&mut tx, &p.set, &p.selection).await?;
        let sql = self.q("DELETE FROM __SCHEMA__.jobs WHERE id = ANY($1)");
        let done = sqlx::query(&sql)
            .bind(&ids)
            .execute(&mut *tx)
            .await
            .or_backend(&self.inner.cx)?;
        tx.commit().await.or_backend(&self.inner.cx)?;
        Ok(done.rows_affected())
    }

    async fn job_enqueue_now(&self, p: JobActionParams) -> Result<u64, BackendError> {
        if matches!(p.set, JobSet::Queue(_)) {
            return Ok(0);
        }
        let mut tx = self.inner.pool.begin().await.or_backend(&self.inner.cx)?;
        let ids = self.select_ids(&mut tx, &p.set, &p.selection).await?;
        let sql = self.q("WITH placed AS (
                 SELECT id, nextval('__SCHEMA__.position_seq') AS position
                 FROM (SELECT id FROM unnest($1::bigint[]) WITH ORDINALITY AS i (id, ord)
                       ORDER BY ord) AS ordered
             ), moved AS (
                 UPDATE __SCHEMA__.jobs AS j
                 SET state = 'available', run_at = $2, position = placed.position,
                     enqueued_at = $3
                 FROM placed WHERE j.id = placed.id
                 RETURNING j.queue
             ), known AS (
                 INSERT INTO __SCHEMA__.queues (name) SELECT DISTINCT queue FROM moved
                 ON CONFLICT DO NOTHING
             ), woken AS (
                 SELECT pg_notify(__CHANNEL__, queue) FROM (SELECT DISTINCT queue FROM moved) q
             )
             SELECT (SELECT count(*) FROM moved), (SELECT count(*) FROM woken)");
        let (moved, _): (i64, i64) = sqlx::query_as(&sql)
            .bind(&ids)
            .bind(p.now)
            .bind(to_epoch(p.now))
            .fetch_one(&mut *tx)
            .await
            .or_backend(&self.inner.cx)?;
        tx.commit().await.or_backend(&self.inner.cx)?;
        if moved > 0 {
            self.inner.wake.wake_all();
        }
        Ok(u64::try_from(moved).unwrap_or(0))
    }

    async fn job_kill(&self, p: JobActionParams) -> Result<u64, BackendError> {
        if p.set == JobSet::Dead {
            return Ok(0);
        }
        let mut tx = self.inner.pool.begin().await.or_backend(&self.inner.cx)?;
        let ids = self.select_ids(&mut tx, &p.set, &p.selection).await?;
        let sql = self.q("WITH placed AS (
                 SELECT id, nextval('__SCHEMA__.position_seq') AS position
                 FROM (SELECT id FROM unnest($1::bigint[]) WITH ORDINALITY AS i (id, ord)
                       ORDER BY ord) AS ordered
             )
             UPDATE __SCHEMA__.jobs AS j
             SET state = 'dead', run_at = $2, position = placed.position
             FROM placed WHERE j.id = placed.id");
        let killed = sqlx::query(&sql)
            .bind(&ids)
            .bind(p.now)
            .execute(&mut *tx)
            .await
            .or_backend(&self.inner.cx)?
            .rows_affected();
        let trimmed = if killed > 0 {
            self.trim_dead(&mut tx, p.dead_limits, p.now)
                .await
                .or_backend(&self.inner.cx)?
        } else {
            0
        };
        tx.commit().await.or_backend(&self.inner.cx)?;
        if trimmed > 0 {
            tracing::warn!(
                trimmed,
                "dead set over its limits; oldest dead jobs trimmed"
            );
        }
        Ok(killed)
    }

    async fn process_list(&self) -> Result<Vec<ProcessRecord>, BackendError> {
        let sql = self.q("SELECT record FROM __SCHEMA__.processes ORDER BY id COLLATE \"C\"");
        let records: Vec<Json<StoredProcess>> = sqlx::query_scalar(&sql)
            .fetch_all(&self.inner.pool)
            .await
            .or_backend(&self.inner.cx)?;
        Ok(records.into_iter().map(|Json(r)| r.into_record()).collect())
    }

    async fn process_signal(
        &self,
        id: &ProcessId,
        signal: ProcessSignal,
    ) -> Result<(), BackendError> {
        let signal = serde_json::to_string(&signal)
            .map_err(|e| BackendError::other("cannot encode a process signal", e))?;
        let sql = self.q("INSERT INTO __SCHEMA__.process_signals (process_id, signal)
             SELECT id, $2 FROM __SCHEMA__.processes WHERE id = $1");
        let done = sqlx::query(&sql)
            .bind(id)
            .bind(signal)
            .execute(&self.inner.pool)
            .await
            .or_backend(&self.inner.cx)?;
        if done.rows_affected() == 0 {
            return Err(BackendError::msg(format!("no live process with id {id}")));
        }
        Ok(())
    }

    async fn stats(&self) -> Result<Stats, BackendError> {
        let sql = self.q(
            "SELECT
                 (SELECT coalesce(sum(value), 0)::bigint FROM __SCHEMA__.counters WHERE name = 'processed'),
                 (SELECT coalesce(sum(value), 0)::bigint FROM __SCHEMA__.counters WHERE name = 'failed'),
                 (SELECT coalesce(sum(value), 0)::bigint FROM __SCHEMA__.counters WHERE name = 'dead_trimmed'),
                 (SELECT count(*) FROM __SCHEMA__.jobs WHERE state = 'available'),
                 (SELECT count(*) FROM __SCHEMA__.jobs WHERE state = 'scheduled'),
                 (SELECT count(*) FROM __SCHEMA__.jobs WHERE state = 'retryable'),
                 (SELECT count(*) FROM __SCHEMA__.jobs WHERE state = 'dead')",
        );
        let row = sqlx::query(&sql)
            .fetch_one(&self.inner.pool)
            .await
            .or_backend(&self.inner.cx)?;
        let n = |i: usize| -> Result<u64, BackendError> {
            let v: i64 = row.try_get(i).or_backend(&self.inner.cx)?;
            Ok(u64::try_from(v).unwrap_or(0))
        };
        Ok(Stats {
            processed: n(0)?,
            failed: n(1)?,
            dead_trimmed: n(2)?,
            enqueued: n(3)?,
            scheduled: n(4)?,
            retries: n(5)?,
            dead: n(6)?,
        })
    }

    async fn stats_history(
        &self,
        today: NaiveDate,
        days: u32,
    ) -> Result<Vec<DayStats>, BackendError> {
        let dates: Vec<NaiveDate> = (0..days)
            .rev()
            .filter_map(|back| today.checked_sub_days(chrono::Days::new(u64::from(back))))
            .collect();
        let Some(first) = dates.first().copied() else {
            return Ok(Vec::new());
        };
        let sql = self.q(
            "SELECT day, name, sum(value)::bigint FROM __SCHEMA__.counters_daily
             WHERE day BETWEEN $1 AND $2 GROUP BY day, name",
        );
        let rows: Vec<(NaiveDate, String, i64)> = sqlx::query_as(&sql)
            .bind(first)
            .bind(today)
            .fetch_all(&self.inner.pool)
            .await
            .or_backend(&self.inner.cx)?;
        let count = |date: NaiveDate, name: &str| {
            rows.iter()
                .find(|(d, n, _)| *d == date && n == name)
                .map_or(0, |(_, _, v)| u64::try_from(*v).unwrap_or(0))
        };
        Ok(dates
            .into_iter()
            .map(|date| DayStats {
                date,
                processed: count(date, "processed"),
                failed: count(date, "failed"),
            })
            .collect())
    }

    async fn facts(&self) -> Result<Vec<(String, String)>, BackendError> {
        self.server_facts().await
    }

    fn schedules(&self) -> Option<&dyn jobs::schedule::ScheduleStore> {
        Some(self)
    }

    async fn clear_all(&self) -> Result<(), BackendError> {
        let sql = self.q(
            "TRUNCATE __SCHEMA__.jobs, __SCHEMA__.queues, __SCHEMA__.paused_queues,
                      __SCHEMA__.process_signals, __SCHEMA__.processes,
                      __SCHEMA__.counters, __SCHEMA__.counters_daily,
                      __SCHEMA__.schedules, __SCHEMA__.schedule_claims,
                      __SCHEMA__.job_metrics",
        );
        sqlx::query(&sql)
            .execute(&self.inner.pool)
            .await
            .or_backend(&self.inner.cx)?;
        Ok(())
    }
}
