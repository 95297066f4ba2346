//! Flow control through the client and the worker, on the in-memory backend: what an
//! enqueue of a unique job answers, priorities as the worker runs them, expiry.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{Events, Oops};
use jobs::backend::{AdminBackend, JobSet};
use jobs::clock::Clock;
use jobs::envelope::to_epoch;
use jobs::prelude::*;

#[jobs::job(queue = "f_sync", unique(by = [account_id], within = "10m"))]
async fn sync_account(events: State<Events>, account_id: u64, full: bool) -> Result<(), Oops> {
    events.send(format!("sync {account_id} {full}"));
    Ok(())
}

#[jobs::job(queue = "f_prio")]
async fn ranked(events: State<Events>, name: String) -> Result<(), Oops> {
    events.send(name);
    Ok(())
}

#[jobs::job(queue = "f_exp", expires_in = "1s")]
async fn fleeting(events: State<Events>) -> Result<(), Oops> {
    events.send("ran");
    Ok(())
}

fn client(backend: &Arc<jobs::memory::MemoryBackend>) -> Client {
    Client::new(backend.clone())
}

#[tokio::test]
async fn a_duplicate_answers_the_holder_and_replace_and_error_do_what_they_say() {
    let backend = common::backend();
    let client = client(&backend);
    let first = SyncAccount::set()
        .client(&client)
        .perform_later(7, false)
        .await
        .unwrap();
    assert!(matches!(first, Enqueued::New(_)));
    // Unique by account only: another `full` is still a duplicate.
    let dup = SyncAccount::set()
        .client(&client)
        .perform_later(7, true)
        .await
        .unwrap();
    assert_eq!(dup, Enqueued::Duplicate(first.jid().to_owned()));
    let other = SyncAccount::set()
        .client(&client)
        .perform_later(8, true)
        .await
        .unwrap();
    assert!(other.is_stored());

    let err = SyncAccount::set()
        .client(&client)
        .on_conflict(OnConflict::Error)
        .perform_later(7, true)
        .await
        .unwrap_err();
    match &err {
        EnqueueError::Duplicate { holder, .. } => assert_eq!(holder, first.jid()),
        e => panic!("expected a duplicate error, got {e}"),
    }
    assert!(err.to_string().contains(first.jid()), "{err}");

    let replaced = SyncAccount::set()
        .client(&client)
        .on_conflict(OnConflict::Replace)
        .perform_later(7, true)
        .await
        .unwrap();
    let Enqueued::Replaced { jid, replaced } = replaced else {
        panic!("expected a replacement")
    };
    assert_eq!(replaced, first.jid());
    let queued: Vec<String> = common::list(&backend, JobSet::Queue("f_sync".into()))
        .await
        .into_iter()
        .map(|s| s.job.jid)
        .collect();
    assert_eq!(queued, vec![other.jid().to_owned(), jid]);
}

#[tokio::test]
async fn a_bulk_enqueue_decides_per_job_including_duplicates_within_it() {
    let backend = common::backend();
    let client = client(&backend);
    let got = SyncAccount::set()
        .client(&client)
        .perform_all_later([
            SyncAccount::new(1, false),
            SyncAccount::new(1, true),
            SyncAccount::new(2, false),
        ])
        .await
        .unwrap();
    assert!(matches!(got[0], Enqueued::New(_)));
    assert_eq!(got[1], Enqueued::Duplicate(got[0].jid().to_owned()));
    assert!(matches!(got[2], Enqueued::New(_)));
    assert_eq!(backend.stats().await.unwrap().enqueued, 2);
}

#[tokio::test]
async fn the_lock_of_a_scheduled_job_lapses_within_after_its_time() {
    let backend = common::backend();
    let clock = common::clock();
    let client = common::client(&backend, &clock);
    SyncAccount::set()
        .client(&client)
        .perform_in(Duration::from_secs(3600), 9, false)
        .await
        .unwrap();
    let job = common::the_one(&backend, JobSet::Scheduled).await.job;
    let lock = job.unique().expect("the job carries its lock");
    assert_eq!(lock.expires_at, to_epoch(clock.now()) + 3600.0 + 600.0);
}

#[tokio::test]
async fn the_worker_runs_smaller_priorities_first() {
    let backend = common::backend();
    let client = client(&backend);
    for (name, priority) in [("low", 9u8), ("mid", 4), ("top", 0), ("mid2", 4)] {
        Ranked::set()
            .client(&client)
            .priority(priority)
            .perform_later(name.into())
            .await
            .unwrap();
    }
    let (events, mut rx) = common::events();
    let running = common::spawn(
        common::worker(&backend)
            .queues(["f_prio"])
            .concurrency(1)
            .registry(jobs::Registry::new().with::<Ranked>().unwrap())
            .state(events)
            .build()
            .unwrap(),
    );
    let mut order = Vec::new();
    for _ in 0..4 {
        order.push(common::next(&mut rx).await);
    }
    running.stop().await;
    assert_eq!(order, ["top", "mid", "mid2", "low"]);
}

#[tokio::test]
async fn a_job_not_started_by_its_expiry_is_dropped_and_counted() {
    let backend = common::backend();
    let clock = common::clock();
    let client = common::client(&backend, &clock);
    Fleeting::set()
        .client(&client)
        .perform_later()
        .await
        .unwrap();
    clock.advance(Duration::from_secs(2));
    let fresh = Fleeting::set()
        .client(&client)
        .perform_later()
        .await
        .unwrap();
    let (events, mut rx) = common::events();
    let running = common::spawn(
        common::worker(&backend)
            .queues(["f_exp"])
            .clock(clock.clone())
            .registry(jobs::Registry::new().with::<Fleeting>().unwrap())
            .state(events)
            .build()
            .unwrap(),
    );
    assert_eq!(common::next(&mut rx).await, "ran", "the fresh job runs");
    common::assert_no_event(&mut rx).await;
    let stats = common::eventually("both jobs ended", || async {
        let s = backend.stats().await.unwrap();
        (s.expired == 1 && s.processed == 1).then_some(s)
    })
    .await;
    running.stop().await;
    assert_eq!((stats.failed, stats.enqueued), (0, 0));
    let _ = fresh;
}
