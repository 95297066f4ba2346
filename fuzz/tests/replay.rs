//! The seed corpora pass their targets' checks, and the targets see what they should (a
//! decoding payload, a schedule with fire times, dashboard pages that render), so that a run
//! of AFL starts from inputs that reach the code. Run with `cargo test` in `fuzz/`.

use jobs_fuzz::web_query::{answer, JIDS, PATHS};

fn corpus(target: &str) -> Vec<Vec<u8>> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("corpus")
        .join(target);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(
        files.len() >= 20,
        "{}: {} seeds",
        dir.display(),
        files.len()
    );
    files.iter().map(|f| std::fs::read(f).unwrap()).collect()
}

#[test]
fn envelope_seeds_pass_and_some_decode() {
    let seeds = corpus("envelope");
    seeds.iter().for_each(|s| jobs_fuzz::envelope::check(s));
    let decoded = seeds
        .iter()
        .filter_map(|s| std::str::from_utf8(s).ok())
        .filter(|s| jobs::envelope::JobEnvelope::from_json(s).is_ok())
        .count();
    assert!(decoded >= 5, "{decoded} seeds decode");
}

#[test]
fn schedule_seeds_pass_and_some_parse() {
    let seeds = corpus("schedule");
    seeds.iter().for_each(|s| jobs_fuzz::schedule::check(s));
    let crons = seeds
        .iter()
        .filter(|s| jobs::schedule::Timing::cron(&String::from_utf8_lossy(s)).is_ok())
        .count();
    assert!(crons >= 5, "{crons} seeds are cron expressions");
}

#[test]
fn web_query_seeds_pass_and_pages_render() {
    corpus("web_query")
        .iter()
        .for_each(|s| jobs_fuzz::web_query::check(s));
    for path in PATHS {
        let (uri, status) = answer(path.as_bytes()).unwrap();
        assert!(status.is_success(), "{status} for {uri}");
    }
    for (set, jid) in [
        ("queues/default", JIDS[0]),
        ("scheduled", JIDS[1]),
        ("retries", JIDS[2]),
        ("dead", JIDS[3]),
    ] {
        let (uri, status) = answer(format!("/{set}/{jid}").as_bytes()).unwrap();
        assert!(
            status.is_success() || set.starts_with("queues"),
            "{status} for {uri}"
        );
    }
    let (uri, status) = answer(b"/dead?page=%ZZ").unwrap();
    assert_eq!(status.as_u16(), 400, "{uri}");
}
