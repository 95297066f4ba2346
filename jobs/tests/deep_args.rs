//! Arguments nested deeper than a worker can decode are refused at enqueue, naming the
//! argument and the depth, without recursing deep enough to overflow the stack; arguments at
//! the limit are accepted and run.

mod common;

use common::Oops;
use jobs::envelope::check::MAX_ARG_DEPTH;
use jobs::envelope::JobEnvelope;
use jobs::EnqueueError;
use serde::ser::{Serialize, SerializeSeq, Serializer};

/// A value that serializes as `n` nested one-element arrays, without holding `n` of anything:
/// so the test can ask for a million levels without building (or dropping) them.
#[derive(Clone, Copy)]
struct Nested(usize);

impl Serialize for Nested {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.0 == 0 {
            return s.serialize_u8(1);
        }
        let mut seq = s.serialize_seq(Some(1))?;
        seq.serialize_element(&Nested(self.0 - 1))?;
        seq.end()
    }
}

impl<'de> serde::Deserialize<'de> for Nested {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = serde_json::Value::deserialize(d)?;
        let (mut depth, mut cur) = (0, &v);
        while let serde_json::Value::Array(items) = cur {
            depth += 1;
            match items.first() {
                Some(next) => cur = next,
                None => break,
            }
        }
        Ok(Nested(depth))
    }
}

#[jobs::job]
async fn nest(label: String, value: Nested) -> Result<(), Oops> {
    let _ = (label, value);
    Ok(())
}

fn nested_value(depth: usize) -> serde_json::Value {
    let mut v = serde_json::json!(1);
    for _ in 0..depth {
        v = serde_json::json!([v]);
    }
    v
}

#[tokio::test]
async fn a_typed_argument_past_the_limit_is_refused_naming_it_and_the_depth() {
    let backend = common::backend();
    let client = common::client(&backend, &common::clock());
    // A million levels: the check stops at the limit instead of walking (and overflowing).
    for depth in [MAX_ARG_DEPTH + 1, 1_000_000] {
        let err = Nest::set()
            .client(&client)
            .perform_later("x".into(), Nested(depth))
            .await
            .unwrap_err();
        assert!(matches!(err, EnqueueError::Args(_)), "{err:?}");
        let text = err.to_string();
        assert!(text.contains("argument #2 `value`"), "{text}");
        assert!(text.contains("nested deeper than 98"), "{text}");
    }
    assert_eq!(common::queue_size(&backend, "default").await, 0);
}

#[tokio::test]
async fn a_raw_envelope_past_the_limit_is_refused_naming_the_argument() {
    let backend = common::backend();
    let client = common::client(&backend, &common::clock());
    let job = JobEnvelope::new(
        "Nest",
        "default",
        vec!["x".into(), nested_value(MAX_ARG_DEPTH + 1)],
    );
    let err = client.push(vec![job]).await.unwrap_err();
    match &err {
        EnqueueError::TooDeep {
            job,
            position,
            limit,
        } => assert_eq!((job.as_str(), *position, *limit), ("Nest", 2, 98)),
        other => panic!("expected TooDeep, got {other:?}"),
    }
    assert!(err.to_string().contains("argument #2"), "{err}");
    assert_eq!(common::queue_size(&backend, "default").await, 0);
}

#[tokio::test]
async fn an_argument_at_the_limit_is_stored_and_runs() {
    let backend = common::backend();
    let clock = common::clock();
    let client = common::client(&backend, &clock);
    Nest::set()
        .client(&client)
        .perform_later("x".into(), Nested(MAX_ARG_DEPTH))
        .await
        .unwrap();
    let raw = JobEnvelope::new(
        "Nest",
        "default",
        vec!["y".into(), nested_value(MAX_ARG_DEPTH)],
    );
    client.push(vec![raw]).await.unwrap();
    let running = common::spawn(common::worker(&backend).build().unwrap());
    let stats = common::processed(&backend, 2).await;
    running.stop().await;
    assert_eq!((stats.processed, stats.failed, stats.dead), (2, 0, 0));
}
