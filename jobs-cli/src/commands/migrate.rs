//! `jobs migrate`: prints the pending schema migrations of a Postgres or SQLite store and
//! applies them (`--dry-run` only prints).

use std::io::Write;

use jobs_backends::migrations::{self, MigrateError, MigrationState, Plan};
use serde::Serialize;

use crate::error::CliError;
use crate::output;

/// The outcome, as JSON.
#[derive(Debug, Serialize)]
struct MigrateJson<'a> {
    /// `postgres`, `sqlite`, or `redis`/`memory` (nothing to migrate).
    backend: &'a str,
    /// Where, password removed.
    #[serde(skip_serializing_if = "Option::is_none")]
    target: Option<&'a str>,
    /// Every embedded migration and whether the store had it before this run.
    migrations: &'a [MigrationState],
    /// Whether nothing was applied on purpose.
    dry_run: bool,
    /// The versions this run applied.
    applied: &'a [i64],
}

/// Runs `jobs migrate` against `url`.
pub async fn run(
    url: &str,
    dry_run: bool,
    json: bool,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let result = if dry_run {
        migrations::plan(url).await.map(|plan| (plan, Vec::new()))
    } else {
        migrations::apply(url).await
    };
    let (plan, applied) = match result {
        Ok(done) => done,
        Err(MigrateError::NoSchema { backend }) => return no_schema(backend, dry_run, json, out),
        Err(source) => {
            return Err(CliError::Migrate {
                url: jobs::redact_url(url),
                source: Box::new(source),
            })
        }
    };
    if json {
        return output::json(
            out,
            &MigrateJson {
                backend: plan.backend,
                target: Some(&plan.target),
                migrations: &plan.migrations,
                dry_run,
                applied: &applied,
            },
        );
    }
    print(&plan, dry_run, &applied, out)
}

/// Redis and memory: says so, successfully.
fn no_schema(
    backend: &'static str,
    dry_run: bool,
    json: bool,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    if json {
        return output::json(
            out,
            &MigrateJson {
                backend,
                target: None,
                migrations: &[],
                dry_run,
                applied: &[],
            },
        );
    }
    writeln!(
        out,
        "Nothing to migrate: the {backend} backend keeps no schema (it needs no migrations)."
    )?;
    Ok(())
}

/// The plan and what was done, for a person.
fn print(plan: &Plan, dry_run: bool, applied: &[i64], out: &mut dyn Write) -> Result<(), CliError> {
    let pending: Vec<&MigrationState> = plan.pending().collect();
    let latest = plan.migrations.last().map_or(0, |m| m.version);
    if pending.is_empty() {
        writeln!(
            out,
            "{} {}: up to date ({} migration(s) applied, none pending).",
            plan.backend,
            plan.target,
            plan.migrations.len()
        )?;
        return Ok(());
    }
    writeln!(
        out,
        "{} {}: {} pending migration(s):",
        plan.backend,
        plan.target,
        pending.len()
    )?;
    for m in &pending {
        writeln!(out, "  {:04} {}", m.version, m.name)?;
    }
    if dry_run {
        writeln!(
            out,
            "Dry run: nothing applied. Run `jobs migrate` to apply them."
        )?;
    } else if applied.is_empty() {
        // Another process (a worker starting) applied them between the listing and now.
        writeln!(
            out,
            "Already applied by another process meanwhile; up to date (version {latest})."
        )?;
    } else {
        writeln!(
            out,
            "Applied {} migration(s); up to date (version {latest}).",
            applied.len()
        )?;
    }
    Ok(())
}
