//! The core service: models, per-operation requests, `ServiceError` and
//! the `VigyService` trait every transport adapter and client speaks.

use proc_macro2::TokenStream;
use quote::{format_ident, quote};

use crate::ir::{Api, Field, Model, OpKind, Shape, Ty};
use crate::names::{pascal, rust_ident, snake};

/// A doc attribute for `text`, or nothing.
pub(super) fn doc(text: Option<&str>) -> TokenStream {
    match text {
        Some(text) if !text.is_empty() => {
            let text = format!(" {}", text.trim());
            quote! { #[doc = #text] }
        }
        _ => TokenStream::new(),
    }
}

/// The model whose values are the error codes.
const ERROR_CODE: &str = "ErrorCode";

pub(super) fn manifest() -> String {
    format!(
        "{}[package]\nname = \"vigy-api\"\ndescription = \"vigy's core service trait and models, generated from spec/.\"\n\
         version.workspace = true\nedition.workspace = true\nlicense.workspace = true\n\n[dependencies]\n\
         vigy-api-support.workspace = true\nasync-trait.workspace = true\nchrono.workspace = true\n\
         futures.workspace = true\nserde.workspace = true\nserde_json.workspace = true\nthiserror.workspace = true\nschemars = {{ workspace = true, optional = true }}\n\
         utoipa = {{ workspace = true, optional = true }}\n\n\
         [features]\n# JSON Schemas of the models and requests (for the MCP catalog).\nschemars = [\"dep:schemars\"]\n\
         # OpenAPI schemas of the models (for the REST adapter).\nutoipa = [\"dep:utoipa\"]\n",
        super::HEADER.replace("// ", "# ")
    )
}

pub(super) fn render(api: &Api) -> TokenStream {
    let models = api.models.values().map(model);
    let requests = api.operations.values().map(|op| {
        let name = format_ident!("{}Request", pascal(&op.id));
        let doc = doc(Some(&format!("The input of `{}`.", snake(&op.id))));
        let params = op.params.iter().map(field);
        let body = op.body.as_ref().map(|b| {
            let ty = format_ident!("{b}");
            quote! { #[doc = " The request body."] pub body: #ty, }
        });
        // A batched operation's requests are the keys its answers are
        // matched back by.
        let key = op.batch.then(|| quote! { #[derive(Eq, Hash)] });
        quote! {
            #doc
            #[derive(Debug, Clone, PartialEq, ::serde::Serialize, ::serde::Deserialize)]
            #key
            #[cfg_attr(feature = "schemars", derive(::schemars::JsonSchema))]
            pub struct #name { #(#params)* #body }
        }
    });
    let error = service_error(api);
    let validation = super::validate::render(api);
    let methods = api.operations.values().map(|op| {
        let method = format_ident!("{}", snake(&op.id));
        let request = format_ident!("{}Request", pascal(&op.id));
        let output = format_ident!("{}", op.output);
        let doc = doc(op.doc.as_deref());
        let returns = if op.kind == Some(OpKind::Stream) {
            quote! { EventStream<#output> }
        } else {
            quote! { #output }
        };
        let single = quote! {
            #doc
            async fn #method(&self, request: #request) -> ::std::result::Result<#returns, ServiceError>;
        };
        if !op.batch {
            return single;
        }
        let many = format_ident!("{}_many", snake(&op.id));
        let many_doc = self::doc(Some(&format!(
            "`{method}` for many requests at once, answered in their order. By default one call each, all at \
             once; an implementation that can answer them together (one query for all) overrides it."
        )));
        quote! {
            #single
            #many_doc
            async fn #many(&self, requests: ::std::vec::Vec<#request>) -> ::std::vec::Vec<::std::result::Result<#output, ServiceError>> {
                ::futures::future::join_all(requests.into_iter().map(|request| self.#method(request))).await
            }
        }
    });
    let cursors = api.models.values().filter_map(page_cursor);
    let operations = api.operations.values().map(|op| {
        let id = &op.id;
        let (method, path) = op.http.as_ref().map(|h| (h.method.clone(), h.path.clone())).unwrap_or_default();
        let kind = match op.kind {
            Some(OpKind::Read) => quote! { OperationKind::Read },
            Some(OpKind::Stream) => quote! { OperationKind::Stream },
            _ => quote! { OperationKind::Change },
        };
        let summary = op.doc.clone().unwrap_or_default();
        quote! { Operation { id: #id, method: #method, path: #path, kind: #kind, summary: #summary }, }
    });
    quote! {
        //! vigy's core service, generated from the specs: the models, one
        //! request type per operation, [`ServiceError`], and the
        //! [`VigyService`] trait that the runtime implements and every
        //! transport adapter and client speaks.
        #![allow(clippy::all, missing_docs, unreachable_pub)]

        #(#models)*
        #(#cursors)*
        #(#requests)*
        #validation
        #error

        /// A stream of events, as a streaming operation returns it.
        pub type EventStream<T> = ::futures::stream::BoxStream<'static, ::std::result::Result<T, ServiceError>>;

        /// Every operation of vigy, once. Implemented by the runtime and by
        /// each generated client, so callers can switch transport freely.
        #[::async_trait::async_trait]
        pub trait VigyService: Send + Sync + 'static {
            #(#methods)*
        }

        /// What an operation does, which decides its place in each transport.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum OperationKind {
            /// HTTP GET, GraphQL Query.
            Read,
            /// HTTP POST/PATCH/DELETE, GraphQL Mutation.
            Change,
            /// Server-sent events, a server stream, a Subscription.
            Stream,
        }

        /// One operation, as the specs describe it.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub struct Operation {
            /// The OpenAPI operationId.
            pub id: &'static str,
            /// The HTTP method, lowercase.
            pub method: &'static str,
            /// The HTTP path template.
            pub path: &'static str,
            /// What it does.
            pub kind: OperationKind,
            /// Its summary.
            pub summary: &'static str,
        }

        /// Every operation, sorted by id.
        pub const OPERATIONS: &[Operation] = &[#(#operations)*];
    }
}

fn model(m: &Model) -> TokenStream {
    let name = format_ident!("{}", m.name);
    let doc = doc(m.doc.as_deref());
    match &m.shape {
        Shape::Struct(fields) => {
            // So a caller can name the fields it sets and leave the rest
            // (`RegisterVigy { name, program, ..Default::default() }`).
            let default = fields.iter().all(has_default).then(|| quote! { #[derive(Default)] });
            let fields = fields.iter().map(field);
            quote! {
                #doc
                #[derive(Debug, Clone, PartialEq, ::serde::Serialize, ::serde::Deserialize)]
                #default
                #[cfg_attr(feature = "schemars", derive(::schemars::JsonSchema))]
                #[cfg_attr(feature = "utoipa", derive(::utoipa::ToSchema))]
                pub struct #name { #(#fields)* }
            }
        }
        Shape::Enum(values) => {
            let variants = values.iter().map(|v| {
                let variant = format_ident!("{}", pascal(v));
                quote! { #variant, }
            });
            let names = values.iter().map(|v| {
                let variant = format_ident!("{}", pascal(v));
                quote! { Self::#variant => #v, }
            });
            quote! {
                #doc
                #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, ::serde::Serialize, ::serde::Deserialize)]
                #[serde(rename_all = "snake_case")]
                #[cfg_attr(feature = "schemars", derive(::schemars::JsonSchema))]
                #[cfg_attr(feature = "utoipa", derive(::utoipa::ToSchema))]
                pub enum #name { #(#variants)* }

                impl #name {
                    /// The value as the specs spell it.
                    pub fn as_str(self) -> &'static str {
                        match self { #(#names)* }
                    }
                }
            }
        }
    }
}

/// Whether the field's Rust type has a `Default` that is a valid value to
/// leave it at: an absent optional, or an empty text, number, map or list.
fn has_default(f: &Field) -> bool {
    f.optional == Some(true) || !matches!(f.ty, Ty::Timestamp | Ty::Named(_))
}

fn field(f: &Field) -> TokenStream {
    let name = rust_ident(&f.name);
    let ty = rust_type(&f.ty);
    let doc = doc(f.doc.as_deref());
    if f.optional == Some(true) {
        quote! { #doc #[serde(default)] pub #name: ::std::option::Option<#ty>, }
    } else {
        quote! { #doc pub #name: #ty, }
    }
}

pub(super) fn rust_type(ty: &Ty) -> TokenStream {
    match ty {
        Ty::String => quote! { ::std::string::String },
        Ty::Bool => quote! { bool },
        Ty::U32 => quote! { u32 },
        Ty::U64 => quote! { u64 },
        Ty::Timestamp => quote! { ::chrono::DateTime<::chrono::Utc> },
        Ty::Json => quote! { ::serde_json::Value },
        Ty::JsonObject => quote! { ::serde_json::Map<::std::string::String, ::serde_json::Value> },
        Ty::StringMap => quote! { ::std::collections::BTreeMap<::std::string::String, ::std::string::String> },
        Ty::List(item) => {
            let item = rust_type(item);
            quote! { ::std::vec::Vec<#item> }
        }
        Ty::Named(name) => {
            let name = format_ident!("{name}");
            quote! { #name }
        }
    }
}

/// One variant per error code, each with the message for the client.
fn service_error(api: &Api) -> TokenStream {
    let codes = match api.models.get(ERROR_CODE).map(|m| &m.shape) {
        Some(Shape::Enum(values)) => values.clone(),
        _ => Vec::new(),
    };
    let variants = codes.iter().map(|code| {
        let variant = format_ident!("{}", pascal(code));
        let display = format!("{}: {{0}}", code.replace('_', " "));
        quote! { #[error(#display)] #variant(::std::string::String), }
    });
    let to_code = codes.iter().map(|code| {
        let variant = format_ident!("{}", pascal(code));
        quote! { Self::#variant(_) => ErrorCode::#variant, }
    });
    let messages = codes.iter().map(|code| {
        let variant = format_ident!("{}", pascal(code));
        quote! { Self::#variant(m) => m, }
    });
    let from_code = codes.iter().map(|code| {
        let variant = format_ident!("{}", pascal(code));
        quote! { ErrorCode::#variant => Self::#variant(message), }
    });
    quote! {
        /// Why an operation failed. Each variant is one `ErrorCode`, carrying
        /// the message meant for the client; every transport maps it in one
        /// place, so a code means the same everywhere.
        #[derive(Debug, Clone, PartialEq, Eq, ::thiserror::Error)]
        pub enum ServiceError { #(#variants)* }

        impl ServiceError {
            /// The error's code.
            pub fn code(&self) -> ErrorCode {
                match self { #(#to_code)* }
            }

            /// The message for the client.
            pub fn message(&self) -> &str {
                match self { #(#messages)* }
            }

            /// An error of `code` saying `message`.
            pub fn new(code: ErrorCode, message: impl Into<::std::string::String>) -> Self {
                let message = message.into();
                match code { #(#from_code)* }
            }
        }

        impl From<ServiceError> for Error {
            fn from(e: ServiceError) -> Self {
                Error { code: e.code(), message: e.message().to_owned() }
            }
        }

        impl From<Error> for ServiceError {
            fn from(e: Error) -> Self {
                ServiceError::new(e.code, e.message)
            }
        }
    }
}

/// A page model's cursors: what the server puts in `next_cursor` and reads
/// back from `cursor`, through `vigy-api-support`.
fn page_cursor(model: &Model) -> Option<TokenStream> {
    let (item, key) = (model.page_item()?, model.cursor_key.as_deref()?);
    let (page, item, list, key_ident) =
        (format_ident!("{}", model.name), format_ident!("{item}"), &model.name, rust_ident(key));
    let of_doc = doc(Some(&format!("The cursor of `item`: the next page starts after it (by its `{key}`).")));
    let key_doc = doc(Some(&format!("The `{key}` a cursor stands for; `invalid_argument` if no {list} gave it.")));
    Some(quote! {
        impl #page {
            #of_doc
            pub fn cursor_of(item: &#item) -> ::std::string::String {
                ::vigy_api_support::cursor::encode(#list, &item.#key_ident.to_string())
            }

            #key_doc
            pub fn cursor_key(cursor: &str) -> ::std::result::Result<::std::string::String, ServiceError> {
                ::vigy_api_support::cursor::decode(#list, cursor).map_err(|e| ServiceError::InvalidArgument(e.0))
            }
        }
    })
}
