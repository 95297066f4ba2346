//! Bulk actions on many jobs: the count is confirmed first (`--yes` to skip), a progress bar
//! counts them on a terminal, and output that is not a terminal, or JSON, carries no bar
//! and no escape codes.

mod support;

use std::sync::Arc;

use chrono::{Duration, Utc};
use jobs::backend::{AdminBackend, PushParams, Stats};
use jobs::envelope::{to_epoch, JobEnvelope};
use support::{jobs, jobs_on_tty};

/// More jobs than one chunk of the bar (100), so the bar has steps to show.
const MANY: usize = 250;

/// Stores `MANY` jobs in the scheduled set.
async fn schedule_many(b: &Arc<dyn AdminBackend>) {
    let at = to_epoch(Utc::now() + Duration::hours(1));
    let jobs: Vec<JobEnvelope> = (0..MANY)
        .map(|i| {
            let mut job = JobEnvelope::new("Email", "mailers", vec![serde_json::json!(i)]);
            job.at = Some(at);
            job
        })
        .collect();
    b.job_push(PushParams::new(jobs, Utc::now()))
        .await
        .expect("the jobs are pushed");
}

async fn stats(b: &Arc<dyn AdminBackend>) -> Stats {
    b.stats().await.expect("the store answers")
}

fn no_terminal_codes(text: &str) -> bool {
    !text.contains('\u{1b}') && !text.contains('\r')
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn off_a_terminal_the_count_is_confirmed_and_no_bar_is_drawn() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let url = format!("sqlite://{}", dir.path().join("jobs.db").display());
    let b = jobs_backends::connect(&url).await.expect("the store opens");
    schedule_many(&b).await;

    // stdin is no terminal: no question can be asked, nothing changes without --yes.
    let run = jobs(Some(&url), &["delete", "--all", "--set", "scheduled"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr.starts_with(&format!(
            "error: refusing to delete {MANY} job(s) without confirmation: stdin is not a terminal (pass --yes to confirm)"
        )),
        "{run:?}"
    );
    assert_eq!(stats(&b).await.scheduled, MANY as u64);

    let run = jobs(
        Some(&url),
        &["delete", "--all", "--set", "scheduled", "--yes"],
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.stdout, format!("Deleted {MANY} job(s).\n"));
    assert_eq!(run.stderr, "", "nothing but the result: {run:?}");
    assert!(no_terminal_codes(&run.stdout), "{run:?}");
    assert_eq!(stats(&b).await.scheduled, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_terminal_the_bar_counts_the_jobs_and_json_has_none() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let url = format!("sqlite://{}", dir.path().join("jobs.db").display());
    let b = jobs_backends::connect(&url).await.expect("the store opens");
    schedule_many(&b).await;

    let Some(run) = jobs_on_tty(&url, &["retry", "--all", "--set", "scheduled"], "y\n") else {
        panic!("no pseudo-terminal here: util-linux's `script` is needed for this test");
    };
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stdout
            .contains(&format!("Retry {MANY} job(s) of the scheduled set? [y/N] ")),
        "{run:?}"
    );
    assert!(
        run.stdout.contains(&format!("/{MANY} jobs")),
        "the bar counts the jobs: {run:?}"
    );
    assert!(run.stdout.contains('\u{1b}'), "the bar is drawn: {run:?}");
    assert!(
        run.stdout.ends_with(&format!("Retried {MANY} job(s).\n")),
        "{run:?}"
    );
    let after = stats(&b).await;
    assert_eq!((after.scheduled, after.enqueued), (0, MANY as u64));

    // The same on a terminal with --json: only the JSON.
    schedule_many(&b).await;
    let args = ["--json", "delete", "--all", "--set", "scheduled", "--yes"];
    let Some(run) = jobs_on_tty(&url, &args, "") else {
        panic!("no pseudo-terminal here");
    };
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        no_terminal_codes(&run.stdout.replace("\r\n", "\n")),
        "{run:?}"
    );
    let value: serde_json::Value = serde_json::from_str(&run.stdout).expect("only JSON");
    assert_eq!(value["done"], MANY as u64, "{value}");
}
