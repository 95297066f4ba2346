//! Command-line options: `jobs-bench <scenario> --backend URL [--jobs N] ...`, parsed by hand.

use std::time::Duration;

use anyhow::{bail, Context, Result};

/// The scenarios, plus the hidden `worker` role a child process plays for `--processes`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scenario {
    /// Bulk (or `--single`) enqueue N no-op jobs, then time the worker(s) performing them.
    Noop,
    /// Enqueue-to-start latency of one job at a time to an idle worker.
    Latency,
    /// Process rate with `--queued` jobs already waiting.
    Depth,
    /// Jobs awaiting 5 ms each, 1% failing once and retried.
    Io,
    /// A retry storm of `--jobs` jobs failing twice each, then `--duration` of steady load.
    Soak,
    /// Unique, duplicate and prioritized jobs beside plain ones, in one run.
    Flow,
    /// A child worker process (internal): works until its stdin closes.
    Worker,
    /// Sequential `LPUSH` on a raw connection: the floor under `noop --single` on Redis.
    CeilingPush,
    /// The `io` workload as bare tokio tasks: the framework's cost taken away.
    CeilingIo,
}

impl Scenario {
    /// The scenario's name as typed.
    pub fn name(self) -> &'static str {
        match self {
            Scenario::Noop => "noop",
            Scenario::Latency => "latency",
            Scenario::Depth => "depth",
            Scenario::Io => "io",
            Scenario::Soak => "soak",
            Scenario::Flow => "flow",
            Scenario::Worker => "worker",
            Scenario::CeilingPush => "ceiling-push",
            Scenario::CeilingIo => "ceiling-io",
        }
    }
}

/// Every option; each scenario reads the ones it needs.
#[derive(Debug, Clone)]
pub struct Options {
    pub scenario: Scenario,
    pub backend: String,
    pub jobs: u64,
    pub concurrency: usize,
    pub processes: usize,
    pub single: bool,
    pub samples: u64,
    pub queued: u64,
    pub measure: u64,
    pub batch: usize,
    pub timeout: Duration,
    /// For the `worker` role: the job kind it runs (`noop` or `io`).
    pub role: String,
    /// soak: how long the steady phase lasts.
    pub duration: Duration,
    /// soak: the interval between samples.
    pub every: Duration,
    /// flow: the phases to run after `plain` (empty: all of them).
    pub phases: Vec<String>,
}

/// What `--help` prints, usage first.
pub const USAGE: &str =
    "Usage: jobs-bench <noop|latency|depth|io|soak|flow> --backend URL [options]
       jobs-bench ceiling-push --backend redis://... [--jobs N]
       jobs-bench ceiling-io [--jobs N] [--concurrency C]

Scenarios:
  noop              enqueue N no-op jobs in bulk (or --single), then time the worker(s)
  latency           enqueue-to-start latency of one job at a time to an idle worker
  depth             process rate with --queued jobs already waiting
  io                jobs awaiting 5 ms each, 1% failing once and retried
  soak              a retry storm of --jobs jobs failing twice each, then --duration of
                    steady load
  flow              plain, unique, duplicate, prioritized and limited jobs side by side
                    (--jobs each)
  ceiling-push      sequential LPUSH on a raw Redis connection: the floor under noop --single
  ceiling-io        the io workload as bare tokio tasks: the framework's cost taken away

Options:
  --backend URL     memory://, redis://HOST[:PORT][/DB], postgres://USER@HOST/DB or
                    sqlite://ANY (a temp file is used); default memory://
  --jobs N          jobs to run (noop: 10000, io: 20000)
  --concurrency C   worker concurrency (noop/depth: 50, io: 500, latency: 10)
  --processes P     worker processes of this binary (default 1: the worker runs in-process)
  --single          noop: enqueue one job at a time, sequentially, instead of in bulk
  --samples S       latency: jobs enqueued one at a time (default 1000)
  --queued Q        depth: jobs already queued (default 1000)
  --measure M       depth: jobs timed while the depth is kept at or above Q/2 (default 20000)
  --batch B         jobs per bulk enqueue (default 1000)
  --timeout SECS    limit of the whole run (default 300)
  --duration SECS   soak: length of the steady phase after the retry storm of --jobs (default 60)
  --every SECS      soak: seconds between samples (default 10)
  --phases LIST     flow: the phases run after plain, comma-separated (default: unique,
                    priority,limited,hot,hot+10,batch)
  -h, --help        print this help";

/// True when `args` (without the program name) ask for the help: `help` as the scenario,
/// or `-h`/`--help` anywhere.
pub fn wants_help(args: &[String]) -> bool {
    args.first().is_some_and(|a| a == "help") || args.iter().any(|a| a == "-h" || a == "--help")
}

impl Options {
    /// Parses `args` (without the program name).
    pub fn parse(args: &[String]) -> Result<Options> {
        let Some(first) = args.first() else {
            bail!("no scenario given\n{USAGE}");
        };
        let scenario = match first.as_str() {
            "noop" => Scenario::Noop,
            "latency" => Scenario::Latency,
            "depth" => Scenario::Depth,
            "io" => Scenario::Io,
            "soak" => Scenario::Soak,
            "flow" => Scenario::Flow,
            "worker" => Scenario::Worker,
            "ceiling-push" => Scenario::CeilingPush,
            "ceiling-io" => Scenario::CeilingIo,
            other => bail!("unknown scenario `{other}`\n{USAGE}"),
        };
        let mut o = Options {
            scenario,
            backend: "memory://".to_owned(),
            jobs: if matches!(scenario, Scenario::Io | Scenario::CeilingIo) {
                20_000
            } else {
                10_000
            },
            concurrency: match scenario {
                Scenario::Io | Scenario::CeilingIo => 500,
                Scenario::Latency => 10,
                _ => 50,
            },
            processes: 1,
            single: false,
            samples: 1000,
            queued: 1000,
            measure: 20_000,
            batch: 1000,
            timeout: Duration::from_secs(300),
            role: "noop".to_owned(),
            duration: Duration::from_secs(60),
            every: Duration::from_secs(10),
            phases: Vec::new(),
        };
        let mut it = args[1..].iter();
        while let Some(flag) = it.next() {
            if flag == "--single" {
                o.single = true;
                continue;
            }
            let value = it
                .next()
                .with_context(|| format!("option {flag} needs a value\n{USAGE}"))?;
            let num = || -> Result<u64> {
                value
                    .replace(['_', ','], "")
                    .parse::<u64>()
                    .with_context(|| format!("option {flag}: `{value}` is not a whole number"))
            };
            match flag.as_str() {
                "--backend" => o.backend = value.clone(),
                "--jobs" => o.jobs = num()?,
                "--concurrency" => o.concurrency = num()? as usize,
                "--processes" => o.processes = num()? as usize,
                "--samples" => o.samples = num()?,
                "--queued" => o.queued = num()?,
                "--measure" => o.measure = num()?,
                "--batch" => o.batch = num()? as usize,
                "--timeout" => o.timeout = Duration::from_secs(num()?),
                "--role" => o.role = value.clone(),
                "--duration" => o.duration = Duration::from_secs(num()?),
                "--every" => o.every = Duration::from_secs(num()?.max(1)),
                "--phases" => o.phases = value.split(',').map(|p| p.trim().to_owned()).collect(),
                other => bail!("unknown option `{other}`\n{USAGE}"),
            }
        }
        if o.concurrency == 0 || o.processes == 0 || o.batch == 0 {
            bail!("--concurrency, --processes and --batch must be at least 1");
        }
        if o.jobs == 0 || o.samples == 0 || o.queued == 0 || o.measure == 0 {
            bail!("--jobs, --samples, --queued and --measure must be at least 1");
        }
        Ok(o)
    }
}
