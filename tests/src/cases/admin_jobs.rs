//! Admin side, jobs: listing, paging and filtering sets; get, delete, enqueue-now and kill.

use jobs::backend::JobGetParams;
use jobs::backend::{
    DeadLimits, FinishOutcome, JobActionParams, JobFilter, JobListParams, JobSet, Selection,
    StoredJob,
};
use jobs::envelope::JobEnvelope;
use serde_json::json;

use crate::support::*;
use crate::CaseResult;

fn retry_at(secs: i64) -> FinishOutcome {
    FinishOutcome::Retry { at: at(secs) }
}

fn filter(class: Option<&str>, text: Option<&str>) -> JobFilter {
    let mut filter = JobFilter::new();
    filter.class = class.map(str::to_owned);
    filter.text = text.map(str::to_owned);
    filter
}

fn matching(class: Option<&str>, text: Option<&str>) -> Selection {
    Selection::Matching(filter(class, text))
}

fn acting(set: JobSet, selection: Selection, now: i64) -> JobActionParams {
    let mut params = JobActionParams::jids(set, Vec::new(), at(now));
    params.selection = selection;
    params
}

/// A queue lists oldest first (with no `at`); scheduled and retry soonest first; dead most
/// recent death first, each dead job timed at its death.
pub async fn job_list_orders_each_set(b: Subject) -> CaseResult {
    let mut retried = Vec::new();
    for (n, when) in (0..).zip([300, 100, 200]) {
        retried.push(park(&b, job("r", n), retry_at(when), "boom", at(n)).await?);
    }
    let mut died = Vec::new();
    for (n, when) in (0..).zip([5, 7, 6]) {
        died.push(park(&b, job("d", n), FinishOutcome::Dead, "boom", at(when)).await?);
    }
    let timed: Vec<_> = (0..3).map(|n| job("s", n)).collect();
    let pushes = timed
        .iter()
        .zip([30, 10, 20])
        .map(|(j, w)| scheduled(j.clone(), at(w)));
    push(&b, pushes.collect(), at(0)).await?;
    let queued: Vec<_> = (0..3).map(|n| job("q", n)).collect();
    for (i, j) in (0..).zip(&queued) {
        push(&b, vec![j.clone()], at(i)).await?;
    }

    let in_queue = list(&b, JobSet::Queue("q".into())).await?;
    let expected: Vec<_> = (0..)
        .zip(&queued)
        .map(|(i, j)| StoredJob {
            job: enqueued(j.clone(), at(i)),
            set: JobSet::Queue("q".into()),
            at: None,
        })
        .collect();
    assert_eq!(
        in_queue, expected,
        "a queue lists oldest first, without a time"
    );

    let sched = list(&b, JobSet::Scheduled).await?;
    assert_eq!(
        stored_jids(&sched),
        jids([&timed[1], &timed[2], &timed[0]]),
        "soonest first"
    );
    let times: Vec<_> = sched.iter().map(|s| s.at).collect();
    assert_eq!(times, vec![Some(at(10)), Some(at(20)), Some(at(30))]);

    let retry = list(&b, JobSet::Retry).await?;
    assert_eq!(
        stored_jids(&retry),
        jids([&retried[1], &retried[2], &retried[0]]),
        "soonest first"
    );
    let times: Vec<_> = retry.iter().map(|s| s.at).collect();
    assert_eq!(times, vec![Some(at(100)), Some(at(200)), Some(at(300))]);

    let dead = list(&b, JobSet::Dead).await?;
    assert_eq!(
        stored_jids(&dead),
        jids([&died[1], &died[2], &died[0]]),
        "latest death first"
    );
    let times: Vec<_> = dead.iter().map(|s| s.at).collect();
    assert_eq!(times, vec![Some(at(7)), Some(at(6)), Some(at(5))]);
    Ok(())
}

/// `offset` and `limit` page through a set; `total` counts every job matching the filter,
/// whatever the page.
pub async fn job_list_pages_with_total(b: Subject) -> CaseResult {
    let mut mine = Vec::new();
    let mut batch = Vec::new();
    for n in 0..5 {
        let j = job("page", n);
        mine.push(j.clone());
        batch.push(j);
        batch.push(JobEnvelope::new("Other", "page", vec![json!(n)]));
    }
    push(&b, batch, at(0)).await?;

    let page = |offset: u64, limit: u64, class: Option<&str>| {
        JobListParams::new(JobSet::Queue("page".into()), limit)
            .offset(offset)
            .filter(filter(class, None))
    };
    let all = b.job_list(page(0, 4, None)).await?;
    assert_eq!(
        (all.total, all.jobs.len()),
        (10, 4),
        "unfiltered: total 10, a page of 4"
    );

    let p1 = b.job_list(page(0, 2, Some(CLASS))).await?;
    assert_eq!(p1.total, 5, "total counts the matching jobs only");
    assert_eq!(stored_jids(&p1.jobs), jids(&mine[0..2]), "first page");
    let p2 = b.job_list(page(2, 2, Some(CLASS))).await?;
    assert_eq!(
        (p2.total, stored_jids(&p2.jobs)),
        (5, jids(&mine[2..4])),
        "second page"
    );
    let p3 = b.job_list(page(4, 2, Some(CLASS))).await?;
    assert_eq!(
        (p3.total, stored_jids(&p3.jobs)),
        (5, jids(&mine[4..])),
        "a short last page"
    );
    let past = b.job_list(page(10, 2, Some(CLASS))).await?;
    assert_eq!(
        (past.total, past.jobs.len()),
        (5, 0),
        "past the end: empty, total kept"
    );
    Ok(())
}

/// A filter narrows by class, by text anywhere in the arguments (nested values too) or in
/// the error message, and by both at once.
pub async fn job_list_filters_by_class_and_text(b: Subject) -> CaseResult {
    let alice = JobEnvelope::new("Email", "f", vec![json!("alice@example.com")]);
    let sms = JobEnvelope::new("Sms", "f", vec![json!("+15550100")]);
    let carol = JobEnvelope::new(
        "Email",
        "f",
        vec![json!({"to": "carol@example.com", "cc": ["dave"]})],
    );
    let smtp = park(
        &b,
        job("failing", 1),
        retry_at(100),
        "timeout talking to smtp",
        at(0),
    )
    .await?;
    park(
        &b,
        job("failing", 2),
        retry_at(100),
        "division by zero",
        at(0),
    )
    .await?;
    push(&b, vec![alice.clone(), sms.clone(), carol.clone()], at(0)).await?;

    let queue = JobSet::Queue("f".into());
    let cases: [(Option<&str>, Option<&str>, Vec<String>); 5] = [
        (Some("Email"), None, jids([&alice, &carol])),
        (None, Some("alice"), jids([&alice])),
        (None, Some("dave"), jids([&carol])),
        (Some("Email"), Some("555"), vec![]),
        (Some("Sms"), Some("555"), jids([&sms])),
    ];
    for (class, text, expected) in cases {
        let mut params = JobListParams::new(queue.clone(), 100);
        params.filter = filter(class, text);
        let page = b.job_list(params).await?;
        assert_eq!(
            stored_jids(&page.jobs),
            expected,
            "class {class:?}, text {text:?}"
        );
        assert_eq!(
            page.total,
            expected.len() as u64,
            "total for class {class:?}, text {text:?}"
        );
    }

    let mut params = JobListParams::new(JobSet::Retry, 100);
    params.filter.text = Some("smtp".into());
    let found = b.job_list(params.clone()).await?;
    assert_eq!(
        stored_jids(&found.jobs),
        jids([&smtp]),
        "text found in the error message"
    );
    params.filter.text = Some("nowhere-to-be-found".into());
    assert_eq!(
        b.job_list(params).await?.total,
        0,
        "text in neither args nor error"
    );
    Ok(())
}

/// `job_get` finds a job by id in the set it is in, with its time, and nowhere else.
pub async fn job_get_finds_in_its_set_only(b: Subject) -> CaseResult {
    let dead = park(&b, job("g", 1), FinishOutcome::Dead, "boom", at(3)).await?;
    let queued = job("g", 2);
    let later = job("g", 3);
    push(
        &b,
        vec![queued.clone(), scheduled(later.clone(), at(99))],
        at(5),
    )
    .await?;

    let q = JobSet::Queue("g".into());
    let got = b.job_get(JobGetParams::new(q.clone(), &queued.jid)).await?;
    let expected = StoredJob {
        job: enqueued(queued.clone(), at(5)),
        set: q.clone(),
        at: None,
    };
    assert_eq!(got, Some(expected), "in its queue, without a time");
    let got = b
        .job_get(JobGetParams::new(JobSet::Scheduled, &later.jid))
        .await?;
    assert_eq!(
        got,
        Some(StoredJob {
            job: later.clone(),
            set: JobSet::Scheduled,
            at: Some(at(99))
        })
    );
    let got = b
        .job_get(JobGetParams::new(JobSet::Dead, &dead.jid))
        .await?;
    assert_eq!(
        got,
        Some(StoredJob {
            job: dead.clone(),
            set: JobSet::Dead,
            at: Some(at(3))
        })
    );

    for (set, jid) in [
        (JobSet::Scheduled, &queued.jid),
        (JobSet::Queue("other".into()), &queued.jid),
        (q.clone(), &later.jid),
        (JobSet::Retry, &dead.jid),
        (q, &"0123456789abcdef01234567".to_owned()),
    ] {
        assert_eq!(
            b.job_get(JobGetParams::new(set.clone(), jid)).await?,
            None,
            "{jid} is not in {set:?}"
        );
    }
    Ok(())
}

/// `job_delete` removes the selected jobs of one set (by ids or by filter) and returns how
/// many; ids not in that set are ignored.
pub async fn job_delete_by_jids_and_filter(b: Subject) -> CaseResult {
    let keep_retry = park(&b, job("del", 1), retry_at(100), "boom", at(0)).await?;
    let other = JobEnvelope::new("Other", "del", vec![]);
    park(&b, other, retry_at(100), "boom", at(0)).await?;
    park(&b, job("del", 2), FinishOutcome::Dead, "boom", at(0)).await?;
    park(&b, job("del", 3), FinishOutcome::Dead, "boom", at(1)).await?;
    let timed: Vec<_> = (0..3).map(|n| job("del", 10 + n)).collect();
    push(
        &b,
        timed
            .iter()
            .map(|j| scheduled(j.clone(), at(500)))
            .collect(),
        at(0),
    )
    .await?;
    let (q1, q2) = (job("del", 20), job("del", 21));
    push(&b, vec![q1.clone(), q2.clone()], at(0)).await?;

    let ids = vec![
        timed[0].jid.clone(),
        timed[2].jid.clone(),
        "ffffffffffffffffffffffff".into(),
    ];
    let deleted = b
        .job_delete(JobActionParams::jids(JobSet::Scheduled, ids, at(2)))
        .await?;
    assert_eq!(deleted, 2, "two of the three ids are scheduled");
    assert_eq!(
        stored_jids(&list(&b, JobSet::Scheduled).await?),
        jids([&timed[1]])
    );

    let wrong_set = vec![timed[1].jid.clone()];
    let deleted = b
        .job_delete(JobActionParams::jids(JobSet::Retry, wrong_set, at(2)))
        .await?;
    assert_eq!(
        deleted, 0,
        "a scheduled job is not deleted from the retry set"
    );
    assert_eq!(
        list(&b, JobSet::Scheduled).await?.len(),
        1,
        "and is still scheduled"
    );

    let deleted = b
        .job_delete(acting(JobSet::Retry, matching(Some("Other"), None), 2))
        .await?;
    assert_eq!(deleted, 1, "the filter picks the one Other job");
    assert_eq!(
        stored_jids(&list(&b, JobSet::Retry).await?),
        jids([&keep_retry])
    );

    let queue = JobSet::Queue("del".into());
    let deleted = b
        .job_delete(JobActionParams::jids(queue, vec![q2.jid.clone()], at(2)))
        .await?;
    assert_eq!(deleted, 1, "a job is deleted from a queue by id");
    assert_eq!(
        jids(&drain(&b, "del", at(3)).await?),
        jids([&q1]),
        "the other stays"
    );

    let deleted = b
        .job_delete(acting(JobSet::Dead, matching(None, None), 3))
        .await?;
    assert_eq!(deleted, 2, "an empty filter selects the whole set");
    assert!(
        list(&b, JobSet::Dead).await?.is_empty(),
        "the dead set is empty"
    );
    Ok(())
}

/// `job_enqueue_now` moves jobs from the retry, dead and scheduled sets to the tail of their
/// queue with `enqueued_at = now`; on a queue it moves nothing and returns 0.
pub async fn job_enqueue_now_moves_to_queue_tail(b: Subject) -> CaseResult {
    let retried = park(&b, job("now", 1), retry_at(1000), "boom", at(0)).await?;
    let died = park(&b, job("now", 2), FinishOutcome::Dead, "boom", at(1)).await?;
    let timed = job("now", 3);
    let waiting = job("now", 0);
    push(&b, vec![scheduled(timed.clone(), at(2000))], at(2)).await?;
    push(&b, vec![waiting.clone()], at(10)).await?;

    let ids = vec![retried.jid.clone()];
    assert_eq!(
        b.job_enqueue_now(JobActionParams::jids(JobSet::Retry, ids, at(20)))
            .await?,
        1
    );
    let by_class = acting(JobSet::Scheduled, matching(Some(CLASS), None), 21);
    assert_eq!(
        b.job_enqueue_now(by_class).await?,
        1,
        "by filter from the scheduled set"
    );
    let ids = vec![died.jid.clone()];
    assert_eq!(
        b.job_enqueue_now(JobActionParams::jids(JobSet::Dead, ids, at(22)))
            .await?,
        1
    );
    let ids = vec![waiting.jid.clone()];
    let queue = JobSet::Queue("now".into());
    assert_eq!(
        b.job_enqueue_now(JobActionParams::jids(queue, ids, at(23)))
            .await?,
        0,
        "queue: 0"
    );

    for set in [JobSet::Retry, JobSet::Dead, JobSet::Scheduled] {
        assert!(list(&b, set.clone()).await?.is_empty(), "{set:?} emptied");
    }
    let queued = drain(&b, "now", at(30)).await?;
    let expected = vec![
        enqueued(waiting, at(10)),
        enqueued(retried, at(20)),
        enqueued(timed, at(21)),
        enqueued(died, at(22)),
    ];
    assert_eq!(
        queued, expected,
        "each joined the tail as stored, stamped with its now"
    );
    Ok(())
}

/// `job_kill` moves jobs from the retry and scheduled sets and from a queue to the dead set
/// at `now`, trimming it to its limits; on the dead set it returns 0.
pub async fn job_kill_moves_to_dead_set(b: Subject) -> CaseResult {
    let retried = park(&b, job("k", 1), retry_at(1000), "boom", at(0)).await?;
    let timed = job("k", 2);
    push(&b, vec![scheduled(timed.clone(), at(2000))], at(1)).await?;
    let (q1, q2) = (job("k", 3), job("k", 4));
    push(&b, vec![q1.clone(), q2.clone()], at(2)).await?;

    let ids = vec![retried.jid.clone()];
    assert_eq!(
        b.job_kill(JobActionParams::jids(JobSet::Retry, ids, at(50)))
            .await?,
        1
    );
    let all = acting(JobSet::Scheduled, matching(None, None), 51);
    assert_eq!(
        b.job_kill(all).await?,
        1,
        "by filter from the scheduled set"
    );
    let queue = JobSet::Queue("k".into());
    let ids = vec![q1.jid.clone()];
    assert_eq!(
        b.job_kill(JobActionParams::jids(queue.clone(), ids, at(52)))
            .await?,
        1
    );
    let ids = vec![q1.jid.clone()];
    assert_eq!(
        b.job_kill(JobActionParams::jids(JobSet::Dead, ids, at(53)))
            .await?,
        0
    );

    let dead = list(&b, JobSet::Dead).await?;
    let expected = vec![
        StoredJob {
            job: enqueued(q1.clone(), at(2)),
            set: JobSet::Dead,
            at: Some(at(52)),
        },
        StoredJob {
            job: timed,
            set: JobSet::Dead,
            at: Some(at(51)),
        },
        StoredJob {
            job: retried,
            set: JobSet::Dead,
            at: Some(at(50)),
        },
    ];
    assert_eq!(
        dead, expected,
        "dead at each kill's now, latest first, as stored"
    );
    assert!(
        list(&b, JobSet::Retry).await?.is_empty() && list(&b, JobSet::Scheduled).await?.is_empty()
    );

    let mut trimming = JobActionParams::jids(queue, vec![q2.jid.clone()], at(54));
    trimming.dead_limits = DeadLimits {
        max_jobs: 2,
        ..DeadLimits::default()
    };
    assert_eq!(
        b.job_kill(trimming).await?,
        1,
        "the last queued job is killed"
    );
    let dead = list(&b, JobSet::Dead).await?;
    assert_eq!(
        stored_jids(&dead),
        jids([&q2, &q1]),
        "trimmed to the two latest deaths"
    );
    assert_eq!(b.stats().await?.dead_trimmed, 2, "the trims are counted");
    Ok(())
}
