//! Shared helpers for the Ruby Sidekiq interop tests: a Redis database of the test's own,
//! the `InteropEcho` job, and running `ruby` scripts and a `sidekiq` process with deadlines.
//!
//! 1. Sidekiq 6 has no key prefix, so each test owns one database number in 8..=15 of the
//!    shared server (`JOBS_TEST_REDIS_URL`, see `servers`). A lock
//!    key in database 0 (`jobs-test:sidekiq-db:<n>`) keeps two concurrent test runs out of
//!    the same database; the test flushes only its own database.
//! 2. `InteropEcho` takes its args as they are and RPUSHes `{"jid", "args"}` onto
//!    `interop:performed`, as `examples/sidekiq_interop.rs` and `tests/ruby/echo_worker.rb` do.
//! 3. Ruby is skipped (with a `SKIPPED` line on stderr) when `ruby -e 'require "sidekiq"'`
//!    fails; `scripts/interop-deps.sh` installs it.

#![allow(dead_code)]

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use jobs::backend::Backend;
use jobs::prelude::*;
use jobs::{ArgsError, JobOptions, JobResult, StateKey};
use jobs_backends::redis::{RedisBackend, RedisOptions};
use serde_json::{json, Value};

use super::servers::redis_db_url;

/// Where Ruby Sidekiq records each job it performs, and so do the Rust echo jobs.
pub const PERFORMED: &str = "interop:performed";

/// The `tests/ruby` directory.
pub fn ruby_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("ruby")
}

/// Whether Ruby with the Sidekiq gem is installed; prints why not.
pub fn have_ruby_sidekiq(test: &str) -> bool {
    let ok = std::process::Command::new("ruby")
        .args(["-e", "require 'sidekiq'"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        eprintln!(
            "SKIPPED sidekiq_interop::{test}: `ruby -e 'require \"sidekiq\"'` fails; run scripts/interop-deps.sh"
        );
    }
    ok
}

/// Whether Ruby can load Active Job and the globalid gem beside Sidekiq; prints why not.
pub fn have_ruby_active_job(test: &str) -> bool {
    let ok = std::process::Command::new("ruby")
        .args([
            "-e",
            "require 'sidekiq'; require 'active_job'; require 'global_id'",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        eprintln!(
            "SKIPPED {test}: Ruby cannot load sidekiq, active_job and global_id; run scripts/interop-deps.sh (Debian: ruby-sidekiq ruby-activejob ruby-globalid)"
        );
    }
    ok
}

/// The example binary, built by `cargo test --workspace --all-targets` (or `cargo build
/// --examples`) next to this test's own binary.
pub fn example_binary() -> Option<std::path::PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let profile_dir = exe.parent()?.parent()?;
    let bin = profile_dir.join("examples").join("sidekiq_interop");
    bin.is_file().then_some(bin)
}

pub async fn run_example(args: &[&str]) -> std::process::Output {
    let bin = example_binary().unwrap();
    let run = tokio::process::Command::new(bin)
        .args(args)
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(60), run)
        .await
        .expect("example finishes within 60 s")
        .unwrap();
    assert!(
        out.status.success(),
        "sidekiq_interop {args:?}: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// One Redis database owned by one test until dropped.
pub struct Db {
    pub n: u8,
    pub url: String,
    pub raw: redis::aio::MultiplexedConnection,
    lock_key: String,
    token: String,
}

impl Db {
    /// Takes database `n` (8..=15), waiting for another test run holding it, and flushes it.
    pub async fn take(n: u8) -> Db {
        assert!((8..=15).contains(&n), "interop tests use databases 8..=15");
        let lock_key = format!("jobs-test:sidekiq-db:{n}");
        let token = format!("{}:{}", std::process::id(), rand_token());
        let db0_url = redis_db_url(0);
        let mut db0 = redis::Client::open(db0_url.as_str())
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .unwrap_or_else(|e| panic!("Redis at {db0_url}: {e}"));
        let deadline = Instant::now() + Duration::from_secs(300);
        loop {
            let got: Option<String> = redis::cmd("SET")
                .arg(&lock_key)
                .arg(&token)
                .arg("NX")
                .arg("PX")
                .arg(180_000)
                .query_async(&mut db0)
                .await
                .unwrap();
            if got.is_some() {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "database {n} stayed locked by another test run ({lock_key})"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let url = redis_db_url(n);
        let mut raw = redis::Client::open(url.as_str())
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .unwrap();
        let _: () = redis::cmd("FLUSHDB").query_async(&mut raw).await.unwrap();
        Db {
            n,
            url,
            raw,
            lock_key,
            token,
        }
    }

    /// A backend on this database with Sidekiq's plain key names.
    pub async fn backend(&self) -> Arc<RedisBackend> {
        Arc::new(
            RedisBackend::connect(RedisOptions::new(self.url.clone()))
                .await
                .unwrap(),
        )
    }

    /// The records on `interop:performed`, parsed.
    pub async fn performed(&self) -> Vec<Value> {
        let mut c = self.raw.clone();
        let raw: Vec<String> = redis::cmd("LRANGE")
            .arg(PERFORMED)
            .arg(0)
            .arg(-1)
            .query_async(&mut c)
            .await
            .unwrap();
        raw.iter()
            .map(|r| serde_json::from_str(r).unwrap())
            .collect()
    }

    /// Waits until `interop:performed` holds at least `n` records.
    pub async fn wait_performed(&self, n: usize, within: Duration) -> Vec<Value> {
        let deadline = Instant::now() + within;
        loop {
            let got = self.performed().await;
            if got.len() >= n {
                return got;
            }
            assert!(
                Instant::now() < deadline,
                "{} of {n} jobs performed after {within:?}: {got:?}",
                got.len()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Db {
    /// Flushes the database and releases the lock if this run still holds it.
    fn drop(&mut self) {
        let (url, key, token) = (self.url.clone(), self.lock_key.clone(), self.token.clone());
        let done = std::thread::spawn(move || -> redis::RedisResult<()> {
            let mut c = redis::Client::open(url.as_str())?.get_connection()?;
            redis::cmd("FLUSHDB").query::<()>(&mut c)?;
            let mut c0 = redis::Client::open(redis_db_url(0))?.get_connection()?;
            redis::Script::new(
                "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0",
            )
            .key(key)
            .arg(token)
            .invoke::<i64>(&mut c0)?;
            Ok(())
        });
        let _ = done.join();
    }
}

fn rand_token() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!("{nanos:x}")
}

/// Runs `ruby tests/ruby/<script> args..` against `db`, failing the test on a non-zero exit
/// or when it outlives `within`; returns its stdout.
pub async fn ruby(db: &Db, script: &str, args: &[&str], within: Duration) -> String {
    let run = tokio::process::Command::new("ruby")
        .arg(ruby_dir().join(script))
        .args(args)
        .env("REDIS_URL", &db.url)
        .env(
            "INTEROP_DEADLINE_SECS",
            within.as_secs().saturating_sub(5).max(5).to_string(),
        )
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(within, run)
        .await
        .unwrap_or_else(|_| panic!("ruby {script} ran longer than {within:?}"))
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "ruby {script} {args:?} failed ({}):\nstdout: {stdout}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// A `sidekiq` process (Ruby) on `db` running `tests/ruby/echo_worker.rb`; SIGKILLed on drop.
pub fn start_sidekiq(db: &Db) -> tokio::process::Child {
    tokio::process::Command::new("sidekiq")
        .arg("-r")
        .arg(ruby_dir().join("echo_worker.rb"))
        .args(["-q", "default", "-c", "2"])
        .env("REDIS_URL", &db.url)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start sidekiq")
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// Where the echo job records what it performed.
#[derive(Clone)]
pub struct Recorder(pub redis::aio::MultiplexedConnection);

/// The Rust side of `InteropEcho`: takes any args and records them unchanged, with
/// `"by": "rust"` (the Ruby worker writes `"by": "ruby"`).
pub struct InteropEcho(pub Vec<Value>);

impl Job for InteropEcho {
    const NAME: &'static str = "InteropEcho";

    fn options() -> JobOptions {
        JobOptions::new()
    }

    fn to_args(&self) -> Result<Vec<Value>, ArgsError> {
        Ok(self.0.clone())
    }

    fn from_args(args: &[Value]) -> Result<Self, ArgsError> {
        Ok(InteropEcho(args.to_vec()))
    }

    fn required_states() -> Vec<StateKey> {
        vec![StateKey::of::<Recorder>()]
    }

    fn perform(self, ctx: JobContext) -> BoxFuture<JobResult> {
        Box::pin(async move {
            let mut conn = ctx.state::<Recorder>()?.0 .0;
            let record = json!({ "jid": ctx.jid(), "args": self.0, "by": "rust" }).to_string();
            redis::cmd("RPUSH")
                .arg(PERFORMED)
                .arg(record)
                .query_async::<()>(&mut conn)
                .await
                .map_err(|e| Failure::from_error("redis::RedisError", &e))?;
            Ok(Outcome::Done)
        })
    }
}

/// A running in-process worker and what stops it.
pub struct Running {
    pub id: String,
    pub handle: jobs::worker::WorkerHandle,
    pub task: tokio::task::JoinHandle<Result<(), jobs::worker::WorkerError>>,
}

impl Running {
    /// Stops the worker gracefully and waits for it.
    pub async fn stop(self) {
        self.handle.stop();
        tokio::time::timeout(Duration::from_secs(30), self.task)
            .await
            .expect("worker stops within 30 s")
            .unwrap()
            .unwrap();
    }
}

/// Starts a worker with fast timings on `backend`, configured further by `tweak`.
pub fn start_worker(
    backend: Arc<dyn Backend>,
    tweak: impl FnOnce(jobs::WorkerBuilder) -> jobs::WorkerBuilder,
) -> Running {
    let builder = Worker::builder(backend)
        .queues(["default"])
        .concurrency(4)
        .poll_interval(Duration::from_millis(100))
        .heartbeat_interval(Duration::from_millis(200))
        .handle_signals(false);
    let worker = tweak(builder).build().unwrap();
    Running {
        id: worker.id().to_owned(),
        handle: worker.handle(),
        task: tokio::spawn(worker.run()),
    }
}

/// Waits (20 s at most) until the store holds one job in the retry set and one in the dead
/// set: the two failing jobs the Ruby tests start from, settled by a Rust worker.
pub async fn until_one_retry_and_one_dead(backend: &RedisBackend) {
    use jobs::backend::AdminBackend;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let s = backend.stats().await.unwrap();
        if s.retries == 1 && s.dead == 1 {
            return;
        }
        assert!(Instant::now() < deadline, "failures not settled: {s:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
