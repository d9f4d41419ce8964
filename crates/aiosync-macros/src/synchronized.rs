//! `#[synchronized]`: inserts `let guard = <the lock>.lock...;` as the first statement of
//! the function body, so the lock is held until the body returns (or unwinds). On an
//! `impl` block, does so in each fn of the block.

use proc_macro2::{Span, TokenStream};
use quote::{quote, ToTokens};
use syn::{
    Attribute, Block, Error, GenericArgument, Ident, ImplItem, Item, ItemFn, ItemImpl,
    PathArguments, Receiver, Signature, Type,
};

/// Expands the attribute; on error, emits the error next to the untouched item so the
/// only message the user sees is ours.
pub(crate) fn expand(args: TokenStream, item: TokenStream) -> TokenStream {
    match try_expand(args, item.clone()) {
        Ok(out) => out,
        Err(e) => {
            let mut out = e.into_compile_error();
            out.extend(item);
            out
        }
    }
}

/// Whose lock the function takes.
enum Scope {
    /// Its own: a `static` inside the body.
    Function,
    /// The object's, found through the receiver.
    Instance(syn::token::SelfValue),
    /// The type's, named in the attribute.
    Type(Box<Type>),
}

fn try_expand(args: TokenStream, item: TokenStream) -> syn::Result<TokenStream> {
    if let Ok(Item::Impl(mut block)) = syn::parse2::<Item>(item.clone()) {
        if !args.is_empty() {
            return Err(Error::new_spanned(
                args,
                "on an `impl` block, `#[synchronized]` takes no argument: its methods lock \
                 their object and its associated fns without `self` the type. Put \
                 `#[synchronized(Type)]` on a fn of the block to give it another lock",
            ));
        }
        synchronize_impl(&mut block)?;
        return Ok(block.into_token_stream());
    }
    let lock_type = if args.is_empty() {
        None
    } else {
        Some(syn::parse2::<Type>(args).map_err(|e| {
            Error::new(
                e.span(),
                "expected `#[synchronized]`, or a type whose lock to take, as in \
                 `#[synchronized(Self)]`",
            )
        })?)
    };
    let mut f = parse_fn(item)?;
    lock_body(&f.sig, &mut f.block, lock_type)?;
    Ok(f.into_token_stream())
}

/// `#[synchronized]` on an `impl` block: every fn of the block as if it had
/// `#[synchronized]`, except that an associated fn without `self` takes the lock of the
/// type (`#[synchronized(Self)]`), not one of its own. A fn with its own `#[synchronized]`
/// attribute is left to it.
fn synchronize_impl(block: &mut ItemImpl) -> syn::Result<()> {
    let mut errors: Option<Error> = None;
    for item in &mut block.items {
        let ImplItem::Fn(f) = item else { continue };
        if f.attrs.iter().any(is_synchronized) {
            continue;
        }
        let result = if let Some(c) = &f.sig.constness {
            Err(Error::new_spanned(
                c,
                "`#[synchronized]` cannot be used on a `const fn`: taking a lock is not a \
                 const operation. Move it to an `impl` block without the attribute",
            ))
        } else {
            let lock_type = match f.sig.receiver() {
                Some(_) => None,
                None => Some(syn::parse_quote!(Self)),
            };
            lock_body(&f.sig, &mut f.block, lock_type)
        };
        // Report every fn the attribute cannot lock, not just the first.
        if let Err(e) = result {
            match &mut errors {
                Some(all) => all.combine(e),
                None => errors = Some(e),
            }
        }
    }
    errors.map_or(Ok(()), Err)
}

/// Whether `attr` is `#[synchronized]`, `#[aiosync::synchronized(...)]`, ...
fn is_synchronized(attr: &Attribute) -> bool {
    attr.path()
        .segments
        .last()
        .is_some_and(|s| s.ident == "synchronized")
}

/// Makes the lock the first statement of `body`: the lock of `lock_type` if given, else
/// the object's for a method, else the function's own.
fn lock_body(sig: &Signature, body: &mut Block, lock_type: Option<Type>) -> syn::Result<()> {
    if let Some(c) = &sig.constness {
        return Err(Error::new_spanned(
            c,
            "`#[synchronized]` cannot be used on a `const fn`: taking a lock is not a \
             const operation",
        ));
    }
    let scope = match (lock_type, sig.receiver()) {
        (Some(ty), _) => Scope::Type(Box::new(ty)),
        (None, Some(r)) => Scope::Instance(check_receiver(r)?),
        (None, None) => Scope::Function,
    };
    let is_async = sig.asyncness.is_some();
    // Mixed-site hygiene: the body can neither see nor shadow the guard.
    let guard = Ident::new("__aiosync_guard", Span::mixed_site());
    let lock = Ident::new("LOCK", Span::mixed_site());
    let acquire = match (&scope, is_async) {
        (Scope::Function, false) => quote! {{
            static #lock: ::aiosync::__private::FnLock = ::aiosync::__private::FnLock::new();
            #lock.lock_blocking()
        }},
        (Scope::Function, true) => quote! {{
            static #lock: ::aiosync::Mutex<()> = ::aiosync::Mutex::new(());
            #lock.lock()
        }.await},
        // `&self` coerces to `&Self` from `&Self`, `Arc<Self>`, `Pin<&Self>`, ...
        (Scope::Instance(self_token), false) => quote! {
            ::aiosync::__private::instance::<Self>(&#self_token).lock_blocking()
        },
        (Scope::Instance(self_token), true) => quote! {
            ::aiosync::__private::instance::<Self>(&#self_token).lock().await
        },
        (Scope::Type(ty), false) => quote! {
            ::aiosync::Synchronized::of_type::<#ty>().lock_blocking()
        },
        (Scope::Type(ty), true) => quote! {
            ::aiosync::Synchronized::of_type::<#ty>().lock().await
        },
    };
    body.stmts
        .insert(0, syn::parse_quote! { let #guard = #acquire; });
    Ok(())
}

/// Parses a function with a body, or explains what the attribute applies to.
fn parse_fn(item: TokenStream) -> syn::Result<ItemFn> {
    match syn::parse2::<Item>(item.clone()) {
        Ok(Item::Fn(f)) => Ok(f),
        // `fn f(&self);` in a trait: not an `Item::Fn`.
        _ if syn::parse2::<syn::TraitItemFn>(item.clone()).is_ok_and(|f| f.default.is_none()) => {
            Err(Error::new_spanned(
                item,
                "`#[synchronized]` needs a function body: put it on the method in the `impl` \
                 (or on a trait method with a default body)",
            ))
        }
        _ => Err(Error::new_spanned(
            item,
            "`#[synchronized]` applies to a `fn`, an `async fn`, a method or an `impl` block; \
             for a block of code, use the guard form \
             `let _guard = aiosync::synchronized(&obj).lock_blocking();`",
        )),
    }
}

/// Accepts receivers that share the object; refuses those that already own it exclusively.
fn check_receiver(r: &Receiver) -> syn::Result<syn::token::SelfValue> {
    let kind = if r.colon_token.is_none() {
        // `self`, `mut self`, `&self`, `&mut self`, `&'a self`, ...
        match (&r.reference, &r.mutability) {
            (None, _) => Kind::Owned,
            (Some(_), Some(_)) => Kind::Exclusive,
            (Some(_), None) => Kind::Shared,
        }
    } else {
        classify(&r.ty)
    };
    match kind {
        Kind::Shared => Ok(r.self_token),
        Kind::Exclusive => Err(Error::new_spanned(
            r,
            "`#[synchronized]` is not needed on a method taking `&mut self`: the borrow \
             checker already gives the call exclusive access to the object. Take `&self` to \
             share the object between callers, or use `#[synchronized(Self)]` for one lock \
             per type",
        )),
        Kind::Owned => Err(Error::new_spanned(
            r,
            "`#[synchronized]` cannot lock a method that takes `self` by value: the call owns \
             the object, so no other call can reach it. Take `&self`, or use \
             `#[synchronized(Self)]` for one lock per type",
        )),
    }
}

enum Kind {
    /// `&Self` or a shared pointer to it: other callers may hold the same object.
    Shared,
    /// `&mut Self`, `Pin<&mut Self>`.
    Exclusive,
    /// `Self`, `Box<Self>`, `Pin<Box<Self>>`.
    Owned,
}

fn classify(ty: &Type) -> Kind {
    match ty {
        Type::Reference(r) if r.mutability.is_some() => Kind::Exclusive,
        Type::Reference(_) => Kind::Shared,
        Type::Paren(p) => classify(&p.elem),
        Type::Group(g) => classify(&g.elem),
        Type::Path(p) if p.qself.is_none() => {
            let Some(last) = p.path.segments.last() else {
                return Kind::Shared;
            };
            if p.path.is_ident("Self") || last.ident == "Box" {
                return Kind::Owned;
            }
            if last.ident == "Pin" {
                if let PathArguments::AngleBracketed(a) = &last.arguments {
                    if let Some(GenericArgument::Type(inner)) = a.args.first() {
                        return classify(inner);
                    }
                }
            }
            // `Arc<Self>`, `Rc<Self>`, a custom smart pointer: deref coercion finds `Self`.
            Kind::Shared
        }
        _ => Kind::Shared,
    }
}
