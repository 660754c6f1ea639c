//! The JSON Schemas a kind's description gives: a manifest `spec` of the kind, and its
//! create and update request bodies ([`request_body`], what the bundled server checks every
//! kind's requests with).

use std::collections::HashMap;
use std::sync::LazyLock;

use serde_json::{Map, Value};

use super::{AnyKind, FieldType, KindSpec, ObjKind};
use crate::model::catalogue::{Flow, Object};
use crate::model::schema::BodySchema;
use crate::model::{AppInput, OidcClientInput, SamlClientInput};

/// One shape of a kind's object, as requests write it: a catalogue object (an application; a
/// client of one protocol), or a described kind's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Shape {
    /// An object of the field catalogue, typed by its wire input type.
    Catalogue(Object),
    /// A described kind, typed by its rows.
    Described(ObjKind),
}

/// The wire input type of a catalogue object that requests write whole, as a schema.
fn input_type(object: Object) -> Option<BodySchema> {
    match object {
        Object::App => Some(BodySchema::of::<AppInput>()),
        Object::OidcClient => Some(BodySchema::of::<OidcClientInput>()),
        Object::SamlClient => Some(BodySchema::of::<SamlClientInput>()),
        _ => None,
    }
}

/// Every kind's request bodies: (shape, create) → schema.
static REQUEST_BODIES: LazyLock<HashMap<(Shape, bool), BodySchema>> = LazyLock::new(|| {
    let mut out = HashMap::new();
    for kind in AnyKind::ALL {
        let spec = kind.spec();
        for object in spec.catalogue {
            let Some(input) = input_type(*object) else {
                continue;
            };
            let rows = object.fields().iter();
            let required: Vec<&str> = rows
                .clone()
                .filter(|f| f.required_on_create)
                .map(|f| f.name)
                .collect();
            let create_only: Vec<&str> = rows
                .filter(|f| f.flow == Flow::CreateOnly)
                .map(|f| f.name)
                .collect();
            let shape = Shape::Catalogue(*object);
            out.insert((shape, true), input.clone().require(&required));
            out.insert((shape, false), input.without(&create_only));
        }
        if let AnyKind::Described(k) = kind {
            for create in [true, false] {
                let schema = BodySchema::from_value(request_schema(spec, create));
                out.insert((Shape::Described(k), create), schema);
            }
        }
    }
    out
});

/// What a create (`create`) or an update body of `shape` must be, as the bundled server checks
/// it: an application's or client's wire input type, or a described kind's fields with their
/// types; on create with the fields the catalogue requires then, on update without those a
/// create alone accepts. (An application's `first_client` is a client's create body.)
pub fn request_body(shape: Shape, create: bool) -> &'static BodySchema {
    REQUEST_BODIES
        .get(&(shape, create))
        .expect("every kind's shapes have request schemas")
}

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
