//! Runs the built `jobs` binary against SQLite, Redis (database 12, a key prefix of its own)
//! and Postgres (a schema of its own), seeded through the library, and checks its exact
//! output and, through `AdminBackend`, what its actions changed; and its exit status and
//! message when the store is unreachable or the usage is wrong.

mod support;

use std::sync::Arc;

use chrono::Utc;
use jobs::backend::{
    AdminBackend, HeartbeatParams, JobGetParams, JobSet, ProcessSignal, QueueListParams,
};
use support::{jobs, json, ok, seed, words_of, Seeded, PROCESS};

async fn holds(b: &Arc<dyn AdminBackend>, set: JobSet, jid: &str) -> bool {
    let got = b.job_get(JobGetParams::new(set, jid)).await;
    got.expect("job_get answers").is_some()
}

async fn paused(b: &Arc<dyn AdminBackend>, queue: &str) -> bool {
    let queues = b.queue_list(QueueListParams::new(Utc::now())).await;
    let queues = queues.expect("queue_list answers");
    queues.iter().any(|q| q.name == queue && q.paused)
}

async fn signals(b: &Arc<dyn AdminBackend>) -> Vec<ProcessSignal> {
    let beat = HeartbeatParams::new(support::process_info(), Utc::now());
    let reply = b
        .process_heartbeat(beat)
        .await
        .expect("the heartbeat answers");
    reply.signals
}

/// `status`, `queues`, `list` and `show`, as tables and JSON, on the freshly seeded store.
fn check_listings(url: &str, redacted: &str, backend: &str, s: &Seeded) {
    let status = ok(url, &["status"]);
    let head: Vec<&str> = status.lines().take(9).collect();
    assert_eq!(
        head,
        [
            format!("Backend    {backend} ({redacted})").as_str(),
            "Processed  3",
            "Failed     3",
            "Busy       1 of 5 in 1 process(es)",
            "Enqueued   4",
            "Scheduled  1",
            "Retries    2",
            "Dead       1",
            "",
        ],
        "{status}"
    );
    assert!(
        status.contains("\nQUEUE     SIZE  LATENCY  PAUSED\n"),
        "{status}"
    );
    assert_eq!(words_of(&status, "critical")[..2], ["critical", "1"]);
    assert_eq!(words_of(&status, "default")[..2], ["default", "3"]);
    let process = words_of(&status, PROCESS);
    assert_eq!(
        process[1..5],
        ["cli-test-host", "4242", "1/5", "running"],
        "{status}"
    );

    let st = json(url, &["status"]);
    assert_eq!(st["backend"], backend);
    let stats = &st["stats"];
    let counts = [
        "processed",
        "failed",
        "enqueued",
        "scheduled",
        "retries",
        "dead",
    ]
    .map(|k| stats[k].as_u64());
    assert_eq!(counts, [3, 3, 4, 1, 2, 1].map(Some), "{st}");
    assert_eq!(st["busy"], 1);
    assert_eq!(st["processes"][0]["id"], PROCESS);
    assert_eq!(st["processes"][0]["running"][0]["class"], "Export");

    assert_eq!(st["queues"].as_array().map(Vec::len), Some(2), "{st}");
    let queues = json(url, &["queues"]);
    let sizes: Vec<(String, u64)> = queues
        .as_array()
        .expect("a list of queues")
        .iter()
        .map(|q| {
            (
                q["name"].as_str().unwrap_or("").to_owned(),
                q["size"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    assert_eq!(
        sizes,
        [("critical".to_owned(), 1), ("default".to_owned(), 3)]
    );
    let table = ok(url, &["queues"]);
    assert_eq!(words_of(&table, "default")[3], "no", "{table}");

    let list = ok(url, &["list", "queue", "default"]);
    let jids: Vec<&str> = list
        .lines()
        .skip(1)
        .take(3)
        .map(|l| l.split_whitespace().next().unwrap_or(""))
        .collect();
    assert_eq!(jids, s.default, "{list}");
    assert!(list.starts_with("JID "), "{list}");
    assert!(list.ends_with("1-3 of 3 in queue `default`\n"), "{list}");
    assert!(list.contains("[\"alice@example.com\"]"), "{list}");
    let queued = json(url, &["list", "queue", "default", "--limit", "2"]);
    assert_eq!(
        (queued["set"].as_str(), queued["queue"].as_str()),
        (Some("queue"), Some("default"))
    );
    assert_eq!(queued["total"], 3);
    let listed: Vec<&str> = queued["jobs"]
        .as_array()
        .map(|j| j.iter().filter_map(|j| j["job"]["jid"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(listed, s.default[..2]);
    let page = ok(
        url,
        &["list", "queue", "default", "--limit", "1", "--offset", "1"],
    );
    assert!(
        page.contains(&s.default[1]) && !page.contains(&s.default[0]),
        "{page}"
    );
    assert!(page.ends_with("2-2 of 3 in queue `default`\n"), "{page}");

    let retries = ok(url, &["list", "retry"]);
    assert!(
        retries.lines().next().unwrap_or("").ends_with("ERROR"),
        "{retries}"
    );
    for jid in &s.retries {
        assert!(retries.contains(jid.as_str()), "{retries}");
    }
    assert!(retries.contains("SMTP timeout"), "{retries}");
    let carol = ok(url, &["list", "retry", "--filter", "carol"]);
    assert!(
        carol.contains(&s.retries[1]) && !carol.contains(&s.retries[0]),
        "{carol}"
    );
    assert!(carol.ends_with("1-1 of 1 in the retry set\n"), "{carol}");
    let none = ok(url, &["list", "retry", "--filter", "nobody"]);
    assert_eq!(none, "No jobs in the retry set match.\n");

    let dead = json(url, &["list", "dead"]);
    assert_eq!(dead["total"], 1);
    assert_eq!(dead["jobs"][0]["set"], "dead");
    assert_eq!(dead["jobs"][0]["job"]["jid"], s.dead.as_str());
    assert_eq!(dead["jobs"][0]["job"]["error_message"], "division by zero");
    let scheduled = json(url, &["list", "scheduled"]);
    assert_eq!(scheduled["jobs"][0]["job"]["jid"], s.scheduled.as_str());

    let shown = ok(url, &["show", &s.retries[0]]);
    assert!(shown.starts_with(&format!("JID          {}\nClass        Email\nQueue        default\nWhere        retry set, retries at ", s.retries[0])), "{shown}");
    assert!(
        shown.contains("\nArgs         [\"bob@example.com\"]\n"),
        "{shown}"
    );
    assert!(shown.contains("\nError        SMTP timeout\n"), "{shown}");
    let shown = json(url, &["show", &s.critical]);
    assert_eq!(
        (shown["set"].as_str(), shown["queue"].as_str()),
        (Some("queue"), Some("critical"))
    );
    assert_eq!(shown["job"]["args"], serde_json::json!([7]));

    let missing = jobs(Some(url), &["show", "0123456789abcdef01234567"]);
    assert_eq!(missing.code, 1, "{missing:?}");
    assert!(missing.stderr.starts_with("error: job 0123456789abcdef01234567 not found in any queue or the scheduled, retry or dead set\n"), "{missing:?}");

    let listed = json(url, &["schedule", "list"]);
    assert_eq!(listed[0]["name"], "nightly_report");
    assert_eq!(
        (
            listed[0]["enabled"].as_bool(),
            listed[0]["last_run"].is_null()
        ),
        (Some(true), true)
    );
    assert_eq!(listed[0]["job"]["class"], "NightlyReport");
    let schedules = ok(url, &["schedule", "list"]);
    assert!(schedules.starts_with("NAME "), "{schedules}");
    let row = words_of(&schedules, "nightly_report");
    assert_eq!(row[1..3], ["yes", "never"], "{schedules}");
    assert!(
        schedules.contains("NightlyReport  reports  cron 30 2 * * * (UTC)"),
        "{schedules}"
    );
}

/// `retry`, `kill`, `delete`, `pause`/`resume` and `quiet`/`stop`, checked in the store.
async fn check_actions(url: &str, b: &Arc<dyn AdminBackend>, s: &Seeded) {
    let (bob, alice) = (&s.retries[0], &s.default[0]);
    assert_eq!(ok(url, &["retry", bob]), "Retried 1 job(s).\n");
    assert!(!holds(b, JobSet::Retry, bob).await);
    assert!(holds(b, JobSet::Queue("default".into()), bob).await);

    assert_eq!(ok(url, &["kill", alice]), "Killed 1 job(s).\n");
    assert!(holds(b, JobSet::Dead, alice).await);
    assert!(!holds(b, JobSet::Queue("default".into()), alice).await);

    let again = jobs(Some(url), &["retry", &s.critical]);
    assert_eq!(again.code, 1);
    assert!(
        again.stderr.starts_with(&format!(
            "error: job {} is already waiting in queue `critical`",
            s.critical
        )),
        "{again:?}"
    );

    let refused = jobs(
        Some(url),
        &["delete", "--all", "--set", "dead", "--filter", "division"],
    );
    assert_eq!(refused.code, 1, "{refused:?}");
    assert_eq!(refused.stdout, "");
    assert!(refused.stderr.starts_with("error: refusing to delete 1 job(s) without confirmation: stdin is not a terminal (pass --yes to confirm)"), "{refused:?}");
    assert!(
        holds(b, JobSet::Dead, &s.dead).await,
        "a refused delete deletes nothing"
    );

    let all_division = ["delete", "--all", "--set", "dead", "--filter", "division"];
    let prompt = "Delete 1 job(s) matching \"division\" of the dead set? [y/N] ";
    match support::jobs_on_tty(url, &all_division, "n\n") {
        Some(no) => {
            assert_eq!(no.code, 1, "{no:?}");
            // The pty echoes the typed answer when it is written, before or after the prompt.
            assert_eq!(
                no.stdout.replacen("n\n", "", 1),
                format!("{prompt}error: cancelled: nothing was changed\n"),
                "{no:?}"
            );
            assert!(
                holds(b, JobSet::Dead, &s.dead).await,
                "a cancelled delete deletes nothing"
            );
            let yes = support::jobs_on_tty(url, &all_division, "y\n").expect("script ran before");
            assert_eq!(yes.code, 0, "{yes:?}");
            assert_eq!(
                yes.stdout.replacen("y\n", "", 1),
                format!("{prompt}Deleted 1 job(s).\n"),
                "{yes:?}"
            );
        }
        None => {
            eprintln!(
                "util-linux `script` is missing: the confirmation on a terminal is not tested"
            );
            let mut with_yes = all_division.to_vec();
            with_yes.push("--yes");
            assert_eq!(ok(url, &with_yes), "Deleted 1 job(s).\n");
        }
    }
    assert!(!holds(b, JobSet::Dead, &s.dead).await);
    assert!(
        holds(b, JobSet::Dead, alice).await,
        "the filter kept the other dead job"
    );
    let none = ok(
        url,
        &[
            "delete", "--all", "--set", "dead", "--filter", "division", "--yes",
        ],
    );
    assert_eq!(none, "No job in the dead set matches: nothing to delete.\n");

    let retried = json(url, &["retry", "--all", "--set", "retry", "--yes"]);
    assert_eq!(
        retried,
        serde_json::json!({"action": "retry", "matched": 1, "done": 1})
    );
    assert!(holds(b, JobSet::Queue("default".into()), &s.retries[1]).await);
    let stats = b.stats().await.expect("stats answer");
    assert_eq!((stats.retries, stats.dead, stats.enqueued), (0, 1, 5));

    let dead_again = jobs(Some(url), &["kill", alice]);
    assert_eq!(dead_again.code, 1, "{dead_again:?}");
    assert_eq!(
        dead_again.stderr,
        format!("error: job {alice} is already in the dead set: there is nothing to kill\n")
    );

    let partly = jobs(
        Some(url),
        &["delete", &s.scheduled, "0123456789abcdef01234567"],
    );
    assert_eq!(partly.code, 1, "{partly:?}");
    assert!(
        partly
            .stderr
            .starts_with("error: job 0123456789abcdef01234567 not found"),
        "{partly:?}"
    );
    assert!(
        holds(b, JobSet::Scheduled, &s.scheduled).await,
        "nothing is deleted when a job is missing"
    );

    let deleted = json(url, &["delete", &s.scheduled, &s.default[1]]);
    assert_eq!(
        deleted,
        serde_json::json!({"action": "delete", "matched": 2, "done": 2})
    );
    assert!(!holds(b, JobSet::Scheduled, &s.scheduled).await);
    assert!(!holds(b, JobSet::Queue("default".into()), &s.default[1]).await);

    let unknown = jobs(Some(url), &["kill", "--set", "retry", &s.critical]);
    assert_eq!(unknown.code, 1);
    assert!(
        unknown.stderr.contains("not found in the retry set"),
        "{unknown:?}"
    );
    assert!(holds(b, JobSet::Queue("critical".into()), &s.critical).await);

    let out = ok(url, &["pause", "critical"]);
    assert_eq!(
        out,
        "Paused queue `critical`: workers skip it until `jobs resume critical`.\n"
    );
    assert!(paused(b, "critical").await);
    assert_eq!(words_of(&ok(url, &["queues"]), "critical")[3], "yes");
    assert_eq!(
        ok(url, &["resume", "critical"]),
        "Resumed queue `critical`.\n"
    );
    assert!(!paused(b, "critical").await);

    let out = ok(url, &["quiet", PROCESS]);
    assert_eq!(
        out,
        format!(
            "Asked process `{PROCESS}` to stop taking jobs; it does so at its next heartbeat.\n"
        )
    );
    assert_eq!(signals(b).await, [ProcessSignal::Quiet]);
    let out = json(url, &["stop", PROCESS]);
    assert_eq!(
        out,
        serde_json::json!({"process": PROCESS, "signal": "stop"})
    );
    assert_eq!(signals(b).await, [ProcessSignal::Stop]);
    let ghost = jobs(Some(url), &["quiet", "ghost"]);
    assert_eq!(ghost.code, 1);
    assert_eq!(
        ghost.stderr,
        format!("error: no live process with id `ghost` (live: {PROCESS})\n")
    );
}

/// `jobs cancel` moves a waiting job to the cancelled set, `jobs list cancelled` shows it,
/// a second cancel says it already finished, and an unknown jid fails the command.
async fn check_cancel(url: &str, b: &Arc<dyn AdminBackend>, s: &Seeded) {
    let jid = &s.critical;
    assert_eq!(
        ok(url, &["cancel", jid]),
        format!("{jid}  cancelled: moved to the cancelled set, it will not run\n")
    );
    assert!(holds(b, JobSet::Cancelled, jid).await);
    assert!(!holds(b, JobSet::Queue("critical".into()), jid).await);
    assert!(ok(url, &["list", "cancelled"]).contains(jid.as_str()));
    let again = ok(url, &["--json", "cancel", jid]);
    assert!(again.contains("\"already_finished\""), "{again}");
    let ghost = jobs(Some(url), &["cancel", "no-such-jid"]);
    assert_eq!(ghost.code, 1, "{ghost:?}");
    assert!(ghost.stdout.contains("not found"), "{ghost:?}");
    assert!(
        ghost.stderr.starts_with("error: job no-such-jid not found"),
        "{ghost:?}"
    );
}

async fn check_backend(url: &str, redacted: &str, backend: &str) {
    let b = jobs_backends::connect(url)
        .await
        .expect("the test store opens");
    b.clear_all().await.expect("the test store starts empty");
    let seeded = seed(&b).await.expect("the seed is stored");
    check_listings(url, redacted, backend, &seeded);
    check_actions(url, &b, &seeded).await;
    check_cancel(url, &b, &seeded).await;
    b.clear_all().await.expect("the test store is left empty");
}

fn unique(sep: &str) -> String {
    let nanos = Utc::now().timestamp_nanos_opt().unwrap_or_default();
    format!("jobs{sep}cli{sep}{}{sep}{nanos}", std::process::id())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let url = format!("sqlite://{}", dir.path().join("jobs.db").display());
    check_backend(&url, &url, "sqlite").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis() {
    let base = std::env::var("JOBS_TEST_REDIS_URL")
        .unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned());
    let no_query = base.split('?').next().unwrap_or_default();
    let (scheme, rest) = no_query.split_once("://").unwrap_or(("redis", no_query));
    let authority = format!("{scheme}://{}", rest.split('/').next().unwrap_or_default());
    let url = format!("{authority}/12?prefix={}", unique(":"));
    check_backend(&url, &jobs::redact_url(&url), "redis").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres() {
    let base = std::env::var("JOBS_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://root@127.0.0.1:5432/test".to_owned());
    let schema = unique("_");
    let sep = if base.contains('?') { '&' } else { '?' };
    let url = format!("{base}{sep}schema={schema}");
    check_backend(&url, &jobs::redact_url(&url), "postgres").await;
    let _ = std::process::Command::new("psql")
        .args([
            base.as_str(),
            "-q",
            "-c",
            &format!("DROP SCHEMA IF EXISTS {schema} CASCADE"),
        ])
        .output();
}

#[test]
fn a_bad_subcommand_is_a_usage_error() {
    let run = jobs(Some("memory://"), &["frobnicate"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr
            .starts_with("error: unrecognized subcommand 'frobnicate'"),
        "{run:?}"
    );
    let run = jobs(Some("memory://"), &["list", "queue"]);
    assert_eq!(run.code, 2, "{run:?}");
    let run = jobs(Some("memory://"), &["list", "retry", "--limit", "0"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("--limit <N>"), "{run:?}");
    let run = jobs(Some("memory://"), &["list", "retry", "mailers"]);
    assert_eq!(run.code, 2, "{run:?}");
}

#[test]
fn no_url_names_the_setting_and_is_a_usage_error() {
    let run = jobs(None, &["status"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.starts_with("error: no backend URL given\nhint: this command needs a backend: pass --url or set JOBS_URL"), "{run:?}");
}

#[test]
fn an_unreachable_store_exits_1_with_a_readable_message_naming_jobs_url() {
    let url = "redis://:hunter2@127.0.0.1:1/0";
    let run = jobs(Some(url), &["status"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.starts_with("error: "), "{run:?}");
    assert!(run.stderr.contains("127.0.0.1:1"), "{run:?}");
    assert!(
        run.stderr
            .contains("\nhint: check the URL and that the store runs: pass --url or set JOBS_URL (now: redis://:***@127.0.0.1:1/0)\n"),
        "{run:?}"
    );
    assert!(
        !run.stderr.contains("hunter2"),
        "the password is never printed: {run:?}"
    );
    assert!(!run.stderr.contains(" { "), "no debug dump: {run:?}");
    assert_eq!(run.stdout, "");

    let dir = tempfile::tempdir().expect("a temporary folder");
    let missing = dir.path().join("typo.db");
    let url = format!("sqlite://{}", missing.display());
    let run = jobs(Some(&url), &["status"]);
    assert_eq!(run.code, 1, "{run:?}");
    let expected = format!("error: no SQLite database at {}\nhint: name the database file your app uses (sqlite://relative.db or sqlite:///absolute.db): pass --url or set JOBS_URL (now: {url})\n", missing.display());
    assert!(run.stderr.starts_with(&expected), "{run:?}");
    assert!(!missing.exists(), "no empty database is created");

    let run = jobs(None, &["--url", "kafka://localhost", "queues"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.starts_with("error: cannot open the backend at kafka://localhost\n  caused by: unknown backend scheme `kafka://`"), "{run:?}");
    assert!(
        run.stderr
            .contains("\nhint: fix the URL: pass --url or set JOBS_URL (now: kafka://localhost)\n"),
        "{run:?}"
    );
}
