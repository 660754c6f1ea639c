//! Cross-document checks, and the validated [`DesiredState`] they assemble: application and
//! Client document names unique, each Client document's application present, client names
//! unique within their application and one default client each, unique values held once, the
//! described kinds' documents and every reference by name resolved. Pure: its input is the
//! documents `validate.rs` checked one by one.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;

use serde_json::{Map, Value};

use super::desired::{DesiredObject, DesiredState, Facts, Origin, Ref, References};
use super::error::ManifestError;
use super::objects::{assemble_objects, ObjectDoc};
use super::unique::{self, Holder};
use super::validate::{AppDoc, ClientDoc};
use super::yaml::Mark;
use crate::model::kinds::AnyKind;
use crate::model::schema::did_you_mean;
use crate::state::address::Address;

/// Cross-document checks: unique names, client references, one default client per app.
pub(super) fn assemble(
    apps: Vec<AppDoc>,
    client_docs: Vec<ClientDoc>,
    object_docs: Vec<ObjectDoc>,
    invalid_client_apps: &[String],
    errors: &mut Vec<ManifestError>,
) -> DesiredState {
    let mut by_key: BTreeMap<String, AppDoc> = BTreeMap::new();
    for app in apps {
        if let Some(first) = by_key.get(&app.key) {
            errors.push(cross_error(
                &app.origin.file,
                app.name_mark,
                "metadata.name",
                format!(
                    "duplicate Application `{}` (first defined at {}); names must be unique",
                    app.key, first.origin
                ),
            ));
            continue;
        }
        by_key.insert(app.key.clone(), app);
    }
    let mut doc_names: BTreeMap<String, Origin> = BTreeMap::new();
    // Client documents naming an application the manifests lack: reported, and their other
    // references still checked below.
    let mut orphans = Vec::new();
    for client in client_docs {
        if let Some((name, mark)) = &client.doc_name {
            if let Some(first) = doc_names.get(name) {
                errors.push(cross_error(
                    &client.file,
                    *mark,
                    "metadata.name",
                    format!("duplicate Client document `{name}` (first defined at {first})"),
                ));
                continue;
            }
            doc_names.insert(
                name.clone(),
                Origin {
                    file: client.file.clone(),
                    line: mark.line,
                },
            );
        }
        let Some((application, amark, afield)) = client.application.clone() else {
            // Only a `Client` document reaches here, and one without an application is an
            // invalid client (reported where it was read); never a panic.
            errors.push(cross_error(
                &client.file,
                client.name_mark,
                "spec.application",
                "a Client document must name its Application in `spec.application`".to_owned(),
            ));
            continue;
        };
        match by_key.get_mut(&application) {
            Some(app) => app.clients.push(client),
            None => {
                let hint = did_you_mean(&application, by_key.keys().map(String::as_str))
                    .map(|c| format!(" (did you mean `{c}`?)"))
                    .unwrap_or_default();
                errors.push(cross_error(
                    &client.file,
                    amark,
                    &afield,
                    format!("no Application named `{application}` in the manifests{hint}"),
                ));
                orphans.push(client);
            }
        }
    }
    let holders = by_key
        .values()
        .map(|a| (AnyKind::Application, &a.key, &a.origin, &a.held));
    let objects = object_docs.iter().map(|o| {
        let kind = o.object.kind();
        (kind, &o.object.name, &o.object.origin, &o.held)
    });
    unique::check(
        holders
            .chain(objects)
            .map(|(kind, name, origin, held)| Holder {
                kind: kind.spec().name,
                name,
                file: &origin.file,
                held,
            }),
        errors,
    );
    let mut state = DesiredState::default();
    let app_keys: BTreeSet<String> = by_key.keys().cloned().collect();
    let (objects, index) = assemble_objects(object_docs, &app_keys, errors);
    state.objects = objects
        .into_iter()
        .map(|(address, object)| (address, Arc::new(object)))
        .collect();
    for orphan in &orphans {
        index.resolve(&orphan.refs, None, errors);
    }
    for (key, app) in by_key {
        let mut clients: BTreeMap<String, Arc<DesiredObject>> = BTreeMap::new();
        let mut first: Option<String> = None;
        let mut defaults_marked: Vec<&ClientDoc> = Vec::new();
        for c in &app.clients {
            if let Some(original) = clients.get(&c.client.name) {
                errors.push(cross_error(&c.file, c.name_mark, &format!("{}.name", c.field), format!(
                    "duplicate client name `{}` in application `{key}` (first defined at {}); client names must be unique within an application",
                    c.client.name, original.origin
                )));
                continue;
            }
            first.get_or_insert_with(|| c.client.name.clone());
            if c.default_marked {
                defaults_marked.push(c);
            }
            let mut client = c.client.clone();
            let refs = index.resolve(&c.refs, Some(&key), errors);
            if !refs.is_empty() || !client.refs.is_empty() {
                let client = Arc::make_mut(&mut client);
                client.refs = refs;
                settle_ids(&mut client.spec, &mut client.refs);
            }
            clients.insert(c.client.name.clone(), client);
        }
        let default = match defaults_marked.as_slice() {
            [] => first,
            [one] => Some(one.client.name.clone()),
            [one, rest @ ..] => {
                for extra in rest {
                    errors.push(cross_error(&extra.file, extra.default_mark, &format!("{}.default", extra.field), format!(
                        "application `{key}` already has a default client (`{}` at {}); exactly one client may say `default: true`",
                        one.client.name, one.client.origin
                    )));
                }
                continue;
            }
        };
        if !app.valid || invalid_client_apps.contains(&key) {
            continue; // its errors are already reported
        }
        let Some(default) = default else {
            errors.push(cross_error(&app.origin.file, app.spec_mark, "spec.clients", format!(
                "application `{key}` has no clients; every application needs at least one (its default client), under spec.clients or in a Client document"
            )));
            continue;
        };
        for (name, mut c) in clients {
            // Copied only where assembly decides otherwise than parsing guessed.
            let is_default = name == default;
            if c.client().is_some_and(|f| f.is_default != is_default) || c.protect != app.protect {
                let c = Arc::make_mut(&mut c);
                c.protect = app.protect;
                if let Facts::Client(facts) = &mut c.facts {
                    facts.is_default = is_default;
                }
            }
            state.objects.insert(c.address.clone(), c);
        }
        let mut refs = index.resolve(&app.refs, Some(&key), errors);
        let mut spec = app.spec;
        settle_ids(&mut spec, &mut refs);
        state.insert(DesiredObject {
            address: Address::app(&key),
            name: key,
            origin: app.origin,
            protect: app.protect,
            spec,
            rules: app.rules,
            source: app.source,
            refs,
            facts: Facts::Application {
                default_client: default,
            },
        });
    }
    state
}

pub(super) fn cross_error(file: &Path, mark: Mark, field: &str, message: String) -> ManifestError {
    ManifestError {
        file: file.to_owned(),
        line: mark.line,
        column: mark.col,
        field: field.to_owned(),
        message,
    }
}

/// A reference field that names only objects tenantsync does not manage (`{id: …}`) needs no
/// resolution: it goes into the spec as the ids it is, and only fields naming documents stay
/// in `refs` for the planner to resolve.
fn settle_ids(spec: &mut Map<String, Value>, refs: &mut References) {
    refs.retain(|field, items| {
        let ids: Option<Vec<Value>> = items
            .iter()
            .map(|r| match r {
                Ref::Id(id) => Some(Value::String(id.clone())),
                Ref::Managed { .. } => None,
            })
            .collect();
        match ids {
            Some(ids) => {
                spec.insert((*field).to_owned(), Value::Array(ids));
                false
            }
            None => true,
        }
    });
}
