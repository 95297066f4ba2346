//! The `redact = [argument, ..]` option (and `#[redact]` on a parameter, the same thing):
//! parsed, checked against the job's arguments (each error at its name), and expanded to
//! `JobOptions::redact` with the 0-based positions.

use proc_macro2::{Span, TokenStream};
use quote::quote;
use syn::ext::IdentExt;
use syn::parse::ParseStream;
use syn::{Ident, Token};

use crate::validate::Arg;
use crate::Ctxt;

/// `= [name, ..]` after `redact`: argument names, checked against the function later.
pub(crate) fn parse(input: ParseStream, span: Span) -> syn::Result<Vec<Ident>> {
    if !input.peek(Token![=]) {
        return Err(syn::Error::new(
            span,
            "expected `redact = [argument, ..]`, naming the job's secret arguments",
        ));
    }
    input.parse::<Token![=]>()?;
    if !input.peek(syn::token::Bracket) {
        return Err(input.error(
            "expected `[argument, ..]`: `redact` takes a list of the job's argument names",
        ));
    }
    let list;
    syn::bracketed!(list in input);
    let names = list.parse_terminated(Ident::parse_any, Token![,])?;
    Ok(names.into_iter().collect())
}

/// Takes every `#[redact]` off the function's parameters (no such attribute exists for the
/// compiler), and gives the names of the parameters it marked. One on a parameter that is
/// not a plain name is reported at the attribute.
pub(crate) fn take_marked(cx: &Ctxt, item: &mut syn::ItemFn) -> Vec<Ident> {
    let mut names = Vec::new();
    for input in &mut item.sig.inputs {
        let syn::FnArg::Typed(typed) = input else {
            continue;
        };
        let (marks, others): (Vec<_>, Vec<_>) = std::mem::take(&mut typed.attrs)
            .into_iter()
            .partition(|a| a.path().is_ident("redact"));
        typed.attrs = others;
        let Some(mark) = marks.first() else {
            continue;
        };
        if !matches!(mark.meta, syn::Meta::Path(_)) {
            cx.error_spanned_by(mark, "`#[redact]` takes no arguments");
        }
        match crate::validate::plain_name(&typed.pat) {
            Some(ident) => names.push(ident.clone()),
            None => cx.error_spanned_by(
                mark,
                "`#[redact]` marks a job argument, a plain name such as `card_number: String`",
            ),
        }
    }
    names
}

/// The positions of the arguments `redact = [..]` names, each error at its name: one that
/// is not an argument, or one that is part of a concurrency or rate key (the key holds the
/// value, and the dashboard shows the key).
pub(crate) fn check(
    cx: &Ctxt,
    names: &[Ident],
    args: &[&Arg],
    limits: &[crate::limits::Limit],
) -> Vec<usize> {
    let Some(positions) = crate::flow::positions(cx, names, args) else {
        return Vec::new();
    };
    for (name, position) in names.iter().zip(&positions) {
        if let Some(limit) = limits.iter().find(|l| l.keys_by(*position)) {
            cx.error_spanned_by(
                name,
                format!(
                    "`{}` is redacted, but it is part of the `{}` key, which holds its value \
                     and is shown on the dashboard; key the limit by other arguments",
                    name.unraw(),
                    limit.kind_name()
                ),
            );
        }
    }
    let mut positions = positions;
    positions.sort_unstable();
    positions.dedup();
    positions
}

/// The builder call, when any argument is redacted.
pub(crate) fn expand(positions: &[usize]) -> TokenStream {
    if positions.is_empty() {
        return TokenStream::new();
    }
    quote!(.redact(&[#(#positions),*]))
}
