//! One run's shared state: the job, its lease, and what cancel, progress and resumable
//! steps need, each built only when the run uses it.
//!
//! 1. [`Links`] is made once per run (one allocation) and put in the running set. A plain
//!    job that never reports progress, saves a step or asks whether it was cancelled gets
//!    no progress writer, no steps link and no cancellation token.
//! 2. The progress writer and the steps link are made on first use from the job's
//!    [`JobContext`](crate::JobContext) (`RunLinks`); a checkpoint that re-issues the
//!    lease's token renames the held lease and the writer, and a writer made later starts
//!    with the new token.
//! 3. Cancel, hard stop and a lapsed lease reach the run as flags and one waker: the
//!    heartbeat, the cancel channel, the shutdown and the lease watch set a flag and wake
//!    the run's task; the token a job awaits is made when the job asks for it or when a
//!    cancel arrives.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};

use chrono::{DateTime, Utc};
use futures::task::AtomicWaker;
use tokio_util::sync::CancellationToken;

use super::Runtime;
use crate::backend::{Backend, LeaseToken};
use crate::envelope::JobEnvelope;
use crate::job::steps::{Link, Steps};
use crate::job::{ProgressWriter, RunLinks};

/// A cancel of the job was requested.
const CANCELLED: u8 = 1;
/// The worker's shutdown timeout passed: the run is given back.
const STOPPED: u8 = 2;
/// The run's lease may have lapsed in the store.
const LAPSED: u8 = 4;

/// One run of a job in this worker.
pub(crate) struct Links {
    me: Weak<Links>,
    rt: Arc<Runtime>,
    /// The store and the lease this run holds; `None` for a run outside the worker's loop
    /// (`TestJobs`), whose progress and steps are kept in memory only.
    store: Option<(Arc<dyn Backend>, LeaseToken)>,
    job: Arc<JobEnvelope>,
    started_at: DateTime<Utc>,
    /// The token a checkpoint re-issued last, if any. Held while a writer is made, so it
    /// starts with the current token.
    renamed: Mutex<Option<LeaseToken>>,
    writer: OnceLock<Arc<ProgressWriter>>,
    steps: OnceLock<Arc<Steps>>,
    flags: AtomicU8,
    token: OnceLock<CancellationToken>,
    waker: AtomicWaker,
}

impl std::fmt::Debug for Links {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Links")
            .field("jid", &self.job.jid)
            .field("flags", &self.flags.load(Ordering::Relaxed))
            .finish()
    }
}

/// What a run left behind: its job, the step progress it saved, the lease's token now,
/// whether a checkpoint stopped it for the shutdown.
pub(crate) struct Ended {
    pub(crate) job: Arc<JobEnvelope>,
    /// Shared like `job`: an envelope held inline made every move of this value a copy of
    /// a few hundred bytes, for the rare run that saved a step.
    pub(crate) saved: Option<Arc<JobEnvelope>>,
    pub(crate) token: LeaseToken,
    pub(crate) interrupted: bool,
}

impl Links {
    /// The run of `job` under lease `token` from `backend`, started at `started_at`.
    pub(crate) fn new(
        rt: &Arc<Runtime>,
        store: Option<(Arc<dyn Backend>, LeaseToken)>,
        job: Arc<JobEnvelope>,
        started_at: DateTime<Utc>,
    ) -> Arc<Self> {
        Arc::new_cyclic(|me| Links {
            me: me.clone(),
            rt: rt.clone(),
            store,
            job,
            started_at,
            renamed: Mutex::new(None),
            writer: OnceLock::new(),
            steps: OnceLock::new(),
            flags: AtomicU8::new(0),
            token: OnceLock::new(),
            waker: AtomicWaker::new(),
        })
    }

    pub(crate) fn job(&self) -> &Arc<JobEnvelope> {
        &self.job
    }

    pub(crate) fn started_at(&self) -> DateTime<Utc> {
        self.started_at
    }

    /// A weak reference, for the running set.
    pub(crate) fn weak(&self) -> Weak<Links> {
        self.me.clone()
    }

    /// The token the run's lease was reserved under (the held set follows its renames).
    pub(crate) fn first_token(&self) -> Option<&LeaseToken> {
        self.store.as_ref().map(|(_, t)| t)
    }

    fn renamed(&self) -> std::sync::MutexGuard<'_, Option<LeaseToken>> {
        self.renamed.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The token the run's lease goes by now.
    pub(crate) fn current_token(&self) -> Option<LeaseToken> {
        let renamed = self.renamed();
        renamed.clone().or_else(|| self.first_token().cloned())
    }

    /// The writer made for this run, if the job reported progress.
    pub(crate) fn writer_made(&self) -> Option<&Arc<ProgressWriter>> {
        self.writer.get()
    }

    /// The store now names the lease by `new` (a checkpoint re-issued `old`).
    fn rekey(&self, old: &LeaseToken, new: &LeaseToken) {
        let mut renamed = self.renamed();
        self.rt.held.rekey(old, new);
        if let Some(writer) = self.writer.get() {
            writer.rekey(new.clone());
        }
        *renamed = Some(new.clone());
    }

    fn set(&self, flag: u8) {
        self.flags.fetch_or(flag, Ordering::SeqCst);
        self.waker.wake();
    }

    fn has(&self, flag: u8) -> bool {
        self.flags.load(Ordering::SeqCst) & flag != 0
    }

    /// Cancels the run: its token (made now if the job has not asked for it) and its flag.
    pub(crate) fn trip(&self) {
        if self.flags.fetch_or(CANCELLED, Ordering::SeqCst) & CANCELLED == 0 {
            tracing::info!(jid = %self.job.jid, "cancel requested; the job is signalled");
        }
        self.token.get_or_init(CancellationToken::new).cancel();
        self.waker.wake();
    }

    /// The worker's shutdown timeout passed: the run stops and its job is given back.
    pub(crate) fn stop(&self) {
        self.set(STOPPED);
    }

    pub(crate) fn is_stopped(&self) -> bool {
        self.has(STOPPED)
    }

    /// The run's lease may have lapsed: the run is abandoned.
    pub(crate) fn lapse(&self) {
        self.set(LAPSED);
    }

    pub(crate) fn has_lapsed(&self) -> bool {
        self.has(LAPSED)
    }

    /// Wakes the run's task (registered while it waits) when a flag is set.
    pub(crate) fn register(&self, waker: &std::task::Waker) {
        self.waker.register(waker);
    }

    /// Takes the run apart at its end: the envelope back without a copy when no one else
    /// holds the run, the step progress saved, and the lease's token now.
    pub(crate) fn end(self: Arc<Self>) -> Ended {
        match Arc::try_unwrap(self) {
            Ok(links) => {
                let first = links.store.map(|(_, t)| t);
                let (saved, token, interrupted) = match links.steps.into_inner() {
                    Some(steps) => shared_saved(steps.finish()),
                    None => (None, first.unwrap_or_else(empty_token), false),
                };
                Ended {
                    job: links.job,
                    saved,
                    token,
                    interrupted,
                }
            }
            Err(shared) => {
                let (saved, token, interrupted) = match shared.steps.get() {
                    Some(steps) => shared_saved(steps.clone().finish()),
                    None => (
                        None,
                        shared.current_token().unwrap_or_else(empty_token),
                        false,
                    ),
                };
                Ended {
                    job: shared.job.clone(),
                    saved,
                    token,
                    interrupted,
                }
            }
        }
    }
}

/// A run's end with the envelope its steps saved, shared.
fn shared_saved(
    (saved, token, interrupted): (Option<JobEnvelope>, LeaseToken, bool),
) -> (Option<Arc<JobEnvelope>>, LeaseToken, bool) {
    (saved.map(Arc::new), token, interrupted)
}

fn empty_token() -> LeaseToken {
    LeaseToken::new("")
}

impl RunLinks for Links {
    fn progress(&self) -> Option<&Arc<ProgressWriter>> {
        if let Some(writer) = self.writer.get() {
            return Some(writer);
        }
        let (backend, first) = self.store.as_ref()?;
        // Under the rename lock, so a checkpoint's new token is not missed.
        let renamed = self.renamed();
        let token = renamed.as_ref().unwrap_or(first).clone();
        let writer = self.writer.get_or_init(|| {
            ProgressWriter::new(
                backend.clone(),
                self.rt.clock.clone(),
                token,
                &self.job.jid,
                self.rt.results.progress_interval,
            )
        });
        drop(renamed);
        Some(writer)
    }

    fn steps(&self) -> &Arc<Steps> {
        self.steps.get_or_init(|| match &self.store {
            Some((backend, token)) => {
                let me = self.me.clone();
                let link = Link {
                    backend: backend.clone(),
                    clock: self.rt.clock.clone(),
                    stopping: self.rt.stopping.clone(),
                    rekey: Box::new(move |old, new| {
                        if let Some(links) = me.upgrade() {
                            links.rekey(old, new);
                        }
                    }),
                };
                Steps::linked(&self.job, token.clone(), link)
            }
            None => Steps::detached(&self.job),
        })
    }

    fn cancel_token(&self) -> &CancellationToken {
        // A cancel that arrived first made it cancelled; one arriving later cancels it.
        self.token.get_or_init(CancellationToken::new)
    }

    fn is_cancelled(&self) -> bool {
        self.has(CANCELLED)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::{PushParams, ReserveParams};

    async fn reserved() -> (Arc<Runtime>, Arc<dyn Backend>, Arc<JobEnvelope>, LeaseToken) {
        let backend: Arc<dyn Backend> = Arc::new(crate::memory::MemoryBackend::new());
        let client = crate::Client::new(backend.clone());
        let rt = Arc::new(Runtime::new(
            client,
            crate::Registry::new(),
            crate::States::new(),
        ));
        let now = rt.clock.now();
        let job = JobEnvelope::new("Plain", "default", vec![]);
        let pushed = backend.job_push(PushParams::new(vec![job], now)).await;
        assert!(pushed.is_ok());
        let params = ReserveParams::new(vec!["default".into()], "p1", now);
        let mut got = backend.job_reserve(params).await.unwrap_or_default();
        let r = got.pop().map(|r| (r.job, r.token));
        let Some((job, token)) = r else {
            panic!("nothing reserved")
        };
        (rt, backend, job, token)
    }

    #[tokio::test]
    async fn a_run_that_uses_nothing_makes_nothing() {
        let (rt, backend, job, token) = reserved().await;
        let handed = job.clone();
        let run = Links::new(&rt, Some((backend, token.clone())), job, rt.clock.now());
        assert!(run.writer_made().is_none());
        assert!(run.steps.get().is_none() && run.token.get().is_none());
        let ended = run.end();
        assert_eq!(ended.token, token, "the lease's own token comes back");
        assert!(ended.saved.is_none() && !ended.interrupted);
        assert!(
            Arc::ptr_eq(&ended.job, &handed),
            "the envelope the reserve handed out comes back, not a copy"
        );
    }

    #[tokio::test]
    async fn a_cancel_before_the_job_asks_is_seen_by_the_token_made_later() {
        let (rt, backend, job, token) = reserved().await;
        let run = Links::new(&rt, Some((backend, token)), job, rt.clock.now());
        let key = rt.running_insert(&run);
        assert!(rt.trip(&run.job().jid), "the run is found by its jid");
        assert!(run.is_cancelled());
        assert!(run.cancel_token().is_cancelled());
        rt.running_remove(key);
        assert!(!rt.trip(&run.job().jid), "a run removed is not found");
    }

    #[tokio::test]
    async fn the_writer_made_on_first_use_is_shared_and_follows_a_rekey() {
        let (rt, backend, job, token) = reserved().await;
        let run = Links::new(&rt, Some((backend, token.clone())), job, rt.clock.now());
        let first = run.progress().cloned();
        assert!(first.is_some());
        let again = run.progress().cloned();
        assert!(matches!((&first, &again), (Some(a), Some(b)) if Arc::ptr_eq(a, b)));
        let new = LeaseToken("renamed".into());
        run.rekey(&token, &new);
        assert_eq!(run.current_token(), Some(new));
    }

    #[tokio::test]
    async fn a_run_started_after_the_hard_stop_is_stopped() {
        let (rt, backend, job, token) = reserved().await;
        rt.stop_running();
        let run = Links::new(&rt, Some((backend, token)), job, rt.clock.now());
        rt.running_insert(&run);
        assert!(run.is_stopped() && !run.is_cancelled());
    }
}
