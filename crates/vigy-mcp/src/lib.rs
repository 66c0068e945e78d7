//! vigy for AI clients over MCP: one tool per operation of the specs, with
//! the JSON Schema of its input, dispatched to any
//! [`VigyService`](vigy_api::VigyService) (the runtime, or a client of a
//! remote `vigy serve`).
//!
//! The catalog and the dispatch are generated from `spec/`
//! (`generated/vigy-api-mcp`); this crate is where the MCP transports are
//! wired.

pub use vigy_api_mcp::{DispatchError, Tool, dispatch, tool_catalog};
