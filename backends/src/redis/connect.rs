//! Building a Redis backend: connecting and checking the server (`connect`), building one
//! without a round trip (`lazy`), or as one group of a Redis Cluster on a shared cluster
//! connection (`on_cluster`), and the connections and pools each one is made of.

use super::*;

impl RedisBackend {
    /// Connects, checks the server answers, and warns when its `maxmemory-policy` would let
    /// Redis evict jobs (anything but `noeviction`).
    pub async fn connect(opts: RedisOptions) -> Result<Self, BackendError> {
        let backend = Self::lazy(opts)?;
        let tls = backend.inner.edge.tls;
        backend
            .check_server()
            .await
            .map_err(|e| tls::hint_plain(e, tls))?;
        Ok(backend)
    }

    /// Builds the backend without touching the server; the first command connects. No
    /// `maxmemory-policy` check is made. Must be called inside a Tokio runtime.
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), jobs::backend::BackendError> {
    /// use jobs_backends::redis::{RedisBackend, RedisOptions};
    /// let backend = RedisBackend::lazy(RedisOptions::new("redis://127.0.0.1:6379").with_prefix("app"))?;
    /// # Ok(()) }
    /// ```
    pub fn lazy(opts: RedisOptions) -> Result<Self, BackendError> {
        let (client, edge) = Self::prepare(&opts)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(opts.connect_timeout))
            .set_response_timeout(Some(opts.response_timeout))
            .set_number_of_retries(1)
            .set_min_delay(std::time::Duration::from_millis(50))
            .set_max_delay(std::time::Duration::from_millis(500));
        let conn = ConnectionManager::new_lazy_with_config(client.clone(), config)
            .map_err(|e| edge.map(e))?;
        Ok(Self::assemble(opts, Conn::Single(conn), client, edge))
    }

    /// One group of a Redis Cluster: `opts.prefix` carries the group's hash tag, and `conn`
    /// is the cluster connection every group shares. Single pushes and blocking pops, which
    /// need connections to one server, are not used: reserves poll (`reserve.rs`).
    pub(crate) fn on_cluster(
        opts: RedisOptions,
        conn: redis::cluster_async::ClusterConnection,
    ) -> Result<Self, BackendError> {
        let (client, edge) = Self::prepare(&opts)?;
        Ok(Self::assemble(opts, Conn::Cluster(conn), client, edge))
    }

    /// Checks the prefix, and builds the client (with the URL's TLS files) and the error
    /// mapping for `opts`.
    fn prepare(opts: &RedisOptions) -> Result<(redis::Client, Edge), BackendError> {
        if let Some(problem) = opts.prefix.as_deref().and_then(config::prefix_problem) {
            return Err(BackendError::msg(format!(
                "invalid Redis key prefix: {problem}"
            )));
        }
        let target = jobs::redact_url(&opts.url);
        let client = tls::client(opts)
            .map_err(|m| BackendError::msg(format!("cannot use Redis at {target}: {m}")))?;
        let edge = Edge {
            target,
            timeout: opts.response_timeout,
            tls: tls::is_tls(client.get_connection_info()),
        };
        Ok((client, edge))
    }

    /// The backend on `conn`, with its single-push (not on a cluster) and blocking pools on
    /// `client`.
    fn assemble(opts: RedisOptions, conn: Conn, client: redis::Client, edge: Edge) -> Self {
        let push = if conn.is_cluster() {
            None
        } else {
            PushPool::new(
                client.get_connection_info(),
                opts.connect_timeout,
                opts.response_timeout,
            )
        };
        let blocking = BlockingPool {
            client,
            config: AsyncConnectionConfig::new()
                .set_connection_timeout(Some(opts.connect_timeout))
                .set_response_timeout(None),
            idle: Mutex::new(Vec::new()),
        };
        RedisBackend {
            inner: Arc::new(Inner {
                conn,
                blocking,
                push,
                known: KnownQueues::default(),
                keys: Keys::new(opts.prefix.as_deref()),
                edge,
                opts,
                beat_rtt_us: std::sync::atomic::AtomicU64::new(0),
            }),
        }
    }

    /// Connects from a URL such as `redis://127.0.0.1:6379/3?prefix=myapp`.
    pub async fn from_url(url: &str) -> Result<Self, ConnectError> {
        let opts = RedisOptions::from_url(url)?;
        if let Err(message) = tls::client(&opts) {
            return Err(ConnectError::Config {
                url: jobs::redact_url(url),
                message,
            });
        }
        Ok(Self::connect(opts).await?)
    }

    /// The options this backend was built with.
    pub fn options(&self) -> &RedisOptions {
        &self.inner.opts
    }

    pub(crate) async fn check_server(&self) -> Result<(), BackendError> {
        let _: String = self.inner.query(&redis::cmd("PING")).await?;
        let policy: Result<Vec<String>, BackendError> = self
            .inner
            .query(redis::cmd("CONFIG").arg("GET").arg("maxmemory-policy"))
            .await;
        match policy {
            Ok(reply) => match reply.get(1) {
                Some(p) if p != "noeviction" => tracing::warn!(
                    target = %self.inner.edge.target,
                    policy = %p,
                    "Redis maxmemory-policy is not `noeviction`: when memory runs out Redis will \
                     silently delete keys, jobs included; set `maxmemory-policy noeviction`"
                ),
                _ => {}
            },
            Err(e) if e.is_transient() => return Err(e),
            Err(e) => {
                tracing::debug!(error = %e, "could not read maxmemory-policy (CONFIG disabled?)")
            }
        }
        Ok(())
    }
}
