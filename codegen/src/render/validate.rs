//! Request validation, rendered into `vigy-api` from the constraints the
//! OpenAPI spec states: `validate()` on every request and model, and
//! `<param>_or_default()` for each parameter with a default. The runtime
//! calls `validate()` first in every operation, and the REST client before
//! sending, so a limit lives only in the spec.

use proc_macro2::TokenStream;
use quote::{format_ident, quote};

use crate::ir::{Api, Field, Model, Shape, Ty};
use crate::names::{pascal, rust_ident};

pub(super) fn render(api: &Api) -> TokenStream {
    let models = api.models.values().filter_map(|m| model(api, m));
    let requests = api.operations.values().map(|op| {
        let name = format_ident!("{}Request", pascal(&op.id));
        let checks = op.params.iter().map(|f| check(api, f, quote! { self }));
        let body = op.body.as_ref().filter(|b| is_struct(api, b)).map(|_| quote! { self.body.validate()?; });
        let defaults = op.params.iter().filter_map(default_getter);
        quote! {
            impl #name {
                /// Refuses what the spec's constraints forbid, as
                /// `invalid_argument`, before any work is done.
                pub fn validate(&self) -> ::std::result::Result<(), ServiceError> {
                    #(#checks)*
                    #body
                    Ok(())
                }
                #(#defaults)*
            }
        }
    });
    quote! {
        #(#models)*
        #(#requests)*

        fn refuse_below(name: &str, min: u64, got: u64) -> ServiceError {
            ServiceError::InvalidArgument(::std::format!("{name} must be at least {min}, got {got}"))
        }

        fn refuse_above(name: &str, max: u64, got: u64) -> ServiceError {
            ServiceError::InvalidArgument(::std::format!("{name} must be at most {max}, got {got}"))
        }

        fn refuse_too_short(name: &str, min: u64, got: u64) -> ServiceError {
            ServiceError::InvalidArgument(::std::format!("{name} must be at least {min} characters, got {got}"))
        }

        fn refuse_too_long(name: &str, max: u64, got: u64) -> ServiceError {
            ServiceError::InvalidArgument(::std::format!("{name} must be at most {max} characters, got {got}"))
        }
    }
}

fn is_struct(api: &Api, name: &str) -> bool {
    matches!(api.models.get(name).map(|m| &m.shape), Some(Shape::Struct(_)))
}

fn model(api: &Api, m: &Model) -> Option<TokenStream> {
    let Shape::Struct(fields) = &m.shape else { return None };
    let name = format_ident!("{}", m.name);
    let checks = fields.iter().map(|f| check(api, f, quote! { self }));
    Some(quote! {
        impl #name {
            /// Refuses what the spec's constraints forbid, as
            /// `invalid_argument`.
            pub fn validate(&self) -> ::std::result::Result<(), ServiceError> {
                #(#checks)*
                Ok(())
            }
        }
    })
}

/// The checks of one field of `owner`, for its value bound to `v`.
fn check(api: &Api, f: &Field, owner: TokenStream) -> TokenStream {
    let field = rust_ident(&f.name);
    let name = &f.name;
    let c = &f.constraints;
    let mut checks = TokenStream::new();
    match &f.ty {
        Ty::U32 | Ty::U64 => {
            // An unsigned value is never below 0: the spec's `minimum: 0`
            // is the type itself (and says so to clients), no check.
            if let Some(min) = c.minimum.filter(|min| *min > 0) {
                checks.extend(quote! { if (*v as u64) < #min { return Err(refuse_below(#name, #min, *v as u64)); } });
            }
            if let Some(max) = c.maximum {
                checks.extend(quote! { if (*v as u64) > #max { return Err(refuse_above(#name, #max, *v as u64)); } });
            }
        }
        Ty::String => {
            if c.min_length.is_some() || c.max_length.is_some() {
                checks.extend(quote! { let n = v.chars().count() as u64; });
            }
            if let Some(min) = c.min_length {
                checks.extend(quote! { if n < #min { return Err(refuse_too_short(#name, #min, n)); } });
            }
            if let Some(max) = c.max_length {
                checks.extend(quote! { if n > #max { return Err(refuse_too_long(#name, #max, n)); } });
            }
        }
        Ty::Named(model) if is_struct(api, model) => checks.extend(quote! { v.validate()?; }),
        Ty::List(item) if matches!(&**item, Ty::Named(model) if is_struct(api, model)) => {
            checks.extend(quote! { for item in v { item.validate()?; } });
        }
        _ => {}
    }
    if checks.is_empty() {
        return TokenStream::new();
    }
    if f.optional == Some(true) {
        quote! { if let Some(v) = &#owner.#field { #checks } }
    } else {
        quote! { { let v = &#owner.#field; #checks } }
    }
}

/// `limit_or_default()`: the value, or the spec's default when absent.
fn default_getter(f: &Field) -> Option<TokenStream> {
    let default = f.constraints.default.as_deref()?;
    if f.optional != Some(true) {
        return None;
    }
    let field = rust_ident(&f.name);
    let getter = format_ident!("{}_or_default", f.name);
    let doc = format!(" `{}`, or the spec's default ({default}) when absent.", f.name);
    let (ty, value) = match f.ty {
        Ty::U32 => (quote! { u32 }, default.parse::<u32>().ok().map(|n| quote! { #n })?),
        Ty::U64 => (quote! { u64 }, default.parse::<u64>().ok().map(|n| quote! { #n })?),
        Ty::Bool => (quote! { bool }, default.parse::<bool>().ok().map(|b| quote! { #b })?),
        Ty::String => {
            let s: String = default.trim_matches('"').to_owned();
            return Some(quote! {
                #[doc = #doc]
                pub fn #getter(&self) -> &str { self.#field.as_deref().unwrap_or(#s) }
            });
        }
        _ => return None,
    };
    Some(quote! {
        #[doc = #doc]
        pub fn #getter(&self) -> #ty { self.#field.unwrap_or(#value) }
    })
}
