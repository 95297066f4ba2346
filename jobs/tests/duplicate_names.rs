//! Two jobs sharing a wire name make every worker of the program refuse to build, naming both.
//! (Its own binary: the duplicate is collected from the whole program.)

use jobs::prelude::*;
use jobs::worker::BuildError;

#[derive(Debug, thiserror::Error)]
#[error("never")]
struct Never;

mod billing {
    use super::Never;

    #[jobs::job(name = "SendInvoice")]
    pub async fn send_invoice(invoice_id: u64) -> Result<(), Never> {
        let _ = invoice_id;
        Ok(())
    }
}

mod mailing {
    use super::Never;

    #[jobs::job(name = "SendInvoice")]
    pub async fn mail_invoice(address: String) -> Result<(), Never> {
        let _ = address;
        Ok(())
    }
}

#[tokio::test]
async fn a_worker_refuses_to_build_naming_both_jobs() {
    let backend = jobs::connect("memory://").await.unwrap();
    let Err(err) = Worker::builder(backend).handle_signals(false).build() else {
        panic!("a worker was built with two jobs named SendInvoice");
    };
    let BuildError::Duplicate(dup) = &err else {
        panic!("expected Duplicate, got {err:?}");
    };
    assert_eq!(dup.name, "SendInvoice");
    let mut both = [dup.first, dup.second];
    both.sort_unstable();
    assert!(both[0].ends_with("billing::SendInvoice"), "{both:?}");
    assert!(both[1].ends_with("mailing::MailInvoice"), "{both:?}");
    let text = err.to_string();
    assert!(
        text.contains("billing::SendInvoice") && text.contains("mailing::MailInvoice"),
        "{text}"
    );
    assert!(text.contains("`SendInvoice`"), "{text}");
}

#[test]
fn an_explicit_registry_refuses_the_second_as_well() {
    let err = jobs::Registry::new()
        .with::<billing::SendInvoice>()
        .unwrap()
        .with::<mailing::MailInvoice>()
        .unwrap_err();
    assert_eq!(err.name, "SendInvoice");
    // A registry of one of them is fine, so a worker can still be built with it.
    assert!(jobs::Registry::new().with::<mailing::MailInvoice>().is_ok());
}
