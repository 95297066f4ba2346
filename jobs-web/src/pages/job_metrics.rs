//! One job name's metrics over time (`GET /metrics/{class}`): runs processed and failed per
//! hour as bars, p50 and p95 duration as lines, each hour's numbers on hover and in a table,
//! over the last `hours` hours (1–72).

use std::time::Duration;

use axum::extract::{Path, RawQuery, State};
use axum::Extension;
use chrono::{DateTime, Utc};
use jobs::metrics::Counts;
use maud::{html, Markup};

use super::metrics::ms;
use crate::layout::{empty, page as chrome, Nav};
use crate::params::{Pairs, HOURS};
use crate::{fmt, mount, AppState, Ctx, WebError};

/// One hour of the series.
pub(crate) type Hour = (DateTime<Utc>, Counts);

/// `GET /metrics/{class}`.
pub async fn page(
    State(st): State<AppState>,
    Extension(ctx): Extension<Ctx>,
    Path(class): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Markup, WebError> {
    let hours = Pairs::parse(raw.as_deref()).num("hours", HOURS)?;
    let series = st.job_series(&class, hours, st.now()).await?;
    let url = ctx.url(&format!("/metrics/{}", mount::seg(&class)));
    let body = html! {
        p.muted {
            "Runs of " strong { (class) } " that ended in each of the last " (hours) " hours. "
            @for h in [6u64, 24, 72] {
                a href=(format!("{url}?{}", mount::query(&[("hours", &h.to_string())])))
                    class=[(h == hours).then_some("current")] { (h) " h" } " "
            }
            " · " a href=(ctx.url("/metrics")) { "All jobs" }
            " · " a href=(format!("{}?{}", ctx.url("/retries"), mount::query(&[("class", &class)]))) { "Its retries" }
        }
        @match &series {
            None => (empty("This backend keeps no job metrics.")),
            Some(s) if s.iter().all(|(_, c)| c.processed == 0) => (empty("It did not run in this period.")),
            Some(s) => {
                section.panel {
                    h2 { "Runs per hour" }
                    (runs_chart(s))
                    p.legend { span.key.processed { "processed" } " " span.key.failed { "failed" } }
                }
                section.panel {
                    h2 { "Duration" }
                    (duration_chart(s))
                    p.legend { span.key.processed { "p50" } " " span.key.failed { "p95" } " (ms)" }
                }
                section.panel {
                    details {
                        summary { "Table" }
                        div.scroll { table #job-metrics {
                            thead { tr {
                                th { "Hour" } th.num { "Processed" } th.num { "Failed" }
                                th.num { "p50 ms" } th.num { "p95 ms" }
                            } }
                            tbody {
                                @for (h, c) in s.iter().rev() {
                                    tr {
                                        td { (fmt::time(*h)) }
                                        td.num { (c.processed) } td.num { (c.failed) }
                                        td.num { (ms(c.histogram.quantile(0.5))) }
                                        td.num { (ms(c.p95())) }
                                    }
                                }
                            }
                        } }
                    }
                    p.muted { "Durations are estimated from buckets about 1.5× apart." }
                }
            }
        }
    };
    Ok(chrome(&ctx, Nav::Metrics, &class, body))
}

/// Chart width per hour, in viewBox units.
const W: u64 = 20;
/// Chart height, in viewBox units.
const H: u64 = 140;

/// The y-axis labels (top, half, 0), the x-axis labels (first and last hour) around `svg`.
fn framed(top: &str, half: &str, s: &[Hour], svg: Markup) -> Markup {
    html! {
        div.chart {
            div.y-axis aria-hidden="true" { span { (top) } span { (half) } span { "0" } }
            (svg)
            div.x-axis aria-hidden="true" {
                @if let Some((h, _)) = s.first() { span { (fmt::time(*h)) } }
                @if let Some((h, _)) = s.last() { span { (fmt::time(*h)) } }
            }
        }
    }
}

/// Horizontal grid lines at 0, 50% and 100%.
fn grid(w: u64) -> Markup {
    html! { @for y in [1, H / 2, H] { line.grid x1="0" x2=(w) y1=(y) y2=(y) {} } }
}

/// Processed and failed runs per hour, as bars scaled to the busiest hour.
fn runs_chart(s: &[Hour]) -> Markup {
    let max = s.iter().map(|(_, c)| c.processed).max().unwrap_or(0).max(1);
    let bar = |v: u64| v * H / max;
    let w = W * s.len() as u64;
    let svg = html! {
        svg #runs-chart viewBox=(format!("0 0 {w} {}", H + 2)) preserveAspectRatio="none" role="img" aria-label="runs per hour" {
            (grid(w))
            @for (i, (h, c)) in s.iter().enumerate() {
                g {
                    title { (fmt::utc(*h)) ": " (c.processed) " processed, " (c.failed) " failed" }
                    rect.processed x=(i as u64 * W) y=(H - bar(c.processed)) width=(W - 1) height=(bar(c.processed)) {}
                    rect.failed x=(i as u64 * W + W / 4) y=(H - bar(c.failed)) width=(W / 2) height=(bar(c.failed)) {}
                }
            }
        }
    };
    framed(&max.to_string(), &(max / 2).to_string(), s, svg)
}

/// p50 and p95 per hour as lines, scaled to the slowest p95; hours without runs leave gaps.
fn duration_chart(s: &[Hour]) -> Markup {
    let q = |c: &Counts, p: f64| c.histogram.quantile(p).map(|d| d.as_secs_f64() * 1000.0);
    let top = s
        .iter()
        .filter_map(|(_, c)| q(c, 0.95))
        .fold(0.0f64, f64::max)
        .max(0.1);
    let w = W * s.len() as u64;
    let points = |p: f64| -> String {
        s.iter()
            .enumerate()
            .filter_map(|(i, (_, c))| {
                q(c, p).map(|v| {
                    let x = i as f64 * W as f64 + W as f64 / 2.0;
                    format!("{x:.1},{:.1}", H as f64 - v / top * (H as f64 - 2.0))
                })
            })
            .collect::<Vec<_>>()
            .join(" ")
    };
    let svg = html! {
        svg #duration-chart viewBox=(format!("0 0 {w} {}", H + 2)) preserveAspectRatio="none" role="img" aria-label="duration per hour" {
            (grid(w))
            polyline.processed points=(points(0.5)) {}
            polyline.failed points=(points(0.95)) {}
            @for (i, (h, c)) in s.iter().enumerate() {
                @if c.processed > 0 {
                    rect.hover x=(i as u64 * W) y="0" width=(W) height=(H) {
                        title { (fmt::utc(*h)) ": p50 " (ms(c.histogram.quantile(0.5))) " ms, p95 " (ms(c.p95())) " ms" }
                    }
                }
            }
        }
    };
    let label = |v: f64| ms(Some(Duration::from_secs_f64(v / 1000.0)));
    framed(&label(top), &label(top / 2.0), s, svg)
}
