//! The Prometheus counters and durations of runs (`prometheus` and `health-http`
//! features): known jobs on the memory backend give exact counts per labelled series and no
//! job id in the scrape; each way a job ends has its outcome label; rescues and shutdown
//! requeues are counted. One recorder per process, so every test installs the same one and
//! uses queues of its own. Run with `cargo test -p jobs --features prometheus,health-http
//! --test worker_prometheus`. The gauges are in `prometheus_gauges.rs`.

mod common;
mod prom;

use std::time::Duration;

use common::{Events, Oops};
use jobs::prelude::*;
use prom::{assert_series, handle, value};

#[jobs::job(queue = "p_run")]
async fn prom_ok(n: u32, events: State<Events>) -> Result<(), Oops> {
    events.send(format!("ok {n}"));
    Ok(())
}

#[jobs::job(queue = "p_run", retry = 3)]
async fn prom_flaky(events: State<Events>) -> Result<(), Oops> {
    events.send("flaky");
    Err(Oops("flaky fails".into()))
}

#[jobs::job(queue = "p_run", retry = 0)]
async fn prom_doomed(events: State<Events>) -> Result<(), Oops> {
    events.send("doomed");
    Err(Oops("doomed dies".into()))
}

#[jobs::job(queue = "p_other", retry = false)]
async fn prom_dropped() -> Result<(), Oops> {
    Err(Oops("dropped".into()))
}

#[jobs::job(queue = "p_other")]
async fn prom_discard() -> Result<Outcome, Oops> {
    Ok(Outcome::discard("not needed"))
}

#[jobs::job(queue = "p_other")]
async fn prom_snooze() -> Result<Outcome, Oops> {
    Ok(Outcome::snooze(Duration::from_secs(60)))
}

#[jobs::job(queue = "p_other", expires_in = "1s")]
async fn prom_expiring() -> Result<(), Oops> {
    Ok(())
}

#[jobs::job(queue = "p_rescue")]
async fn prom_rescued() -> Result<(), Oops> {
    Ok(())
}

#[jobs::job(queue = "p_stuck")]
async fn prom_stuck(events: State<Events>, gate: State<common::Gate>) -> Result<(), Oops> {
    events.send("stuck");
    gate.pass().await;
    Ok(())
}

#[tokio::test]
async fn three_successes_a_retry_and_a_death_give_exact_counts_and_no_jid() {
    let scrape_handle = handle();
    let backend = common::backend();
    let clock = common::clock();
    let client = common::client(&backend, &clock);
    let (events, mut rx) = common::events();
    let mut jids = Vec::new();
    for n in 0..3 {
        let e = PromOk::set().client(&client).perform_later(n).await;
        jids.push(e.unwrap().into_jid());
    }
    jids.push(
        (PromFlaky::set().client(&client).perform_later().await)
            .unwrap()
            .into_jid(),
    );
    jids.push(
        (PromDoomed::set().client(&client).perform_later().await)
            .unwrap()
            .into_jid(),
    );
    let running = common::spawn(
        common::worker(&backend)
            .queues(["p_run"])
            .clock(clock.clone())
            .registry(
                jobs::Registry::new()
                    .with::<PromOk>()
                    .and_then(|r| r.with::<PromFlaky>())
                    .and_then(|r| r.with::<PromDoomed>())
                    .unwrap(),
            )
            .state(events)
            .build()
            .unwrap(),
    );
    let mut seen = Vec::new();
    for _ in 0..5 {
        seen.push(common::next(&mut rx).await);
    }
    seen.sort();
    assert_eq!(seen, ["doomed", "flaky", "ok 0", "ok 1", "ok 2"]);
    // The outcomes are counted before they are stored, so five stored means five counted.
    common::processed(&backend, 5).await;
    running.stop().await;

    let scrape = scrape_handle.render();
    let ex = "jobs_executions_total";
    let run = |job: &'static str, outcome: &'static str| {
        [("queue", "p_run"), ("job", job), ("outcome", outcome)]
    };
    assert_series(&scrape, ex, &run("PromOk", "success"), 3.0);
    assert_series(&scrape, ex, &run("PromFlaky", "retry"), 1.0);
    assert_series(&scrape, ex, &run("PromDoomed", "dead"), 1.0);
    for (job, outcome) in [
        ("PromOk", "retry"),
        ("PromOk", "dead"),
        ("PromFlaky", "success"),
        ("PromFlaky", "dead"),
        ("PromDoomed", "success"),
        ("PromDoomed", "retry"),
    ] {
        assert_eq!(
            value(&scrape, ex, &run(job, outcome)),
            None,
            "{job} {outcome}"
        );
    }
    let of = |job: &'static str| [("queue", "p_run"), ("job", job)];
    assert_series(&scrape, "jobs_retries_total", &of("PromFlaky"), 1.0);
    assert_series(&scrape, "jobs_dead_total", &of("PromDoomed"), 1.0);
    assert_eq!(
        value(&scrape, "jobs_retries_total", &of("PromDoomed")),
        None
    );
    assert_eq!(value(&scrape, "jobs_dead_total", &of("PromFlaky")), None);
    assert_series(&scrape, "jobs_enqueued_total", &of("PromOk"), 3.0);
    assert_series(&scrape, "jobs_enqueued_total", &of("PromFlaky"), 1.0);
    assert_series(&scrape, "jobs_enqueued_total", &of("PromDoomed"), 1.0);
    let count = "jobs_execution_duration_seconds_count";
    assert_series(&scrape, count, &of("PromOk"), 3.0);
    assert_series(&scrape, count, &of("PromFlaky"), 1.0);
    assert_series(&scrape, count, &of("PromDoomed"), 1.0);
    // A true histogram (buckets), not a summary.
    let le = [("queue", "p_run"), ("job", "PromOk"), ("le", "+Inf")];
    assert_series(&scrape, "jobs_execution_duration_seconds_bucket", &le, 3.0);
    // Described, with help text.
    assert!(scrape.contains("# HELP jobs_executions_total "), "{scrape}");
    assert!(
        scrape.contains("# TYPE jobs_executions_total counter"),
        "{scrape}"
    );
    for jid in &jids {
        assert!(!scrape.contains(jid.as_str()), "jid {jid} in the scrape");
    }
}

#[tokio::test]
async fn failure_discard_snooze_and_expiry_have_their_outcome_labels() {
    let scrape_handle = handle();
    let backend = common::backend();
    let clock = common::clock();
    let client = common::client(&backend, &clock);
    PromExpiring::set()
        .client(&client)
        .perform_later()
        .await
        .unwrap();
    // Past its expiry before any worker sees it.
    clock.advance(Duration::from_secs(2));
    PromDropped::set()
        .client(&client)
        .perform_later()
        .await
        .unwrap();
    PromDiscard::set()
        .client(&client)
        .perform_later()
        .await
        .unwrap();
    PromSnooze::set()
        .client(&client)
        .perform_later()
        .await
        .unwrap();
    let running = common::spawn(
        common::worker(&backend)
            .queues(["p_other"])
            .clock(clock.clone())
            .registry(
                jobs::Registry::new()
                    .with::<PromDropped>()
                    .and_then(|r| r.with::<PromDiscard>())
                    .and_then(|r| r.with::<PromSnooze>())
                    .and_then(|r| r.with::<PromExpiring>())
                    .unwrap(),
            )
            .build()
            .unwrap(),
    );
    let ex = "jobs_executions_total";
    let run = |job: &'static str, outcome: &'static str| {
        [("queue", "p_other"), ("job", job), ("outcome", outcome)]
    };
    let expected = [
        ("PromDropped", "failure"),
        ("PromDiscard", "discarded"),
        ("PromSnooze", "snoozed"),
        ("PromExpiring", "expired"),
    ];
    let scrape = common::eventually("four outcomes counted", || async {
        let scrape = scrape_handle.render();
        (expected.iter())
            .all(|(job, outcome)| value(&scrape, ex, &run(job, outcome)).is_some())
            .then_some(scrape)
    })
    .await;
    running.stop().await;
    for (job, outcome) in expected {
        assert_series(&scrape, ex, &run(job, outcome), 1.0);
    }
    // Failed and dropped: neither a retry nor a death.
    let of = |job: &'static str| [("queue", "p_other"), ("job", job)];
    assert_eq!(
        value(&scrape, "jobs_retries_total", &of("PromDropped")),
        None
    );
    assert_eq!(value(&scrape, "jobs_dead_total", &of("PromDropped")), None);
    // An expired job never ran, so it has no duration; the others do.
    let count = "jobs_execution_duration_seconds_count";
    assert_eq!(value(&scrape, count, &of("PromExpiring")), None);
    assert_series(&scrape, count, &of("PromDropped"), 1.0);
    assert_series(&scrape, count, &of("PromSnooze"), 1.0);
}

#[tokio::test]
async fn a_job_rescued_from_a_silent_process_is_counted_then_runs() {
    use jobs::backend::{Backend, ReserveParams};
    let scrape_handle = handle();
    let backend = common::backend();
    let client = Client::new(backend.clone());
    PromRescued::set()
        .client(&client)
        .perform_later()
        .await
        .unwrap();
    // A process leased it an hour ago and went silent.
    let past = jobs::chrono::Utc::now() - jobs::chrono::Duration::hours(1);
    let lease = ReserveParams::new(vec!["p_rescue".into()], "ghost", past)
        .lease_ttl(Duration::from_secs(1));
    assert_eq!(backend.job_reserve(lease).await.unwrap().len(), 1);
    let running = common::spawn(
        common::worker(&backend)
            .queues(["p_rescue"])
            .registry(jobs::Registry::new().with::<PromRescued>().unwrap())
            .build()
            .unwrap(),
    );
    common::processed(&backend, 1).await;
    running.stop().await;
    let scrape = scrape_handle.render();
    // The only rescue of this test binary: the counter has no labels to tell tests apart.
    assert_series(&scrape, "jobs_rescued_total", &[], 1.0);
    let series = [
        ("queue", "p_rescue"),
        ("job", "PromRescued"),
        ("outcome", "success"),
    ];
    assert_series(&scrape, "jobs_executions_total", &series, 1.0);
}

#[tokio::test]
async fn a_job_cut_short_by_a_shutdown_is_counted_requeued_without_a_duration() {
    let scrape_handle = handle();
    let backend = common::backend();
    let client = Client::new(backend.clone());
    let (events, mut rx) = common::events();
    let running = common::spawn(
        common::worker(&backend)
            .queues(["p_stuck"])
            .shutdown_timeout(Duration::from_millis(50))
            .registry(jobs::Registry::new().with::<PromStuck>().unwrap())
            .state(events)
            .state(common::Gate::new())
            .build()
            .unwrap(),
    );
    PromStuck::set()
        .client(&client)
        .perform_later()
        .await
        .unwrap();
    assert_eq!(common::next(&mut rx).await, "stuck");
    // The gate never opens: the shutdown timeout passes and the job goes back.
    running.stop().await;
    assert_eq!(common::queue_size(&backend, "p_stuck").await, 1);
    let scrape = scrape_handle.render();
    let series = [
        ("queue", "p_stuck"),
        ("job", "PromStuck"),
        ("outcome", "requeued"),
    ];
    assert_series(&scrape, "jobs_executions_total", &series, 1.0);
    let of = [("queue", "p_stuck"), ("job", "PromStuck")];
    let count = "jobs_execution_duration_seconds_count";
    assert_eq!(value(&scrape, count, &of), None);
}
