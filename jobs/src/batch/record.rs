//! What a batch is in storage: its record, its members' states, its callbacks, and the one
//! pure rule every backend applies in its settle step ([`plan`]).
//!
//! 1. A member is a job (by jid) or a child batch (`b:<bid>`); it is in exactly one state
//!    ([`MemberState`]); a transition names the member, so applying it twice changes nothing
//!    and no count can go negative.
//! 2. [`plan`] says, from a batch's counts, whether it is sealed and which callbacks already
//!    fired, which callbacks fire now and what that means for the parent batch.

use serde::{Deserialize, Serialize};

use crate::envelope::JobEnvelope;

/// The envelope key carrying a member job's batch id, as Sidekiq Pro writes it: Ruby
/// Sidekiq reads a member as a plain job.
pub const BATCH_FIELD: &str = "bid";
/// The envelope key of a callback job: `{"bid": ..., "event": ...}`.
pub const CALLBACK_FIELD: &str = "jobs_rs_batch_callback";
/// The prefix of a child batch's member id in its parent.
pub const CHILD_PREFIX: &str = "b:";
/// How long a batch's bookkeeping is kept by default: 30 days.
pub const DEFAULT_RETENTION: std::time::Duration = std::time::Duration::from_secs(30 * 24 * 3600);

/// A batch callback's event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum BatchEvent {
    /// Every member ran at least once (succeeded, is in retry, or died).
    Complete,
    /// Every member succeeded.
    Success,
    /// The first member died.
    Death,
}

impl BatchEvent {
    /// Every event, in the order they are checked.
    pub const ALL: [BatchEvent; 3] = [BatchEvent::Death, BatchEvent::Complete, BatchEvent::Success];

    /// `complete`, `success` or `death`.
    ///
    /// ```
    /// assert_eq!(jobs::batch::BatchEvent::Death.as_str(), "death");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            BatchEvent::Complete => "complete",
            BatchEvent::Success => "success",
            BatchEvent::Death => "death",
        }
    }

    /// The event named `name` ([`BatchEvent::as_str`]).
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|e| e.as_str() == name)
    }
}

/// Where a member of a batch stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum MemberState {
    /// Not yet run to an end (waiting, running, snoozed).
    Pending,
    /// Ended well.
    Succeeded,
    /// Failed at least once and waits for a retry.
    Failed,
    /// Dead (or discarded after failing).
    Dead,
}

impl MemberState {
    /// `pending`, `succeeded`, `failed` or `dead`.
    ///
    /// ```
    /// assert_eq!(jobs::batch::MemberState::Failed.as_str(), "failed");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            MemberState::Pending => "pending",
            MemberState::Succeeded => "succeeded",
            MemberState::Failed => "failed",
            MemberState::Dead => "dead",
        }
    }

    /// The state named `name` ([`MemberState::as_str`]).
    pub fn parse(name: &str) -> Option<Self> {
        [Self::Pending, Self::Succeeded, Self::Failed, Self::Dead]
            .into_iter()
            .find(|s| s.as_str() == name)
    }

    /// The state a member job reaches when it is settled with `outcome` (`failed`: the run
    /// failed); `None` when it stays where it is (a snooze).
    pub fn after(outcome: &crate::backend::FinishOutcome, failed: bool) -> Option<Self> {
        use crate::backend::FinishOutcome as O;
        match outcome {
            O::Completed | O::Expired => Some(MemberState::Succeeded),
            O::Discard if failed => Some(MemberState::Dead),
            O::Discard => Some(MemberState::Succeeded),
            O::Retry { .. } => Some(MemberState::Failed),
            O::Dead => Some(MemberState::Dead),
            _ => None,
        }
    }
}

/// A callback to enqueue once when its event happens.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Callback {
    /// When it fires.
    pub event: BatchEvent,
    /// The job to enqueue (its jid is fixed when the batch is created).
    pub job: JobEnvelope,
}

/// What a batch is, as created: everything but its members and its progress.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct BatchInfo {
    /// The batch id (24 lowercase hex characters, like a jid).
    pub bid: String,
    /// What it is for, shown on the dashboard.
    pub description: String,
    /// The batch this one is a member of.
    pub parent: Option<String>,
    /// Its callbacks.
    pub callbacks: Vec<Callback>,
    /// When it was created, epoch seconds.
    pub created_at: f64,
    /// When its bookkeeping may be removed, epoch seconds.
    pub expires_at: f64,
    /// When `death` fires, `success` is claimed without its job: it never runs (a workflow
    /// whose dependant is cancelled when a parent dies).
    #[serde(default)]
    pub cancel_on_death: bool,
}

impl BatchInfo {
    /// Batch `bid` described as `description`, created at `created_at` (epoch seconds) and
    /// kept for `retention`, with no parent and no callbacks.
    ///
    /// ```
    /// use jobs::batch::{BatchEvent, BatchInfo};
    /// use jobs::envelope::JobEnvelope;
    /// let info = BatchInfo::new("b1", "import", 1_800_000_000.0, std::time::Duration::from_secs(60))
    ///     .callback(BatchEvent::Success, JobEnvelope::new("Done", "default", vec![]));
    /// assert_eq!(info.expires_at, 1_800_000_060.0);
    /// assert_eq!(info.callbacks.len(), 1);
    /// ```
    pub fn new(
        bid: impl Into<String>,
        description: impl Into<String>,
        created_at: f64,
        retention: std::time::Duration,
    ) -> Self {
        BatchInfo {
            bid: bid.into(),
            description: description.into(),
            parent: None,
            callbacks: Vec::new(),
            created_at,
            expires_at: created_at + retention.as_secs_f64(),
            cancel_on_death: false,
        }
    }

    /// When `death` fires, claim `success` without enqueueing it (see
    /// [`BatchInfo::cancel_on_death`]).
    pub fn cancel_on_death(mut self, cancel: bool) -> Self {
        self.cancel_on_death = cancel;
        self
    }

    /// As a child of batch `parent`.
    pub fn parent(mut self, parent: impl Into<String>) -> Self {
        self.parent = Some(parent.into());
        self
    }

    /// With `job` enqueued once when `event` happens.
    pub fn callback(mut self, event: BatchEvent, job: JobEnvelope) -> Self {
        self.callbacks.push(Callback { event, job });
        self
    }
}

/// A batch's member counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Counts {
    /// Members not yet run to an end.
    pub pending: u64,
    /// Members that succeeded.
    pub succeeded: u64,
    /// Members in retry.
    pub failed: u64,
    /// Dead members.
    pub dead: u64,
}

impl Counts {
    /// Every member.
    pub fn total(&self) -> u64 {
        self.pending + self.succeeded + self.failed + self.dead
    }

    /// The count of members in `state`, to change.
    pub fn of(&mut self, state: MemberState) -> &mut u64 {
        match state {
            MemberState::Pending => &mut self.pending,
            MemberState::Succeeded => &mut self.succeeded,
            MemberState::Failed => &mut self.failed,
            MemberState::Dead => &mut self.dead,
        }
    }

    /// The counts after a member moved `from` → `to` (saturating: never below zero).
    pub fn moved(mut self, from: Option<MemberState>, to: MemberState) -> Self {
        if let Some(from) = from {
            let c = self.of(from);
            *c = c.saturating_sub(1);
        }
        *self.of(to) += 1;
        self
    }
}

/// Which callbacks already fired, epoch seconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Fired {
    /// When `complete` fired.
    pub complete: Option<f64>,
    /// When `success` fired (the batch finished).
    pub success: Option<f64>,
    /// When `death` fired.
    pub death: Option<f64>,
}

impl Fired {
    /// When `event` fired.
    pub fn get(&self, event: BatchEvent) -> Option<f64> {
        match event {
            BatchEvent::Complete => self.complete,
            BatchEvent::Success => self.success,
            BatchEvent::Death => self.death,
        }
    }

    /// Records that `event` fired at `at`.
    pub fn set(&mut self, event: BatchEvent, at: f64) {
        let slot = match event {
            BatchEvent::Complete => &mut self.complete,
            BatchEvent::Success => &mut self.success,
            BatchEvent::Death => &mut self.death,
        };
        slot.get_or_insert(at);
    }
}

/// What a settle step does to a batch after a member moved, from [`plan`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Plan {
    /// Callbacks to claim (mark fired) and enqueue now.
    pub fire: Vec<BatchEvent>,
    /// The state this batch now has as a member of its parent, if it changed.
    pub in_parent: Option<MemberState>,
    /// Whether the parent's `death` fires too (a child's death propagates).
    pub parent_death: bool,
}

/// The callbacks a batch with `counts`, `sealed` (no more members will be added from
/// outside), and callbacks `fired` fires now, and what follows for its parent.
///
/// ```
/// use jobs::batch::{plan, BatchEvent, Counts, Fired, MemberState};
/// let mut c = Counts::default();
/// c.succeeded = 3;
/// let p = plan(c, true, Fired::default());
/// assert_eq!(p.fire, vec![BatchEvent::Complete, BatchEvent::Success]);
/// assert_eq!(p.in_parent, Some(MemberState::Succeeded));
/// // Unsealed, nothing fires yet.
/// assert!(plan(c, false, Fired::default()).fire.is_empty());
/// ```
pub fn plan(counts: Counts, sealed: bool, fired: Fired) -> Plan {
    let mut p = Plan::default();
    if counts.dead > 0 && fired.death.is_none() {
        p.fire.push(BatchEvent::Death);
        p.parent_death = true;
    }
    if !sealed || counts.pending > 0 {
        return p;
    }
    let success = counts.failed == 0 && counts.dead == 0;
    if fired.complete.is_none() {
        p.fire.push(BatchEvent::Complete);
        p.in_parent = Some(match (success, counts.dead > 0) {
            (true, _) => MemberState::Succeeded,
            (false, true) => MemberState::Dead,
            (false, false) => MemberState::Failed,
        });
    }
    if success && fired.success.is_none() {
        p.fire.push(BatchEvent::Success);
        p.in_parent = Some(MemberState::Succeeded);
    }
    p
}

/// The member id of child batch `bid` in its parent.
pub fn child_member(bid: &str) -> String {
    format!("{CHILD_PREFIX}{bid}")
}

/// The callback job of `event` for batch `bid`, as enqueued: its envelope with the batch id
/// and event in [`CALLBACK_FIELD`], due now.
pub fn callback_job(cb: &Callback, bid: &str, now: f64) -> JobEnvelope {
    let mut job = cb.job.clone();
    job.extra.insert(
        CALLBACK_FIELD.into(),
        serde_json::json!({ "bid": bid, "event": cb.event.as_str() }),
    );
    job.at = None;
    job.enqueued_at = Some(now);
    job
}
