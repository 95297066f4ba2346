//! The worker's runners: long-lived tasks, at most one per slot, that run the jobs the fetch
//! loop hands them one after another, so a job costs no task of its own.
//!
//! 1. [`Runners::run`] queues a reserved job with its slot's permit and makes sure a runner
//!    is on its way to it ([`Shared::wake_one`]): one already searching the queue, or a
//!    waiting runner woken, or a new one started while fewer than the concurrency run.
//!    Runners are tasks of the runtime like any other, so jobs still run in parallel on
//!    every worker thread.
//! 2. At most one runner searches at a time. A runner that takes a job and leaves others
//!    queued wakes the next one; so a reserve of fifty jobs wakes runners one after another
//!    as each takes its job (as tokio wakes its own worker threads), not fifty at once, and
//!    where the jobs end at once (a no-op on one core) the first runner takes them all and
//!    one or two wake-ups serve the whole reserve.
//! 3. A runner takes queued jobs until none is left, then waits. Every change to the
//!    searching flag or the waiting count is followed by a look at the queue, so no job
//!    waits while a runner idles (see `wake_one` and `runner`).
//! 4. A panic outside the job's own code (whose panics the processor turns into failures)
//!    ends that job's run, logged; the runner goes on. The job's lease lapses and the store
//!    rescues it, as when a task per job panicked.
//! 5. [`Runners::close`] ends every runner once the queue is empty, and waits for them.
//!
//! Spawning a task per job cost its allocation, its place in the runtime's task list, and
//! its join handle's bookkeeping: about as much CPU as the rest of a no-op job's path. Waking
//! a runner per job cost a third of that again.

use std::collections::VecDeque;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::Poll;

use futures::FutureExt;
use tokio::sync::{Notify, OwnedSemaphorePermit};
use tokio::task::JoinHandle;

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
    /// Wakes one waiting runner.
    ready: Notify,
    /// Runners waiting on `ready` (counted before their last look at the queue).
    waiting: AtomicUsize,
    /// A runner was woken or started and has not taken a job yet.
    searching: AtomicBool,
    /// Runners started; at most `most`.
    started: AtomicUsize,
    most: usize,
    tasks: Mutex<Vec<JoinHandle<()>>>,
    closed: AtomicBool,
}

impl Shared {
    /// The queue, locked (a runner that panicked while holding it left nothing half-done:
    /// every change is one push or pop).
    fn queue(&self) -> MutexGuard<'_, VecDeque<Queued>> {
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The next queued job, and whether others are left; the lock is released before the
    /// caller runs it.
    fn pop(&self) -> Option<(Queued, bool)> {
        let mut queue = self.queue();
        let next = queue.pop_front()?;
        Some((next, !queue.is_empty()))
    }

    /// Makes sure a runner is on its way to the queue: one searching already, else a waiting
    /// one woken, else a new one while fewer than `most` run. When every runner is busy, the
    /// first to finish its job takes the next. Whether it woke or started one.
    fn wake_one(self: &Arc<Self>) -> bool {
        loop {
            if self.searching.swap(true, Ordering::SeqCst) {
                return false;
            }
            if self.waiting.load(Ordering::SeqCst) > 0 {
                self.ready.notify_one();
                return true;
            }
            if self.start() {
                return true;
            }
            self.searching.store(false, Ordering::SeqCst);
            // A job queued while the flag was up found it up and woke no one; a runner that
            // began to wait since then may have looked at the queue before that job came.
            if self.waiting.load(Ordering::SeqCst) == 0 || self.queue().is_empty() {
                return false;
            }
        }
    }

    /// Starts a runner (it starts searching) unless `most` run already or the runners are
    /// closed.
    fn start(self: &Arc<Self>) -> bool {
        if self.closed.load(Ordering::SeqCst) {
            return false;
        }
        let started = self
            .started
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                (n < self.most).then_some(n + 1)
            })
            .is_ok();
        if started {
            let task = tokio::spawn(runner(self.clone()));
            self.tasks
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(task);
        }
        started
    }

    /// The searching runner took a job or found none: another may search now. A job queued
    /// meanwhile found the flag up and woke no one, so the queue is looked at again.
    fn stop_searching(self: &Arc<Self>) -> bool {
        self.searching.store(false, Ordering::SeqCst);
        !self.queue().is_empty() && self.wake_one()
    }
}

/// The runners of one worker.
pub(crate) struct Runners {
    shared: Arc<Shared>,
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
                searching: AtomicBool::new(false),
                started: AtomicUsize::new(0),
                most: concurrency.max(1),
                tasks: Mutex::new(Vec::new()),
                closed: AtomicBool::new(false),
            }),
        }
    }

    /// Runs `job` on a runner; `permit` is its slot, freed when its outcome is handed over.
    pub(crate) fn run(&mut self, job: Reserved, permit: OwnedSemaphorePermit) {
        self.run_all(std::iter::once((job, permit)));
    }

    /// Runs each job on a runner, in order: queued under one lock, and one runner sent to
    /// the queue (it wakes the next as it takes a job and leaves others, see `runner`).
    pub(crate) fn run_all(&mut self, jobs: impl IntoIterator<Item = Queued>) {
        self.shared.queue().extend(jobs);
        self.shared.wake_one();
    }

    /// The runner tasks started so far, taken out, aborted when dropped.
    fn take_tasks(&self) -> AbortOnDrop {
        let mut tasks = self.shared.tasks.lock().unwrap_or_else(|e| e.into_inner());
        AbortOnDrop(std::mem::take(&mut *tasks))
    }

    /// Ends every runner once the jobs queued are run, and waits for them.
    pub(crate) async fn close(self) {
        self.shared.closed.store(true, Ordering::SeqCst);
        self.shared.ready.notify_waiters();
        // Taken out to be awaited; aborted still if this wait is dropped.
        let mut tasks = self.take_tasks();
        for task in tasks.0.iter_mut() {
            let _ = task.await;
        }
    }
}

/// Dropped without [`Runners::close`] (the worker's run future was dropped): the runners
/// stop with it, their jobs dropped mid-run, as a worker that vanished; their leases lapse
/// and other workers rescue them.
impl Drop for Runners {
    fn drop(&mut self) {
        self.shared.closed.store(true, Ordering::SeqCst);
        drop(self.take_tasks());
    }
}

/// Runner tasks, aborted when dropped (those that ended are not affected).
struct AbortOnDrop(Vec<JoinHandle<()>>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        for task in &self.0 {
            task.abort();
        }
    }
}

/// Gives the thread up once, this task rescheduled in the runtime's next-to-run slot. A
/// runner woken or started from this one went into that slot, from which no other thread
/// takes a task; moved out by this one, it goes to the queue the other threads steal from.
/// So when the job this runner is about to run blocks its thread (CPU work, a blocking
/// call), the job the woken runner takes still starts on another thread.
async fn let_woken_runner_be_stolen() {
    let mut yielded = false;
    std::future::poll_fn(|cx| {
        if yielded {
            return Poll::Ready(());
        }
        yielded = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    })
    .await
}

/// Runs queued jobs until the runners are closed.
async fn runner(shared: Arc<Shared>) {
    // Handed over to the worker's counts before each wait, and when the runner ends.
    let mut tally = Tally::new(shared.rt.metrics.clone());
    // Started (or, below, woken) to take a queued job.
    let mut searching = true;
    loop {
        while let Some(((job, permit), more)) = shared.pop() {
            let woke = match searching {
                true => {
                    searching = false;
                    shared.stop_searching()
                }
                false => more && shared.wake_one(),
            };
            if woke {
                let_woken_runner_be_stolen().await;
            }
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
        if searching {
            searching = false;
            shared.stop_searching();
        }
        tally.hand_over();
        if shared.closed.load(Ordering::SeqCst) {
            return;
        }
        // Registered and counted before the last look at the queue, so a job queued in
        // between either is seen here or finds this runner waiting and wakes it.
        let ready = shared.ready.notified();
        tokio::pin!(ready);
        ready.as_mut().enable();
        shared.waiting.fetch_add(1, Ordering::SeqCst);
        if shared.queue().is_empty() && !shared.closed.load(Ordering::SeqCst) {
            ready.await;
            searching = true;
        }
        shared.waiting.fetch_sub(1, Ordering::SeqCst);
    }
}
