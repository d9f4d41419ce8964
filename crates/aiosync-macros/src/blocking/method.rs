//! One async fn of the block → its blocking fn (and `name_on`, `name_future`).

use super::{replace_self, Ctx};
use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned, ToTokens};
use syn::spanned::Spanned;
use syn::{
    Attribute, Error, FnArg, GenericArgument, Ident, ImplItemFn, Pat, PathArguments, ReturnType,
    Type,
};

/// What `#[blocking(...)]` on a fn asks for.
#[derive(Default)]
struct Flags {
    iter: bool,
    future: bool,
    skip: bool,
}

/// Reads and removes the fn's `#[blocking(...)]` attributes.
fn take_flags(attrs: &mut Vec<Attribute>) -> syn::Result<Flags> {
    let mut flags = Flags::default();
    let mut err = None;
    attrs.retain(|a| {
        if !a.path().is_ident("blocking") {
            return true;
        }
        let r = a.parse_nested_meta(|m| {
            if m.path.is_ident("iter") {
                flags.iter = true;
            } else if m.path.is_ident("future") {
                flags.future = true;
            } else if m.path.is_ident("skip") {
                flags.skip = true;
            } else {
                return Err(m.error("expected `iter`, `future` or `skip`"));
            }
            Ok(())
        });
        if let Err(e) = r {
            err = Some(e);
        }
        false
    });
    match err {
        Some(e) => Err(e),
        None => Ok(flags),
    }
}

/// The `Result` a type is spelled as (`Result<T, E>`, `io::Result<T>`, ...): its `T`.
pub(crate) fn result_ok(ty: &Type) -> Option<&Type> {
    let Type::Path(p) = ty else { return None };
    let seg = p.path.segments.last()?;
    if seg.ident != "Result" {
        return None;
    }
    let PathArguments::AngleBracketed(args) = &seg.arguments else {
        return None;
    };
    match args.args.first()? {
        GenericArgument::Type(t) if (1..=2).contains(&args.args.len()) => Some(t),
        _ => None,
    }
}

pub(crate) fn is_self(ty: &Type, ctx: &Ctx) -> bool {
    match ty {
        Type::Path(p) if p.qself.is_none() => {
            p.path.is_ident("Self")
                || p.to_token_stream().to_string() == ctx.ty.to_token_stream().to_string()
        }
        _ => false,
    }
}

pub(crate) fn borrows(ty: &Type) -> bool {
    fn walk(ts: TokenStream) -> bool {
        ts.into_iter().any(|tt| match tt {
            proc_macro2::TokenTree::Punct(p) => p.as_char() == '&' || p.as_char() == '\'',
            proc_macro2::TokenTree::Group(g) => walk(g.stream()),
            _ => false,
        })
    }
    walk(ty.to_token_stream())
}

/// Generates the blocking counterpart(s) of one fn of the block, or `None` for a fn that
/// is not async (or is marked `#[blocking(skip)]`).
pub(crate) fn generate(
    ctx: &Ctx,
    f: &mut ImplItemFn,
    aio: &mut Vec<TokenStream>,
) -> syn::Result<Option<TokenStream>> {
    let flags = take_flags(&mut f.attrs)?;
    if flags.skip {
        return Ok(None);
    }
    let sig = &f.sig;
    if sig.asyncness.is_none() {
        if flags.iter || flags.future {
            return Err(Error::new_spanned(
                sig.fn_token,
                format!(
                    "`#[blocking(...)]` on `{}`: only an `async fn` gets a blocking form",
                    sig.ident
                ),
            ));
        }
        return Ok(None);
    }
    let ident = &sig.ident;
    let span = ident.span();
    let vis = &f.vis;
    let docs: Vec<&Attribute> = f
        .attrs
        .iter()
        .filter(|a| a.path().is_ident("doc"))
        .collect();
    let ty = &ctx.ty;
    let generics = replace_self(sig.generics.to_token_stream(), ty);
    let where_clause = replace_self(sig.generics.where_clause.to_token_stream(), ty);

    // Arguments, renamed so any pattern works: `__a0: T0, __a1: T1, ...`.
    let mut receiver = None;
    let mut params = Vec::new();
    let mut names = Vec::new();
    let mut arg_types = Vec::new();
    for (i, arg) in sig.inputs.iter().enumerate() {
        match arg {
            FnArg::Receiver(r) => receiver = Some(r),
            FnArg::Typed(pt) => {
                let name = match &*pt.pat {
                    Pat::Ident(p) if p.by_ref.is_none() && p.subpat.is_none() => {
                        format_ident!("{}", p.ident, span = p.ident.span())
                    }
                    _ => format_ident!("__arg{}", i),
                };
                let t = replace_self(pt.ty.to_token_stream(), ty);
                params.push(quote!(#name: #t));
                names.push(name);
                arg_types.push(&*pt.ty);
            }
        }
    }
    let (out_ty, out_span) = match &sig.output {
        ReturnType::Default => (syn::parse_quote!(()), sig.ident.span()),
        ReturnType::Type(_, t) => ((**t).clone(), t.span()),
    };
    let out_ts = replace_self(out_ty.to_token_stream(), ty);
    let keeps_result = result_ok(&out_ty).is_some();
    let call_error = quote!(::aiosync::facade::CallError);

    // The blocking call itself, spanned at the user's method so that a `!Send` future
    // is reported there.
    let block_on = |rt: TokenStream, call: TokenStream| quote_spanned!(span=> #rt.block_on(#call));

    let mut out = TokenStream::new();
    match receiver {
        Some(r) => {
            let (recv, inner, rt) = if r.reference.is_none() {
                (quote!(self), quote!(__inner), quote_spanned!(span=> __rt))
            } else if r.mutability.is_some() {
                (
                    quote!(&mut self),
                    quote!(self.inner),
                    quote_spanned!(span=> self.rt),
                )
            } else {
                (
                    quote!(&self),
                    quote!(self.inner),
                    quote_spanned!(span=> self.rt),
                )
            };
            let unpack = if r.reference.is_none() {
                quote!(let Self { inner: __inner, rt: __rt } = self;)
            } else {
                quote!()
            };
            let call = block_on(
                rt.clone(),
                quote_spanned!(span=> #inner.#ident(#(#names),*)),
            );
            let (ret, body) = if flags.iter {
                iter_output(&out_ty, &out_ts, &rt, call, out_span, ty)?
            } else if keeps_result {
                (
                    out_ts.clone(),
                    quote! {
                        match #call {
                            ::core::result::Result::Ok(r) => r,
                            ::core::result::Result::Err(e) => ::core::result::Result::Err(::core::convert::From::from(e)),
                        }
                    },
                )
            } else {
                (quote!(::core::result::Result<#out_ts, #call_error>), call)
            };
            out.extend(quote! {
                #(#docs)*
                #vis fn #ident #generics (#recv, #(#params),*) -> #ret #where_clause {
                    #unpack
                    #body
                }
            });
            if r.reference.is_some() && r.mutability.is_none() {
                // The async view: the same call, polled with the runtime's context entered.
                aio.push(quote! {
                    #(#docs)*
                    #vis async fn #ident #generics (&self, #(#params),*) -> #out_ts #where_clause {
                        self.rt.in_context(self.inner.#ident(#(#names),*)).await
                    }
                });
            }
            if flags.future {
                out.extend(future_method(
                    ctx, f, r, &params, &names, &arg_types, &out_ty, &out_ts,
                )?);
            }
        }
        None => {
            if flags.future || flags.iter {
                return Err(Error::new_spanned(
                    ident,
                    format!(
                        "`#[blocking(iter)]` and `#[blocking(future)]` need a method: `{ident}` \
                         has no `self`"
                    ),
                ));
            }
            let name_on = format_ident!("{}_on", ident);
            let default_rt = &ctx.default_rt;
            let blocking = &ctx.name;
            let call = block_on(
                quote_spanned!(span=> __rt),
                quote_spanned!(span=> <#ty>::#ident(#(#names),*)),
            );
            let ctor_ok = if is_self(&out_ty, ctx) {
                Some(false)
            } else if result_ok(&out_ty).is_some_and(|t| is_self(t, ctx)) {
                Some(true)
            } else {
                None
            };
            let (ret, body) = match ctor_ok {
                Some(false) => (
                    quote!(::core::result::Result<#blocking, #call_error>),
                    quote!(::core::result::Result::Ok(#blocking::with_runtime(#call?, __rt.clone()))),
                ),
                Some(true) => (
                    replace_result_ok(&out_ty, quote!(#blocking), ty),
                    quote! {
                        match #call {
                            ::core::result::Result::Ok(::core::result::Result::Ok(v)) => ::core::result::Result::Ok(#blocking::with_runtime(v, __rt.clone())),
                            ::core::result::Result::Ok(::core::result::Result::Err(e)) => ::core::result::Result::Err(e),
                            ::core::result::Result::Err(e) => ::core::result::Result::Err(::core::convert::From::from(e)),
                        }
                    },
                ),
                None if keeps_result => (
                    out_ts.clone(),
                    quote! {
                        match #call {
                            ::core::result::Result::Ok(r) => r,
                            ::core::result::Result::Err(e) => ::core::result::Result::Err(::core::convert::From::from(e)),
                        }
                    },
                ),
                None => (quote!(::core::result::Result<#out_ts, #call_error>), call),
            };
            let on_doc = format!(" As [`{ident}`](Self::{ident}), on the runtime `rt`.");
            out.extend(quote! {
                #(#docs)*
                #vis fn #ident #generics (#(#params),*) -> #ret #where_clause {
                    Self::#name_on(&#default_rt, #(#names),*)
                }

                #[doc = #on_doc]
                #vis fn #name_on #generics (__rt: &::aiosync::facade::Runtime, #(#params),*) -> #ret #where_clause {
                    #body
                }
            });
        }
    }
    Ok(Some(out))
}

/// `Self`'s type in `Result<Self, E>` replaced by `with`.
pub(crate) fn replace_result_ok(out: &Type, with: TokenStream, ty: &Type) -> TokenStream {
    let mut out = out.clone();
    if let Type::Path(p) = &mut out {
        if let Some(seg) = p.path.segments.last_mut() {
            if let PathArguments::AngleBracketed(args) = &mut seg.arguments {
                if let Some(first) = args.args.first_mut() {
                    *first = GenericArgument::Type(syn::parse_quote!(#with));
                }
            }
        }
    }
    replace_self(out.to_token_stream(), ty)
}

/// The return type and body of a `#[blocking(iter)]` method: the stream (or the stream
/// in `Ok`) becomes an `Iter` over it.
fn iter_output(
    out_ty: &Type,
    out_ts: &TokenStream,
    rt: &TokenStream,
    call: TokenStream,
    span: Span,
    ty: &Type,
) -> syn::Result<(TokenStream, TokenStream)> {
    let iter = quote!(::aiosync::facade::Iter);
    let call_error = quote!(::aiosync::facade::CallError);
    if let Some(stream) = result_ok(out_ty) {
        let stream = replace_self(stream.to_token_stream(), ty);
        let ret = replace_result_ok(out_ty, quote!(#iter<#stream>), ty);
        let body = quote! {
            match #call {
                ::core::result::Result::Ok(::core::result::Result::Ok(s)) => ::core::result::Result::Ok(#rt.iter(s)),
                ::core::result::Result::Ok(::core::result::Result::Err(e)) => ::core::result::Result::Err(e),
                ::core::result::Result::Err(e) => ::core::result::Result::Err(::core::convert::From::from(e)),
            }
        };
        return Ok((ret, body));
    }
    let _ = span;
    Ok((
        quote!(::core::result::Result<#iter<#out_ts>, #call_error>),
        quote!(#call.map(|s| #rt.iter(s))),
    ))
}

/// `name_future(&self, owned args) -> Task<R>`: the call spawned on the runtime over a
/// clone of the inner value.
#[allow(clippy::too_many_arguments)]
fn future_method(
    ctx: &Ctx,
    f: &ImplItemFn,
    r: &syn::Receiver,
    params: &[TokenStream],
    names: &[Ident],
    arg_types: &[&Type],
    out_ty: &Type,
    out_ts: &TokenStream,
) -> syn::Result<TokenStream> {
    let ident = &f.sig.ident;
    let mut errors: Option<Error> = None;
    let mut push = |e: Error| match &mut errors {
        Some(all) => all.combine(e),
        None => errors = Some(e),
    };
    for t in arg_types {
        if borrows(t) {
            push(Error::new_spanned(
                t,
                format!(
                    "`#[blocking(future)]` on `{ident}`: this argument is borrowed, but a \
                     spawned task needs owned arguments (take it by value, or drop `future`)"
                ),
            ));
        }
    }
    if borrows(out_ty) {
        push(Error::new_spanned(
            out_ty,
            format!(
                "`#[blocking(future)]` on `{ident}`: the output borrows, but a spawned \
                 task's output must be owned"
            ),
        ));
    }
    if r.reference.is_none() {
        push(Error::new_spanned(
            r,
            format!("`#[blocking(future)]` on `{ident}`: takes `self` by value; use `&self`"),
        ));
    }
    if let Some(e) = errors {
        return Err(e);
    }
    let vis = &f.vis;
    let ty = &ctx.ty;
    let name = format_ident!("{}_future", ident);
    let doc = format!(
        " Starts [`{ident}`](Self::{ident}) as a task on the runtime (over a clone of the \
         async value) and returns at once; join or await the [`Task`](::aiosync::facade::Task)."
    );
    let span = ident.span();
    let spawn = quote_spanned! {span=>
        self.rt.spawn(async move { __inner.#ident(#(#names),*).await })
    };
    Ok(quote! {
        #[doc = #doc]
        #vis fn #name(&self, #(#params),*) -> ::aiosync::facade::Task<#out_ts> {
            #[allow(unused_mut)]
            let mut __inner: #ty = ::core::clone::Clone::clone(&self.inner);
            #spawn
        }
    })
}
