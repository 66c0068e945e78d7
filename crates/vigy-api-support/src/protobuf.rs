//! JSON as protobuf's well-known types, and back: `google.protobuf.Value`
//! and `Struct` for free-form JSON, `Timestamp` for instants. The gRPC
//! adapter converts every JSON field and timestamp through these.

use chrono::{DateTime, Utc};
use prost_types::value::Kind;
use prost_types::{ListValue, Struct, Timestamp, Value};
use serde_json::{Map, Number, Value as Json};

/// Doubles with no fraction below this magnitude come back as integers:
/// protobuf carries every number as a double, and below 2^53 an integral
/// double is exactly the integer it was sent as.
const EXACT_INTEGERS: f64 = 9_007_199_254_740_992.0;

/// A JSON value as a `google.protobuf.Value` (numbers become doubles).
pub fn to_value(v: Json) -> Value {
    let kind = match v {
        Json::Null => Kind::NullValue(0),
        Json::Bool(b) => Kind::BoolValue(b),
        Json::Number(n) => Kind::NumberValue(n.as_f64().unwrap_or_default()),
        Json::String(s) => Kind::StringValue(s),
        Json::Array(items) => Kind::ListValue(ListValue { values: items.into_iter().map(to_value).collect() }),
        Json::Object(object) => Kind::StructValue(to_struct(object)),
    };
    Value { kind: Some(kind) }
}

/// A JSON object as a `google.protobuf.Struct`.
pub fn to_struct(object: Map<String, Json>) -> Struct {
    Struct { fields: object.into_iter().map(|(k, v)| (k, to_value(v))).collect() }
}

/// A `google.protobuf.Value` as JSON; an integral number below 2^53 is an
/// integer again, a value with no kind is `null`. (prost refuses messages
/// nested deeper than 100 levels, so the recursion is bounded.)
pub fn from_value(v: Value) -> Json {
    match v.kind {
        None | Some(Kind::NullValue(_)) => Json::Null,
        Some(Kind::BoolValue(b)) => Json::Bool(b),
        Some(Kind::NumberValue(n)) if n.fract() == 0.0 && n.abs() < EXACT_INTEGERS => Json::from(n as i64),
        Some(Kind::NumberValue(n)) => Number::from_f64(n).map_or(Json::Null, Json::Number),
        Some(Kind::StringValue(s)) => Json::String(s),
        Some(Kind::ListValue(list)) => Json::Array(list.values.into_iter().map(from_value).collect()),
        Some(Kind::StructValue(s)) => Json::Object(from_struct(s)),
    }
}

/// A `google.protobuf.Struct` as a JSON object.
pub fn from_struct(s: Struct) -> Map<String, Json> {
    s.fields.into_iter().map(|(k, v)| (k, from_value(v))).collect()
}

/// An instant as a `google.protobuf.Timestamp`.
pub fn to_timestamp(t: DateTime<Utc>) -> Timestamp {
    Timestamp { seconds: t.timestamp(), nanos: t.timestamp_subsec_nanos() as i32 }
}

/// A timestamp chrono cannot represent, or with nanoseconds out of range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a timestamp is out of range")]
pub struct TimestampOutOfRange;

/// A `google.protobuf.Timestamp` as an instant.
pub fn from_timestamp(t: Timestamp) -> Result<DateTime<Utc>, TimestampOutOfRange> {
    let nanos = u32::try_from(t.nanos).map_err(|_| TimestampOutOfRange)?;
    DateTime::from_timestamp(t.seconds, nanos).ok_or(TimestampOutOfRange)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_should_survive_the_trip() {
        let value = json!({
            "null": null, "yes": true, "n": 42, "negative": -7, "pi": 3.5, "big": 9_007_199_254_740_991_i64,
            "s": "ünï", "list": [1, [2, {"deep": []}]], "empty": {},
        });
        assert_eq!(from_value(to_value(value.clone())), value);
        let object = value.as_object().unwrap().clone();
        assert_eq!(from_struct(to_struct(object.clone())), object);
    }

    #[test]
    fn numbers_should_come_back_as_protobuf_can_carry_them() {
        // A float with no fraction is an integer again; past 2^53 a double.
        assert_eq!(from_value(to_value(json!(2.0))), json!(2));
        assert_eq!(from_value(to_value(json!(9_007_199_254_740_993_u64))), json!(9_007_199_254_740_992.0));
        // Doubles JSON has no word for are null.
        let nan = Value { kind: Some(Kind::NumberValue(f64::NAN)) };
        assert_eq!(from_value(nan), Json::Null);
        assert_eq!(from_value(Value { kind: None }), Json::Null);
    }

    #[test]
    fn timestamps_should_survive_and_refuse_what_chrono_cannot_hold() {
        let t = DateTime::from_timestamp(1_767_225_600, 123_456_789).unwrap();
        assert_eq!(from_timestamp(to_timestamp(t)), Ok(t));
        assert_eq!(from_timestamp(Timestamp { seconds: 0, nanos: -1 }), Err(TimestampOutOfRange));
        assert_eq!(from_timestamp(Timestamp { seconds: i64::MAX, nanos: 0 }), Err(TimestampOutOfRange));
        assert_eq!(from_timestamp(Timestamp { seconds: 0, nanos: 2_000_000_000 }), Err(TimestampOutOfRange));
    }
}
