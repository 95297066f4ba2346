//! Failures the worker records and retries: panics, unknown jobs, bad arguments, timeouts.

mod common;

use std::time::Duration;

use common::{Events, Oops};
use jobs::backend::{AdminBackend, JobSet};
use jobs::envelope::{to_epoch, JobEnvelope};
use jobs::prelude::*;

#[jobs::job(queue = "panics")]
async fn panicky_job(events: State<Events>, n: u32) -> Result<(), Oops> {
    if n == 1 {
        panic!("boom on job {n}");
    }
    events.send(format!("performed {n}"));
    Ok(())
}

#[jobs::job(queue = "typed")]
async fn typed_args_job(user_id: u64, locale: String) -> Result<(), Oops> {
    let _ = (user_id, locale);
    Ok(())
}

/// Reports when the job's future is dropped.
struct DropSignal(Events);

impl Drop for DropSignal {
    fn drop(&mut self) {
        self.0.send("dropped");
    }
}

#[jobs::job(queue = "slow", timeout = "50ms")]
async fn too_slow_job(events: State<Events>) -> Result<(), Oops> {
    let _signal = DropSignal(events.0.clone());
    tokio::time::sleep(Duration::from_secs(30)).await;
    events.send("finished");
    Ok(())
}

#[jobs::job(queue = "quiet_errors", backtrace = false)]
async fn no_chain_job() -> Result<(), MailError> {
    Err(MailError {
        to: "bob@example.com".into(),
        source: std::io::Error::other("mailbox full"),
    })
}

#[derive(Debug, thiserror::Error)]
#[error("could not deliver mail to {to}")]
struct MailError {
    to: String,
    #[source]
    source: std::io::Error,
}

#[jobs::job(queue = "mail")]
async fn failing_mail_job(to: String) -> Result<(), MailError> {
    Err(MailError {
        to,
        source: std::io::Error::new(
            std::io::ErrorKind::ConnectionRefused,
            "smtp refused the connection",
        ),
    })
}

#[tokio::test]
async fn a_panicking_job_fails_like_an_error_and_the_worker_keeps_running() {
    let backend = common::backend();
    let client = Client::new(backend.clone());
    let clock = common::clock();
    let (events, mut rx) = common::events();
    let worker = common::worker(&backend)
        .queues(["panics"])
        .concurrency(1)
        .clock(clock.clone())
        .registry(jobs::Registry::new().with::<PanickyJob>().unwrap())
        .state(events)
        .build()
        .unwrap();
    let running = common::spawn(worker);
    let jid = PanickyJob::set()
        .client(&client)
        .perform_later(1)
        .await
        .unwrap();
    for n in 2..5 {
        PanickyJob::set()
            .client(&client)
            .perform_later(n)
            .await
            .unwrap();
    }
    for n in 2..5 {
        assert_eq!(common::next(&mut rx).await, format!("performed {n}"));
    }
    let failed = common::the_one(&backend, JobSet::Retry).await;
    assert_eq!(failed.job.jid, jid);
    assert_eq!(failed.job.error_class.as_deref(), Some("panic"));
    let message = failed.job.error_message.unwrap();
    assert!(message.contains("boom on job 1"), "{message}");
    assert!(message.contains("PanickyJob"), "{message}");
    assert_eq!(failed.job.retry_count, Some(0));
    let stats = backend.stats().await.unwrap();
    assert_eq!((stats.processed, stats.failed), (4, 1));
    running.stop().await;
}

#[tokio::test]
async fn an_unknown_job_goes_to_the_retry_set_naming_it_and_the_registered_jobs() {
    let backend = common::backend();
    let client = Client::new(backend.clone());
    let worker = common::worker(&backend)
        .queues(["typed"])
        .registry(
            jobs::Registry::new()
                .with::<TypedArgsJob>()
                .unwrap()
                .with::<NoChainJob>()
                .unwrap(),
        )
        .build()
        .unwrap();
    let running = common::spawn(worker);
    let raw = JobEnvelope::new("NoSuchJobAnywhere", "typed", vec![7.into()]);
    let jid = client.push(vec![raw]).await.unwrap().remove(0);
    let failed = common::the_one(&backend, JobSet::Retry).await;
    running.stop().await;
    assert_eq!(failed.job.jid, jid);
    assert_eq!(
        failed.job.args,
        vec![serde_json::json!(7)],
        "kept as it arrived"
    );
    let message = failed.job.error_message.unwrap();
    assert!(message.contains("NoSuchJobAnywhere"), "{message}");
    assert!(
        message.contains("registered: NoChainJob, TypedArgsJob"),
        "{message}"
    );
    assert_eq!(failed.job.error_class.as_deref(), Some("jobs::UnknownJob"));
}

#[tokio::test]
async fn arguments_that_do_not_fit_go_to_the_retry_set_naming_argument_type_and_value() {
    let backend = common::backend();
    let client = Client::new(backend.clone());
    let worker = common::worker(&backend)
        .queues(["typed"])
        .registry(jobs::Registry::new().with::<TypedArgsJob>().unwrap())
        .build()
        .unwrap();
    let running = common::spawn(worker);
    let raw = JobEnvelope::new(
        "TypedArgsJob",
        "typed",
        vec!["forty-two".into(), "en".into()],
    );
    client.push(vec![raw]).await.unwrap();
    let failed = common::the_one(&backend, JobSet::Retry).await;
    let message = failed.job.error_message.unwrap();
    assert!(message.contains("TypedArgsJob"), "{message}");
    assert!(message.contains("`user_id: u64`"), "{message}");
    assert!(message.contains("\"forty-two\""), "{message}");
    assert_eq!(failed.job.error_class.as_deref(), Some("jobs::ArgsError"));

    // A wrong number of arguments names the signature and what arrived.
    backend.clear_all().await.unwrap();
    let raw = JobEnvelope::new("TypedArgsJob", "typed", vec![1.into()]);
    client.push(vec![raw]).await.unwrap();
    let failed = common::the_one(&backend, JobSet::Retry).await;
    running.stop().await;
    let message = failed.job.error_message.unwrap();
    assert!(
        message.contains("user_id: u64, locale: String"),
        "{message}"
    );
    assert!(message.contains("got 1"), "{message}");
}

#[tokio::test]
async fn a_job_over_its_timeout_fails_saying_so() {
    let backend = common::backend();
    let client = Client::new(backend.clone());
    let (events, mut rx) = common::events();
    let worker = common::worker(&backend)
        .queues(["slow"])
        .registry(jobs::Registry::new().with::<TooSlowJob>().unwrap())
        .state(events)
        .build()
        .unwrap();
    let running = common::spawn(worker);
    TooSlowJob::set()
        .client(&client)
        .perform_later()
        .await
        .unwrap();
    assert_eq!(
        common::next(&mut rx).await,
        "dropped",
        "the job is cancelled"
    );
    let failed = common::the_one(&backend, JobSet::Retry).await;
    running.stop().await;
    let message = failed.job.error_message.unwrap();
    assert!(message.contains("timed out after 50ms"), "{message}");
    assert_eq!(failed.job.error_class.as_deref(), Some("jobs::Timeout"));
}

#[tokio::test]
async fn a_failed_job_records_class_chain_times_and_count_and_keeps_unknown_fields() {
    let backend = common::backend();
    let clock = common::clock();
    let client = common::client(&backend, &clock);
    let worker = common::worker(&backend)
        .queues(["mail"])
        .clock(clock.clone())
        .registry(jobs::Registry::new().with::<FailingMailJob>().unwrap())
        .build()
        .unwrap();
    let running = common::spawn(worker);
    let mut raw = client
        .envelope(
            &FailingMailJob::new("ann@example.com".into()),
            &Default::default(),
        )
        .unwrap();
    raw.extra.insert("tenant".into(), "acme".into());
    let jid = client.push(vec![raw]).await.unwrap().remove(0);

    let first = common::the_one(&backend, JobSet::Retry).await;
    let job = &first.job;
    assert_eq!(job.jid, jid);
    assert_eq!(
        job.error_class.as_deref(),
        Some(std::any::type_name::<MailError>())
    );
    assert_eq!(
        job.error_message.as_deref(),
        Some("could not deliver mail to ann@example.com: smtp refused the connection")
    );
    assert_eq!(job.failed_at, Some(to_epoch(common::start())));
    assert_eq!(job.retried_at, None);
    assert_eq!(job.retry_count, Some(0));
    assert_eq!(
        job.error_backtrace,
        Some(serde_json::json!([
            "could not deliver mail to ann@example.com",
            "smtp refused the connection"
        ]))
    );
    assert_eq!(job.extra.get("tenant"), Some(&serde_json::json!("acme")));

    // The retry fails again: retried_at moves, failed_at stays, the count goes up.
    let due = first.at.unwrap();
    clock.set(due + jobs::chrono::Duration::seconds(1));
    let second = common::eventually("the second failure", || async {
        let jobs = common::list(&backend, JobSet::Retry).await;
        jobs.into_iter().find(|s| s.job.retry_count == Some(1))
    })
    .await;
    running.stop().await;
    let job = second.job;
    assert_eq!(job.jid, jid);
    assert_eq!(job.failed_at, Some(to_epoch(common::start())));
    assert_eq!(
        job.retried_at,
        Some(to_epoch(due + jobs::chrono::Duration::seconds(1)))
    );
    assert_eq!(job.extra.get("tenant"), Some(&serde_json::json!("acme")));
    let stats = backend.stats().await.unwrap();
    assert_eq!(stats.failed, 2);
}

#[tokio::test]
async fn backtrace_false_stores_class_and_message_but_no_chain() {
    let backend = common::backend();
    let client = Client::new(backend.clone());
    let worker = common::worker(&backend)
        .queues(["quiet_errors"])
        .registry(jobs::Registry::new().with::<NoChainJob>().unwrap())
        .build()
        .unwrap();
    let running = common::spawn(worker);
    NoChainJob::set()
        .client(&client)
        .perform_later()
        .await
        .unwrap();
    let failed = common::the_one(&backend, JobSet::Retry).await;
    running.stop().await;
    assert_eq!(
        failed.job.error_message.as_deref(),
        Some("could not deliver mail to bob@example.com: mailbox full")
    );
    assert_eq!(failed.job.error_backtrace, None);
}
