//! The test helper binaries answer `--help` with their usage first, on stdout, status 0.

use std::process::Command;

#[test]
fn every_helper_binary_prints_usage_first_for_help() {
    for exe in [
        env!("CARGO_BIN_EXE_jobs_test_worker"),
        env!("CARGO_BIN_EXE_jobs_test_enqueuer"),
        env!("CARGO_BIN_EXE_jobs_test_scheduler"),
    ] {
        let out = Command::new(exe).arg("--help").output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{exe}");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let first = stdout.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
        assert!(first.starts_with("Usage: "), "{exe}: {stdout}");
    }
}
