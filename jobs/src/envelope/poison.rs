//! Jobs that go to the dead set for what they are rather than what they did: the one shape
//! every backend gives them, so the dashboard and Ruby's Sidekiq show them alike.
//!
//! 1. [`undecodable`]: stored bytes that are not a job (not UTF-8, not JSON, not an object,
//!    no `class`, nested past the decoder's limit) become a dead job that keeps them: as its
//!    only argument when they are text, as base64 in `raw_base64` when they are not. Its
//!    `jid`, `class` and `queue` are taken from the bytes when a shallow scan finds them, so
//!    the caller's jid survives; bytes with no jid get one computed from the bytes
//!    ([`undecodable_jid`]), the same at every listing, so they can be found and deleted by id.
//! 2. [`bury_rescued`]: a job rescued from as many dead processes as allowed is marked as
//!    having killed its process.
//! 3. [`TopLevel`] and [`top_level_str`]: the shallow scan of a payload's top-level members;
//!    it never recurses, so no payload can overflow it.

use std::ops::Range;

use base64::Engine;
use chrono::{DateTime, Utc};
use serde_json::Value;

use super::{to_epoch, JobEnvelope, RetrySetting};

/// The `error_class` of a dead job made from bytes that are not a job.
pub const UNDECODABLE_ERROR: &str = "jobs::UndecodablePayload";

/// The `error_class` of a job buried after its process died under it too often.
pub const KILLED_PROCESS_ERROR: &str = "jobs::ProcessKilled";

/// A dead job that keeps `raw`, the bytes found in `place` (for example "queue `default`"),
/// which are not a job because of `error`.
///
/// ```
/// use jobs::envelope::{undecodable, UNDECODABLE_ERROR};
/// let now = jobs::chrono::Utc::now();
/// let text = undecodable(br#"{"jid":"abc","class":"Email","args":[1"#, "mailers", "queue `mailers`", "EOF", now);
/// assert_eq!((text.jid.as_str(), text.class.as_str(), text.queue.as_str()), ("abc", "Email", "mailers"));
/// assert_eq!(text.error_class.as_deref(), Some(UNDECODABLE_ERROR));
/// assert_eq!(text.args[0], r#"{"jid":"abc","class":"Email","args":[1"#);
///
/// let bytes = undecodable(&[0xff, 0xfe, b'{'], "default", "queue `default`", "not UTF-8", now);
/// assert!(bytes.args.is_empty());
/// assert_eq!(bytes.extra["raw_base64"], "//57");
/// ```
pub fn undecodable(
    raw: &[u8],
    queue: &str,
    place: &str,
    error: &str,
    now: DateTime<Utc>,
) -> JobEnvelope {
    let text = std::str::from_utf8(raw).ok();
    let field = |name: &str| text.and_then(|t| top_level_str(t, name));
    let mut job = JobEnvelope::new(
        field("class").unwrap_or_else(|| "UndecodableJob".into()),
        field("queue").unwrap_or_else(|| queue.to_owned()),
        Vec::new(),
    );
    job.jid = field("jid")
        .filter(|j| !j.is_empty())
        .unwrap_or_else(|| undecodable_jid(raw));
    job.created_at = to_epoch(now);
    job.retry = RetrySetting::Enabled(false);
    job.error_class = Some(UNDECODABLE_ERROR.into());
    let kept = match text {
        Some(t) => {
            job.args = vec![Value::String(t.to_owned())];
            "unchanged, as this job's only argument"
        }
        None => {
            let encoded = base64::engine::general_purpose::STANDARD.encode(raw);
            job.extra
                .insert("raw_base64".into(), Value::String(encoded));
            "as base64 in `raw_base64`, since they are not text"
        }
    };
    job.error_message = Some(format!(
        "the {} bytes found in {place} are not a job ({error}); they were moved to the dead \
         set {kept}",
        raw.len()
    ));
    job.failed_at = Some(to_epoch(now));
    job
}

/// The jid given to bytes that are not a job and name none: 24 hex digits (a Sidekiq jid's
/// shape) computed from the bytes, so every listing of a store shows the same id for them.
///
/// ```
/// let a = jobs::envelope::undecodable_jid(b"garbage");
/// assert_eq!(a.len(), 24);
/// assert_eq!(a, jobs::envelope::undecodable_jid(b"garbage"));
/// assert_ne!(a, jobs::envelope::undecodable_jid(b"garbagf"));
/// ```
pub fn undecodable_jid(raw: &[u8]) -> String {
    // FNV-1a, 64 and 32 bits: stable across Rust releases and platforms, unlike std's hasher.
    let mut h64: u64 = 0xcbf2_9ce4_8422_2325;
    let mut h32: u32 = 0x811c_9dc5;
    for &b in raw {
        h64 = (h64 ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
        h32 = (h32 ^ u32::from(b)).wrapping_mul(0x0100_0193);
    }
    format!("{h64:016x}{h32:08x}")
}

/// Marks `job` as having killed its process: it was running each of the `rescues` times a
/// process died under it, so it goes to the dead set instead of running again.
///
/// ```
/// use jobs::envelope::{bury_rescued, JobEnvelope, KILLED_PROCESS_ERROR};
/// let mut job = JobEnvelope::new("Resize", "images", vec![]);
/// bury_rescued(&mut job, 3, jobs::chrono::Utc::now());
/// assert_eq!(job.error_class.as_deref(), Some(KILLED_PROCESS_ERROR));
/// assert!(job.error_message.unwrap().contains("3 times"));
/// ```
pub fn bury_rescued(job: &mut JobEnvelope, rescues: u32, now: DateTime<Utc>) {
    let at = to_epoch(now);
    job.error_class = Some(KILLED_PROCESS_ERROR.into());
    job.error_message = Some(format!(
        "the process running this job died {rescues} times while it ran (killed, aborted, out \
         of memory or crashed in native code); it was moved to the dead set so that it cannot \
         take more processes down"
    ));
    match job.retry_count {
        Some(_) => job.retried_at = Some(at),
        None => job.failed_at = Some(at),
    }
}

/// The string value of the top-level member `name` of the JSON object `raw`, found by a scan
/// that never recurses (nesting is counted, not followed), or `None`. Members before a point
/// where the text stops being JSON are still found, so a truncated payload keeps its jid.
///
/// ```
/// use jobs::envelope::top_level_str;
/// let raw = r#"{"args":[{"jid":"inner"}],"jid":"outer","class":"A\"B"}"#;
/// assert_eq!(top_level_str(raw, "jid").as_deref(), Some("outer"));
/// assert_eq!(top_level_str(raw, "class").as_deref(), Some("A\"B"));
/// assert_eq!(top_level_str(r#"{"jid":"j1","args":[1"#, "jid").as_deref(), Some("j1"));
/// assert_eq!(top_level_str("[1]", "jid"), None);
/// ```
pub fn top_level_str(raw: &str, name: &str) -> Option<String> {
    let member = TopLevel::new(raw).find(|m| m.key_is(name))?;
    match raw.as_bytes().get(member.value.start) {
        Some(b'"') => serde_json::from_str(raw.get(member.value)?).ok(),
        _ => None,
    }
}

/// One top-level member of a JSON object, as [`TopLevel`] finds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member<'a> {
    /// The key as written between its quotes (escapes not undone).
    pub key: &'a str,
    /// The span of the whole member, key to end of value.
    pub span: Range<usize>,
    /// The span of the value.
    pub value: Range<usize>,
}

impl Member<'_> {
    /// Whether the key, escapes undone, is `name`.
    pub fn key_is(&self, name: &str) -> bool {
        if self.key.contains('\\') {
            serde_json::from_str::<String>(&format!("\"{}\"", self.key)).is_ok_and(|k| k == name)
        } else {
            self.key == name
        }
    }
}

/// The top-level members of a JSON object, in order, found without recursion; the iterator
/// ends at the object's end or where the text stops being JSON it understands
/// ([`TopLevel::complete`] says which). Shared by the shallow reads of stored payloads: the
/// jid of bytes that are not a job, and the Redis backend's edits of stored payloads.
///
/// ```
/// use jobs::envelope::TopLevel;
/// let mut members = TopLevel::new(r#" { "a" : [1, {"x":2}] , "b":null } "#);
/// let keys: Vec<&str> = members.by_ref().map(|m| m.key).collect();
/// assert_eq!(keys, ["a", "b"]);
/// assert!(members.complete());
/// ```
#[derive(Debug, Clone)]
pub struct TopLevel<'a> {
    raw: &'a str,
    at: usize,
    state: Scan,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scan {
    Start,
    Members,
    Done,
    Broken,
}

impl<'a> TopLevel<'a> {
    /// Scans `raw`.
    pub fn new(raw: &'a str) -> Self {
        TopLevel {
            raw,
            at: 0,
            state: Scan::Start,
        }
    }

    /// Whether the scan reached the end of a well-formed object (after the last member).
    pub fn complete(&self) -> bool {
        self.state == Scan::Done
    }

    fn member(&mut self) -> Option<Member<'a>> {
        let b = self.raw.as_bytes();
        if self.state == Scan::Start {
            let i = skip_ws(b, 0);
            if b.get(i) != Some(&b'{') {
                return None;
            }
            self.at = skip_ws(b, i + 1);
            if b.get(self.at) == Some(&b'}') {
                self.state = Scan::Done;
                return None;
            }
            self.state = Scan::Members;
        }
        let start = self.at;
        if b.get(start) != Some(&b'"') {
            return None;
        }
        let key_end = string_end(b, start)?;
        let key = self.raw.get(start + 1..key_end - 1)?;
        let mut i = skip_ws(b, key_end);
        if b.get(i) != Some(&b':') {
            return None;
        }
        i = skip_ws(b, i + 1);
        let end = value_end(b, i)?;
        let member = Member {
            key,
            span: start..end,
            value: i..end,
        };
        let next = skip_ws(b, end);
        match b.get(next) {
            Some(b',') => {
                self.at = skip_ws(b, next + 1);
            }
            Some(b'}') => self.state = Scan::Done,
            _ => self.state = Scan::Broken,
        }
        Some(member)
    }
}

impl<'a> Iterator for TopLevel<'a> {
    type Item = Member<'a>;

    fn next(&mut self) -> Option<Member<'a>> {
        if matches!(self.state, Scan::Done | Scan::Broken) {
            return None;
        }
        let found = self.member();
        if found.is_none() && self.state != Scan::Done {
            self.state = Scan::Broken;
        }
        found
    }
}

fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while matches!(b.get(i), Some(b' ' | b'\t' | b'\n' | b'\r')) {
        i += 1;
    }
    i
}

/// `b[i]` is an opening quote: the index after the closing one.
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

/// The index after the JSON value starting at `i`; arrays and objects are skipped by counting
/// brackets outside strings, never by recursion. `None` for an empty or unfinished value.
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_jid_of_a_payload_too_deep_to_decode_survives() {
        let deep = format!(
            r#"{{"class":"Deep","jid":"j-1","args":[{}1{}]}}"#,
            "[".repeat(100_000),
            "]".repeat(100_000)
        );
        assert!(JobEnvelope::from_json(&deep).is_err());
        let dead = undecodable(deep.as_bytes(), "q", "queue `q`", "too deep", Utc::now());
        assert_eq!((dead.jid.as_str(), dead.class.as_str()), ("j-1", "Deep"));
        assert_eq!(dead.args[0].as_str(), Some(deep.as_str()));
    }

    #[test]
    fn garbage_gets_a_jid_from_its_bytes_and_keeps_them() {
        for raw in [&b"not json"[..], b"", b"[1,2]", b"{\"jid\":", b"\"\\"] {
            let dead = undecodable(raw, "q", "queue `q`", "bad", Utc::now());
            assert_eq!(dead.jid, undecodable_jid(raw));
            assert_eq!(dead.queue, "q");
            assert_eq!(
                dead.args,
                vec![Value::String(String::from_utf8_lossy(raw).into())]
            );
        }
    }
}
