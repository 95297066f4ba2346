//! The worker as a process: heartbeat record, refusing to build without states, enqueue from jobs.

mod common;

use common::{Events, Gate, Oops};
use jobs::backend::{AdminBackend, JobSet};
use jobs::prelude::*;
use jobs::worker::BuildError;

#[jobs::job(queue = "p_busy")]
async fn busy_job(gate: State<Gate>, events: State<Events>, n: u32) -> Result<(), Oops> {
    events.send(format!("start {n}"));
    gate.pass().await;
    Ok(())
}

/// A state no worker in this file is given.
#[derive(Clone)]
struct SmtpPool;

#[jobs::job(queue = "p_needs")]
async fn needs_smtp(pool: State<SmtpPool>) -> Result<(), Oops> {
    let _ = pool;
    Ok(())
}

#[jobs::job(queue = "p_parent")]
async fn parent_job(order_id: u64) -> Result<(), jobs::EnqueueError> {
    ChildJob::perform_later(order_id * 10).await?;
    Ok(())
}

#[jobs::job(queue = "p_child")]
async fn child_job(events: State<Events>, value: u64) -> Result<(), Oops> {
    events.send(format!("child {value}"));
    Ok(())
}

#[tokio::test]
async fn the_heartbeat_lists_the_process_and_its_running_job_until_it_stops() {
    let backend = common::backend();
    let client = Client::new(backend.clone());
    let (events, mut rx) = common::events();
    let gate = Gate::new();
    let worker = common::worker(&backend)
        .queues(["p_busy", "p_other"])
        .concurrency(3)
        .tag("billing")
        .registry(jobs::Registry::new().with::<BusyJob>().unwrap())
        .state(gate.clone())
        .state(events)
        .build()
        .unwrap();
    let running = common::spawn(worker);
    let jid = BusyJob::set()
        .client(&client)
        .perform_later(1)
        .await
        .unwrap();
    assert_eq!(common::next(&mut rx).await, "start 1");

    let id = running.id.clone();
    let record = common::eventually("the process with its running job", || async {
        let procs = backend.process_list().await.unwrap();
        procs
            .into_iter()
            .find(|p| p.info.id == id && p.running.iter().any(|r| r.job.jid == jid))
    })
    .await;
    assert!(!record.info.hostname.is_empty());
    assert!(record.info.id.starts_with(&format!(
        "{}:{}:",
        record.info.hostname,
        std::process::id()
    )));
    assert_eq!(record.info.pid, std::process::id());
    assert_eq!(record.info.queues, ["p_busy", "p_other"]);
    assert_eq!(record.info.concurrency, 3);
    assert_eq!(record.info.tag.as_deref(), Some("billing"));
    assert!(!record.quiet);
    assert_eq!(record.running.len(), 1);
    assert_eq!(record.running[0].job.class, "BusyJob");

    gate.open(1);
    common::eventually("the running list to empty", || async {
        let procs = backend.process_list().await.unwrap();
        procs
            .iter()
            .any(|p| p.info.id == id && p.running.is_empty())
            .then_some(())
    })
    .await;
    running.stop().await;
    assert!(
        backend.process_list().await.unwrap().is_empty(),
        "removed after stop"
    );
}

#[tokio::test]
async fn a_worker_missing_a_state_refuses_to_build_naming_the_job_and_the_type() {
    let backend = common::backend();
    let result = common::worker(&backend)
        .queues(["p_needs"])
        .registry(jobs::Registry::new().with::<NeedsSmtp>().unwrap())
        .build();
    let Err(err) = result else {
        panic!("a worker without State<SmtpPool> was built");
    };
    assert!(matches!(err, BuildError::MissingState { .. }), "{err:?}");
    let text = err.to_string();
    assert!(text.contains("NeedsSmtp"), "{text}");
    assert!(text.contains("SmtpPool"), "{text}");

    // Given the state, it builds.
    let built = common::worker(&backend)
        .queues(["p_needs"])
        .registry(jobs::Registry::new().with::<NeedsSmtp>().unwrap())
        .state(SmtpPool)
        .build();
    assert!(built.is_ok());
}

#[tokio::test]
async fn the_default_registry_checks_states_of_every_job_in_the_program() {
    let backend = common::backend();
    let (events, _rx) = common::events();
    let err = common::worker(&backend)
        .state(events)
        .state(Gate::new())
        .build()
        .err();
    let text = err.map(|e| e.to_string()).unwrap_or_default();
    assert!(
        text.contains("NeedsSmtp") && text.contains("SmtpPool"),
        "{text}"
    );
}

#[tokio::test]
async fn a_job_enqueuing_a_job_lands_on_the_workers_backend_and_is_performed() {
    let backend = common::backend();
    let client = Client::new(backend.clone());
    let (events, mut rx) = common::events();
    let worker = common::worker(&backend)
        .queues(["p_parent", "p_child"])
        .registry(
            jobs::Registry::new()
                .with::<ParentJob>()
                .unwrap()
                .with::<ChildJob>()
                .unwrap(),
        )
        .state(events)
        .build()
        .unwrap();
    let running = common::spawn(worker);
    ParentJob::set()
        .client(&client)
        .perform_later(4)
        .await
        .unwrap();
    assert_eq!(common::next(&mut rx).await, "child 40");
    let stats = common::processed(&backend, 2).await;
    running.stop().await;
    assert_eq!(stats.failed, 0);
    assert!(common::list(&backend, JobSet::Retry).await.is_empty());
}

#[tokio::test]
async fn outside_a_worker_perform_later_without_a_client_fails_with_no_client() {
    // The parent's enqueue above worked because the worker scoped its client to the job:
    // this binary sets no default client, so the same call outside a worker fails.
    if std::env::var(jobs::JOBS_URL).is_ok() {
        eprintln!("skipped: JOBS_URL is set in the environment");
        return;
    }
    let err = ChildJob::perform_later(1).await.unwrap_err();
    assert!(matches!(err, jobs::EnqueueError::NoClient), "{err:?}");
}

#[tokio::test]
async fn a_worker_without_queues_or_concurrency_refuses_to_build() {
    let backend = common::backend();
    let registry = || jobs::Registry::new().with::<ChildJob>().unwrap();
    let (events, _rx) = common::events();
    let none: [&str; 0] = [];
    let err = common::worker(&backend)
        .queues(none)
        .registry(registry())
        .state(events.clone())
        .build()
        .err();
    assert!(matches!(err, Some(BuildError::NoQueues)), "{err:?}");
    let err = common::worker(&backend)
        .concurrency(0)
        .registry(registry())
        .state(events)
        .build()
        .err();
    assert!(matches!(err, Some(BuildError::ZeroConcurrency)), "{err:?}");
}

#[tokio::test]
async fn a_scheduled_job_runs_when_the_workers_clock_reaches_its_time_and_not_before() {
    let backend = common::backend();
    let clock = common::clock();
    let client = common::client(&backend, &clock);
    let (events, mut rx) = common::events();
    let running = common::spawn(
        common::worker(&backend)
            .queues(["p_child"])
            .clock(clock.clone())
            .registry(jobs::Registry::new().with::<ChildJob>().unwrap())
            .state(events)
            .build()
            .unwrap(),
    );
    let in_an_hour = std::time::Duration::from_secs(3600);
    ChildJob::set()
        .client(&client)
        .perform_in(in_an_hour, 1)
        .await
        .unwrap();
    common::the_one(&backend, JobSet::Scheduled).await;
    clock.advance(in_an_hour - std::time::Duration::from_secs(1));
    common::assert_no_event(&mut rx).await;
    clock.advance(std::time::Duration::from_secs(1));
    assert_eq!(common::next(&mut rx).await, "child 1");
    running.stop().await;
    assert!(common::list(&backend, JobSet::Scheduled).await.is_empty());
}

struct Tenant;

impl jobs::ClientMiddleware for Tenant {
    fn before_push(&self, job: &mut jobs::envelope::JobEnvelope) -> Result<(), String> {
        job.extra.insert("tenant".into(), "acme".into());
        Ok(())
    }
}

#[tokio::test]
async fn jobs_enqueued_by_jobs_go_through_the_client_given_to_the_worker() {
    let backend = common::backend();
    let app_client = Client::builder(backend.clone()).middleware(Tenant).build();
    let (events, mut rx) = common::events();
    let worker = common::worker(&backend)
        .queues(["p_parent"])
        .client(app_client.clone())
        .registry(
            jobs::Registry::new()
                .with::<ParentJob>()
                .unwrap()
                .with::<ChildJob>()
                .unwrap(),
        )
        .state(events)
        .build()
        .unwrap();
    let running = common::spawn(worker);
    ParentJob::set()
        .client(&app_client)
        .perform_later(5)
        .await
        .unwrap();
    let child = common::eventually("the child job", || async {
        let mut queued = common::list(&backend, JobSet::Queue("p_child".into())).await;
        (queued.len() == 1).then(|| queued.remove(0))
    })
    .await;
    running.stop().await;
    assert_eq!(child.job.class, "ChildJob");
    assert_eq!(
        child.job.extra.get("tenant"),
        Some(&serde_json::json!("acme"))
    );
    common::assert_no_event(&mut rx).await;
}
