//! Rust → Ruby: [`ActiveJob`] writes the payload Active Job's Sidekiq adapter writes.

use chrono::Utc;
use rand::RngCore;
use serde::Serialize;
use serde_json::{json, Map, Value};

use super::decode::{RESERVED_KEYS, SERIALIZED_KEY, SYMBOL_KEYS_KEY};
use super::gid::GLOBALID_KEY;
use super::Wrapper;
use crate::envelope::{JobEnvelope, RetrySetting};
use crate::{Client, EnqueueError, Enqueued};

/// Which keys of the hashes in the arguments Ruby receives as Symbols.
///
/// Rust maps have string keys; Ruby code mostly uses symbol-keyed hashes (`{locale: "en"}`),
/// which Active Job lists in `_aj_symbol_keys`. The default marks every key of every hash as
/// a symbol, as Rails does for a symbol-keyed hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum HashKeys {
    /// Every key becomes a Symbol (`_aj_symbol_keys` lists them all).
    #[default]
    Symbols,
    /// Every key stays a String (`_aj_symbol_keys` is empty).
    Strings,
}

/// Why an Active Job could not be enqueued.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ActiveJobError {
    /// The arguments cannot be written as Active Job arguments.
    #[error("Active Job {job}: {message}")]
    Arguments {
        /// The Ruby job class.
        job: String,
        /// What is wrong, and where.
        message: String,
    },
    /// The client refused the job or the store failed.
    #[error(transparent)]
    Enqueue(#[from] EnqueueError),
}

/// An argument Active Job could not read back.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// A hash uses a key Active Job reserves for its own markers (`_aj_symbol_keys`, ...).
    #[error("{path} has the key `{key}`, which Active Job reserves")]
    ReservedKey {
        /// Where in the arguments, e.g. `arguments[0].options`.
        path: String,
        /// The key.
        key: String,
    },
}

/// Writes one argument as Active Job serializes it: hashes get `_aj_symbol_keys` (per
/// `keys`), nested values too; GlobalID and `_aj_serialized` objects pass unchanged.
///
/// ```
/// use jobs::active_job::{encode_argument, GlobalId, HashKeys};
/// use serde_json::json;
/// let v = encode_argument(&json!({"name": "a", "tags": ["x"]}), HashKeys::Symbols).unwrap();
/// assert_eq!(v, json!({"name": "a", "tags": ["x"], "_aj_symbol_keys": ["name", "tags"]}));
/// let gid = serde_json::to_value(GlobalId::new("app", "User", "1")).unwrap();
/// assert_eq!(encode_argument(&gid, HashKeys::Symbols).unwrap(), json!({"_aj_globalid": "gid://app/User/1"}));
/// assert!(encode_argument(&json!({"_aj_symbol_keys": []}), HashKeys::Strings).is_err());
/// ```
pub fn encode_argument(value: &Value, keys: HashKeys) -> Result<Value, EncodeError> {
    encode_at(value, keys, "argument")
}

fn encode_at(value: &Value, keys: HashKeys, path: &str) -> Result<Value, EncodeError> {
    match value {
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, v)| encode_at(v, keys, &format!("{path}[{i}]")))
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Array),
        Value::Object(map) => {
            let is_gid = map.len() == 1 && map.get(GLOBALID_KEY).is_some_and(Value::is_string);
            if is_gid || map.get(SERIALIZED_KEY).is_some_and(Value::is_string) {
                return Ok(value.clone());
            }
            let mut out = Map::new();
            let mut symbols = Vec::new();
            for (key, v) in map {
                if RESERVED_KEYS.contains(&key.as_str()) {
                    return Err(EncodeError::ReservedKey {
                        path: path.to_owned(),
                        key: key.clone(),
                    });
                }
                out.insert(key.clone(), encode_at(v, keys, &format!("{path}.{key}"))?);
                if keys == HashKeys::Symbols {
                    symbols.push(Value::String(key.clone()));
                }
            }
            out.insert(SYMBOL_KEYS_KEY.to_owned(), Value::Array(symbols));
            Ok(Value::Object(out))
        }
        other => Ok(other.clone()),
    }
}

/// An Active Job to enqueue for Ruby: the Ruby class, and how the wrapper is written.
///
/// The payload is the adapter's: `class` the wrapper, `wrapped` the job class, `queue`,
/// `retry: true`, and `args` holding Active Job's serialized job (`job_class`, a fresh
/// UUID `job_id`, `queue_name`, `priority`, `arguments`, `executions: 0`, `locale`,
/// `timezone`, `enqueued_at`). Ruby's `perform` receives the arguments back as Ruby values:
/// hashes with the keys [`HashKeys`] says, GlobalIDs ([`GlobalId`](super::GlobalId)) as
/// their records.
///
/// ```
/// use jobs::active_job::{ActiveJob, Wrapper};
/// use serde_json::json;
/// let job = ActiveJob::new("ReportJob").queue("reports").wrapper(Wrapper::Sidekiq)
///     .envelope((7, json!({"format": "pdf"}))).unwrap();
/// assert_eq!(job.class, "Sidekiq::ActiveJob::Wrapper");
/// assert_eq!(job.extra["wrapped"], "ReportJob");
/// assert_eq!(job.args[0]["queue_name"], "reports");
/// assert_eq!(job.args[0]["arguments"], json!([7, {"format": "pdf", "_aj_symbol_keys": ["format"]}]));
/// # async fn run(client: &jobs::Client) -> Result<(), jobs::active_job::ActiveJobError> {
/// ActiveJob::new("ReportJob").queue("reports").perform_later(client, (7, "pdf")).await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct ActiveJob {
    job_class: String,
    queue: String,
    wrapper: Wrapper,
    keys: HashKeys,
    locale: Option<String>,
    timezone: Option<String>,
    priority: Option<i64>,
}

impl ActiveJob {
    /// The Ruby job class `job_class` (e.g. `ReportJob`), on queue `default`, with Rails'
    /// wrapper, symbol keys, locale `en`, no timezone and no priority.
    pub fn new(job_class: impl Into<String>) -> Self {
        ActiveJob {
            job_class: job_class.into(),
            queue: "default".to_owned(),
            wrapper: Wrapper::Rails,
            keys: HashKeys::Symbols,
            locale: Some("en".to_owned()),
            timezone: None,
            priority: None,
        }
    }

    /// The queue (the job class's `queue_as` in Ruby).
    pub fn queue(mut self, queue: impl Into<String>) -> Self {
        self.queue = queue.into();
        self
    }

    /// The wrapper class: [`Wrapper::Rails`] (default) or [`Wrapper::Sidekiq`] for 7.3+.
    pub fn wrapper(mut self, wrapper: Wrapper) -> Self {
        self.wrapper = wrapper;
        self
    }

    /// Whether hash keys reach Ruby as Symbols (default) or Strings.
    pub fn hash_keys(mut self, keys: HashKeys) -> Self {
        self.keys = keys;
        self
    }

    /// The I18n locale the job runs with (default `en`).
    pub fn locale(mut self, locale: impl Into<String>) -> Self {
        self.locale = Some(locale.into());
        self
    }

    /// The `Time.zone` name the job runs with, e.g. `UTC` (default: none).
    pub fn timezone(mut self, timezone: impl Into<String>) -> Self {
        self.timezone = Some(timezone.into());
        self
    }

    /// Active Job's priority (default: none).
    pub fn priority(mut self, priority: i64) -> Self {
        self.priority = Some(priority);
        self
    }

    /// The wrapper payload for `args`, which must serialize to a JSON array (a tuple, a
    /// `Vec`, or `()` for none).
    pub fn envelope<A: Serialize>(&self, args: A) -> Result<JobEnvelope, ActiveJobError> {
        let fail = |message: String| ActiveJobError::Arguments {
            job: self.job_class.clone(),
            message,
        };
        let args = match serde_json::to_value(args).map_err(|e| fail(e.to_string()))? {
            Value::Array(a) => a,
            Value::Null => Vec::new(),
            other => {
                return Err(fail(format!(
                    "the arguments must serialize to an array (a tuple or Vec), not {other}"
                )))
            }
        };
        let arguments = args
            .iter()
            .enumerate()
            .map(|(i, a)| encode_at(a, self.keys, &format!("arguments[{i}]")))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| fail(e.to_string()))?;
        let data = json!({
            "job_class": self.job_class,
            "job_id": uuid_v4(),
            "provider_job_id": null,
            "queue_name": self.queue,
            "priority": self.priority,
            "arguments": arguments,
            "executions": 0,
            "exception_executions": {},
            "locale": self.locale,
            "timezone": self.timezone,
            "enqueued_at": Utc::now().format("%Y-%m-%dT%H:%M:%S%.9fZ").to_string(),
        });
        let mut job = JobEnvelope::new(self.wrapper.class(), self.queue.clone(), vec![data]);
        job.retry = RetrySetting::Enabled(true);
        job.extra
            .insert("wrapped".to_owned(), Value::String(self.job_class.clone()));
        Ok(job)
    }

    /// Pushes the job with `args` through `client` (its middleware and size limit apply).
    pub async fn perform_later<A: Serialize>(
        &self,
        client: &Client,
        args: A,
    ) -> Result<Enqueued, ActiveJobError> {
        let job = self.envelope(args)?;
        let mut done = client.push(vec![job]).await?;
        done.pop().ok_or_else(|| ActiveJobError::Arguments {
            job: self.job_class.clone(),
            message: "the client stored nothing".to_owned(),
        })
    }
}

/// A random (version 4) UUID, as Active Job's `job_id`.
fn uuid_v4() -> String {
    let mut b = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

#[cfg(test)]
mod tests {
    use super::super::{decode_arguments, unwrap, ActiveJobInfo, GlobalId, RAILS_WRAPPER};
    use super::*;

    #[test]
    fn the_payload_is_the_adapters() {
        let job = ActiveJob::new("ReportJob")
            .queue("reports")
            .priority(5)
            .timezone("UTC")
            .envelope((1, "x"))
            .unwrap();
        let v: Value = serde_json::from_str(&job.to_json().unwrap()).unwrap();
        assert_eq!(v["class"], RAILS_WRAPPER);
        assert_eq!(v["wrapped"], "ReportJob");
        assert_eq!(v["queue"], "reports");
        assert_eq!(v["retry"], true);
        let data = &v["args"][0];
        let mut keys: Vec<&str> = data
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            [
                "arguments",
                "enqueued_at",
                "exception_executions",
                "executions",
                "job_class",
                "job_id",
                "locale",
                "priority",
                "provider_job_id",
                "queue_name",
                "timezone"
            ]
        );
        assert_eq!(data["arguments"], json!([1, "x"]));
        assert_eq!(
            (data["priority"].clone(), data["timezone"].clone()),
            (json!(5), json!("UTC"))
        );
        let id = data["job_id"].as_str().unwrap();
        assert_eq!((id.len(), &id[14..15]), (36, "4"));
        assert!(data["enqueued_at"].as_str().unwrap().ends_with('Z'));
    }

    #[test]
    fn hashes_mark_their_keys_per_the_setting_and_round_trip() {
        let args = (json!({"a": {"b": 1}}), GlobalId::new("app", "User", "9"));
        let sym = ActiveJob::new("J").envelope(&args).unwrap();
        assert_eq!(
            sym.args[0]["arguments"][0],
            json!({"a": {"b": 1, "_aj_symbol_keys": ["b"]}, "_aj_symbol_keys": ["a"]})
        );
        assert_eq!(
            sym.args[0]["arguments"][1],
            json!({"_aj_globalid": "gid://app/User/9"})
        );
        let strings = ActiveJob::new("J")
            .hash_keys(HashKeys::Strings)
            .envelope(&args)
            .unwrap();
        assert_eq!(
            strings.args[0]["arguments"][0],
            json!({"a": {"b": 1, "_aj_symbol_keys": []}, "_aj_symbol_keys": []})
        );
        // What Rust writes, Rust reads back as it was given.
        let u = unwrap(&sym).unwrap().unwrap();
        assert_eq!(
            decode_arguments(&u.arguments).unwrap(),
            vec![json!({"a": {"b": 1}}), json!("gid://app/User/9")]
        );
        assert_eq!(ActiveJobInfo::from_envelope(&sym).unwrap().job_class, "J");
    }

    #[test]
    fn arguments_that_are_not_a_list_or_use_reserved_keys_are_refused() {
        let err = ActiveJob::new("J").envelope(json!({"a": 1})).unwrap_err();
        assert!(
            err.to_string().contains("must serialize to an array"),
            "{err}"
        );
        let err = ActiveJob::new("J")
            .envelope((json!({"x": {"_aj_ruby2_keywords": []}}),))
            .unwrap_err();
        assert!(
            err.to_string()
                .contains("arguments[0].x has the key `_aj_ruby2_keywords`"),
            "{err}"
        );
        assert_eq!(
            ActiveJob::new("J").envelope(()).unwrap().args[0]["arguments"],
            json!([])
        );
    }

    #[test]
    fn the_sidekiq_and_custom_wrappers_name_their_class() {
        let j = ActiveJob::new("J")
            .wrapper(Wrapper::Custom("W".into()))
            .envelope(())
            .unwrap();
        assert_eq!(j.class, "W");
    }
}
