//! The Redis backend's job metrics: one hash per UTC hour, counters added with HINCRBY.
//!
//! 1. **Keys**, ours under `jobs-rs:`: `jobs-rs:metrics:<hour>` where `<hour>` is the epoch
//!    second the UTC hour starts. Fields per job name: `p:<class>` (processed), `f:<class>`
//!    (failed), `us:<class>` (total microseconds) and `h<i>:<class>` (runs in histogram
//!    bucket `i`, only the buckets that have any). Each key expires `keep` after its hour
//!    ends, so old hours prune themselves.
//! 2. **Record** is one pipeline per flush: the `HINCRBY`s of every sample, then one
//!    `EXPIRE` per hour touched.
//! 3. **Query** reads the hours in range with one pipeline of `HGETALL`s and sums them.

use jobs::backend::MetricsQueryParams;
use std::collections::HashMap;

use chrono::{DateTime, Utc};
use jobs::backend::BackendError;
use jobs::metrics::{hour_of, summarize, Counts, JobMetrics, MetricsSample, RecordParams, BUCKETS};

use super::Inner;

/// The most hours one query reads (90 days).
const MAX_HOURS: i64 = 90 * 24;

/// The hash of the UTC hour starting at `hour`.
fn metrics_key(inner: &Inner, hour: DateTime<Utc>) -> String {
    format!("{}jobs-rs:metrics:{}", inner.keys().ns(), hour.timestamp())
}

/// Adds the samples to their hours' hashes and sets each hash's expiry.
pub(super) async fn metrics_record(inner: &Inner, p: RecordParams) -> Result<(), BackendError> {
    if p.samples.is_empty() {
        return Ok(());
    }
    let mut pipe = redis::pipe();
    let mut hours: Vec<DateTime<Utc>> = Vec::new();
    for s in &p.samples {
        let hour = hour_of(s.hour);
        if !hours.contains(&hour) {
            hours.push(hour);
        }
        let key = metrics_key(inner, hour);
        let c = &s.counts;
        let mut add = |field: String, n: u64| {
            if n > 0 {
                let n = i64::try_from(n).unwrap_or(i64::MAX);
                pipe.cmd("HINCRBY").arg(&key).arg(field).arg(n).ignore();
            }
        };
        add(format!("p:{}", s.class), c.processed);
        add(format!("f:{}", s.class), c.failed);
        add(format!("us:{}", s.class), c.total_us);
        for (i, n) in c.histogram.counts.iter().enumerate() {
            add(format!("h{i}:{}", s.class), *n);
        }
    }
    let keep = p.keep.as_secs().min(i64::MAX as u64) as i64;
    for hour in hours {
        let ends = hour.timestamp() + 3600;
        let ttl = (ends + keep - p.now.timestamp()).max(1);
        pipe.cmd("EXPIRE")
            .arg(metrics_key(inner, hour))
            .arg(ttl)
            .ignore();
    }
    inner.pipe::<()>(&pipe).await
}

/// The metrics of the hours from `from` to `to`, summed per job name.
pub(super) async fn metrics_query(
    inner: &Inner,
    params: MetricsQueryParams,
) -> Result<Vec<JobMetrics>, BackendError> {
    let (from, to) = (params.from, params.to);
    let first = hour_of(from).timestamp();
    let last = hour_of(to).timestamp().min(first + (MAX_HOURS - 1) * 3600);
    if last < first {
        return Ok(Vec::new());
    }
    let mut pipe = redis::pipe();
    let mut hour = first;
    while hour <= last {
        let at = DateTime::from_timestamp(hour, 0).unwrap_or_default();
        pipe.cmd("HGETALL").arg(metrics_key(inner, at));
        hour += 3600;
    }
    let hashes: Vec<HashMap<String, String>> = inner.pipe(&pipe).await?;
    let mut samples = Vec::new();
    for fields in hashes {
        samples.extend(decode(fields)?);
    }
    Ok(summarize(samples))
}

/// The samples of one hour's hash (its hour is not needed once read).
fn decode(fields: HashMap<String, String>) -> Result<Vec<MetricsSample>, BackendError> {
    let mut by_class: HashMap<String, Counts> = HashMap::new();
    for (field, value) in fields {
        let Some((kind, class)) = field.split_once(':') else {
            continue;
        };
        let n: u64 = value.parse().map_err(|_| {
            BackendError::Decode(format!(
                "metrics field {field} holds `{value}`, not a count"
            ))
        })?;
        let c = by_class.entry(class.to_owned()).or_default();
        match kind {
            "p" => c.processed += n,
            "f" => c.failed += n,
            "us" => c.total_us += n,
            h => match h.strip_prefix('h').and_then(|i| i.parse::<usize>().ok()) {
                Some(i) if i < BUCKETS => c.histogram.counts[i] += n,
                _ => {}
            },
        }
    }
    Ok(by_class
        .into_iter()
        .map(|(class, counts)| MetricsSample {
            class,
            hour: DateTime::<Utc>::UNIX_EPOCH,
            counts,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_decode_per_class_even_with_colons_in_the_name() {
        let fields: HashMap<String, String> = [
            ("p:Mailer::Welcome", "3"),
            ("f:Mailer::Welcome", "1"),
            ("us:Mailer::Welcome", "3000"),
            ("h2:Mailer::Welcome", "3"),
            ("p:Other", "1"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let rows = summarize(decode(fields).unwrap_or_default());
        assert_eq!(rows[0].class, "Mailer::Welcome");
        assert_eq!((rows[0].counts.processed, rows[0].counts.failed), (3, 1));
        assert_eq!(rows[0].counts.histogram.counts[2], 3);
        assert_eq!(rows[1].counts.processed, 1);
    }
}
