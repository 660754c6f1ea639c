//! How two environments' desired states differ, object by object: what `tenantsync env diff`
//! shows. Objects are matched by their manifest identity (`Application/shop`,
//! `Client/shop/Web`, `Resource/payouts-api`); fields are compared whole, as the API replaces
//! them; a secret or interpolated field is compared but never shown.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{Map, Value};

use crate::manifest::{DesiredState, Ref, References};
use crate::model::FieldRules;

/// One object's differences.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ObjectDiff {
    /// The object (`Application/shop`).
    pub object: String,
    /// When it exists in one environment only: that environment.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub only_in: Option<String>,
    /// The fields that differ (empty when `only_in` is set).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<FieldDiff>,
}

/// One field that differs. A hidden field's values are `null` and `hidden` is true.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FieldDiff {
    /// The top-level field.
    pub field: String,
    /// Its value in the first environment (`null`: not set, or hidden).
    pub a: Value,
    /// Its value in the second.
    pub b: Value,
    /// Secret, or read by interpolation: compared, never shown.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub hidden: bool,
    /// The difference comes from the environments' `values` alone: the manifests and overlays
    /// say the same (see [`from_values`]).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub from_values: bool,
}

/// What one object looks like for comparing: its fields, with its reference fields as the
/// names (or `{id: …}`) the manifest wrote.
struct Side<'a> {
    spec: Map<String, Value>,
    rules: &'a FieldRules,
}

fn with_refs(spec: &Map<String, Value>, refs: &References) -> Map<String, Value> {
    let mut out = spec.clone();
    for (field, targets) in refs {
        let named: Vec<Value> = targets
            .iter()
            .map(|r| match r {
                Ref::Managed { name, .. } => Value::String(name.clone()),
                Ref::Id(id) => serde_json::json!({ "id": id }),
            })
            .collect();
        out.insert((*field).to_owned(), Value::Array(named));
    }
    out
}

fn sides(state: &DesiredState) -> BTreeMap<String, Side<'_>> {
    let mut out = BTreeMap::new();
    for (address, object) in state.each() {
        // An application or client by its address (its name), another kind's object by its
        // document's name.
        let name = match address.is_app() {
            true => address.to_string(),
            false => format!("{}/{}", address.kind, object.name),
        };
        out.insert(
            name,
            Side {
                spec: with_refs(&object.spec, &object.refs),
                rules: &object.rules,
            },
        );
    }
    out
}

fn hidden(rules: &FieldRules, field: &str) -> bool {
    rules.is_sensitive(field) || rules.masked.iter().any(|p| p.head() == Some(field))
}

/// The differences between the desired states of environments `a` and `b`.
pub fn desired(a_name: &str, a: &DesiredState, b_name: &str, b: &DesiredState) -> Vec<ObjectDiff> {
    let (a, b) = (sides(a), sides(b));
    let mut out = Vec::new();
    let names: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    for name in names {
        match (a.get(name), b.get(name)) {
            (Some(_), None) | (None, Some(_)) => out.push(ObjectDiff {
                object: name.clone(),
                only_in: Some(if a.contains_key(name) { a_name } else { b_name }.to_owned()),
                fields: Vec::new(),
            }),
            (Some(x), Some(y)) => {
                let fields: std::collections::BTreeSet<&String> =
                    x.spec.keys().chain(y.spec.keys()).collect();
                let diffs: Vec<FieldDiff> = fields
                    .into_iter()
                    .filter(|f| x.spec.get(*f) != y.spec.get(*f))
                    .map(|f| {
                        let hide = hidden(x.rules, f) || hidden(y.rules, f);
                        let shown = |side: &Side<'_>| match hide {
                            true => Value::Null,
                            false => side.spec.get(f).cloned().unwrap_or(Value::Null),
                        };
                        FieldDiff {
                            field: f.clone(),
                            a: shown(x),
                            b: shown(y),
                            hidden: hide,
                            from_values: false,
                        }
                    })
                    .collect();
                if !diffs.is_empty() {
                    out.push(ObjectDiff {
                        object: name.clone(),
                        only_in: None,
                        fields: diffs,
                    });
                }
            }
            (None, None) => {}
        }
    }
    out
}

/// Marks the differences that come from the environments' values alone. `same_values` is
/// the diff of the first environment against the second's manifests and overlay loaded with
/// the first's values: what still differs there comes from the manifests; what differs only in
/// `diffs` comes from the values.
pub fn from_values(diffs: &mut [ObjectDiff], same_values: &[ObjectDiff]) {
    for d in diffs.iter_mut().filter(|d| d.only_in.is_none()) {
        let structural = same_values.iter().find(|s| s.object == d.object);
        for f in &mut d.fields {
            f.from_values = !structural.is_some_and(|s| {
                s.only_in.is_some() || s.fields.iter().any(|x| x.field == f.field)
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::interpolate::tests::FakeEnvironment;
    use crate::manifest::{load, SourceFile};

    fn state(text: &str) -> DesiredState {
        let mut env = FakeEnvironment::default();
        env.vars.insert("DEV_NOTE".into(), "dev-s3cret".into());
        env.vars.insert("PROD_NOTE".into(), "prod-s3cret".into());
        load(
            &[SourceFile {
                path: "m/a.yaml".into(),
                bytes: text.as_bytes().to_vec(),
            }],
            &env,
        )
        .unwrap()
    }

    #[test]
    fn objects_and_fields_that_differ_with_secrets_hidden() {
        let dev = state("apiVersion: tenantsync/v1\nkind: Application\nmetadata: {name: shop}\nspec:\n  app_name: Shop\n  app_description: dev\n  clients:\n    - {name: Web, redirect_uris: ['https://dev/cb'], description: '${env:DEV_NOTE}'}\n    - {name: Debug, redirect_uris: []}\n");
        let prod = state("apiVersion: tenantsync/v1\nkind: Application\nmetadata: {name: shop}\nspec:\n  app_name: Shop\n  app_description: prod\n  clients:\n    - {name: Web, redirect_uris: ['https://dev/cb'], description: '${env:PROD_NOTE}'}\n");
        let diff = desired("dev", &dev, "prod", &prod);
        let objects: Vec<&str> = diff.iter().map(|d| d.object.as_str()).collect();
        assert_eq!(
            objects,
            ["Application/shop", "Client/shop/Debug", "Client/shop/Web"]
        );
        assert_eq!(diff[0].fields[0].field, "app_description");
        assert_eq!(diff[0].fields[0].b, "prod");
        assert_eq!(diff[1].only_in.as_deref(), Some("dev"));
        let secret = &diff[2].fields[0];
        assert!(secret.hidden && secret.a.is_null() && secret.b.is_null());
        assert!(!serde_json::to_string(&diff).unwrap().contains("s3cret"));
        assert!(desired("dev", &dev, "dev2", &dev).is_empty());

        // Loaded with dev's values, prod's manifests differ only by the Debug client and the
        // secret: app_description is marked as coming from the values.
        let mut diff = diff;
        let prod_with_dev_values = state("apiVersion: tenantsync/v1\nkind: Application\nmetadata: {name: shop}\nspec:\n  app_name: Shop\n  app_description: dev\n  clients:\n    - {name: Web, redirect_uris: ['https://dev/cb'], description: '${env:PROD_NOTE}'}\n");
        from_values(
            &mut diff,
            &desired("dev", &dev, "prod", &prod_with_dev_values),
        );
        assert!(diff[0].fields[0].from_values, "{:?}", diff[0]);
        assert!(!diff[2].fields[0].from_values, "{:?}", diff[2]);
    }
}
