//! The client every connection is opened from: its address settings, and for `rediss://`
//! its TLS (the CA and client certificate files).
//!
//! 1. **One client, every connection.** [`client`] builds the one `redis::Client` that
//!    the shared connection and the blocking-pop connections are opened from, so they all
//!    use the same TLS setup; a Redis Cluster client (`rediss+cluster://`) gets the same
//!    files, read and checked the same way ([`certificates`], [`cluster_tls`]). The single-push connections (`push_pool.rs`) are plain TCP
//!    only and step aside for a `rediss://` address: its single pushes go on the shared
//!    connection, never in plain text.
//! 2. **Trust.** Without a CA file, the server's certificate must chain to one of Mozilla's
//!    roots (compiled in by the `tls` feature, so a container without a CA bundle trusts the
//!    same CAs as a desktop). With one ([`RedisTls::ca`], `?ca=`), only that file's
//!    certificates are trusted. The host name is always checked.
//! 3. **Client certificates** ([`RedisTls::cert`] and [`RedisTls::key`], `?cert=&key=`), for
//!    a server started with `--tls-auth-clients yes`: a PEM chain and its PEM private key.
//! 4. **Files are read when the backend is built**, so a missing or empty file is reported
//!    at once, naming the file, instead of at the first command.
//! 5. **Failures name TLS.** A handshake refused for a certificate (an unknown CA, a wrong
//!    host name, a missing client certificate) is reported by [`tls_problem`] as what it is,
//!    with the parameter that fixes it: retrying would not. A plain `redis://` connection
//!    that a TLS-only port closes at once gets a hint to write `rediss://` ([`hint_plain`]).

#[cfg(feature = "tls")]
use std::path::Path;
use std::path::PathBuf;

use jobs::backend::BackendError;
use redis::{ConnectionAddr, ConnectionInfo, IntoConnectionInfo};

use super::RedisOptions;

/// The files a `rediss://` connection uses: a CA to trust instead of the public roots, and
/// a client certificate for servers that ask for one. All optional.
///
/// ```
/// use jobs_backends::redis::RedisOptions;
/// let opts = RedisOptions::new("rediss://default:secret@redis.example.com:6380")
///     .with_tls_ca("/etc/ssl/redis-ca.pem")
///     .with_tls_client_cert("/etc/ssl/worker.pem", "/etc/ssl/worker.key");
/// assert!(opts.tls.ca.is_some() && opts.tls.key.is_some());
/// // The same, from the URL:
/// let from_url = RedisOptions::from_url(
///     "rediss://default:secret@redis.example.com:6380\
///      ?ca=/etc/ssl/redis-ca.pem&cert=/etc/ssl/worker.pem&key=/etc/ssl/worker.key",
/// )
/// .unwrap();
/// assert_eq!(from_url.tls, opts.tls);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RedisTls {
    /// A PEM file of the CA certificates to trust instead of the public roots (`?ca=`).
    pub ca: Option<PathBuf>,
    /// A PEM file with the client certificate chain (`?cert=`); needs [`RedisTls::key`].
    pub cert: Option<PathBuf>,
    /// A PEM file with the client certificate's private key (`?key=`); needs
    /// [`RedisTls::cert`].
    pub key: Option<PathBuf>,
}

impl RedisTls {
    /// Trusts the CA certificates in the PEM file at `path` instead of the public roots.
    ///
    /// ```
    /// let tls = jobs_backends::redis::RedisTls::default().with_ca("/etc/ssl/redis-ca.pem");
    /// assert!(tls.ca.is_some());
    /// ```
    pub fn with_ca(mut self, path: impl Into<PathBuf>) -> Self {
        self.ca = Some(path.into());
        self
    }

    /// Presents the client certificate chain in the PEM file `cert`, with its private key in
    /// `key`.
    ///
    /// ```
    /// let tls = jobs_backends::redis::RedisTls::default()
    ///     .with_client_cert("/etc/ssl/worker.pem", "/etc/ssl/worker.key");
    /// assert!(tls.cert.is_some() && tls.key.is_some());
    /// ```
    pub fn with_client_cert(mut self, cert: impl Into<PathBuf>, key: impl Into<PathBuf>) -> Self {
        self.cert = Some(cert.into());
        self.key = Some(key.into());
        self
    }

    /// Whether any file is set.
    ///
    /// ```
    /// use jobs_backends::redis::RedisOptions;
    /// assert!(!RedisOptions::new("rediss://h:6380").tls.is_set());
    /// assert!(RedisOptions::new("rediss://h:6380").with_tls_ca("ca.pem").tls.is_set());
    /// ```
    pub fn is_set(&self) -> bool {
        self.ca.is_some() || self.cert.is_some() || self.key.is_some()
    }
}

/// Whether `info` is a TLS address (`rediss://`).
pub(super) fn is_tls(info: &ConnectionInfo) -> bool {
    matches!(info.addr(), ConnectionAddr::TcpTls { .. })
}

/// The client for `opts`: TCP without Nagle's delay, its database, and its TLS files; the
/// error is for a user to read.
pub(super) fn client(opts: &RedisOptions) -> Result<redis::Client, String> {
    let mut info = opts
        .url
        .as_str()
        .into_connection_info()
        .map_err(|e| e.to_string())?;
    // Small requests go out one after another: Nagle's algorithm would hold each back until
    // the previous one is acknowledged.
    let tcp = info.tcp_settings().clone().set_nodelay(true);
    info = info.set_tcp_settings(tcp);
    if let Some(db) = opts.db {
        let settings = info.redis_settings().clone().set_db(db);
        info = info.set_redis_settings(settings);
    }
    open_client(info, &opts.tls)
}

/// The client for `info`, with the files of `tls` when it is a TLS address; the error says
/// what is wrong in words a user can act on.
fn open_client(info: ConnectionInfo, tls: &RedisTls) -> Result<redis::Client, String> {
    if !is_tls(&info) {
        if tls.is_set() {
            return Err(
                "TLS files (`ca`, `cert`, `key`) were given for a redis:// URL, which \
                 connects in plain text: write rediss:// to use TLS"
                    .to_owned(),
            );
        }
        return redis::Client::open(info).map_err(|e| e.to_string());
    }
    with_tls(info, tls)
}

#[cfg(feature = "tls")]
fn with_tls(info: ConnectionInfo, tls: &RedisTls) -> Result<redis::Client, String> {
    match certificates(tls)? {
        None => redis::Client::open(info).map_err(|e| e.to_string()),
        Some(certs) => redis::Client::build_with_tls(info, certs)
            .map_err(|e| format!("invalid TLS files: {e}")),
    }
}

/// The CA and client certificate of `tls`, read and checked, for a `redis::Client` or a
/// Redis Cluster client; `None` when no file is set (the public roots, no client
/// certificate). Also makes sure rustls has a crypto provider. The error names the file
/// and the parameter that set it.
#[cfg(feature = "tls")]
pub(crate) fn certificates(tls: &RedisTls) -> Result<Option<redis::TlsCertificates>, String> {
    // The redis crate asks rustls for the process's crypto provider; one an application
    // installed stays, otherwise ring becomes it: the provider sqlx's rustls uses too, and
    // one that needs no C toolchain to build. (rustls deprecates it for lacking
    // post-quantum key exchange; an application that wants that installs aws-lc-rs first.)
    #[allow(deprecated)]
    let provider = rustls::crypto::ring::default_provider();
    let _ = provider.install_default();
    let root_cert = match &tls.ca {
        Some(path) => {
            let pem = read(path, "CA")?;
            if !contains_certificate(&pem) {
                return Err(format!(
                    "the CA file `{}` (`ca`) holds no PEM certificate \
                     (-----BEGIN CERTIFICATE-----)",
                    path.display()
                ));
            }
            Some(pem)
        }
        None => None,
    };
    let client_tls = match (&tls.cert, &tls.key) {
        (Some(cert), Some(key)) => {
            let client_cert = read(cert, "client certificate")?;
            if !contains_certificate(&client_cert) {
                return Err(format!(
                    "the client certificate file `{}` (`cert`) holds no PEM certificate",
                    cert.display()
                ));
            }
            Some(redis::ClientTlsConfig {
                client_cert,
                client_key: read(key, "client key")?,
            })
        }
        (None, None) => None,
        (Some(_), None) => {
            return Err("a client certificate (`cert`) was given without its key (`key`)".into())
        }
        (None, Some(_)) => {
            return Err("a client key (`key`) was given without its certificate (`cert`)".into())
        }
    };
    if root_cert.is_none() && client_tls.is_none() {
        return Ok(None);
    }
    Ok(Some(redis::TlsCertificates {
        client_tls,
        root_cert,
    }))
}

/// `builder` (a Redis Cluster client's) with the files of `tls`; `nodes_tls` says whether
/// the nodes are `rediss://` addresses. The files are read and checked as for one server
/// ([`certificates`]); the error is for a user to read.
pub(crate) fn cluster_tls(
    builder: redis::cluster::ClusterClientBuilder,
    nodes_tls: bool,
    tls: &RedisTls,
) -> Result<redis::cluster::ClusterClientBuilder, String> {
    // Files for plain-text nodes are refused before (`ClusterOptions::problem`).
    if !nodes_tls {
        return Ok(builder);
    }
    #[cfg(feature = "tls")]
    {
        Ok(match certificates(tls)? {
            Some(certs) => builder.certs(certs),
            None => builder,
        })
    }
    #[cfg(not(feature = "tls"))]
    {
        Err(
            "rediss+cluster:// needs the `tls` feature of jobs-backends (on by default), which \
             this build left out"
                .to_owned(),
        )
    }
}

#[cfg(not(feature = "tls"))]
fn with_tls(_info: ConnectionInfo, _tls: &RedisTls) -> Result<redis::Client, String> {
    Err(
        "rediss:// needs the `tls` feature of jobs-backends (on by default), which this \
         build left out"
            .to_owned(),
    )
}

/// The bytes of `path`, or an error naming it as `what`.
#[cfg(feature = "tls")]
fn read(path: &Path, what: &str) -> Result<Vec<u8>, String> {
    std::fs::read(path)
        .map_err(|e| format!("cannot read the {what} file `{}`: {e}", path.display()))
}

/// Whether `pem` has at least one PEM certificate block (an empty file would trust nothing).
#[cfg(feature = "tls")]
fn contains_certificate(pem: &[u8]) -> bool {
    pem.windows(27).any(|w| w == b"-----BEGIN CERTIFICATE-----")
}

/// `error` from the first command of a plain (`redis://`) backend, with a hint when the
/// server closed the connection at once, as a TLS-only port does with plain text.
pub(super) fn hint_plain(error: BackendError, tls: bool) -> BackendError {
    match error {
        BackendError::Connection { target, message } if !tls && closed_at_once(&message) => {
            BackendError::connection(
                target,
                format!(
                    "{message} (the server closed the connection at once: if it takes TLS \
                     only, write rediss://)"
                ),
            )
        }
        other => other,
    }
}

/// Whether a driver message says the peer closed or reset the connection.
fn closed_at_once(message: &str) -> bool {
    let lower = message.to_ascii_lowercase();
    [
        "reset by peer",
        "end of file",
        "broken pipe",
        "connection closed",
    ]
    .iter()
    .any(|m| lower.contains(m))
}

/// What went wrong, in words, when `error` is a TLS handshake refused for a certificate or
/// a TLS protocol failure; `None` for anything else.
pub(crate) fn tls_problem(error: &str) -> Option<String> {
    let lower = error.to_ascii_lowercase();
    let hint = if lower.contains("unknownissuer") || lower.contains("unknown issuer") {
        "the server's certificate is not signed by a trusted CA; give its CA with \
         `?ca=/path/ca.pem` (or `with_tls_ca` on the options)"
    } else if lower.contains("notvalidforname") || lower.contains("not valid for name") {
        "the server's certificate is not valid for the host name in the URL; connect with \
         a name the certificate lists"
    } else if lower.contains("expired") {
        "the server's certificate has expired"
    } else if lower.contains("certificaterequired")
        || lower.contains("certificate required")
        || lower.contains("handshakefailure")
    {
        "the server asks for a client certificate; give one with `?cert=…&key=…`"
    } else if lower.contains("certificate") {
        "the certificates do not match"
    } else if lower.contains("corrupt message") || lower.contains("invalidcontenttype") {
        "the server did not answer in TLS; is the port a TLS port (redis-server --tls-port)?"
    } else {
        return None;
    };
    Some(format!("TLS handshake failed: {error} ({hint})"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(url: &str) -> ConnectionInfo {
        url.into_connection_info().unwrap()
    }

    #[test]
    fn tls_files_for_a_plain_url_are_refused() {
        let tls = RedisTls {
            ca: Some("ca.pem".into()),
            ..RedisTls::default()
        };
        let err = open_client(info("redis://127.0.0.1:6379"), &tls).unwrap_err();
        assert!(err.contains("write rediss://"), "{err}");
    }

    #[cfg(feature = "tls")]
    #[test]
    fn missing_empty_and_half_files_are_named() {
        let missing = RedisTls {
            ca: Some("/nonexistent/ca.pem".into()),
            ..RedisTls::default()
        };
        let err = open_client(info("rediss://127.0.0.1:6380"), &missing).unwrap_err();
        assert!(
            err.contains("cannot read the CA file `/nonexistent/ca.pem`"),
            "{err}"
        );
        let empty = std::env::temp_dir().join(format!("jobs-empty-ca-{}.pem", std::process::id()));
        std::fs::write(&empty, "").unwrap();
        let err = open_client(
            info("rediss://127.0.0.1:6380"),
            &RedisTls {
                ca: Some(empty.clone()),
                ..RedisTls::default()
            },
        )
        .unwrap_err();
        let _ = std::fs::remove_file(&empty);
        assert!(err.contains("holds no PEM certificate"), "{err}");
        let half = RedisTls {
            cert: Some("c.pem".into()),
            ..RedisTls::default()
        };
        let err = open_client(info("rediss://127.0.0.1:6380"), &half).unwrap_err();
        assert!(err.contains("without its key"), "{err}");
    }

    #[test]
    fn a_plain_connection_closed_at_once_hints_at_rediss() {
        let reset = BackendError::connection("redis://h:6380", "Connection reset by peer");
        let text = hint_plain(reset, false).to_string();
        assert!(text.contains("write rediss://"), "{text}");
        let reset = BackendError::connection("rediss://h:6380", "Connection reset by peer");
        assert!(!hint_plain(reset, true).to_string().contains("write rediss"));
        let refused = BackendError::connection("redis://h:6380", "Connection refused");
        assert!(!hint_plain(refused, false).to_string().contains("rediss"));
    }

    #[test]
    fn certificate_failures_name_tls_and_the_fix() {
        let text = tls_problem("invalid peer certificate: UnknownIssuer").unwrap();
        assert!(text.starts_with("TLS handshake failed"), "{text}");
        assert!(text.contains("?ca="), "{text}");
        assert!(tls_problem("Connection refused (os error 111)").is_none());
    }
}
