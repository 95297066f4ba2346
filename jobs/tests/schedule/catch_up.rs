//! After downtime: each catch-up policy, and intervals anchored to fixed instants across a
//! restart.

use std::sync::Arc;
use std::time::Duration;

use jobs::clock::ManualClock;
use jobs::memory::MemoryBackend;
use jobs::schedule::{CatchUp, Schedule};

use super::{scheduler, t, ticks};

fn hourly(policy: CatchUp) -> Schedule {
    Schedule::new("hourly")
        .every(Duration::from_secs(3600))
        .job("Ping", vec![])
        .catch_up(policy)
}

/// Declared at 00:10 (next run 01:00), then no scheduler runs until 05:30: the ticks of
/// 01:00 to 05:00 were missed. Returns the ticks enqueued by the pass at 05:30.
async fn after_downtime(policy: CatchUp) -> Vec<jobs::chrono::DateTime<jobs::chrono::Utc>> {
    let backend = MemoryBackend::new();
    let clock = Arc::new(ManualClock::new(t("2026-01-01T00:10:00Z")));
    let s = scheduler(&backend, &clock, vec![hourly(policy)]);
    assert!(s.tick().await.unwrap().enqueued.is_empty());
    drop(s); // the process stops
    clock.set(t("2026-01-01T05:30:00Z"));
    let restarted = scheduler(&backend, &clock, vec![hourly(policy)]);
    let report = restarted.tick().await.unwrap();
    assert!(
        restarted.tick().await.unwrap().enqueued.is_empty(),
        "a second pass runs nothing more"
    );
    let got = ticks(&backend, "default").await;
    assert_eq!(got.len(), report.enqueued.len());
    got
}

#[tokio::test]
async fn skip_drops_missed_ticks() {
    assert!(after_downtime(CatchUp::Skip).await.is_empty());
}

#[tokio::test]
async fn once_runs_the_latest_missed_tick_once() {
    assert_eq!(
        after_downtime(CatchUp::Once).await,
        vec![t("2026-01-01T05:00:00Z")]
    );
}

#[tokio::test]
async fn each_runs_missed_ticks_up_to_the_limit() {
    assert_eq!(
        after_downtime(CatchUp::Each(3)).await,
        vec![
            t("2026-01-01T03:00:00Z"),
            t("2026-01-01T04:00:00Z"),
            t("2026-01-01T05:00:00Z")
        ]
    );
    assert_eq!(after_downtime(CatchUp::Each(100)).await.len(), 5);
}

/// A tick seen within the grace period is on time, not missed: even `Skip` runs it.
#[tokio::test]
async fn a_tick_seen_within_grace_runs_under_every_policy() {
    let backend = MemoryBackend::new();
    let clock = Arc::new(ManualClock::new(t("2026-01-01T00:10:00Z")));
    let s = scheduler(&backend, &clock, vec![hourly(CatchUp::Skip)]);
    s.tick().await.unwrap();
    clock.set(t("2026-01-01T01:00:30Z"));
    assert_eq!(s.tick().await.unwrap().enqueued.len(), 1);
}

/// `every 10m` fires at :00, :10, :20 whenever processes start: a restart at :14 does not
/// move the next run to :24, and a restart just after a tick does not run it again.
#[tokio::test]
async fn intervals_stay_anchored_across_a_restart() {
    let backend = MemoryBackend::new();
    let clock = Arc::new(ManualClock::new(t("2026-01-01T00:03:00Z")));
    let every = || {
        Schedule::new("ten")
            .every(Duration::from_secs(600))
            .job("Ping", vec![])
    };
    let first = scheduler(&backend, &clock, vec![every()]);
    first.tick().await.unwrap();
    clock.set(t("2026-01-01T00:10:01Z"));
    assert_eq!(first.tick().await.unwrap().enqueued.len(), 1);
    drop(first);

    clock.set(t("2026-01-01T00:10:20Z"));
    let second = scheduler(&backend, &clock, vec![every()]);
    assert!(
        second.tick().await.unwrap().enqueued.is_empty(),
        "a restart right after a tick does not run it twice"
    );
    drop(second);

    clock.set(t("2026-01-01T00:14:00Z"));
    let third = scheduler(&backend, &clock, vec![every()]);
    assert!(third.tick().await.unwrap().enqueued.is_empty());
    clock.set(t("2026-01-01T00:20:00Z"));
    assert_eq!(third.tick().await.unwrap().enqueued.len(), 1);
    assert_eq!(
        ticks(&backend, "default").await,
        vec![t("2026-01-01T00:10:00Z"), t("2026-01-01T00:20:00Z")]
    );
}

/// A short interval after a short pause: only the latest due tick is on time; the earlier
/// ones were missed, so `Skip` runs one job, `Once` two (one catch-up, the current tick) and
/// `Each(10)` eleven.
#[tokio::test]
async fn only_the_latest_due_tick_is_on_time() {
    for (policy, wanted) in [
        (CatchUp::Skip, 1),
        (CatchUp::Once, 2),
        (CatchUp::Each(10), 11),
    ] {
        let backend = MemoryBackend::new();
        let clock = Arc::new(ManualClock::new(t("2026-01-01T00:00:00.500Z")));
        let every_second = Schedule::new("fast")
            .every(Duration::from_secs(1))
            .job("Ping", vec![])
            .catch_up(policy);
        let s = scheduler(&backend, &clock, vec![every_second]);
        s.tick().await.unwrap();
        clock.set(t("2026-01-01T00:00:30.200Z")); // a 30 s pause, within the grace period
        assert_eq!(s.tick().await.unwrap().enqueued.len(), wanted, "{policy:?}");
        let got = ticks(&backend, "default").await;
        assert_eq!(got.last(), Some(&t("2026-01-01T00:00:30Z")), "{policy:?}");
    }
}
