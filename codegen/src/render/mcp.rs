//! The MCP tool catalog and its dispatch: one tool per request/response
//! operation (an event stream is not a tool), its input schema derived by
//! schemars from the generated request type, its description the spec's.

use proc_macro2::TokenStream;
use quote::{format_ident, quote};

use crate::ir::{Api, OpKind};
use crate::names::{pascal, snake};

pub(super) fn manifest() -> String {
    format!(
        "{}[package]\nname = \"vigy-api-mcp\"\ndescription = \"vigy's MCP tool catalog and dispatch, generated from spec/.\"\n\
         version.workspace = true\nedition.workspace = true\nlicense.workspace = true\n\n[dependencies]\n\
         vigy-api = {{ workspace = true, features = [\"schemars\"] }}\nschemars.workspace = true\nserde.workspace = true\nserde_json.workspace = true\n",
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
