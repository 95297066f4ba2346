//! Job JSON as stored: encoding envelopes, editing top-level fields of a raw payload without
//! re-encoding it, and wrapping a payload that is not a job for the dead set.
//!
//! 1. [`encode`] writes an envelope as Sidekiq stores it (no `at`: the score is the time).
//! 2. [`restamp`] sets `enqueued_at` and drops `at` in a stored payload by editing its text, so
//!    arguments written by Ruby (big integers, float formatting, key order) stay byte-for-byte.
//! 3. [`undecodable`] turns a payload that does not parse into a dead job that keeps it.

use chrono::{DateTime, Utc};
use jobs::backend::BackendError;
use jobs::envelope::{new_jid, to_epoch, JobEnvelope, RetrySetting};
use serde_json::Value;

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

/// A stored payload parsed, or a decode error naming where it was found.
pub(crate) fn decode(raw: &str, place: &str) -> Result<JobEnvelope, BackendError> {
    JobEnvelope::from_json(raw)
        .map_err(|e| BackendError::Decode(format!("a job in {place} is not valid job JSON: {e}")))
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

type Span = std::ops::Range<usize>;

/// The top-level members of a JSON object: each key (as written) and the span of the whole
/// member. `None` when `raw` is not an object this scanner understands.
fn members(raw: &str) -> Option<Vec<(&str, Span)>> {
    let b = raw.as_bytes();
    let mut i = skip_ws(b, 0);
    if b.get(i) != Some(&b'{') {
        return None;
    }
    i = skip_ws(b, i + 1);
    let mut out = Vec::new();
    if b.get(i) == Some(&b'}') {
        return Some(out);
    }
    loop {
        let start = i;
        if b.get(i) != Some(&b'"') {
            return None;
        }
        let key_end = string_end(b, i)?;
        let key = raw.get(start + 1..key_end - 1)?;
        i = skip_ws(b, key_end);
        if b.get(i) != Some(&b':') {
            return None;
        }
        i = value_end(b, skip_ws(b, i + 1))?;
        out.push((key, start..i));
        i = skip_ws(b, i);
        match b.get(i) {
            Some(b',') => i = skip_ws(b, i + 1),
            Some(b'}') => return Some(out),
            _ => return None,
        }
    }
}

fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while matches!(b.get(i), Some(b' ' | b'\t' | b'\n' | b'\r')) {
        i += 1;
    }
    i
}

/// `b[i]` is an opening quote; returns the index after the closing one.
fn string_end(b: &[u8], mut i: usize) -> Option<usize> {
    i += 1;
    while let Some(&c) = b.get(i) {
        match c {
            b'\\' => i += 2,
            b'"' => return Some(i + 1),
            _ => i += 1,
        }
    }
    None
}

/// The index after the JSON value starting at `i`.
fn value_end(b: &[u8], mut i: usize) -> Option<usize> {
    match b.get(i)? {
        b'"' => string_end(b, i),
        b'{' | b'[' => {
            let mut depth = 0usize;
            while let Some(&c) = b.get(i) {
                match c {
                    b'"' => {
                        i = string_end(b, i)?;
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth = depth.checked_sub(1)?;
                        if depth == 0 {
                            return Some(i + 1);
                        }
                    }
                    _ => {}
                }
                i += 1;
            }
            None
        }
        _ => {
            let start = i;
            while let Some(&c) = b.get(i) {
                if matches!(c, b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r') {
                    break;
                }
                i += 1;
            }
            (i > start).then_some(i)
        }
    }
}

/// A dead job standing for a payload found in `place` (e.g. "queue `default`") that is not a
/// job: it keeps the payload as its only argument and says what was wrong in `error_message`.
pub(crate) fn undecodable(
    raw: &str,
    queue: &str,
    place: &str,
    error: &str,
    now: DateTime<Utc>,
) -> String {
    let parsed: Option<Value> = serde_json::from_str(raw).ok();
    let field = |name: &str| {
        parsed
            .as_ref()
            .and_then(|v| v.get(name))
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    let mut job = JobEnvelope::new(
        field("class").unwrap_or_else(|| "UndecodableJob".into()),
        queue,
        vec![Value::String(raw.to_owned())],
    );
    job.jid = field("jid").unwrap_or_else(new_jid);
    job.created_at = to_epoch(now);
    job.retry = RetrySetting::Enabled(false);
    job.error_class = Some("JobDecodeError".into());
    job.error_message = Some(format!(
        "the payload found in {place} is not valid job JSON ({error}); \
         it was moved to the dead set unchanged, as this job's only argument"
    ));
    job.failed_at = Some(to_epoch(now));
    // Encoding an envelope of strings cannot fail; fall back to a minimal JSON all the same.
    job.to_json().unwrap_or_else(|_| {
        serde_json::json!({ "class": "UndecodableJob", "args": [raw], "queue": queue }).to_string()
    })
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
    fn undecodable_keeps_the_payload_and_says_why() {
        let now = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let out = undecodable(
            "{not json",
            "default",
            "queue `default`",
            "expected value",
            now,
        );
        let job = JobEnvelope::from_json(&out).unwrap();
        assert_eq!(job.args, vec![Value::String("{not json".into())]);
        assert!(job.error_message.unwrap().contains("not valid job JSON"));
        assert_eq!(job.queue, "default");
    }
}
