//! Acknowledgements in batches: the outcomes of jobs that end together reach the backend in
//! one `job_finish` call.
//!
//! 1. A processor hands its outcome (a [`Finish`]: lease token, job, move) to the [`Settler`] and frees its
//!    concurrency slot, so the next job starts while the outcome is on its way. The settler
//!    task takes whatever has accumulated (up to [`MAX_BATCH`]) and settles it in one call;
//!    outcomes that end while that call is in flight gather into the next one (group
//!    commit). Under load one round trip or commit acknowledges many jobs, while a lone job
//!    is acknowledged at once (nothing waits to fill a batch).
//! 2. At most `concurrency` outcomes wait to be stored ([`ROOM_PER_SLOT`]): a processor
//!    waits for room before it frees its slot, so a slow backend slows the worker down
//!    instead of piling up unacknowledged jobs. Until stored, a job keeps its lease, so
//!    at-least-once holds, and a killed process reruns at most twice its concurrency.
//! 3. While the backend cannot be reached the batch is retried with backoff, as a single
//!    settle was; once a shutdown's timeout has passed (jobs still running, or outcomes still
//!    unstored), three attempts more, then the leases are left to expire and their jobs run
//!    again (at-least-once).
//! 4. A batch the store refused as conflicting ([`ErrorKind::Conflict`]: a deadlock or a
//!    serialization failure, after which the whole statement was rolled back) is sent again,
//!    up to [`CONFLICT_RETRIES`] times. Dropping it would leave its jobs marked running under
//!    a lease this process's heartbeat keeps extending, so they would not run again until
//!    the process exits.
//! 5. A batch refused for any other reason is settled again one outcome at a time, so an
//!    outcome the store cannot take costs only its own job its acknowledgement.
//! 6. [`Settler::close`] waits until every handed-over outcome is settled.

use std::sync::Arc;

use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::backoff::{conflict_delay, reconnect_delay};
use super::Runtime;
use crate::backend::{Backend, ErrorKind, Finish, FinishParams};

/// The most outcomes settled in one backend call.
pub(crate) const MAX_BATCH: usize = 256;

/// Room for waiting outcomes per slot. One, so a process killed with every slot full and
/// every outcome unstored reruns at most twice its concurrency (docs/reliability.md; the
/// fault suite's bound). Two let the jobs of the next reserve end while the settler stores
/// the last one's (runners parked on the room about every other job with one, when each
/// job was woken alone); with one runner searching at a time that saved 1 to 4% of a no-op
/// job's CPU, not worth half as many reruns again after a crash.
pub(crate) const ROOM_PER_SLOT: usize = 1;

/// How many times a batch refused as conflicting is sent again before it is given up.
pub(crate) const CONFLICT_RETRIES: u32 = 8;

/// One job's outcome, waiting to be stored.
pub(crate) struct Settle {
    pub(crate) finish: Finish,
    /// Its room among the outcomes waiting to be stored, freed once the item was settled
    /// (or when the item is dropped).
    permit: OwnedSemaphorePermit,
}

/// Hands outcomes to the settler task.
///
/// One task, so one batch in flight: the room for waiting outcomes, not the number of calls
/// in flight, bounds how many are being settled, so a second call would only split the same
/// outcomes into smaller batches and more commits. Back to back at c50, 1 / 2 / 4 settler
/// tasks ran Postgres at 26.2k / 24.0k / 22.4k jobs/s and Redis at 132.8k / 126.2k /
/// 124.7k (2 rounds each); io and latency did not move.
pub(crate) struct Settler {
    tx: SettleTx,
    task: JoinHandle<()>,
}

/// What a processor keeps to hand its outcome over.
#[derive(Clone)]
pub(crate) struct SettleTx {
    tx: mpsc::UnboundedSender<Settle>,
    room: Arc<Semaphore>,
    /// How much room there is in all.
    capacity: u32,
}

impl SettleTx {
    /// Waits until every outcome handed over so far is stored (or given up): all the room is
    /// free. A job that may kill this process must not start while an outcome of another job
    /// is still on its way, or the crash would lose that acknowledgement too.
    pub(crate) async fn drained(&self) {
        if let Ok(all) = self.room.acquire_many(self.capacity).await {
            drop(all);
        }
    }

    /// Hands an outcome over once there is room for it; if the settlers are gone (they
    /// never stop before the processors), the job comes back when its lease expires.
    pub(crate) async fn send(&self, finish: Finish) {
        // Room is there nearly always (see ROOM_PER_SLOT): taken without building a wait.
        let permit = match self.room.clone().try_acquire_owned() {
            Ok(permit) => Ok(permit),
            Err(_) => self.room.clone().acquire_owned().await,
        };
        let Ok(permit) = permit else {
            tracing::error!(jid = %finish.job.jid, "the settler stopped; the job's outcome is unreported and it will run again after its lease expires");
            return;
        };
        let item = Settle { finish, permit };
        if let Err(mpsc::error::SendError(item)) = self.tx.send(item) {
            tracing::error!(jid = %item.finish.job.jid, "the settler stopped; the job's outcome is unreported and it will run again after its lease expires");
        }
    }
}

impl Settler {
    /// Starts the settler task, with room for `room` outcomes waiting to be stored.
    pub(crate) fn start(
        rt: Arc<Runtime>,
        backend: Arc<dyn Backend>,
        hard_stop: CancellationToken,
        room: usize,
    ) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        let capacity = u32::try_from(room.max(1)).unwrap_or(u32::MAX);
        let tx = SettleTx {
            tx,
            room: Arc::new(Semaphore::new(capacity as usize)),
            capacity,
        };
        let task = tokio::spawn(settle_loop(rt, backend, rx, hard_stop));
        Settler { tx, task }
    }

    /// A sender for the processors.
    pub(crate) fn sender(&self) -> SettleTx {
        self.tx.clone()
    }

    /// Waits until every outcome handed over (by senders already dropped) is settled.
    pub(crate) async fn close(self) {
        let Settler { tx, task } = self;
        drop(tx);
        let _ = task.await;
    }
}

async fn settle_loop(
    rt: Arc<Runtime>,
    backend: Arc<dyn Backend>,
    mut rx: mpsc::UnboundedReceiver<Settle>,
    hard_stop: CancellationToken,
) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
        settle_batch(&rt, backend.as_ref(), &batch, &hard_stop).await;
        // Settled, lost or left to expire: the heartbeat extends these leases no longer.
        rt.held.release_all(batch.iter().map(|s| &s.finish.token));
        // The batch's room goes back in one step (one lock of the semaphore, not one per
        // outcome) once its outcomes are dropped.
        let mut room: Option<OwnedSemaphorePermit> = None;
        for Settle { finish, permit } in batch.drain(..) {
            drop(finish);
            match room.as_mut() {
                Some(room) => room.merge(permit),
                None => room = Some(permit),
            }
        }
        drop(room);
    }
}

/// Stores the outcomes of `batch` in one call, retrying while the backend is unreachable.
/// Every lease in `batch` is settled, or deliberately left to expire, when this returns.
async fn settle_batch(
    rt: &Runtime,
    backend: &dyn Backend,
    batch: &[Settle],
    hard_stop: &CancellationToken,
) {
    let (mut attempt, mut conflicts) = (0u32, 0u32);
    loop {
        let items = batch.iter().map(|s| s.finish.clone()).collect();
        let params = FinishParams::new(items, rt.clock.now()).dead_limits(rt.dead_limits);
        match backend.job_finish(params).await {
            Ok(report) => {
                // A dead-set trim is logged once, by the store that trimmed.
                for i in report.lost {
                    if let Some(s) = batch.get(i) {
                        tracing::warn!(jid = %s.finish.job.jid, "the job's outcome was not applied: its lease was lost (the job was rescued after this process's lease expired)");
                    }
                }
                return;
            }
            Err(error) if error.is_transient() && (!hard_stop.is_cancelled() || attempt < 3) => {
                let delay = reconnect_delay(attempt);
                tracing::warn!(jobs = batch.len(), %error, retry_in_ms = delay.as_millis() as u64, "could not report the jobs' outcomes; retrying");
                attempt += 1;
                if hard_stop.is_cancelled() {
                    tokio::time::sleep(delay).await;
                } else {
                    // A hard stop cuts a long wait short: the attempts left come at once.
                    tokio::select! {
                        () = tokio::time::sleep(delay) => {}
                        () = hard_stop.cancelled() => {}
                    }
                }
            }
            Err(error) if error.is_transient() => {
                tracing::error!(jobs = batch.len(), %error, "shutting down with job outcomes unreported; they will run again after their leases expire");
                return;
            }
            Err(error) if error.kind() == ErrorKind::Conflict && conflicts < CONFLICT_RETRIES => {
                // The store already broke the conflict (a deadlock victim is rolled back at
                // once), so the batch goes again soon.
                let delay = conflict_delay(conflicts);
                tracing::warn!(jobs = batch.len(), %error, retry_in_ms = delay.as_millis() as u64, "the store refused the jobs' outcomes as conflicting; sending them again");
                conflicts += 1;
                tokio::time::sleep(delay).await;
            }
            Err(error) if batch.len() > 1 => {
                // One outcome the store cannot take (say, an envelope it cannot encode) must
                // not cost the others in its batch their acknowledgement.
                tracing::warn!(jobs = batch.len(), %error, "the store refused a batch of outcomes; settling them one by one");
                for item in batch {
                    Box::pin(settle_batch(
                        rt,
                        backend,
                        std::slice::from_ref(item),
                        hard_stop,
                    ))
                    .await;
                }
                return;
            }
            Err(error) => {
                for s in batch.iter() {
                    tracing::warn!(jid = %s.finish.job.jid, %error, "the job's outcome was not applied");
                }
                return;
            }
        }
    }
}
