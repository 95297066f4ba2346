//! The README's example: `State`, `JobContext` and two arguments, run end to end.

use std::sync::{Arc, Mutex};

use jobs::envelope::{JobEnvelope, RetrySetting};
use jobs::prelude::*;
use jobs::testing::TestJobs;
use jobs::{FailureKind, StateKey, States};

#[derive(Clone, Default)]
pub struct Mailer {
    sent: Arc<Mutex<Vec<String>>>,
}

#[derive(Debug, thiserror::Error)]
#[error("mail service unavailable for user {0}")]
pub struct MailError(u64);

/// Sends the welcome email.
#[jobs::job(queue = "mailers", retry = 5)]
pub async fn send_welcome_email(
    mailer: State<Mailer>,
    ctx: JobContext,
    user_id: u64,
    locale: String,
) -> Result<(), MailError> {
    if user_id == 0 {
        return Err(MailError(user_id));
    }
    let line = format!("{user_id}:{locale}:{}", ctx.queue());
    mailer.sent.lock().unwrap().push(line);
    Ok(())
}

fn context(states: States) -> JobContext {
    let envelope = JobEnvelope::new(SendWelcomeEmail::NAME, "mailers", Vec::new());
    JobContext::new(Arc::new(envelope), states)
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    assert_eq!(SendWelcomeEmail::NAME, "SendWelcomeEmail");
    let options = SendWelcomeEmail::options();
    assert_eq!(options.queue, "mailers");
    assert_eq!(options.retry, RetrySetting::Count(5));
    assert_eq!(
        SendWelcomeEmail::required_states(),
        vec![StateKey::of::<Mailer>()]
    );

    // The struct holds only the serialized arguments, as a JSON array in order.
    let job = SendWelcomeEmail::new(42, "en".into());
    let args = job.to_args().unwrap();
    assert_eq!(args, vec![serde_json::json!(42), serde_json::json!("en")]);
    let back = SendWelcomeEmail::from_args(&args).unwrap();
    assert_eq!((back.user_id, back.locale.as_str()), (42, "en"));

    // Stored arguments that do not fit are named.
    let err = SendWelcomeEmail::from_args(&[serde_json::json!("x"), serde_json::json!("en")]);
    let err = err.err().unwrap().to_string();
    assert!(err.contains("argument #1 `user_id: u64`"), "{err}");
    let err = SendWelcomeEmail::from_args(&[serde_json::json!(1)])
        .err()
        .unwrap();
    assert!(
        err.to_string()
            .contains("(user_id: u64, locale: String), got 1"),
        "{err}"
    );

    // perform: the state and context are supplied, the error is converted.
    let mailer = Mailer::default();
    let states = States::new().with(mailer.clone());
    let done = SendWelcomeEmail::new(7, "fr".into())
        .perform(context(states.clone()))
        .await;
    assert_eq!(done, Ok(Outcome::Done));
    assert_eq!(mailer.sent.lock().unwrap().as_slice(), ["7:fr:mailers"]);
    let failed = SendWelcomeEmail::new(0, "fr".into())
        .perform(context(states.clone()))
        .await;
    let failure = failed.unwrap_err();
    assert_eq!(failure.kind, FailureKind::Error);
    assert!(failure.class.ends_with("MailError"), "{}", failure.class);
    assert_eq!(failure.message, "mail service unavailable for user 0");
    let missing = SendWelcomeEmail::new(7, "fr".into())
        .perform(context(States::new()))
        .await;
    assert_eq!(missing.unwrap_err().kind, FailureKind::MissingState);

    // The function is still callable as written.
    send_welcome_email(State(mailer.clone()), context(states), 8, "de".into())
        .await
        .unwrap();

    // The enqueue API, on an isolated test store.
    let store = TestJobs::new().state(mailer.clone());
    store
        .scope(async {
            SendWelcomeEmail::perform_later(1, "en".into())
                .await
                .unwrap();
            SendWelcomeEmail::set()
                .queue("critical")
                .perform_later(2, "en".into())
                .await
                .unwrap();
        })
        .await;
    let queues: Vec<String> = store
        .all_enqueued()
        .await
        .into_iter()
        .map(|j| j.queue)
        .collect();
    assert!(queues.contains(&"mailers".to_owned()) && queues.contains(&"critical".to_owned()));
    store
        .assert_enqueued(&SendWelcomeEmail::new(2, "en".into()))
        .await;
    assert_eq!(store.drain().await.performed, 2);
    assert_eq!(mailer.sent.lock().unwrap().len(), 4);

    // Registered through inventory.
    let registry = jobs::Registry::from_inventory().unwrap();
    assert!(registry.get("SendWelcomeEmail").is_some());
}
