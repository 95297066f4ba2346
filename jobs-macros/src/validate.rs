//! Validation: option values and the function's signature, each error at its token.
//!
//! 1. [`validate`] turns [`RawArgs`] into typed [`Options`]; a bad value is reported and
//!    dropped, so the job is still generated with its other options and no error cascades.
//! 2. It checks the signature (async, no `self`, no generics, returns `Result`, arguments
//!    are plain names of owned types). A bad signature yields a [`Fallback`]: the job type
//!    as stubs, so call sites resolve and the signature's error is the only one.

use proc_macro2::Span;
use syn::ext::IdentExt;
use syn::{Expr, ExprLit, Ident, ItemFn, Lit, LitBool, LitStr, Pat, ReturnType, Type};

use crate::duration::parse_duration_ms;
use crate::fallback::Fallback;
use crate::parse::{Param, ParamKind, RawArgs};
use crate::Ctxt;

/// What to generate beside the user's function.
pub(crate) enum Validated<'a> {
    /// A valid job: generated in full.
    Job(Box<Job<'a>>),
    /// A signature that cannot make a job: the job type's API as stubs (errors are in `cx`).
    Fallback(Fallback<'a>),
    /// Nothing: the function is a method, or its name gives no valid type name.
    Nothing,
}

/// A validated job, ready to expand.
pub(crate) struct Job<'a> {
    /// The user's function.
    pub item: &'a ItemFn,
    /// The generated type's name, e.g. `SendWelcomeEmail`.
    pub ident: Ident,
    /// The wire name.
    pub name: LitStr,
    /// The parameters in declaration order.
    pub params: Vec<JobParam>,
    /// The options given.
    pub options: Options,
}

/// One parameter of a valid job function.
pub(crate) enum JobParam {
    /// A serialized argument.
    Arg(Arg),
    /// `State<T>`, with `T`.
    State(Type),
    /// `JobContext`.
    Context,
}

/// A serialized argument.
pub(crate) struct Arg {
    /// The field and parameter name as written (raw identifiers keep their `r#`).
    pub ident: Ident,
    /// The name shown in errors and signatures, without `r#`.
    pub name: String,
    /// The type.
    pub ty: Type,
}

/// Valid option values, with the span of what the user wrote.
#[derive(Default)]
pub(crate) struct Options {
    pub queue: Option<LitStr>,
    pub retry: Option<(Retry, Span)>,
    pub timeout: Option<(u64, Span)>,
    pub cancel_grace: Option<(u64, Span)>,
    pub dead: Option<LitBool>,
    pub backoff: Option<Expr>,
    pub backtrace: Option<(Backtrace, Span)>,
    pub on_exhausted: Option<Expr>,
    pub unique: Option<crate::flow::Unique>,
    pub priority: Option<(u8, Span)>,
    pub expires_in: Option<(u64, Span)>,
    pub limits: Vec<crate::limits::Limit>,
    /// `redact = [..]`: the 0-based positions among the arguments.
    pub redact: Vec<usize>,
    /// `active_job`: performed for Active Job's wrapper payloads.
    pub active_job: Option<Span>,
    /// `result_ttl = ".."`: how long the job's result is kept, in ms.
    pub result_ttl: Option<(u64, Span)>,
}

/// `retry = ...`.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Retry {
    Count(u32),
    Enabled(bool),
}

/// `backtrace = ...`.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Backtrace {
    Off,
    Chain,
    Lines(usize),
}

/// Checks everything; anything but [`Validated::Job`] means errors were recorded in `cx`.
pub(crate) fn validate<'a>(
    cx: &Ctxt,
    mut raw: RawArgs,
    params: Option<Vec<Param>>,
    item: &'a ItemFn,
) -> Validated<'a> {
    let raw_unique = raw.unique.take();
    let raw_redact = raw.redact.take();
    let raw_limits: Vec<_> = [raw.concurrency.take(), raw.rate.take()]
        .into_iter()
        .flatten()
        .collect();
    let (mut options, name) = validate_options(cx, raw);
    let signature_ok = validate_signature(cx, item);
    let Some(params) = params else {
        return Validated::Nothing;
    };
    let job_params = validate_params(cx, &params);
    if let Some(ps) = &job_params {
        let args: Vec<&Arg> = ps
            .iter()
            .filter_map(|p| match p {
                JobParam::Arg(a) => Some(a),
                _ => None,
            })
            .collect();
        options.unique = raw_unique.and_then(|raw| crate::flow::unique(cx, raw, &args));
        options.limits = raw_limits
            .into_iter()
            .filter_map(|raw| crate::limits::check(cx, raw, &args))
            .collect();
        if let Some(names) = &raw_redact {
            options.redact = crate::redact::check(cx, names, &args, &options.limits);
        }
    }
    let Some(ident) = type_ident(cx, &item.sig.ident) else {
        return Validated::Nothing;
    };
    let name = name.unwrap_or_else(|| LitStr::new(&ident.to_string(), Span::call_site()));
    match job_params {
        Some(params) if signature_ok => Validated::Job(Box::new(Job {
            item,
            ident,
            name,
            params,
            options,
        })),
        _ => Validated::Fallback(Fallback {
            item,
            ident,
            name,
            params,
        }),
    }
}

fn validate_options(cx: &Ctxt, raw: RawArgs) -> (Options, Option<LitStr>) {
    let options = Options {
        queue: raw.queue.and_then(|e| non_empty_str(cx, "queue", &e)),
        retry: raw.retry.and_then(|e| retry(cx, &e)),
        timeout: raw.timeout.and_then(|e| {
            let lit = non_empty_str(cx, "timeout", &e)?;
            match parse_duration_ms(&lit.value()) {
                Ok(ms) => Some((ms, lit.span())),
                Err(why) => {
                    cx.error_spanned_by(&lit, format!("bad `timeout`: {why}"));
                    None
                }
            }
        }),
        cancel_grace: raw.cancel_grace.and_then(|e| {
            let lit = non_empty_str(cx, "cancel_grace", &e)?;
            match parse_duration_ms(&lit.value()) {
                Ok(ms) => Some((ms, lit.span())),
                Err(why) => {
                    cx.error_spanned_by(&lit, format!("bad `cancel_grace`: {why}"));
                    None
                }
            }
        }),
        dead: raw.dead.and_then(|e| match literal(&e) {
            Some(Lit::Bool(b)) => Some(b.clone()),
            _ => {
                cx.error_spanned_by(&e, "`dead` takes `true` or `false`");
                None
            }
        }),
        backoff: raw.backoff,
        backtrace: raw.backtrace.and_then(|e| backtrace(cx, &e)),
        unique: None,
        limits: Vec::new(),
        redact: Vec::new(),
        active_job: raw.active_job,
        priority: raw.priority.and_then(|e| crate::flow::priority(cx, &e)),
        expires_in: raw
            .expires_in
            .and_then(|e| crate::flow::duration(cx, "expires_in", &e)),
        result_ttl: raw
            .result_ttl
            .and_then(|e| crate::flow::duration(cx, "result_ttl", &e)),
        on_exhausted: raw.on_exhausted.and_then(|e| match ungroup(&e) {
            Expr::Path(_) => Some(e),
            _ => {
                cx.error_spanned_by(
                    &e,
                    "`on_exhausted` takes the path of a function \
                     `fn(&JobEnvelope, &Failure) -> Exhausted`",
                );
                None
            }
        }),
    };
    let name = raw.name.and_then(|e| non_empty_str(cx, "name", &e));
    (options, name)
}

/// `expr` without the invisible groups a `macro_rules!` may put around it.
fn ungroup(mut expr: &Expr) -> &Expr {
    while let Expr::Group(g) = expr {
        expr = &g.expr;
    }
    expr
}

fn literal(expr: &Expr) -> Option<&Lit> {
    match ungroup(expr) {
        Expr::Lit(ExprLit { lit, .. }) => Some(lit),
        _ => None,
    }
}

fn non_empty_str(cx: &Ctxt, key: &str, expr: &Expr) -> Option<LitStr> {
    match literal(expr) {
        Some(Lit::Str(s)) if s.value().trim().is_empty() => {
            cx.error_spanned_by(s, format!("`{key}` must not be empty"));
            None
        }
        Some(Lit::Str(s)) => Some(s.clone()),
        _ => {
            cx.error_spanned_by(expr, format!("`{key}` takes a string literal"));
            None
        }
    }
}

fn retry(cx: &Ctxt, expr: &Expr) -> Option<(Retry, Span)> {
    match literal(expr) {
        Some(Lit::Bool(b)) => Some((Retry::Enabled(b.value), b.span())),
        Some(Lit::Int(i)) => match i.base10_parse::<u32>() {
            Ok(n) => Some((Retry::Count(n), i.span())),
            Err(_) => {
                cx.error_spanned_by(i, "`retry` count must fit in a u32");
                None
            }
        },
        _ => {
            cx.error_spanned_by(
                expr,
                "`retry` takes a count such as `retry = 5` (`0`: dead at the first failure), \
                 or `false` (discard at the first failure) or `true` (the default, 25)",
            );
            None
        }
    }
}

fn backtrace(cx: &Ctxt, expr: &Expr) -> Option<(Backtrace, Span)> {
    match literal(expr) {
        Some(Lit::Bool(b)) if b.value => Some((Backtrace::Chain, b.span())),
        Some(Lit::Bool(b)) => Some((Backtrace::Off, b.span())),
        Some(Lit::Int(i)) => match i.base10_parse::<usize>() {
            Ok(n) => Some((Backtrace::Lines(n), i.span())),
            Err(e) => {
                cx.syn_error(e);
                None
            }
        },
        _ => {
            cx.error_spanned_by(
                expr,
                "`backtrace` takes `false` (class and message only), `true` (the error chain) \
                 or a number of backtrace lines such as `backtrace = 20`",
            );
            None
        }
    }
}

/// The job type's name: the PascalCase of the function's name.
fn type_ident(cx: &Ctxt, fn_ident: &Ident) -> Option<Ident> {
    let pascal = pascal_case(&fn_ident.unraw().to_string());
    match syn::parse_str::<Ident>(&pascal) {
        Ok(mut ident) => {
            ident.set_span(fn_ident.span());
            Some(ident)
        }
        Err(_) => {
            cx.error_spanned_by(
                fn_ident,
                format!("#[job] names the job type `{pascal}` after this function, which is not a valid name"),
            );
            None
        }
    }
}

/// `send_welcome_email` -> `SendWelcomeEmail`.
pub(crate) fn pascal_case(snake: &str) -> String {
    snake
        .split('_')
        .flat_map(|part| {
            let mut chars = part.chars();
            chars.next().map(|c| c.to_uppercase().chain(chars))
        })
        .flatten()
        .collect()
}

fn validate_signature(cx: &Ctxt, item: &ItemFn) -> bool {
    let sig = &item.sig;
    let before = cx.error_count();
    if sig.asyncness.is_none() {
        cx.error_spanned_by(sig.fn_token, "#[job] needs an `async fn`");
    }
    if let Some(c) = &sig.constness {
        cx.error_spanned_by(c, "a #[job] function cannot be `const`");
    }
    if let Some(u) = &sig.unsafety {
        cx.error_spanned_by(
            u,
            "a #[job] function cannot be `unsafe`: the worker calls it",
        );
    }
    if let Some(abi) = &sig.abi {
        cx.error_spanned_by(abi, "a #[job] function cannot have an `extern` ABI");
    }
    if !sig.generics.params.is_empty() {
        cx.error_spanned_by(
            &sig.generics,
            "a #[job] function cannot be generic: the worker must know the argument types",
        );
    } else if let Some(w) = &sig.generics.where_clause {
        cx.error_spanned_by(w, "a #[job] function cannot have a `where` clause");
    }
    match &sig.output {
        ReturnType::Default => cx.syn_error(syn::Error::new(
            sig.paren_token.span.close(),
            "a #[job] function must return `Result<(), E>` or `Result<Outcome, E>`",
        )),
        ReturnType::Type(_, ty) if !is_result(ty) => cx.error_spanned_by(
            ty,
            "a #[job] function must return `Result<(), E>` or `Result<Outcome, E>`, \
             where `E` is an error type",
        ),
        ReturnType::Type(..) => {}
    }
    cx.error_count() == before
}

fn is_result(ty: &Type) -> bool {
    match ty {
        Type::Group(g) => is_result(&g.elem),
        Type::Paren(p) => is_result(&p.elem),
        Type::Path(p) => p.path.segments.last().is_some_and(|s| s.ident == "Result"),
        _ => false,
    }
}

fn validate_params(cx: &Ctxt, params: &[Param]) -> Option<Vec<JobParam>> {
    let mut ok = true;
    let mut out = Vec::new();
    for param in params {
        match &param.kind {
            ParamKind::State(inner) => out.push(JobParam::State((**inner).clone())),
            ParamKind::Context => out.push(JobParam::Context),
            ParamKind::SpecialByRef(name) => {
                cx.error_spanned_by(
                    &param.ty,
                    format!("take `{name}` by value, without `&`: it is cheap to clone"),
                );
                ok = false;
            }
            ParamKind::Invalid => ok = false,
            ParamKind::Arg => match arg(cx, param) {
                Some(arg) => out.push(JobParam::Arg(arg)),
                None => ok = false,
            },
        }
    }
    ok.then_some(out)
}

/// The name a parameter binds, when it is a plain name (`user_id`, `mut user_id`).
pub(crate) fn plain_name(pat: &Pat) -> Option<&Ident> {
    match pat {
        Pat::Ident(p) if p.by_ref.is_none() && p.subpat.is_none() => Some(&p.ident),
        _ => None,
    }
}

fn arg(cx: &Ctxt, param: &Param) -> Option<Arg> {
    let ident = match plain_name(&param.pat) {
        Some(ident) => Some(ident.clone()),
        None => {
            cx.error_spanned_by(
                &param.pat,
                "a job argument must be a plain name such as `user_id: u64`: \
                 it names a field of the job type",
            );
            None
        }
    };
    let owned = match &*param.ty {
        Type::Reference(r) => {
            cx.error_spanned_by(
                r,
                "job arguments are stored as JSON and must be owned: \
                 take `String` rather than `&str`, `Vec<T>` rather than `&[T]`",
            );
            false
        }
        Type::ImplTrait(t) => {
            cx.error_spanned_by(
                t,
                "a job argument cannot be `impl Trait`: the worker must know its type",
            );
            false
        }
        _ => true,
    };
    let ident = ident.filter(|_| owned)?;
    Some(Arg {
        name: ident.unraw().to_string(),
        ident,
        ty: (*param.ty).clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pascal_case_of_function_names() {
        assert_eq!(pascal_case("send_welcome_email"), "SendWelcomeEmail");
        assert_eq!(pascal_case("ping"), "Ping");
        assert_eq!(pascal_case("_private__job_"), "PrivateJob");
        assert_eq!(pascal_case("job_2fa"), "Job2fa");
        assert_eq!(pascal_case("sendHTTP"), "SendHTTP");
        assert_eq!(pascal_case("état_initial"), "ÉtatInitial");
    }

    fn options(tokens: proc_macro2::TokenStream) -> (Options, Option<LitStr>, String) {
        let cx = Ctxt::new();
        let raw = crate::parse::parse_args(&cx, tokens);
        let (options, name) = validate_options(&cx, raw);
        (options, name, cx.into_compile_errors().to_string())
    }

    #[test]
    fn typed_option_values() {
        let (o, name, errors) = options(quote::quote!(
            retry = false,
            timeout = "2m",
            backtrace = 12,
            dead = false,
            name = "Welcome",
        ));
        assert!(errors.is_empty(), "{errors}");
        assert_eq!(o.retry.map(|r| r.0), Some(Retry::Enabled(false)));
        assert_eq!(o.timeout.map(|t| t.0), Some(120_000));
        assert_eq!(o.backtrace.map(|b| b.0), Some(Backtrace::Lines(12)));
        assert!(o.dead.is_some_and(|d| !d.value));
        assert_eq!(name.map(|n| n.value()), Some("Welcome".to_owned()));
    }

    #[test]
    fn bad_values_are_each_reported() {
        let (o, name, errors) = options(quote::quote!(
            queue = mailers,
            retry = -1,
            timeout = "soon",
            dead = 1,
            name = "",
            backtrace = "all",
            on_exhausted = || 1,
        ));
        assert!(o.queue.is_none() && o.retry.is_none() && o.timeout.is_none() && name.is_none());
        assert_eq!(errors.matches("compile_error").count(), 7, "{errors}");
        assert!(errors.contains("bad `timeout`"), "{errors}");
        let (o, _, errors) = options(quote::quote!(retry = 5000000000));
        assert!(
            o.retry.is_none() && errors.contains("fit in a u32"),
            "{errors}"
        );
    }
}
