//! What most users import: `use jobs::prelude::*;`.

pub use crate::{
    job, Client, EnqueueError, Enqueued, Failure, Job, JobContext, JobId, OnConflict, Outcome,
    State, Worker,
};
pub use std::time::Duration;
