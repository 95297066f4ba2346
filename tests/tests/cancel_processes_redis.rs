//! Cancelling a job running in another Redis worker process: by pub/sub well within a
//! heartbeat, by the heartbeat when pub/sub connections are killed (`CLIENT KILL TYPE
//! pubsub`), aborted after its grace, and not run again after its worker is SIGKILLed (see
//! `cancel_support`).

mod cancel_support;
mod servers;

use std::time::Duration;

/// `CLIENT KILL TYPE pubsub` drops every subscriber on the server, the other tests' workers'
/// too: the tests of this file take turns, so the one that cuts the channel cannot cut
/// another's while it waits for a cancel by pub/sub alone.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn url(test: &str) -> String {
    let nanos = chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default();
    servers::with_params(
        &servers::redis_url(),
        &format!("prefix=canceltest:{test}:{}:{nanos:x}", std::process::id()),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancel_reaches_a_job_in_another_process_by_pubsub() {
    let _turn = ONE_AT_A_TIME.lock().await;
    // The heartbeat is a minute away: only pub/sub can deliver within 10 s.
    cancel_support::cancel_reaches_another_process(&url("reach"), 60_000, Duration::from_secs(10))
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_ignoring_its_cancel_is_aborted_after_its_grace() {
    let _turn = ONE_AT_A_TIME.lock().await;
    cancel_support::a_job_ignoring_its_cancel_is_aborted(&url("abort"), 60_000).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancel_arrives_while_pubsub_is_killed() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let cut = async {
        let client = redis::Client::open(servers::redis_url()).expect("redis url");
        let mut conn = client
            .get_multiplexed_async_connection()
            .await
            .expect("connect");
        let killed: i64 = redis::cmd("CLIENT")
            .arg("KILL")
            .arg("TYPE")
            .arg("pubsub")
            .query_async(&mut conn)
            .await
            .expect("CLIENT KILL TYPE pubsub");
        assert!(killed >= 1, "the worker's subscription was killed");
    };
    cancel_support::cancel_arrives_while_the_channel_is_cut(&url("cut"), 500, cut).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_workers_cancelled_job_is_cancelled_not_run_again() {
    let _turn = ONE_AT_A_TIME.lock().await;
    cancel_support::a_killed_workers_cancelled_job_is_not_run_again(&url("kill")).await;
}
