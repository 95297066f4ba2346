//! The Postgres backend over TLS, against a cluster of the test's own (`initdb` in a
//! temporary directory, `ssl = on`, certificates made at run time, and a `pg_hba.conf` that
//! rejects TCP connections without TLS): `sslmode=verify-full` with the CA runs jobs, a wrong
//! CA is refused naming the certificate, `sslmode=disable` is refused by the server, and
//! neither the URL's password nor `PGPASSWORD` is ever printed.

mod tls_support;

use std::time::{Duration, Instant};

use jobs::backend::*;
use jobs::envelope::JobEnvelope;
use jobs_conformance::faults::servers::PrivateCluster;
use tls_support::TempDir;

fn now() -> chrono::DateTime<chrono::Utc> {
    chrono::Utc::now()
}

/// The error connecting to `url`, which must fail (`what` says what it would mean if not).
async fn refused(url: &str, what: &str) -> String {
    match connect(url).await {
        Ok(_) => panic!("{what}"),
        Err(e) => {
            eprintln!("refused, as it should be: {e}");
            e
        }
    }
}

/// Connects through `jobs_backends::connect`, as an app does; the error as text.
async fn connect(url: &str) -> Result<std::sync::Arc<dyn AdminBackend>, String> {
    tokio::time::timeout(Duration::from_secs(30), jobs_backends::connect(url))
        .await
        .map_err(|_| "connecting hung for 30 s".to_owned())?
        .map_err(|e| e.to_string())
}

/// The cluster's URL for `schema` with `params`, and a password in it (the cluster trusts
/// every local user, so it is never checked, only carried).
fn url(cluster: &PrivateCluster, schema: &str, params: &str) -> String {
    cluster
        .url(schema, params)
        .replace("postgres://root@", "postgres://root:s3cret-pw@")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_full_with_the_ca_runs_jobs_and_a_wrong_ca_or_no_tls_is_refused() {
    let tmp = TempDir::new("postgres-tls");
    let pki = tls_support::make(&tmp.0.join("pki"));
    let Some(cluster) =
        tokio::task::block_in_place(|| PrivateCluster::start_tls(&tmp.0, &pki.server))
    else {
        return;
    };

    // verify-full: the CA signed the server's certificate, which names 127.0.0.1.
    let good = url(
        &cluster,
        "tls_jobs",
        &format!("sslmode=verify-full&sslrootcert={}", pki.ca.display()),
    );
    let backend = connect(&good).await.expect("verify-full with the CA");
    backend
        .job_push(PushParams::new(
            vec![JobEnvelope::new("Echo", "q", vec![serde_json::json!(1)])],
            now(),
        ))
        .await
        .expect("push over TLS");
    let mut p = ReserveParams::new(vec!["q".into()], "tls-worker", now());
    p.wait = Duration::from_secs(2);
    let got = backend.job_reserve(p).await.expect("reserve over TLS");
    assert_eq!(got.len(), 1);
    let report = backend
        .job_finish(
            FinishParams::new(
                vec![Finish::new(
                    got[0].token.clone(),
                    got[0].job.clone(),
                    FinishOutcome::Completed,
                    false,
                )],
                now(),
            )
            .dead_limits(DeadLimits::default()),
        )
        .await
        .expect("finish over TLS");
    assert!(report.lost.is_empty(), "{report:?}");
    assert_eq!(backend.stats().await.expect("stats").processed, 1);

    // require and verify-ca take the same server.
    for mode in ["require", "verify-ca"] {
        let params = format!("sslmode={mode}&sslrootcert={}", pki.ca.display());
        let backend = connect(&url(&cluster, "tls_jobs", &params))
            .await
            .unwrap_or_else(|e| panic!("sslmode={mode}: {e}"));
        backend.stats().await.expect("stats");
    }

    // A wrong CA.
    let wrong = url(
        &cluster,
        "tls_jobs",
        &format!("sslmode=verify-full&sslrootcert={}", pki.wrong_ca.display()),
    );
    let started = Instant::now();
    let err = refused(&wrong, "a wrong CA was trusted").await;
    assert!(started.elapsed() < Duration::from_secs(20), "{err}");
    assert!(err.contains("TLS") && err.contains("certificate"), "{err}");
    assert!(err.contains("sslrootcert="), "the fix is named: {err}");
    assert!(
        !err.contains("s3cret-pw"),
        "the password was printed: {err}"
    );

    // A password from PGPASSWORD (the only test in this binary, so setting it is safe)
    // is not printed either.
    std::env::set_var("PGPASSWORD", "pg-env-s3cret");
    let wrong = cluster.url(
        "tls_jobs",
        &format!("sslmode=verify-full&sslrootcert={}", pki.wrong_ca.display()),
    );
    let err = refused(&wrong, "a wrong CA was trusted").await;
    assert!(
        !err.contains("pg-env-s3cret"),
        "PGPASSWORD was printed: {err}"
    );
    std::env::remove_var("PGPASSWORD");

    // No TLS: the server's pg_hba.conf takes TCP over TLS only.
    let plain = url(&cluster, "tls_jobs", "sslmode=disable");
    let err = refused(&plain, "a plain connection was taken").await;
    assert!(
        err.contains("pg_hba.conf") || err.contains("no encryption"),
        "{err}"
    );
    assert!(
        !err.contains("s3cret-pw"),
        "the password was printed: {err}"
    );
}
