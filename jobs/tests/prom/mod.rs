//! Shared by the Prometheus tests: the process's one recorder, reading a series out of a
//! scrape, and a plain HTTP GET.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::sync::OnceLock;
use std::time::Duration;

use jobs::telemetry::prometheus::PrometheusHandle;

/// The process's one Prometheus recorder.
pub fn handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            jobs::telemetry::prometheus::install()
                .unwrap_or_else(|e| panic!("could not install the recorder: {e}"))
        })
        .clone()
}

/// Held by a test while it writes gauges every test of the binary shares (the scheduled,
/// retry and dead set sizes have no per-test label), so a sampler in one test cannot
/// overwrite what another test is about to read.
pub async fn shared_gauges() -> tokio::sync::MutexGuard<'static, ()> {
    static GATE: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    GATE.lock().await
}

/// The value of the series `name` whose labels are exactly `labels`, in the text `scrape`.
pub fn value(scrape: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let mut want: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
    want.sort();
    scrape.lines().find_map(|line| {
        let (series, value) = line.rsplit_once(' ')?;
        let (n, got) = match series.split_once('{') {
            Some((n, rest)) => {
                let mut got: Vec<String> = rest
                    .trim_end_matches('}')
                    .split(',')
                    .map(str::to_owned)
                    .collect();
                got.sort();
                (n, got)
            }
            None => (series, Vec::new()),
        };
        (n == name && got == want).then(|| value.parse().ok())?
    })
}

/// Asserts that the series has the value `expected`.
pub fn assert_series(scrape: &str, name: &str, labels: &[(&str, &str)], expected: f64) {
    assert_eq!(
        value(scrape, name, labels),
        Some(expected),
        "{name}{labels:?} in the scrape:\n{scrape}"
    );
}

/// A port free on 127.0.0.1 when asked.
pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0");
    listener
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("no free port: {e}"))
}

/// `GET path` on 127.0.0.1:`port`: the status and body, or `None` when nothing listens.
pub async fn get(port: u16, path: &str) -> Option<(u16, String)> {
    let path = path.to_owned();
    let answer = tokio::task::spawn_blocking(move || {
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
        let timeout = Some(Duration::from_secs(5));
        stream.set_read_timeout(timeout).ok()?;
        stream.set_write_timeout(timeout).ok()?;
        let request = format!("GET {path} HTTP/1.1\r\nHost: scrape\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).ok()?;
        let mut response = String::new();
        stream.read_to_string(&mut response).ok()?;
        Some(response)
    })
    .await
    .unwrap_or_else(|e| panic!("the scrape task failed: {e}"))?;
    let status = answer.split(' ').nth(1)?.parse().ok()?;
    let body = answer.split_once("\r\n\r\n")?.1.to_owned();
    Some((status, body))
}
