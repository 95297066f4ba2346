//! A push whose reply is lost after Redis applied it (the connection closed between the two,
//! as `CLIENT KILL` does) is stored once: the backend never sends it a second time. Driven
//! through a TCP proxy in front of the shared server that can drop the next reply (and close
//! the connection it came on) or close every connection, and against a `redis-server` of the
//! test's own whose clients are killed over and over while jobs are pushed one at a time.

mod redis_support;

use std::collections::HashMap;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use jobs::backend::*;
use jobs::envelope::JobEnvelope;
use jobs_backends::redis::{RedisBackend, RedisOptions};
use redis_support::{free_port, t0, url, Fixture};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::process::Command;
use tokio::sync::watch;

/// A proxy to the shared server.
struct Proxy {
    port: u16,
    /// The next reply from the server, on any connection, is dropped with its connection.
    drop_next: Arc<AtomicBool>,
    /// Bumped to close every connection.
    close: watch::Sender<u64>,
    /// Connections open through the proxy.
    open: Arc<AtomicUsize>,
}

impl Proxy {
    async fn start(upstream: String) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let drop_next = Arc::new(AtomicBool::new(false));
        let (close, _) = watch::channel(0u64);
        let open = Arc::new(AtomicUsize::new(0));
        let (d, c, o) = (drop_next.clone(), close.clone(), open.clone());
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let Ok(server) = TcpStream::connect(&upstream).await else {
                    continue;
                };
                o.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(relay(client, server, d.clone(), c.subscribe(), o.clone()));
            }
        });
        Proxy {
            port,
            drop_next,
            close,
            open,
        }
    }

    /// The shared server's URL with the proxy in its place.
    fn url(&self) -> String {
        let (_, proxied) = split_authority(&url(), self.port);
        proxied
    }

    fn drop_next_reply(&self) {
        self.drop_next.store(true, Ordering::SeqCst);
    }

    /// Closes every connection, as the server does to its clients when it restarts, and
    /// waits until they are all closed.
    async fn close_all(&self) {
        self.close.send_modify(|n| *n += 1);
        let deadline = Instant::now() + Duration::from_secs(5);
        while self.open.load(Ordering::SeqCst) > 0 {
            assert!(
                Instant::now() < deadline,
                "the proxy's connections stay open"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

/// Relays one connection until either side closes, the test drops a reply, or closes all.
async fn relay(
    client: TcpStream,
    server: TcpStream,
    drop_next: Arc<AtomicBool>,
    mut close: watch::Receiver<u64>,
    open: Arc<AtomicUsize>,
) {
    let (mut cr, mut cw) = client.into_split();
    let (mut sr, mut sw) = server.into_split();
    let (mut up, mut down) = (vec![0u8; 16 * 1024], vec![0u8; 16 * 1024]);
    loop {
        tokio::select! {
            n = cr.read(&mut up) => match n {
                Ok(n) if n > 0 => {
                    if sw.write_all(&up[..n]).await.is_err() {
                        break;
                    }
                }
                _ => break,
            },
            n = sr.read(&mut down) => match n {
                Ok(n) if n > 0 => {
                    // The server applied the command; its reply is lost with the connection.
                    if drop_next.swap(false, Ordering::SeqCst) {
                        break;
                    }
                    if cw.write_all(&down[..n]).await.is_err() {
                        break;
                    }
                }
                _ => break,
            },
            _ = close.changed() => break,
        }
    }
    // Both sockets close as their halves drop here.
    drop((cr, cw, sr, sw));
    open.fetch_sub(1, Ordering::SeqCst);
}

/// `(host:port, url)`: the server's address in `url`, and `url` with `127.0.0.1:<port>` in
/// its place (user, password, database and query kept).
fn split_authority(url: &str, port: u16) -> (String, String) {
    let (scheme, rest) = url.split_once("://").unwrap_or(("redis", url));
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let (user, hostport) = match authority.rsplit_once('@') {
        Some((user, hostport)) => (format!("{user}@"), hostport),
        None => (String::new(), authority),
    };
    let hostport = if hostport.contains(':') {
        hostport.to_owned()
    } else {
        format!("{hostport}:6379")
    };
    (hostport, format!("{scheme}://{user}127.0.0.1:{port}{tail}"))
}

/// A fixture whose backend reaches the shared server through `proxy`.
async fn through(name: &str) -> (Fixture, Proxy) {
    let (upstream, _) = split_authority(&url(), 0);
    let proxy = Proxy::start(upstream).await;
    let proxied = proxy.url();
    let fx = Fixture::with(name, |mut o| {
        o.url = proxied;
        o
    })
    .await;
    (fx, proxy)
}

/// How many copies of job `jid` wait in queue `q`.
async fn copies(fx: &Fixture, q: &str, jid: &str) -> usize {
    let payloads: Vec<String> = fx
        .cmd(
            redis::cmd("LRANGE")
                .arg(fx.key(&format!("queue:{q}")))
                .arg(0)
                .arg(-1),
        )
        .await;
    payloads
        .iter()
        .filter(|p| {
            serde_json::from_str::<serde_json::Value>(p)
                .ok()
                .is_some_and(|v| v["jid"] == jid)
        })
        .count()
}

async fn push_one(fx: &Fixture, job: JobEnvelope) -> Result<PushReport, BackendError> {
    fx.backend.job_push(PushParams::new(vec![job], t0())).await
}

#[tokio::test]
async fn a_push_whose_reply_was_lost_is_stored_once() {
    let (fx, proxy) = through("lost-push-reply").await;
    // The first push leaves its connection idle for the next one.
    let first = JobEnvelope::new("Echo", "q", vec![]);
    push_one(&fx, first.clone()).await.unwrap();

    proxy.drop_next_reply();
    let job = JobEnvelope::new("Echo", "q", vec![]);
    let pushed = push_one(&fx, job.clone()).await;

    assert_eq!(copies(&fx, "q", &first.jid).await, 1);
    assert_eq!(
        copies(&fx, "q", &job.jid).await,
        1,
        "the push was applied, its reply lost, and it must not be sent again"
    );
    // Its reply never came: the caller is told it may not be stored.
    let err = pushed.expect_err("a push whose reply was lost cannot report Ok");
    assert!(err.is_transient(), "{err}");
    fx.cleanup().await;
}

#[tokio::test]
async fn a_push_after_its_idle_connection_was_closed_goes_on_a_new_one_once() {
    let (fx, proxy) = through("closed-idle-push").await;
    push_one(&fx, JobEnvelope::new("Echo", "q", vec![]))
        .await
        .unwrap();
    // The server closes every connection (a restart, CLIENT KILL) while the push connection
    // is idle: the next push finds it closed before writing, and is sent once, on a new one.
    proxy.close_all().await;
    let job = JobEnvelope::new("Echo", "q", vec![]);
    push_one(&fx, job.clone()).await.unwrap();
    assert_eq!(copies(&fx, "q", &job.jid).await, 1);
    // The shared connection's first command after the close fails, then it reconnects.
    let deadline = Instant::now() + Duration::from_secs(5);
    while let Err(e) = fx.backend.clear_all().await {
        assert!(Instant::now() < deadline, "no reconnect: {e}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn single_pushes_while_every_client_is_killed_are_stored_at_most_once() {
    let port = free_port();
    let Ok(_server) = Command::new("redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--save", "", "--appendonly", "no"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
    else {
        eprintln!("SKIPPED: redis-server is not installed");
        return;
    };
    let url = format!("redis://127.0.0.1:{port}");
    let client = redis::Client::open(url.clone()).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let admin = loop {
        if let Ok(c) = client.get_multiplexed_async_connection().await {
            break c;
        }
        assert!(Instant::now() < deadline, "redis-server did not start");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let backend = RedisBackend::connect(RedisOptions::new(url).with_prefix("kills"))
        .await
        .unwrap();

    // Kills every other client (the killer's own connection is spared) every 3 ms.
    let stop = Arc::new(AtomicBool::new(false));
    let killer = tokio::spawn({
        let (stop, mut conn) = (stop.clone(), admin.clone());
        async move {
            let mut killed = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let kill = redis::cmd("CLIENT")
                    .arg("KILL")
                    .arg("TYPE")
                    .arg("normal")
                    .query_async::<u64>(&mut conn)
                    .await;
                killed += kill.unwrap_or(0);
                tokio::time::sleep(Duration::from_millis(3)).await;
            }
            killed
        }
    });
    let mut acknowledged = Vec::new();
    for i in 0..3000 {
        let job = JobEnvelope::new("Echo", "q", vec![serde_json::json!(i)]);
        let jid = job.jid.clone();
        if backend
            .job_push(PushParams::new(vec![job], t0()))
            .await
            .is_ok()
        {
            acknowledged.push(jid);
        }
    }
    stop.store(true, Ordering::Relaxed);
    let killed = killer.await.unwrap();
    assert!(killed > 0, "no client was killed");

    let stored: Vec<String> = redis::cmd("LRANGE")
        .arg("kills:queue:q")
        .arg(0)
        .arg(-1)
        .query_async(&mut admin.clone())
        .await
        .unwrap();
    let mut copies: HashMap<String, usize> = HashMap::new();
    for payload in &stored {
        let job: serde_json::Value = serde_json::from_str(payload).unwrap();
        *copies.entry(job["jid"].to_string()).or_default() += 1;
    }
    let twice: Vec<_> = copies.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "stored twice ({killed} kills): {twice:?}");
    for jid in &acknowledged {
        let key = serde_json::Value::from(jid.as_str()).to_string();
        assert_eq!(
            copies.get(&key),
            Some(&1),
            "acknowledged job {jid} not stored"
        );
    }
}
