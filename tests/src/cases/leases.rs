//! Leases: expiry and rescue, heartbeats, lost and double finishes, requeue.

use jobs::backend::{DeadLimits, FinishOutcome, HeartbeatParams, JobSet, RequeueParams};
use serde_json::json;

use crate::support::*;
use crate::CaseResult;

/// When a lease expires, `lease_rescue` puts its jobs back at the head of their queue, in
/// the order they were reserved, unchanged, ahead of jobs that waited behind them; before
/// expiry it takes nothing.
pub async fn rescue_after_expiry_returns_jobs_to_head(b: Subject) -> CaseResult {
    let jobs: Vec<_> = (0..3).map(|n| job("rescue", n)).collect();
    push(&b, jobs.clone(), at(0)).await?;
    let taken = reserve(&b, &["rescue"], 2, P1, at(0)).await?;
    assert_eq!(
        reserved_jids(&taken),
        jids(&jobs[..2]),
        "setup: the two oldest reserved"
    );

    let early = rescue(&b, at(59)).await?;
    assert_eq!(early, 0, "a lease one second from expiry was rescued");
    let rescued = rescue(&b, at(60)).await?;
    assert_eq!(rescued, 2, "both expired leases are rescued at expiry");

    let again = reserve(&b, &["rescue"], 3, P2, at(61)).await?;
    let expected: Vec<_> = taken
        .iter()
        .map(|r| (*r.job).clone())
        .chain([enqueued(jobs[2].clone(), at(0))])
        .collect();
    assert_eq!(
        again.iter().map(|r| (*r.job).clone()).collect::<Vec<_>>(),
        expected,
        "rescued jobs come first, in reserve order, unchanged; then the job behind them"
    );
    Ok(())
}

/// A heartbeat extends every lease of its process to `now + lease_ttl`, so a rescue at the
/// original expiry takes nothing; after the extended expiry it does.
pub async fn heartbeat_extends_leases(b: Subject) -> CaseResult {
    push(&b, vec![job("beat", 1), job("beat", 2)], at(0)).await?;
    let taken = reserve(&b, &["beat"], 2, P1, at(0)).await?;
    assert_eq!(taken.len(), 2, "setup: both jobs reserved");

    beat(&b, P1, LEASE_TTL, at(50)).await?;
    let early = rescue(&b, at(100)).await?;
    assert_eq!(
        early, 0,
        "leases extended at +50s to +110s were rescued at +100s"
    );
    let report = finish(
        &b,
        &taken[0],
        taken[0].job.clone(),
        FinishOutcome::Completed,
        false,
        at(101),
    )
    .await?;
    assert!(
        report.lost.is_empty(),
        "an extended lease can still be settled"
    );

    let late = rescue(&b, at(110)).await?;
    assert_eq!(
        late, 1,
        "without another beat, the other lease expires at +110s"
    );
    Ok(())
}

/// A finish on a lease that was rescued (and the job reserved again by another process)
/// is reported lost and applied nowhere; the new holder settles the job normally.
pub async fn finish_on_rescued_lease_is_lost(b: Subject) -> CaseResult {
    push(&b, vec![job("slow", 1)], at(0)).await?;
    let first = reserve(&b, &["slow"], 1, P1, at(0)).await?;
    assert_eq!(rescue(&b, at(61)).await?, 1, "setup: rescued");
    let second = reserve(&b, &["slow"], 1, P2, at(62)).await?;
    assert_eq!(
        reserved_jids(&second),
        reserved_jids(&first),
        "setup: reserved again"
    );

    let stale = failed(first[0].job.clone(), "finished too late", at(63));
    let report = finish(&b, &first[0], stale, FinishOutcome::Dead, true, at(63)).await?;
    assert_eq!(report.lost, vec![0], "the rescued lease is reported lost");
    assert!(
        list(&b, JobSet::Dead).await?.is_empty(),
        "the lost finish was not applied"
    );
    let stats = b.stats().await?;
    assert_eq!(
        (stats.processed, stats.failed),
        (0, 0),
        "nor counted: {stats:?}"
    );

    let report = finish(
        &b,
        &second[0],
        second[0].job.clone(),
        FinishOutcome::Completed,
        false,
        at(64),
    )
    .await?;
    assert!(report.lost.is_empty(), "the new holder's lease is held");
    assert_eq!(b.stats().await?.processed, 1, "the job is counted once");
    Ok(())
}

/// A second finish of the same lease is reported lost and changes nothing.
pub async fn double_finish_refused(b: Subject) -> CaseResult {
    push(&b, vec![job("twice", 1)], at(0)).await?;
    let r = reserve(&b, &["twice"], 1, P1, at(0)).await?;
    let first = finish(
        &b,
        &r[0],
        r[0].job.clone(),
        FinishOutcome::Completed,
        false,
        at(1),
    )
    .await?;
    assert!(first.lost.is_empty(), "the first finish applies");
    let retry = FinishOutcome::Retry { at: at(10) };
    let second = finish(&b, &r[0], r[0].job.clone(), retry, true, at(2)).await?;
    assert_eq!(second.lost, vec![0], "the second finish is refused");
    assert!(
        list(&b, JobSet::Retry).await?.is_empty(),
        "the refused retry was not stored"
    );
    let stats = b.stats().await?;
    assert_eq!(
        (stats.processed, stats.failed),
        (1, 0),
        "counted once: {stats:?}"
    );
    Ok(())
}

/// In a batch finish, only the items whose lease was lost are listed, by index, and the
/// others are applied.
pub async fn finish_reports_lost_by_index(b: Subject) -> CaseResult {
    push(&b, (0..3).map(|n| job("batch", n)).collect(), at(0)).await?;
    let r = reserve(&b, &["batch"], 3, P1, at(0)).await?;
    let done = finish(
        &b,
        &r[1],
        r[1].job.clone(),
        FinishOutcome::Completed,
        false,
        at(1),
    )
    .await?;
    assert!(done.lost.is_empty(), "setup: the middle job finished");

    let items = r
        .iter()
        .map(|x| item(x, x.job.clone(), FinishOutcome::Dead, true))
        .collect();
    let report = finish_all(&b, items, DeadLimits::default(), at(2)).await?;
    assert_eq!(
        report.lost,
        vec![1],
        "only the already-finished item is lost"
    );
    let dead = list(&b, JobSet::Dead).await?;
    let mut dead_jids = stored_jids(&dead);
    dead_jids.sort();
    let mut expected = reserved_jids(&[r[0].clone(), r[2].clone()]);
    expected.sort();
    assert_eq!(dead_jids, expected, "the two held items were applied");
    Ok(())
}

/// `job_requeue` puts jobs back at the head of their queue, in the order given, unchanged
/// (fields written by others included), and ends their leases: a later finish is lost.
pub async fn requeue_returns_jobs_to_head_unchanged(b: Subject) -> CaseResult {
    let mut tagged = job("back", 1);
    tagged.extra.insert("tags".into(), json!(["vip", "eu"]));
    tagged
        .extra
        .insert("x_trace".into(), json!({"id": "abc", "sampled": true}));
    let (second, behind) = (job("back", 2), job("back", 3));
    push(&b, vec![tagged, second, behind.clone()], at(0)).await?;
    let taken = reserve(&b, &["back"], 2, P1, at(1)).await?;
    assert_eq!(taken.len(), 2, "setup: two jobs reserved");

    let tokens = taken.iter().map(|r| r.token.clone()).collect();
    b.job_requeue(RequeueParams::new(tokens, at(2))).await?;
    let again = reserve(&b, &["back"], 3, P2, at(3)).await?;
    let expected: Vec<_> = taken
        .iter()
        .map(|r| (*r.job).clone())
        .chain([enqueued(behind, at(0))])
        .collect();
    assert_eq!(
        again.iter().map(|r| (*r.job).clone()).collect::<Vec<_>>(),
        expected,
        "requeued jobs first, in order, exactly as reserved; then the job behind them"
    );

    let late = finish(
        &b,
        &taken[0],
        taken[0].job.clone(),
        FinishOutcome::Completed,
        false,
        at(4),
    )
    .await?;
    assert_eq!(
        late.lost,
        vec![0],
        "a requeued lease can no longer be settled"
    );
    Ok(())
}

/// A rescue takes only expired leases: the jobs of a process that keeps beating stay
/// leased to it and it settles them normally.
pub async fn rescue_leaves_other_processes_alone(b: Subject) -> CaseResult {
    push(&b, vec![job("mixed", 1), job("mixed", 2)], at(0)).await?;
    let silent = reserve(&b, &["mixed"], 1, P1, at(0)).await?;
    let alive = reserve(&b, &["mixed"], 1, P2, at(0)).await?;
    assert_eq!((silent.len(), alive.len()), (1, 1), "setup: one job each");
    beat(&b, P2, LEASE_TTL, at(50)).await?;

    let rescued = rescue(&b, at(70)).await?;
    assert_eq!(rescued, 1, "only the silent process's lease is rescued");
    let back = drain(&b, "mixed", at(71)).await?;
    assert_eq!(
        jids(&back),
        reserved_jids(&silent),
        "the silent process's job is back"
    );

    let report = finish(
        &b,
        &alive[0],
        alive[0].job.clone(),
        FinishOutcome::Completed,
        false,
        at(72),
    )
    .await?;
    assert!(
        report.lost.is_empty(),
        "the beating process still holds its lease"
    );
    Ok(())
}

/// Each rescue of a job is counted and handed out with its next lease; a finish clears the
/// count; at its `max_rescues`th rescue the job goes to the dead set, marked as having killed
/// its processes, instead of back to its queue. Jobs rescued fewer times go back as usual.
pub async fn rescues_are_counted_and_the_last_buries(b: Subject) -> CaseResult {
    use jobs::envelope::KILLED_PROCESS_ERROR;
    let (suspect, bystander) = (job("crash", 1), job("crash", 2));
    push(&b, vec![suspect.clone(), bystander.clone()], at(0)).await?;
    let mut t = 0;
    for expected in 0..2u32 {
        let taken = reserve(&b, &["crash"], 2, P1, at(t)).await?;
        assert_eq!(reserved_jids(&taken), jids([&suspect, &bystander]));
        assert_eq!(
            taken.iter().map(|r| r.rescues).collect::<Vec<_>>(),
            vec![expected, expected],
            "each lease carries the rescues so far"
        );
        t += 61;
        let rescued = b
            .lease_rescue(jobs::backend::RescueParams::new(at(t)).max_rescues(3))
            .await?;
        assert_eq!(rescued, 2, "rescue {} returns both", expected + 1);
    }
    // The bystander ends this time; the suspect's process dies a third time.
    let taken = reserve(&b, &["crash"], 2, P1, at(t)).await?;
    assert_eq!(taken.iter().map(|r| r.rescues).collect::<Vec<_>>(), [2, 2]);
    let report = finish(
        &b,
        &taken[1],
        taken[1].job.clone(),
        FinishOutcome::Retry { at: at(t + 1) },
        true,
        at(t),
    )
    .await?;
    assert!(report.lost.is_empty());
    t += 61;
    b.lease_rescue(jobs::backend::RescueParams::new(at(t)).max_rescues(3))
        .await?;
    assert!(
        list(&b, JobSet::Queue("crash".into())).await?.is_empty(),
        "the third rescue does not requeue"
    );
    let dead = list(&b, JobSet::Dead).await?;
    assert_eq!(jids(dead.iter().map(|s| &s.job)), jids([&suspect]));
    assert_eq!(
        dead[0].job.error_class.as_deref(),
        Some(KILLED_PROCESS_ERROR)
    );
    assert_eq!(dead[0].job.args, suspect.args, "the job itself is kept");
    // The bystander's count was cleared by its finish: back from retry, it starts at zero.
    promote(&b, at(t + 10), 10).await?;
    let again = reserve(&b, &["crash"], 1, P2, at(t + 10)).await?;
    assert_eq!(reserved_jids(&again), jids([&bystander]));
    assert_eq!(again[0].rescues, 0, "a finish clears the rescue count");
    Ok(())
}

/// Jobs rescued from several processes at once all go back ahead of the jobs that waited
/// behind them (across processes their order is the backend's), each process's in the order
/// it reserved them.
pub async fn rescue_of_several_processes_puts_them_ahead_of_waiting_jobs(b: Subject) -> CaseResult {
    let jobs: Vec<_> = (0..3).map(|n| job("several", n)).collect();
    push(&b, jobs[..2].to_vec(), at(0)).await?;
    let first = reserve(&b, &["several", "other"], 1, P1, at(0)).await?;
    push(&b, vec![jobs[2].clone()], at(0)).await?;
    let second = reserve(&b, &["several", "other"], 1, P2, at(0)).await?;
    assert_eq!(reserved_jids(&first), jids(&jobs[..1]), "setup");
    assert_eq!(reserved_jids(&second), jids(&jobs[1..2]), "setup");
    assert_eq!(rescue(&b, at(61)).await?, 2);
    let queued = stored_jids(&list(&b, JobSet::Queue("several".into())).await?);
    let mut head: Vec<String> = queued[..2].to_vec();
    head.sort();
    let mut rescued = jids(&jobs[..2]);
    rescued.sort();
    assert_eq!(head, rescued, "the rescued jobs lead: {queued:?}");
    assert_eq!(
        queued[2], jobs[2].jid,
        "the job that waited comes after them"
    );
    Ok(())
}

/// A heartbeat that lists the leases its process holds extends those only: a job the
/// process was never told it reserved (the reply was lost) goes back to its queue, after
/// its lease lapses or (Redis, whose lease is the process's) when two beats in a row do not
/// list it, while the listed job stays leased and settles.
pub async fn a_beat_listing_its_leases_lets_an_unlisted_one_go_back(b: Subject) -> CaseResult {
    push(&b, vec![job("held", 1), job("held", 2)], at(0)).await?;
    let taken = reserve(&b, &["held"], 2, P1, at(0)).await?;
    assert_eq!(taken.len(), 2, "setup: both jobs reserved");
    let (kept, lost_reply) = (&taken[0], &taken[1]);
    for secs in [50, 55] {
        b.process_heartbeat(
            HeartbeatParams::new(info(P1), at(secs))
                .lease_ttl(LEASE_TTL)
                .leases(vec![kept.token.clone()]),
        )
        .await?;
    }
    rescue(&b, at(70)).await?;
    let again = reserve(&b, &["held"], 2, P2, at(71)).await?;
    assert_eq!(
        reserved_jids(&again),
        vec![lost_reply.job.jid.clone()],
        "the unlisted job is back in its queue (and only it)"
    );
    let report = finish(
        &b,
        kept,
        kept.job.clone(),
        FinishOutcome::Completed,
        false,
        at(72),
    )
    .await?;
    assert!(
        report.lost.is_empty(),
        "the listed lease was extended and still settles"
    );
    Ok(())
}
