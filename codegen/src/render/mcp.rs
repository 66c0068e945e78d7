//! The MCP tool catalog and its dispatch: one tool per request/response
//! operation (an event stream is not a tool), its input schema derived by
//! schemars from the generated request type, its description the spec's.
//! Both ends are generated: `dispatch` serves a tool call from any
//! `VigyService`, and `McpClient` implements `VigyService` by calling
//! tools, so the conformance suite drives MCP like every other transport.

use proc_macro2::TokenStream;
use quote::{format_ident, quote};

use crate::ir::{Api, OpKind};
use crate::names::{pascal, snake};

pub(super) fn manifest() -> String {
    format!(
        "{}[package]\nname = \"vigy-api-mcp\"\ndescription = \"vigy's MCP tool catalog and dispatch, generated from spec/.\"\n\
         version.workspace = true\nedition.workspace = true\nlicense.workspace = true\n\n[dependencies]\n\
         vigy-api = {{ workspace = true, features = [\"schemars\"] }}\nasync-trait.workspace = true\nschemars.workspace = true\nserde.workspace = true\nserde_json.workspace = true\n",
        super::HEADER.replace("// ", "# ")
    )
}

pub(super) fn render(api: &Api) -> TokenStream {
    let tools: Vec<_> = api.operations.values().filter(|op| op.kind != Some(OpKind::Stream)).collect();
    let entries = tools.iter().map(|op| {
        let name = snake(&op.id);
        let request = format_ident!("{}Request", pascal(&op.id));
        let description = op.doc.clone().unwrap_or_default();
        quote! {
            Tool {
                name: #name,
                description: #description,
                input_schema: ::serde_json::to_value(::schemars::schema_for!(::vigy_api::#request))
                    .expect("a JSON Schema serializes"),
            },
        }
    });
    let arms = tools.iter().map(|op| {
        let name = snake(&op.id);
        let request = format_ident!("{}Request", pascal(&op.id));
        let method = format_ident!("{}", snake(&op.id));
        quote! {
            #name => {
                let request: ::vigy_api::#request = parse(arguments)?;
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
            /// The JSON Schema of its arguments.
            pub input_schema: ::serde_json::Value,
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
            vec![#(#entries)*]
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
