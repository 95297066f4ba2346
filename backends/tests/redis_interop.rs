//! Payloads and records as Ruby Sidekiq writes and reads them, bad payloads, URLs, and an
//! unreachable server.

mod redis_support;

use std::time::{Duration, Instant};

use jobs::backend::*;
use jobs::envelope::{JobEnvelope, UNDECODABLE_ERROR};
use jobs_backends::redis::{RedisBackend, RedisOptions};
use redis_support::*;

#[tokio::test]
async fn payloads_from_sidekiq_6_7_and_8_are_reserved() {
    let f = Fixture::new("ruby").await;
    // Sidekiq 6/7: float seconds. Sidekiq 8: integer milliseconds.
    let v6 = r#"{"retry":true,"queue":"default","class":"InteropEcho","args":[1,"job-1"],"jid":"aaaaaaaaaaaaaaaaaaaaaaaa","created_at":1700000000.123456,"enqueued_at":1700000000.5}"#;
    let v8 = r#"{"retry":true,"queue":"default","class":"InteropEcho","args":[2,"job-2"],"jid":"bbbbbbbbbbbbbbbbbbbbbbbb","created_at":1700000000123,"enqueued_at":1700000000500}"#;
    for raw in [v6, v8] {
        let _: () = f
            .cmd(redis::cmd("LPUSH").arg(f.key("queue:default")).arg(raw))
            .await;
    }
    let got = f.reserve(&["default"], "p1", 2, t0()).await;
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].job.jid, "aaaaaaaaaaaaaaaaaaaaaaaa");
    assert!((got[0].job.created_at - 1_700_000_000.123456).abs() < 1e-6);
    assert_eq!(got[1].job.jid, "bbbbbbbbbbbbbbbbbbbbbbbb");
    assert!((got[1].job.created_at - 1_700_000_000.123).abs() < 1e-6);
    assert_eq!(got[1].job.enqueued_at, Some(1_700_000_000.5));
    let queues = f
        .backend
        .queue_list(QueueListParams::new(t0()))
        .await
        .unwrap();
    assert_eq!(
        queues.len(),
        0,
        "raw LPUSH without SADD queues: not known, as in Sidekiq"
    );
    for r in &got {
        assert!(f
            .finish(r, FinishOutcome::Completed, false, t0())
            .await
            .lost
            .is_empty());
    }
    f.cleanup().await;
}

#[tokio::test]
async fn a_malformed_payload_lands_in_the_dead_set_with_a_clear_error() {
    let f = Fixture::new("malformed").await;
    let good = JobEnvelope::new("Echo", "default", vec![1.into()]);
    let _: () = f
        .cmd(
            redis::cmd("LPUSH")
                .arg(f.key("queue:default"))
                .arg("{\"class\": \"Broken\", oops"),
        )
        .await;
    let _: () = f
        .cmd(
            redis::cmd("LPUSH")
                .arg(f.key("queue:default"))
                .arg(r#"{"args":[]}"#),
        )
        .await;
    f.push(vec![good.clone()], t0()).await;

    let got = f.reserve(&["default"], "p1", 5, t0()).await;
    assert_eq!(got.len(), 1, "only the real job is handed out");
    assert_eq!(got[0].job.jid, good.jid);

    let dead = f
        .backend
        .job_list(JobListParams::new(JobSet::Dead, 10))
        .await
        .unwrap();
    assert_eq!(dead.total, 2, "neither bad payload disappears");
    for d in &dead.jobs {
        let msg = d.job.error_message.as_deref().unwrap();
        assert!(
            msg.contains("are not a job") && msg.contains("queue `default`"),
            "{msg}"
        );
        assert_eq!(d.job.error_class.as_deref(), Some(UNDECODABLE_ERROR));
        assert_eq!(d.at, Some(t0()));
    }
    let kept: Vec<&str> = dead
        .jobs
        .iter()
        .map(|d| d.job.args[0].as_str().unwrap())
        .collect();
    assert!(
        kept.contains(&"{\"class\": \"Broken\", oops"),
        "the payload is kept: {kept:?}"
    );
    let inflight: u64 = f
        .cmd(redis::cmd("LLEN").arg(f.key("jobs-rs:inflight:2:p1:default")))
        .await;
    assert_eq!(inflight, 1, "only the good job is in flight");
    f.cleanup().await;
}

#[tokio::test]
async fn enqueue_against_an_unreachable_redis_fails_fast_with_a_connection_error() {
    let port = free_port();
    let mut opts = RedisOptions::new(format!("redis://127.0.0.1:{port}"));
    opts.connect_timeout = Duration::from_millis(500);
    let started = Instant::now();
    let err = RedisBackend::connect(opts.clone()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Connection, "{err}");
    assert!(err.is_transient());

    let backend = RedisBackend::lazy(opts).unwrap();
    let job = JobEnvelope::new("Echo", "default", vec![]);
    for _ in 0..3 {
        let err = backend
            .job_push(PushParams::new(vec![job.clone()], t0()))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Connection, "{err}");
        assert!(
            err.to_string().contains(&format!("127.0.0.1:{port}")),
            "{err}"
        );
    }
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "took {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn jobs_connect_takes_db_and_prefix_from_the_url() {
    let prefix = unique_prefix("url");
    let url = format!("{}?prefix={prefix}", db_url(3));
    let backend = jobs::connect(&url).await.unwrap();
    assert_eq!(backend.name(), "redis");
    backend
        .job_push(PushParams::new(
            vec![JobEnvelope::new("Echo", "q", vec![])],
            t0(),
        ))
        .await
        .unwrap();
    let mut raw = redis::Client::open(db_url(3))
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let len: u64 = redis::cmd("LLEN")
        .arg(format!("{prefix}:queue:q"))
        .query_async(&mut raw)
        .await
        .unwrap();
    assert_eq!(len, 1);
    backend.clear_all().await.unwrap();
    let Err(err) = jobs::connect("redis://127.0.0.1:6379/notadb").await else {
        panic!("a database that is not a number must be refused");
    };
    assert!(matches!(err, jobs::ConnectError::Config { .. }), "{err}");
}

#[tokio::test]
async fn clear_all_removes_only_its_own_prefix() {
    let f = Fixture::new("clear").await;
    let outside = format!("{}-outside", f.prefix);
    let _: () = f.cmd(redis::cmd("SET").arg(&outside).arg("keep")).await;
    f.push(vec![JobEnvelope::new("Echo", "q", vec![])], t0())
        .await;
    f.backend.clear_all().await.unwrap();
    let left: Vec<String> = f
        .cmd(redis::cmd("KEYS").arg(format!("{}:*", f.prefix)))
        .await;
    assert!(left.is_empty(), "{left:?}");
    let kept: Option<String> = f.cmd(redis::cmd("GET").arg(&outside)).await;
    assert_eq!(kept.as_deref(), Some("keep"));
    let _: () = f.cmd(redis::cmd("DEL").arg(&outside)).await;
}

#[tokio::test]
async fn process_records_are_readable_by_sidekiq_6_and_7() {
    let f = Fixture::new("procs").await;
    let now = t0();
    let job = JobEnvelope::new("Echo", "default", vec![1.into()]);
    let info = ProcessInfo {
        id: "host:42:abc".into(),
        hostname: "host".into(),
        pid: 42,
        tag: Some("app".into()),
        queues: vec!["default".into()],
        concurrency: 10,
        started_at: now,
        labels: vec!["rust".into()],
        version: "0.1.0".into(),
    };
    let beat = HeartbeatParams::new(info.clone(), now)
        .running(vec![RunningJob {
            job: job.clone(),
            started_at: now,
        }])
        .quiet(false)
        .lease_ttl(Duration::from_secs(60));
    f.backend.process_heartbeat(beat.clone()).await.unwrap();
    let members: Vec<String> = f.cmd(redis::cmd("SMEMBERS").arg(f.key("processes"))).await;
    assert_eq!(members, vec!["host:42:abc"]);
    let (info_json, busy, quiet): (String, u64, String) = f
        .cmd(
            redis::cmd("HMGET")
                .arg(f.key("host:42:abc"))
                .arg("info")
                .arg("busy")
                .arg("quiet"),
        )
        .await;
    let v: serde_json::Value = serde_json::from_str(&info_json).unwrap();
    assert_eq!(v["identity"], "host:42:abc");
    assert_eq!(v["tag"], "app");
    assert!(v["started_at"].is_f64());
    assert_eq!((busy, quiet.as_str()), (1, "false"));
    for hash in ["host:42:abc:workers", "host:42:abc:work"] {
        let running: Vec<String> = f.cmd(redis::cmd("HVALS").arg(f.key(hash))).await;
        let w: serde_json::Value = serde_json::from_str(&running[0]).unwrap();
        let payload: serde_json::Value =
            serde_json::from_str(w["payload"].as_str().unwrap()).unwrap();
        assert_eq!(payload["jid"], job.jid.as_str());
        assert_eq!(w["queue"], "default");
        assert!(w["run_at"].is_i64());
    }
    let listed = f.backend.process_list().await.unwrap();
    assert_eq!(listed[0].info, info);
    assert_eq!(listed[0].running[0].job, job);

    // Sidekiq's web UI sends TSTP (quiet) and TERM (stop) on `<identity>-signals`.
    let _: () = f
        .cmd(
            redis::cmd("LPUSH")
                .arg(f.key("host:42:abc-signals"))
                .arg("TSTP"),
        )
        .await;
    f.backend
        .process_signal(ProcessSignalParams::new(
            info.id.clone(),
            ProcessSignal::Stop,
        ))
        .await
        .unwrap();
    let reply = f.backend.process_heartbeat(beat).await.unwrap();
    assert_eq!(
        reply.signals,
        vec![ProcessSignal::Quiet, ProcessSignal::Stop]
    );
    // The beat that read them already says quiet in the process hash (not the next one).
    let quiet: String = f
        .cmd(redis::cmd("HGET").arg(f.key("host:42:abc")).arg("quiet"))
        .await;
    assert_eq!(quiet, "true");
    f.cleanup().await;
}
