//! Edge values on the in-memory backend: absurd lease lengths saturate instead of panicking.

use std::time::Duration;

use jobs::backend::{Backend, HeartbeatParams, ProcessInfo, PushParams, ReserveParams};
use jobs::envelope::JobEnvelope;
use jobs::memory::MemoryBackend;

#[tokio::test]
async fn a_huge_lease_ttl_saturates_instead_of_overflowing() {
    let b = MemoryBackend::new();
    let now = chrono::Utc::now();
    b.job_push(PushParams::new(
        vec![JobEnvelope::new("A", "q", vec![])],
        now,
    ))
    .await
    .unwrap();
    let mut p = ReserveParams::new(vec!["q".into()], "p1", now);
    p.lease_ttl = Duration::MAX;
    assert_eq!(b.job_reserve(p).await.unwrap().len(), 1);
    let info = ProcessInfo {
        id: "p1".into(),
        hostname: "h".into(),
        pid: 1,
        tag: None,
        queues: vec!["q".into()],
        concurrency: 1,
        started_at: now,
        labels: vec![],
        version: "0".into(),
    };
    let beat = HeartbeatParams::new(info, now)
        .running(vec![])
        .quiet(false)
        .lease_ttl(Duration::MAX);
    assert!(b.process_heartbeat(beat).await.is_ok());
}
