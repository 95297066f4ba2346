//! AFL target `schedule`: schedule files, cron expressions and durations
//! (checks in `jobs_fuzz::schedule`). Built by `cargo afl build`; a plain build replays the
//! files or folders given as arguments instead, to reproduce a crash.

fn main() {
    #[cfg(fuzzing)]
    afl::fuzz!(|data: &[u8]| jobs_fuzz::schedule::check(data));
    #[cfg(not(fuzzing))]
    jobs_fuzz::replay(std::env::args().skip(1), jobs_fuzz::schedule::check);
}
