//! The in-memory backend: complete, fast, and what tests and the quickstart use.
//!
//! 1. One mutex guards all state (`state.rs`); every operation is atomic under it.
//! 2. Reservers wait on a [`Notify`] that pushes and requeues wake, so an idle worker starts
//!    a job as soon as it is pushed, without polling.
//! 3. It implements the whole of [`Backend`] and [`AdminBackend`] and passes the shared
//!    conformance suite; nothing survives the process.
//! 4. It keeps recurring-job state and tick claims too (`schedule.rs`), and job metrics
//!    per hour (`metrics.rs`).

mod admin;
mod batch;
mod cancel;
mod checkpoint;
mod flow;
mod limits;
mod metrics;
mod results;
mod schedule;
mod state;

use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use tokio::sync::Notify;

use crate::backend::*;
use crate::envelope::{to_epoch, JobEnvelope};
use state::{Leased, Proc, State};

/// A backend that keeps everything in this process's memory.
///
/// ```
/// use std::sync::Arc;
/// use jobs::backend::AdminBackend;
/// let backend: Arc<dyn AdminBackend> = Arc::new(jobs::memory::MemoryBackend::new());
/// ```
#[derive(Debug, Default, Clone)]
pub struct MemoryBackend {
    shared: Arc<Shared>,
}

#[derive(Debug, Default)]
struct Shared {
    state: Mutex<State>,
    wake: Notify,
    /// Announces cancel requests to this backend's feeds (`cancel.rs`).
    cancel: cancel::Announce,
}

impl MemoryBackend {
    /// An empty backend.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves consistent data: every operation is
        // applied fully before anything that can panic.
        self.shared.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn try_reserve(&self, p: &ReserveParams) -> Vec<Reserved> {
        let mut st = self.lock();
        let mut out = Vec::with_capacity(p.limit.min(1024));
        let expires_at = lease_expiry(p.lease_clock.host_time(p.now), p.lease_ttl);
        let process = Arc::new(p.process.clone());
        for name in &p.queues {
            if st.paused.contains(name) {
                continue;
            }
            while out.len() < p.limit {
                let Some(job) = st.queues.get_mut(name).and_then(|q| q.pop_front()) else {
                    break;
                };
                st.left_queue(&job);
                let seq = st.next_lease + 1;
                let token: Arc<str> = Arc::from(itoa::Buffer::new().format(seq));
                let Ok(job) = st.take_slot(job, &token) else {
                    continue;
                };
                st.next_lease = seq;
                st.release_at_start(&job);
                st.leased.insert(
                    token.clone(),
                    Leased {
                        seq,
                        job: job.clone(),
                        process: process.clone(),
                        expires_at,
                    },
                );
                // The map is empty unless a process died: no lookup on the usual path.
                let rescues = match st.rescues.is_empty() {
                    true => 0,
                    false => st.rescues.get(&job.jid).copied().unwrap_or(0),
                };
                out.push(Reserved::new(job, LeaseToken(token)).rescues(rescues));
            }
            if out.len() >= p.limit {
                break;
            }
        }
        out
    }
}

/// A settled job kept in a set: a copy of its own (the worker may still share the one it
/// ran), without a run time.
fn kept(job: Arc<JobEnvelope>) -> JobEnvelope {
    let mut job = Arc::unwrap_or_clone(job);
    job.at = None;
    job
}

#[async_trait]
impl Backend for MemoryBackend {
    fn name(&self) -> &'static str {
        "memory"
    }

    async fn job_push(&self, p: PushParams) -> Result<PushReport, BackendError> {
        let mut woke = false;
        let mut report = PushReport::default();
        {
            let mut st = self.lock();
            for (i, mut job) in p.jobs.into_iter().enumerate() {
                match st.claim(&job, p.now, p.on_conflict) {
                    flow::Claim::Store => {}
                    flow::Claim::Duplicate(holder) => {
                        report.duplicates.push((i, holder));
                        continue;
                    }
                    flow::Claim::Replaced(old) => report.replaced.push((i, old)),
                }
                match job.at.take() {
                    Some(at) => st.scheduled.insert(crate::envelope::from_epoch(at), job),
                    None => {
                        st.enqueue(job, p.now);
                        woke = true;
                    }
                }
            }
        }
        if woke {
            self.shared.wake.notify_waiters();
        }
        Ok(report)
    }

    async fn job_reserve(&self, p: ReserveParams) -> Result<Vec<Reserved>, BackendError> {
        let deadline = tokio::time::Instant::now() + p.wait;
        loop {
            let notified = self.shared.wake.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let got = self.try_reserve(&p);
            if !got.is_empty() || p.limit == 0 || tokio::time::Instant::now() >= deadline {
                return Ok(got);
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return Ok(Vec::new());
            }
        }
    }

    async fn job_finish(&self, p: FinishParams) -> Result<FinishReport, BackendError> {
        let mut report = FinishReport::default();
        let mut woke = false;
        // Counted for the whole batch at its end: one lookup of the day, not one per job.
        let (mut processed, mut failed) = (0, 0);
        let mut st = self.lock();
        for (i, item) in p.items.into_iter().enumerate() {
            let Some(leased) = st.leased.remove(item.token.as_str()) else {
                report.lost.push(i);
                continue;
            };
            st.free_slot(&leased.job, item.token.as_str());
            st.progress_end(&leased.job.jid);
            if let (Some(result), FinishOutcome::Completed) = (item.result, &item.outcome) {
                st.result_store(&leased.job, result, p.now);
            }
            let job = item.job;
            // The run ended: whatever killed processes before, it was not this job this time.
            if !st.rescues.is_empty() {
                st.rescues.remove(&job.jid);
            }
            let counted = !matches!(
                item.outcome,
                FinishOutcome::Snooze { .. } | FinishOutcome::Expired | FinishOutcome::Cancelled
            );
            processed += u64::from(counted);
            failed += u64::from(item.failed);
            woke |= st.batch_settled(&job, &item.outcome, item.failed, p.now);
            match item.outcome {
                FinishOutcome::Completed | FinishOutcome::Discard => st.release(&job),
                FinishOutcome::Expired => {
                    st.expired += 1;
                    st.release(&job);
                }
                FinishOutcome::Retry { at } => st.retry.insert(at, kept(job)),
                FinishOutcome::Snooze { at } => st.scheduled.insert(at, kept(job)),
                FinishOutcome::Dead => {
                    report.dead_trimmed += st.kill(kept(job), p.now, p.dead_limits)
                }
                FinishOutcome::Cancelled => st.cancel_into_set(kept(job), p.now, p.dead_limits),
            }
        }
        st.count(p.now, processed, failed);
        drop(st);
        if woke {
            self.shared.wake.notify_waiters();
        }
        crate::backend::warn_dead_trimmed("memory", report.dead_trimmed);
        Ok(report)
    }

    async fn job_requeue(&self, p: RequeueParams) -> Result<(), BackendError> {
        {
            let mut st = self.lock();
            // Last first, so the jobs end up at the head in the order given.
            for token in p.tokens.iter().rev() {
                if let Some(leased) = st.leased.remove(token.as_str()) {
                    st.free_slot(&leased.job, token.as_str());
                    st.requeue_front(leased.job);
                }
            }
        }
        self.shared.wake.notify_waiters();
        Ok(())
    }

    async fn process_heartbeat(&self, p: HeartbeatParams) -> Result<HeartbeatReply, BackendError> {
        let mut st = self.lock();
        let expires_at = lease_expiry(p.lease_clock.host_time(p.now), p.lease_ttl);
        let id = p.info.id.clone();
        // Only the leases listed, when the process lists them: an unlisted one lapses.
        let listed: Option<std::collections::HashSet<&str>> = p
            .leases
            .as_ref()
            .map(|l| l.iter().map(LeaseToken::as_str).collect());
        for (token, leased) in st.leased.iter_mut() {
            let extend = listed.as_ref().is_none_or(|l| l.contains(&**token));
            if *leased.process == id && extend {
                leased.expires_at = expires_at;
            }
        }
        let running_jids: Vec<String> = p.running.iter().map(|r| r.job.jid.clone()).collect();
        let record = ProcessRecord {
            info: p.info,
            beat_at: p.now,
            quiet: p.quiet,
            running: p.running,
        };
        let proc = st.processes.entry(id).or_insert_with(|| Proc {
            record: record.clone(),
            expires_at,
            signals: Vec::new(),
        });
        proc.record = record;
        proc.expires_at = expires_at;
        let signals = std::mem::take(&mut proc.signals);
        let cancels = st.pending(running_jids);
        Ok(HeartbeatReply { signals, cancels })
    }

    async fn process_remove(&self, params: ProcessRemoveParams) -> Result<(), BackendError> {
        let id = &params.id;
        self.lock().processes.remove(id);
        Ok(())
    }

    async fn scheduled_promote(&self, p: PromoteParams) -> Result<u64, BackendError> {
        let moved = {
            let mut st = self.lock();
            let mut due = st.scheduled.pop_due(p.now, p.limit);
            let room = p.limit.saturating_sub(due.len());
            due.extend(st.retry.pop_due(p.now, room));
            let n = due.len() as u64;
            for job in due {
                st.enqueue(job, p.now);
            }
            n
        };
        if moved > 0 {
            self.shared.wake.notify_waiters();
        }
        Ok(moved)
    }

    async fn lease_rescue(&self, p: RescueParams) -> Result<u64, BackendError> {
        let rescued = {
            let mut st = self.lock();
            let now = p.lease_clock.host_time(p.now);
            let mut expired: Vec<(u64, Arc<str>)> = st
                .leased
                .iter()
                .filter(|(_, l)| l.expires_at <= now)
                .map(|(t, l)| (l.seq, t.clone()))
                .collect();
            // Newest lease first, so the rescued jobs end up at the head in reserve order.
            expired.sort_unstable_by(|a, b| b.cmp(a));
            for (_, token) in &expired {
                if let Some(leased) = st.leased.remove(token) {
                    st.free_slot(&leased.job, token);
                    st.progress_end(&leased.job.jid);
                    let count = st.rescues.get(&leased.job.jid).copied().unwrap_or(0) + 1;
                    if count >= p.max_rescues {
                        tracing::error!(jid = %leased.job.jid, process = %leased.process, rescues = count, "lease expired again; the job is taken for what killed its processes and moved to the dead set");
                        st.rescues.remove(&leased.job.jid);
                        let mut job = Arc::unwrap_or_clone(leased.job);
                        crate::envelope::bury_rescued(&mut job, count, p.now);
                        st.batch_settled(&job, &FinishOutcome::Dead, true, p.now);
                        let trimmed = st.kill(job, p.now, p.dead_limits);
                        crate::backend::warn_dead_trimmed("memory", trimmed);
                    } else {
                        tracing::warn!(jid = %leased.job.jid, process = %leased.process, rescues = count, "lease expired; job returned to its queue");
                        st.rescues.insert(leased.job.jid.clone(), count);
                        st.requeue_front(leased.job);
                    }
                }
            }
            st.processes.retain(|_, proc| proc.expires_at > now);
            st.results_purge(p.now);
            st.sweep_slots();
            expired.len() as u64
        };
        if rescued > 0 {
            self.shared.wake.notify_waiters();
        }
        Ok(rescued)
    }

    async fn priority_age(&self, p: AgeParams) -> Result<u64, BackendError> {
        Ok(self.lock().age(&p))
    }

    async fn rate_acquire(&self, p: RateAcquireParams) -> Result<RateDecision, BackendError> {
        let now = p.clock.host_time(p.now);
        Ok(self.lock().rate_take(&p, now))
    }

    async fn job_progress(&self, p: ProgressParams) -> Result<bool, BackendError> {
        Ok(self.lock().progress_write(p))
    }

    async fn job_status(&self, p: JidParams) -> Result<JobStatus, BackendError> {
        Ok(self.lock().status(&p.jid, p.now))
    }

    async fn job_result(&self, p: JidParams) -> Result<Option<StoredResult>, BackendError> {
        Ok(self.lock().result_get(&p.jid, p.now))
    }

    async fn job_checkpoint(&self, p: CheckpointParams) -> Result<LeaseToken, BackendError> {
        self.checkpoint(p)
    }

    fn metrics(&self) -> Option<&dyn crate::metrics::MetricsStore> {
        Some(self)
    }

    async fn job_cancel(&self, p: CancelParams) -> Result<Vec<Cancellation>, BackendError> {
        let answers: Vec<Cancellation> = {
            let mut st = self.lock();
            p.jids
                .iter()
                .map(|jid| st.cancel_one(jid, p.now, p.limits))
                .collect()
        };
        for (jid, answer) in p.jids.iter().zip(&answers) {
            if *answer == Cancellation::Requested {
                self.shared.cancel.send(jid);
            }
        }
        Ok(answers)
    }

    async fn cancel_pending(&self, p: CancelPendingParams) -> Result<Vec<String>, BackendError> {
        Ok(self.lock().pending(p.jids))
    }

    async fn cancel_listen(&self) -> Result<CancelFeed, BackendError> {
        Ok(self.shared.cancel.feed())
    }

    fn batches(&self) -> Option<&dyn BatchStore> {
        Some(self)
    }
}

/// Latency of a queue whose head job was enqueued at `enqueued_at` (epoch seconds).
fn latency(now: chrono::DateTime<chrono::Utc>, enqueued_at: Option<f64>) -> std::time::Duration {
    let secs = enqueued_at.map_or(0.0, |t| (to_epoch(now) - t).max(0.0));
    std::time::Duration::from_secs_f64(secs)
}

/// `now + ttl`, saturating at the latest time chrono can hold instead of overflowing.
fn lease_expiry(
    now: chrono::DateTime<chrono::Utc>,
    ttl: std::time::Duration,
) -> chrono::DateTime<chrono::Utc> {
    chrono::Duration::from_std(ttl)
        .ok()
        .and_then(|d| now.checked_add_signed(d))
        .unwrap_or(chrono::DateTime::<chrono::Utc>::MAX_UTC)
}
