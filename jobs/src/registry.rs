//! The registry of job types the worker can perform, built from `#[job]` registrations.
//!
//! 1. Each `#[job]` submits a [`JobRegistration`] through `inventory` (re-exported, so users
//!    never depend on it).
//! 2. [`Registry::from_inventory`] collects them at worker start and refuses two jobs with
//!    the same wire name, naming both.

use futures::future::BoxFuture;
use serde_json::Value;

use crate::job::{ArgsError, Job, JobContext, JobOptions, JobResult, StateKey};

/// Performs a job from stored arguments: decodes them, then runs the job.
pub type ErasedPerform =
    fn(&[Value], JobContext) -> Result<BoxFuture<'static, JobResult>, ArgsError>;

/// One job type, as the worker sees it.
#[derive(Clone, Copy)]
pub struct JobRegistration {
    /// The wire name.
    pub name: &'static str,
    /// The Rust type's name, for errors.
    pub type_name: fn() -> &'static str,
    /// The job's options.
    pub options: fn() -> JobOptions,
    /// The states it needs.
    pub states: fn() -> Vec<StateKey>,
    /// Decode and run.
    pub perform: ErasedPerform,
    /// Decode only: whether stored arguments fit the job, naming the one that does not.
    pub decode_args: fn(&[Value]) -> Result<(), ArgsError>,
}

impl std::fmt::Debug for JobRegistration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JobRegistration")
            .field("name", &self.name)
            .field("type_name", &(self.type_name)())
            .finish()
    }
}

fn decode_only<J: Job>(args: &[Value]) -> Result<(), ArgsError> {
    J::from_args(args).map(drop)
}

fn erased_perform<J: Job>(
    args: &[Value],
    ctx: JobContext,
) -> Result<BoxFuture<'static, JobResult>, ArgsError> {
    let job = J::from_args(args)?;
    Ok(job.perform(ctx))
}

impl JobRegistration {
    /// The registration of `J`.
    pub const fn of<J: Job>() -> Self {
        JobRegistration {
            name: J::NAME,
            type_name: std::any::type_name::<J>,
            options: J::options,
            states: J::required_states,
            perform: erased_perform::<J>,
            decode_args: decode_only::<J>,
        }
    }
}

inventory::collect!(JobRegistration);

/// Two job types share one wire name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("two jobs share the wire name `{name}`: {first} and {second}; give one a `name = \"...\"` in #[job]")]
pub struct DuplicateJob {
    /// The wire name.
    pub name: String,
    /// One type.
    pub first: &'static str,
    /// The other.
    pub second: &'static str,
}

/// Job types by wire name.
///
/// ```
/// use jobs::prelude::*;
/// #[derive(Debug, thiserror::Error)]
/// #[error("x")]
/// struct E;
/// #[jobs::job(name = "RegistryDocPing")]
/// async fn ping() -> Result<(), E> { Ok(()) }
///
/// let registry = jobs::Registry::new().with::<Ping>().unwrap();
/// assert!(registry.get("RegistryDocPing").is_some());
/// assert!(registry.clone().with::<Ping>().is_err());
/// ```
#[derive(Debug, Clone, Default)]
pub struct Registry {
    jobs: crate::fast_map::FastMap<&'static str, Registered>,
}

/// A registration and its options, built once when it is added rather than for every run.
#[derive(Debug, Clone)]
struct Registered {
    reg: JobRegistration,
    options: JobOptions,
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Every job registered by `#[job]` in the program.
    pub fn from_inventory() -> Result<Self, DuplicateJob> {
        let mut r = Registry::new();
        for reg in inventory::iter::<JobRegistration> {
            r.insert(*reg)?;
        }
        Ok(r)
    }

    /// Adds `J`.
    pub fn with<J: Job>(mut self) -> Result<Self, DuplicateJob> {
        self.insert(JobRegistration::of::<J>())?;
        Ok(self)
    }

    /// Adds a registration.
    pub fn insert(&mut self, reg: JobRegistration) -> Result<(), DuplicateJob> {
        if let Some(existing) = self.jobs.get(reg.name) {
            let (a, b) = ((existing.reg.type_name)(), (reg.type_name)());
            let (first, second) = if a <= b { (a, b) } else { (b, a) };
            return Err(DuplicateJob {
                name: reg.name.to_owned(),
                first,
                second,
            });
        }
        let options = (reg.options)();
        self.jobs.insert(reg.name, Registered { reg, options });
        Ok(())
    }

    /// The job with this wire name.
    pub fn get(&self, name: &str) -> Option<&JobRegistration> {
        self.jobs.get(name).map(|r| &r.reg)
    }

    /// The job with this wire name and its options (what its `options` returns, kept).
    pub(crate) fn get_with_options(&self, name: &str) -> Option<(&JobRegistration, &JobOptions)> {
        self.jobs.get(name).map(|r| (&r.reg, &r.options))
    }

    /// All registrations.
    pub fn iter(&self) -> impl Iterator<Item = &JobRegistration> {
        self.jobs.values().map(|r| &r.reg)
    }

    /// How many job types.
    pub fn len(&self) -> usize {
        self.jobs.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.jobs.is_empty()
    }

    /// The arguments of job `class` as they may be shown: the positions it redacts (its
    /// [`JobOptions::redact`]) replaced by [`crate::redact::MARKER`] (all of them when
    /// their count is not the job's); unchanged for a job not in this registry. [`crate::redact::args`] does the same over every `#[job]` of
    /// the program.
    ///
    /// ```
    /// use serde_json::json;
    /// #[derive(Debug, thiserror::Error)]
    /// #[error("x")]
    /// struct E;
    /// #[jobs::job(name = "RegistryDocCharge", redact = [card])]
    /// async fn charge(order: u64, card: String) -> Result<(), E> { Ok(()) }
    ///
    /// let registry = jobs::Registry::new().with::<Charge>().unwrap();
    /// let shown = registry.redact_args("RegistryDocCharge", &[json!(1), json!("4111")]);
    /// assert_eq!(shown, [json!(1), json!("[redacted]")]);
    /// ```
    pub fn redact_args(&self, class: &str, args: &[Value]) -> Vec<Value> {
        match self.jobs.get(class) {
            Some(r) => crate::redact::masked(r.options.redact, r.options.arity, args),
            None => args.to_vec(),
        }
    }
}
