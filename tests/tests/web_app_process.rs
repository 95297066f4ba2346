//! `examples/web_app` as a person runs it: Ctrl-C (SIGINT), or SIGTERM from a process
//! manager, stops the server, the producer and the worker, and the process exits 0 within the
//! worker's shutdown timeout (5 s) and a second (before, the worker took the signal for
//! itself and the server served on for ever); and a bad `JOBS_URL` or a taken `PORT` ends it
//! with status 1 and a message a person reads, naming the setting to change (before, a Rust
//! debug dump). While it serves, its worker's probes answer: `/readyz` and `/livez` 200.

mod probe_support;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

fn example_binary() -> PathBuf {
    let debug = Path::new(env!("CARGO_BIN_EXE_jobs_test_worker"))
        .parent()
        .unwrap()
        .to_path_buf();
    debug.join("examples").join("web_app")
}

async fn stops_on(signal: &str) {
    let exe = example_binary();
    assert!(
        exe.exists(),
        "{} is missing: cargo build -p jobs-examples --example web_app",
        exe.display()
    );
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut app = Command::new(&exe)
        .env("JOBS_URL", "memory://")
        .env("PORT", port.to_string())
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(app.stdout.take().unwrap()).lines();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let line = tokio::time::timeout_at(deadline.into(), lines.next_line()).await;
        match line {
            Ok(Ok(Some(l))) if l.starts_with("Acme shop at") => break,
            Ok(Ok(Some(_))) => continue,
            other => panic!("the example did not start: {other:?}"),
        }
    }
    // Serving: a page answers.
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("the example listens");
    tokio::io::AsyncWriteExt::write_all(
        &mut stream,
        b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    )
    .await
    .unwrap();
    let mut answer = String::new();
    tokio::io::AsyncReadExt::read_to_string(&mut stream, &mut answer)
        .await
        .unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    // The worker inside reached its store: the app's own router says so.
    assert_eq!(probe_support::until(port, "/readyz", 200).await, "ready\n");
    probe_support::assert_live(port).await;

    let sent = Instant::now();
    let pid = app.id().unwrap().to_string();
    let kill = Command::new("kill")
        .args([&format!("-{signal}"), &pid])
        .status()
        .await
        .unwrap();
    assert!(kill.success());
    let status = tokio::time::timeout(Duration::from_secs(6), app.wait())
        .await
        .unwrap_or_else(|_| panic!("still running 6 s after SIG{signal}"))
        .unwrap();
    assert!(status.success(), "SIG{signal}: {status:?}");
    assert!(sent.elapsed() < Duration::from_secs(6));
    let mut rest = Vec::new();
    while let Ok(Some(l)) = lines.next_line().await {
        rest.push(l);
    }
    assert_eq!(rest.last().map(String::as_str), Some("stopped"), "{rest:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_web_app_example_exits_on_sigint_and_on_sigterm() {
    if std::env::var("JOBS_E2E").as_deref() != Ok("1") {
        eprintln!("skipped: set JOBS_E2E=1 to run the example process (scripts/test does)");
        return;
    }
    stops_on("INT").await;
    stops_on("TERM").await;
}

/// Runs the example with `envs` until it ends (within 30 s); its status and what it wrote
/// to stderr.
async fn run_failing(envs: &[(&str, &str)]) -> (std::process::ExitStatus, String) {
    let mut cmd = Command::new(example_binary());
    cmd.env("RUST_LOG", "off")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let out = tokio::time::timeout(Duration::from_secs(30), cmd.output())
        .await
        .expect("the example ends")
        .unwrap();
    (
        out.status,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn the_web_app_example_explains_a_bad_url_and_a_taken_port() {
    if std::env::var("JOBS_E2E").as_deref() != Ok("1") {
        eprintln!("skipped: set JOBS_E2E=1 to run the example process (scripts/test does)");
        return;
    }
    let (status, err) = run_failing(&[("JOBS_URL", "foo://x")]).await;
    assert_eq!(status.code(), Some(1), "{err}");
    assert!(err.starts_with("error: "), "{err}");
    assert!(err.contains("foo"), "the message names the scheme: {err}");
    assert!(err.contains("hint: set JOBS_URL"), "{err}");
    assert!(!err.contains("UnknownScheme {"), "no debug dump: {err}");

    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let (status, err) = run_failing(&[("JOBS_URL", "memory://"), ("PORT", &port)]).await;
    assert_eq!(status.code(), Some(1), "{err}");
    assert!(err.contains("hint:") && err.contains("PORT"), "{err}");
    assert!(!err.contains("Os {"), "no debug dump: {err}");
    drop(taken);
}
