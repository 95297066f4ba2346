//! Exactly once with real processes: three `jobs_test_scheduler` processes run at once
//! against one backend over ~6 s of one-second ticks; every tick is enqueued exactly once.

use std::collections::BTreeMap;
use std::process::Stdio;

use jobs::backend::{JobListParams, JobSet};
use tokio::io::{AsyncBufReadExt, BufReader};

/// Runs three schedulers on `url` and checks the `ticks` and `cron_ticks` queues.
pub async fn three_schedulers_enqueue_each_tick_once(url: &str) {
    let mut children = Vec::new();
    for _ in 0..3 {
        let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_jobs_test_scheduler"))
            .args(["--url", url, "--run-ms", "6500", "--every-ms", "1000"])
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("start jobs_test_scheduler");
        children.push(child);
    }
    for child in &mut children {
        let out = child.stdout.take().expect("piped stdout");
        let mut lines = BufReader::new(out).lines();
        assert_eq!(
            lines.next_line().await.expect("read stdout").as_deref(),
            Some("ready"),
            "the scheduler started"
        );
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    }
    for child in &mut children {
        let status = child.wait().await.expect("wait for jobs_test_scheduler");
        assert!(status.success(), "a scheduler failed: {status}");
    }

    let backend = jobs_backends::connect(url).await.expect("connect");
    for queue in ["ticks", "cron_ticks"] {
        let page = backend
            .job_list(JobListParams::new(JobSet::Queue(queue.into()), 10_000))
            .await
            .expect("list jobs");
        let mut per_tick: BTreeMap<i64, u32> = BTreeMap::new();
        for stored in &page.jobs {
            let tick = stored.job.extra["schedule_tick"]
                .as_f64()
                .expect("a schedule_tick");
            *per_tick.entry((tick * 1000.0).round() as i64).or_default() += 1;
        }
        let doubled: Vec<_> = per_tick.iter().filter(|(_, n)| **n != 1).collect();
        assert!(
            doubled.is_empty(),
            "{queue}: ticks enqueued more than once: {doubled:?}"
        );
        assert!(
            per_tick.len() >= 4,
            "{queue}: only {} ticks in ~6 s: {per_tick:?}",
            per_tick.len()
        );
        let ticks: Vec<i64> = per_tick.keys().copied().collect();
        for pair in ticks.windows(2) {
            assert_eq!(
                pair[1] - pair[0],
                1000,
                "{queue}: a tick was missed: {ticks:?}"
            );
        }
    }
}
