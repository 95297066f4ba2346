//! Job JSON as stored: encoding envelopes, reading stored bytes, editing top-level fields of
//! a raw payload without re-encoding it, and wrapping bytes that are not a job for the dead set.
//!
//! 1. [`encode`] writes an envelope as Sidekiq stores it (no `at`: the score is the time).
//! 2. [`restamp`] sets `enqueued_at` and drops `at` in a stored payload by editing its text, so
//!    arguments written by Ruby (big integers, float formatting, key order) stay byte-for-byte.
//! 3. [`parse`] reads stored bytes as a job; [`bury`] turns bytes that are not a job into the
//!    one dead job `jobs::envelope::undecodable` makes of them, which keeps them.

use chrono::{DateTime, Utc};
use jobs::backend::BackendError;
use jobs::envelope::{to_epoch, undecodable, JobEnvelope, TopLevel};

/// The envelope as stored: JSON without `at`.
pub(crate) fn encode(job: &JobEnvelope) -> Result<String, BackendError> {
    if job.at.is_some() {
        let mut job = job.clone();
        job.at = None;
        return encode(&job);
    }
    job.to_json()
        .map_err(|e| BackendError::Decode(format!("job {} cannot be encoded: {e}", job.jid)))
}

/// `raw` with `enqueued_at` set to `now` and any `at` removed, the rest unchanged.
///
/// Falls back to re-encoding `job` if the text cannot be edited (it always can for JSON that
/// parsed as a job).
pub(crate) fn restamp(
    raw: &str,
    job: &JobEnvelope,
    now: DateTime<Utc>,
) -> Result<String, BackendError> {
    let stamp = to_epoch(now);
    match edit(raw, &["at", "enqueued_at"], &[("enqueued_at", stamp)]) {
        Some(s) => Ok(s),
        None => {
            let mut job = job.clone();
            job.at = None;
            job.enqueued_at = Some(stamp);
            encode(&job)
        }
    }
}

/// Rewrites a JSON object's top level: drops the members named in `remove`, appends `set`.
fn edit(raw: &str, remove: &[&str], set: &[(&str, f64)]) -> Option<String> {
    let members = members(raw)?;
    let mut out = String::with_capacity(raw.len() + 32);
    out.push('{');
    for (key, span) in members {
        if remove.contains(&key) {
            continue;
        }
        if out.len() > 1 {
            out.push(',');
        }
        out.push_str(raw.get(span)?);
    }
    for (key, value) in set {
        if out.len() > 1 {
            out.push(',');
        }
        out.push_str(&serde_json::to_string(key).ok()?);
        out.push(':');
        out.push_str(&serde_json::to_string(value).ok()?);
    }
    out.push('}');
    Some(out)
}

/// The top-level members of a JSON object: each key (as written) and the span of the whole
/// member. `None` when `raw` is not an object the shared scanner reads to its end.
fn members(raw: &str) -> Option<Vec<(&str, std::ops::Range<usize>)>> {
    let mut scan = TopLevel::new(raw);
    let out = scan.by_ref().map(|m| (m.key, m.span)).collect();
    scan.complete().then_some(out)
}

/// Stored bytes read as a job: its text and the job, or why the bytes are not a job (as
/// [`undecodable`] writes it into the dead job's error).
pub(crate) fn parse(raw: &[u8]) -> Result<(&str, JobEnvelope), String> {
    let text = std::str::from_utf8(raw).map_err(|e| format!("not UTF-8: {e}"))?;
    let job = JobEnvelope::from_json(text).map_err(|e| e.to_string())?;
    Ok((text, job))
}

/// The dead job that stands for bytes found in `place` (e.g. "queue `default`") that are not
/// a job because of `why`, encoded as the dead set stores it.
pub(crate) fn bury(
    raw: &[u8],
    queue: &str,
    place: &str,
    why: &str,
    now: DateTime<Utc>,
) -> Result<Vec<u8>, BackendError> {
    encode(&undecodable(raw, queue, place, why, now)).map(String::into_bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restamp_keeps_everything_else_byte_for_byte() {
        let raw = r#"{"class":"A","args":[12345678901234567890123,1.10,{"at":1,"x":"}\"]"}],"queue":"q","jid":"j","created_at":1.5,"at":99.5,"enqueued_at":3}"#;
        let job = JobEnvelope::new("A", "q", vec![]);
        let now = DateTime::from_timestamp(1_700_000_000, 250_000_000).unwrap();
        let out = restamp(raw, &job, now).unwrap();
        assert_eq!(
            out,
            r#"{"class":"A","args":[12345678901234567890123,1.10,{"at":1,"x":"}\"]"}],"queue":"q","jid":"j","created_at":1.5,"enqueued_at":1700000000.25}"#
        );
    }

    #[test]
    fn members_handles_whitespace_and_empty_objects() {
        assert_eq!(members("{}").unwrap().len(), 0);
        let m = members(" { \"a\" : [1, 2] , \"b\":null } ").unwrap();
        assert_eq!(m.iter().map(|(k, _)| *k).collect::<Vec<_>>(), ["a", "b"]);
        assert!(members("[1]").is_none());
        assert!(members("{\"a\":1").is_none());
    }

    #[test]
    fn bytes_that_are_not_a_job_are_buried_keeping_them() {
        let now = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let good = br#"{"class":"A","args":[],"queue":"q","jid":"j1","created_at":1}"#;
        assert_eq!(parse(good).unwrap().1.jid, "j1");
        let bad = [0xffu8, b'{', 0x80];
        let why = parse(&bad).unwrap_err();
        assert!(why.contains("not UTF-8"), "{why}");
        assert!(parse(br#"{"jid":"x"}"#).unwrap_err().contains("class"));
        let stored = bury(&bad, "q", "queue `q`", &why, now).unwrap();
        let stored = JobEnvelope::from_json(std::str::from_utf8(&stored).unwrap()).unwrap();
        assert_eq!(stored.jid, jobs::envelope::undecodable_jid(&bad));
        assert_eq!(
            stored.error_class.as_deref(),
            Some(jobs::envelope::UNDECODABLE_ERROR)
        );
        assert!(stored.error_message.unwrap().contains("not UTF-8"));
        assert_eq!(stored.extra["raw_base64"], "/3uA");
    }
}
