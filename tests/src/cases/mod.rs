//! The cases, one module per area; each is `async fn(Subject) -> CaseResult`.
//!
//! A case states in its doc line the one behaviour it checks, drives the backend with fixed
//! times from [`crate::support`], and asserts on what the backend returns. The list that
//! turns them into tests is [`crate::conformance_suite!`].

pub mod admin_jobs;
pub mod admin_processes;
pub mod admin_queues;
pub mod bulk;
pub mod cancel;
pub mod cancel_worker;
pub mod concurrency;
pub mod envelope;
pub mod finish;
pub mod lease_clock;
pub mod leases;
pub mod metrics;
pub mod otel;
pub mod poison;
pub mod priority;
pub mod progress;
pub mod push_reserve;
pub mod rate;
pub mod results;
pub mod results_worker;
pub mod schedule;
pub mod scheduled;
pub mod steps;
pub mod steps_worker;
pub mod unique;
pub mod worker;
pub mod worker_policy;
