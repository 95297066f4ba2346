//! CPU time per job over a timed window, beside each rate: the worker side and the store.
//!
//! 1. The worker side is this process's user and system time, with the worker processes it
//!    spawned and reaped (`--processes`), from `getrusage` (microseconds; `/proc/self/stat`
//!    counts in 10 ms ticks, which over a 0.2 s run was ±5% of the figure); with
//!    `memory://` and `sqlite://` the store runs inside it, so its figure is the whole cost.
//! 2. Redis reports its own CPU time (`INFO cpu`: every thread of the server), summed over
//!    the servers of a sharded or cluster store (the nodes its URL names).
//! 3. Postgres: the postmaster named by `postmaster.pid` in the server's data directory,
//!    with its children's times (the backends serving the run, and those that exited, as
//!    the postmaster reaped them), read from `/proc`; so only for a server on this machine
//!    that this user may read. Where a figure cannot be read it is `None`, never a guess.
//! 4. Postgres also gets its WAL, fsync and commit counts and wait samples (`pgstats.rs`).

use std::path::Path;

use crate::pgstats::{PgMark, PgPerJob, PgStats};
use crate::store::Store;

/// Clock ticks per second in `/proc/*/stat` (`USER_HZ`, fixed at 100 by Linux's ABI).
const TICKS_PER_S: f64 = 100.0;

/// Where the store's CPU time is read.
enum StoreCpu {
    /// Inside this process (memory, SQLite): counted with the worker side.
    InProcess,
    /// Every server of the store (one, the shards, or the cluster's nodes given).
    Redis(Vec<redis::Client>),
    Postgres(u32),
    Unreadable,
}

/// Reads CPU times for one store.
pub struct CpuMeter {
    store: StoreCpu,
    pg: Option<PgStats>,
}

/// CPU seconds used so far: the worker side and the store.
#[derive(Debug, Clone, Copy)]
pub struct CpuMark {
    own: Option<f64>,
    store: Option<f64>,
    in_process: bool,
    pg: Option<PgMark>,
}

/// Microseconds of CPU per job between two marks.
#[derive(Debug, Clone, Copy, Default)]
pub struct CpuPerJob {
    pub worker_us: Option<f64>,
    pub store_us: Option<f64>,
    /// The store runs inside the worker (memory, SQLite): `worker_us` counts it.
    pub store_in_process: bool,
    /// Postgres: WAL, fsyncs, commits per job and what busy backends waited on.
    pub pg: Option<PgPerJob>,
}

impl CpuMeter {
    /// Finds where `store`'s CPU time can be read.
    pub async fn new(store: &Store) -> CpuMeter {
        let found = match (store.kind, store.server()) {
            ("redis", _) => store
                .redis_servers
                .iter()
                .map(|url| redis::Client::open(url.as_str()).ok())
                .collect::<Option<Vec<_>>>()
                .filter(|c| !c.is_empty())
                .map(StoreCpu::Redis),
            ("postgres", Some(url)) => postmaster(url).await.map(StoreCpu::Postgres),
            ("memory" | "sqlite", _) => Some(StoreCpu::InProcess),
            _ => None,
        };
        let pg = match (store.kind, store.server()) {
            ("postgres", Some(url)) => PgStats::start(url).await,
            _ => None,
        };
        CpuMeter {
            store: found.unwrap_or(StoreCpu::Unreadable),
            pg,
        }
    }

    /// The CPU seconds used so far.
    pub async fn mark(&self) -> CpuMark {
        let store = match &self.store {
            StoreCpu::InProcess | StoreCpu::Unreadable => None,
            StoreCpu::Redis(clients) => {
                let mut total = Some(0.0);
                for c in clients {
                    total = match (total, redis_cpu(c).await) {
                        (Some(t), Some(x)) => Some(t + x),
                        _ => None,
                    };
                }
                total
            }
            StoreCpu::Postgres(pid) => tree_cpu(*pid),
        };
        let pg = match &self.pg {
            Some(pg) => pg.mark().await,
            None => None,
        };
        CpuMark {
            own: own_cpu().or_else(|| proc_cpu(Path::new("/proc/self/stat"), true)),
            store,
            in_process: matches!(self.store, StoreCpu::InProcess),
            pg,
        }
    }
}

impl CpuMark {
    /// The CPU per job from this mark to `later`, over `jobs` jobs.
    pub fn per_job(&self, later: &CpuMark, jobs: u64) -> CpuPerJob {
        let us = |a: Option<f64>, b: Option<f64>| {
            let (a, b) = (a?, b?);
            (jobs > 0).then(|| ((b - a) * 1e6 / jobs as f64 * 100.0).round() / 100.0)
        };
        CpuPerJob {
            worker_us: us(self.own, later.own),
            store_us: us(self.store, later.store),
            store_in_process: self.in_process,
            pg: match (&self.pg, &later.pg) {
                (Some(a), Some(b)) => a.per_job(b, jobs),
                _ => None,
            },
        }
    }
}

impl CpuPerJob {
    /// `CPU per job: worker X µs, store Y µs` (`?` where unread).
    pub fn describe(&self) -> String {
        let f = |v: Option<f64>| v.map_or("?".to_owned(), |x| format!("{x:.2} µs"));
        let store = if self.store_in_process {
            "in the worker".to_owned()
        } else {
            f(self.store_us)
        };
        let pg = self
            .pg
            .map(|p| format!("; {}", p.describe()))
            .unwrap_or_default();
        format!(
            "CPU per job: worker {}, store {store}{pg}",
            f(self.worker_us)
        )
    }
}

/// User + system seconds of the process whose `stat` file is `path`, with its reaped
/// children's when `children`.
/// This process's CPU seconds (user and system, its threads), with its reaped children's.
fn own_cpu() -> Option<f64> {
    let seconds = |who| {
        let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
        // SAFETY: `usage` is a valid, writable `rusage`; getrusage only writes into it.
        let rc = unsafe { libc::getrusage(who, usage.as_mut_ptr()) };
        if rc != 0 {
            return None;
        }
        // SAFETY: getrusage returned 0, so it filled `usage` in.
        let usage = unsafe { usage.assume_init() };
        let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
        Some(tv(usage.ru_utime) + tv(usage.ru_stime))
    };
    Some(seconds(libc::RUSAGE_SELF)? + seconds(libc::RUSAGE_CHILDREN)?)
}

fn proc_cpu(path: &Path, children: bool) -> Option<f64> {
    let stat = std::fs::read_to_string(path).ok()?;
    let fields = stat_fields(&stat)?;
    let n = if children { 4 } else { 2 };
    let ticks: u64 = (11..11 + n)
        .map(|i| fields.get(i).and_then(|f| f.parse::<u64>().ok()))
        .sum::<Option<u64>>()?;
    Some(ticks as f64 / TICKS_PER_S)
}

/// The fields of a `stat` line after the command name (which may hold spaces): field 3
/// (the state) is index 0, so the parent is 1 and `utime`, `stime`, `cutime`, `cstime`
/// are 11 to 14.
fn stat_fields(stat: &str) -> Option<Vec<&str>> {
    let (_, rest) = stat.rsplit_once(')')?;
    Some(rest.split_whitespace().collect())
}

/// The CPU seconds of process `pid` with its reaped children, plus those of its live
/// children.
fn tree_cpu(pid: u32) -> Option<f64> {
    let mut total = proc_cpu(&Path::new("/proc").join(pid.to_string()).join("stat"), true)?;
    let parent = pid.to_string();
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let stat = entry.path().join("stat");
        let Ok(text) = std::fs::read_to_string(&stat) else {
            continue;
        };
        if stat_fields(&text).and_then(|f| f.get(1).copied()) == Some(parent.as_str()) {
            total += proc_cpu(&stat, false).unwrap_or(0.0);
        }
    }
    Some(total)
}

/// Redis's own CPU seconds (`used_cpu_sys` + `used_cpu_user`).
async fn redis_cpu(client: &redis::Client) -> Option<f64> {
    let mut conn = client.get_multiplexed_async_connection().await.ok()?;
    let info: String = redis::cmd("INFO")
        .arg("cpu")
        .query_async(&mut conn)
        .await
        .ok()?;
    let field = |name: &str| -> Option<f64> {
        info.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))?
            .trim()
            .parse()
            .ok()
    };
    Some(field("used_cpu_sys")? + field("used_cpu_user")?)
}

/// The postmaster's pid, from `postmaster.pid` in the data directory the server reports.
async fn postmaster(url: &str) -> Option<u32> {
    let pool = sqlx::PgPool::connect(url).await.ok()?;
    let dir: String = sqlx::query_scalar("SHOW data_directory")
        .fetch_one(&pool)
        .await
        .ok()?;
    pool.close().await;
    let pid = std::fs::read_to_string(Path::new(&dir).join("postmaster.pid")).ok()?;
    pid.lines().next()?.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_skip_a_command_with_spaces() {
        let line = "42 (postgres: root test) S 7 42 42 0 -1 4194560 1 2 3 4 150 25 3 1 20 0";
        let f = stat_fields(line).unwrap();
        assert_eq!((f[0], f[1]), ("S", "7"));
        assert_eq!(&f[11..15], &["150", "25", "3", "1"]);
    }

    #[test]
    fn this_process_has_a_cpu_time_and_the_difference_per_job_is_in_microseconds() {
        let a = CpuMark {
            own: Some(1.0),
            store: None,
            in_process: false,
            pg: None,
        };
        let b = CpuMark {
            own: Some(1.5),
            store: Some(2.0),
            in_process: false,
            pg: None,
        };
        let p = a.per_job(&b, 100_000);
        assert_eq!(p.worker_us, Some(5.0));
        assert_eq!(p.store_us, None);
        assert!(proc_cpu(Path::new("/proc/self/stat"), true).is_some());
    }

    #[test]
    fn own_cpu_agrees_with_proc_and_resolves_below_a_tick() {
        let first = own_cpu().unwrap();
        let ticks = proc_cpu(Path::new("/proc/self/stat"), true).unwrap();
        assert!(
            (first - ticks).abs() < 0.05,
            "getrusage {first} s, /proc {ticks} s"
        );
        // The first change seen while this thread spins is far below a 10 ms tick.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
        let step = loop {
            let now = own_cpu().unwrap();
            if now > first {
                break now - first;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the CPU time never moved"
            );
        };
        assert!(step < 0.005, "the first step seen was {step} s");
    }
}
