//! The dashboard in real headless Chromium, through `examples/web_app`: log in, open
//! `/admin/jobs`, see the jobs this test enqueued, retry a dead job by clicking, see the
//! unique lock it took on the Locks page, and save screenshots under `docs/screenshots/`.
//!
//! Runs when `JOBS_E2E=1` (scripts/test sets it after `scripts/e2e-deps.sh` installed
//! Chromium and playwright-core, and after building the example); otherwise it says it
//! skipped. The browser part is `jobs-web/e2e/dashboard.mjs`.

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use jobs::backend::*;
use serde_json::json;

struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn example_binary() -> PathBuf {
    let debug = Path::new(env!("CARGO_BIN_EXE_jobs-web"))
        .parent()
        .unwrap()
        .to_path_buf();
    debug.join("examples").join("web_app")
}

#[tokio::test(flavor = "multi_thread")]
async fn dashboard_in_chromium() {
    if std::env::var("JOBS_E2E").as_deref() != Ok("1") {
        eprintln!("skipped: set JOBS_E2E=1 to run the browser test (scripts/test does)");
        return;
    }
    let exe = example_binary();
    assert!(
        exe.exists(),
        "{} is missing: cargo build -p jobs-examples --example web_app",
        exe.display()
    );
    let dir = std::env::temp_dir().join(format!("jobs-web-e2e-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite://{}/jobs.db", dir.display());
    let b = jobs_backends::connect(&url).await.unwrap();

    // The jobs this test enqueues, in a queue the example's worker does not work.
    let marker = "E2eNightlyReport";
    let now = chrono::Utc::now();
    let queued: Vec<_> = (1..=3)
        .map(|i| jobs::envelope::JobEnvelope::new(marker, "e2e", vec![json!(i), json!("monthly")]))
        .collect();
    b.job_push(PushParams::new(queued, now)).await.unwrap();
    let mut later = jobs::envelope::JobEnvelope::new(marker, "e2e", vec![json!(9)]);
    later.at = Some(jobs::envelope::to_epoch(now + chrono::Duration::hours(2)));
    b.job_push(PushParams::new(vec![later], now)).await.unwrap();
    // A unique job holding its lock, for the Locks page.
    let lock_class = "E2eSyncAccount";
    let mut locked = jobs::envelope::JobEnvelope::new(lock_class, "e2e", vec![json!(42)]);
    let lock = jobs::envelope::flow::UniqueLock::new(
        lock_class,
        None,
        &locked.args,
        jobs::envelope::flow::UniqueUntil::Success,
        jobs::envelope::to_epoch(now + chrono::Duration::hours(1)),
    );
    locked.set_unique(Some(lock));
    b.job_push(PushParams::new(vec![locked], now))
        .await
        .unwrap();
    // A job of the example's whose email argument is declared redacted: the browser must
    // never see the address.
    let secret = "secret-e2e-4242@example.com";
    let welcome =
        jobs::envelope::JobEnvelope::new("SendWelcomeEmail", "e2e", vec![json!(7), json!(secret)]);
    b.job_push(PushParams::new(vec![welcome], now))
        .await
        .unwrap();
    let args = [json!(7), json!("card ending 4242")];
    common::fail(
        &b,
        marker,
        "e2e",
        &args,
        "timeout",
        FinishOutcome::Retry {
            at: now + chrono::Duration::hours(1),
        },
    )
    .await;
    let dead = common::fail(&b, marker, "e2e", &args, "declined", FinishOutcome::Dead).await;

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut app = KillOnDrop(
        Command::new(&exe)
            .env("JOBS_URL", &url)
            .env("PORT", port.to_string())
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap(),
    );
    let mut out = BufReader::new(app.0.stdout.take().unwrap());
    let mut line = String::new();
    while !line.contains("Acme shop at") {
        line.clear();
        assert!(out.read_line(&mut line).unwrap() > 0, "the example exited");
    }
    assert!(line.contains(&format!("127.0.0.1:{port}")), "{line}");
    // Keep reading its output, so its logging never meets a closed pipe.
    std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));

    let e2e = Path::new(env!("CARGO_MANIFEST_DIR")).join("e2e");
    let shots = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/screenshots");
    let status = Command::new("node")
        .arg(e2e.join("dashboard.mjs"))
        .arg(format!("http://127.0.0.1:{port}"))
        .arg(&shots)
        .arg(&dead)
        .arg(marker)
        .arg(lock_class)
        .arg(secret)
        .current_dir(&e2e)
        .status()
        .unwrap();
    drop(app);
    assert!(status.success(), "the browser checks failed: {status}");

    // The click really retried it: out of the dead set, back on its queue.
    assert!(b
        .job_get(JobGetParams::new(JobSet::Dead, &dead))
        .await
        .unwrap()
        .is_none());
    assert!(b
        .job_get(JobGetParams::new(JobSet::Queue("e2e".into()), &dead))
        .await
        .unwrap()
        .is_some());
    for name in [
        "dashboard",
        "queues",
        "busy",
        "retries",
        "dead",
        "dead-job",
        "confirm",
        "recurring",
        "locks",
        "phone",
        "job-metrics",
        "error",
        "actions",
        "viewer",
        "phone-busy",
        "phone-queue",
    ] {
        assert!(shots.join(format!("{name}.png")).exists(), "{name}.png");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
