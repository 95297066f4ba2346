//! The conformance suite every `jobs` backend runs: one test per case, a few lines of glue each.
//!
//! 1. [`Factory`] builds a fresh, isolated backend for every case.
//! 2. [`conformance_suite!`] lists every case in one place and generates one `#[tokio::test]`
//!    per case, so each case shows, and fails, on its own.
//! 3. [`cases`] holds the cases, one file per area; [`support`] holds what they share.
//! 4. A case a backend cannot support is *skipped with a reason*, never silently passed: the
//!    glue declares it with [`Factory::skip`], or the backend answers
//!    [`BackendError::Unsupported`]. Each skip is written to stderr past the test harness's
//!    output capture, so it shows in every run.
//!
//! A backend joins the suite with one file in `tests/tests/`:
//!
//! ```
//! jobs_conformance::conformance_suite!(
//!     memory,
//!     jobs_conformance::Factory::new(|| async { jobs::memory::MemoryBackend::new() })
//!         // The in-memory backend is the reference: a skip fails its test.
//!         .require_all()
//! );
//! # fn main() {}
//! ```
//!
//! which gives tests named `memory::push_reserve::fifo_per_queue` and so on. A backend that
//! needs a server returns its errors (or a [`CaseError::Skip`] when no server is configured)
//! through [`Factory::fallible`], and names the cases it cannot support:
//!
//! ```no_run
//! use std::sync::Arc;
//! use jobs::backend::AdminBackend;
//! use jobs_conformance::{CaseError, Factory};
//!
//! jobs_conformance::conformance_suite!(
//!     example,
//!     Factory::fallible(|| async {
//!         let url = std::env::var("EXAMPLE_URL")
//!             .map_err(|_| CaseError::Skip("EXAMPLE_URL is not set".into()))?;
//!         # let _ = url;
//!         // Connect to a fresh database, schema or key prefix here.
//!         Ok(Arc::new(jobs::memory::MemoryBackend::new()) as Arc<dyn AdminBackend>)
//!     })
//!     .skip("push_reserve::reserve_wakes_on_push", "this backend only polls")
//! );
//! # fn main() {}
//! ```

pub mod cases;
pub mod faults;
#[cfg(test)]
mod metrics_skip_tests;
pub mod model;
pub mod otel;
pub mod poison;
#[cfg(test)]
mod runner_tests;
#[cfg(test)]
mod schedule_skip_tests;
pub mod support;

use std::future::Future;
use std::io::Write;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use jobs::backend::{AdminBackend, BackendError, ErrorKind};

/// How long one case may run before it counts as hung (a reserve that never returns, say).
pub const CASE_TIMEOUT: Duration = Duration::from_secs(120);

/// Why a case stopped before its end.
#[derive(Debug)]
pub enum CaseError {
    /// The backend cannot support what the case checks: the case is reported as skipped,
    /// with this reason.
    Skip(String),
    /// A backend call failed: the case fails.
    Backend(BackendError),
}

impl From<BackendError> for CaseError {
    /// An [`ErrorKind::Unsupported`] error skips the case (the backend says it cannot do
    /// this); any other error fails it.
    fn from(error: BackendError) -> Self {
        match error.kind() {
            ErrorKind::Unsupported => CaseError::Skip(error.to_string()),
            _ => CaseError::Backend(error),
        }
    }
}

/// What a case returns: `Ok` when every assertion held (assertions panic), or why it stopped.
pub type CaseResult = Result<(), CaseError>;

type BackendFuture = Pin<Box<dyn Future<Output = Result<Arc<dyn AdminBackend>, CaseError>> + Send>>;

/// The queues the batch and workflow cases use. A batch lives on one shard of a sharded or
/// cluster store, so their glue pins these queues together (`route=`).
pub const BATCH_QUEUES: &[&str] = &[cases::batch::Q, cases::batch::CB, cases::batch_flow::WORK];

/// Builds a fresh, isolated backend for each case, and says which cases to skip and why.
///
/// Cases run in parallel, so every backend the factory returns must share nothing with
/// the others: a new in-memory backend, a new database or schema, a new key prefix.
#[derive(Clone)]
pub struct Factory {
    make: Arc<dyn Fn() -> BackendFuture + Send + Sync>,
    skips: Vec<(&'static str, String)>,
    require_all: bool,
}

impl Factory {
    /// A factory from an async closure returning a backend that cannot fail to build.
    pub fn new<F, Fut, B>(make: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = B> + Send + 'static,
        B: AdminBackend,
    {
        Self::fallible(move || {
            let building = make();
            async move { Ok(Arc::new(building.await) as Arc<dyn AdminBackend>) }
        })
    }

    /// A factory from an async closure that may fail (the case fails) or find no server
    /// configured (return [`CaseError::Skip`] and the case is skipped with that reason).
    pub fn fallible<F, Fut>(make: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Arc<dyn AdminBackend>, CaseError>> + Send + 'static,
    {
        Factory {
            make: Arc::new(move || Box::pin(make())),
            skips: Vec::new(),
            require_all: false,
        }
    }

    /// Skips `case` (`"area::case"`, as in the test name) for this backend, because `reason`.
    /// A name that is not a case fails every test, so a typo cannot hide a skip.
    pub fn skip(mut self, case: &'static str, reason: impl Into<String>) -> Self {
        self.skips.push((case, reason.into()));
        self
    }

    /// Skips every case of `cases`, because `reason`.
    pub fn skip_all(mut self, cases: &[&'static str], reason: &str) -> Self {
        for case in cases {
            self = self.skip(case, reason);
        }
        self
    }

    /// This backend must pass every case but those its glue declares skipped
    /// ([`Factory::skip`]): any other skip (an `Unsupported` answer) fails the test instead.
    pub fn require_all(mut self) -> Self {
        self.require_all = true;
        self
    }
}

/// Runs one case against a fresh backend from `factory`; called by the generated tests.
#[doc(hidden)]
pub async fn run_case<C, Fut>(
    backend: &str,
    case: &str,
    all_cases: &[&str],
    factory: Factory,
    body: C,
) where
    C: FnOnce(Arc<dyn AdminBackend>) -> Fut,
    Fut: Future<Output = CaseResult>,
{
    for (name, _) in &factory.skips {
        assert!(
            all_cases.contains(name),
            "the {backend} glue skips `{name}`, which is not a case; the cases are {all_cases:?}"
        );
    }
    let declared = factory.skips.iter().find(|(name, _)| *name == case);
    let result = match declared {
        Some((_, reason)) => Err(CaseError::Skip(reason.clone())),
        None => match (factory.make)().await {
            Ok(subject) => tokio::time::timeout(CASE_TIMEOUT, body(subject))
                .await
                .unwrap_or_else(|_| {
                    panic!("{backend}::{case} did not end within {CASE_TIMEOUT:?}")
                }),
            Err(stop) => Err(stop),
        },
    };
    match result {
        Ok(()) => {}
        Err(CaseError::Skip(reason)) => {
            assert!(
                !factory.require_all || declared.is_some(),
                "{backend}::{case} was skipped ({reason}), but the {backend} backend must pass every case it does not declare skipped"
            );
            // Past the harness's capture, so the skip shows even when the test "passes".
            let _ = writeln!(std::io::stderr(), "SKIPPED {backend}::{case}: {reason}");
        }
        Err(CaseError::Backend(error)) => panic!(
            "{backend}::{case}: a backend call failed ({:?}): {error}",
            error.kind()
        ),
    }
}

/// Generates the whole suite for one backend: `conformance_suite!(name, factory)`.
///
/// `name` becomes a module holding one module per area and one `#[tokio::test]` per case
/// (`name::area::case`); `factory` is a [`Factory`] expression, evaluated once per case.
/// The list below is the one place every case is named: a new case is added here and in
/// its area's file under `cases/`.
#[macro_export]
macro_rules! conformance_suite {
    (@generate $backend:ident, $factory:expr, $($area:ident { $($case:ident),* $(,)? })*) => {
        mod $backend {
            #[allow(unused_imports)]
            use super::*;

            #[allow(dead_code)]
            const __CASES: &[&str] = &[$($(concat!(stringify!($area), "::", stringify!($case)),)*)*];

            #[allow(dead_code)]
            fn __factory() -> $crate::Factory {
                $factory
            }

            $(
                mod $area {
                    $(
                        #[::tokio::test(flavor = "multi_thread", worker_threads = 2)]
                        async fn $case() {
                            $crate::run_case(
                                stringify!($backend),
                                concat!(stringify!($area), "::", stringify!($case)),
                                super::__CASES,
                                super::__factory(),
                                $crate::cases::$area::$case,
                            )
                            .await;
                        }
                    )*
                }
            )*
        }
    };
    ($backend:ident, $factory:expr $(,)?) => {
        $crate::conformance_suite! {
            @generate $backend, $factory,
            push_reserve {
                fifo_per_queue,
                queues_in_given_order,
                limit_caps_and_spans_queues,
                paused_queue_skipped,
                concurrent_reserves_take_each_job_once,
                reserve_wakes_on_push,
                reserve_times_out_empty,
            }
            scheduled {
                not_reservable_before_its_time,
                promote_limit_takes_soonest_first,
                promote_limit_counts_both_sets,
                concurrent_promote_moves_each_job_once,
                scheduled_member_has_no_at,
            }
            finish {
                complete_removes,
                retry_goes_to_retry_set_and_back,
                snooze_goes_to_scheduled_uncounted,
                dead_goes_to_dead_set,
                discard_keeps_nothing,
                counters_total_and_per_day,
                dead_trimmed_by_count,
                dead_trimmed_by_age,
            }
            leases {
                rescue_after_expiry_returns_jobs_to_head,
                heartbeat_extends_leases,
                finish_on_rescued_lease_is_lost,
                double_finish_refused,
                finish_reports_lost_by_index,
                requeue_returns_jobs_to_head_unchanged,
                rescue_leaves_other_processes_alone,
                rescues_are_counted_and_the_last_buries,
                rescue_of_several_processes_puts_them_ahead_of_waiting_jobs,
                a_beat_listing_its_leases_lets_an_unlisted_one_go_back,
            }
            batch {
                success_and_complete_fire_once,
                a_retried_member_counts_once,
                death_fires_once_on_the_first_dead_member,
                an_open_batch_completes_only_when_sealed,
                a_parent_succeeds_when_its_children_do,
                listed_newest_first_and_expired_ones_cleaned_up,
                a_member_buried_by_the_rescue_dies_in_its_batch,
            }
            batch_flow {
                running_members_add_members,
                concurrent_settles_fire_each_callback_once,
                one_settle_of_many_members_moves_each_once,
                a_dependant_runs_after_its_parents,
                a_dependant_reads_its_parents_results,
            }
            unique {
                a_duplicate_is_skipped_and_names_the_holder,
                replace_takes_a_waiting_holders_place_but_not_a_running_ones,
                until_success_holds_through_retries_and_ends_with_success,
                discard_death_and_expiry_release_the_lock,
                until_start_releases_when_the_job_is_taken,
                requeue_and_rescue_keep_the_lock,
                a_lapsed_lock_frees_the_key_and_the_old_job_cannot_release_the_new_lock,
                admin_delete_and_kill_release_the_lock,
                locks_are_listed_and_an_operator_can_release_one,
            }
            priority {
                smaller_priority_first_fifo_within_one,
                promoted_jobs_keep_their_priority,
                a_job_given_back_leads_every_priority,
                aging_lets_a_long_waiting_job_overtake,
                aging_climbs_one_priority_per_step,
                aging_keeps_up_with_a_steady_stream,
            }
            concurrency {
                a_full_key_moves_its_jobs_aside_and_the_rest_run,
                a_limit_of_two_runs_two_at_once,
                every_settle_frees_the_slot_and_brings_the_oldest_back,
                a_requeue_frees_the_slot_and_the_job_leads,
                a_rescue_frees_the_slot_once_and_a_late_ack_frees_nothing,
                waiting_jobs_run_in_push_order,
                a_hot_key_does_not_hold_back_the_queue,
                deleting_a_job_brought_back_strands_no_waiting_job,
                a_sweep_sends_no_job_ahead_of_the_one_brought_back,
                jobs_waiting_for_a_slot_are_listed_oldest_first,
                deleting_jobs_waiting_for_a_slot_releases_their_locks_and_nothing_else,
                replace_takes_the_place_of_a_holder_waiting_for_a_slot,
            }
            rate {
                a_window_holds_at_most_limit_starts,
                refusals_do_not_count,
                keys_are_independent,
                rate_usage_is_listed,
            }
            steps {
                a_checkpoint_survives_a_rescue,
                a_fenced_off_run_cannot_write_steps,
                the_answered_token_settles_the_job,
                requeue_and_retry_keep_the_progress,
                a_checkpoint_clears_the_rescue_count,
            }
            steps_worker {
                a_failure_inside_a_step_retries_from_that_step,
                shutdown_stops_at_a_checkpoint_and_the_job_resumes,
                progress_after_a_checkpoint_is_stored,
            }
            lease_clock {
                a_fast_clock_neither_rescues_live_leases_nor_stretches_its_own,
                a_slow_clock_does_not_keep_expired_leases,
            }
            bulk {
                thousand_jobs_in_one_push_arrive_in_order,
                one_push_mixes_scheduled_and_queues,
            }
            admin_queues {
                queue_list_reports_size_latency_paused,
                queue_clear_removes_jobs_and_queue,
            }
            admin_jobs {
                job_list_orders_each_set,
                job_list_pages_with_total,
                job_list_filters_by_class_and_text,
                job_get_finds_in_its_set_only,
                job_delete_by_jids_and_filter,
                job_enqueue_now_moves_to_queue_tail,
                job_kill_moves_to_dead_set,
            }
            admin_processes {
                process_list_shows_heartbeats,
                process_signal_delivered_once,
                process_signal_unknown_process_errors,
                process_remove_drops_record,
                rescue_drops_silent_processes,
                stats_counts_every_set,
                stats_history_oldest_first_with_zero_days,
                clear_all_removes_everything,
            }
            worker {
                flaky_job_retries_then_succeeds,
                poisoned_job_lands_in_dead_set,
                retry_zero_dies_and_retry_false_discards,
                panics_and_timeouts_fail_like_errors,
                outcomes_snooze_discard_kill,
                unknown_job_follows_the_retry_path,
                bad_arguments_follow_the_retry_path,
            }
            worker_policy {
                exhausted_jobs_discard_when_told,
                custom_backoff_retries_discards_or_kills,
                error_chain_and_handlers,
            }
            schedule {
                claim_once_across_concurrent_claimers,
                state_round_trip,
                enabled_flag_persists,
                run_now_enqueues_once,
            }
            metrics {
                samples_add_up_per_class_and_hour,
                query_covers_the_hours_in_range,
                unusual_job_names_round_trip,
                clear_all_removes_metrics,
            }
            envelope {
                unknown_fields_survive_every_move,
                args_round_trip_unchanged,
                args_with_nul_character_round_trip,
            }
            otel {
                trace_context_reaches_every_attempt,
            }
            cancel {
                waiting_scheduled_and_retrying_jobs_move_to_the_cancelled_set,
                a_finished_job_answers_already_finished,
                a_running_job_gets_a_request_its_heartbeat_returns,
                the_channel_announces_a_request,
                cancel_and_finish_race_to_one_terminal_state,
                cancel_releases_the_unique_lock_and_the_concurrency_slot,
                the_cancelled_set_is_filtered_deleted_and_trimmed,
                a_job_waiting_for_a_slot_is_cancelled,
            }
            cancel_worker {
                a_running_job_sees_its_cancel_by_the_channel,
                the_heartbeat_delivers_a_cancel_without_the_channel,
                a_job_ignoring_its_cancel_is_aborted_after_its_grace,
            }
            progress {
                progress_fenced_by_lease,
                status_follows_the_job,
                progress_writes_are_throttled,
            }
            results {
                result_stored_with_success_settle,
                lost_settle_stores_no_result,
            }
            results_worker {
                worker_keeps_results_and_progress,
            }
        }
    };
}
