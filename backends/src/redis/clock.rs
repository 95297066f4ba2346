//! Times as the scripts take them: epoch scores, lease expiries in the caller's or the
//! store's clock, and saturating arithmetic on instants.

/// Epoch seconds as Redis takes them in scores and arguments (full precision).
pub(super) fn score(t: chrono::DateTime<chrono::Utc>) -> String {
    jobs::envelope::to_epoch(t).to_string()
}

/// A lease expiry as the scripts take it: `now + ttl` as an epoch score for
/// [`LeaseClock::Caller`](jobs::backend::LeaseClock), or `+<ttl seconds>`, which the script
/// adds to the server's `TIME` (the store's clock).
pub(super) fn lease_arg(
    clock: jobs::backend::LeaseClock,
    now: chrono::DateTime<chrono::Utc>,
    ttl: std::time::Duration,
) -> String {
    match clock {
        jobs::backend::LeaseClock::Caller => score(later(now, ttl)),
        _ => format!("+{:.6}", ttl.as_secs_f64()),
    }
}

/// `now + d`, saturating.
pub(super) fn later(
    now: chrono::DateTime<chrono::Utc>,
    d: std::time::Duration,
) -> chrono::DateTime<chrono::Utc> {
    chrono::Duration::from_std(d)
        .ok()
        .and_then(|d| now.checked_add_signed(d))
        .unwrap_or(chrono::DateTime::<chrono::Utc>::MAX_UTC)
}

/// `now - d`, saturating.
pub(super) fn earlier(
    now: chrono::DateTime<chrono::Utc>,
    d: std::time::Duration,
) -> chrono::DateTime<chrono::Utc> {
    chrono::Duration::from_std(d)
        .ok()
        .and_then(|d| now.checked_sub_signed(d))
        .unwrap_or(chrono::DateTime::<chrono::Utc>::MIN_UTC)
}
