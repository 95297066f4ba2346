//! AFL target `web_query`: paths and query strings on the dashboard's router
//! (checks in `jobs_fuzz::web_query`). Built by `cargo afl build`; a plain build replays the
//! files or folders given as arguments instead, to reproduce a crash.

fn main() {
    jobs_fuzz::web_query::init();
    #[cfg(fuzzing)]
    afl::fuzz!(|data: &[u8]| jobs_fuzz::web_query::check(data));
    #[cfg(not(fuzzing))]
    jobs_fuzz::replay(std::env::args().skip(1), jobs_fuzz::web_query::check);
}
