//! `jobs-bench`: the benchmark binary (scenarios `noop`, `latency`, `depth`, `io`).
//!
//! 1. Parses the options (`args.rs`) and makes a fresh isolated store for the URL (`store.rs`).
//! 2. Runs the scenario (`scenarios.rs`) with the jobs of `work.rs`, spawning worker
//!    processes of this binary for `--processes` (`child.rs`).
//! 3. Removes the store, then prints the report as one JSON object on the last line.

mod announce;
mod args;
mod ceiling;
mod child;
mod cpu;
mod flow;
mod hosts;
mod pgstats;
mod proxy;
mod report;
mod scenarios;
mod soak;
mod store;
mod work;

use anyhow::{Context, Result};

use args::{Options, Scenario};
use store::Store;

fn main() -> std::process::ExitCode {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    if args::wants_help(&argv) {
        println!("{}", args::usage());
        return std::process::ExitCode::SUCCESS;
    }
    let result = Options::parse(&argv).and_then(|opts| {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .context("starting the tokio runtime")?
            .block_on(run(opts))
    });
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("jobs-bench: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(mut opts: Options) -> Result<()> {
    match opts.scenario {
        Scenario::Worker => return child::run_child(&opts).await,
        Scenario::Proxy => return proxy::run_proxy(&opts).await,
        Scenario::CeilingPush => return ceiling::push(&opts).await,
        Scenario::CeilingIo => return ceiling::io(&opts).await,
        _ => {}
    }
    if opts.processes > 1 && matches!(opts.scenario, Scenario::Depth) {
        anyhow::bail!(
            "--processes applies to noop, io and latency; depth runs one worker in-process"
        );
    }
    if opts.netns
        && !matches!(
            opts.scenario,
            Scenario::Noop | Scenario::Io | Scenario::Latency
        )
    {
        anyhow::bail!(
            "--netns applies to noop, io and latency, whose workers can be processes of their own"
        );
    }
    let hosts = if opts.netns {
        match hosts::Hosts::create(opts.processes) {
            Ok(h) => Some(h),
            Err(e) => {
                println!(
                    "network namespaces are not available here ({e:#}); the workers run as \
                     separate processes on one network stack"
                );
                None
            }
        }
    } else {
        None
    };
    let proxy = if opts.delay_ms > 0.0 || hosts.is_some() {
        let p = proxy::Proxy::start(&opts.backend, opts.delay_ms, hosts.as_ref()).await?;
        opts.backend = p.url.clone();
        Some(p)
    } else {
        None
    };
    let store = Store::fresh(&opts.backend)?;
    println!(
        "{} on {} (isolated store {})",
        opts.scenario.name(),
        jobs::redact_url(&opts.backend),
        jobs::redact_url(&store.url)
    );
    let outcome = async {
        let backend = jobs_backends::connect(&store.url)
            .await
            .with_context(|| format!("connecting to {}", jobs::redact_url(&store.url)))?;
        match opts.scenario {
            Scenario::Noop | Scenario::Io => {
                scenarios::throughput(&opts, &store, backend, hosts.as_ref()).await
            }
            Scenario::Latency => scenarios::latency(&opts, &store, backend, hosts.as_ref()).await,
            Scenario::Depth => scenarios::depth(&opts, &store, backend).await,
            Scenario::Soak => soak::soak(&opts, &store, backend).await,
            Scenario::Flow => flow::flow(&opts, &store, backend).await,
            Scenario::Worker | Scenario::CeilingPush | Scenario::CeilingIo | Scenario::Proxy => {
                anyhow::bail!("{} does not use an isolated store", opts.scenario.name())
            }
        }
    }
    .await;
    let cleaned = store.remove().await;
    // The proxy stops (and a cluster announces its own ports again) even when the run failed.
    let trips = match proxy {
        Some(p) => Some(p.finish().await),
        None => None,
    };
    let mut report = outcome?;
    cleaned?;
    if let Some(trips) = trips {
        let trips = trips?;
        report.delay_ms = (opts.delay_ms > 0.0).then_some(opts.delay_ms);
        report.round_trips_per_job =
            (report.jobs > 0).then(|| report::round3(trips as f64 / report.jobs as f64));
    }
    report.print_json()
}
