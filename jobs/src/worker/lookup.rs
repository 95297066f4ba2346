//! Finding what performs a reserved job: its registration, by `class` for a Sidekiq job or
//! by the wrapped class for Active Job's wrapper, and its arguments decoded; an argument
//! error names the Active Job kinds that did not fit.

use std::borrow::Cow;

use serde_json::Value;

use super::Runtime;
use crate::active_job;
use crate::envelope::JobEnvelope;
use crate::job::{ArgsError, Failure, FailureKind, JobOptions};
use crate::registry::JobRegistration;

/// The registration that performs `job`, its options, its arguments (borrowed from the
/// envelope for a Sidekiq job; decoded, so owned, for an Active Job), and (for an Active
/// Job) the `_aj_serialized` kinds of each argument, for errors.
pub(crate) type Found<'r, 'j> = (
    &'r JobRegistration,
    &'r JobOptions,
    Cow<'j, [Value]>,
    Vec<Vec<String>>,
);

/// Finds the job's registration and arguments: by `class` for a Sidekiq job; by the
/// wrapped class, among jobs declared `active_job`, for Active Job's wrapper, with the
/// arguments decoded from Active Job's serialization.
pub(crate) fn lookup<'r, 'j>(
    rt: &'r Runtime,
    job: &'j JobEnvelope,
) -> Result<Found<'r, 'j>, Failure> {
    let unknown = |name: &str, hint: &str| {
        let mut known: Vec<&str> = rt.registry.iter().map(|r| r.name).collect();
        known.sort_unstable();
        Failure::new(
            FailureKind::UnknownJob,
            "jobs::UnknownJob",
            format!(
                "no job named `{name}` is registered in this worker{hint} (registered: {})",
                known.join(", ")
            ),
        )
    };
    let Some(unwrapped) = active_job::unwrap(job) else {
        let (reg, options) = rt
            .registry
            .get_with_options(&job.class)
            .ok_or_else(|| unknown(&job.class, ""))?;
        return Ok((reg, options, Cow::Borrowed(&job.args), Vec::new()));
    };
    let bad_args = |message: String| Failure::new(FailureKind::BadArgs, "jobs::ArgsError", message);
    let u = unwrapped.map_err(bad_args)?;
    let (reg, options) =
        match rt.registry.get_with_options(&u.job_class) {
            Some((reg, options)) if options.active_job => (reg, options),
            Some(_) => return Err(unknown(
                &u.job_class,
                " for Active Job payloads: it is registered, but not declared `#[job(active_job)]`",
            )),
            None => return Err(unknown(&u.job_class, " (an Active Job class)")),
        };
    let kinds = u
        .arguments
        .iter()
        .map(active_job::serialized_kinds)
        .collect();
    let args = active_job::decode_arguments(&u.arguments)
        .map_err(|e| bad_args(format!("job {}: {e}", u.job_class)))?;
    let args = active_job::spread_keywords(&u.arguments, args, options.params);
    Ok((reg, options, Cow::Owned(args), kinds))
}

/// The argument error's message, naming the `_aj_serialized` kinds of the argument that did
/// not fit (when it was an Active Job argument holding any).
pub(crate) fn with_kinds(e: ArgsError, kinds: &[Vec<String>]) -> String {
    let position = match &e {
        ArgsError::Decode { position, .. } => *position,
        _ => return e.to_string(),
    };
    match kinds.get(position.wrapping_sub(1)) {
        Some(k) if !k.is_empty() => format!(
            "{e} (the Active Job argument was `_aj_serialized` {}; see jobs::active_job for the Rust types each kind decodes into)",
            k.join(", ")
        ),
        _ => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use futures::future::BoxFuture;
    use serde_json::json;

    use super::*;
    use crate::job::{ArgsError, Job, JobResult, Outcome};
    use crate::{Client, JobContext, Registry, States};

    /// A job that keeps nothing of its arguments.
    struct Echo;

    impl Job for Echo {
        const NAME: &'static str = "Echo";

        fn options() -> JobOptions {
            JobOptions::new().active_job()
        }

        fn to_args(&self) -> Result<Vec<Value>, ArgsError> {
            Ok(Vec::new())
        }

        fn from_args(_: &[Value]) -> Result<Self, ArgsError> {
            Ok(Echo)
        }

        fn perform(self, _: JobContext) -> BoxFuture<'static, JobResult> {
            Box::pin(async { Ok(Outcome::Done) })
        }
    }

    fn runtime() -> Runtime {
        let backend = Arc::new(crate::memory::MemoryBackend::new());
        let registry = Registry::new().with::<Echo>();
        let Ok(registry) = registry else {
            panic!("one job registered twice")
        };
        Runtime::new(Client::new(backend), registry, States::new())
    }

    #[tokio::test]
    async fn a_sidekiq_jobs_arguments_are_lent_from_its_envelope_not_copied() {
        let rt = runtime();
        let job = JobEnvelope::new(
            "Echo",
            "default",
            vec![json!({"rows": [1, 2, 3]}), json!(7)],
        );
        let Ok((reg, _, args, kinds)) = lookup(&rt, &job) else {
            panic!("Echo is registered")
        };
        assert_eq!(reg.name, "Echo");
        assert!(
            matches!(args, Cow::Borrowed(_)) && std::ptr::eq(args.as_ptr(), job.args.as_ptr()),
            "the worker decodes from the envelope's own arguments"
        );
        assert!(kinds.is_empty());
    }

    #[tokio::test]
    async fn an_active_jobs_arguments_are_decoded_so_owned() {
        let rt = runtime();
        let wrapper = json!({"job_class": "Echo", "arguments": [42, "en"]});
        let job = JobEnvelope::new(crate::active_job::RAILS_WRAPPER, "default", vec![wrapper]);
        let Ok((reg, _, args, kinds)) = lookup(&rt, &job) else {
            panic!("Echo is registered as an Active Job")
        };
        assert_eq!(reg.name, "Echo");
        assert!(matches!(args, Cow::Owned(_)));
        assert_eq!(&*args, &[json!(42), json!("en")][..]);
        assert_eq!(kinds.len(), 2, "one list of serialized kinds per argument");
    }

    #[tokio::test]
    async fn an_unknown_job_is_a_failure_naming_it_and_the_registered_ones() {
        let rt = runtime();
        let job = JobEnvelope::new("Missing", "default", vec![]);
        let Err(failure) = lookup(&rt, &job) else {
            panic!("Missing is not registered")
        };
        assert_eq!(failure.kind, FailureKind::UnknownJob);
        assert!(
            failure.message.contains("`Missing`") && failure.message.contains("Echo"),
            "{}",
            failure.message
        );
    }
}
