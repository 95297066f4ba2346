//! Fuzz campaigns (structured, with proptest) over the inputs `jobs` reads from outside:
//! stored job payloads of Sidekiq 6, 7 and 8 and of our own, schedule files and cron
//! expressions. No input may panic: each is refused with an error, or decodes and
//! round-trips. `JOBS_FUZZ_CASES` sets the number of cases (default 500 per campaign).
//!
//! These campaigns are CI's fuzzing: they mutate seed payloads taken from the tests (field
//! removal, type swaps, byte flips, truncation) and generate arbitrary text. Coverage-guided
//! fuzzing of the same inputs runs by hand (`scripts/fuzz-afl`, targets in `fuzz/`); what it
//! finds is kept here as regression cases.

use jobs::envelope::{check::MAX_ARG_DEPTH, undecodable, JobEnvelope};
use jobs::schedule::{check_file, parse_duration, ScheduleFile, Timing};
use proptest::prelude::*;
use serde_json::{json, Value};

fn cases() -> u32 {
    std::env::var("JOBS_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(500)
}

/// Payloads as Sidekiq 6.4, 7 and 8 (integer milliseconds) and `jobs` write them.
fn seeds() -> Vec<Value> {
    vec![
        json!({"class":"HardWorker","args":[1,"two",{"three":3}],"retry":true,"queue":"default",
               "jid":"b4a577edbccf1d805744efa9","created_at":1_700_000_000.123,
               "enqueued_at":1_700_000_000.456}),
        json!({"class":"Mailer","args":[],"retry":5,"queue":"mailers","jid":"0123456789abcdef01234567",
               "created_at":1_700_000_000_123_i64,"enqueued_at":1_700_000_000_456_i64,
               "retry_count":2,"failed_at":1_700_000_000_000_i64,"error_class":"RuntimeError",
               "error_message":"boom","error_backtrace":["a.rb:1"],"tags":["x"]}),
        json!({"class":"ActiveJob::QueueAdapters::SidekiqAdapter::JobWrapper","wrapped":"WelcomeJob",
               "queue":"mailers","args":[{"job_class":"WelcomeJob","arguments":[42]}],
               "retry":false,"jid":"aaaaaaaaaaaaaaaaaaaaaaaa","created_at":1.5,"dead":false}),
        json!({"class":"SendWelcome","args":[7,"en"],"queue":"default","jid":"18c0b2a3f4e5d6c7b8a9f0e1",
               "created_at":1_765_000_000.5,"at":1_765_000_100.0}),
    ]
}

/// A random edit of a JSON value: drop a key, swap a value's type, nest it, or keep it.
fn mutate(v: &mut Value, key_pick: usize, how: u8) {
    let Value::Object(map) = v else { return };
    let keys: Vec<String> = map.keys().cloned().collect();
    if keys.is_empty() {
        return;
    }
    let key = keys[key_pick % keys.len()].clone();
    match how % 6 {
        0 => {
            map.remove(&key);
        }
        1 => {
            map.insert(key, Value::Null);
        }
        2 => {
            map.insert(key, json!([1, 2]));
        }
        3 => {
            map.insert(key, json!({"nested": true}));
        }
        4 => {
            map.insert(key, json!(-1.5e300));
        }
        _ => {
            map.insert(key, json!("text"));
        }
    }
}

/// Decoding must not panic; what decodes must encode and decode to the same envelope.
fn decode_round_trips(text: &str) {
    if let Ok(job) = JobEnvelope::from_json(text) {
        let again = job.to_json().expect("a decoded envelope encodes");
        let back = JobEnvelope::from_json(&again).expect("an encoded envelope decodes");
        assert_eq!(back, job, "round trip of {text}");
    }
}

/// Found by AFL (`scripts/fuzz-afl schedule`): croner reads a field of only commas as no
/// values at all, so `, * * * *` parsed and then searched every hour of thousands of years
/// for a minute that never comes (15 s per next tick in a release build, each pass of the
/// scheduler). An empty field is refused instead, with or without the seconds field.
#[test]
fn cron_fields_without_values_are_refused() {
    for expr in [
        ", * * * *",
        " , * * * *",
        "* ,, * * *",
        "0 0 , * *",
        "* * * , *",
        "* * * * ,",
        "* * * * +",
        "* * * * +,",
        ", * * * * *",
    ] {
        let refused = Timing::cron(expr).err();
        assert!(
            refused.as_deref().is_some_and(|e| e.contains("no values")),
            "{expr:?}: {refused:?}"
        );
    }
    // A list with an empty item still has values, as croner reads it.
    assert!(Timing::cron("1,,2 * * * *").is_ok());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    #[test]
    fn payload_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let text = String::from_utf8_lossy(&bytes);
        decode_round_trips(&text);
        // What cannot be decoded is buried with its bytes, whatever they are.
        let dead = undecodable(&bytes, "q", "queue `q`", "fuzz", jobs::chrono::Utc::now());
        prop_assert!(!dead.jid.is_empty());
        decode_round_trips(&dead.to_json().expect("a dead wrapper encodes"));
    }

    #[test]
    fn mutated_sidekiq_payloads_decode_or_refuse(
        seed in 0usize..4,
        edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 0..4),
        flip in proptest::option::of((any::<usize>(), any::<u8>())),
        cut in proptest::option::of(any::<usize>()),
    ) {
        let mut v = seeds()[seed].clone();
        for (k, how) in edits {
            mutate(&mut v, k, how);
        }
        let mut text = v.to_string().into_bytes();
        if let Some((at, byte)) = flip {
            let i = at % text.len();
            text[i] = byte;
        }
        if let Some(at) = cut {
            text.truncate(at % (text.len() + 1));
        }
        decode_round_trips(&String::from_utf8_lossy(&text));
    }

    #[test]
    fn deep_payloads_are_refused_without_overflow(depth in 100usize..5000) {
        let text = format!(
            r#"{{"class":"A","jid":"j","queue":"q","created_at":1,"args":[{}1{}]}}"#,
            "[".repeat(depth),
            "]".repeat(depth)
        );
        // The payload nests `depth + 2` deep (object, args array): at serde_json's 128 it
        // is an error, never a stack overflow; within it, it decodes.
        let decoded = JobEnvelope::from_json(&text);
        prop_assert_eq!(decoded.is_ok(), depth + 2 < 128);
        prop_assert!(depth > MAX_ARG_DEPTH, "the walk stays above what enqueue accepts");
    }

    #[test]
    fn cron_and_durations_never_panic(text in "\\PC{0,40}", fields in proptest::collection::vec("[0-9*/,\\-LW#?A-Za-z]{1,6}", 1..8)) {
        let _ = Timing::cron(&text);
        let expr = fields.join(" ");
        if let Ok(t) = Timing::cron(&expr) {
            let _ = t.next_after(jobs::chrono::Utc::now(), chrono_tz::UTC);
        }
        let _ = parse_duration(&text);
    }

    #[test]
    fn schedule_files_never_panic(
        name in "[a-z\\-_ ]{0,12}",
        key in prop_oneof![
            Just("cron".to_owned()), Just("every".to_owned()), Just("job".to_owned()),
            Just("queue".to_owned()), Just("args".to_owned()), Just("zone".to_owned()),
            Just("catch_up".to_owned()), Just("at".to_owned()), "[a-z]{1,6}",
        ],
        value in prop_oneof![
            "\\PC{0,20}".prop_map(|s| format!("{s:?}")),
            any::<i64>().prop_map(|n| n.to_string()),
            Just("[1, \"two\", {a = 3}]".to_owned()),
            Just("true".to_owned()),
        ],
        job in "[A-Za-z:]{0,10}",
    ) {
        let text = format!("[{name:?}]\njob = {job:?}\n{key} = {value}\n");
        if let Ok(file) = ScheduleFile::parse("fuzz.toml", &text) {
            let _ = check_file(&file, None, jobs::chrono::Utc::now(), 3);
        }
        let garbage = format!("[{name}\n{key} = {value}");
        let _ = ScheduleFile::parse("fuzz.toml", &garbage);
    }
}
