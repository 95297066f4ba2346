//! The worker's health as a cheap, clonable handle: a state machine (starting, ready, store
//! unreachable, draining, stopped) that the heartbeat, the fetch loop and the shutdown update,
//! and the `/livez` and `/readyz` answers derived from it.
//!
//! The `jobs` core keeps no HTTP server: [`Health`] is a `tokio::sync::watch` channel and
//! [`Health::livez`] / [`Health::readyz`] return a status code and a short plain-text reason
//! that any web framework can send. With the `health-http` cargo feature, [`Health::serve`]
//! (in `health_http.rs`) serves both paths with axum, and
//! [`WorkerBuilder::health_addr`](crate::WorkerBuilder::health_addr) turns that on for a
//! worker; the feature is off by default so a worker embedded in an existing web process
//! compiles no second server and can answer the probes from its own router instead.
//!
//! Transitions (see [`next`]): the first answered heartbeat makes a starting worker ready; a
//! failed heartbeat or reserve makes it unreachable (keeping the time of the first failure
//! while failures go on); the next answered heartbeat or reserve makes it ready again. A quiet
//! or stop request makes it draining, whatever the store does meanwhile; the end of
//! [`Worker::run`](crate::Worker::run) makes it stopped.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use tokio::sync::watch;

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
    /// The last heartbeat or reserve failed.
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

/// The longest error text a probe repeats, so a driver's long message cannot make the body
/// large.
const MAX_ERROR_CHARS: usize = 300;

/// What happened to the worker, for [`next`].
#[derive(Debug, Clone)]
pub(crate) enum Event {
    /// A heartbeat was answered.
    Beat,
    /// A reserve was answered.
    Reserved,
    /// A heartbeat or reserve failed at `at`.
    Failed { at: DateTime<Utc>, error: String },
    /// A quiet or stop was requested.
    Draining,
    /// The worker's run ended.
    Stopped,
}

/// The state after `event` in `state`, or `None` when it stays the same. `store` names the
/// backend in an [`HealthState::Unreachable`].
pub(crate) fn next(state: &HealthState, event: Event, store: &'static str) -> Option<HealthState> {
    use HealthState as S;
    match (state, event) {
        (S::Stopped, _) => None,
        (_, Event::Stopped) => Some(S::Stopped),
        (S::Draining, _) => None,
        (_, Event::Draining) => Some(S::Draining),
        (S::Starting | S::Unreachable { .. }, Event::Beat) => Some(S::Ready),
        // A reserve alone does not show the process is registered: a starting worker waits
        // for its first heartbeat.
        (S::Unreachable { .. }, Event::Reserved) => Some(S::Ready),
        (S::Ready | S::Starting, Event::Beat | Event::Reserved) => None,
        (S::Unreachable { since, error, .. }, Event::Failed { error: new, .. }) => {
            let new = truncate(new);
            (*error != new).then_some(S::Unreachable {
                store,
                since: *since,
                error: new,
            })
        }
        (S::Starting | S::Ready, Event::Failed { at, error }) => Some(S::Unreachable {
            store,
            since: at,
            error: truncate(error),
        }),
    }
}

fn truncate(mut error: String) -> String {
    if let Some((cut, _)) = error.char_indices().nth(MAX_ERROR_CHARS) {
        error.truncate(cut);
        error.push('…');
    }
    // One line: a probe body, and a log line of whoever reads it.
    error.replace(['\r', '\n'], " ")
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
    store: &'static str,
}

impl Health {
    /// A starting worker's health, on the backend named `store`.
    pub(crate) fn new(store: &'static str) -> Self {
        Health {
            tx: Arc::new(watch::Sender::new(HealthState::Starting)),
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

    pub(crate) fn record(&self, event: Event) {
        let store = self.store;
        self.tx
            .send_if_modified(|state| match next(state, event, store) {
                Some(new) => {
                    // A new error text while unreachable is no news for the log.
                    if std::mem::discriminant(&new) != std::mem::discriminant(state) {
                        tracing::info!(from = %state, to = %new, "worker health changed");
                    }
                    *state = new;
                    true
                }
                None => false,
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

    fn after(state: &HealthState, event: Event) -> HealthState {
        next(state, event, "redis").unwrap_or_else(|| state.clone())
    }

    #[test]
    fn starting_becomes_ready_on_the_first_beat_only() {
        assert_eq!(after(&S::Starting, Event::Reserved), S::Starting);
        assert_eq!(after(&S::Starting, Event::Beat), S::Ready);
        assert_eq!(next(&S::Ready, Event::Beat, "redis"), None, "no change");
        assert_eq!(next(&S::Ready, Event::Reserved, "redis"), None);
    }

    #[test]
    fn a_failure_makes_it_unreachable_since_the_first_failure() {
        assert_eq!(
            after(&S::Starting, failed(1, "refused")),
            unreachable(1, "refused")
        );
        let down = after(&S::Ready, failed(5, "refused"));
        assert_eq!(down, unreachable(5, "refused"));
        assert_eq!(
            next(&down, failed(6, "refused"), "redis"),
            None,
            "the same error again changes nothing"
        );
        assert_eq!(
            after(&down, failed(7, "timed out")),
            unreachable(5, "timed out"),
            "the last error, the first failure's time"
        );
    }

    #[test]
    fn an_answered_beat_or_reserve_makes_it_ready_again() {
        assert_eq!(after(&unreachable(1, "x"), Event::Beat), S::Ready);
        assert_eq!(after(&unreachable(1, "x"), Event::Reserved), S::Ready);
    }

    #[test]
    fn draining_wins_over_the_store_and_only_stopped_follows() {
        for from in [S::Starting, S::Ready, unreachable(1, "x")] {
            assert_eq!(after(&from, Event::Draining), S::Draining, "from {from:?}");
        }
        for event in [
            Event::Beat,
            Event::Reserved,
            failed(2, "x"),
            Event::Draining,
        ] {
            assert_eq!(next(&S::Draining, event, "redis"), None);
        }
        assert_eq!(after(&S::Draining, Event::Stopped), S::Stopped);
    }

    #[test]
    fn stopped_is_final() {
        for from in [S::Starting, S::Ready, unreachable(1, "x"), S::Draining] {
            assert_eq!(after(&from, Event::Stopped), S::Stopped, "from {from:?}");
        }
        for event in [
            Event::Beat,
            Event::Reserved,
            failed(2, "x"),
            Event::Draining,
            Event::Stopped,
        ] {
            assert_eq!(next(&S::Stopped, event, "redis"), None);
        }
    }

    #[test]
    fn a_long_or_multiline_error_is_cut_to_one_short_line() {
        let long = "e".repeat(1000) + "\nsecond line";
        let S::Unreachable { error, .. } = after(&S::Ready, failed(1, &long)) else {
            panic!("not unreachable");
        };
        assert_eq!(error.chars().count(), MAX_ERROR_CHARS + 1);
        assert!(!error.contains('\n'));
        let S::Unreachable { error, .. } = after(&S::Ready, failed(1, "a\r\nb")) else {
            panic!("not unreachable");
        };
        assert_eq!(error, "a  b");
    }

    #[test]
    fn probes_answer_from_the_state() {
        let health = Health::new("redis");
        assert_eq!(health.livez().status, 200);
        assert_eq!(health.readyz().status, 503);
        health.record(Event::Beat);
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

    #[tokio::test]
    async fn wait_for_sees_a_change_made_after_it_started_waiting() {
        let health = Health::new("memory");
        let waiter = tokio::spawn({
            let health = health.clone();
            async move { health.wait_for(|s| *s == S::Draining).await }
        });
        health.record(Event::Beat);
        health.record(Event::Draining);
        let seen = tokio::time::timeout(std::time::Duration::from_secs(10), waiter).await;
        assert!(matches!(seen, Ok(Ok(S::Draining))), "{seen:?}");
    }
}
