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

fn main() -> std::process::ExitCode {
    let mut args = std::env::args().skip(1);
    let Some(path) = args.next() else {
        eprintln!("usage: schedule_check FILE [N]");
        return std::process::ExitCode::from(2);
    };
    let n = args.next().and_then(|n| n.parse().ok()).unwrap_or(5);
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
