//! The GraphQL adapter: an async-graphql dynamic schema whose types, fields
//! and arguments are rendered from the IR in the SDL's naming (camelCase
//! fields and arguments, SCREAMING enum values), resolving every operation
//! through any `VigyService` and every field straight from the typed core
//! model it belongs to (nested objects borrowed, only selected scalars
//! encoded).

use proc_macro2::TokenStream;
use quote::{format_ident, quote};

use crate::ir::{Api, Field, OpKind, Operation, Shape, Ty};
use crate::names::{camel, pascal, rust_ident, snake};

pub(super) fn manifest() -> String {
    format!(
        "{}[package]\nname = \"vigy-api-graphql\"\ndescription = \"vigy's GraphQL adapter (async-graphql), generated from spec/.\"\n\
         version.workspace = true\nedition.workspace = true\nlicense.workspace = true\n\n[dependencies]\n\
         vigy-api.workspace = true\nasync-graphql.workspace = true\nfutures.workspace = true\nserde.workspace = true\nserde_json.workspace = true\n",
        super::HEADER.replace("// ", "# ")
    )
}

/// The GraphQL type of `ty`, without nullability.
fn graphql_name(ty: &Ty) -> String {
    match ty {
        Ty::String => "String".into(),
        Ty::Bool => "Boolean".into(),
        Ty::U32 => "Int".into(),
        Ty::U64 => "UInt64".into(),
        Ty::Timestamp => "DateTime".into(),
        Ty::Json => "JSON".into(),
        Ty::JsonObject => "JSONObject".into(),
        Ty::StringMap => "Labels".into(),
        Ty::Named(name) => name.clone(),
        Ty::List(item) => graphql_name(item),
    }
}

/// A `TypeRef` expression for a field.
fn type_ref(ty: &Ty, optional: bool) -> TokenStream {
    let name = graphql_name(ty);
    match (ty, optional) {
        (Ty::List(_), true) => quote! { TypeRef::named_nn_list(#name) },
        (Ty::List(_), false) => quote! { TypeRef::named_nn_list_nn(#name) },
        (_, true) => quote! { TypeRef::named(#name) },
        (_, false) => quote! { TypeRef::named_nn(#name) },
    }
}

/// Whether `ty` names a struct model (a GraphQL object).
fn is_object(ty: &Ty, api: &Api) -> bool {
    matches!(ty, Ty::Named(name) if matches!(api.models.get(name).map(|m| &m.shape), Some(Shape::Struct(_))))
}

/// Whether `ty` names an enum model, or is a list of one.
fn is_enum(ty: &Ty, api: &Api) -> bool {
    match ty {
        Ty::Named(name) => matches!(api.models.get(name).map(|m| &m.shape), Some(Shape::Enum(_))),
        Ty::List(item) => is_enum(item, api),
        _ => false,
    }
}

/// How a field of the parent model `m` becomes a GraphQL value: objects
/// borrowed from `m`, enums and scalars encoded.
fn read_field(f: &Field, api: &Api) -> TokenStream {
    let field = rust_ident(&f.name);
    match (&f.ty, optional(f)) {
        (Ty::List(item), false) if is_object(item, api) => {
            quote! { Ok(Some(FieldValue::list(m.#field.iter().map(|v| FieldValue::borrowed_any(v))))) }
        }
        (Ty::List(item), true) if is_object(item, api) => {
            quote! { Ok(m.#field.as_ref().map(|items| FieldValue::list(items.iter().map(|v| FieldValue::borrowed_any(v))))) }
        }
        (ty, false) if is_object(ty, api) => quote! { Ok(Some(FieldValue::borrowed_any(&m.#field))) },
        (ty, true) if is_object(ty, api) => {
            quote! { Ok(m.#field.as_ref().map(|v| FieldValue::borrowed_any(v))) }
        }
        (ty, _) if is_enum(ty, api) => quote! { enumeration(&m.#field) },
        _ => quote! { scalar(&m.#field) },
    }
}

fn optional(f: &Field) -> bool {
    f.optional == Some(true)
}

pub(super) fn render(api: &Api) -> TokenStream {
    let bodies: Vec<&String> = api.operations.values().filter_map(|op| op.body.as_ref()).collect();
    let types = api.models.values().map(|m| {
        let name = &m.name;
        match &m.shape {
            Shape::Enum(values) => {
                let items = values.iter().map(|v| v.to_ascii_uppercase());
                quote! { .register(Enum::new(#name)#(.item(#items))*) }
            }
            Shape::Struct(fields) if bodies.contains(&name) => {
                let fields = fields.iter().map(|f| {
                    let gql = camel(&f.name);
                    let ty = type_ref(&f.ty, optional(f));
                    quote! { .field(InputValue::new(#gql, #ty)) }
                });
                quote! { .register(InputObject::new(#name)#(#fields)*) }
            }
            Shape::Struct(fields) => {
                let model = format_ident!("{}", name);
                let fields = fields.iter().map(|f| {
                    let gql = camel(&f.name);
                    let ty = type_ref(&f.ty, optional(f));
                    let read = read_field(f, api);
                    quote! { .field(Field::new(#gql, #ty, |ctx| from_parent(ctx, |m: &#model| #read))) }
                });
                quote! { .register(Object::new(#name)#(#fields)*) }
            }
        }
    });
    let (query, mutation, subscription) = (
        roots(api, OpKind::Read),
        roots(api, OpKind::Change),
        api.operations
            .values()
            .filter(|op| op.kind == Some(OpKind::Stream))
            .map(|op| subscription_field(api, op))
            .collect::<Vec<_>>(),
    );
    let renames = api.models.iter().filter(|(name, _)| bodies.contains(name)).map(|(name, m)| {
        let Shape::Struct(fields) = &m.shape else { unreachable!("bodies are structs") };
        let pairs = fields.iter().map(|f| {
            let (gql, key) = (camel(&f.name), &f.name);
            quote! { (#gql, #key) }
        });
        quote! { (#name, &[#(#pairs),*]) }
    });
    quote! {
        //! vigy's GraphQL adapter, generated from the specs: a dynamic
        //! async-graphql schema over any [`VigyService`](::vigy_api::VigyService),
        //! with queries, mutations and the event subscription.
        #![allow(clippy::all, missing_docs, unreachable_pub)]

        use ::std::sync::Arc;

        use ::async_graphql::dynamic::*;
        use ::async_graphql::{ErrorExtensions, Name, Value};
        use ::futures::StreamExt;
        use ::vigy_api::*;

        /// The service the schema drives (schema data).
        pub type SharedService = Arc<dyn VigyService>;

        /// The one place an error becomes a GraphQL error: its message, and
        /// its code in `extensions.code` as the SDL's `ErrorCode` spells it.
        pub fn graphql_error(e: ServiceError) -> ::async_graphql::Error {
            let code = e.code().as_str().to_ascii_uppercase();
            ::async_graphql::Error::new(e.message()).extend_with(move |_, ext| ext.set("code", code.clone()))
        }

        /// A field of an object, read from its parent model at once: no
        /// future to box, nothing nested copied.
        fn from_parent<'a, M: ::std::any::Any + Send + Sync>(
            ctx: ResolverContext<'a>,
            read: impl FnOnce(&'a M) -> ::async_graphql::Result<Option<FieldValue<'a>>>,
        ) -> FieldFuture<'a> {
            let parent: &'a FieldValue<'a> = ctx.parent_value;
            match parent.try_downcast_ref::<M>().and_then(read) {
                Ok(field) => FieldFuture::Value(field),
                Err(e) => FieldFuture::new(async move { Err::<Option<FieldValue<'a>>, _>(e) }),
            }
        }

        /// A scalar field as GraphQL encodes it (an absent one is null).
        fn scalar<T: ::serde::Serialize>(value: &T) -> ::async_graphql::Result<Option<FieldValue<'static>>> {
            Ok(match ::async_graphql::to_value(value)? {
                Value::Null => None,
                value => Some(FieldValue::value(value)),
            })
        }

        /// An enum field (or a list of them): the model's snake_case value
        /// in the SDL's SCREAMING case.
        fn enumeration<T: ::serde::Serialize>(value: &T) -> ::async_graphql::Result<Option<FieldValue<'static>>> {
            fn screaming(value: Value) -> Value {
                match value {
                    Value::String(name) => Value::Enum(Name::new(name.to_ascii_uppercase())),
                    Value::List(items) => Value::List(items.into_iter().map(screaming).collect()),
                    other => other,
                }
            }
            Ok(match ::async_graphql::to_value(value)? {
                Value::Null => None,
                value => Some(FieldValue::value(screaming(value))),
            })
        }

        /// Input object field names (camelCase) to the models' (snake_case).
        const INPUT_FIELDS: &[(&str, &[(&str, &str)])] = &[#(#renames),*];

        /// The arguments of a field as the JSON of its request type.
        fn request_json(ctx: &ResolverContext<'_>, params: &[(&str, &str)], body: Option<&str>) -> ::serde_json::Value {
            let mut request = ::serde_json::Map::new();
            for (gql, key) in params {
                if let Some(v) = ctx.args.get(gql) {
                    request.insert((*key).to_owned(), v.as_value().clone().into_json().unwrap_or_default());
                }
            }
            if let (Some(model), Some(input)) = (body, ctx.args.get("input")) {
                let renames = INPUT_FIELDS.iter().find(|(m, _)| *m == model).map(|(_, r)| *r).unwrap_or_default();
                let mut object = ::serde_json::Map::new();
                if let ::serde_json::Value::Object(fields) = input.as_value().clone().into_json().unwrap_or_default() {
                    for (k, v) in fields {
                        let key = renames.iter().find(|(gql, _)| *gql == k).map_or(k.clone(), |(_, key)| (*key).to_owned());
                        object.insert(key, v);
                    }
                }
                request.insert("body".to_owned(), ::serde_json::Value::Object(object));
            }
            ::serde_json::Value::Object(request)
        }

        fn parse<T: ::serde::de::DeserializeOwned>(json: ::serde_json::Value) -> ::std::result::Result<T, ServiceError> {
            ::serde_json::from_value(json).map_err(|e| ServiceError::InvalidArgument(format!("invalid arguments: {e}")))
        }

        /// An operation's answer: its fields resolve from the model itself.
        fn output<T: ::std::any::Any + Send + Sync>(value: T) -> ::async_graphql::Result<Option<FieldValue<'static>>> {
            Ok(Some(FieldValue::owned_any(value)))
        }

        /// The schema over `service`.
        pub fn schema(service: SharedService) -> ::std::result::Result<Schema, SchemaError> {
            let query = Object::new("Query")#(#query)*;
            let mutation = Object::new("Mutation")#(#mutation)*;
            let subscription = Subscription::new("Subscription")#(#subscription)*;
            Schema::build("Query", Some("Mutation"), Some("Subscription"))
                .register(Scalar::new("DateTime").description("An RFC 3339 UTC timestamp."))
                .register(Scalar::new("JSON").description("Any JSON value."))
                .register(Scalar::new("JSONObject").description("A JSON object."))
                .register(Scalar::new("Labels").description("A JSON object of string labels, e.g. {\"host\": \"mado\"}."))
                .register(Scalar::new("UInt64").description("A non-negative integer up to 2^64 - 1."))
                #(#types)*
                .register(query)
                .register(mutation)
                .register(subscription)
                .data(service)
                .finish()
        }
    }
}

fn arguments(op: &Operation) -> (TokenStream, TokenStream, TokenStream) {
    let declared = op.params.iter().map(|p| {
        let gql = camel(&p.name);
        let ty = type_ref(&p.ty, optional(p));
        quote! { .argument(InputValue::new(#gql, #ty)) }
    });
    let body_arg = op.body.as_ref().map(|b| quote! { .argument(InputValue::new("input", TypeRef::named_nn(#b))) });
    let pairs = op.params.iter().map(|p| {
        let (gql, key) = (camel(&p.name), &p.name);
        quote! { (#gql, #key) }
    });
    let body = match &op.body {
        Some(b) => quote! { Some(#b) },
        None => quote! { None },
    };
    (quote! { #(#declared)* #body_arg }, quote! { &[#(#pairs),*] }, body)
}

fn roots(api: &Api, kind: OpKind) -> Vec<TokenStream> {
    api.operations
        .values()
        .filter(|op| op.kind == Some(kind))
        .map(|op| {
            let gql = &op.id;
            let method = format_ident!("{}", snake(&op.id));
            let request = format_ident!("{}Request", pascal(&op.id));
            let out = &op.output;
            let (declared, pairs, body) = arguments(op);
            let doc = op.doc.clone().unwrap_or_default();
            let _ = api;
            quote! {
                .field(Field::new(#gql, TypeRef::named_nn(#out), |ctx| FieldFuture::new(async move {
                    let service = ctx.data::<SharedService>()?;
                    let request: #request = parse(request_json(&ctx, #pairs, #body)).map_err(graphql_error)?;
                    output(service.#method(request).await.map_err(graphql_error)?)
                })) #declared .description(#doc))
            }
        })
        .collect()
}

fn subscription_field(api: &Api, op: &Operation) -> TokenStream {
    let gql = &op.id;
    let method = format_ident!("{}", snake(&op.id));
    let request = format_ident!("{}Request", pascal(&op.id));
    let out = &op.output;
    let (declared, pairs, body) = arguments(op);
    let doc = op.doc.clone().unwrap_or_default();
    let _ = api;
    quote! {
        .field(SubscriptionField::new(#gql, TypeRef::named_nn(#out), |ctx| SubscriptionFieldFuture::new(async move {
            let service = ctx.data::<SharedService>()?.clone();
            let request: #request = parse(request_json(&ctx, #pairs, #body)).map_err(graphql_error)?;
            let events = service.#method(request).await.map_err(graphql_error)?;
            Ok(events.map(|item| item.map(FieldValue::owned_any).map_err(graphql_error)))
        })) #declared .description(#doc))
    }
}
