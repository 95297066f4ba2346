//! What the dashboard shows about the database: SQLite's version, the file, its size and
//! its write-ahead log's, and how many jobs it holds.

use jobs::backend::BackendError;

use super::db::Db;
use super::error::Sqlx;
use super::metrics::to_u64;

/// What the dashboard shows about the database: SQLite's version, the file, its size and
/// its write-ahead log's, and how many jobs it holds.
pub(super) async fn facts(db: &Db) -> Result<Vec<(String, String)>, BackendError> {
    let (version, pages, page_size, jobs): (String, i64, i64, i64) = sqlx::query_as(
        "SELECT sqlite_version(), (SELECT page_count FROM pragma_page_count()),
                (SELECT page_size FROM pragma_page_size()), (SELECT count(*) FROM jobs)",
    )
    .fetch_one(&db.readers)
    .await
    .or_backend(&db.cx)?;
    let wal = std::fs::metadata(format!("{}-wal", db.cx.target)).map_or(0, |m| m.len());
    let mib = |bytes: u64| format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0));
    Ok(vec![
        ("SQLite version".to_owned(), version),
        ("Database file".to_owned(), db.cx.target.clone()),
        (
            "Database size".to_owned(),
            mib(to_u64(pages).saturating_mul(to_u64(page_size))),
        ),
        ("Write-ahead log size".to_owned(), mib(wal)),
        ("Jobs stored".to_owned(), jobs.to_string()),
    ])
}
