//! `jobs-bench --help` prints its usage first, on stdout, and exits 0, wherever the flag is.

use std::process::Command;

#[test]
fn help_prints_usage_first_and_exits_0() {
    for args in [&["--help"][..], &["-h"], &["help"], &["noop", "--help"]] {
        let out = Command::new(env!("CARGO_BIN_EXE_jobs-bench"))
            .args(args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{args:?}");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let first = stdout.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
        assert!(first.starts_with("Usage: jobs-bench"), "{args:?}: {stdout}");
        assert!(stdout.contains("--backend URL"), "{stdout}");
    }
}

#[test]
fn a_wrong_scenario_names_itself_then_shows_the_usage() {
    let out = Command::new(env!("CARGO_BIN_EXE_jobs-bench"))
        .arg("nop")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.starts_with("jobs-bench: unknown scenario `nop`") && stderr.contains("Usage:"),
        "{stderr}"
    );
}
