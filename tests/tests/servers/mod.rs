//! Where the shared test servers are: `JOBS_TEST_REDIS_URL` and `JOBS_TEST_DATABASE_URL`
//! (set by `scripts/test`), then the older `JOBS_REDIS_URL` and `JOBS_POSTGRES_URL`, then the
//! local defaults `redis://127.0.0.1:6379/0` and `postgres://root@127.0.0.1:5432/test`.
//! The Redis Cluster is `JOBS_TEST_REDIS_CLUSTER_URL`, which `scripts/test` sets after starting
//! a private three-master cluster (`scripts/services-cluster.sh`), and the one speaking TLS
//! only is `JOBS_TEST_REDIS_CLUSTER_TLS_URL`; neither has a default.

#![allow(dead_code)]

fn first_set(names: &[&str], default: &str) -> String {
    names
        .iter()
        .find_map(|name| std::env::var(name).ok())
        .unwrap_or_else(|| default.to_owned())
}

/// The shared Redis server, database 0 unless the variable names another.
pub fn redis_url() -> String {
    first_set(
        &["JOBS_TEST_REDIS_URL", "JOBS_REDIS_URL"],
        "redis://127.0.0.1:6379/0",
    )
}

/// Database `n` of the shared Redis server ([`redis_url`] with its database and query replaced).
pub fn redis_db_url(n: u8) -> String {
    let url = redis_url();
    let no_query = url.split('?').next().unwrap_or_default();
    let (scheme, rest) = no_query.split_once("://").unwrap_or(("redis", no_query));
    let authority = rest.split('/').next().unwrap_or_default();
    format!("{scheme}://{authority}/{n}")
}

/// The shared Redis Cluster, a `redis+cluster://` URL without query; a test that needs it and
/// finds it unset fails, saying how to start one.
pub fn redis_cluster_url() -> String {
    match std::env::var("JOBS_TEST_REDIS_CLUSTER_URL") {
        Ok(url) => url,
        Err(_) => panic!(
            "JOBS_TEST_REDIS_CLUSTER_URL is not set: run the tests with scripts/test, or start a \
             private cluster with `eval \"$(bash scripts/services.sh up)\"` first"
        ),
    }
}

/// The shared Redis Cluster that speaks TLS only, a `rediss+cluster://` URL whose query
/// names its CA (`?ca=...`); a test that needs it and finds it unset fails, saying how to
/// start one.
pub fn redis_cluster_tls_url() -> String {
    match std::env::var("JOBS_TEST_REDIS_CLUSTER_TLS_URL") {
        Ok(url) => url,
        Err(_) => panic!(
            "JOBS_TEST_REDIS_CLUSTER_TLS_URL is not set: run the tests with scripts/test, or \
             start the private clusters with `eval \"$(bash scripts/services.sh up)\"` first"
        ),
    }
}

/// The shared PostgreSQL database.
pub fn postgres_url() -> String {
    first_set(
        &["JOBS_TEST_DATABASE_URL", "JOBS_POSTGRES_URL"],
        "postgres://root@127.0.0.1:5432/test",
    )
}

/// `url` with the query parameters `params` (`k=v&...`) added.
pub fn with_params(url: &str, params: &str) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}{params}")
}
