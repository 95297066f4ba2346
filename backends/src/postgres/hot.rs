//! The hot path: one statement per call, every settle fenced by its lease token.
//!
//! 1. Push: all jobs of a call in one `INSERT ... SELECT FROM unnest(...)` that also
//!    records known queues and NOTIFYs (`push.sql`).
//! 2. Reserve: up to `limit` rows in one `UPDATE ... FROM (SELECT ... FOR UPDATE SKIP
//!    LOCKED)` (`reserve.sql`); when none, wait for a notification or the next poll.
//! 3. Finish: every item and the counters in one statement (`finish.sql`); when a job died,
//!    the dead-set trim runs in the same transaction.
//! 4. Requeue, heartbeat, promote and rescue: one statement each.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use jobs::backend::*;
use jobs::envelope::to_epoch;
use sqlx::{Connection, PgConnection, Row};
use tokio::time::Instant;

use super::error::Sqlx;
use super::rows::{self, StoredProcess};
use super::{notify::Wake, Inner, PostgresBackend};

/// Stores `p.jobs` on `conn` (the pool's or the app's); true when any went to a queue.
pub(super) async fn push(
    inner: &Inner,
    conn: &mut PgConnection,
    p: PushParams,
) -> Result<bool, BackendError> {
    if p.jobs.is_empty() {
        return Ok(false);
    }
    let n = p.jobs.len();
    let (mut jids, mut queues, mut payloads, mut ats, mut enqueued) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    let mut immediate = false;
    for mut job in p.jobs {
        let at = job.at.take().map(jobs::envelope::from_epoch);
        if at.is_none() {
            job.enqueued_at = Some(to_epoch(p.now));
            immediate = true;
        }
        payloads.push(rows::encode(&job)?);
        jids.push(job.jid);
        queues.push(job.queue);
        ats.push(at);
        enqueued.push(job.enqueued_at);
    }
    sqlx::query(&inner.sql.push)
        .bind(jids)
        .bind(queues)
        .bind(payloads)
        .bind(ats)
        .bind(p.now)
        .bind(enqueued)
        .execute(conn)
        .await
        .or_backend(&inner.cx)?;
    Ok(immediate)
}

impl PostgresBackend {
    async fn try_reserve(
        &self,
        queues: &[String],
        p: &ReserveParams,
        now: DateTime<Utc>,
    ) -> Result<Vec<Reserved>, BackendError> {
        let limit = i64::try_from(p.limit).unwrap_or(i64::MAX);
        let rows = sqlx::query(&self.inner.sql.reserve)
            .bind(queues)
            .bind(limit)
            .bind(&p.process)
            .bind(rows::plus(now, p.lease_ttl))
            .fetch_all(&self.inner.pool)
            .await
            .or_backend(&self.inner.cx)?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let id: i64 = row.try_get(0).or_backend(&self.inner.cx)?;
            let lease: i64 = row.try_get(1).or_backend(&self.inner.cx)?;
            match rows::job(&row, 2, 3) {
                Ok(job) => out.push(Reserved {
                    job,
                    token: rows::token(id, lease),
                }),
                Err(error) => self.bury_undecodable(id, lease, now, &error).await?,
            }
        }
        Ok(out)
    }

    /// Moves a reserved row whose envelope does not decode to the dead set, so it neither
    /// blocks the queue nor comes back after every lease expiry.
    async fn bury_undecodable(
        &self,
        id: i64,
        lease: i64,
        now: DateTime<Utc>,
        error: &sqlx::Error,
    ) -> Result<(), BackendError> {
        tracing::error!(id, %error, "a stored job does not decode; moved to the dead set");
        let sql = super::sql::Queries::inline(
            self.schema(),
            "UPDATE __SCHEMA__.jobs SET state = 'dead', run_at = $3,
                 position = nextval('__SCHEMA__.position_seq'),
                 lease_owner = NULL, lease_token = NULL, lease_expires_at = NULL
             WHERE id = $1 AND lease_token = $2",
        );
        sqlx::query(&sql)
            .bind(id)
            .bind(lease)
            .bind(now)
            .execute(&self.inner.pool)
            .await
            .or_backend(&self.inner.cx)?;
        Ok(())
    }

    async fn finish_in(
        &self,
        conn: &mut PgConnection,
        batch: &FinishBatch,
        now: DateTime<Utc>,
    ) -> Result<(Vec<bool>, bool), sqlx::Error> {
        let rows = sqlx::query(&self.inner.sql.finish)
            .bind(&batch.ids)
            .bind(&batch.leases)
            .bind(&batch.payloads)
            .bind(&batch.outcomes)
            .bind(&batch.ats)
            .bind(&batch.failed)
            .bind(now)
            .bind(now.date_naive())
            .bind(&batch.enqueued)
            .bind(!self.inner.options.completed_retention().is_zero())
            .fetch_all(&mut *conn)
            .await?;
        let mut applied = vec![false; batch.ids.len()];
        let mut died = false;
        for row in rows {
            let idx: i64 = row.try_get(0)?;
            let outcome: String = row.try_get(1)?;
            if let Some(slot) = usize::try_from(idx - 1)
                .ok()
                .and_then(|i| applied.get_mut(i))
            {
                *slot = true;
            }
            died |= outcome == "dead";
        }
        Ok((applied, died))
    }

    /// Trims the dead set to `limits` at `now`, on `conn`; returns how many were trimmed.
    pub(super) async fn trim_dead(
        &self,
        conn: &mut PgConnection,
        limits: DeadLimits,
        now: DateTime<Utc>,
    ) -> Result<u64, sqlx::Error> {
        let cutoff = chrono::Duration::from_std(limits.max_age)
            .ok()
            .and_then(|age| now.checked_sub_signed(age));
        let trimmed: i64 = sqlx::query_scalar(&self.inner.sql.trim_dead)
            .bind(cutoff)
            .bind(i64::try_from(limits.max_jobs).unwrap_or(i64::MAX))
            .fetch_one(conn)
            .await?;
        Ok(u64::try_from(trimmed).unwrap_or(0))
    }

    /// Deletes completed jobs older than the retention, a batch at a time, when kept at all.
    async fn prune_completed(&self, now: DateTime<Utc>) -> Result<(), BackendError> {
        const BATCH: i64 = 1000;
        let retention = self.inner.options.completed_retention();
        let Some(cutoff) = chrono::Duration::from_std(retention)
            .ok()
            .filter(|_| !retention.is_zero())
            .and_then(|r| now.checked_sub_signed(r))
        else {
            return Ok(());
        };
        loop {
            let pruned = sqlx::query(&self.inner.sql.prune_completed)
                .bind(cutoff)
                .bind(BATCH)
                .execute(&self.inner.pool)
                .await
                .or_backend(&self.inner.cx)?
                .rows_affected();
            if pruned < BATCH as u64 {
                return Ok(());
            }
        }
    }

    fn wake(&self) -> &Wake {
        &self.inner.wake
    }
}

/// The items of a finish as the column arrays `finish.sql` takes.
struct FinishBatch {
    ids: Vec<i64>,
    leases: Vec<i64>,
    payloads: Vec<Option<String>>,
    outcomes: Vec<&'static str>,
    ats: Vec<Option<DateTime<Utc>>>,
    failed: Vec<bool>,
    enqueued: Vec<Option<f64>>,
}

impl FinishBatch {
    fn new(items: &[Finish]) -> Result<Self, BackendError> {
        let n = items.len();
        let mut b = FinishBatch {
            ids: Vec::with_capacity(n),
            leases: Vec::with_capacity(n),
            payloads: Vec::with_capacity(n),
            outcomes: Vec::with_capacity(n),
            ats: Vec::with_capacity(n),
            failed: Vec::with_capacity(n),
            enqueued: Vec::with_capacity(n),
        };
        for item in items {
            // A token this backend never issued matches no row: the item is reported lost.
            let (id, lease) = rows::parse_token(&item.token).unwrap_or((0, 0));
            let (outcome, at, keep) = match &item.outcome {
                FinishOutcome::Completed => ("completed", None, false),
                FinishOutcome::Discard => ("discard", None, false),
                FinishOutcome::Retry { at } => ("retry", Some(*at), true),
                FinishOutcome::Snooze { at } => ("snooze", Some(*at), true),
                FinishOutcome::Dead => ("dead", None, true),
                _ => {
                    return Err(BackendError::Unsupported {
                        backend: "postgres",
                        operation: "this finish outcome",
                    })
                }
            };
            let payload = match (keep, item.job.at.is_some()) {
                (false, _) => None,
                (true, false) => Some(rows::encode(&item.job)?),
                (true, true) => {
                    let mut job = item.job.clone();
                    job.at = None;
                    Some(rows::encode(&job)?)
                }
            };
            b.ids.push(id);
            b.leases.push(lease);
            b.payloads.push(payload);
            b.outcomes.push(outcome);
            b.ats.push(at);
            b.failed.push(item.failed);
            b.enqueued.push(item.job.enqueued_at);
        }
        Ok(b)
    }
}

/// The queues to walk, in order, each once.
fn distinct(queues: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(queues.len());
    for q in queues {
        if !out.contains(q) {
            out.push(q.clone());
        }
    }
    out
}

#[async_trait]
impl Backend for PostgresBackend {
    fn name(&self) -> &'static str {
        "postgres"
    }

    async fn job_push(&self, p: PushParams) -> Result<(), BackendError> {
        let bulk = p.jobs.len() >= 100;
        let mut conn = self.inner.pool.acquire().await.or_backend(&self.inner.cx)?;
        if push(&self.inner, &mut conn, p).await? {
            // Reservers in this process need not wait for the notification round trip.
            self.wake().wake_all();
        }
        drop(conn);
        if bulk {
            // A deep queue without planner statistics reserves by sorting it (`stats.rs`).
            self.ensure_statistics();
        }
        Ok(())
    }

    async fn job_reserve(&self, p: ReserveParams) -> Result<Vec<Reserved>, BackendError> {
        let queues = distinct(&p.queues);
        if p.limit == 0 || queues.is_empty() {
            return Ok(Vec::new());
        }
        let started = Instant::now();
        // A wait too long for the clock to add is as good as a year.
        let deadline = started
            .checked_add(p.wait)
            .unwrap_or_else(|| started + std::time::Duration::from_secs(365 * 24 * 3600));
        let mut now = p.now;
        loop {
            let notified = self.wake().listen();
            let got = self.try_reserve(&queues, &p, now).await?;
            if !got.is_empty() || Instant::now() >= deadline {
                return Ok(got);
            }
            Wake::wait(notified, self.inner.options.poll_interval(), deadline).await;
            // After waiting, leases run from the time the job is taken, not the call.
            let waited = chrono::Duration::from_std(started.elapsed()).unwrap_or_default();
            now = p.now.checked_add_signed(waited).unwrap_or(p.now);
        }
    }

    async fn job_finish(&self, p: FinishParams) -> Result<FinishReport, BackendError> {
        let mut report = FinishReport::default();
        if p.items.is_empty() {
            return Ok(report);
        }
        let batch = FinishBatch::new(&p.items)?;
        let may_die = batch.outcomes.contains(&"dead");
        let mut conn = self.inner.pool.acquire().await.or_backend(&self.inner.cx)?;
        let applied = if may_die {
            // Moves, counters and the trim commit together.
            let mut tx = conn.begin().await.or_backend(&self.inner.cx)?;
            let (applied, died) = self
                .finish_in(&mut tx, &batch, p.now)
                .await
                .or_backend(&self.inner.cx)?;
            if died {
                report.dead_trimmed = self
                    .trim_dead(&mut tx, p.dead_limits, p.now)
                    .await
                    .or_backend(&self.inner.cx)?;
            }
            tx.commit().await.or_backend(&self.inner.cx)?;
            applied
        } else {
            // One statement is its own transaction: one round trip.
            self.finish_in(&mut conn, &batch, p.now)
                .await
                .or_backend(&self.inner.cx)?
                .0
        };
        report.lost = (0..applied.len()).filter(|&i| !applied[i]).collect();
        if report.dead_trimmed > 0 {
            tracing::warn!(
                trimmed = report.dead_trimmed,
                "dead set over its limits; oldest dead jobs trimmed"
            );
        }
        Ok(report)
    }

    async fn job_requeue(&self, p: RequeueParams) -> Result<(), BackendError> {
        let (ids, leases): (Vec<i64>, Vec<i64>) =
            p.tokens.iter().filter_map(rows::parse_token).unzip();
        if ids.is_empty() {
            return Ok(());
        }
        sqlx::query(&self.inner.sql.requeue)
            .bind(ids)
            .bind(leases)
            .execute(&self.inner.pool)
            .await
            .or_backend(&self.inner.cx)?;
        self.wake().wake_all();
        Ok(())
    }

    async fn process_heartbeat(&self, p: HeartbeatParams) -> Result<HeartbeatReply, BackendError> {
        let id = p.info.id.clone();
        let record = StoredProcess::new(p.info, p.now, p.quiet, p.running);
        let record = serde_json::to_string(&record)
            .map_err(|e| BackendError::other("cannot encode a process record", e))?;
        let signals: Vec<String> = sqlx::query_scalar(&self.inner.sql.heartbeat)
            .bind(&id)
            .bind(record)
            .bind(p.now)
            .bind(rows::plus(p.now, p.lease_ttl))
            .fetch_all(&self.inner.pool)
            .await
            .or_backend(&self.inner.cx)?;
        let signals = signals
            .iter()
            .filter_map(|s| {
                let parsed = serde_json::from_str::<ProcessSignal>(s);
                if parsed.is_err() {
                    tracing::warn!(process = %id, signal = %s, "ignoring an unknown process signal");
                }
                parsed.ok()
            })
            .collect();
        Ok(HeartbeatReply { signals })
    }

    async fn process_remove(&self, id: &ProcessId) -> Result<(), BackendError> {
        sqlx::query(&self.inner.sql.process_remove)
            .bind(id)
            .execute(&self.inner.pool)
            .await
            .or_backend(&self.inner.cx)?;
        Ok(())
    }

    async fn scheduled_promote(&self, p: PromoteParams) -> Result<u64, BackendError> {
        if p.limit == 0 {
            return Ok(0);
        }
        let moved: i64 = sqlx::query_scalar(&self.inner.sql.promote)
            .bind(p.now)
            .bind(i64::try_from(p.limit).unwrap_or(i64::MAX))
            .bind(to_epoch(p.now))
            .fetch_one(&self.inner.pool)
            .await
            .or_backend(&self.inner.cx)?;
        if moved > 0 {
            self.wake().wake_all();
        }
        Ok(u64::try_from(moved).unwrap_or(0))
    }

    async fn lease_rescue(&self, p: RescueParams) -> Result<u64, BackendError> {
        let rows = sqlx::query(&self.inner.sql.rescue)
            .bind(p.now)
            .fetch_all(&self.inner.pool)
            .await
            .or_backend(&self.inner.cx)?;
        for row in &rows {
            let jid: String = row.try_get(0).or_backend(&self.inner.cx)?;
            let owner: Option<String> = row.try_get(2).or_backend(&self.inner.cx)?;
            tracing::warn!(%jid, process = owner.as_deref().unwrap_or(""), "lease expired; job returned to its queue");
        }
        if !rows.is_empty() {
            self.wake().wake_all();
        }
        self.prune_completed(p.now).await?;
        self.ensure_statistics();
        Ok(rows.len() as u64)
    }

    fn metrics(&self) -> Option<&dyn jobs::metrics::MetricsStore> {
        Some(self)
    }
}
