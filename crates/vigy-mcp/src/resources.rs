//! MCP resources, read through the service like every tool:
//!
//! - `vigy://docs/intrinsics`: the intrinsics reference (markdown), what a
//!   program may call;
//! - `vigy://vigies/{name}/program`: a vigy's program (tatara-lisp source);
//! - `vigy://vigies/{name}/runs`: its newest runs, newest first, as the
//!   `VigyRunList` JSON `list_vigy_runs` returns.
//!
//! `{name}` is the vigy's name, percent-encoded (its id works too, as in
//! every `id` argument). `resources/list` names the reference and both
//! resources of every vigy; the templates name the per-vigy ones.

use rmcp::ErrorData;
use rmcp::model::{Resource, ResourceContents, ResourceTemplate};
use vigy_api::{ServiceError, VigyService};

/// The intrinsics reference's URI.
pub const INTRINSICS_URI: &str = "vigy://docs/intrinsics";

/// The intrinsics reference, as `vigy-eval` documents its functions (the
/// crate's own docs are this file, so the two cannot drift).
pub(crate) const INTRINSICS: &str = include_str!("../../vigy-eval/docs/intrinsics.md");

/// How many runs `vigy://vigies/{name}/runs` shows.
const RECENT_RUNS: u32 = 20;

const VIGIES: &str = "vigy://vigies/";

/// One page of resources: the reference first, then both resources of each
/// vigy of the page of vigies `cursor` names (MCP's cursor is the vigy
/// list's own), with the cursor of the next page.
pub(crate) async fn list(
    service: &dyn VigyService,
    cursor: Option<String>,
) -> Result<(Vec<Resource>, Option<String>), ErrorData> {
    let first_page = cursor.is_none();
    let vigies = service
        .list_vigies(vigy_api::ListVigiesRequest { selector: None, limit: None, condition: None, cursor })
        .await
        .map_err(error)?;
    let mut resources = if first_page { vec![intrinsics()] } else { Vec::new() };
    for vigy in vigies.items {
        let at = format!("{VIGIES}{}", encode(&vigy.name));
        resources.push(
            Resource::new(format!("{at}/program"), format!("{} program", vigy.name))
                .with_description(format!("The tatara-lisp program of the vigy {}.", vigy.name))
                .with_mime_type("text/x-tatara-lisp")
                .with_size(vigy.program.len() as u64),
        );
        resources.push(
            Resource::new(format!("{at}/runs"), format!("{} runs", vigy.name))
                .with_description(format!("The newest {RECENT_RUNS} runs of the vigy {}, newest first.", vigy.name))
                .with_mime_type("application/json"),
        );
    }
    Ok((resources, vigies.next_cursor))
}

fn intrinsics() -> Resource {
    Resource::new(INTRINSICS_URI, "intrinsics")
        .with_title("vigy intrinsics reference")
        .with_description(
            "The functions a vigy's program may call (vigy-emit, vigy-get, vigy-condition, ...) and the rules of a tick.",
        )
        .with_mime_type("text/markdown")
        .with_size(INTRINSICS.len() as u64)
}

/// The per-vigy resources, as templates.
pub(crate) fn templates() -> Vec<ResourceTemplate> {
    vec![
        ResourceTemplate::new(format!("{VIGIES}{{name}}/program"), "vigy program")
            .with_description("A vigy's tatara-lisp program; {name} is its name, percent-encoded, or its id.")
            .with_mime_type("text/x-tatara-lisp"),
        ResourceTemplate::new(format!("{VIGIES}{{name}}/runs"), "vigy runs")
            .with_description(format!(
                "A vigy's newest {RECENT_RUNS} runs, newest first (VigyRunList JSON); {{name}} is its name, percent-encoded, or its id."
            ))
            .with_mime_type("application/json"),
    ]
}

/// The contents of the resource at `uri`.
pub(crate) async fn read(service: &dyn VigyService, uri: &str) -> Result<rmcp::model::ReadResourceResult, ErrorData> {
    let contents = if uri == INTRINSICS_URI {
        ResourceContents::text(INTRINSICS, uri).with_mime_type("text/markdown")
    } else if let Some((name, what)) = uri.strip_prefix(VIGIES).and_then(|rest| rest.rsplit_once('/')) {
        let id = decode(name).ok_or_else(|| not_found(uri))?;
        match what {
            "program" => {
                let vigy = service.get_vigy(vigy_api::GetVigyRequest { id }).await.map_err(error)?;
                ResourceContents::text(vigy.program, uri).with_mime_type("text/x-tatara-lisp")
            }
            "runs" => {
                let request = vigy_api::ListVigyRunsRequest { id, limit: Some(RECENT_RUNS), cursor: None };
                let runs = service.list_vigy_runs(request).await.map_err(error)?;
                let json = serde_json::to_string_pretty(&runs)
                    .map_err(|e| ErrorData::internal_error(format!("cannot encode the runs: {e}"), None))?;
                ResourceContents::text(json, uri).with_mime_type("application/json")
            }
            _ => return Err(not_found(uri)),
        }
    } else {
        return Err(not_found(uri));
    };
    Ok(rmcp::model::ReadResourceResult::new(vec![contents]))
}

fn not_found(uri: &str) -> ErrorData {
    ErrorData::resource_not_found(
        format!("no resource {uri:?}: there are {INTRINSICS_URI}, {VIGIES}{{name}}/program and {VIGIES}{{name}}/runs"),
        None,
    )
}

/// A failed read as MCP words it: an unknown vigy is a missing resource,
/// a refused argument invalid params, anything else internal (with the
/// service's message and code).
fn error(e: ServiceError) -> ErrorData {
    let data = Some(vigy_api_mcp::error_content(&e));
    match e {
        ServiceError::NotFound(message) => ErrorData::resource_not_found(message, data),
        ServiceError::InvalidArgument(message) => ErrorData::invalid_params(message, data),
        other => ErrorData::internal_error(other.to_string(), data),
    }
}

/// `name` with every byte outside RFC 3986's unreserved set
/// percent-encoded.
fn encode(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for byte in name.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// The inverse of [`encode`] (any percent-encoding accepted); `None` for a
/// malformed escape or text that is not UTF-8.
fn decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::{decode, encode};

    #[test]
    fn names_should_survive_a_round_trip_through_a_uri() {
        for name in ["hello", "disk check", "a/b", "ünï", "100%"] {
            assert_eq!(decode(&encode(name)).as_deref(), Some(name));
        }
        assert_eq!(encode("disk check/1"), "disk%20check%2F1");
        assert_eq!(decode("%zz"), None);
    }
}
