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
