//! Validates a schedule file and prints the next fire times of each entry, for CI.
//!
//! `cargo run --example schedule_check -- examples/schedule.toml [N]`
//!
//! Jobs and arguments are checked against the jobs linked into this program (here the
//! examples' `NightlyReport` and `MonthlyInvoices`); an app builds the same few lines into
//! its own binary so its own `#[job]`s are known. Exits 1 and lists every error otherwise.

#[path = "recurring_jobs.rs"]
mod recurring_jobs;

use jobs::schedule::{check_file, ScheduleFile};

const USAGE: &str = "Usage: schedule_check FILE [N]

Checks the schedule FILE against the jobs linked into this program and prints the next N
fire times of each entry (default 5); exits 1 and lists every error otherwise.";

fn main() -> std::process::ExitCode {
    let mut args = std::env::args().skip(1);
    let Some(path) = args.next() else {
        eprintln!("no schedule file given\n\n{USAGE}");
        return std::process::ExitCode::from(2);
    };
    if path == "-h" || path == "--help" {
        println!("{USAGE}");
        return std::process::ExitCode::SUCCESS;
    }
    let n = match args.next().map(|n| n.parse::<usize>().map_err(|_| n)) {
        None => 5,
        Some(Ok(n)) => n,
        Some(Err(n)) => {
            eprintln!("N must be a whole number, not `{n}`\n\n{USAGE}");
            return std::process::ExitCode::from(2);
        }
    };
    let registry = match jobs::Registry::from_inventory() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("{e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let file = match ScheduleFile::load(&path) {
        Ok(file) => file,
        Err(e) => {
            eprintln!("{e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match check_file(&file, Some(&registry), jobs::chrono::Utc::now(), n) {
        Ok(report) => {
            print!("{report}");
            std::process::ExitCode::SUCCESS
        }
        Err(errors) => {
            for e in &errors {
                eprintln!("{e}");
            }
            eprintln!("{path}: {} error(s)", errors.len());
            std::process::ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_help_starts_with_usage() {
        let first = super::USAGE.lines().find(|l| !l.trim().is_empty());
        assert!(
            first.is_some_and(|l| l.starts_with("Usage: ")),
            "{}",
            super::USAGE
        );
    }
}
