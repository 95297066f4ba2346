//! Checkpoints: a leased job's in-flight record replaced by the job carrying its step
//! progress, fenced like a settle, and a new lease token naming the new bytes.
//!
//! 1. The new payload is the stored one with its `jobs_rs_steps` member set, edited as text
//!    so everything Ruby wrote stays byte for byte (the member goes first, so a
//!    `jobs_rs_concurrency` member stays last, where `limits.lua` reads it without decoding);
//!    a payload the scanner cannot read is encoded from the envelope instead.
//! 2. `checkpoint.lua` replaces the record in place when the token's epoch is the process's
//!    current one and the old bytes are still in the in-flight list; else the lease was lost
//!    and nothing is written.
//! 3. The lease token names the record's exact bytes (`token.rs`), so the answer is a new
//!    token for the new bytes, with no rescue count (the checkpoint cleared it).

use jobs::backend::{BackendError, CheckpointParams, LeaseToken};
use jobs::envelope::TopLevel;
use jobs::STEPS_FIELD as STEPS_FIELD_NAME;

use super::raw::encode;
use super::scripts::CHECKPOINT;
use super::token::Token;
use super::Inner;

/// Stores `p.job`'s step progress in the in-flight record of `p.token`; returns the token
/// that holds the lease from now on.
pub(super) async fn job_checkpoint(
    inner: &Inner,
    p: CheckpointParams,
) -> Result<LeaseToken, BackendError> {
    let t = Token::decode(&p.token)?;
    let new = with_steps(t.raw, &p.job)?;
    let k = inner.keys();
    let mut inv = CHECKPOINT.prepare_invoke();
    inv.key(k.inflight(t.process, t.queue))
        .key(k.epoch(t.process))
        .key(k.rescues())
        .key(k.slots());
    inv.arg(t.epoch)
        .arg(t.raw)
        .arg(&new)
        .arg(u8::from(t.rescues > 0));
    let replaced: u64 = inner.eval(&inv).await?;
    if replaced == 0 {
        return Err(BackendError::LeaseLost {
            jid: p.job.jid,
            reason: "the lease is no longer held (rescued, settled or given back)".into(),
        });
    }
    Ok(Token::encode(t.process, t.queue, 0, t.epoch, &new))
}

/// `raw` with its step-progress member set to `job`'s, the rest byte for byte.
fn with_steps(raw: &str, job: &jobs::envelope::JobEnvelope) -> Result<String, BackendError> {
    let Some(steps) = job.extra.get(STEPS_FIELD_NAME) else {
        return encode(job);
    };
    let value = serde_json::to_string(steps)
        .map_err(|e| BackendError::Decode(format!("job {} step progress: {e}", job.jid)))?;
    let mut scan = TopLevel::new(raw);
    let kept: Vec<_> = scan
        .by_ref()
        .filter(|m| !m.key_is(STEPS_FIELD_NAME))
        .map(|m| m.span)
        .collect();
    if !scan.complete() {
        return encode(job);
    }
    let mut out = String::with_capacity(raw.len() + value.len() + 20);
    out.push_str("{\"");
    out.push_str(STEPS_FIELD_NAME);
    out.push_str("\":");
    out.push_str(&value);
    for span in kept {
        let Some(member) = raw.get(span) else {
            return encode(job);
        };
        out.push(',');
        out.push_str(member);
    }
    out.push('}');
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_goes_first_and_ruby_bytes_stay() {
        let raw = r#"{"class":"A","args":[12345678901234567890123,1.10],"jobs_rs_steps":{"done":["x"]},"jid":"j","jobs_rs_concurrency":{"key":"k","limit":1}}"#;
        let mut job = jobs::envelope::JobEnvelope::new("A", "q", vec![]);
        job.extra.insert(
            STEPS_FIELD_NAME.into(),
            serde_json::json!({"done": ["x", "y"]}),
        );
        assert_eq!(
            with_steps(raw, &job).unwrap(),
            r#"{"jobs_rs_steps":{"done":["x","y"]},"class":"A","args":[12345678901234567890123,1.10],"jid":"j","jobs_rs_concurrency":{"key":"k","limit":1}}"#
        );
    }
}
