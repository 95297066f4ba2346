//! The flow-control options: `unique(by = [..], within = "..", until = "..", per_queue = ..)`,
//! `priority = 0..=9` and `expires_in = ".."`: parsed, checked at their tokens, expanded to
//! `JobOptions` builder calls.

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned};
use syn::ext::IdentExt;
use syn::parse::ParseStream;
use syn::punctuated::Punctuated;
use syn::{Expr, Ident, Lit, Token};

use crate::duration::parse_duration_ms;
use crate::validate::Arg;
use crate::Ctxt;

/// The keys `unique(...)` takes, as listed in errors.
const UNIQUE_KEYS: &str = "`by`, `within`, `until`, `per_queue`";

/// `unique(...)` as written, values not yet checked.
pub(crate) struct RawUnique {
    /// The `unique` keyword.
    pub span: Span,
    pub by: Option<Vec<Ident>>,
    pub within: Option<Expr>,
    pub until: Option<Expr>,
    pub per_queue: Option<Expr>,
}

/// A checked `unique(...)`.
pub(crate) struct Unique {
    span: Span,
    /// Positions of the arguments it is unique by; `None`: all.
    positions: Option<Vec<usize>>,
    per_queue: bool,
    within_ms: u64,
    until_start: bool,
}

/// Reads `( key = value, ... )` after the `unique` keyword.
pub(crate) fn parse_unique(input: ParseStream, span: Span) -> syn::Result<RawUnique> {
    if !input.peek(syn::token::Paren) {
        return Err(syn::Error::new(
            span,
            "expected `unique(within = \"10m\")`, with optional `by = [arg, ..]`, \
             `until = \"success\" | \"start\"` and `per_queue = true`",
        ));
    }
    let content;
    syn::parenthesized!(content in input);
    let mut raw = RawUnique {
        span,
        by: None,
        within: None,
        until: None,
        per_queue: None,
    };
    if let Err(e) = parse_unique_keys(&content, &mut raw) {
        // The rest of the group is skipped, so the one error stands alone.
        while !content.is_empty() {
            content.parse::<proc_macro2::TokenTree>()?;
        }
        return Err(e);
    }
    Ok(raw)
}

fn parse_unique_keys(content: ParseStream, raw: &mut RawUnique) -> syn::Result<()> {
    while !content.is_empty() {
        let key = Ident::parse_any(content)?;
        content.parse::<Token![=]>()?;
        let twice = || syn::Error::new(key.span(), format!("`{key}` given twice in `unique`"));
        match key.to_string().as_str() {
            "by" => {
                let list;
                syn::bracketed!(list in content);
                let names: Punctuated<Ident, Token![,]> =
                    list.parse_terminated(Ident::parse_any, Token![,])?;
                if raw.by.replace(names.into_iter().collect()).is_some() {
                    return Err(twice());
                }
            }
            "within" if raw.within.replace(content.parse()?).is_some() => return Err(twice()),
            "until" if raw.until.replace(content.parse()?).is_some() => return Err(twice()),
            "per_queue" if raw.per_queue.replace(content.parse()?).is_some() => return Err(twice()),
            "within" | "until" | "per_queue" => {}
            _ => {
                return Err(syn::Error::new(
                    key.span(),
                    format!("unknown `unique` key `{key}`; expected one of: {UNIQUE_KEYS}"),
                ))
            }
        }
        if !content.is_empty() {
            content.parse::<Token![,]>()?;
        }
    }
    Ok(())
}

/// The literal an option's value is, under any invisible groups.
pub(crate) fn lit(expr: &Expr) -> Option<&Lit> {
    let mut e = expr;
    while let Expr::Group(g) = e {
        e = &g.expr;
    }
    match e {
        Expr::Lit(l) => Some(&l.lit),
        _ => None,
    }
}

/// A duration option's milliseconds (more than zero: `parse_duration_ms` refuses zero),
/// reported at its token when bad.
pub(crate) fn duration(cx: &Ctxt, key: &str, expr: &Expr) -> Option<(u64, Span)> {
    let Some(Lit::Str(s)) = lit(expr) else {
        cx.error_spanned_by(expr, format!("`{key}` takes a duration such as \"10m\""));
        return None;
    };
    match parse_duration_ms(&s.value()) {
        Ok(ms) => Some((ms, s.span())),
        Err(why) => {
            cx.error_spanned_by(s, format!("bad `{key}`: {why}"));
            None
        }
    }
}

/// `priority = 0..=9`.
pub(crate) fn priority(cx: &Ctxt, expr: &Expr) -> Option<(u8, Span)> {
    match lit(expr) {
        Some(Lit::Int(i)) => match i.base10_parse::<u8>() {
            Ok(p) if p <= 9 => Some((p, i.span())),
            _ => {
                cx.error_spanned_by(i, "`priority` runs from 0 (first, the default) to 9 (last)");
                None
            }
        },
        _ => {
            cx.error_spanned_by(expr, "`priority` takes a number from 0 (first) to 9 (last)");
            None
        }
    }
}

/// The positions of the arguments `names`, each error reported at its name; `None` when one
/// is not an argument of the job.
pub(crate) fn positions(cx: &Ctxt, names: &[Ident], args: &[&Arg]) -> Option<Vec<usize>> {
    let mut ok = true;
    let found: Vec<usize> = names
        .iter()
        .filter_map(|n| {
            let found = args.iter().position(|a| n.unraw() == a.name);
            if found.is_none() {
                ok = false;
                let known: Vec<String> = args.iter().map(|a| format!("`{}`", a.name)).collect();
                let known = match known.is_empty() {
                    true => "it has none".to_owned(),
                    false => format!("its arguments are {}", known.join(", ")),
                };
                cx.error_spanned_by(n, format!("`{n}` is not an argument of this job; {known}"));
            }
            found
        })
        .collect();
    ok.then_some(found)
}

/// Checks `unique(...)` against the job's arguments.
pub(crate) fn unique(cx: &Ctxt, raw: RawUnique, args: &[&Arg]) -> Option<Unique> {
    let positions = raw.by.map(|names| positions(cx, &names, args));
    let ok = !matches!(positions, Some(None));
    let positions = positions.flatten();
    let within = match &raw.within {
        Some(e) => duration(cx, "within", e),
        None => {
            cx.syn_error(syn::Error::new(
                raw.span,
                "`unique` needs `within = \"...\"`: how long the lock may live at most, so a \
                 lost job cannot hold it for ever",
            ));
            None
        }
    };
    let until_start = match &raw.until {
        None => Some(false),
        Some(e) => match lit(e) {
            Some(Lit::Str(s)) if s.value() == "success" => Some(false),
            Some(Lit::Str(s)) if s.value() == "start" => Some(true),
            _ => {
                cx.error_spanned_by(e, "`until` takes \"success\" (the default) or \"start\"");
                None
            }
        },
    };
    let per_queue = match &raw.per_queue {
        None => Some(false),
        Some(e) => match lit(e) {
            Some(Lit::Bool(b)) => Some(b.value),
            _ => {
                cx.error_spanned_by(e, "`per_queue` takes `true` or `false`");
                None
            }
        },
    };
    match (ok, within, until_start, per_queue) {
        (true, Some((within_ms, _)), Some(until_start), Some(per_queue)) => Some(Unique {
            span: raw.span,
            positions,
            per_queue,
            within_ms,
            until_start,
        }),
        _ => None,
    }
}

/// The builder calls for the flow options.
pub(crate) fn expand(
    unique: Option<&Unique>,
    priority: Option<&(u8, Span)>,
    expires_in: Option<&(u64, Span)>,
) -> TokenStream {
    let mut calls = TokenStream::new();
    if let Some(u) = unique {
        let ms = u.within_ms;
        let mut spec = quote_spanned!(u.span=> ::jobs::Unique::within(::core::time::Duration::from_millis(#ms)));
        if let Some(positions) = &u.positions {
            spec.extend(quote!(.args(&[#(#positions),*])));
        }
        if u.per_queue {
            spec.extend(quote!(.queue(true)));
        }
        if u.until_start {
            spec.extend(quote!(.until(::jobs::envelope::flow::UniqueUntil::Start)));
        }
        calls.extend(quote_spanned!(u.span=> .unique(#spec)));
    }
    if let Some((p, span)) = priority {
        calls.extend(quote_spanned!(*span=> .priority(#p)));
    }
    if let Some((ms, span)) = expires_in {
        calls.extend(quote_spanned!(*span=> .expires_in(::core::time::Duration::from_millis(#ms))));
    }
    calls
}
