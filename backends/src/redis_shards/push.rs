//! Pushes: jobs grouped by their queue's shard, one push per shard (atomic there), the groups
//! at the same time, the report's indexes mapped back to the caller's. A push spanning shards
//! is atomic per shard only.

use std::collections::BTreeMap;

use jobs::backend::*;

use super::{all, Shards};

pub(super) async fn job_push(s: &Shards, mut p: PushParams) -> Result<PushReport, BackendError> {
    let jobs = std::mem::take(&mut p.jobs);
    let mut groups: BTreeMap<usize, (Vec<usize>, Vec<_>)> = BTreeMap::new();
    for (i, job) in jobs.into_iter().enumerate() {
        let group = groups.entry(s.opts.shard_of(&job.queue)).or_default();
        group.0.push(i);
        group.1.push(job);
    }
    let calls = groups.into_iter().map(|(shard, (indexes, jobs))| {
        let mut q = p.clone();
        q.jobs = jobs;
        async move {
            let report = s.backends[shard].job_push(q).await?;
            Ok::<_, BackendError>((indexes, report))
        }
    });
    let mut report = PushReport::default();
    for (indexes, r) in all(calls).await? {
        let at = |i: usize| indexes.get(i).copied().unwrap_or(i);
        report
            .duplicates
            .extend(r.duplicates.into_iter().map(|(i, jid)| (at(i), jid)));
        report
            .replaced
            .extend(r.replaced.into_iter().map(|(i, jid)| (at(i), jid)));
    }
    report.duplicates.sort();
    report.replaced.sort();
    Ok(report)
}
