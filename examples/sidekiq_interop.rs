//! Sidekiq interop: Rust performs jobs Ruby pushed, and enqueues jobs Ruby can perform.
//!
//! ```sh
//! # A worker for Ruby's `InteropEcho` jobs: for each, RPUSH {"jid": .., "args": [..]} onto
//! # the list `interop:performed`; exit 0 once K jobs are performed.
//! cargo run --example sidekiq_interop -- work --redis redis://127.0.0.1:6379/0 --count 3
//! # Enqueue K `InteropEcho` jobs with args [i, "job-i"] for i in 0..K, then exit.
//! cargo run --example sidekiq_interop -- enqueue --redis redis://127.0.0.1:6379/0 --count 3
//! # A worker for Ruby's Active Job `InteropEchoJob` (queue_adapter :sidekiq): for each, RPUSH
//! # {"job_id": .., "arguments": [id, payload]} onto `interop:performed_aj`; exit 0 after K.
//! cargo run --example sidekiq_interop -- work-active-job --redis redis://127.0.0.1:6379/0 --count 3
//! # Enqueue K Active Job `InteropEchoJob` payloads with arguments
//! # [i, {name: "job-i", tags: ["a", "b"]}] (symbol keys) for Ruby, then exit.
//! cargo run --example sidekiq_interop -- enqueue-active-job --redis redis://127.0.0.1:6379/0 --count 3
//! ```
//!
//! From Ruby: `Sidekiq::Client.push("class" => "InteropEcho", "args" => [1, {"a" => nil}])`.
//! The job takes its arguments as they are, whatever their number and JSON shape, so it
//! implements [`jobs::Job`] by hand instead of with `#[jobs::job]` (whose parameters are
//! fixed). `InteropEchoJob`, the Active Job, has fixed parameters `(id: i64, payload: Value)`:
//! Active Job hashes arrive as plain objects, GlobalIDs as their `gid://` string.
//! `--queue NAME` (default `default`) picks the queue for every command. With a `?prefix=`
//! in the URL, the lists are `<prefix>:interop:performed` and `<prefix>:interop:performed_aj`,
//! beside the jobs.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use jobs::prelude::*;
use jobs::{ArgsError, Enqueue, JobOptions, JobResult, StateKey};
use jobs_backends::redis::RedisOptions;
use serde_json::{json, Value};
use tokio::sync::Notify;

/// The wire name Ruby uses: the Ruby class name.
const NAME: &str = "InteropEcho";

/// Where each performed job is recorded.
const PERFORMED: &str = "interop:performed";

/// The Ruby Active Job class the `*-active-job` commands perform and enqueue.
const AJ_NAME: &str = "InteropEchoJob";

/// Where each performed Active Job is recorded.
const PERFORMED_AJ: &str = "interop:performed_aj";

/// What `Job::perform` returns.
type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// Echoes its arguments, unchanged, onto `interop:performed`.
struct InteropEcho {
    args: Vec<serde_json::Value>,
}

/// What the job needs from the worker: a Redis connection and the count of jobs done.
#[derive(Clone)]
struct Echo {
    redis: redis::aio::MultiplexedConnection,
    list: String,
    performed: Arc<AtomicUsize>,
    changed: Arc<Notify>,
}

impl Job for InteropEcho {
    const NAME: &'static str = NAME;

    fn options() -> JobOptions {
        JobOptions::new()
    }

    fn to_args(&self) -> Result<Vec<Value>, ArgsError> {
        Ok(self.args.clone())
    }

    fn from_args(args: &[Value]) -> Result<Self, ArgsError> {
        Ok(InteropEcho {
            args: args.to_vec(),
        })
    }

    fn required_states() -> Vec<StateKey> {
        vec![StateKey::of::<Echo>()]
    }

    fn perform(self, ctx: JobContext) -> BoxFuture<JobResult> {
        Box::pin(async move {
            let echo = ctx.state::<Echo>()?.0;
            let record = json!({ "jid": ctx.jid(), "args": self.args }).to_string();
            let mut conn = echo.redis.clone();
            redis::cmd("RPUSH")
                .arg(&echo.list)
                .arg(record)
                .query_async::<()>(&mut conn)
                .await
                .map_err(|e| Failure::from_error("redis::RedisError", &e))?;
            echo.performed.fetch_add(1, Ordering::SeqCst);
            echo.changed.notify_one();
            Ok(Outcome::Done)
        })
    }
}

/// Ruby's `InteropEchoJob < ActiveJob::Base`: records its Active Job id and arguments onto
/// `interop:performed_aj`.
#[jobs::job(name = "InteropEchoJob", active_job)]
async fn interop_echo_job(
    echo: State<Echo>,
    ctx: JobContext,
    id: i64,
    payload: Value,
) -> Result<(), redis::RedisError> {
    let job_id = ctx.active_job().map(|aj| aj.job_id);
    let record = json!({ "job_id": job_id, "arguments": [id, payload] }).to_string();
    let mut conn = echo.redis.clone();
    redis::cmd("RPUSH")
        .arg(&echo.list)
        .arg(record)
        .query_async::<()>(&mut conn)
        .await?;
    echo.performed.fetch_add(1, Ordering::SeqCst);
    echo.changed.notify_one();
    Ok(())
}

/// The parsed command line.
struct Cli {
    command: String,
    redis: String,
    count: usize,
    queue: String,
}

const USAGE: &str = "Usage: sidekiq_interop COMMAND --redis URL --count K [--queue NAME]

Commands:
  work                perform K InteropEcho jobs that Ruby Sidekiq (or `enqueue`) pushed, then stop
  enqueue             push K InteropEcho jobs for Sidekiq (or `work`) to perform
  work-active-job     perform K Active Job InteropEchoJob payloads from Ruby, then stop
  enqueue-active-job  push K Active Job InteropEchoJob payloads for Ruby to perform

Options:
  --redis URL    the Redis that Sidekiq uses, e.g. redis://127.0.0.1:6379/0
  --count K      how many jobs
  --queue NAME   the queue (default: default)
  -h, --help     print this help";

/// The commands, as typed.
const COMMANDS: &[&str] = &["work", "enqueue", "work-active-job", "enqueue-active-job"];

/// What the command line asks for: a run, or the help.
enum Parsed {
    Run(Cli),
    Help,
}

fn parse_cli() -> Result<Parsed, String> {
    if std::env::args().skip(1).any(|a| a == "-h" || a == "--help") {
        return Ok(Parsed::Help);
    }
    let mut args = std::env::args().skip(1);
    let command = args
        .next()
        .ok_or_else(|| format!("no command given\n\n{USAGE}"))?;
    if !COMMANDS.contains(&command.as_str()) {
        return Err(format!("unknown command `{command}`\n{USAGE}"));
    }
    let (mut redis, mut count, mut queue) = (None, None, "default".to_owned());
    while let Some(flag) = args.next() {
        let value = args
            .next()
            .ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))?;
        match flag.as_str() {
            "--redis" => redis = Some(value),
            "--count" => {
                count = Some(
                    value
                        .parse::<usize>()
                        .map_err(|e| format!("--count {value}: {e}"))?,
                )
            }
            "--queue" => queue = value,
            other => return Err(format!("unknown option `{other}`\n{USAGE}")),
        }
    }
    Ok(Parsed::Run(Cli {
        command,
        redis: redis.ok_or_else(|| format!("--redis is required\n{USAGE}"))?,
        count: count.ok_or_else(|| format!("--count is required\n{USAGE}"))?,
        queue,
    }))
}

/// Runs a worker for `InteropEcho` (or, with `active_job`, the Active Job `InteropEchoJob`)
/// until `count` jobs are performed, then stops it gracefully.
async fn work(cli: &Cli, active_job: bool) -> Result<(), Box<dyn std::error::Error>> {
    let opts = RedisOptions::from_url(&cli.redis)?;
    let (performed, registry, name) = if active_job {
        let r = jobs::Registry::new().with::<InteropEchoJob>()?;
        (PERFORMED_AJ, r, AJ_NAME)
    } else {
        (
            PERFORMED,
            jobs::Registry::new().with::<InteropEcho>()?,
            NAME,
        )
    };
    let list = match &opts.prefix {
        Some(prefix) => format!("{prefix}:{performed}"),
        None => performed.to_owned(),
    };
    // `opts.url` keeps the database number and drops `?prefix=`.
    let raw = redis::Client::open(opts.url.as_str())?
        .get_multiplexed_async_connection()
        .await?;
    let echo = Echo {
        redis: raw,
        list,
        performed: Arc::new(AtomicUsize::new(0)),
        changed: Arc::new(Notify::new()),
    };
    let backend = jobs_backends::connect(&cli.redis).await?;
    let worker = Worker::builder(backend)
        .registry(registry)
        .state(echo.clone())
        .queues([cli.queue.as_str()])
        .build()?;
    let handle = worker.handle();
    let mut running = tokio::spawn(worker.run());
    loop {
        if echo.performed.load(Ordering::SeqCst) >= cli.count {
            break;
        }
        tokio::select! {
            _ = echo.changed.notified() => {}
            finished = &mut running => {
                finished??;
                return Err(format!(
                    "the worker stopped after {} of {} jobs",
                    echo.performed.load(Ordering::SeqCst),
                    cli.count
                )
                .into());
            }
        }
    }
    handle.stop();
    running.await??;
    println!("performed {} {name} jobs", cli.count);
    Ok(())
}

/// Enqueues `count` jobs with args `[i, "job-i"]`.
async fn enqueue(cli: &Cli) -> Result<(), Box<dyn std::error::Error>> {
    let backend = jobs_backends::connect(&cli.redis).await?;
    let client = Client::new(backend);
    let jobs = (0..cli.count).map(|i| InteropEcho {
        args: vec![json!(i), json!(format!("job-{i}"))],
    });
    let ids = Enqueue::<InteropEcho>::new()
        .queue(cli.queue.clone())
        .client(&client)
        .enqueue_all(jobs)
        .await?;
    println!("enqueued {} {NAME} jobs", ids.len());
    Ok(())
}

/// Enqueues `count` Active Job `InteropEchoJob` payloads with arguments
/// `[i, {name: "job-i", tags: ["a", "b"]}]`, the hash's keys marked as Symbols.
async fn enqueue_active_job(cli: &Cli) -> Result<(), Box<dyn std::error::Error>> {
    let backend = jobs_backends::connect(&cli.redis).await?;
    let client = Client::new(backend);
    let job = jobs::active_job::ActiveJob::new(AJ_NAME).queue(cli.queue.clone());
    for i in 0..cli.count {
        let payload = json!({ "name": format!("job-{i}"), "tags": ["a", "b"] });
        job.perform_later(&client, (i, payload)).await?;
    }
    println!("enqueued {} {AJ_NAME} jobs", cli.count);
    Ok(())
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    jobs_examples::init_logging();
    let cli = match parse_cli() {
        Ok(Parsed::Run(cli)) => cli,
        Ok(Parsed::Help) => {
            println!("{USAGE}");
            return std::process::ExitCode::SUCCESS;
        }
        Err(message) => {
            eprintln!("{message}");
            return std::process::ExitCode::from(2);
        }
    };
    let result = match cli.command.as_str() {
        "work" => work(&cli, false).await,
        "work-active-job" => work(&cli, true).await,
        "enqueue-active-job" => enqueue_active_job(&cli).await,
        _ => enqueue(&cli).await,
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sidekiq_interop {}: {e}", cli.command);
            std::process::ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_help_starts_with_usage() {
        let first = super::USAGE.lines().find(|l| !l.trim().is_empty());
        assert!(
            first.is_some_and(|l| l.starts_with("Usage: ")),
            "{}",
            super::USAGE
        );
    }
}
