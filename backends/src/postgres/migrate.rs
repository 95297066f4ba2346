//! Creating and upgrading the schema: migrations embedded in the crate, run under a lock.
//!
//! 1. Each pending migration runs in a transaction of its own that first takes a
//!    transaction-level advisory lock keyed by the schema name and reads the applied
//!    versions again, so many processes starting at once apply each migration exactly
//!    once and the others wait, then find nothing to do. One transaction per migration, not
//!    one for all: an enum value a migration adds cannot be used before its transaction
//!    commits (version 8 adds `waiting`, version 9 indexes and triggers on it).
//! 2. Applied versions are recorded in `<schema>.schema_migrations`.
//! 3. [`migrate`] is public for teams that migrate by hand before deploying.

use jobs::backend::BackendError;
use sqlx::{Connection, Executor, PgConnection};

use super::config::validate_schema;
use super::error::{ErrorContext, Sqlx};
use super::sql::{bind_schema, quoted, MIGRATIONS};

/// Creates schema `schema` and its tables, or upgrades them to this crate's version.
///
/// Safe to call from many processes at once, and a no-op once up to date; the backend
/// calls it when it connects. Returns the versions it applied.
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// use sqlx::Connection;
/// let mut conn = sqlx::PgConnection::connect("postgres://root@127.0.0.1:5432/test").await?;
/// let applied = jobs_backends::postgres::migrate(&mut conn, "myapp").await?;
/// println!("applied migrations {applied:?}");
/// # Ok(()) }
/// ```
pub async fn migrate(conn: &mut PgConnection, schema: &str) -> Result<Vec<i32>, BackendError> {
    validate_schema(schema).map_err(|e| BackendError::msg(e.to_string()))?;
    let ctx = ErrorContext {
        target: format!("postgres schema {schema}"),
        acquire_timeout: std::time::Duration::ZERO,
    };
    run(conn, schema).await.or_backend(&ctx)
}

async fn run(conn: &mut PgConnection, schema: &str) -> Result<Vec<i32>, sqlx::Error> {
    let mut applied = Vec::new();
    while let Some(version) = apply_next(conn, schema).await? {
        applied.push(version);
    }
    Ok(applied)
}

/// Applies the first pending migration in a transaction of its own, under the lock; the
/// version applied, or `None` when none was pending.
async fn apply_next(conn: &mut PgConnection, schema: &str) -> Result<Option<i32>, sqlx::Error> {
    let mut tx = conn.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
        .bind(format!("jobs.migrate.{schema}"))
        .execute(&mut *tx)
        .await?;
    let q = quoted(schema);
    let create = format!(
        "CREATE SCHEMA IF NOT EXISTS {q};
         CREATE TABLE IF NOT EXISTS {q}.schema_migrations (
             version    integer     PRIMARY KEY,
             name       text        NOT NULL,
             applied_at timestamptz NOT NULL DEFAULT now()
         );"
    );
    tx.execute(create.as_str()).await?;
    let done: Vec<i32> = sqlx::query_scalar(&format!("SELECT version FROM {q}.schema_migrations"))
        .fetch_all(&mut *tx)
        .await?;
    let Some((version, name, sql)) = MIGRATIONS.iter().find(|(v, _, _)| !done.contains(v)) else {
        tx.commit().await?;
        return Ok(None);
    };
    let text = bind_schema(sql, schema);
    // Without arguments this is the simple query protocol: many statements at once.
    tx.execute(text.as_str()).await?;
    sqlx::query(&format!(
        "INSERT INTO {q}.schema_migrations (version, name) VALUES ($1, $2)"
    ))
    .bind(version)
    .bind(name)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    tracing::info!(schema, version, name, "applied jobs migration");
    Ok(Some(*version))
}

/// The embedded migrations, each with whether schema `schema` has it; every one pending when
/// the schema or its `schema_migrations` table does not exist (this creates nothing). What
/// `jobs migrate --dry-run` prints.
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// use sqlx::Connection;
/// let mut conn = sqlx::PgConnection::connect("postgres://root@127.0.0.1:5432/test").await?;
/// for m in jobs_backends::postgres::migration_status(&mut conn, "myapp").await? {
///     println!("{} {} {}", m.version, m.name, if m.applied { "applied" } else { "pending" });
/// }
/// # Ok(()) }
/// ```
pub async fn migration_status(
    conn: &mut PgConnection,
    schema: &str,
) -> Result<Vec<crate::migrations::MigrationState>, BackendError> {
    validate_schema(schema).map_err(|e| BackendError::msg(e.to_string()))?;
    let ctx = ErrorContext {
        target: format!("postgres schema {schema}"),
        acquire_timeout: std::time::Duration::ZERO,
    };
    let table = format!("{}.schema_migrations", quoted(schema));
    let exists: Option<String> = sqlx::query_scalar("SELECT to_regclass($1)::text")
        .bind(&table)
        .fetch_one(&mut *conn)
        .await
        .or_backend(&ctx)?;
    let done: Vec<i32> = match exists {
        Some(_) => sqlx::query_scalar(&format!("SELECT version FROM {table}"))
            .fetch_all(&mut *conn)
            .await
            .or_backend(&ctx)?,
        None => Vec::new(),
    };
    Ok(MIGRATIONS
        .iter()
        .map(|(version, name, _)| {
            crate::migrations::MigrationState::new(
                i64::from(*version),
                name,
                done.contains(version),
            )
        })
        .collect())
}
