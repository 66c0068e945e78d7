//! The REST adapter: an axum router over any `VigyService`, errors as RFC
//! 9457 problems, and the spec itself (as JSON) for `/openapi.json`.
//!
//! The served document is the spec, not one derived from the handlers:
//! both come from `spec/vigy.openapi.yaml`, so deriving one from the other
//! through a library (utoipa writes OpenAPI 3.1 and drops constraints) could
//! only lose what the spec says. That the handlers do what the document says
//! is shown by behaviour instead: schemathesis fuzzes a real server against
//! it (`crates/vigy-cli/tests/fuzz_rest.rs`).

use std::collections::BTreeMap;

use proc_macro2::TokenStream;
use quote::{format_ident, quote};

use crate::ir::{Api, OpKind, Operation};
use crate::names::{pascal, rust_ident, snake};

pub(super) fn manifest() -> String {
    format!(
        "{}[package]\nname = \"vigy-api-rest\"\ndescription = \"vigy's REST adapter (axum), generated from spec/.\"\n\
         version.workspace = true\nedition.workspace = true\nlicense.workspace = true\n\n[dependencies]\n\
         vigy-api.workspace = true\naxum.workspace = true\nfutures.workspace = true\n\
         serde.workspace = true\nserde_json.workspace = true\n",
        super::HEADER.replace("// ", "# ")
    )
}

/// The spec as the JSON document served at `/openapi.json`: the same
/// OpenAPI 3.0.3 document, every constraint included, keys sorted so the
/// file does not depend on serde_json's features.
pub(super) fn openapi_json(spec_text: &str) -> String {
    fn sorted(value: serde_json::Value) -> serde_json::Value {
        match value {
            serde_json::Value::Object(map) => {
                let mut entries: Vec<_> = map.into_iter().collect();
                entries.sort_by(|a, b| a.0.cmp(&b.0));
                serde_json::Value::Object(entries.into_iter().map(|(k, v)| (k, sorted(v))).collect())
            }
            serde_json::Value::Array(items) => serde_json::Value::Array(items.into_iter().map(sorted).collect()),
            other => other,
        }
    }
    let spec: serde_json::Value = serde_yaml_ng::from_str(spec_text).expect("the spec was read once already");
    let mut text = serde_json::to_string_pretty(&sorted(spec)).expect("JSON serializes");
    text.push('\n');
    text
}

pub(super) fn render(api: &Api) -> TokenStream {
    let handlers = api.operations.values().map(handler);
    // One `route` per path, its methods chained.
    let mut by_path: BTreeMap<String, Vec<TokenStream>> = BTreeMap::new();
    for op in api.operations.values() {
        let http = op.http.as_ref().expect("OpenAPI operations have an HTTP binding");
        let method = format_ident!("{}", http.method);
        let handler = format_ident!("{}", snake(&op.id));
        by_path.entry(http.path.clone()).or_default().push(quote! { #method(#handler) });
    }
    let routes = by_path.iter().map(|(path, methods)| {
        let mut chain = methods.iter();
        let first = chain.next().expect("a path has an operation");
        let rest = chain.map(|m| quote! { .#m });
        quote! { .route(#path, ::axum::routing::#first #(#rest)*) }
    });
    quote! {
        //! vigy's REST adapter, generated from the specs: an axum router over
        //! any [`VigyService`], errors as RFC 9457 problems, and the spec
        //! itself as the OpenAPI document it serves.
        #![allow(clippy::all, missing_docs, unreachable_pub)]

        use ::std::sync::Arc;

        use ::axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
        use ::axum::extract::{Json, Path, Query, State};
        use ::axum::response::{IntoResponse, Response};
        use ::vigy_api::*;

        /// The service the router drives.
        pub type SharedService = Arc<dyn VigyService>;

        /// `spec/vigy.openapi.yaml` as JSON (OpenAPI 3.0.3): the document the
        /// handlers below were generated from, served at `/openapi.json`.
        pub const OPENAPI_JSON: &str = include_str!("../openapi.json");

        /// The media type of every error response (RFC 9457).
        pub const PROBLEM_JSON: &str = "application/problem+json";

        /// A failed operation as an HTTP response: the status of its code
        /// and an RFC 9457 problem (`type` `about:blank`, `title` the
        /// status's reason phrase, `status`, `detail` the message) with the
        /// code as the extension member `code`.
        #[derive(Debug)]
        pub struct RestError(pub ServiceError);

        /// The body of an error response.
        #[derive(Debug, Clone, PartialEq, ::serde::Serialize, ::serde::Deserialize)]
        pub struct Problem {
            /// Always `about:blank`: the status says what kind of problem,
            /// `code` tells codes sharing a status apart.
            #[serde(rename = "type")]
            pub kind: ::std::string::String,
            /// The status's reason phrase.
            pub title: ::std::string::String,
            /// The HTTP status.
            pub status: u16,
            /// The error's message.
            pub detail: ::std::string::String,
            /// The error code, as every transport names it.
            pub code: ErrorCode,
        }

        impl Problem {
            /// The problem `error` is over HTTP.
            pub fn of(error: &ServiceError) -> Self {
                let status = status_of(error.code());
                Problem {
                    kind: "about:blank".into(),
                    title: status.canonical_reason().unwrap_or("Error").into(),
                    status: status.as_u16(),
                    detail: error.message().to_owned(),
                    code: error.code(),
                }
            }
        }

        impl IntoResponse for RestError {
            fn into_response(self) -> Response {
                let problem = Problem::of(&self.0);
                let body = ::serde_json::to_vec(&problem).expect("a problem serializes");
                (status_of(self.0.code()), [(::axum::http::header::CONTENT_TYPE, PROBLEM_JSON)], body).into_response()
            }
        }

        /// The one place an error code becomes an HTTP status.
        pub fn status_of(code: ErrorCode) -> ::axum::http::StatusCode {
            use ::axum::http::StatusCode;
            match code {
                ErrorCode::InvalidArgument | ErrorCode::FailedPrecondition => StatusCode::BAD_REQUEST,
                ErrorCode::NotFound => StatusCode::NOT_FOUND,
                ErrorCode::Conflict => StatusCode::CONFLICT,
                ErrorCode::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
                ErrorCode::Internal => StatusCode::INTERNAL_SERVER_ERROR,
                ErrorCode::Unauthenticated => StatusCode::UNAUTHORIZED,
            }
        }

        fn bad_json(rejection: JsonRejection) -> RestError {
            RestError(ServiceError::InvalidArgument(format!("invalid request body: {}", rejection.body_text())))
        }

        /// A body is a JSON object, whatever serde would make of an array.
        fn body_of<T: ::serde::de::DeserializeOwned>(body: ::std::result::Result<Json<::serde_json::Value>, JsonRejection>) -> ::std::result::Result<T, RestError> {
            let Json(value) = body.map_err(bad_json)?;
            if !value.is_object() {
                return Err(RestError(ServiceError::InvalidArgument("invalid request body: expected a JSON object".into())));
            }
            ::serde_json::from_value(value)
                .map_err(|e| RestError(ServiceError::InvalidArgument(format!("invalid request body: {e}"))))
        }

        fn bad_query(rejection: QueryRejection) -> RestError {
            RestError(ServiceError::InvalidArgument(format!("invalid query: {}", rejection.body_text())))
        }

        fn bad_path(rejection: PathRejection) -> RestError {
            RestError(ServiceError::InvalidArgument(format!("invalid path: {}", rejection.body_text())))
        }

        #(#handlers)*

        /// The router: every operation at its path.
        pub fn router(service: SharedService) -> ::axum::Router {
            ::axum::Router::new()
                #(#routes)*
                .with_state(service)
        }
    }
}

fn handler(op: &Operation) -> TokenStream {
    let http = op.http.as_ref().expect("OpenAPI operations have an HTTP binding");
    let name = format_ident!("{}", snake(&op.id));
    let path = &http.path;
    let summary = op.doc.clone().unwrap_or_default();
    let request = format_ident!("{}Request", pascal(&op.id));
    let output = format_ident!("{}", op.output);

    let path_params: Vec<_> = op.params.iter().filter(|p| path.contains(&format!("{{{}}}", p.name))).collect();
    let query_params: Vec<_> = op.params.iter().filter(|p| !path.contains(&format!("{{{}}}", p.name))).collect();

    let mut args = vec![quote! { State(service): State<SharedService> }];
    let mut fields = Vec::new();
    let mut extra = TokenStream::new();
    for p in &path_params {
        let field = rust_ident(&p.name);
        args.push(quote! { path: ::std::result::Result<Path<::std::string::String>, PathRejection> });
        extra.extend(quote! { let Path(#field) = path.map_err(bad_path)?; });
        fields.push(quote! { #field });
    }
    if !query_params.is_empty() {
        let query = format_ident!("{}Query", pascal(&op.id));
        args.push(quote! { query: ::std::result::Result<Query<#query>, QueryRejection> });
        extra.extend(quote! { let Query(query) = query.map_err(bad_query)?; });
        for p in &query_params {
            let field = rust_ident(&p.name);
            fields.push(quote! { #field: query.#field });
        }
    }
    if op.body.is_some() {
        let body = format_ident!("{}", op.body.as_deref().unwrap_or_default());
        args.push(quote! { body: ::std::result::Result<Json<::serde_json::Value>, JsonRejection> });
        extra.extend(quote! { let body: #body = body_of(body)?; });
        fields.push(quote! { body });
    }
    let query_struct = (!query_params.is_empty()).then(|| {
        let query = format_ident!("{}Query", pascal(&op.id));
        let q_fields = query_params.iter().map(|p| {
            let field = rust_ident(&p.name);
            let ty = match &p.ty {
                crate::ir::Ty::U32 => quote! { u32 },
                crate::ir::Ty::U64 => quote! { u64 },
                crate::ir::Ty::Bool => quote! { bool },
                crate::ir::Ty::Named(model) => {
                    let model = format_ident!("{model}");
                    quote! { #model }
                }
                _ => quote! { ::std::string::String },
            };
            let description = format!(" {}", p.doc.clone().unwrap_or_default());
            quote! { #[doc = #description] pub #field: ::std::option::Option<#ty>, }
        });
        quote! {
            /// The query parameters.
            #[derive(Debug, ::serde::Deserialize)]
            pub struct #query { #(#q_fields)* }
        }
    });
    let call = quote! { service.#name(#request { #(#fields),* }).await.map_err(RestError)? };
    let (returns, body) = if op.kind == Some(OpKind::Stream) {
        (
            quote! { Response },
            quote! {
                use ::futures::StreamExt;
                let events = #call.map(|item| {
                    let event = match item {
                        Ok(run) => ::axum::response::sse::Event::default().event("run").json_data(run),
                        Err(e) => ::axum::response::sse::Event::default().event("error").json_data(Error::from(e)),
                    };
                    let event = event.unwrap_or_else(|e| ::axum::response::sse::Event::default().event("error").data(e.to_string()));
                    Ok::<_, ::std::convert::Infallible>(event)
                });
                let sse = ::axum::response::Sse::new(events).keep_alive(::axum::response::sse::KeepAlive::default());
                Ok(sse.into_response())
            },
        )
    } else {
        (quote! { Json<#output> }, quote! { Ok(Json(#call)) })
    };
    quote! {
        #query_struct

        #[doc = #summary]
        async fn #name(#(#args),*) -> ::std::result::Result<#returns, RestError> {
            #extra
            #body
        }
    }
}
