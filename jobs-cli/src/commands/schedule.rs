//! `jobs schedule check FILE` and `jobs schedule list`.

use std::io::Write;
use std::path::Path;

use chrono::Utc;
use jobs::schedule::{check_file, ScheduleFile};
use serde::Serialize;

use super::Ctx;
use crate::error::CliError;
use crate::output::table::{Align, Table};
use crate::output::{self, rfc3339, time};

/// An entry of a checked file, as JSON.
#[derive(Debug, Serialize)]
struct EntryJson<'a> {
    name: &'a str,
    description: &'a str,
    next: Vec<String>,
}

/// A schedule record, as JSON.
#[derive(Debug, Serialize)]
struct ScheduleJson<'a> {
    name: &'a str,
    description: &'a str,
    enabled: bool,
    last_run: Option<String>,
    next_run: Option<String>,
    job: &'a jobs::envelope::JobEnvelope,
}

/// `jobs schedule check FILE`: checks the file as `examples/schedule_check.rs` does, without
/// a registry (this binary links none of the app's jobs), and prints the next `count` fire
/// times of each entry.
pub fn check(file: &Path, count: usize, json: bool, out: &mut dyn Write) -> Result<(), CliError> {
    let parsed = ScheduleFile::load(file).map_err(CliError::ScheduleFile)?;
    let report = check_file(&parsed, None, Utc::now(), count).map_err(|errors| {
        CliError::ScheduleInvalid {
            path: parsed.path().to_owned(),
            errors,
        }
    })?;
    if json {
        let entries: Vec<EntryJson> = report
            .entries
            .iter()
            .map(|(name, description, times)| EntryJson {
                name,
                description,
                next: times.iter().copied().map(rfc3339).collect(),
            })
            .collect();
        return output::json(out, &entries);
    }
    write!(out, "{report}")?;
    Ok(())
}

/// `jobs schedule list`: the backend's schedule records.
pub async fn list(ctx: &Ctx, out: &mut dyn Write) -> Result<(), CliError> {
    let store = ctx.backend.schedules().ok_or(CliError::NoSchedules {
        backend: ctx.backend.name(),
    })?;
    let records = store.schedule_list().await.map_err(ctx.failed())?;
    if ctx.json {
        let list: Vec<ScheduleJson> = records
            .iter()
            .map(|r| ScheduleJson {
                name: &r.name,
                description: &r.description,
                enabled: r.enabled,
                last_run: r.last_run.map(rfc3339),
                next_run: r.next_run.map(rfc3339),
                job: &r.job,
            })
            .collect();
        return output::json(out, &list);
    }
    if records.is_empty() {
        writeln!(out, "No schedules.")?;
        return Ok(());
    }
    let mut t = Table::new(&[
        ("NAME", Align::Left),
        ("ENABLED", Align::Left),
        ("LAST RUN", Align::Left),
        ("NEXT RUN", Align::Left),
        ("JOB", Align::Left),
        ("QUEUE", Align::Left),
        ("TIMING", Align::Left),
    ]);
    for r in &records {
        t.row(vec![
            r.name.clone(),
            if r.enabled { "yes" } else { "no" }.to_owned(),
            r.last_run.map(time).unwrap_or_else(|| "never".to_owned()),
            r.next_run.map(time).unwrap_or_default(),
            r.job.class.clone(),
            r.job.queue.clone(),
            r.description.clone(),
        ]);
    }
    write!(out, "{}", t.render())?;
    Ok(())
}
