//! Metrics: per job name, runs processed and failed and their duration (average and p95)
//! over the last `hours` hours (clamped to 1–72), read from the backend's metrics store
//! (`Backend::metrics`). A backend without one shows a notice instead. Each name links to
//! its own page over time (`job_metrics.rs`).

use std::time::Duration;

use axum::extract::{RawQuery, State};
use axum::Extension;
use jobs::metrics::JobMetrics;
use maud::{html, Markup};

use crate::layout::{empty, page as chrome, Nav};
use crate::params::{Pairs, HOURS};
use crate::{mount, AppState, Ctx, WebError};

/// A duration in milliseconds with one decimal, or `–`.
pub(crate) fn ms(d: Option<Duration>) -> String {
    d.map_or_else(
        || "–".to_owned(),
        |d| format!("{:.1}", d.as_secs_f64() * 1000.0),
    )
}

/// `GET /metrics`: the table per job name.
pub async fn page(
    State(st): State<AppState>,
    Extension(ctx): Extension<Ctx>,
    RawQuery(raw): RawQuery,
) -> Result<Markup, WebError> {
    let hours = Pairs::parse(raw.as_deref()).num("hours", HOURS)?;
    let rows = st.metrics(hours, st.now()).await?;
    let url = ctx.url("/metrics");
    let body = html! {
        p.muted {
            "Runs that ended in the last " (hours) " hours, by job name. "
            @for h in [1u64, 6, 24, 72] {
                a href=(format!("{url}?{}", mount::query(&[("hours", &h.to_string())])))
                    class=[(h == hours).then_some("current")] { (h) " h" } " "
            }
        }
        @match &rows {
            None => (empty("This backend keeps no job metrics.")),
            Some(rows) if rows.is_empty() => (empty("No job ran in this period.")),
            Some(rows) => {
                table #metrics {
                    thead { tr {
                        th { "Job" } th.num { "Processed" } th.num { "Failed" }
                        th.num { "Failed %" } th.num { "Avg ms" } th.num { "p95 ms" }
                    } }
                    tbody {
                        @for r in rows {
                            tr {
                                td { a href=(ctx.url(&format!("/metrics/{}", mount::seg(&r.class)))) { (r.class) } }
                                td.num { (r.counts.processed) }
                                td.num { (r.counts.failed) }
                                td.num { (failed_pct(r)) }
                                td.num { (ms(r.counts.average())) }
                                td.num { (ms(r.counts.p95())) }
                            }
                        }
                    }
                }
                p.muted { "p95 is estimated from duration buckets about 1.5× apart." }
            }
        }
    };
    Ok(chrome(&ctx, Nav::Metrics, "Metrics", body))
}

fn failed_pct(r: &JobMetrics) -> String {
    if r.counts.processed == 0 {
        return "–".to_owned();
    }
    format!(
        "{:.1}",
        r.counts.failed as f64 * 100.0 / r.counts.processed as f64
    )
}
