//! The MCP tool catalog and its dispatch: one tool per request/response
//! operation (an event stream is not a tool), its description the spec's.
//! Both ends are generated: `dispatch` serves a tool call from any
//! `VigyService`, and `McpClient` implements `VigyService` by calling
//! tools, so the conformance suite drives MCP like every other transport.
//!
//! A tool takes the operation's fields themselves, as a generic MCP client
//! fills a form: path and query parameters and the request body's fields in
//! one flat object (no `body` wrapper), each with the spec's description and
//! constraints. The input schema is written here from the IR, where the
//! constraints are; the output schema is the response model's, derived by
//! schemars from the type whose JSON the result is, so it describes exactly
//! what `structuredContent` carries. Annotations come from the operation's
//! effects.

use proc_macro2::TokenStream;
use quote::{format_ident, quote};
use serde_json::{Map, Value, json};

use crate::ir::{Api, Field, OpKind, Operation, Shape, Ty};
use crate::names::{pascal, snake};

pub(super) fn manifest() -> String {
    format!(
        "{}[package]\nname = \"vigy-api-mcp\"\ndescription = \"vigy's MCP tool catalog and dispatch, generated from spec/.\"\n\
         version.workspace = true\nedition.workspace = true\nlicense.workspace = true\n\n[dependencies]\n\
         vigy-api = {{ workspace = true, features = [\"schemars\"] }}\nvigy-api-support = {{ workspace = true, features = [\"tool-arguments\"] }}\nasync-trait.workspace = true\nschemars.workspace = true\nserde.workspace = true\nserde_json.workspace = true\n",
        super::HEADER.replace("// ", "# ")
    )
}

pub(super) fn render(api: &Api) -> TokenStream {
    let tools: Vec<_> = api.operations.values().filter(|op| op.kind != Some(OpKind::Stream)).collect();
    let entries = tools.iter().map(|op| {
        let name = snake(&op.id);
        let output = format_ident!("{}", op.output);
        let description = op.doc.clone().unwrap_or_default();
        let schema = raw_string(&serde_json::to_string_pretty(&input_schema(api, op)).expect("JSON serializes"));
        let e = op.effects;
        let (read_only, destructive, idempotent) = (e.read_only, e.destructive && !e.read_only, e.idempotent);
        quote! {
            Tool {
                name: #name,
                description: #description,
                input_schema: ::serde_json::from_str(#schema).expect("the generator writes valid JSON"),
                output_schema: ::serde_json::to_value(::schemars::schema_for!(::vigy_api::#output))
                    .expect("a JSON Schema serializes"),
                annotations: Annotations { read_only: #read_only, destructive: #destructive, idempotent: #idempotent, open_world: false },
            },
        }
    });
    let arms = tools.iter().map(|op| {
        let name = snake(&op.id);
        let request = format_ident!("{}Request", pascal(&op.id));
        let method = format_ident!("{}", snake(&op.id));
        let params = op.params.iter().map(|p| p.name.as_str());
        let body = match body_fields(api, op) {
            Some(fields) => {
                let names = fields.iter().map(|f| f.name.as_str());
                quote! { ::std::option::Option::Some(&[#(#names),*]) }
            }
            None => quote! { ::std::option::Option::None },
        };
        quote! {
            #name => {
                let request: ::vigy_api::#request = parse(nest(#name, arguments, &[#(#params),*], #body)?)?;
                to_json(service.#method(request).await?)
            }
        }
    });
    let client_methods = api.operations.values().map(|op| {
        let name = snake(&op.id);
        let method = format_ident!("{}", snake(&op.id));
        let request = format_ident!("{}Request", pascal(&op.id));
        let output = format_ident!("{}", op.output);
        if op.kind == Some(OpKind::Stream) {
            let message = format!(
                "{} is an event stream, which MCP tools do not offer; follow it over REST, gRPC or GraphQL",
                op.id
            );
            quote! {
                async fn #method(&self, _request: ::vigy_api::#request)
                    -> ::std::result::Result<::vigy_api::EventStream<::vigy_api::#output>, ::vigy_api::ServiceError> {
                    Err(::vigy_api::ServiceError::FailedPrecondition(#message.to_owned()))
                }
            }
        } else {
            quote! {
                async fn #method(&self, request: ::vigy_api::#request)
                    -> ::std::result::Result<::vigy_api::#output, ::vigy_api::ServiceError> {
                    self.call(#name, request).await
                }
            }
        }
    });
    quote! {
        //! vigy's MCP tool catalog and dispatch, generated from the specs:
        //! one tool per request/response operation, dispatching to any
        //! [`VigyService`](::vigy_api::VigyService).
        #![allow(clippy::all, missing_docs, unreachable_pub)]

        /// One MCP tool.
        #[derive(Debug, Clone, PartialEq)]
        pub struct Tool {
            /// The tool's name: the operation in snake_case.
            pub name: &'static str,
            /// What it does, from the spec.
            pub description: &'static str,
            /// The JSON Schema of its arguments: the operation's parameters
            /// and request body fields in one object, each described, with
            /// the spec's constraints.
            pub input_schema: ::serde_json::Value,
            /// The JSON Schema of its result's structured content: the
            /// response model.
            pub output_schema: ::serde_json::Value,
            /// What calling it does.
            pub annotations: Annotations,
        }

        /// MCP's tool annotations, from the operation's effects in the spec.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub struct Annotations {
            /// It changes nothing (`readOnlyHint`).
            pub read_only: bool,
            /// It may remove or overwrite what is stored (`destructiveHint`).
            pub destructive: bool,
            /// Calling it again with the same arguments does nothing more
            /// (`idempotentHint`).
            pub idempotent: bool,
            /// It reaches beyond vigy's own store (`openWorldHint`): no
            /// tool does; what handlers do with a tick's actions is the
            /// server's configuration, not the call's.
            pub open_world: bool,
        }

        /// Why a tool call could not be answered.
        #[derive(Debug, Clone, PartialEq)]
        pub enum DispatchError {
            /// No tool has this name (an MCP protocol error).
            UnknownTool(::std::string::String),
            /// The operation failed, or its arguments were invalid
            /// (`InvalidArgument`): an MCP tool error result.
            Service(::vigy_api::ServiceError),
        }

        impl From<::vigy_api::ServiceError> for DispatchError {
            fn from(e: ::vigy_api::ServiceError) -> Self {
                Self::Service(e)
            }
        }

        /// Every tool, sorted by name.
        pub fn tool_catalog() -> ::std::vec::Vec<Tool> {
            ::std::vec::Vec::from([#(#entries)*])
        }

        /// Call the tool `name` with its JSON `arguments` on `service`; the
        /// result is the operation's response as JSON.
        pub async fn dispatch(
            service: &dyn ::vigy_api::VigyService,
            name: &str,
            arguments: ::serde_json::Value,
        ) -> ::std::result::Result<::serde_json::Value, DispatchError> {
            match name {
                #(#arms)*
                other => Err(DispatchError::UnknownTool(other.to_owned())),
            }
        }

        /// The structured content of the error result a failed tool call
        /// returns: the `Error` model every transport uses.
        pub fn error_content(error: &::vigy_api::ServiceError) -> ::serde_json::Value {
            ::serde_json::to_value(::vigy_api::Error::from(error.clone())).expect("an Error serializes")
        }

        /// What a server answered to one tool call.
        #[derive(Debug, Clone, PartialEq)]
        pub struct ToolResult {
            /// The result was an error result (`isError`).
            pub is_error: bool,
            /// Its structured content.
            pub content: ::serde_json::Value,
        }

        /// One `tools/call` to an MCP server, whatever carries it.
        #[::async_trait::async_trait]
        pub trait ToolCaller: Send + Sync + 'static {
            /// Call the tool `name` with `arguments`. `Err` is a failure
            /// to get any answer (transport, protocol).
            async fn call_tool(&self, name: &'static str, arguments: ::serde_json::Value)
                -> ::std::result::Result<ToolResult, ::vigy_api::ServiceError>;
        }

        /// [`VigyService`](::vigy_api::VigyService) over MCP tool calls.
        #[derive(Debug, Clone)]
        pub struct McpClient<C> {
            caller: C,
        }

        impl<C: ToolCaller> McpClient<C> {
            /// A client calling tools through `caller`.
            pub fn new(caller: C) -> Self {
                Self { caller }
            }

            async fn call<Req: ::serde::Serialize, Resp: ::serde::de::DeserializeOwned>(
                &self,
                name: &'static str,
                request: Req,
            ) -> ::std::result::Result<Resp, ::vigy_api::ServiceError> {
                let arguments = ::serde_json::to_value(request)
                    .map_err(|e| ::vigy_api::ServiceError::Internal(format!("cannot encode the arguments: {e}")))?;
                let arguments = flatten(arguments);
                let result = self.caller.call_tool(name, arguments).await?;
                if result.is_error {
                    let error: ::vigy_api::Error = ::serde_json::from_value(result.content)
                        .map_err(|e| ::vigy_api::ServiceError::Internal(format!("malformed error result of {name}: {e}")))?;
                    return Err(error.into());
                }
                ::serde_json::from_value(result.content)
                    .map_err(|e| ::vigy_api::ServiceError::Internal(format!("malformed result of {name}: {e}")))
            }
        }

        #[::async_trait::async_trait]
        impl<C: ToolCaller> ::vigy_api::VigyService for McpClient<C> {
            #(#client_methods)*
        }

        use ::vigy_api_support::tool_arguments::flatten;

        fn nest(
            tool: &str,
            arguments: ::serde_json::Value,
            params: &[&str],
            body: ::std::option::Option<&[&str]>,
        ) -> ::std::result::Result<::serde_json::Value, DispatchError> {
            ::vigy_api_support::tool_arguments::nest(tool, arguments, params, body)
                .map_err(|refused| ::vigy_api::ServiceError::InvalidArgument(refused.0).into())
        }

        fn parse<T: ::serde::de::DeserializeOwned>(arguments: ::serde_json::Value) -> ::std::result::Result<T, DispatchError> {
            ::serde_json::from_value(arguments)
                .map_err(|e| ::vigy_api::ServiceError::InvalidArgument(format!("invalid arguments: {e}")).into())
        }

        fn to_json<T: ::serde::Serialize>(value: T) -> ::std::result::Result<::serde_json::Value, DispatchError> {
            ::serde_json::to_value(value)
                .map_err(|e| ::vigy_api::ServiceError::Internal(format!("cannot encode the result: {e}")).into())
        }
    }
}

/// The request body's fields, if the operation takes a body.
fn body_fields<'a>(api: &'a Api, op: &Operation) -> Option<&'a [Field]> {
    let body = op.body.as_ref()?;
    match &api.models.get(body)?.shape {
        Shape::Struct(fields) => Some(fields),
        Shape::Enum(_) => None,
    }
}

/// A tool's input schema: the parameters and the body's fields as one
/// object, required where the spec requires them.
fn input_schema(api: &Api, op: &Operation) -> Value {
    let fields = op.params.iter().chain(body_fields(api, op).unwrap_or(&[]));
    let mut properties = Map::new();
    let mut required = Vec::new();
    for field in fields {
        // Both come as one object: a body field cannot share a parameter's name.
        assert!(
            !properties.contains_key(&field.name),
            "operation `{}`: the body field `{}` has a parameter's name, and MCP tools take both as one object",
            op.id,
            field.name
        );
        properties.insert(field.name.clone(), field_schema(api, field));
        if field.optional == Some(false) {
            required.push(Value::String(field.name.clone()));
        }
    }
    let mut schema = json!({ "type": "object", "properties": properties, "additionalProperties": false });
    if !required.is_empty() {
        schema["required"] = Value::Array(required);
    }
    schema
}

/// One field's schema: its type's, its description, its constraints.
fn field_schema(api: &Api, field: &Field) -> Value {
    let mut schema = ty_schema(api, &field.ty);
    let c = &field.constraints;
    if let Some(doc) = &field.doc {
        schema["description"] = json!(doc.trim());
    }
    if let Some(n) = c.minimum {
        schema["minimum"] = json!(n);
    }
    if let Some(n) = c.maximum {
        schema["maximum"] = json!(n);
    }
    if let Some(n) = c.min_length {
        schema["minLength"] = json!(n);
    }
    if let Some(n) = c.max_length {
        schema["maxLength"] = json!(n);
    }
    if let Some(p) = &c.pattern {
        schema["pattern"] = json!(p);
    }
    if let Some(d) = c.default.as_deref().and_then(|d| serde_json::from_str::<Value>(d).ok()) {
        schema["default"] = d;
    }
    schema
}

fn ty_schema(api: &Api, ty: &Ty) -> Value {
    match ty {
        Ty::String => json!({ "type": "string" }),
        Ty::Bool => json!({ "type": "boolean" }),
        Ty::U32 => json!({ "type": "integer", "minimum": 0, "maximum": u32::MAX }),
        Ty::U64 => json!({ "type": "integer", "minimum": 0 }),
        Ty::Timestamp => json!({ "type": "string", "format": "date-time" }),
        Ty::Json => json!({}),
        Ty::JsonObject => json!({ "type": "object" }),
        Ty::StringMap => json!({ "type": "object", "additionalProperties": { "type": "string" } }),
        Ty::List(item) => json!({ "type": "array", "items": ty_schema(api, item) }),
        Ty::Named(name) => match api.models.get(name).map(|m| &m.shape) {
            Some(Shape::Enum(values)) => json!({ "type": "string", "enum": values }),
            Some(Shape::Struct(fields)) => {
                let properties: Map<String, Value> =
                    fields.iter().map(|f| (f.name.clone(), field_schema(api, f))).collect();
                let required: Vec<&str> =
                    fields.iter().filter(|f| f.optional == Some(false)).map(|f| f.name.as_str()).collect();
                json!({ "type": "object", "properties": properties, "required": required })
            }
            None => json!({}),
        },
    }
}

/// `text` as a raw string literal, so the generated file shows the schema
/// as JSON.
fn raw_string(text: &str) -> TokenStream {
    let hashes = "#".repeat((1..).find(|n| !text.contains(&format!("\"{}", "#".repeat(*n)))).unwrap_or(1));
    format!("r{hashes}\"{text}\"{hashes}").parse().expect("a raw string literal")
}
