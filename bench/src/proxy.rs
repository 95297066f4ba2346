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
//!    With `--netns` it also listens on the same port inside every worker host's namespace
//!    (`hosts.rs`); those listeners' upstream connections are dialled from the proxy's own
//!    namespace, so the only way from a host to the store is through the delay.
//! 3. [`Proxy::finish`] closes the child's stdin; the child prints the count and exits.
//!    Its CPU is not the worker's: it is a process of its own, not counted by `cpu.rs`.

use std::net::{TcpListener, TcpStream};
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::announce;
use crate::args::Options;
use crate::hosts::{self, Hosts};

/// The proxy child, running.
pub struct Proxy {
    child: Child,
    /// The store URL through the proxy.
    pub url: String,
    /// A cluster's nodes, announcing the proxy's ports until [`Proxy::finish`].
    announced: Option<announce::Announced>,
}

/// Where the proxy goes: the servers it forwards to (one, or a cluster's nodes), and the
/// store URL rewritten to reach them through the proxy's ports.
struct Route {
    /// `host:port` of each server, in the URL's order.
    upstreams: Vec<String>,
    /// `scheme://`, then each server's userinfo (`user@`, or empty), then the path and query.
    scheme: String,
    users: Vec<String>,
    tail: String,
}

impl Route {
    /// Reads a single-server URL (`redis://`, `postgres://`) or a `redis+cluster://` node list.
    fn parse(url: &str) -> Result<Route> {
        let (scheme, rest) = url
            .split_once("://")
            .context("the backend URL has no scheme")?;
        let default_port = match scheme {
            "redis" | "redis+cluster" => 6379,
            "postgres" | "postgresql" => 5432,
            _ => bail!(
                "--delay-ms takes a redis://, redis+cluster:// or postgres:// URL, not {scheme}://"
            ),
        };
        let end = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, tail) = rest.split_at(end);
        let entries: Vec<&str> = if scheme == "redis+cluster" {
            authority.split(',').filter(|e| !e.is_empty()).collect()
        } else {
            vec![authority]
        };
        let mut route = Route {
            upstreams: Vec::new(),
            scheme: format!("{scheme}://"),
            users: Vec::new(),
            tail: tail.to_owned(),
        };
        for entry in entries {
            let (userinfo, hostport) = match entry.rsplit_once('@') {
                Some((u, h)) => (format!("{u}@"), h),
                None => (String::new(), entry),
            };
            route.users.push(userinfo);
            route.upstreams.push(if hostport.contains(':') {
                hostport.to_owned()
            } else {
                format!("{hostport}:{default_port}")
            });
        }
        if route.upstreams.is_empty() {
            bail!("the backend URL names no server");
        }
        Ok(route)
    }

    /// The URL with each server replaced by the proxy's port for it on `127.0.0.1`.
    fn through(&self, ports: &[u16]) -> String {
        let nodes: Vec<String> = self
            .users
            .iter()
            .zip(ports)
            .map(|(u, p)| format!("{u}127.0.0.1:{p}"))
            .collect();
        format!("{}{}{}", self.scheme, nodes.join(","), self.tail)
    }
}

impl Proxy {
    /// Starts a proxy child in front of `url`'s server with `delay_ms` round trips, listening
    /// on this machine's loopback and, with `hosts`, on the same port inside every host's
    /// namespace.
    pub async fn start(url: &str, delay_ms: f64, hosts: Option<&Hosts>) -> Result<Proxy> {
        let route = Route::parse(url)?;
        let exe = std::env::current_exe().context("locating this binary to spawn the proxy")?;
        let mut cmd = Command::new(exe);
        cmd.args(["proxy", "--upstream", &route.upstreams.join(",")])
            .args(["--delay-ms", &delay_ms.to_string()]);
        if let Some(h) = hosts {
            cmd.args(["--proxy-netns", &h.names().join(",")]);
        }
        let mut child = cmd
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
        let ports: Vec<u16> = first
            .strip_prefix("listening=")
            .context("the proxy's first line is not listening=PORT,...")?
            .split(',')
            .map(|p| p.trim().parse().context("the proxy printed a bad port"))
            .collect::<Result<_>>()?;
        child.stdout = Some(lines.into_inner().into_inner());
        let mut proxy = Proxy {
            child,
            url: route.through(&ports),
            announced: None,
        };
        if route.scheme == "redis+cluster://" {
            proxy.announced = Some(announce::Announced::set(&route.upstreams, &ports).await?);
        }
        Ok(proxy)
    }

    /// Stops the proxy; gives how many client round trips it carried.
    /// A cluster's nodes announce their own ports again first, even when the run failed.
    pub async fn finish(mut self) -> Result<u64> {
        let restored = match self.announced.take() {
            Some(a) => a.restore().await,
            None => Ok(()),
        };
        drop(self.child.stdin.take());
        let mut out = String::new();
        if let Some(mut o) = self.child.stdout.take() {
            tokio::time::timeout(Duration::from_secs(10), o.read_to_string(&mut out))
                .await
                .context("the proxy did not stop in 10 s")??;
        }
        let _ = self.child.wait().await;
        restored?;
        out.lines()
            .find_map(|l| l.strip_prefix("round_trips="))
            .and_then(|n| n.trim().parse().ok())
            .context("the proxy did not report its count")
    }
}

/// Connects to the upstream server from this process's own namespace, for listeners whose
/// thread moved into a host's namespace (a socket made there could not reach this machine's
/// loopback). Answers each request on the channel it carries.
type Dial = std::sync::mpsc::Sender<std::sync::mpsc::Sender<std::io::Result<TcpStream>>>;

fn dialer(upstream: String) -> Dial {
    let (tx, rx) = std::sync::mpsc::channel::<std::sync::mpsc::Sender<_>>();
    std::thread::spawn(move || {
        while let Ok(reply) = rx.recv() {
            let _ = reply.send(TcpStream::connect(&upstream));
        }
    });
    tx
}

/// Accepts on `listener` until the process ends; each client is paired with a fresh upstream
/// connection from `dial` and pumped both ways with the delay.
fn serve(listener: TcpListener, dial: Dial, one_way: Duration, trips: Arc<AtomicU64>) {
    for client in listener.incoming().flatten() {
        let (tx, rx) = std::sync::mpsc::channel();
        if dial.send(tx).is_err() {
            return;
        }
        let Ok(Ok(server)) = rx.recv() else {
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
}

/// The child's side: listen, forward with the delay, count, until stdin closes. Plain
/// threads and blocking sockets: a thread's sleep wakes within tens of microseconds, where
/// tokio's timer rounds every wait up to the next millisecond, which would make a 1 ms round
/// trip 2 to 3 ms.
pub async fn run_proxy(o: &Options) -> Result<()> {
    let upstreams: Vec<String> = o
        .upstream
        .as_deref()
        .context("proxy needs --upstream HOST:PORT[,HOST:PORT...]")?
        .split(',')
        .map(str::to_owned)
        .collect();
    let one_way = Duration::from_secs_f64(o.delay_ms.max(0.0) / 2000.0);
    let trips = Arc::new(AtomicU64::new(0));
    let mut ports = Vec::new();
    for upstream in upstreams {
        let listener = TcpListener::bind("127.0.0.1:0").context("binding the proxy")?;
        let port = listener.local_addr()?.port();
        ports.push(port.to_string());
        let dial = dialer(upstream);
        // The same port inside every host's namespace; each listener is bound before the
        // port is announced, so a worker never finds it closed.
        for name in &o.proxy_netns {
            let (ready_tx, ready_rx) = std::sync::mpsc::channel();
            let (name, dial, trips) = (name.clone(), dial.clone(), trips.clone());
            std::thread::spawn(move || {
                let bound = hosts::enter(&name).and_then(|()| {
                    TcpListener::bind(("127.0.0.1", port))
                        .with_context(|| format!("binding 127.0.0.1:{port} in namespace {name}"))
                });
                match bound {
                    Ok(l) => {
                        let _ = ready_tx.send(Ok(()));
                        serve(l, dial, one_way, trips);
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                    }
                }
            });
            ready_rx
                .recv()
                .context("a namespace listener thread ended before binding")??;
        }
        let trips = trips.clone();
        std::thread::spawn(move || serve(listener, dial, one_way, trips));
    }
    println!("listening={}", ports.join(","));
    let mut stdin = BufReader::new(tokio::io::stdin()).lines();
    let _ = stdin.next_line().await;
    println!("round_trips={}", trips.load(Ordering::Relaxed));
    Ok(())
}

/// Copies `from` to `to` on two threads, each chunk written `delay` after it was read (order
/// kept); counts the chunks read.
fn pump(mut from: TcpStream, mut to: TcpStream, delay: Duration, count: Option<Arc<AtomicU64>>) {
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
        let r = Route::parse("postgres://root@127.0.0.1:5432/test?sslmode=disable").unwrap();
        assert_eq!(r.upstreams, ["127.0.0.1:5432"]);
        assert_eq!(
            r.through(&[9]),
            "postgres://root@127.0.0.1:9/test?sslmode=disable"
        );
        let r = Route::parse("redis://localhost/3").unwrap();
        assert_eq!(r.upstreams, ["localhost:6379"]);
        assert_eq!(r.through(&[9]), "redis://127.0.0.1:9/3");
        let r = Route::parse("redis+cluster://a:1,b:2?prefix=x").unwrap();
        assert_eq!(r.upstreams, ["a:1", "b:2"]);
        assert_eq!(
            r.through(&[7, 8]),
            "redis+cluster://127.0.0.1:7,127.0.0.1:8?prefix=x"
        );
        assert!(Route::parse("redis+shards://a:1,b:2").is_err());
    }
}
