//! `jobs status` and `jobs queues`: totals, queues and processes at a glance.

use std::io::Write;

use chrono::Utc;
use jobs::backend::{ProcessRecord, QueueInfo, QueueListParams, Stats};
use serde::Serialize;

use super::Ctx;
use crate::error::CliError;
use crate::output::table::{Align, Table};
use crate::output::{self, ago, rfc3339};

/// A queue as JSON.
#[derive(Debug, Serialize)]
struct QueueJson<'a> {
    name: &'a str,
    size: u64,
    latency_secs: f64,
    paused: bool,
}

impl<'a> QueueJson<'a> {
    fn new(q: &'a QueueInfo) -> Self {
        QueueJson {
            name: &q.name,
            size: q.size,
            latency_secs: q.latency.as_secs_f64(),
            paused: q.paused,
        }
    }
}

/// A running job of a process, as JSON.
#[derive(Debug, Serialize)]
struct RunningJson<'a> {
    jid: &'a str,
    class: &'a str,
    queue: &'a str,
    started_at: String,
}

/// A process as JSON.
#[derive(Debug, Serialize)]
struct ProcessJson<'a> {
    id: &'a str,
    hostname: &'a str,
    pid: u32,
    tag: Option<&'a str>,
    queues: &'a [String],
    concurrency: usize,
    busy: usize,
    quiet: bool,
    labels: &'a [String],
    version: &'a str,
    started_at: String,
    beat_at: String,
    running: Vec<RunningJson<'a>>,
}

impl<'a> ProcessJson<'a> {
    fn new(p: &'a ProcessRecord) -> Self {
        ProcessJson {
            id: &p.info.id,
            hostname: &p.info.hostname,
            pid: p.info.pid,
            tag: p.info.tag.as_deref(),
            queues: &p.info.queues,
            concurrency: p.info.concurrency,
            busy: p.running.len(),
            quiet: p.quiet,
            labels: &p.info.labels,
            version: &p.info.version,
            started_at: rfc3339(p.info.started_at),
            beat_at: rfc3339(p.beat_at),
            running: p
                .running
                .iter()
                .map(|r| RunningJson {
                    jid: &r.job.jid,
                    class: &r.job.class,
                    queue: &r.job.queue,
                    started_at: rfc3339(r.started_at),
                })
                .collect(),
        }
    }
}

/// The totals as JSON.
#[derive(Debug, Serialize)]
struct StatsJson {
    processed: u64,
    failed: u64,
    expired: u64,
    dead_trimmed: u64,
    enqueued: u64,
    scheduled: u64,
    retries: u64,
    dead: u64,
}

impl From<&Stats> for StatsJson {
    fn from(s: &Stats) -> Self {
        StatsJson {
            processed: s.processed,
            failed: s.failed,
            expired: s.expired,
            dead_trimmed: s.dead_trimmed,
            enqueued: s.enqueued,
            scheduled: s.scheduled,
            retries: s.retries,
            dead: s.dead,
        }
    }
}

/// `jobs status --json`.
#[derive(Debug, Serialize)]
struct StatusJson<'a> {
    backend: &'static str,
    url: &'a str,
    stats: StatsJson,
    busy: usize,
    queues: Vec<QueueJson<'a>>,
    processes: Vec<ProcessJson<'a>>,
}

/// `jobs status`: totals, queues and live processes.
pub async fn status(ctx: &Ctx, out: &mut dyn Write) -> Result<(), CliError> {
    let now = Utc::now();
    let b = &ctx.backend;
    let stats = b.stats().await.map_err(ctx.failed())?;
    let queues = b
        .queue_list(QueueListParams::new(now))
        .await
        .map_err(ctx.failed())?;
    let processes = b.process_list().await.map_err(ctx.failed())?;
    let busy: usize = processes.iter().map(|p| p.running.len()).sum();
    if ctx.json {
        return output::json(
            out,
            &StatusJson {
                backend: b.name(),
                url: &ctx.url,
                stats: StatsJson::from(&stats),
                busy,
                queues: queues.iter().map(QueueJson::new).collect(),
                processes: processes.iter().map(ProcessJson::new).collect(),
            },
        );
    }
    let capacity: usize = processes.iter().map(|p| p.info.concurrency).sum();
    let summary = [
        ("Backend", format!("{} ({})", b.name(), ctx.url)),
        ("Processed", stats.processed.to_string()),
        ("Failed", stats.failed.to_string()),
        (
            "Busy",
            format!("{busy} of {capacity} in {} process(es)", processes.len()),
        ),
        ("Enqueued", stats.enqueued.to_string()),
        ("Scheduled", stats.scheduled.to_string()),
        ("Retries", stats.retries.to_string()),
        ("Dead", stats.dead.to_string()),
    ];
    for (label, value) in summary {
        writeln!(out, "{label:<10} {value}")?;
    }
    writeln!(out)?;
    write_queues(&queues, out)?;
    writeln!(out)?;
    write_processes(now, &processes, out)
}

/// `jobs queues`: every queue with its size, latency and paused flag.
pub async fn queues(ctx: &Ctx, out: &mut dyn Write) -> Result<(), CliError> {
    let queues = ctx
        .backend
        .queue_list(QueueListParams::new(Utc::now()))
        .await
        .map_err(ctx.failed())?;
    if ctx.json {
        let list: Vec<QueueJson> = queues.iter().map(QueueJson::new).collect();
        return output::json(out, &list);
    }
    write_queues(&queues, out)
}

fn write_queues(queues: &[QueueInfo], out: &mut dyn Write) -> Result<(), CliError> {
    if queues.is_empty() {
        writeln!(out, "No queues.")?;
        return Ok(());
    }
    let mut t = Table::new(&[
        ("QUEUE", Align::Left),
        ("SIZE", Align::Right),
        ("LATENCY", Align::Right),
        ("PAUSED", Align::Left),
    ]);
    for q in queues {
        t.row(vec![
            q.name.clone(),
            q.size.to_string(),
            output::duration(q.latency),
            if q.paused { "yes" } else { "no" }.to_owned(),
        ]);
    }
    write!(out, "{}", t.render())?;
    Ok(())
}

fn write_processes(
    now: chrono::DateTime<Utc>,
    processes: &[ProcessRecord],
    out: &mut dyn Write,
) -> Result<(), CliError> {
    if processes.is_empty() {
        writeln!(out, "No live processes.")?;
        return Ok(());
    }
    let mut t = Table::new(&[
        ("PROCESS", Align::Left),
        ("HOST", Align::Left),
        ("PID", Align::Right),
        ("BUSY", Align::Right),
        ("STATE", Align::Left),
        ("STARTED", Align::Left),
        ("BEAT", Align::Left),
        ("QUEUES", Align::Left),
    ]);
    for p in processes {
        t.row(vec![
            p.info.id.clone(),
            p.info.hostname.clone(),
            p.info.pid.to_string(),
            format!("{}/{}", p.running.len(), p.info.concurrency),
            if p.quiet { "quiet" } else { "running" }.to_owned(),
            ago(now, p.info.started_at),
            ago(now, p.beat_at),
            p.info.queues.join(","),
        ]);
    }
    write!(out, "{}", t.render())?;
    Ok(())
}
