//! Reading a [`JobEnvelope`] from any serde format in one pass over its fields.
//!
//! Written by hand rather than derived because the derive, with `#[serde(flatten)]` for the
//! unknown fields, first buffers the whole object into an intermediate tree and then reads
//! it a second time; every reserve decodes a job, so that doubled the cost of the hottest
//! decode in the worker. Known fields are read in place; any other key goes to `extra`.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::{Map, Value};

use super::flow::UniqueLock;
use super::{time, JobEnvelope, RetrySetting};

/// Epoch seconds, read as the envelope stores them (Sidekiq 8 milliseconds too).
struct Secs(f64);

impl<'de> Deserialize<'de> for Secs {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        time::seconds::deserialize(d).map(Secs)
    }
}

/// Optional epoch seconds.
struct SecsOpt(Option<f64>);

impl<'de> Deserialize<'de> for SecsOpt {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        time::seconds_opt::deserialize(d).map(SecsOpt)
    }
}

/// Sidekiq's `retry_count`, a negative count read as absent.
struct RetryCount(Option<u32>);

impl<'de> Deserialize<'de> for RetryCount {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        super::retry_count(d).map(RetryCount)
    }
}

impl<'de> Deserialize<'de> for RetrySetting {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = RetrySetting;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("true, false or a retry count")
            }
            fn visit_bool<E: de::Error>(self, b: bool) -> Result<RetrySetting, E> {
                Ok(RetrySetting::Enabled(b))
            }
            fn visit_u64<E: de::Error>(self, n: u64) -> Result<RetrySetting, E> {
                u32::try_from(n)
                    .map(RetrySetting::Count)
                    .map_err(|_| E::invalid_value(de::Unexpected::Unsigned(n), &self))
            }
            fn visit_i64<E: de::Error>(self, n: i64) -> Result<RetrySetting, E> {
                u32::try_from(n)
                    .map(RetrySetting::Count)
                    .map_err(|_| E::invalid_value(de::Unexpected::Signed(n), &self))
            }
        }
        d.deserialize_any(V)
    }
}

/// The fields the envelope reads itself.
const KNOWN: &[&str] = &[
    "class",
    "args",
    "queue",
    "jid",
    "created_at",
    "enqueued_at",
    "at",
    "retry",
    "dead",
    "retry_count",
    "error_message",
    "error_class",
    "failed_at",
    "retried_at",
    "error_backtrace",
    "jobs_rs_unique",
];

/// A key of the job object: one of [`KNOWN`] (no allocation), or any other, owned.
struct Key(Result<&'static str, String>);

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Key;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a field name")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Key, E> {
                Ok(Key(KNOWN
                    .iter()
                    .find(|k| **k == s)
                    .copied()
                    .ok_or_else(|| s.to_owned())))
            }
            fn visit_string<E: de::Error>(self, s: String) -> Result<Key, E> {
                Ok(Key(KNOWN.iter().find(|k| **k == s).copied().ok_or(s)))
            }
        }
        d.deserialize_str(V)
    }
}

/// Stores `value` in `slot`, refusing a second occurrence of the same key.
fn once<T, E: de::Error>(slot: &mut Option<T>, name: &'static str, value: T) -> Result<(), E> {
    if slot.is_some() {
        return Err(E::duplicate_field(name));
    }
    *slot = Some(value);
    Ok(())
}

impl<'de> Deserialize<'de> for JobEnvelope {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(EnvelopeVisitor)
    }
}

struct EnvelopeVisitor;

impl<'de> Visitor<'de> for EnvelopeVisitor {
    type Value = JobEnvelope;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a job object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<JobEnvelope, A::Error> {
        let mut class = None;
        let mut args = None;
        let mut queue = None;
        let mut jid = None;
        let mut created_at = None;
        let mut enqueued_at = None;
        let mut at = None;
        let mut retry = None;
        let mut dead = None;
        let mut retry_count = None;
        let mut error_message = None;
        let mut error_class = None;
        let mut failed_at = None;
        let mut retried_at = None;
        let mut error_backtrace = None;
        let mut unique_lock = None;
        let mut extra = Map::new();
        while let Some(key) = map.next_key::<Key>()? {
            match key.0 {
                Err(name) => {
                    let value = map.next_value::<Value>()?;
                    extra.insert(name, value);
                }
                Ok(known) => match known {
                    "class" => once(&mut class, "class", map.next_value::<String>()?)?,
                    "args" => once(&mut args, "args", map.next_value::<Vec<Value>>()?)?,
                    "queue" => once(&mut queue, "queue", map.next_value::<String>()?)?,
                    "jid" => once(&mut jid, "jid", map.next_value::<String>()?)?,
                    "created_at" => {
                        once(&mut created_at, "created_at", map.next_value::<Secs>()?.0)?
                    }
                    "enqueued_at" => once(
                        &mut enqueued_at,
                        "enqueued_at",
                        map.next_value::<SecsOpt>()?.0,
                    )?,
                    "at" => once(&mut at, "at", map.next_value::<SecsOpt>()?.0)?,
                    "retry" => once(&mut retry, "retry", map.next_value::<RetrySetting>()?)?,
                    "dead" => once(&mut dead, "dead", map.next_value::<Option<bool>>()?)?,
                    "retry_count" => once(
                        &mut retry_count,
                        "retry_count",
                        map.next_value::<RetryCount>()?.0,
                    )?,
                    "error_message" => once(
                        &mut error_message,
                        "error_message",
                        map.next_value::<Option<String>>()?,
                    )?,
                    "error_class" => once(
                        &mut error_class,
                        "error_class",
                        map.next_value::<Option<String>>()?,
                    )?,
                    "failed_at" => {
                        once(&mut failed_at, "failed_at", map.next_value::<SecsOpt>()?.0)?
                    }
                    "retried_at" => once(
                        &mut retried_at,
                        "retried_at",
                        map.next_value::<SecsOpt>()?.0,
                    )?,
                    "error_backtrace" => once(
                        &mut error_backtrace,
                        "error_backtrace",
                        map.next_value::<Option<Value>>()?,
                    )?,
                    "jobs_rs_unique" => {
                        // A lock that does not read as one stays as written, in `extra`.
                        let value = map.next_value::<Value>()?;
                        if unique_lock.is_some() || extra.contains_key(known) {
                            return Err(de::Error::duplicate_field("jobs_rs_unique"));
                        }
                        match UniqueLock::deserialize(&value) {
                            Ok(lock) => unique_lock = Some(lock),
                            Err(_) => {
                                extra.insert(known.to_owned(), value);
                            }
                        }
                    }
                    _ => {
                        let value = map.next_value::<Value>()?;
                        extra.insert(known.to_owned(), value);
                    }
                },
            }
        }
        Ok(JobEnvelope {
            class: class.ok_or_else(|| de::Error::missing_field("class"))?,
            args: args.ok_or_else(|| de::Error::missing_field("args"))?,
            queue: queue.ok_or_else(|| de::Error::missing_field("queue"))?,
            jid: jid.ok_or_else(|| de::Error::missing_field("jid"))?,
            created_at: created_at.ok_or_else(|| de::Error::missing_field("created_at"))?,
            enqueued_at: enqueued_at.flatten(),
            at: at.flatten(),
            retry: retry.unwrap_or(RetrySetting::Enabled(true)),
            dead: dead.flatten(),
            retry_count: retry_count.flatten(),
            error_message: error_message.flatten(),
            error_class: error_class.flatten(),
            failed_at: failed_at.flatten(),
            retried_at: retried_at.flatten(),
            error_backtrace: error_backtrace.flatten(),
            unique_lock,
            extra,
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn decode(v: Value) -> Result<JobEnvelope, serde_json::Error> {
        JobEnvelope::from_json(&v.to_string())
    }

    fn base() -> Value {
        json!({"class":"A","args":[1],"queue":"q","jid":"0123456789abcdef01234567","created_at":1.5})
    }

    #[test]
    fn every_known_field_is_read_and_the_rest_kept() {
        let mut v = base();
        let o = v.as_object_mut().unwrap();
        o.insert("enqueued_at".into(), json!(2.5));
        o.insert("at".into(), json!(3));
        o.insert("retry".into(), json!(5));
        o.insert("dead".into(), json!(false));
        o.insert("retry_count".into(), json!(2));
        o.insert("error_message".into(), json!("boom"));
        o.insert("error_class".into(), json!("E"));
        o.insert("failed_at".into(), json!(4.0));
        o.insert("retried_at".into(), json!(null));
        o.insert("error_backtrace".into(), json!(["a", "b"]));
        o.insert("tags".into(), json!(["x"]));
        let job = decode(v).unwrap();
        assert_eq!(job.enqueued_at, Some(2.5));
        assert_eq!(job.at, Some(3.0));
        assert_eq!(job.retry, RetrySetting::Count(5));
        assert_eq!(job.dead, Some(false));
        assert_eq!(job.retry_count, Some(2));
        assert_eq!(job.error_message.as_deref(), Some("boom"));
        assert_eq!(job.error_class.as_deref(), Some("E"));
        assert_eq!(job.failed_at, Some(4.0));
        assert_eq!(job.retried_at, None);
        assert_eq!(job.error_backtrace, Some(json!(["a", "b"])));
        assert_eq!(job.extra.len(), 1);
        assert_eq!(job.extra["tags"], json!(["x"]));
    }

    #[test]
    fn retry_defaults_to_true_and_reads_bools() {
        assert_eq!(decode(base()).unwrap().retry, RetrySetting::Enabled(true));
        let mut v = base();
        v["retry"] = json!(false);
        assert_eq!(decode(v).unwrap().retry, RetrySetting::Enabled(false));
    }

    #[test]
    fn bad_fields_are_named() {
        let mut v = base();
        v["retry"] = json!("often");
        let err = decode(v).unwrap_err().to_string();
        assert!(err.contains("retry count"), "{err}");
        for field in ["args", "queue", "jid", "created_at"] {
            let mut v = base();
            v.as_object_mut().unwrap().remove(field);
            let err = decode(v).unwrap_err().to_string();
            assert!(err.contains(field), "{field}: {err}");
        }
        let err = JobEnvelope::from_json(r#"{"class":"A","class":"B"}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("duplicate field `class`"), "{err}");
        assert!(JobEnvelope::from_json("[1,2]").is_err());
    }

    #[test]
    fn decodes_from_a_value_too() {
        let job: JobEnvelope = serde_json::from_value(base()).unwrap();
        assert_eq!(job.class, "A");
    }

    #[test]
    fn a_unique_lock_reads_typed_and_anything_else_under_its_name_stays_as_written() {
        let mut v = base();
        v["jobs_rs_unique"] = json!({"key": "k", "until": "start", "expires_at": 5.0});
        let job = decode(v).unwrap();
        let lock = job.unique_ref().expect("the lock reads as one");
        assert_eq!((lock.key.as_str(), lock.expires_at), ("k", 5.0));
        assert!(job.extra.is_empty(), "{:?}", job.extra);
        let again = decode(serde_json::to_value(&job).unwrap()).unwrap();
        assert_eq!(again, job, "the lock survives a round trip");

        let mut v = base();
        v["jobs_rs_unique"] = json!("not a lock");
        let job = decode(v).unwrap();
        assert_eq!(job.unique_ref(), None);
        assert_eq!(job.extra["jobs_rs_unique"], json!("not a lock"));
        let written = serde_json::to_value(&job).unwrap();
        assert_eq!(
            written["jobs_rs_unique"],
            json!("not a lock"),
            "kept as written"
        );

        let twice = r#"{"class":"A","args":[],"queue":"q","jid":"j","created_at":1,
            "jobs_rs_unique":"x","jobs_rs_unique":{"key":"k","until":"start","expires_at":5}}"#;
        let err = JobEnvelope::from_json(twice).unwrap_err().to_string();
        assert!(err.contains("duplicate field `jobs_rs_unique`"), "{err}");
    }
}
