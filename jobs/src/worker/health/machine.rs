//! The health state machine: how the worker's reports (heartbeats and reserves answered or
//! failed, a drain, the end of the run) become a [`HealthState`]. Pure, so every transition
//! is unit-tested here.
//!
//! The heartbeat and the reserve loop each keep their own last outcome, so neither hides the
//! other's trouble: a store whose heartbeats hang while reserves still answer, or whose
//! reserves fail while heartbeats answer, stays unreachable instead of flapping. Ready needs
//! one answered heartbeat since the start and no source failing; draining and stopped win
//! over everything the store does.

use chrono::{DateTime, Utc};

use super::HealthState;

/// The longest error text a probe repeats, so a driver's long message cannot make the body
/// large.
pub(crate) const MAX_ERROR_CHARS: usize = 300;

/// Which of the worker's loops reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Source {
    /// The heartbeat (registers the process, extends its leases).
    Heartbeat,
    /// The fetch loop's reserve.
    Reserve,
}

/// What happened to the worker.
#[derive(Debug, Clone)]
pub(crate) enum Event {
    /// The store answered `Source`'s call.
    Answered(Source),
    /// `source`'s call failed (or went unanswered too long) at `at`.
    Failed {
        source: Source,
        at: DateTime<Utc>,
        error: String,
    },
    /// A quiet or stop was requested.
    Draining,
    /// The worker's run ended.
    Stopped,
}

/// One source's failures in a row.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Failing {
    /// The first of them.
    since: DateTime<Utc>,
    /// The last of them, and what it said.
    at: DateTime<Utc>,
    error: String,
}

/// Everything the state is derived from.
#[derive(Debug, Default)]
pub(crate) struct Sources {
    beaten: bool,
    heartbeat: Option<Failing>,
    reserve: Option<Failing>,
    draining: bool,
    stopped: bool,
}

impl Sources {
    /// Takes `event` in.
    pub(crate) fn apply(&mut self, event: Event) {
        match event {
            Event::Answered(Source::Heartbeat) => {
                self.beaten = true;
                self.heartbeat = None;
            }
            Event::Answered(Source::Reserve) => self.reserve = None,
            Event::Failed { source, at, error } => {
                let slot = match source {
                    Source::Heartbeat => &mut self.heartbeat,
                    Source::Reserve => &mut self.reserve,
                };
                let since = slot.as_ref().map_or(at, |f| f.since);
                *slot = Some(Failing {
                    since,
                    at,
                    error: truncate(error),
                });
            }
            Event::Draining => self.draining = true,
            Event::Stopped => self.stopped = true,
        }
    }

    /// The state now; `store` names the backend in [`HealthState::Unreachable`].
    pub(crate) fn state(&self, store: &'static str) -> HealthState {
        if self.stopped {
            return HealthState::Stopped;
        }
        if self.draining {
            return HealthState::Draining;
        }
        let failing = [&self.heartbeat, &self.reserve];
        let since = failing
            .iter()
            .filter_map(|f| f.as_ref())
            .map(|f| f.since)
            .min();
        // The latest failure says what is wrong now (the heartbeat's on a tie).
        let latest =
            failing
                .iter()
                .filter_map(|f| f.as_ref())
                .reduce(|a, b| if b.at > a.at { b } else { a });
        match (since, latest) {
            (Some(since), Some(latest)) => HealthState::Unreachable {
                store,
                since,
                error: latest.error.clone(),
            },
            _ if !self.beaten => HealthState::Starting,
            _ => HealthState::Ready,
        }
    }
}

/// `error` cut to [`MAX_ERROR_CHARS`] and to one line.
fn truncate(mut error: String) -> String {
    if let Some((cut, _)) = error.char_indices().nth(MAX_ERROR_CHARS) {
        error.truncate(cut);
        error.push('…');
    }
    // One line: a probe body, and a log line of whoever reads it.
    error.replace(['\r', '\n'], " ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use HealthState as S;
    use Source::{Heartbeat, Reserve};

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(secs, 0).unwrap_or_default()
    }

    fn failed(source: Source, secs: i64, error: &str) -> Event {
        Event::Failed {
            source,
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

    /// The states after each of `events`, from a new worker.
    fn states(events: impl IntoIterator<Item = Event>) -> Vec<HealthState> {
        let mut sources = Sources::default();
        events
            .into_iter()
            .map(|e| {
                sources.apply(e);
                sources.state("redis")
            })
            .collect()
    }

    #[test]
    fn a_new_worker_is_starting_and_ready_on_its_first_answered_heartbeat_only() {
        assert_eq!(Sources::default().state("redis"), S::Starting);
        assert_eq!(
            states([
                Event::Answered(Reserve),
                Event::Answered(Heartbeat),
                Event::Answered(Reserve)
            ]),
            [S::Starting, S::Ready, S::Ready]
        );
    }

    #[test]
    fn a_failure_makes_it_unreachable_since_the_first_failure_with_the_last_error() {
        assert_eq!(
            states([
                Event::Answered(Heartbeat),
                failed(Heartbeat, 5, "refused"),
                failed(Heartbeat, 6, "refused"),
                failed(Reserve, 7, "timed out"),
            ]),
            [
                S::Ready,
                unreachable(5, "refused"),
                unreachable(5, "refused"),
                unreachable(5, "timed out"),
            ]
        );
        assert_eq!(
            states([failed(Reserve, 1, "refused")]),
            [unreachable(1, "refused")],
            "before the first heartbeat too"
        );
    }

    #[test]
    fn it_is_ready_again_only_once_every_failing_source_answered() {
        assert_eq!(
            states([
                Event::Answered(Heartbeat),
                failed(Heartbeat, 1, "refused"),
                failed(Reserve, 2, "refused"),
                Event::Answered(Heartbeat),
                Event::Answered(Reserve),
            ]),
            [
                S::Ready,
                unreachable(1, "refused"),
                unreachable(1, "refused"),
                unreachable(2, "refused"),
                S::Ready,
            ]
        );
    }

    #[test]
    fn a_hanging_heartbeat_is_not_hidden_by_answered_reserves() {
        assert_eq!(
            states([
                Event::Answered(Heartbeat),
                failed(Heartbeat, 3, "no answer"),
                Event::Answered(Reserve),
                Event::Answered(Reserve),
                Event::Answered(Heartbeat),
            ]),
            [
                S::Ready,
                unreachable(3, "no answer"),
                unreachable(3, "no answer"),
                unreachable(3, "no answer"),
                S::Ready,
            ]
        );
    }

    #[test]
    fn failing_reserves_are_not_hidden_by_answered_heartbeats() {
        assert_eq!(
            states([
                Event::Answered(Heartbeat),
                failed(Reserve, 3, "script error"),
                Event::Answered(Heartbeat),
                Event::Answered(Reserve),
            ]),
            [
                S::Ready,
                unreachable(3, "script error"),
                unreachable(3, "script error"),
                S::Ready,
            ]
        );
    }

    #[test]
    fn before_the_first_heartbeat_a_recovered_store_is_starting_again() {
        assert_eq!(
            states([failed(Heartbeat, 1, "refused"), Event::Answered(Reserve)]),
            [unreachable(1, "refused"), unreachable(1, "refused")]
        );
        assert_eq!(
            states([failed(Reserve, 1, "refused"), Event::Answered(Reserve)]),
            [unreachable(1, "refused"), S::Starting]
        );
    }

    #[test]
    fn draining_wins_over_the_store_and_only_stopped_follows() {
        for before in [
            vec![],
            vec![Event::Answered(Heartbeat)],
            vec![failed(Reserve, 1, "x")],
        ] {
            let mut events = before;
            events.extend([
                Event::Draining,
                Event::Answered(Heartbeat),
                failed(Heartbeat, 2, "x"),
                Event::Answered(Reserve),
                Event::Draining,
            ]);
            let seen = states(events);
            assert!(
                seen.iter()
                    .skip_while(|s| **s != S::Draining)
                    .all(|s| *s == S::Draining),
                "{seen:?}"
            );
        }
        assert_eq!(
            states([Event::Draining, Event::Stopped]),
            [S::Draining, S::Stopped]
        );
    }

    #[test]
    fn stopped_is_final() {
        assert_eq!(
            states([
                Event::Answered(Heartbeat),
                Event::Stopped,
                Event::Answered(Heartbeat),
                failed(Reserve, 2, "x"),
                Event::Draining,
                Event::Stopped,
            ]),
            [
                S::Ready,
                S::Stopped,
                S::Stopped,
                S::Stopped,
                S::Stopped,
                S::Stopped
            ]
        );
    }

    #[test]
    fn a_long_or_multiline_error_is_cut_to_one_short_line() {
        let long = "e".repeat(1000) + "\nsecond line";
        let Some(S::Unreachable { error, .. }) = states([failed(Reserve, 1, &long)]).pop() else {
            panic!("not unreachable");
        };
        assert_eq!(error.chars().count(), MAX_ERROR_CHARS + 1);
        assert!(!error.contains('\n'));
        let Some(S::Unreachable { error, .. }) = states([failed(Reserve, 1, "a\r\nb")]).pop()
        else {
            panic!("not unreachable");
        };
        assert_eq!(error, "a  b");
    }
}
