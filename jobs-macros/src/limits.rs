//! The limit options: `concurrency(limit = N, key = arg | [arg, ..])` and
//! `rate(limit = N, per = "1m", key = ..)`: parsed, checked at their tokens, expanded to
//! `JobOptions` builder calls.

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned};
use syn::ext::IdentExt;
use syn::parse::ParseStream;
use syn::punctuated::Punctuated;
use syn::{Expr, Ident, Lit, Token};

use crate::validate::Arg;
use crate::Ctxt;

/// Which option: `concurrency` or `rate`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Concurrency,
    Rate,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Concurrency => "concurrency",
            Kind::Rate => "rate",
        }
    }

    fn keys(self) -> &'static str {
        match self {
            Kind::Concurrency => "`limit`, `key`",
            Kind::Rate => "`limit`, `per`, `key`",
        }
    }

    fn example(self) -> &'static str {
        match self {
            Kind::Concurrency => {
                "`concurrency(limit = 2)` or `concurrency(limit = 1, key = account_id)`"
            }
            Kind::Rate => "`rate(limit = 100, per = \"1m\")`, optionally with `key = partner_id`",
        }
    }
}

/// `concurrency(...)` or `rate(...)` as written, values not yet checked.
pub(crate) struct RawLimit {
    kind: Kind,
    span: Span,
    limit: Option<Expr>,
    per: Option<Expr>,
    key: Option<Vec<Ident>>,
}

/// A checked limit.
pub(crate) struct Limit {
    kind: Kind,
    span: Span,
    limit: u32,
    per_ms: u64,
    /// Positions of the key's arguments; `None`: one limit for the job type.
    positions: Option<Vec<usize>>,
}

impl Limit {
    /// Whether the argument at `position` is part of the limit's key.
    pub(crate) fn keys_by(&self, position: usize) -> bool {
        self.positions
            .as_ref()
            .is_some_and(|p| p.contains(&position))
    }

    /// `concurrency` or `rate`.
    pub(crate) fn kind_name(&self) -> &'static str {
        self.kind.name()
    }
}

/// Reads `( key = value, ... )` after the `concurrency` or `rate` keyword.
pub(crate) fn parse(input: ParseStream, kind: Kind, span: Span) -> syn::Result<RawLimit> {
    if !input.peek(syn::token::Paren) {
        return Err(syn::Error::new(
            span,
            format!("expected {}", kind.example()),
        ));
    }
    let content;
    syn::parenthesized!(content in input);
    let mut raw = RawLimit {
        kind,
        span,
        limit: None,
        per: None,
        key: None,
    };
    if let Err(e) = parse_keys(&content, &mut raw) {
        while !content.is_empty() {
            content.parse::<proc_macro2::TokenTree>()?;
        }
        return Err(e);
    }
    Ok(raw)
}

fn parse_keys(content: ParseStream, raw: &mut RawLimit) -> syn::Result<()> {
    let kind = raw.kind;
    while !content.is_empty() {
        let key = Ident::parse_any(content)?;
        content.parse::<Token![=]>()?;
        let twice = || {
            let message = format!("`{key}` given twice in `{}`", kind.name());
            syn::Error::new(key.span(), message)
        };
        match key.to_string().as_str() {
            "key" => {
                let names: Vec<Ident> = if content.peek(syn::token::Bracket) {
                    let list;
                    syn::bracketed!(list in content);
                    let names: Punctuated<Ident, Token![,]> =
                        list.parse_terminated(Ident::parse_any, Token![,])?;
                    names.into_iter().collect()
                } else {
                    vec![Ident::parse_any(content)?]
                };
                if raw.key.replace(names).is_some() {
                    return Err(twice());
                }
            }
            "limit" if raw.limit.replace(content.parse()?).is_some() => return Err(twice()),
            "per" if kind == Kind::Rate && raw.per.replace(content.parse()?).is_some() => {
                return Err(twice())
            }
            "limit" => {}
            "per" if kind == Kind::Rate => {}
            _ => {
                let message = format!(
                    "unknown `{}` key `{key}`; expected one of: {}",
                    kind.name(),
                    kind.keys()
                );
                return Err(syn::Error::new(key.span(), message));
            }
        }
        if !content.is_empty() {
            content.parse::<Token![,]>()?;
        }
    }
    Ok(())
}

/// Checks a limit against the job's arguments.
pub(crate) fn check(cx: &Ctxt, raw: RawLimit, args: &[&Arg]) -> Option<Limit> {
    let kind = raw.kind;
    let limit = match &raw.limit {
        None => {
            let message = format!("`{}` needs `limit = N`: {}", kind.name(), kind.example());
            cx.syn_error(syn::Error::new(raw.span, message));
            None
        }
        Some(e) => match crate::flow::lit(e) {
            Some(Lit::Int(i)) => match i.base10_parse::<u32>() {
                Ok(n) if n >= 1 => Some(n),
                _ => {
                    cx.error_spanned_by(i, "`limit` must be a whole number of at least 1");
                    None
                }
            },
            _ => {
                cx.error_spanned_by(e, "`limit` takes a whole number of at least 1");
                None
            }
        },
    };
    let per_ms = match (kind, &raw.per) {
        (Kind::Concurrency, _) => Some(0),
        (Kind::Rate, None) => {
            let message = "`rate` needs `per = \"...\"`: the window, such as \"1s\" or \"1m\"";
            cx.syn_error(syn::Error::new(raw.span, message));
            None
        }
        (Kind::Rate, Some(e)) => crate::flow::duration(cx, "per", e).map(|(ms, _)| ms),
    };
    let positions = raw
        .key
        .map(|names| crate::flow::positions(cx, &names, args));
    let ok = !matches!(positions, Some(None));
    let positions = positions.flatten();
    match (ok, limit, per_ms) {
        (true, Some(limit), Some(per_ms)) => Some(Limit {
            kind,
            span: raw.span,
            limit,
            per_ms,
            positions,
        }),
        _ => None,
    }
}

/// The builder calls for the limits.
pub(crate) fn expand(limits: &[Limit]) -> TokenStream {
    let mut calls = TokenStream::new();
    for l in limits {
        let n = l.limit;
        let mut spec = match l.kind {
            Kind::Concurrency => quote_spanned!(l.span=> ::jobs::Concurrency::limit(#n)),
            Kind::Rate => {
                let ms = l.per_ms;
                quote_spanned!(l.span=> ::jobs::Rate::limit(#n, ::core::time::Duration::from_millis(#ms)))
            }
        };
        if let Some(positions) = &l.positions {
            spec.extend(quote!(.key(&[#(#positions),*])));
        }
        calls.extend(match l.kind {
            Kind::Concurrency => quote_spanned!(l.span=> .concurrency(#spec)),
            Kind::Rate => quote_spanned!(l.span=> .rate(#spec)),
        });
    }
    calls
}
