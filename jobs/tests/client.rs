//! Enqueueing: the envelope each form stores, bulk in one round trip, refusals, middleware, perform_now.

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::Oops;
use jobs::backend::*;
use jobs::chrono::Duration as Span;
use jobs::envelope::{to_epoch, JobEnvelope, RetrySetting};
use jobs::memory::MemoryBackend;
use jobs::prelude::*;
use jobs::EnqueueError;

#[jobs::job(queue = "mailers", retry = 5)]
async fn send_welcome(user_id: u64, locale: String) -> Result<(), Oops> {
    let _ = (user_id, locale);
    Ok(())
}

#[jobs::job]
async fn charge(sku: String, amount: f64) -> Result<(), Oops> {
    let _ = (sku, amount);
    Ok(())
}

#[jobs::job]
async fn tally(counts: HashMap<u32, u32>) -> Result<(), Oops> {
    let _ = counts;
    Ok(())
}

/// What a greeting job is given by the client.
#[derive(Clone)]
struct Greeting(&'static str);

#[jobs::job]
async fn greet(greeting: State<Greeting>, name: String) -> Result<Outcome, Oops> {
    if name.is_empty() {
        return Err(Oops(format!("{}, nobody", greeting.0 .0)));
    }
    Ok(Outcome::discard(format!("{}, {name}", greeting.0 .0)))
}

/// A backend that records each push and forwards to memory.
#[derive(Clone, Default)]
struct Recording {
    inner: Arc<MemoryBackend>,
    pushes: Arc<Mutex<Vec<Vec<JobEnvelope>>>>,
}

#[jobs::__private::async_trait]
impl Backend for Recording {
    fn name(&self) -> &'static str {
        "recording"
    }
    async fn job_push(
        &self,
        params: PushParams,
    ) -> Result<jobs::backend::PushReport, BackendError> {
        self.pushes.lock().unwrap().push(params.jobs.clone());
        self.inner.job_push(params).await
    }
    async fn job_reserve(&self, params: ReserveParams) -> Result<Vec<Reserved>, BackendError> {
        self.inner.job_reserve(params).await
    }
    async fn job_finish(&self, params: FinishParams) -> Result<FinishReport, BackendError> {
        self.inner.job_finish(params).await
    }
    async fn job_requeue(&self, params: RequeueParams) -> Result<(), BackendError> {
        self.inner.job_requeue(params).await
    }
    async fn process_heartbeat(
        &self,
        params: HeartbeatParams,
    ) -> Result<HeartbeatReply, BackendError> {
        self.inner.process_heartbeat(params).await
    }
    async fn process_remove(&self, params: ProcessRemoveParams) -> Result<(), BackendError> {
        self.inner.process_remove(params).await
    }
    async fn scheduled_promote(&self, params: PromoteParams) -> Result<u64, BackendError> {
        self.inner.scheduled_promote(params).await
    }
    async fn lease_rescue(&self, params: RescueParams) -> Result<u64, BackendError> {
        self.inner.lease_rescue(params).await
    }

    async fn priority_age(&self, p: jobs::backend::AgeParams) -> Result<u64, BackendError> {
        self.inner.priority_age(p).await
    }

    async fn rate_acquire(
        &self,
        p: jobs::backend::RateAcquireParams,
    ) -> Result<jobs::backend::RateDecision, BackendError> {
        self.inner.rate_acquire(p).await
    }
}

impl Recording {
    fn pushes(&self) -> Vec<Vec<JobEnvelope>> {
        self.pushes.lock().unwrap().clone()
    }

    /// The one job pushed since the last call.
    fn last(&self) -> JobEnvelope {
        let mut pushes = std::mem::take(&mut *self.pushes.lock().unwrap());
        assert_eq!(pushes.len(), 1, "one push");
        let mut jobs = pushes.remove(0);
        assert_eq!(jobs.len(), 1, "one job");
        jobs.remove(0)
    }
}

fn is_jid(jid: &str) -> bool {
    jid.len() == 24
        && jid
            .chars()
            .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c))
}

fn recording_client() -> (Recording, Client, Arc<jobs::clock::ManualClock>) {
    let recording = Recording::default();
    let clock = common::clock();
    let client = Client::builder(Arc::new(recording.clone()))
        .clock(clock.clone())
        .build();
    (recording, client, clock)
}

#[tokio::test]
async fn perform_later_stores_the_jobs_defaults() {
    let (rec, client, _clock) = recording_client();
    let jid = SendWelcome::set()
        .client(&client)
        .perform_later(42, "en".into())
        .await
        .unwrap();
    let job = rec.last();
    assert!(is_jid(&jid), "{jid}");
    assert_eq!(job.jid, jid);
    assert_eq!(job.class, "SendWelcome");
    assert_eq!(
        job.args,
        vec![serde_json::json!(42), serde_json::json!("en")]
    );
    assert_eq!(job.queue, "mailers");
    assert_eq!(job.retry, RetrySetting::Count(5));
    assert_eq!(job.created_at, to_epoch(common::start()));
    assert_eq!(job.at, None);
    let queued = common::list(&rec.inner, JobSet::Queue("mailers".into())).await;
    assert_eq!(queued.len(), 1);
    assert_eq!(queued[0].job.jid, jid);
    assert_eq!(queued[0].job.enqueued_at, Some(to_epoch(common::start())));
}

#[tokio::test]
async fn perform_in_and_perform_at_schedule_the_job() {
    let (rec, client, _clock) = recording_client();
    let a = SendWelcome::set()
        .client(&client)
        .perform_in(Duration::from_secs(60), 1, "en".into())
        .await
        .unwrap();
    assert_eq!(
        rec.last().at,
        Some(to_epoch(common::start() + Span::seconds(60)))
    );
    let when = common::start() + Span::hours(3);
    let b = SendWelcome::set()
        .client(&client)
        .perform_at(when, 2, "fr".into())
        .await
        .unwrap();
    assert_eq!(rec.last().at, Some(to_epoch(when)));
    // A time in the past is simply enqueued.
    SendWelcome::set()
        .client(&client)
        .perform_at(common::start() - Span::hours(1), 3, "de".into())
        .await
        .unwrap();
    assert_eq!(rec.last().at, None);

    let scheduled = common::list(&rec.inner, JobSet::Scheduled).await;
    let got: Vec<_> = scheduled
        .iter()
        .map(|s| (s.job.jid.clone(), s.at))
        .collect();
    let (a, b) = (a.into_jid(), b.into_jid());
    assert_eq!(
        got,
        [
            (a, Some(common::start() + Span::seconds(60))),
            (b, Some(when))
        ]
    );
    assert_eq!(common::queue_size(&rec.inner, "mailers").await, 1);
}

#[tokio::test]
async fn set_overrides_queue_wait_and_retry_for_one_call() {
    let (rec, client, _clock) = recording_client();
    SendWelcome::set()
        .client(&client)
        .queue("critical")
        .wait(Duration::from_secs(5))
        .retry(3)
        .perform_later(7, "en".into())
        .await
        .unwrap();
    let job = rec.last();
    assert_eq!(job.queue, "critical");
    assert_eq!(job.at, Some(to_epoch(common::start() + Span::seconds(5))));
    assert_eq!(job.retry, RetrySetting::Count(3));
    SendWelcome::set()
        .client(&client)
        .retry(false)
        .dead(false)
        .perform_later(8, "en".into())
        .await
        .unwrap();
    let job = rec.last();
    assert_eq!(
        (job.retry, job.dead, job.queue.as_str()),
        (RetrySetting::Enabled(false), Some(false), "mailers")
    );
    let json = serde_json::to_value(&job).unwrap();
    assert_eq!(json["retry"], false, "Sidekiq's field shape");
}

#[tokio::test]
async fn perform_all_later_stores_every_job_in_one_round_trip() {
    let (rec, client, _clock) = recording_client();
    let jobs = (0..5).map(|n| SendWelcome::new(n, "en".into()));
    let jids = SendWelcome::set()
        .client(&client)
        .perform_all_later(jobs)
        .await
        .unwrap();
    assert_eq!(jids.len(), 5);
    let pushes = rec.pushes();
    assert_eq!(pushes.len(), 1, "one backend call");
    let pushed: Vec<_> = pushes[0].iter().map(|j| j.jid.clone()).collect();
    assert_eq!(pushed, jids);
    // Nothing to enqueue: no round trip at all.
    let none = SendWelcome::set()
        .client(&client)
        .perform_all_later(Vec::new())
        .await
        .unwrap();
    assert!(none.is_empty());
    assert_eq!(rec.pushes().len(), 1);
    let queued = common::list(&rec.inner, JobSet::Queue("mailers".into())).await;
    let args: Vec<_> = queued.iter().map(|s| s.job.args[0].clone()).collect();
    assert_eq!(
        args,
        (0..5).map(serde_json::Value::from).collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn enqueue_refuses_floats_json_would_turn_into_null_naming_the_argument() {
    let (rec, client, _clock) = recording_client();
    for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
        let err = Charge::set()
            .client(&client)
            .perform_later("sku-1".into(), bad)
            .await
            .unwrap_err();
        assert!(matches!(err, EnqueueError::Args(_)), "{err:?}");
        let text = err.to_string();
        assert!(
            text.contains("Charge") && text.contains("argument #2 `amount`"),
            "{text}"
        );
        assert!(text.contains("NaN") || text.contains("infinite"), "{text}");
    }
    // One bad job refuses the whole batch.
    let batch = vec![
        Charge::new("a".into(), 1.5),
        Charge::new("b".into(), f64::NAN),
    ];
    assert!(Charge::set()
        .client(&client)
        .perform_all_later(batch)
        .await
        .is_err());
    assert!(rec.pushes().is_empty(), "nothing stored");
    Charge::set()
        .client(&client)
        .perform_later("sku-1".into(), 9.99)
        .await
        .unwrap();
    assert_eq!(rec.last().args[1], serde_json::json!(9.99));
}

#[tokio::test]
async fn enqueue_refuses_maps_with_keys_that_are_not_strings() {
    let (rec, client, _clock) = recording_client();
    let counts: HashMap<u32, u32> = [(1, 2)].into();
    let err = Tally::set()
        .client(&client)
        .perform_later(counts)
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("Tally") && text.contains("`counts`"),
        "{text}"
    );
    assert!(text.contains("map key"), "{text}");
    assert!(rec.pushes().is_empty(), "nothing stored");
}

#[tokio::test]
async fn enqueue_refuses_payloads_over_the_limit() {
    let recording = Recording::default();
    let client = Client::builder(Arc::new(recording.clone()))
        .max_payload_bytes(1024)
        .build();
    let err = SendWelcome::set()
        .client(&client)
        .perform_later(1, "x".repeat(2000))
        .await
        .unwrap_err();
    match &err {
        EnqueueError::TooLarge { job, size, limit } => {
            assert_eq!((job.as_str(), *limit), ("SendWelcome", 1024));
            assert!(*size > 2000, "{size}");
        }
        other => panic!("expected TooLarge, got {other:?}"),
    }
    assert!(
        err.to_string().contains("over the limit of 1024 bytes"),
        "{err}"
    );
    assert!(recording.pushes().is_empty(), "nothing stored");
    SendWelcome::set()
        .client(&client)
        .perform_later(1, "en".into())
        .await
        .unwrap();
    assert_eq!(recording.pushes().len(), 1);
}

struct Tenant;

impl jobs::ClientMiddleware for Tenant {
    fn before_push(&self, job: &mut JobEnvelope) -> Result<(), String> {
        job.extra.insert("tenant".into(), "acme".into());
        Ok(())
    }
}

struct NoFrench;

impl jobs::ClientMiddleware for NoFrench {
    fn before_push(&self, job: &mut JobEnvelope) -> Result<(), String> {
        match job.args.get(1) {
            Some(v) if v == "fr" => Err("french mail is paused".into()),
            _ => Ok(()),
        }
    }
}

#[tokio::test]
async fn client_middleware_adds_fields_that_are_stored_or_refuses_the_job() {
    let backend = common::backend();
    let client = Client::builder(backend.clone())
        .middleware(Tenant)
        .middleware(NoFrench)
        .build();
    let jid = SendWelcome::set()
        .client(&client)
        .perform_later(1, "en".into())
        .await
        .unwrap();
    let queued = common::list(&backend, JobSet::Queue("mailers".into())).await;
    assert_eq!(queued[0].job.jid, jid);
    assert_eq!(
        queued[0].job.extra.get("tenant"),
        Some(&serde_json::json!("acme"))
    );

    let err = SendWelcome::set()
        .client(&client)
        .perform_later(2, "fr".into())
        .await
        .unwrap_err();
    match &err {
        EnqueueError::Refused { job, reason } => {
            assert_eq!(
                (job.as_str(), reason.as_str()),
                ("SendWelcome", "french mail is paused")
            );
        }
        other => panic!("expected Refused, got {other:?}"),
    }
    assert_eq!(
        common::queue_size(&backend, "mailers").await,
        1,
        "the refused job was not stored"
    );
}

#[tokio::test]
async fn without_any_client_enqueue_fails_saying_what_to_configure() {
    // This binary never sets a default client; the variable is removed in case CI sets it.
    std::env::remove_var(jobs::JOBS_URL);
    let err = SendWelcome::perform_later(1, "en".into())
        .await
        .unwrap_err();
    assert!(matches!(err, EnqueueError::NoClient), "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains("set_default_client") && text.contains("JOBS_URL"),
        "{text}"
    );
}

#[tokio::test]
async fn perform_now_runs_inline_with_the_current_clients_states() {
    let backend = common::backend();
    let client = Client::builder(backend.clone())
        .state(Greeting("hello"))
        .build();
    let outcome = client
        .scope(Greet::perform_now("ann".into()))
        .await
        .unwrap();
    assert_eq!(outcome, Outcome::discard("hello, ann"));
    let outcome = Greet::set()
        .client(&client)
        .perform_now("bob".into())
        .await
        .unwrap();
    assert_eq!(outcome, Outcome::discard("hello, bob"));
    // Errors come back as they are: no retry, nothing stored.
    let failure = client
        .scope(Greet::perform_now(String::new()))
        .await
        .unwrap_err();
    assert_eq!(failure.message, "hello, nobody");
    assert_eq!(backend.stats().await.unwrap(), Stats::default());

    // A client without the state: the failure names the job and the type.
    let bare = Client::new(backend.clone());
    let failure = bare
        .scope(Greet::perform_now("cy".into()))
        .await
        .unwrap_err();
    assert!(
        failure.message.contains("Greet") && failure.message.contains("Greeting"),
        "{failure}"
    );
}
