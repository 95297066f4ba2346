//! A Postgres cluster private to one test, made with `initdb`, plain or TLS only.

use std::path::{Path, PathBuf};
use std::process::{Command as StdCommand, Stdio};

use super::{free_port, TlsFiles};

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
        let cluster = Self::init(parent)?;
        cluster.start_again();
        Some(cluster)
    }

    /// Like [`PrivateCluster::start`], with `ssl = on` and `files` (server certificate and
    /// key, and the CA for client certificates), and a `pg_hba.conf` that takes TCP
    /// connections over TLS only (`hostssl`; plain ones are rejected).
    pub fn start_tls(parent: &Path, files: &TlsFiles) -> Option<PrivateCluster> {
        let cluster = Self::init(parent)?;
        let data = PathBuf::from(cluster.data());
        for (from, to) in [
            (&files.cert, "server.crt"),
            (&files.key, "server.key"),
            (&files.ca, "root.crt"),
        ] {
            let target = data.join(to);
            if let Err(e) = std::fs::copy(from, &target) {
                panic!(
                    "cannot copy {} to {}: {e}",
                    from.display(),
                    target.display()
                );
            }
            cluster.own(&target);
        }
        let hba = "local all all trust\n\
                   hostssl all all 127.0.0.1/32 trust\n\
                   hostnossl all all 127.0.0.1/32 reject\n";
        if let Err(e) = std::fs::write(data.join("pg_hba.conf"), hba) {
            panic!("cannot write pg_hba.conf: {e}");
        }
        let conf = "\nssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\n\
                    ssl_ca_file = 'root.crt'\n";
        let conf_path = data.join("postgresql.conf");
        let appended = std::fs::OpenOptions::new()
            .append(true)
            .open(&conf_path)
            .and_then(|mut f| std::io::Write::write_all(&mut f, conf.as_bytes()));
        if let Err(e) = appended {
            panic!("cannot write {}: {e}", conf_path.display());
        }
        cluster.start_again();
        Some(cluster)
    }

    /// Gives `path` to the user the server runs as, readable by it alone (Postgres refuses
    /// a key file others can read).
    fn own(&self, path: &Path) {
        use std::os::unix::fs::PermissionsExt;
        if let Err(e) = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)) {
            panic!("cannot chmod {}: {e}", path.display());
        }
        if is_root() {
            let ok = StdCommand::new("chown")
                .arg("postgres:postgres")
                .arg(path)
                .status()
                .is_ok_and(|s| s.success());
            assert!(ok, "cannot hand {} to the postgres user", path.display());
        }
    }

    /// Makes the cluster (`initdb`) on a free port under `parent`, not started.
    fn init(parent: &Path) -> Option<PrivateCluster> {
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

    /// Its log so far (what the server said about refused connections, for example).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("log")).unwrap_or_default()
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
