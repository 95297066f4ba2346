//! Command-line options: `jobs-bench <scenario> --backend URL [--jobs N] ...`, parsed by clap.

use std::time::Duration;

use anyhow::{bail, Result};
use clap::{Parser, ValueEnum};

/// The scenarios, plus the hidden `worker` role a child process plays for `--processes`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
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
    #[value(hide = true)]
    Worker,
    /// Sequential `LPUSH` on a raw connection: the floor under `noop --single` on Redis.
    CeilingPush,
    /// The `io` workload as bare tokio tasks: the framework's cost taken away.
    CeilingIo,
    /// The delaying proxy (internal): forwards to `--upstream` until its stdin closes.
    #[value(hide = true)]
    Proxy,
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
            Scenario::Proxy => "proxy",
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
    /// Round trip added by a delaying proxy in front of the store, in ms (0: none).
    pub delay_ms: f64,
    /// For the `proxy` role: the server it forwards to.
    pub upstream: Option<String>,
    /// Run each worker process (`--processes`) in a network namespace of its own.
    pub netns: bool,
    /// For the `proxy` role: the namespaces it also listens in.
    pub proxy_netns: Vec<String>,
    /// noop and io: how many queues the jobs are spread over (and the workers listen on).
    pub queues: usize,
    pub timeout: Duration,
    /// For the `worker` role: the job kind it runs (`noop` or `io`), or `latency` (noop jobs,
    /// each start printed as it happens).
    pub role: String,
    /// soak: how long the steady phase lasts.
    pub duration: Duration,
    /// soak: the interval between samples.
    pub every: Duration,
    /// flow: the phases to run after `plain` (empty: all of them).
    pub phases: Vec<String>,
    /// flow: how many times plain and the phases run, alternating; the medians are reported.
    pub rounds: u32,
}

/// The usage lines `--help` and every usage error begin with.
const USAGE_LINES: &str = "jobs-bench <noop|latency|depth|io|soak|flow> --backend URL [options]
       jobs-bench ceiling-push --backend redis://... [--jobs N]
       jobs-bench ceiling-io [--jobs N] [--concurrency C]";

/// What each scenario measures, after the options.
const SCENARIOS: &str = "\
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
  ceiling-io        the io workload as bare tokio tasks: the framework's cost taken away";

/// Usage first, then what the command does, then the scenarios and options.
const HELP_TEMPLATE: &str =
    "{usage-heading} {usage}\n\n{about-with-newline}\n{all-args}{after-help}";

/// The command line as clap reads it; [`Options::parse`] fills in the scenario's defaults.
#[derive(Debug, Parser)]
#[command(
    name = "jobs-bench",
    about = "Benchmarks of the jobs framework: one scenario on one backend; the report is the last line, as JSON.",
    override_usage = USAGE_LINES,
    help_template = HELP_TEMPLATE,
    after_help = SCENARIOS,
    disable_version_flag = true
)]
struct Cli {
    /// The scenario
    #[arg(value_enum, value_name = "SCENARIO", hide_possible_values = true)]
    scenario: Scenario,
    /// memory://, redis://HOST[:PORT][/DB], postgres://USER@HOST/DB or sqlite://ANY (a temp
    /// file is used)
    #[arg(long, value_name = "URL", default_value = "memory://")]
    backend: String,
    /// Jobs to run [default: noop 10000, io 20000]
    #[arg(long, value_name = "N", value_parser = whole)]
    jobs: Option<u64>,
    /// Worker concurrency [default: noop/depth 50, io 500, latency 10]
    #[arg(long, value_name = "C", value_parser = whole)]
    concurrency: Option<u64>,
    /// Worker processes of this binary (1: the worker runs in-process)
    #[arg(long, value_name = "P", value_parser = whole, default_value = "1")]
    processes: u64,
    /// noop: enqueue one job at a time, sequentially, instead of in bulk
    #[arg(long)]
    single: bool,
    /// latency: jobs enqueued one at a time
    #[arg(long, value_name = "S", value_parser = whole, default_value = "1000")]
    samples: u64,
    /// depth: jobs already queued
    #[arg(long, value_name = "Q", value_parser = whole, default_value = "1000")]
    queued: u64,
    /// depth: jobs timed while the depth is kept at or above Q/2
    #[arg(long, value_name = "M", value_parser = whole, default_value = "20000")]
    measure: u64,
    /// Jobs per bulk enqueue
    #[arg(long, value_name = "B", value_parser = whole, default_value = "1000")]
    batch: u64,
    /// Put a delaying proxy (a process of its own) in front of a redis:// or postgres://
    /// store, adding D ms to every round trip, and report round trips per job
    #[arg(long, value_name = "D", default_value = "0")]
    delay_ms: f64,
    /// The server the proxy forwards to (internal)
    #[arg(long, hide = true)]
    upstream: Option<String>,
    /// noop, io, latency: run each worker process in a network namespace of its own, a "host" whose
    /// only way to the store is the proxy (`ip netns`, as root; where namespaces are not
    /// permitted the workers run as separate processes and the report says so)
    #[arg(long)]
    netns: bool,
    /// The namespaces the proxy also listens in (internal)
    #[arg(long, hide = true, value_delimiter = ',')]
    proxy_netns: Vec<String>,
    /// noop, io: spread the jobs over Q queues (q0..), round-robin by bulk batch, and work
    /// all of them (on shards or a cluster, queues are what spread over servers)
    #[arg(long, value_name = "Q", value_parser = whole, default_value = "1")]
    queues: u64,
    /// Limit of the whole run, in seconds
    #[arg(long, value_name = "SECS", value_parser = whole, default_value = "300")]
    timeout: u64,
    /// The job kind a `worker` child runs (internal)
    #[arg(long, hide = true, default_value = "noop")]
    role: String,
    /// soak: length of the steady phase after the retry storm of --jobs, in seconds
    #[arg(long, value_name = "SECS", value_parser = whole, default_value = "60")]
    duration: u64,
    /// soak: seconds between samples
    #[arg(long, value_name = "SECS", value_parser = whole, default_value = "10")]
    every: u64,
    /// flow: the phases run after plain, comma-separated [default: unique,priority,limited,hot,hot+10,batch]
    #[arg(long, value_name = "LIST", value_delimiter = ',')]
    phases: Vec<String>,
    /// flow: run plain and the phases this many times, alternating, and report each phase's
    /// median ratio to the plain run of its own round (one run is at the mercy of the
    /// machine's noise)
    #[arg(long, value_name = "N", value_parser = whole, default_value = "1")]
    rounds: u64,
}

/// A whole number, with `_` or `,` allowed between digits (`10_000`, `10,000`).
fn whole(value: &str) -> Result<u64, String> {
    value
        .replace(['_', ','], "")
        .parse::<u64>()
        .map_err(|_| format!("`{value}` is not a whole number"))
}

/// What `--help` prints, usage first.
pub fn usage() -> String {
    <Cli as clap::CommandFactory>::command()
        .render_help()
        .to_string()
}

/// True when `args` (without the program name) ask for the help: `help` as the scenario,
/// or `-h`/`--help` anywhere.
pub fn wants_help(args: &[String]) -> bool {
    args.first().is_some_and(|a| a == "help") || args.iter().any(|a| a == "-h" || a == "--help")
}

impl Options {
    /// Parses `args` (without the program name).
    pub fn parse(args: &[String]) -> Result<Options> {
        let argv = std::iter::once("jobs-bench").chain(args.iter().map(String::as_str));
        let cli = match Cli::try_parse_from(argv) {
            Ok(cli) => cli,
            Err(e) => {
                use clap::error::{ContextKind, ContextValue, ErrorKind};
                let scenario = args.first().filter(|a| !a.starts_with('-'));
                let bad = match e.get(ContextKind::InvalidValue) {
                    Some(ContextValue::String(v)) => Some(v.as_str()),
                    _ => None,
                };
                if let (ErrorKind::InvalidValue, Some(s)) = (e.kind(), scenario) {
                    if bad == Some(s.as_str()) {
                        bail!("unknown scenario `{s}`\n\n{}", usage());
                    }
                }
                if e.kind() == ErrorKind::MissingRequiredArgument && args.is_empty() {
                    bail!("no scenario given\n\n{}", usage());
                }
                bail!(
                    "{}",
                    e.render()
                        .to_string()
                        .trim_start_matches("error: ")
                        .trim_end()
                );
            }
        };
        let scenario = cli.scenario;
        let o = Options {
            scenario,
            backend: cli.backend,
            jobs: cli
                .jobs
                .unwrap_or(if matches!(scenario, Scenario::Io | Scenario::CeilingIo) {
                    20_000
                } else {
                    10_000
                }),
            concurrency: cli.concurrency.map_or(
                match scenario {
                    Scenario::Io | Scenario::CeilingIo => 500,
                    Scenario::Latency => 10,
                    _ => 50,
                },
                |c| c as usize,
            ),
            processes: cli.processes as usize,
            single: cli.single,
            samples: cli.samples,
            queued: cli.queued,
            measure: cli.measure,
            batch: cli.batch as usize,
            queues: cli.queues.max(1) as usize,
            delay_ms: cli.delay_ms,
            upstream: cli.upstream,
            netns: cli.netns,
            proxy_netns: cli.proxy_netns,
            timeout: Duration::from_secs(cli.timeout),
            role: cli.role,
            duration: Duration::from_secs(cli.duration),
            every: Duration::from_secs(cli.every.max(1)),
            phases: cli.phases.iter().map(|p| p.trim().to_owned()).collect(),
            rounds: u32::try_from(cli.rounds.clamp(1, 100)).unwrap_or(1),
        };
        if o.concurrency == 0 || o.processes == 0 || o.batch == 0 {
            bail!("--concurrency, --processes and --batch must be at least 1");
        }
        if o.jobs == 0 || o.samples == 0 || o.queued == 0 || o.measure == 0 {
            bail!("--jobs, --samples, --queued and --measure must be at least 1");
        }
        Ok(o)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Options> {
        let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
        Options::parse(&args)
    }

    #[test]
    fn the_command_line_is_consistent() {
        <Cli as clap::CommandFactory>::command().debug_assert();
    }

    #[test]
    fn defaults_follow_the_scenario_and_numbers_take_separators() {
        let io = parse(&["io"]).map_err(|e| e.to_string());
        let io = io
            .as_ref()
            .map(|o| (o.jobs, o.concurrency, o.backend.as_str()));
        assert_eq!(io, Ok((20_000, 500, "memory://")));
        let o = parse(&[
            "noop",
            "--jobs",
            "10_000",
            "--single",
            "--backend",
            "redis://x",
        ]);
        let o = o.map_err(|e| e.to_string());
        assert_eq!(
            o.as_ref().map(|o| (o.jobs, o.single, o.concurrency)),
            Ok((10_000, true, 50))
        );
        let flow = parse(&["flow", "--phases", "unique, hot"]).map_err(|e| e.to_string());
        assert_eq!(
            flow.map(|o| o.phases),
            Ok(vec!["unique".to_owned(), "hot".to_owned()])
        );
        let child = parse(&["worker", "--backend", "memory://", "--role", "io"]);
        assert_eq!(
            child.map(|o| o.role).map_err(|e| e.to_string()),
            Ok("io".to_owned())
        );
    }

    #[test]
    fn mistakes_name_themselves() {
        let err = |args: &[&str]| parse(args).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err(&["nop"]).starts_with("unknown scenario `nop`\n\nUsage: jobs-bench"));
        assert!(err(&[]).starts_with("no scenario given"));
        assert!(err(&["noop", "--jobs", "ten"]).contains("`ten` is not a whole number"));
        assert!(err(&["noop", "--bogus"]).contains("--bogus"));
        assert!(err(&["noop", "--jobs", "0"]).contains("must be at least 1"));
    }
}
