//! Quickstart: enqueue a few jobs, run a worker, watch one retry, one wait and one die.
//!
//! `cargo run --example quickstart` (SQLite file `jobs.db`; set `JOBS_URL` for another, e.g.
//! `memory://` or `redis://127.0.0.1:6379/0`).

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use jobs::backend::JobGetParams;
use jobs::backend::JobSet;
use jobs::prelude::*;
use jobs::retry::Backoff;

#[derive(Debug, thiserror::Error)]
enum AppError {
    #[error("payment API unavailable (attempt {0})")]
    Unavailable(u32),
    #[error("card number {0} is not valid")]
    Invalid(String),
}

/// Counts calls to the flaky payment API, shared with the jobs as state.
#[derive(Clone, Default)]
struct PaymentApi {
    calls: Arc<AtomicU32>,
}

/// Sends a welcome email (here: prints it).
#[jobs::job(queue = "mailers")]
async fn send_welcome_email(user_id: u64, locale: String) -> Result<(), AppError> {
    println!("  -> welcome email to user {user_id} ({locale})");
    Ok(())
}

/// Charges a card through an API that fails on the first call; retried 300 ms later.
#[jobs::job(queue = "critical", retry = 3, backoff = Backoff::Constant(Duration::from_millis(300)))]
async fn charge_card(
    api: State<PaymentApi>,
    ctx: JobContext,
    order_id: u64,
) -> Result<(), AppError> {
    let call = api.calls.fetch_add(1, Ordering::SeqCst) + 1;
    if call == 1 {
        println!(
            "  -> charge order {order_id}: API down (attempt {})",
            ctx.attempt()
        );
        return Err(AppError::Unavailable(ctx.attempt()));
    }
    println!(
        "  -> charge order {order_id}: paid (attempt {})",
        ctx.attempt()
    );
    Ok(())
}

/// A poisoned job: it can never succeed, so after its one retry it lands in the dead set.
#[jobs::job(retry = 1, backoff = Backoff::Constant(Duration::from_millis(100)))]
async fn import_card(number: String) -> Result<(), AppError> {
    println!("  -> import card {number}: invalid");
    Err(AppError::Invalid(number))
}

/// A reminder, enqueued to run one second from now.
#[jobs::job]
async fn send_reminder(user_id: u64) -> Result<(), AppError> {
    println!("  -> reminder for user {user_id} (delayed by 1 s)");
    Ok(())
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    jobs_examples::exit_on_error(run().await)
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    jobs_examples::init_logging();
    let url = jobs_examples::backend_url("sqlite://jobs.db");
    let backend = jobs_backends::connect(&url).await?;
    // The store may hold other jobs (a shared JOBS_URL): count from what is there now.
    let before = backend.stats().await?;
    jobs::set_default_client(Client::new(backend.clone()));
    println!("backend: {}", jobs::redact_url(&url));

    // What a request handler does: enqueue and return at once.
    let started = Instant::now();
    SendWelcomeEmail::perform_later(42, "en".to_string()).await?;
    ChargeCard::perform_later(1001).await?;
    let poisoned = ImportCard::perform_later("0000-0000".to_string()).await?;
    SendReminder::perform_in(Duration::from_secs(1), 42).await?;
    println!("enqueued 4 jobs in {} ms", started.elapsed().as_millis());

    // The worker: usually its own process; here in the same one.
    let worker = Worker::builder(backend.clone())
        .state(PaymentApi::default())
        .queues(["critical", "mailers", "default"])
        .concurrency(5)
        .poll_interval(Duration::from_millis(100))
        .on_death(|job, failure| println!("  !! {} {} died: {failure}", job.class, job.jid))
        .build()?;
    let handle = worker.handle();
    let running = tokio::spawn(worker.run());

    // Wait until everything settled: 4 jobs, 2 of them run twice (retry) => 6 runs.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let stats = backend.stats().await?;
        if stats.processed >= 6 && stats.enqueued == 0 && stats.scheduled == 0 && stats.retries == 0
        {
            break;
        }
        if Instant::now() > deadline {
            return Err(format!(
                "the jobs did not finish in time: {} processed, {} enqueued, {} scheduled, \
                 {} awaiting retry",
                stats.processed, stats.enqueued, stats.scheduled, stats.retries
            )
            .into());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    handle.stop();
    running.await??;

    let stats = backend.stats().await?;
    println!(
        "{} runs, {} of them failed",
        stats.processed - before.processed,
        stats.failed - before.failed
    );
    if let Some(d) = backend
        .job_get(JobGetParams::new(JobSet::Dead, &poisoned))
        .await?
    {
        let error = d.job.error_message.as_deref().unwrap_or("");
        let args = serde_json::to_string(&d.job.args)?;
        println!("dead: {} {args}: {error}", d.job.class);
    }
    println!("done in {} ms", started.elapsed().as_millis());
    Ok(())
}
