//! The nodes, the hash-tag groups, and the `redis+cluster://` (or TLS, `rediss+cluster://`) URL.
//!
//! Shape: `redis+cluster://[[user]:password@]host:port,host:port,...[?prefix=app&groups=16&route=queue:group...]`,
//! or `rediss+cluster://` with the same parts and the TLS files of `rediss://`
//! (`&ca=…&cert=…&key=…`, see [`RedisTls`]) for nodes that speak TLS:
//! any number of the cluster's nodes to learn its slots from (one is enough; the client finds
//! the rest), each with its own credentials if it has any, and no database (a cluster has only
//! database 0). The queues are spread over `groups` hash tags (16 unless set): every key of
//! group `g` starts with `{<prefix>:<g>}:` (`{jobs:<g>}:` with no prefix), so all of a group's
//! keys are in one slot, on one master; the groups' slots spread over the masters. A queue
//! goes to the group [`shard_for_hash`] gives, or to the one a `route=<queue>:<group>` pins it
//! to. Changing `groups` or the routes moves queues: drain the queues that move first.

use std::collections::BTreeMap;
use std::time::Duration;

use jobs::ConnectError;

use crate::redis::{tls_parameter, RedisOptions, RedisTls, TLS_PARAMETERS};
use crate::redis_sentinel::redact;
use crate::redis_shards::{
    parse_route, redact_entries, shard_for_hash, split_entries, ShardOptions,
};

/// The query parameters a `redis+cluster://` URL may carry.
const PARAMETERS: &[&str] = &["prefix", "groups", "route", "ca", "cert", "key"];

/// The most groups a cluster may be given: each is one more key set every heartbeat and
/// promotion pass visits.
pub const MAX_GROUPS: usize = 1024;

/// A Redis Cluster, and how queues are spread over its slots.
///
/// ```
/// use jobs_backends::redis_cluster::ClusterOptions;
/// let o = ClusterOptions::from_url(
///     "redis+cluster://:pw@10.0.0.1:7000,10.0.0.2:7000?prefix=app&groups=8&route=critical:3",
/// )
/// .unwrap();
/// assert_eq!(o.nodes.len(), 2);
/// assert_eq!(o.group_of("critical"), 3);
/// assert_eq!(o.tag(3), "{app:3}");
/// assert!(!format!("{o:?}").contains("pw@"));
/// ```
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ClusterOptions {
    /// Nodes to learn the cluster's slots from, as `redis://` URLs.
    pub nodes: Vec<String>,
    /// The name in every group's hash tag (`jobs` when `None`).
    pub prefix: Option<String>,
    /// How many hash-tag groups the queues are spread over.
    pub groups: usize,
    /// Queues pinned to a group; any other queue goes where [`shard_for_hash`] says.
    pub routes: BTreeMap<String, usize>,
    /// How long connecting to a node may take.
    pub connect_timeout: Duration,
    /// How long a command may wait for its answer.
    pub response_timeout: Duration,
    /// The CA and client certificate files for `rediss://` nodes (`?ca=&cert=&key=`).
    pub tls: RedisTls,
}

impl std::fmt::Debug for ClusterOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let nodes: Vec<String> = self.nodes.iter().map(|n| jobs::redact_url(n)).collect();
        f.debug_struct("ClusterOptions")
            .field("nodes", &nodes)
            .field("prefix", &self.prefix)
            .field("groups", &self.groups)
            .field("routes", &self.routes)
            .field("tls", &self.tls)
            .finish()
    }
}

impl ClusterOptions {
    /// A cluster reached through `nodes` (`redis://host:port` URLs), 16 groups, no prefix.
    ///
    /// ```
    /// use jobs_backends::redis_cluster::ClusterOptions;
    /// let o = ClusterOptions::new(vec!["redis://127.0.0.1:7000".into()]).groups(4);
    /// assert_eq!(o.tag(0), "{jobs:0}");
    /// ```
    pub fn new(nodes: Vec<String>) -> Self {
        let plain = RedisOptions::new("redis://127.0.0.1");
        ClusterOptions {
            nodes,
            prefix: None,
            groups: 16,
            routes: BTreeMap::new(),
            connect_timeout: plain.connect_timeout,
            response_timeout: plain.response_timeout,
            tls: RedisTls::default(),
        }
    }

    /// Trusts the CA certificates in the PEM file `path` instead of the public roots, for
    /// `rediss://` nodes whose certificates a private CA signed (`?ca=`).
    ///
    /// ```
    /// use jobs_backends::redis_cluster::ClusterOptions;
    /// let o = ClusterOptions::new(vec!["rediss://10.0.0.1:7000".into()])
    ///     .with_tls_ca("/etc/ssl/redis-ca.pem")
    ///     .with_tls_client_cert("/etc/ssl/worker.pem", "/etc/ssl/worker.key");
    /// assert!(o.tls.ca.is_some() && o.tls.key.is_some());
    /// ```
    pub fn with_tls_ca(mut self, path: impl Into<std::path::PathBuf>) -> Self {
        self.tls = self.tls.with_ca(path);
        self
    }

    /// Presents the client certificate chain in the PEM file `cert`, with its private key in
    /// `key`, to `rediss://` nodes that ask for one (`?cert=&key=`).
    pub fn with_tls_client_cert(
        mut self,
        cert: impl Into<std::path::PathBuf>,
        key: impl Into<std::path::PathBuf>,
    ) -> Self {
        self.tls = self.tls.with_client_cert(cert, key);
        self
    }

    /// Whether the nodes are `rediss://` addresses (all are, or none: see
    /// [`ClusterOptions::problem`]).
    pub fn is_tls(&self) -> bool {
        self.nodes
            .first()
            .is_some_and(|n| n.starts_with("rediss://"))
    }

    /// Sets the name in every group's hash tag.
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = Some(prefix.into());
        self
    }

    /// Sets how many hash-tag groups the queues are spread over.
    pub fn groups(mut self, groups: usize) -> Self {
        self.groups = groups;
        self
    }

    /// Pins `queue` to group `group` (checked when connecting).
    pub fn route(mut self, queue: impl Into<String>, group: usize) -> Self {
        self.routes.insert(queue.into(), group);
        self
    }

    /// The group `queue` lives in.
    pub fn group_of(&self, queue: &str) -> usize {
        match self.routes.get(queue) {
            Some(g) => *g,
            None => shard_for_hash(queue, self.groups),
        }
    }

    /// Group `g`'s hash tag, which starts every key of the group: `{<prefix>:<g>}`.
    pub fn tag(&self, g: usize) -> String {
        format!("{{{}:{g}}}", self.prefix.as_deref().unwrap_or("jobs"))
    }

    /// Why these options cannot be used, if they cannot.
    pub fn problem(&self) -> Option<String> {
        if self.nodes.is_empty() {
            return Some("no node given".into());
        }
        let tls = self.is_tls();
        if let Some(i) = self
            .nodes
            .iter()
            .position(|n| n.starts_with("rediss://") != tls)
        {
            return Some(format!(
                "node {i} `{}` and node 0 `{}` differ in TLS: every node is rediss:// or none is",
                jobs::redact_url(&self.nodes[i]),
                jobs::redact_url(&self.nodes[0])
            ));
        }
        if !tls && self.tls.is_set() {
            return Some(
                "TLS files (`ca`, `cert`, `key`) were given for plain-text nodes: write \
                 rediss+cluster:// (in code, rediss:// nodes) to use TLS"
                    .into(),
            );
        }
        if self.groups == 0 || self.groups > MAX_GROUPS {
            return Some(format!(
                "groups is {}; it must be from 1 to {MAX_GROUPS}",
                self.groups
            ));
        }
        if let Some(p) = &self.prefix {
            if let Some(problem) = crate::redis::prefix_problem(p) {
                return Some(format!("invalid prefix: {problem}"));
            }
            if p.contains(['{', '}']) {
                return Some(format!(
                    "invalid prefix: `{p}` contains a brace; on a cluster the prefix is put \
                     inside each group's hash tag, `{{{p}:<group>}}`"
                ));
            }
        }
        let n = self.groups;
        self.routes.iter().find(|(_, g)| **g >= n).map(|(q, g)| {
            format!(
                "queue `{q}` is routed to group {g}, but there are only {n} (0 to {})",
                n - 1
            )
        })
    }

    /// One sharded layout over the groups: shard `g` is group `g`, under its hash tag.
    pub(crate) fn shards(&self) -> ShardOptions {
        let first = self.nodes.first().cloned().unwrap_or_default();
        let mut shards = Vec::with_capacity(self.groups);
        for g in 0..self.groups {
            let mut o = RedisOptions::new(first.clone()).with_prefix(self.tag(g));
            o.connect_timeout = self.connect_timeout;
            o.response_timeout = self.response_timeout;
            o.tls = self.tls.clone();
            shards.push(o);
        }
        let mut opts = ShardOptions::new(shards);
        for (q, g) in &self.routes {
            opts = opts.route(q.clone(), *g);
        }
        opts
    }

    /// Reads a `redis+cluster://` or `rediss+cluster://` URL (shape in the module docs).
    pub fn from_url(url: &str) -> Result<Self, ConnectError> {
        let shown = redact_entries(url);
        let invalid = |reason: String| ConnectError::InvalidUrl {
            url: shown.clone(),
            reason,
        };
        let (scheme, node_scheme) = if url.starts_with("rediss+cluster://") {
            ("rediss+cluster", "rediss")
        } else if url.starts_with("redis+cluster://") {
            ("redis+cluster", "redis")
        } else {
            return Err(invalid(
                "expected redis+cluster:// or rediss+cluster:// (TLS)".into(),
            ));
        };
        let (entries, query) = split_entries(url, scheme, "node").map_err(invalid)?;
        let mut nodes = Vec::new();
        for (i, entry) in entries.into_iter().enumerate() {
            let hostpart = entry.rsplit_once('@').map_or(entry, |(_, h)| h);
            let db = hostpart.split_once('/').map_or("", |(_, db)| db);
            if !db.is_empty() && db != "0" {
                return Err(invalid(format!(
                    "node {i} `{}` names database `{db}`; a cluster has only database 0",
                    redact(entry)
                )));
            }
            let opts = RedisOptions::from_url(&format!("{node_scheme}://{entry}"))
                .map_err(|e| invalid(format!("node {i} `{}`: {e}", redact(entry))))?;
            nodes.push(opts.url);
        }
        let mut opts = ClusterOptions::new(nodes);
        for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
            let bad = |parameter: &str, problem: String| ConnectError::InvalidParameter {
                url: shown.clone(),
                parameter: parameter.into(),
                problem,
            };
            match &*k {
                "prefix" => opts.prefix = Some(v.into_owned()),
                "groups" => {
                    opts.groups = v
                        .parse()
                        .map_err(|_| bad("groups", format!("`{v}` is not a number of groups")))?;
                }
                "route" => {
                    let pins = parse_route(&v, "group").map_err(|p| bad("route", p))?;
                    opts.routes.extend(pins);
                }
                k if TLS_PARAMETERS.contains(&k) => {
                    let plain = (node_scheme == "redis").then_some("redis+cluster");
                    tls_parameter(&mut opts.tls, k, &v, plain).map_err(|p| bad(k, p))?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_nodes_groups_prefix_and_routes() {
        let o = ClusterOptions::from_url(
            "redis+cluster://127.0.0.1:7000,:pw@h2:7001?prefix=p&groups=4&route=a:b:1",
        )
        .unwrap();
        assert_eq!(o.nodes[0], "redis://127.0.0.1:7000");
        assert_eq!(o.groups, 4);
        assert_eq!(o.group_of("a:b"), 1);
        let shards = o.shards();
        assert_eq!(shards.shards.len(), 4);
        assert_eq!(shards.shards[2].prefix.as_deref(), Some("{p:2}"));
        assert_eq!(shards.shard_of("a:b"), 1);
        assert_eq!(shards.shard_of("zz"), o.group_of("zz"));
    }

    #[test]
    fn errors_name_the_bad_part_without_a_password() {
        for (url, part) in [
            ("redis+cluster://:pw@h:1,h:x", "node 1 `h:x`"),
            ("redis+cluster://:pw@h:1/3", "a cluster has only database 0"),
            ("redis+cluster://:pw@h:1?groups=0", "from 1 to 1024"),
            ("redis+cluster://:pw@h:1?groups=x", "not a number of groups"),
            (
                "redis+cluster://:pw@h:1?groups=2&route=q:2",
                "only 2 (0 to 1)",
            ),
            (
                "redis+cluster://:pw@h:1?route=q",
                "is not `<queue>:<group>`",
            ),
            ("redis+cluster://:pw@h:1?prefix=a{b}", "contains a brace"),
            ("redis+cluster://:pw@h:1?prefix=", "invalid prefix"),
            ("redis+cluster://:pw@h:1?prefx=a", "did you mean `prefix`?"),
            ("redis+cluster://:pw@h:1?ca=/c/ca.pem", "invalid `ca`"),
            (
                "redis+cluster://:pw@h:1?ca=/c/ca.pem",
                "write rediss+cluster:// to use TLS",
            ),
            ("rediss+cluster://:pw@h:1?key=", "invalid `key`"),
            ("rediss+cluster://:pw@h:1,h:x", "node 1 `h:x`"),
            ("rediss+cluster://:pw@h:1?cat=x", "did you mean `ca`?"),
            (
                "redis+clustr://:pw@h:1",
                "expected redis+cluster:// or rediss+cluster://",
            ),
        ] {
            let text = ClusterOptions::from_url(url).unwrap_err().to_string();
            assert!(text.contains(part), "{url}: {text}");
            assert!(!text.contains(":pw@"), "{url}: {text}");
        }
    }

    #[test]
    fn a_rediss_cluster_url_has_tls_nodes_and_the_tls_files() {
        let o = ClusterOptions::from_url(
            "rediss+cluster://:pw@h1:7000,:pw@h2:7001?prefix=p&ca=/c/ca.pem&cert=/c/w.pem&key=/c/w.key",
        )
        .unwrap();
        assert_eq!(o.nodes, ["rediss://:pw@h1:7000", "rediss://:pw@h2:7001"]);
        assert!(o.is_tls());
        assert_eq!(o.tls.ca.as_deref(), Some(std::path::Path::new("/c/ca.pem")));
        assert_eq!(o.tls.key.as_deref(), Some(std::path::Path::new("/c/w.key")));
        assert!(o.shards().shards.iter().all(|s| s.tls == o.tls));
        assert!(!format!("{o:?}").contains("pw@"));
        let plain = ClusterOptions::from_url("redis+cluster://h1:7000").unwrap();
        assert!(!plain.is_tls() && !plain.tls.is_set());
    }

    #[test]
    fn options_built_in_code_must_agree_on_tls() {
        let mixed = ClusterOptions::new(vec!["rediss://h1:1".into(), "redis://:pw@h2:2".into()]);
        let problem = mixed.problem().unwrap();
        assert!(
            problem.contains("node 1") && problem.contains("differ in TLS"),
            "{problem}"
        );
        assert!(!problem.contains(":pw@"), "{problem}");
        let files_on_plain = ClusterOptions::new(vec!["redis://h1:1".into()]).with_tls_ca("ca.pem");
        let problem = files_on_plain.problem().unwrap();
        assert!(problem.contains("rediss+cluster://"), "{problem}");
    }
}
