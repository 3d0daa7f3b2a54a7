//! Lossless conversions between `serde_json::Value` and protobuf's `Struct`/`Value`, used wherever
//! the OpenAI wire format carries free-form JSON (tool schemas, `tool_choice`, tool arguments).
//! Protobuf numbers are `f64`: integers beyond 2^53 lose precision, exactly as in JavaScript clients.

use prost_types::{ListValue, Struct, Value, value::Kind};
use serde_json::{Map, Number};

/// Converts a JSON value into a protobuf `Value`.
pub fn to_proto_value(json: &serde_json::Value) -> Value {
    let kind = match json {
        serde_json::Value::Null => Kind::NullValue(0),
        serde_json::Value::Bool(b) => Kind::BoolValue(*b),
        serde_json::Value::Number(n) => Kind::NumberValue(n.as_f64().unwrap_or(0.0)),
        serde_json::Value::String(s) => Kind::StringValue(s.clone()),
        serde_json::Value::Array(items) => Kind::ListValue(ListValue {
            values: items.iter().map(to_proto_value).collect(),
        }),
        serde_json::Value::Object(map) => Kind::StructValue(to_proto_struct(map)),
    };
    Value { kind: Some(kind) }
}

/// Converts a JSON object into a protobuf `Struct`.
pub fn to_proto_struct(map: &Map<String, serde_json::Value>) -> Struct {
    Struct {
        fields: map
            .iter()
            .map(|(k, v)| (k.clone(), to_proto_value(v)))
            .collect(),
    }
}

/// Converts a protobuf `Value` into JSON. Whole numbers become JSON integers.
pub fn from_proto_value(value: &Value) -> serde_json::Value {
    match &value.kind {
        None | Some(Kind::NullValue(_)) => serde_json::Value::Null,
        Some(Kind::BoolValue(b)) => serde_json::Value::Bool(*b),
        Some(Kind::NumberValue(n)) => number_to_json(*n),
        Some(Kind::StringValue(s)) => serde_json::Value::String(s.clone()),
        Some(Kind::ListValue(list)) => {
            serde_json::Value::Array(list.values.iter().map(from_proto_value).collect())
        }
        Some(Kind::StructValue(s)) => serde_json::Value::Object(from_proto_struct(s)),
    }
}

/// Converts a protobuf `Struct` into a JSON object.
pub fn from_proto_struct(value: &Struct) -> Map<String, serde_json::Value> {
    value
        .fields
        .iter()
        .map(|(k, v)| (k.clone(), from_proto_value(v)))
        .collect()
}

fn number_to_json(n: f64) -> serde_json::Value {
    const MAX_EXACT: f64 = 9_007_199_254_740_992.0;
    if n.fract() == 0.0 && n.abs() <= MAX_EXACT {
        // Exact: the value is integral and within the range f64 represents without loss.
        #[allow(clippy::cast_possible_truncation)]
        return serde_json::Value::Number(Number::from(n as i64));
    }
    Number::from_f64(n).map_or(serde_json::Value::Null, serde_json::Value::Number)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn round_trips_nested_json() {
        let original = json!({
            "type": "object",
            "properties": {"cmd": {"type": "string"}, "n": {"type": "integer", "minimum": 1}},
            "required": ["cmd"],
            "ratio": 0.5,
            "none": null,
            "flag": true
        });
        let serde_json::Value::Object(map) = &original else {
            panic!("object expected")
        };
        let back = serde_json::Value::Object(from_proto_struct(&to_proto_struct(map)));
        assert_eq!(back, original);
    }

    #[test]
    fn non_finite_numbers_become_null() {
        let value = Value {
            kind: Some(Kind::NumberValue(f64::NAN)),
        };
        assert_eq!(from_proto_value(&value), serde_json::Value::Null);
    }
}
