//! One bad signature, and a call to `perform_later` from another module: the signature's
//! error is the only error. (rustc hides an unresolved bare `Welcome` after a macro error,
//! but not a path such as `mailers::Welcome`; without the generated stubs this call would
//! add "cannot find `Welcome` in `mailers`".)

mod mailers {
    #[derive(Debug, thiserror::Error)]
    #[error("x")]
    pub struct E;

    #[jobs::job]
    pub fn welcome(user_id: u64, locale: String) -> Result<(), E> {
        let _ = (user_id, locale);
        Ok(())
    }
}

mod handlers {
    use crate::mailers;

    pub async fn signup() -> Result<(), jobs::EnqueueError> {
        mailers::Welcome::perform_later(42, "en".into()).await?;
        Ok(())
    }
}

fn main() {
    let _ = handlers::signup();
}
