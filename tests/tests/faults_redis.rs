//! The fault suite (`jobs_conformance::faults`) on Redis: worker processes killed, stopped
//! past their lease and skewed, and a process-killing job, on the shared server under a key
//! prefix of their own (cleared at the end, and swept by a later run when a failure left
//! it); the store crashed and restarted, connections killed, blocked reserves unblocked with
//! an error, `-READONLY` replies from a proxy, and a partition, each on a `redis-server` of
//! the test's own (AOF with `appendfsync always`).

mod servers;

use std::net::SocketAddr;
use std::path::PathBuf;

use jobs_conformance::faults::resp_proxy::{ReadOnlyProxy, READONLY};
use jobs_conformance::faults::run::Target;
use jobs_conformance::faults::servers::PrivateRedis;
use jobs_conformance::faults::{batch, store_faults};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::OnceCell;

fn tmp() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
}

async fn target(url: String) -> Target {
    let worker = PathBuf::from(env!("CARGO_BIN_EXE_jobs_test_worker"));
    Target::connect("redis", url.clone(), &url, worker, tmp()).await
}

/// A target on the shared server, under the prefix `faults:<epoch secs>:<name>:<pid>`;
/// cleared by [`done`].
async fn shared(name: &str) -> Target {
    static SWEPT: OnceCell<()> = OnceCell::const_new();
    SWEPT.get_or_init(sweep_old_prefixes).await;
    let secs = chrono::Utc::now().timestamp();
    let prefix = format!("faults:{secs}:{name}:{}", std::process::id());
    target(servers::with_params(
        &servers::redis_url(),
        &format!("prefix={prefix}"),
    ))
    .await
}

/// Deletes the keys of fault tests that started more than ten minutes ago on the shared
/// server: a test that fails stops before it clears its own.
async fn sweep_old_prefixes() {
    let Ok(client) = redis::Client::open(servers::redis_url()) else {
        return;
    };
    let Ok(mut conn) = client.get_multiplexed_async_connection().await else {
        return;
    };
    let cutoff = chrono::Utc::now().timestamp() - 600;
    let mut cursor = 0u64;
    loop {
        let page: Result<(u64, Vec<String>), _> = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg("faults:*")
            .arg("COUNT")
            .arg(1000)
            .query_async(&mut conn)
            .await;
        let Ok((next, keys)) = page else { return };
        let old: Vec<String> = keys
            .into_iter()
            .filter(|k| {
                k.split(':')
                    .nth(1)
                    .and_then(|secs| secs.parse::<i64>().ok())
                    .is_some_and(|secs| secs < cutoff)
            })
            .collect();
        if !old.is_empty() {
            let _: Result<u64, _> = redis::cmd("UNLINK").arg(&old).query_async(&mut conn).await;
        }
        if next == 0 {
            return;
        }
        cursor = next;
    }
}

async fn done(target: Target) {
    target.clear().await;
}

jobs_conformance::worker_fault_cases!();

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_restart() {
    let Some(mut redis) = PrivateRedis::start(&tmp()).await else {
        return;
    };
    let t = target(format!("{}?prefix=faults", redis.url())).await;
    store_faults::store_restart(&t, &mut redis).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_kills() {
    let Some(redis) = PrivateRedis::start(&tmp()).await else {
        return;
    };
    let t = target(format!("{}?prefix=faults", redis.url())).await;
    store_faults::connection_kills(&t, || async {
        redis
            .command::<u64>(redis::cmd("CLIENT").arg("KILL").arg("TYPE").arg("normal"))
            .await
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unblocked_reserves() {
    let Some(redis) = PrivateRedis::start(&tmp()).await else {
        return;
    };
    let t = target(format!("{}?prefix=faults", redis.url())).await;
    store_faults::unblocked(&t, &redis).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partition_longer_than_the_lease() {
    let Some(redis) = PrivateRedis::start(&tmp()).await else {
        return;
    };
    let t = target(format!("{}?prefix=faults", redis.url())).await;
    let upstream = SocketAddr::from(([127, 0, 0, 1], redis.port()));
    store_faults::partition(&t, upstream, |port| {
        format!("redis://127.0.0.1:{port}?prefix=faults")
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readonly_replies() {
    let Some(redis) = PrivateRedis::start(&tmp()).await else {
        return;
    };
    let t = target(format!("{}?prefix=faults", redis.url())).await;
    let upstream = SocketAddr::from(([127, 0, 0, 1], redis.port()));
    store_faults::readonly_replies(&t, upstream, |port| {
        format!("redis://127.0.0.1:{port}?prefix=faults")
    })
    .await;
}

/// Reads from `conn` until `want` bytes came (or 10 s passed).
async fn read_exactly(conn: &mut tokio::net::TcpStream, want: usize) -> Vec<u8> {
    let mut got = vec![0u8; want];
    tokio::time::timeout(
        std::time::Duration::from_secs(10),
        conn.read_exact(&mut got),
    )
    .await
    .unwrap_or_else(|_| panic!("no reply within 10 s; wanted {want} bytes"))
    .unwrap_or_else(|e| panic!("read failed: {e}"));
    got
}

/// The proxy's own replies keep their place among the server's: a command forwarded before
/// read-only was switched on (a blocking pop) gets its reply first, then each pipelined
/// command after it gets `-READONLY`, a transaction `+OK`, `-READONLY`, `-EXECABORT`; none
/// reached the server; switched off, commands flow again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readonly_proxy_keeps_reply_order() {
    let Some(redis) = PrivateRedis::start(&tmp()).await else {
        return;
    };
    let upstream = SocketAddr::from(([127, 0, 0, 1], redis.port()));
    let proxy = ReadOnlyProxy::start(upstream)
        .await
        .unwrap_or_else(|e| panic!("cannot start the proxy: {e}"));
    let mut conn = tokio::net::TcpStream::connect(("127.0.0.1", proxy.port()))
        .await
        .unwrap_or_else(|e| panic!("cannot connect to the proxy: {e}"));
    conn.write_all(b"*3\r\n$5\r\nBLPOP\r\n$5\r\nempty\r\n$3\r\n0.5\r\n")
        .await
        .unwrap();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while store_faults::blocked_clients(&redis).await.is_empty() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "BLPOP never blocked"
        );
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    proxy.set_readonly(true);
    let pipeline = "*3\r\n$3\r\nSET\r\n$1\r\na\r\n$1\r\n1\r\nPING\r\n\
        *1\r\n$5\r\nMULTI\r\n*3\r\n$3\r\nSET\r\n$1\r\nb\r\n$1\r\n1\r\n*1\r\n$4\r\nEXEC\r\n\
        *2\r\n$3\r\nGET\r\n$1\r\na\r\n";
    conn.write_all(pipeline.as_bytes()).await.unwrap();
    let readonly = std::str::from_utf8(READONLY).unwrap();
    let want = format!(
        "*-1\r\n{readonly}+PONG\r\n+OK\r\n{readonly}\
         -EXECABORT Transaction discarded because of previous errors.\r\n{readonly}"
    );
    let got = read_exactly(&mut conn, want.len()).await;
    assert_eq!(String::from_utf8_lossy(&got), want);
    assert_eq!(
        proxy.refused(),
        3,
        "SET, the SET in MULTI and GET were refused"
    );
    proxy.set_readonly(false);
    conn.write_all(b"*2\r\n$6\r\nEXISTS\r\n$1\r\na\r\n*2\r\n$6\r\nEXISTS\r\n$1\r\nb\r\n")
        .await
        .unwrap();
    let got = read_exactly(&mut conn, 8).await;
    assert_eq!(
        &got, b":0\r\n:0\r\n",
        "no refused command reached the server"
    );
}

/// The batch members' adder process (`jobs_test_batch_adder`).
fn adder() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_BIN_EXE_jobs_test_batch_adder"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batch_under_kills() {
    let t = shared("batch").await;
    batch::batch_under_kills(&t, adder()).await;
    done(t).await;
}
