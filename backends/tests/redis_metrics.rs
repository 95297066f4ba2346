//! The Redis backend's server facts (from `INFO`) and its metrics store: one hash per UTC
//! hour, added to by many processes with HINCRBY, expiring after the keep time.

mod redis_support;

use std::time::Duration;

use chrono::{TimeZone, Utc};
use jobs::backend::MetricsQueryParams;
use jobs::backend::{AdminBackend, Backend};
use jobs::metrics::{hour_of, Counts, MetricsSample, RecordParams, KEEP};
use redis_support::*;

fn sample(class: &str, hour: chrono::DateTime<Utc>, runs: &[(bool, u64)]) -> MetricsSample {
    let mut counts = Counts::default();
    for (failed, ms) in runs {
        counts.record(*failed, Duration::from_millis(*ms));
    }
    MetricsSample {
        class: class.to_owned(),
        hour,
        counts,
    }
}

#[tokio::test]
async fn facts_name_version_memory_policy_and_clients() {
    let f = Fixture::new("facts").await;
    let facts = f.backend.facts().await.unwrap();
    let labels: Vec<&str> = facts.iter().map(|(l, _)| l.as_str()).collect();
    for want in [
        "Redis version",
        "Used memory",
        "Maxmemory policy",
        "Connected clients",
    ] {
        assert!(labels.contains(&want), "{want} missing from {facts:?}");
    }
    let version = &facts[0].1;
    assert!(
        version.chars().next().is_some_and(|c| c.is_ascii_digit()),
        "{version}"
    );
}

#[tokio::test]
async fn metrics_from_two_processes_add_up_per_hour_and_expire() {
    let f = Fixture::new("metrics").await;
    let store = f.backend.metrics().expect("redis keeps metrics");
    let now = Utc.with_ymd_and_hms(2026, 5, 1, 12, 30, 0).unwrap();
    let hour = hour_of(now);
    let earlier = hour - chrono::Duration::hours(1);
    // Two workers flush the same hour; one also an earlier hour.
    store
        .metrics_record(
            RecordParams::new(
                vec![
                    sample("Mailer::Welcome", hour, &[(false, 10), (true, 30)]),
                    sample("<script>x</script>", hour, &[(false, 1)]),
                ],
                now,
            )
            .keep(KEEP),
        )
        .await
        .unwrap();
    store
        .metrics_record(
            RecordParams::new(
                vec![
                    sample("Mailer::Welcome", hour, &[(false, 20)]),
                    sample("Mailer::Welcome", earlier, &[(false, 1000)]),
                ],
                now,
            )
            .keep(KEEP),
        )
        .await
        .unwrap();
    let rows = store
        .metrics_query(MetricsQueryParams::new(hour, now))
        .await
        .unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0].class, "<script>x</script>");
    let mail = &rows[1];
    assert_eq!(mail.class, "Mailer::Welcome");
    assert_eq!((mail.counts.processed, mail.counts.failed), (3, 1));
    assert_eq!(mail.counts.average(), Some(Duration::from_millis(20)));
    assert_eq!(mail.counts.histogram.count(), 3);
    // The earlier hour joins when the range covers it.
    let rows = store
        .metrics_query(MetricsQueryParams::new(earlier, now))
        .await
        .unwrap();
    assert_eq!(rows[1].counts.processed, 4);
    let p95 = rows[1].counts.p95().unwrap_or_default();
    assert!(p95 > Duration::from_millis(700), "{p95:?}");
    // One hash per hour, expiring `keep` after the hour ends.
    let key = format!("{}:jobs-rs:metrics:{}", f.prefix, hour.timestamp());
    let ttl: i64 = f.cmd(redis::cmd("TTL").arg(&key)).await;
    let want = (hour + chrono::Duration::hours(1) - now).num_seconds() + KEEP.as_secs() as i64;
    assert!(ttl > 0 && ttl <= want, "ttl {ttl}, want at most {want}");
    // clear_all removes them.
    f.backend.clear_all().await.unwrap();
    assert!(store
        .metrics_query(MetricsQueryParams::new(earlier, now))
        .await
        .unwrap()
        .is_empty());
}
