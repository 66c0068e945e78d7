//! The GraphQL adapter: a static async-graphql schema rendered from the IR
//! in the SDL's naming (camelCase fields and arguments, SCREAMING enum
//! values), resolving every operation through any `VigyService`.
//!
//! Each model gets a GraphQL twin (`#[derive(SimpleObject)]`, `Enum` or
//! `InputObject`) converted from or into the core model by moving its
//! fields, and each spec scalar a newtype. A static schema, rather than
//! async-graphql's dynamic one, because the dynamic executor looks up types
//! by name, builds an argument map and boxes a future for every field it
//! resolves: on a list of 100 vigies that was 1.4x the cost of a plain
//! derived schema (`cargo bench -p vigy-server`).

use proc_macro2::TokenStream;
use quote::{format_ident, quote};

use super::service::{doc, rust_type};
use crate::ir::{Api, Edge, Field, Model, OpKind, Operation, Shape, Ty};
use crate::names::{camel, graphql_argument, graphql_connection, graphql_edge, pascal, rust_ident, snake};
use crate::parse::graphql::SPEC_SCALARS;

pub(super) fn manifest() -> String {
    format!(
        "{}[package]\nname = \"vigy-api-graphql\"\ndescription = \"vigy's GraphQL adapter (async-graphql), generated from spec/.\"\n\
         version.workspace = true\nedition.workspace = true\nlicense.workspace = true\n\n[dependencies]\n\
         vigy-api.workspace = true\nasync-graphql = {{ workspace = true, features = [\"dataloader\"] }}\n\
         chrono.workspace = true\nfutures.workspace = true\nserde_json.workspace = true\ntokio.workspace = true\n",
        super::HEADER.replace("// ", "# ")
    )
}

/// The newtype standing for a spec scalar's type in the GraphQL twins, and
/// its description; `None` for a type GraphQL has built in.
fn scalar_newtype(ty: &Ty) -> Option<(&'static str, &'static str)> {
    Some(match ty {
        Ty::Timestamp => ("DateTime", "An RFC 3339 UTC timestamp."),
        Ty::Json => ("Json", "Any JSON value."),
        Ty::JsonObject => ("JsonObject", "A JSON object."),
        Ty::StringMap => ("Labels", "A JSON object of string labels, e.g. {\"host\": \"mado\"}."),
        Ty::U64 => ("UInt64", "A non-negative integer up to 2^64 - 1."),
        Ty::String | Ty::Bool | Ty::U32 | Ty::Named(_) | Ty::List(_) => return None,
    })
}

/// The Rust type a value of `ty` has in the GraphQL twins.
fn graphql_type(ty: &Ty) -> TokenStream {
    match (ty, scalar_newtype(ty)) {
        (_, Some((newtype, _))) => {
            let newtype = format_ident!("{}", newtype);
            quote! { #newtype }
        }
        (Ty::Named(name), None) => {
            let name = format_ident!("{}", name);
            quote! { #name }
        }
        (Ty::List(item), None) => {
            let item = graphql_type(item);
            quote! { ::std::vec::Vec<#item> }
        }
        (other, None) => rust_type(other),
    }
}

fn optional(f: &Field) -> bool {
    f.optional == Some(true)
}

/// The type of a field or argument, optional where the spec says so.
fn field_type(f: &Field) -> TokenStream {
    let ty = graphql_type(&f.ty);
    if optional(f) {
        quote! { ::std::option::Option<#ty> }
    } else {
        ty
    }
}

/// `value` (of `ty`, optional or not) moved into the other side's type:
/// every pair of twins converts both ways with `From`.
fn convert(ty: &Ty, is_optional: bool, value: TokenStream) -> TokenStream {
    match (ty, is_optional) {
        (Ty::List(_), false) => quote! { list(#value) },
        (Ty::List(_), true) => quote! { #value.map(list) },
        (_, false) => quote! { #value.into() },
        (_, true) => quote! { #value.map(::std::convert::Into::into) },
    }
}

/// The newtype of the spec scalar `graphql` (of type `ty`).
fn scalar(graphql: &str, ty: &Ty) -> TokenStream {
    let Some((newtype, description)) = scalar_newtype(ty) else {
        unreachable!("every spec scalar has a newtype: {graphql}")
    };
    let (newtype, inner, doc) = (format_ident!("{}", newtype), rust_type(ty), doc(Some(description)));
    quote! {
        #doc
        #[derive(Debug, Clone, PartialEq)]
        pub struct #newtype(pub #inner);

        #[::async_graphql::Scalar(name = #graphql)]
        impl ::async_graphql::ScalarType for #newtype {
            fn parse(value: ::async_graphql::Value) -> ::async_graphql::InputValueResult<Self> {
                Ok(Self(::async_graphql::from_value(value)?))
            }

            // Checked while validating: a bad value refuses the request
            // before anything runs.
            fn is_valid(value: &::async_graphql::Value) -> bool {
                ::async_graphql::from_value::<#inner>(value.clone()).is_ok()
            }

            fn to_value(&self) -> ::async_graphql::Value {
                // The core models' own serde encoding, so every transport
                // spells the value alike.
                ::async_graphql::to_value(&self.0).unwrap_or_default()
            }
        }

        impl From<#inner> for #newtype {
            fn from(value: #inner) -> Self {
                Self(value)
            }
        }

        impl From<#newtype> for #inner {
            fn from(value: #newtype) -> Self {
                value.0
            }
        }
    }
}

/// A page of a list as a connection (Cursor Connections, with `nodes`
/// beside `edges`): it keeps the page's items once, with each item's
/// cursor from the core model, and lends them to `nodes` and `edges`.
fn connection(model: &Model, item: &str) -> TokenStream {
    let page = format_ident!("{}", model.name);
    let item_ident = format_ident!("{item}");
    let (name, edge_name) = (graphql_connection(item), graphql_edge(item));
    let edge = format_ident!("{edge_name}");
    let page_doc = doc(model.doc.as_deref());
    quote! {
        #page_doc
        #[derive(Debug)]
        pub struct #page {
            items: ::std::vec::Vec<#item_ident>,
            cursors: ::std::vec::Vec<::std::string::String>,
            has_next_page: bool,
        }

        #[::async_graphql::Object(name = #name)]
        impl #page {
            /// The page's items, in order.
            async fn nodes(&self) -> &[#item_ident] {
                &self.items
            }

            /// The page's items, each with its cursor.
            async fn edges(&self) -> ::std::vec::Vec<#edge<'_>> {
                self.items.iter().zip(&self.cursors).map(|(node, cursor)| #edge { node, cursor }).collect()
            }

            /// Where the page ends, and whether another follows.
            async fn page_info(&self) -> PageInfo {
                PageInfo { has_next_page: self.has_next_page, end_cursor: self.cursors.last().cloned() }
            }
        }

        /// One item of a page, with the cursor that goes on after it.
        pub struct #edge<'a> {
            node: &'a #item_ident,
            cursor: &'a str,
        }

        #[::async_graphql::Object(name = #edge_name)]
        impl<'a> #edge<'a> {
            async fn cursor(&self) -> &str {
                self.cursor
            }

            async fn node(&self) -> &#item_ident {
                self.node
            }
        }

        impl From<::vigy_api::#page> for #page {
            fn from(page: ::vigy_api::#page) -> Self {
                let cursors = page.items.iter().map(::vigy_api::#page::cursor_of).collect();
                Self { has_next_page: page.next_cursor.is_some(), cursors, items: list(page.items) }
            }
        }
    }
}

/// A field of a model that resolves by calling its operation through the
/// batching loader, its parameters from the field's arguments and the
/// parent's fields.
fn edge_field(api: &Api, edge: &Edge) -> TokenStream {
    let op = &api.operations[&edge.op];
    let (method, name) = (rust_ident(&edge.field), camel(&edge.field));
    let out = format_ident!("{}", op.output);
    let bound = &op.id;
    let taken: Vec<&Field> = op.params.iter().filter(|p| edge.args.contains(&p.name)).collect();
    let declared = taken.iter().map(|p| argument(p));
    let fields = op.params.iter().map(|p| {
        let field = rust_ident(&p.name);
        if edge.args.contains(&p.name) {
            let value = convert(&p.ty, optional(p), quote! { #field });
            quote! { #field: #value }
        } else {
            let value = convert(&p.ty, optional(p), quote! { self.#field.clone() });
            quote! { #field: #value }
        }
    });
    let request = format_ident!("{}Request", pascal(&op.id));
    let doc = doc(edge.doc.as_deref().or(op.doc.as_deref()));
    quote! {
        #doc
        #[graphql(name = #name, directive = bind::apply(#bound.to_owned()))]
        async fn #method(&self, ctx: &Context<'_>, #(#declared),*) -> ::async_graphql::Result<#out> {
            batched(ctx, ::vigy_api::#request { #(#fields),* }).await
        }
    }
}

/// The loader's answer for one batched operation: its `_many` call.
fn loader(op: &Operation) -> TokenStream {
    let request = format_ident!("{}Request", pascal(&op.id));
    let out = format_ident!("{}", op.output);
    let many = format_ident!("{}_many", snake(&op.id));
    quote! {
        impl ::async_graphql::dataloader::Loader<::vigy_api::#request> for Batcher {
            type Value = ::std::result::Result<::vigy_api::#out, ServiceError>;
            type Error = ::std::convert::Infallible;

            async fn load(
                &self,
                keys: &[::vigy_api::#request],
            ) -> ::std::result::Result<::std::collections::HashMap<::vigy_api::#request, Self::Value>, Self::Error> {
                let answers = self.0.#many(keys.to_vec()).await;
                Ok(keys.iter().cloned().zip(answers).collect())
            }
        }
    }
}

/// The GraphQL twin of one model, with its conversion from (outputs) or
/// into (request bodies) the core model; `edges` are its fields bound to
/// operations.
fn model(
    api: &Api,
    name: &str,
    shape: &Shape,
    description: Option<&str>,
    is_input: bool,
    edges: &[&Edge],
) -> TokenStream {
    let ident = format_ident!("{}", name);
    let model_doc = doc(description);
    match shape {
        Shape::Enum(values) => {
            let variants = values.iter().map(|v| format_ident!("{}", pascal(v)));
            let remote = format!("::vigy_api::{name}");
            quote! {
                #model_doc
                #[derive(::async_graphql::Enum, Debug, Clone, Copy, PartialEq, Eq)]
                #[graphql(name = #name, remote = #remote)]
                pub enum #ident { #(#variants),* }
            }
        }
        Shape::Struct(fields) => {
            let declared = fields.iter().map(|f| {
                let (field, ty, field_doc) = (rust_ident(&f.name), field_type(f), doc(f.doc.as_deref()));
                quote! { #field_doc pub #field: #ty, }
            });
            let moved = fields.iter().map(|f| {
                let field = rust_ident(&f.name);
                let value = convert(&f.ty, optional(f), quote! { model.#field });
                quote! { #field: #value, }
            });
            let (derive, conversion) = if is_input {
                (
                    quote! { #[derive(::async_graphql::InputObject, Debug)] },
                    quote! {
                        impl From<#ident> for ::vigy_api::#ident {
                            fn from(model: #ident) -> Self {
                                Self { #(#moved)* }
                            }
                        }
                    },
                )
            } else {
                let complex = (!edges.is_empty()).then(|| quote! { #[graphql(complex)] });
                (
                    quote! { #[derive(::async_graphql::SimpleObject, Debug)] #complex },
                    quote! {
                        impl From<::vigy_api::#ident> for #ident {
                            fn from(model: ::vigy_api::#ident) -> Self {
                                Self { #(#moved)* }
                            }
                        }
                    },
                )
            };
            let resolvers = (!edges.is_empty()).then(|| {
                let fields = edges.iter().map(|edge| edge_field(api, edge));
                quote! {
                    #[::async_graphql::ComplexObject]
                    impl #ident {
                        #(#fields)*
                    }
                }
            });
            quote! {
                #model_doc
                #derive
                #[graphql(name = #name)]
                pub struct #ident { #(#declared)* }

                #conversion
                #resolvers
            }
        }
    }
}

/// The schema for the OpenAPI IR `api`, laid out as `graph` (the SDL's
/// IR) says: its root field names and the fields bound to operations.
pub(super) fn render(api: &Api, graph: &Api) -> TokenStream {
    let bodies: Vec<&String> = api.operations.values().filter_map(|op| op.body.as_ref()).collect();
    let scalars = SPEC_SCALARS.iter().map(|(graphql, ty)| scalar(graphql, ty));
    let models = api.models.values().map(|m| match m.page_item() {
        Some(item) => connection(m, item),
        None => {
            let edges: Vec<&Edge> = graph.edges.iter().filter(|e| e.model == m.name).collect();
            model(api, &m.name, &m.shape, m.doc.as_deref(), bodies.contains(&&m.name), &edges)
        }
    });
    let loaders = api.operations.values().filter(|op| op.batch).map(loader);
    let query = roots(api, graph, OpKind::Read);
    let mutation = roots(api, graph, OpKind::Change);
    let subscription = api.operations.values().filter(|op| op.kind == Some(OpKind::Stream)).map(subscription_field);
    // Every model, reachable from an operation or not (the `Error` model is
    // only ever in `extensions`), as the spec declares them all.
    let registered = api.models.values().map(|m| {
        let ident = format_ident!("{}", m.name);
        if bodies.contains(&&m.name) {
            quote! { .register_input_type::<#ident>() }
        } else {
            quote! { .register_output_type::<#ident>() }
        }
    });
    quote! {
        //! vigy's GraphQL adapter, generated from the specs: a static
        //! async-graphql schema over any [`VigyService`](::vigy_api::VigyService),
        //! with queries, mutations and the event subscription.
        #![allow(clippy::all, missing_docs, unreachable_pub)]

        use ::std::sync::Arc;

        use ::async_graphql::Context;
        use ::futures::{Stream, StreamExt};
        use ::vigy_api::{ServiceError, VigyService};

        /// The service the schema drives (schema data).
        pub type SharedService = Arc<dyn VigyService>;

        /// vigy's GraphQL schema.
        pub type Schema = ::async_graphql::Schema<QueryRoot, MutationRoot, SubscriptionRoot>;

        /// The schema over `service`.
        pub fn schema(service: SharedService) -> Schema {
            // Nested fields wait this long for their siblings' loads before
            // one batch call answers them all (async-graphql's default, 1 ms,
            // splits a page of a few dozen parents on a debug build).
            let batcher = ::async_graphql::dataloader::DataLoader::new(Batcher(service.clone()), ::tokio::spawn)
                .delay(::std::time::Duration::from_millis(5));
            ::async_graphql::Schema::build(QueryRoot, MutationRoot, SubscriptionRoot)
                #(#registered)*
                .data(service)
                .data(batcher)
                .finish()
        }

        /// `@bind(op:)`: the field resolves by calling the operation `op`.
        #[::async_graphql::TypeDirective(location = "FieldDefinition")]
        fn bind(op: ::std::string::String) {}

        /// Answers the nested fields of a response together: every request
        /// of one batched operation that the resolvers of a page make in the
        /// same instant becomes one `<op>_many` call.
        pub struct Batcher(SharedService);

        #(#loaders)*

        /// A nested field's answer through the loader.
        async fn batched<R, C, T>(ctx: &Context<'_>, request: R) -> ::async_graphql::Result<T>
        where
            R: Send + Sync + ::std::hash::Hash + Eq + Clone + 'static,
            Batcher: ::async_graphql::dataloader::Loader<R, Value = ::std::result::Result<C, ServiceError>, Error = ::std::convert::Infallible>,
            T: From<C>,
        {
            let loader = ctx.data::<::async_graphql::dataloader::DataLoader<Batcher>>()?;
            match loader.load_one(request).await {
                Ok(Some(answer)) => Ok(answer.map_err(graphql_error)?.into()),
                Ok(None) => Err(graphql_error(ServiceError::Internal("a batched request went unanswered".into()))),
                Err(never) => match never {},
            }
        }

        /// Where a page ends, and whether another follows.
        #[derive(::async_graphql::SimpleObject, Debug)]
        #[graphql(name = "PageInfo")]
        pub struct PageInfo {
            pub has_next_page: bool,
            /// The cursor of its last edge; null on an empty page.
            pub end_cursor: ::std::option::Option<::std::string::String>,
        }

        /// The one place an error becomes a GraphQL error: its message, and
        /// its code in `extensions.code` as the SDL's `ErrorCode` spells it.
        pub fn graphql_error(e: ServiceError) -> ::async_graphql::Error {
            use ::async_graphql::ErrorExtensions;
            let code = e.code().as_str().to_ascii_uppercase();
            ::async_graphql::Error::new(e.message()).extend_with(move |_, ext| ext.set("code", code.clone()))
        }

        /// Give the errors the GraphQL layer raised itself the code
        /// `INVALID_ARGUMENT`: every error a resolver raises carries its
        /// code, so one without was a refusal of the request (malformed, an
        /// unknown field, an argument of the wrong type), bad input as the
        /// other transports say of theirs.
        pub fn code_refusals(errors: &mut [::async_graphql::ServerError]) {
            let code = ServiceError::InvalidArgument(String::new()).code().as_str().to_ascii_uppercase();
            for error in errors {
                let extensions = error.extensions.get_or_insert_with(Default::default);
                if extensions.get("code").is_none() {
                    extensions.set("code", code.as_str());
                }
            }
        }

        fn service<'a>(ctx: &Context<'a>) -> ::async_graphql::Result<&'a SharedService> {
            ctx.data::<SharedService>()
        }

        /// A list moved into the twin of its items' type.
        fn list<T, U: From<T>>(items: Vec<T>) -> Vec<U> {
            items.into_iter().map(U::from).collect()
        }

        #(#scalars)*
        #(#models)*

        /// Reads.
        pub struct QueryRoot;

        #[::async_graphql::Object(name = "Query")]
        impl QueryRoot {
            #(#query)*
        }

        /// Changes, run one after the other.
        pub struct MutationRoot;

        #[::async_graphql::Object(name = "Mutation")]
        impl MutationRoot {
            #(#mutation)*
        }

        /// Streams.
        pub struct SubscriptionRoot;

        #[::async_graphql::Subscription(name = "Subscription")]
        impl SubscriptionRoot {
            #(#subscription)*
        }
    }
}

/// One argument as a resolver declares it, in GraphQL's name (paging's
/// `first` and `after`) with the spec's description.
fn argument(p: &Field) -> TokenStream {
    let (arg, ty, name) = (rust_ident(&p.name), field_type(p), graphql_argument(&p.name));
    let desc = p.doc.as_deref().map(|d| quote! { , desc = #d });
    quote! { #[graphql(name = #name #desc)] #arg: #ty }
}

/// An operation's arguments (declared, in spec order, then `input` for a
/// body) and the request built from them.
fn arguments(op: &Operation) -> (Vec<TokenStream>, TokenStream) {
    let mut declared: Vec<_> = op.params.iter().map(argument).collect();
    let mut fields: Vec<_> = op
        .params
        .iter()
        .map(|p| {
            let arg = rust_ident(&p.name);
            let value = convert(&p.ty, optional(p), quote! { #arg });
            quote! { #arg: #value }
        })
        .collect();
    if let Some(body) = &op.body {
        let body = format_ident!("{}", body);
        declared.push(quote! { input: #body });
        fields.push(quote! { body: input.into() });
    }
    let request = format_ident!("{}Request", pascal(&op.id));
    (declared, quote! { ::vigy_api::#request { #(#fields),* } })
}

fn roots(api: &Api, graph: &Api, kind: OpKind) -> Vec<TokenStream> {
    api.operations
        .values()
        .filter(|op| op.kind == Some(kind))
        .map(|op| {
            let method = format_ident!("{}", snake(&op.id));
            let out = format_ident!("{}", op.output);
            let (declared, request) = arguments(op);
            let doc = doc(op.doc.as_deref());
            let field = graph.graphql_field(&op.id);
            let (id, name) = (&op.id, if field == op.id { None } else { Some(&field) });
            let attribute =
                name.map(|name| quote! { #[graphql(name = #name, directive = bind::apply(#id.to_owned()))] });
            quote! {
                #doc
                #attribute
                async fn #method(&self, ctx: &Context<'_>, #(#declared),*) -> ::async_graphql::Result<#out> {
                    let answer = service(ctx)?.#method(#request).await.map_err(graphql_error)?;
                    Ok(answer.into())
                }
            }
        })
        .collect()
}

fn subscription_field(op: &Operation) -> TokenStream {
    let method = format_ident!("{}", snake(&op.id));
    let out = format_ident!("{}", op.output);
    let (declared, request) = arguments(op);
    let doc = doc(op.doc.as_deref());
    quote! {
        #doc
        async fn #method(
            &self,
            ctx: &Context<'_>,
            #(#declared),*
        ) -> ::async_graphql::Result<impl Stream<Item = ::async_graphql::Result<#out>>> {
            let events = service(ctx)?.#method(#request).await.map_err(graphql_error)?;
            Ok(events.map(|event| event.map(#out::from).map_err(graphql_error)))
        }
    }
}
