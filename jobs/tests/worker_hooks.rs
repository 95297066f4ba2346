//! What wraps each perform: server middleware, first added outermost, able to end a job.

mod common;

use std::sync::{Arc, Mutex};

use common::{Events, Oops};
use jobs::backend::JobSet;
use jobs::prelude::*;
use jobs::worker::{Next, ServerMiddleware};
use jobs::JobResult;

/// What happened, in order.
#[derive(Clone, Default)]
struct Log(Arc<Mutex<Vec<String>>>);

impl Log {
    fn push(&self, entry: impl Into<String>) {
        self.0.lock().unwrap().push(entry.into());
    }

    fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

#[jobs::job(queue = "h_logged")]
async fn logged_job(log: State<Log>, events: State<Events>, n: u32) -> Result<(), Oops> {
    log.push(format!("job {n}"));
    events.send(format!("performed {n}"));
    Ok(())
}

struct Named(&'static str, Log);

#[jobs::__private::async_trait]
impl ServerMiddleware for Named {
    async fn call(&self, ctx: JobContext, next: Next<'_>) -> JobResult {
        self.1.push(format!("{} before {}", self.0, ctx.class()));
        let result = next.run(ctx).await;
        self.1
            .push(format!("{} after ok={}", self.0, result.is_ok()));
        result
    }
}

/// Refuses jobs whose first argument is 13, without running them.
struct Superstitious;

#[jobs::__private::async_trait]
impl ServerMiddleware for Superstitious {
    async fn call(&self, ctx: JobContext, next: Next<'_>) -> JobResult {
        if ctx.envelope().args.first() == Some(&serde_json::json!(13)) {
            return Ok(Outcome::discard("unlucky"));
        }
        next.run(ctx).await
    }
}

#[tokio::test]
async fn server_middleware_runs_around_each_job_first_added_outermost() {
    let backend = common::backend();
    let client = Client::new(backend.clone());
    let (events, mut rx) = common::events();
    let log = Log::default();
    let running = common::spawn(
        common::worker(&backend)
            .queues(["h_logged"])
            .concurrency(1)
            .registry(jobs::Registry::new().with::<LoggedJob>().unwrap())
            .state(events)
            .state(log.clone())
            .middleware(Named("outer", log.clone()))
            .middleware(Named("inner", log.clone()))
            .middleware(Superstitious)
            .build()
            .unwrap(),
    );
    LoggedJob::set()
        .client(&client)
        .perform_later(1)
        .await
        .unwrap();
    assert_eq!(common::next(&mut rx).await, "performed 1");
    common::processed(&backend, 1).await;
    assert_eq!(
        log.take(),
        [
            "outer before LoggedJob",
            "inner before LoggedJob",
            "job 1",
            "inner after ok=true",
            "outer after ok=true",
        ]
    );

    // A middleware may end a job without running it.
    LoggedJob::set()
        .client(&client)
        .perform_later(13)
        .await
        .unwrap();
    let stats = common::processed(&backend, 2).await;
    running.stop().await;
    assert_eq!(stats.failed, 0);
    assert!(!log.take().contains(&"job 13".to_string()));
    assert!(common::list(&backend, JobSet::Retry).await.is_empty());
}
