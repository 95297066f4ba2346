//! Rows whose payload is not a job: how every read shows them, and how they are buried.
//!
//! 1. Payloads are read as bytes, since a row written by something else may hold text that
//!    is not UTF-8. [`read`] decodes one, or, when it is not a job (not UTF-8, not JSON, not
//!    an object, no class, nested past the decoder's limit), gives the dead job of
//!    [`jobs::envelope::undecodable`] that keeps its bytes, under the row's own `jid` and
//!    queue: every listing shows the same id for it, and the admin actions find it by that id.
//! 2. [`bury`] moves such rows to the dead set where the backend meets them (the reserve
//!    that leased them, the promotion that found them due), inside the caller's write
//!    transaction: the stored payload becomes that dead job, and its jid the one the bytes
//!    name when no other row holds it, so the caller's jid survives.

use chrono::{DateTime, Utc};
use jobs::backend::{BackendError, DeadLimits};
use jobs::envelope::{top_level_str, undecodable, JobEnvelope};

use super::db::{encode_job, from_micros, micros, Db, Tx};
use super::error::Sqlx;
use super::moves;

/// Decodes a stored payload, or says why it is not a job.
pub(super) fn decode(raw: &[u8]) -> Result<JobEnvelope, String> {
    let text = std::str::from_utf8(raw).map_err(|e| format!("not UTF-8: {e}"))?;
    JobEnvelope::from_json(text).map_err(|e| e.to_string())
}

/// Where a row in `state` of `queue` is, as an error message names it.
fn place(state: &str, queue: &str) -> String {
    match state {
        "scheduled" => "the scheduled set".to_owned(),
        "retryable" => "the retry set".to_owned(),
        "dead" => "the dead set".to_owned(),
        _ => format!("queue `{queue}`"),
    }
}

/// The dead job standing for bytes `raw` of row `jid` in `queue`, not a job because of
/// `error`.
fn wrap(
    raw: &[u8],
    jid: &str,
    queue: &str,
    place: &str,
    error: &str,
    at: DateTime<Utc>,
) -> JobEnvelope {
    let mut job = undecodable(raw, queue, place, error, at);
    job.jid = jid.to_owned();
    job.queue = queue.to_owned();
    job
}

/// The job row `jid` of `queue`, in `state` since `run_at` (stored microseconds), holds:
/// its payload decoded, or the dead job that keeps the bytes when they are not a job.
pub(super) fn read(raw: &[u8], jid: &str, queue: &str, state: &str, run_at: i64) -> JobEnvelope {
    match decode(raw) {
        Ok(job) => job,
        Err(error) => wrap(
            raw,
            jid,
            queue,
            &place(state, queue),
            &error,
            from_micros(run_at),
        ),
    }
}

/// A row the backend took and found not to be a job.
#[derive(Debug)]
pub(super) struct Bad {
    /// The row.
    pub(super) id: i64,
    /// Its `jid` column.
    pub(super) jid: String,
    /// Its `queue` column.
    pub(super) queue: String,
    /// Its state when it was found (`running` for one a reserve took).
    pub(super) state: &'static str,
    /// For a running row, the nonce of the lease it was found under.
    pub(super) lease: Option<String>,
    /// The payload's bytes.
    pub(super) raw: Vec<u8>,
    /// Why they are not a job.
    pub(super) error: String,
}

/// Moves each of `bad` that is still in the state it was found in to the dead set at `now`,
/// as the dead job that keeps its bytes, then trims the dead set to `limits`. Returns how
/// many moved.
pub(super) async fn bury(
    db: &Db,
    tx: &mut Tx<'_>,
    bad: &[Bad],
    now: DateTime<Utc>,
    limits: DeadLimits,
) -> Result<u64, BackendError> {
    if bad.is_empty() {
        return Ok(0);
    }
    let mut pos = moves::next_positions(db, tx, bad.len()).await?;
    let mut moved = 0;
    for b in bad {
        tracing::error!(row = b.id, jid = %b.jid, queue = %b.queue, error = %b.error, "a stored job cannot be decoded; moved to the dead set");
        let found_in = match b.state {
            "running" => place("available", &b.queue),
            state => place(state, &b.queue),
        };
        let mut job = wrap(&b.raw, &b.jid, &b.queue, &found_in, &b.error, now);
        if let Some(named) = named_jid(&b.raw).filter(|n| *n != b.jid) {
            let taken: bool =
                sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM jobs WHERE jid = ?1)")
                    .bind(&named)
                    .fetch_one(&mut **tx)
                    .await
                    .or_backend(&db.cx)?;
            if !taken {
                job.jid = named;
            }
        }
        let payload = encode_job(&job)?;
        let done = sqlx::query(
            "UPDATE jobs SET state = 'dead', run_at = ?3, pos = ?4, jid = ?5, class = ?6,
                    payload = ?7, lease_owner = NULL, lease_token = NULL, lease_seq = NULL,
                    lease_expires_at = NULL, rescues = 0
             WHERE id = ?1 AND state = ?2 AND (?8 IS NULL OR lease_token = ?8)",
        )
        .bind(b.id)
        .bind(b.state)
        .bind(micros(now))
        .bind(pos)
        .bind(&job.jid)
        .bind(&job.class)
        .bind(payload)
        .bind(b.lease.as_deref())
        .execute(&mut **tx)
        .await
        .or_backend(&db.cx)?;
        pos += 1;
        moved += done.rows_affected();
    }
    moves::trim_dead(db, tx, now, limits).await?;
    Ok(moved)
}

/// The non-empty jid the bytes name at their top level, if they are text that names one.
fn named_jid(raw: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(raw).ok()?;
    top_level_str(text, "jid").filter(|j| !j.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use jobs::envelope::UNDECODABLE_ERROR;

    #[test]
    fn a_row_that_is_not_a_job_reads_as_its_dead_wrapper_under_its_own_jid() {
        let raw = br#"{"jid":"named","queue":"elsewhere","args":[]}"#;
        let job = read(raw, "row-jid", "mail", "dead", 1_000_000);
        assert_eq!((job.jid.as_str(), job.queue.as_str()), ("row-jid", "mail"));
        assert_eq!(job.error_class.as_deref(), Some(UNDECODABLE_ERROR));
        assert_eq!(job.args[0].as_str(), std::str::from_utf8(raw).ok());
        assert!(job
            .error_message
            .as_deref()
            .is_some_and(|m| m.contains("the dead set") && m.contains("class")));
        // The same at every read.
        assert_eq!(read(raw, "row-jid", "mail", "dead", 1_000_000), job);
    }

    #[test]
    fn bytes_that_are_not_utf8_are_kept_as_base64() {
        let job = read(&[0xff, b'{'], "j", "q", "available", 0);
        assert_eq!(job.extra["raw_base64"], "/3s=");
        assert!(job
            .error_message
            .as_deref()
            .is_some_and(|m| m.contains("not UTF-8") && m.contains("queue `q`")));
    }

    #[test]
    fn a_job_reads_as_itself() {
        let job = JobEnvelope::new("A", "q", vec![serde_json::json!(1)]);
        let text = job.to_json().unwrap_or_default();
        assert_eq!(read(text.as_bytes(), "other", "x", "available", 0), job);
        assert_eq!(named_jid(text.as_bytes()), Some(job.jid));
        assert_eq!(named_jid(br#"{"jid":""}"#), None);
    }
}
