//! The worker's health as a cheap, clonable handle: a state machine (starting, ready, store
//! unreachable, draining, stopped) that the heartbeat, the fetch loop and the shutdown update,
//! and the `/livez` and `/readyz` answers derived from it.
//!
//! The `jobs` core keeps no HTTP server: [`Health`] is a `tokio::sync::watch` channel and
//! [`Health::livez`] / [`Health::readyz`] return a status code and a short plain-text reason
//! that any web framework can send. With the `health-http` cargo feature, [`Health::serve`]
//! (in `http.rs`) serves both paths with axum, and
//! [`WorkerBuilder::health_addr`](crate::WorkerBuilder::health_addr) turns that on for a
//! worker; the feature is off by default so a worker embedded in an existing web process
//! compiles no second server and can answer the probes from its own router instead.
//!
//! The transitions are in `machine.rs`: the first answered heartbeat makes a starting worker
//! ready; a failed heartbeat or reserve, or a heartbeat unanswered for two intervals (a store
//! that hangs rather than fails), makes it unreachable until that same call is answered
//! again; a quiet or stop request makes it draining, whatever the store does meanwhile; the
//! end of [`Worker::run`](crate::Worker::run) makes it stopped.

#[cfg(feature = "health-http")]
pub(crate) mod http;
mod machine;

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::watch;

use machine::Sources;
pub(crate) use machine::{Event, Source};

/// Where a worker is in its life, as its probes report it.
///
/// ```
/// use jobs::worker::HealthState;
/// assert!(HealthState::Ready.is_ready());
/// assert!(!HealthState::Draining.is_ready());
/// assert_eq!(HealthState::Starting.to_string(), "starting: no heartbeat answered yet");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum HealthState {
    /// Built or running, but the store has not answered a heartbeat yet.
    Starting,
    /// Connected to the store and heartbeating; reserving jobs.
    Ready,
    /// The last heartbeat or reserve failed, or a heartbeat has gone unanswered for two
    /// heartbeat intervals (at least a second).
    Unreachable {
        /// The backend's name (`redis`, `postgres`, ...).
        store: &'static str,
        /// When the first of the failures in a row happened (the worker's clock).
        since: DateTime<Utc>,
        /// What the last failure said.
        error: String,
    },
    /// Quieted or stopping: reserving no more jobs, letting the running ones finish.
    Draining,
    /// [`Worker::run`](crate::Worker::run) returned (or was dropped).
    Stopped,
}

impl HealthState {
    /// Whether `/readyz` answers 200.
    pub fn is_ready(&self) -> bool {
        matches!(self, HealthState::Ready)
    }
}

impl std::fmt::Display for HealthState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HealthState::Starting => f.write_str("starting: no heartbeat answered yet"),
            HealthState::Ready => f.write_str("ready"),
            HealthState::Unreachable {
                store,
                since,
                error,
            } => write!(
                f,
                "{store} store unreachable since {}: {error}",
                since.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            ),
            HealthState::Draining => f.write_str("draining: shutting down, finishing running jobs"),
            HealthState::Stopped => f.write_str("stopped"),
        }
    }
}

/// What a probe answers: an HTTP status code and a one-line plain-text body.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let backend = jobs::connect("memory://").await.unwrap();
/// let worker = jobs::Worker::builder(backend).build().unwrap();
/// let probe = worker.health().readyz();
/// assert_eq!(probe.status, 503);
/// assert!(probe.body.starts_with("starting"));
/// # });
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Probe {
    /// 200 when the check passes, 503 when it does not.
    pub status: u16,
    /// Why, in one line ending with a newline.
    pub body: String,
}

/// A worker's health: cheap to clone, readable from any task, updated by the worker.
///
/// Get it with [`Worker::health`](crate::Worker::health) before running the worker, then
/// read it ([`state`](Health::state), [`readyz`](Health::readyz)) or wait on it
/// ([`wait_for`](Health::wait_for)). To answer the probes from a web app the worker runs
/// in, send [`livez`](Health::livez) and [`readyz`](Health::readyz) from two routes; for a
/// worker process, the `health-http` feature serves them (`WorkerBuilder::health_addr`,
/// `Health::serve`).
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use jobs::worker::HealthState;
/// let backend = jobs::connect("memory://").await.unwrap();
/// let worker = jobs::Worker::builder(backend).handle_signals(false).build().unwrap();
/// let health = worker.health();
/// let handle = worker.handle();
/// assert_eq!(health.state(), HealthState::Starting);
/// let running = tokio::spawn(worker.run());
/// health.wait_for(HealthState::is_ready).await;
/// assert_eq!(health.readyz().status, 200);
/// handle.stop();
/// running.await.unwrap().unwrap();
/// assert_eq!(health.state(), HealthState::Stopped);
/// # });
/// ```
#[derive(Debug, Clone)]
pub struct Health {
    tx: Arc<watch::Sender<HealthState>>,
    /// What the state is derived from; locked while a change is published, so changes are
    /// published in the order they happened.
    sources: Arc<Mutex<Sources>>,
    store: &'static str,
}

impl Health {
    /// A starting worker's health, on the backend named `store`.
    pub(crate) fn new(store: &'static str) -> Self {
        Health {
            tx: Arc::new(watch::Sender::new(HealthState::Starting)),
            sources: Arc::default(),
            store,
        }
    }

    /// The state now.
    pub fn state(&self) -> HealthState {
        self.tx.borrow().clone()
    }

    /// A receiver that sees every change from now on (a `tokio::sync::watch` channel).
    pub fn subscribe(&self) -> watch::Receiver<HealthState> {
        self.tx.subscribe()
    }

    /// Waits until the state satisfies `f` (at once if it does now) and returns it.
    pub async fn wait_for(&self, mut f: impl FnMut(&HealthState) -> bool) -> HealthState {
        let mut rx = self.tx.subscribe();
        // The sender lives as long as `self`, so the channel cannot close while waiting.
        let seen = rx.wait_for(|s| f(s)).await.map(|state| state.clone());
        seen.unwrap_or_else(|_| self.state())
    }

    /// The liveness probe: 200 while the process and its runtime answer at all, in every
    /// state (a draining worker must not be restarted before its jobs end).
    pub fn livez(&self) -> Probe {
        Probe {
            status: 200,
            body: "ok\n".to_owned(),
        }
    }

    /// The readiness probe: 200 when ready, 503 with the reason otherwise.
    pub fn readyz(&self) -> Probe {
        let state = self.tx.borrow();
        Probe {
            status: if state.is_ready() { 200 } else { 503 },
            body: format!("{}\n", *state),
        }
    }

    /// Awaits the heartbeat `call` to its end, and reports the store unreachable meanwhile
    /// if it has not answered within `within` (a store that hangs instead of failing); `call`
    /// is never cut short. `now` reads the worker's clock.
    pub(crate) async fn report_if_slow<T>(
        &self,
        call: impl Future<Output = T>,
        within: Duration,
        now: impl FnOnce() -> DateTime<Utc>,
    ) -> T {
        let mut call = std::pin::pin!(call);
        tokio::select! {
            answer = &mut call => return answer,
            () = tokio::time::sleep(within) => {}
        }
        self.record(Event::Failed {
            source: Source::Heartbeat,
            at: now(),
            error: format!(
                "no answer to a heartbeat within {}",
                crate::worker::processor::humanize(within)
            ),
        });
        call.await
    }

    /// Takes `event` in and publishes the state it leads to, if that changed.
    pub(crate) fn record(&self, event: Event) {
        let mut sources = self.sources.lock().unwrap_or_else(|e| e.into_inner());
        sources.apply(event);
        let new = sources.state(self.store);
        self.tx.send_if_modified(|state| {
            if *state == new {
                return false;
            }
            // A new error text while unreachable is no news for the log.
            if std::mem::discriminant(&new) != std::mem::discriminant(state) {
                tracing::info!(from = %state, to = %new, "worker health changed");
            }
            *state = new;
            true
        });
    }
}

/// Marks the health stopped when dropped: at the end of a run, or when the run is dropped.
pub(crate) struct StopOnDrop(pub(crate) Health);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.record(Event::Stopped);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use HealthState as S;

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(secs, 0).unwrap_or_default()
    }

    fn failed(secs: i64, error: &str) -> Event {
        Event::Failed {
            source: Source::Reserve,
            at: at(secs),
            error: error.to_owned(),
        }
    }

    fn unreachable(secs: i64, error: &str) -> HealthState {
        S::Unreachable {
            store: "redis",
            since: at(secs),
            error: error.to_owned(),
        }
    }

    #[test]
    fn probes_answer_from_the_state() {
        let health = Health::new("redis");
        assert_eq!(health.livez().status, 200);
        assert_eq!(health.readyz().status, 503);
        health.record(Event::Answered(Source::Heartbeat));
        assert_eq!(
            health.readyz(),
            Probe {
                status: 200,
                body: "ready\n".into()
            }
        );
        health.record(failed(0, "connection refused"));
        let probe = health.readyz();
        assert_eq!(probe.status, 503);
        assert_eq!(
            probe.body,
            "redis store unreachable since 1970-01-01T00:00:00Z: connection refused\n"
        );
        health.record(Event::Draining);
        assert_eq!(health.readyz().status, 503);
        assert!(health.readyz().body.starts_with("draining"));
        assert_eq!(health.livez().status, 200, "alive while draining");
        drop(StopOnDrop(health.clone()));
        assert_eq!(health.state(), S::Stopped);
        assert_eq!(health.livez().status, 200);
    }

    #[tokio::test(start_paused = true)]
    async fn a_call_slower_than_its_limit_reports_unreachable_and_still_ends() {
        let health = Health::new("redis");
        health.record(Event::Answered(Source::Heartbeat));
        let fast = health
            .report_if_slow(async { 1 }, Duration::from_secs(1), || at(0))
            .await;
        assert_eq!((fast, health.state()), (1, S::Ready));
        let slow = async {
            tokio::time::sleep(Duration::from_secs(5)).await;
            2
        };
        let watcher = health.clone();
        let seen = tokio::spawn(async move {
            watcher
                .wait_for(|s| matches!(s, S::Unreachable { .. }))
                .await
        });
        let answer = health
            .report_if_slow(slow, Duration::from_secs(1), || at(9))
            .await;
        assert_eq!(answer, 2, "the call is awaited to its end");
        let seen = seen.await.ok();
        assert_eq!(
            seen,
            Some(unreachable(9, "no answer to a heartbeat within 1s")),
            "reported while it waited"
        );
    }

    #[tokio::test]
    async fn wait_for_sees_a_change_made_after_it_started_waiting() {
        let health = Health::new("memory");
        let waiter = tokio::spawn({
            let health = health.clone();
            async move { health.wait_for(|s| *s == S::Draining).await }
        });
        health.record(Event::Answered(Source::Heartbeat));
        health.record(Event::Draining);
        let seen = tokio::time::timeout(std::time::Duration::from_secs(10), waiter).await;
        assert!(matches!(seen, Ok(Ok(S::Draining))), "{seen:?}");
    }
}
