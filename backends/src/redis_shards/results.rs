//! Progress, status and results across shards: progress goes to the shard its lease token
//! names; a status or a result is the first shard's that knows the job.

use jobs::backend::*;

use super::token::decode;
use super::{all, Shards};

pub(super) async fn job_progress(s: &Shards, mut p: ProgressParams) -> Result<bool, BackendError> {
    let (shard, token) = decode(s.backends.len(), &p.token)?;
    p.token = token;
    s.backends[shard].job_progress(p).await
}

pub(super) async fn job_status(s: &Shards, p: JidParams) -> Result<JobStatus, BackendError> {
    let all_status = all(s.backends.iter().map(|b| b.job_status(p.clone()))).await?;
    Ok(all_status
        .into_iter()
        .find(|st| *st != JobStatus::Unknown)
        .unwrap_or(JobStatus::Unknown))
}

pub(super) async fn job_result(
    s: &Shards,
    p: JidParams,
) -> Result<Option<StoredResult>, BackendError> {
    let results = all(s.backends.iter().map(|b| b.job_result(p.clone()))).await?;
    Ok(results.into_iter().flatten().next())
}
