//! The REST client: progenitor's client for the OpenAPI spec, with every
//! schema replaced by the core model of the same name (so no conversions),
//! wrapped in `RestClient`, which implements `VigyService`.

use proc_macro2::TokenStream;
use quote::{format_ident, quote};

use crate::ir::{Api, OpKind, Operation};
use crate::names::{pascal, rust_ident, snake};

pub(super) fn manifest() -> String {
    format!(
        "{}[package]\nname = \"vigy-api-rest-client\"\n\
         description = \"vigy's typed REST client (progenitor), generated from spec/.\"\n\
         version.workspace = true\nedition.workspace = true\nlicense.workspace = true\n\n\
         # progenitor's doc comments show usage, not tests.\n[lib]\ndoctest = false\n\n[dependencies]\n\
         vigy-api.workspace = true\nprogenitor-client.workspace = true\nreqwest.workspace = true\n\
         serde.workspace = true\nserde_json.workspace = true\nfutures.workspace = true\nbytes.workspace = true\n\
         eventsource-stream.workspace = true\nasync-trait.workspace = true\n",
        super::HEADER.replace("// ", "# ")
    )
}

/// progenitor's client, its schemas replaced by `vigy_api`'s models.
pub(super) fn progenitor_code(api: &Api, spec_text: &str) -> String {
    let spec: openapiv3::OpenAPI = serde_yaml_ng::from_str(spec_text).expect("the spec was read once already");
    let spec = for_progenitor(spec);
    let mut settings = progenitor_impl::GenerationSettings::default();
    for name in api.models.keys() {
        settings.with_replacement(name, format!("::vigy_api::{name}"), std::iter::empty());
    }
    let mut generator = progenitor_impl::Generator::new(&settings);
    let tokens = generator.generate_tokens(&spec).expect("progenitor accepts the checked spec");
    let file: syn::File = syn::parse2(tokens).expect("progenitor emits valid Rust");
    super::rustfmt(&format!("{}{}", super::HEADER, prettyplease::unparse(&file)))
}

/// The spec as progenitor can type it: progenitor leaves an
/// `application/problem+json` error untyped (a byte stream) and an inline
/// error schema it types as the success body, so the problem schema of
/// each error response moves to `components.schemas.Problem` and is
/// declared `application/json` (the server's `application/problem+json`
/// body is the same JSON).
fn for_progenitor(mut spec: openapiv3::OpenAPI) -> openapiv3::OpenAPI {
    use openapiv3::ReferenceOr;
    let components = spec.components.get_or_insert_with(Default::default);
    let mut problem = None;
    for response in components.responses.values_mut() {
        let ReferenceOr::Item(response) = response else { continue };
        if let Some(mut media) = response.content.shift_remove("application/problem+json") {
            if let Some(ReferenceOr::Item(schema)) = media.schema.take() {
                problem = Some(schema);
            }
            media.schema = Some(ReferenceOr::Reference { reference: "#/components/schemas/Problem".into() });
            response.content.insert("application/json".into(), media);
        }
    }
    if let Some(schema) = problem {
        components.schemas.insert("Problem".into(), ReferenceOr::Item(schema));
    }
    spec
}

pub(super) fn render(api: &Api) -> TokenStream {
    let methods = api.operations.values().map(method);
    quote! {
        //! vigy's REST client, generated from the specs: progenitor's client
        //! (module [`progenitor`]) wrapped as a
        //! [`VigyService`](::vigy_api::VigyService).
        #![allow(clippy::all, missing_docs, unreachable_pub)]

        use ::futures::StreamExt;
        use ::vigy_api as api;
        use ::vigy_api::ServiceError;

        /// progenitor's client for `spec/vigy.openapi.yaml`.
        #[allow(unused_imports, dead_code, unused_mut, irrefutable_let_patterns)]
        pub mod progenitor {
            include!("progenitor.rs");
        }

        /// A client of a remote vigy over REST, speaking
        /// [`VigyService`](api::VigyService) like the runtime itself.
        #[derive(Debug, Clone)]
        pub struct RestClient {
            inner: progenitor::Client,
        }

        impl RestClient {
            /// A client of the server at `base_url` (e.g.
            /// `http://127.0.0.1:38821`). No total timeout, so event streams
            /// can last; connecting times out after 10 s.
            pub fn new(base_url: &str) -> Self {
                let http = ::reqwest::Client::builder()
                    .connect_timeout(::std::time::Duration::from_secs(10))
                    .build()
                    .expect("a reqwest client with default TLS-free settings");
                Self::with_client(base_url, http)
            }

            /// Over an existing reqwest client (to add a bearer token, say).
            pub fn with_client(base_url: &str, http: ::reqwest::Client) -> Self {
                Self { inner: progenitor::Client::new_with_client(base_url, http) }
            }
        }

        /// A REST failure as the error it stands for: a problem's `code`
        /// and `detail`.
        fn service_error(e: progenitor::Error<progenitor::types::Problem>) -> ServiceError {
            match e {
                progenitor::Error::ErrorResponse(response) => {
                    let problem = response.into_inner();
                    ServiceError::new(problem.code, problem.detail)
                }
                progenitor::Error::CommunicationError(e) => ServiceError::Unavailable(e.to_string()),
                other => ServiceError::Internal(other.to_string()),
            }
        }

        /// typify types an integer with `minimum: 1` as `NonZeroU32`; the
        /// request was validated first, so a zero never reaches here.
        fn non_zero(value: Option<u32>) -> Option<::std::num::NonZeroU32> {
            value.and_then(::std::num::NonZeroU32::new)
        }

        #[::async_trait::async_trait]
        impl api::VigyService for RestClient {
            #(#methods)*
        }
    }
}

fn method(op: &Operation) -> TokenStream {
    let name = format_ident!("{}", snake(&op.id));
    let request = format_ident!("{}Request", pascal(&op.id));
    let output = format_ident!("{}", op.output);
    let http = op.http.as_ref().expect("OpenAPI operations have an HTTP binding");
    // progenitor's positional order: path parameters as they appear, then
    // query parameters by name, then the body.
    let in_path = |name: &str| http.path.contains(&format!("{{{name}}}"));
    let mut query: Vec<_> = op.params.iter().filter(|p| !in_path(&p.name)).collect();
    query.sort_by(|a, b| a.name.cmp(&b.name));
    let mut args = Vec::new();
    // Query strings the spec constrains, as typify's newtypes.
    let mut typed = Vec::new();
    for p in op.params.iter().filter(|p| in_path(&p.name)) {
        let field = rust_ident(&p.name);
        args.push(quote! { &request.#field });
    }
    for p in query {
        let field = rust_ident(&p.name);
        args.push(match p.ty {
            // typify types an integer with `minimum: 1` as NonZeroU32 (every
            // u32 parameter of vigy's spec is such a count).
            crate::ir::Ty::U32 if p.constraints.minimum.is_some_and(|m| m > 0) => quote! { non_zero(request.#field) },
            crate::ir::Ty::U32 | crate::ir::Ty::U64 | crate::ir::Ty::Bool => quote! { request.#field },
            // typify wraps a string with a length or pattern in a newtype of
            // `<Operation><Parameter>`; validated, it always converts.
            crate::ir::Ty::String
                if p.constraints.max_length.is_some()
                    || p.constraints.min_length.is_some()
                    || p.constraints.pattern.is_some() =>
            {
                let newtype = format_ident!("{}{}", pascal(&op.id), pascal(&p.name));
                typed.push(quote! {
                    let #field = request.#field.as_deref().map(progenitor::types::#newtype::try_from).transpose()
                        .map_err(|e| ServiceError::InvalidArgument(e.to_string()))?;
                });
                quote! { #field.as_ref() }
            }
            _ => quote! { request.#field.as_deref() },
        });
    }
    if op.body.is_some() {
        args.push(quote! { &request.body });
    }
    if op.kind == Some(OpKind::Stream) {
        quote! {
            async fn #name(&self, request: api::#request) -> ::std::result::Result<api::EventStream<api::#output>, ServiceError> {
                use ::eventsource_stream::Eventsource;
                request.validate()?;
                #(#typed)*
                let response = self.inner.#name(#(#args),*).await.map_err(service_error)?;
                let events = response.into_inner().into_inner().eventsource().filter_map(|event| async move {
                    match event {
                        Err(e) => Some(Err(ServiceError::Unavailable(e.to_string()))),
                        Ok(event) if event.event == "error" => Some(Err(
                            ::serde_json::from_str::<api::Error>(&event.data)
                                .map(ServiceError::from)
                                .unwrap_or_else(|e| ServiceError::Internal(e.to_string())),
                        )),
                        Ok(event) if event.data.is_empty() => None,
                        Ok(event) => Some(::serde_json::from_str::<api::#output>(&event.data)
                            .map_err(|e| ServiceError::Internal(format!("bad event: {e}")))),
                    }
                });
                Ok(events.boxed())
            }
        }
    } else {
        quote! {
            async fn #name(&self, request: api::#request) -> ::std::result::Result<api::#output, ServiceError> {
                request.validate()?;
                #(#typed)*
                self.inner.#name(#(#args),*).await.map(|r| r.into_inner()).map_err(service_error)
            }
        }
    }
}
