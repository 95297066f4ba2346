//! The standalone binary: refuses non-loopback addresses without credentials, serves on
//! loopback, and basic auth guards every request when credentials are set.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use axum::body::Body;
use axum::http::Request;
use base64::Engine;
use common::*;
use jobs_web::standalone::{with_basic_auth, Credentials};

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_jobs-web"));
    for k in [
        "JOBS_URL",
        "JOBS_WEB_LISTEN",
        "JOBS_WEB_USER",
        "JOBS_WEB_PASSWORD",
        "JOBS_WEB_READ_ONLY",
        "JOBS_WEB_BEHIND_PROXY",
    ] {
        c.env_remove(k);
    }
    c.env("JOBS_URL", "memory://");
    c
}

#[test]
fn refuses_a_public_address_without_credentials() {
    for addr in ["0.0.0.0:0", "[::]:0", "192.0.2.1:9494"] {
        let out = bin().args(["--listen", addr]).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{addr}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("refusing to listen") && err.contains("JOBS_WEB_USER"),
            "{err}"
        );
    }
    // Only one of the two is not enough.
    let out = bin()
        .args(["--listen", "0.0.0.0:0"])
        .env("JOBS_WEB_USER", "admin")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = bin().args(["--bogus"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn help_prints_usage_first_and_exits_0() {
    for flag in ["--help", "-h"] {
        let out = bin().arg(flag).output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{flag}");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let first = stdout.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
        assert!(first.starts_with("Usage: jobs-web"), "{flag}: {stdout}");
        assert!(stdout.contains("--listen ADDR:PORT"), "{stdout}");
    }
    // A wrong argument names itself, then shows the usage, on stderr with status 2.
    let out = bin().arg("--bogus").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.starts_with("jobs-web: unknown argument `--bogus`")
            && stderr.contains("Usage: jobs-web"),
        "{stderr}"
    );
}

#[test]
fn serves_on_loopback_and_with_credentials_beyond_it() {
    for (addr, creds) in [("127.0.0.1:0", false), ("0.0.0.0:0", true)] {
        let mut cmd = bin();
        cmd.args(["--listen", addr])
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        if creds {
            cmd.env("JOBS_WEB_USER", "admin")
                .env("JOBS_WEB_PASSWORD", "s3cret");
        }
        let mut child = cmd.spawn().unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(
            line.contains("dashboard for memory:// at http://"),
            "{line}"
        );
    }
}

#[tokio::test]
async fn basic_auth_guards_every_request() {
    let b = memory();
    let creds = Credentials {
        user: "admin".into(),
        password: "s3cret".into(),
    };
    let app = with_basic_auth(jobs_web::Dashboard::new(b.clone()).router(), creds);
    let r = get(&app, "/").await;
    assert_eq!(r.status, 401);
    assert!(r.headers.contains_key("www-authenticate"));
    let enc = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    for (pair, want) in [
        ("admin:s3cret", 200),
        ("admin:wrong", 401),
        ("admin:s3cret2", 401),
    ] {
        let req = Request::get("/")
            .header("authorization", format!("Basic {}", enc(pair)))
            .body(Body::empty())
            .unwrap();
        assert_eq!(send(&app, req).await.status, want, "{pair}");
    }
    let req = Request::post("/queues/x/pause")
        .body(Body::from("paused=true"))
        .unwrap();
    assert_eq!(send(&app, req).await.status, 401);
}
