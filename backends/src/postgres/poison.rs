//! Rows whose payload is not a job: how every read shows them, and how they are buried.
//!
//! 1. The `json` column holds only JSON text, but not every JSON text is a job: not an
//!    object, no class, args not a list, nested past the decoder's limit (serde_json's 128
//!    levels, where Postgres takes thousands). Payloads are read as text (`payload::text`)
//!    and decoded here; [`read`] gives, for one that is not a job, the dead job of
//!    [`jobs::envelope::undecodable`] that keeps the text, under the row's own `jid` and
//!    queue: every listing shows the same id for it, and the admin actions find it by that id.
//! 2. [`bury`] moves the rows a reserve leased and found not to be jobs to the dead set, in
//!    one transaction: the stored payload becomes that dead job, and its jid the one the text
//!    names when no other row holds it, so the caller's jid survives.

use chrono::{DateTime, Utc};
use jobs::backend::BackendError;
use jobs::envelope::{top_level_str, undecodable, JobEnvelope};

use super::error::Sqlx;
use super::sets::Stored;
use super::{rows, Inner};

/// Decodes a stored payload, with the `enqueued_at` column's stamp, or says why it is not a
/// job.
pub(super) fn decode(text: &str, enqueued_at: Option<f64>) -> Result<JobEnvelope, String> {
    let mut job = JobEnvelope::from_json(text).map_err(|e| e.to_string())?;
    if enqueued_at.is_some() {
        job.enqueued_at = enqueued_at;
    }
    Ok(job)
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

/// The dead job standing for text `raw` of row `jid` in `queue`, not a job because of
/// `error`.
fn wrap(
    raw: &str,
    jid: &str,
    queue: &str,
    place: &str,
    error: &str,
    at: DateTime<Utc>,
) -> JobEnvelope {
    let mut job = undecodable(raw.as_bytes(), queue, place, error, at);
    job.jid = jid.to_owned();
    job.queue = queue.to_owned();
    job
}

/// The job a row of `state` holds: its payload decoded, or the dead job that keeps the text
/// when it is not a job.
pub(super) fn read(row: &Stored, state: &str) -> JobEnvelope {
    let (text, run_at, enqueued_at, jid, queue) = row;
    decode(text, *enqueued_at)
        .unwrap_or_else(|error| wrap(text, jid, queue, &place(state, queue), &error, *run_at))
}

/// A row a reserve leased and found not to be a job.
#[derive(Debug)]
pub(super) struct Bad {
    /// The row.
    pub(super) id: i64,
    /// The token of the lease it was taken under.
    pub(super) lease: i64,
    /// Its `jid` column.
    pub(super) jid: String,
    /// Its `queue` column.
    pub(super) queue: String,
    /// The payload's text.
    pub(super) raw: String,
    /// Why it is not a job.
    pub(super) error: String,
}

/// Moves each of `bad` still leased as it was taken to the dead set at `now`, as the dead
/// job that keeps its text, in one transaction.
pub(super) async fn bury(
    inner: &Inner,
    bad: &[Bad],
    now: DateTime<Utc>,
) -> Result<(), BackendError> {
    let taken_sql = inner.q("SELECT EXISTS (SELECT 1 FROM __SCHEMA__.jobs WHERE jid = $1)");
    let move_sql = inner.q("UPDATE __SCHEMA__.jobs SET state = 'dead', run_at = $3,
             position = nextval('__SCHEMA__.position_seq'), jid = $4, payload = $5::json,
             lease_owner = NULL, lease_token = NULL, lease_expires_at = NULL, rescues = 0,
             unique_key = NULL
         WHERE id = $1 AND lease_token = $2");
    let mut tx = inner.pool.begin().await.or_backend(&inner.cx)?;
    for b in bad {
        tracing::error!(row = b.id, jid = %b.jid, queue = %b.queue, error = %b.error, "a stored job cannot be decoded; moved to the dead set");
        let mut job = wrap(
            &b.raw,
            &b.jid,
            &b.queue,
            &place("available", &b.queue),
            &b.error,
            now,
        );
        if let Some(named) = top_level_str(&b.raw, "jid").filter(|n| !n.is_empty() && *n != b.jid) {
            let taken: bool = sqlx::query_scalar(&taken_sql)
                .bind(&named)
                .fetch_one(&mut *tx)
                .await
                .or_backend(&inner.cx)?;
            if !taken {
                job.jid = named;
            }
        }
        sqlx::query(&move_sql)
            .bind(b.id)
            .bind(b.lease)
            .bind(now)
            .bind(&job.jid)
            .bind(rows::encode(&job)?)
            .execute(&mut *tx)
            .await
            .or_backend(&inner.cx)?;
    }
    tx.commit().await.or_backend(&inner.cx)
}

#[cfg(test)]
mod tests {
    use super::*;
    use jobs::envelope::UNDECODABLE_ERROR;

    #[test]
    fn a_row_that_is_not_a_job_reads_as_its_dead_wrapper_under_its_own_jid() {
        let raw = r#"{"jid":"named","queue":"elsewhere","args":5}"#;
        let row: Stored = (
            raw.into(),
            Utc::now(),
            Some(1.0),
            "row-jid".into(),
            "mail".into(),
        );
        let job = read(&row, "scheduled");
        assert_eq!((job.jid.as_str(), job.queue.as_str()), ("row-jid", "mail"));
        assert_eq!(job.error_class.as_deref(), Some(UNDECODABLE_ERROR));
        assert_eq!(job.args[0].as_str(), Some(raw));
        assert!(job
            .error_message
            .as_deref()
            .is_some_and(|m| m.contains("the scheduled set")));
        assert_eq!(read(&row, "scheduled"), job, "the same at every read");
    }

    #[test]
    fn a_job_reads_as_itself_with_the_stamped_enqueued_at() {
        let job = JobEnvelope::new("A", "q", vec![serde_json::json!(1)]);
        let text = job.to_json().unwrap_or_default();
        let row: Stored = (text, Utc::now(), Some(7.5), "other".into(), "x".into());
        let read = read(&row, "available");
        assert_eq!(read.enqueued_at, Some(7.5));
        assert_eq!((read.jid, read.class), (job.jid, job.class));
    }
}
