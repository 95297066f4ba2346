//! What an enqueue did ([`Enqueued`]) and what to do when a unique job is a duplicate
//! ([`OnConflict`]).

use std::fmt;

use super::JobId;

/// What an enqueue did with one job.
///
/// It reads as the jid it names (`Deref<Target = str>`, `Display`, `Serialize`, `Into<String>`):
/// the new job's, or the job that holds the unique lock.
///
/// ```
/// use jobs::Enqueued;
/// let e = Enqueued::Duplicate("0123456789abcdef01234567".into());
/// assert!(e.is_duplicate());
/// assert_eq!(e.jid(), "0123456789abcdef01234567");
/// assert_eq!(e.len(), 24);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Enqueued {
    /// A new job was stored, with this jid.
    New(JobId),
    /// Nothing was stored: a unique job's duplicate. The jid is the job that holds the lock.
    Duplicate(JobId),
    /// A new job was stored in place of the waiting job that held its lock
    /// ([`OnConflict::Replace`]), which was deleted.
    Replaced {
        /// The new job.
        jid: JobId,
        /// The job deleted.
        replaced: JobId,
    },
}

impl Enqueued {
    /// The jid: the new job's, or for a duplicate the holder's.
    pub fn jid(&self) -> &str {
        match self {
            Enqueued::New(jid) | Enqueued::Duplicate(jid) | Enqueued::Replaced { jid, .. } => jid,
        }
    }

    /// The jid, owned.
    pub fn into_jid(self) -> JobId {
        match self {
            Enqueued::New(jid) | Enqueued::Duplicate(jid) | Enqueued::Replaced { jid, .. } => jid,
        }
    }

    /// Whether a job was stored (new, or in place of another).
    pub fn is_stored(&self) -> bool {
        !self.is_duplicate()
    }

    /// Whether nothing was stored because another job holds the unique lock.
    pub fn is_duplicate(&self) -> bool {
        matches!(self, Enqueued::Duplicate(_))
    }
}

impl std::ops::Deref for Enqueued {
    type Target = str;
    fn deref(&self) -> &str {
        self.jid()
    }
}

/// Serialized as the jid it names (a JSON string), as a jid was before unique jobs.
impl serde::Serialize for Enqueued {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.jid())
    }
}

/// Compared with a jid, an enqueue is the jid it names.
impl PartialEq<str> for Enqueued {
    fn eq(&self, other: &str) -> bool {
        self.jid() == other
    }
}

impl PartialEq<String> for Enqueued {
    fn eq(&self, other: &String) -> bool {
        self.jid() == other
    }
}

impl PartialEq<Enqueued> for String {
    fn eq(&self, other: &Enqueued) -> bool {
        self == other.jid()
    }
}

impl PartialEq<Enqueued> for &str {
    fn eq(&self, other: &Enqueued) -> bool {
        *self == other.jid()
    }
}

impl From<Enqueued> for String {
    fn from(e: Enqueued) -> String {
        e.into_jid()
    }
}

impl From<&Enqueued> for String {
    fn from(e: &Enqueued) -> String {
        e.jid().to_owned()
    }
}

impl fmt::Display for Enqueued {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.jid())
    }
}

/// What an enqueue does when a unique job's lock is held by another job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum OnConflict {
    /// Store nothing and answer [`Enqueued::Duplicate`] with the holder's jid.
    #[default]
    Skip,
    /// Delete the holder if it is still waiting (queued, scheduled, or waiting to retry) and
    /// store the new job ([`Enqueued::Replaced`]); a running holder is kept (a duplicate).
    Replace,
    /// Answer [`EnqueueError::Duplicate`](super::EnqueueError::Duplicate).
    Error,
}
