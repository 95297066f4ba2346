//! `jobs list` and `jobs show`, and finding a job by id in the queues and sets.

use std::io::Write;

use chrono::Utc;
use jobs::backend::{JobFilter, JobGetParams, JobListParams, JobSet, QueueListParams, StoredJob};
use jobs::envelope::JobEnvelope;
use serde::Serialize;

use super::Ctx;
use crate::args::{ListArgs, ListSet, SetName};
use crate::error::CliError;
use crate::output::table::{Align, Table};
use crate::output::{self, epoch_time, set_name, shorten, time, JobJson};

/// `jobs list --json`.
#[derive(Debug, Serialize)]
struct ListJson<'a> {
    /// `queue`, `scheduled`, `retry` or `dead`.
    set: &'static str,
    /// The queue's name, when `set` is `queue`.
    #[serde(skip_serializing_if = "Option::is_none")]
    queue: Option<&'a str>,
    total: u64,
    offset: u64,
    jobs: Vec<JobJson<'a>>,
}

/// The [`JobSet`] a set name stands for.
pub fn job_set(set: SetName) -> JobSet {
    match set {
        SetName::Scheduled => JobSet::Scheduled,
        SetName::Retry => JobSet::Retry,
        SetName::Dead => JobSet::Dead,
    }
}

/// A filter from the `--class` and `--filter` options.
pub fn filter(class: Option<&str>, text: Option<&str>) -> JobFilter {
    let mut f = JobFilter::new();
    if let Some(class) = class {
        f = f.class(class);
    }
    if let Some(text) = text {
        f = f.text(text);
    }
    f
}

/// `jobs list`: a page of a queue or set, as a table or JSON.
pub async fn list(ctx: &Ctx, args: &ListArgs, out: &mut dyn Write) -> Result<(), CliError> {
    let set = match (args.set, &args.name) {
        (ListSet::Queue, Some(name)) => JobSet::Queue(name.clone()),
        // clap requires NAME with `queue`; an empty name lists nothing.
        (ListSet::Queue, None) => JobSet::Queue(String::new()),
        (ListSet::Scheduled, _) => JobSet::Scheduled,
        (ListSet::Retry, _) => JobSet::Retry,
        (ListSet::Dead, _) => JobSet::Dead,
        (ListSet::Cancelled, _) => JobSet::Cancelled,
    };
    let params = JobListParams::new(set.clone(), args.limit)
        .offset(args.offset)
        .filter(filter(args.class.as_deref(), args.filter.as_deref()));
    let page = ctx.backend.job_list(params).await.map_err(ctx.failed())?;
    if ctx.json {
        return output::json(
            out,
            &ListJson {
                set: match args.set {
                    ListSet::Queue => "queue",
                    ListSet::Scheduled => "scheduled",
                    ListSet::Retry => "retry",
                    ListSet::Dead => "dead",
                    ListSet::Cancelled => "cancelled",
                },
                queue: args.name.as_deref().filter(|_| args.set == ListSet::Queue),
                total: page.total,
                offset: args.offset,
                jobs: page.jobs.iter().map(JobJson::new).collect(),
            },
        );
    }
    let place = match &set {
        JobSet::Queue(name) => format!("queue `{name}`"),
        other => format!("the {} set", set_name(other)),
    };
    if page.jobs.is_empty() {
        let matching = if page.total > 0 {
            format!("No jobs past {} of {} in {place}.", args.offset, page.total)
        } else if args.filter.is_some() || args.class.is_some() {
            format!("No jobs in {place} match.")
        } else {
            format!("No jobs in {place}.")
        };
        writeln!(out, "{matching}")?;
        return Ok(());
    }
    let (when, with_error) = match set {
        JobSet::Queue(_) => ("ENQUEUED", false),
        JobSet::Scheduled => ("RUNS AT", false),
        JobSet::Retry => ("RETRIES AT", true),
        _ => ("DIED AT", true),
    };
    let mut columns = vec![
        ("JID", Align::Left),
        ("CLASS", Align::Left),
        ("QUEUE", Align::Left),
        (when, Align::Left),
        ("ARGS", Align::Left),
    ];
    if with_error {
        columns.push(("ERROR", Align::Left));
    }
    let mut t = Table::new(&columns);
    for s in &page.jobs {
        let when = match (s.at, s.job.enqueued_at) {
            (Some(at), _) => time(at),
            (None, Some(enqueued)) => epoch_time(enqueued),
            (None, None) => String::new(),
        };
        t.row(vec![
            s.job.jid.clone(),
            s.job.class.clone(),
            s.job.queue.clone(),
            when,
            shorten(&args_text(&s.job), 40),
            shorten(s.job.error_message.as_deref().unwrap_or(""), 50),
        ]);
    }
    write!(out, "{}", t.render())?;
    let first = args.offset + 1;
    let last = args.offset + page.jobs.len() as u64;
    writeln!(out, "{first}-{last} of {} in {place}", page.total)?;
    Ok(())
}

/// The arguments as one line of JSON.
fn args_text(job: &JobEnvelope) -> String {
    serde_json::Value::Array(job.args.clone()).to_string()
}

/// Finds job `jid`: in `only` when given, else in the scheduled, retry and dead sets, then in
/// every queue.
pub async fn locate(ctx: &Ctx, jid: &str, only: Option<SetName>) -> Result<StoredJob, CliError> {
    let sets = match only {
        Some(set) => vec![job_set(set)],
        None => {
            let queues = ctx
                .backend
                .queue_list(QueueListParams::new(Utc::now()))
                .await
                .map_err(ctx.failed())?;
            [JobSet::Scheduled, JobSet::Retry, JobSet::Dead]
                .into_iter()
                .chain(queues.into_iter().map(|q| JobSet::Queue(q.name)))
                .collect()
        }
    };
    for set in sets {
        let found = ctx
            .backend
            .job_get(JobGetParams::new(set, jid))
            .await
            .map_err(ctx.failed())?;
        if let Some(found) = found {
            return Ok(found);
        }
    }
    let place = match only {
        Some(set) => format!("the {} set", set_name(&job_set(set))),
        None => "any queue or the scheduled, retry or dead set".to_owned(),
    };
    Err(CliError::JobNotFound {
        jid: jid.to_owned(),
        place,
    })
}

/// `jobs show JID`: every field of one job.
pub async fn show(ctx: &Ctx, jid: &str, out: &mut dyn Write) -> Result<(), CliError> {
    let stored = locate(ctx, jid, None).await?;
    if ctx.json {
        return output::json(out, &JobJson::new(&stored));
    }
    let job = &stored.job;
    let mut fields: Vec<(&str, String)> = vec![
        ("JID", job.jid.clone()),
        ("Class", job.class.clone()),
        ("Queue", job.queue.clone()),
        ("Where", whereabouts(&stored)),
        ("Args", args_text(job)),
        ("Created", epoch_time(job.created_at)),
    ];
    let times = [
        ("Enqueued", job.enqueued_at),
        ("Failed at", job.failed_at),
        ("Retried at", job.retried_at),
    ];
    fields.extend(
        times
            .iter()
            .filter_map(|(k, t)| t.map(|t| (*k, epoch_time(t)))),
    );
    let retries = job.retry.max_retries().map_or_else(
        || "none (discarded on failure)".to_owned(),
        |n| n.to_string(),
    );
    fields.push(("Retries", retries));
    if let Some(count) = job.retry_count {
        fields.push(("Retry count", count.to_string()));
    }
    if let Some(class) = &job.error_class {
        fields.push(("Error class", class.clone()));
    }
    if let Some(message) = &job.error_message {
        fields.push(("Error", message.clone()));
    }
    for (key, value) in &job.extra {
        fields.push((key.as_str(), value.to_string()));
    }
    for (label, value) in fields {
        writeln!(out, "{label:<12} {value}")?;
    }
    if let Some(trace) = &job.error_backtrace {
        writeln!(out, "Backtrace")?;
        match trace.as_array() {
            Some(lines) => {
                for line in lines {
                    writeln!(
                        out,
                        "  {}",
                        line.as_str()
                            .map_or_else(|| line.to_string(), str::to_owned)
                    )?;
                }
            }
            None => writeln!(out, "  {trace}")?,
        }
    }
    Ok(())
}

/// Where a job is, for people: `retry set, retries at …`.
fn whereabouts(stored: &StoredJob) -> String {
    let at = stored.at.map(time).unwrap_or_default();
    match &stored.set {
        JobSet::Queue(name) => format!("waiting in queue {name}"),
        JobSet::Scheduled => format!("scheduled set, runs at {at}"),
        JobSet::Retry => format!("retry set, retries at {at}"),
        JobSet::Dead => format!("dead set, died at {at}"),
        other => set_name(other),
    }
}
