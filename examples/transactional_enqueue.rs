//! Transactional enqueue on Postgres: a job exists if and only if its transaction commits.
//!
//! A signup handler inserts a user and enqueues the welcome email in one transaction; a
//! second signup fails after enqueueing and rolls back, leaving neither user nor job.
//! `cargo run --example transactional_enqueue` (reads `DATABASE_URL`, default: the local
//! `test` database as user root).

use std::time::Duration;

use jobs::backend::{AdminBackend, JobListParams, JobSet};
use jobs::prelude::*;
use jobs::EnqueueOptions;
use jobs_backends::postgres::PostgresBackend;

#[derive(Debug, thiserror::Error)]
#[error("mail service unavailable")]
struct MailError;

/// Sends the welcome email to a new user.
#[jobs::job(queue = "mailers")]
async fn send_welcome_email(user_id: i64) -> Result<(), MailError> {
    println!("  -> welcome email to user {user_id}");
    Ok(())
}

/// Inserts a user and enqueues its welcome email in one transaction; `fail_after` makes the
/// handler fail after both, so the transaction rolls back.
async fn signup(
    backend: &PostgresBackend,
    client: &Client,
    email: &str,
    fail_after: bool,
) -> Result<i64, Box<dyn std::error::Error>> {
    let mut tx = backend.pool().begin().await?;
    let (user_id,): (i64,) =
        sqlx::query_as("INSERT INTO demo_users (email) VALUES ($1) RETURNING id")
            .bind(email)
            .fetch_one(&mut *tx)
            .await?;
    let job = client.envelope(&SendWelcomeEmail::new(user_id), &EnqueueOptions::default())?;
    backend.push_in(&mut tx, vec![job]).await?;
    if fail_after {
        tx.rollback().await?;
        return Err(format!("signup of {email} failed after enqueueing; rolled back").into());
    }
    tx.commit().await?;
    Ok(user_id)
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    jobs_examples::exit_on_error(run().await)
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    jobs_examples::init_logging();
    let base = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://root@127.0.0.1:5432/test".into());
    let sep = if base.contains('?') { '&' } else { '?' };
    let url = format!("{base}{sep}schema=jobs_tx_example");
    let backend = PostgresBackend::connect(&url).await?;
    backend.clear_all().await?;
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS demo_users (id BIGSERIAL PRIMARY KEY, email TEXT NOT NULL)",
    )
    .execute(backend.pool())
    .await?;
    sqlx::query("TRUNCATE demo_users RESTART IDENTITY")
        .execute(backend.pool())
        .await?;
    let client = Client::new(std::sync::Arc::new(backend.clone()));

    let alice = signup(&backend, &client, "alice@example.com", false).await?;
    println!("committed: user {alice} with the job sending their welcome email");
    match signup(&backend, &client, "bob@example.com", true).await {
        Ok(_) => return Err("the failing signup committed".into()),
        Err(e) => println!("rolled back: {e}"),
    }

    let queued = backend
        .job_list(JobListParams::new(JobSet::Queue("mailers".into()), 10))
        .await?;
    let users: Vec<(i64,)> = sqlx::query_as("SELECT id FROM demo_users")
        .fetch_all(backend.pool())
        .await?;
    println!(
        "users: {}, welcome emails queued: {}",
        users.len(),
        queued.total
    );
    if users.len() != 1
        || queued.total != 1
        || queued.jobs[0].job.args != vec![serde_json::json!(alice)]
    {
        return Err("expected one user (alice) and one queued welcome email".into());
    }

    let backend_arc: std::sync::Arc<dyn AdminBackend> = std::sync::Arc::new(backend.clone());
    let worker = Worker::builder(backend_arc.clone())
        .registry(jobs::Registry::new().with::<SendWelcomeEmail>()?)
        .queues(["mailers"])
        .handle_signals(false)
        .build()?;
    let handle = worker.handle();
    let running = tokio::spawn(worker.run());
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while backend_arc.stats().await?.processed < 1 {
        if std::time::Instant::now() > deadline {
            return Err("the welcome email was not performed".into());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    handle.stop();
    running.await??;
    println!("performed 1 job; no job exists for the rolled-back signup");
    Ok(())
}
