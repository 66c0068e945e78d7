//! An MCP tool takes its operation's request flat: the body's fields beside
//! the path and query parameters, as generic MCP clients fill a schema.
//! These turn a request's JSON into those arguments and back.

use serde_json::{Map, Value};

/// A request's JSON as a tool's flat arguments: the body's fields beside
/// the parameters, absent ones (null) left out, as the input schema has
/// them. Anything but an object is left as it is.
pub fn flatten(request: Value) -> Value {
    let Value::Object(mut fields) = request else { return request };
    if let Some(Value::Object(body)) = fields.remove("body") {
        fields.extend(body);
    }
    fields.retain(|_, value| !value.is_null());
    Value::Object(fields)
}

/// Why a tool's arguments were refused, in words for its caller.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct BadArguments(pub String);

/// A tool's flat arguments as its request's JSON: `params` stay, the
/// fields of `body` (when the operation takes one) go under `body`; any
/// other argument is refused by name, with the ones `tool` takes.
pub fn nest(tool: &str, arguments: Value, params: &[&str], body: Option<&[&str]>) -> Result<Value, BadArguments> {
    let Value::Object(arguments) = arguments else {
        return Err(BadArguments(format!("the arguments of {tool} must be an object")));
    };
    let mut request = Map::new();
    let mut fields = Map::new();
    for (key, value) in arguments {
        if params.contains(&key.as_str()) {
            request.insert(key, value);
        } else if body.is_some_and(|body| body.contains(&key.as_str())) {
            fields.insert(key, value);
        } else {
            let known: Vec<&str> = params.iter().chain(body.unwrap_or(&[])).copied().collect();
            return Err(BadArguments(format!("{tool} has no argument `{key}`; it takes {}", known.join(", "))));
        }
    }
    if body.is_some() {
        request.insert("body".to_owned(), Value::Object(fields));
    }
    Ok(Value::Object(request))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const PARAMS: &[&str] = &["id"];
    const BODY: &[&str] = &["program", "tick_interval_ms"];

    #[test]
    fn a_request_should_flatten_and_nest_back() {
        let request = json!({ "id": "a", "body": { "program": "(vigy-noop)", "tick_interval_ms": 500 } });
        let flat = flatten(request.clone());
        assert_eq!(flat, json!({ "id": "a", "program": "(vigy-noop)", "tick_interval_ms": 500 }));
        assert_eq!(nest("update_vigy", flat, PARAMS, Some(BODY)), Ok(request));
    }

    #[test]
    fn absent_values_should_be_left_out_of_the_arguments() {
        let request = json!({ "id": "a", "limit": null, "body": { "program": null, "tick_interval_ms": 1 } });
        assert_eq!(flatten(request), json!({ "id": "a", "tick_interval_ms": 1 }));
        assert_eq!(flatten(json!([1])), json!([1]), "not an object: as it came");
    }

    #[test]
    fn an_operation_with_a_body_should_get_one_even_when_no_field_is_given() {
        assert_eq!(nest("t", json!({ "id": "a" }), PARAMS, Some(BODY)), Ok(json!({ "id": "a", "body": {} })));
        assert_eq!(nest("t", json!({ "id": "a" }), PARAMS, None), Ok(json!({ "id": "a" })));
    }

    #[test]
    fn unknown_arguments_and_non_objects_should_be_refused_by_name() {
        let refused = nest("update_vigy", json!({ "id": "a", "body": {} }), PARAMS, Some(BODY)).unwrap_err();
        assert_eq!(refused.0, "update_vigy has no argument `body`; it takes id, program, tick_interval_ms");
        let refused = nest("get_vigy", json!({ "program": "x" }), PARAMS, None).unwrap_err();
        assert_eq!(refused.0, "get_vigy has no argument `program`; it takes id");
        let refused = nest("get_vigy", json!("a"), PARAMS, None).unwrap_err();
        assert_eq!(refused.0, "the arguments of get_vigy must be an object");
    }
}
