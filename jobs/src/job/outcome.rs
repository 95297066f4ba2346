//! How a run ends: [`Outcome`] on success paths, [`Failure`] on failure, both plain values.

use std::time::Duration;

/// How a job that did not fail wants to end.
///
/// A job function returns `Result<(), E>`, `Result<Outcome, E>`, or `Result<T, E>` with
/// `T: Serialize` to keep `T` as its result ([`Outcome::Returned`]).
///
/// ```
/// use std::time::Duration;
/// use jobs::prelude::*;
/// #[derive(Debug, thiserror::Error)]
/// #[error("api error")]
/// struct ApiError;
/// #[jobs::job]
/// async fn sync_account(account_id: u64) -> Result<Outcome, ApiError> {
///     let rate_limited = account_id == 0;
///     if rate_limited {
///         // Run again in 30 s without counting an attempt.
///         return Ok(Outcome::snooze(Duration::from_secs(30)));
///     }
///     Ok(Outcome::Done)
/// }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Outcome {
    /// Done: remove the job.
    Done,
    /// Done without doing the work, with the reason recorded; not retried.
    Discard {
        /// Why.
        reason: String,
    },
    /// Run again after the delay without counting an attempt (e.g. rate limited).
    Snooze(Duration),
    /// Give up now: to the dead set, with the reason recorded.
    Kill {
        /// Why.
        reason: String,
    },
    /// Stop: the job was cancelled (see [`JobContext::cancelled`](crate::JobContext::cancelled)).
    /// It goes to the cancelled set, not retried, not counted as failed.
    Cancelled {
        /// Why.
        reason: String,
    },
    /// Done, with a return value to keep (a job returning `Result<T, E>` with
    /// `T: Serialize`): stored with the success settle, read with
    /// [`Client::result`](crate::Client::result).
    Returned {
        /// The value as JSON text.
        json: String,
    },
}

impl Outcome {
    /// Discard with a reason.
    pub fn discard(reason: impl Into<String>) -> Self {
        Outcome::Discard {
            reason: reason.into(),
        }
    }

    /// Snooze for a while.
    pub fn snooze(delay: Duration) -> Self {
        Outcome::Snooze(delay)
    }

    /// Kill with a reason.
    pub fn kill(reason: impl Into<String>) -> Self {
        Outcome::Kill {
            reason: reason.into(),
        }
    }

    /// End as cancelled, with a reason: what a job returns when it saw
    /// [`JobContext::cancelled`](crate::JobContext::cancelled) (it ends cancelled whatever it
    /// returns once cancelled; this says so).
    ///
    /// ```
    /// let o = jobs::Outcome::cancelled("customer cancelled the export");
    /// assert!(matches!(o, jobs::Outcome::Cancelled { .. }));
    /// ```
    pub fn cancelled(reason: impl Into<String>) -> Self {
        Outcome::Cancelled {
            reason: reason.into(),
        }
    }

    /// Done, keeping `value` as the job's result; a value JSON cannot represent is a
    /// failure naming its type.
    ///
    /// ```
    /// let o = jobs::Outcome::returned(&vec![1, 2]).unwrap();
    /// assert_eq!(o, jobs::Outcome::Returned { json: "[1,2]".into() });
    /// ```
    pub fn returned<T: serde::Serialize + ?Sized>(value: &T) -> Result<Self, Failure> {
        serde_json::to_string(value)
            .map(|json| Outcome::Returned { json })
            .map_err(|e| {
                Failure::new(
                    FailureKind::Error,
                    "jobs::ResultError",
                    format!(
                        "the job's result of type {} cannot be stored as JSON: {e}",
                        std::any::type_name::<T>()
                    ),
                )
            })
    }
}

/// What a job's `Ok` value can be when it is not a result to keep: `()` or an [`Outcome`].
/// (Any other `Serialize` value is kept as the job's result; see [`Outcome::Returned`].)
#[diagnostic::on_unimplemented(
    message = "a job cannot end with `Ok({Self})`",
    label = "a job returns `Result<(), E>`, `Result<Outcome, E>` or `Result<T, E>` with `T: Serialize`",
    note = "return `Ok(())` when done, an `Outcome` (`Outcome::snooze(..)`, `Outcome::discard(..)`, `Outcome::kill(..)`) to choose how it ends, or a `Serialize` value to keep as the job's result"
)]
pub trait IntoOutcome {
    /// The outcome.
    fn into_outcome(self) -> Outcome;
}

impl IntoOutcome for () {
    fn into_outcome(self) -> Outcome {
        Outcome::Done
    }
}

impl IntoOutcome for Outcome {
    fn into_outcome(self) -> Outcome {
        self
    }
}

/// What kind of failure ended a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum FailureKind {
    /// The job returned an error.
    Error,
    /// The job panicked.
    Panic,
    /// The job ran longer than its timeout.
    Timeout,
    /// No job with this wire name is registered in the worker.
    UnknownJob,
    /// The stored arguments do not fit the job's parameters.
    BadArgs,
    /// A state the job needs was not given.
    MissingState,
    /// The job returned [`Outcome::Kill`].
    Killed,
}

/// A failed run: what is recorded in the job's `error_class`, `error_message` and backtrace.
///
/// ```
/// use jobs::{Failure, IntoFailure};
/// let io = std::io::Error::new(std::io::ErrorKind::TimedOut, "smtp timed out");
/// let failure = io.into_failure();
/// assert_eq!(failure.class, "std::io::error::Error");
/// assert_eq!(failure.message, "smtp timed out");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// What kind of failure.
    pub kind: FailureKind,
    /// The error's type name (stored as `error_class`).
    pub class: String,
    /// Its Display followed by its source chain, `outer: inner: root` (`error_message`).
    pub message: String,
    /// Each error of the chain on its own, outermost first.
    pub chain: Vec<String>,
    /// A backtrace, where one was captured.
    pub backtrace: Option<String>,
    /// Set when the error was a full [`Limiter`](crate::Limiter)
    /// ([`LimitError::Full`](crate::LimitError::Full)): the run is snoozed until then
    /// instead of failing.
    pub snooze_until: Option<chrono::DateTime<chrono::Utc>>,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl Failure {
    /// A failure from its parts.
    pub fn new(kind: FailureKind, class: impl Into<String>, message: impl Into<String>) -> Self {
        let message = message.into();
        Failure {
            kind,
            class: class.into(),
            chain: vec![message.clone()],
            message,
            backtrace: None,
            snooze_until: None,
        }
    }

    /// A failure from any error, walking its source chain.
    pub fn from_error<E: std::error::Error + ?Sized>(class: &str, error: &E) -> Self {
        let mut chain = vec![error.to_string()];
        let mut source = error.source();
        while let Some(s) = source {
            let text = s.to_string();
            if chain.last() != Some(&text) {
                chain.push(text);
            }
            source = s.source();
        }
        Failure {
            kind: FailureKind::Error,
            class: class.to_owned(),
            message: chain.join(": "),
            chain,
            backtrace: None,
            snooze_until: None,
        }
    }

    /// Attaches a backtrace.
    pub fn with_backtrace(mut self, backtrace: impl Into<String>) -> Self {
        self.backtrace = Some(backtrace.into());
        self
    }
}

/// Errors a job can return. Implemented for every `std::error::Error` and for [`Failure`];
/// with the `anyhow` feature, the `#[job]` attribute also accepts `anyhow::Error`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be a job's error",
    label = "a job's error type must implement `std::error::Error`",
    note = "derive `thiserror::Error` for it, return a `jobs::Failure`, or enable the `anyhow` feature of `jobs` to return `anyhow::Error`"
)]
pub trait IntoFailure {
    /// The failure to record.
    fn into_failure(self) -> Failure;
}

impl<E: std::error::Error + 'static> IntoFailure for E {
    fn into_failure(self) -> Failure {
        let mut failure = Failure::from_error(std::any::type_name::<E>(), &self);
        failure.snooze_until = super::limiter::snooze_until(&self);
        failure
    }
}

impl IntoFailure for Failure {
    fn into_failure(self) -> Failure {
        self
    }
}

/// The result of one run.
pub type JobResult = Result<Outcome, Failure>;

/// How much of a failure is stored with the job (`error_backtrace`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum BacktraceSetting {
    /// Nothing beyond `error_class` and `error_message`.
    Off,
    /// The error chain, one line per error (the default).
    Chain,
    /// The chain and up to this many lines of backtrace, where one was captured.
    Lines(usize),
}

impl BacktraceSetting {
    /// The lines to store for `failure`, or `None`.
    ///
    /// ```
    /// use jobs::{BacktraceSetting, Failure, FailureKind};
    /// let f = Failure::new(FailureKind::Panic, "panic", "boom").with_backtrace("a\nb\nc");
    /// assert_eq!(BacktraceSetting::Lines(2).lines(&f), Some(vec!["boom".into(), "a".into(), "b".into()]));
    /// assert_eq!(BacktraceSetting::Off.lines(&f), None);
    /// ```
    pub fn lines(self, failure: &Failure) -> Option<Vec<String>> {
        match self {
            BacktraceSetting::Off => None,
            BacktraceSetting::Chain => Some(failure.chain.clone()),
            BacktraceSetting::Lines(n) => {
                let mut lines = failure.chain.clone();
                if let Some(bt) = &failure.backtrace {
                    lines.extend(bt.lines().take(n).map(str::to_owned));
                }
                Some(lines)
            }
        }
    }
}

/// Turns whatever a job function returned into a [`JobResult`]. Used by generated code.
#[doc(hidden)]
pub mod convert {
    use super::*;
    use std::cell::Cell;

    /// Holds the error for autoref-based dispatch in generated code.
    pub struct Wrap<E>(pub Cell<Option<E>>);

    /// Picked for `anyhow::Error` (method on `Wrap<anyhow::Error>`).
    pub trait ViaAnyhow {
        fn __jobs_failure(&self) -> Failure;
    }

    #[cfg(feature = "anyhow")]
    impl ViaAnyhow for Wrap<anyhow::Error> {
        fn __jobs_failure(&self) -> Failure {
            match self.0.take() {
                Some(e) => {
                    let chain: Vec<String> = e.chain().map(|c| c.to_string()).collect();
                    let root = std::any::type_name_of_val(e.root_cause());
                    let bt = e.backtrace().to_string();
                    let mut f = Failure {
                        kind: FailureKind::Error,
                        class: root.to_owned(),
                        message: chain.join(": "),
                        chain,
                        backtrace: None,
                        snooze_until: e.chain().find_map(super::super::limiter::snooze_until),
                    };
                    if !bt.is_empty() && !bt.contains("disabled backtrace") {
                        f.backtrace = Some(bt);
                    }
                    f
                }
                None => Failure::new(FailureKind::Error, "anyhow::Error", "error taken twice"),
            }
        }
    }

    /// Picked for everything else that implements [`IntoFailure`] (method on `&Wrap<E>`).
    pub trait ViaInto {
        fn __jobs_failure(&self) -> Failure;
    }

    impl<E: IntoFailure> ViaInto for &Wrap<E> {
        fn __jobs_failure(&self) -> Failure {
            match self.0.take() {
                Some(e) => e.into_failure(),
                None => Failure::new(
                    FailureKind::Error,
                    std::any::type_name::<E>(),
                    "error taken twice",
                ),
            }
        }
    }

    /// The `Ok` side.
    pub fn outcome<T: IntoOutcome>(value: T) -> Outcome {
        value.into_outcome()
    }

    /// Holds a job's `Ok` value for autoref-based dispatch in generated code: `()` and
    /// [`Outcome`] end the run as they say ([`ViaOutcome`]); any other `Serialize` value
    /// is kept as the job's result ([`ViaSerialize`]).
    pub struct Ret<T>(pub Cell<Option<T>>);

    /// Picked for `()` and [`Outcome`] (method on `Ret<T>`).
    pub trait ViaOutcome {
        fn __jobs_outcome(&self) -> JobResult;
    }

    impl<T: IntoOutcome> ViaOutcome for Ret<T> {
        fn __jobs_outcome(&self) -> JobResult {
            match self.0.take() {
                Some(v) => Ok(v.into_outcome()),
                None => Ok(Outcome::Done),
            }
        }
    }

    /// Picked for any other `Serialize` value (method on `&Ret<T>`).
    pub trait ViaSerialize {
        fn __jobs_outcome(&self) -> JobResult;
    }

    impl<T: serde::Serialize> ViaSerialize for &Ret<T> {
        fn __jobs_outcome(&self) -> JobResult {
            match self.0.take() {
                Some(v) => Outcome::returned(&v),
                None => Ok(Outcome::Done),
            }
        }
    }
}
