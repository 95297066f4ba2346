//! A first end-to-end check: a job enqueued on the in-memory backend is performed by a worker.

use std::sync::Arc;
use std::time::Duration;

use jobs::prelude::*;
use tokio::sync::mpsc;

#[derive(Debug, thiserror::Error)]
#[error("never")]
struct Never;

#[derive(Clone)]
struct Seen(mpsc::UnboundedSender<(u64, String)>);

#[jobs::job(queue = "mailers", retry = 5)]
async fn smoke_welcome(seen: State<Seen>, user_id: u64, locale: String) -> Result<(), Never> {
    let _ = seen.0 .0.send((user_id, locale));
    Ok(())
}

#[tokio::test]
async fn a_job_enqueued_is_performed_by_a_worker() {
    let backend = Arc::new(jobs::memory::MemoryBackend::new());
    let client = Client::new(backend.clone());
    let (tx, mut rx) = mpsc::unbounded_channel();
    let worker = Worker::builder(backend)
        .state(Seen(tx))
        .queues(["mailers"])
        .handle_signals(false)
        .build()
        .unwrap();
    let handle = worker.handle();
    let running = tokio::spawn(worker.run());
    SmokeWelcome::set()
        .client(&client)
        .perform_later(42, "en".into())
        .await
        .unwrap();
    let got = tokio::time::timeout(Duration::from_secs(5), rx.recv())
        .await
        .unwrap();
    assert_eq!(got, Some((42, "en".to_string())));
    handle.stop();
    running.await.unwrap().unwrap();
}
