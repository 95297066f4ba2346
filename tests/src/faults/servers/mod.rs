//! Stores private to one test, which it may crash, restart, reconfigure and kill
//! connections of: a `redis-server` with `appendfsync always`, a Redis Cluster of them, and
//! a Postgres cluster made with `initdb`; each may speak TLS only
//! ([`PrivateRedis::start_tls`], [`PrivateRedisCluster::start`], [`PrivateCluster::start_tls`]).
//! The shared servers are never touched; everything listens on 127.0.0.1 only. This file has
//! the Redis server; `cluster.rs` the Redis Cluster; `postgres.rs` the Postgres cluster.

use std::path::{Path, PathBuf};
use std::process::{Command as StdCommand, Stdio};
use std::time::{Duration, Instant};

use tokio::process::{Child, Command};

mod cluster;
mod postgres;

pub use cluster::PrivateRedisCluster;
pub use postgres::PrivateCluster;

/// A free TCP port on 127.0.0.1 (free when asked; taken by whoever binds it first).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("no free port on 127.0.0.1: {e}"))
}

/// The PEM files of a TLS server: its certificate and key, and the CA that client
/// certificates must chain to.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
    pub ca: PathBuf,
}

/// How a TLS `redis-server` is set up.
struct RedisTlsSetup {
    files: TlsFiles,
    /// More arguments (`--user …` for an ACL user, for example).
    extra: Vec<String>,
    /// `--tls-auth-clients yes`: a client certificate is required (else `optional`).
    require_client_cert: bool,
}

/// A `redis-server` of the test's own: AOF on, fsync on every write, so an enqueue that
/// returned Ok survives a crash of the server. Killed when dropped.
pub struct PrivateRedis {
    port: u16,
    dir: PathBuf,
    child: Option<Child>,
    /// Set for a server that speaks TLS only (no plain port).
    tls: Option<RedisTlsSetup>,
    /// A Redis Cluster node (`--cluster-enabled yes`, node timeout 1 s; its `nodes.conf`
    /// in its directory brings it back into its cluster when started again).
    cluster: bool,
}

/// A free port and an empty directory `<parent>/<name>-<port>` for a private redis-server;
/// `None` (say why on stderr) when `redis-server` is not installed.
fn fresh_dir(parent: &Path, name: &str) -> Option<(u16, PathBuf)> {
    if StdCommand::new("redis-server")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .is_err()
    {
        eprintln!("SKIPPED: redis-server is not installed");
        return None;
    }
    let port = free_port();
    let dir = parent.join(format!("{name}-{port}"));
    let _ = std::fs::remove_dir_all(&dir);
    if let Err(e) = std::fs::create_dir_all(&dir) {
        panic!("cannot create {}: {e}", dir.display());
    }
    Some((port, dir))
}

impl PrivateRedis {
    /// Starts one on a free port, keeping its files in a new directory under `parent`;
    /// `None` (say why on stderr) when `redis-server` is not installed.
    pub async fn start(parent: &Path) -> Option<PrivateRedis> {
        let (port, dir) = fresh_dir(parent, "redis")?;
        let mut redis = PrivateRedis {
            port,
            dir,
            child: None,
            tls: None,
            cluster: false,
        };
        redis.start_again().await;
        Some(redis)
    }

    /// Starts one that speaks TLS only: `--tls-port` on a free port and `--port 0`, so it has
    /// no plain port at all, with `files`; `require_client_cert` sets `--tls-auth-clients`
    /// to `yes` (else `optional`); `extra` are more arguments. Waits until its log says it accepts connections (a
    /// build without TLS exits, and the wait fails with its log). `None` (say why on
    /// stderr) when `redis-server` is not installed.
    pub async fn start_tls(
        parent: &Path,
        files: &TlsFiles,
        require_client_cert: bool,
        extra: &[&str],
    ) -> Option<PrivateRedis> {
        let (port, dir) = fresh_dir(parent, "redis-tls")?;
        let mut redis = PrivateRedis {
            port,
            dir,
            child: None,
            cluster: false,
            tls: Some(RedisTlsSetup {
                files: files.clone(),
                extra: extra.iter().map(|a| (*a).to_owned()).collect(),
                require_client_cert,
            }),
        };
        redis.start_again().await;
        Some(redis)
    }

    /// Starts a Redis Cluster node (not yet in a cluster: `redis-cli --cluster create` makes
    /// one, see [`PrivateRedisCluster`]) on a free port whose cluster bus port (+10000) is
    /// free too; `None` (say why on stderr) when `redis-server` is not installed.
    pub async fn start_cluster_node(parent: &Path) -> Option<PrivateRedis> {
        Self::cluster_node(parent, None).await
    }

    /// Like [`PrivateRedis::start_cluster_node`], speaking TLS only with `files` (as
    /// [`PrivateRedis::start_tls`], client certificates optional), to clients, to the other
    /// nodes (`--tls-cluster yes`) and to replicas (`--tls-replication yes`).
    pub async fn start_tls_cluster_node(parent: &Path, files: &TlsFiles) -> Option<PrivateRedis> {
        let tls = RedisTlsSetup {
            files: files.clone(),
            extra: Vec::new(),
            require_client_cert: false,
        };
        Self::cluster_node(parent, Some(tls)).await
    }

    async fn cluster_node(parent: &Path, tls: Option<RedisTlsSetup>) -> Option<PrivateRedis> {
        let (port, dir) = loop {
            let (port, dir) = fresh_dir(parent, "redis-node")?;
            if port < 55535 && std::net::TcpListener::bind(("127.0.0.1", port + 10000)).is_ok() {
                break (port, dir);
            }
            let _ = std::fs::remove_dir_all(&dir);
        };
        let mut redis = PrivateRedis {
            port,
            dir,
            child: None,
            tls,
            cluster: true,
        };
        redis.start_again().await;
        Some(redis)
    }

    /// Its URL (database 0, no key prefix): `rediss://` for a TLS server, with no TLS files
    /// (the test adds `ca=` and the others).
    pub fn url(&self) -> String {
        let scheme = if self.tls.is_some() {
            "rediss"
        } else {
            "redis"
        };
        format!("{scheme}://127.0.0.1:{}", self.port)
    }

    /// Its port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Kills the server with SIGKILL (a crash: no shutdown save) and waits for it to exit.
    pub async fn crash(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.start_kill();
            let _ = child.wait().await;
        }
    }

    /// Stops the server cleanly (`SHUTDOWN`: the AOF is flushed) and waits for it to exit.
    pub async fn shutdown(&mut self) {
        if let Some(mut child) = self.child.take() {
            if let Ok(client) = redis::Client::open(self.url()) {
                if let Ok(mut c) = client.get_multiplexed_async_connection().await {
                    // The server closes the connection instead of replying.
                    let _: Result<(), _> = redis::cmd("SHUTDOWN").query_async(&mut c).await;
                }
            }
            let exit = tokio::time::timeout(Duration::from_secs(10), child.wait()).await;
            if exit.is_err() {
                let _ = child.start_kill();
                let _ = child.wait().await;
                panic!(
                    "the private redis-server on port {} ignored SHUTDOWN",
                    self.port
                );
            }
        }
    }

    /// Whether the server was started and not crashed or shut down since.
    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    /// Starts the server again on the same port and files (it replays its AOF), and waits
    /// until it answers PING (a TLS server: until its log says it is ready).
    pub async fn start_again(&mut self) {
        let port = self.port.to_string();
        let mut listen: Vec<String> = vec!["--bind".into(), "127.0.0.1".into()];
        if self.cluster {
            listen.extend(["--cluster-enabled".into(), "yes".into()]);
            listen.extend(["--cluster-node-timeout".into(), "1000".into()]);
        }
        match &self.tls {
            None => listen.extend(["--port".into(), port]),
            Some(tls) => {
                let path = |p: &Path| p.to_string_lossy().into_owned();
                let auth = if tls.require_client_cert {
                    "yes"
                } else {
                    "optional"
                };
                listen.extend([
                    "--port".into(),
                    "0".into(),
                    "--tls-port".into(),
                    port,
                    "--tls-cert-file".into(),
                    path(&tls.files.cert),
                    "--tls-key-file".into(),
                    path(&tls.files.key),
                    "--tls-ca-cert-file".into(),
                    path(&tls.files.ca),
                    "--tls-auth-clients".into(),
                    auth.into(),
                    "--logfile".into(),
                    path(&self.dir.join("log")),
                ]);
                if self.cluster {
                    listen.extend(
                        ["--tls-cluster", "yes", "--tls-replication", "yes"].map(Into::into),
                    );
                }
                listen.extend(tls.extra.iter().cloned());
            }
        }
        let child = Command::new("redis-server")
            .args(&listen)
            .args([
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
                "--save",
                "",
            ])
            .arg("--dir")
            .arg(&self.dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start redis-server: {e}"));
        self.child = Some(child);
        if self.tls.is_some() {
            self.wait_for_log("Ready to accept connections").await;
            return;
        }
        let client = redis::Client::open(self.url())
            .unwrap_or_else(|e| panic!("bad private Redis URL {}: {e}", self.url()));
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(mut c) = client.get_multiplexed_async_connection().await {
                let pong: Result<String, _> = redis::cmd("PING").query_async(&mut c).await;
                if pong.is_ok() {
                    return;
                }
            }
            assert!(
                Instant::now() < deadline,
                "the private redis-server on port {} did not answer within 20 s",
                self.port
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Waits until the server's log has `line` (a TLS server logs to `log` in its
    /// directory); fails with the log when the server exits or 20 s pass.
    async fn wait_for_log(&mut self, line: &str) {
        let log = self.dir.join("log");
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            if text.contains(line) {
                return;
            }
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    panic!("the private redis-server exited ({status}): {text}");
                }
            }
            assert!(
                Instant::now() < deadline,
                "the private redis-server on port {} did not log `{line}` within 20 s: {text}",
                self.port
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// A client for this server: over TLS trusting its CA for a TLS server (one that does
    /// not require client certificates).
    fn client(&self) -> redis::RedisResult<redis::Client> {
        let Some(tls) = &self.tls else {
            return redis::Client::open(self.url());
        };
        let root_cert = std::fs::read(&tls.files.ca)?;
        let certs = redis::TlsCertificates {
            client_tls: None,
            root_cert: Some(root_cert),
        };
        redis::Client::build_with_tls(self.url(), certs)
    }

    /// Runs one command on a connection of its own: the reply, or the error (the server is
    /// down, or refused it), for a test that polls.
    pub async fn try_command<T: redis::FromRedisValue>(
        &self,
        cmd: &redis::Cmd,
    ) -> redis::RedisResult<T> {
        let mut c = self.client()?.get_multiplexed_async_connection().await?;
        cmd.query_async(&mut c).await
    }

    /// Runs one command on a connection of its own and returns the reply.
    pub async fn command<T: redis::FromRedisValue>(&self, cmd: &redis::Cmd) -> T {
        let client = self
            .client()
            .unwrap_or_else(|e| panic!("bad private Redis URL {}: {e}", self.url()));
        let mut c = client
            .get_multiplexed_async_connection()
            .await
            .unwrap_or_else(|e| panic!("cannot reach the private redis-server: {e}"));
        cmd.query_async(&mut c)
            .await
            .unwrap_or_else(|e| panic!("private redis-server refused {cmd:?}: {e}"))
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.start_kill();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
