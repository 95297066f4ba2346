//! The history checker: after quiescence, compares a run's [`History`] with what the store
//! holds (through [`AdminBackend`] listings only) and counts lost jobs, duplicate starts,
//! double endings and the recovery time.
//!
//! Definitions, per jid whose enqueue returned Ok:
//! - **terminal**: its settle as completed, dead or discarded was applied by the store (a
//!   `settled` event), or it is in the dead set; or, when a process sent a terminal settle
//!   and then died or lost the answer (a `finishing` event with no `settled` and no later
//!   start), *unconfirmed terminal*: the store may have applied it, and if it had not, the
//!   job would have come back when its lease expired and started again.
//! - **waiting**: in its queue, the scheduled set or the retry set.
//! - **lost**: neither terminal (confirmed or not) nor waiting. Must be 0.
//! - **duplicates**: starts of the same (jid, attempt) beyond the first, summed.
//! - **terminal twice**: more than one applied terminal settle, or more than one copy in
//!   the dead set, or both completed and dead. Must be none: fencing by lease token refuses
//!   a stale settle.
//! - **recovery** of one fault [`Injection`]: the longer of (a) the time from the
//!   injection until every job running at that moment in the faulted processes had started
//!   again elsewhere or been settled, and (b) the time from the fault being lifted until
//!   the store applied the next settle. The run's recovery is the longest of its faults'.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

use jobs::backend::{AdminBackend, BackendError, JobListParams, JobSet, StoredJob};

use super::history::{Event, History};

/// One fault as the test injected it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Injection {
    /// When it began (ms since the epoch).
    pub at_ms: u64,
    /// When it was lifted: the process continued or was replaced, the store was back, the
    /// traffic flowed again. Equal to `at_ms` for an instant fault (a connection kill).
    pub lifted_ms: u64,
    /// The worker processes it hit; empty when it hit them all (a store fault).
    pub pids: Vec<u32>,
}

/// What the checker found.
#[derive(Debug, Clone, Default)]
pub struct Verdict {
    /// Jids whose enqueue returned Ok.
    pub enqueued: usize,
    /// Ok jids neither terminal nor waiting.
    pub lost: Vec<String>,
    /// Starts of a (jid, attempt) beyond its first.
    pub duplicates: u64,
    /// Jids that ended more than once.
    pub terminal_twice: Vec<String>,
    /// Jids whose applied terminal settle was completed.
    pub completed: usize,
    /// Jids terminal only by a settle whose answer was never seen.
    pub unconfirmed: usize,
    /// Jids in the dead set, with their error class.
    pub dead: BTreeMap<String, Option<String>>,
    /// Jids waiting in a queue, the scheduled set or the retry set.
    pub waiting: usize,
    /// Settles the store refused because the lease was lost.
    pub refused: u64,
    /// Jids that started but whose enqueue no Ok recorded (an enqueue that failed on the
    /// caller's side after the store took it).
    pub unrecorded: usize,
    /// The longest recovery of the run's faults, in milliseconds.
    pub recovery_ms: u64,
}

/// What the history says about one jid.
#[derive(Debug, Default)]
struct Life {
    starts: HashMap<u32, u64>,
    completed: u32,
    dead_settles: u32,
    discarded: u32,
    /// A terminal settle was sent and not answered, and the job did not start again since.
    pending_terminal: bool,
}

fn lives(history: &History) -> HashMap<&str, Life> {
    let mut lives: HashMap<&str, Life> = HashMap::new();
    for e in &history.events {
        let Some(jid) = e.jid() else { continue };
        let life = lives.entry(jid).or_default();
        match e {
            Event::Start { attempt, .. } => {
                *life.starts.entry(*attempt).or_default() += 1;
                life.pending_terminal = false;
            }
            Event::Finishing { settle, .. } if settle.is_terminal() => {
                life.pending_terminal = true;
            }
            Event::Settled { settle, .. } => {
                match settle {
                    super::history::Settle::Completed => life.completed += 1,
                    super::history::Settle::Dead => life.dead_settles += 1,
                    super::history::Settle::Discard => life.discarded += 1,
                    _ => {}
                }
                life.pending_terminal = false;
            }
            _ => {}
        }
    }
    lives
}

/// Every job of `set`, retrying transient errors for up to 30 s (a store that was just
/// restarted may fail the first call on a stale connection).
pub async fn list_all(
    admin: &dyn AdminBackend,
    set: JobSet,
) -> Result<Vec<StoredJob>, BackendError> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        match admin
            .job_list(JobListParams::new(set.clone(), 1_000_000))
            .await
        {
            Ok(page) => return Ok(page.jobs),
            Err(e) if e.is_transient() && tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => return Err(e),
        }
    }
}

/// The jids in the dead set, each with how many copies and its error class.
pub async fn dead_set(
    admin: &dyn AdminBackend,
) -> Result<HashMap<String, (u32, Option<String>)>, BackendError> {
    let mut dead: HashMap<String, (u32, Option<String>)> = HashMap::new();
    for stored in list_all(admin, JobSet::Dead).await? {
        let entry = dead
            .entry(stored.job.jid.clone())
            .or_insert((0, stored.job.error_class.clone()));
        entry.0 += 1;
    }
    Ok(dead)
}

/// Jids of `history` that are not yet terminal: no applied terminal settle, not in
/// `dead`, and no terminal settle sent in the last `grace` (one sent earlier and never
/// answered counts as done: had it failed, the job would have started again since).
pub fn unsettled<'h>(
    history: &'h History,
    dead: &HashSet<String>,
    now_ms: u64,
    grace: Duration,
) -> Vec<&'h str> {
    let lives = lives(history);
    let mut finishing_at: HashMap<&str, u64> = HashMap::new();
    for e in &history.events {
        match e {
            Event::Finishing {
                jid, at_ms, settle, ..
            } if settle.is_terminal() => {
                finishing_at.insert(jid, *at_ms);
            }
            Event::Start { jid, .. } => {
                finishing_at.remove(jid.as_str());
            }
            _ => {}
        }
    }
    let grace_ms = u64::try_from(grace.as_millis()).unwrap_or(u64::MAX);
    history
        .enqueued()
        .into_iter()
        .filter(|jid| {
            let life = lives.get(jid);
            let settled = life.is_some_and(|l| l.completed + l.dead_settles + l.discarded > 0);
            let pending_long = life.is_some_and(|l| l.pending_terminal)
                && finishing_at
                    .get(jid)
                    .is_some_and(|t| now_ms.saturating_sub(*t) >= grace_ms);
            !(settled || pending_long || dead.contains(*jid))
        })
        .collect()
}

/// Checks `history` against the store: `queues` are the queues its jobs use.
pub async fn check(
    history: &History,
    admin: &dyn AdminBackend,
    queues: &[&str],
    injections: &[Injection],
) -> Result<Verdict, BackendError> {
    let lives = lives(history);
    let dead = dead_set(admin).await?;
    let mut waiting: HashSet<String> = HashSet::new();
    let mut sets: Vec<JobSet> = queues.iter().map(|q| JobSet::Queue((*q).into())).collect();
    sets.extend([JobSet::Scheduled, JobSet::Retry]);
    for set in sets {
        for stored in list_all(admin, set).await? {
            waiting.insert(stored.job.jid);
        }
    }
    let enqueued = history.enqueued();
    let ok: HashSet<&str> = enqueued.iter().copied().collect();
    let mut v = Verdict {
        enqueued: enqueued.len(),
        ..Verdict::default()
    };
    for jid in &enqueued {
        let none = Life::default();
        let life = lives.get(jid).unwrap_or(&none);
        let (copies, class) = dead.get(*jid).cloned().unwrap_or((0, None));
        let endings = life.completed + life.discarded + life.dead_settles.max(copies);
        if endings > 1 {
            v.terminal_twice.push((*jid).to_owned());
        }
        if copies > 0 {
            v.dead.insert((*jid).to_owned(), class);
        }
        if life.completed > 0 {
            v.completed += 1;
        }
        let is_waiting = waiting.contains(*jid);
        if is_waiting {
            v.waiting += 1;
        }
        if endings == 0 && !is_waiting {
            if life.pending_terminal {
                v.unconfirmed += 1;
            } else {
                v.lost.push((*jid).to_owned());
            }
        }
    }
    for (jid, life) in &lives {
        v.duplicates += life
            .starts
            .values()
            .map(|n| n.saturating_sub(1))
            .sum::<u64>();
        if !ok.contains(jid) && !life.starts.is_empty() {
            v.unrecorded += 1;
        }
    }
    v.refused = history
        .events
        .iter()
        .filter(|e| matches!(e, Event::Refused { .. }))
        .count() as u64;
    v.recovery_ms = injections
        .iter()
        .map(|i| recovery_ms(history, i))
        .max()
        .unwrap_or(0);
    Ok(v)
}

/// The recovery of one fault (see the module's definitions).
pub fn recovery_ms(history: &History, injection: &Injection) -> u64 {
    let hit = |pid: u32| injection.pids.is_empty() || injection.pids.contains(&pid);
    // Runs in flight at the injection in the processes it hit: (jid, pid).
    let mut open: Vec<(&str, u32)> = Vec::new();
    for e in history
        .events
        .iter()
        .filter(|e| e.at_ms() <= injection.at_ms)
    {
        match e {
            Event::Start { jid, pid, .. } if hit(*pid) => open.push((jid, *pid)),
            Event::End { jid, pid, .. } => {
                if let Some(i) = open.iter().position(|(j, p)| j == jid && p == pid) {
                    open.remove(i);
                }
            }
            _ => {}
        }
    }
    let caught = open
        .iter()
        .map(|(jid, pid)| {
            history
                .events
                .iter()
                .filter(|e| e.at_ms() >= injection.at_ms)
                .find_map(|e| match e {
                    Event::Start {
                        jid: j,
                        pid: p,
                        at_ms,
                        ..
                    } if j == jid && (p != pid || *at_ms > injection.lifted_ms) => Some(*at_ms),
                    Event::Settled { jid: j, at_ms, .. } if j == jid => Some(*at_ms),
                    _ => None,
                })
                .map_or(0, |t| t.saturating_sub(injection.at_ms))
        })
        .max()
        .unwrap_or(0);
    let next_settle = history
        .events
        .iter()
        .find_map(|e| match e {
            Event::Settled { at_ms, .. } if *at_ms >= injection.lifted_ms => Some(*at_ms),
            _ => None,
        })
        .map_or(0, |t| t.saturating_sub(injection.lifted_ms));
    caught.max(next_settle)
}
