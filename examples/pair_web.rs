//! The web half of the usual two-process deployment: it enqueues and answers at once.
//!
//! `cargo run --example pair_web` serves `POST /invoices/{id}` on 127.0.0.1:3001 (or `PORT`),
//! enqueueing `RenderInvoice` and answering 202 with the job id; `pair_worker`, started with
//! the same `JOBS_URL` (default `sqlite://jobs.db`), performs the jobs.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::post;
use axum::Router;
use jobs::Client;
use jobs_examples::pair::RenderInvoice;

async fn render(State(client): State<Client>, Path(id): Path<u64>) -> (StatusCode, String) {
    match RenderInvoice::set().client(&client).perform_later(id).await {
        Ok(jid) => (StatusCode::ACCEPTED, format!("enqueued {jid}\n")),
        Err(e) => (StatusCode::SERVICE_UNAVAILABLE, format!("{e}\n")),
    }
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    jobs_examples::exit_on_error(run().await)
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    jobs_examples::init_logging();
    let url = jobs_examples::backend_url("sqlite://jobs.db");
    let client = Client::new(jobs_backends::connect(&url).await?);
    let app = Router::new()
        .route("/invoices/{id}", post(render))
        .with_state(client);
    let port = std::env::var("PORT").unwrap_or_else(|_| "3001".into());
    let listener = tokio::net::TcpListener::bind(format!("127.0.0.1:{port}")).await?;
    println!("pair_web listening on http://127.0.0.1:{port} (backend {}); try: curl -X POST http://127.0.0.1:{port}/invoices/7", jobs::redact_url(&url));
    axum::serve(listener, app).await?;
    Ok(())
}
