//! The exit status `jobs --help` and the README document, one case per class: 0 done, 1
//! failed, 2 bad usage.

mod support;

use support::jobs;

#[test]
fn help_documents_the_exit_statuses() {
    let run = jobs(None, &["--help"]);
    assert_eq!(run.code, 0, "{run:?}");
    let at = run
        .stdout
        .find("\nExit status:\n")
        .expect("a section on exit status");
    let section = &run.stdout[at..];
    for line in ["\n  0  done", "\n  1  failed", "\n  2  bad usage"] {
        assert!(section.contains(line), "{line}: {section}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_class_of_outcome_has_its_status() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let url = format!("sqlite://{}", dir.path().join("jobs.db").display());
    let b = jobs_backends::connect(&url).await.expect("the store opens");
    let job = jobs::envelope::JobEnvelope::new("Email", "default", vec![serde_json::json!(1)]);
    let jid = job.jid.clone();
    b.job_push(jobs::backend::PushParams::new(
        vec![job],
        chrono::Utc::now(),
    ))
    .await
    .expect("a job is pushed");
    let url = Some(url.as_str());

    let done: [&[&str]; 6] = [
        &["status"],
        &["show", &jid],
        &["delete", "--all", "--set", "dead", "--yes"],
        &["migrate"],
        &["--help"],
        &["--version"],
    ];
    for args in done {
        let run = jobs(url, args);
        assert_eq!(run.code, 0, "{args:?}: {run:?}");
    }

    let failed: [(Option<&str>, &[&str]); 5] = [
        (Some("redis://127.0.0.1:1/0"), &["status"]),
        (url, &["show", "0123456789abcdef01234567"]),
        (url, &["quiet", "no-such-process"]),
        // Confirmation needed and stdin is no terminal.
        (url, &["delete", "--all", "--set", "scheduled"]),
        (Some("postgres://root@127.0.0.1:1/test"), &["migrate"]),
    ];
    b.job_push(jobs::backend::PushParams::new(
        vec![{
            let mut later =
                jobs::envelope::JobEnvelope::new("Email", "default", vec![serde_json::json!(2)]);
            later.at = Some(jobs::envelope::to_epoch(
                chrono::Utc::now() + chrono::Duration::hours(1),
            ));
            later
        }],
        chrono::Utc::now(),
    ))
    .await
    .expect("a scheduled job is pushed");
    for (u, args) in failed {
        let run = jobs(u, args);
        assert_eq!(run.code, 1, "{args:?}: {run:?}");
        assert!(run.stderr.starts_with("error: "), "{args:?}: {run:?}");
    }

    let usage: [(Option<&str>, &[&str]); 6] = [
        (url, &["frobnicate"]),
        (url, &["status", "--bogus"]),
        (url, &["list"]),
        (None, &["status"]),
        (url, &["web", "--listen", "not-an-address"]),
        (url, &["web", "--listen", "0.0.0.0:0"]),
    ];
    for (u, args) in usage {
        let run = jobs(u, args);
        assert_eq!(run.code, 2, "{args:?}: {run:?}");
        assert_eq!(run.stdout, "", "{args:?}: {run:?}");
    }
}
