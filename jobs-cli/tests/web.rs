//! `jobs web`: serves the dashboard for the backend with the `jobs-web` binary's options,
//! answers GET on it, and stops gracefully (status 0) on SIGTERM.

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use support::jobs;

/// Starts `jobs web ARGS` for `url`; returns the child and the dashboard's address, read
/// from the line it prints once listening.
fn start(url: &str, args: &[&str]) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_jobs"))
        .arg("web")
        .args(args)
        .env("JOBS_URL", url)
        .env_remove("JOBS_WEB_LISTEN")
        .env_remove("JOBS_WEB_USER")
        .env_remove("JOBS_WEB_PASSWORD")
        .env_remove("JOBS_WEB_READ_ONLY")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("jobs web starts");
    let mut line = String::new();
    let stdout = child.stdout.take().expect("stdout is piped");
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("jobs web prints where it listens");
    let addr = line
        .trim_end()
        .rsplit_once(" at http://")
        .map(|(_, a)| a.trim_end_matches('/').to_owned())
        .unwrap_or_else(|| panic!("no address in {line:?}"));
    assert!(
        line.starts_with(&format!("jobs web: dashboard for {url} at http://")),
        "{line}"
    );
    (child, addr)
}

/// `GET path` on `addr`: the status line and the body.
fn get(addr: &str, path: &str) -> (String, String) {
    let mut stream = TcpStream::connect(addr).expect("the dashboard accepts connections");
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .expect("the request is sent");
    let mut response = String::new();
    stream
        .read_to_string(&mut response)
        .expect("the response is read");
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    (
        head.lines().next().unwrap_or_default().to_owned(),
        body.to_owned(),
    )
}

/// Sends SIGTERM to `child` and waits (with a deadline) for it to exit; its status code.
fn terminate(child: &mut Child) -> Option<i32> {
    let sent = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(sent.success());
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(status) = child.try_wait().expect("the child is waited for") {
            return status.code();
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("jobs web did not stop within 20s of SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_the_dashboard_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let url = format!("sqlite://{}", dir.path().join("jobs.db").display());
    let b = jobs_backends::connect(&url).await.expect("the store opens");
    let job = jobs::envelope::JobEnvelope::new("Email", "mailers", vec![serde_json::json!(1)]);
    b.job_push(jobs::backend::PushParams::new(
        vec![job],
        chrono::Utc::now(),
    ))
    .await
    .expect("a job is pushed");

    let (mut child, addr) = start(&url, &["--listen", "127.0.0.1:0"]);
    let (status, body) = get(&addr, "/");
    assert_eq!(status, "HTTP/1.1 200 OK", "{body}");
    assert!(body.contains("<html"), "{body}");
    let (status, body) = get(&addr, "/queues");
    assert_eq!(status, "HTTP/1.1 200 OK", "{body}");
    assert!(
        body.contains("mailers"),
        "the dashboard shows this store: {body}"
    );
    assert_eq!(terminate(&mut child), Some(0), "a graceful stop exits 0");
    assert!(
        TcpStream::connect(&addr).is_err(),
        "nothing listens after the stop"
    );
}

#[test]
fn shares_the_dashboard_binarys_guard_and_options() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let url = format!("sqlite://{}", dir.path().join("jobs.db").display());
    assert_eq!(jobs(Some(&url), &["migrate"]).code, 0);

    // Beyond loopback without credentials: refused, as jobs-web refuses it (usage, 2).
    let run = jobs(Some(&url), &["web", "--listen", "0.0.0.0:0"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr.starts_with("error: cannot serve the dashboard\n  caused by: refusing to listen on 0.0.0.0:0 without credentials: set JOBS_WEB_USER and JOBS_WEB_PASSWORD"),
        "{run:?}"
    );
    let run = jobs(Some(&url), &["web", "--listen", "nowhere"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr
            .contains("bad listen address `nowhere` (from --listen)"),
        "{run:?}"
    );
    let help = jobs(None, &["web", "--help"]);
    assert_eq!(help.code, 0, "{help:?}");
    for flag in [
        "--listen <ADDR:PORT>",
        "--read-only",
        "--behind-proxy",
        "--hide-args",
    ] {
        assert!(help.stdout.contains(flag), "{flag}: {help:?}");
    }

    // --read-only reaches the dashboard: its pages offer no action.
    let (mut child, addr) = start(&url, &["--listen", "127.0.0.1:0", "--read-only"]);
    let (status, body) = get(&addr, "/");
    assert_eq!(status, "HTTP/1.1 200 OK", "{body}");
    assert!(body.to_lowercase().contains("read-only"), "{body}");
    assert_eq!(terminate(&mut child), Some(0));
}
