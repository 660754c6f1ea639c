//! The JSON Schemas a kind's description gives: a manifest `spec` of the kind, and its
//! create and update request bodies.

use serde_json::{Map, Value};

use super::{FieldType, KindSpec};

/// The JSON Schema a manifest's `spec` of this kind is checked with: the writable fields with
/// their types, those required on create, `application` for a parented kind, nothing else.
pub fn manifest_schema(spec: &KindSpec) -> Value {
    let mut properties = Map::new();
    let mut required: Vec<Value> = Vec::new();
    if spec.parent.is_some() {
        properties.insert("application".into(), serde_json::json!({"type": "string"}));
        required.push("application".into());
    }
    for f in spec.writable() {
        let requires: Vec<&str> = f.required_members().collect();
        let schema = match f.ty {
            Some(FieldType::String) => serde_json::json!({"type": "string"}),
            Some(FieldType::Number) => serde_json::json!({"type": "number", "minimum": 0}),
            Some(FieldType::Strings) => {
                serde_json::json!({"type": "array", "items": {"type": "string"}})
            }
            Some(FieldType::Object) if requires.is_empty() => serde_json::json!({"type": "object"}),
            Some(FieldType::Object) => serde_json::json!({"type": "object", "required": requires}),
            Some(FieldType::Objects) => {
                serde_json::json!({"type": "array", "items": {"type": "object"}})
            }
            None => serde_json::json!({}),
        };
        properties.insert(f.name.into(), schema);
        if f.required_on_create {
            required.push(f.name.into());
        }
    }
    serde_json::json!({
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": false,
    })
}

/// The JSON Schema of a create (`create`) or update body of this kind: the writable fields with
/// their types, those required on create, nothing else.
pub fn request_schema(spec: &KindSpec, create: bool) -> Value {
    let mut schema = manifest_schema(spec);
    if let Some(map) = schema.as_object_mut() {
        if let Some(props) = map.get_mut("properties").and_then(Value::as_object_mut) {
            props.shift_remove("application");
        }
        let required: Vec<Value> = match create {
            true => spec
                .fields
                .iter()
                .filter(|f| f.required_on_create)
                .map(|f| Value::from(f.name))
                .collect(),
            false => Vec::new(),
        };
        map.insert("required".into(), Value::Array(required));
    }
    schema
}
