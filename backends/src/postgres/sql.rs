//! The SQL text, kept in `backends/sql/postgres/` and bound to one schema at start.
//!
//! 1. Every file names tables as `__SCHEMA__.table` and the notification channel as
//!    `__CHANNEL__`; [`Queries::new`] replaces both once, so each statement is a fixed
//!    string that sqlx prepares once per connection and caches.
//! 2. The schema name is validated (`[a-z_][a-z0-9_]*`) before it is quoted into SQL.

/// Migrations, in order: (version, name, SQL text).
pub(crate) const MIGRATIONS: &[(i32, &str, &str)] = &[
    (
        1,
        "create_tables",
        include_str!("../../sql/postgres/migrations/0001_create_tables.sql"),
    ),
    (
        2,
        "completed_retention",
        include_str!("../../sql/postgres/migrations/0002_completed_retention.sql"),
    ),
    (
        3,
        "schedules",
        include_str!("../../sql/postgres/migrations/0003_schedules.sql"),
    ),
    (
        4,
        "job_metrics",
        include_str!("../../sql/postgres/migrations/0004_job_metrics.sql"),
    ),
    (
        5,
        "lease_while_running",
        include_str!("../../sql/postgres/migrations/0005_lease_while_running.sql"),
    ),
    (
        6,
        "rescues",
        include_str!("../../sql/postgres/migrations/0006_rescues.sql"),
    ),
    (
        7,
        "flow_control",
        include_str!("../../sql/postgres/migrations/0007_flow_control.sql"),
    ),
    (
        8,
        "waiting_state",
        include_str!("../../sql/postgres/migrations/0008_waiting_state.sql"),
    ),
    (
        9,
        "limits",
        include_str!("../../sql/postgres/migrations/0009_limits.sql"),
    ),
    (
        10,
        "priority_aging",
        include_str!("../../sql/postgres/migrations/0010_priority_aging.sql"),
    ),
    (
        11,
        "cancel",
        include_str!("../../sql/postgres/migrations/0011_cancel.sql"),
    ),
    (
        12,
        "progress_results",
        include_str!("../../sql/postgres/migrations/0012_progress_results.sql"),
    ),
];

/// Replaces the schema and channel placeholders in a SQL text.
pub(crate) fn bind_schema(sql: &str, schema: &str) -> String {
    sql.replace("__SCHEMA__", &quoted(schema))
        .replace("__CHANNEL__", &format!("'{}'", channel(schema)))
}

/// The schema as a quoted identifier. `schema` is already validated.
pub(crate) fn quoted(schema: &str) -> String {
    format!("\"{schema}\"")
}

/// The LISTEN/NOTIFY channel of a schema.
pub(crate) fn channel(schema: &str) -> String {
    format!("jobs.{schema}")
}

/// The hot-path statements of one schema.
#[derive(Debug)]
pub(crate) struct Queries {
    pub(crate) push: String,
    pub(crate) push_flow: String,
    pub(crate) push_limits: String,
    pub(crate) unique_hold: String,
    pub(crate) reserve: String,
    pub(crate) finish: String,
    pub(crate) trim_dead: String,
    pub(crate) requeue: String,
    pub(crate) heartbeat: String,
    pub(crate) promote: String,
    pub(crate) rescue: String,
    pub(crate) process_remove: String,
    pub(crate) prune_completed: String,
    pub(crate) rate_take: String,
    pub(crate) limits_list: String,
    pub(crate) limit_lock: String,
    pub(crate) limit_sweep: String,
}

impl Queries {
    /// The statements for `schema` (validated).
    pub(crate) fn new(schema: &str) -> Self {
        let b = |sql: &str| bind_schema(sql, schema);
        Queries {
            push: b(include_str!("../../sql/postgres/push.sql")),
            push_flow: b(include_str!("../../sql/postgres/push_flow.sql")),
            push_limits: b(include_str!("../../sql/postgres/push_limits.sql")),
            unique_hold: b(include_str!("../../sql/postgres/unique_hold.sql")),
            reserve: b(include_str!("../../sql/postgres/reserve.sql")),
            finish: b(include_str!("../../sql/postgres/finish.sql")),
            trim_dead: b(include_str!("../../sql/postgres/trim_dead.sql")),
            requeue: b(include_str!("../../sql/postgres/requeue.sql")),
            heartbeat: b(include_str!("../../sql/postgres/heartbeat.sql")),
            promote: b(include_str!("../../sql/postgres/promote.sql")),
            rescue: b(include_str!("../../sql/postgres/rescue.sql")),
            process_remove: b("DELETE FROM __SCHEMA__.processes WHERE id = $1"),
            prune_completed: b(include_str!("../../sql/postgres/prune_completed.sql")),
            rate_take: b("SELECT granted, retry_at_us FROM __SCHEMA__.rate_take($1, $2, $3, $4)"),
            limits_list: b(include_str!("../../sql/postgres/limits_list.sql")),
            limit_lock: b(include_str!("../../sql/postgres/limit_lock.sql")),
            limit_sweep: b("SELECT __SCHEMA__.limit_sweep()"),
        }
    }

    /// A statement of this schema written inline (the small admin queries).
    pub(crate) fn inline(schema: &str, sql: &str) -> String {
        bind_schema(sql, schema)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_all_replaced() {
        let q = Queries::new("app");
        for sql in [
            &q.push,
            &q.push_flow,
            &q.push_limits,
            &q.unique_hold,
            &q.reserve,
            &q.finish,
            &q.promote,
            &q.rescue,
            &q.limits_list,
            &q.limit_lock,
        ] {
            assert!(!sql.contains("__SCHEMA__") && !sql.contains("__CHANNEL__"));
        }
        assert!(q.push.contains("pg_notify('jobs.app', queue)"));
        assert!(q.reserve.contains("\"app\".jobs"));
    }
}
