//! The shards, the queue routes, and the `redis+shards://` URL.
//!
//! Shape: `redis+shards://[[user]:password@]host[:port][/db],...[?prefix=name&route=queue:shard...]`:
//! one comma-separated entry per shard (its own password and database), then the key prefix
//! all shards share and any number of `route=<queue>:<shard>` pins (the shard is the entry's
//! index, from 0; the queue is everything before the last `:`). A queue not pinned goes to
//! the shard [`shard_for_hash`] gives: FNV-1a (64-bit) of the queue name's UTF-8 bytes,
//! modulo the number of shards, so every process (and a Ruby client using the same
//! function) agrees without configuration. Changing the shards or the routes moves queues:
//! drain the queues that move first.

use std::collections::BTreeMap;

use jobs::ConnectError;

use crate::redis::RedisOptions;
use crate::redis_sentinel::{host_port, redact};

/// The query parameters a `redis+shards://` URL may carry.
const PARAMETERS: &[&str] = &["prefix", "route"];

/// Several Redis servers (or databases), each in Sidekiq's layout, and which queue is where.
///
/// ```
/// use jobs_backends::redis_shards::ShardOptions;
/// let o = ShardOptions::from_url(
///     "redis+shards://127.0.0.1:6379/1,:pw@10.0.0.2:6380/0?prefix=app&route=critical:1",
/// )
/// .unwrap();
/// assert_eq!(o.shards.len(), 2);
/// assert_eq!(o.shard_of("critical"), 1);
/// assert_eq!(o.shards[1].prefix.as_deref(), Some("app"));
/// assert!(!format!("{o:?}").contains("pw@"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ShardOptions {
    /// The shards, in order: a shard's number is its index here.
    pub shards: Vec<RedisOptions>,
    /// Queues pinned to a shard; any other queue goes where [`shard_for_hash`] says.
    pub routes: BTreeMap<String, usize>,
}

impl ShardOptions {
    /// Shards on `shards`, no queue pinned.
    ///
    /// ```
    /// use jobs_backends::redis::RedisOptions;
    /// use jobs_backends::redis_shards::ShardOptions;
    /// let o = ShardOptions::new(vec![
    ///     RedisOptions::new("redis://127.0.0.1:6379/1"),
    ///     RedisOptions::new("redis://127.0.0.1:6379/2"),
    /// ])
    /// .route("critical", 0);
    /// assert_eq!(o.shard_of("critical"), 0);
    /// ```
    pub fn new(shards: Vec<RedisOptions>) -> Self {
        ShardOptions {
            shards,
            routes: BTreeMap::new(),
        }
    }

    /// Pins `queue` to shard `shard` (checked against the shards when connecting).
    pub fn route(mut self, queue: impl Into<String>, shard: usize) -> Self {
        self.routes.insert(queue.into(), shard);
        self
    }

    /// The shard `queue` lives on.
    pub fn shard_of(&self, queue: &str) -> usize {
        match self.routes.get(queue) {
            Some(shard) => *shard,
            None => shard_for_hash(queue, self.shards.len()),
        }
    }

    /// Why these options cannot be used, if they cannot.
    pub fn problem(&self) -> Option<String> {
        if self.shards.is_empty() {
            return Some("no shard given".into());
        }
        let n = self.shards.len();
        for (i, a) in self.shards.iter().enumerate() {
            let same = |b: &RedisOptions| (&a.url, a.db, &a.prefix) == (&b.url, b.db, &b.prefix);
            if let Some(j) = self.shards[i + 1..].iter().position(same) {
                return Some(format!(
                    "shards {i} and {} are the same database with the same prefix \
                     (`{}`): each shard must hold its own jobs",
                    i + 1 + j,
                    jobs::redact_url(&a.url)
                ));
            }
        }
        self.routes.iter().find(|(_, s)| **s >= n).map(|(q, s)| {
            format!(
                "queue `{q}` is routed to shard {s}, but there are only {n} (0 to {})",
                n - 1
            )
        })
    }

    /// Reads a `redis+shards://` URL (shape in the module docs).
    pub fn from_url(url: &str) -> Result<Self, ConnectError> {
        let shown = redact_entries(url);
        let invalid = |reason: String| ConnectError::InvalidUrl {
            url: shown.clone(),
            reason,
        };
        let (entries, query) = split_entries(url, "redis+shards", "shard").map_err(invalid)?;
        let mut shards = Vec::new();
        for (i, entry) in entries.into_iter().enumerate() {
            let opts = RedisOptions::from_url(&format!("redis://{entry}"))
                .map_err(|e| invalid(format!("shard {i} `{}`: {e}", redact(entry))))?;
            shards.push(opts);
        }
        let mut opts = ShardOptions::new(shards);
        for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
            match &*k {
                "prefix" => {
                    if let Some(problem) = crate::redis::prefix_problem(&v) {
                        return Err(ConnectError::InvalidParameter {
                            url: shown,
                            parameter: "prefix".into(),
                            problem,
                        });
                    }
                    for s in &mut opts.shards {
                        s.prefix = Some(v.clone().into_owned());
                    }
                }
                "route" => {
                    let pins = parse_route(&v, "shard").map_err(|problem| {
                        ConnectError::InvalidParameter {
                            url: shown.clone(),
                            parameter: "route".into(),
                            problem,
                        }
                    })?;
                    opts.routes.extend(pins);
                }
                other => return Err(ConnectError::unknown_parameter(&shown, other, PARAMETERS)),
            }
        }
        if let Some(problem) = opts.problem() {
            return Err(ConnectError::Config {
                url: shown,
                message: problem,
            });
        }
        Ok(opts)
    }
}

/// The shard of a queue that is not pinned: FNV-1a (64-bit) of its name, modulo `shards`.
///
/// ```
/// use jobs_backends::redis_shards::shard_for_hash;
/// assert_eq!(shard_for_hash("default", 1), 0);
/// // Stable across processes, versions and machines:
/// assert_eq!(shard_for_hash("default", 2), shard_for_hash("default", 2));
/// ```
pub fn shard_for_hash(queue: &str, shards: usize) -> usize {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in queue.as_bytes() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    let n = shards.max(1) as u64;
    // The remainder is below `shards`, a usize.
    usize::try_from(h % n).unwrap_or(0)
}

/// The comma-separated entries of a `<scheme>://a,b?query` URL and its query, each entry's
/// `host[:port]` checked (an error names the `what` by its index, without its password).
pub(crate) fn split_entries<'a>(
    url: &'a str,
    scheme: &str,
    what: &str,
) -> Result<(Vec<&'a str>, &'a str), String> {
    let rest = url
        .strip_prefix(scheme)
        .and_then(|r| r.strip_prefix("://"))
        .ok_or_else(|| format!("expected {scheme}://"))?;
    let (entries, query) = rest.split_once('?').unwrap_or((rest, ""));
    let entries: Vec<&str> = entries.split(',').collect();
    for (i, entry) in entries.iter().enumerate() {
        let hostpart = entry.rsplit_once('@').map_or(*entry, |(_, h)| h);
        let hostport = hostpart.split('/').next().unwrap_or_default();
        host_port(hostport, 6379)
            .map_err(|problem| format!("{what} {i} `{}`: {problem}", redact(entry)))?;
    }
    Ok((entries, query))
}

/// The pins of one `route=` value: `<queue>:<n>`, or several separated by commas
/// (`route=a:0,b:1`); `what` names `n` in errors (`shard`, `group`).
pub(crate) fn parse_route(v: &str, what: &str) -> Result<Vec<(String, usize)>, String> {
    v.split(',').map(|one| parse_one_route(one, what)).collect()
}

fn parse_one_route(v: &str, what: &str) -> Result<(String, usize), String> {
    let (queue, n) = v
        .rsplit_once(':')
        .ok_or_else(|| format!("`{v}` is not `<queue>:<{what}>`, as in route=critical:1"))?;
    if queue.is_empty() {
        return Err(format!("`{v}` names no queue before `:`"));
    }
    let n: usize = n
        .parse()
        .map_err(|_| format!("in `{v}`, the {what} `{n}` is not a number"))?;
    Ok((queue.to_owned(), n))
}

/// `url` with every entry's password hidden.
pub(crate) fn redact_entries(url: &str) -> String {
    let (head, query) = url
        .split_once('?')
        .map_or((url, None), |(h, q)| (h, Some(q)));
    let (scheme, entries) = head.split_once("://").unwrap_or(("", head));
    let entries: Vec<String> = entries.split(',').map(redact).collect();
    let mut out = format!("{scheme}://{}", entries.join(","));
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_shards_prefix_and_routes() {
        let o = ShardOptions::from_url(
            "redis+shards://127.0.0.1:6379/1,:pw@h2/2?prefix=p&route=a:b:1&route=c:0",
        )
        .unwrap();
        assert_eq!(o.shards[0].url, "redis://127.0.0.1:6379/1");
        assert_eq!(o.shards[1].db, Some(2));
        assert!(o.shards.iter().all(|s| s.prefix.as_deref() == Some("p")));
        assert_eq!((o.shard_of("a:b"), o.shard_of("c")), (1, 0));
    }

    /// One `route=` may pin several queues, separated by commas; a bad pin among them is
    /// named on its own.
    #[test]
    fn a_route_may_pin_several_queues() {
        let o = ShardOptions::from_url("redis+shards://h1,h2,h3?route=a:2,b:1&route=c:2").unwrap();
        assert_eq!(
            (o.shard_of("a"), o.shard_of("b"), o.shard_of("c")),
            (2, 1, 2)
        );
        let e = ShardOptions::from_url("redis+shards://h1,h2?route=a:1,b").unwrap_err();
        assert!(
            e.to_string().contains("`b` is not `<queue>:<shard>`"),
            "{e}"
        );
    }

    #[test]
    fn the_hash_is_fnv1a_and_spreads_queues() {
        // FNV-1a 64 of "a" is 0xaf63dc4c8601ec8c.
        assert_eq!(
            shard_for_hash("a", 1000),
            (0xaf63_dc4c_8601_ec8c_u64 % 1000) as usize
        );
        let on_1 = (0..100)
            .filter(|i| shard_for_hash(&format!("q{i}"), 2) == 1)
            .count();
        assert!((30..70).contains(&on_1), "{on_1}");
    }

    #[test]
    fn errors_name_the_bad_part_without_a_password() {
        for (url, part) in [
            ("redis+shards://:pw@h:1/1,h:x/2", "shard 1 `h:x/2`"),
            ("redis+shards://:pw@h:1/x", "shard 0 `:***@h:1/x`"),
            (
                "redis+shards://:pw@h/1,h/2?route=q:2",
                "routed to shard 2, but there are only 2",
            ),
            ("redis+shards://:pw@h/1?route=q", "is not `<queue>:<shard>`"),
            (
                "redis+shards://:pw@h/1?route=q:z",
                "the shard `z` is not a number",
            ),
            ("redis+shards://:pw@h/1?route=:1", "names no queue"),
            ("redis+shards://:pw@h/1?prefx=a", "did you mean `prefix`?"),
            ("redis+shards://:pw@h/1?prefix=", "invalid `prefix`"),
            (
                "redis+shards://:pw@h/1,:pw@h/1",
                "shards 0 and 1 are the same database",
            ),
        ] {
            let text = ShardOptions::from_url(url).unwrap_err().to_string();
            assert!(text.contains(part), "{url}: {text}");
            assert!(!text.contains(":pw@"), "{url}: {text}");
        }
    }
}
