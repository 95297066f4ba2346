//! With no client configured, `perform_later` uses the backend named by `JOBS_URL`.
//! (Its own binary: it sets the process environment.)

use std::sync::Arc;
use std::time::Duration;

use jobs::prelude::*;
use tokio::sync::mpsc;

#[derive(Debug, thiserror::Error)]
#[error("never")]
struct Never;

#[derive(Clone)]
struct Seen(mpsc::UnboundedSender<u64>);

#[jobs::job(queue = "from_env")]
async fn env_job(seen: State<Seen>, n: u64) -> Result<(), Never> {
    let _ = seen.0 .0.send(n);
    Ok(())
}

#[tokio::test]
async fn jobs_url_memory_is_the_default_backend_when_no_client_is_set() {
    // A URL naming no backend is an error naming the variable and the scheme; nothing sticks.
    std::env::set_var(jobs::JOBS_URL, "nosuch://somewhere");
    let err = EnvJob::perform_later(1).await.unwrap_err();
    assert!(matches!(err, jobs::EnqueueError::Connect(_)), "{err:?}");
    let text = err.to_string();
    assert!(
        text.starts_with("JOBS_URL: ") && text.contains("nosuch://"),
        "{text}"
    );

    std::env::set_var(jobs::JOBS_URL, "memory://");
    let jid = EnvJob::perform_later(7).await.unwrap();
    assert_eq!(jid.len(), 24);

    // The same client every time, on the memory backend.
    let client = Client::current().await.unwrap();
    let again = Client::current().await.unwrap();
    assert_eq!(client.backend().name(), "memory");
    assert!(Arc::ptr_eq(client.backend(), again.backend()));

    // The job is stored there: a worker on that backend performs it.
    let (tx, mut rx) = mpsc::unbounded_channel();
    let worker = Worker::builder(client.backend().clone())
        .queues(["from_env"])
        .handle_signals(false)
        .fetch_wait(Duration::from_millis(50))
        .poll_interval(Duration::from_millis(20))
        .registry(jobs::Registry::new().with::<EnvJob>().unwrap())
        .state(Seen(tx))
        .build()
        .unwrap();
    let handle = worker.handle();
    let running = tokio::spawn(worker.run());
    let got = tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .unwrap();
    assert_eq!(got, Some(7));
    handle.stop();
    running.await.unwrap().unwrap();
}
