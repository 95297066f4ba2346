//! Daylight-saving time: a daily 02:30 job in Europe/Berlin runs once on the day 02:30 is
//! skipped and once on the day it repeats.

use std::sync::Arc;
use std::time::Duration;

use jobs::clock::ManualClock;
use jobs::memory::MemoryBackend;
use jobs::schedule::{Schedule, Timing};

use super::{scheduler, t, ticks, walk};

fn nightly() -> Schedule {
    Schedule::new("nightly")
        .daily_at(2, 30)
        .time_zone("Europe/Berlin")
        .job("NightlyReport", vec!["sales".into()])
}

/// 2026-03-29: Berlin jumps from 02:00 CET to 03:00 CEST. The 02:30 run happens once, at
/// 03:00 CEST (01:00 UTC), the first instant after the gap; the days around run at 02:30.
#[tokio::test]
async fn spring_forward_runs_once_at_the_end_of_the_gap() {
    let backend = MemoryBackend::new();
    let clock = Arc::new(ManualClock::new(t("2026-03-27T23:00:00Z")));
    let s = scheduler(&backend, &clock, vec![nightly()]);
    walk(
        &s,
        &clock,
        t("2026-03-30T23:00:00Z"),
        Duration::from_secs(300),
    )
    .await;
    assert_eq!(
        ticks(&backend, "reports").await,
        vec![
            t("2026-03-28T01:30:00Z"), // 02:30 CET
            t("2026-03-29T01:00:00Z"), // 03:00 CEST: 02:30 does not exist that night
            t("2026-03-30T00:30:00Z"), // 02:30 CEST
        ]
    );
}

/// 2026-10-25: Berlin goes from 03:00 CEST back to 02:00 CET, so 02:30 happens twice. The
/// job runs once, at the first 02:30 (CEST, 00:30 UTC), not again at 02:30 CET.
#[tokio::test]
async fn fall_back_runs_once_at_the_first_occurrence() {
    let backend = MemoryBackend::new();
    let clock = Arc::new(ManualClock::new(t("2026-10-23T22:00:00Z")));
    let s = scheduler(&backend, &clock, vec![nightly()]);
    walk(
        &s,
        &clock,
        t("2026-10-26T23:00:00Z"),
        Duration::from_secs(300),
    )
    .await;
    assert_eq!(
        ticks(&backend, "reports").await,
        vec![
            t("2026-10-24T00:30:00Z"), // 02:30 CEST
            t("2026-10-25T00:30:00Z"), // the first 02:30 (CEST); none at 01:30 UTC (CET)
            t("2026-10-26T01:30:00Z"), // 02:30 CET
        ]
    );
}

/// Asked from inside the repeated hour (after the first 02:30 passed), the next tick is the
/// next day's, never the second 02:30: ticks are the same instants whenever one asks.
#[test]
fn ticks_do_not_depend_on_when_one_asks() {
    let berlin = chrono_tz::Europe::Berlin;
    let daily = Timing::cron("30 2 * * *").unwrap();
    // 02:10 CET, in the second pass of the repeated hour.
    let next = daily.next_after(t("2026-10-25T01:10:00Z"), berlin).unwrap();
    assert_eq!(next, t("2026-10-26T01:30:00Z"));
    // Inside the gap's night, before the jump: the tick is the end of the gap.
    let next = daily.next_after(t("2026-03-29T00:59:00Z"), berlin).unwrap();
    assert_eq!(next, t("2026-03-29T01:00:00Z"));
}

/// Hourly cron times in a zone follow wall-clock hours; intervals follow real time.
#[test]
fn intervals_ignore_zones_and_cron_follows_them() {
    let every = Timing::every(Duration::from_secs(3600));
    let after = t("2026-03-29T00:30:00Z");
    assert_eq!(
        every.next_after(after, chrono_tz::Europe::Berlin),
        Some(t("2026-03-29T01:00:00Z"))
    );
    let monthly = Timing::cron("@monthly").unwrap();
    assert_eq!(
        monthly.next_after(after, chrono_tz::America::New_York),
        Some(t("2026-04-01T04:00:00Z"))
    );
}
