//! Every name conversion the generator makes, in one place.

/// `tickIntervalMs`, `TickIntervalMs`, `TICK_INTERVAL_MS` → `tick_interval_ms`.
pub fn snake(name: &str) -> String {
    let shouting = !name.chars().any(|c| c.is_ascii_lowercase());
    if shouting || name.contains('_') || !name.chars().any(|c| c.is_ascii_uppercase()) {
        return name.to_ascii_lowercase();
    }
    let mut out = String::with_capacity(name.len() + 4);
    for (i, c) in name.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// `tick_interval_ms` or `tickIntervalMs` → `TickIntervalMs`.
pub fn pascal(name: &str) -> String {
    snake(name)
        .split('_')
        .filter(|part| !part.is_empty())
        .map(|part| {
            let mut chars = part.chars();
            chars.next().map(|c| c.to_ascii_uppercase().to_string() + chars.as_str()).unwrap_or_default()
        })
        .collect()
}

/// `TickVigy` or `tick_vigy` → `tickVigy`.
pub fn camel(name: &str) -> String {
    let pascal = pascal(name);
    let mut chars = pascal.chars();
    chars.next().map(|c| c.to_ascii_lowercase().to_string() + chars.as_str()).unwrap_or_default()
}

/// A proto enum value without its enum's prefix: `ACTION_RESULT_OK` in
/// `ActionResult` → `ok`.
pub fn proto_enum_value(enum_name: &str, value: &str) -> String {
    let prefix = format!("{}_", snake(enum_name).to_ascii_uppercase());
    value.strip_prefix(&prefix).unwrap_or(value).to_ascii_lowercase()
}

/// The paging fields as the IR names them, and as Google's API guidelines
/// (AIP-158) name them in proto.
const PROTO_PAGING: [(&str, &str); 3] =
    [("limit", "page_size"), ("cursor", "page_token"), ("next_cursor", "next_page_token")];

/// The paging arguments as the IR names them, and as the GraphQL Cursor
/// Connections specification names them.
const GRAPHQL_PAGING: [(&str, &str); 2] = [("limit", "first"), ("cursor", "after")];

fn translate<'a>(table: &[(&'a str, &'a str)], name: &'a str, forward: bool) -> &'a str {
    table
        .iter()
        .find_map(|&(ir, other)| match forward {
            true => (ir == name).then_some(other),
            false => (other == name).then_some(ir),
        })
        .unwrap_or(name)
}

/// A field's name in proto: `limit` → `page_size`; others unchanged.
pub fn proto_field(ir: &str) -> &str {
    translate(&PROTO_PAGING, ir, true)
}

/// A proto field's IR name: `page_token` → `cursor`; others unchanged.
pub fn field_from_proto(proto: &str) -> &str {
    translate(&PROTO_PAGING, proto, false)
}

/// An argument's name in GraphQL: `limit` → `first`, `cursor` → `after`,
/// others in camelCase.
pub fn graphql_argument(ir: &str) -> String {
    camel(translate(&GRAPHQL_PAGING, ir, true))
}

/// A GraphQL argument's IR name: `after` → `cursor`, others in snake_case.
pub fn argument_from_graphql(graphql: &str) -> String {
    snake(translate(&GRAPHQL_PAGING, graphql, false))
}

/// A page of `item`s: `VigyList` in the IR, OpenAPI and proto.
pub fn page_model(item: &str) -> String {
    format!("{item}List")
}

/// The GraphQL connection standing for a page of `item`s: `VigyConnection`.
pub fn graphql_connection(item: &str) -> String {
    format!("{item}Connection")
}

/// The GraphQL edge of a connection of `item`s: `VigyEdge`.
pub fn graphql_edge(item: &str) -> String {
    format!("{item}Edge")
}

/// The GraphQL type every connection's `pageInfo` has.
pub const GRAPHQL_PAGE_INFO: &str = "PageInfo";

/// A Rust identifier for `name`, raw when it is a keyword.
pub fn rust_ident(name: &str) -> proc_macro2::Ident {
    const KEYWORDS: [&str; 12] =
        ["type", "match", "async", "await", "fn", "impl", "mod", "ref", "self", "struct", "trait", "where"];
    if KEYWORDS.contains(&name) {
        proc_macro2::Ident::new_raw(name, proc_macro2::Span::call_site())
    } else {
        proc_macro2::Ident::new(name, proc_macro2::Span::call_site())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_should_convert_between_cases() {
        assert_eq!(snake("tickIntervalMs"), "tick_interval_ms");
        assert_eq!(snake("TickVigy"), "tick_vigy");
        assert_eq!(snake("INVALID_ARGUMENT"), "invalid_argument");
        assert_eq!(snake("OK"), "ok");
        assert_eq!(snake("vigy_id"), "vigy_id");
        assert_eq!(pascal("listVigyRuns"), "ListVigyRuns");
        assert_eq!(camel("ListVigyRuns"), "listVigyRuns");
        assert_eq!(proto_enum_value("ErrorCode", "ERROR_CODE_NOT_FOUND"), "not_found");
        assert_eq!(rust_ident("type").to_string(), "r#type");
        assert_eq!(proto_field("limit"), "page_size");
        assert_eq!(field_from_proto("next_page_token"), "next_cursor");
        assert_eq!(field_from_proto("vigy_id"), "vigy_id");
        assert_eq!(graphql_argument("cursor"), "after");
        assert_eq!(graphql_argument("vigy_id"), "vigyId");
        assert_eq!(argument_from_graphql("first"), "limit");
        assert_eq!(argument_from_graphql("vigyId"), "vigy_id");
        assert_eq!(graphql_connection("VigyRun"), "VigyRunConnection");
    }
}
