//! Runs the built `jobs` binary where it needs no store: its help, shell completions, the
//! check of a schedule file, and the always-empty memory:// backend.

mod support;

use support::jobs;

#[test]
fn help_starts_with_usage_and_hides_the_url_value() {
    let secret = "redis://:hunter2@127.0.0.1:6379/0";
    let run = jobs(Some(secret), &["--help"]);
    assert_eq!(run.code, 0, "{run:?}");
    let first_lines: Vec<&str> = run.stdout.lines().take(3).collect();
    assert_eq!(first_lines[0], "Usage: jobs [OPTIONS] <COMMAND>");
    assert!(
        first_lines[2].starts_with("Inspect and manage background jobs"),
        "{run:?}"
    );
    assert!(run.stdout.contains("[env: JOBS_URL]"), "{}", run.stdout);
    assert!(!run.stdout.contains("hunter2"), "{}", run.stdout);
    for command in [
        "status",
        "queues",
        "list",
        "show",
        "retry",
        "kill",
        "delete",
        "pause",
        "resume",
        "quiet",
        "stop",
        "schedule",
        "migrate",
        "web",
        "completions",
    ] {
        assert!(
            run.stdout.contains(&format!("\n  {command} ")),
            "{command} is listed: {}",
            run.stdout
        );
    }
    let list = jobs(None, &["list", "--help"]);
    assert!(
        list.stdout
            .starts_with("Usage: jobs list [OPTIONS] <SET> [NAME]\n"),
        "{list:?}"
    );
    assert!(list.stdout.contains("--filter <TEXT>"), "{list:?}");
    assert!(list.stdout.contains("\nGlobal options:\n"), "{list:?}");
}

#[test]
fn completions_are_printed_for_a_shell() {
    let run = jobs(None, &["completions", "bash"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.contains("_jobs()"), "{}", run.stdout);
    assert!(run.stdout.contains("quiet"), "subcommands complete");
    assert_eq!(jobs(None, &["completions", "tcsh"]).code, 2);
}

#[test]
fn a_schedule_file_is_checked_without_a_backend() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let good = dir.path().join("good.toml");
    let text = "[hourly]\nevery = \"1h\"\njob = \"Ping\"\n\n[nightly]\ncron = \"30 2 * * *\"\ntime_zone = \"Europe/Berlin\"\njob = \"Report\"\n";
    std::fs::write(&good, text).expect("the file is written");
    let good = good.display().to_string();
    let run = jobs(None, &["schedule", "check", &good, "--count", "2"]);
    assert_eq!(run.code, 0, "{run:?}");
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.len(), 6, "{}", run.stdout);
    assert!(
        lines[0].starts_with("hourly: ") && lines[3].starts_with("nightly: "),
        "{}",
        run.stdout
    );
    let parsed: serde_json::Value =
        serde_json::from_str(&jobs(None, &["--json", "schedule", "check", &good]).stdout)
            .expect("JSON");
    assert_eq!(parsed[1]["name"], "nightly");
    assert_eq!(parsed[1]["next"].as_array().map(Vec::len), Some(5));

    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[a]\ncron = \"61 * * * *\"\njob = \"X\"\n\n[b]\nevery = \"1h\"\ntime_zone = \"Mars/Base\"\njob = \"Y\"\n").expect("the file is written");
    let bad = bad.display().to_string();
    let run = jobs(None, &["schedule", "check", &bad]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr.starts_with(&format!(
            "error: {bad}: 2 error(s)\n  schedule `a`: invalid cron expression `61 * * * *`"
        )),
        "{run:?}"
    );
    assert!(
        run.stderr
            .contains("\n  schedule `b`: unknown time zone `Mars/Base`"),
        "{run:?}"
    );
    let missing = jobs(None, &["schedule", "check", "/nonexistent/schedule.toml"]);
    assert_eq!(missing.code, 1);
    assert!(
        missing
            .stderr
            .starts_with("error: cannot read the schedule file\n  caused by: "),
        "{missing:?}"
    );
}

#[test]
fn memory_is_accepted_but_said_to_be_empty() {
    let run = jobs(Some("memory://"), &["queues"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.stdout, "No queues.\n");
    assert!(
        run.stderr
            .starts_with("note: memory:// is a new, empty store"),
        "{run:?}"
    );
}
