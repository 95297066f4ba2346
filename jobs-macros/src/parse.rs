//! Parsing: the attribute's `key = value` options and the function's parameters.
//!
//! 1. [`parse_args`] reads options with custom keywords, one generic "specified more than
//!    once" check, and recovery after each bad option so all of them are reported at once.
//!    Values are kept as expressions; [`crate::validate`] checks them.
//! 2. [`parse_signature`] sorts the parameters into job arguments, `State<T>` and
//!    `JobContext` by the last segment of their type's path.

use proc_macro2::{TokenStream, TokenTree};
use syn::ext::IdentExt;
use syn::parse::{ParseStream, Parser};
use syn::{Expr, FnArg, GenericArgument, Ident, ItemFn, Pat, PathArguments, Token, Type};

use crate::Ctxt;

mod kw {
    syn::custom_keyword!(queue);
    syn::custom_keyword!(retry);
    syn::custom_keyword!(name);
    syn::custom_keyword!(timeout);
    syn::custom_keyword!(dead);
    syn::custom_keyword!(backoff);
    syn::custom_keyword!(backtrace);
    syn::custom_keyword!(on_exhausted);
    syn::custom_keyword!(unique);
    syn::custom_keyword!(priority);
    syn::custom_keyword!(expires_in);
    syn::custom_keyword!(concurrency);
    syn::custom_keyword!(rate);
    syn::custom_keyword!(redact);
    syn::custom_keyword!(active_job);
    syn::custom_keyword!(cancel_grace);
    syn::custom_keyword!(result_ttl);
}

/// Every option, as listed in errors about an unknown one.
const KEYS: &str = "`queue`, `retry`, `name`, `timeout`, `dead`, `backoff`, `backtrace`, \
     `on_exhausted`, `unique`, `priority`, `expires_in`, `concurrency`, `rate`, `redact`, `active_job`, `cancel_grace`, `result_ttl`";

/// The options as written, each value not yet checked.
#[derive(Default)]
pub(crate) struct RawArgs {
    pub queue: Option<Expr>,
    pub retry: Option<Expr>,
    pub name: Option<Expr>,
    pub timeout: Option<Expr>,
    pub dead: Option<Expr>,
    pub backoff: Option<Expr>,
    pub backtrace: Option<Expr>,
    pub on_exhausted: Option<Expr>,
    pub unique: Option<crate::flow::RawUnique>,
    pub priority: Option<Expr>,
    pub expires_in: Option<Expr>,
    pub concurrency: Option<crate::limits::RawLimit>,
    pub rate: Option<crate::limits::RawLimit>,
    /// `redact = [name, ..]`: the names as written.
    pub redact: Option<Vec<Ident>>,
    /// `active_job`, a flag without a value: where it was written.
    pub active_job: Option<proc_macro2::Span>,
    /// `cancel_grace = "30s"`.
    pub cancel_grace: Option<Expr>,
    /// `result_ttl = "1h"`.
    pub result_ttl: Option<Expr>,
}

/// Reads the attribute's arguments, recording every error in `cx`.
pub(crate) fn parse_args(cx: &Ctxt, tokens: TokenStream) -> RawArgs {
    let parser = |input: ParseStream| Ok(parse_options(cx, input));
    match parser.parse2(tokens) {
        Ok(raw) => raw,
        Err(e) => {
            cx.syn_error(e);
            RawArgs::default()
        }
    }
}

fn parse_options(cx: &Ctxt, input: ParseStream) -> RawArgs {
    let mut raw = RawArgs::default();
    while !input.is_empty() {
        if let Err(e) = parse_option(cx, input, &mut raw) {
            cx.syn_error(e);
            skip_to_comma(input);
        }
        if input.is_empty() {
            break;
        }
        if let Err(e) = input.parse::<Token![,]>() {
            cx.syn_error(e);
            skip_to_comma(input);
            let _ = input.parse::<Option<Token![,]>>();
        }
    }
    raw
}

/// Skips the rest of a bad option.
fn skip_to_comma(input: ParseStream) {
    while !input.is_empty() && !input.peek(Token![,]) {
        if input.parse::<TokenTree>().is_err() {
            break;
        }
    }
}

fn parse_option(cx: &Ctxt, input: ParseStream, raw: &mut RawArgs) -> syn::Result<()> {
    macro_rules! options {
        ($($key:ident),*) => {
            $(
                if input.peek(kw::$key) {
                    let key: kw::$key = input.parse()?;
                    let value = parse_value(input, stringify!($key), key.span)?;
                    set_once(cx, &mut raw.$key, &key, stringify!($key), value);
                    return Ok(());
                }
            )*
        };
    }
    options!(
        queue,
        retry,
        name,
        timeout,
        dead,
        backoff,
        backtrace,
        on_exhausted,
        priority,
        expires_in,
        cancel_grace,
        result_ttl
    );
    if input.peek(kw::unique) {
        let key: kw::unique = input.parse()?;
        let unique = crate::flow::parse_unique(input, key.span)?;
        if raw.unique.is_some() {
            cx.error_spanned_by(key, "`unique` specified more than once");
        } else {
            raw.unique = Some(unique);
        }
        return Ok(());
    }
    if input.peek(kw::concurrency) {
        let key: kw::concurrency = input.parse()?;
        let limit = crate::limits::parse(input, crate::limits::Kind::Concurrency, key.span)?;
        if raw.concurrency.replace(limit).is_some() {
            cx.error_spanned_by(key, "`concurrency` specified more than once");
        }
        return Ok(());
    }
    if input.peek(kw::active_job) {
        let key: kw::active_job = input.parse()?;
        if input.peek(Token![=]) {
            return Err(syn::Error::new(
                key.span,
                "`active_job` is a flag and takes no value: write `#[job(name = \"WelcomeJob\", active_job)]`",
            ));
        }
        if raw.active_job.replace(key.span).is_some() {
            cx.error_spanned_by(key, "`active_job` specified more than once");
        }
        return Ok(());
    }
    if input.peek(kw::rate) {
        let key: kw::rate = input.parse()?;
        let limit = crate::limits::parse(input, crate::limits::Kind::Rate, key.span)?;
        if raw.rate.replace(limit).is_some() {
            cx.error_spanned_by(key, "`rate` specified more than once");
        }
        return Ok(());
    }
    if input.peek(kw::redact) {
        let key: kw::redact = input.parse()?;
        let names = crate::redact::parse(input, key.span)?;
        if raw.redact.replace(names).is_some() {
            cx.error_spanned_by(key, "`redact` specified more than once");
        }
        return Ok(());
    }
    if input.peek(Ident::peek_any) {
        let ident = Ident::parse_any(input)?;
        let message = format!("unknown #[job] option `{ident}`; expected one of: {KEYS}");
        return Err(syn::Error::new(ident.span(), message));
    }
    Err(input.error(format!("expected a #[job] option, one of: {KEYS}")))
}

/// `= value` after a key.
fn parse_value(input: ParseStream, key: &str, span: proc_macro2::Span) -> syn::Result<Expr> {
    if !input.peek(Token![=]) {
        return Err(syn::Error::new(span, format!("expected `{key} = ...`")));
    }
    input.parse::<Token![=]>()?;
    input.parse()
}

/// Stores an option's value, or reports the key given twice at its second occurrence.
fn set_once<K: quote::ToTokens>(
    cx: &Ctxt,
    slot: &mut Option<Expr>,
    key: &K,
    name: &str,
    value: Expr,
) {
    if slot.is_some() {
        cx.error_spanned_by(key, format!("`{name}` specified more than once"));
    } else {
        *slot = Some(value);
    }
}

/// One parameter of the job function.
pub(crate) struct Param {
    /// The pattern, e.g. `user_id` or `State(mailer)`.
    pub pat: Box<Pat>,
    /// The type as written.
    pub ty: Box<Type>,
    /// What the parameter is.
    pub kind: ParamKind,
}

/// What a parameter is, from its type.
pub(crate) enum ParamKind {
    /// A job argument, stored as JSON.
    Arg,
    /// `State<T>`, with `T`.
    State(Box<Type>),
    /// `JobContext`.
    Context,
    /// `&State<T>` or `&JobContext`: the kind's name, for an error.
    SpecialByRef(&'static str),
    /// A special type written wrongly, such as `State` without its `T` (already reported).
    Invalid,
}

/// The function's parameters, or `None` when there is a `self` receiver (reported here): a
/// method sits in an `impl` block, where no job type can be generated beside it.
pub(crate) fn parse_signature(cx: &Ctxt, item: &ItemFn) -> Option<Vec<Param>> {
    let mut params = Vec::new();
    let mut method = false;
    for input in &item.sig.inputs {
        match input {
            FnArg::Receiver(receiver) => {
                cx.error_spanned_by(
                    receiver,
                    "#[job] does not take `self`: a job is a free `async fn` whose \
                     parameters are its arguments",
                );
                method = true;
            }
            FnArg::Typed(typed) => {
                let kind = classify(&typed.ty).unwrap_or_else(|e| {
                    cx.syn_error(e);
                    ParamKind::Invalid
                });
                params.push(Param {
                    pat: typed.pat.clone(),
                    ty: typed.ty.clone(),
                    kind,
                });
            }
        }
    }
    (!method).then_some(params)
}

/// The name of a special type, if `ty` is one (by the last segment of its path).
fn special_name(ty: &Type) -> Option<(&'static str, &syn::PathSegment)> {
    let Type::Path(path) = ty else { return None };
    let last = path.path.segments.last()?;
    if last.ident == "State" {
        Some(("State", last))
    } else if last.ident == "JobContext" {
        Some(("JobContext", last))
    } else {
        None
    }
}

fn classify(ty: &Type) -> syn::Result<ParamKind> {
    let ty = ungroup(ty);
    if let Type::Reference(reference) = ty {
        if let Some((name, _)) = special_name(ungroup(&reference.elem)) {
            return Ok(ParamKind::SpecialByRef(name));
        }
    }
    match special_name(ty) {
        None => Ok(ParamKind::Arg),
        Some(("JobContext", _)) => Ok(ParamKind::Context),
        Some((_, segment)) => state_inner(ty, segment).map(|t| ParamKind::State(Box::new(t))),
    }
}

/// `T` in `State<T>`.
fn state_inner(ty: &Type, segment: &syn::PathSegment) -> syn::Result<Type> {
    if let PathArguments::AngleBracketed(args) = &segment.arguments {
        let mut types = args.args.iter().filter_map(|arg| match arg {
            GenericArgument::Type(t) => Some(t),
            _ => None,
        });
        if let (Some(inner), None, 1) = (types.next(), types.next(), args.args.len()) {
            return Ok(inner.clone());
        }
    }
    Err(syn::Error::new_spanned(
        ty,
        "expected `State<T>` with the state's type, e.g. `State<Mailer>`",
    ))
}

/// `ty` without invisible groups or parentheses around it.
fn ungroup(mut ty: &Type) -> &Type {
    loop {
        match ty {
            Type::Group(g) => ty = &g.elem,
            Type::Paren(p) => ty = &p.elem,
            _ => return ty,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::quote;

    fn parse(tokens: TokenStream) -> (RawArgs, Vec<String>) {
        let cx = Ctxt::new();
        let raw = parse_args(&cx, tokens);
        let errors = cx.into_compile_errors().to_string();
        let errors = errors
            .split("compile_error !")
            .skip(1)
            .map(str::to_owned)
            .collect();
        (raw, errors)
    }

    #[test]
    fn reads_every_option() {
        let (raw, errors) = parse(quote!(
            queue = "mailers",
            retry = 5,
            name = "W",
            timeout = "30s",
            dead = false,
            backoff = Backoff::Sidekiq,
            backtrace = 10,
            on_exhausted = hook,
            redact = [card, r#type],
        ));
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(raw.redact.map(|r| r.len()), Some(2));
        assert!(raw.queue.is_some() && raw.retry.is_some() && raw.name.is_some());
        assert!(raw.timeout.is_some() && raw.dead.is_some() && raw.backoff.is_some());
        assert!(raw.backtrace.is_some() && raw.on_exhausted.is_some());
    }

    #[test]
    fn reports_unknown_duplicate_and_missing_value_together() {
        let (raw, errors) = parse(quote!(qeue = "a", retry = 1, retry = 2, dead, queue = "b"));
        assert_eq!(errors.len(), 3, "{errors:?}");
        assert!(
            errors[0].contains("unknown #[job] option `qeue`"),
            "{errors:?}"
        );
        assert!(
            errors[1].contains("`retry` specified more than once"),
            "{errors:?}"
        );
        assert!(errors[2].contains("expected `dead = ...`"), "{errors:?}");
        assert!(raw.queue.is_some(), "options after an error are still read");
    }

    #[test]
    fn recovers_from_a_missing_comma() {
        let (raw, errors) = parse(quote!(queue = "a" retry = 1, dead = true));
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(raw.queue.is_some() && raw.dead.is_some());
    }

    #[test]
    fn keywords_and_literals_as_keys_are_errors() {
        let (_, errors) = parse(quote!(type = 1, "queue" = "a"));
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert!(
            errors[0].contains("unknown #[job] option `type`"),
            "{errors:?}"
        );
        assert!(errors[1].contains("expected a #[job] option"), "{errors:?}");
    }

    #[test]
    fn classifies_parameters_by_type() {
        let item: ItemFn = syn::parse_quote! {
            async fn f(
                State(m): jobs::State<Mailer>, ctx: JobContext, id: u64, c: &JobContext,
            ) -> Result<(), E> {}
        };
        let cx = Ctxt::new();
        let params = parse_signature(&cx, &item).unwrap();
        assert!(!cx.has_errors());
        assert!(
            matches!(&params[0].kind, ParamKind::State(t) if quote!(#t).to_string() == "Mailer")
        );
        assert!(matches!(params[1].kind, ParamKind::Context));
        assert!(matches!(params[2].kind, ParamKind::Arg));
        assert!(matches!(
            params[3].kind,
            ParamKind::SpecialByRef("JobContext")
        ));
    }

    #[test]
    fn state_without_its_type_is_an_invalid_parameter() {
        let item: ItemFn = syn::parse_quote!(
            async fn f(s: State, id: u64) {}
        );
        let cx = Ctxt::new();
        let params = parse_signature(&cx, &item).unwrap();
        assert!(matches!(params[0].kind, ParamKind::Invalid));
        assert!(matches!(params[1].kind, ParamKind::Arg));
        let errors = cx.into_compile_errors().to_string();
        assert!(errors.contains("expected `State<T>`"), "{errors}");
    }

    #[test]
    fn state_without_its_type_and_self_are_errors() {
        let item: ItemFn = syn::parse_quote!(
            async fn f(&self, s: State) {}
        );
        let cx = Ctxt::new();
        assert!(parse_signature(&cx, &item).is_none());
        let errors = cx.into_compile_errors().to_string();
        assert!(errors.contains("does not take `self`"), "{errors}");
        assert!(errors.contains("expected `State<T>`"), "{errors}");
    }
}
