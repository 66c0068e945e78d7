//! Lisp values to JSON and back: action payloads, kv values, desired and
//! observed state are all JSON once they leave a tick.

use std::sync::Arc;

use serde_json::{Map as JsonMap, Number, Value as Json};
use tatara_lisp_eval::{MapKey, Value};

/// Deepest nesting converted; deeper values are refused rather than
/// recursing without bound.
const MAX_DEPTH: usize = 64;

/// A lisp value as JSON. Symbols and keywords become strings, lists arrays,
/// hash maps objects (keys as text). Functions, errors and host handles have
/// no JSON form and are refused.
pub fn value_to_json(value: &Value) -> Result<Json, String> {
    to_json(value, 0)
}

fn to_json(value: &Value, depth: usize) -> Result<Json, String> {
    if depth > MAX_DEPTH {
        return Err(format!("value nests deeper than {MAX_DEPTH} levels"));
    }
    Ok(match value {
        Value::Nil => Json::Null,
        Value::Bool(b) => Json::Bool(*b),
        Value::Int(n) => Json::Number((*n).into()),
        Value::Float(f) => Json::Number(Number::from_f64(*f).ok_or_else(|| format!("{f} has no JSON form"))?),
        Value::Str(s) | Value::Symbol(s) => Json::String(s.to_string()),
        Value::Keyword(k) => Json::String(k.to_string()),
        Value::List(items) => Json::Array(items.iter().map(|v| to_json(v, depth + 1)).collect::<Result<_, _>>()?),
        Value::Map(map) => {
            let mut object = JsonMap::new();
            for (key, v) in map.iter() {
                object.insert(key_text(key), to_json(v, depth + 1)?);
            }
            Json::Object(object)
        }
        other => return Err(format!("a {} cannot be stored or sent", other.type_name())),
    })
}

fn key_text(key: &MapKey) -> String {
    match key {
        MapKey::Str(s) | MapKey::Symbol(s) | MapKey::Keyword(s) => s.to_string(),
        other => other.to_string(),
    }
}

/// JSON as a lisp value: objects become hash maps with string keys.
pub fn json_to_value(json: &Json) -> Value {
    match json {
        Json::Null => Value::Nil,
        Json::Bool(b) => Value::Bool(*b),
        Json::Number(n) => n.as_i64().map(Value::Int).unwrap_or_else(|| Value::Float(n.as_f64().unwrap_or(f64::NAN))),
        Json::String(s) => Value::Str(Arc::from(s.as_str())),
        Json::Array(items) => Value::list(items.iter().map(json_to_value)),
        Json::Object(object) => Value::Map(Arc::new(
            object.iter().map(|(k, v)| (MapKey::Str(Arc::from(k.as_str())), json_to_value(v))).collect(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_should_round_trip_through_lisp_values() {
        let json = serde_json::json!({"a": [1, 2.5, "x", null, true], "b": {"c": -3}});
        assert_eq!(value_to_json(&json_to_value(&json)).unwrap(), json);
    }

    #[test]
    fn conversion_should_refuse_functions_and_runaway_nesting() {
        let mut deep = Value::Nil;
        for _ in 0..100 {
            deep = Value::list([deep]);
        }
        assert!(value_to_json(&deep).unwrap_err().contains("deeper than 64"));
        assert!(value_to_json(&Value::Float(f64::NAN)).is_err());
    }
}
