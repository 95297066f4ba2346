//! The Redis backend over TLS (`rediss://`), against a `redis-server` of the test's own that
//! has no plain port at all (`--port 0 --tls-port P`), with certificates made at run time:
//! jobs flow through every kind of connection the backend opens (single pushes, batches,
//! blocking reserves, the shared connection), a wrong CA and a missing client certificate
//! are refused naming TLS, a plain `redis://` to the TLS port fails within its timeout, and
//! ACL credentials work without ever being printed.

mod tls_support;

use std::time::{Duration, Instant};

use jobs::backend::*;
use jobs::envelope::JobEnvelope;
use jobs_backends::redis::{RedisBackend, RedisOptions};
use jobs_conformance::faults::servers::PrivateRedis;
use tls_support::{Pki, TempDir};

fn job(n: u32) -> JobEnvelope {
    JobEnvelope::new("Echo", "q", vec![serde_json::json!(n)])
}

fn now() -> chrono::DateTime<chrono::Utc> {
    chrono::Utc::now()
}

fn reserve(wait: Duration) -> ReserveParams {
    let mut p = ReserveParams::new(vec!["q".into()], "tls-worker", now());
    p.wait = wait;
    p
}

/// The TLS parameters of a URL trusting `pki`'s CA (`with_client`: and presenting its
/// client certificate).
fn tls_query(pki: &Pki, with_client: bool) -> String {
    let mut q = format!("ca={}", pki.ca.display());
    if with_client {
        q.push_str(&format!(
            "&cert={}&key={}",
            pki.client_cert.display(),
            pki.client_key.display()
        ));
    }
    q
}

/// Pushes one job alone, three in a batch, reserves them (the first through a blocking
/// reserve that a push wakes), finishes them all, and checks the counters.
async fn flow(backend: &dyn AdminBackend) {
    // A blocking reserve, waiting before anything is pushed.
    let waiting = {
        let started = Instant::now();
        let reserve_soon = backend.job_reserve(reserve(Duration::from_secs(10)));
        let push_later = async {
            tokio::time::sleep(Duration::from_millis(200)).await;
            // A single-job push: on a plain URL it would take a pooled push connection.
            backend
                .job_push(PushParams::new(vec![job(0)], now()))
                .await
                .expect("single push over TLS")
        };
        let (got, _) = tokio::join!(reserve_soon, push_later);
        let got = got.expect("blocking reserve over TLS");
        assert!(started.elapsed() < Duration::from_secs(8), "not woken");
        got
    };
    assert_eq!(waiting.len(), 1);
    backend
        .job_push(PushParams::new(vec![job(1), job(2), job(3)], now()))
        .await
        .expect("batch push over TLS");
    let mut reserved = waiting;
    let mut p = reserve(Duration::from_secs(2));
    p.limit = 3;
    reserved.extend(backend.job_reserve(p).await.expect("reserve over TLS"));
    assert_eq!(reserved.len(), 4);
    let finishes = reserved
        .iter()
        .map(|r| {
            Finish::new(
                r.token.clone(),
                r.job.clone(),
                FinishOutcome::Completed,
                false,
            )
        })
        .collect();
    let report = backend
        .job_finish(FinishParams::new(finishes, now()).dead_limits(DeadLimits::default()))
        .await
        .expect("finish over TLS");
    assert!(report.lost.is_empty(), "{report:?}");
    let stats = backend.stats().await.expect("stats over TLS");
    assert_eq!(stats.processed, 4, "{stats:?}");
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
    tokio::time::timeout(Duration::from_secs(20), jobs_backends::connect(url))
        .await
        .map_err(|_| format!("connecting to {url} hung for 20 s"))?
        .map_err(|e| e.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_flow_over_tls_on_every_connection_the_backend_opens() {
    let tmp = TempDir::new("redis-tls-flow");
    let pki = tls_support::make(&tmp.0.join("pki"));
    let Some(server) = PrivateRedis::start_tls(&tmp.0, &pki.server, false, &[]).await else {
        return;
    };
    // From a URL, as an app gives it.
    let url = format!(
        "{}/0?prefix=tls-url&{}",
        server.url(),
        tls_query(&pki, false)
    );
    let backend = connect(&url).await.expect("TLS connect with the CA");
    flow(&*backend).await;
    // From options built in code, presenting a client certificate the server may check.
    let opts = RedisOptions::new(server.url())
        .with_prefix("tls-code")
        .with_tls_ca(&pki.ca)
        .with_tls_client_cert(&pki.client_cert, &pki.client_key);
    let backend = RedisBackend::connect(opts)
        .await
        .expect("TLS connect with options");
    flow(&backend).await;
    // Many single pushes at once: none may go out in plain text (the server has no plain
    // port, so one that did would fail).
    let pushes = (0..20).map(|n| backend.job_push(PushParams::new(vec![job(n)], now())));
    for pushed in futures::future::join_all(pushes).await {
        pushed.expect("concurrent single pushes over TLS");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_ca_or_no_ca_is_refused_naming_tls_and_the_certificate() {
    let tmp = TempDir::new("redis-tls-wrong-ca");
    let pki = tls_support::make(&tmp.0.join("pki"));
    let Some(server) = PrivateRedis::start_tls(&tmp.0, &pki.server, false, &[]).await else {
        return;
    };
    let authority = server
        .url()
        .replace("rediss://", "rediss://worker:s3cret-pw@");
    let wrong = format!("{authority}/0?ca={}", pki.wrong_ca.display());
    let started = Instant::now();
    let err = refused(&wrong, "a wrong CA was trusted").await;
    assert!(started.elapsed() < Duration::from_secs(15), "{err}");
    assert!(err.contains("TLS") && err.contains("certificate"), "{err}");
    assert!(err.contains("?ca="), "the fix is named: {err}");
    assert!(
        !err.contains("s3cret-pw"),
        "the password was printed: {err}"
    );
    // No CA: the public roots do not know the test's CA.
    let err = refused(
        &format!("{authority}/0"),
        "a private CA was trusted without `ca`",
    )
    .await;
    assert!(err.contains("TLS") && err.contains("certificate"), "{err}");
    assert!(
        !err.contains("s3cret-pw"),
        "the password was printed: {err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_requires_client_certificates_refuses_none_and_takes_one() {
    let tmp = TempDir::new("redis-tls-client-cert");
    let pki = tls_support::make(&tmp.0.join("pki"));
    let Some(server) = PrivateRedis::start_tls(&tmp.0, &pki.server, true, &[]).await else {
        return;
    };
    let without = format!("{}/0?{}", server.url(), tls_query(&pki, false));
    let started = Instant::now();
    let err = refused(&without, "no client certificate was accepted").await;
    assert!(started.elapsed() < Duration::from_secs(15), "{err}");
    assert!(err.contains("TLS") || err.contains("certificate"), "{err}");
    let with = format!("{}/0?prefix=mtls&{}", server.url(), tls_query(&pki, true));
    let backend = connect(&with).await.expect("client certificate accepted");
    flow(&*backend).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_redis_to_a_tls_port_fails_within_its_timeouts() {
    let tmp = TempDir::new("redis-tls-plain");
    let pki = tls_support::make(&tmp.0.join("pki"));
    let Some(server) = PrivateRedis::start_tls(&tmp.0, &pki.server, false, &[]).await else {
        return;
    };
    let plain = server.url().replace("rediss://", "redis://");
    let mut opts = RedisOptions::new(plain);
    opts.connect_timeout = Duration::from_secs(1);
    opts.response_timeout = Duration::from_secs(2);
    let started = Instant::now();
    let result = tokio::time::timeout(Duration::from_secs(20), RedisBackend::connect(opts))
        .await
        .expect("a plain connection to a TLS port hung");
    let Err(err) = result else {
        panic!("a plain connection to a TLS port worked")
    };
    eprintln!("refused, as it should be: {err}");
    assert!(started.elapsed() < Duration::from_secs(10), "{err}");
    assert!(err.is_transient(), "{err}");
    assert!(err.to_string().contains("write rediss://"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acl_credentials_work_over_tls_and_are_never_printed() {
    let tmp = TempDir::new("redis-tls-acl");
    let pki = tls_support::make(&tmp.0.join("pki"));
    let user = ["--user", "worker", "on", ">s3cret-pw", "~*", "&*", "+@all"];
    let Some(server) = PrivateRedis::start_tls(&tmp.0, &pki.server, false, &user).await else {
        return;
    };
    let authority = |password: &str| {
        server
            .url()
            .replace("rediss://", &format!("rediss://worker:{password}@"))
    };
    let url = format!(
        "{}/0?prefix=acl&{}",
        authority("s3cret-pw"),
        tls_query(&pki, false)
    );
    let backend = connect(&url).await.expect("ACL user over TLS");
    flow(&*backend).await;
    let opts = RedisOptions::from_url(&url).expect("options");
    let printed = format!("{opts:?} {:?}", RedisBackend::lazy(opts.clone()));
    assert!(!printed.contains("s3cret-pw"), "{printed}");
    let wrong = format!("{}/0?{}", authority("not-the-pw"), tls_query(&pki, false));
    let err = refused(&wrong, "a wrong password was accepted").await;
    assert!(
        !err.contains("not-the-pw"),
        "the password was printed: {err}"
    );
    assert!(
        err.to_lowercase().contains("auth") || err.contains("WRONGPASS"),
        "{err}"
    );
}
