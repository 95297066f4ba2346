//! Recurring jobs: schedules declared in code or a TOML file, enqueued exactly once per tick
//! however many processes run a scheduler.
//!
//! 1. `definition.rs`: a [`Schedule`] (timing, zone, job, arguments, overrides, [`CatchUp`]).
//! 2. `timing.rs`: [`Timing`], fixed intervals and cron times, and how daylight-saving
//!    changes map wall-clock times to instants.
//! 3. `file.rs`: [`ScheduleFile`] and [`check_file`], the TOML schedule file and its check.
//! 4. [`ScheduleStore`], the backend seam (shared state and the atomic claim), lives in
//!    `backend/schedule.rs` beside the other storage traits and is re-exported here.
//! 5. `scheduler.rs`: [`Scheduler`], the service that runs passes.
//!
//! ## Daylight-saving time
//!
//! Cron and calendar schedules (`daily_at`, `monthly_on`, ...) follow wall-clock time in
//! their zone. A daily job at 02:30 in `Europe/Berlin` runs **once** on the day the clock
//! jumps from 02:00 to 03:00 (at 03:00 CEST, the first instant after the gap) and **once**
//! on the day it repeats 02:00-03:00 (at the first 02:30, CEST; not again at 02:30 CET).
//! Intervals (`every`) count real time and ignore zones.
//!
//! ## Exactly once
//!
//! A tick is claimed by `(schedule name, tick time)` in one atomic backend operation that
//! also pushes the job, so any number of schedulers may run; the one that claims a tick
//! enqueues it, the others see the claim taken.

mod definition;
mod error;
mod file;
mod scheduler;
mod timing;

pub use crate::backend::{
    AdvanceParams, ClaimParams, DeclareParams, EnableParams, RunNowParams, ScheduleGetParams,
    ScheduleRecord, ScheduleRemoveParams, ScheduleStore,
};
pub use definition::{CatchUp, Schedule};
pub use error::ScheduleError;
pub use file::{check_file, parse_duration, CheckReport, ScheduleFile};
pub use scheduler::{
    PassReport, ScheduleStatus, Scheduler, SchedulerBuilder, SchedulerEvent, SchedulerHandle,
};
pub use timing::{CronTiming, Timing};
