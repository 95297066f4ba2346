//! Asks a worker's health probes over real HTTP/1.1 (`GET /livez`, `GET /readyz`), once or
//! until an answer comes, for the tests that watch a worker's readiness.

#![allow(dead_code)]

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The longest a test waits for a probe to give the answer it expects.
pub const WAIT: Duration = Duration::from_secs(30);

/// `GET path` on 127.0.0.1:`port`: the status and body, or `None` when nothing answers there
/// (nothing listens, or no whole answer within 5 s).
pub async fn get(port: u16, path: &str) -> Option<(u16, String)> {
    let ask = async {
        let mut stream = TcpStream::connect(("127.0.0.1", port)).await.ok()?;
        let request = format!("GET {path} HTTP/1.1\r\nHost: probe\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await.ok()?;
        let mut response = Vec::new();
        stream.read_to_end(&mut response).await.ok()?;
        String::from_utf8(response).ok()
    };
    let answer = tokio::time::timeout(Duration::from_secs(5), ask)
        .await
        .ok()??;
    let status = answer.split(' ').nth(1)?.parse().ok()?;
    let body = answer.split_once("\r\n\r\n")?.1.to_owned();
    Some((status, body))
}

/// Asks `GET path` until it answers `status`, and returns the body; panics after [`WAIT`]
/// with the last answer.
pub async fn until(port: u16, path: &str, status: u16) -> String {
    let deadline = Instant::now() + WAIT;
    let mut last = None;
    loop {
        let answer = get(port, path).await;
        if let Some((s, body)) = &answer {
            if *s == status {
                return body.clone();
            }
        }
        last = answer.or(last);
        assert!(
            Instant::now() < deadline,
            "GET {path} did not answer {status} within {WAIT:?}; last answer: {last:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Asserts `GET /livez` answers 200 now.
pub async fn assert_live(port: u16) {
    assert_eq!(
        get(port, "/livez").await,
        Some((200, "ok\n".to_owned())),
        "livez answers 200"
    );
}
