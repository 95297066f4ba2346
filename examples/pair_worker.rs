//! The worker half of the usual two-process deployment: it performs what `pair_web` enqueues.
//!
//! `cargo run --example pair_worker` (same `JOBS_URL` as the web process, default
//! `sqlite://jobs.db`); stops gracefully on Ctrl-C or SIGTERM. With `JOBS_HEALTH_ADDR` set
//! (say `0.0.0.0:8081`) it serves the Kubernetes probes `/livez` and `/readyz` there (see
//! `docs/deploy.md`).

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
    let mut worker = Worker::builder(backend)
        .queues(["pdf", "default"])
        .concurrency(5);
    if let Ok(addr) = std::env::var("JOBS_HEALTH_ADDR") {
        println!("health probes on http://{addr}/livez and /readyz");
        worker = worker.health_addr(addr);
    }
    worker.build()?.run().await?;
    Ok(())
}
