//! Active Job's argument serialization read into plain JSON a Rust parameter decodes from.
//!
//! The mapping (kind → JSON) is the table in the module docs of [`crate::active_job`].

use serde_json::{Map, Number, Value};

use super::gid::GLOBALID_KEY;

/// The key of a custom-serialized value (`_aj_serialized`).
pub(crate) const SERIALIZED_KEY: &str = "_aj_serialized";
/// The key listing a hash's symbol keys.
pub(crate) const SYMBOL_KEYS_KEY: &str = "_aj_symbol_keys";
/// The key listing a keyword-arguments hash's keys.
pub(crate) const RUBY2_KEYWORDS_KEY: &str = "_aj_ruby2_keywords";
/// The key marking a `HashWithIndifferentAccess`.
pub(crate) const WITH_INDIFFERENT_ACCESS_KEY: &str = "_aj_hash_with_indifferent_access";

/// Every key Active Job reserves in a serialized hash.
pub(crate) const RESERVED_KEYS: &[&str] = &[
    GLOBALID_KEY,
    SYMBOL_KEYS_KEY,
    RUBY2_KEYWORDS_KEY,
    WITH_INDIFFERENT_ACCESS_KEY,
    SERIALIZED_KEY,
    // Rails 6.0 and earlier also reserved the symbol forms; never written as JSON keys.
];

const SERIALIZERS: &str = "ActiveJob::Serializers::";

/// An Active Job argument that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// An `_aj_serialized` kind this crate does not know (an application's own serializer).
    #[error("Active Job argument at {path} is `_aj_serialized` kind {kind}, which Rust cannot read; pass plain values or one of the kinds Rails ships")]
    UnknownKind {
        /// The serializer's class name.
        kind: String,
        /// Where in the arguments, e.g. `arguments[1].when`.
        path: String,
    },
    /// A known marker holding something else than Rails writes.
    #[error("Active Job argument at {path} ({kind}) is malformed: {message}")]
    Malformed {
        /// The marker or serializer.
        kind: String,
        /// Where in the arguments.
        path: String,
        /// What is wrong.
        message: String,
    },
}

/// Reads Active Job's serialized `arguments` into plain JSON values, one per argument.
///
/// ```
/// use serde_json::json;
/// let args = jobs::active_job::decode_arguments(&[
///     json!(42),
///     json!({"locale": "en", "_aj_symbol_keys": ["locale"]}),
///     json!({"_aj_globalid": "gid://app/User/1"}),
///     json!({"_aj_serialized": "ActiveJob::Serializers::SymbolSerializer", "value": "pro"}),
/// ]).unwrap();
/// assert_eq!(args, vec![json!(42), json!({"locale": "en"}), json!("gid://app/User/1"), json!("pro")]);
/// ```
pub fn decode_arguments(arguments: &[Value]) -> Result<Vec<Value>, DecodeError> {
    arguments
        .iter()
        .enumerate()
        .map(|(i, a)| decode_at(a, &format!("arguments[{i}]")))
        .collect()
}

/// Reads one serialized argument (see [`decode_arguments`]).
///
/// ```
/// use serde_json::json;
/// let d = json!({"_aj_serialized": "ActiveJob::Serializers::DurationSerializer", "value": 3600, "parts": [["hours", 1]]});
/// assert_eq!(jobs::active_job::decode_argument(&d).unwrap(), json!(3600));
/// ```
pub fn decode_argument(argument: &Value) -> Result<Value, DecodeError> {
    decode_at(argument, "argument")
}

/// The `_aj_serialized` kinds inside `argument`, each once, as written (the serializer's
/// class name, such as `ActiveJob::Serializers::TimeSerializer`), for error messages.
///
/// ```
/// use serde_json::json;
/// let t = json!([{"_aj_serialized": "ActiveJob::Serializers::TimeSerializer", "value": "2026-12-06T04:45:54.000000000Z"}]);
/// assert_eq!(jobs::active_job::serialized_kinds(&t), vec!["ActiveJob::Serializers::TimeSerializer"]);
/// ```
pub fn serialized_kinds(argument: &Value) -> Vec<String> {
    let mut out = Vec::new();
    collect_kinds(argument, &mut out);
    out
}

fn collect_kinds(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Array(a) => a.iter().for_each(|x| collect_kinds(x, out)),
        Value::Object(m) => {
            if let Some(Value::String(kind)) = m.get(SERIALIZED_KEY) {
                if !out.contains(kind) {
                    out.push(kind.clone());
                }
            }
            m.values().for_each(|x| collect_kinds(x, out));
        }
        _ => {}
    }
}

fn decode_at(v: &Value, path: &str) -> Result<Value, DecodeError> {
    match v {
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, x)| decode_at(x, &format!("{path}[{i}]")))
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Array),
        Value::Object(map) => decode_hash(map, path),
        other => Ok(other.clone()),
    }
}

fn decode_hash(map: &Map<String, Value>, path: &str) -> Result<Value, DecodeError> {
    if let Some(gid) = map.get(GLOBALID_KEY) {
        return match gid {
            Value::String(s) if map.len() == 1 => Ok(Value::String(s.clone())),
            _ => Err(malformed(
                GLOBALID_KEY,
                path,
                "expected {\"_aj_globalid\": \"gid://...\"} and nothing else",
            )),
        };
    }
    if let Some(kind) = map.get(SERIALIZED_KEY) {
        let Value::String(kind) = kind else {
            return Err(malformed(SERIALIZED_KEY, path, "the kind is not a string"));
        };
        return decode_serialized(kind, map, path);
    }
    let mut out = Map::new();
    for (key, value) in map {
        if key == SYMBOL_KEYS_KEY || key == RUBY2_KEYWORDS_KEY || key == WITH_INDIFFERENT_ACCESS_KEY
        {
            continue;
        }
        out.insert(key.clone(), decode_at(value, &format!("{path}.{key}"))?);
    }
    Ok(Value::Object(out))
}

fn malformed(kind: &str, path: &str, message: impl Into<String>) -> DecodeError {
    DecodeError::Malformed {
        kind: kind.to_owned(),
        path: path.to_owned(),
        message: message.into(),
    }
}

/// One `_aj_serialized` value, by its serializer.
fn decode_serialized(
    kind: &str,
    map: &Map<String, Value>,
    path: &str,
) -> Result<Value, DecodeError> {
    let short = kind.strip_prefix(SERIALIZERS).unwrap_or("");
    let value = map.get("value");
    let string = || match value {
        Some(Value::String(s)) => Ok(Value::String(s.clone())),
        _ => Err(malformed(kind, path, "`value` is not a string")),
    };
    match short {
        "SymbolSerializer"
        | "ModuleSerializer"
        | "DateSerializer"
        | "TimeSerializer"
        | "DateTimeSerializer"
        | "TimeWithZoneSerializer"
        | "BigDecimalSerializer" => string(),
        "DurationSerializer" => match value {
            Some(Value::Number(n)) => Ok(Value::Number(n.clone())),
            // Ruby's Rational durations are not numbers in JSON; a float is what remains.
            Some(Value::String(s)) => s
                .parse::<f64>()
                .ok()
                .and_then(Number::from_f64)
                .map(Value::Number)
                .ok_or_else(|| malformed(kind, path, "`value` is not a number of seconds")),
            _ => Err(malformed(kind, path, "`value` is not a number of seconds")),
        },
        "RangeSerializer" => {
            let mut out = Map::new();
            for key in ["begin", "end"] {
                let v = map.get(key).unwrap_or(&Value::Null);
                out.insert(key.to_owned(), decode_at(v, &format!("{path}.{key}"))?);
            }
            let exclusive = map.get("exclude_end").and_then(Value::as_bool);
            out.insert(
                "exclude_end".into(),
                Value::Bool(exclusive.unwrap_or(false)),
            );
            Ok(Value::Object(out))
        }
        _ => Err(DecodeError::UnknownKind {
            kind: kind.to_owned(),
            path: path.to_owned(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, FixedOffset, NaiveDate, Utc};
    use serde_json::json;

    fn ser(kind: &str, value: Value) -> Value {
        json!({"_aj_serialized": format!("ActiveJob::Serializers::{kind}"), "value": value})
    }

    fn one(v: Value) -> Value {
        decode_argument(&v).unwrap()
    }

    #[test]
    fn plain_json_passes_unchanged() {
        for v in [
            json!(1),
            json!(-2.5),
            json!("s"),
            json!(true),
            json!(null),
            json!([1, "a", [null]]),
        ] {
            assert_eq!(one(v.clone()), v);
        }
    }

    #[test]
    fn symbol_keyed_and_string_keyed_hashes_become_plain_objects() {
        let v = json!({"a": 1, "b": {"c": [1, {"d": 2, "_aj_symbol_keys": []}], "_aj_symbol_keys": ["c"]}, "_aj_symbol_keys": ["a", "b"]});
        assert_eq!(one(v), json!({"a": 1, "b": {"c": [1, {"d": 2}]}}));
        // Rails 5 and earlier wrote string-keyed hashes without any marker.
        assert_eq!(one(json!({"a": 1})), json!({"a": 1}));
    }

    #[test]
    fn keyword_and_indifferent_access_hashes_lose_their_markers() {
        assert_eq!(
            one(json!({"force": true, "_aj_ruby2_keywords": ["force"]})),
            json!({"force": true})
        );
        assert_eq!(
            one(json!({"x": "y", "_aj_hash_with_indifferent_access": true})),
            json!({"x": "y"})
        );
    }

    #[test]
    fn global_ids_become_their_uri_and_decode_into_the_typed_value() {
        let v = one(json!({"_aj_globalid": "gid://app/User/1"}));
        assert_eq!(v, json!("gid://app/User/1"));
        let gid: super::super::GlobalId = serde_json::from_value(v).unwrap();
        assert_eq!(gid.model, "User");
        let err =
            decode_argument(&json!({"_aj_globalid": "gid://app/User/1", "x": 1})).unwrap_err();
        assert!(err.to_string().contains("_aj_globalid"), "{err}");
    }

    #[test]
    fn symbols_and_modules_become_strings() {
        assert_eq!(one(ser("SymbolSerializer", json!("pro"))), json!("pro"));
        assert_eq!(
            one(ser("ModuleSerializer", json!("Admin::User"))),
            json!("Admin::User")
        );
    }

    #[test]
    fn durations_become_seconds() {
        let d = json!({"_aj_serialized": "ActiveJob::Serializers::DurationSerializer", "value": 5400, "parts": [["hours", 1], ["minutes", 30]]});
        assert_eq!(one(d), json!(5400));
        assert_eq!(one(ser("DurationSerializer", json!(1.5))), json!(1.5));
        assert!(decode_argument(&ser("DurationSerializer", json!([]))).is_err());
    }

    #[test]
    fn dates_and_times_become_iso_strings_chrono_reads() {
        let date = one(ser("DateSerializer", json!("2026-12-06")));
        let date: NaiveDate = serde_json::from_value(date).unwrap();
        assert_eq!(date, NaiveDate::from_ymd_opt(2026, 12, 6).unwrap());
        for kind in [
            "TimeSerializer",
            "DateTimeSerializer",
            "TimeWithZoneSerializer",
        ] {
            let t = one(ser(kind, json!("2026-12-06T05:45:54.123456789+01:00")));
            let local: DateTime<FixedOffset> = serde_json::from_value(t.clone()).unwrap();
            assert_eq!(local.offset().local_minus_utc(), 3600, "{kind}");
            let utc: DateTime<Utc> = serde_json::from_value(t).unwrap();
            assert_eq!(
                utc.to_rfc3339(),
                "2026-12-06T04:45:54.123456789+00:00",
                "{kind}"
            );
        }
        // Rails 7.1 adds the zone's name beside the value.
        let twz = json!({"_aj_serialized": "ActiveJob::Serializers::TimeWithZoneSerializer", "value": "2026-12-06T04:45:54.000000000Z", "time_zone": "UTC"});
        assert_eq!(one(twz), json!("2026-12-06T04:45:54.000000000Z"));
    }

    #[test]
    fn big_decimals_stay_exact_strings() {
        let v = one(ser("BigDecimalSerializer", json!("0.1234e2")));
        assert_eq!(v, json!("0.1234e2"));
        assert_eq!(v.as_str().unwrap().parse::<f64>().unwrap(), 12.34);
    }

    #[test]
    fn ranges_become_objects() {
        let r = json!({"_aj_serialized": "ActiveJob::Serializers::RangeSerializer", "begin": 1, "end": {"_aj_serialized": "ActiveJob::Serializers::SymbolSerializer", "value": "z"}, "exclude_end": true});
        assert_eq!(one(r), json!({"begin": 1, "end": "z", "exclude_end": true}));
    }

    #[test]
    fn unknown_kinds_are_refused_by_name_and_path() {
        let v = json!([1, {"when": {"_aj_serialized": "MoneySerializer", "value": "1 EUR"}, "_aj_symbol_keys": ["when"]}]);
        let err = decode_arguments(v.as_array().unwrap()).unwrap_err();
        assert_eq!(
            err,
            DecodeError::UnknownKind {
                kind: "MoneySerializer".into(),
                path: "arguments[1].when".into()
            }
        );
        assert!(err.to_string().contains("MoneySerializer"));
        assert!(decode_argument(&json!({"_aj_serialized": 1})).is_err());
        assert!(decode_argument(&ser("SymbolSerializer", json!(1))).is_err());
    }

    #[test]
    fn kinds_are_listed_once_for_errors() {
        let v = json!([ser("SymbolSerializer", json!("a")), {"x": ser("SymbolSerializer", json!("b"))}, ser("DateSerializer", json!("2026-01-01"))]);
        assert_eq!(
            serialized_kinds(&v),
            vec![
                "ActiveJob::Serializers::SymbolSerializer",
                "ActiveJob::Serializers::DateSerializer"
            ]
        );
    }
}
