//! The client side: the generated [`McpClient`] over an rmcp client
//! connected to a `/mcp` endpoint, so a remote vigy reached over MCP is a
//! `VigyService` like any other.

use rmcp::model::CallToolRequestParams;
use rmcp::service::RunningService;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::{RoleClient, ServiceExt};
use vigy_api::ServiceError;
use vigy_api_mcp::{McpClient, ToolCaller, ToolResult};

/// Tool calls through a connected rmcp client.
#[derive(Debug)]
pub struct RmcpCaller {
    client: RunningService<RoleClient, ()>,
}

/// Connect to the MCP endpoint at `url` (e.g. `http://127.0.0.1:38821/mcp`),
/// with a bearer token if the server wants one.
pub async fn connect(url: &str, token: Option<&str>) -> Result<McpClient<RmcpCaller>, ServiceError> {
    let mut config = StreamableHttpClientTransportConfig::with_uri(url);
    if let Some(token) = token {
        config = config.auth_header(token);
    }
    let transport = StreamableHttpClientTransport::from_config(config);
    let client = ().serve(transport).await.map_err(|e| ServiceError::Unavailable(format!("MCP at {url}: {e}")))?;
    Ok(McpClient::new(RmcpCaller { client }))
}

impl RmcpCaller {
    /// Over an rmcp client connected by any transport (the stdio of a
    /// `vigy mcp` child process, say).
    pub fn new(client: RunningService<RoleClient, ()>) -> Self {
        Self { client }
    }
}

#[async_trait::async_trait]
impl ToolCaller for RmcpCaller {
    async fn call_tool(&self, name: &'static str, arguments: serde_json::Value) -> Result<ToolResult, ServiceError> {
        let serde_json::Value::Object(arguments) = arguments else {
            return Err(ServiceError::Internal(format!("the arguments of {name} are not an object")));
        };
        let result = self
            .client
            .call_tool(CallToolRequestParams::new(name).with_arguments(arguments))
            .await
            .map_err(|e| ServiceError::Unavailable(format!("MCP call {name}: {e}")))?;
        let content = result
            .structured_content
            .ok_or_else(|| ServiceError::Internal(format!("the result of {name} has no structured content")))?;
        Ok(ToolResult { is_error: result.is_error == Some(true), content })
    }
}
