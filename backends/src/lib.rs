//! Redis (Sidekiq-compatible), Postgres and SQLite backends for `jobs`, each behind a feature.
//!
//! [`connect`] turns a URL into a backend; it registers these schemes with `jobs::connect` too.
//! The `tls` feature (on by default) lets Redis (`rediss://`) and Postgres (`sslmode=…`)
//! connect over TLS, with rustls and Mozilla's roots compiled in.

use std::sync::Arc;

#[cfg(feature = "redis")]
pub mod redis;
#[cfg(feature = "redis")]
inventory::submit! { jobs::Connector { schemes: &["redis", "rediss"], connect: redis::connector } }
#[cfg(feature = "redis")]
pub mod redis_sentinel;
#[cfg(feature = "redis")]
inventory::submit! { jobs::Connector { schemes: &["redis+sentinel"], connect: redis_sentinel::connector } }
#[cfg(feature = "redis")]
pub mod redis_shards;
#[cfg(feature = "redis")]
inventory::submit! { jobs::Connector { schemes: &["redis+shards"], connect: redis_shards::connector } }
#[cfg(feature = "redis")]
pub mod redis_cluster;
#[cfg(feature = "redis")]
inventory::submit! { jobs::Connector { schemes: &["redis+cluster", "rediss+cluster"], connect: redis_cluster::connector } }

use jobs::backend::AdminBackend;
use jobs::ConnectError;

/// Builds a backend from a URL: `memory://`, `redis://…`, `postgres://…`, `sqlite://…`.
///
/// ```no_run
/// # async fn demo() -> Result<(), jobs::ConnectError> {
/// let backend = jobs_backends::connect("memory://").await?;
/// # Ok(()) }
/// ```
pub async fn connect(url: &str) -> Result<Arc<dyn AdminBackend>, ConnectError> {
    jobs::connect(url).await
}

#[cfg(feature = "postgres")]
pub mod postgres;

#[cfg(feature = "postgres")]
inventory::submit! {
    jobs::Connector { schemes: &["postgres", "postgresql"], connect: postgres::connect_url }
}

#[cfg(feature = "sqlite")]
pub mod sqlite;

#[cfg(feature = "sqlite")]
inventory::submit! {
    jobs::Connector { schemes: &["sqlite"], connect: sqlite::connector }
}

#[cfg(any(feature = "postgres", feature = "sqlite"))]
pub mod migrations;
