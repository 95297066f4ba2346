//! State in the backend: shared by every scheduler, disabled stays disabled across
//! restarts, run-now enqueues once, removed schedules are reported and not fired.

use std::sync::Arc;
use std::time::Duration;

use jobs::backend::AdminBackend;
use jobs::clock::ManualClock;
use jobs::memory::MemoryBackend;
use jobs::schedule::{Schedule, Scheduler, SchedulerEvent};

use super::{registry, scheduler, t, ticks};
use jobs::backend::{EnableParams, ScheduleGetParams};

fn minutely() -> Schedule {
    Schedule::new("minutely")
        .cron("* * * * *")
        .job("Ping", vec![])
}

/// Three schedulers on one backend passing at the same moments enqueue each tick once.
#[tokio::test]
async fn concurrent_schedulers_enqueue_each_tick_once() {
    let backend = MemoryBackend::new();
    let clock = Arc::new(ManualClock::new(t("2026-01-01T00:00:30Z")));
    let all: Vec<_> = (0..3)
        .map(|_| Arc::new(scheduler(&backend, &clock, vec![minutely()])))
        .collect();
    for _ in 0..10 {
        let passes = all.iter().map(|s| {
            let s = s.clone();
            tokio::spawn(async move { s.tick().await.unwrap() })
        });
        for p in passes {
            p.await.unwrap();
        }
        clock.advance(Duration::from_secs(60));
    }
    let got = ticks(&backend, "default").await;
    assert_eq!(got.len(), 9, "{got:?}");
    let mut unique = got.clone();
    unique.dedup();
    assert_eq!(unique, got, "no tick twice");
}

/// Disabling through the store stops ticks for every process and survives a restart;
/// enabling resumes at the next tick without catching up the disabled time.
#[tokio::test]
async fn disabled_stays_disabled_across_restarts() {
    let backend = MemoryBackend::new();
    let clock = Arc::new(ManualClock::new(t("2026-01-01T00:00:30Z")));
    let s = scheduler(&backend, &clock, vec![minutely()]);
    s.tick().await.unwrap();
    assert!(s.set_enabled("minutely", false).await.unwrap());
    drop(s);

    let restarted = scheduler(&backend, &clock, vec![minutely()]);
    for _ in 0..5 {
        clock.advance(Duration::from_secs(60));
        assert!(restarted.tick().await.unwrap().enqueued.is_empty());
    }
    let record = backend
        .schedules()
        .unwrap()
        .schedule_get(ScheduleGetParams::new("minutely"))
        .await
        .unwrap()
        .unwrap();
    assert!(!record.enabled, "still disabled after a restart");

    assert!(backend
        .schedules()
        .unwrap()
        .schedule_set_enabled(EnableParams::new("minutely", true))
        .await
        .unwrap());
    clock.advance(Duration::from_secs(60));
    let report = restarted.tick().await.unwrap();
    assert_eq!(
        report.enqueued.len(),
        1,
        "only the current tick: {report:?}"
    );
    let record = backend
        .schedules()
        .unwrap()
        .schedule_get(ScheduleGetParams::new("minutely"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(record.last_run, Some(t("2026-01-01T00:06:00Z")));
    assert_eq!(record.next_run, Some(t("2026-01-01T00:07:00Z")));
}

/// Run-now enqueues the schedule's job once, with its arguments and queue, even when disabled.
#[tokio::test]
async fn run_now_enqueues_once() {
    let backend = MemoryBackend::new();
    let clock = Arc::new(ManualClock::new(t("2026-01-01T00:00:30Z")));
    let s = scheduler(
        &backend,
        &clock,
        vec![Schedule::new("nightly")
            .daily_at(3, 0)
            .job("NightlyReport", vec!["sales".into()])],
    );
    s.tick().await.unwrap();
    s.set_enabled("nightly", false).await.unwrap();
    let jid = s.run_now("nightly").await.unwrap().unwrap();
    let page = backend
        .job_list(jobs::backend::JobListParams::new(
            jobs::backend::JobSet::Queue("reports".into()),
            10,
        ))
        .await
        .unwrap();
    assert_eq!(page.total, 1);
    assert_eq!(page.jobs[0].job.jid, jid);
    assert_eq!(page.jobs[0].job.args, vec![serde_json::json!("sales")]);
    assert_eq!(s.run_now("missing").await.unwrap(), None);
}

/// A record no schedule declares any more is listed as orphaned, logged, and not fired.
#[tokio::test]
async fn removed_schedules_are_reported_not_fired() {
    let backend = MemoryBackend::new();
    let clock = Arc::new(ManualClock::new(t("2026-01-01T00:00:30Z")));
    let old = scheduler(&backend, &clock, vec![minutely()]);
    old.tick().await.unwrap();
    drop(old);

    let hourly = Schedule::new("hourly").hourly_at(0).job("Ping", vec![]);
    let new = scheduler(&backend, &clock, vec![hourly]);
    let mut events = new.subscribe();
    clock.advance(Duration::from_secs(120));
    let report = new.tick().await.unwrap();
    assert_eq!(report.orphaned, vec!["minutely".to_owned()]);
    assert!(report.enqueued.is_empty());
    assert_eq!(
        events.recv().await.unwrap(),
        SchedulerEvent::Orphaned {
            schedule: "minutely".into()
        }
    );
    let status = new.status().await.unwrap();
    let orphan = status.iter().find(|s| s.record.name == "minutely").unwrap();
    assert!(orphan.orphaned);
    assert!(ticks(&backend, "default").await.is_empty());
}

/// The run loop fires at each tick and reports it as an event; tests wait on the event.
#[tokio::test]
async fn run_loop_sends_events() {
    let backend = MemoryBackend::new();
    let clock = Arc::new(ManualClock::new(t("2026-01-01T00:00:30Z")));
    let s = Arc::new(
        Scheduler::builder(Arc::new(backend.clone()))
            .registry(registry())
            .clock(clock.clone())
            .poll_interval(Duration::from_millis(10))
            .schedule(minutely())
            .build()
            .unwrap(),
    );
    let mut events = s.subscribe();
    let handle = s.handle();
    let running = tokio::spawn({
        let s = s.clone();
        async move { s.run().await }
    });
    // Wait for the first pass (it declares), then move the clock past the tick.
    while !matches!(events.recv().await.unwrap(), SchedulerEvent::Pass { .. }) {}
    clock.advance(Duration::from_secs(60));
    loop {
        if let SchedulerEvent::Enqueued { tick, .. } = events.recv().await.unwrap() {
            assert_eq!(tick, t("2026-01-01T00:01:00Z"));
            break;
        }
    }
    handle.stop();
    running.await.unwrap();
}

/// A scheduler given to the worker runs while the worker runs and stops with it.
#[tokio::test]
async fn the_worker_runs_its_scheduler() {
    let backend = MemoryBackend::new();
    let clock = Arc::new(ManualClock::new(t("2026-01-01T00:00:30Z")));
    let s = Scheduler::builder(Arc::new(backend.clone()))
        .registry(registry())
        .clock(clock.clone())
        .poll_interval(Duration::from_millis(10))
        .schedule(minutely().queue("scheduled"))
        .build()
        .unwrap();
    let mut events = s.subscribe();
    let worker = jobs::Worker::builder(Arc::new(backend.clone()))
        .registry(registry())
        .queues(["elsewhere"])
        .handle_signals(false)
        .scheduler(s)
        .build()
        .unwrap();
    let handle = worker.handle();
    let running = tokio::spawn(worker.run());
    while !matches!(events.recv().await.unwrap(), SchedulerEvent::Pass { .. }) {}
    clock.advance(Duration::from_secs(60));
    while !matches!(
        events.recv().await.unwrap(),
        SchedulerEvent::Enqueued { .. }
    ) {}
    handle.stop();
    running.await.unwrap().unwrap();
    assert_eq!(
        ticks(&backend, "scheduled").await,
        vec![t("2026-01-01T00:01:00Z")]
    );
}

/// When a schedule's timing changes between deployments, its stored next run (from the old
/// timing) does not hold back the new one; a disabled schedule stays disabled.
#[tokio::test]
async fn a_changed_timing_starts_over_keeping_the_enabled_flag() {
    let backend = MemoryBackend::new();
    let clock = Arc::new(ManualClock::new(t("2026-01-01T00:00:30Z")));
    let yearly = Schedule::new("report")
        .cron("0 0 1 1 *")
        .job("Ping", vec![]);
    let old = scheduler(&backend, &clock, vec![yearly]);
    old.tick().await.unwrap();
    drop(old);

    let hourly = || Schedule::new("report").hourly_at(0).job("Ping", vec![]);
    let new = scheduler(&backend, &clock, vec![hourly()]);
    new.tick().await.unwrap();
    let store = backend.schedules().unwrap();
    let record = store
        .schedule_get(ScheduleGetParams::new("report"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(record.next_run, Some(t("2026-01-01T01:00:00Z")));
    assert_eq!(record.description, "cron 0 * * * * (UTC)");
    clock.set(t("2026-01-01T01:00:01Z"));
    assert_eq!(new.tick().await.unwrap().enqueued.len(), 1);

    store
        .schedule_set_enabled(EnableParams::new("report", false))
        .await
        .unwrap();
    drop(new);
    let daily = Schedule::new("report").daily_at(3, 0).job("Ping", vec![]);
    scheduler(&backend, &clock, vec![daily])
        .tick()
        .await
        .unwrap();
    let record = store
        .schedule_get(ScheduleGetParams::new("report"))
        .await
        .unwrap()
        .unwrap();
    assert!(!record.enabled, "still disabled after the timing changed");
    assert_eq!(record.next_run, Some(t("2026-01-01T03:00:00Z")));
}

/// Counts the warnings about orphaned schedules.
#[derive(Clone, Default)]
struct OrphanWarnings(Arc<std::sync::atomic::AtomicUsize>);

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for OrphanWarnings {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        struct Message(bool);
        impl tracing::field::Visit for Message {
            fn record_debug(&mut self, f: &tracing::field::Field, v: &dyn std::fmt::Debug) {
                if f.name() == "message" && format!("{v:?}").contains("declared nowhere") {
                    self.0 = true;
                }
            }
        }
        let mut m = Message(false);
        event.record(&mut m);
        if m.0 && *event.metadata().level() == tracing::Level::WARN {
            self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    }
}

/// An orphaned record is reported by every pass (report and event) but logged once per
/// process, not once a second.
#[tokio::test]
async fn an_orphan_is_logged_once_per_process_and_reported_every_pass() {
    use tracing_subscriber::layer::SubscriberExt;
    let warnings = OrphanWarnings::default();
    let _guard =
        tracing::subscriber::set_default(tracing_subscriber::registry().with(warnings.clone()));
    let backend = MemoryBackend::new();
    let clock = Arc::new(ManualClock::new(t("2026-01-01T00:00:30Z")));
    scheduler(&backend, &clock, vec![minutely()])
        .tick()
        .await
        .unwrap();

    let s = scheduler(&backend, &clock, vec![]);
    for _ in 0..3 {
        clock.advance(Duration::from_secs(60));
        let report = s.tick().await.unwrap();
        assert_eq!(report.orphaned, vec!["minutely".to_owned()]);
    }
    assert_eq!(warnings.0.load(std::sync::atomic::Ordering::SeqCst), 1);
    // Another process (another scheduler) logs it once too.
    scheduler(&backend, &clock, vec![]).tick().await.unwrap();
    assert_eq!(warnings.0.load(std::sync::atomic::Ordering::SeqCst), 2);
}
