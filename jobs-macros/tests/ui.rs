//! UI tests of `#[job]`: `pass/` cases compile and run their `main`; `fail/<kind>/` cases
//! must not compile, with the errors pinned in their `.stderr` files. The kinds:
//! `attributes/` (the options in `#[job(...)]`), `signature/` (what the function may look
//! like, and that call sites add no error after a bad one) and `types/` (trait bounds on
//! the user's types).
//!
//! The `.stderr` files are pinned to the toolchain in `rust-toolchain.toml`. Regenerate
//! them with `TRYBUILD=overwrite cargo test -p jobs-macros --test ui`, then review the diff.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.pass("tests/ui/pass/*.rs");
    t.compile_fail("tests/ui/fail/*/*.rs");
}
