//! The `schedule` target's check: text as a schedule file, and each of its lines as a cron
//! expression and as a duration, through what `jobs::schedule` does with them.
//!
//! 1. `ScheduleFile::parse` then `check_file`, as `schedule_check` runs them; the fire
//!    times each entry lists rise strictly, and the job a tick enqueues (`Schedule::job_at`)
//!    encodes and decodes to itself.
//! 2. `Timing::cron` on each line; what parses yields ticks strictly after the instant asked
//!    about, in UTC and in zones with daylight-saving changes (one of 30 minutes).
//! 3. `parse_duration` on each line; what parses is at least 1 ms, and an interval of it
//!    ticks strictly later too.
//!
//! As the proptest campaign (`jobs/tests/fuzz_inputs.rs`), nothing may panic; an input is
//! refused with an error or checked as above.

use chrono_tz::Tz;
use jobs::chrono::{DateTime, Utc};
use jobs::envelope::JobEnvelope;
use jobs::schedule::{check_file, parse_duration, ScheduleFile, Timing};

/// Zones the cron lines are read in: none, a spring-forward/fall-back one, a half-hour one.
const ZONES: [Tz; 3] = [Tz::UTC, Tz::Europe__Berlin, Tz::Australia__Lord_Howe];

/// How many lines of one input are tried as cron expressions and durations. An expression
/// that never fires (`0 0 31 2 *`, `* * , * *`) costs croner a search of some 50 ms (ten
/// times that in an AFL build) before it says so; more lines would make such inputs hangs.
const MAX_LINES: usize = 4;

/// A fixed "now" just before Berlin's spring-forward night, the same at every run.
fn now() -> DateTime<Utc> {
    DateTime::from_timestamp(1_774_739_400, 0).unwrap_or_default()
}

/// Runs every check on `data`; panics when one fails.
pub fn check(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    file(&text);
    for line in text.lines().take(MAX_LINES) {
        cron(line);
        duration(line);
    }
}

fn file(text: &str) {
    let Ok(parsed) = ScheduleFile::parse("fuzz.toml", text) else {
        return;
    };
    for s in parsed.schedules() {
        let _ = s.describe();
        let _ = s.next_after(now());
    }
    let Ok(report) = check_file(&parsed, None, now(), 3) else {
        return;
    };
    let _ = report.to_string();
    for ((name, _, times), s) in report.entries.iter().zip(parsed.schedules()) {
        assert_eq!(name, s.name());
        let mut last = now();
        for &t in times {
            assert!(t > last, "`{name}`: {t} after {last}");
            last = t;
            let job = s.job_at(None, t, now());
            round_trips(&job);
        }
    }
}

fn cron(line: &str) {
    let Ok(timing) = Timing::cron(line) else {
        return;
    };
    let _ = timing.describe();
    for zone in ZONES {
        // What never fires in UTC fires in no zone (wall-clock times are matched): one
        // search, not one per zone.
        if !ticks_rise(&timing, zone, line) {
            break;
        }
    }
}

fn duration(line: &str) {
    let Ok(period) = parse_duration(line) else {
        return;
    };
    assert!(period.as_millis() >= 1, "`{line}` gave {period:?}");
    ticks_rise(&Timing::every(period), Tz::UTC, line);
}

/// Three ticks from now, each strictly after the one before; `false` when there is none.
fn ticks_rise(timing: &Timing, zone: Tz, line: &str) -> bool {
    let mut last = now();
    for i in 0..3 {
        let Some(next) = timing.next_after(last, zone) else {
            return i > 0;
        };
        assert!(next > last, "`{line}` in {zone}: {next} after {last}");
        last = next;
    }
    true
}

fn round_trips(job: &JobEnvelope) {
    let text = job.to_json().expect("a scheduled job encodes");
    let back = JobEnvelope::from_json(&text)
        .unwrap_or_else(|e| panic!("a scheduled job decodes ({e}): {text}"));
    assert_eq!(&back, job, "round trip through {text}");
}
