//! `jobs migrate` against a fresh SQLite file and a fresh Postgres schema: `--dry-run`
//! lists every migration and changes nothing, a run applies them all, the next run says it
//! is up to date; Redis and memory have nothing to migrate.

mod support;

use support::{jobs, json, ok};

/// The embedded migrations' versions, as a dry run lists them in JSON; each checked
/// pending (`applied: false`) or applied as `applied` says.
fn versions(url: &str, applied: bool) -> Vec<i64> {
    let plan = json(url, &["migrate", "--dry-run"]);
    assert_eq!(plan["dry_run"], true, "{plan}");
    assert_eq!(plan["applied"], serde_json::json!([]), "{plan}");
    let list = plan["migrations"].as_array().cloned().unwrap_or_default();
    assert!(!list.is_empty(), "{plan}");
    list.iter()
        .map(|m| {
            assert_eq!(m["applied"], applied, "{plan}");
            m["version"].as_i64().unwrap_or_default()
        })
        .collect()
}

/// Dry run, run, run again; `created` tells whether the store exists.
async fn check(url: &str, created: impl Fn() -> bool) {
    assert!(!created(), "the store starts missing");
    let dry = ok(url, &["migrate", "--dry-run"]);
    let all = versions(url, false);
    assert_eq!(all, (1..=all.len() as i64).collect::<Vec<_>>());
    assert!(
        dry.contains(&format!(": {} pending migration(s):\n  0001 ", all.len())),
        "{dry}"
    );
    assert_eq!(
        dry.lines().filter(|l| l.starts_with("  00")).count(),
        all.len(),
        "{dry}"
    );
    assert!(
        dry.ends_with("Dry run: nothing applied. Run `jobs migrate` to apply them.\n"),
        "{dry}"
    );
    assert!(!created(), "a dry run creates nothing");

    let run = ok(url, &["migrate"]);
    assert!(
        run.ends_with(&format!(
            "Applied {n} migration(s); up to date (version {n}).\n",
            n = all.len()
        )),
        "{run}"
    );
    assert!(created());
    assert_eq!(versions(url, true), all);

    let again = ok(url, &["migrate"]);
    assert!(
        again.ends_with(&format!(
            ": up to date ({} migration(s) applied, none pending).\n",
            all.len()
        )),
        "{again}"
    );
    let done = json(url, &["migrate"]);
    assert_eq!(done["applied"], serde_json::json!([]), "{done}");

    // The migrated store is one the backend opens as it is and works with.
    let b = jobs_backends::connect(url).await.expect("the store opens");
    let stats = b.stats().await.expect("the store answers");
    assert_eq!(stats.enqueued, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_dry_run_lists_all_then_applies_then_is_up_to_date() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let path = dir.path().join("fresh.db");
    let url = format!("sqlite://{}", path.display());
    check(&url, || path.exists()).await;
}

/// Whether Postgres at `base` has schema `schema`.
fn schema_exists(base: &str, schema: &str) -> bool {
    let out = std::process::Command::new("psql")
        .args([
            base,
            "-tAc",
            &format!("SELECT count(*) FROM pg_namespace WHERE nspname = '{schema}'"),
        ])
        .output()
        .expect("psql runs");
    assert!(out.status.success(), "{out:?}");
    String::from_utf8_lossy(&out.stdout).trim() == "1"
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_dry_run_lists_all_then_applies_then_is_up_to_date() {
    let base = std::env::var("JOBS_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://root@127.0.0.1:5432/test".to_owned());
    let nanos = chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default();
    let schema = format!("jobs_migrate_{}_{nanos}", std::process::id());
    let sep = if base.contains('?') { '&' } else { '?' };
    let url = format!("{base}{sep}schema={schema}");
    check(&url, || schema_exists(&base, &schema)).await;
    let _ = std::process::Command::new("psql")
        .args([
            base.as_str(),
            "-q",
            "-c",
            &format!("DROP SCHEMA IF EXISTS {schema} CASCADE"),
        ])
        .output();
}

#[test]
fn redis_and_memory_have_nothing_to_migrate() {
    for (url, name) in [("redis://127.0.0.1:1/0", "redis"), ("memory://", "memory")] {
        for args in [&["migrate"][..], &["migrate", "--dry-run"]] {
            let run = jobs(Some(url), args);
            assert_eq!(run.code, 0, "{run:?}");
            assert_eq!(
                run.stdout,
                format!("Nothing to migrate: the {name} backend keeps no schema (it needs no migrations).\n")
            );
        }
    }
}

#[test]
fn an_unreachable_postgres_fails_with_the_setting_to_change() {
    let run = jobs(
        Some("postgres://root:hunter2@127.0.0.1:1/test"),
        &["migrate"],
    );
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr.starts_with(
            "error: cannot migrate the store at postgres://root:***@127.0.0.1:1/test\n"
        ),
        "{run:?}"
    );
    assert!(
        run.stderr
            .contains("\nhint: check the URL and that the store runs"),
        "{run:?}"
    );
    assert!(!run.stderr.contains("hunter2"), "{run:?}");
}
