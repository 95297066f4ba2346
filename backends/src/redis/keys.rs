//! Key names: Sidekiq 6.4's layout, plus this crate's own keys under `jobs-rs:`.
//!
//! 1. Sidekiq's keys: `queues`, `queue:<name>`, `schedule`, `retry`, `dead`,
//!    `stat:processed[:<day>]`, `stat:failed[:<day>]`, `processes`, `<identity>`,
//!    `<identity>:workers` (Sidekiq 7 reads `<identity>:work`; both are written),
//!    `<identity>-signals`.
//! 2. Ours, which Sidekiq never reads: `jobs-rs:paused`, `jobs-rs:stat:dead_trimmed`,
//!    `jobs-rs:stat:expired`, `jobs-rs:leases`, `jobs-rs:beats`, `jobs-rs:rescues`,
//!    `jobs-rs:leased:<n>:<process>`, `jobs-rs:epoch:<n>:<process>` and
//!    `jobs-rs:inflight:<n>:<process>:<queue>`, where `<n>` is the byte length of the process
//!    id so that no two (process, queue) pairs share a key. Flow control: `jobs-rs:pqueues`,
//!    `jobs-rs:pqueue:<p>:<queue>`, `jobs-rs:sleepers:<queue>`, `jobs-rs:uniques` and
//!    `jobs-rs:unique:<key>` (see `unique.rs`). Limits (see `limits.rs`): `jobs-rs:limits`,
//!    `jobs-rs:slots`, `jobs-rs:waiting:<key>`, `jobs-rs:onway`, `jobs-rs:rates`,
//!    `jobs-rs:rates:conf` and `jobs-rs:rate:<key>`. Progress and results (see
//!    `results.rs`): `jobs-rs:progress:<jid>` and `jobs-rs:result:<jid>`, each with a PEXPIRE, and
//!    `jobs-rs:results` (result keys by expiry, for the rescue pass).
//! 3. Every key is under the optional prefix (`<prefix>:`). `rescue.lua` builds the
//!    per-process keys the same way, and the flow scripts (`reserve.lua`, `push.lua`,
//!    `move.lua`, `clear.lua`, `locks.lua`, `lock.lua`) the flow keys, and `limits.lua` and
//!    `limits_list.lua` the slot keys; change them together.

use chrono::NaiveDate;

/// Builds every key name, under the configured prefix.
#[derive(Debug, Clone)]
pub(crate) struct Keys {
    ns: String,
}

impl Keys {
    pub(crate) fn new(prefix: Option<&str>) -> Self {
        Keys {
            ns: prefix.map(|p| format!("{p}:")).unwrap_or_default(),
        }
    }

    /// The prefix as prepended: `""` or `"<prefix>:"`.
    pub(crate) fn ns(&self) -> &str {
        &self.ns
    }

    /// `<ns><parts...>`, sized once (these are built on every hot-path call; `format!` costs
    /// several times as much).
    fn join(&self, parts: &[&str]) -> String {
        let len = self.ns.len() + parts.iter().map(|p| p.len()).sum::<usize>();
        let mut key = String::with_capacity(len);
        key.push_str(&self.ns);
        for p in parts {
            key.push_str(p);
        }
        key
    }

    fn k(&self, name: &str) -> String {
        self.join(&[name])
    }

    pub(crate) fn queues(&self) -> String {
        self.k("queues")
    }
    pub(crate) fn queue(&self, name: &str) -> String {
        self.join(&["queue:", name])
    }
    pub(crate) fn schedule(&self) -> String {
        self.k("schedule")
    }
    pub(crate) fn retry(&self) -> String {
        self.k("retry")
    }
    pub(crate) fn dead(&self) -> String {
        self.k("dead")
    }
    pub(crate) fn processed(&self) -> String {
        self.k("stat:processed")
    }
    pub(crate) fn failed(&self) -> String {
        self.k("stat:failed")
    }
    pub(crate) fn processed_on(&self, day: NaiveDate) -> String {
        format!("{}stat:processed:{}", self.ns, ymd(day))
    }
    pub(crate) fn failed_on(&self, day: NaiveDate) -> String {
        format!("{}stat:failed:{}", self.ns, ymd(day))
    }
    pub(crate) fn processes(&self) -> String {
        self.k("processes")
    }
    /// A process's hash (`info`, `busy`, `beat`, `quiet`): Sidekiq names it by identity.
    pub(crate) fn process(&self, id: &str) -> String {
        self.k(id)
    }
    /// Running jobs of a process as Sidekiq 6 reads them.
    pub(crate) fn workers(&self, id: &str) -> String {
        format!("{}{id}:workers", self.ns)
    }
    /// Running jobs of a process as Sidekiq 7 reads them.
    pub(crate) fn work(&self, id: &str) -> String {
        format!("{}{id}:work", self.ns)
    }
    pub(crate) fn signals(&self, id: &str) -> String {
        format!("{}{id}-signals", self.ns)
    }
    pub(crate) fn paused(&self) -> String {
        self.k("jobs-rs:paused")
    }
    pub(crate) fn dead_trimmed(&self) -> String {
        self.k("jobs-rs:stat:dead_trimmed")
    }
    /// The total of jobs dropped unstarted past their expiry.
    pub(crate) fn expired(&self) -> String {
        self.k("jobs-rs:stat:expired")
    }
    /// Set of the queues that have prioritized jobs waiting.
    pub(crate) fn pqueues(&self) -> String {
        self.k("jobs-rs:pqueues")
    }
    /// The list of a queue's jobs of priority `p` (1..=9; 0 is `queue:<name>`).
    pub(crate) fn pqueue(&self, p: u8, name: &str) -> String {
        format!("{}jobs-rs:pqueue:{p}:{name}", self.ns)
    }
    /// A queue's lists in the order their jobs run: `queue:<name>`, then priorities 1 to 9.
    pub(crate) fn run_lists(&self, name: &str) -> Vec<String> {
        let mut lists = Vec::with_capacity(10);
        lists.push(self.queue(name));
        lists.extend((1..=jobs::envelope::flow::MAX_PRIORITY).map(|p| self.pqueue(p, name)));
        lists
    }
    /// Sorted set: client id of a blocking connection waiting on `queue:<name>` -> until when.
    pub(crate) fn sleepers(&self, name: &str) -> String {
        format!("{}jobs-rs:sleepers:{name}", self.ns)
    }
    /// Sorted set: the key of each unique lock -> when it lapses (epoch seconds).
    pub(crate) fn uniques(&self) -> String {
        self.k("jobs-rs:uniques")
    }
    /// Hash: unique lock `key` (its holder's jid, class, queue, until, lapse, where it waits).
    pub(crate) fn unique(&self, key: &str) -> String {
        self.join(&["jobs-rs:unique:", key])
    }
    /// List: the jobs moved aside waiting for a slot of concurrency key `key`, oldest first,
    /// each `<byte length of the queue name>:<queue><payload>` (`limits.lua`).
    pub(crate) fn waiting(&self, key: &str) -> String {
        self.join(&["jobs-rs:waiting:", key])
    }
    /// Hash: concurrency key -> the entry of the job a freed slot last brought back, while
    /// others still wait (`limits.lua`).
    pub(crate) fn onway(&self) -> String {
        self.join(&["jobs-rs:onway"])
    }
    /// Hash: concurrency key in use (a slot held or a job waiting) -> slots held.
    pub(crate) fn limits(&self) -> String {
        self.k("jobs-rs:limits")
    }
    /// Hash: lease holder (its in-flight list and payload) -> `<limit>:<key>` of the slot.
    pub(crate) fn slots(&self) -> String {
        self.k("jobs-rs:slots")
    }
    /// Sorted set: rate key -> when its window empties (epoch µs).
    pub(crate) fn rates(&self) -> String {
        self.k("jobs-rs:rates")
    }
    /// Hash: rate key -> `<limit>:<window µs>`, as the last call declared them.
    pub(crate) fn rates_conf(&self) -> String {
        self.k("jobs-rs:rates:conf")
    }
    /// Sorted set: the starts of rate key `key` in its window (epoch µs).
    pub(crate) fn rate(&self, key: &str) -> String {
        self.join(&["jobs-rs:rate:", key])
    }
    /// Sorted set: cancelled jobs by the time they were (members as stored).
    pub(crate) fn cancelled(&self) -> String {
        self.k("jobs-rs:cancelled")
    }
    /// Sorted set: jid of a running job whose cancel is requested -> when.
    pub(crate) fn cancels(&self) -> String {
        self.k("jobs-rs:cancels")
    }
    /// Sorted set: process id -> the time its leases expire.
    pub(crate) fn leases(&self) -> String {
        self.k("jobs-rs:leases")
    }
    /// Sorted set: process id -> last beat plus its lease ttl (when its record goes).
    pub(crate) fn beats(&self) -> String {
        self.k("jobs-rs:beats")
    }
    /// Hash: the SHA-1 (hex) of a job's payload -> how many times it was rescued, from the
    /// rescue that first returned it to the end of a run of it.
    pub(crate) fn rescues(&self) -> String {
        self.k("jobs-rs:rescues")
    }
    /// Set of the queues a process has in-flight lists for.
    pub(crate) fn leased(&self, process: &str) -> String {
        format!("{}jobs-rs:leased:{}:{process}", self.ns, process.len())
    }
    /// The in-flight jobs of a process that its last heartbeat did not list as held (field:
    /// the SHA-1 of the payload): a job still unlisted at the next beat goes back.
    pub(crate) fn unheld(&self, process: &str) -> String {
        format!("{}jobs-rs:unheld:{}:{process}", self.ns, process.len())
    }
    /// A process's lease epoch: raised by every rescue of its leases, carried by its lease
    /// tokens; absent means 0 (never rescued).
    pub(crate) fn epoch(&self, process: &str) -> String {
        format!("{}jobs-rs:epoch:{}:{process}", self.ns, process.len())
    }
    /// The list of a process's in-flight jobs taken from `queue`.
    /// A job's last progress report (`results.rs`).
    pub(crate) fn progress(&self, jid: &str) -> String {
        self.join(&["jobs-rs:progress:", jid])
    }
    /// Sorted set: result key -> expiry (epoch s), which the rescue pass purges by.
    pub(crate) fn results(&self) -> String {
        self.k("jobs-rs:results")
    }
    /// A job's result (`results.rs`).
    pub(crate) fn result(&self, jid: &str) -> String {
        self.join(&["jobs-rs:result:", jid])
    }
    pub(crate) fn inflight(&self, process: &str, queue: &str) -> String {
        format!(
            "{}jobs-rs:inflight:{}:{process}:{queue}",
            self.ns,
            process.len()
        )
    }

    /// SCAN patterns covering every key this backend may write, and the fixed keys.
    pub(crate) fn patterns(&self) -> Vec<String> {
        let ns = glob_escape(&self.ns);
        if self.ns.is_empty() {
            ["queue:*", "stat:*", "jobs-rs:*"]
                .iter()
                .map(|p| format!("{ns}{p}"))
                .collect()
        } else {
            vec![format!("{ns}*")]
        }
    }
}

/// `YYYY-MM-DD`, as chrono's `%Y-%m-%d` writes years 0 to 9999, without parsing a format
/// string on every finish.
fn ymd(day: NaiveDate) -> impl std::fmt::Display {
    use chrono::Datelike;
    struct Ymd(i32, u32, u32);
    impl std::fmt::Display for Ymd {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "{:04}-{:02}-{:02}", self.0, self.1, self.2)
        }
    }
    Ymd(day.year(), day.month(), day.day())
}

/// Escapes the characters SCAN MATCH treats as a pattern.
pub(crate) fn glob_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sidekiq_names_with_and_without_prefix() {
        let k = Keys::new(None);
        assert_eq!(k.queue("default"), "queue:default");
        assert_eq!(k.workers("h:1:abc"), "h:1:abc:workers");
        let day = NaiveDate::from_ymd_opt(2026, 3, 4).unwrap();
        assert_eq!(k.processed_on(day), "stat:processed:2026-03-04");
        let k = Keys::new(Some("app"));
        assert_eq!(k.queues(), "app:queues");
        assert_eq!(k.signals("p"), "app:p-signals");
    }

    #[test]
    fn inflight_keys_never_collide_across_processes() {
        let k = Keys::new(None);
        assert_ne!(k.inflight("x:a", "b"), k.inflight("x", "a:b"));
        assert_eq!(k.inflight("p1", "q"), "jobs-rs:inflight:2:p1:q");
        assert_eq!(k.leased("p1"), "jobs-rs:leased:2:p1");
        assert_eq!(k.epoch("p1"), "jobs-rs:epoch:2:p1");
    }

    #[test]
    fn a_queue_runs_its_sidekiq_list_then_priorities_one_to_nine() {
        let k = Keys::new(Some("app"));
        let lists = k.run_lists("q");
        assert_eq!(lists.len(), 10);
        assert_eq!(lists[0], "app:queue:q");
        assert_eq!(lists[1], "app:jobs-rs:pqueue:1:q");
        assert_eq!(lists[9], "app:jobs-rs:pqueue:9:q");
        assert_eq!(k.unique("abc"), "app:jobs-rs:unique:abc");
    }

    #[test]
    fn prefixes_are_escaped_in_patterns() {
        assert_eq!(
            Keys::new(Some("a*b")).patterns(),
            vec!["a\\*b:*".to_string()]
        );
        assert_eq!(Keys::new(None).patterns().len(), 3);
    }
}
