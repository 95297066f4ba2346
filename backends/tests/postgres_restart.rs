//! Postgres restarted mid-run: operations fail with a transient error while it is down,
//! then succeed again, with the jobs kept and notifications flowing, once it is back.
//!
//! The test runs its own cluster (`initdb` and `pg_ctl` on a free port, in a temporary
//! directory, as the `postgres` user when run as root); the shared server is never touched.
//! Without `initdb` on the machine it says so and passes.

mod postgres_support;

mod postgres {
    use std::path::{Path, PathBuf};
    use std::process::Command;
    use std::time::{Duration, Instant};

    use jobs::backend::*;
    use jobs_backends::postgres::PostgresBackend;

    use super::postgres_support::{job, t0};

    /// A throwaway cluster, stopped and deleted on drop.
    struct Cluster {
        bin: PathBuf,
        dir: PathBuf,
        port: u16,
    }

    fn find_bin() -> Option<PathBuf> {
        let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
            .ok()?
            .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
            .filter(|bin| bin.join("initdb").exists() && bin.join("pg_ctl").exists())
            .collect();
        found.sort();
        found.pop()
    }

    fn is_root() -> bool {
        Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
    }

    impl Cluster {
        fn start() -> Option<Cluster> {
            let bin = find_bin()?;
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .ok()?
                .local_addr()
                .ok()?
                .port();
            let dir = std::env::temp_dir().join(format!("jobs-pg-restart-{port}"));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).ok()?;
            let cluster = Cluster { bin, dir, port };
            if is_root() {
                // initdb refuses to run as root: the cluster belongs to `postgres`.
                let ok = Command::new("chown")
                    .args(["postgres:postgres", &cluster.dir.to_string_lossy()])
                    .status()
                    .is_ok_and(|s| s.success());
                assert!(
                    ok,
                    "cannot hand {} to the postgres user",
                    cluster.dir.display()
                );
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
            cluster.pg_ctl("start");
            Some(cluster)
        }

        fn data(&self) -> String {
            self.dir.join("data").to_string_lossy().into_owned()
        }

        fn url(&self, schema: &str) -> String {
            format!(
                "postgres://root@127.0.0.1:{}/postgres?schema={schema}&acquire_timeout_ms=1000&poll_interval_ms=60000",
                self.port
            )
        }

        fn run(&self, tool: &str, args: &[&str]) {
            let program = self.bin.join(tool);
            let mut cmd = if is_root() {
                let mut c = Command::new("runuser");
                c.args(["-u", "postgres", "--"]).arg(&program);
                c
            } else {
                Command::new(&program)
            };
            let out = cmd.args(args).current_dir(&self.dir).output().unwrap();
            assert!(
                out.status.success(),
                "{tool} {args:?} failed: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }

        fn pg_ctl(&self, action: &str) {
            let options = format!(
                "-p {} -c listen_addresses=127.0.0.1 -c unix_socket_directories={} -c fsync=off",
                self.port,
                self.dir.display()
            );
            let log = self.dir.join("log").to_string_lossy().into_owned();
            let data = self.data();
            match action {
                "start" => self.run(
                    "pg_ctl",
                    &["-D", &data, "-l", &log, "-o", &options, "-w", "start"],
                ),
                _ => self.run("pg_ctl", &["-D", &data, "-m", "fast", "-w", "stop"]),
            }
        }
    }

    impl Drop for Cluster {
        fn drop(&mut self) {
            let data = self.data();
            let program = self.bin.join("pg_ctl");
            let args = ["-D", data.as_str(), "-m", "immediate", "-w", "stop"];
            let _ = if is_root() {
                Command::new("runuser")
                    .args(["-u", "postgres", "--"])
                    .arg(&program)
                    .args(args)
                    .output()
            } else {
                Command::new(&program).args(args).output()
            };
            let _ = std::fs::remove_dir_all(Path::new(&self.dir));
        }
    }

    /// Retries `op` until it succeeds; each failure must be transient (each attempt is
    /// paced by the pool's one-second acquire timeout, not by a sleep).
    async fn until_ok<T, F, Fut>(what: &str, mut op: F) -> T
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, BackendError>>,
    {
        let started = Instant::now();
        loop {
            match op().await {
                Ok(v) => return v,
                Err(e) => {
                    assert!(e.is_transient(), "{what}: a non-transient error: {e:?}");
                    assert!(
                        started.elapsed() < Duration::from_secs(60),
                        "{what}: still failing: {e}"
                    );
                }
            }
        }
    }

    /// A reserver on `waiter` waiting for a push on `pusher`: it must be woken by the
    /// notification (polling is once a minute).
    async fn woken_by_notification(waiter: &PostgresBackend, pusher: &PostgresBackend, n: i64) {
        let reserving = {
            let waiter = waiter.clone();
            tokio::spawn(async move {
                let mut p = ReserveParams::new(vec!["q".into()], "waiter", t0());
                p.wait = Duration::from_secs(50);
                let started = Instant::now();
                let got = until_ok("reserve", || waiter.job_reserve(p.clone())).await;
                (got, started.elapsed())
            })
        };
        let j = job("q", n);
        until_ok("push", || {
            pusher.job_push(PushParams::new(vec![j.clone()], t0()))
        })
        .await;
        let (got, waited) = reserving.await.unwrap();
        assert_eq!(
            got.iter().map(|r| &r.job.jid).collect::<Vec<_>>(),
            vec![&j.jid]
        );
        assert!(waited < Duration::from_secs(30), "woke after {waited:?}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_backend_reconnects_after_a_server_restart() {
        let Some(cluster) = Cluster::start() else {
            eprintln!("SKIPPED: no initdb/pg_ctl under /usr/lib/postgresql");
            return;
        };
        let backend = PostgresBackend::connect(&cluster.url("app")).await.unwrap();
        let other = PostgresBackend::connect(&cluster.url("app")).await.unwrap();
        let kept = job("kept", 1);
        backend
            .job_push(PushParams::new(vec![kept.clone()], t0()))
            .await
            .unwrap();
        woken_by_notification(&backend, &other, 1).await;

        cluster.pg_ctl("stop");
        let down = backend
            .job_push(PushParams::new(vec![job("q", 2)], t0()))
            .await
            .unwrap_err();
        assert!(down.is_transient(), "while down: {down:?}");
        cluster.pg_ctl("start");

        // Back: the job pushed before the restart is still there, and reservable.
        let mut p = ReserveParams::new(vec!["kept".into()], "p1", t0());
        p.limit = 10;
        let got = until_ok("reserve", || backend.job_reserve(p.clone())).await;
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].job.jid, kept.jid);
        let report = until_ok("finish", || {
            backend.job_finish(
                FinishParams::new(
                    vec![Finish::new(
                        got[0].token.clone(),
                        got[0].job.clone(),
                        FinishOutcome::Completed,
                        false,
                    )],
                    t0(),
                )
                .dead_limits(DeadLimits::default()),
            )
        })
        .await;
        assert!(report.lost.is_empty());
        // Notifications flow again: twice, so the second cannot be the reconnect's wake-up.
        woken_by_notification(&backend, &other, 3).await;
        woken_by_notification(&backend, &other, 4).await;
    }
}
