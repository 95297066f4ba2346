//! A fresh, isolated store per run, removed afterwards.
//!
//! 1. `memory://` is already private to the process.
//! 2. `redis://` gets a unique `?prefix=`; cleanup deletes every key under it.
//!    `redis+shards://` and `redis+cluster://` get one too; cleanup is the backend's own
//!    `clear_all` (every shard, every group of the cluster).
//! 3. `postgres://` gets a unique `?schema=`; cleanup drops the schema.
//! 4. `sqlite://` is replaced by a new file in a temp directory; cleanup removes the directory.

use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context, Result};

/// Where a run's jobs live, and how to remove them.
#[derive(Debug, Clone)]
pub struct Store {
    /// The URL the workers connect to (with the isolation applied).
    pub url: String,
    /// The backend kind: memory, redis, postgres or sqlite (sharded and cluster Redis are
    /// `redis`).
    pub kind: &'static str,
    /// Every Redis server holding the run's keys (`redis://host:port`), for their CPU time.
    pub redis_servers: Vec<String>,
    cleanup: Cleanup,
}

impl Store {
    /// The server's URL without this run's isolation, for a Redis or Postgres store.
    pub fn server(&self) -> Option<&str> {
        match &self.cleanup {
            Cleanup::Redis { server, .. } | Cleanup::Postgres { server, .. } => Some(server),
            Cleanup::None | Cleanup::Sqlite { .. } | Cleanup::Admin { .. } => None,
        }
    }
}

#[derive(Debug, Clone)]
enum Cleanup {
    None,
    Redis {
        server: String,
        prefix: String,
    },
    /// Sharded or cluster Redis: the backend's `clear_all`.
    Admin {
        url: String,
    },
    Postgres {
        server: String,
        schema: String,
    },
    Sqlite {
        dir: PathBuf,
    },
}

fn unique_name() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("bench_{}_{:x}", std::process::id(), nanos)
}

fn with_param(url: &str, key: &str, value: &str) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}{key}={value}")
}

impl Store {
    /// Makes an isolated store for `url`.
    pub fn fresh(url: &str) -> Result<Store> {
        let scheme = url.split("://").next().unwrap_or("");
        let name = unique_name();
        let (base, query) = match url.split_once('?') {
            Some((b, q)) => (b, Some(q)),
            None => (url, None),
        };
        match scheme {
            "memory" => Ok(Store {
                url: url.to_owned(),
                kind: "memory",
                redis_servers: Vec::new(),
                cleanup: Cleanup::None,
            }),
            "redis+shards" | "redis+cluster" => {
                if query.is_some_and(|q| q.contains("prefix=")) {
                    bail!("give the Redis URL without ?prefix=: each run picks its own");
                }
                let url = with_param(url, "prefix", &name);
                let hosts = base.split_once("://").map_or("", |(_, h)| h);
                let redis_servers = hosts
                    .split(',')
                    .map(|h| {
                        let h = h.rsplit_once('@').map_or(h, |(_, h)| h);
                        format!("redis://{}", h.split('/').next().unwrap_or(h))
                    })
                    .collect();
                Ok(Store {
                    url: url.clone(),
                    kind: "redis",
                    redis_servers,
                    cleanup: Cleanup::Admin { url },
                })
            }
            "redis" | "rediss" => {
                if query.is_some_and(|q| q.contains("prefix=")) {
                    bail!("give the Redis URL without ?prefix=: each run picks its own");
                }
                Ok(Store {
                    url: with_param(url, "prefix", &name),
                    kind: "redis",
                    redis_servers: vec![base.to_owned()],
                    cleanup: Cleanup::Redis {
                        server: base.to_owned(),
                        prefix: name,
                    },
                })
            }
            "postgres" | "postgresql" => {
                if query.is_some_and(|q| q.contains("schema=")) {
                    bail!("give the Postgres URL without ?schema=: each run picks its own");
                }
                Ok(Store {
                    url: with_param(url, "schema", &name),
                    kind: "postgres",
                    redis_servers: Vec::new(),
                    cleanup: Cleanup::Postgres {
                        server: base.to_owned(),
                        schema: name,
                    },
                })
            }
            "sqlite" => {
                let dir = std::env::temp_dir().join(format!("jobs-{name}"));
                std::fs::create_dir_all(&dir)
                    .with_context(|| format!("creating temp directory {}", dir.display()))?;
                let file = dir.join("bench.db");
                let mut url = format!("sqlite://{}", file.display());
                if let Some(q) = query {
                    url = format!("{url}?{q}");
                }
                Ok(Store {
                    url,
                    kind: "sqlite",
                    redis_servers: Vec::new(),
                    cleanup: Cleanup::Sqlite { dir },
                })
            }
            other => bail!("unsupported backend scheme `{other}` in {url}"),
        }
    }

    /// Removes everything the run stored.
    pub async fn remove(&self) -> Result<()> {
        match &self.cleanup {
            Cleanup::None => Ok(()),
            Cleanup::Admin { url } => {
                let backend = jobs_backends::connect(url)
                    .await
                    .with_context(|| format!("cleanup: connecting to {url}"))?;
                backend.clear_all().await.context("cleanup: clear_all")?;
                Ok(())
            }
            Cleanup::Redis { server, prefix } => {
                let client = redis::Client::open(server.as_str())
                    .with_context(|| format!("cleanup: opening {server}"))?;
                let mut conn = client
                    .get_multiplexed_async_connection()
                    .await
                    .context("cleanup: connecting to Redis")?;
                let mut cursor: u64 = 0;
                // Bounded: SCAN visits every key once; 100,000 rounds is far beyond any run.
                for _ in 0..100_000 {
                    let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
                        .arg(cursor)
                        .arg("MATCH")
                        .arg(format!("{prefix}:*"))
                        .arg("COUNT")
                        .arg(1000)
                        .query_async(&mut conn)
                        .await
                        .context("cleanup: SCAN")?;
                    if !keys.is_empty() {
                        let _: () = redis::cmd("UNLINK")
                            .arg(&keys)
                            .query_async(&mut conn)
                            .await
                            .context("cleanup: UNLINK")?;
                    }
                    cursor = next;
                    if cursor == 0 {
                        break;
                    }
                }
                Ok(())
            }
            Cleanup::Postgres { server, schema } => {
                let pool = sqlx::PgPool::connect(server)
                    .await
                    .with_context(|| format!("cleanup: connecting to {server}"))?;
                sqlx::query(&format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"))
                    .execute(&pool)
                    .await
                    .with_context(|| format!("cleanup: dropping schema {schema}"))?;
                pool.close().await;
                Ok(())
            }
            Cleanup::Sqlite { dir } => std::fs::remove_dir_all(dir)
                .with_context(|| format!("cleanup: removing {}", dir.display())),
        }
    }
}
