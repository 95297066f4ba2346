//! The maps on a job's path, hashed with foldhash: lease tokens, jids and job and queue
//! names are hashed several times per job, where SipHash cost more than the lookups did.
//! Seeded per process, like the standard hasher; not for keys chosen to collide on purpose
//! by an outside party (none of these are).

/// A `HashMap` with foldhash's per-process seeded hasher.
pub(crate) type FastMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;

/// A `HashSet` with foldhash's per-process seeded hasher.
pub(crate) type FastSet<K> = std::collections::HashSet<K, foldhash::fast::RandomState>;
