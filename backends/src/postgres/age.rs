//! Priority aging: one pass lowers the band of the waiting jobs whose wait earned it.
//!
//! 1. [`priority_age`] runs `age.sql`, one statement that probes `jobs_aging_idx`
//!    (migration 10) once per number of steps already climbed, so a pass reads the rows
//!    that move and no others: a queue of a million young jobs costs nine index probes.
//! 2. A row's `priority` column is its band and `aged` the steps it climbed; its position
//!    and payload are kept, so it runs ahead of the jobs pushed after it and listings show
//!    its declared priority. A trigger of migration 10 puts the declared priority back
//!    when a job comes back to its queue after leaving it.

use jobs::backend::{AgeParams, BackendError};
use jobs::envelope::to_epoch;

use super::error::Sqlx;
use super::Inner;

/// The pass, bound to a schema at each call (`Inner::q`).
const AGE: &str = include_str!("../../sql/postgres/age.sql");

/// Moves every waiting job whose wait earned a better band into it; returns how many moved.
pub(super) async fn priority_age(inner: &Inner, p: AgeParams) -> Result<u64, BackendError> {
    let moved: i64 = sqlx::query_scalar(&inner.q(AGE))
        .bind(to_epoch(p.now))
        .bind(
            p.every
                .max(std::time::Duration::from_millis(1))
                .as_secs_f64(),
        )
        .fetch_one(&inner.pool)
        .await
        .or_backend(&inner.cx)?;
    Ok(u64::try_from(moved).unwrap_or(0))
}
