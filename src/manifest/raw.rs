//! Raw manifest types: serde/schemars mirrors of the YAML as written, before validation. The
//! JSON Schema `tenantsync schema` prints is generated from these types (plus the wire types they
//! flatten), never written by hand.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use schemars::generate::SchemaSettings;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::model::catalogue::{Flow, Object};
use crate::model::kinds::{self, AnyKind, ObjKind};
use crate::model::schema::{strip_null, BodySchema};
use crate::model::{AppInput, OidcClientInput, SamlClientInput};

/// The one `apiVersion` this build reads.
pub const API_VERSION: &str = "tenantsync/v1";

/// App-level fields of the API that manifests do not accept, with what to write instead (from
/// the field catalogue: the deprecated default-client fields and one-off instructions).
pub fn rejected_app_fields() -> impl Iterator<Item = (&'static str, &'static str)> {
    Object::App
        .fields()
        .iter()
        .filter(|f| f.flow != Flow::ReadOnly)
        .filter_map(|f| f.manifest_hint.map(|hint| (f.name, hint)))
}

/// The schemas manifests are checked with, generated from the raw types.
pub(super) struct Schemas {
    pub(super) metadata: BodySchema,
    pub(super) app_spec: BodySchema,
    pub(super) inline_oidc: BodySchema,
    pub(super) inline_saml: BodySchema,
    pub(super) doc_oidc: BodySchema,
    pub(super) doc_saml: BodySchema,
}

/// What a manifest must set: the fields the API requires on create, except those a manifest
/// cannot write and those tenantsync fills in when left out.
fn manifest_required(object: Object) -> Vec<&'static str> {
    object
        .fields()
        .iter()
        .filter(|f| {
            f.required_on_create && f.manifest_hint.is_none() && f.manifest_default.is_none()
        })
        .map(|f| f.name)
        .collect()
}

pub(super) static SCHEMAS: LazyLock<Schemas> = LazyLock::new(|| {
    let rejected: Vec<&str> = rejected_app_fields().map(|(f, _)| f).collect();
    let oidc = manifest_required(Object::OidcClient);
    let saml = manifest_required(Object::SamlClient);
    Schemas {
        metadata: BodySchema::of::<RawMetadata>(),
        app_spec: BodySchema::of::<AppInput>()
            .without(&rejected)
            .require(&manifest_required(Object::App)),
        inline_oidc: BodySchema::of::<RawInlineClientOf<OidcClientInput>>().require(&oidc),
        inline_saml: BodySchema::of::<RawInlineClientOf<SamlClientInput>>().require(&saml),
        doc_oidc: BodySchema::of::<RawClientSpecOf<OidcClientInput>>().require(&oidc),
        doc_saml: BodySchema::of::<RawClientSpecOf<SamlClientInput>>().require(&saml),
    }
});

/// `apiVersion` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum ApiVersion {
    /// The current format.
    #[serde(rename = "tenantsync/v1")]
    V1,
}

/// `kind: Application`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum ApplicationKind {
    /// An application with inline clients.
    Application,
}

/// `kind: Client`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum ClientKind {
    /// A client in its own document.
    Client,
}

/// `metadata` of every document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawMetadata {
    /// Stable key in git (lowercase letters, digits and `-`); renaming `app_name` keeps identity.
    pub name: String,
    /// Annotations; `tenantsync/protect: "true"` means never deleted.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    /// Free-form labels.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

/// A client inside `spec.clients`: `default`, `ignore_fields` and the API fields of its protocol
/// (OIDC unless `authentication_protocol: saml`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "RawInline{S}")]
pub struct RawInlineClientOf<S> {
    /// This is the app's default client (at most one per application; without one, the first
    /// inline client is).
    #[serde(default)]
    pub default: bool,
    /// Field paths diff and apply leave alone.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ignore_fields: Vec<String>,
    /// The client's API fields.
    #[serde(flatten)]
    pub settings: S,
}

/// A client shape of either protocol: OIDC (the default) or SAML (`authentication_protocol:
/// saml`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
#[schemars(rename = "{O}Or{S}")]
#[allow(clippy::large_enum_variant)] // schema-only type: describes the format, never built in bulk
pub enum EitherProtocol<O, S> {
    /// OIDC.
    Oidc(O),
    /// SAML.
    Saml(S),
}

/// An inline client of either protocol.
pub type RawInlineClient =
    EitherProtocol<RawInlineClientOf<OidcClientInput>, RawInlineClientOf<SamlClientInput>>;

/// `spec` of an `Application`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawApplicationSpec {
    /// The app's API fields (the deprecated client-level ones are not accepted here).
    #[serde(flatten)]
    pub app: AppInput,
    /// The app's clients; exactly one is the default.
    #[serde(default)]
    pub clients: Vec<RawInlineClient>,
    /// Field paths diff and apply leave alone.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ignore_fields: Vec<String>,
}

/// `spec` of a `Client` document: its `application`, `default`, `ignore_fields` and the API
/// fields of its protocol (OIDC unless `authentication_protocol: saml`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "RawSpec{S}")]
pub struct RawClientSpecOf<S> {
    /// `metadata.name` of the client's Application.
    pub application: String,
    /// `default`, `ignore_fields` and the API fields.
    #[serde(flatten)]
    pub client: RawInlineClientOf<S>,
}

/// A `Client` document's spec of either protocol.
pub type RawClientSpec =
    EitherProtocol<RawClientSpecOf<OidcClientInput>, RawClientSpecOf<SamlClientInput>>;

/// An `Application` document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawApplicationDocument {
    /// Always `tenantsync/v1`.
    #[serde(rename = "apiVersion")]
    pub api_version: ApiVersion,
    /// `Application`.
    pub kind: ApplicationKind,
    /// Name and annotations.
    pub metadata: RawMetadata,
    /// The application.
    pub spec: RawApplicationSpec,
}

/// A `Client` document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawClientDocument {
    /// Always `tenantsync/v1`.
    #[serde(rename = "apiVersion")]
    pub api_version: ApiVersion,
    /// `Client`.
    pub kind: ClientKind,
    /// Name and annotations.
    pub metadata: RawMetadata,
    /// The client and its application.
    pub spec: RawClientSpec,
}

/// Pattern of a whole-value reference such as `${env:TTL:-600}` or `${file:ttl.txt}`.
pub const REFERENCE_PATTERN: &str = r"^\$\{(env|file):[^}]+\}$";

/// Lets every non-string value (numbers, booleans, enum values) also be written as a single
/// `${env:…}` / `${file:…}` reference, as the loader accepts: the reference is resolved first.
fn allow_references(schema: &mut Value) {
    match schema {
        Value::Object(map) => {
            map.values_mut().for_each(allow_references);
            let scalar_type = matches!(
                map.get("type").and_then(Value::as_str),
                Some("integer" | "number" | "boolean")
            );
            if scalar_type || map.contains_key("enum") || map.contains_key("const") {
                let description = map.remove("description");
                let original = Value::Object(std::mem::take(map));
                map.insert(
                    "anyOf".into(),
                    json!([original, {"type": "string", "pattern": REFERENCE_PATTERN}]),
                );
                if let Some(d) = description {
                    map.insert("description".into(), d);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(allow_references),
        _ => {}
    }
}

fn def_mut<'a>(
    defs: &'a mut serde_json::Map<String, Value>,
    name: &str,
) -> &'a mut serde_json::Map<String, Value> {
    defs.get_mut(name)
        .and_then(Value::as_object_mut)
        .unwrap_or_else(|| panic!("schema definition `{name}` is generated"))
}

fn require(def: &mut serde_json::Map<String, Value>, fields: &[&str]) {
    let required = def.entry("required").or_insert_with(|| json!([]));
    if let Value::Array(list) = required {
        for f in fields {
            if !list.iter().any(|v| v == f) {
                list.push(json!(f));
            }
        }
    }
}

fn properties(def: &mut serde_json::Map<String, Value>) -> &mut serde_json::Map<String, Value> {
    def.get_mut("properties")
        .and_then(Value::as_object_mut)
        .expect("struct schemas have properties")
}

/// The schema of a reference field: document names (`[payouts-api]`) or unmanaged objects
/// (`{id: …}`).
fn reference_schema(reference: &kinds::Reference) -> Value {
    json!({
        "type": "array",
        "description": format!(
            "{} this names: the metadata.name of a {} document, or {{id: \"…\"}} for one tenantsync does not manage.",
            reference.target.spec().plural, reference.target
        ),
        "items": {"oneOf": [
            {"type": "string", "description": format!("metadata.name of a {} document", reference.target)},
            {"type": "object", "additionalProperties": false, "required": ["id"],
             "properties": {"id": {"type": "string", "description": "the live id"}}},
        ]},
    })
}

/// The JSON Schema (draft 2020-12) of one manifest document, generated from the raw types.
///
/// After generation it encodes what serde attributes cannot: the app fields manifests reject are
/// removed, `name` is required on clients, a SAML client must say `authentication_protocol: saml`.
pub fn document_schema() -> Value {
    let mut generator = SchemaSettings::draft2020_12().into_generator();
    let application = generator.subschema_for::<RawApplicationDocument>();
    let client = generator.subschema_for::<RawClientDocument>();
    let mut defs = generator.take_definitions(true);

    {
        let spec = def_mut(&mut defs, "RawApplicationSpec");
        let props = properties(spec);
        for (field, _) in rejected_app_fields() {
            props.shift_remove(field);
        }
        require(spec, &["app_name"]);
    }
    let protocols: [(&str, &str, &[&str]); 2] = [
        ("oidc", "`oidc` (the default).", &["name"]),
        (
            "saml",
            "Must be `saml` for a SAML client.",
            &["name", "sp_entity_id", "authentication_protocol"],
        ),
    ];
    for (protocol, description, required) in protocols {
        let input = if protocol == "oidc" {
            "OidcClientInput"
        } else {
            "SamlClientInput"
        };
        for name in [format!("RawInline{input}"), format!("RawSpec{input}")] {
            let def = def_mut(&mut defs, &name);
            properties(def).insert(
                "authentication_protocol".into(),
                json!({"description": description, "const": protocol}),
            );
            require(def, required);
        }
    }

    // Reference fields name documents (`[payouts-api]`) or unmanaged objects (`{id: …}`).
    let reference_defs: [(AnyKind, &[&str]); 2] = [
        (AnyKind::Application, &["RawApplicationSpec"]),
        (
            AnyKind::Client,
            &[
                "RawInlineOidcClientInput",
                "RawInlineSamlClientInput",
                "RawSpecOidcClientInput",
                "RawSpecSamlClientInput",
            ],
        ),
    ];
    for (holder, names) in reference_defs {
        for name in names {
            let props = properties(def_mut(&mut defs, name));
            for reference in kinds::references_of(holder) {
                if props.contains_key(reference.field) {
                    props.insert(reference.field.into(), reference_schema(reference));
                }
            }
        }
    }
    let mut documents = vec![application.to_value(), client.to_value()];
    for kind in ObjKind::ALL {
        let mut spec = kinds::manifest_schema(kind.spec());
        if let Some(props) = spec.get_mut("properties").and_then(Value::as_object_mut) {
            for reference in kinds::references_of(AnyKind::Described(kind)) {
                props.insert(reference.field.into(), reference_schema(reference));
            }
            props.insert(
                "ignore_fields".into(),
                json!({"type": "array", "items": {"type": "string"}, "description": "Field paths diff and apply leave alone."}),
            );
        }
        documents.push(json!({
            "type": "object",
            "additionalProperties": false,
            "description": format!("A `{kind}` document: a {}.", kind.spec().noun),
            "properties": {
                "apiVersion": {"$ref": "#/$defs/ApiVersion"},
                "kind": {"const": kind.name()},
                "metadata": {"$ref": "#/$defs/RawMetadata"},
                "spec": spec,
            },
            "required": ["apiVersion", "kind", "metadata", "spec"],
        }));
    }

    let mut schema = json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "urn:tenantsync:manifest-schema:v1",
        "title": "tenantsync manifest document",
        "description": format!(
            "One YAML document of a tenantsync manifest: an Application (with inline clients), a Client, or an object of another kind ({}). Field names are the Mosaic APIs' own.",
            ObjKind::ALL.map(ObjKind::name).join(", ")
        ),
        "oneOf": documents,
        "$defs": Value::Object(defs),
    });
    strip_null(&mut schema);
    if let Some(defs) = schema.get_mut("$defs") {
        allow_references(defs);
    }
    schema
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_is_generated_with_manifest_rules() {
        let schema = document_schema();
        let spec = &schema["$defs"]["RawApplicationSpec"];
        assert!(spec["properties"]["app_name"].is_object());
        assert!(spec["properties"].get("redirect_uris").is_none());
        assert!(spec["properties"]["clients"].is_object());
        assert_eq!(spec["additionalProperties"], false);
        assert_eq!(
            schema["$defs"]["RawInlineSamlClientInput"]["properties"]["authentication_protocol"]
                ["anyOf"][0]["const"],
            "saml"
        );
        let text = schema.to_string();
        assert!(!text.contains("\"null\""), "no nullable types");
    }
}
