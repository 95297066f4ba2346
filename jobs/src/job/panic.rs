//! The message of a panic inside a job or a user's hook (the worker and the retry path catch
//! it where they run the code): a run that panicked is a failure with this message, never a
//! crashed worker.

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
