//! The MCP server: the generated catalog as `tools/list` (flat input
//! schemas, output schemas, annotations), the generated dispatch as
//! `tools/call`, with the result as `structuredContent` and as text for
//! older clients. A failed operation is a tool result with `isError: true`
//! whose structured content is the `Error` model (so an AI client reads the
//! same code as every other transport); an unknown tool is a protocol
//! error. Resources (`resources.rs`) and the `write-vigy` prompt
//! (`prompts.rs`) are read through the same service.

use std::sync::Arc;

use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, GetPromptRequestParams, GetPromptResponse, Implementation,
    ListPromptsResult, ListResourceTemplatesResult, ListResourcesResult, ListToolsResult, PaginatedRequestParams,
    ReadResourceRequestParams, ReadResourceResponse, ServerCapabilities, ServerConfig, ToolAnnotations,
};
use rmcp::service::RequestContext;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{ErrorData, RoleServer, ServerHandler, ServiceExt};
use tokio_util::sync::CancellationToken;
use vigy_api::VigyService;
use vigy_api_mcp::{DispatchError, dispatch, error_content, tool_catalog};

use crate::{prompts, resources};

/// What the server tells a client when it connects.
const INSTRUCTIONS: &str = "vigy runs small tatara-lisp reconcile programs (vigies) on their own \
    intervals. To write one, use the write-vigy prompt or read vigy://docs/intrinsics; try it with \
    check_program and simulate_program (nothing is stored), then register it with register_vigy. \
    Look at a vigy with get_vigy, get_vigy_state and list_vigy_runs (or the resources \
    vigy://vigies/{name}/program and vigy://vigies/{name}/runs), run a tick at once with tick_vigy. \
    A failed call returns the error's code (invalid_argument, not_found, ...) and message as its \
    structured content.";

/// vigy's MCP server over one [`VigyService`].
#[derive(Clone)]
pub struct VigyMcp {
    service: Arc<dyn VigyService>,
    tools: Arc<Vec<rmcp::model::Tool>>,
}

impl std::fmt::Debug for VigyMcp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VigyMcp").field("tools", &self.tools.len()).finish_non_exhaustive()
    }
}

impl VigyMcp {
    /// A server whose tools call `service`.
    pub fn new(service: Arc<dyn VigyService>) -> Self {
        let tools = tool_catalog()
            .into_iter()
            .map(|tool| {
                let serde_json::Value::Object(input) = tool.input_schema else {
                    unreachable!("the generator writes an object schema for every tool")
                };
                let serde_json::Value::Object(output) = tool.output_schema else {
                    unreachable!("schemars writes an object schema for a struct")
                };
                let a = tool.annotations;
                let annotations = ToolAnnotations::new()
                    .read_only(a.read_only)
                    .destructive(a.destructive)
                    .idempotent(a.idempotent)
                    .open_world(a.open_world);
                let mut tool = rmcp::model::Tool::new(tool.name, tool.description, Arc::new(input));
                tool.output_schema = Some(Arc::new(output));
                tool.annotations = Some(annotations);
                tool
            })
            .collect();
        Self { service, tools: Arc::new(tools) }
    }
}

impl ServerHandler for VigyMcp {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().enable_resources().enable_prompts().build())
            .with_server_info(Implementation::new("vigy", env!("CARGO_PKG_VERSION")))
            .with_instructions(INSTRUCTIONS)
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult::with_all_items(self.tools.as_ref().clone()))
    }

    async fn list_resources(
        &self,
        request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        let cursor = request.and_then(|r| r.cursor);
        let (resources, next_cursor) = resources::list(self.service.as_ref(), cursor).await?;
        let mut result = ListResourcesResult::with_all_items(resources);
        result.next_cursor = next_cursor;
        Ok(result)
    }

    async fn list_resource_templates(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, ErrorData> {
        Ok(ListResourceTemplatesResult::with_all_items(resources::templates()))
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        Ok(resources::read(self.service.as_ref(), &request.uri).await?.into())
    }

    async fn list_prompts(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, ErrorData> {
        Ok(ListPromptsResult::with_all_items(prompts::list()))
    }

    async fn get_prompt(
        &self,
        request: GetPromptRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<GetPromptResponse, ErrorData> {
        Ok(prompts::get(&request.name, request.arguments.unwrap_or_default())?.into())
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let arguments = serde_json::Value::Object(request.arguments.unwrap_or_default());
        match dispatch(self.service.as_ref(), &request.name, arguments).await {
            Ok(result) => Ok(CallToolResult::structured(result).into()),
            Err(DispatchError::Service(error)) => Ok(CallToolResult::structured_error(error_content(&error)).into()),
            Err(DispatchError::UnknownTool(name)) => {
                Err(ErrorData::invalid_params(format!("no tool is named {name:?}"), None))
            }
        }
    }
}

/// Serve MCP over this process's stdin and stdout until the client closes
/// stdin. Nothing else may write to stdout meanwhile.
pub async fn serve_stdio(service: Arc<dyn VigyService>) -> std::io::Result<()> {
    let running = VigyMcp::new(service).serve(rmcp::transport::stdio()).await.map_err(std::io::Error::other)?;
    running.waiting().await.map_err(std::io::Error::other)?;
    Ok(())
}

/// MCP over streamable HTTP at `/mcp`. `allowed_hosts` are the `Host`
/// values accepted (`name` or `name:port`; rmcp refuses others, against
/// DNS rebinding): vigy-server passes its one list, loopback names
/// included; empty keeps rmcp's default, loopback names only.
/// Cancelling `shutdown` ends every session, so a server draining its
/// connections is not held open by a client's event stream.
pub fn router(service: Arc<dyn VigyService>, allowed_hosts: &[String], shutdown: CancellationToken) -> axum::Router {
    let mut config = StreamableHttpServerConfig::default();
    config.cancellation_token = shutdown;
    if !allowed_hosts.is_empty() {
        config = config.with_allowed_hosts(allowed_hosts.iter().cloned());
    }
    let handler = VigyMcp::new(service);
    let mcp = StreamableHttpService::new(move || Ok(handler.clone()), Arc::new(LocalSessionManager::default()), config);
    axum::Router::new().nest_service("/mcp", mcp)
}
