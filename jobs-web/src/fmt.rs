//! Small formatters for times, durations and JSON shown on the pages. Times are `<time>`
//! elements in UTC, which `assets/app.js` shows in the viewer's zone (or a schedule's).

use std::time::Duration;

use chrono::{DateTime, Utc};
use jobs::envelope::from_epoch;
use maud::{html, Markup};

/// `2026-01-02 03:04:05 UTC`.
pub(crate) fn utc(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

/// The machine-readable form in a `<time datetime>`.
fn iso(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// A time for people: `<time>` showing it in UTC, which `app.js` rewrites in the viewer's
/// time zone, with UTC kept on hover (a page without scripts shows UTC).
pub(crate) fn time(t: DateTime<Utc>) -> Markup {
    html! { time.local datetime=(iso(t)) title=(utc(t)) { (utc(t)) } }
}

/// [`time`] in the zone `zone` (an IANA name: a schedule's own zone) rather than the
/// viewer's; UTC without scripts, UTC on hover.
pub(crate) fn time_in(t: DateTime<Utc>, zone: &str) -> Markup {
    html! { time.local datetime=(iso(t)) data-zone=(zone) title=(utc(t)) { (utc(t)) } }
}

/// An epoch-seconds timestamp as [`time`], or `–`.
pub(crate) fn epoch(t: Option<f64>) -> Markup {
    match t.map(from_epoch) {
        Some(t) => time(t),
        None => html! { "–" },
    }
}

/// `3s`, `4m 05s`, `2h 03m`, `3d 4h`.
pub(crate) fn dur(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m {:02}s", s / 60, s % 60),
        3600..=86_399 => format!("{}h {:02}m", s / 3600, (s % 3600) / 60),
        _ => format!("{}d {}h", s / 86_400, (s % 86_400) / 3600),
    }
}

/// How long from `then` to `now`, as [`dur`] (zero when `then` is later).
pub(crate) fn since(then: DateTime<Utc>, now: DateTime<Utc>) -> String {
    dur((now - then).to_std().unwrap_or_default())
}

/// `in 3m 05s` or `3m 05s ago`.
pub(crate) fn relative(t: DateTime<Utc>, now: DateTime<Utc>) -> Markup {
    let words = if t > now {
        format!("in {}", since(now, t))
    } else {
        format!("{} ago", since(t, now))
    };
    html! { time.rel datetime=(iso(t)) title=(utc(t)) { (words) } }
}

/// Arguments as one line of JSON, cut to `max` characters.
pub(crate) fn args_short(args: &[serde_json::Value], max: usize) -> String {
    let s = serde_json::Value::Array(args.to_vec()).to_string();
    if s.chars().count() > max {
        let cut: String = s.chars().take(max).collect();
        format!("{cut}…")
    } else {
        s
    }
}

/// Any JSON value, indented.
pub(crate) fn pretty(v: &serde_json::Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_else(|_| v.to_string())
}

/// Whether a stored backtrace has anything to show (Sidekiq writes `[]`, `null` or `""` too).
pub(crate) fn has_backtrace(v: &serde_json::Value) -> bool {
    match v {
        serde_json::Value::Null => false,
        serde_json::Value::Array(items) => !items.is_empty(),
        serde_json::Value::String(s) => !s.trim().is_empty(),
        serde_json::Value::Object(m) => !m.is_empty(),
        _ => true,
    }
}

/// A backtrace as lines: a JSON array of strings one per line, anything else as JSON.
pub(crate) fn backtrace(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::Array(items) => items
            .iter()
            .map(|i| i.as_str().map_or_else(|| i.to_string(), str::to_owned))
            .collect::<Vec<_>>()
            .join("\n"),
        serde_json::Value::String(s) => s.clone(),
        other => pretty(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_carry_their_instant_and_show_utc_until_a_script_says_otherwise() {
        let t: DateTime<Utc> = "2026-04-01T07:00:00Z".parse().unwrap();
        let now: DateTime<Utc> = "2026-04-01T07:03:00Z".parse().unwrap();
        assert_eq!(
            time(t).into_string(),
            r#"<time class="local" datetime="2026-04-01T07:00:00Z" title="2026-04-01 07:00:00 UTC">2026-04-01 07:00:00 UTC</time>"#
        );
        assert!(time_in(t, "Europe/Berlin")
            .into_string()
            .contains(r#"data-zone="Europe/Berlin""#));
        assert_eq!(
            relative(t, now).into_string(),
            r#"<time class="rel" datetime="2026-04-01T07:00:00Z" title="2026-04-01 07:00:00 UTC">3m 00s ago</time>"#
        );
        assert_eq!(epoch(None).into_string(), "–");
    }

    #[test]
    fn durations() {
        assert_eq!(dur(Duration::from_secs(5)), "5s");
        assert_eq!(dur(Duration::from_secs(65)), "1m 05s");
        assert_eq!(dur(Duration::from_secs(3 * 3600 + 120)), "3h 02m");
        assert_eq!(dur(Duration::from_secs(2 * 86_400 + 3600)), "2d 1h");
    }
}
