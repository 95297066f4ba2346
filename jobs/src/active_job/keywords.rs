//! Ruby keyword arguments onto a Rust job's named parameters: `perform(user, locale: "en")`
//! arrives as `[user, {"locale": "en", "_aj_ruby2_keywords": ["locale"]}]`; a job declared
//! `(user: GlobalId, locale: String)` gets `locale` from the hash. Done only where it is
//! unambiguous, else the hash stays one argument.

use serde_json::Value;

use super::decode::RUBY2_KEYWORDS_KEY;

/// Spreads the keyword hash ending `raw` (Active Job's serialized arguments) over the
/// parameters `names` it names, in `decoded` (the same arguments decoded); `decoded`
/// unchanged when that is not unambiguous: the last argument is not marked as keywords,
/// the job takes as many arguments as were sent (the hash is a parameter of its own), or
/// the hash has a key that is not one of the parameters after the positional ones.
/// A parameter after them that the hash leaves out gets `null` (an `Option`, or an error
/// naming it).
///
/// ```
/// use serde_json::json;
/// let raw = [json!(7), json!({"locale": "en", "_aj_ruby2_keywords": ["locale"]})];
/// let decoded = jobs::active_job::decode_arguments(&raw).unwrap();
/// let spread = jobs::active_job::spread_keywords(&raw, decoded, &["user", "locale", "plan"]);
/// assert_eq!(spread, vec![json!(7), json!("en"), json!(null)]);
/// ```
pub fn spread_keywords(raw: &[Value], decoded: Vec<Value>, names: &[&str]) -> Vec<Value> {
    let (Some(Value::Object(marked)), Some(Value::Object(hash))) = (raw.last(), decoded.last())
    else {
        return decoded;
    };
    if !marked.contains_key(RUBY2_KEYWORDS_KEY) || names.len() < decoded.len() {
        return decoded;
    }
    let positional = decoded.len() - 1;
    let rest = &names[positional..];
    if !hash.keys().all(|k| rest.contains(&k.as_str())) {
        return decoded;
    }
    let hash = hash.clone();
    let mut out = decoded;
    out.truncate(positional);
    out.extend(
        rest.iter()
            .map(|n| hash.get(*n).cloned().unwrap_or(Value::Null)),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn kw(v: Value) -> Value {
        let mut v = v;
        if let Value::Object(m) = &mut v {
            let keys: Vec<Value> = m.keys().map(|k| json!(k)).collect();
            m.insert(RUBY2_KEYWORDS_KEY.into(), Value::Array(keys));
        }
        v
    }

    fn spread(raw: &[Value], names: &[&str]) -> Vec<Value> {
        let decoded = crate::active_job::decode_arguments(raw).unwrap();
        spread_keywords(raw, decoded, names)
    }

    #[test]
    fn keywords_fill_the_parameters_they_name_in_order() {
        let raw = [json!(1), kw(json!({"plan": "pro", "locale": "en"}))];
        assert_eq!(
            spread(&raw, &["user", "locale", "plan"]),
            vec![json!(1), json!("en"), json!("pro")]
        );
        // One keyword parameter named like the hash's only key.
        let raw = [kw(json!({"force": true}))];
        assert_eq!(spread(&raw, &["force"]), vec![json!(true)]);
    }

    #[test]
    fn a_hash_stays_whole_where_spreading_would_guess() {
        // Not marked as keywords: a Hash argument.
        let raw = [json!(1), json!({"locale": "en"})];
        assert_eq!(
            spread(&raw, &["user", "locale"]),
            vec![json!(1), json!({"locale": "en"})]
        );
        // A key no parameter has.
        let raw = [json!(1), kw(json!({"locale": "en", "extra": 1}))];
        assert_eq!(
            spread(&raw, &["user", "locale"]),
            vec![json!(1), json!({"locale": "en", "extra": 1})]
        );
        // The job takes the hash as a parameter of its own.
        let raw = [json!(1), kw(json!({"locale": "en"}))];
        assert_eq!(
            spread(&raw, &["user", "options"]),
            vec![json!(1), json!({"locale": "en"})]
        );
        // Unknown parameter names (a hand-written Job): nothing to spread over.
        assert_eq!(spread(&raw, &[]), vec![json!(1), json!({"locale": "en"})]);
    }
}
