//! The GraphQL client: cynic query structs for every operation (selecting
//! every field), their conversions to the core models, and `GraphqlClient`,
//! which implements `VigyService` (the subscription over graphql-ws).

use proc_macro2::TokenStream;
use quote::{format_ident, quote};

use crate::ir::{Api, Field, OpKind, Operation, Shape, Ty};
use crate::names::{camel, graphql_argument, graphql_connection, pascal, rust_ident, snake};

pub(super) fn manifest() -> String {
    format!(
        "{}[package]\nname = \"vigy-api-graphql-client\"\n\
         description = \"vigy's typed GraphQL client (cynic), generated from spec/.\"\n\
         version.workspace = true\nedition.workspace = true\nlicense.workspace = true\n\n[dependencies]\n\
         vigy-api.workspace = true\ncynic.workspace = true\nreqwest.workspace = true\nserde.workspace = true\n\
         serde_json.workspace = true\nchrono.workspace = true\nfutures.workspace = true\nasync-trait.workspace = true\n\
         graphql-ws-client.workspace = true\nasync-tungstenite.workspace = true\n\n[build-dependencies]\n\
         cynic-codegen.workspace = true\n",
        super::HEADER.replace("// ", "# ")
    )
}

pub(super) fn build_script() -> String {
    format!(
        "{}//! Registers `spec/vigy.graphql` as cynic's schema `vigy`.\n\nfn main() {{\n    \
         println!(\"cargo:rerun-if-changed=../../spec/vigy.graphql\");\n    \
         cynic_codegen::register_schema(\"vigy\")\n        .from_sdl_file(\"../../spec/vigy.graphql\")\n        \
         .expect(\"the spec's SDL\")\n        .as_default()\n        .expect(\"a default schema\");\n}}\n",
        super::HEADER
    )
}

/// The Rust type a fragment field has (core types where they coincide).
fn rust_type(ty: &Ty, optional: bool) -> TokenStream {
    let base = match ty {
        Ty::String => quote! { ::std::string::String },
        Ty::Bool => quote! { bool },
        Ty::U32 => quote! { i32 },
        Ty::U64 => quote! { u64 },
        Ty::Timestamp => quote! { ::chrono::DateTime<::chrono::Utc> },
        Ty::Json => quote! { ::serde_json::Value },
        Ty::JsonObject => quote! { ::serde_json::Map<::std::string::String, ::serde_json::Value> },
        Ty::StringMap => quote! { ::std::collections::BTreeMap<::std::string::String, ::std::string::String> },
        Ty::List(item) => {
            let item = rust_type(item, false);
            quote! { ::std::vec::Vec<#item> }
        }
        Ty::Named(name) => {
            let name = format_ident!("{name}");
            quote! { #name }
        }
    };
    if optional {
        quote! { ::std::option::Option<#base> }
    } else {
        base
    }
}

/// Fragment value → core value.
fn to_core(ty: &Ty, optional: bool, value: TokenStream) -> TokenStream {
    match (ty, optional) {
        // GraphQL's Int is signed; the server sends a u32 (a value past
        // i32::MAX already fails to decode), so a negative one cannot come
        // from it.
        (Ty::U32, false) => quote! { u32::try_from(#value).unwrap_or_default() },
        (Ty::U32, true) => quote! { #value.and_then(|n| u32::try_from(n).ok()) },
        (Ty::Named(_), false) => quote! { #value.into() },
        (Ty::Named(_), true) => quote! { #value.map(Into::into) },
        (Ty::List(item), false) if matches!(**item, Ty::Named(_)) => {
            quote! { #value.into_iter().map(Into::into).collect() }
        }
        _ => value,
    }
}

/// Core value → input value.
fn to_input(ty: &Ty, optional: bool, value: TokenStream) -> TokenStream {
    match (ty, optional) {
        (Ty::U32, false) => quote! { i32::try_from(#value).map_err(|_| too_big())? },
        (Ty::U32, true) => quote! { #value.map(i32::try_from).transpose().map_err(|_| too_big())? },
        _ => value,
    }
}

/// A page as the connection the server sends: its `nodes`, and from
/// `pageInfo` the next page's cursor.
fn connection(page: &str, item: &str) -> TokenStream {
    let (ty, item_ty, connection) = (format_ident!("{page}"), format_ident!("{item}"), graphql_connection(item));
    quote! {
        #[derive(::cynic::QueryFragment, Debug)]
        #[cynic(graphql_type = #connection)]
        pub struct #ty {
            pub nodes: ::std::vec::Vec<#item_ty>,
            pub page_info: PageInfo,
        }

        impl From<#ty> for api::#ty {
            fn from(v: #ty) -> Self {
                let next_cursor = if v.page_info.has_next_page { v.page_info.end_cursor } else { None };
                Self { items: v.nodes.into_iter().map(Into::into).collect(), next_cursor }
            }
        }
    }
}

pub(super) fn render(api: &Api, graph: &Api) -> TokenStream {
    let bodies: Vec<&String> = api.operations.values().filter_map(|op| op.body.as_ref()).collect();
    let types = api.models.iter().map(|(name, m)| {
        let ty = format_ident!("{name}");
        if let Some(item) = m.page_item() {
            return connection(name, item);
        }
        match &m.shape {
            Shape::Enum(values) => {
                let variants: Vec<_> = values.iter().map(|v| format_ident!("{}", pascal(v))).collect();
                quote! {
                    #[derive(::cynic::Enum, Clone, Copy, Debug)]
                    #[cynic(graphql_type = #name)]
                    pub enum #ty { #(#variants),* }

                    impl From<#ty> for api::#ty {
                        fn from(v: #ty) -> Self {
                            match v { #(#ty::#variants => api::#ty::#variants),* }
                        }
                    }
                }
            }
            Shape::Struct(fields) if bodies.contains(&name) => {
                let decl = fields.iter().map(|f| field_decl(f, true));
                let conv = fields.iter().map(|f| {
                    let field = rust_ident(&f.name);
                    let value = to_input(&f.ty, f.optional == Some(true), quote! { v.#field });
                    quote! { #field: #value, }
                });
                quote! {
                    #[derive(::cynic::InputObject, Debug)]
                    #[cynic(graphql_type = #name)]
                    pub struct #ty { #(#decl)* }

                    impl #ty {
                        fn from_core(v: api::#ty) -> ::std::result::Result<Self, ServiceError> {
                            Ok(Self { #(#conv)* })
                        }
                    }
                }
            }
            Shape::Struct(fields) => {
                let decl = fields.iter().map(|f| field_decl(f, false));
                let conv = fields.iter().map(|f| {
                    let field = rust_ident(&f.name);
                    let value = to_core(&f.ty, f.optional == Some(true), quote! { v.#field });
                    quote! { #field: #value, }
                });
                quote! {
                    #[derive(::cynic::QueryFragment, Debug)]
                    #[cynic(graphql_type = #name)]
                    pub struct #ty { #(#decl)* }

                    impl From<#ty> for api::#ty {
                        fn from(v: #ty) -> Self {
                            Self { #(#conv)* }
                        }
                    }
                }
            }
        }
    });
    let operations = api.operations.values().map(|op| operation(op, &graph.graphql_field(&op.id)));
    let methods = api.operations.values().map(method);
    quote! {
        //! vigy's GraphQL client, generated from the specs: cynic query
        //! structs for every operation, wrapped as a
        //! [`VigyService`](::vigy_api::VigyService).
        #![allow(clippy::all, missing_docs, unreachable_pub)]

        use ::futures::StreamExt;
        use ::vigy_api as api;
        use ::vigy_api::ServiceError;

        #[::cynic::schema("vigy")]
        mod schema {}

        ::cynic::impl_scalar!(::chrono::DateTime<::chrono::Utc>, schema::DateTime);
        ::cynic::impl_scalar!(::serde_json::Value, schema::JSON);
        ::cynic::impl_scalar!(::serde_json::Map<::std::string::String, ::serde_json::Value>, schema::JSONObject);
        ::cynic::impl_scalar!(::std::collections::BTreeMap<::std::string::String, ::std::string::String>, schema::Labels);
        ::cynic::impl_scalar!(u64, schema::UInt64);

        fn too_big() -> ServiceError {
            ServiceError::InvalidArgument("a count is too large for GraphQL's Int".into())
        }

        /// A subscription whose events keep their errors' `extensions`
        /// (graphql-ws-client's own cynic binding drops them).
        #[derive(::serde::Serialize)]
        #[serde(transparent, bound(serialize = "Vars: ::serde::Serialize"))]
        struct Subscription<Data, Vars>(::cynic::StreamingOperation<Data, Vars>);

        impl<Data: ::serde::de::DeserializeOwned, Vars: ::serde::Serialize> ::graphql_ws_client::graphql::GraphqlOperation
            for Subscription<Data, Vars>
        {
            type Response = ::cynic::GraphQlResponse<Data, Extensions>;
            type Error = ::serde_json::Error;

            fn decode(&self, response: ::serde_json::Value) -> ::std::result::Result<Self::Response, Self::Error> {
                ::serde_json::from_value(response)
            }
        }

        /// The error a GraphQL response carries, by its `extensions.code`.
        #[derive(::serde::Deserialize, Debug)]
        struct Extensions {
            code: ::std::option::Option<::std::string::String>,
        }

        fn graphql_error(errors: ::std::vec::Vec<::cynic::GraphQlError<Extensions>>) -> ServiceError {
            let Some(first) = errors.into_iter().next() else {
                return ServiceError::Internal("an empty GraphQL response".into());
            };
            let code = first.extensions.and_then(|e| e.code).unwrap_or_default().to_ascii_lowercase();
            let code: api::ErrorCode =
                ::serde_json::from_value(::serde_json::Value::String(code)).unwrap_or(api::ErrorCode::Internal);
            ServiceError::new(code, first.message)
        }

        /// Where a page ends, and whether another follows.
        #[derive(::cynic::QueryFragment, Debug)]
        #[cynic(graphql_type = "PageInfo")]
        pub struct PageInfo {
            pub has_next_page: bool,
            pub end_cursor: ::std::option::Option<::std::string::String>,
        }

        #(#types)*
        #(#operations)*

        /// A client of a remote vigy over GraphQL, speaking
        /// [`VigyService`](api::VigyService) like the runtime itself.
        ///
        /// Queries and mutations are POSTed; `stream_events` subscribes
        /// over graphql-ws on the same URL, and the subscription (with its
        /// connection) runs while its stream is being polled.
        #[derive(Debug, Clone)]
        pub struct GraphqlClient {
            http: ::reqwest::Client,
            /// e.g. `http://127.0.0.1:38821/graphql`
            url: ::std::string::String,
            /// Sent as `Authorization: Bearer` on every request and on the
            /// WebSocket handshake.
            token: ::std::option::Option<::std::string::String>,
        }

        impl GraphqlClient {
            /// A client of the GraphQL endpoint at `url`.
            pub fn new(url: impl Into<::std::string::String>) -> Self {
                Self { http: ::reqwest::Client::new(), url: url.into(), token: None }
            }

            /// The same client, authenticating with a bearer token.
            pub fn with_token(mut self, token: impl Into<::std::string::String>) -> Self {
                self.token = Some(token.into());
                self
            }

            async fn run<Data, Vars>(&self, op: ::cynic::Operation<Data, Vars>) -> ::std::result::Result<Data, ServiceError>
            where
                Data: ::serde::de::DeserializeOwned + 'static,
                Vars: ::serde::Serialize,
            {
                use ::cynic::http::ReqwestExt;
                let mut request = self.http.post(&self.url);
                if let Some(token) = &self.token {
                    request = request.bearer_auth(token);
                }
                let response = request
                    .run_graphql(op)
                    .retain_extensions::<Extensions>()
                    .await
                    .map_err(|e| ServiceError::Unavailable(e.to_string()))?;
                match (response.data, response.errors) {
                    (_, Some(errors)) if !errors.is_empty() => Err(graphql_error(errors)),
                    (Some(data), _) => Ok(data),
                    _ => Err(ServiceError::Internal("a GraphQL response without data".into())),
                }
            }

            /// The graphql-ws endpoint beside the HTTP one.
            fn ws_url(&self) -> ::std::string::String {
                self.url.replacen("http", "ws", 1)
            }
        }

        #[::async_trait::async_trait]
        impl api::VigyService for GraphqlClient {
            #(#methods)*
        }
    }
}

fn field_decl(f: &Field, input: bool) -> TokenStream {
    let field = rust_ident(&f.name);
    // cynic names a field by its Rust identifier, raw prefix and all.
    let rename = field.to_string().starts_with("r#").then(|| {
        let graphql = camel(&f.name);
        quote! { #[cynic(rename = #graphql)] }
    });
    let optional = f.optional == Some(true);
    let ty = rust_type(&f.ty, optional);
    let skip = (input && optional).then(|| quote! { #[cynic(skip_serializing_if = "Option::is_none")] });
    quote! { #rename #skip pub #field: #ty, }
}

/// The query struct of `op`, whose root field is `root`.
fn operation(op: &Operation, root_field: &str) -> TokenStream {
    let vars = format_ident!("{}Variables", pascal(&op.id));
    let fragment = format_ident!("{}Op", pascal(&op.id));
    let root = match op.kind {
        Some(OpKind::Read) => "Query",
        Some(OpKind::Stream) => "Subscription",
        _ => "Mutation",
    };
    let field = format_ident!("{}", snake(&op.id));
    let rename = (root_field != op.id).then(|| quote! { #[cynic(rename = #root_field)] });
    let output = format_ident!("{}", op.output);
    let mut var_fields: Vec<TokenStream> = op
        .params
        .iter()
        .map(|p| {
            let name = rust_ident(&p.name);
            let ty = rust_type(&p.ty, p.optional == Some(true));
            quote! { pub #name: #ty, }
        })
        .collect();
    let mut args: Vec<TokenStream> = op
        .params
        .iter()
        .map(|p| {
            let gql = format_ident!("{}", graphql_argument(&p.name));
            let var = rust_ident(&p.name);
            quote! { #gql: $#var }
        })
        .collect();
    if let Some(body) = &op.body {
        let body = format_ident!("{body}");
        var_fields.push(quote! { pub input: #body, });
        args.push(quote! { input: $input });
    }
    quote! {
        #[derive(::cynic::QueryVariables, Debug)]
        pub struct #vars { #(#var_fields)* }

        #[derive(::cynic::QueryFragment, Debug)]
        #[cynic(graphql_type = #root, variables = #vars)]
        pub struct #fragment {
            #[arguments(#(#args),*)]
            #rename
            pub #field: #output,
        }
    }
}

fn method(op: &Operation) -> TokenStream {
    let method = format_ident!("{}", snake(&op.id));
    let request = format_ident!("{}Request", pascal(&op.id));
    let output = format_ident!("{}", op.output);
    let vars = format_ident!("{}Variables", pascal(&op.id));
    let fragment = format_ident!("{}Op", pascal(&op.id));
    let mut fields: Vec<TokenStream> = op
        .params
        .iter()
        .map(|p| {
            let name = rust_ident(&p.name);
            let value = to_input(&p.ty, p.optional == Some(true), quote! { request.#name });
            quote! { #name: #value }
        })
        .collect();
    if let Some(body) = &op.body {
        let body = format_ident!("{body}");
        fields.push(quote! { input: #body::from_core(request.body)? });
    }
    match op.kind {
        Some(OpKind::Stream) => quote! {
            async fn #method(&self, request: api::#request) -> ::std::result::Result<api::EventStream<api::#output>, ServiceError> {
                use ::async_tungstenite::tungstenite::client::IntoClientRequest;
                use ::cynic::SubscriptionBuilder;
                let mut ws = self.ws_url().into_client_request().map_err(|e| ServiceError::InvalidArgument(e.to_string()))?;
                ws.headers_mut().insert("Sec-WebSocket-Protocol", "graphql-transport-ws".parse().expect("a valid header"));
                if let Some(token) = &self.token {
                    let value = format!("Bearer {token}").parse().map_err(|_| ServiceError::InvalidArgument("the token is not a valid header value".into()))?;
                    ws.headers_mut().insert("Authorization", value);
                }
                let (connection, _) = ::async_tungstenite::tokio::connect_async(ws)
                    .await
                    .map_err(|e| ServiceError::Unavailable(e.to_string()))?;
                let operation = Subscription(#fragment::build(#vars { #(#fields),* }));
                let events = ::graphql_ws_client::Client::build(connection)
                    .subscribe(operation)
                    .await
                    .map_err(|e| ServiceError::Unavailable(e.to_string()))?;
                Ok(events
                    .map(|item| match item {
                        Ok(response) => match (response.data, response.errors) {
                            (_, Some(errors)) if !errors.is_empty() => Err(graphql_error(errors)),
                            (Some(data), _) => Ok(data.#method.into()),
                            (None, _) => Err(ServiceError::Internal("an empty event".into())),
                        },
                        Err(e) => Err(ServiceError::Unavailable(e.to_string())),
                    })
                    .boxed())
            }
        },
        kind => {
            let builder = if kind == Some(OpKind::Read) {
                quote! { ::cynic::QueryBuilder }
            } else {
                quote! { ::cynic::MutationBuilder }
            };
            quote! {
                async fn #method(&self, request: api::#request) -> ::std::result::Result<api::#output, ServiceError> {
                    use #builder;
                    let data = self.run(#fragment::build(#vars { #(#fields),* })).await?;
                    Ok(data.#method.into())
                }
            }
        }
    }
}
