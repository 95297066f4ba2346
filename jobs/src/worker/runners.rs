//! The worker's runners: long-lived tasks, at most one per slot, that run the jobs the fetch
//! loop hands them one after another, so a job costs no task of its own.
//!
//! 1. [`Runners::run`] queues a reserved job with its slot's permit and wakes one waiting
//!    runner; a new runner is started only when none is waiting and fewer than the
//!    concurrency run. Runners are tasks of the runtime like any other, so jobs still run
//!    in parallel on every worker thread.
//! 2. A runner takes queued jobs until none is left, then waits. It checks the queue before
//!    each wait and every queued job wakes one waiter, so no job waits while a runner idles.
//! 3. A panic outside the job's own code (whose panics the processor turns into failures)
//!    ends that job's run, logged; the runner goes on. The job's lease lapses and the store
//!    rescues it, as when a task per job panicked.
//! 4. [`Runners::close`] ends every runner once the queue is empty, and waits for them.
//!
//! Spawning a task per job cost its allocation, its place in the runtime's task list, and
//! its join handle's bookkeeping: about as much CPU as the rest of a no-op job's path.

use std::collections::VecDeque;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use futures::FutureExt;
use tokio::sync::{Notify, OwnedSemaphorePermit};
use tokio::task::JoinSet;

use super::processor::process;
use super::settle::SettleTx;
use super::tally::Tally;
use super::Runtime;
use crate::backend::{Backend, Reserved};

/// A job waiting for a runner, with its slot.
type Queued = (Reserved, OwnedSemaphorePermit);

/// What the runners share.
struct Shared {
    rt: Arc<Runtime>,
    backend: Arc<dyn Backend>,
    settler: SettleTx,
    queue: Mutex<VecDeque<Queued>>,
    /// Wakes one waiting runner per queued job.
    ready: Notify,
    /// Runners waiting on `ready`.
    waiting: AtomicUsize,
    closed: AtomicBool,
}

impl Shared {
    /// The queue, locked (a runner that panicked while holding it left nothing half-done:
    /// every change is one push or pop).
    fn queue(&self) -> MutexGuard<'_, VecDeque<Queued>> {
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The next queued job; the lock is released before the caller runs it.
    fn pop(&self) -> Option<Queued> {
        self.queue().pop_front()
    }
}

/// The runners of one worker.
pub(crate) struct Runners {
    shared: Arc<Shared>,
    tasks: JoinSet<()>,
    /// At most this many runners.
    most: usize,
}

impl Runners {
    pub(crate) fn new(
        rt: Arc<Runtime>,
        backend: Arc<dyn Backend>,
        settler: SettleTx,
        concurrency: usize,
    ) -> Self {
        Runners {
            shared: Arc::new(Shared {
                rt,
                backend,
                settler,
                queue: Mutex::new(VecDeque::with_capacity(concurrency)),
                ready: Notify::new(),
                waiting: AtomicUsize::new(0),
                closed: AtomicBool::new(false),
            }),
            tasks: JoinSet::new(),
            most: concurrency.max(1),
        }
    }

    /// Runs `job` on a runner; `permit` is its slot, freed when its outcome is handed over.
    pub(crate) fn run(&mut self, job: Reserved, permit: OwnedSemaphorePermit) {
        self.shared.queue().push_back((job, permit));
        if self.shared.waiting.load(Ordering::SeqCst) == 0 && self.tasks.len() < self.most {
            self.tasks.spawn(runner(self.shared.clone()));
        }
        self.shared.ready.notify_one();
    }

    /// Ends every runner once the jobs queued are run, and waits for them.
    pub(crate) async fn close(mut self) {
        self.shared.closed.store(true, Ordering::SeqCst);
        self.shared.ready.notify_waiters();
        while self.tasks.join_next().await.is_some() {}
    }
}

/// Runs queued jobs until the runners are closed.
async fn runner(shared: Arc<Shared>) {
    // Handed over to the worker's counts before each wait, and when the runner ends.
    let mut tally = Tally::new(shared.rt.metrics.clone());
    loop {
        while let Some((job, permit)) = shared.pop() {
            let envelope = job.job.clone();
            // Pinned where it is made: wrapping it by value would copy the whole run's state.
            let run = std::pin::pin!(process(
                &shared.rt,
                &shared.backend,
                job,
                &shared.settler,
                permit,
                &mut tally,
            ));
            if AssertUnwindSafe(run).catch_unwind().await.is_err() {
                tracing::error!(jid = %envelope.jid, "the worker panicked outside the job's code while running it; its lease lapses and the store gives it back");
            }
        }
        tally.hand_over();
        if shared.closed.load(Ordering::SeqCst) {
            return;
        }
        // Registered before the last look at the queue, so a job queued in between still
        // wakes this runner.
        let ready = shared.ready.notified();
        tokio::pin!(ready);
        ready.as_mut().enable();
        if shared.queue().is_empty() && !shared.closed.load(Ordering::SeqCst) {
            shared.waiting.fetch_add(1, Ordering::SeqCst);
            ready.await;
            shared.waiting.fetch_sub(1, Ordering::SeqCst);
        }
    }
}
