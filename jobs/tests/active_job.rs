//! Active Job payloads performed by Rust jobs declared `#[job(active_job)]`, end to end
//! through the worker's processor (in memory): lookup by wrapped class, arguments of every
//! kind, the context's Active Job data, argument errors, Sidekiq's retry of the wrapper.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use jobs::active_job::{ActiveJob, GlobalId, Wrapper, RAILS_WRAPPER, SIDEKIQ_WRAPPER};
use jobs::backend::{JobListParams, JobSet};
use jobs::chrono::{DateTime, FixedOffset, NaiveDate, Utc};
use jobs::envelope::JobEnvelope;
use jobs::prelude::*;
use jobs::testing::TestJobs;
use jobs::{FailureKind, Registry};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// The error the test jobs return.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct Oops(String);

/// What the jobs saw, in order.
#[derive(Clone, Default)]
struct Seen(Arc<Mutex<Vec<Value>>>);

impl Seen {
    fn push(&self, v: Value) {
        if let Ok(mut list) = self.0.lock() {
            list.push(v);
        }
    }
    fn all(&self) -> Vec<Value> {
        self.0.lock().map(|l| l.clone()).unwrap_or_default()
    }
}

#[derive(Debug, Serialize, Deserialize, PartialEq)]
struct Plan {
    locale: String,
    plan: String,
}

/// Rails' `WelcomeJob.perform_later(42, locale: "en", plan: "pro")`.
#[jobs::job(name = "WelcomeJob", queue = "mailers", active_job)]
async fn welcome(seen: State<Seen>, ctx: JobContext, user_id: i64, opts: Plan) -> Result<(), Oops> {
    let aj = ctx
        .active_job()
        .ok_or_else(|| Oops("no Active Job data".into()))?;
    seen.push(json!({
        "user_id": user_id, "locale": opts.locale, "plan": opts.plan,
        "job_id": aj.job_id, "executions": aj.executions, "aj_locale": aj.locale,
        "timezone": aj.timezone, "priority": aj.priority, "class": ctx.class(),
    }));
    Ok(())
}

/// Rails' `def perform(user_id, locale:, plan: nil)`: keyword arguments onto named
/// parameters.
#[jobs::job(name = "KeywordsJob", active_job)]
async fn keywords(
    seen: State<Seen>,
    user_id: i64,
    locale: String,
    plan: Option<String>,
) -> Result<(), Oops> {
    seen.push(json!({"user_id": user_id, "locale": locale, "plan": plan}));
    Ok(())
}

/// One parameter per Active Job kind, each typed as the module docs say.
#[jobs::job(name = "KindsJob", active_job)]
#[allow(clippy::too_many_arguments)]
async fn kinds(
    seen: State<Seen>,
    user: GlobalId,
    user_uri: String,
    status: String,
    wait: i64,
    day: NaiveDate,
    at: DateTime<Utc>,
    local: DateTime<FixedOffset>,
    price: String,
    options: HashMap<String, Value>,
) -> Result<(), Oops> {
    seen.push(json!({
        "user": [user.app, user.model, user.id], "user_uri": user_uri, "status": status,
        "wait": wait, "day": day.to_string(), "at": at.to_rfc3339(),
        "offset": local.offset().local_minus_utc(), "price": price, "options": options,
    }));
    Ok(())
}

/// Takes an integer: a Time argument does not fit.
#[jobs::job(name = "CountJob", active_job, retry = 2)]
async fn count(n: i64) -> Result<(), Oops> {
    let _ = n;
    Ok(())
}

/// Always fails: Sidekiq's retry of the wrapper applies.
#[jobs::job(name = "FlakyJob", active_job, retry = 3)]
async fn flaky(n: i64) -> Result<(), Oops> {
    Err(Oops(format!("flaky {n}")))
}

/// A plain Rust job that is not declared `active_job`.
#[jobs::job(name = "PlainJob")]
async fn plain(n: i64) -> Result<(), Oops> {
    let _ = n;
    Ok(())
}

fn ser(kind: &str, value: Value) -> Value {
    json!({"_aj_serialized": format!("ActiveJob::Serializers::{kind}"), "value": value})
}

/// A wrapper payload as Rails' adapter writes it.
fn wrapper(class: &str, job_class: &str, arguments: Value) -> JobEnvelope {
    let mut job = JobEnvelope::new(
        class,
        "default",
        vec![json!({
            "job_class": job_class, "job_id": "c0ffee00-0000-4000-8000-000000000001",
            "provider_job_id": null, "queue_name": "default", "priority": null,
            "arguments": arguments, "executions": 0, "exception_executions": {},
            "locale": "en", "timezone": null, "enqueued_at": "2026-12-06T04:45:54Z",
        })],
    );
    job.extra.insert("wrapped".into(), json!(job_class));
    job
}

fn test_jobs(seen: &Seen) -> TestJobs {
    let registry = Registry::new()
        .with::<Welcome>()
        .and_then(|r| r.with::<Kinds>())
        .and_then(|r| r.with::<Count>())
        .and_then(|r| r.with::<Flaky>())
        .and_then(|r| r.with::<Plain>())
        .and_then(|r| r.with::<Keywords>())
        .unwrap();
    TestJobs::new().registry(registry).state(seen.clone())
}

#[tokio::test]
async fn the_rails_61_payload_is_performed_with_its_arguments_and_context() {
    let seen = Seen::default();
    let jobs = test_jobs(&seen);
    let text = r#"{"class":"ActiveJob::QueueAdapters::SidekiqAdapter::JobWrapper","wrapped":"WelcomeJob","queue":"mailers","args":[{"job_class":"WelcomeJob","job_id":"12f6b2a0-0c3e-4c39-9f47-0d7f3b8a8e11","provider_job_id":null,"queue_name":"mailers","priority":null,"arguments":[42,{"locale":"en","plan":"pro","_aj_symbol_keys":["locale"]}],"executions":0,"exception_executions":{},"locale":"en","timezone":null,"enqueued_at":"2026-12-06T04:45:54Z"}],"jid":"ea56f0d1c2b3a4958677e8f9","retry":true,"created_at":1796532354.98,"enqueued_at":1796532354.98}"#;
    let job = JobEnvelope::from_json(text).unwrap();
    jobs.client().push(vec![job]).await.unwrap();
    let report = jobs.drain().await;
    assert!(report.failures.is_empty(), "{:?}", report.failures);
    assert_eq!(
        seen.all(),
        vec![json!({
            "user_id": 42, "locale": "en", "plan": "pro",
            "job_id": "12f6b2a0-0c3e-4c39-9f47-0d7f3b8a8e11", "executions": 0, "aj_locale": "en",
            "timezone": null, "priority": null, "class": RAILS_WRAPPER,
        })]
    );
}

#[tokio::test]
async fn every_argument_kind_reaches_its_typed_parameter_through_the_sidekiq_wrapper() {
    let seen = Seen::default();
    let jobs = test_jobs(&seen);
    let arguments = json!([
        {"_aj_globalid": "gid://shop/User/7"},
        {"_aj_globalid": "gid://shop/User/8"},
        ser("SymbolSerializer", json!("active")),
        {"_aj_serialized": "ActiveJob::Serializers::DurationSerializer", "value": 5400, "parts": [["hours", 1], ["minutes", 30]]},
        ser("DateSerializer", json!("2026-12-06")),
        ser("TimeWithZoneSerializer", json!("2026-12-06T04:45:54.250000000Z")),
        ser("TimeSerializer", json!("2026-12-06T05:45:54.000000000+01:00")),
        ser("BigDecimalSerializer", json!("0.1999e2")),
        {"force": true, "tags": [{"x": 1, "_aj_symbol_keys": []}], "kind": ser("ModuleSerializer", json!("Admin::User")), "_aj_ruby2_keywords": ["force", "tags", "kind"]},
    ]);
    jobs.client()
        .push(vec![wrapper(SIDEKIQ_WRAPPER, "KindsJob", arguments)])
        .await
        .unwrap();
    let report = jobs.drain().await;
    assert!(report.failures.is_empty(), "{:?}", report.failures);
    assert_eq!(
        seen.all(),
        vec![json!({
            "user": ["shop", "User", "7"], "user_uri": "gid://shop/User/8", "status": "active",
            "wait": 5400, "day": "2026-12-06", "at": "2026-12-06T04:45:54.250+00:00",
            "offset": 3600, "price": "0.1999e2",
            "options": {"force": true, "tags": [{"x": 1}], "kind": "Admin::User"},
        })]
    );
}

#[tokio::test]
async fn an_argument_of_the_wrong_kind_fails_naming_its_serializer() {
    let seen = Seen::default();
    let jobs = test_jobs(&seen);
    let time = ser("TimeSerializer", json!("2026-12-06T04:45:54Z"));
    jobs.client()
        .push(vec![wrapper(RAILS_WRAPPER, "CountJob", json!([time]))])
        .await
        .unwrap();
    let report = jobs.drain().await;
    let [(_, failure)] = report.failures.as_slice() else {
        panic!("{:?}", report.failures)
    };
    assert_eq!(failure.kind, FailureKind::BadArgs);
    assert!(
        failure
            .message
            .contains("ActiveJob::Serializers::TimeSerializer")
            && failure.message.contains("`n: i64`"),
        "{}",
        failure.message
    );
    // An application's own serializer cannot be read at all.
    let money = json!({"_aj_serialized": "MoneySerializer", "value": "1 EUR"});
    jobs.client()
        .push(vec![wrapper(RAILS_WRAPPER, "CountJob", json!([money]))])
        .await
        .unwrap();
    let report = jobs.drain().await;
    let [(_, failure)] = report.failures.as_slice() else {
        panic!("{:?}", report.failures)
    };
    assert!(
        failure.message.contains("MoneySerializer"),
        "{}",
        failure.message
    );
}

#[tokio::test]
async fn only_jobs_declared_active_job_are_performed_for_the_wrapper() {
    let seen = Seen::default();
    let jobs = test_jobs(&seen);
    jobs.client()
        .push(vec![
            wrapper(RAILS_WRAPPER, "PlainJob", json!([1])),
            wrapper(RAILS_WRAPPER, "MissingJob", json!([1])),
        ])
        .await
        .unwrap();
    let report = jobs.drain().await;
    let messages: Vec<&str> = report
        .failures
        .iter()
        .map(|(_, f)| f.message.as_str())
        .collect();
    assert_eq!(messages.len(), 2, "{messages:?}");
    assert!(report
        .failures
        .iter()
        .all(|(_, f)| f.kind == FailureKind::UnknownJob));
    assert!(
        messages
            .iter()
            .any(|m| m.contains("`PlainJob`") && m.contains("#[job(active_job)]")),
        "{messages:?}"
    );
    assert!(
        messages.iter().any(|m| m.contains("`MissingJob`")),
        "{messages:?}"
    );
}

#[tokio::test]
async fn a_failing_active_job_is_retried_by_sidekiqs_rules_with_its_wrapper_intact() {
    let seen = Seen::default();
    let jobs = test_jobs(&seen);
    let job = wrapper(RAILS_WRAPPER, "FlakyJob", json!([5]));
    let jid = job.jid.clone();
    jobs.client().push(vec![job]).await.unwrap();
    let report = jobs.drain().await;
    assert_eq!(report.failures.len(), 1);
    let retries = jobs
        .backend()
        .job_list(JobListParams::new(JobSet::Retry, 10))
        .await
        .unwrap();
    let [stored] = retries.jobs.as_slice() else {
        panic!("{:?}", retries.jobs)
    };
    assert_eq!(
        (stored.job.jid.as_str(), stored.job.class.as_str()),
        (jid.as_str(), RAILS_WRAPPER)
    );
    assert_eq!(stored.job.retry_count, Some(0));
    assert_eq!(stored.job.extra["wrapped"], "FlakyJob");
    assert_eq!(stored.job.args[0]["arguments"], json!([5]));
    assert_eq!(stored.job.error_message.as_deref(), Some("flaky 5"));
}

#[tokio::test]
async fn what_rust_enqueues_as_an_active_job_rust_performs_the_same() {
    let seen = Seen::default();
    let jobs = test_jobs(&seen);
    ActiveJob::new("WelcomeJob")
        .queue("mailers")
        .wrapper(Wrapper::Sidekiq)
        .priority(2)
        .timezone("UTC")
        .perform_later(jobs.client(), (7, json!({"locale": "de", "plan": "free"})))
        .await
        .unwrap();
    let queued = jobs.all_enqueued().await;
    assert_eq!(queued[0].class, SIDEKIQ_WRAPPER);
    assert_eq!(queued[0].queue, "mailers");
    let report = jobs.drain().await;
    assert!(report.failures.is_empty(), "{:?}", report.failures);
    let got = seen.all();
    assert_eq!(got.len(), 1);
    assert_eq!(
        (got[0]["user_id"].clone(), got[0]["locale"].clone()),
        (json!(7), json!("de"))
    );
    assert_eq!(
        (got[0]["priority"].clone(), got[0]["timezone"].clone()),
        (json!(2), json!("UTC"))
    );
    assert_eq!(got[0]["job_id"].as_str().map(str::len), Some(36));
}

#[tokio::test]
async fn a_plain_payload_for_an_active_job_declared_job_is_performed_as_is() {
    let seen = Seen::default();
    let jobs = test_jobs(&seen);
    Count::set()
        .client(jobs.client())
        .perform_later(3)
        .await
        .unwrap();
    let report = jobs.drain().await;
    assert_eq!((report.performed, report.failures.len()), (1, 0));
}

/// `KeywordsJob.perform_later(7, locale: "en")` and `(8, locale: "de", plan: "pro")`: the
/// keyword hash fills the parameters it names, one left out is `None`; a hash with a key no
/// parameter has is not spread (the job then fails naming its argument, instead of guessing).
#[tokio::test]
async fn keyword_arguments_fill_the_named_parameters() {
    let seen = Seen::default();
    let jobs = test_jobs(&seen);
    let kw = |v: Value| {
        let mut v = v;
        if let Value::Object(m) = &mut v {
            let keys: Vec<Value> = m.keys().map(|k| json!(k)).collect();
            m.insert("_aj_ruby2_keywords".into(), Value::Array(keys));
        }
        v
    };
    jobs.client()
        .push(vec![
            wrapper(
                RAILS_WRAPPER,
                "KeywordsJob",
                json!([7, kw(json!({"locale": "en"}))]),
            ),
            wrapper(
                RAILS_WRAPPER,
                "KeywordsJob",
                json!([8, kw(json!({"locale": "de", "plan": "pro"}))]),
            ),
        ])
        .await
        .unwrap();
    let report = jobs.drain().await;
    assert!(report.failures.is_empty(), "{:?}", report.failures);
    let mut got = seen.all();
    got.sort_by_key(|v| v["user_id"].as_i64());
    assert_eq!(
        got,
        vec![
            json!({"user_id": 7, "locale": "en", "plan": null}),
            json!({"user_id": 8, "locale": "de", "plan": "pro"}),
        ]
    );

    let odd = Seen::default();
    let jobs = test_jobs(&odd);
    jobs.client()
        .push(vec![wrapper(
            RAILS_WRAPPER,
            "KeywordsJob",
            json!([9, kw(json!({"locale": "en", "coupon": "X"}))]),
        )])
        .await
        .unwrap();
    let report = jobs.drain().await;
    assert_eq!(
        report.failures.len(),
        1,
        "an unknown keyword is not guessed away"
    );
    assert!(odd.all().is_empty());
}
