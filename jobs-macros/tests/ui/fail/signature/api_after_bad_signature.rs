//! After a bad return type, every part of the generated API still resolves and type-checks
//! from another module: the return type's error is the only error.

mod mailers {
    #[jobs::job(queue = "mailers", retry = 3)]
    pub async fn welcome(user_id: u64, locale: String) -> bool {
        user_id > 0 && !locale.is_empty()
    }
}

mod handlers {
    use crate::mailers;
    use jobs::prelude::*;
    use jobs::{EnqueueOptions, JobResult};

    pub async fn signup(client: &Client) -> Result<(), EnqueueError> {
        mailers::Welcome::perform_later(42, "en".into()).await?;
        mailers::Welcome::perform_in(Duration::from_secs(5), 42, "en".into()).await?;
        mailers::Welcome::perform_at(jobs::chrono::Utc::now(), 42, "en".into()).await?;
        let batch = vec![mailers::Welcome::new(1, "en".into())];
        mailers::Welcome::perform_all_later(batch).await?;
        let _: JobResult = mailers::Welcome::perform_now(42, "en".into()).await;
        let set: mailers::WelcomeSet = mailers::Welcome::set()
            .queue("critical")
            .wait(Duration::from_secs(1))
            .retry(3)
            .dead(false)
            .client(client);
        let _: JobId = set.perform_later(43, "fr".into()).await?;
        let job = mailers::Welcome {
            user_id: 1,
            locale: "en".into(),
        };
        let _ = (job.user_id, &job.locale);
        let _ = (mailers::Welcome::NAME, mailers::Welcome::options());
        client.enqueue(job, &EnqueueOptions::default()).await?;
        Ok(())
    }
}

fn main() {
    let _ = handlers::signup;
}
