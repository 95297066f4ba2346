//! The model test's scheduler tick: two scheduler processes ([`jobs::schedule::Scheduler`],
//! each with the model's clock) pass over one recurring schedule at once.
//!
//! 1. The schedule fires every [`PERIOD`] seconds (multiples of it since the epoch), with
//!    the default catch-up policy (`CatchUp::Once`) and grace (60 s), enqueuing a
//!    `ModelTick` job on the model's first queue.
//! 2. [`Ticker::tick`] runs both schedulers' passes concurrently at the model's time and
//!    returns every tick either of them claimed, with its job; the model says which ticks
//!    are due ([`crate::model::Model::tick`]).
//! 3. A ticker holds the backend; after a restart a new one is made, as new scheduler
//!    processes would be: they declare the schedule again, which must keep its next run.

use std::sync::Arc;
use std::time::Duration;

use jobs::backend::{BackendError, ScheduleGetParams};
use jobs::clock::ManualClock;
use jobs::schedule::{Schedule, ScheduleRecord, Scheduler};

use super::QUEUES;
use crate::support::{at, t0, Subject};

/// The schedule's name.
pub const SCHEDULE: &str = "model_tick";
/// Its period, in seconds.
pub const PERIOD: i64 = 60;

/// The job each tick enqueues. Never performed.
#[jobs::job(name = "ModelTick", queue = "model_a")]
async fn model_tick() -> Result<(), std::io::Error> {
    Ok(())
}

/// Two schedulers on the backend under test, reading the model's time.
pub struct Ticker {
    clock: Arc<ManualClock>,
    schedulers: [Scheduler; 2],
}

impl Ticker {
    /// Schedulers on `b`; `None` when the backend keeps no schedule state.
    pub fn new(b: &Subject) -> Result<Option<Ticker>, BackendError> {
        if b.schedules().is_none() {
            return Ok(None);
        }
        let clock = Arc::new(ManualClock::new(t0()));
        let one = || {
            let registry = jobs::Registry::new()
                .with::<ModelTick>()
                .map_err(|e| BackendError::msg(e.to_string()))?;
            let schedule = Schedule::new(SCHEDULE)
                .every(Duration::from_secs(PERIOD as u64))
                .job("ModelTick", vec![])
                .queue(QUEUES[0]);
            Scheduler::builder(b.clone())
                .registry(registry)
                .clock(clock.clone())
                .schedule(schedule)
                .build()
                .map_err(|e| BackendError::msg(e.to_string()))
        };
        Ok(Some(Ticker {
            schedulers: [one()?, one()?],
            clock: clock.clone(),
        }))
    }

    /// Both schedulers pass at `now`, concurrently; every tick claimed (second), with its
    /// job's id, in tick order.
    pub async fn tick(&self, now: i64) -> Result<Vec<(i64, String)>, BackendError> {
        self.clock.set(at(now));
        let [a, b] = &self.schedulers;
        let (a, b) = futures::join!(a.tick(), b.tick());
        let mut claimed: Vec<(i64, String)> = a?
            .enqueued
            .into_iter()
            .chain(b?.enqueued)
            .map(|(_, tick, jid)| ((tick - t0()).num_seconds(), jid))
            .collect();
        claimed.sort();
        Ok(claimed)
    }
}

/// The schedule's record as the backend keeps it, if it has a schedule store.
pub async fn record(b: &Subject) -> Result<Option<ScheduleRecord>, BackendError> {
    match b.schedules() {
        Some(store) => store.schedule_get(ScheduleGetParams::new(SCHEDULE)).await,
        None => Ok(None),
    }
}
