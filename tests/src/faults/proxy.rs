//! A TCP proxy on 127.0.0.1 that can stall: the partition between a worker and its store.
//!
//! Every connection accepted is joined to the upstream address and bytes are copied both
//! ways. [`StallProxy::stall`] holds all traffic: what was read waits unwritten, so nothing
//! more is read and TCP's own flow control stops both ends, and connections accepted
//! meanwhile are not joined upstream yet. [`StallProxy::resume`] lets everything through
//! again, in order. Nothing is dropped: the far side sees a long silence, as across a
//! partition that heals.

use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// A stalling TCP proxy; it stops (and drops its connections) when dropped.
///
/// ```no_run
/// # async fn f() -> std::io::Result<()> {
/// use jobs_conformance::faults::proxy::StallProxy;
/// let proxy = StallProxy::start("127.0.0.1:6379".parse().unwrap()).await?;
/// let url = format!("redis://127.0.0.1:{}", proxy.port());
/// proxy.stall();
/// // ... traffic through `url` hangs ...
/// proxy.resume();
/// # let _ = url;
/// # Ok(())
/// # }
/// ```
pub struct StallProxy {
    port: u16,
    flowing: watch::Sender<bool>,
    accept: JoinHandle<()>,
}

impl StallProxy {
    /// Listens on a free port of 127.0.0.1 and forwards to `upstream`.
    pub async fn start(upstream: SocketAddr) -> std::io::Result<StallProxy> {
        Self::start_on(TcpListener::bind("127.0.0.1:0").await?, upstream)
    }

    /// Accepts on `listener` (one inside a worker host's namespace, say) and forwards to
    /// `upstream`.
    pub fn start_on(listener: TcpListener, upstream: SocketAddr) -> std::io::Result<StallProxy> {
        let port = listener.local_addr()?.port();
        let (flowing, watch) = watch::channel(true);
        let accept = tokio::spawn(accept_loop(listener, upstream, watch));
        Ok(StallProxy {
            port,
            flowing,
            accept,
        })
    }

    /// The port clients connect to.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Holds all traffic, in both directions, on every connection, until [`Self::resume`].
    pub fn stall(&self) {
        self.flowing.send_replace(false);
    }

    /// Lets the held traffic through, in order.
    pub fn resume(&self) {
        self.flowing.send_replace(true);
    }
}

impl Drop for StallProxy {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

/// Waits until traffic may flow; `false` when the proxy is gone.
async fn flowing(watch: &mut watch::Receiver<bool>) -> bool {
    watch.wait_for(|on| *on).await.is_ok()
}

async fn accept_loop(listener: TcpListener, upstream: SocketAddr, watch: watch::Receiver<bool>) {
    // Dropped with this task (when the proxy is dropped), which aborts every connection.
    let mut connections = tokio::task::JoinSet::new();
    loop {
        while connections.try_join_next().is_some() {}
        let Ok((client, _)) = listener.accept().await else {
            continue;
        };
        let mut watch = watch.clone();
        connections.spawn(async move {
            if !flowing(&mut watch).await {
                return;
            }
            let Ok(server) = TcpStream::connect(upstream).await else {
                return;
            };
            let _ = client.set_nodelay(true);
            let _ = server.set_nodelay(true);
            let (client_read, client_write) = client.into_split();
            let (server_read, server_write) = server.into_split();
            let up = pump(client_read, server_write, watch.clone());
            let down = pump(server_read, client_write, watch);
            // When either side closes, the other direction is finished too.
            tokio::select! {
                () = up => {}
                () = down => {}
            }
        });
    }
}

/// Copies `from` to `to`, holding each chunk while the proxy stalls.
async fn pump(
    mut from: impl AsyncReadExt + Unpin,
    mut to: impl AsyncWriteExt + Unpin,
    mut watch: watch::Receiver<bool>,
) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if !flowing(&mut watch).await {
            break;
        }
        if to.write_all(&buf[..n]).await.is_err() {
            break;
        }
    }
    let _ = to.shutdown().await;
}
