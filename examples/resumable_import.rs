//! Resumable import: 100,000 rows in chunks, a checkpoint after each, exactly once in the
//! output file however often the worker is killed or stopped.
//!
//! `cargo run --example resumable_import` enqueues the import, works it and checks the
//! output (SQLite file `resumable_import.db`; set `JOBS_URL` for another backend). Run the
//! steps apart to kill the worker in the middle:
//!
//! ```text
//! cargo run --example resumable_import -- enqueue   # a fresh import (output file removed)
//! cargo run --example resumable_import -- work      # Ctrl-C or kill -9 it mid-way, run it again
//! cargo run --example resumable_import -- check     # every row id exactly once
//! ```
//!
//! Exactly once: the job writes each chunk's row ids to the file, syncs it, then saves the
//! cursor `(next row, file length)` with the job. A run that is killed after writing a chunk
//! but before its checkpoint left rows the store does not know about; the next run cuts the
//! file back to the saved length before it goes on, so those rows are written once more and
//! only once. Settings: `IMPORT_OUT` (output file), `IMPORT_ROWS`, `IMPORT_CHUNK`,
//! `IMPORT_PAUSE_MS` (a pause per chunk, to watch it), `IMPORT_LEASE_TTL_MS` (how soon
//! another worker takes over a killed one's job; default 60 s).

use std::fs::OpenOptions;
use std::io::{Seek, SeekFrom, Write};
use std::sync::Arc;
use std::time::Duration;

use jobs::prelude::*;
use jobs_examples::{backend_url, exit_on_error, init_logging};
use serde::{Deserialize, Serialize};

/// Why the import stopped.
#[derive(Debug, thiserror::Error)]
enum ImportError {
    /// A checkpoint could not go on (or the worker is stopping: the job is requeued).
    #[error(transparent)]
    Step(#[from] jobs::StepError),
    /// The output file could not be written.
    #[error("output file {path}: {source}")]
    Output {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

/// Where the import is: the next row to write and the output file's length up to it.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
struct Cursor {
    next_row: u64,
    bytes: u64,
}

/// Told when the import completed, so `work` can stop its worker.
#[derive(Clone, Default)]
struct Finished(Arc<tokio::sync::Notify>);

/// Writes row ids `0..rows` to `out`, one per line, `chunk` at a time, with a checkpoint
/// after each chunk.
#[jobs::job(name = "ResumableImport", queue = "import")]
async fn resumable_import(
    ctx: JobContext,
    finished: State<Finished>,
    out: String,
    rows: u64,
    chunk: u64,
    pause_ms: u64,
) -> Result<(), ImportError> {
    let io = |source| ImportError::Output {
        path: out.clone(),
        source,
    };
    let mut it = ctx.iterate(
        "rows",
        Cursor {
            next_row: 0,
            bytes: 0,
        },
    )?;
    if !it.is_done() {
        let mut at = *it.cursor();
        if at.next_row > 0 {
            println!("resuming at row {}", at.next_row);
        }
        // Rows written after the last checkpoint are not in the store's cursor: cut them.
        let mut file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&out)
            .map_err(io)?;
        file.set_len(at.bytes).map_err(io)?;
        file.seek(SeekFrom::Start(at.bytes)).map_err(io)?;
        while at.next_row < rows {
            let end = (at.next_row + chunk.max(1)).min(rows);
            let mut lines = String::new();
            for id in at.next_row..end {
                lines.push_str(&id.to_string());
                lines.push('\n');
            }
            file.write_all(lines.as_bytes()).map_err(io)?;
            file.sync_data().map_err(io)?;
            at = Cursor {
                next_row: end,
                bytes: at.bytes + lines.len() as u64,
            };
            it.checkpoint(at).await?;
            if pause_ms > 0 {
                tokio::time::sleep(Duration::from_millis(pause_ms)).await;
            }
        }
        it.complete().await?;
    }
    println!("import done: {rows} rows");
    finished.0 .0.notify_one();
    Ok(())
}

/// The example's settings, from the environment.
struct Settings {
    url: String,
    out: String,
    rows: u64,
    chunk: u64,
    pause_ms: u64,
    lease_ttl: Duration,
}

impl Settings {
    fn from_env() -> Result<Self, String> {
        let number = |name: &str, default: u64| -> Result<u64, String> {
            match std::env::var(name) {
                Ok(v) => v
                    .parse()
                    .map_err(|_| format!("{name}={v:?} is not a whole number")),
                Err(_) => Ok(default),
            }
        };
        Ok(Settings {
            url: backend_url("sqlite://resumable_import.db"),
            out: std::env::var("IMPORT_OUT").unwrap_or_else(|_| "resumable_import.out".into()),
            rows: number("IMPORT_ROWS", 100_000)?,
            chunk: number("IMPORT_CHUNK", 1_000)?,
            pause_ms: number("IMPORT_PAUSE_MS", 0)?,
            lease_ttl: Duration::from_millis(number("IMPORT_LEASE_TTL_MS", 60_000)?),
        })
    }
}

/// A fresh import: the output file removed, the job enqueued.
async fn enqueue(s: &Settings) -> Result<(), Box<dyn std::error::Error>> {
    match std::fs::remove_file(&s.out) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e.into()),
        _ => {}
    }
    let client = Client::new(jobs_backends::connect(&s.url).await?);
    let job = ResumableImport::new(s.out.clone(), s.rows, s.chunk, s.pause_ms);
    let jid = client
        .enqueue(job, &jobs::EnqueueOptions::default())
        .await?
        .into_jid();
    println!("enqueued import {jid}: {} rows into {}", s.rows, s.out);
    Ok(())
}

/// Works the import queue until the import completes (or SIGINT/SIGTERM stops the worker:
/// the job stops at its next checkpoint and waits in its queue to resume).
async fn work(s: &Settings) -> Result<(), Box<dyn std::error::Error>> {
    let finished = Finished::default();
    let worker = Worker::builder(jobs_backends::connect(&s.url).await?)
        .queues(["import"])
        .state(finished.clone())
        .lease_ttl(s.lease_ttl)
        .heartbeat_interval(s.lease_ttl / 5)
        .poll_interval(Duration::from_millis(100))
        .build()?;
    let handle = worker.handle();
    tokio::spawn(async move {
        finished.0.notified().await;
        handle.stop();
    });
    println!("worker ready");
    worker.run().await?;
    println!("worker stopped");
    Ok(())
}

/// Checks the output holds each row id `0..rows` exactly once, in order.
fn check(s: &Settings) -> Result<(), Box<dyn std::error::Error>> {
    let text = std::fs::read_to_string(&s.out)
        .map_err(|e| format!("cannot read the output file {}: {e}", s.out))?;
    let mut expected = 0u64;
    for (n, line) in text.lines().enumerate() {
        let id: u64 = line
            .parse()
            .map_err(|_| format!("{} line {}: {line:?} is not a row id", s.out, n + 1))?;
        if id != expected {
            return Err(format!(
                "{} line {}: row {id} where row {expected} was due (a row lost or written twice)",
                s.out,
                n + 1
            )
            .into());
        }
        expected += 1;
    }
    if expected != s.rows {
        return Err(format!("{} holds rows 0..{expected} of {}", s.out, s.rows).into());
    }
    println!("ok: {} rows, each exactly once", s.rows);
    Ok(())
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let s = Settings::from_env()?;
    match std::env::args().nth(1).as_deref() {
        Some("enqueue") => enqueue(&s).await,
        Some("work") => work(&s).await,
        Some("check") => check(&s),
        None => {
            enqueue(&s).await?;
            work(&s).await?;
            check(&s)
        }
        Some(other) => Err(format!(
            "unknown command `{other}`: use enqueue, work or check (or none for all three)"
        )
        .into()),
    }
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    init_logging();
    exit_on_error(run().await)
}
