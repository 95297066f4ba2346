//! The schedule file: each kind of error names its entry; the check lists next fire times.

use jobs::schedule::{check_file, CatchUp, Schedule, ScheduleError, ScheduleFile};

use super::{registry, t};

fn errors(text: &str) -> Vec<ScheduleError> {
    match ScheduleFile::parse("schedule.toml", text) {
        Ok(file) => check_file(&file, Some(&registry()), t("2026-01-01T00:00:00Z"), 3)
            .err()
            .unwrap_or_default(),
        Err(e) => vec![e],
    }
}

fn one_error(text: &str) -> ScheduleError {
    let mut all = errors(text);
    assert_eq!(all.len(), 1, "{all:?}");
    all.remove(0)
}

#[test]
fn invalid_cron_names_the_entry_and_expression() {
    let e = one_error("[nightly]\ncron = \"61 2 * * *\"\njob = \"Ping\"\n");
    assert!(
        matches!(&e, ScheduleError::InvalidCron { entry, expr, .. } if entry == "nightly" && expr == "61 2 * * *"),
        "{e:?}"
    );
    let e = one_error("[short]\ncron = \"* * *\"\njob = \"Ping\"\n");
    assert!(
        e.to_string()
            .contains("schedule `short`: invalid cron expression `* * *`: expected 5 or 6 fields"),
        "{e}"
    );
    let e = Schedule::new("coded")
        .cron("0 0 0 0 0 0 0")
        .check(None)
        .unwrap_err();
    assert_eq!(e.entry(), Some("coded"));
}

#[test]
fn unknown_time_zone_names_the_entry() {
    let e = one_error("[tz]\ncron = \"@daily\"\ntime_zone = \"Europe/Berlinn\"\njob = \"Ping\"\n");
    assert_eq!(
        e,
        ScheduleError::UnknownTimeZone {
            entry: "tz".into(),
            zone: "Europe/Berlinn".into()
        }
    );
}

#[test]
fn unknown_job_names_the_entry() {
    let e = one_error("[x]\nevery = \"5m\"\njob = \"Pong\"\n");
    assert_eq!(
        e,
        ScheduleError::UnknownJob {
            entry: "x".into(),
            job: "Pong".into()
        }
    );
    assert_eq!(
        e.to_string(),
        "schedule `x`: unknown job `Pong` (no #[job] with this name is registered)"
    );
}

#[test]
fn arguments_that_do_not_fit_name_the_entry() {
    let e = one_error(
        "[inv]\ncron = \"0 9 1 * *\"\njob = \"MonthlyInvoices\"\nargs = [\"eu\", \"yes\"]\n",
    );
    assert!(
        matches!(&e, ScheduleError::BadArgs { entry, job, .. } if entry == "inv" && job == "MonthlyInvoices"),
        "{e:?}"
    );
    let e = one_error("[inv]\ncron = \"0 9 1 * *\"\njob = \"MonthlyInvoices\"\nargs = [\"eu\"]\n");
    assert!(
        matches!(&e, ScheduleError::BadArgs { .. }),
        "too few arguments: {e:?}"
    );
}

#[test]
fn malformed_entries_name_the_entry() {
    for (text, wanted) in [
        (
            "[a]\ncron = \"@daily\"\njob = \"Ping\"\nqueu = \"x\"\n",
            "unknown key `queu`",
        ),
        ("[a]\njob = \"Ping\"\n", "missing `cron` or `every`"),
        ("[a]\ncron = \"@daily\"\n", "missing `job`"),
        ("[a]\nevery = \"5 parsecs\"\njob = \"Ping\"\n", "`every`"),
        (
            "[a]\ncron = \"@daily\"\nevery = \"1h\"\njob = \"Ping\"\n",
            "not both",
        ),
        (
            "[a]\ncron = \"@daily\"\njob = \"Ping\"\ncatch_up = \"sometimes\"\n",
            "`catch_up` must be",
        ),
        (
            "[a]\ncron = \"@daily\"\njob = \"Ping\"\nretry = \"lots\"\n",
            "`retry` must be",
        ),
        ("a = 1\n", "must be a table"),
    ] {
        let e = one_error(text);
        assert_eq!(e.entry(), Some("a"), "{e}");
        assert!(
            e.to_string().contains(wanted),
            "{e} should contain {wanted}"
        );
    }
}

#[test]
fn toml_syntax_errors_name_the_file() {
    let e = one_error("[a\ncron = 1\n");
    assert!(
        matches!(&e, ScheduleError::File { path, .. } if path == "schedule.toml"),
        "{e:?}"
    );
}

#[test]
fn every_error_of_a_file_is_reported_at_once() {
    let all =
        errors("[one]\ncron = \"bad\"\njob = \"Ping\"\n[two]\nevery = \"1m\"\njob = \"Nope\"\n");
    let entries: Vec<_> = all.iter().filter_map(|e| e.entry()).collect();
    assert_eq!(entries, vec!["one", "two"]);
}

#[test]
fn check_lists_next_fire_times_of_each_entry() {
    let text = r#"
        [nightly_report]
        cron = "30 2 * * *"
        time_zone = "Europe/Berlin"
        job = "NightlyReport"
        args = ["sales"]
        catch_up = "each"
        catch_up_limit = 3

        [monthly_invoices]
        cron = "0 9 1 * *"
        time_zone = "Europe/Berlin"
        class = "MonthlyInvoices"
        args = ["eu", false]
        queue = "billing"
        retry = 5
    "#;
    let file = ScheduleFile::parse("schedule.toml", text).unwrap();
    // Entries come sorted by name.
    assert_eq!(file.schedules()[0].name(), "monthly_invoices");
    assert_eq!(file.schedules()[1].catch_up_policy(), CatchUp::Each(3));
    let report = check_file(&file, Some(&registry()), t("2026-03-28T00:00:00Z"), 2).unwrap();
    assert_eq!(
        report.entries[1].2,
        vec![t("2026-03-28T01:30:00Z"), t("2026-03-29T01:00:00Z")]
    );
    assert_eq!(
        report.entries[0].2,
        vec![t("2026-04-01T07:00:00Z"), t("2026-05-01T07:00:00Z")]
    );
    let printed = report.to_string();
    assert!(
        printed.contains("monthly_invoices: cron 0 9 1 * * (Europe/Berlin)"),
        "{printed}"
    );
}
