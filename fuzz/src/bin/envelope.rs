//! AFL target `envelope`: stored job payloads through the envelope decoder, the worker's reads and the dead wrapper
//! (checks in `jobs_fuzz::envelope`). Built by `cargo afl build`; a plain build replays the
//! files or folders given as arguments instead, to reproduce a crash.

fn main() {
    #[cfg(fuzzing)]
    afl::fuzz!(|data: &[u8]| jobs_fuzz::envelope::check(data));
    #[cfg(not(fuzzing))]
    jobs_fuzz::replay(std::env::args().skip(1), jobs_fuzz::envelope::check);
}
