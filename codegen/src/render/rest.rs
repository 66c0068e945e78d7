//! The REST adapter: an axum router over any `VigyService`, each handler
//! annotated with `#[utoipa::path]` so the OpenAPI document served at
//! runtime is derived from the handlers themselves.

use std::collections::BTreeMap;

use proc_macro2::TokenStream;
use quote::{format_ident, quote};

use crate::ir::{Api, OpKind, Operation};
use crate::names::{pascal, rust_ident, snake};

pub(super) fn manifest() -> String {
    format!(
        "{}[package]\nname = \"vigy-api-rest\"\ndescription = \"vigy's REST adapter (axum + utoipa), generated from spec/.\"\n\
         version.workspace = true\nedition.workspace = true\nlicense.workspace = true\n\n[dependencies]\n\
         vigy-api = {{ workspace = true, features = [\"utoipa\"] }}\naxum.workspace = true\nfutures.workspace = true\n\
         serde.workspace = true\nserde_json.workspace = true\nutoipa.workspace = true\nutoipa-axum.workspace = true\n",
        super::HEADER.replace("// ", "# ")
    )
}

pub(super) fn render(api: &Api) -> TokenStream {
    let handlers = api.operations.values().map(handler);
    // One `routes!` per path: utoipa-axum registers a path's methods together.
    let mut by_path: BTreeMap<String, Vec<proc_macro2::Ident>> = BTreeMap::new();
    for op in api.operations.values() {
        let http = op.http.as_ref().expect("OpenAPI operations have an HTTP binding");
        by_path.entry(http.path.clone()).or_default().push(format_ident!("{}", snake(&op.id)));
    }
    let routes = by_path.values().map(|handlers| quote! { .routes(::utoipa_axum::routes!(#(#handlers),*)) });
    let title = "vigy";
    quote! {
        //! vigy's REST adapter, generated from the specs: an axum router over
        //! any [`VigyService`], whose handlers carry the OpenAPI annotations
        //! the served document is derived from.
        #![allow(clippy::all, missing_docs, unreachable_pub)]

        use ::std::sync::Arc;

        use ::axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
        use ::axum::extract::{Json, Path, Query, State};
        use ::axum::response::{IntoResponse, Response};
        use ::vigy_api::*;

        /// The service the router drives.
        pub type SharedService = Arc<dyn VigyService>;

        /// A failed operation as an HTTP response: the status of its code
        /// and the `Error` model as JSON.
        #[derive(Debug)]
        pub struct RestError(pub ServiceError);

        impl IntoResponse for RestError {
            fn into_response(self) -> Response {
                (status_of(self.0.code()), Json(Error::from(self.0))).into_response()
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

        fn bad_query(rejection: QueryRejection) -> RestError {
            RestError(ServiceError::InvalidArgument(format!("invalid query: {}", rejection.body_text())))
        }

        fn bad_path(rejection: PathRejection) -> RestError {
            RestError(ServiceError::InvalidArgument(format!("invalid path: {}", rejection.body_text())))
        }

        #(#handlers)*

        #[derive(::utoipa::OpenApi)]
        #[openapi(info(title = #title))]
        struct ApiDoc;

        /// The router and the OpenAPI document derived from its handlers.
        pub fn router(service: SharedService) -> (::axum::Router, ::utoipa::openapi::OpenApi) {
            let (router, api) = ::utoipa_axum::router::OpenApiRouter::with_openapi(<ApiDoc as ::utoipa::OpenApi>::openapi())
                #(#routes)*
                .split_for_parts();
            (router.with_state(service), api)
        }
    }
}

fn handler(op: &Operation) -> TokenStream {
    let http = op.http.as_ref().expect("OpenAPI operations have an HTTP binding");
    let name = format_ident!("{}", snake(&op.id));
    let method = format_ident!("{}", http.method);
    let path = &http.path;
    let id = &op.id;
    let summary = op.doc.clone().unwrap_or_default();
    let request = format_ident!("{}Request", pascal(&op.id));
    let output = format_ident!("{}", op.output);

    let path_params: Vec<_> = op.params.iter().filter(|p| path.contains(&format!("{{{}}}", p.name))).collect();
    let query_params: Vec<_> = op.params.iter().filter(|p| !path.contains(&format!("{{{}}}", p.name))).collect();

    let mut args = vec![quote! { State(service): State<SharedService> }];
    let mut fields = Vec::new();
    let mut params_doc = Vec::new();
    let mut extra = TokenStream::new();
    for p in &path_params {
        let field = rust_ident(&p.name);
        let name = &p.name;
        let description = p.doc.clone().unwrap_or_default();
        args.push(quote! { path: ::std::result::Result<Path<::std::string::String>, PathRejection> });
        extra.extend(quote! { let Path(#field) = path.map_err(bad_path)?; });
        fields.push(quote! { #field });
        params_doc.push(quote! { (#name = String, Path, description = #description) });
    }
    if !query_params.is_empty() {
        let query = format_ident!("{}Query", pascal(&op.id));
        args.push(quote! { query: ::std::result::Result<Query<#query>, QueryRejection> });
        extra.extend(quote! { let Query(query) = query.map_err(bad_query)?; });
        for p in &query_params {
            let field = rust_ident(&p.name);
            fields.push(quote! { #field: query.#field });
        }
        params_doc.push(quote! { #query });
    }
    let mut body_doc = TokenStream::new();
    if let Some(body) = &op.body {
        let body = format_ident!("{body}");
        args.push(quote! { body: ::std::result::Result<Json<#body>, JsonRejection> });
        extra.extend(quote! { let Json(body) = body.map_err(bad_json)?; });
        fields.push(quote! { body });
        body_doc = quote! { request_body = #body, };
    }
    let query_struct = (!query_params.is_empty()).then(|| {
        let query = format_ident!("{}Query", pascal(&op.id));
        let q_fields = query_params.iter().map(|p| {
            let field = rust_ident(&p.name);
            let ty = match p.ty {
                crate::ir::Ty::U32 => quote! { u32 },
                crate::ir::Ty::U64 => quote! { u64 },
                _ => quote! { ::std::string::String },
            };
            let description = format!(" {}", p.doc.clone().unwrap_or_default());
            quote! { #[doc = #description] #[param(required = false)] pub #field: ::std::option::Option<#ty>, }
        });
        quote! {
            /// The query parameters.
            #[derive(Debug, ::serde::Deserialize, ::utoipa::IntoParams)]
            #[into_params(parameter_in = Query)]
            pub struct #query { #(#q_fields)* }
        }
    });
    let call = quote! { service.#name(#request { #(#fields),* }).await.map_err(RestError)? };
    let (returns, body, ok) = if op.kind == Some(OpKind::Stream) {
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
            quote! { (status = 200, description = "The event stream.", content_type = "text/event-stream", body = #output) },
        )
    } else {
        (
            quote! { Json<#output> },
            quote! { Ok(Json(#call)) },
            quote! { (status = 200, description = #summary, body = #output) },
        )
    };
    quote! {
        #query_struct

        #[doc = #summary]
        #[::utoipa::path(
            #method,
            path = #path,
            operation_id = #id,
            tag = "vigies",
            summary = #summary,
            params(#(#params_doc),*),
            #body_doc
            responses(
                #ok,
                (status = "4XX", description = "The operation failed.", body = Error),
                (status = "5XX", description = "The operation failed.", body = Error),
            ),
        )]
        async fn #name(#(#args),*) -> ::std::result::Result<#returns, RestError> {
            #extra
            #body
        }
    }
}
