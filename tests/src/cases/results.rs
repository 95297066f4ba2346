//! Results at the backend seam: stored with the success settle in one atomic step, never by
//! a lost settle, returned until they expire and removed by the cleanup pass.

use std::time::Duration;

use jobs::backend::{FinishOutcome, JidParams, JobStatus, ResultWrite};

use crate::support::*;
use crate::CaseResult;

/// A completed settle carrying a result stores it: the job reads as succeeded, the value
/// comes back byte for byte with its finish and expiry times; past its retention it is no
/// longer returned, and the cleanup pass (`lease_rescue`) after that removes it.
pub async fn result_stored_with_success_settle(b: Subject) -> CaseResult {
    let j = job("results", 1);
    push(&b, vec![j.clone()], at(0)).await?;
    let r = reserve(&b, &["results"], 1, P1, at(0)).await?.remove(0);
    let json = r#"{"pdf":"s3://bucket/invoice-7.pdf","pages":3}"#;
    let item = item(&r, r.job.clone(), FinishOutcome::Completed, false)
        .with_result(ResultWrite::new(json, Duration::from_secs(3600)));
    let report = finish_all(&b, vec![item], Default::default(), at(10)).await?;
    assert!(report.lost.is_empty(), "the held lease settles");
    let stored = b
        .job_result(JidParams::new(&j.jid, at(11)))
        .await?
        .unwrap_or_else(|| panic!("no result stored"));
    assert_eq!(stored.json, json, "the value is kept unchanged");
    assert_eq!(stored.finished_at, at(10));
    assert_eq!(stored.expires_at, at(3610));
    assert_eq!(stored.class, CLASS, "the job's wire name is kept with it");
    assert_eq!(
        b.job_status(JidParams::new(&j.jid, at(11))).await?,
        JobStatus::Succeeded {
            finished_at: Some(at(10))
        }
    );
    assert_eq!(
        b.job_result(JidParams::new(&j.jid, at(3611))).await?,
        None,
        "an expired result is not returned"
    );
    rescue(&b, at(3611)).await?;
    assert_eq!(
        b.job_result(JidParams::new(&j.jid, at(11))).await?,
        None,
        "the cleanup pass removed the expired result"
    );
    Ok(())
}

/// A settle whose lease was lost (rescued, the job reserved again) stores no result; the
/// new holder's settle stores its own, once.
pub async fn lost_settle_stores_no_result(b: Subject) -> CaseResult {
    let j = job("results-lost", 1);
    push(&b, vec![j.clone()], at(0)).await?;
    let first = reserve(&b, &["results-lost"], 1, P1, at(0))
        .await?
        .remove(0);
    assert_eq!(rescue(&b, at(61)).await?, 1, "setup: rescued");
    let second = reserve(&b, &["results-lost"], 1, P2, at(62))
        .await?
        .remove(0);
    let late = item(&first, first.job.clone(), FinishOutcome::Completed, false)
        .with_result(ResultWrite::new("\"loser\"", Duration::from_secs(3600)));
    let report = finish_all(&b, vec![late], Default::default(), at(63)).await?;
    assert_eq!(report.lost, vec![0], "the rescued lease's settle is lost");
    assert_eq!(
        b.job_result(JidParams::new(&j.jid, at(63))).await?,
        None,
        "the loser's result is not stored"
    );
    let won = item(&second, second.job.clone(), FinishOutcome::Completed, false)
        .with_result(ResultWrite::new("\"winner\"", Duration::from_secs(3600)));
    let report = finish_all(&b, vec![won], Default::default(), at(64)).await?;
    assert!(report.lost.is_empty());
    let stored = b
        .job_result(JidParams::new(&j.jid, at(65)))
        .await?
        .unwrap_or_else(|| panic!("no result stored"));
    assert_eq!(stored.json, "\"winner\"");
    let again = item(&second, second.job.clone(), FinishOutcome::Completed, false)
        .with_result(ResultWrite::new("\"twice\"", Duration::from_secs(3600)));
    let report = finish_all(&b, vec![again], Default::default(), at(66)).await?;
    assert_eq!(report.lost, vec![0], "a second settle is lost");
    let stored = b
        .job_result(JidParams::new(&j.jid, at(67)))
        .await?
        .unwrap_or_else(|| panic!("no result stored"));
    assert_eq!(stored.json, "\"winner\"", "not stored twice");
    Ok(())
}
