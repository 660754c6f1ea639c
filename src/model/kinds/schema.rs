//! The JSON Schemas a kind's description gives: a manifest `spec` of the kind, and its
//! create and update request bodies ([`request_body`], what the bundled server checks every
//! kind's requests with).

use std::collections::HashMap;
use std::sync::LazyLock;

use serde_json::{Map, Value};

use super::{AnyKind, FieldType, KindSpec, ObjKind};
use crate::model::catalogue::{Field, Flow, Object};
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
/// their types, those required on create, `application` for a parented kind, nothing else. A
/// secret that is an object (the FCM service-account key) may be written as text holding its
/// JSON, as `${file:…}` reads it; the loader parses it.
pub fn manifest_schema(spec: &KindSpec) -> Value {
    body_schema(spec, Written::InManifest)
}

/// Where a schema's values are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Written {
    /// In a manifest: an object secret may be text holding its JSON.
    InManifest,
    /// In a request: as upstream's schema types it.
    InRequest,
}

fn body_schema(spec: &KindSpec, written: Written) -> Value {
    let mut properties = Map::new();
    let mut required: Vec<Value> = Vec::new();
    if spec.parent.is_some() {
        properties.insert("application".into(), serde_json::json!({"type": "string"}));
        required.push("application".into());
    }
    for f in spec.writable() {
        properties.insert(f.name.into(), field_schema(f, written));
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

/// The JSON Schema of one field's value by its row: its type, and for an object the members a
/// request must set and the types of those its rows type, at any depth (an APN configuration
/// under `push`). Members no row types are left to upstream.
fn field_schema(f: &Field, written: Written) -> Value {
    match f.ty {
        Some(FieldType::Object) if f.secret && written == Written::InManifest => {
            serde_json::json!({"type": ["object", "string"]})
        }
        Some(FieldType::String) if !f.one_of.is_empty() => {
            serde_json::json!({"type": "string", "enum": f.one_of})
        }
        Some(FieldType::String) => serde_json::json!({"type": "string"}),
        Some(FieldType::Number) => match f.range {
            Some((min, max)) => {
                serde_json::json!({"type": "number", "minimum": min, "maximum": max})
            }
            None => serde_json::json!({"type": "number", "minimum": 0}),
        },
        Some(FieldType::Boolean) => serde_json::json!({"type": "boolean"}),
        Some(FieldType::Strings) => {
            serde_json::json!({"type": "array", "items": {"type": "string"}})
        }
        Some(FieldType::Object) => {
            let mut schema = Map::new();
            schema.insert("type".into(), "object".into());
            let requires: Vec<Value> = f.required_members().map(Value::from).collect();
            if !requires.is_empty() {
                schema.insert("required".into(), Value::Array(requires));
            }
            let typed: Map<String, Value> = f
                .member_rows()
                .iter()
                .filter(|m| m.ty.is_some())
                .map(|m| (m.name.to_owned(), field_schema(m, written)))
                .collect();
            if !typed.is_empty() {
                schema.insert("properties".into(), Value::Object(typed));
            }
            Value::Object(schema)
        }
        Some(FieldType::Objects) => {
            serde_json::json!({"type": "array", "items": {"type": "object"}})
        }
        None => serde_json::json!({}),
    }
}

/// The JSON Schema of a create (`create`) or update body of this kind: the writable fields with
/// their types, those required on create, nothing else.
pub fn request_schema(spec: &KindSpec, create: bool) -> Value {
    let mut schema = body_schema(spec, Written::InRequest);
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
