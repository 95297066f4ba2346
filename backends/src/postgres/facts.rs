//! What the dashboard shows about the server: its version, the database's size, and the
//! size and row count of `jobs`.

use jobs::backend::BackendError;
use sqlx::Row;

use super::error::Sqlx;
use super::Inner;

/// Version and sizes, for the dashboard.
pub(super) async fn facts(inner: &Inner) -> Result<Vec<(String, String)>, BackendError> {
    let sql = inner.q("SELECT current_setting('server_version'),
                pg_size_pretty(pg_database_size(current_database())),
                pg_size_pretty(pg_total_relation_size('__SCHEMA__.jobs'::regclass)),
                (SELECT count(*) FROM __SCHEMA__.jobs)");
    let row = sqlx::query(&sql)
        .fetch_one(&inner.pool)
        .await
        .or_backend(&inner.cx)?;
    let text = |i: usize| -> Result<String, BackendError> {
        row.try_get::<String, _>(i).or_backend(&inner.cx)
    };
    let rows: i64 = row.try_get(3).or_backend(&inner.cx)?;
    Ok(vec![
        ("Postgres version".to_owned(), text(0)?),
        ("Database size".to_owned(), text(1)?),
        ("Jobs table size".to_owned(), text(2)?),
        ("Jobs table rows".to_owned(), rows.to_string()),
        ("Schema".to_owned(), inner.schema().to_owned()),
    ])
}
