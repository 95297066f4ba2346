//! The worker half of the usual two-process deployment: it performs what `pair_web` enqueues.
//!
//! `cargo run --example pair_worker` (same `JOBS_URL` as the web process, default
//! `sqlite://jobs.db`); stops gracefully on Ctrl-C or SIGTERM.

use jobs::Worker;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    jobs_examples::exit_on_error(run().await)
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    jobs_examples::init_logging();
    let url = jobs_examples::backend_url("sqlite://jobs.db");
    let backend = jobs_backends::connect(&url).await?;
    println!("pair_worker working on {}", jobs::redact_url(&url));
    Worker::builder(backend)
        .queues(["pdf", "default"])
        .concurrency(5)
        .build()?
        .run()
        .await?;
    Ok(())
}
