//! The sharded lease token: `<shard>/<the shard's own token>`, so a finish or a requeue goes
//! to the shard the job was reserved from, whatever the routes say since.

use jobs::backend::*;

/// A shard's token, marked with its shard.
pub(super) fn encode(shard: usize, token: &LeaseToken) -> LeaseToken {
    LeaseToken::new(format!("{shard}/{}", token.0))
}

/// The shard a token was issued by, and that shard's own token.
pub(super) fn decode(
    shards: usize,
    token: &LeaseToken,
) -> Result<(usize, LeaseToken), BackendError> {
    let bad = || {
        BackendError::Decode(format!(
            "not a lease token of the sharded Redis backend (expected `<shard>/...` with a \
             shard below {shards})"
        ))
    };
    let (shard, rest) = token.0.split_once('/').ok_or_else(bad)?;
    let shard: usize = shard.parse().map_err(|_| bad())?;
    if shard >= shards {
        return Err(bad());
    }
    Ok((shard, LeaseToken::new(rest)))
}

pub(super) fn mark(shard: usize, mut got: Vec<Reserved>) -> Vec<Reserved> {
    for r in &mut got {
        r.token = encode(shard, &r.token);
    }
    got
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_refuse_other_shapes() {
        let t = encode(1, &LeaseToken("9:host:1:ab7:default0:0:{}".into()));
        assert_eq!(
            decode(2, &t).unwrap(),
            (1, LeaseToken("9:host:1:ab7:default0:0:{}".into()))
        );
        for bad in ["", "x/1", "2/abc", "abc"] {
            assert!(decode(2, &LeaseToken(bad.into())).is_err(), "{bad}");
        }
    }
}
