//! Documents of the described kinds (`model::kinds`: `Resource`, `ServiceProvider`, `Role`, …)
//! and references by name: parsing a kind's document against the schema its catalogue gives,
//! taking reference fields out of application and client specs (`service_providers`,
//! `resources`, `role_ids`: names of documents, or `{id: "…"}`), and resolving them once every
//! document is read, with unknown and ambiguous names reported where they are written.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::LazyLock;

use serde_json::{Map, Value};

use super::desired::{DesiredObject, Facts, Origin, Ref, References, SourceInfo};
use super::document::DocContext;
use super::error::ManifestError;
use super::metadata::Meta;
use super::unique::{self, Held};
use super::yaml::Mark;
use crate::model::kinds::{self, AnyKind, KindSpec, NaturalKey, ObjKind, Reference};
use crate::model::schema::{did_you_mean, BodySchema, FieldPath};
use crate::model::{FieldRules, PathSegment};
use crate::state::address::Address;

/// Each kind's manifest schema, derived once from its catalogue.
static SCHEMAS: LazyLock<BTreeMap<ObjKind, BodySchema>> = LazyLock::new(|| {
    ObjKind::ALL
        .into_iter()
        .map(|k| {
            // Reference fields are taken out and checked before (`take_refs`), their
            // presence where required too.
            let mut schema = kinds::manifest_schema(k.spec());
            for reference in kinds::references_of(AnyKind::Described(k)) {
                if let Some(props) = schema["properties"].as_object_mut() {
                    props.shift_remove(reference.field);
                }
                if let Some(required) = schema["required"].as_array_mut() {
                    required.retain(|f| f != reference.field);
                }
            }
            (k, BodySchema::from_value(schema))
        })
        .collect()
});

/// A reference as written, before resolution.
#[derive(Debug, Clone)]
pub(super) struct RawRef {
    /// A name, or `{id: …}`.
    pub(super) value: RawRefValue,
    /// Where it is written.
    pub(super) mark: Mark,
    /// Its field path in the document, for messages.
    pub(super) path: FieldPath,
}

#[derive(Debug, Clone)]
pub(super) enum RawRefValue {
    Name(String),
    Id(String),
}

/// The reference fields of one application or client, as written.
#[derive(Debug, Clone, Default)]
pub(super) struct RawRefs {
    pub(super) fields: Vec<(&'static Reference, Vec<RawRef>)>,
    pub(super) file: PathBuf,
}

/// A kind's document after per-document checks.
#[derive(Clone)]
pub(super) struct ObjectDoc {
    pub(super) object: DesiredObject,
    pub(super) name_mark: Mark,
    /// The application it names (parented kinds), where, and the field path.
    pub(super) application: Option<(String, Mark)>,
    /// Its reference fields as written.
    pub(super) refs: RawRefs,
    /// The values no other object of its kind may hold, where it writes them.
    pub(super) held: Vec<Held>,
}

impl DocContext<'_> {
    /// Takes `holder`'s reference fields out of `map` (they are not checked by the API schema:
    /// a reference is a name or `{id: …}`), checking their shape.
    pub(super) fn take_refs(
        &mut self,
        map: &mut Map<String, Value>,
        holder: AnyKind,
        path: &FieldPath,
    ) -> RawRefs {
        let mut out = RawRefs {
            file: self.file.to_owned(),
            ..RawRefs::default()
        };
        for reference in kinds::references_of(holder) {
            let Some(value) = map.remove(reference.field) else {
                continue;
            };
            let fpath = path.key(reference.field);
            let Some(items) = value.as_array() else {
                self.error(
                    &fpath,
                    format!(
                        "expected a list of {} names (metadata.name of {} documents), or {{id: \"…\"}} for one tenantsync does not manage",
                        reference.target.spec().noun,
                        reference.target
                    ),
                );
                continue;
            };
            let mut refs = Vec::new();
            for (i, item) in items.iter().enumerate() {
                let ipath = fpath.index(i);
                let mark = self.locate(&ipath, false);
                let value = match item {
                    Value::String(name) => RawRefValue::Name(name.clone()),
                    Value::Object(m)
                        if m.len() == 1 && m.get("id").is_some_and(Value::is_string) =>
                    {
                        let id = m["id"].as_str().unwrap_or_default();
                        if id.trim().is_empty() || id.trim() != id {
                            self.error(
                                &ipath.key("id"),
                                format!(
                                    "a {}'s id cannot be empty or have spaces around it: write the live id of one tenantsync does not manage",
                                    reference.target.spec().noun
                                ),
                            );
                            continue;
                        }
                        RawRefValue::Id(id.to_owned())
                    }
                    _ => {
                        self.error(
                            &ipath,
                            format!(
                                "expected the metadata.name of a {} document, or {{id: \"…\"}}",
                                reference.target
                            ),
                        );
                        continue;
                    }
                };
                refs.push(RawRef {
                    value,
                    mark,
                    path: ipath,
                });
            }
            out.fields.push((reference, refs));
        }
        out
    }

    /// Marks the secrets a kind's rows place below its fields (`push.apn.key`), whatever they
    /// are called, as sensitive: never shown, hashed in the state, redacted from messages. A
    /// secret that is an object (the FCM service-account key) written as text, as `${file:…}`
    /// and `${env:…}` read it, is read as the JSON object it holds (a placeholder for it, as an
    /// export's check reads, as an object of unknown members).
    fn secrets_by_path(
        &mut self,
        kspec: &KindSpec,
        fields: &mut Map<String, Value>,
        spec_path: &FieldPath,
    ) {
        for field in kspec.fields.iter().filter(|f| f.holds_secrets()) {
            for (members, row) in field.secret_paths() {
                let mut path = spec_path.key(field.name);
                let mut value = fields.get_mut(field.name);
                for member in &members {
                    path = path.key(member);
                    value = value.and_then(|v| v.get_mut(*member));
                }
                let Some(value) = value.filter(|v| !v.is_null()) else {
                    continue;
                };
                // Read where only placeholders stand for what is read (checking an export): an
                // object of unknown members.
                let placeholder = self.env.placeholders() && self.masked.contains(&path);
                if let (Some(kinds::FieldType::Object), Value::String(text)) = (row.ty, &*value) {
                    match serde_json::from_str::<Value>(text) {
                        _ if placeholder => *value = Value::Object(Map::new()),
                        Ok(object @ Value::Object(_)) => *value = object,
                        // Never the text itself: it is the secret.
                        _ => {
                            self.error(
                                &path,
                                format!(
                                    "`{}` must be a JSON object (a service-account key file); the text written or read here is not one",
                                    path.strip_prefix(spec_path).unwrap_or_default()
                                ),
                            );
                            self.failed.push(path.clone());
                        }
                    }
                }
                super::document::collect_strings(value, &mut self.sensitive_values);
                self.sensitive.insert(path);
            }
        }
    }

    /// Checks a kind's `spec` and builds its object (its application still unresolved).
    pub(super) fn object(
        &mut self,
        kind: ObjKind,
        spec: &Value,
        spec_path: &FieldPath,
        meta: Option<Meta>,
    ) -> Option<ObjectDoc> {
        let kspec: &KindSpec = kind.spec();
        let Some(map) = spec.as_object() else {
            self.error(
                spec_path,
                format!("expected a mapping of {} fields", kspec.noun),
            );
            return None;
        };
        let mut fields = map.clone();
        let ignore_value = fields.remove("ignore_fields");
        let refs = self.take_refs(&mut fields, AnyKind::Described(kind), spec_path);
        for reference in kinds::references_of(AnyKind::Described(kind)) {
            let required = kspec
                .field(reference.field)
                .is_some_and(|f| f.required_on_create);
            if required && !map.contains_key(reference.field) {
                self.error(
                    &spec_path.key(reference.field),
                    format!(
                        "required field is missing: the {} of this {} (metadata.name of {} documents, or {{id: \"…\"}})",
                        reference.target.spec().plural,
                        kspec.noun,
                        reference.target
                    ),
                );
            }
        }
        self.secrets_by_path(kspec, &mut fields, spec_path);
        let mut value = Value::Object(fields);
        let ok = self.check(&SCHEMAS[&kind], &mut value, spec_path);
        let Value::Object(mut fields) = value else {
            unreachable!("an object stays an object")
        };
        let known: Vec<String> = kspec.writable().map(|f| f.name.to_owned()).collect();
        let ignored = self.ignore_fields(
            ignore_value.as_ref(),
            &spec_path.key("ignore_fields"),
            &known,
        );
        // A kind replaced whole cannot leave a secret alone: upstream never shows it, so a
        // write without it erases it.
        if kspec.api.replace_whole {
            let items = ignore_value.as_ref().and_then(Value::as_array);
            for (i, item) in items.into_iter().flatten().enumerate() {
                let Some(path) = item.as_str().and_then(FieldPath::parse) else {
                    continue;
                };
                // (A whole method ignored is left out of the manifest's value, and kept live
                // unless it holds a secret: the plan then says it cannot be updated.)
                let (secret, holder) = match (&path.0[..], path.head().and_then(|h| kspec.field(h)))
                {
                    ([_, PathSegment::Key(member), ..], Some(field)) => (
                        field.member_is_secret(member),
                        field
                            .member_field(member)
                            .filter(|m| !m.secret)
                            .map(|m| m.name),
                    ),
                    _ => (false, None),
                };
                let text = item.as_str().unwrap_or_default();
                let message = match holder {
                    // A member that holds a secret deeper (`push.apn`) is sent whole.
                    Some(member) => format!(
                        "`{text}` cannot be ignored: `{}.{member}` holds a secret upstream never returns, so it is sent whole as the manifest writes it ({} are replaced whole); write it in the manifest instead",
                        path.head().unwrap_or_default(),
                        kspec.plural
                    ),
                    None => format!(
                        "`{text}` cannot be ignored: {} are replaced whole and upstream never returns a secret, so a write that leaves it out erases it; set it in the manifest (e.g. from `${{env:…}}`) instead",
                        kspec.plural
                    ),
                };
                if secret {
                    self.error(&spec_path.key("ignore_fields").index(i), message);
                }
            }
        }
        let application = match kspec.parent {
            Some(_) => {
                let apath = spec_path.key("application");
                let name = fields
                    .remove("application")
                    .and_then(|v| v.as_str().map(str::to_owned));
                name.map(|n| (n, self.locate(&apath, false)))
            }
            None => None,
        };
        let meta = meta?;
        if !ok {
            return None;
        }
        let key = kspec.key_of(&fields).unwrap_or_default();
        let own = |set: &BTreeSet<FieldPath>| -> BTreeSet<FieldPath> {
            set.iter()
                .filter_map(|p| p.strip_prefix(spec_path))
                .collect()
        };
        let rules = FieldRules {
            ignored,
            sensitive: own(&self.sensitive),
            masked: own(&self.masked),
        };
        let held = unique::held(self, kspec.table(), &fields, spec_path);
        Some(ObjectDoc {
            object: DesiredObject {
                address: Address::new(
                    kind,
                    application.as_ref().map(|(a, _)| a.as_str()),
                    match kspec.natural_key {
                        NaturalKey::Field(_) => key,
                        NaturalKey::Singleton => "",
                    },
                ),
                name: meta.name,
                origin: Origin {
                    file: self.file.to_owned(),
                    line: meta.name_mark.line,
                },
                protect: meta.protect,
                spec: fields,
                rules,
                source: SourceInfo {
                    prefix: spec_path.clone(),
                    labels: meta.labels,
                    policy_ignore: meta.policy_ignore,
                    ..SourceInfo::default()
                },
                refs: References::new(),
                facts: Facts::Described,
            },
            name_mark: meta.name_mark,
            application,
            refs,
            held,
        })
    }
}

fn error(file: &std::path::Path, mark: Mark, field: &FieldPath, message: String) -> ManifestError {
    ManifestError {
        file: file.to_owned(),
        line: mark.line,
        column: mark.col,
        field: field.to_string(),
        message,
    }
}

/// A document's name as references write it: kind, application (parented kinds), name.
type NameKey = (AnyKind, Option<String>, String);

/// The documents of the described kinds, indexed for references.
pub(super) struct ObjectIndex {
    /// By kind and `metadata.name` (and application, for a parented kind): every document that
    /// has that name (more than one: ambiguous).
    by_name: BTreeMap<NameKey, Vec<(Address, Origin, Mark)>>,
}

/// Checks the kinds' documents against each other and the applications: the application each
/// names exists, names and natural keys are unique. Returns the objects and their name index.
pub(super) fn assemble_objects(
    docs: Vec<ObjectDoc>,
    apps: &BTreeSet<String>,
    errors: &mut Vec<ManifestError>,
) -> (BTreeMap<Address, DesiredObject>, ObjectIndex) {
    let mut objects: BTreeMap<Address, DesiredObject> = BTreeMap::new();
    let mut index = ObjectIndex {
        by_name: BTreeMap::new(),
    };
    let mut raw_refs: Vec<(Address, String, RawRefs)> = Vec::new();
    for doc in docs {
        raw_refs.push((
            doc.object.address.clone(),
            doc.object.address.app.clone().unwrap_or_default(),
            doc.refs.clone(),
        ));
        let kind = doc.object.kind();
        let spec = kind.spec();
        let file = doc.object.origin.file.clone();
        if spec.parent.is_some() {
            match &doc.application {
                None => {
                    errors.push(error(
                        &file,
                        doc.name_mark,
                        &FieldPath::root().key("spec").key("application"),
                        format!(
                            "a {kind} document must name its Application in `spec.application`"
                        ),
                    ));
                    continue;
                }
                Some((app, mark)) if !apps.contains(app) => {
                    let hint = did_you_mean(app, apps.iter().map(String::as_str))
                        .map(|c| format!(" (did you mean `{c}`?)"))
                        .unwrap_or_default();
                    errors.push(error(
                        &file,
                        *mark,
                        &FieldPath::root().key("spec").key("application"),
                        format!("no Application named `{app}` in the manifests{hint}"),
                    ));
                    continue;
                }
                Some(_) => {}
            }
        }
        let name_key = (
            kind,
            doc.object.address.app.clone(),
            doc.object.name.clone(),
        );
        index.by_name.entry(name_key).or_default().push((
            doc.object.address.clone(),
            doc.object.origin.clone(),
            doc.name_mark,
        ));
        if let Some(first) = objects.get(&doc.object.address) {
            let what = match spec.natural_key {
                NaturalKey::Field(f) => format!("the same `{f}` as"),
                NaturalKey::Singleton => "the same application as".to_owned(),
            };
            errors.push(error(
                &file,
                doc.name_mark,
                &FieldPath::root().key("metadata").key("name"),
                format!(
                    "{kind} `{}` has {what} {kind} `{}` (defined at {}); there can be only one ({})",
                    doc.object.name, first.name, first.origin, doc.object.address
                ),
            ));
            continue;
        }
        objects.insert(doc.object.address.clone(), doc.object);
    }
    for ((kind, app, name), found) in &index.by_name {
        if found.len() > 1 {
            let (_, first, _) = &found[0];
            for (_, origin, mark) in &found[1..] {
                let scope = app
                    .as_ref()
                    .map(|a| format!(" in application `{a}`"))
                    .unwrap_or_default();
                errors.push(ManifestError {
                    file: origin.file.clone(),
                    line: mark.line,
                    column: mark.col,
                    field: "metadata.name".to_owned(),
                    message: format!("duplicate {kind} `{name}`{scope} (first defined at {first}); names must be unique"),
                });
            }
        }
    }
    // References between objects (a kind whose field names another kind), then the order they
    // impose: a cycle cannot be created in any order.
    for (address, app, refs) in raw_refs {
        let resolved = index.resolve(&refs, Some(&app), errors);
        if let Some(object) = objects.get_mut(&address) {
            object.refs = resolved;
        }
    }
    let edges: BTreeMap<Address, Vec<Address>> = objects
        .iter()
        .map(|(address, o)| {
            let targets = o
                .refs
                .values()
                .flatten()
                .filter_map(|r| match r {
                    Ref::Managed { address, .. } => Some(address.clone()),
                    Ref::Id(_) => None,
                })
                .collect();
            (address.clone(), targets)
        })
        .collect();
    if let Some(cycle) = reference_cycle(&edges) {
        let first = &objects[&cycle[0]];
        let shown: Vec<String> = cycle
            .iter()
            .chain(std::iter::once(&cycle[0]))
            .map(|a| format!("{}/{}", a.kind, objects[a].name))
            .collect();
        errors.push(ManifestError {
            file: first.origin.file.clone(),
            line: first.origin.line,
            column: 1,
            field: "metadata.name".to_owned(),
            message: format!(
                "reference cycle: {}; no order creates them, so break the cycle (one of them can name the other by {{id: …}} once it exists)",
                shown.join(" → ")
            ),
        });
    }
    (objects, index)
}

/// A cycle of `edges` (each node names the nodes it references), as the nodes on it in order,
/// if there is one.
pub(super) fn reference_cycle<N: Ord + Clone>(edges: &BTreeMap<N, Vec<N>>) -> Option<Vec<N>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        Open,
        Done,
    }
    fn visit<N: Ord + Clone>(
        node: &N,
        edges: &BTreeMap<N, Vec<N>>,
        marks: &mut BTreeMap<N, Mark>,
        path: &mut Vec<N>,
    ) -> Option<Vec<N>> {
        match marks.get(node) {
            Some(Mark::Done) => return None,
            Some(Mark::Open) => {
                let start = path.iter().position(|n| n == node).unwrap_or(0);
                return Some(path[start..].to_vec());
            }
            None => {}
        }
        marks.insert(node.clone(), Mark::Open);
        path.push(node.clone());
        for next in edges.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(next, edges, marks, path) {
                return Some(cycle);
            }
        }
        path.pop();
        marks.insert(node.clone(), Mark::Done);
        None
    }
    let mut marks = BTreeMap::new();
    edges
        .keys()
        .find_map(|node| visit(node, edges, &mut marks, &mut Vec::new()))
}

impl ObjectIndex {
    /// A hint for a reference `name` that names no `target` document (within `scope`): the
    /// document of that kind whose natural key it is (`role_name`, `uri`, `entity_id`), or the
    /// document of another kind, or of another application, that has that name.
    fn named_otherwise(
        &self,
        target: ObjKind,
        scope: &Option<String>,
        name: &str,
    ) -> Option<String> {
        let keyed = self.by_name.iter().find(|((kind, app, _), found)| {
            *kind == target.into() && app == scope && found.iter().any(|(a, _, _)| a.key == name)
        });
        if let Some(((_, _, document), _)) = keyed {
            let field = target.spec().key_field();
            return Some(format!(
                " (did you mean `{document}`, whose {field} is `{name}`?)"
            ));
        }
        self.by_name
            .keys()
            .find(|(kind, app, n)| n == name && (*kind != target.into() || app != scope))
            .map(|(kind, app, _)| match app {
                Some(app) if *kind == target.into() => format!(
                    " (`{name}` is a {kind} document of application `{app}`; this field names those of its own application)"
                ),
                _ => format!(" (`{name}` is a {kind} document; this field names {target} documents)"),
            })
    }

    /// Resolves the references `refs` of an object of application `app`. Without an
    /// application (a Client document naming none the manifests hold) the references to its
    /// application's objects are left out: they cannot be checked until it is known, and the
    /// others are still reported.
    pub(super) fn resolve(
        &self,
        refs: &RawRefs,
        app: Option<&str>,
        errors: &mut Vec<ManifestError>,
    ) -> References {
        let mut out = References::new();
        for (reference, items) in &refs.fields {
            let scope = match (reference.same_application, app) {
                (false, _) => None,
                (true, Some(app)) => Some(app.to_owned()),
                (true, None) => continue,
            };
            let mut resolved = Vec::new();
            for item in items {
                match &item.value {
                    RawRefValue::Id(id) => resolved.push(Ref::Id(id.clone())),
                    RawRefValue::Name(name) => {
                        let key = (reference.target.into(), scope.clone(), name.clone());
                        match self.by_name.get(&key).map(Vec::as_slice) {
                            Some([(address, _, _)]) => resolved.push(Ref::Managed {
                                address: address.clone(),
                                name: name.clone(),
                            }),
                            Some(several) => errors.push(error(
                                &refs.file,
                                item.mark,
                                &item.path,
                                format!(
                                    "`{name}` is ambiguous: {} {} documents have that name ({}); rename one",
                                    several.len(),
                                    reference.target,
                                    several.iter().map(|(_, o, _)| o.to_string()).collect::<Vec<_>>().join(", ")
                                ),
                            )),
                            None => {
                                let candidates: Vec<&str> = self
                                    .by_name
                                    .keys()
                                    .filter(|(k, a, _)| *k == reference.target.into() && *a == scope)
                                    .map(|(_, _, n)| n.as_str())
                                    .collect();
                                let hint = did_you_mean(name, candidates.iter().copied())
                                    .map(|c| format!(" (did you mean `{c}`?)"))
                                    .or_else(|| self.named_otherwise(reference.target, &scope, name))
                                    .unwrap_or_default();
                                let within = scope
                                    .as_ref()
                                    .map(|a| format!(" of application `{a}`"))
                                    .unwrap_or_default();
                                errors.push(error(
                                    &refs.file,
                                    item.mark,
                                    &item.path,
                                    format!(
                                        "no {} document{within} is named `{name}`{hint}; a reference names a document's metadata.name. For a {} tenantsync does not manage, write its live id: {{id: \"…\"}}",
                                        reference.target,
                                        reference.target.spec().noun,
                                    ),
                                ));
                            }
                        }
                    }
                }
            }
            out.insert(reference.field, resolved);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cycles_are_found_with_their_members_in_order() {
        let graph = |pairs: &[(&'static str, &[&'static str])]| -> BTreeMap<&'static str, Vec<&'static str>> {
            pairs.iter().map(|(n, to)| (*n, to.to_vec())).collect()
        };
        assert_eq!(
            reference_cycle(&graph(&[("a", &["b"]), ("b", &["c"]), ("c", &[])])),
            None
        );
        assert_eq!(
            reference_cycle(&graph(&[("a", &["b"]), ("b", &["c"]), ("c", &["b"])])),
            Some(vec!["b", "c"])
        );
        assert_eq!(reference_cycle(&graph(&[("a", &["a"])])), Some(vec!["a"]));
        // A diamond is not a cycle.
        assert_eq!(
            reference_cycle(&graph(&[
                ("a", &["b", "c"]),
                ("b", &["d"]),
                ("c", &["d"]),
                ("d", &[])
            ])),
            None
        );
    }
}
