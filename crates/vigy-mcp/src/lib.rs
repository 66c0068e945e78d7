//! vigy for AI clients over MCP: one tool per operation of the specs (flat
//! inputs with the spec's descriptions and constraints, output schemas,
//! annotations), resources (the intrinsics reference, each vigy's program
//! and recent runs) and the `write-vigy` prompt, all served from any
//! [`VigyService`](vigy_api::VigyService) (the runtime, or a client of a
//! remote `vigy serve`).
//!
//! The catalog, the dispatch and the client side are generated from `spec/`
//! (`generated/vigy-api-mcp`); this crate wires them to rmcp: [`VigyMcp`]
//! is the server handler, served over stdio ([`serve_stdio`]) or streamable
//! HTTP ([`router`]), and with the `client` feature [`connect`] gives a
//! `VigyService` over a remote `/mcp` endpoint.

mod prompts;
mod resources;
mod server;

#[cfg(feature = "client")]
mod client;

#[cfg(feature = "client")]
pub use client::{RmcpCaller, connect};
pub use prompts::WRITE_VIGY;
pub use resources::INTRINSICS_URI;
pub use server::{VigyMcp, router, serve_stdio};
pub use vigy_api_mcp::{DispatchError, McpClient, Tool, ToolCaller, ToolResult, dispatch, error_content, tool_catalog};
