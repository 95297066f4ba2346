//! Envelope fidelity: fields written by others and unusual argument values come back unchanged.

use jobs::backend::{FinishOutcome, JobActionParams, JobSet};
use jobs::envelope::{new_jid, JobEnvelope};
use serde_json::{json, Map, Value};

use crate::support::*;
use crate::CaseResult;
use jobs::backend::JobGetParams;

/// A job as another client (Sidekiq, a batch plugin) writes it, with fields `jobs` does not
/// know.
fn foreign_job() -> JobEnvelope {
    let text = json!({
        "class": "HardWorker",
        "args": [1, "two"],
        "queue": "foreign",
        "jid": new_jid(),
        "created_at": 1_700_000_000.25,
        "retry": true,
        "tags": ["billing", "eu"],
        "bid": "b-8f2e1c",
        "backtrace": 20,
        "cattr": {"tenant": {"id": 42, "plan": "pro"}, "locale": null},
    })
    .to_string();
    JobEnvelope::from_json(&text).expect("a valid Sidekiq job hash")
}

fn extra_of(job: &JobEnvelope) -> &Map<String, Value> {
    &job.extra
}

/// Unknown fields (`tags`, `bid`, nested objects) survive push, reserve, retry, promote,
/// dead and enqueue-now, as does the `retry: true` a Sidekiq client writes.
pub async fn unknown_fields_survive_every_move(b: Subject) -> CaseResult {
    let original = foreign_job();
    let extra = original.extra.clone();
    assert_eq!(
        extra.len(),
        4,
        "setup: four unknown fields were kept by the envelope"
    );
    push(&b, vec![original.clone()], at(0)).await?;

    let listed = list(&b, JobSet::Queue("foreign".into())).await?;
    assert_eq!(listed.len(), 1, "setup: the job is queued");
    assert_eq!(extra_of(&listed[0].job), &extra, "listed in its queue");
    let r = reserve(&b, &["foreign"], 1, P1, at(1)).await?;
    assert_eq!(
        *r[0].job,
        enqueued(original.clone(), at(0)),
        "reserved unchanged"
    );

    let retrying = failed(r[0].job.clone(), "boom", at(2));
    finish(
        &b,
        &r[0],
        retrying.clone(),
        FinishOutcome::Retry { at: at(10) },
        true,
        at(2),
    )
    .await?;
    let in_retry = b
        .job_get(JobGetParams::new(JobSet::Retry, &original.jid))
        .await?
        .map(|s| s.job);
    assert_eq!(
        in_retry.as_ref().map(extra_of),
        Some(&extra),
        "in the retry set"
    );

    assert_eq!(promote(&b, at(10), 10).await?, 1);
    let r = reserve(&b, &["foreign"], 1, P1, at(11)).await?;
    assert_eq!(
        *r[0].job,
        enqueued(retrying.clone(), at(10)),
        "back from retry unchanged"
    );

    let dying = failed(r[0].job.clone(), "boom again", at(12));
    finish(&b, &r[0], dying.clone(), FinishOutcome::Dead, true, at(12)).await?;
    let in_dead = b
        .job_get(JobGetParams::new(JobSet::Dead, &original.jid))
        .await?
        .map(|s| s.job);
    assert_eq!(in_dead.as_ref(), Some(&dying), "stored dead as given");

    let ids = vec![original.jid.clone()];
    assert_eq!(
        b.job_enqueue_now(JobActionParams::jids(JobSet::Dead, ids, at(20)))
            .await?,
        1
    );
    let back = drain(&b, "foreign", at(21)).await?;
    assert_eq!(
        back,
        vec![enqueued(dying, at(20))],
        "enqueued now, unchanged"
    );
    assert_eq!(
        extra_of(&back[0]),
        &extra,
        "the unknown fields made every move"
    );
    let raw = serde_json::to_value(&back[0]).expect("an envelope serializes");
    assert_eq!(
        (&raw["retry"], &raw["bid"]),
        (&json!(true), &json!("b-8f2e1c"))
    );
    Ok(())
}

/// Unicode, nested objects, large integers and floats in `args` come back unchanged.
pub async fn args_round_trip_unchanged(b: Subject) -> CaseResult {
    let args = vec![
        json!("héllo wörld – 日本語 – עברית – 👩‍👩‍👧 – e\u{301}"),
        json!("quotes \" and \\ backslashes, tab\t, newline\n, \u{1} control"),
        json!({"nested": {"deeper": [1, [2, [3, {"x": null}]]], "empty": {}, "list": []}}),
        json!([i64::MAX, i64::MIN, u64::MAX, 0, -1]),
        json!([0.1, 2.5e-300, 1.7976931348623157e308, -0.75, 1e21, 3.0]),
        json!([true, false, null, ""]),
        json!({"🔑": "value", "a.b": 1, "$where": "not a query"}),
    ];
    let original = JobEnvelope::new(CLASS, "args", args.clone());
    push(&b, vec![original.clone()], at(0)).await?;

    let listed = list(&b, JobSet::Queue("args".into())).await?;
    assert_eq!(
        listed.first().map(|s| &s.job.args),
        Some(&args),
        "listed unchanged"
    );
    let r = reserve(&b, &["args"], 1, P1, at(1)).await?;
    assert_eq!(r.len(), 1, "setup: reserved");
    for (i, (got, want)) in r[0].job.args.iter().zip(&args).enumerate() {
        assert_eq!(
            got, want,
            "argument {i} changed on the way through the backend"
        );
    }
    assert_eq!(r[0].job.args.len(), args.len(), "no argument lost or added");
    assert_eq!(
        *r[0].job,
        enqueued(original, at(0)),
        "the whole envelope unchanged"
    );
    Ok(())
}

/// A string holding a NUL character (valid JSON, `"\u0000"`) comes back unchanged.
pub async fn args_with_nul_character_round_trip(b: Subject) -> CaseResult {
    let args = vec![json!("before\u{0}after"), json!({"k\u{0}": "v"})];
    let original = JobEnvelope::new(CLASS, "nul", args.clone());
    push(&b, vec![original.clone()], at(0)).await?;
    let r = reserve(&b, &["nul"], 1, P1, at(1)).await?;
    assert_eq!(
        r.first().map(|r| &r.job.args),
        Some(&args),
        "the NUL survived"
    );
    Ok(())
}
