//! Finishes, each sent to the shard its lease token names; lost indexes mapped back.

use std::collections::BTreeMap;

use jobs::backend::*;

use super::token::decode;
use super::{all, Shards};

pub(super) async fn job_finish(
    s: &Shards,
    mut p: FinishParams,
) -> Result<FinishReport, BackendError> {
    let items = std::mem::take(&mut p.items);
    let mut groups: BTreeMap<usize, (Vec<usize>, Vec<Finish>)> = BTreeMap::new();
    for (i, mut item) in items.into_iter().enumerate() {
        let (shard, token) = decode(s.backends.len(), &item.token)?;
        item.token = token;
        let group = groups.entry(shard).or_default();
        group.0.push(i);
        group.1.push(item);
    }
    let calls = groups.into_iter().map(|(shard, (indexes, items))| {
        let mut q = p.clone();
        q.items = items;
        async move {
            let report = s.backends[shard].job_finish(q).await?;
            Ok::<_, BackendError>((indexes, report))
        }
    });
    let mut report = FinishReport::default();
    for (indexes, r) in all(calls).await? {
        report.lost.extend(
            r.lost
                .into_iter()
                .map(|i| indexes.get(i).copied().unwrap_or(i)),
        );
        report.dead_trimmed += r.dead_trimmed;
    }
    report.lost.sort_unstable();
    Ok(report)
}
