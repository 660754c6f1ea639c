//! Exporting the described kinds (`model::kinds`) and writing references by name (pure): each
//! live object of a described kind (`model::kinds`) becomes a document (an empty
//! LoginPreferences is left out) named by `names`, without the fields the server generates,
//! with secrets as `${env:…}` references (also those upstream never returns); every reference field of applications, clients and
//! these documents ([`kinds::REFERENCES`]) is written as the `metadata.name` of an exported
//! document, or as `{id: "…"}` marked by a comment when no exported document has that id. Live
//! ids appear only in comments.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use serde_json::{json, Map, Value};

use super::names::{object_names, Managed, Named, ToName};
use super::{
    env_name, escaped, manifest_fields, replace_secrets, sorted, Accepts, LeftOut, SecretReference,
};
use crate::manifest::{DesiredObject, Ref, References};
use crate::model::catalogue::{Flow, Object};
use crate::model::kinds::{self, AnyKind, NaturalKey, ObjKind, REFERENCES};
use crate::model::schema::BodySchema;
use crate::shown::escape_controls;
use crate::state::address::Address;
use crate::state::entry::StateEntry;
use crate::state::entry::{Ownership, MEMBERS_KEY, SENSITIVE_KEY};

/// Each kind's manifest schema (what an exported spec must pass), derived from its catalogue.
static SCHEMAS: LazyLock<BTreeMap<ObjKind, BodySchema>> = LazyLock::new(|| {
    ObjKind::ALL
        .into_iter()
        .map(|k| (k, BodySchema::from_value(kinds::manifest_schema(k.spec()))))
        .collect()
});

/// A live object of a described kind, as read from the target.
#[derive(Debug, Clone, PartialEq)]
pub struct LiveKindObject {
    /// Its kind.
    pub kind: ObjKind,
    /// Its application's exported `metadata.name` and live id (parented kinds).
    pub app: Option<(String, String)>,
    /// As the API returns it.
    pub object: Map<String, Value>,
    /// What the state last applied to it, if it maps it (secrets hashed).
    pub applied: Option<Map<String, Value>>,
}

/// A secret sub-field upstream does not return and the state does not know tenantsync applied:
/// not in the export, so an update of its object (replaced whole) would leave it out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unreturned {
    /// `LoginPreferences/shop`.
    pub object: String,
    /// `google.clientSecret`.
    pub field: String,
    /// The member left out of the export because it holds the secret (`push.apn`, live
    /// without its `key`); `None`: the object is exported without the secret alone.
    pub left_out: Option<String>,
}

/// What an export tells besides the documents: the secrets it replaced by variables, the
/// fields it left out, and the secrets it could not know.
pub struct OutOfBand<'a> {
    /// Secret values replaced by `${env:…}` references.
    pub secrets: &'a mut Vec<SecretReference>,
    /// Fields and values left out.
    pub left_out: &'a mut Vec<LeftOut>,
    /// Secrets upstream did not return.
    pub unreturned: &'a mut Vec<Unreturned>,
}

/// One exported document of a described kind.
#[derive(Debug, Clone, PartialEq)]
pub struct KindDocument {
    /// Its kind.
    pub kind: ObjKind,
    /// Its `metadata.name`, and whether the state already maps the object.
    pub named: Named,
    /// Its application's `metadata.name` and live id (parented kinds).
    pub app: Option<(String, String)>,
    /// The live id (`None` for a singleton): written only in a comment.
    pub id: Option<String>,
    /// The manifest spec (`application` first for a parented kind).
    pub spec: Map<String, Value>,
}

impl KindDocument {
    /// The manifest document.
    pub fn document(&self) -> Value {
        json!({
            "apiVersion": "tenantsync/v1",
            "kind": self.kind.name(),
            "metadata": {"name": self.named.name},
            "spec": self.spec,
        })
    }

    /// The comment written above the document: where it comes from, by live id.
    pub fn comment(&self) -> String {
        let spec = self.kind.spec();
        let mut out = format!("# {} `{}`", self.kind, self.named.name);
        match (&self.id, spec.api.id_field) {
            (Some(id), Some(field)) => {
                out.push_str(&format!(": live {field} {}", escape_controls(id)));
            }
            _ => {
                if let Some((key, id)) = &self.app {
                    out.push_str(&format!(
                        ": of application `{}` (app_id {})",
                        escape_controls(key),
                        escape_controls(id)
                    ));
                }
            }
        }
        if self.named.managed {
            out.push_str("; already in the state, exported under its name there");
        }
        out.push('\n');
        out
    }
}

/// The `metadata.name` of every exported document, by kind, scope and live id: what reference
/// fields are written with.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ExportedNames {
    /// `(kind, application key for a parented kind, id)` → name.
    by_id: BTreeMap<(ObjKind, Option<String>, String), String>,
}

impl ExportedNames {
    /// Of these documents.
    pub fn of(documents: &[KindDocument]) -> Self {
        let by_id = documents
            .iter()
            .filter_map(|d| {
                let scope = d.app.as_ref().map(|(key, _)| key.clone());
                Some(((d.kind, scope, d.id.clone()?), d.named.name.clone()))
            })
            .collect();
        Self { by_id }
    }

    /// The name of the exported `kind` object with live id `id` (of application `app` for a
    /// parented kind).
    pub fn name(&self, kind: ObjKind, app: Option<&str>, id: &str) -> Option<&str> {
        let scope = kind.spec().parent.and(app).map(str::to_owned);
        self.by_id
            .get(&(kind, scope, id.to_owned()))
            .map(String::as_str)
    }
}

/// A reference export wrote as `{id: "…"}`: no exported document has that id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unmanaged {
    /// The holder's field (`resources`).
    pub field: &'static str,
    /// The kind it names.
    pub target: ObjKind,
    /// The live id.
    pub id: String,
}

/// What a document's name is made from: its `name` field where the kind has one, else its
/// natural key (nothing for a singleton).
fn label(kind: ObjKind, object: &Map<String, Value>) -> &str {
    let spec = kind.spec();
    let text = |f: &str| {
        object
            .get(f)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
    };
    match spec.natural_key {
        NaturalKey::Singleton => "",
        NaturalKey::Field(key) => spec
            .field("name")
            .and_then(|f| text(f.name))
            .or_else(|| text(key))
            .unwrap_or_default(),
    }
}

/// The manifest spec of one live object (without `application` and references resolved), by
/// the rule every kind's export follows (`manifest_fields`: what a manifest writes of each
/// field, and what its manifest schema refuses left out into `left_out` and `ignore_fields`),
/// secrets replaced by environment references, those upstream never returns too where the state
/// says tenantsync applied one.
fn kind_spec(
    kind: ObjKind,
    live: &Map<String, Value>,
    applied: Option<&Map<String, Value>>,
    location: &str,
    out_of_band: &mut OutOfBand<'_>,
) -> Map<String, Value> {
    let OutOfBand {
        secrets,
        left_out,
        unreturned,
    } = out_of_band;
    let spec = kind.spec();
    let accepts = Accepts {
        table: spec.table(),
        schema: &SCHEMAS[&kind],
        written_after: spec.parent.map(|_| "application"),
        client_rules: None,
    };
    let mut out = manifest_fields(&accepts, live, location, left_out);
    // A secret upstream does not return (a social login's `clientSecret`) still belongs to the
    // object, which is replaced whole on update. Where the state says tenantsync applied one,
    // the manifest names a variable for it (an update then sends it rather than dropping it);
    // otherwise its value is unknown, and the caller is told.
    for (field, value) in out.iter_mut() {
        let Some(row) = spec.field(field) else {
            continue;
        };
        if let Value::Object(inner) = value {
            for name in row.secret_members() {
                if inner.contains_key(name) {
                    continue;
                }
                // The field as last applied: the secret hashed in it, or the whole field hashed
                // (it held an interpolated value).
                let was_applied = applied.and_then(|a| a.get(field)).is_some_and(|v| {
                    v.get(name).is_some_and(|s| !s.is_null()) || v.get(SENSITIVE_KEY).is_some()
                });
                if was_applied {
                    inner.insert(name.to_owned(), Value::String(String::new()));
                } else {
                    unreturned.push(Unreturned {
                        object: location.to_owned(),
                        field: format!("{field}.{name}"),
                        left_out: None,
                    });
                }
            }
        }
    }
    // A secret deeper down (`push.apn.key`): the member holding it (`apn`) is live without it.
    // Where the state says tenantsync applied it, the manifest names a variable for the secret;
    // otherwise the member is left out, and stays live (a write is held while it is there).
    for row in spec.fields.iter().filter(|f| f.holds_secrets()) {
        let Some(Value::Object(inner)) = out.get_mut(row.name) else {
            continue;
        };
        let was = applied.and_then(|a| a.get(row.name));
        for (path, _) in row.secret_paths().into_iter().filter(|(p, _)| p.len() > 1) {
            let (holder, rest) = (path[0], &path[1..]);
            if !inner.contains_key(holder) {
                continue;
            }
            let managed = was.is_some_and(|v| {
                v.get(holder).is_some_and(|m| !m.is_null())
                    || match v.get(MEMBERS_KEY).and_then(Value::as_array) {
                        Some(names) => names.iter().any(|n| n == holder),
                        None => v.get(SENSITIVE_KEY).is_some(),
                    }
            });
            if !managed {
                inner.shift_remove(holder);
                unreturned.push(Unreturned {
                    object: location.to_owned(),
                    field: format!("{}.{}", row.name, path.join(".")),
                    left_out: Some(format!("{}.{holder}", row.name)),
                });
                continue;
            }
            let mut at = inner.get_mut(holder);
            for member in &rest[..rest.len() - 1] {
                at = at
                    .and_then(Value::as_object_mut)
                    .map(|m| m.entry(*member).or_insert_with(|| json!({})));
            }
            if let Some(Value::Object(parent)) = at {
                let mut parts = vec![location, row.name];
                parts.extend(&path);
                let variable = env_name(&parts);
                secrets.push(SecretReference {
                    variable: variable.clone(),
                    location: format!("{location} {}.{}", row.name, path.join(".")),
                });
                let leaf = path[path.len() - 1];
                parent.insert(
                    leaf.to_owned(),
                    Value::String(format!("${{env:{variable}}}")),
                );
            }
        }
    }
    replace_secrets(&mut out, &[location], location, secrets);
    out
}

/// Every live object of the described kinds as a document, in the order given, with the names
/// of the exported ones. A LoginPreferences without any login method is left out (it says
/// nothing); so is a parented object whose application is not exported.
pub fn export_objects(
    live: &[LiveKindObject],
    managed: &Managed,
    out_of_band: &mut OutOfBand<'_>,
) -> (Vec<KindDocument>, ExportedNames) {
    // Specs first (an empty one takes no name), then names, then the references between them.
    let mut specs = Vec::new();
    for object in live {
        let spec = object.kind.spec();
        if spec.parent.is_some() && object.app.is_none() {
            continue;
        }
        let location = format!(
            "{}/{}",
            object.kind,
            match &object.app {
                Some((key, _)) if spec.natural_key == NaturalKey::Singleton => key.clone(),
                Some((key, _)) => format!("{key}/{}", label(object.kind, &object.object)),
                None => label(object.kind, &object.object).to_owned(),
            }
        );
        let fields = kind_spec(
            object.kind,
            &object.object,
            object.applied.as_ref(),
            &location,
            out_of_band,
        );
        if spec.natural_key == NaturalKey::Singleton && fields.is_empty() {
            continue;
        }
        specs.push((object, fields));
    }
    let names = object_names(
        specs.iter().map(|(o, _)| ToName {
            kind: o.kind,
            app: o.app.as_ref().map(|(k, id)| (k.as_str(), id.as_str())),
            id: o
                .kind
                .spec()
                .api
                .id_field
                .and_then(|f| o.object.get(f))
                .and_then(Value::as_str),
            label: label(o.kind, &o.object),
        }),
        managed,
    );
    let mut documents: Vec<KindDocument> = specs
        .into_iter()
        .zip(names)
        .map(|((object, spec), named)| KindDocument {
            kind: object.kind,
            named,
            app: object.app.clone(),
            id: object.kind.spec().id_of(&object.object),
            spec,
        })
        .collect();
    let index = ExportedNames::of(&documents);
    for d in &mut documents {
        let app = d.app.as_ref().map(|(k, _)| k.clone());
        write_references(
            AnyKind::Described(d.kind),
            &mut d.spec,
            app.as_deref(),
            &index,
        );
        let mut spec = std::mem::take(&mut d.spec);
        let first = match &app {
            Some(key) => {
                spec.insert("application".into(), Value::String(key.clone()));
                "application"
            }
            None => "name",
        };
        d.spec = sorted(spec, first);
    }
    (documents, index)
}

/// Writes `holder`'s reference fields in `spec` (live ids) as the names of exported documents
/// (`app`: the holder's application, for references within it), or `{id: "…"}`; returns those
/// written as ids.
pub fn write_references(
    holder: AnyKind,
    spec: &mut Map<String, Value>,
    app: Option<&str>,
    names: &ExportedNames,
) -> Vec<Unmanaged> {
    let mut unmanaged = Vec::new();
    for reference in kinds::references_of(holder) {
        let Some(Value::Array(items)) = spec.get_mut(reference.field) else {
            continue;
        };
        for item in items.iter_mut() {
            let Some(id) = item.as_str().map(str::to_owned) else {
                continue;
            };
            let scope = if reference.same_application {
                app
            } else {
                None
            };
            *item = match names.name(reference.target, scope, &id) {
                Some(name) => Value::String(name.to_owned()),
                None => {
                    unmanaged.push(Unmanaged {
                        field: reference.field,
                        target: reference.target,
                        id: id.clone(),
                    });
                    json!({"id": escaped(&Value::String(id))})
                }
            };
        }
    }
    unmanaged
}

/// The reference fields of `object` that upstream never returns (a client's `role_ids`), as the
/// state last applied them (ids): the only record of their live value. A hashed or malformed
/// value is not used.
pub fn write_only_references(
    object: Object,
    last_applied: &Map<String, Value>,
) -> Map<String, Value> {
    let holder = match object {
        Object::App => AnyKind::Application,
        _ => AnyKind::Client,
    };
    kinds::references_of(holder)
        .filter(|r| {
            object
                .field(r.field)
                .is_some_and(|f| f.flow == Flow::WriteOnly)
        })
        .filter_map(|r| {
            let ids = last_applied.get(r.field)?.as_array()?;
            ids.iter()
                .all(Value::is_string)
                .then(|| (r.field.to_owned(), Value::Array(ids.clone())))
        })
        .collect()
}

/// `document` as YAML after `header` (comment lines), with every `{id: "…"}` item of a
/// reference field marked by a comment saying tenantsync does not manage it.
pub fn render(document: &Value, header: &str) -> Result<String, serde_yaml::Error> {
    let yaml = serde_yaml::to_string(document)?;
    Ok(format!("{header}{}", mark_unmanaged(&yaml)))
}

/// Appends a comment to each `- id: …` line inside a reference field's block sequence.
fn mark_unmanaged(yaml: &str) -> String {
    let mut out = String::with_capacity(yaml.len());
    // The reference field whose sequence is being read: its indentation and target kind.
    let mut block: Option<(usize, ObjKind)> = None;
    for line in yaml.lines() {
        let indent = line.len() - line.trim_start().len();
        let trimmed = line.trim_start();
        if let Some((at, _)) = block {
            let item = indent == at && trimmed.starts_with("- ");
            let inside = indent > at;
            if !item && !inside {
                block = None;
            }
        }
        out.push_str(line);
        if let Some((at, target)) = block {
            if indent == at && trimmed.starts_with("- id: ") {
                out.push_str(&format!(
                    " # not managed by tenantsync: no exported {target} document has this id"
                ));
            }
        }
        if let Some(field) = trimmed.strip_suffix(':') {
            if let Some(r) = REFERENCES.iter().find(|r| r.field == field) {
                block = Some((indent, r.target));
            }
        }
        out.push('\n');
    }
    out
}

/// The state entry of an object export adopts: what an apply adopting it records (the
/// manifest's fields but those ignored; hidden values and secret sub-fields as salted hashes;
/// reference fields as the ids `id_of` gives the objects they name), so that the next plan is
/// empty.
pub fn adopted_entry(
    object: &DesiredObject,
    id: Option<String>,
    app_id: Option<String>,
    salt: &[u8],
    applied_at: String,
    id_of: &dyn Fn(&Address) -> Option<String>,
) -> StateEntry {
    let spec = object.kind().spec();
    let last_applied = crate::plan::applied(
        crate::plan::diff::Subject::described(spec),
        &object.spec,
        &object.rules,
        None,
        salt,
    );
    let mut last_applied = last_applied;
    // A live field exported without a secret member it may hold (a social login's
    // `clientSecret`, never answered) is not recorded as applied: tenantsync did not write
    // it, so an update that would send it without the secret waits (`plan::diff`'s
    // `maybe_live_secrets`), as for any object adopted by a plan.
    for row in spec.fields {
        let unset_secret = object
            .spec
            .get(row.name)
            .and_then(Value::as_object)
            .is_some_and(|members| {
                row.secret_members()
                    .any(|secret| !members.contains_key(secret))
            });
        if unset_secret {
            last_applied.shift_remove(row.name);
        }
    }
    record_references(&mut last_applied, &object.refs, id_of);
    StateEntry {
        address: object.address.clone(),
        name: object.name.clone(),
        id,
        app_id,
        ownership: Ownership::Adopted,
        last_applied,
        protect: object.protect,
        applied_at,
    }
}

/// Records in `last_applied` each reference field of `refs` as the ids `id_of` gives the
/// objects it names, as an apply records them; a field with a name export cannot give an id
/// is left unrecorded (the next plan writes it).
pub fn record_references(
    last_applied: &mut Map<String, Value>,
    refs: &References,
    id_of: &dyn Fn(&Address) -> Option<String>,
) {
    for (field, refs) in refs {
        let ids: Option<Vec<Value>> = refs
            .iter()
            .map(|r| match r {
                Ref::Managed { address, .. } => id_of(address).map(Value::String),
                Ref::Id(id) => Some(Value::String(id.clone())),
            })
            .collect();
        // A name export cannot give an id is left unrecorded: the next plan writes it.
        if let Some(ids) = ids {
            last_applied.insert((*field).to_owned(), Value::Array(ids));
        }
    }
}

#[cfg(test)]
mod tests;
