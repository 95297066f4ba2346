//! Job arguments to and from JSON, with errors that name the job, the argument and the value.

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

use crate::envelope::check::check_json_safe;

/// Arguments that could not be stored, or stored arguments that do not fit the job.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ArgsError {
    /// The stored job has another number of arguments than the function takes.
    #[error("job {job}: expected {expected} argument(s) ({signature}), got {got}: {args}")]
    Count {
        /// The job's wire name.
        job: String,
        /// How many the function takes.
        expected: usize,
        /// The function's parameters, e.g. `user_id: u64, locale: String`.
        signature: &'static str,
        /// How many arrived.
        got: usize,
        /// What arrived, shortened.
        args: String,
    },
    /// A stored argument does not deserialize into its parameter's type.
    #[error("job {job}: argument #{position} `{name}: {ty}` does not accept {value}: {message}")]
    Decode {
        /// The job's wire name.
        job: String,
        /// 1-based position.
        position: usize,
        /// Parameter name.
        name: &'static str,
        /// Parameter type.
        ty: &'static str,
        /// What arrived, shortened.
        value: String,
        /// What serde said.
        message: String,
    },
    /// An argument cannot be stored as JSON unchanged.
    #[error("job {job}: argument #{position} `{name}` cannot be stored: {message}")]
    Encode {
        /// The job's wire name.
        job: String,
        /// 1-based position.
        position: usize,
        /// Parameter name.
        name: &'static str,
        /// What is wrong, and where inside the value.
        message: String,
    },
}

const SHOWN: usize = 200;

/// A value shown in an error, cut to a readable length.
fn shorten(v: &Value) -> String {
    let s = v.to_string();
    if s.len() <= SHOWN {
        return s;
    }
    let mut end = SHOWN;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

/// Encodes one argument. Used by generated code.
#[doc(hidden)]
pub fn encode_arg<T: Serialize + ?Sized>(
    job: &str,
    position: usize,
    name: &'static str,
    value: &T,
) -> Result<Value, ArgsError> {
    let fail = |message: String| ArgsError::Encode {
        job: job.to_owned(),
        position,
        name,
        message,
    };
    check_json_safe(value).map_err(|e| fail(e.to_string()))?;
    serde_json::to_value(value).map_err(|e| fail(e.to_string()))
}

/// Decodes one argument. Used by generated code.
#[doc(hidden)]
pub fn decode_arg<T: DeserializeOwned>(
    job: &str,
    position: usize,
    name: &'static str,
    ty: &'static str,
    value: Value,
) -> Result<T, ArgsError> {
    let shown = shorten(&value);
    serde_json::from_value(value).map_err(|e| ArgsError::Decode {
        job: job.to_owned(),
        position,
        name,
        ty,
        value: shown,
        message: e.to_string(),
    })
}

/// Checks the argument count. Used by generated code.
#[doc(hidden)]
pub fn check_count(
    job: &str,
    signature: &'static str,
    expected: usize,
    args: &[Value],
) -> Result<(), ArgsError> {
    if args.len() == expected {
        return Ok(());
    }
    Err(ArgsError::Count {
        job: job.to_owned(),
        expected,
        signature,
        got: args.len(),
        args: shorten(&Value::Array(args.to_vec())),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn decode_error_names_job_argument_type_and_value() {
        let err = decode_arg::<u64>("SendWelcomeEmail", 1, "user_id", "u64", json!("forty-two"))
            .unwrap_err();
        let text = err.to_string();
        assert!(text.contains("SendWelcomeEmail"), "{text}");
        assert!(text.contains("`user_id: u64`"), "{text}");
        assert!(text.contains("\"forty-two\""), "{text}");
    }

    #[test]
    fn encode_refuses_nan_naming_the_argument() {
        let err = encode_arg("Price", 2, "amount", &f64::NAN).unwrap_err();
        assert!(err.to_string().contains("argument #2 `amount`"), "{err}");
        assert!(err.to_string().contains("NaN"), "{err}");
    }

    #[test]
    fn count_mismatch_shows_signature_and_what_arrived() {
        let err = check_count("A", "x: u8", 1, &[json!(1), json!(2)]).unwrap_err();
        assert!(
            err.to_string()
                .contains("expected 1 argument(s) (x: u8), got 2: [1,2]"),
            "{err}"
        );
    }
}
