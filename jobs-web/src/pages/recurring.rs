//! Recurring: each schedule the backend keeps (through `AdminBackend::schedules`), with its
//! timing in words, time zone, next fire times, last run and enabled flag; enable, disable
//! and run now.
//!
//! The store keeps a schedule's timing as its description (`cron 0 3 * * * (Europe/Berlin)`,
//! `every 5m`); the next fire times after the stored next run are worked out from it.

use axum::extract::{Path, State};
use axum::response::Redirect;
use axum::Extension;
use chrono::{DateTime, Utc};
use jobs::schedule::{parse_duration, Schedule, ScheduleRecord};
use maud::{html, Markup};

use crate::layout::{empty, page as chrome, post_button, Nav};
use crate::permit::Op;
use crate::{fmt, mount, Action, AppState, Ctx, WebError};

/// A schedule's timing, read back from its description.
#[derive(Debug, Clone, PartialEq)]
pub struct ScheduleTiming {
    /// The timing in words: `every day at 03:00`.
    pub words: String,
    /// The time zone (`UTC` for intervals).
    pub zone: String,
    /// The next fire times, from the stored next run on.
    pub next: Vec<DateTime<Utc>>,
}

/// Reads a record's timing and works out `n` fire times from its next run.
///
/// ```
/// use jobs::envelope::JobEnvelope;
/// use jobs::schedule::ScheduleRecord;
/// let r = ScheduleRecord {
///     name: "nightly".into(),
///     description: "cron 0 3 * * * (Europe/Berlin)".into(),
///     job: JobEnvelope::new("Report", "default", vec![]),
///     enabled: true,
///     last_run: None,
///     next_run: Some("2026-01-01T02:00:00Z".parse().unwrap()),
/// };
/// let t = jobs_web::schedule_timing(&r, 3);
/// assert_eq!(t.words, "every day at 03:00");
/// assert_eq!(t.zone, "Europe/Berlin");
/// assert_eq!(t.next.len(), 3);
/// ```
pub fn schedule_timing(r: &ScheduleRecord, n: usize) -> ScheduleTiming {
    let desc = r.description.trim();
    let mut next: Vec<DateTime<Utc>> = r.next_run.into_iter().collect();
    if let Some(cron) = desc.strip_prefix("cron ") {
        let (expr, zone) = match cron.rsplit_once(" (") {
            Some((e, z)) => (e.trim(), z.trim_end_matches(')').trim()),
            None => (cron.trim(), "UTC"),
        };
        let sched = Schedule::new(&r.name).cron(expr).time_zone(zone);
        while let Some(last) = next.last().copied().filter(|_| next.len() < n) {
            match sched.next_after(last) {
                Some(t) => next.push(t),
                None => break,
            }
        }
        return ScheduleTiming {
            words: cron_words(expr),
            zone: zone.to_owned(),
            next,
        };
    }
    if let Some(period) = desc
        .strip_prefix("every ")
        .and_then(|p| parse_duration(p).ok())
    {
        if let Ok(step) = chrono::Duration::from_std(period) {
            while let Some(last) = next.last().copied().filter(|_| next.len() < n) {
                next.push(last + step);
            }
        }
        return ScheduleTiming {
            words: desc.to_owned(),
            zone: "UTC".to_owned(),
            next,
        };
    }
    ScheduleTiming {
        words: desc.to_owned(),
        zone: "–".to_owned(),
        next,
    }
}

const DAYS: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];

/// A five-field cron expression in words, for the common shapes; others as they are.
///
/// ```
/// use jobs_web::cron_words;
/// assert_eq!(cron_words("*/15 * * * *"), "every 15 minutes");
/// assert_eq!(cron_words("30 9 * * 1-5"), "every Monday to Friday at 09:30");
/// assert_eq!(cron_words("0 6 1 * *"), "on day 1 of every month at 06:00");
/// assert_eq!(cron_words("5 4 3 2 1"), "cron 5 4 3 2 1");
/// ```
pub fn cron_words(expr: &str) -> String {
    let f: Vec<&str> = expr.split_whitespace().collect();
    let num = |s: &str, max: u32| s.parse::<u32>().ok().filter(|v| *v <= max);
    let raw = || format!("cron {expr}");
    let [m, h, dom, mon, dow] = f.as_slice() else {
        return raw();
    };
    if *mon != "*" {
        return raw();
    }
    let at = match (num(m, 59), num(h, 23)) {
        (Some(m), Some(h)) => Some(format!("{h:02}:{m:02}")),
        _ => None,
    };
    match (*dom, *dow, at) {
        ("*", "*", Some(at)) => format!("every day at {at}"),
        ("*", d, Some(at)) => match weekdays(d) {
            Some(days) => format!("every {days} at {at}"),
            None => raw(),
        },
        (d, "*", Some(at)) => match num(d, 31) {
            Some(d) => format!("on day {d} of every month at {at}"),
            None => raw(),
        },
        ("*", "*", None) => match (*m, *h) {
            ("*", "*") => "every minute".to_owned(),
            (m, "*") => match (m.strip_prefix("*/").and_then(|n| num(n, 59)), num(m, 59)) {
                (Some(n), _) => format!("every {n} minutes"),
                (None, Some(m)) => format!("every hour at minute {m}"),
                _ => raw(),
            },
            (m, h) => match (num(m, 59), h.strip_prefix("*/").and_then(|n| num(n, 23))) {
                (Some(0), Some(n)) => format!("every {n} hours"),
                (Some(m), Some(n)) => format!("every {n} hours at minute {m}"),
                _ => raw(),
            },
        },
        _ => raw(),
    }
}

fn weekdays(d: &str) -> Option<String> {
    let day = |s: &str| s.parse::<usize>().ok().map(|i| i % 7).map(|i| DAYS[i]);
    if let Some((a, b)) = d.split_once('-') {
        return Some(format!("{} to {}", day(a)?, day(b)?));
    }
    let names: Option<Vec<&str>> = d.split(',').map(day).collect();
    Some(names?.join(", "))
}

/// `GET /recurring`.
pub async fn list(
    State(st): State<AppState>,
    Extension(ctx): Extension<Ctx>,
) -> Result<Markup, WebError> {
    let now = st.now();
    let records = st.schedules().await?;
    let body = html! {
        section.panel {
            @match &records {
                None => { (empty("This backend keeps no recurring schedules.")) }
                Some(rs) if rs.is_empty() => { (empty("No recurring schedules yet.")) }
                Some(rs) => {
                    div.scroll { table {
                        thead { tr {
                            th { "Schedule" } th { "When" } th { "Time zone" } th { "Next runs" }
                            th { "Last run" } th { "Job" } th { "State" }
                            @if ctx.can(Action::Schedule) { th { "Actions" } }
                        } }
                        tbody { @for r in rs { (row(&ctx, r, now, orphaned(&st, r), st.declared.is_some())) } }
                    } }
                }
            }
        }
    };
    Ok(chrome(&ctx, Nav::Recurring, "Recurring", body))
}

/// Whether no schedule the app declares has this record's name (`None`: the app did not say
/// which it declares, see [`crate::Dashboard::declared_schedules`]).
fn orphaned(st: &AppState, r: &ScheduleRecord) -> bool {
    st.declared.as_ref().is_some_and(|d| !d.contains(&r.name))
}

/// A schedule's row; `known`: whether the dashboard knows which schedules the app declares
/// (without that, every row offers Remove: a declared schedule is declared again at once).
fn row(ctx: &Ctx, r: &ScheduleRecord, now: DateTime<Utc>, orphan: bool, known: bool) -> Markup {
    let t = schedule_timing(r, 3);
    let base = ctx.url(&format!("/recurring/{}", mount::seg(&r.name)));
    html! {
        tr {
            td { strong { (r.name) } }
            td { (t.words) @if t.words != r.description { br; small.muted { (r.description) } } }
            td { (t.zone) }
            td { @for n in &t.next { (fmt::time_in(*n, &t.zone)) " " small.muted { "(" (fmt::relative(*n, now)) ")" } br; } }
            td { @if let Some(l) = r.last_run { (fmt::relative(l, now)) } @else { "never" } }
            td { (r.job.class) " → " (r.job.queue) br; code { (fmt::args_short(&r.job.args, 60)) } }
            td {
                @if orphan {
                    span.badge title="No schedule of this app has this name: it never fires. Remove it, or declare it again." { "orphaned" }
                    br; small.muted { "declared nowhere" }
                } @else if r.enabled { "enabled" } @else { span.badge { "disabled" } }
            }
            @if ctx.can(Action::Schedule) {
                td.actions {
                    @if !orphan {
                        @if r.enabled {
                            (post_button(&format!("{base}/disable"), "Disable", "", &[]))
                        } @else {
                            (post_button(&format!("{base}/enable"), "Enable", "", &[]))
                        }
                    }
                    (post_button(&format!("{base}/run"), "Run now", "", &[]))
                    @if orphan || !known {
                        (post_button(&format!("{base}/remove"), "Remove", "danger", &[]))
                    }
                }
            }
        }
    }
}

/// `POST /recurring/{name}/{action}` with `enable`, `disable` or `run`.
pub async fn act(
    State(st): State<AppState>,
    Extension(ctx): Extension<Ctx>,
    Path((name, action)): Path<(String, String)>,
) -> Result<Redirect, WebError> {
    let permit = ctx.permit(Op::schedule(&action)?)?;
    st.schedule_act(permit, &name, &action, st.now()).await?;
    Ok(Redirect::to(&ctx.url("/recurring")))
}
