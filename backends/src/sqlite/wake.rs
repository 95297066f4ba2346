//! Waking idle reservers: one [`Notify`] per database file per process.
//!
//! 1. Every backend opened on the same file in this process shares one [`Notify`], found by
//!    the file's canonical path, so a push through any of them wakes the reservers of all.
//! 2. The registry holds weak references: a file's `Notify` goes away with its last backend.
//! 3. Other processes cannot reach it; their pushes are seen at the next poll.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock, Weak};

use tokio::sync::Notify;

type Registry = Mutex<HashMap<PathBuf, Weak<Notify>>>;

fn registry() -> &'static Registry {
    static REGISTRY: OnceLock<Registry> = OnceLock::new();
    REGISTRY.get_or_init(Default::default)
}

/// The `Notify` shared by every backend of the file at `path` (canonicalized by the caller)
/// in this process.
pub(super) fn notifier(path: &Path) -> Arc<Notify> {
    // A panic while holding this lock cannot leave the map inconsistent.
    let mut map = registry().lock().unwrap_or_else(|e| e.into_inner());
    if let Some(notify) = map.get(path).and_then(Weak::upgrade) {
        return notify;
    }
    map.retain(|_, weak| weak.strong_count() > 0);
    let notify = Arc::new(Notify::new());
    map.insert(path.to_owned(), Arc::downgrade(&notify));
    notify
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_notify_per_file_while_in_use() {
        let a = notifier(Path::new("/wake-test/a.db"));
        let a2 = notifier(Path::new("/wake-test/a.db"));
        let b = notifier(Path::new("/wake-test/b.db"));
        assert!(Arc::ptr_eq(&a, &a2));
        assert!(!Arc::ptr_eq(&a, &b));
        let weak = Arc::downgrade(&a);
        drop((a, a2));
        assert!(weak.upgrade().is_none());
    }
}
