//! The `redis+sentinel://` URL: the sentinels' addresses, the master's name, its database,
//! the key prefix and the passwords.
//!
//! Shape: `redis+sentinel://[[user]:password@]host:port[,host:port...]/master-name[?db=N&prefix=name&sentinel_password=pw]`.
//! The user and password before `@` are the master's (its `requirepass`/ACL user);
//! `sentinel_password` is the sentinels' own, when they have one. Every error names the part
//! of the URL that is wrong, with the password hidden.

use std::time::Duration;

use jobs::ConnectError;

use crate::redis::RedisOptions;

/// The query parameters a `redis+sentinel://` URL may carry.
const PARAMETERS: &[&str] = &["db", "prefix", "sentinel_password"];

/// The port a sentinel listens on when the address gives none.
pub const DEFAULT_SENTINEL_PORT: u16 = 26379;

/// Where the sentinels are, which master to ask them for, and how to use it.
///
/// ```
/// use jobs_backends::redis_sentinel::SentinelOptions;
/// let o = SentinelOptions::from_url(
///     "redis+sentinel://:s3cret@10.0.0.1:26379,10.0.0.2/mymaster?db=2&prefix=app",
/// )
/// .unwrap();
/// assert_eq!(o.sentinels, vec![("10.0.0.1".to_owned(), 26379), ("10.0.0.2".to_owned(), 26379)]);
/// assert_eq!((o.master_name.as_str(), o.db, o.prefix.as_deref()), ("mymaster", 2, Some("app")));
/// assert!(!format!("{o:?}").contains("s3cret"));
/// ```
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SentinelOptions {
    /// The sentinels, asked in this order until one answers.
    pub sentinels: Vec<(String, u16)>,
    /// The name the sentinels monitor the master under (`sentinel monitor <name> ...`).
    pub master_name: String,
    /// The database number on the master.
    pub db: i64,
    /// The key prefix, as `redis://...?prefix=` (`None`: Sidekiq's plain key names).
    pub prefix: Option<String>,
    /// The master's ACL user name, if any.
    pub username: Option<String>,
    /// The master's password, if any.
    pub password: Option<String>,
    /// The sentinels' password (`requirepass` in their configuration), if any.
    pub sentinel_password: Option<String>,
    /// How long to wait for a TCP connection, to a sentinel or to the master.
    pub connect_timeout: Duration,
    /// How long to wait for any reply, from a sentinel or from the master.
    pub response_timeout: Duration,
}

impl std::fmt::Debug for SentinelOptions {
    /// Every field, with the passwords hidden.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let hide = |p: &Option<String>| p.as_ref().map(|_| "***");
        f.debug_struct("SentinelOptions")
            .field("sentinels", &self.sentinels)
            .field("master_name", &self.master_name)
            .field("db", &self.db)
            .field("prefix", &self.prefix)
            .field("username", &self.username)
            .field("password", &hide(&self.password))
            .field("sentinel_password", &hide(&self.sentinel_password))
            .field("connect_timeout", &self.connect_timeout)
            .field("response_timeout", &self.response_timeout)
            .finish()
    }
}

impl SentinelOptions {
    /// Options for master `master_name` monitored by `sentinels`, with every default.
    ///
    /// ```
    /// use jobs_backends::redis_sentinel::SentinelOptions;
    /// let o = SentinelOptions::new(vec![("127.0.0.1".into(), 26379)], "mymaster");
    /// assert_eq!((o.db, o.prefix), (0, None));
    /// ```
    pub fn new(sentinels: Vec<(String, u16)>, master_name: impl Into<String>) -> Self {
        let base = RedisOptions::new("redis://127.0.0.1");
        SentinelOptions {
            sentinels,
            master_name: master_name.into(),
            db: 0,
            prefix: None,
            username: None,
            password: None,
            sentinel_password: None,
            connect_timeout: base.connect_timeout,
            response_timeout: base.response_timeout,
        }
    }

    /// Reads a `redis+sentinel://` URL (shape in the module docs).
    pub fn from_url(url: &str) -> Result<Self, ConnectError> {
        let shown = redact(url);
        let invalid = |reason: String| ConnectError::InvalidUrl {
            url: shown.clone(),
            reason,
        };
        let rest = url
            .strip_prefix("redis+sentinel://")
            .ok_or_else(|| invalid("expected redis+sentinel://".into()))?;
        let (rest, query) = rest.split_once('?').unwrap_or((rest, ""));
        let (authority, master) = rest.split_once('/').unwrap_or((rest, ""));
        let (userinfo, hosts) = match authority.rsplit_once('@') {
            Some((u, h)) => (Some(u), h),
            None => (None, authority),
        };
        let mut sentinels = Vec::new();
        for (i, host) in hosts.split(',').enumerate() {
            sentinels.push(host_port(host, DEFAULT_SENTINEL_PORT).map_err(|problem| {
                invalid(format!("sentinel address {} `{host}`: {problem}", i + 1))
            })?);
        }
        let master = decode(master);
        if master.is_empty() || master.contains('/') {
            return Err(invalid(format!(
                "expected the master's name after the sentinel addresses, as in \
                 redis+sentinel://host:26379/mymaster, found `{master}`"
            )));
        }
        let mut opts = SentinelOptions::new(sentinels, master);
        if let Some(userinfo) = userinfo {
            let (user, password) = userinfo.split_once(':').unwrap_or((userinfo, ""));
            opts.username = (!user.is_empty()).then(|| decode(user));
            opts.password = (!password.is_empty()).then(|| decode(password));
        }
        for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
            match &*k {
                "db" => {
                    opts.db = v.parse().map_err(|_| ConnectError::InvalidParameter {
                        url: shown.clone(),
                        parameter: "db".into(),
                        problem: format!("`{v}` is not a database number"),
                    })?
                }
                "prefix" => {
                    if let Some(problem) = crate::redis::prefix_problem(&v) {
                        return Err(ConnectError::InvalidParameter {
                            url: shown,
                            parameter: "prefix".into(),
                            problem,
                        });
                    }
                    opts.prefix = Some(v.into_owned());
                }
                "sentinel_password" => opts.sentinel_password = Some(v.into_owned()),
                other => return Err(ConnectError::unknown_parameter(&shown, other, PARAMETERS)),
            }
        }
        Ok(opts)
    }

    /// The options of a plain [`RedisBackend`](crate::redis::RedisBackend) on the master at
    /// `host:port`: same database, prefix, password and timeouts.
    pub fn master_options(&self, host: &str, port: u16) -> RedisOptions {
        let mut auth = String::new();
        if self.username.is_some() || self.password.is_some() {
            auth.push_str(&encode(self.username.as_deref().unwrap_or("")));
            if let Some(p) = &self.password {
                auth.push(':');
                auth.push_str(&encode(p));
            }
            auth.push('@');
        }
        let host = if host.contains(':') {
            format!("[{host}]")
        } else {
            host.to_owned()
        };
        let mut o = RedisOptions::new(format!("redis://{auth}{host}:{port}/{}", self.db));
        o.db = Some(self.db);
        o.prefix = self.prefix.clone();
        o.connect_timeout = self.connect_timeout;
        o.response_timeout = self.response_timeout;
        o
    }
}

/// `host[:port]` (IPv6 in brackets), with `default` when no port is written.
pub(crate) fn host_port(s: &str, default: u16) -> Result<(String, u16), String> {
    if s.is_empty() {
        return Err("it is empty".into());
    }
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        let (host, after) = rest
            .split_once(']')
            .ok_or_else(|| "an IPv6 address without its closing `]`".to_owned())?;
        (host, after.strip_prefix(':'))
    } else {
        match s.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (s, None),
        }
    };
    if host.is_empty() {
        return Err("no host before the port".into());
    }
    let port = match port {
        None => default,
        Some(p) => p
            .parse::<u16>()
            .ok()
            .filter(|p| *p != 0)
            .ok_or_else(|| format!("the port `{p}` is not a number from 1 to 65535"))?,
    };
    Ok((host.to_owned(), port))
}

/// Percent-decodes one URL component.
pub(crate) fn decode(s: &str) -> String {
    url::form_urlencoded::parse(format!("x={}", s.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

/// Percent-encodes one URL userinfo component.
fn encode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

/// `url` with the password before `@` and any `*password*` parameter hidden.
pub(crate) fn redact(url: &str) -> String {
    let (head, query) = match url.split_once('?') {
        Some((h, q)) => (h, Some(q)),
        None => (url, None),
    };
    let head = match (head.split_once("://"), head.rfind('@')) {
        (Some((scheme, rest)), Some(_)) => {
            let (userinfo, after) = rest.rsplit_once('@').unwrap_or(("", rest));
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{scheme}://{user}:***@{after}"),
                None => head.to_owned(),
            }
        }
        _ => head.to_owned(),
    };
    match query {
        None => head,
        Some(q) => {
            let q: Vec<String> = q
                .split('&')
                .map(|kv| match kv.split_once('=') {
                    Some((k, _)) if k.contains("pass") => format!("{k}=***"),
                    _ => kv.to_owned(),
                })
                .collect();
            format!("{head}?{}", q.join("&"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_every_part() {
        let o = SentinelOptions::from_url(
            "redis+sentinel://app:p%40ss@[::1]:26380,s2/my%20master?db=3&prefix=x&sentinel_password=sp",
        )
        .unwrap();
        assert_eq!(
            o.sentinels,
            vec![("::1".to_owned(), 26380), ("s2".to_owned(), 26379)]
        );
        assert_eq!(o.master_name, "my master");
        assert_eq!(o.db, 3);
        assert_eq!(o.username.as_deref(), Some("app"));
        assert_eq!(o.password.as_deref(), Some("p@ss"));
        assert_eq!(o.sentinel_password.as_deref(), Some("sp"));
        let m = o.master_options("10.0.0.9", 6380);
        assert_eq!(m.url, "redis://app:p%40ss@10.0.0.9:6380/3");
        assert_eq!(m.prefix.as_deref(), Some("x"));
    }

    #[test]
    fn errors_name_the_bad_part_without_the_password() {
        for (url, part) in [
            ("redis+sentinel://:pw@h:26379", "expected the master's name"),
            (
                "redis+sentinel://:pw@h:26379/",
                "expected the master's name",
            ),
            ("redis+sentinel://:pw@h:x/m", "sentinel address 1 `h:x`"),
            (
                "redis+sentinel://:pw@h:1,,/m",
                "sentinel address 2 ``: it is empty",
            ),
            ("redis+sentinel://:pw@h:1,:5/m", "no host before the port"),
            ("redis+sentinel://:pw@h/m?db=x", "invalid `db`"),
            ("redis+sentinel://:pw@h/m?prefix=", "invalid `prefix`"),
            ("redis+sentinel://:pw@h/m?prefx=a", "did you mean `prefix`?"),
            ("redis://:pw@h/m", "expected redis+sentinel://"),
        ] {
            let text = SentinelOptions::from_url(url).unwrap_err().to_string();
            assert!(text.contains(part), "{url}: {text}");
            assert!(!text.contains(":pw@"), "{url}: {text}");
        }
    }
}
