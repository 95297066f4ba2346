//! Bad parameters (a pattern, a reference, `impl Trait`, generics, `&JobContext`, `State`
//! without its type): each is reported by `#[job]`, and calls passing the declared
//! arguments (through `crate::` paths, which rustc would report unresolved) add no error.
//! The one `E0107` is rustc's own about the bare `State` in the
//! function, which is emitted unchanged.

use jobs::prelude::*;

#[derive(Debug, thiserror::Error)]
#[error("x")]
struct E;

#[jobs::job]
async fn tag(
    (id, label): (u64, String),
    note: &str,
    shown: impl std::fmt::Display,
    count: u32,
) -> Result<(), E> {
    let _ = (id, label, note, shown.to_string(), count);
    Ok(())
}

#[jobs::job]
async fn greet<T: serde::Serialize + Send + 'static>(user: T, times: u8) -> Result<(), E> {
    let _ = (serde_json::to_value(user), times);
    Ok(())
}

#[jobs::job]
async fn notify(ctx: &JobContext, mailer: State, user_id: u64) -> Result<(), E> {
    let _ = (ctx, mailer, user_id);
    Ok(())
}

mod calls {
    use jobs::EnqueueError;

    pub async fn calls() -> Result<(), EnqueueError> {
        crate::Tag::perform_later((1, "x".into()), "note", 5, 3).await?;
        let job = crate::Tag::new((2, "y".into()), "note", "shown", 4);
        let _: u32 = job.count;
        crate::Greet::perform_later("anyone", 2).await?;
        crate::Greet::set().queue("low").perform_later(5u64, 1).await?;
        crate::Notify::perform_later(7).await?;
        let _: u64 = crate::Notify::new(8).user_id;
        Ok(())
    }
}

fn main() {
    let _ = calls::calls();
}
