//! Worker processes of this same binary, for `--processes P`.
//!
//! 1. [`Children::spawn`] starts P copies as `jobs-bench worker --backend URL ...`, each
//!    connecting to the same isolated store, with a pipe on stdin; with `--netns`, each in
//!    its own network namespace (`hosts.rs`).
//! 2. A child works until its stdin closes, stops gracefully, and prints `peak_rss_kb=N`
//!    and the network namespace it ran in. With `--role latency` it also prints
//!    `start_unix_ns=N` as each job starts, which [`Children::stream_starts`] hands to the
//!    latency scenario while the children run.
//! 3. [`Children::finish`] closes the pipes, waits (bounded) and collects what each printed.

use std::process::Stdio;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{bail, Context, Result};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::args::Options;
use crate::hosts::Hosts;
use crate::report::{peak_rss_kb, reset_peak_rss};
use crate::work::{queue_names, worker, Probe};

/// Running worker processes.
pub struct Children {
    procs: Vec<Child>,
    /// Per child, once [`Children::stream_starts`] took its output: the reader, which gives
    /// back every line that was not a start.
    rest: Vec<Option<JoinHandle<String>>>,
}

/// The line a child prints as a job starts, before the start's wall-clock time in ns.
const START: &str = "start_unix_ns=";

/// `at` (an `Instant` of this process) as nanoseconds since the Unix epoch, so processes
/// on one machine can compare their times.
pub fn unix_ns(at: Instant) -> u128 {
    let wall = SystemTime::now()
        .checked_sub(at.elapsed())
        .unwrap_or(SystemTime::UNIX_EPOCH);
    wall.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
}

impl Children {
    /// Starts `n` worker processes on `url`.
    pub fn spawn(
        n: usize,
        url: &str,
        concurrency: usize,
        queues: usize,
        role: &str,
        hosts: Option<&Hosts>,
    ) -> Result<Children> {
        let exe = std::env::current_exe().context("locating this binary to spawn workers")?;
        let mut procs = Vec::with_capacity(n);
        for i in 0..n {
            let mut cmd = match hosts {
                Some(h) => h.command(i, &exe)?,
                None => Command::new(&exe),
            };
            let child = cmd
                .args(["worker", "--backend", url, "--role", role])
                .args(["--concurrency", &concurrency.to_string()])
                .args(["--queues", &queues.to_string()])
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .kill_on_drop(true)
                .spawn()
                .with_context(|| format!("spawning worker process {i}"))?;
            procs.push(child);
        }
        let rest = procs.iter().map(|_| None).collect();
        Ok(Children { procs, rest })
    }

    /// The start times (ns since the Unix epoch) of the jobs every child runs, as they
    /// start; each child's other lines are kept for [`Children::finish`].
    pub fn stream_starts(&mut self) -> mpsc::UnboundedReceiver<u128> {
        let (tx, rx) = mpsc::unbounded_channel();
        for (child, rest) in self.procs.iter_mut().zip(&mut self.rest) {
            let Some(stdout) = child.stdout.take() else {
                continue;
            };
            let tx = tx.clone();
            *rest = Some(tokio::spawn(async move {
                let mut lines = BufReader::new(stdout).lines();
                let mut other = String::new();
                while let Ok(Some(line)) = lines.next_line().await {
                    match line.strip_prefix(START).and_then(|v| v.parse().ok()) {
                        Some(ns) => {
                            let _ = tx.send(ns);
                        }
                        None => {
                            other.push_str(&line);
                            other.push('\n');
                        }
                    }
                }
                other
            }));
        }
        rx
    }

    /// Stops every child; gives each one's peak RSS in KiB and the network namespace it ran
    /// in (`/proc/self/ns/net`, as the child read it).
    pub async fn finish(mut self) -> Result<Finished> {
        let mut peaks = Vec::new();
        let mut namespaces = Vec::new();
        for child in &mut self.procs {
            drop(child.stdin.take());
        }
        for (i, (child, rest)) in self.procs.iter_mut().zip(&mut self.rest).enumerate() {
            let mut out = String::new();
            if let Some(mut stdout) = child.stdout.take() {
                let read = stdout.read_to_string(&mut out);
                tokio::time::timeout(Duration::from_secs(20), read)
                    .await
                    .with_context(|| format!("worker process {i} did not stop in 20 s"))?
                    .with_context(|| format!("reading worker process {i}'s output"))?;
            } else if let Some(reader) = rest.take() {
                out = tokio::time::timeout(Duration::from_secs(20), reader)
                    .await
                    .with_context(|| format!("worker process {i} did not stop in 20 s"))?
                    .with_context(|| format!("reading worker process {i}'s output"))?;
            }
            let status = tokio::time::timeout(Duration::from_secs(5), child.wait())
                .await
                .with_context(|| format!("worker process {i} did not exit"))??;
            if !status.success() {
                bail!("worker process {i} exited with {status}");
            }
            let peak: Option<u64> = out
                .lines()
                .filter_map(|l| l.strip_prefix("peak_rss_kb="))
                .find_map(|v| v.trim().parse().ok());
            peaks.extend(peak);
            namespaces.extend(
                out.lines()
                    .find_map(|l| l.strip_prefix("net_ns="))
                    .map(|v| v.trim().to_owned()),
            );
        }
        Ok(Finished { peaks, namespaces })
    }
}

/// What the stopped children reported.
pub struct Finished {
    /// Each child's peak RSS in KiB.
    pub peaks: Vec<u64>,
    /// Each child's network namespace (`net:[inode]`).
    pub namespaces: Vec<String>,
}

/// This process's network namespace, `net:[inode]`, where /proc has it.
pub fn net_namespace() -> Option<String> {
    std::fs::read_link("/proc/self/ns/net")
        .ok()
        .map(|p| p.to_string_lossy().into_owned())
}

/// The child's side: work on `--backend` until stdin closes (or the time limit).
pub async fn run_child(opts: &Options) -> Result<()> {
    let backend = jobs_backends::connect(&opts.backend)
        .await
        .with_context(|| format!("worker connecting to {}", jobs::redact_url(&opts.backend)))?;
    reset_peak_rss();
    let probe = Probe::new();
    let queues = queue_names(opts.queues);
    let w = worker(
        backend,
        &probe,
        &queues,
        opts.concurrency,
        opts.role == "io",
        false,
    )?;
    if opts.role == "latency" {
        let mut starts = probe.watch_starts();
        tokio::spawn(async move {
            while let Some(at) = starts.recv().await {
                println!("{START}{}", unix_ns(at));
            }
        });
    }
    let handle = w.handle();
    let running = tokio::spawn(w.run());
    let mut stdin = BufReader::new(tokio::io::stdin()).lines();
    let deadline = Instant::now() + opts.timeout;
    // Bounded by the time limit: any line or EOF on stdin means stop.
    let _ = tokio::time::timeout_at(deadline.into(), stdin.next_line()).await;
    handle.stop();
    tokio::time::timeout(Duration::from_secs(15), running)
        .await
        .context("worker did not stop in 15 s")?
        .context("worker task failed")?
        .context("worker failed")?;
    if let Some(kb) = peak_rss_kb() {
        println!("peak_rss_kb={kb}");
    }
    if let Some(ns) = net_namespace() {
        println!("net_ns={ns}");
    }
    Ok(())
}
