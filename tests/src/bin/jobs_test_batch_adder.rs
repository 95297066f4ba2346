//! A process that adds members to a batch, for the batch fault test: killed mid-way and
//! started again, it resumes where the batch stands.
//!
//! ```text
//! jobs_test_batch_adder --url URL --bid BID --total N --chunk C --hold-ms H --history FILE
//! ```
//!
//! Reads how many members batch BID has, then adds `HistoryJob(i, H)` for `i` from there to
//! N, C at a time (each chunk one atomic step), recording each chunk's jids as enqueued in
//! FILE once the add returned Ok and printing `ok <members so far>` (flushed); then seals the
//! batch and prints `sealed`. Exits 1 on the first error.

use std::io::Write;

use jobs::envelope::JobEnvelope;
use jobs::Client;
use jobs_conformance::faults::fleet::{HISTORY_JOB, QUEUE};
use jobs_conformance::faults::history::{now_ms, Event, HistoryLog};

const USAGE: &str = "Usage: jobs_test_batch_adder --url URL --bid BID --total N --chunk C --hold-ms H --history FILE";

struct Cli {
    url: String,
    bid: String,
    total: u64,
    chunk: u64,
    hold: u64,
    history: String,
}

fn parse() -> Result<Cli, String> {
    let mut cli = Cli {
        url: String::new(),
        bid: String::new(),
        total: 0,
        chunk: 100,
        hold: 10,
        history: String::new(),
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args
            .next()
            .ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))?;
        let number = |v: &str| v.parse::<u64>().map_err(|e| format!("{flag} {v}: {e}"));
        match flag.as_str() {
            "--url" => cli.url = value,
            "--bid" => cli.bid = value,
            "--total" => cli.total = number(&value)?,
            "--chunk" => cli.chunk = number(&value)?.max(1),
            "--hold-ms" => cli.hold = number(&value)?,
            "--history" => cli.history = value,
            other => return Err(format!("unknown option `{other}`\n{USAGE}")),
        }
    }
    if cli.url.is_empty() || cli.bid.is_empty() || cli.history.is_empty() {
        return Err(format!("--url, --bid and --history are required\n{USAGE}"));
    }
    Ok(cli)
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let cli = parse()?;
    let backend = jobs_backends::connect(&cli.url).await?;
    let client = Client::new(backend);
    let log = HistoryLog::open(std::path::Path::new(&cli.history))?;
    let batch = client.batch(cli.bid.clone());
    let status = batch
        .status()
        .await?
        .ok_or_else(|| format!("batch {} does not exist", cli.bid))?;
    let mut at = status.total();
    let mut out = std::io::stdout().lock();
    while at < cli.total {
        let end = (at + cli.chunk).min(cli.total);
        let jobs: Vec<JobEnvelope> = (at..end)
            .map(|i| JobEnvelope::new(HISTORY_JOB, QUEUE, vec![i.into(), cli.hold.into()]))
            .collect();
        let jids = batch.push(jobs).await?;
        for jid in jids {
            log.record(&Event::Enqueued {
                jid,
                at_ms: now_ms(),
            })?;
        }
        at = end;
        writeln!(out, "ok {at}")?;
        out.flush()?;
    }
    batch.seal().await?;
    writeln!(out, "sealed")?;
    out.flush()?;
    Ok(())
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    if std::env::args().skip(1).any(|a| a == "-h" || a == "--help") {
        println!("{USAGE}");
        return std::process::ExitCode::SUCCESS;
    }
    match run().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("jobs_test_batch_adder: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
