//! The `#[job]` attribute of the `jobs` crate: parse, validate, expand.
//!
//! 1. `parse` reads the attribute's options and classifies the function's parameters.
//! 2. `validate` checks values and the signature, every error spanned at its token.
//! 3. `expand` generates the job type, its `Job` impl, its registration and hidden checks.
//! 4. `fallback` replaces 3 when the signature cannot make a job: the same job type and
//!    API as stubs, so call sites such as `Welcome::perform_later(..)` add no error.
//!
//! Errors are collected in a `Ctxt` and reported together. The user's function is always
//! emitted beside them, so one mistake does not cascade into errors about a missing function.

use std::cell::RefCell;
use std::fmt::Display;

use proc_macro::TokenStream;
use quote::{quote, ToTokens};

mod duration;
mod expand;
mod fallback;
mod flow;
mod limits;
mod parse;
mod redact;
mod validate;

/// Turns an `async fn` into a background job type.
///
/// ```
/// use jobs::prelude::*;
///
/// #[derive(Clone)]
/// struct Mailer;
///
/// impl Mailer {
///     async fn send_welcome(&self, user_id: u64, locale: &str) -> Result<(), MailError> {
///         println!("welcome {user_id} ({locale})");
///         Ok(())
///     }
/// }
///
/// #[derive(Debug, thiserror::Error)]
/// #[error("mail service unavailable")]
/// struct MailError;
///
/// /// Sends the welcome email.
/// #[jobs::job(queue = "mailers", retry = 5)]
/// async fn send_welcome_email(
///     mailer: State<Mailer>,
///     ctx: JobContext,
///     user_id: u64,
///     locale: String,
/// ) -> Result<(), MailError> {
///     println!("attempt {}", ctx.attempt());
///     mailer.send_welcome(user_id, &locale).await
/// }
///
/// // In a request handler:
/// async fn signup() -> Result<(), EnqueueError> {
///     SendWelcomeEmail::perform_later(42, "en".into()).await?;
///     SendWelcomeEmail::set().queue("critical").perform_later(43, "fr".into()).await?;
///     Ok(())
/// }
///
/// assert_eq!(SendWelcomeEmail::NAME, "SendWelcomeEmail");
/// assert_eq!(SendWelcomeEmail::options().queue, "mailers");
/// let job = SendWelcomeEmail::new(42, "en".into());
/// assert_eq!(job.to_args().unwrap(), vec![serde_json::json!(42), serde_json::json!("en")]);
/// ```
///
/// # What it generates
/// - The function itself, unchanged and still callable.
/// - `pub struct SendWelcomeEmail { pub user_id: u64, pub locale: String }`: the PascalCase
///   of the function's name, with its visibility and doc comments, holding the serialized
///   parameters, and `SendWelcomeEmail::new(user_id, locale)`.
/// - `impl jobs::Job for SendWelcomeEmail`: the arguments are stored as a JSON array in
///   declaration order; a stored job whose arguments do not fit fails with an error naming
///   the argument, its type and the value.
/// - Its registration with the worker (through `inventory`, re-exported by `jobs`).
/// - `perform_later`, `perform_in`, `perform_at`, `perform_now`, `perform_all_later` and
///   `set()` for per-call options.
///
/// # Parameters
/// A parameter of type `State<T>` receives the state given to the worker, and one of type
/// `JobContext` the running job's context; neither is serialized, and either may use a
/// pattern such as `State(mailer): State<Mailer>`. Every other parameter is a job argument:
/// a plain name whose owned type is `Serialize + DeserializeOwned + Send + 'static`.
///
/// # Options
/// Each at most once:
/// - `queue = "mailers"`: the queue (default `"default"`).
/// - `retry = 5`, `retry = 0` (dead at the first failure), `retry = false` (discarded at the
///   first failure) or `retry = true` (the default, 25 retries).
/// - `name = "Mailers::Welcome"`: the wire name stored with the job (default the type name).
/// - `timeout = "30s"`: a run longer than this fails; units `ms`, `s`, `m`, `h`, combinable
///   as in `"1m30s"`.
/// - `cancel_grace = "10s"`: how long the job may go on once cancelled before the worker
///   aborts it (default: the worker's, 30 s); see `JobContext::cancelled`.
/// - `dead = false`: a job whose retries are exhausted is discarded, not kept in the dead set.
/// - `backoff = jobs::retry::Backoff::Constant(Duration::from_secs(5))`: any expression of
///   type `jobs::retry::Backoff`; a function `fn(u32, &Failure) -> RetryDecision` is given as
///   `backoff = Backoff::Custom(my_fn)`.
/// - `backtrace = false` (nothing beyond class and message), `true` (the error chain, the
///   default) or `backtrace = 20` (the chain and up to 20 lines of backtrace).
/// - `on_exhausted = my_hook`: a `fn(&JobEnvelope, &Failure) -> Exhausted` called when the
///   retries are exhausted.
/// - `redact = [card_number, cvv]`: arguments shown as `"[redacted]"` wherever arguments are
///   shown (the dashboard, its API, argument errors; see `jobs::redact`). Each must name an
///   argument of the function (else a compile error at that name), and none may key a
///   `concurrency` or `rate` limit. The job still receives the real values, and the stored
///   payload keeps them. `#[redact]` on a parameter is the same as naming it here:
///   `async fn charge(order_id: u64, #[redact] card_number: String)`.
/// - `active_job` (a flag): the job is a Ruby Active Job class, performed for Active Job's
///   Sidekiq wrapper payloads naming it (give its Ruby class as `name`); its arguments are
///   decoded from Active Job's serialization (see `jobs::active_job`).
#[proc_macro_attribute]
pub fn job(args: TokenStream, input: TokenStream) -> TokenStream {
    expand_job(args.into(), input.into()).into()
}

/// The attribute on `proc_macro2` tokens, so it can be tested.
fn expand_job(
    args: proc_macro2::TokenStream,
    input: proc_macro2::TokenStream,
) -> proc_macro2::TokenStream {
    let mut item: syn::ItemFn = match syn::parse2(input.clone()) {
        Ok(item) => item,
        Err(e) => {
            let error = syn::Error::new(e.span(), format!("#[job] applies to an `async fn`: {e}"));
            let error = error.to_compile_error();
            return quote!(#input #error);
        }
    };
    let cx = Ctxt::new();
    let mut raw = parse::parse_args(&cx, args);
    // `#[redact]` on parameters: taken off the function (no such attribute exists), added
    // to `redact = [..]`.
    let marked = redact::take_marked(&cx, &mut item);
    if !marked.is_empty() {
        raw.redact.get_or_insert_with(Vec::new).extend(marked);
    }
    let sig = parse::parse_signature(&cx, &item);
    let generated = match validate::validate(&cx, raw, sig, &item) {
        validate::Validated::Job(job) => expand::expand(&job),
        validate::Validated::Fallback(fallback) => fallback::expand(&fallback),
        validate::Validated::Nothing => proc_macro2::TokenStream::new(),
    };
    let errors = cx.into_compile_errors();
    quote! {
        #item
        #generated
        #errors
    }
}

/// Collects errors so that several are reported at once.
pub(crate) struct Ctxt {
    errors: RefCell<Vec<syn::Error>>,
}

impl Ctxt {
    /// No errors yet.
    pub(crate) fn new() -> Self {
        Ctxt {
            errors: RefCell::new(Vec::new()),
        }
    }

    /// Records an error spanned at `tokens`.
    pub(crate) fn error_spanned_by<T: ToTokens, M: Display>(&self, tokens: T, message: M) {
        self.syn_error(syn::Error::new_spanned(tokens.into_token_stream(), message));
    }

    /// Records an error.
    pub(crate) fn syn_error(&self, error: syn::Error) {
        self.errors.borrow_mut().push(error);
    }

    /// Whether any error was recorded.
    #[cfg(test)]
    pub(crate) fn has_errors(&self) -> bool {
        self.error_count() > 0
    }

    /// How many errors so far, to tell whether a step added any.
    pub(crate) fn error_count(&self) -> usize {
        self.errors.borrow().len()
    }

    /// The errors as `compile_error!` invocations.
    pub(crate) fn into_compile_errors(self) -> proc_macro2::TokenStream {
        self.errors
            .into_inner()
            .iter()
            .map(syn::Error::to_compile_error)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expand_str(args: &str, item: &str) -> String {
        let args: proc_macro2::TokenStream = args.parse().unwrap();
        let item: proc_macro2::TokenStream = item.parse().unwrap();
        expand_job(args, item).to_string()
    }

    #[test]
    fn errors_are_collected_and_the_function_kept() {
        let out = expand_str(
            r#"queue = "", qeue = "x", retry = -1, retry = 2"#,
            "fn plain(a: u8) -> u8 { a }",
        );
        assert!(out.contains("fn plain"), "{out}");
        for needle in [
            "`queue` must not be empty",
            "unknown #[job] option `qeue`",
            "`retry` takes",
            "`retry` specified more than once",
            "needs an `async fn`",
            "must return `Result",
        ] {
            assert!(out.contains(needle), "missing {needle:?} in {out}");
        }
        // The signature cannot make a job: the type and its API are stubs, never registered.
        assert!(out.contains("struct Plain"), "{out}");
        assert!(out.contains("impl :: jobs :: Job for Plain"), "{out}");
        assert!(
            out.contains("define_set ! (PlainSet , Plain , (a : u8))"),
            "{out}"
        );
        assert!(
            out.contains("fn options () -> :: jobs :: JobOptions { :: core :: unreachable ! () }"),
            "{out}"
        );
        assert!(!out.contains("inventory"), "{out}");
    }

    #[test]
    fn a_method_gets_no_job_type() {
        let out = expand_str("", "async fn m(&self, a: u8) -> Result<(), E> { Ok(()) }");
        assert!(out.contains("async fn m"), "{out}");
        assert!(out.contains("does not take `self`"), "{out}");
        assert!(!out.contains("struct"), "{out}");
    }

    #[test]
    fn a_valid_job_is_not_a_stub() {
        let out = expand_str("", "async fn ping(a: u8) -> Result<(), E> { Ok(()) }");
        assert!(!out.contains("compile_error"), "{out}");
        assert!(out.contains("inventory :: submit"), "{out}");
        assert!(
            out.contains(
                "fn options () -> :: jobs :: JobOptions { :: jobs :: JobOptions :: new () . arity (1usize) . params (& [\"a\"]) }"
            ),
            "{out}"
        );
    }

    #[test]
    fn option_errors_alone_still_generate_the_job() {
        let out = expand_str("queue = 5", "async fn ping() -> Result<(), E> { Ok(()) }");
        assert!(out.contains("compile_error"), "{out}");
        assert!(out.contains("impl :: jobs :: Job for Ping"), "{out}");
    }

    #[test]
    fn cfg_and_docs_follow_the_function() {
        let out = expand_str(
            "",
            "/// Pings.\n#[cfg(unix)]\nasync fn ping() -> Result<(), E> { Ok(()) }",
        );
        // The function, the struct, `new`, the `Job` impl, the registration, `set()` and
        // the checks: each is compiled only where the function is.
        assert_eq!(out.matches("# [cfg (unix)]").count(), 7, "{out}");
        assert_eq!(out.matches("Pings.").count(), 2, "{out}");
    }

    #[test]
    fn not_a_function_is_an_error_beside_the_input() {
        let out = expand_str("", "struct S;");
        assert!(out.contains("struct S"), "{out}");
        assert!(out.contains("applies to an `async fn`"), "{out}");
    }
}
