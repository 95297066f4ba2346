//! What the dashboard shows about the server: its version, the database's size, the size,
//! row count and dead rows of `jobs`, and whether autovacuum runs (a warning at start when
//! it does not: every reserve and finish leaves a dead row version, and without vacuum the
//! table grows until each reserve walks millions of them).

use jobs::backend::BackendError;
use sqlx::Row;

use super::error::Sqlx;
use super::Inner;

/// Version and sizes, for the dashboard.
pub(super) async fn facts(inner: &Inner) -> Result<Vec<(String, String)>, BackendError> {
    let sql = inner.q("SELECT current_setting('server_version'),
                pg_size_pretty(pg_database_size(current_database())),
                pg_size_pretty(pg_total_relation_size('__SCHEMA__.jobs'::regclass)),
                (SELECT count(*) FROM __SCHEMA__.jobs),
                current_setting('autovacuum'),
                coalesce(pg_stat_get_dead_tuples('__SCHEMA__.jobs'::regclass), 0)");
    let row = sqlx::query(&sql)
        .fetch_one(&inner.pool)
        .await
        .or_backend(&inner.cx)?;
    let text = |i: usize| -> Result<String, BackendError> {
        row.try_get::<String, _>(i).or_backend(&inner.cx)
    };
    let rows: i64 = row.try_get(3).or_backend(&inner.cx)?;
    let dead: i64 = row.try_get(5).or_backend(&inner.cx)?;
    let autovacuum = match text(4)?.as_str() {
        "on" => "on".to_owned(),
        _ => AUTOVACUUM_OFF.to_owned(),
    };
    Ok(vec![
        ("Postgres version".to_owned(), text(0)?),
        ("Database size".to_owned(), text(1)?),
        ("Jobs table size".to_owned(), text(2)?),
        ("Jobs table rows".to_owned(), rows.to_string()),
        ("Jobs table dead rows".to_owned(), dead.to_string()),
        ("Autovacuum".to_owned(), autovacuum),
        ("Schema".to_owned(), inner.schema().to_owned()),
    ])
}

/// What the dashboard and the start-up warning say when autovacuum is off.
const AUTOVACUUM_OFF: &str = "off: the jobs table keeps every dead row version and each \
     reserve slows down as they pile up; turn autovacuum on, or VACUUM the jobs table often";

/// Logs a warning when the server runs without autovacuum (best effort: a failed query is
/// ignored, as it only decides whether to warn).
pub(super) async fn warn_if_autovacuum_off(conn: &mut sqlx::PgConnection, target: &str) {
    let setting: Result<String, _> = sqlx::query_scalar("SELECT current_setting('autovacuum')")
        .fetch_one(conn)
        .await;
    if matches!(setting.as_deref(), Ok("off")) {
        tracing::warn!(server = %target, "PostgreSQL autovacuum is {AUTOVACUUM_OFF}");
    }
}
