//! `jobs::testing::TestJobs`: assertions on enqueued jobs, drain, inline mode, isolation.

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::Oops;
use jobs::prelude::*;
use jobs::testing::TestJobs;

#[jobs::job(queue = "mailers")]
async fn welcome_mail(user_id: u64, locale: String) -> Result<(), Oops> {
    let _ = (user_id, locale);
    Ok(())
}

#[jobs::job]
async fn receipt_mail(order_id: u64) -> Result<(), Oops> {
    let _ = order_id;
    Ok(())
}

/// Sums what the jobs did.
#[derive(Clone, Default)]
struct Total(Arc<AtomicU64>);

#[jobs::job]
async fn place_order(order_id: u64) -> Result<(), jobs::EnqueueError> {
    AddToTotal::perform_later(order_id).await?;
    AddToTotal::perform_in(Duration::from_secs(3600), order_id * 100).await?;
    Ok(())
}

#[jobs::job]
async fn add_to_total(total: State<Total>, amount: u64) -> Result<(), Oops> {
    total.0 .0.fetch_add(amount, Ordering::SeqCst);
    Ok(())
}

#[jobs::job(retry = 2)]
async fn always_broken(n: u64) -> Result<(), Oops> {
    Err(Oops(format!("broken {n}")))
}

/// Code under test: enqueues on whatever client is current.
async fn signup(user_id: u64) {
    WelcomeMail::perform_later(user_id, "en".into())
        .await
        .unwrap();
}

#[tokio::test]
async fn assert_enqueued_and_enqueued_see_jobs_enqueued_in_scope() {
    let jobs = TestJobs::new();
    jobs.scope(signup(42)).await;
    jobs.scope(signup(43)).await;
    jobs.assert_enqueued(&WelcomeMail::new(42, "en".into()))
        .await;
    jobs.assert_not_enqueued::<ReceiptMail>().await;
    let mails = jobs.enqueued::<WelcomeMail>().await;
    let ids: Vec<u64> = mails.iter().map(|m| m.user_id).collect();
    assert_eq!(ids, [42, 43]);
    assert_eq!(
        jobs.enqueued_args::<WelcomeMail>().await[0],
        vec![serde_json::json!(42), serde_json::json!("en")]
    );
}

#[tokio::test]
#[should_panic(expected = "expected WelcomeMail with args [42,\"fr\"] to be enqueued")]
async fn assert_enqueued_fails_when_the_arguments_differ() {
    let jobs = TestJobs::new();
    jobs.scope(signup(42)).await;
    jobs.assert_enqueued(&WelcomeMail::new(42, "fr".into()))
        .await;
}

#[tokio::test]
#[should_panic(expected = "expected no WelcomeMail to be enqueued; found 1")]
async fn assert_not_enqueued_fails_when_one_is_waiting() {
    let jobs = TestJobs::new();
    jobs.scope(signup(1)).await;
    jobs.assert_not_enqueued::<WelcomeMail>().await;
}

#[tokio::test]
async fn scheduled_jobs_count_as_enqueued() {
    let jobs = TestJobs::new();
    ReceiptMail::set()
        .client(jobs.client())
        .perform_in(Duration::from_secs(600), 7)
        .await
        .unwrap();
    jobs.assert_enqueued(&ReceiptMail::new(7)).await;
}

#[tokio::test]
async fn drain_performs_jobs_and_the_jobs_they_enqueue_until_none_is_left() {
    let total = Total::default();
    let jobs = TestJobs::new().state(total.clone());
    jobs.scope(PlaceOrder::perform_later(3)).await.unwrap();
    jobs.scope(PlaceOrder::perform_later(4)).await.unwrap();
    let report = jobs.drain().await;
    assert_eq!(
        report.performed, 6,
        "2 orders, each adding 2 jobs (one scheduled)"
    );
    assert!(report.failures.is_empty(), "{:?}", report.failures);
    assert_eq!(total.0.load(Ordering::SeqCst), 3 + 300 + 4 + 400);
    assert!(jobs.all_enqueued().await.is_empty());
}

#[tokio::test]
async fn drain_reports_failures_which_follow_their_retry_policy() {
    let jobs = TestJobs::new();
    AlwaysBroken::set()
        .client(jobs.client())
        .perform_later(5)
        .await
        .unwrap();
    let report = jobs.drain().await;
    assert_eq!(report.performed, 1);
    assert_eq!(report.failures.len(), 1);
    assert_eq!(report.failures[0].1.message, "broken 5");
    // Waiting in the retry set, not run again by this drain.
    jobs.assert_enqueued(&AlwaysBroken::new(5)).await;
}

#[tokio::test]
async fn inline_mode_performs_at_once_and_stores_nothing() {
    let total = Total::default();
    let jobs = TestJobs::inline().state(total.clone());
    jobs.scope(PlaceOrder::perform_later(5)).await.unwrap();
    assert_eq!(
        total.0.load(Ordering::SeqCst),
        5 + 500,
        "the order and both jobs it enqueued ran"
    );
    assert!(jobs.all_enqueued().await.is_empty());
    // A failing job reports its failure to the caller.
    let err = jobs
        .scope(AlwaysBroken::perform_later(1))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("broken 1"), "{err}");
}

#[tokio::test]
async fn two_test_stores_in_one_test_never_see_each_others_jobs() {
    let a = TestJobs::new();
    let b = TestJobs::new();
    a.scope(signup(1)).await;
    b.scope(signup(2)).await;
    // Interleaved on other tasks, each with its own scope.
    let (a2, b2) = (a.client().clone(), b.client().clone());
    let ta = tokio::spawn(async move { a2.scope(signup(3)).await });
    let tb = tokio::spawn(async move { b2.scope(signup(4)).await });
    ta.await.unwrap();
    tb.await.unwrap();
    let ids = |mails: Vec<WelcomeMail>| mails.into_iter().map(|m| m.user_id).collect::<Vec<_>>();
    assert_eq!(ids(a.enqueued::<WelcomeMail>().await), [1, 3]);
    assert_eq!(ids(b.enqueued::<WelcomeMail>().await), [2, 4]);
    assert_eq!(a.drain().await.performed, 2);
    assert_eq!(
        b.enqueued::<WelcomeMail>().await.len(),
        2,
        "draining one leaves the other alone"
    );
}

#[jobs::job]
async fn always_snoozing(n: u64) -> Result<Outcome, Oops> {
    let _ = n;
    Ok(Outcome::snooze(Duration::from_secs(60)))
}

#[test]
fn a_snoozing_job_runs_once_per_drain_and_stays_scheduled() {
    // On its own thread: a drain that loops forever never yields, so no timeout inside the
    // runtime could stop it.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let result = rt.block_on(async {
            let jobs = TestJobs::new();
            AlwaysSnoozing::set()
                .client(jobs.client())
                .perform_later(1)
                .await
                .unwrap();
            let first = jobs.drain().await.performed;
            let waiting = jobs.enqueued::<AlwaysSnoozing>().await.len();
            let second = jobs.drain().await.performed;
            (first, waiting, second)
        });
        let _ = tx.send(result);
    });
    let result = rx
        .recv_timeout(Duration::from_secs(10))
        .expect("drain returned");
    assert_eq!(
        result,
        (1, 1, 1),
        "run once per drain, still scheduled after"
    );
}
