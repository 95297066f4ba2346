//! Rate limits: a sliding window per key; no window of length `per` holds more than `limit`
//! granted starts, and a refusal names when a start frees.

use std::time::Duration;

use jobs::backend::{LimitKind, LimitUsage, LimitsListParams, RateAcquireParams, RateDecision};

use crate::support::*;
use crate::CaseResult;

const PER: Duration = Duration::from_secs(10);

async fn take(b: &Subject, key: &str, secs_ms: i64) -> Result<RateDecision, crate::CaseError> {
    let now = t0() + chrono::Duration::milliseconds(secs_ms);
    Ok(b.rate_acquire(RateAcquireParams::new(key, 3, PER, now))
        .await?)
}

fn refused_until(ms: i64) -> RateDecision {
    RateDecision::Refused {
        retry_at: t0() + chrono::Duration::milliseconds(ms),
    }
}

/// Three per ten seconds: three starts are granted, the fourth is refused until the first
/// leaves the window, and the window slides (it is not reset on a fixed boundary).
pub async fn a_window_holds_at_most_limit_starts(b: Subject) -> CaseResult {
    for ms in [0, 4_000, 9_000] {
        assert_eq!(
            take(&b, "r", ms).await?,
            RateDecision::Granted,
            "start at {ms} ms"
        );
    }
    assert_eq!(take(&b, "r", 9_500).await?, refused_until(10_000));
    assert_eq!(
        take(&b, "r", 10_000).await?,
        RateDecision::Granted,
        "the first start left"
    );
    assert_eq!(
        take(&b, "r", 10_500).await?,
        refused_until(14_000),
        "a sliding window: the starts at 4 s, 9 s and 10 s are still in it"
    );
    assert_eq!(take(&b, "r", 14_000).await?, RateDecision::Granted);
    Ok(())
}

/// Refusals take nothing: however many callers are refused, the next start is granted as
/// soon as the window frees.
pub async fn refusals_do_not_count(b: Subject) -> CaseResult {
    for ms in [0, 1, 2] {
        assert_eq!(take(&b, "r", ms).await?, RateDecision::Granted);
    }
    for ms in 100..150 {
        assert_eq!(take(&b, "r", ms).await?, refused_until(10_000));
    }
    assert_eq!(take(&b, "r", 10_000).await?, RateDecision::Granted);
    Ok(())
}

/// Each key has its own window.
pub async fn keys_are_independent(b: Subject) -> CaseResult {
    for ms in [0, 1, 2] {
        assert_eq!(take(&b, "a", ms).await?, RateDecision::Granted);
    }
    assert_eq!(take(&b, "b", 3).await?, RateDecision::Granted);
    assert!(matches!(
        take(&b, "a", 4).await?,
        RateDecision::Refused { .. }
    ));
    Ok(())
}

/// The listing shows each rate key's starts in the current window, its limit and window,
/// and when a full window frees; keys whose window emptied are left out.
pub async fn rate_usage_is_listed(b: Subject) -> CaseResult {
    for ms in [0, 1_000, 2_000] {
        take(&b, "full", ms).await?;
    }
    take(&b, "half", 3_000).await?;
    let now = t0() + chrono::Duration::milliseconds(5_000);
    let rates: Vec<LimitUsage> = b
        .limits_list(LimitsListParams::new(now))
        .await?
        .into_iter()
        .filter(|u| matches!(u.kind, LimitKind::Rate { .. }))
        .collect();
    let frees = t0() + chrono::Duration::milliseconds(10_000);
    assert_eq!(
        rates,
        vec![
            LimitUsage::rate("full", 3, PER, 3, Some(frees)),
            LimitUsage::rate("half", 3, PER, 1, None),
        ]
    );
    let later = t0() + chrono::Duration::milliseconds(13_500);
    let left = b.limits_list(LimitsListParams::new(later)).await?;
    assert!(left.is_empty(), "emptied windows are not listed: {left:?}");
    Ok(())
}
