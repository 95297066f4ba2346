//! An enqueueing process for multi-process tests, usable with every backend's URL.
//!
//! ```text
//! jobs_test_enqueuer --url URL --from A --count N [--hold-ms H]
//! ```
//!
//! Enqueues `KillTestJob(i, H)` for `i` in `A..A+N`, one job per call, and prints
//! `ok <i> <jid>` (flushed) after each enqueue the backend accepted, so a test that kills
//! this process knows exactly which enqueues returned Ok. Exits 1 on the first error.

use std::io::Write;

use jobs::envelope::JobEnvelope;
use jobs::Client;

const USAGE: &str = "Usage: jobs_test_enqueuer --url URL --from A --count N [--hold-ms H]";

fn parse() -> Result<(String, u64, u64, u64), String> {
    let (mut url, mut from, mut count, mut hold) = (String::new(), 0u64, 0u64, 0u64);
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args
            .next()
            .ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))?;
        let number = |v: &str| v.parse::<u64>().map_err(|e| format!("{flag} {v}: {e}"));
        match flag.as_str() {
            "--url" => url = value,
            "--from" => from = number(&value)?,
            "--count" => count = number(&value)?,
            "--hold-ms" => hold = number(&value)?,
            other => return Err(format!("unknown option `{other}`\n{USAGE}")),
        }
    }
    if url.is_empty() {
        return Err(format!("--url is required\n{USAGE}"));
    }
    Ok((url, from, count, hold))
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let (url, from, count, hold) = parse()?;
    let backend = jobs_backends::connect(&url).await?;
    let client = Client::new(backend);
    let mut out = std::io::stdout().lock();
    for i in from..from + count {
        let job = JobEnvelope::new("KillTestJob", "default", vec![i.into(), hold.into()]);
        let jid = job.jid.clone();
        client.push(vec![job]).await?;
        writeln!(out, "ok {i} {jid}")?;
        out.flush()?;
    }
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
            eprintln!("jobs_test_enqueuer: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
