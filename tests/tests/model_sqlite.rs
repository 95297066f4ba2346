//! Model-based property test against the SQLite backend (see `jobs_conformance::model`), on
//! one file under the test's temporary directory, emptied with `clear_all` before every
//! case and deleted at the end. A restart closes the backend's connections and opens the
//! file again.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use jobs::backend::AdminBackend;
use jobs_backends::sqlite::{SqliteBackend, SqliteConfig};
use jobs_conformance::model::ModelStore;
use jobs_conformance::support::Subject;
use jobs_conformance::CaseError;

struct File {
    path: PathBuf,
    /// The backend in use, kept from case to case.
    current: Option<SqliteBackend>,
}

impl File {
    async fn connect(&mut self) -> Result<SqliteBackend, CaseError> {
        let backend = SqliteBackend::open(SqliteConfig::new(&self.path)).await?;
        self.current = Some(backend.clone());
        Ok(backend)
    }
}

#[async_trait(?Send)]
impl ModelStore for File {
    async fn open(&mut self) -> Result<Subject, CaseError> {
        let backend = match self.current.clone() {
            Some(b) => b,
            None => self.connect().await?,
        };
        backend.clear_all().await?;
        Ok(Arc::new(backend) as Arc<dyn AdminBackend>)
    }

    async fn restart(&mut self, old: Subject, _hard: bool) -> Result<Subject, CaseError> {
        if let Some(b) = self.current.take() {
            b.close().await;
        }
        drop(old);
        Ok(Arc::new(self.connect().await?) as Arc<dyn AdminBackend>)
    }
}

impl Drop for File {
    fn drop(&mut self) {
        remove(&self.path);
    }
}

/// Deletes a database file with its write-ahead log and shared-memory file.
fn remove(path: &Path) {
    for suffix in ["", "-wal", "-shm"] {
        let mut file = path.as_os_str().to_owned();
        file.push(suffix);
        let _ = std::fs::remove_file(file);
    }
}

jobs_conformance::model_suite!(
    sqlite,
    store: async {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
        std::fs::create_dir_all(&dir)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
        let path = dir.join(format!("model-{}.db", std::process::id()));
        remove(&path);
        Ok::<_, CaseError>(File { path, current: None })
    }
);
