//! Rails Active Job on Sidekiq's queues: its wrapper payload, read and written.
//!
//! Active Job's Sidekiq adapter pushes every job as one wrapper class whose single argument
//! is the serialized Active Job (`job_class`, `job_id`, `arguments`, `executions`, ...).
//!
//! 1. Performing (Ruby → Rust): a job declared `#[jobs::job(name = "WelcomeJob", active_job)]`
//!    is performed for a wrapper payload whose `wrapped` (or `args[0].job_class`) is
//!    `WelcomeJob`. Its parameters come from `arguments`, decoded by [`decode_arguments`];
//!    [`JobContext::active_job`](crate::JobContext::active_job) gives [`ActiveJobInfo`].
//! 2. Enqueueing (Rust → Ruby): [`ActiveJob`] writes the wrapper exactly as the adapter does.
//! 3. Retries are Sidekiq's retries of the wrapper (the job's `retry` option applies); Active
//!    Job's `retry_on` / `discard_on` are Ruby callbacks and are not applied by Rust, and
//!    `executions` is not incremented (use [`JobContext::attempt`](crate::JobContext::attempt)).
//!
//! How Active Job's argument kinds arrive in Rust:
//!
//! | Active Job argument (Ruby)                         | JSON the Rust parameter decodes from | Rust types that take it                          |
//! |----------------------------------------------------|--------------------------------------|--------------------------------------------------|
//! | Integer, Float, String, true/false, nil, Array     | as is                                | `i64`, `f64`, `String`, `bool`, `Option<T>`, `Vec<T>` |
//! | Hash, symbol- or string-keyed (`_aj_symbol_keys`)  | object, markers removed              | `HashMap<String, T>`, a `Deserialize` struct, `Value` |
//! | keyword arguments (`_aj_ruby2_keywords`)           | object, markers removed              | as for Hash                                      |
//! | `HashWithIndifferentAccess`                        | object, marker removed               | as for Hash                                      |
//! | GlobalID (`_aj_globalid`, e.g. an Active Record)   | its `gid://app/Model/id` string      | [`GlobalId`], `String`                           |
//! | Symbol (`SymbolSerializer`)                        | its name, a string                   | `String`                                         |
//! | Module / Class (`ModuleSerializer`)                | its name, a string                   | `String`                                         |
//! | Duration (`DurationSerializer`)                    | its length in seconds, a number      | `i64`, `f64`                                     |
//! | Date (`DateSerializer`)                            | ISO 8601 date string, `2026-12-06`   | `chrono::NaiveDate`, `String`                    |
//! | Time, DateTime, TimeWithZone                       | ISO 8601 string with offset          | `chrono::DateTime<FixedOffset>` / `<Utc>`, `String` |
//! | BigDecimal (a string in Rails 6.1; `BigDecimalSerializer` in 7.1+) | Ruby's `to_s`, e.g. `"0.1999e2"` | `String` (exact; `str::parse::<f64>` reads it) |
//! | Range (`RangeSerializer`, Rails 7.1)               | `{"begin", "end", "exclude_end"}`    | a `Deserialize` struct, `Value`                  |
//! | any other `_aj_serialized` (an app's serializer)   | refused: an argument error naming it | —                                                |
//!
//! A parameter whose type cannot take what arrived fails as an argument error (retried as
//! Sidekiq would), and the message names the `_aj_serialized` kind the argument was.

mod decode;
mod encode;
mod gid;
mod keywords;

pub use decode::{decode_argument, decode_arguments, serialized_kinds, DecodeError};
pub use encode::{encode_argument, ActiveJob, ActiveJobError, EncodeError, HashKeys};
pub use gid::{GlobalId, GlobalIdError};
pub use keywords::spread_keywords;

use serde_json::{Map, Value};

use crate::envelope::JobEnvelope;

/// The wrapper class of Rails' own adapter (Rails 6.1 and 7.x).
pub const RAILS_WRAPPER: &str = "ActiveJob::QueueAdapters::SidekiqAdapter::JobWrapper";

/// The wrapper class of the adapter Sidekiq 7.3+ ships (`sidekiq/rails`).
pub const SIDEKIQ_WRAPPER: &str = "Sidekiq::ActiveJob::Wrapper";

/// Which class the wrapper payload names.
///
/// ```
/// use jobs::active_job::Wrapper;
/// assert_eq!(Wrapper::Rails.class(), "ActiveJob::QueueAdapters::SidekiqAdapter::JobWrapper");
/// assert_eq!(Wrapper::Sidekiq.class(), "Sidekiq::ActiveJob::Wrapper");
/// assert_eq!(Wrapper::Custom("MyWrapper".into()).class(), "MyWrapper");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Wrapper {
    /// [`RAILS_WRAPPER`]: Rails 6.1 / 7.x with any Sidekiq up to 7.2 (the default).
    #[default]
    Rails,
    /// [`SIDEKIQ_WRAPPER`]: Sidekiq 7.3+ and 8.
    Sidekiq,
    /// Any other class name.
    Custom(String),
}

impl Wrapper {
    /// The class name written in the payload's `class`.
    pub fn class(&self) -> &str {
        match self {
            Wrapper::Rails => RAILS_WRAPPER,
            Wrapper::Sidekiq => SIDEKIQ_WRAPPER,
            Wrapper::Custom(class) => class,
        }
    }
}

/// Whether `class` is one of the Active Job wrapper classes a worker unwraps.
///
/// ```
/// assert!(jobs::active_job::is_wrapper("Sidekiq::ActiveJob::Wrapper"));
/// assert!(!jobs::active_job::is_wrapper("WelcomeJob"));
/// ```
pub fn is_wrapper(class: &str) -> bool {
    class == RAILS_WRAPPER || class == SIDEKIQ_WRAPPER
}

/// What Active Job stored about a job besides its arguments (`args[0]` of the wrapper).
///
/// ```
/// use jobs::envelope::JobEnvelope;
/// let mut job = JobEnvelope::new(jobs::active_job::RAILS_WRAPPER, "mailers", vec![serde_json::json!({
///     "job_class": "WelcomeJob", "job_id": "12f6", "arguments": [42],
///     "executions": 0, "locale": "en", "timezone": null, "priority": null,
/// })]);
/// let info = jobs::active_job::ActiveJobInfo::from_envelope(&job).unwrap();
/// assert_eq!((info.job_class.as_str(), info.job_id.as_str()), ("WelcomeJob", "12f6"));
/// assert_eq!(info.locale.as_deref(), Some("en"));
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ActiveJobInfo {
    /// The Ruby job class, e.g. `WelcomeJob`.
    pub job_class: String,
    /// Active Job's own id (a UUID), distinct from Sidekiq's `jid`.
    pub job_id: String,
    /// How many times Active Job ran it (Ruby's `retry_on` counts; Rust does not add).
    pub executions: u32,
    /// The I18n locale the job was enqueued with.
    pub locale: Option<String>,
    /// The `Time.zone` name the job was enqueued with.
    pub timezone: Option<String>,
    /// Active Job's priority (Sidekiq ignores it).
    pub priority: Option<i64>,
    /// Active Job's `queue_name`.
    pub queue_name: Option<String>,
    /// When Active Job enqueued it, as written (ISO 8601).
    pub enqueued_at: Option<String>,
}

impl ActiveJobInfo {
    /// The Active Job data of a wrapper payload; `None` for any other job.
    pub fn from_envelope(job: &JobEnvelope) -> Option<Self> {
        if !is_wrapper(&job.class) && job.extra.get("wrapped").is_none() {
            return None;
        }
        let data = job.args.first()?.as_object()?;
        let text = |key: &str| data.get(key).and_then(Value::as_str).map(str::to_owned);
        Some(ActiveJobInfo {
            job_class: text("job_class").or_else(|| wrapped(job).map(str::to_owned))?,
            job_id: text("job_id").unwrap_or_default(),
            executions: data
                .get("executions")
                .and_then(Value::as_u64)
                .map_or(0, |n| u32::try_from(n).unwrap_or(u32::MAX)),
            locale: text("locale"),
            timezone: text("timezone"),
            priority: data.get("priority").and_then(Value::as_i64),
            queue_name: text("queue_name"),
            enqueued_at: text("enqueued_at"),
        })
    }
}

/// The payload's `wrapped` field, when it is a string.
fn wrapped(job: &JobEnvelope) -> Option<&str> {
    job.extra.get("wrapped").and_then(Value::as_str)
}

/// An Active Job wrapper payload taken apart: the Ruby class and its raw `arguments`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Unwrapped {
    /// `wrapped`, else `args[0].job_class`.
    pub job_class: String,
    /// `args[0].arguments`, still in Active Job's serialization.
    pub arguments: Vec<Value>,
}

/// Takes a wrapper payload apart; `None` when `job` is not one, an error message when it is
/// one without a job class or arguments.
pub(crate) fn unwrap(job: &JobEnvelope) -> Option<Result<Unwrapped, String>> {
    if !is_wrapper(&job.class) {
        return None;
    }
    let data: Option<&Map<String, Value>> = job.args.first().and_then(Value::as_object);
    let job_class = wrapped(job)
        .or_else(|| data?.get("job_class")?.as_str())
        .map(str::to_owned);
    let Some(job_class) = job_class else {
        return Some(Err(format!(
            "{} payload names no Active Job class (neither `wrapped` nor `args[0].job_class`)",
            job.class
        )));
    };
    let arguments = match data.map(|d| d.get("arguments")) {
        Some(Some(Value::Array(a))) => a.clone(),
        Some(None) => Vec::new(),
        _ => {
            return Some(Err(format!(
                "{} payload for {job_class}: `args[0]` is not Active Job's serialized job with an `arguments` array",
                job.class
            )))
        }
    };
    Some(Ok(Unwrapped {
        job_class,
        arguments,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The issue's example payload, from Rails 6.1 with Sidekiq 6.4.
    pub(super) const RAILS_61: &str = r#"{"class":"ActiveJob::QueueAdapters::SidekiqAdapter::JobWrapper","wrapped":"WelcomeJob","queue":"mailers","args":[{"job_class":"WelcomeJob","job_id":"12f6b2a0-0c3e-4c39-9f47-0d7f3b8a8e11","provider_job_id":null,"queue_name":"mailers","priority":null,"arguments":[42,{"locale":"en","plan":"pro","_aj_symbol_keys":["locale"]}],"executions":0,"exception_executions":{},"locale":"en","timezone":null,"enqueued_at":"2026-12-06T04:45:54Z"}],"jid":"ea56f0d1c2b3a4958677e8f9","retry":true,"created_at":1796532354.98,"enqueued_at":1796532354.98}"#;

    #[test]
    fn the_rails_payload_unwraps_to_its_class_and_arguments() {
        let job = JobEnvelope::from_json(RAILS_61).unwrap();
        let u = unwrap(&job).unwrap().unwrap();
        assert_eq!(u.job_class, "WelcomeJob");
        assert_eq!(
            decode_arguments(&u.arguments).unwrap(),
            vec![json!(42), json!({"locale": "en", "plan": "pro"})]
        );
        let info = ActiveJobInfo::from_envelope(&job).unwrap();
        assert_eq!(info.job_id, "12f6b2a0-0c3e-4c39-9f47-0d7f3b8a8e11");
        assert_eq!((info.executions, info.priority), (0, None));
        assert_eq!(info.locale.as_deref(), Some("en"));
        assert_eq!(info.timezone, None);
        assert_eq!(info.queue_name.as_deref(), Some("mailers"));
    }

    #[test]
    fn the_sidekiq_wrapper_unwraps_from_job_class_without_wrapped() {
        let job = JobEnvelope::new(
            SIDEKIQ_WRAPPER,
            "default",
            vec![json!({"job_class": "ReportJob", "job_id": "x", "arguments": [1], "priority": 3})],
        );
        let u = unwrap(&job).unwrap().unwrap();
        assert_eq!(
            (u.job_class.as_str(), u.arguments.clone()),
            ("ReportJob", vec![json!(1)])
        );
        assert_eq!(
            ActiveJobInfo::from_envelope(&job).unwrap().priority,
            Some(3)
        );
    }

    #[test]
    fn plain_sidekiq_jobs_are_not_unwrapped() {
        let job = JobEnvelope::new("WelcomeJob", "default", vec![json!(1)]);
        assert!(unwrap(&job).is_none());
        assert!(ActiveJobInfo::from_envelope(&job).is_none());
    }

    #[test]
    fn a_wrapper_without_a_class_or_arguments_is_an_error() {
        let job = JobEnvelope::new(RAILS_WRAPPER, "default", vec![json!({"arguments": []})]);
        assert!(unwrap(&job)
            .unwrap()
            .unwrap_err()
            .contains("names no Active Job class"));
        let job = JobEnvelope::new(RAILS_WRAPPER, "default", vec![json!(1)]);
        assert!(unwrap(&job).unwrap().is_err());
        let mut job = JobEnvelope::new(RAILS_WRAPPER, "default", vec![json!("x")]);
        job.extra.insert("wrapped".into(), json!("A"));
        assert!(unwrap(&job)
            .unwrap()
            .unwrap_err()
            .contains("`arguments` array"));
    }
}
