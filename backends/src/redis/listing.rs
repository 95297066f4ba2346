//! The admin side's reads: queues, job sets, single jobs and counters.
//!
//! 1. Queues are the members of `queues` and `jobs-rs:paused`, with size (`LLEN`) and head
//!    latency (the head job's `enqueued_at`). A queue with prioritized jobs (in
//!    `jobs-rs:pqueues`) counts its priority lists too, and its latency is that of the
//!    oldest of the lists' heads.
//! 2. Job sets are read as Sidekiq's API reads them (`sets.rs`); a page is one `ZRANGE`, or
//!    for a queue one `page.lua` across its lists in run order, and a filter reads the whole
//!    set and pages in Rust. A single job is found
//!    as Sidekiq's `find_job` finds it: `ZSCAN` for members containing the jid. Members are
//!    bytes; one that is not a job shows as the dead job standing for it (`sets.rs`), and
//!    when its jid was computed from its bytes (they name none), a second `ZSCAN` over the
//!    whole set finds it, only after the first found nothing.
//! 3. Stats read Sidekiq's counters and set sizes; the history reads the per-day counters.

use chrono::{DateTime, Utc};
use jobs::backend::JobGetParams;
use jobs::backend::QueueListParams;
use jobs::backend::StatsHistoryParams;
use jobs::backend::{
    BackendError, DayStats, JobListParams, JobPage, JobSet, QueueInfo, Stats, StoredJob,
};
use jobs::envelope::{to_epoch, undecodable_jid};

use super::keys::glob_escape;
use super::sets::{entries, queue_page, queue_raw, scored, set_key, stored, Entry};
use super::{raw, Inner};

/// How long the oldest of `heads` (the head jobs of a queue's lists) has waited.
fn latency(now: DateTime<Utc>, heads: &[Vec<u8>]) -> std::time::Duration {
    let enqueued = heads
        .iter()
        .filter_map(|raw| raw::parse(raw).ok())
        .filter_map(|(_, j)| j.enqueued_at)
        .reduce(f64::min);
    let secs = enqueued.map_or(0.0, |t| (to_epoch(now) - t).max(0.0));
    std::time::Duration::from_secs_f64(secs)
}

fn index(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Every known or paused queue, by name, with its size, head latency and pause flag.
pub(super) async fn queue_list(
    inner: &Inner,
    params: QueueListParams,
) -> Result<Vec<QueueInfo>, BackendError> {
    let now = params.now;
    let k = inner.keys();
    let mut pipe = redis::pipe();
    pipe.cmd("SMEMBERS").arg(k.queues());
    pipe.cmd("SMEMBERS").arg(k.paused());
    pipe.cmd("SMEMBERS").arg(k.pqueues());
    let (known, paused, prioritized): (Vec<String>, Vec<String>, Vec<String>) =
        inner.pipe(&pipe).await?;
    let mut names: Vec<&String> = known.iter().chain(paused.iter()).collect();
    names.sort();
    names.dedup();
    if names.is_empty() {
        return Ok(Vec::new());
    }
    // Per queue, LLEN and the head of each of its lists: one, or ten with priorities.
    let lists = |name: &String| match prioritized.contains(name) {
        true => k.run_lists(name),
        false => vec![k.queue(name)],
    };
    let mut pipe = redis::pipe();
    for name in &names {
        for list in lists(name) {
            pipe.cmd("LLEN").arg(&list);
            pipe.cmd("LRANGE").arg(&list).arg(-1).arg(-1);
        }
    }
    let replies: Vec<(u64, Vec<Vec<u8>>)> = inner.pipe(&pipe).await?;
    let mut replies = replies.into_iter();
    let mut out = Vec::with_capacity(names.len());
    for name in names {
        let (mut size, mut heads) = (0, Vec::new());
        for (n, head) in replies.by_ref().take(lists(name).len()) {
            size += n;
            heads.extend(head);
        }
        out.push(QueueInfo {
            name: name.clone(),
            size,
            latency: latency(now, &heads),
            paused: paused.contains(name),
        });
    }
    Ok(out)
}

/// A page of a set: `total` matching jobs, `limit` of them from `offset`.
pub(super) async fn job_list(inner: &Inner, p: JobListParams) -> Result<JobPage, BackendError> {
    if !p.filter.is_empty() {
        let all = entries(inner, &p.set).await?;
        return Ok(JobPage::filtered(
            &p,
            all.into_iter().map(|e| stored(&p.set, e)),
        ));
    }
    let (key, _) = set_key(inner, &p.set);
    let (first, last) = (
        index(p.offset),
        index(p.offset.saturating_add(p.limit)).saturating_sub(1),
    );
    let mut pipe = redis::pipe();
    let entries = if let JobSet::Queue(name) = &p.set {
        queue_page(inner, name, p.offset, p.limit).await?
    } else {
        let cmd = if matches!(p.set, JobSet::Dead | JobSet::Cancelled) {
            "ZREVRANGE"
        } else {
            "ZRANGE"
        };
        pipe.cmd("ZCARD").arg(&key);
        pipe.cmd(cmd)
            .arg(&key)
            .arg(first)
            .arg(last)
            .arg("WITHSCORES");
        let (total, flat): (u64, Vec<Vec<u8>>) = inner.pipe(&pipe).await?;
        let flat = if p.limit == 0 { Vec::new() } else { flat };
        (total, scored(&p.set, flat)?)
    };
    let (total, entries) = entries;
    Ok(JobPage {
        total,
        jobs: entries.into_iter().map(|e| stored(&p.set, e)).collect(),
    })
}

/// Whether the member `raw` may be the job `jid`: its bytes contain the jid, or they are not
/// a job and the jid is the one computed from them.
fn may_be(raw: &[u8], jid: &str) -> bool {
    let needle = jid.as_bytes();
    needle.is_empty()
        || raw.windows(needle.len()).any(|w| w == needle)
        || undecodable_jid(raw) == jid
}

/// One job of a set by jid.
pub(super) async fn job_get(
    inner: &Inner,
    params: JobGetParams,
) -> Result<Option<StoredJob>, BackendError> {
    let (set, jid) = (params.set, params.jid.as_str());
    let (key, _) = set_key(inner, &set);
    if let JobSet::Queue(name) = &set {
        let (_, raws) = queue_raw(inner, name, 0, u64::MAX).await?;
        let found = raws
            .into_iter()
            .filter(|(_, raw)| may_be(raw, jid))
            .map(|(_, raw)| Entry::new(&set, raw, None))
            .find(|e| e.job.jid == jid);
        return Ok(found.map(|e| stored(&set, e)));
    }
    // As Sidekiq's `find_job`: ZSCAN for members containing the jid.
    let pattern = format!("*{}*", glob_escape(jid));
    if let Some(e) = zscan_find(inner, &set, &key, Some(&pattern), |_| true, jid).await? {
        return Ok(Some(stored(&set, e)));
    }
    // Bytes that are not a job and name no jid have one computed from them.
    let computed = |raw: &[u8]| undecodable_jid(raw) == jid;
    let found = zscan_find(inner, &set, &key, None, computed, jid).await?;
    Ok(found.map(|e| stored(&set, e)))
}

/// The first member of the sorted set `key` (of `set`) matching `pattern` (all when `None`)
/// that passes `worth` and shows as the job `jid`.
async fn zscan_find(
    inner: &Inner,
    set: &JobSet,
    key: &str,
    pattern: Option<&str>,
    worth: impl Fn(&[u8]) -> bool,
    jid: &str,
) -> Result<Option<Entry>, BackendError> {
    let mut cursor = 0u64;
    loop {
        let mut cmd = redis::cmd("ZSCAN");
        cmd.arg(key).arg(cursor);
        if let Some(pattern) = pattern {
            cmd.arg("MATCH").arg(pattern);
        }
        cmd.arg("COUNT").arg(1000);
        let (next, flat): (u64, Vec<Vec<u8>>) = inner.query(&cmd).await?;
        let kept: Vec<Vec<u8>> = flat
            .chunks_exact(2)
            .filter(|pair| worth(&pair[0]))
            .flat_map(|pair| pair.iter().cloned())
            .collect();
        if let Some(e) = scored(set, kept)?.into_iter().find(|e| e.job.jid == jid) {
            return Ok(Some(e));
        }
        if next == 0 {
            return Ok(None);
        }
        cursor = next;
    }
}

/// The counters and the sizes of the sets.
pub(super) async fn stats(inner: &Inner) -> Result<Stats, BackendError> {
    let k = inner.keys();
    let mut pipe = redis::pipe();
    pipe.cmd("GET").arg(k.processed());
    pipe.cmd("GET").arg(k.failed());
    pipe.cmd("GET").arg(k.dead_trimmed());
    pipe.cmd("ZCARD").arg(k.schedule());
    pipe.cmd("ZCARD").arg(k.retry());
    pipe.cmd("ZCARD").arg(k.dead());
    pipe.cmd("SMEMBERS").arg(k.queues());
    pipe.cmd("SMEMBERS").arg(k.pqueues());
    pipe.cmd("GET").arg(k.expired());
    #[allow(clippy::type_complexity)]
    let (processed, failed, trimmed, scheduled, retries, dead, queues, prioritized, expired): (
        Option<u64>,
        Option<u64>,
        Option<u64>,
        u64,
        u64,
        u64,
        Vec<String>,
        Vec<String>,
        Option<u64>,
    ) = inner.pipe(&pipe).await?;
    let mut enqueued = 0;
    if !queues.is_empty() || !prioritized.is_empty() {
        let mut pipe = redis::pipe();
        for q in &queues {
            pipe.cmd("LLEN").arg(k.queue(q));
        }
        for q in &prioritized {
            for list in k.run_lists(q).iter().skip(1) {
                pipe.cmd("LLEN").arg(list);
            }
        }
        let sizes: Vec<u64> = inner.pipe(&pipe).await?;
        enqueued = sizes.iter().sum();
    }
    Ok(Stats {
        expired: expired.unwrap_or(0),
        processed: processed.unwrap_or(0),
        failed: failed.unwrap_or(0),
        dead_trimmed: trimmed.unwrap_or(0),
        enqueued,
        scheduled,
        retries,
        dead,
    })
}

/// Processed and failed counts of the `days` days up to `today`, oldest first.
pub(super) async fn stats_history(
    inner: &Inner,
    params: StatsHistoryParams,
) -> Result<Vec<DayStats>, BackendError> {
    let dates = params.dates();
    if dates.is_empty() {
        return Ok(Vec::new());
    }
    let k = inner.keys();
    let mut pipe = redis::pipe();
    pipe.cmd("MGET")
        .arg(dates.iter().map(|d| k.processed_on(*d)).collect::<Vec<_>>());
    pipe.cmd("MGET")
        .arg(dates.iter().map(|d| k.failed_on(*d)).collect::<Vec<_>>());
    let (processed, failed): (Vec<Option<u64>>, Vec<Option<u64>>) = inner.pipe(&pipe).await?;
    Ok(dates
        .into_iter()
        .zip(processed.into_iter().zip(failed))
        .map(|(date, (p, f))| DayStats {
            date,
            processed: p.unwrap_or(0),
            failed: f.unwrap_or(0),
        })
        .collect())
}
