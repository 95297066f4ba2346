//! Model-based property tests: random sequences of backend operations, checked after every
//! step against a reference model kept in memory.
//!
//! 1. [`Op`] is one step: push (now or later), reserve, finish with each outcome, requeue, a
//!    crash of every process (their leases expire and are rescued), promotion after time
//!    passes, a heartbeat, a finish on a lease that was already rescued, a scheduler tick
//!    (two schedulers pass over a recurring schedule; `tick.rs`), and a restart of the
//!    backend.
//! 2. [`Model`] (`state.rs`) is what must hold: where each job is, queue order, who holds
//!    which lease, how often each job was rescued, which ticks of the schedule ran.
//! 3. [`run`] (`run.rs`) applies a sequence to a fresh backend and to the model, and after
//!    each step compares every queue (in order; where the contract leaves an order to the
//!    backend, jobs promoted together or rescued from different processes, the model checks
//!    the listing's order against the rules and then follows it), the scheduled, retry and
//!    dead sets (as sets): every pushed jid is in exactly one place or finished, nothing
//!    appears that was not pushed, no job is lost, and a stale lease never settles. After a
//!    tick or a restart it also compares the schedule's last and next run.
//! 4. A restart drops the backend object and opens a fresh one on the same store; the leases
//!    held before it must settle afterwards with their old tokens. What it restarts is the
//!    backend's [`ModelStore`] (`store.rs`; the glue in `tests/tests/model_*.rs`):
//!    - SQLite: the real thing. The connections are closed and the file opened again.
//!    - Redis: the real thing when `redis-server` is installed. The test runs on a private
//!      server (AOF, `appendfsync always`), stopped with `SHUTDOWN` or, for a hard restart,
//!      killed with SIGKILL, and started again on the same port and files. Without
//!      `redis-server` it runs on the shared server, and a restart only reconnects.
//!    - Postgres: a reconnect. The old backend's connections are killed with
//!      `pg_terminate_backend` (found by their `application_name`) before a fresh backend
//!      connects to the same schema; a real server restart per case would be too slow.
//!    - Memory: none (its state is the process), so the op is never generated
//!      ([`ModelStore::restarts`] is false for [`Fresh`] stores).
//! 5. [`model_suite!`](crate::model_suite) runs it under proptest for one backend
//!    ([`suite`]): `JOBS_MODEL_CASES` cases (default 200; a local setting runs many more).

mod run;
mod state;
mod store;
mod tick;

use proptest::prelude::*;

use crate::support::{P1, P2};
pub use run::run;
pub use state::{Model, Place};
pub use store::{cases, suite, Fresh, ModelStore};
pub use tick::Ticker;

/// The queues the model uses; reserves ask for them in this order.
pub const QUEUES: [&str; 2] = ["model_a", "model_b"];
/// Processes that reserve.
pub const PROCESSES: [&str; 2] = [P1, P2];
/// How many rescues bury a job.
pub const MAX_RESCUES: u32 = 3;

/// How a finish ends a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// Completed: removed.
    Complete,
    /// To the retry set, due after this many seconds.
    Retry(u8),
    /// To the scheduled set, due after this many seconds.
    Snooze(u8),
    /// To the dead set.
    Dead,
    /// Removed, kept nowhere.
    Discard,
}

/// One step of a sequence.
#[derive(Debug, Clone)]
pub enum Op {
    /// Push a job to a queue, or to the scheduled set when `delay` is set.
    Push { queue: u8, delay: Option<u8> },
    /// Reserve up to `limit` jobs for a process.
    Reserve { process: u8, limit: u8 },
    /// Finish one held lease (picked by index among those held).
    Finish { pick: u8, end: End },
    /// Give one held lease back to the head of its queue.
    Requeue { pick: u8 },
    /// Every process stops beating: time passes beyond every lease, and a rescue returns
    /// (or, at the last rescue, buries) every leased job.
    Crash,
    /// Time passes by `secs`, then due jobs are promoted.
    Promote { secs: u8 },
    /// A process beats, extending its leases.
    Beat { process: u8 },
    /// A finish on a lease rescued earlier: it must be refused, changing nothing.
    Stale { pick: u8 },
    /// Two schedulers pass over the recurring schedule at the model's time: each due tick
    /// is claimed once, and its job pushed.
    Tick,
    /// The backend is dropped and a fresh one opened on the same store (the store itself
    /// stopped and started again where it can be; `hard`: crashed, where that differs).
    Restart { hard: bool },
}

/// What the backend under test can do beyond the common steps.
#[derive(Debug, Clone, Copy)]
pub struct Caps {
    /// [`Op::Restart`] is generated.
    pub restart: bool,
}

fn end() -> impl Strategy<Value = End> {
    prop_oneof![
        4 => Just(End::Complete),
        1 => (1u8..30).prop_map(End::Retry),
        1 => (1u8..30).prop_map(End::Snooze),
        1 => Just(End::Dead),
        1 => Just(End::Discard),
    ]
}

/// Any step, weighted so that sequences push, reserve and finish most; restarts only with
/// `caps.restart`.
pub fn op(caps: Caps) -> impl Strategy<Value = Op> {
    let restart = if caps.restart { 1 } else { 0 };
    prop_oneof![
        10 => (0u8..2, proptest::option::weighted(0.2, 1u8..20))
            .prop_map(|(queue, delay)| Op::Push { queue, delay }),
        8 => (0u8..2, 1u8..4).prop_map(|(process, limit)| Op::Reserve { process, limit }),
        8 => (any::<u8>(), end()).prop_map(|(pick, end)| Op::Finish { pick, end }),
        2 => any::<u8>().prop_map(|pick| Op::Requeue { pick }),
        2 => Just(Op::Crash),
        4 => (1u8..40).prop_map(|secs| Op::Promote { secs }),
        2 => (0u8..2).prop_map(|process| Op::Beat { process }),
        2 => any::<u8>().prop_map(|pick| Op::Stale { pick }),
        2 => Just(Op::Tick),
        restart => any::<bool>().prop_map(|hard| Op::Restart { hard }),
    ]
}

/// A sequence of 1 to 39 steps.
pub fn ops(caps: Caps) -> impl Strategy<Value = Vec<Op>> {
    proptest::collection::vec(op(caps), 1..40)
}

/// Runs the model test for one backend.
///
/// `model_suite!(name, factory)` for a backend without a restart: `factory` is an async
/// block giving a fresh `Result<Subject, CaseError>`, evaluated once per case.
/// `model_suite!(name, store: make)` for one with a store that restarts: `make` is an async
/// block giving a `Result<impl ModelStore, CaseError>`, evaluated once per test.
#[macro_export]
macro_rules! model_suite {
    ($backend:ident, store: $make:expr $(,)?) => {
        mod $backend {
            #[allow(unused_imports)]
            use super::*;

            #[test]
            fn sequences_match_the_model() {
                $crate::model::suite(stringify!($backend), file!(), $make);
            }
        }
    };
    ($backend:ident, $factory:expr $(,)?) => {
        $crate::model_suite!(
            $backend,
            store: async { Ok::<_, $crate::CaseError>($crate::model::Fresh(|| $factory)) }
        );
    };
}

#[doc(hidden)]
pub use proptest;
