//! What most users import: `use jobs::prelude::*;`.

pub use crate::{
    job, Client, EnqueueError, Failure, Job, JobContext, JobId, Outcome, State, Worker,
};
pub use std::time::Duration;
