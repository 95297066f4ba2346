//! The Postgres backend's server facts and its metrics store (`job_metrics`, migration 4):
//! batches from many processes add up per (hour, job name) with ON CONFLICT DO UPDATE.

mod postgres_support;

use std::time::Duration;

use chrono::{TimeZone, Utc};
use jobs::backend::MetricsQueryParams;
use jobs::backend::{AdminBackend, Backend};
use jobs::metrics::{hour_of, Counts, MetricsSample, RecordParams, KEEP};
use postgres_support::*;

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
async fn facts_name_version_and_sizes() {
    let db = TestDb::new().await;
    let facts = db.backend.facts().await.unwrap();
    let labels: Vec<&str> = facts.iter().map(|(l, _)| l.as_str()).collect();
    assert_eq!(
        labels,
        [
            "Postgres version",
            "Database size",
            "Jobs table size",
            "Jobs table rows",
            "Jobs table dead rows",
            "Autovacuum",
            "Schema"
        ]
    );
    assert!(facts[0]
        .1
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_digit()));
    assert_eq!(facts[3].1, "0");
    assert!(facts[4].1.parse::<u64>().is_ok(), "{:?}", facts[4]);
    // The server's own setting, and what to do when it is off.
    let setting: String = sqlx::query_scalar("SELECT current_setting('autovacuum')")
        .fetch_one(db.backend.pool())
        .await
        .unwrap();
    assert!(
        facts[5].1.starts_with(&setting),
        "{:?} vs {setting}",
        facts[5]
    );
    if setting == "off" {
        assert!(facts[5].1.contains("VACUUM"), "{:?}", facts[5]);
    }
    assert_eq!(facts[6].1, db.schema);
    db.drop().await;
}

#[tokio::test]
async fn metrics_add_up_per_hour_and_old_hours_are_pruned() {
    let db = TestDb::new().await;
    let store = db.backend.metrics().expect("postgres keeps metrics");
    let now = Utc.with_ymd_and_hms(2026, 5, 1, 12, 30, 0).unwrap();
    let hour = hour_of(now);
    let earlier = hour - chrono::Duration::hours(1);
    let ancient = hour - chrono::Duration::days(30);
    store
        .metrics_record(
            RecordParams::new(
                vec![
                    sample("Mailer::Welcome", hour, &[(false, 10), (true, 30)]),
                    // The same (hour, class) twice in one batch adds up too.
                    sample("Mailer::Welcome", hour, &[(false, 20)]),
                    sample("Pdf", hour, &[(false, 1)]),
                ],
                now,
            )
            .keep(KEEP),
        )
        .await
        .unwrap();
    // Another process flushes the same hour, an earlier one, and one past the keep time.
    store
        .metrics_record(
            RecordParams::new(
                vec![
                    sample("Mailer::Welcome", hour, &[(false, 20)]),
                    sample("Mailer::Welcome", earlier, &[(false, 1000)]),
                    sample("Old", ancient, &[(false, 5)]),
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
    let mail = &rows[0];
    assert_eq!(mail.class, "Mailer::Welcome");
    assert_eq!((mail.counts.processed, mail.counts.failed), (4, 1));
    assert_eq!(mail.counts.average(), Some(Duration::from_millis(20)));
    assert_eq!(mail.counts.histogram.count(), 4);
    let rows = store
        .metrics_query(MetricsQueryParams::new(ancient, now))
        .await
        .unwrap();
    let classes: Vec<&str> = rows.iter().map(|r| r.class.as_str()).collect();
    assert_eq!(
        classes,
        ["Mailer::Welcome", "Pdf"],
        "the old hour was pruned"
    );
    assert_eq!(rows[0].counts.processed, 5);
    let p95 = rows[0].counts.p95().unwrap_or_default();
    assert!(p95 > Duration::from_millis(700), "{p95:?}");
    db.backend.clear_all().await.unwrap();
    assert!(store
        .metrics_query(MetricsQueryParams::new(ancient, now))
        .await
        .unwrap()
        .is_empty());
    db.drop().await;
}
