//! How the examples log, as a person or a log shipper sees it: on stderr (stdout is the
//! program's own output), without colour codes when stderr is not a terminal, and with
//! `JOBS_LOG_FORMAT=json` one JSON object per line; the line of each run carries the jid,
//! class, queue, attempt and duration.

use std::path::{Path, PathBuf};
use std::process::Command;

fn quickstart() -> PathBuf {
    let debug = Path::new(env!("CARGO_BIN_EXE_jobs_test_worker"))
        .parent()
        .unwrap()
        .to_path_buf();
    debug.join("examples").join("quickstart")
}

/// Runs quickstart on a fresh SQLite file with `format` (if any); its stdout and stderr.
fn run(format: Option<&str>) -> Option<(String, String)> {
    let exe = quickstart();
    if !exe.exists() {
        eprintln!(
            "skipped: {} is missing (cargo build -p jobs-examples --example quickstart)",
            exe.display()
        );
        return None;
    }
    let dir = std::env::temp_dir().join(format!(
        "jobs-logs-{}-{}",
        std::process::id(),
        format.unwrap_or("text")
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let mut cmd = Command::new(exe);
    cmd.env("JOBS_URL", format!("sqlite://{}/jobs.db", dir.display()))
        .env_remove("RUST_LOG")
        .env_remove("JOBS_LOG_FORMAT");
    if let Some(f) = format {
        cmd.env("JOBS_LOG_FORMAT", f);
    }
    let out = cmd.output().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some((
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    ))
}

#[test]
fn text_logs_go_to_stderr_without_colour_codes() {
    let Some((stdout, stderr)) = run(None) else {
        return;
    };
    assert!(stderr.contains("job failed; will retry"), "{stderr}");
    assert!(
        !stderr.contains('\u{1b}'),
        "colour codes on a pipe: {stderr:?}"
    );
    assert!(
        !stdout.contains("will retry"),
        "a log line on stdout: {stdout}"
    );
    assert!(stdout.contains("enqueued 4 jobs"), "{stdout}");
    // Values print as JSON, not as Rust's debug form.
    assert!(
        stdout.contains(r#"dead: ImportCard ["0000-0000"]"#),
        "{stdout}"
    );
    assert!(
        !stdout.contains("String(") && !stdout.contains("Some("),
        "{stdout}"
    );
}

#[test]
fn json_logs_are_one_object_per_line_with_the_job() {
    let Some((_, stderr)) = run(Some("json")) else {
        return;
    };
    let lines: Vec<serde_json::Value> = stderr
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let retry = lines
        .iter()
        .find(|v| v["fields"]["message"] == "job failed; will retry")
        .unwrap_or_else(|| panic!("no retry line in {stderr}"));
    assert_eq!(retry["level"], "WARN");
    // Every line about a run names the job, its queue, the attempt and how long it ran.
    let done = lines
        .iter()
        .find(|v| v["fields"]["message"] == "job done")
        .unwrap_or_else(|| panic!("no job done line in {stderr}"));
    for line in [retry, done] {
        let f = &line["fields"];
        assert!(f["jid"].is_string(), "{line}");
        assert!(f["class"].is_string(), "{line}");
        assert!(f["queue"].is_string(), "{line}");
        assert!(f["attempt"].is_u64(), "{line}");
        assert!(f["duration_ms"].is_f64(), "{line}");
    }
}
