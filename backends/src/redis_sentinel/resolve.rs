//! Asking the sentinels where the master is, and checking that it is one.
//!
//! 1. Each sentinel is asked `SENTINEL get-master-addr-by-name <name>` in the order given;
//!    the first that answers with an address wins (a sentinel that is down, or does not
//!    monitor the name, is skipped and named in the error if none answers).
//! 2. The address is then asked `ROLE`: during a failover a sentinel can still name the old
//!    master, which by then may be a replica; such an answer is refused (a transient
//!    connection error), so the caller keeps its current master and asks again later.
//! 3. Every connection here is short-lived and bounded by the connect and response
//!    timeouts; the backend's own connections are not touched.

use std::time::Duration;

use jobs::backend::BackendError;
use redis::{AsyncConnectionConfig, IntoConnectionInfo};

use super::SentinelOptions;

/// The master's address as the sentinels give it, checked with `ROLE`.
pub(crate) async fn master_addr(opts: &SentinelOptions) -> Result<(String, u16), BackendError> {
    let mut problems = Vec::new();
    for (host, port) in &opts.sentinels {
        match ask(opts, host, *port).await {
            Ok(Some(addr)) => {
                return match role(opts, &addr.0, addr.1).await {
                    Ok(role) if role == "master" => Ok(addr),
                    Ok(role) => Err(BackendError::connection(
                        target(opts),
                        format!(
                            "sentinel {host}:{port} names {}:{} as master `{}`, but it is a {role} \
                             (a failover is under way)",
                            addr.0, addr.1, opts.master_name
                        ),
                    )),
                    Err(e) => Err(BackendError::connection(
                        target(opts),
                        format!(
                            "the master {}:{} named by sentinel {host}:{port}: {e}",
                            addr.0, addr.1
                        ),
                    )),
                };
            }
            Ok(None) => problems.push(format!(
                "{host}:{port} does not monitor a master named `{}`",
                opts.master_name
            )),
            Err(e) => problems.push(format!("{host}:{port}: {e}")),
        }
    }
    Err(BackendError::connection(
        target(opts),
        format!(
            "no sentinel gave the master's address: {}",
            problems.join("; ")
        ),
    ))
}

/// How errors name the deployment: the sentinels and the master's name.
pub(crate) fn target(opts: &SentinelOptions) -> String {
    let hosts: Vec<String> = opts
        .sentinels
        .iter()
        .map(|(h, p)| format!("{h}:{p}"))
        .collect();
    format!("redis+sentinel://{}/{}", hosts.join(","), opts.master_name)
}

/// One sentinel's answer: the master's address, or `None` when it does not know the name.
async fn ask(
    opts: &SentinelOptions,
    host: &str,
    port: u16,
) -> Result<Option<(String, u16)>, String> {
    let info = connection_info(host, port, None, opts.sentinel_password.clone())?;
    let mut conn = open(opts, info).await?;
    let reply: Option<(String, String)> = redis::cmd("SENTINEL")
        .arg("get-master-addr-by-name")
        .arg(&opts.master_name)
        .query_async(&mut conn)
        .await
        .map_err(|e| e.to_string())?;
    match reply {
        None => Ok(None),
        Some((h, p)) => {
            let port = p
                .parse()
                .map_err(|_| format!("answered a port that is not a number: `{p}`"))?;
            Ok(Some((h, port)))
        }
    }
}

/// What `ROLE` says the server at `host:port` is: `master`, `slave` or `sentinel`.
async fn role(opts: &SentinelOptions, host: &str, port: u16) -> Result<String, String> {
    let info = connection_info(host, port, opts.username.clone(), opts.password.clone())?;
    let mut conn = open(opts, info).await?;
    let reply: Vec<redis::Value> = redis::cmd("ROLE")
        .query_async(&mut conn)
        .await
        .map_err(|e| e.to_string())?;
    match reply.first() {
        Some(redis::Value::BulkString(b)) => Ok(String::from_utf8_lossy(b).into_owned()),
        Some(redis::Value::SimpleString(s)) => Ok(s.clone()),
        _ => Err("ROLE gave an unexpected reply".into()),
    }
}

fn connection_info(
    host: &str,
    port: u16,
    username: Option<String>,
    password: Option<String>,
) -> Result<redis::ConnectionInfo, String> {
    let mut settings = redis::RedisConnectionInfo::default();
    if let Some(u) = username {
        settings = settings.set_username(u);
    }
    if let Some(p) = password {
        settings = settings.set_password(p);
    }
    redis::ConnectionAddr::Tcp(host.to_owned(), port)
        .into_connection_info()
        .map(|i| i.set_redis_settings(settings))
        .map_err(|e| e.to_string())
}

async fn open(
    opts: &SentinelOptions,
    info: redis::ConnectionInfo,
) -> Result<redis::aio::MultiplexedConnection, String> {
    let client = redis::Client::open(info).map_err(|e| e.to_string())?;
    let config = AsyncConnectionConfig::new()
        .set_connection_timeout(Some(opts.connect_timeout))
        .set_response_timeout(Some(opts.response_timeout.min(Duration::from_secs(2))));
    client
        .get_multiplexed_async_connection_with_config(&config)
        .await
        .map_err(|e| e.to_string())
}
