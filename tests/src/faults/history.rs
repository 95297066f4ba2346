//! The history of one fault run: the events every process appends to one file, and reading
//! them back.
//!
//! 1. [`Event`] is one line of the file: an enqueue that returned Ok, a process booting or
//!    exiting, a run starting or ending, a settle being sent, applied or refused.
//! 2. [`HistoryLog`] appends events from any process: the file is opened with `O_APPEND`
//!    and each event is written with one `write` call, so lines from concurrent processes
//!    never interleave. Times are the real wall clock in milliseconds since the epoch,
//!    never a process's injected clock, so a skewed process records true times.
//! 3. [`History::read`] parses the file back for the checker (`check.rs`).

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch, by the real clock.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Where a settle sent a job, as recorded (the [`FinishOutcome`](jobs::backend::FinishOutcome)
/// without its times).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Settle {
    /// Performed and removed.
    Completed,
    /// To the retry set.
    Retry,
    /// To the scheduled set, uncounted.
    Snooze,
    /// To the dead set.
    Dead,
    /// Removed, kept nowhere.
    Discard,
}

impl Settle {
    /// Whether the job's life ends here (it is not stored to run again).
    pub fn is_terminal(self) -> bool {
        matches!(self, Settle::Completed | Settle::Dead | Settle::Discard)
    }

    fn as_str(self) -> &'static str {
        match self {
            Settle::Completed => "completed",
            Settle::Retry => "retry",
            Settle::Snooze => "snooze",
            Settle::Dead => "dead",
            Settle::Discard => "discard",
        }
    }
}

impl FromStr for Settle {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "completed" => Settle::Completed,
            "retry" => Settle::Retry,
            "snooze" => Settle::Snooze,
            "dead" => Settle::Dead,
            "discard" => Settle::Discard,
            other => return Err(format!("`{other}` is not a settle outcome")),
        })
    }
}

/// One line of a history file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// An enqueue of `jid` returned Ok.
    Enqueued {
        /// The job.
        jid: String,
        /// When the enqueue returned.
        at_ms: u64,
    },
    /// A worker process started (it is ready to reserve).
    Boot {
        /// Its process id.
        pid: u32,
        /// When.
        at_ms: u64,
    },
    /// A run of `jid` started in process `pid`.
    Start {
        /// The job.
        jid: String,
        /// Its attempt (1 for the first run, 2 for the first retry, ...).
        attempt: u32,
        /// The process running it.
        pid: u32,
        /// When.
        at_ms: u64,
    },
    /// A run of `jid` in process `pid` returned (`ok` false: with an error).
    End {
        /// The job.
        jid: String,
        /// Its attempt.
        attempt: u32,
        /// The process that ran it.
        pid: u32,
        /// When.
        at_ms: u64,
        /// Whether the run succeeded.
        ok: bool,
    },
    /// Process `pid` is about to ask the store to settle `jid` as `settle`; what the store
    /// did follows as [`Event::Settled`] or [`Event::Refused`], unless the call failed or
    /// the process died first.
    Finishing {
        /// The job.
        jid: String,
        /// The process settling it.
        pid: u32,
        /// When.
        at_ms: u64,
        /// Where it goes.
        settle: Settle,
    },
    /// The store applied the settle of `jid`.
    Settled {
        /// The job.
        jid: String,
        /// The process that settled it.
        pid: u32,
        /// When the store answered.
        at_ms: u64,
        /// Where it went.
        settle: Settle,
    },
    /// The store refused the settle of `jid`: the process's lease was lost (fencing).
    Refused {
        /// The job.
        jid: String,
        /// The process whose settle was refused.
        pid: u32,
        /// When the store answered.
        at_ms: u64,
        /// Where the process wanted it to go.
        settle: Settle,
    },
    /// A worker process stopped gracefully.
    Exit {
        /// Its process id.
        pid: u32,
        /// When.
        at_ms: u64,
    },
}

impl Event {
    /// When the event happened, in milliseconds since the epoch.
    pub fn at_ms(&self) -> u64 {
        match self {
            Event::Enqueued { at_ms, .. }
            | Event::Boot { at_ms, .. }
            | Event::Start { at_ms, .. }
            | Event::End { at_ms, .. }
            | Event::Finishing { at_ms, .. }
            | Event::Settled { at_ms, .. }
            | Event::Refused { at_ms, .. }
            | Event::Exit { at_ms, .. } => *at_ms,
        }
    }

    /// The job the event is about, if any.
    pub fn jid(&self) -> Option<&str> {
        match self {
            Event::Enqueued { jid, .. }
            | Event::Start { jid, .. }
            | Event::End { jid, .. }
            | Event::Finishing { jid, .. }
            | Event::Settled { jid, .. }
            | Event::Refused { jid, .. } => Some(jid),
            Event::Boot { .. } | Event::Exit { .. } => None,
        }
    }
}

impl fmt::Display for Event {
    /// One line without its newline: the kind, then its fields separated by spaces.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Event::Enqueued { jid, at_ms } => write!(f, "enqueued {jid} {at_ms}"),
            Event::Boot { pid, at_ms } => write!(f, "boot {pid} {at_ms}"),
            Event::Start {
                jid,
                attempt,
                pid,
                at_ms,
            } => write!(f, "start {jid} {attempt} {pid} {at_ms}"),
            Event::End {
                jid,
                attempt,
                pid,
                at_ms,
                ok,
            } => {
                let ok = if *ok { "ok" } else { "err" };
                write!(f, "end {jid} {attempt} {pid} {at_ms} {ok}")
            }
            Event::Finishing {
                jid,
                pid,
                at_ms,
                settle,
            } => write!(f, "finishing {jid} {pid} {at_ms} {}", settle.as_str()),
            Event::Settled {
                jid,
                pid,
                at_ms,
                settle,
            } => write!(f, "settled {jid} {pid} {at_ms} {}", settle.as_str()),
            Event::Refused {
                jid,
                pid,
                at_ms,
                settle,
            } => write!(f, "refused {jid} {pid} {at_ms} {}", settle.as_str()),
            Event::Exit { pid, at_ms } => write!(f, "exit {pid} {at_ms}"),
        }
    }
}

impl FromStr for Event {
    type Err = String;

    /// Parses one line as [`Event`]'s `Display` writes it.
    ///
    /// ```
    /// use jobs_conformance::faults::history::Event;
    /// let line = "start 0a1b 1 4242 1700000000000";
    /// let event: Event = line.parse().unwrap();
    /// assert_eq!(event.to_string(), line);
    /// assert!("start 0a1b one 4242 17".parse::<Event>().is_err());
    /// ```
    fn from_str(line: &str) -> Result<Self, Self::Err> {
        let fields: Vec<&str> = line.split(' ').collect();
        let bad = |why: &str| format!("`{line}`: {why}");
        let number = |i: usize, what: &str| -> Result<u64, String> {
            fields
                .get(i)
                .ok_or_else(|| bad(&format!("no {what}")))?
                .parse::<u64>()
                .map_err(|e| bad(&format!("{what}: {e}")))
        };
        let text = |i: usize, what: &str| -> Result<String, String> {
            fields
                .get(i)
                .filter(|s| !s.is_empty())
                .map(|s| (*s).to_owned())
                .ok_or_else(|| bad(&format!("no {what}")))
        };
        let pid = |i: usize| -> Result<u32, String> {
            u32::try_from(number(i, "pid")?).map_err(|e| bad(&format!("pid: {e}")))
        };
        let settle = |i: usize| -> Result<Settle, String> {
            text(i, "outcome")?
                .parse::<Settle>()
                .map_err(|e: String| bad(&e))
        };
        let (kind, arity) = match fields.first() {
            Some(kind) => (*kind, fields.len()),
            None => return Err(bad("empty")),
        };
        let want = match kind {
            "enqueued" | "boot" | "exit" => 3,
            "start" => 5,
            "finishing" | "settled" | "refused" => 5,
            "end" => 6,
            other => return Err(bad(&format!("unknown event `{other}`"))),
        };
        if arity != want {
            return Err(bad(&format!("{kind} has {want} fields, not {arity}")));
        }
        Ok(match kind {
            "enqueued" => Event::Enqueued {
                jid: text(1, "jid")?,
                at_ms: number(2, "time")?,
            },
            "boot" => Event::Boot {
                pid: pid(1)?,
                at_ms: number(2, "time")?,
            },
            "exit" => Event::Exit {
                pid: pid(1)?,
                at_ms: number(2, "time")?,
            },
            "start" => Event::Start {
                jid: text(1, "jid")?,
                attempt: u32::try_from(number(2, "attempt")?).map_err(|e| bad(&e.to_string()))?,
                pid: pid(3)?,
                at_ms: number(4, "time")?,
            },
            "end" => Event::End {
                jid: text(1, "jid")?,
                attempt: u32::try_from(number(2, "attempt")?).map_err(|e| bad(&e.to_string()))?,
                pid: pid(3)?,
                at_ms: number(4, "time")?,
                ok: match text(5, "result")?.as_str() {
                    "ok" => true,
                    "err" => false,
                    other => return Err(bad(&format!("`{other}` is not ok or err"))),
                },
            },
            "finishing" => Event::Finishing {
                jid: text(1, "jid")?,
                pid: pid(2)?,
                at_ms: number(3, "time")?,
                settle: settle(4)?,
            },
            "settled" => Event::Settled {
                jid: text(1, "jid")?,
                pid: pid(2)?,
                at_ms: number(3, "time")?,
                settle: settle(4)?,
            },
            _ => Event::Refused {
                jid: text(1, "jid")?,
                pid: pid(2)?,
                at_ms: number(3, "time")?,
                settle: settle(4)?,
            },
        })
    }
}

/// Appends events to a history file, from any number of processes at once.
#[derive(Debug)]
pub struct HistoryLog {
    path: PathBuf,
    file: Mutex<File>,
}

impl HistoryLog {
    /// Opens (creating it if needed) the history file at `path` for appending.
    pub fn open(path: impl AsRef<Path>) -> std::io::Result<HistoryLog> {
        let path = path.as_ref().to_path_buf();
        let file = OpenOptions::new().create(true).append(true).open(&path)?;
        Ok(HistoryLog {
            path,
            file: Mutex::new(file),
        })
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends `event` as one line, in one `write` call.
    pub fn record(&self, event: &Event) -> std::io::Result<()> {
        let line = format!("{event}\n");
        let mut file = self.file.lock().unwrap_or_else(|e| e.into_inner());
        let written = file.write(line.as_bytes())?;
        if written != line.len() {
            // A regular file takes a short line whole; a partial write would tear it.
            return Err(std::io::Error::other(format!(
                "wrote {written} of {} bytes of a history line to {}",
                line.len(),
                self.path.display()
            )));
        }
        Ok(())
    }
}

/// The events of a history file, in the order they were appended.
#[derive(Debug, Clone, Default)]
pub struct History {
    /// Every event.
    pub events: Vec<Event>,
}

impl History {
    /// Reads and parses the file at `path`; an error names the first line that is not an
    /// event. A missing file is an empty history. A last line without its newline is being
    /// appended as the file is read (a read of a regular file may see part of a concurrent
    /// `write`) and is left out: every line is written whole, newline included.
    pub fn read(path: impl AsRef<Path>) -> Result<History, String> {
        let path = path.as_ref();
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
        };
        let whole = text.rfind('\n').map_or("", |end| &text[..=end]);
        let mut events = Vec::new();
        for (n, line) in whole.lines().enumerate() {
            let event = line
                .parse()
                .map_err(|e| format!("{} line {}: {e}", path.display(), n + 1))?;
            events.push(event);
        }
        Ok(History { events })
    }

    /// The jids whose enqueue returned Ok, each once, in order.
    pub fn enqueued(&self) -> Vec<&str> {
        let mut seen = std::collections::HashSet::new();
        self.events
            .iter()
            .filter_map(|e| match e {
                Event::Enqueued { jid, .. } if seen.insert(jid.as_str()) => Some(jid.as_str()),
                _ => None,
            })
            .collect()
    }

    /// The jobs process `pid` is running: started there and not ended yet.
    pub fn running_in(&self, pid: u32) -> Vec<&str> {
        let mut open: Vec<&str> = Vec::new();
        for e in &self.events {
            match e {
                Event::Start { jid, pid: p, .. } if *p == pid => open.push(jid),
                Event::End { jid, pid: p, .. } if *p == pid => {
                    if let Some(i) = open.iter().position(|j| j == jid) {
                        open.remove(i);
                    }
                }
                _ => {}
            }
        }
        open
    }

    /// Whether `jid` started in a process other than `pid` at or after `since_ms`, or was
    /// settled after its last start in `pid`: the job is running again or done. (A job seen
    /// running in `pid` may end and be settled there just before the fault lands: that run
    /// is done, and nothing will run it again.)
    pub fn moved_on(&self, jid: &str, pid: u32, since_ms: u64) -> bool {
        let started_here = self
            .events
            .iter()
            .filter_map(|e| match e {
                Event::Start {
                    jid: j,
                    pid: p,
                    at_ms,
                    ..
                } if j == jid && *p == pid => Some(*at_ms),
                _ => None,
            })
            .max()
            .unwrap_or(since_ms)
            .min(since_ms);
        self.events.iter().any(|e| match e {
            Event::Start {
                jid: j,
                pid: p,
                at_ms,
                ..
            } => j == jid && *p != pid && *at_ms >= since_ms,
            Event::Settled { jid: j, at_ms, .. } => j == jid && *at_ms >= started_here,
            _ => false,
        })
    }
}
