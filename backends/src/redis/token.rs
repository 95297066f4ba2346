//! The lease token: which process holds the job, which queue it came from, how many times the
//! job had been rescued, the process's lease epoch when it was reserved, and its raw JSON.
//!
//! The raw payload is what `LREM` matches in the in-flight list and what a requeue pushes
//! back, byte-identical. The epoch (`jobs-rs:epoch:<n>:<process>`, raised by every rescue of
//! the process) completes the fence: a token reserved before a rescue never matches again,
//! even when the same process reserves the same bytes afterwards. The rescue count tells a
//! finish whether the job has a count to clear, so a job never rescued costs nothing more.
//! Encoded as `<len>:<process><len>:<queue><rescues>:<epoch>:<raw>` with byte lengths, so any
//! characters in the process id or queue name are safe.

use jobs::backend::{BackendError, LeaseToken};

/// A decoded [`LeaseToken`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Token<'a> {
    pub(crate) process: &'a str,
    pub(crate) queue: &'a str,
    /// How many times the job had been rescued when it was reserved.
    pub(crate) rescues: u32,
    /// The process's lease epoch when the job was reserved.
    pub(crate) epoch: u64,
    pub(crate) raw: &'a str,
}

impl<'a> Token<'a> {
    pub(crate) fn encode(
        process: &str,
        queue: &str,
        rescues: u32,
        epoch: u64,
        raw: &str,
    ) -> LeaseToken {
        use std::fmt::Write as _;
        // Sized up front: `format!` would grow the string a few times for a large payload.
        let mut s = String::with_capacity(process.len() + queue.len() + raw.len() + 16);
        // Writing to a String cannot fail.
        let _ = write!(s, "{}:", process.len());
        s.push_str(process);
        let _ = write!(s, "{}:", queue.len());
        s.push_str(queue);
        let _ = write!(s, "{rescues}:{epoch}:");
        s.push_str(raw);
        LeaseToken::new(s)
    }

    pub(crate) fn decode(token: &'a LeaseToken) -> Result<Self, BackendError> {
        let bad = || BackendError::Decode("not a lease token of the Redis backend".into());
        let (process, rest) = field(&token.0).ok_or_else(bad)?;
        let (queue, rest) = field(rest).ok_or_else(bad)?;
        let (rescues, rest) = rest.split_once(':').ok_or_else(bad)?;
        let (epoch, raw) = rest.split_once(':').ok_or_else(bad)?;
        Ok(Token {
            process,
            queue,
            rescues: rescues.parse().map_err(|_| bad())?,
            epoch: epoch.parse().map_err(|_| bad())?,
            raw,
        })
    }
}

/// Splits `<len>:<field><rest>`.
fn field(s: &str) -> Option<(&str, &str)> {
    let (len, rest) = s.split_once(':')?;
    let len: usize = len.parse().ok()?;
    Some((rest.get(..len)?, rest.get(len..)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_any_names() {
        let t = Token::encode("host:1:ab", "q:ü", 2, 7, r#"{"a":"1:2"}"#);
        let d = Token::decode(&t).unwrap();
        assert_eq!(
            d,
            Token {
                process: "host:1:ab",
                queue: "q:ü",
                rescues: 2,
                epoch: 7,
                raw: r#"{"a":"1:2"}"#
            }
        );
    }

    #[test]
    fn garbage_is_a_decode_error() {
        for s in [
            "",
            "x",
            "5:ab",
            "2:ab9:c",
            "1:\u{fc}1:qx",
            "1:p1:q{}",
            "1:p1:qx:{}",
            "1:p1:q0:{}",
            "1:p1:q0:x:{}",
        ] {
            assert!(Token::decode(&LeaseToken(s.into())).is_err(), "{s}");
        }
    }
}
