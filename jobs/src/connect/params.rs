//! Naming a backend URL's unknown query parameter: the known ones, and the closest of them.
//!
//! 1. [`ConnectError::unknown_parameter`] builds the error a backend returns for a query
//!    parameter it does not read, so every scheme words it the same way.
//! 2. [`closest`] picks the known parameter a typo most likely meant (`prefx` → `prefix`).

use super::{redact_url, ConnectError};

impl ConnectError {
    /// The error for a query parameter `parameter` that the backend of `url` does not read,
    /// listing the `known` ones and suggesting the closest when one is near.
    ///
    /// ```
    /// let err = jobs::ConnectError::unknown_parameter(
    ///     "redis://:secret@localhost/0?prefx=app",
    ///     "prefx",
    ///     &["prefix", "protocol"],
    /// );
    /// let text = err.to_string();
    /// assert!(text.contains("unknown parameter `prefx`"), "{text}");
    /// assert!(text.contains("did you mean `prefix`?"), "{text}");
    /// assert!(text.contains("`prefix`, `protocol`"), "{text}");
    /// assert!(!text.contains("secret"), "{text}");
    /// ```
    pub fn unknown_parameter(url: &str, parameter: &str, known: &[&str]) -> ConnectError {
        let scheme = url
            .split_once("://")
            .map_or("", |(scheme, _)| scheme)
            .to_ascii_lowercase();
        ConnectError::UnknownParameter {
            url: redact_url(url),
            scheme,
            parameter: parameter.to_owned(),
            suggestion: closest(parameter, known).map(str::to_owned),
            known: known.iter().map(|k| (*k).to_owned()).collect(),
        }
    }
}

/// ` (did you mean `x`?)` when there is a suggestion, nothing otherwise.
pub(super) fn did_you_mean(suggestion: &Option<String>) -> String {
    suggestion
        .as_ref()
        .map(|s| format!(" (did you mean `{s}`?)"))
        .unwrap_or_default()
}

/// The known names, each in backticks, comma-separated.
pub(super) fn listing(known: &[String]) -> String {
    let names: Vec<String> = known.iter().map(|k| format!("`{k}`")).collect();
    names.join(", ")
}

/// The known name closest to `given`, when it is a plausible typo of it: at most two edits
/// away and fewer edits than half its length (so `x` does not suggest `db`), or the start of
/// it (`poll` for `poll_ms`) or it with more at the end (`readers_count` for `readers`).
pub(super) fn closest<'a>(given: &str, known: &[&'a str]) -> Option<&'a str> {
    let given = given.to_ascii_lowercase();
    known
        .iter()
        .filter_map(|k| {
            let lower = k.to_ascii_lowercase();
            let d = edit_distance(&given, &lower);
            let typo = d <= 2 && d * 2 < lower.chars().count().max(given.chars().count());
            let shorter = lower.len().min(given.len());
            let stem = shorter >= 4 && (lower.starts_with(&given) || given.starts_with(&lower));
            (typo || stem).then_some((d, *k))
        })
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

/// The Levenshtein distance: insertions, deletions and substitutions, one char each.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitute = previous[j] + usize::from(ca != *cb);
            current[j + 1] = substitute.min(previous[j + 1] + 1).min(current[j] + 1);
        }
        previous = current;
    }
    previous[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typos_suggest_the_known_name() {
        let known = ["prefix", "protocol"];
        assert_eq!(closest("prefx", &known), Some("prefix"));
        assert_eq!(closest("Prefix", &known), Some("prefix"));
        assert_eq!(closest("protocl", &known), Some("protocol"));
        assert_eq!(closest("color", &known), None);
        assert_eq!(closest("x", &["db"]), None);
        assert_eq!(
            closest("poll", &["synchronous", "poll_ms"]),
            Some("poll_ms")
        );
        assert_eq!(closest("readers_count", &["readers"]), Some("readers"));
    }

    #[test]
    fn distances() {
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("prefx", "prefix"), 1);
    }
}
