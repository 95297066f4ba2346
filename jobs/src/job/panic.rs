//! Panics inside a job or a user's hook, turned into values: a run that panicked is a
//! failure with the panic's message, never a crashed worker.

use std::panic::AssertUnwindSafe;

use futures::FutureExt;

/// Runs a future, turning a panic into the panic's message.
pub(crate) async fn catch_panic<T>(fut: impl std::future::Future<Output = T>) -> Result<T, String> {
    AssertUnwindSafe(fut)
        .catch_unwind()
        .await
        .map_err(|p| panic_message(&*p))
}

/// The message of a panic payload.
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic with a non-string payload".to_owned()
    }
}
