//! The fallback for a signature that cannot make a job: the job type and its API as stubs.
//!
//! Without it, every `Welcome::perform_later(..)` in the user's crate would add a "cannot
//! find type" error to the one about the signature. With it, the call sites resolve and the
//! signature's error is the only one.
//!
//! 1. The struct, with the function's visibility, doc comments and `#[cfg]`s, holding each
//!    argument that can be a field (a plain name, whose type is neither a reference nor
//!    `impl Trait` and does not name the function's generics).
//! 2. `new`, taking every argument the function declares, in order; a type naming the
//!    function's generics becomes `impl Sized`, since those generics are not in scope.
//! 3. `impl ::jobs::Job` with `unreachable!()` bodies: never run (the crate does not
//!    compile), but they let the enqueue API and calls such as `client.enqueue(job)` check.
//! 4. `::jobs::__private::define_set!` with the same parameters as `new`, so `set()`,
//!    `perform_later` and the rest are exactly the generated API.
//!
//! No registration and no hidden checks: they would only report the same mistake again.

use proc_macro2::{Ident, TokenStream, TokenTree};
use quote::{format_ident, quote, ToTokens};
use syn::{GenericParam, ItemFn, LitStr, Type};

use crate::expand::{struct_docs, under_cfgs};
use crate::parse::{Param, ParamKind};
use crate::validate::plain_name;

/// A job whose signature has errors, already reported.
pub(crate) struct Fallback<'a> {
    /// The user's function.
    pub item: &'a ItemFn,
    /// The job type's name, as a valid job would have it.
    pub ident: Ident,
    /// The wire name.
    pub name: LitStr,
    /// The parameters as parsed, in declaration order.
    pub params: Vec<Param>,
}

/// One argument of the stub API.
struct StubArg {
    /// The parameter's name, or `__jobs_argN` for a pattern.
    ident: Ident,
    /// The type the stub takes.
    ty: Type,
    /// Whether the struct has a field for it.
    field: bool,
}

/// The stub items, each under the function's `#[cfg]`s.
pub(crate) fn expand(fallback: &Fallback) -> TokenStream {
    let args = stub_args(fallback);
    let items = [
        stub_struct(fallback, &args),
        stub_constructor(fallback, &args),
        stub_job_impl(fallback),
        stub_enqueue_api(fallback, &args),
    ];
    under_cfgs(fallback.item, items)
}

/// The job arguments the function declares, as the stubs take them.
fn stub_args(fallback: &Fallback) -> Vec<StubArg> {
    let generics: Vec<String> = fallback
        .item
        .sig
        .generics
        .params
        .iter()
        .map(|p| match p {
            GenericParam::Type(t) => t.ident.to_string(),
            GenericParam::Lifetime(l) => l.lifetime.ident.to_string(),
            GenericParam::Const(c) => c.ident.to_string(),
        })
        .collect();
    fallback
        .params
        .iter()
        .filter(|p| matches!(p.kind, ParamKind::Arg))
        .enumerate()
        .map(|(i, param)| {
            let name = plain_name(&param.pat).cloned();
            let local = names_any(param.ty.to_token_stream(), &generics);
            let ty = if local {
                syn::parse_quote!(impl ::core::marker::Sized)
            } else {
                (*param.ty).clone()
            };
            let field = name.is_some() && !local && !unstorable(&param.ty);
            StubArg {
                ident: name.unwrap_or_else(|| format_ident!("__jobs_arg{}", i + 1)),
                ty,
                field,
            }
        })
        .collect()
}

/// Whether a type cannot be a field: a reference or `impl Trait`, under any grouping.
fn unstorable(ty: &Type) -> bool {
    match ty {
        Type::Group(g) => unstorable(&g.elem),
        Type::Paren(p) => unstorable(&p.elem),
        Type::Reference(_) | Type::ImplTrait(_) => true,
        _ => false,
    }
}

/// Whether `tokens` contain one of `names` as an identifier (a lifetime's too), at any depth.
fn names_any(tokens: TokenStream, names: &[String]) -> bool {
    tokens.into_iter().any(|token| match token {
        TokenTree::Ident(ident) => names.iter().any(|n| ident == n),
        TokenTree::Group(group) => names_any(group.stream(), names),
        _ => false,
    })
}

fn stub_struct(fallback: &Fallback, args: &[StubArg]) -> TokenStream {
    let vis = &fallback.item.vis;
    let ident = &fallback.ident;
    let docs = struct_docs(fallback.item);
    let fields = args.iter().filter(|a| a.field).map(|arg| {
        let (field, ty) = (&arg.ident, &arg.ty);
        quote!(#[doc = "An argument."] pub #field: #ty)
    });
    quote! {
        #docs
        #vis struct #ident {
            #(#fields,)*
        }
    }
}

fn stub_constructor(fallback: &Fallback, args: &[StubArg]) -> TokenStream {
    let vis = &fallback.item.vis;
    let ident = &fallback.ident;
    let params = args.iter().map(|arg| {
        let ty = &arg.ty;
        if arg.field {
            let field = &arg.ident;
            quote!(#field: #ty)
        } else {
            quote!(_: #ty)
        }
    });
    let fields = args.iter().filter(|a| a.field).map(|a| &a.ident);
    quote! {
        impl #ident {
            /// The job with these arguments, ready to enqueue.
            #[allow(dead_code, clippy::too_many_arguments)]
            #vis fn new(#(#params),*) -> Self {
                Self { #(#fields),* }
            }
        }
    }
}

fn stub_job_impl(fallback: &Fallback) -> TokenStream {
    let ident = &fallback.ident;
    let name = &fallback.name;
    quote! {
        #[allow(unreachable_code, clippy::all)]
        impl ::jobs::Job for #ident {
            const NAME: &'static str = #name;

            fn options() -> ::jobs::JobOptions {
                ::core::unreachable!()
            }

            fn to_args(&self) -> ::core::result::Result<
                ::std::vec::Vec<::jobs::__private::serde_json::Value>,
                ::jobs::ArgsError,
            > {
                ::core::unreachable!()
            }

            fn from_args(
                _: &[::jobs::__private::serde_json::Value],
            ) -> ::core::result::Result<Self, ::jobs::ArgsError> {
                ::core::unreachable!()
            }

            fn perform(
                self,
                _: ::jobs::JobContext,
            ) -> ::jobs::__private::BoxFuture<'static, ::jobs::JobResult> {
                ::core::unreachable!()
            }
        }
    }
}

fn stub_enqueue_api(fallback: &Fallback, args: &[StubArg]) -> TokenStream {
    let vis = &fallback.item.vis;
    let ident = &fallback.ident;
    let set = format_ident!("{}Set", ident);
    let params = args.iter().map(|arg| {
        let (name, ty) = (&arg.ident, &arg.ty);
        quote!(#name: #ty)
    });
    quote! {
        ::jobs::__private::define_set!(#vis #set, #ident, (#(#params),*));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Ctxt;

    fn stubs(item: ItemFn) -> Vec<(String, String, bool)> {
        let cx = Ctxt::new();
        let params = crate::parse::parse_signature(&cx, &item).unwrap();
        let fallback = Fallback {
            item: &item,
            ident: format_ident!("Welcome"),
            name: LitStr::new("Welcome", proc_macro2::Span::call_site()),
            params,
        };
        stub_args(&fallback)
            .into_iter()
            .map(|a| {
                (
                    a.ident.to_string(),
                    a.ty.to_token_stream().to_string(),
                    a.field,
                )
            })
            .collect()
    }

    #[test]
    fn every_argument_is_taken_and_storable_ones_are_fields() {
        let item: ItemFn = syn::parse_quote! {
            fn welcome(
                s: State<Mailer>, user_id: u64, (a, b): (u8, u8), name: &str,
                shown: impl Display, _: u16, ctx: JobContext, mut locale: String,
            ) -> bool {}
        };
        assert_eq!(
            stubs(item),
            [
                ("user_id", "u64", true),
                ("__jobs_arg2", "(u8 , u8)", false),
                ("name", "& str", false),
                ("shown", "impl Display", false),
                ("__jobs_arg5", "u16", false),
                ("locale", "String", true),
            ]
            .map(|(i, t, f)| (i.to_owned(), t.to_owned(), f))
        );
    }

    #[test]
    fn types_naming_the_functions_generics_become_impl_sized() {
        let item: ItemFn = syn::parse_quote! {
            async fn welcome<'a, T: Serialize, const N: usize>(
                user: T, users: Vec<Option<T>>, name: Cow<'a, str>, ids: [u8; N], plain: Target,
            ) -> Result<(), E> {}
        };
        let stubs = stubs(item);
        for (ident, ty, field) in &stubs[..4] {
            assert_eq!(ty, "impl :: core :: marker :: Sized", "{ident}");
            assert!(!field, "{ident}");
        }
        assert_eq!(stubs[4], ("plain".to_owned(), "Target".to_owned(), true));
    }

    #[test]
    fn the_stubs_follow_the_functions_cfgs() {
        let item: ItemFn = syn::parse_quote! {
            #[cfg(unix)]
            pub fn welcome(user_id: u64) -> Result<(), E> {}
        };
        let fallback = Fallback {
            item: &item,
            ident: format_ident!("Welcome"),
            name: LitStr::new("Mailers::Welcome", proc_macro2::Span::call_site()),
            params: crate::parse::parse_signature(&Ctxt::new(), &item).unwrap(),
        };
        let out = expand(&fallback).to_string();
        assert_eq!(out.matches("# [cfg (unix)]").count(), 4, "{out}");
        assert!(out.contains("pub struct Welcome"), "{out}");
        assert!(
            out.contains("const NAME : & 'static str = \"Mailers::Welcome\""),
            "{out}"
        );
        assert!(
            out.contains("define_set ! (pub WelcomeSet , Welcome , (user_id : u64))"),
            "{out}"
        );
        assert!(!out.contains("inventory"), "{out}");
    }
}
