//! The GraphQL adapter: an async-graphql dynamic schema whose types, fields
//! and arguments are rendered from the IR in the SDL's naming (camelCase
//! fields and arguments, SCREAMING enum values), resolving every field from
//! the core models as JSON and every operation through any `VigyService`.

use proc_macro2::TokenStream;
use quote::{format_ident, quote};

use crate::ir::{Api, Field, OpKind, Operation, Shape, Ty};
use crate::names::{camel, pascal, snake};

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

/// How a field's JSON value becomes a GraphQL value.
fn kind(ty: &Ty, api: &Api) -> TokenStream {
    let base = |ty: &Ty| match ty {
        Ty::Named(name) => match api.models.get(name).map(|m| &m.shape) {
            Some(Shape::Enum(_)) => quote! { Kind::Enum },
            _ => quote! { Kind::Object },
        },
        _ => quote! { Kind::Scalar },
    };
    match ty {
        Ty::List(item) => {
            let item = base(item);
            quote! { Kind::List(&#item) }
        }
        other => base(other),
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
                let fields = fields.iter().map(|f| {
                    let gql = camel(&f.name);
                    let key = &f.name;
                    let ty = type_ref(&f.ty, optional(f));
                    let kind = kind(&f.ty, api);
                    quote! { .field(Field::new(#gql, #ty, |ctx| from_parent(ctx, #key, #kind))) }
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

        /// How a JSON field becomes a GraphQL value.
        #[derive(Clone, Copy)]
        enum Kind {
            Scalar,
            Enum,
            Object,
            List(&'static Kind),
        }

        /// The one place an error becomes a GraphQL error: its message, and
        /// its code in `extensions.code` as the SDL's `ErrorCode` spells it.
        pub fn graphql_error(e: ServiceError) -> ::async_graphql::Error {
            let code = e.code().as_str().to_ascii_uppercase();
            ::async_graphql::Error::new(e.message()).extend_with(move |_, ext| ext.set("code", code.clone()))
        }

        /// `json` as a GraphQL value. Objects (and lists of them) borrow
        /// from `json`: only the scalars a query selects are copied out.
        fn value(json: &::serde_json::Value, kind: Kind) -> ::async_graphql::Result<Option<FieldValue<'_>>> {
            if json.is_null() {
                return Ok(None);
            }
            Ok(Some(match kind {
                Kind::Scalar => FieldValue::value(Value::from_json(json.clone())?),
                Kind::Enum => FieldValue::value(Value::Enum(Name::new(json.as_str().unwrap_or_default().to_ascii_uppercase()))),
                Kind::Object => FieldValue::borrowed_any(json),
                Kind::List(item) => {
                    let items = json.as_array().map(|a| a.as_slice()).unwrap_or_default();
                    let mut values = Vec::with_capacity(items.len());
                    for v in items {
                        values.push(value(v, *item)?.unwrap_or(FieldValue::NULL));
                    }
                    FieldValue::list(values)
                }
            }))
        }

        /// A field of an object, read from its parent's JSON at once: no
        /// future to box, no copy of what it nests.
        fn from_parent<'a>(ctx: ResolverContext<'a>, key: &str, kind: Kind) -> FieldFuture<'a> {
            let parent: &'a FieldValue<'a> = ctx.parent_value;
            match parent.try_downcast_ref::<::serde_json::Value>().and_then(|json| value(&json[key], kind)) {
                Ok(field) => FieldFuture::Value(field),
                Err(e) => FieldFuture::new(async move { Err::<Option<FieldValue<'a>>, _>(e) }),
            }
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

        fn output<T: ::serde::Serialize>(value: T) -> ::async_graphql::Result<Option<FieldValue<'static>>> {
            Ok(Some(FieldValue::owned_any(::serde_json::to_value(value)?)))
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
            Ok(events.map(|item| match item {
                Ok(event) => ::serde_json::to_value(event)
                    .map(FieldValue::owned_any)
                    .map_err(|e| ::async_graphql::Error::new(e.to_string())),
                Err(e) => Err(graphql_error(e)),
            }))
        })) #declared .description(#doc))
    }
}
