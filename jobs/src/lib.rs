//! `jobs`: background jobs for Rust web apps.
//!
//! A web request must answer fast; anything slow becomes a job that a worker performs
//! later, retries when it fails, or runs on a schedule. See the README for the tour.

#![warn(missing_docs)]

pub mod backend;
pub mod clock;
mod connect;
pub mod envelope;
pub mod memory;

pub use connect::{connect, redact_url, ConnectError, ConnectFuture, Connector};

#[doc(hidden)]
pub mod __private {
    pub use async_trait::async_trait;
    pub use inventory;
    pub use serde_json;
}
