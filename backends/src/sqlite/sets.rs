//! The admin side's job sets as SQL: which rows a set, filter or selection means, in order.
//!
//! 1. A [`JobSet`] is a state (and, for a queue, a name) with its order: a queue in run
//!    order (priority, then oldest first), scheduled and retry soonest first, dead most
//!    recent first.
//! 2. Filters: `class` is matched in SQL; `text` is matched exactly as
//!    [`JobFilter::matches`] does, on decoded jobs, after an `instr` pre-filter on the
//!    stored JSON whenever the text would appear there unescaped.
//! 3. Listing (`listing.rs`) and actions (`actions.rs`) build their statements from these.

use jobs::backend::{BackendError, JobFilter, JobSet};

/// A set as SQL: its state, its queue, and its listing order.
pub(super) struct SetSql<'a> {
    pub(super) state: &'static str,
    pub(super) queue: Option<&'a str>,
    /// The order a listing shows.
    pub(super) listing: &'static str,
}

pub(super) fn set_sql(set: &JobSet) -> Result<SetSql<'_>, BackendError> {
    let (state, queue, listing) = match set {
        JobSet::Queue(name) => ("available", Some(name.as_str()), "priority, pos"),
        JobSet::Scheduled => ("scheduled", None, "run_at, pos"),
        JobSet::Retry => ("retryable", None, "run_at, pos"),
        JobSet::Dead => ("dead", None, "run_at DESC, pos DESC"),
        _ => {
            return Err(BackendError::Unsupported {
                backend: "sqlite",
                operation: "this job set",
            })
        }
    };
    Ok(SetSql {
        state,
        queue,
        listing,
    })
}

/// Whether `text` appears verbatim in the JSON of any job it matches: JSON escapes only
/// quotes, backslashes and control characters.
pub(super) fn prefilterable(text: &str) -> bool {
    !text.chars().any(|c| c == '"' || c == '\\' || c < ' ')
}

/// Selects `columns` of the jobs of a set that may match `filter`, in `order`; the binds
/// follow in the order [`bind_filter`] adds them.
pub(super) fn candidates(s: &SetSql<'_>, filter: &JobFilter, columns: &str, order: &str) -> String {
    let mut sql = format!("SELECT {columns} FROM jobs WHERE state = '{}'", s.state);
    if s.queue.is_some() {
        sql.push_str(" AND queue = ?");
    }
    if filter.class.is_some() {
        sql.push_str(" AND class = ?");
    }
    if filter.text.as_deref().is_some_and(prefilterable) {
        sql.push_str(" AND instr(payload, ?) > 0");
    }
    if !order.is_empty() {
        sql.push_str(" ORDER BY ");
        sql.push_str(order);
    }
    sql
}

/// Binds the parameters [`candidates`] left for `$s` and `$filter`, in its order.
macro_rules! bind_filter {
    ($query:expr, $s:expr, $filter:expr) => {{
        let mut q = $query;
        if let Some(queue) = $s.queue {
            q = q.bind(queue);
        }
        if let Some(class) = &$filter.class {
            q = q.bind(class.as_str());
        }
        if let Some(text) = $filter
            .text
            .as_deref()
            .filter(|t| super::sets::prefilterable(t))
        {
            q = q.bind(text);
        }
        q
    }};
}

pub(super) use bind_filter;
