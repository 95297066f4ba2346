//! One shutdown for a whole process: a future that completes at the first SIGINT or SIGTERM
//! (Ctrl-C where there are no Unix signals), to give both a web server's graceful shutdown
//! and [`Worker::run_until`](crate::Worker::run_until).

/// Completes at the first SIGINT or SIGTERM (Ctrl-C on other platforms). From then on, a
/// second SIGINT or SIGTERM ends the process at once (status 130 or 143): listening to a
/// signal replaces its default action for the whole process, and a graceful shutdown that
/// hangs must not leave the process unable to stop. Call it once per place that waits: every
/// call completes on the same signal.
///
/// ```no_run
/// # async fn serve() -> Result<(), Box<dyn std::error::Error>> {
/// let backend = jobs::connect("memory://").await?;
/// let worker = jobs::Worker::builder(backend).build()?;
/// let running = tokio::spawn(worker.run_until(jobs::shutdown_signal()));
/// // axum::serve(listener, app).with_graceful_shutdown(jobs::shutdown_signal()).await?;
/// running.await??;
/// # Ok(()) }
/// ```
pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
        ) {
            (Ok(mut int), Ok(mut term)) => {
                let name = tokio::select! {
                    _ = int.recv() => "SIGINT",
                    _ = term.recv() => "SIGTERM",
                };
                tracing::info!("{name}: shutting down (send it again to exit at once)");
                tokio::spawn(async move {
                    let (name, code) = tokio::select! {
                        _ = int.recv() => ("SIGINT", 130),
                        _ = term.recv() => ("SIGTERM", 143),
                    };
                    tracing::warn!("{name} again: exiting now");
                    std::process::exit(code);
                });
            }
            (Err(e), _) | (_, Err(e)) => {
                tracing::warn!(error = %e, "cannot listen to SIGINT/SIGTERM; waiting for Ctrl-C");
                if tokio::signal::ctrl_c().await.is_err() {
                    std::future::pending::<()>().await;
                }
            }
        }
    }
    #[cfg(not(unix))]
    {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}
