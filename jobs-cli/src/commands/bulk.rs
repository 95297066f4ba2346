//! A bulk action (`retry|kill|delete --all`) with a progress bar: on a terminal, and never
//! with `--json`, the matching jobs are acted on a chunk at a time and the bar counts them;
//! anywhere else the action is one call to the backend, and nothing but the result is
//! printed.

use std::future::Future;
use std::io::IsTerminal;

use chrono::Utc;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use jobs::backend::{JobActionParams, JobFilter, JobListParams, JobSet};

use super::Ctx;
use crate::error::CliError;

/// Jobs acted on per call while the bar shows.
pub const CHUNK: u64 = 100;

/// Whether a bar shows for an action on `count` jobs: stderr is a terminal, the output is
/// not JSON, and the action takes more than one chunk.
pub fn shows_bar(ctx: &Ctx, count: u64) -> bool {
    !ctx.json && count > CHUNK && std::io::stderr().is_terminal()
}

/// Acts on the first `count` jobs of `set` matching `filter` (the jobs confirmed; later
/// arrivals are left alone), `CHUNK` at a time with `apply`, counting them on a bar on
/// stderr; returns how many `apply` changed.
pub async fn in_chunks<F, Fut>(
    ctx: &Ctx,
    set: &JobSet,
    filter: &JobFilter,
    count: u64,
    verb: &str,
    apply: F,
) -> Result<u64, CliError>
where
    F: Fn(JobActionParams) -> Fut,
    Fut: Future<Output = Result<u64, CliError>>,
{
    let bar = ProgressBar::with_draw_target(Some(count), ProgressDrawTarget::stderr());
    if let Ok(style) =
        ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} jobs ({eta} left)")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(verb.to_owned());
    let (mut seen, mut done) = (0u64, 0u64);
    while seen < count {
        let limit = CHUNK.min(count - seen);
        let page = ctx
            .backend
            .job_list(JobListParams::new(set.clone(), limit).filter(filter.clone()))
            .await
            .map_err(ctx.failed())?;
        let jids: Vec<String> = page.jobs.into_iter().map(|j| j.job.jid).collect();
        if jids.is_empty() {
            break;
        }
        let asked = jids.len() as u64;
        let changed = apply(JobActionParams::jids(set.clone(), jids, Utc::now())).await?;
        seen += asked;
        done += changed;
        bar.inc(asked);
        if changed == 0 {
            // The jobs stayed in the set (moved on meanwhile, or the action keeps them
            // there): the next page would be the same one.
            break;
        }
    }
    bar.finish_and_clear();
    Ok(done)
}
