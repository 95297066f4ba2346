//! Job arguments to and from JSON, with errors that name the job, the argument and the value
//! (the value of a redacted argument is never named: see [`crate::redact`]).

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

/// What an error says instead of serde's words about a redacted argument: those can quote
/// the value (`invalid type: string "4111…", expected u64`).
const REDACTED_MESSAGE: &str =
    "the value and serde's message are not shown: the argument is redacted";

/// What a count error shows of the arguments of a job that redacts some: with the count
/// wrong, no position can be trusted to be the one declared secret.
const REDACTED_ARGS: &str = "(not shown: the job redacts arguments)";

/// Encodes one argument; the error of a `redacted` one does not describe its value. Used by
/// generated code.
#[doc(hidden)]
pub fn encode_arg<T: Serialize + ?Sized>(
    job: &str,
    position: usize,
    name: &'static str,
    redacted: bool,
    value: &T,
) -> Result<Value, ArgsError> {
    let fail = |message: String| ArgsError::Encode {
        job: job.to_owned(),
        position,
        name,
        message: if redacted {
            REDACTED_MESSAGE.to_owned()
        } else {
            message
        },
    };
    check_json_safe(value).map_err(|e| fail(e.to_string()))?;
    serde_json::to_value(value).map_err(|e| fail(e.to_string()))
}

/// Decodes one argument; the error of a `redacted` one shows neither the value nor serde's
/// message (which can quote it). Used by generated code.
#[doc(hidden)]
pub fn decode_arg<T: DeserializeOwned>(
    job: &str,
    position: usize,
    name: &'static str,
    ty: &'static str,
    redacted: bool,
    value: &Value,
) -> Result<T, ArgsError> {
    // Decoded from a borrow: the stored arguments are neither copied nor consumed, and the
    // value is still there to show when it does not fit; the shortened text is made only
    // then.
    T::deserialize(value).map_err(|e| ArgsError::Decode {
        job: job.to_owned(),
        position,
        name,
        ty,
        value: if redacted {
            Value::from(crate::redact::MARKER).to_string()
        } else {
            shorten(value)
        },
        message: if redacted {
            REDACTED_MESSAGE.to_owned()
        } else {
            e.to_string()
        },
    })
}

/// Checks the argument count; the error of a job that `redacts` arguments shows none of
/// them. Used by generated code.
#[doc(hidden)]
pub fn check_count(
    job: &str,
    signature: &'static str,
    expected: usize,
    redacts: bool,
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
        args: if redacts {
            REDACTED_ARGS.to_owned()
        } else {
            shorten(&Value::Array(args.to_vec()))
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn decode_error_names_job_argument_type_and_value() {
        let err = decode_arg::<u64>(
            "SendWelcomeEmail",
            1,
            "user_id",
            "u64",
            false,
            &json!("forty-two"),
        )
        .unwrap_err();
        let text = err.to_string();
        assert!(text.contains("SendWelcomeEmail"), "{text}");
        assert!(text.contains("`user_id: u64`"), "{text}");
        assert!(text.contains("\"forty-two\""), "{text}");
    }

    #[test]
    fn encode_refuses_nan_naming_the_argument() {
        let err = encode_arg("Price", 2, "amount", false, &f64::NAN).unwrap_err();
        assert!(err.to_string().contains("argument #2 `amount`"), "{err}");
        assert!(err.to_string().contains("NaN"), "{err}");
    }

    #[test]
    fn count_mismatch_shows_signature_and_what_arrived() {
        let err = check_count("A", "x: u8", 1, false, &[json!(1), json!(2)]).unwrap_err();
        assert!(
            err.to_string()
                .contains("expected 1 argument(s) (x: u8), got 2: [1,2]"),
            "{err}"
        );
    }

    #[test]
    fn errors_of_redacted_arguments_never_quote_the_value() {
        let secret = "4111-1111-1111-1111";
        let decode = decode_arg::<u64>("Charge", 1, "card", "u64", true, &json!(secret));
        let text = decode.unwrap_err().to_string();
        assert!(
            !text.contains(secret) && text.contains("[redacted]"),
            "{text}"
        );
        let encode = encode_arg("Charge", 1, "card", true, &f64::NAN).unwrap_err();
        assert!(encode.to_string().contains("redacted"), "{encode}");
        let count = check_count("Charge", "card: u64", 1, true, &[json!(secret), json!(2)]);
        let text = count.unwrap_err().to_string();
        assert!(
            !text.contains(secret) && text.contains("not shown"),
            "{text}"
        );
    }
}
