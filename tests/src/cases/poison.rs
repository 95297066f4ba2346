//! Poison: bytes that are not a job, beside valid jobs, in every queue and set (see
//! [`crate::poison`]). Every case takes a [`PoisonSubject`].

use base64::Engine;
use jobs::backend::JobActionParams;
use jobs::backend::{ErrorKind, JobGetParams, JobSet, QueueListParams};
use jobs::envelope::{JobEnvelope, UNDECODABLE_ERROR};

use crate::poison::{PoisonSubject, RawPlace};
use crate::support::*;
use crate::{CaseError, CaseResult};

/// The kinds of bad payload, by name, with their bytes.
fn bad_payloads() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("not UTF-8", vec![0xff, 0xfe, b'{', 0x80, b'}']),
        (
            "not JSON",
            br#"{"class":"Broken","jid":"broken-1","args":[1"#.to_vec(),
        ),
        ("not an object", b"[1,2,3]".to_vec()),
        ("a bare string", br#""hello""#.to_vec()),
        (
            "no class",
            br#"{"jid":"noclass-1","queue":"poison","args":[]}"#.to_vec(),
        ),
        (
            "args not a list",
            br#"{"class":"X","jid":"badargs-1","queue":"poison","args":5}"#.to_vec(),
        ),
    ]
}

/// Stores `bytes` at `place`; `false` when this store cannot hold such bytes at all (a
/// Postgres `json` column refuses what is not JSON), which makes that kind moot there.
async fn put(
    s: &PoisonSubject,
    place: RawPlace,
    jid: &str,
    bytes: &[u8],
) -> Result<bool, CaseError> {
    match s.raw.put_raw(place, jid, bytes).await {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == ErrorKind::Unsupported => Ok(false),
        Err(e) => Err(CaseError::Backend(e)),
    }
}

/// Whether `job` is the dead wrapper of `bytes`: the bytes kept (as text, or base64), the
/// error saying why.
fn keeps(job: &JobEnvelope, bytes: &[u8]) -> bool {
    let kept = match std::str::from_utf8(bytes) {
        Ok(text) => job.args.first().and_then(|a| a.as_str()) == Some(text),
        Err(_) => {
            let b64 = base64::engine::general_purpose::STANDARD.encode(bytes);
            job.extra.get("raw_base64").and_then(|v| v.as_str()) == Some(b64.as_str())
        }
    };
    kept && job.error_class.as_deref() == Some(UNDECODABLE_ERROR)
        && job.error_message.as_deref().is_some_and(|m| !m.is_empty())
}

/// Reserves from `queue` until it is empty (at most ten rounds), returning the jobs handed
/// out: bad members taken in a round must not keep the valid ones of the round from it.
async fn drain_reserving(
    b: &Subject,
    queue: &str,
    now: i64,
) -> Result<Vec<JobEnvelope>, CaseError> {
    let mut got = Vec::new();
    for _ in 0..10 {
        let taken = reserve(b, &[queue], 10, P1, at(now)).await?;
        if taken.is_empty() && list(b, JobSet::Queue(queue.into())).await?.is_empty() {
            break;
        }
        for r in &taken {
            finish(
                b,
                r,
                r.job.clone(),
                jobs::backend::FinishOutcome::Completed,
                false,
                at(now),
            )
            .await?;
        }
        got.extend(
            taken
                .into_iter()
                .map(|r| std::sync::Arc::unwrap_or_clone(r.job)),
        );
    }
    Ok(got)
}

/// Valid jobs and bad members interleaved in one queue: one reserve of them all hands out
/// every valid job, buries each bad member on its own, and leaves nothing in flight.
pub async fn undecodable_queue_members_are_buried_and_the_rest_run(s: PoisonSubject) -> CaseResult {
    let b = &s.backend;
    let valid: Vec<_> = (0..3).map(|n| job("poison", n)).collect();
    let mut stored = Vec::new();
    for (i, (_, bytes)) in bad_payloads().into_iter().take(2).enumerate() {
        push(b, vec![valid[i].clone()], at(0)).await?;
        if put(
            &s,
            RawPlace::Queue("poison".into()),
            &format!("bad-{i}"),
            &bytes,
        )
        .await?
        {
            stored.push(bytes);
        }
    }
    push(b, vec![valid[2].clone()], at(0)).await?;
    let taken = reserve(b, &["poison"], 10, P1, at(1)).await?;
    assert_eq!(
        reserved_jids(&taken),
        jids(&valid),
        "every valid job of the round is handed out, in order"
    );
    for r in &taken {
        let report = finish(
            b,
            r,
            r.job.clone(),
            jobs::backend::FinishOutcome::Completed,
            false,
            at(2),
        )
        .await?;
        assert!(report.lost.is_empty(), "the valid jobs' leases hold");
    }
    assert!(list(b, JobSet::Queue("poison".into())).await?.is_empty());
    let dead = list(b, JobSet::Dead).await?;
    assert_eq!(
        dead.len(),
        stored.len(),
        "each bad member is dead on its own"
    );
    for bytes in &stored {
        assert!(
            dead.iter().any(|d| keeps(&d.job, bytes)),
            "{:?} kept in the dead set: {dead:?}",
            String::from_utf8_lossy(bytes)
        );
    }
    // Nothing is stranded in flight: after the leases' expiry, a rescue finds nothing.
    assert_eq!(rescue(b, at(1000)).await?, 0);
    Ok(())
}

/// Each kind of bad payload (not UTF-8, not JSON, not an object, a bare string, no class,
/// args not a list) is buried with its bytes and a reason, keeping a jid it names.
pub async fn every_kind_of_bad_payload_is_buried_with_its_bytes(s: PoisonSubject) -> CaseResult {
    let b = &s.backend;
    let mut stored = Vec::new();
    for (kind, bytes) in bad_payloads() {
        if put(
            &s,
            RawPlace::Queue("poison".into()),
            &format!("kind-{}", stored.len()),
            &bytes,
        )
        .await?
        {
            stored.push((kind, bytes));
        }
    }
    push(b, vec![job("poison", 7)], at(0)).await?;
    let ran = drain_reserving(b, "poison", 1).await?;
    assert_eq!(ran.len(), 1, "only the valid job is handed out");
    let dead = list(b, JobSet::Dead).await?;
    for (kind, bytes) in &stored {
        assert!(
            dead.iter().any(|d| keeps(&d.job, bytes)),
            "{kind}: not kept in the dead set: {dead:?}"
        );
    }
    for named in ["broken-1", "noclass-1", "badargs-1"] {
        if stored
            .iter()
            .any(|(_, bytes)| String::from_utf8_lossy(bytes).contains(named))
        {
            assert!(
                dead.iter().any(|d| d.job.jid == named),
                "the jid {named} the payload names is kept"
            );
        }
    }
    Ok(())
}

/// A bad member in a queue, the scheduled, retry and dead sets: every listing, the queue list
/// and the stats still answer, and show the bad member for what it is.
pub async fn listings_show_bad_members_instead_of_failing(s: PoisonSubject) -> CaseResult {
    let b = &s.backend;
    let (_, bytes) = bad_payloads().remove(4); // no class: storable everywhere
    let places = [
        (
            RawPlace::Queue("poison".into()),
            JobSet::Queue("poison".into()),
        ),
        (
            RawPlace::Scheduled("poison".into(), at(500)),
            JobSet::Scheduled,
        ),
        (RawPlace::Retry("poison".into(), at(500)), JobSet::Retry),
        (RawPlace::Dead("poison".into(), at(0)), JobSet::Dead),
    ];
    for (i, (place, _)) in places.iter().enumerate() {
        assert!(put(&s, place.clone(), &format!("listed-{i}"), &bytes).await?);
    }
    push(b, vec![job("poison", 1)], at(0)).await?;
    for (_, set) in &places {
        let page = list(b, set.clone()).await?;
        assert!(
            page.iter().any(|j| keeps(&j.job, &bytes)),
            "{set:?} lists the bad member as what it is: {page:?}"
        );
    }
    let queues = b.queue_list(QueueListParams::new(at(1))).await?;
    assert!(queues.iter().any(|q| q.name == "poison"));
    let stats = b.stats().await?;
    assert_eq!((stats.scheduled, stats.retries), (1, 1));
    Ok(())
}

/// Due bad members of the scheduled and retry sets never hold valid ones back: promotion
/// moves every due valid job to its queue and leaves no bad member scheduled or waiting to
/// retry; each bad one ends in the dead set on its own (buried by the promotion, or by the
/// reserve that meets it in its queue), and reserving hands out only the valid jobs.
pub async fn promotion_moves_valid_jobs_and_buries_bad_ones(s: PoisonSubject) -> CaseResult {
    let b = &s.backend;
    let due = [
        scheduled(job("promoted", 1), at(5)),
        scheduled(job("promoted", 2), at(15)),
    ];
    push(b, due.to_vec(), at(0)).await?;
    let mut stored = Vec::new();
    for (i, (_, bytes)) in bad_payloads().into_iter().enumerate() {
        let place = if i % 2 == 0 {
            RawPlace::Scheduled("promoted".into(), at(10))
        } else {
            RawPlace::Retry("promoted".into(), at(10))
        };
        if put(&s, place, &format!("due-{i}"), &bytes).await? {
            stored.push(bytes);
        }
    }
    let mut moved = 0;
    for _ in 0..10 {
        let n = promote(b, at(20), 1000).await?;
        if n == 0 {
            break;
        }
        moved += n;
    }
    assert!(moved >= 2, "both valid jobs moved ({moved})");
    assert!(
        list(b, JobSet::Scheduled).await?.is_empty(),
        "no bad member left scheduled"
    );
    assert!(
        list(b, JobSet::Retry).await?.is_empty(),
        "no bad member left to retry"
    );
    assert_eq!(
        promote(b, at(30), 1000).await?,
        0,
        "nothing left to promote"
    );
    let ran = drain_reserving(b, "promoted", 31).await?;
    assert_eq!(
        jids(&ran),
        jids(&due),
        "only the valid jobs are handed out, in order"
    );
    let dead = list(b, JobSet::Dead).await?;
    assert_eq!(dead.len(), stored.len(), "each bad member dead on its own");
    for bytes in &stored {
        assert!(
            dead.iter().any(|d| keeps(&d.job, bytes)),
            "{:?} buried",
            String::from_utf8_lossy(bytes)
        );
    }
    Ok(())
}

/// Bad members of the dead set list beside good ones, are found by the id the listing shows,
/// and are deleted by it, alone.
pub async fn bad_dead_jobs_list_and_delete_by_id(s: PoisonSubject) -> CaseResult {
    let b = &s.backend;
    let good = job("mourned", 1);
    let good = park(b, good, jobs::backend::FinishOutcome::Dead, "gone", at(0)).await?;
    let mut stored = Vec::new();
    for (i, (_, bytes)) in bad_payloads().into_iter().enumerate() {
        if put(
            &s,
            RawPlace::Dead("mourned".into(), at(i as i64 + 1)),
            &format!("dead-bad-{i}"),
            &bytes,
        )
        .await?
        {
            stored.push(bytes);
        }
    }
    let dead = list(b, JobSet::Dead).await?;
    assert_eq!(dead.len(), stored.len() + 1, "every dead member is listed");
    for bytes in &stored {
        let Some(entry) = dead.iter().find(|d| keeps(&d.job, bytes)) else {
            panic!("{:?} not listed", String::from_utf8_lossy(bytes));
        };
        let jid = entry.job.jid.clone();
        let got = b.job_get(JobGetParams::new(JobSet::Dead, &jid)).await?;
        assert!(
            got.is_some_and(|g| keeps(&g.job, bytes)),
            "found by id {jid}"
        );
        let deleted = b
            .job_delete(JobActionParams::jids(
                JobSet::Dead,
                vec![jid.clone()],
                at(100),
            ))
            .await?;
        assert_eq!(deleted, 1, "deleted by id {jid}");
    }
    let left = list(b, JobSet::Dead).await?;
    assert_eq!(
        jids(left.iter().map(|s| &s.job)),
        jids([&good]),
        "only the good one is left"
    );
    Ok(())
}

/// A payload nested deeper than the decoder goes (300 levels) is buried under the jid it names.
pub async fn a_payload_too_deep_to_decode_keeps_its_jid(s: PoisonSubject) -> CaseResult {
    let b = &s.backend;
    let deep = format!(
        r#"{{"class":"Deep","jid":"deep-1","queue":"poison","args":[{}1{}]}}"#,
        "[".repeat(300),
        "]".repeat(300)
    );
    assert!(
        put(
            &s,
            RawPlace::Queue("poison".into()),
            "deep-1",
            deep.as_bytes()
        )
        .await?
    );
    push(b, vec![job("poison", 1)], at(0)).await?;
    let ran = drain_reserving(b, "poison", 1).await?;
    assert_eq!(ran.len(), 1);
    let dead = list(b, JobSet::Dead).await?;
    assert_eq!(jids(dead.iter().map(|s| &s.job)), ["deep-1"]);
    assert!(keeps(&dead[0].job, deep.as_bytes()));
    Ok(())
}
