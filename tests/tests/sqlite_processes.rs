//! Several real processes share one SQLite file: enqueuers and workers at once never see
//! "database is locked", every job runs exactly once, and an enqueuer killed mid-write leaves
//! every enqueue that returned Ok in the file.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use jobs::backend::{AdminBackend, JobListParams, JobSet};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

fn temp_db(tag: &str) -> (PathBuf, String) {
    let nanos = chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default();
    let path = std::env::temp_dir().join(format!("jobs-{tag}-{}-{nanos:x}.db", std::process::id()));
    let url = format!("sqlite://{}", path.display());
    (path, url)
}

fn remove_db(path: &std::path::Path) {
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
}

fn enqueuer(url: &str, from: u64, count: u64) -> Child {
    Command::new(env!("CARGO_BIN_EXE_jobs_test_enqueuer"))
        .args([
            "--url",
            url,
            "--from",
            &from.to_string(),
            "--count",
            &count.to_string(),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap()
}

async fn worker(url: &str) -> Child {
    let mut child = Command::new(env!("CARGO_BIN_EXE_jobs_test_worker"))
        .args([
            "--url",
            url,
            "--concurrency",
            "4",
            "--poll-ms",
            "100",
            "--heartbeat-ms",
            "500",
        ])
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let ready = tokio::time::timeout(Duration::from_secs(30), lines.next_line()).await;
    assert!(
        matches!(ready, Ok(Ok(Some(ref l))) if l.starts_with("ready ")),
        "{ready:?}"
    );
    child
}

async fn performed(admin: &Arc<dyn AdminBackend>) -> BTreeMap<u64, usize> {
    let page = admin
        .job_list(JobListParams::new(
            JobSet::Queue("performed".into()),
            u64::MAX,
        ))
        .await
        .unwrap();
    let mut seen = BTreeMap::new();
    for s in page.jobs {
        *seen.entry(s.job.args[0].as_u64().unwrap()).or_insert(0) += 1;
    }
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enqueuers_and_workers_in_separate_processes_share_one_file() {
    const PER: u64 = 150;
    const ENQUEUERS: u64 = 3;
    let (path, url) = temp_db("multiproc");
    let admin = jobs_backends::connect(&url).await.unwrap();
    let mut workers = Vec::new();
    for _ in 0..3 {
        workers.push(worker(&url).await);
    }
    let producers: Vec<Child> = (0..ENQUEUERS)
        .map(|k| enqueuer(&url, k * PER, PER))
        .collect();
    for p in producers {
        let out = p.wait_with_output().await.unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "an enqueuer failed: {stderr}");
        assert!(!stderr.contains("locked"), "{stderr}");
        let acked = String::from_utf8_lossy(&out.stdout).lines().count() as u64;
        assert_eq!(acked, PER, "every enqueue returned Ok");
    }
    let total = ENQUEUERS * PER;
    let deadline = Instant::now() + Duration::from_secs(120);
    let seen = loop {
        let seen = performed(&admin).await;
        if seen.len() as u64 == total {
            break seen;
        }
        assert!(
            Instant::now() < deadline,
            "{} of {total} performed",
            seen.len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(
        seen.values().all(|n| *n == 1),
        "a job ran twice without any crash"
    );
    let stats = admin.stats().await.unwrap();
    assert_eq!(
        (stats.failed, stats.retries, stats.dead),
        (0, 0, 0),
        "{stats:?}"
    );
    for mut w in workers {
        let _ = w.start_kill();
        let _ = w.wait().await;
    }
    remove_db(&path);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_enqueuer_killed_mid_write_leaves_every_acknowledged_job() {
    let (path, url) = temp_db("killwrite");
    let mut child = enqueuer(&url, 0, 1_000_000);
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut acked = Vec::new();
    while acked.len() < 300 {
        match tokio::time::timeout(Duration::from_secs(30), lines.next_line()).await {
            Ok(Ok(Some(line))) => acked.push(
                line.split_whitespace()
                    .nth(2)
                    .unwrap_or_default()
                    .to_owned(),
            ),
            other => panic!("the enqueuer stopped early: {other:?}"),
        }
    }
    child.start_kill().unwrap();
    child.wait().await.unwrap();
    // Lines printed after the last one read were acknowledged too; read them as well.
    while let Ok(Some(line)) = lines.next_line().await {
        acked.push(
            line.split_whitespace()
                .nth(2)
                .unwrap_or_default()
                .to_owned(),
        );
    }

    let admin = jobs_backends::connect(&url).await.unwrap();
    let page = admin
        .job_list(JobListParams::new(
            JobSet::Queue("default".into()),
            u64::MAX,
        ))
        .await
        .unwrap();
    let stored: std::collections::HashSet<String> =
        page.jobs.into_iter().map(|s| s.job.jid).collect();
    let missing: Vec<&String> = acked.iter().filter(|jid| !stored.contains(*jid)).collect();
    assert!(
        missing.is_empty(),
        "{} acknowledged enqueues missing after the kill",
        missing.len()
    );
    assert!(stored.len() >= acked.len());
    remove_db(&path);
}
