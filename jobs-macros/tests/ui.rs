//! UI tests of `#[job]`: `pass/` cases compile and run their `main`; `fail/` cases must not
//! compile, with the errors pinned in their `.stderr` files (regenerate with
//! `TRYBUILD=overwrite cargo test -p jobs-macros --test ui`, then review them).

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.pass("tests/ui/pass/*.rs");
    t.compile_fail("tests/ui/fail/*.rs");
}
