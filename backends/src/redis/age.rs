//! Priority aging: one pass moves the waiting jobs whose wait earned a better band into that
//! band's list, byte-identical.
//!
//! 1. [`priority_age`] runs `age.lua` once per call, over every queue in `jobs-rs:pqueues`
//!    (the queues with prioritized jobs waiting) or `jobs-rs:aged-queues` (those with jobs
//!    aged into a band, whose tracking may need dropping): a job moves to the head end (the
//!    right) of its new band's list, or of `queue:<name>` for band 0, where it is still a
//!    plain Sidekiq job.
//! 2. The script reads only the jobs that move and a few around them per band (it finds
//!    where the jobs it aged into a band end by bisection over `jobs-rs:aged:<p>:<name>`,
//!    the SHA-1s of the payloads it moved there); `age.lua` says how, and why the jobs due
//!    sit together there.

use jobs::backend::{AgeParams, BackendError};
use jobs::envelope::to_epoch;

use super::scripts::AGE;
use super::Inner;

/// Moves every waiting job whose wait earned a better band into it; returns how many moved.
pub(super) async fn priority_age(inner: &Inner, p: AgeParams) -> Result<u64, BackendError> {
    let k = inner.keys();
    let mut inv = AGE.prepare_invoke();
    inv.key(k.pqueues())
        .key(k.queues())
        .arg(k.ns())
        .arg(to_epoch(p.now).to_string())
        .arg(step_secs(&p).to_string());
    inner.eval(&inv).await
}

/// The length of a step in seconds, never 0 (as [`AgeParams::new`] makes it).
fn step_secs(p: &AgeParams) -> f64 {
    p.every
        .max(std::time::Duration::from_millis(1))
        .as_secs_f64()
}
