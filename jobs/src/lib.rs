//! `jobs`: background jobs for Rust web apps.
//!
//! A web request must answer fast; anything slow becomes a job that a worker performs
//! later, retries when it fails, or runs on a schedule.
//!
#![doc = include_str!("../README.md")]
#![warn(missing_docs)]

pub mod active_job;
pub mod backend;
pub mod batch;
mod client;
pub mod clock;
mod connect;
pub mod envelope;
mod fast_map;
mod job;
pub mod memory;
pub mod metrics;
pub mod prelude;
pub mod redact;
pub mod registry;
pub mod retry;
pub mod schedule;
mod shutdown;
pub mod telemetry;
pub mod testing;
pub mod worker;

pub use chrono;
pub use client::{
    set_default_client, CancelError, Client, ClientBuilder, ClientMiddleware, Enqueue,
    EnqueueError, EnqueueOptions, Enqueued, JobId, OnConflict, ResultError, DEFAULT_MAX_PAYLOAD,
    JOBS_URL,
};
pub use connect::{connect, redact_url, ConnectError, ConnectFuture, Connector};
pub use job::{
    ArgsError, BacktraceSetting, Concurrency, Failure, FailureKind, IntoFailure, IntoOutcome, Job,
    JobContext, JobOptions, JobResult, LimitError, Limiter, Outcome, ProgressError, ProgressWriter,
    Rate, State, StateKey, States, Unique, DEFAULT_PROGRESS_INTERVAL,
};
pub use job::{Iteration, StepError, STEPS_FIELD};
pub use jobs_macros::job;
pub use registry::Registry;
pub use shutdown::shutdown_signal;
pub use worker::{Worker, WorkerBuilder};

#[doc(hidden)]
pub mod __private {
    pub use crate::__define_set as define_set;
    pub use crate::job::args::{check_count, decode_arg, encode_arg};
    pub use crate::job::outcome::convert;
    pub use async_trait::async_trait;
    pub use futures::future::BoxFuture;
    pub use inventory;
    pub use serde;
    pub use serde_json;
}
