//! Test helpers for users: assert what was enqueued, drain queues, run inline.
//!
//! A [`TestJobs`] owns its own in-memory backend and client. Code under test enqueues on it
//! when run inside [`TestJobs::scope`] (a task-local, so parallel tests never see each
//! other's jobs) or when given [`TestJobs::client`] explicitly. There is no global mode.
//!
//! ```
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! use jobs::prelude::*;
//! use jobs::testing::TestJobs;
//!
//! #[derive(Debug, thiserror::Error)]
//! #[error("x")]
//! struct E;
//! #[jobs::job(name = "TestingDocWelcome")]
//! async fn welcome(user_id: u64) -> Result<(), E> { Ok(()) }
//!
//! async fn signup_handler() {
//!     Welcome::perform_later(42).await.unwrap();
//! }
//!
//! let jobs = TestJobs::new();
//! jobs.scope(signup_handler()).await;
//! jobs.assert_enqueued(&Welcome::new(42)).await;
//! assert_eq!(jobs.enqueued::<Welcome>().await.len(), 1);
//! let report = jobs.drain().await;
//! assert_eq!(report.performed, 1);
//! assert!(jobs.enqueued::<Welcome>().await.is_empty());
//! # });
//! ```

use std::collections::HashSet;
use std::sync::Arc;

use serde_json::Value;

use crate::backend::QueueListParams;
use crate::backend::{
    AdminBackend, Backend, JobActionParams, JobListParams, JobSet, Lease, ReserveParams,
};
use crate::client::Client;
use crate::clock::{Clock, SystemClock};
use crate::envelope::JobEnvelope;
use crate::job::{Failure, Job, States};
use crate::memory::MemoryBackend;
use crate::registry::Registry;
use crate::worker::links::Links;
use crate::worker::processor::{execute, plan};
use crate::worker::Runtime;

/// What a [`TestJobs::drain`] did.
#[derive(Debug, Clone, Default)]
pub struct DrainReport {
    /// Jobs performed.
    pub performed: usize,
    /// Jobs that failed, with their failures (they went to the retry or dead set, or were
    /// discarded, as their retry policy says).
    pub failures: Vec<(JobEnvelope, Failure)>,
}

/// An isolated job store for one test.
pub struct TestJobs {
    backend: Arc<MemoryBackend>,
    client: Client,
    states: States,
    registry: Option<Registry>,
}

impl Default for TestJobs {
    fn default() -> Self {
        Self::new()
    }
}

impl TestJobs {
    /// A fresh, empty store; enqueue stores jobs without running them.
    pub fn new() -> Self {
        Self::build(false, Arc::new(SystemClock))
    }

    /// Inline mode: enqueue runs each job at once (Sidekiq's `Testing.inline!`), but only for
    /// code run inside [`TestJobs::scope`] or on [`TestJobs::client`].
    pub fn inline() -> Self {
        Self::build(true, Arc::new(SystemClock))
    }

    /// A store reading time from `clock`.
    pub fn with_clock(clock: Arc<dyn Clock>) -> Self {
        Self::build(false, clock)
    }

    fn build(inline: bool, clock: Arc<dyn Clock>) -> Self {
        let backend = Arc::new(MemoryBackend::new());
        let client = Client::builder(backend.clone())
            .clock(clock)
            .inline(inline)
            .build();
        TestJobs {
            backend,
            client,
            states: States::new(),
            registry: None,
        }
    }

    /// Gives jobs a `State<T>` when drained or run inline.
    pub fn state<T: Clone + Send + Sync + 'static>(mut self, value: T) -> Self {
        self.states = self.states.clone().with(value);
        self.client = self.client.with_states(self.states.clone());
        self
    }

    /// Performs only jobs of this registry when draining (default: every `#[job]`).
    pub fn registry(mut self, registry: Registry) -> Self {
        self.registry = Some(registry);
        self
    }

    /// The client enqueueing into this store.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The backend behind it, for admin assertions.
    pub fn backend(&self) -> Arc<dyn AdminBackend> {
        self.backend.clone()
    }

    /// Runs `fut` with this store as the current client of the task.
    pub async fn scope<F: std::future::Future>(&self, fut: F) -> F::Output {
        self.client.scope(fut).await
    }

    /// Every stored job waiting to run: in queues, scheduled, or waiting to retry.
    pub async fn all_enqueued(&self) -> Vec<JobEnvelope> {
        let mut sets: Vec<JobSet> = match self
            .backend
            .queue_list(QueueListParams::new(self.client.clock().now()))
            .await
        {
            Ok(queues) => queues.into_iter().map(|q| JobSet::Queue(q.name)).collect(),
            Err(_) => Vec::new(),
        };
        sets.push(JobSet::Scheduled);
        sets.push(JobSet::Retry);
        let mut out = Vec::new();
        for set in sets {
            if let Ok(page) = self
                .backend
                .job_list(JobListParams::new(set, u64::MAX))
                .await
            {
                out.extend(page.jobs.into_iter().map(|s| s.job));
            }
        }
        out
    }

    /// The waiting jobs of type `J`, decoded.
    pub async fn enqueued<J: Job>(&self) -> Vec<J> {
        self.all_enqueued()
            .await
            .into_iter()
            .filter(|j| j.class == J::NAME)
            .filter_map(|j| J::from_args(&j.args).ok())
            .collect()
    }

    /// The stored arguments of each waiting job of type `J`.
    pub async fn enqueued_args<J: Job>(&self) -> Vec<Vec<Value>> {
        self.all_enqueued()
            .await
            .into_iter()
            .filter(|j| j.class == J::NAME)
            .map(|j| j.args)
            .collect()
    }

    /// Panics unless a job of type `J` with the same arguments as `expected` is waiting.
    pub async fn assert_enqueued<J: Job>(&self, expected: &J) {
        let want = match expected.to_args() {
            Ok(a) => a,
            Err(e) => panic!("expected job cannot be encoded: {e}"),
        };
        let got = self.enqueued_args::<J>().await;
        assert!(
            got.contains(&want),
            "expected {} with args {} to be enqueued; enqueued {}: {}",
            J::NAME,
            Value::Array(want.clone()),
            J::NAME,
            Value::Array(got.into_iter().map(Value::Array).collect())
        );
    }

    /// Panics if any job of type `J` is waiting.
    pub async fn assert_not_enqueued<J: Job>(&self) {
        let got = self.enqueued_args::<J>().await;
        assert!(
            got.is_empty(),
            "expected no {} to be enqueued; found {}",
            J::NAME,
            got.len()
        );
    }

    /// Performs every waiting job, scheduled ones included whatever their time, and the jobs
    /// those enqueue, until none is left. Failed jobs follow their retry policy into the retry
    /// or dead set and are not retried by this drain; they are listed in the report. A job
    /// that snoozes runs once per drain and stays scheduled (call `drain` again to run it
    /// again), so a job that always snoozes cannot make a drain loop forever.
    pub async fn drain(&self) -> DrainReport {
        let registry = match &self.registry {
            Some(r) => r.clone(),
            None => match Registry::from_inventory() {
                Ok(r) => r,
                Err(e) => panic!("{e}"),
            },
        };
        let rt = std::sync::Arc::new(Runtime::new(
            self.client.clone(),
            registry,
            self.states.clone(),
        ));
        let backend: Arc<dyn Backend> = self.backend.clone();
        let mut report = DrainReport::default();
        let mut ran = HashSet::new();
        loop {
            let scheduled = self.take_scheduled(&ran).await;
            let queues: Vec<String> = match self
                .backend
                .queue_list(QueueListParams::new(rt.clock.now()))
                .await
            {
                Ok(q) => q.into_iter().map(|q| q.name).collect(),
                Err(_) => Vec::new(),
            };
            let params = ReserveParams::new(queues, "jobs-testing", rt.clock.now())
                .lease_clock(rt.clock.lease_clock());
            let reserved = match backend.job_reserve(params).await {
                Ok(r) => r,
                Err(e) => panic!("in-memory reserve failed: {e}"),
            };
            let Some(r) = reserved.into_iter().next() else {
                if scheduled == 0 {
                    return report;
                }
                continue;
            };
            let job = r.job.clone();
            let lease = Lease::new(r, backend.clone(), rt.clock.clone());
            ran.insert(job.jid.clone());
            let started = std::time::Instant::now();
            let run = Links::new(&rt, None, job.clone(), rt.clock.now());
            let (result, options) = execute(&rt, run).await;
            let took = started.elapsed();
            if let Err(f) = &result {
                report.failures.push(((*job).clone(), f.clone()));
            }
            let f = plan(&rt, lease.token().clone(), job, result, options, took);
            if let Err(e) = lease.finish(f.job, f.outcome, f.failed).await {
                panic!("in-memory finish failed: {e}");
            }
            report.performed += 1;
        }
    }

    /// Moves every scheduled job (not retries, not those in `ran`) to its queue; returns how many.
    async fn take_scheduled(&self, ran: &HashSet<String>) -> u64 {
        let page = match self
            .backend
            .job_list(JobListParams::new(JobSet::Scheduled, u64::MAX))
            .await
        {
            Ok(p) => p,
            Err(_) => return 0,
        };
        let jids: Vec<String> = page
            .jobs
            .into_iter()
            .map(|s| s.job.jid)
            .filter(|jid| !ran.contains(jid))
            .collect();
        if jids.is_empty() {
            return 0;
        }
        let params = JobActionParams::jids(JobSet::Scheduled, jids, self.client.clock().now());
        self.backend.job_enqueue_now(params).await.unwrap_or(0)
    }
}
