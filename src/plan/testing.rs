//! What the planner's unit tests share.

use serde_json::{Map, Value};

/// A JSON object literal as a map.
pub(crate) fn map(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(m) => m,
        other => panic!("not an object: {other}"),
    }
}
