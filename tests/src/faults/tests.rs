//! Tests of the fault suite's own parts: history lines round-trip, the checker finds what it
//! claims to find (against the in-memory backend), and the proxy holds and then delivers.

use std::time::Duration;

use jobs::backend::{Backend, Finish, FinishOutcome, FinishParams, PushParams, ReserveParams};
use jobs::memory::MemoryBackend;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::check::{check, recovery_ms, unsettled, Injection};
use super::fleet::{history_job, QUEUE};
use super::history::{Event, History, HistoryLog, Settle};
use super::limits::{busiest_in, intervals, overlaps};
use super::proxy::StallProxy;

fn start(jid: &str, pid: u32, at_ms: u64) -> Event {
    Event::Start {
        jid: jid.into(),
        attempt: 1,
        pid,
        at_ms,
    }
}

fn end(jid: &str, pid: u32, at_ms: u64) -> Event {
    Event::End {
        jid: jid.into(),
        attempt: 1,
        pid,
        at_ms,
        ok: true,
    }
}

fn settled(jid: &str, pid: u32, at_ms: u64, settle: Settle) -> Event {
    Event::Settled {
        jid: jid.into(),
        pid,
        at_ms,
        settle,
    }
}

fn enqueued(jid: &str) -> Event {
    Event::Enqueued {
        jid: jid.into(),
        at_ms: 1,
    }
}

#[test]
fn every_event_round_trips_through_its_line() {
    let events = vec![
        enqueued("a1"),
        Event::Boot { pid: 7, at_ms: 2 },
        start("a1", 7, 3),
        Event::End {
            jid: "a1".into(),
            attempt: 2,
            pid: 7,
            at_ms: 4,
            ok: false,
        },
        Event::Finishing {
            jid: "a1".into(),
            pid: 7,
            at_ms: 5,
            settle: Settle::Retry,
        },
        settled("a1", 7, 6, Settle::Snooze),
        Event::Refused {
            jid: "a1".into(),
            pid: 7,
            at_ms: 7,
            settle: Settle::Discard,
        },
        settled("a1", 7, 8, Settle::Dead),
        settled("a1", 7, 9, Settle::Completed),
        Event::Exit { pid: 7, at_ms: 10 },
    ];
    for e in events {
        let line = e.to_string();
        assert_eq!(line.parse::<Event>(), Ok(e), "{line}");
    }
    for bad in [
        "",
        "start a1 1 7",
        "settled a1 7 6 sideways",
        "nap a1 1 2 3",
    ] {
        assert!(bad.parse::<Event>().is_err(), "{bad:?} must not parse");
    }
}

#[test]
fn the_log_appends_lines_that_read_back_in_order() {
    let path = std::env::temp_dir().join(format!("faults-log-{}.history", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let events = [enqueued("x"), start("x", 1, 2), end("x", 1, 3)];
    {
        let a = HistoryLog::open(&path).unwrap();
        let b = HistoryLog::open(&path).unwrap();
        a.record(&events[0]).unwrap();
        b.record(&events[1]).unwrap();
        a.record(&events[2]).unwrap();
    }
    let history = History::read(&path).unwrap();
    assert_eq!(history.events, events);
    assert_eq!(history.enqueued(), vec!["x"]);
    assert!(history.running_in(1).is_empty());
    std::fs::write(&path, "start x 1 1 1\nstart x\n").unwrap();
    let err = History::read(&path).unwrap_err();
    assert!(err.contains("line 2"), "{err}");
    // Read while a line is being appended: the part written so far is left out.
    std::fs::write(&path, "start x 1 1 1\nfinishing x 2").unwrap();
    let history = History::read(&path).unwrap();
    assert_eq!(history.events, [start("x", 1, 1)]);
    let _ = std::fs::remove_file(&path);
}

/// A memory backend holding `waiting` in the queue and `dead` in the dead set.
async fn store_with(waiting: &str, dead: &str) -> MemoryBackend {
    let b = MemoryBackend::new();
    let now = chrono::Utc::now();
    let mut doomed = history_job(1);
    doomed.jid = dead.into();
    b.job_push(PushParams::new(vec![doomed], now))
        .await
        .unwrap();
    let got = b
        .job_reserve(ReserveParams::new(vec![QUEUE.into()], "p", now))
        .await
        .unwrap();
    let finish = Finish::new(
        got[0].token.clone(),
        got[0].job.clone(),
        FinishOutcome::Dead,
        true,
    );
    b.job_finish(FinishParams::new(vec![finish], now))
        .await
        .unwrap();
    let mut queued = history_job(2);
    queued.jid = waiting.into();
    b.job_push(PushParams::new(vec![queued], now))
        .await
        .unwrap();
    b
}

#[tokio::test]
async fn the_checker_counts_lost_duplicates_and_double_endings() {
    let store = store_with("waits", "died").await;
    let mut events = Vec::new();
    for jid in ["done", "waits", "died", "gone", "twice", "unsure"] {
        events.push(enqueued(jid));
    }
    events.extend([
        start("done", 1, 10),
        end("done", 1, 11),
        settled("done", 1, 12, Settle::Completed),
        // Ran in two processes (a rescue): one duplicate start.
        start("twice", 1, 10),
        start("twice", 2, 20),
        settled("twice", 2, 21, Settle::Completed),
        // Settled by both: the fencing failed.
        settled("twice", 1, 22, Settle::Completed),
        start("gone", 1, 10),
        start("unsure", 1, 10),
        Event::Finishing {
            jid: "unsure".into(),
            pid: 1,
            at_ms: 12,
            settle: Settle::Completed,
        },
        // Started, but no Ok enqueue was recorded.
        start("stray", 1, 10),
    ]);
    let history = History { events };
    let v = check(&history, &store, &[QUEUE], &[]).await.unwrap();
    assert_eq!(v.enqueued, 6);
    assert_eq!(v.lost, vec!["gone".to_owned()]);
    assert_eq!(v.duplicates, 1);
    assert_eq!(v.terminal_twice, vec!["twice".to_owned()]);
    assert_eq!(v.waiting, 1);
    assert_eq!(v.unconfirmed, 1);
    assert_eq!(v.completed, 2);
    assert_eq!(v.unrecorded, 1);
    assert_eq!(v.dead.keys().collect::<Vec<_>>(), vec!["died"]);

    // The dead set counts as an ending: a settle as completed besides it is a second one.
    let mut events = history.events.clone();
    events.push(settled("died", 1, 30, Settle::Completed));
    let v = check(&History { events }, &store, &[QUEUE], &[])
        .await
        .unwrap();
    assert_eq!(
        v.terminal_twice,
        vec!["died".to_owned(), "twice".to_owned()]
    );
}

#[test]
fn unsettled_waits_for_an_unanswered_settle_only_past_the_grace() {
    let history = History {
        events: vec![
            enqueued("a"),
            enqueued("b"),
            start("a", 1, 10),
            Event::Finishing {
                jid: "a".into(),
                pid: 1,
                at_ms: 100,
                settle: Settle::Completed,
            },
            start("b", 1, 10),
            settled("b", 1, 20, Settle::Completed),
        ],
    };
    let none = Default::default();
    let grace = Duration::from_millis(1000);
    assert_eq!(unsettled(&history, &none, 500, grace), vec!["a"]);
    assert!(unsettled(&history, &none, 1100, grace).is_empty());
    // Started again after the unanswered settle: it is running, not ended.
    let mut events = history.events.clone();
    events.push(start("a", 2, 200));
    assert_eq!(
        unsettled(&History { events }, &none, 5000, grace),
        vec!["a"]
    );
}

#[test]
fn recovery_is_until_caught_jobs_move_on_and_the_next_settle() {
    let history = History {
        events: vec![
            start("a", 1, 1000),
            start("b", 1, 1000),
            end("b", 1, 1100),
            start("c", 2, 1000),
            // Fault at 1500 hits process 1: `a` is caught, `b` had ended, `c` is elsewhere.
            settled("c", 2, 1600, Settle::Completed),
            start("a", 2, 3700),
            settled("a", 2, 4000, Settle::Completed),
        ],
    };
    let kill = Injection {
        at_ms: 1500,
        lifted_ms: 1500,
        pids: vec![1],
    };
    assert_eq!(recovery_ms(&history, &kill), 2200);
    // A store fault hitting everyone, lifted at 3000: nothing was caught in flight but `a`;
    // the next settle after the lift came 1000 ms later.
    let store = Injection {
        at_ms: 1500,
        lifted_ms: 3000,
        pids: vec![],
    };
    assert_eq!(recovery_ms(&history, &store), 2200);
    let late = Injection {
        at_ms: 3800,
        lifted_ms: 3800,
        pids: vec![],
    };
    assert_eq!(recovery_ms(&history, &late), 200);
}

#[tokio::test]
async fn the_proxy_holds_traffic_while_stalled_and_delivers_it_after() {
    let echo = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let upstream = echo.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = echo.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 64];
                while let Ok(n) = conn.read(&mut buf).await {
                    if n == 0 || conn.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    let proxy = StallProxy::start(upstream).await.unwrap();
    let mut conn = tokio::net::TcpStream::connect(("127.0.0.1", proxy.port()))
        .await
        .unwrap();
    let mut buf = [0u8; 4];
    conn.write_all(b"ping").await.unwrap();
    conn.read_exact(&mut buf).await.unwrap();
    assert_eq!(&buf, b"ping");

    proxy.stall();
    conn.write_all(b"held").await.unwrap();
    // Nothing may come back while stalled; a bounded look is the only way to see absence.
    let early = tokio::time::timeout(Duration::from_millis(300), conn.read_exact(&mut buf)).await;
    assert!(early.is_err(), "traffic went through a stalled proxy");
    proxy.resume();
    tokio::time::timeout(Duration::from_secs(5), conn.read_exact(&mut buf))
        .await
        .expect("the held bytes arrive once resumed")
        .unwrap();
    assert_eq!(&buf, b"held");
}

#[test]
fn a_stopped_run_ends_at_the_stop_unless_it_ran_on_after_waking() {
    let stop = Injection {
        at_ms: 150,
        lifted_ms: 400,
        pids: vec![1],
    };
    // Stopped at 150; the job went to process 2 at 300; process 1 dropped it on waking.
    let dropped = History {
        events: vec![start("a", 1, 100), start("a", 2, 300), end("a", 2, 350)],
    };
    let runs = intervals(&dropped, std::slice::from_ref(&stop));
    assert_eq!(runs[0].end_ms, 150);
    assert!(overlaps(&runs).is_empty());
    // Process 1 ran the job on when it woke and returned at 420: the runs overlap.
    let mut ran_on = dropped.clone();
    ran_on.events.push(end("a", 1, 420));
    let runs = intervals(&ran_on, std::slice::from_ref(&stop));
    assert_eq!(runs[0].end_ms, 420);
    assert_eq!(overlaps(&runs).len(), 1);
    // A run that never ended, in a process no fault hit, overlaps every later run.
    let never = History {
        events: vec![start("a", 1, 100), start("b", 2, 500)],
    };
    let runs = intervals(&never, &[]);
    assert_eq!(runs[0].end_ms, u64::MAX);
    assert_eq!(overlaps(&runs).len(), 1);
}

#[test]
fn busiest_in_counts_the_fullest_window_wherever_it_falls() {
    // Calendar seconds hold at most 2 of these; a window of 301 ms from 1,900 holds 4.
    let starts = [1_900, 100, 2_200, 1_950, 2_050];
    assert_eq!(busiest_in(&starts, 301), 4);
    assert_eq!(busiest_in(&starts, 300), 3);
    assert_eq!(busiest_in(&starts, 50), 1);
    // A start exactly one window after another is outside it.
    assert_eq!(busiest_in(&[0, 1_000], 1_000), 1);
    assert_eq!(busiest_in(&[], 1_000), 0);
}
