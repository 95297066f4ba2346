//! Leases in the store's clock: a process whose clock is wrong neither rescues live leases
//! nor keeps dead ones (`jobs::clock::LeaseClock::Store`).

use std::time::Duration;

use chrono::{DateTime, Utc};
use jobs::backend::{HeartbeatParams, LeaseClock, RescueParams, ReserveParams};

use crate::support::*;
use crate::{CaseError, CaseResult};

/// `Utc::now()` moved by `secs`: the clock of a process that runs fast (or slow).
fn skewed(secs: i64) -> DateTime<Utc> {
    Utc::now() + chrono::Duration::seconds(secs)
}

/// Reserves one job of `queue` for `process` with leases in the store's clock.
async fn reserve_store(
    b: &Subject,
    queue: &str,
    process: &str,
    ttl: Duration,
    now: DateTime<Utc>,
) -> Result<usize, CaseError> {
    let got = b
        .job_reserve(
            ReserveParams::new(vec![queue.to_owned()], process, now)
                .lease_ttl(ttl)
                .lease_clock(LeaseClock::Store),
        )
        .await?;
    Ok(got.len())
}

/// Rescues with leases judged in the store's clock; `now` is the caller's (wrong) time.
async fn rescue_store(b: &Subject, now: DateTime<Utc>) -> Result<u64, CaseError> {
    Ok(
        b.lease_rescue(RescueParams::new(now).lease_clock(LeaseClock::Store))
            .await?,
    )
}

/// A lease taken and extended by a process whose clock runs a day fast expires a lease ttl
/// after the store's now, not after the caller's; and a rescue by such a process takes
/// nothing that has not expired in the store's time.
pub async fn a_fast_clock_neither_rescues_live_leases_nor_stretches_its_own(
    b: Subject,
) -> CaseResult {
    push(&b, vec![job("skew_fast", 1)], at(0)).await?;
    let ttl = Duration::from_secs(60);
    let taken = reserve_store(&b, "skew_fast", P1, ttl, skewed(90)).await?;
    assert_eq!(taken, 1, "setup: the job is reserved");

    let early = rescue_store(&b, skewed(86_400)).await?;
    assert_eq!(
        early, 0,
        "a rescue by a process a day fast took a lease the store holds for another minute"
    );
    b.process_heartbeat(
        HeartbeatParams::new(info(P1), skewed(86_400))
            .lease_ttl(ttl)
            .lease_clock(LeaseClock::Store),
    )
    .await?;
    let after_beat = rescue_store(&b, skewed(86_400)).await?;
    assert_eq!(after_beat, 0, "a beat in the store's clock keeps the lease");

    // Judged at a given time two minutes on, the lease (set and extended in the store's
    // time, about a minute from now) has expired: it was not stretched by the fast clock.
    let later = b.lease_rescue(RescueParams::new(skewed(125))).await?;
    assert_eq!(
        later, 1,
        "the lease ran a ttl from the store's now, not from a clock a day fast"
    );
    Ok(())
}

/// A process whose clock runs a day slow cannot keep a lease the store has seen expire:
/// its rescue takes it back once the store's clock passes the expiry.
pub async fn a_slow_clock_does_not_keep_expired_leases(b: Subject) -> CaseResult {
    push(&b, vec![job("skew_slow", 1)], at(0)).await?;
    let ttl = Duration::from_millis(300);
    let taken = reserve_store(&b, "skew_slow", P1, ttl, skewed(-86_400)).await?;
    assert_eq!(taken, 1, "setup: the job is reserved");
    // The store's clock has to pass the expiry: poll it, with a deadline.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let rescued = rescue_store(&b, skewed(-86_400)).await?;
        if rescued == 1 {
            return Ok(());
        }
        assert!(
            std::time::Instant::now() < deadline,
            "a lease of 300 ms in the store's clock was not rescued within 10 s by a process a day slow"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
