//! A delaying TCP proxy in front of the store, run as a child process of its own, so a
//! benchmark sees a network round trip of `--delay-ms` (this machine's kernel has no `netem`)
//! and counts how many round trips the run took.
//!
//! 1. [`Proxy::start`] spawns `jobs-bench proxy --upstream HOST:PORT --delay-ms D`, reads
//!    the port it listens on, and rewrites the store URL to go through it.
//! 2. The child forwards every connection both ways on plain threads, holding each chunk
//!    read for half the delay before writing it on (order kept per direction), so a request
//!    and its reply take `D` together. It counts the chunks read from clients: a client's write of one
//!    command or one pipeline, or several the OS coalesced, is one round trip it waits for.
//! 3. [`Proxy::finish`] closes the child's stdin; the child prints the count and exits.
//!    Its CPU is not the worker's: it is a process of its own, not counted by `cpu.rs`.

use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::args::Options;

/// The proxy child, running.
pub struct Proxy {
    child: Child,
    /// The store URL through the proxy.
    pub url: String,
}

/// `host:port` of a single-server URL (`redis://`, `rediss://`, `postgres://`), and the URL
/// with that part replaced by `127.0.0.1:<port>`.
fn split_authority(url: &str) -> Result<(String, String, String)> {
    let (scheme, rest) = url
        .split_once("://")
        .context("the backend URL has no scheme")?;
    if !matches!(scheme, "redis" | "postgres" | "postgresql") {
        bail!("--delay-ms takes a redis:// or postgres:// URL of one server, not {scheme}://");
    }
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let (userinfo, hostport) = match authority.rsplit_once('@') {
        Some((u, h)) => (format!("{u}@"), h),
        None => (String::new(), authority),
    };
    let default_port = if scheme == "redis" { 6379 } else { 5432 };
    let hostport = if hostport.contains(':') {
        hostport.to_owned()
    } else {
        format!("{hostport}:{default_port}")
    };
    Ok((
        hostport,
        format!("{scheme}://{userinfo}127.0.0.1:"),
        tail.to_owned(),
    ))
}

impl Proxy {
    /// Starts a proxy child in front of `url`'s server with `delay_ms` round trips.
    pub async fn start(url: &str, delay_ms: f64) -> Result<Proxy> {
        let (upstream, head, tail) = split_authority(url)?;
        let exe = std::env::current_exe().context("locating this binary to spawn the proxy")?;
        let mut child = Command::new(exe)
            .args(["proxy", "--upstream", &upstream])
            .args(["--delay-ms", &delay_ms.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .context("spawning the proxy")?;
        let out = child.stdout.take().context("the proxy's stdout")?;
        let mut lines = BufReader::new(out).lines();
        let first = tokio::time::timeout(Duration::from_secs(10), lines.next_line())
            .await
            .context("the proxy did not start in 10 s")??
            .context("the proxy exited before listening")?;
        let port = first
            .strip_prefix("listening=")
            .context("the proxy's first line is not listening=PORT")?;
        child.stdout = Some(lines.into_inner().into_inner());
        Ok(Proxy {
            child,
            url: format!("{head}{port}{tail}"),
        })
    }

    /// Stops the proxy; gives how many client round trips it carried.
    pub async fn finish(mut self) -> Result<u64> {
        drop(self.child.stdin.take());
        let mut out = String::new();
        if let Some(mut o) = self.child.stdout.take() {
            tokio::time::timeout(Duration::from_secs(10), o.read_to_string(&mut out))
                .await
                .context("the proxy did not stop in 10 s")??;
        }
        let _ = self.child.wait().await;
        out.lines()
            .find_map(|l| l.strip_prefix("round_trips="))
            .and_then(|n| n.trim().parse().ok())
            .context("the proxy did not report its count")
    }
}

/// The child's side: listen, forward with the delay, count, until stdin closes. Plain
/// threads and blocking sockets: a thread's sleep wakes within tens of microseconds, where
/// tokio's timer rounds every wait up to the next millisecond, which would make a 1 ms round
/// trip 2 to 3 ms.
pub async fn run_proxy(o: &Options) -> Result<()> {
    let upstream = o
        .upstream
        .clone()
        .context("proxy needs --upstream HOST:PORT")?;
    let one_way = Duration::from_secs_f64(o.delay_ms.max(0.0) / 2000.0);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").context("binding the proxy")?;
    println!("listening={}", listener.local_addr()?.port());
    let trips = Arc::new(AtomicU64::new(0));
    {
        let trips = trips.clone();
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let Ok(server) = std::net::TcpStream::connect(&upstream) else {
                    continue;
                };
                let _ = client.set_nodelay(true);
                let _ = server.set_nodelay(true);
                let (Ok(c2), Ok(s2)) = (client.try_clone(), server.try_clone()) else {
                    continue;
                };
                pump(client, s2, one_way, Some(trips.clone()));
                pump(server, c2, one_way, None);
            }
        });
    }
    let mut stdin = BufReader::new(tokio::io::stdin()).lines();
    let _ = stdin.next_line().await;
    println!("round_trips={}", trips.load(Ordering::Relaxed));
    Ok(())
}

/// Copies `from` to `to` on two threads, each chunk written `delay` after it was read (order
/// kept); counts the chunks read.
fn pump(
    mut from: std::net::TcpStream,
    mut to: std::net::TcpStream,
    delay: Duration,
    count: Option<Arc<AtomicU64>>,
) {
    use std::io::{Read, Write};
    let (tx, rx) = std::sync::mpsc::channel::<(std::time::Instant, Vec<u8>)>();
    std::thread::spawn(move || {
        while let Ok((due, bytes)) = rx.recv() {
            let now = std::time::Instant::now();
            if due > now {
                std::thread::sleep(due - now);
            }
            if to.write_all(&bytes).is_err() {
                break;
            }
        }
        let _ = to.shutdown(std::net::Shutdown::Write);
    });
    std::thread::spawn(move || {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match from.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if let Some(c) = &count {
                        c.fetch_add(1, Ordering::Relaxed);
                    }
                    let due = std::time::Instant::now() + delay;
                    if tx.send((due, buf[..n].to_vec())).is_err() {
                        break;
                    }
                }
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_url_keeps_its_user_path_and_query_and_goes_to_the_proxy() {
        let (up, head, tail) =
            split_authority("postgres://root@127.0.0.1:5432/test?sslmode=disable").unwrap();
        assert_eq!(up, "127.0.0.1:5432");
        assert_eq!(
            format!("{head}9{tail}"),
            "postgres://root@127.0.0.1:9/test?sslmode=disable"
        );
        let (up, _, tail) = split_authority("redis://localhost/3").unwrap();
        assert_eq!((up.as_str(), tail.as_str()), ("localhost:6379", "/3"));
        assert!(split_authority("redis+cluster://a:1,b:2").is_err());
    }
}
