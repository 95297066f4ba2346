//! Which schema migrations a store has and which are pending, and applying them, by URL:
//! what `jobs migrate` runs, for teams that migrate before deploying instead of on connect.
//!
//! 1. [`plan`] lists the migrations this build embeds for the store at a URL, each applied
//!    or pending, without creating or changing anything.
//! 2. [`apply`] applies the pending ones the way connecting does (Postgres: one transaction
//!    each under an advisory lock; SQLite: one immediate transaction) and returns them.
//! 3. Redis and memory keep no schema: both answer [`MigrateError::NoSchema`].

use jobs::backend::BackendError;
use jobs::ConnectError;
use serde::Serialize;

/// One embedded migration and whether the store has it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct MigrationState {
    /// Its number, in the order they apply.
    pub version: i64,
    /// Its name (Postgres) or file name (SQLite).
    pub name: &'static str,
    /// Whether the store has it.
    pub applied: bool,
}

impl MigrationState {
    /// A migration `version` called `name`, applied or not.
    ///
    /// ```
    /// let m = jobs_backends::migrations::MigrationState::new(1, "create_tables", false);
    /// assert!(!m.applied);
    /// ```
    pub fn new(version: i64, name: &'static str, applied: bool) -> Self {
        MigrationState {
            version,
            name,
            applied,
        }
    }
}

/// The store a URL names and its migrations.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Plan {
    /// `postgres` or `sqlite`.
    pub backend: &'static str,
    /// Where: `postgres://user@host:port/db schema app`, or the SQLite file's path.
    pub target: String,
    /// Every embedded migration, in order.
    pub migrations: Vec<MigrationState>,
}

impl Plan {
    /// The migrations still to apply, in order.
    pub fn pending(&self) -> impl Iterator<Item = &MigrationState> {
        self.migrations.iter().filter(|m| !m.applied)
    }
}

/// Why migrations could not be listed or applied.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MigrateError {
    /// The URL names a store without a schema (Redis, memory): nothing to migrate.
    #[error("the {backend} backend keeps no schema: there is nothing to migrate")]
    NoSchema {
        /// The backend's name.
        backend: &'static str,
    },
    /// The URL is not one of a backend this build has.
    #[error("`{url}` is not a URL of a backend jobs can migrate (postgres://… or sqlite://…)")]
    UnknownScheme {
        /// The URL, password removed.
        url: String,
    },
    /// The URL does not parse or has a bad parameter.
    #[error(transparent)]
    Url(#[from] ConnectError),
    /// The store failed or refused.
    #[error("migrating {target} failed")]
    Backend {
        /// Where, password removed.
        target: String,
        /// Why.
        #[source]
        source: BackendError,
    },
}

/// The scheme of `url`, lowercased.
fn scheme(url: &str) -> String {
    url.split_once("://")
        .map_or_else(String::new, |(s, _)| s.to_ascii_lowercase())
}

/// Lists the migrations of the store at `url`, applied or pending; creates and changes
/// nothing (a missing SQLite file or Postgres schema has every migration pending).
///
/// ```no_run
/// # async fn demo() -> Result<(), jobs_backends::migrations::MigrateError> {
/// let plan = jobs_backends::migrations::plan("sqlite://jobs.db").await?;
/// for m in plan.pending() {
///     println!("pending: {} {}", m.version, m.name);
/// }
/// # Ok(()) }
/// ```
pub async fn plan(url: &str) -> Result<Plan, MigrateError> {
    match scheme(url).as_str() {
        #[cfg(feature = "sqlite")]
        "sqlite" => {
            let config = crate::sqlite::SqliteConfig::from_url(url)?;
            let target = config.path.display().to_string();
            let migrations = crate::sqlite::migration_status(&config)
                .await
                .map_err(|source| MigrateError::Backend {
                    target: target.clone(),
                    source,
                })?;
            Ok(Plan {
                backend: "sqlite",
                target,
                migrations,
            })
        }
        #[cfg(feature = "postgres")]
        "postgres" | "postgresql" => {
            let (mut conn, schema, target) = postgres_connect(url).await?;
            let migrations = crate::postgres::migration_status(&mut conn, &schema)
                .await
                .map_err(|source| MigrateError::Backend {
                    target: target.clone(),
                    source,
                });
            let _ = sqlx::Connection::close(conn).await;
            Ok(Plan {
                backend: "postgres",
                target,
                migrations: migrations?,
            })
        }
        other => Err(no_schema(other, url)),
    }
}

/// Applies the pending migrations of the store at `url` (creating the SQLite file or the
/// Postgres schema when missing); returns the plan as it was before and the versions
/// applied, none when it was up to date. Safe beside workers that connect at the same time.
///
/// ```no_run
/// # async fn demo() -> Result<(), jobs_backends::migrations::MigrateError> {
/// let (_before, applied) = jobs_backends::migrations::apply("sqlite://jobs.db").await?;
/// println!("applied {applied:?}");
/// # Ok(()) }
/// ```
pub async fn apply(url: &str) -> Result<(Plan, Vec<i64>), MigrateError> {
    let before = plan(url).await?;
    let failed = |source| MigrateError::Backend {
        target: before.target.clone(),
        source,
    };
    let applied = match scheme(url).as_str() {
        #[cfg(feature = "sqlite")]
        "sqlite" => {
            let config = crate::sqlite::SqliteConfig::from_url(url)?;
            crate::sqlite::migrate(&config).await.map_err(failed)?
        }
        #[cfg(feature = "postgres")]
        "postgres" | "postgresql" => {
            let (mut conn, schema, _) = postgres_connect(url).await?;
            let applied = crate::postgres::migrate(&mut conn, &schema).await;
            let _ = sqlx::Connection::close(conn).await;
            applied
                .map_err(failed)?
                .into_iter()
                .map(i64::from)
                .collect()
        }
        other => return Err(no_schema(other, url)),
    };
    Ok((before, applied))
}

/// The error for a URL whose store has no migrations.
fn no_schema(scheme: &str, url: &str) -> MigrateError {
    match scheme {
        "redis" | "rediss" => MigrateError::NoSchema { backend: "redis" },
        "memory" => MigrateError::NoSchema { backend: "memory" },
        _ => MigrateError::UnknownScheme {
            url: jobs::redact_url(url),
        },
    }
}

/// One connection to the database of a `postgres://` URL, its schema and a description.
#[cfg(feature = "postgres")]
async fn postgres_connect(url: &str) -> Result<(sqlx::PgConnection, String, String), MigrateError> {
    use sqlx::ConnectOptions;
    let (connect, options) = crate::postgres::PostgresOptions::from_url(url)?;
    let schema = options.schema().to_owned();
    let target = format!(
        "postgres://{}@{}:{}/{} schema {schema}",
        connect.get_username(),
        connect.get_host(),
        connect.get_port(),
        connect.get_database().unwrap_or_default()
    );
    let conn = connect.connect().await.map_err(|e| MigrateError::Backend {
        target: target.clone(),
        source: BackendError::connection(&target, e),
    })?;
    Ok((conn, schema, target))
}
