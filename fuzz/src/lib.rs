//! The checks behind the AFL targets (`src/bin/`), one module per input the project reads
//! from outside; each panics exactly when an input breaks a promise, so AFL counts a crash.
//!
//! 1. [`envelope`]: stored job payloads (Sidekiq 6, 7, 8 and ours) through the decoder the
//!    backends and the worker use, the dead wrapper of what does not decode, and the shallow
//!    scan of top-level members.
//! 2. [`schedule`]: schedule files, cron expressions and durations.
//! 3. [`web_query`]: any path and query string on the dashboard's router.
//!
//! The targets read one input from AFL; without `--cfg fuzzing` (a plain `cargo build`) they
//! run [`replay`] on the files named on their command line instead, to reproduce a crash.

pub mod envelope;
pub mod schedule;
pub mod web_query;

use std::path::Path;

/// Runs `check` on every file named in `args` (a folder: on each file in it), printing each
/// name first, so the input that panics is the last one printed.
pub fn replay(args: impl IntoIterator<Item = String>, check: fn(&[u8])) {
    for arg in args {
        let path = Path::new(&arg);
        let mut files = Vec::new();
        match std::fs::read_dir(path) {
            Ok(entries) => files.extend(entries.filter_map(|e| e.ok()).map(|e| e.path())),
            Err(_) => files.push(path.to_path_buf()),
        }
        files.sort();
        for file in files {
            match std::fs::read(&file) {
                Ok(bytes) => {
                    eprintln!("{}", file.display());
                    check(&bytes);
                }
                Err(e) => eprintln!("{}: {e}", file.display()),
            }
        }
    }
}
