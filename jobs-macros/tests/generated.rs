//! The expansion compiled as ordinary code: `cargo clippy --all-targets` lints what `#[job]`
//! generates, and `missing_docs` checks that every generated public item is documented.

#![deny(missing_docs, unused)]

use jobs::prelude::*;

/// Shared state.
#[derive(Clone)]
pub struct Mailer;

/// The job's error.
#[derive(Debug, thiserror::Error)]
#[error("mail error")]
pub struct MailError;

/// Sends the welcome email.
#[jobs::job(queue = "mailers", retry = 5, timeout = "30s")]
pub async fn send_welcome_email(
    mailer: State<Mailer>,
    ctx: JobContext,
    user_id: u64,
    locale: String,
) -> Result<(), MailError> {
    let _ = (mailer, ctx.jid(), user_id, locale);
    Ok(())
}

/// No arguments.
#[jobs::job]
pub async fn ping() -> Result<Outcome, MailError> {
    Ok(Outcome::Done)
}

/// Private jobs are fine too.
#[jobs::job(name = "Private")]
#[allow(clippy::too_many_arguments)]
async fn private_job(
    a: u8,
    b: u8,
    c: u8,
    d: u8,
    e: u8,
    f: u8,
    g: u8,
    h: u8,
) -> Result<(), MailError> {
    let _ = (a, b, c, d, e, f, g, h);
    Ok(())
}

#[test]
fn arguments_round_trip_through_json() {
    let job = SendWelcomeEmail::new(42, "en".into());
    let back = SendWelcomeEmail::from_args(&job.to_args().unwrap()).unwrap();
    assert_eq!((back.user_id, back.locale.as_str()), (42, "en"));
    assert_eq!(
        SendWelcomeEmail::options().timeout,
        Some(Duration::from_secs(30))
    );
    assert!(Ping::new().to_args().unwrap().is_empty());
    let private = PrivateJob::new(1, 2, 3, 4, 5, 6, 7, 8);
    assert_eq!(private.to_args().unwrap().len(), 8);
    assert_eq!(PrivateJob::NAME, "Private");
}
