//! Opening a database file: pragmas, the schema, the writer and the reader pool.
//!
//! 1. One setup connection creates the file when missing, switches it to WAL mode (retrying
//!    while another process holds the lock that switch needs) and runs the embedded
//!    migrations inside `BEGIN IMMEDIATE`, so processes starting together apply each once.
//! 2. Every connection gets the same pragmas: `synchronous` as configured (see
//!    [`Synchronous`](super::Synchronous)), a busy timeout, foreign keys on.
//! 3. Writes go through one connection ([`Writer`]), so writers of this process queue for
//!    it rather than spin in SQLite's busy handler; reads use a small pool of their own,
//!    which WAL lets run beside the writer.

use std::time::Duration;

use jobs::backend::{BackendError, ErrorKind};
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection, SqlitePoolOptions};
use sqlx::{ConnectOptions, Connection};

use super::config::SqliteConfig;
use super::db::Db;
use super::error::{ErrorContext, Sqlx};
use super::wake;
use super::writer::Writer;

/// One numbered migration, embedded in the crate.
pub(super) struct Migration {
    version: i64,
    name: &'static str,
    pub(super) sql: &'static str,
}

/// Every migration, in order; `PRAGMA user_version` records the last one applied.
pub(super) const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "0001_schema.sql",
        sql: include_str!("../../sql/sqlite/0001_schema.sql"),
    },
    Migration {
        version: 2,
        name: "0002_schedules.sql",
        sql: include_str!("../../sql/sqlite/0002_schedules.sql"),
    },
    Migration {
        version: 3,
        name: "0003_job_metrics.sql",
        sql: include_str!("../../sql/sqlite/0003_job_metrics.sql"),
    },
    Migration {
        version: 4,
        name: "0004_rescues.sql",
        sql: include_str!("../../sql/sqlite/0004_rescues.sql"),
    },
    Migration {
        version: 5,
        name: "0005_flow.sql",
        sql: include_str!("../../sql/sqlite/0005_flow.sql"),
    },
    Migration {
        version: 6,
        name: "0006_limits.sql",
        sql: include_str!("../../sql/sqlite/0006_limits.sql"),
    },
    Migration {
        version: 7,
        name: "0007_cancel.sql",
        sql: include_str!("../../sql/sqlite/0007_cancel.sql"),
    },
    Migration {
        version: 8,
        name: "0008_progress_results.sql",
        sql: include_str!("../../sql/sqlite/0008_progress_results.sql"),
    },
    Migration {
        version: 9,
        name: "0009_batches.sql",
        sql: include_str!("../../sql/sqlite/0009_batches.sql"),
    },
    Migration {
        version: 10,
        name: "0010_batch_member_trigger.sql",
        sql: include_str!("../../sql/sqlite/0010_batch_member_trigger.sql"),
    },
];

/// How long a read waits for a pooled reader connection before failing with a timeout.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(30);

/// Opens (creating when missing) the database `config` names and brings its schema up to date.
pub(super) async fn open(config: &SqliteConfig) -> Result<Db, BackendError> {
    let mut cx = ErrorContext {
        target: config.path.display().to_string(),
        busy_timeout: config.busy_timeout,
        acquire_timeout: ACQUIRE_TIMEOUT,
    };
    let options = SqliteConnectOptions::new()
        .filename(&config.path)
        .create_if_missing(true)
        .busy_timeout(config.busy_timeout)
        .synchronous(config.synchronous.to_sqlx())
        .foreign_keys(true);

    let mut setup = options.connect().await.or_backend(&cx)?;
    enable_wal(&mut setup, &cx).await?;
    migrate(&mut setup, &cx).await?;
    setup.close().await.or_backend(&cx)?;

    let path =
        std::fs::canonicalize(&config.path).map_err(|e| BackendError::connection(&cx.target, e))?;
    cx.target = path.display().to_string();
    let writer = Writer::open(options.clone(), &cx).await?;
    let readers = SqlitePoolOptions::new()
        .max_connections(config.readers.max(1))
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .test_before_acquire(false)
        .connect_lazy_with(options);
    Ok(Db {
        writer,
        readers,
        wake: wake::notifier(&path),
        poll_interval: config.poll_interval,
        cx,
        temporary: None,
    })
}

/// A path for a new database file in the system's temporary directory, unique in this
/// machine.
pub(super) fn temporary_path() -> std::path::PathBuf {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    std::env::temp_dir().join(format!(
        "jobs-sqlite-{}-{n}-{:016x}.db",
        std::process::id(),
        rand::random::<u64>()
    ))
}

/// Switches the file to WAL mode. The switch needs an exclusive lock that SQLite's busy
/// timeout does not wait for, so a busy answer is retried until the busy timeout passes.
async fn enable_wal(conn: &mut SqliteConnection, cx: &ErrorContext) -> Result<(), BackendError> {
    let deadline = tokio::time::Instant::now() + cx.busy_timeout;
    loop {
        let result = sqlx::query_scalar::<_, String>("PRAGMA journal_mode = WAL")
            .fetch_one(&mut *conn)
            .await
            .or_backend(cx);
        match result {
            Ok(mode) if mode.eq_ignore_ascii_case("wal") => return Ok(()),
            Ok(mode) => {
                return Err(BackendError::msg(format!(
                    "{} stays in {mode} journal mode; the SQLite backend needs WAL",
                    cx.target
                )))
            }
            Err(e) if e.kind() == ErrorKind::Timeout && tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            Err(e) => return Err(e),
        }
    }
}

/// Applies the migrations the file has not seen, all in one immediate transaction; returns
/// the versions applied.
async fn migrate(conn: &mut SqliteConnection, cx: &ErrorContext) -> Result<Vec<i64>, BackendError> {
    let latest = MIGRATIONS.last().map_or(0, |m| m.version);
    let mut tx = conn.begin_with("BEGIN IMMEDIATE").await.or_backend(cx)?;
    let current: i64 = sqlx::query_scalar("PRAGMA user_version")
        .fetch_one(&mut *tx)
        .await
        .or_backend(cx)?;
    if current > latest {
        return Err(BackendError::msg(format!(
            "{} has schema version {current}, newer than this build's {latest}: upgrade jobs-backends",
            cx.target
        )));
    }
    for m in MIGRATIONS.iter().filter(|m| m.version > current) {
        tracing::info!(file = %cx.target, migration = m.name, "applying SQLite migration");
        sqlx::Executor::execute(&mut *tx, m.sql).await.map_err(
            |e| match super::error::map_sqlx(e, cx) {
                BackendError::Other { message, source } => BackendError::Other {
                    message: format!("migration {} failed: {message}", m.name),
                    source,
                },
                other => other,
            },
        )?;
    }
    if latest > current {
        sqlx::Executor::execute(&mut *tx, format!("PRAGMA user_version = {latest}").as_str())
            .await
            .or_backend(cx)?;
    }
    tx.commit().await.or_backend(cx)?;
    Ok(MIGRATIONS
        .iter()
        .filter(|m| m.version > current)
        .map(|m| m.version)
        .collect())
}

/// Every embedded migration with whether the file at `config` has it; all pending when the
/// file does not exist (it is not created).
pub(super) async fn migration_status(
    config: &SqliteConfig,
) -> Result<Vec<crate::migrations::MigrationState>, BackendError> {
    let cx = ErrorContext {
        target: config.path.display().to_string(),
        busy_timeout: config.busy_timeout,
        acquire_timeout: ACQUIRE_TIMEOUT,
    };
    let current: i64 = if config.path.exists() {
        let mut conn = SqliteConnectOptions::new()
            .filename(&config.path)
            .read_only(true)
            .busy_timeout(config.busy_timeout)
            .connect()
            .await
            .or_backend(&cx)?;
        let version = sqlx::query_scalar("PRAGMA user_version")
            .fetch_one(&mut conn)
            .await
            .or_backend(&cx)?;
        conn.close().await.or_backend(&cx)?;
        version
    } else {
        0
    };
    let latest = MIGRATIONS.last().map_or(0, |m| m.version);
    if current > latest {
        return Err(BackendError::msg(format!(
            "{} has schema version {current}, newer than this build's {latest}: upgrade jobs-backends",
            cx.target
        )));
    }
    Ok(MIGRATIONS
        .iter()
        .map(|m| crate::migrations::MigrationState::new(m.version, m.name, m.version <= current))
        .collect())
}

/// Creates the file when missing and applies its pending migrations, as opening does;
/// returns the versions applied.
pub(super) async fn apply_migrations(config: &SqliteConfig) -> Result<Vec<i64>, BackendError> {
    let cx = ErrorContext {
        target: config.path.display().to_string(),
        busy_timeout: config.busy_timeout,
        acquire_timeout: ACQUIRE_TIMEOUT,
    };
    let mut setup = SqliteConnectOptions::new()
        .filename(&config.path)
        .create_if_missing(true)
        .busy_timeout(config.busy_timeout)
        .synchronous(config.synchronous.to_sqlx())
        .foreign_keys(true)
        .connect()
        .await
        .or_backend(&cx)?;
    enable_wal(&mut setup, &cx).await?;
    let applied = migrate(&mut setup, &cx).await?;
    setup.close().await.or_backend(&cx)?;
    Ok(applied)
}

#[cfg(test)]
mod tests {
    use super::*;
    use jobs::backend::{Backend, ReserveParams};

    #[test]
    fn every_sql_file_is_an_embedded_migration_in_order() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("sql/sqlite");
        let mut files: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".sql"))
            .collect();
        files.sort();
        let names: Vec<&str> = MIGRATIONS.iter().map(|m| m.name).collect();
        assert_eq!(files, names);
        for (i, m) in MIGRATIONS.iter().enumerate() {
            assert_eq!(m.version, i as i64 + 1);
            assert!(
                m.name.starts_with(&format!("{:04}_", m.version)),
                "{}",
                m.name
            );
        }
    }

    /// A file of version 4 with jobs waiting is brought up to date: its jobs wait at
    /// priority 0 in their order, hold no lock, and run.
    #[tokio::test]
    async fn a_version_4_file_with_waiting_jobs_is_upgraded() {
        let path = temporary_path();
        let options = SqliteConnectOptions::new()
            .filename(&path)
            .create_if_missing(true);
        let mut conn = options.connect().await.unwrap();
        for m in &MIGRATIONS[..4] {
            sqlx::Executor::execute(&mut conn, m.sql).await.unwrap();
        }
        sqlx::Executor::execute(&mut conn, "PRAGMA user_version = 4")
            .await
            .unwrap();
        let jobs: Vec<_> = (0..3)
            .map(|n| jobs::envelope::JobEnvelope::new("A", "old", vec![n.into()]))
            .collect();
        let rows: Vec<_> = jobs
            .iter()
            .map(|j| (&j.jid, "old", "A", "available", 0, j.to_json().unwrap()))
            .collect();
        sqlx::query(super::super::push::INSERT)
            .bind(serde_json::to_string(&rows).unwrap())
            .execute(&mut conn)
            .await
            .unwrap();
        conn.close().await.unwrap();

        let mut db = open(&SqliteConfig::new(&path)).await.unwrap();
        db.temporary = Some(path);
        let b = super::super::SqliteBackend {
            db: std::sync::Arc::new(db),
        };
        let (version, locks): (i64, i64) = sqlx::query_as(
            "SELECT (SELECT user_version FROM pragma_user_version()),
                    (SELECT count(*) FROM jobs WHERE unique_key IS NOT NULL OR priority != 0)",
        )
        .fetch_one(&b.db.readers)
        .await
        .unwrap();
        assert_eq!((version, locks), (MIGRATIONS.len() as i64, 0));
        let mut p = ReserveParams::new(vec!["old".into()], "p", chrono::Utc::now());
        p.limit = 5;
        let got: Vec<String> = b
            .job_reserve(p)
            .await
            .unwrap()
            .into_iter()
            .map(|r| r.job.jid.clone())
            .collect();
        let pushed: Vec<String> = jobs.into_iter().map(|j| j.jid).collect();
        assert_eq!(got, pushed);
    }

    /// A file of version 5 is rebuilt by migration 6 (a new state needs a new CHECK) with
    /// every row as it was: queued jobs in their order and priority, a lease that still
    /// settles by its token, a unique lock still held, the sets untouched.
    #[tokio::test]
    async fn a_version_5_file_keeps_its_jobs_leases_and_locks() {
        use jobs::backend::{AdminBackend, Finish, FinishOutcome, FinishParams, JobSet};
        use jobs::backend::{JobListParams, LeaseToken, UniqueListParams};
        let path = temporary_path();
        let options = SqliteConnectOptions::new()
            .filename(&path)
            .create_if_missing(true);
        let mut conn = options.connect().await.unwrap();
        for m in &MIGRATIONS[..5] {
            sqlx::Executor::execute(&mut conn, m.sql).await.unwrap();
        }
        sqlx::Executor::execute(&mut conn, "PRAGMA user_version = 5")
            .await
            .unwrap();
        let job = |n: i64| jobs::envelope::JobEnvelope::new("A", "q", vec![n.into()]);
        let jobs: Vec<_> = (0..6).map(job).collect();
        let far = chrono::Utc::now().timestamp_micros() + 3_600_000_000;
        // (state, priority, lease token, unique key) per job.
        let rows = [
            ("available", 5, None, None),
            ("available", 0, None, Some("u")),
            ("running", 0, Some("nonce"), None),
            ("scheduled", 0, None, None),
            ("retryable", 0, None, None),
            ("dead", 0, None, None),
        ];
        for (i, (j, (state, priority, lease, unique))) in jobs.iter().zip(rows).enumerate() {
            sqlx::query(
                "INSERT INTO jobs (id, jid, queue, class, state, run_at, pos, payload, priority,
                     lease_owner, lease_token, lease_seq, lease_expires_at,
                     unique_key, unique_until, unique_expires_at)
                 VALUES (?1, ?2, 'q', 'A', ?3, 0, ?1, ?4, ?5, ?6, ?6, ?7, ?8, ?9, ?10, ?8)",
            )
            .bind(i as i64 + 1)
            .bind(&j.jid)
            .bind(state)
            .bind(j.to_json().unwrap())
            .bind(priority)
            .bind(lease)
            .bind(lease.map(|_| 1))
            .bind(far)
            .bind(unique)
            .bind(unique.map(|_| "success"))
            .execute(&mut conn)
            .await
            .unwrap();
        }
        conn.close().await.unwrap();

        let mut db = open(&SqliteConfig::new(&path)).await.unwrap();
        db.temporary = Some(path);
        let b = super::super::SqliteBackend {
            db: std::sync::Arc::new(db),
        };
        let now = chrono::Utc::now();
        let listed = |set: JobSet| {
            let b = b.clone();
            async move {
                let page = b.job_list(JobListParams::new(set, 10)).await.unwrap();
                page.jobs.into_iter().map(|s| s.job.jid).collect::<Vec<_>>()
            }
        };
        let queue = listed(JobSet::Queue("q".into())).await;
        assert_eq!(queue, vec![jobs[1].jid.clone(), jobs[0].jid.clone()]);
        assert_eq!(listed(JobSet::Scheduled).await, vec![jobs[3].jid.clone()]);
        assert_eq!(listed(JobSet::Retry).await, vec![jobs[4].jid.clone()]);
        assert_eq!(listed(JobSet::Dead).await, vec![jobs[5].jid.clone()]);
        let locks = b.unique_list(UniqueListParams::new(now)).await.unwrap();
        assert_eq!(locks.len(), 1);
        assert_eq!(locks[0].jid, jobs[1].jid);
        let token = LeaseToken("3:nonce".into());
        let done = Finish::new(token, jobs[2].clone(), FinishOutcome::Completed, false);
        let report = b
            .job_finish(FinishParams::new(vec![done], now))
            .await
            .unwrap();
        assert!(
            report.lost.is_empty(),
            "the lease taken before the upgrade settles"
        );
        let version: i64 = sqlx::query_scalar("SELECT user_version FROM pragma_user_version()")
            .fetch_one(&b.db.readers)
            .await
            .unwrap();
        assert_eq!(version, MIGRATIONS.len() as i64);
    }
}
