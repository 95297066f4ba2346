//! Embedding the dashboard compiles no backend: without default features, `jobs-web`'s
//! normal dependency tree holds neither `jobs-backends` nor sqlx nor redis (only the
//! `standalone` feature, for the binary, brings them in).

use std::process::Command;

/// The package names in `cargo tree -p jobs-web -e normal` with `extra` flags.
fn tree(extra: &[&str]) -> Vec<String> {
    let out = Command::new(env!("CARGO"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["tree", "-p", "jobs-web", "-e", "normal", "--prefix", "none"])
        .args(extra)
        .output()
        .unwrap_or_else(|e| panic!("cannot run cargo tree: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "cargo tree failed: {}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    let names: Vec<String> = stdout
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_owned)
        .collect();
    assert!(names.iter().any(|n| n == "jobs-web"), "{stdout}");
    names
}

/// The backend crates among `names`.
fn backends(names: &[String]) -> Vec<&str> {
    let mut found: Vec<&str> = names
        .iter()
        .map(String::as_str)
        .filter(|n| *n == "jobs-backends" || *n == "redis" || n.starts_with("sqlx"))
        .collect();
    found.sort_unstable();
    found.dedup();
    found
}

#[test]
fn without_default_features_no_backend_is_compiled() {
    let names = tree(&["--no-default-features"]);
    assert_eq!(backends(&names), Vec::<&str>::new());
    // The binary's other dependencies stay out too.
    assert!(!names.iter().any(|n| n == "tracing-subscriber"));
}

#[test]
fn the_standalone_feature_brings_the_backends() {
    // The same check sees them when they are there, so the test above can fail.
    let names = tree(&[]);
    let found = backends(&names);
    for want in ["jobs-backends", "redis", "sqlx"] {
        assert!(found.contains(&want), "{want} missing from {found:?}");
    }
}
