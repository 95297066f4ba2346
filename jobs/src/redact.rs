//! Redaction of job arguments: which positions each job declares secret, and the one
//! function that replaces them with [`MARKER`] wherever arguments are shown.
//!
//! 1. A job declares its secret arguments by name, `#[job(redact = [card_number])]`, which
//!    sets [`JobOptions::redact`](crate::JobOptions::redact) to their 0-based positions.
//! 2. The job still receives the real values and the store keeps them: the payload's `args`
//!    are unchanged, as Sidekiq (and Ruby code sharing the store) expects.
//! 3. What shows arguments calls [`args`] (by the job's wire name, through the `#[job]`s
//!    of this program) or [`Registry::redact_args`](crate::Registry::redact_args): the
//!    dashboard (pages and JSON API) when it runs in the program that declares the jobs.
//!    The argument errors the worker logs and stores ([`crate::ArgsError`]) never quote a
//!    redacted value, not even through serde's message.
//!
//! A dashboard running on its own (the `jobs-web` binary) runs none of the app's code, so
//! it cannot know which arguments are secret: hide all arguments there instead.

use std::collections::HashMap;
use std::sync::OnceLock;

use serde_json::Value;

use crate::registry::JobRegistration;

/// What a redacted argument is shown as.
///
/// ```
/// assert_eq!(jobs::redact::MARKER, "[redacted]");
/// ```
pub const MARKER: &str = "[redacted]";

/// What one job redacts: the positions, and how many arguments it takes when known.
#[derive(Debug, Default)]
struct Declared {
    positions: Vec<usize>,
    arity: Option<usize>,
}

/// What every `#[job]` of this program that redacts arguments declares.
fn declared() -> &'static HashMap<&'static str, Declared> {
    static DECLARED: OnceLock<HashMap<&'static str, Declared>> = OnceLock::new();
    DECLARED.get_or_init(|| {
        let mut map: HashMap<&'static str, Declared> = HashMap::new();
        for reg in inventory::iter::<JobRegistration> {
            let options = (reg.options)();
            if !options.redact.is_empty() {
                // Two jobs of one name (an error for the worker): hide what either hides,
                // and all arguments when they disagree on the count.
                let d = map.entry(reg.name).or_default();
                if !d.positions.is_empty() && d.arity != options.arity {
                    d.arity = Some(usize::MAX);
                } else {
                    d.arity = options.arity;
                }
                d.positions.extend_from_slice(options.redact);
                d.positions.sort_unstable();
                d.positions.dedup();
            }
        }
        map
    })
}

/// The 0-based positions job `class` redacts, as declared by a `#[job]` of this program
/// (empty for a job it does not know).
///
/// ```
/// #[derive(Debug, thiserror::Error)]
/// #[error("declined")]
/// struct Declined;
/// #[jobs::job(name = "RedactDocPositions", redact = [card_number])]
/// async fn charge(order_id: u64, card_number: String) -> Result<(), Declined> { Ok(()) }
///
/// assert_eq!(jobs::redact::positions("RedactDocPositions"), &[1]);
/// assert!(jobs::redact::positions("Unknown").is_empty());
/// ```
pub fn positions(class: &str) -> &'static [usize] {
    declared()
        .get(class)
        .map(|d| d.positions.as_slice())
        .unwrap_or(&[])
}

/// The arguments of job `class` as they may be shown: each position the job redacts (as
/// declared by a `#[job]` of this program) replaced by [`MARKER`]. When the job redacts
/// any and the count differs from its function's (a payload of an older or newer version
/// of the job), no position can be trusted, so every argument is replaced.
///
/// ```
/// use serde_json::json;
/// #[derive(Debug, thiserror::Error)]
/// #[error("declined")]
/// struct Declined;
/// #[jobs::job(name = "RedactDocCharge", redact = [card_number])]
/// async fn charge(order_id: u64, card_number: String) -> Result<(), Declined> { Ok(()) }
///
/// let stored = [json!(7), json!("4111-1111-1111-1111")];
/// assert_eq!(jobs::redact::args("RedactDocCharge", &stored), [json!(7), json!("[redacted]")]);
/// // Another count: nothing can be shown.
/// assert_eq!(jobs::redact::args("RedactDocCharge", &stored[1..]), [json!("[redacted]")]);
/// // A job that redacts nothing, or that this program does not declare, shows all.
/// assert_eq!(jobs::redact::args("Other", &stored), stored);
/// ```
pub fn args(class: &str, args: &[Value]) -> Vec<Value> {
    match declared().get(class) {
        Some(d) => masked(&d.positions, d.arity, args),
        None => args.to_vec(),
    }
}

/// `args` with `positions` masked, or all of them when `arity` is known and differs.
pub(crate) fn masked(positions: &[usize], arity: Option<usize>, args: &[Value]) -> Vec<Value> {
    match arity {
        Some(n) if !positions.is_empty() && n != args.len() => {
            vec![Value::from(MARKER); args.len()]
        }
        _ => at(positions, args),
    }
}

/// `args` with each of `positions` (0-based; those past the end are ignored) replaced by
/// [`MARKER`].
///
/// ```
/// use serde_json::json;
/// let shown = jobs::redact::at(&[0, 5], &[json!("secret"), json!(2)]);
/// assert_eq!(shown, [json!("[redacted]"), json!(2)]);
/// ```
pub fn at(positions: &[usize], args: &[Value]) -> Vec<Value> {
    args.iter()
        .enumerate()
        .map(|(i, v)| {
            if positions.contains(&i) {
                Value::from(MARKER)
            } else {
                v.clone()
            }
        })
        .collect()
}
