//! Shared helpers for the Redis tests: a backend under a fresh key prefix on the shared
//! server at `JOBS_TEST_REDIS_URL` (default: `redis://127.0.0.1:6379/0`; `scripts/test` sets
//! it), and a raw connection to look at the keys it writes.

#![allow(dead_code)]

use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{DateTime, Utc};
use jobs::backend::*;
use jobs::envelope::JobEnvelope;
use jobs_backends::redis::{RedisBackend, RedisOptions};

/// The shared test server: `JOBS_TEST_REDIS_URL`, or the local default.
pub fn url() -> String {
    std::env::var("JOBS_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379/0".to_owned())
}

/// Database `n` of the shared test server ([`url`] with its database and query replaced).
pub fn db_url(n: u8) -> String {
    let url = url();
    let no_query = url.split('?').next().unwrap_or_default();
    let (scheme, rest) = no_query.split_once("://").unwrap_or(("redis", no_query));
    let authority = rest.split('/').next().unwrap_or_default();
    format!("{scheme}://{authority}/{n}")
}

/// A prefix no other test uses.
pub fn unique_prefix(name: &str) -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let nanos = Utc::now().timestamp_nanos_opt().unwrap_or_default();
    format!("jobs-test:{name}:{}:{n}:{nanos:x}", std::process::id())
}

/// A backend and a raw connection, both under one fresh prefix.
pub struct Fixture {
    pub backend: RedisBackend,
    pub prefix: String,
    pub raw: redis::aio::MultiplexedConnection,
}

impl Fixture {
    pub async fn new(name: &str) -> Self {
        Self::with(name, |o| o).await
    }

    pub async fn with(name: &str, tweak: impl FnOnce(RedisOptions) -> RedisOptions) -> Self {
        let prefix = unique_prefix(name);
        let url = url();
        let opts = tweak(RedisOptions::new(url.clone()).with_prefix(prefix.clone()));
        let backend = RedisBackend::connect(opts)
            .await
            .unwrap_or_else(|e| panic!("connect to {url}: {e}"));
        let raw = redis::Client::open(url)
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .unwrap();
        Fixture {
            backend,
            prefix,
            raw,
        }
    }

    /// The full key name of a key in Sidekiq's layout.
    pub fn key(&self, k: &str) -> String {
        format!("{}:{k}", self.prefix)
    }

    pub async fn cmd<T: redis::FromRedisValue>(&self, cmd: &mut redis::Cmd) -> T {
        let mut c = self.raw.clone();
        cmd.query_async(&mut c).await.unwrap()
    }

    pub async fn push(&self, jobs: Vec<JobEnvelope>, now: DateTime<Utc>) {
        self.backend
            .job_push(PushParams::new(jobs, now))
            .await
            .unwrap();
    }

    pub async fn reserve(
        &self,
        queues: &[&str],
        process: &str,
        limit: usize,
        now: DateTime<Utc>,
    ) -> Vec<Reserved> {
        let mut p =
            ReserveParams::new(queues.iter().map(|q| q.to_string()).collect(), process, now);
        p.limit = limit;
        self.backend.job_reserve(p).await.unwrap()
    }

    pub async fn finish(
        &self,
        r: &Reserved,
        outcome: FinishOutcome,
        failed: bool,
        now: DateTime<Utc>,
    ) -> FinishReport {
        self.backend
            .job_finish(
                FinishParams::new(
                    vec![Finish::new(r.token.clone(), r.job.clone(), outcome, failed)],
                    now,
                )
                .dead_limits(DeadLimits::default()),
            )
            .await
            .unwrap()
    }

    /// Deletes this fixture's keys.
    pub async fn cleanup(&self) {
        self.backend.clear_all().await.unwrap();
    }
}

/// A fixed, whole-microsecond time, as tests use with injected clocks.
pub fn t0() -> DateTime<Utc> {
    "2026-01-01T00:00:00Z".parse().unwrap()
}

pub fn secs(n: i64) -> chrono::Duration {
    chrono::Duration::seconds(n)
}

/// A port on 127.0.0.1 with nothing listening.
pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// Job `n` of queue `q`, with no options.
pub fn plain(n: i64) -> JobEnvelope {
    JobEnvelope::new("Echo", "q", vec![n.into()])
}

/// [`plain`] job `n`, limited to `limit` at once per `key`.
pub fn limited(n: i64, key: &str, limit: u32) -> JobEnvelope {
    let mut j = plain(n);
    j.set_concurrency(Some(jobs::envelope::limits::ConcurrencyLimit::new(
        key, limit,
    )));
    j
}

/// Up to three jobs of queue `q` for `process`, waiting up to `wait`, 30 s leases.
pub fn reserve_params(process: &str, wait: std::time::Duration) -> ReserveParams {
    ReserveParams::new(vec!["q".into()], process, Utc::now())
        .limit(3)
        .wait(wait)
        .lease_ttl(std::time::Duration::from_secs(30))
}

/// Settles `r` as completed.
pub async fn finish_ok(b: &RedisBackend, r: &Reserved) -> FinishReport {
    let (token, job) = (r.token.clone(), r.job.clone());
    let item = Finish::new(token, job, FinishOutcome::Completed, false);
    b.job_finish(FinishParams::new(vec![item], Utc::now()))
        .await
        .unwrap()
}
