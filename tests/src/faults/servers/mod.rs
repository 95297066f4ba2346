//! Stores private to one fault test, which it may crash, restart and kill connections of:
//! a `redis-server` with `appendfsync always`, and a Postgres cluster made with `initdb`.
//! The shared servers are never touched; everything listens on 127.0.0.1 only.

use std::path::{Path, PathBuf};
use std::process::{Command as StdCommand, Stdio};
use std::time::{Duration, Instant};

use tokio::process::{Child, Command};

/// A free TCP port on 127.0.0.1 (free when asked; taken by whoever binds it first).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("no free port on 127.0.0.1: {e}"))
}

/// A `redis-server` of the test's own: AOF on, fsync on every write, so an enqueue that
/// returned Ok survives a crash of the server. Killed when dropped.
pub struct PrivateRedis {
    port: u16,
    dir: PathBuf,
    child: Option<Child>,
}

impl PrivateRedis {
    /// Starts one on a free port, keeping its files in a new directory under `parent`;
    /// `None` (say why on stderr) when `redis-server` is not installed.
    pub async fn start(parent: &Path) -> Option<PrivateRedis> {
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
        let dir = parent.join(format!("redis-{port}"));
        let _ = std::fs::remove_dir_all(&dir);
        if let Err(e) = std::fs::create_dir_all(&dir) {
            panic!("cannot create {}: {e}", dir.display());
        }
        let mut redis = PrivateRedis {
            port,
            dir,
            child: None,
        };
        redis.start_again().await;
        Some(redis)
    }

    /// Its URL (database 0, no key prefix).
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
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
    /// until it answers PING.
    pub async fn start_again(&mut self) {
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
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

    /// Runs one command on a connection of its own and returns the reply.
    pub async fn command<T: redis::FromRedisValue>(&self, cmd: &redis::Cmd) -> T {
        let client = redis::Client::open(self.url())
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

/// A Postgres cluster of the test's own, made by `initdb` under a directory the test gives
/// (run as the `postgres` OS user when the test runs as root, since `initdb` refuses root).
/// Stopped and deleted when dropped.
pub struct PrivateCluster {
    bin: PathBuf,
    dir: PathBuf,
    port: u16,
}

fn find_pg_bin() -> Option<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|bin| bin.join("initdb").exists() && bin.join("pg_ctl").exists())
        .collect();
    found.sort();
    found.pop()
}

fn is_root() -> bool {
    StdCommand::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

impl PrivateCluster {
    /// Makes and starts a cluster on a free port under `parent`; `None` (say why on stderr)
    /// when no `initdb` is installed under /usr/lib/postgresql.
    pub fn start(parent: &Path) -> Option<PrivateCluster> {
        let Some(bin) = find_pg_bin() else {
            eprintln!("SKIPPED: no initdb/pg_ctl under /usr/lib/postgresql");
            return None;
        };
        let port = free_port();
        let dir = parent.join(format!("pg-{port}"));
        let _ = std::fs::remove_dir_all(&dir);
        if let Err(e) = std::fs::create_dir_all(&dir) {
            panic!("cannot create {}: {e}", dir.display());
        }
        let cluster = PrivateCluster { bin, dir, port };
        if is_root() {
            let dir = cluster.dir.to_string_lossy().into_owned();
            let ok = StdCommand::new("chown")
                .args(["postgres:postgres", &dir])
                .status()
                .is_ok_and(|s| s.success());
            assert!(ok, "cannot hand {dir} to the postgres user");
        }
        let data = cluster.data();
        cluster.run(
            "initdb",
            &[
                "-D",
                &data,
                "-U",
                "root",
                "--auth=trust",
                "--no-sync",
                "-E",
                "UTF8",
            ],
        );
        cluster.start_again();
        Some(cluster)
    }

    fn data(&self) -> String {
        self.dir.join("data").to_string_lossy().into_owned()
    }

    /// The URL of `schema` in the cluster's `postgres` database, with `params` (`k=v&...`,
    /// may be empty) added.
    pub fn url(&self, schema: &str, params: &str) -> String {
        let mut url = format!(
            "postgres://root@127.0.0.1:{}/postgres?schema={schema}&acquire_timeout_ms=1000",
            self.port
        );
        if !params.is_empty() {
            url.push('&');
            url.push_str(params);
        }
        url
    }

    /// Its port.
    pub fn port(&self) -> u16 {
        self.port
    }

    fn run(&self, tool: &str, args: &[&str]) {
        let program = self.bin.join(tool);
        let mut cmd = if is_root() {
            let mut c = StdCommand::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&program);
            c
        } else {
            StdCommand::new(&program)
        };
        let out = cmd
            .args(args)
            .current_dir(&self.dir)
            .output()
            .unwrap_or_else(|e| panic!("cannot run {tool}: {e}"));
        assert!(
            out.status.success(),
            "{tool} {args:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Stops the server the way a crash does (`pg_ctl -m immediate`: no checkpoint; the
    /// next start replays the WAL).
    pub fn crash(&self) {
        let data = self.data();
        self.run("pg_ctl", &["-D", &data, "-m", "immediate", "-w", "stop"]);
    }

    /// Starts the server (again) and waits until it accepts connections.
    pub fn start_again(&self) {
        let options = format!(
            "-p {} -c listen_addresses=127.0.0.1 -c unix_socket_directories={} -c fsync=off",
            self.port,
            self.dir.display()
        );
        let log = self.dir.join("log").to_string_lossy().into_owned();
        let data = self.data();
        self.run(
            "pg_ctl",
            &["-D", &data, "-l", &log, "-o", &options, "-w", "start"],
        );
    }
}

impl Drop for PrivateCluster {
    fn drop(&mut self) {
        let data = self.data();
        let program = self.bin.join("pg_ctl");
        let args = ["-D", data.as_str(), "-m", "immediate", "-w", "stop"];
        let _ = if is_root() {
            StdCommand::new("runuser")
                .args(["-u", "postgres", "--"])
                .arg(&program)
                .args(args)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
        } else {
            StdCommand::new(&program)
                .args(args)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
        };
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
