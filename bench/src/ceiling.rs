//! Ceilings without the framework, on the same tokio runtime as the scenarios.
//!
//! 1. `ceiling-push --backend redis://...`: sequential `LPUSH` of a job-sized payload on one
//!    raw `TcpStream`, writing the command and reading the one-line reply in the calling task.
//!    It is the floor under `noop --single`: one round trip as a tokio program sees it.
//! 2. `ceiling-io`: the `io` workload as bare tasks: N tasks, at most C at once, each awaiting
//!    5 ms; one in a hundred runs again 100 ms after its first attempt. It is what the `io`
//!    scenario's rate would be if the framework cost nothing.
//!
//! Each prints one JSON line, `{"ceiling": ..., "ops_per_s": ...}` as `bench/peers/ceilings/run`
//! does for `redis-benchmark` and `pgbench`, with the same figure under the name the matching
//! scenario uses (`enqueue_per_s`, `process_per_s`), so `bench/compare` can run a ceiling as a
//! row beside ours in every round.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, Semaphore};

use crate::args::Options;

/// A payload the size of a `BenchNoop` envelope as the Redis backend stores it.
const PAYLOAD: &str = r#"{"class":"BenchNoop","args":[12345],"queue":"default","jid":"0123456789abcdef01234567","created_at":1764316800.123,"enqueued_at":1764316800.123,"retry":3}"#;

/// Prints one ceiling line; `field` names the figure as the matching scenario does.
fn print(name: &str, field: &str, ops_per_s: f64) -> Result<()> {
    let rate = ops_per_s.round();
    let line = serde_json::json!({ "ceiling": name, "ops_per_s": rate, field: rate });
    println!("{line}");
    Ok(())
}

/// `host`, `port` and database of a `redis://HOST[:PORT][/DB]` URL, as the redis crate
/// parses it.
fn redis_addr(url: &str) -> Result<(String, u16, i64)> {
    let info = redis::IntoConnectionInfo::into_connection_info(url).with_context(|| {
        format!("ceiling-push needs a redis://HOST[:PORT][/DB] URL, got `{url}`")
    })?;
    let redis::ConnectionAddr::Tcp(host, port) = info.addr() else {
        bail!("ceiling-push needs a TCP address, got `{url}`");
    };
    Ok((host.clone(), *port, info.redis_settings().db()))
}

/// Writes `cmd` and reads one reply line; fails on an error reply.
async fn round_trip(s: &mut TcpStream, buf: &mut [u8], cmd: &[u8]) -> Result<()> {
    s.write_all(cmd).await?;
    let mut have = 0;
    loop {
        let n = s.read(&mut buf[have..]).await?;
        if n == 0 {
            bail!("Redis closed the connection");
        }
        have += n;
        if buf[..have].ends_with(b"\r\n") {
            break;
        }
        if have == buf.len() {
            bail!("reply longer than {} bytes", buf.len());
        }
    }
    if buf[0] == b'-' {
        bail!(
            "Redis: {}",
            String::from_utf8_lossy(&buf[..have]).trim_end()
        );
    }
    Ok(())
}

/// `ceiling-push`: sequential `LPUSH` on a raw connection, then the list is deleted.
pub async fn push(o: &Options) -> Result<()> {
    let (host, port, db) = redis_addr(&o.backend)?;
    let mut s = TcpStream::connect((host.as_str(), port))
        .await
        .with_context(|| format!("connecting to {host}:{port}"))?;
    s.set_nodelay(true)?;
    let mut buf = vec![0u8; 512];
    let db = db.to_string();
    let select = format!("*2\r\n$6\r\nSELECT\r\n${}\r\n{db}\r\n", db.len());
    round_trip(&mut s, &mut buf, select.as_bytes()).await?;
    let key = format!("jobs-bench:ceiling:{}", std::process::id());
    let lpush = format!(
        "*3\r\n$5\r\nLPUSH\r\n${}\r\n{key}\r\n${}\r\n{PAYLOAD}\r\n",
        key.len(),
        PAYLOAD.len()
    );
    let t = Instant::now();
    for _ in 0..o.jobs {
        round_trip(&mut s, &mut buf, lpush.as_bytes()).await?;
    }
    let rate = o.jobs as f64 / t.elapsed().as_secs_f64();
    let del = format!("*2\r\n$3\r\nDEL\r\n${}\r\n{key}\r\n", key.len());
    round_trip(&mut s, &mut buf, del.as_bytes()).await?;
    print(
        "tokio TcpStream LPUSH, 1 connection (1 round trip)",
        "enqueue_per_s",
        rate,
    )
}

/// `ceiling-io`: the `io` workload as bare tasks; see the module docs.
pub async fn io(o: &Options) -> Result<()> {
    let slots = Arc::new(Semaphore::new(o.concurrency));
    let (done_tx, mut done_rx) = mpsc::unbounded_channel::<()>();
    let t = Instant::now();
    let feeder = {
        let slots = slots.clone();
        let jobs = o.jobs;
        tokio::spawn(async move {
            for n in 0..jobs {
                let Ok(permit) = slots.clone().acquire_owned().await else {
                    return;
                };
                let (slots, done) = (slots.clone(), done_tx.clone());
                tokio::spawn(async move {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                    drop(permit);
                    if n % 100 == 0 {
                        // The failed first attempt runs again 100 ms later, in a slot.
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        let Ok(_again) = slots.acquire().await else {
                            return;
                        };
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                    let _ = done.send(());
                });
            }
        })
    };
    for _ in 0..o.jobs {
        if done_rx.recv().await.is_none() {
            bail!("the io ceiling's tasks stopped early");
        }
    }
    let rate = o.jobs as f64 / t.elapsed().as_secs_f64();
    feeder.await.context("the io ceiling's feeder")?;
    print(
        &format!(
            "tokio: {} jobs awaiting 5 ms, {} at once, 1% again after 100 ms",
            o.jobs, o.concurrency
        ),
        "process_per_s",
        rate,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redis_urls_give_host_port_and_database() {
        let a = redis_addr("redis://127.0.0.1:6390/13").ok();
        assert_eq!(a, Some(("127.0.0.1".to_owned(), 6390, 13)));
        let b = redis_addr("redis://localhost").ok();
        assert_eq!(b, Some(("localhost".to_owned(), 6379, 0)));
        let err = redis_addr("postgres://x").err().map(|e| e.to_string());
        assert!(err.is_some_and(|e| e.contains("redis://")));
    }
}
