//! The dashboard: totals, a live chart, history for 7/30/90 days, queues, backend facts.
//!
//! The live chart is drawn by `app.js` from `api/stats`, polled every `poll` seconds
//! (clamped to 2–60); the history chart is an SVG drawn here with sizes as attributes, so
//! the CSP needs no inline styles.

use axum::extract::{RawQuery, State};
use axum::Extension;
use jobs::backend::DayStats;
use maud::{html, Markup};

use crate::layout::{page as chrome, Nav};
use crate::params::{Pairs, DAYS, POLL};
use crate::{fmt, mount, AppState, Ctx, WebError};

/// `GET /`: the dashboard.
pub async fn page(
    State(st): State<AppState>,
    Extension(ctx): Extension<Ctx>,
    RawQuery(raw): RawQuery,
) -> Result<Markup, WebError> {
    let q = Pairs::parse(raw.as_deref());
    let days = q.num("days", DAYS)?;
    let poll = q.num("poll", POLL)?;
    let now = st.now();
    let stats = st.stats().await?;
    let history = st.history(now, days).await?;
    let queues = st.queues(now).await?;
    let procs = st.processes().await?;
    let busy: usize = procs.iter().map(|p| p.running.len()).sum();
    // Facts are a nicety: a server that refuses `INFO` must not take the dashboard down.
    let facts = st.facts().await.unwrap_or_else(|e| {
        tracing::debug!(error = %e, "backend facts unavailable");
        vec![("Facts".to_owned(), "unavailable".to_owned())]
    });
    let cards = [
        ("Processed", "processed", stats.processed, ctx.home()),
        ("Failed", "failed", stats.failed, ctx.home()),
        ("Expired", "expired", stats.expired, ctx.home()),
        ("Busy", "busy", busy as u64, ctx.url("/busy")),
        ("Enqueued", "enqueued", stats.enqueued, ctx.url("/queues")),
        (
            "Scheduled",
            "scheduled",
            stats.scheduled,
            ctx.url("/scheduled"),
        ),
        ("Retries", "retries", stats.retries, ctx.url("/retries")),
        ("Dead", "dead", stats.dead, ctx.url("/dead")),
    ];
    let body = html! {
        section.cards {
            @for (label, key, n, href) in &cards {
                a.card href=(href) { span.n data-stat=(key) { (n) } span.l { (label) } }
            }
        }
        section.panel #live data-src=(ctx.url("/api/stats")) data-interval=(poll) {
            h2 { "Live" }
            p.muted {
                "Jobs processed and failed per refresh, every " (poll) " s. "
                @for s in [2u64, 5, 10, 30] {
                    a href=(format!("{}?{}", ctx.home(), mount::query(&[("days", &days.to_string()), ("poll", &s.to_string())])))
                        class=[(s == poll).then_some("current")] { (s) " s" } " "
                }
            }
            div.chart {
                div.y-axis #live-y aria-hidden="true" { span { "1" } span { "0" } span { "0" } }
                svg #live-chart viewBox="0 0 600 150" preserveAspectRatio="none" role="img" aria-label="live chart" {
                    (grid())
                    polyline #live-processed .processed points="" {}
                    polyline #live-failed .failed points="" {}
                }
                div.x-axis aria-hidden="true" { span { "−" (poll * 59) " s" } span { "now" } }
            }
            p.legend {
                span.key.processed { "processed" } " " span.key.failed { "failed" } " "
                span #live-hover .muted {}
            }
            p #live-status .status hidden role="status" {}
        }
        section.panel {
            h2 { "History" }
            p.muted {
                @for d in [7u64, 30, 90] {
                    a href=(format!("{}?{}", ctx.home(), mount::query(&[("days", &d.to_string()), ("poll", &poll.to_string())])))
                        class=[(d == days).then_some("current")] { (d) " days" } " "
                }
            }
            (history_chart(&history))
            p.legend { span.key.processed { "processed" } " " span.key.failed { "failed" } }
        }
        section.panel {
            h2 { "Queues" }
            @if queues.is_empty() { (crate::layout::empty("No queues yet.")) } @else {
                table {
                    thead { tr { th { "Queue" } th.num { "Size" } th.num { "Latency" } th { "State" } } }
                    tbody {
                        @for qi in &queues {
                            tr {
                                td { a href=(ctx.url(&format!("/queues/{}", mount::seg(&qi.name)))) { (qi.name) } }
                                td.num { (qi.size) }
                                td.num { (fmt::dur(qi.latency)) }
                                td { @if qi.paused { span.badge { "paused" } } @else { "running" } }
                            }
                        }
                    }
                }
            }
        }
        section.panel {
            h2 { "Backend" }
            dl.facts {
                dt { "Backend" } dd { (st.backend_name()) }
                dt { "Processes" } dd { (procs.len()) }
                dt { "Threads busy" } dd { span data-stat="busy" { (busy) } " of " (procs.iter().map(|p| p.info.concurrency).sum::<usize>()) }
                dt { "Dead jobs trimmed" } dd { (stats.dead_trimmed) }
                dt { "Server time" } dd { (fmt::time(now)) }
                @for (label, value) in &facts {
                    dt { (label) } dd data-fact=(label) { (value) }
                }
            }
        }
    };
    Ok(chrome(&ctx, Nav::Dashboard, "Dashboard", body))
}

/// Horizontal lines at the top, the middle and the bottom of the live chart, which the
/// y-axis labels (`#live-y`, set by `app.js`) name.
fn grid() -> Markup {
    grid_lines(600, 148)
}

/// Lines at 0, 50% and 100% of a chart `w` wide and `h` high.
fn grid_lines(w: u64, h: u64) -> Markup {
    html! {
        @for y in [1, h / 2, h] {
            line.grid x1="0" x2=(w) y1=(y) y2=(y) {}
        }
    }
}

/// Bars of processed and failed per day, scaled to the busiest day, with the scale (the
/// busiest day's count, half of it, 0) beside them, the first and last day below, and each
/// day's numbers on hover.
fn history_chart(days: &[DayStats]) -> Markup {
    let max = days
        .iter()
        .map(|d| d.processed.max(d.failed))
        .max()
        .unwrap_or(0)
        .max(1);
    let n = days.len().max(1) as u64;
    let w = 600 / n;
    let h = 140u64;
    let bar = |v: u64| v * h / max;
    let (first, last) = (days.first(), days.last());
    html! {
        div.chart {
            div.y-axis aria-hidden="true" { span { (max) } span { (max / 2) } span { "0" } }
        svg #history-chart viewBox=(format!("0 0 {} {}", w * n, h + 2)) preserveAspectRatio="none" role="img" aria-label="history chart" {
            (grid_lines(w * n, h))
            @for (i, d) in days.iter().enumerate() {
                g {
                    title { (d.date) ": " (d.processed) " processed, " (d.failed) " failed" }
                    rect.processed x=(i as u64 * w) y=(h - bar(d.processed)) width=(w.saturating_sub(1).max(1)) height=(bar(d.processed)) {}
                    rect.failed x=(i as u64 * w + w / 4) y=(h - bar(d.failed)) width=((w / 2).max(1)) height=(bar(d.failed)) {}
                }
            }
        }
            div.x-axis aria-hidden="true" {
                @if let Some(d) = first { span { (d.date) } }
                @if let Some(d) = last { span { (d.date) } }
            }
        }
        details {
            summary { "Table" }
            table {
                thead { tr { th { "Day" } th.num { "Processed" } th.num { "Failed" } } }
                tbody {
                    @for d in days.iter().rev() {
                        tr { td { (d.date) } td.num { (d.processed) } td.num { (d.failed) } }
                    }
                }
            }
        }
    }
}
