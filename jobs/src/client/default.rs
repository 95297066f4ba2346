//! The current client: scoped to a task, else the process default, else made from `JOBS_URL`.

use std::sync::{Arc, RwLock};

use super::{Client, EnqueueError};

/// The environment variable naming the default backend, e.g. `redis://127.0.0.1:6379/0`.
pub const JOBS_URL: &str = "JOBS_URL";

tokio::task_local! {
    pub(super) static CURRENT: Client;
}

static DEFAULT: RwLock<Option<Client>> = RwLock::new(None);
static FROM_ENV: tokio::sync::OnceCell<Client> = tokio::sync::OnceCell::const_new();

/// Sets the client `perform_later` uses when none is scoped to the task. Call it once at
/// start; a later call replaces it.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let backend = jobs::connect("memory://").await.unwrap();
/// jobs::set_default_client(jobs::Client::new(backend));
/// # });
/// ```
pub fn set_default_client(client: Client) {
    *DEFAULT.write().unwrap_or_else(|e| e.into_inner()) = Some(client);
}

impl Client {
    /// The current client: scoped to this task, else the process default, else one made
    /// from `JOBS_URL` on first use.
    pub async fn current() -> Result<Client, EnqueueError> {
        if let Ok(c) = CURRENT.try_with(Client::clone) {
            return Ok(c);
        }
        if let Some(c) = DEFAULT.read().unwrap_or_else(|e| e.into_inner()).clone() {
            return Ok(c);
        }
        let Ok(url) = std::env::var(JOBS_URL) else {
            return Err(EnqueueError::NoClient);
        };
        let client = FROM_ENV
            .get_or_try_init(|| async {
                let backend = crate::connect(&url).await?;
                let backend: Arc<dyn crate::backend::Backend> = backend;
                Ok::<_, EnqueueError>(Client::new(backend))
            })
            .await?;
        Ok(client.clone())
    }
}
