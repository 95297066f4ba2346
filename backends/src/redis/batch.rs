//! Batches on Redis, in keys Sidekiq never reads (`batch.lua` describes them): created,
//! grown, sealed and cleaned up by `batch_ops.lua`, each one atomic step; members moved by
//! `finish.lua` in the step that settles them. Member jobs are plain Sidekiq jobs with a
//! `bid` field, as Sidekiq Pro writes them.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use jobs::backend::{BackendError, BatchAddParams, BatchCreateParams, BatchStatus, BatchStore};
use jobs::batch::{callback_job, BatchEvent, BatchInfo, Counts, Fired};
use jobs::envelope::{to_epoch, JobEnvelope};

use super::raw::encode;
use super::scripts::BATCH;
use super::{score, Inner};

/// Adds the member arguments of `batch_ops.lua` for `jobs`.
fn members(
    inv: &mut redis::ScriptInvocation<'_>,
    jobs: &[JobEnvelope],
    now: DateTime<Utc>,
) -> Result<(), BackendError> {
    let enqueued_at = to_epoch(now);
    for job in jobs {
        let mut job = job.clone();
        let at = match job.at {
            Some(at) => score(jobs::envelope::from_epoch(at)),
            None => {
                job.enqueued_at = Some(enqueued_at);
                String::new()
            }
        };
        inv.arg(&job.jid).arg(&job.queue).arg(at).arg(encode(&job)?);
    }
    Ok(())
}

async fn run(
    inner: &Inner,
    op: &str,
    bid: &str,
    now: DateTime<Utc>,
    more: impl FnOnce(&mut redis::ScriptInvocation<'_>) -> Result<(), BackendError>,
) -> Result<i64, BackendError> {
    let mut inv = BATCH.prepare_invoke();
    // The script builds its keys from the prefix; the batch's key is declared so that on a
    // cluster the script runs on the master of the prefix's slot (every key it touches).
    inv.key(key(inner, bid));
    inv.arg(inner.keys().ns()).arg(op).arg(bid).arg(score(now));
    more(&mut inv)?;
    inner.eval(&inv).await.map_err(|e| match e {
        // The script's error replies name the batch: pass them on as conflicts.
        BackendError::Other { message, .. } if message.contains("batch ") => {
            BackendError::Conflict(message)
        }
        e => e,
    })
}

fn key(inner: &Inner, bid: &str) -> String {
    format!("{}jobs-rs:batch:{bid}", inner.keys().ns())
}

async fn status(inner: &Inner, bid: &str) -> Result<Option<BatchStatus>, BackendError> {
    let k = key(inner, bid);
    let mut pipe = redis::pipe();
    pipe.cmd("HMGET")
        .arg(&k)
        .arg(&["info", "sealed", "complete_at", "success_at", "death_at"][..]);
    for s in ["pending", "succeeded", "failed", "dead"] {
        pipe.cmd("SCARD").arg(format!("{k}:{s}"));
    }
    pipe.cmd("SRANDMEMBER").arg(format!("{k}:failed")).arg(1000);
    pipe.cmd("SRANDMEMBER").arg(format!("{k}:dead")).arg(1000);
    pipe.cmd("SMEMBERS").arg(format!("{k}:children"));
    #[allow(clippy::type_complexity)]
    let (h, p, s, f, d, failed, dead, children): (
        Vec<Option<String>>,
        u64,
        u64,
        u64,
        u64,
        Vec<String>,
        Vec<String>,
        Vec<String>,
    ) = inner.pipe(&pipe).await?;
    let Some(info) = h.first().cloned().flatten() else {
        return Ok(None);
    };
    let info: BatchInfo = serde_json::from_str(&info)
        .map_err(|e| BackendError::Decode(format!("batch {bid}: {e}")))?;
    let time = |i: usize| {
        h.get(i)
            .cloned()
            .flatten()
            .and_then(|t| t.parse::<f64>().ok())
    };
    let mut counts = Counts::default();
    (counts.pending, counts.succeeded, counts.failed, counts.dead) = (p, s, f, d);
    let mut st = BatchStatus::new(info, counts);
    st.sealed = h.get(1).cloned().flatten().as_deref() == Some("1");
    let mut fired = Fired::default();
    fired.complete = time(2);
    fired.success = time(3);
    fired.death = time(4);
    st.fired = fired;
    st.failed_jids = failed
        .into_iter()
        .chain(dead)
        .filter(|m| !m.starts_with(jobs::batch::CHILD_PREFIX))
        .take(1000)
        .collect();
    st.failed_jids.sort();
    st.children = children;
    st.children.sort();
    Ok(Some(st))
}

impl super::RedisBackend {
    /// The newest `limit` batch ids with their creation scores (epoch seconds), newest
    /// first: what a sharded store merges its shards' listings by.
    pub(crate) async fn batch_ids(&self, limit: usize) -> Result<Vec<(String, f64)>, BackendError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let mut cmd = redis::cmd("ZREVRANGE");
        cmd.arg(format!("{}jobs-rs:batches", self.inner.keys().ns()))
            .arg(0)
            .arg(limit - 1)
            .arg("WITHSCORES");
        self.inner.query(&cmd).await
    }
}

#[async_trait]
impl BatchStore for super::RedisBackend {
    async fn batch_create(&self, p: BatchCreateParams) -> Result<(), BackendError> {
        let inner = &*self.inner;
        let info =
            serde_json::to_string(&p.info).map_err(|e| BackendError::Decode(e.to_string()))?;
        let bid = p.info.bid.clone();
        // Callback jobs are stored ready, with an `enqueued_at` of 0.0 the script replaces.
        let mut cbs = Vec::with_capacity(p.info.callbacks.len());
        for cb in &p.info.callbacks {
            let mut job = callback_job(cb, &bid, 0.0);
            job.enqueued_at = Some(0.0);
            cbs.push((cb.event, job.queue.clone(), encode(&job)?));
        }
        let parent = p.info.parent.clone().unwrap_or_default();
        run(inner, "create", &bid, p.now, |inv| {
            inv.arg(info)
                .arg(parent)
                .arg(score(p.now))
                .arg(p.info.expires_at)
                .arg(format!(
                    "{},{}",
                    u8::from(p.sealed),
                    u8::from(p.info.cancel_on_death)
                ))
                .arg(cbs.len());
            for (event, queue, json) in &cbs {
                inv.arg(event_name(*event)).arg(queue).arg(json);
            }
            members(inv, &p.jobs, p.now)
        })
        .await?;
        Ok(())
    }

    async fn batch_add(&self, p: BatchAddParams) -> Result<(), BackendError> {
        run(&self.inner, "add", &p.bid, p.now, |inv| {
            members(inv, &p.jobs, p.now)
        })
        .await?;
        Ok(())
    }

    async fn batch_seal(&self, bid: &str, now: DateTime<Utc>) -> Result<(), BackendError> {
        run(&self.inner, "seal", bid, now, |_| Ok(())).await?;
        Ok(())
    }

    async fn batch_status(&self, bid: &str) -> Result<Option<BatchStatus>, BackendError> {
        status(&self.inner, bid).await
    }

    async fn batch_list(
        &self,
        offset: usize,
        limit: usize,
    ) -> Result<Vec<BatchStatus>, BackendError> {
        let inner = &*self.inner;
        if limit == 0 {
            return Ok(Vec::new());
        }
        let mut cmd = redis::cmd("ZREVRANGE");
        cmd.arg(format!("{}jobs-rs:batches", inner.keys().ns()))
            .arg(offset)
            .arg(offset + limit - 1);
        let bids: Vec<String> = inner.query(&cmd).await?;
        let mut out = Vec::with_capacity(bids.len());
        for bid in bids {
            if let Some(s) = status(inner, &bid).await? {
                out.push(s);
            }
        }
        Ok(out)
    }

    async fn batch_cleanup(&self, now: DateTime<Utc>) -> Result<u64, BackendError> {
        let n = run(&self.inner, "cleanup", "", now, |_| Ok(())).await?;
        Ok(u64::try_from(n).unwrap_or(0))
    }
}

fn event_name(e: BatchEvent) -> &'static str {
    e.as_str()
}
