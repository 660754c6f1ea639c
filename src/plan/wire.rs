//! The JSON plan (`--format json`, `plan --out`): every change, of every kind, in one `changes`
//! list in execution order, each naming its `kind` (`Application`, `Client`, `Resource`, …);
//! the drifted changes held back likewise in `held_for_drift`. Read back into the typed
//! [`Plan`], whose applications' and clients' changes and described kinds' changes are apart.
//! A format-3 plan (the described kinds' changes in `objects` and `held_objects_for_drift`)
//! reads the same.

use std::collections::BTreeMap;

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

use super::objects::ObjectChange;
use super::types::{Change, Phase, Plan, PlanChange, SkippedDelete, StateUpdate, Summary};
use crate::model::kinds::ObjKind;

/// Format 3: the described kinds' changes were apart from `changes`.
pub const FORMAT_WITH_OBJECTS_APART: u32 = 3;

/// One change as the JSON plan lists it: an application's or a client's names its kind
/// itself; an object's is given its kind first.
struct Listed<'a>(PlanChange<'a>);

impl Serialize for Listed<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        /// An object change with its kind first, as every change names it.
        #[derive(Serialize)]
        struct Named<'a> {
            kind: ObjKind,
            #[serde(flatten)]
            change: &'a ObjectChange,
        }
        match self.0 {
            PlanChange::App(c) => c.serialize(s),
            PlanChange::Object(c) => Named {
                kind: c.address.kind,
                change: c,
            }
            .serialize(s),
        }
    }
}

fn listed(changes: Vec<PlanChange<'_>>) -> Vec<Listed<'_>> {
    changes.into_iter().map(Listed).collect()
}

/// The JSON plan as written.
#[derive(Serialize)]
struct PlanOut<'a> {
    format_version: u32,
    summary: &'a Summary,
    changes: Vec<Listed<'a>>,
    skipped_deletes: &'a [SkippedDelete],
    state_updates: &'a [StateUpdate],
    #[serde(skip_serializing_if = "Vec::is_empty")]
    held_for_drift: Vec<Listed<'a>>,
    warnings: &'a [String],
    target: &'a str,
    state_lineage: &'a str,
    manifests_fingerprint: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    not_refreshed: Option<usize>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    references: &'a BTreeMap<String, String>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    deferred: bool,
}

impl Serialize for Plan {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        PlanOut {
            format_version: self.format_version,
            summary: &self.summary,
            changes: listed(self.every_change()),
            skipped_deletes: &self.skipped_deletes,
            state_updates: &self.state_updates,
            held_for_drift: listed(self.every_held()),
            warnings: &self.warnings,
            target: &self.target,
            state_lineage: &self.state_lineage,
            manifests_fingerprint: &self.manifests_fingerprint,
            not_refreshed: self.not_refreshed,
            references: &self.references,
            deferred: self.deferred,
        }
        .serialize(s)
    }
}

/// The JSON plan as read (format 3's separate lists accepted).
#[derive(Deserialize)]
struct PlanIn {
    format_version: u32,
    summary: Summary,
    changes: Vec<Value>,
    #[serde(default)]
    skipped_deletes: Vec<SkippedDelete>,
    #[serde(default)]
    state_updates: Vec<StateUpdate>,
    #[serde(default)]
    held_for_drift: Vec<Value>,
    #[serde(default)]
    warnings: Vec<String>,
    target: String,
    state_lineage: String,
    manifests_fingerprint: String,
    #[serde(default)]
    not_refreshed: Option<usize>,
    #[serde(default)]
    references: BTreeMap<String, String>,
    #[serde(default)]
    deferred: bool,
    /// Format 3.
    #[serde(default)]
    objects: Vec<ObjectChange>,
    /// Format 3.
    #[serde(default)]
    held_objects_for_drift: Vec<ObjectChange>,
}

/// One listed change, sorted by the kind it names: an application's or client's, or an
/// object's whose address is of the same kind.
/// With `ordered`, a change of one list may not come after a change of the other that runs in
/// a later phase (each list's own order is `Plan::check`'s to judge): the list is read as
/// written, in execution order.
fn split<E: serde::de::Error>(
    list: Vec<Value>,
    what: &str,
    ordered: bool,
) -> Result<(Vec<Change>, Vec<ObjectChange>), E> {
    let (mut apps, mut objects) = (Vec::new(), Vec::new());
    let (mut last_app, mut last_object): (Option<Phase>, Option<Phase>) = (None, None);
    let out_of_order = |i: usize, phase: Phase, after: Option<Phase>| {
        match after {
        Some(after) if ordered && after > phase => Err(E::custom(format!(
            "{what}[{i}]: runs in {phase:?} but is listed after a change that runs in {after:?}; the plan is out of order (was it edited by hand?)"
        ))),
        _ => Ok(()),
    }
    };
    for (i, value) in list.into_iter().enumerate() {
        let kind = value.get("kind").and_then(Value::as_str).unwrap_or("");
        if matches!(kind, "Application" | "Client") {
            let change =
                Change::deserialize(value).map_err(|e| E::custom(format!("{what}[{i}]: {e}")))?;
            out_of_order(i, change.phase, last_object)?;
            last_app = Some(change.phase);
            apps.push(change);
            continue;
        }
        let Some(named) = ObjKind::from_name(kind) else {
            return Err(E::custom(format!(
                "{what}[{i}]: `kind` is {kind:?}, not a kind tenantsync knows"
            )));
        };
        let change =
            ObjectChange::deserialize(value).map_err(|e| E::custom(format!("{what}[{i}]: {e}")))?;
        if change.address.kind != named {
            return Err(E::custom(format!(
                "{what}[{i}]: `kind` is {named} but its address is a {}",
                change.address.kind
            )));
        }
        out_of_order(i, change.phase, last_app)?;
        last_object = Some(change.phase);
        objects.push(change);
    }
    Ok((apps, objects))
}

impl<'de> Deserialize<'de> for Plan {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = PlanIn::deserialize(d)?;
        let (changes, mut objects) = split::<D::Error>(raw.changes, "changes", true)?;
        let (held_for_drift, mut held_objects) =
            split::<D::Error>(raw.held_for_drift, "held_for_drift", false)?;
        if !(raw.objects.is_empty() && raw.held_objects_for_drift.is_empty())
            && raw.format_version != FORMAT_WITH_OBJECTS_APART
        {
            return Err(D::Error::custom(format!(
                "`objects` is a list of plan format {FORMAT_WITH_OBJECTS_APART}; this plan says format {}",
                raw.format_version
            )));
        }
        objects.extend(raw.objects);
        held_objects.extend(raw.held_objects_for_drift);
        Ok(Plan {
            // Read in, it is a plan of the current format (a format-3 plan is written back as
            // one, its objects among its changes).
            format_version: super::FORMAT_VERSION,
            summary: raw.summary,
            changes,
            skipped_deletes: raw.skipped_deletes,
            state_updates: raw.state_updates,
            held_for_drift,
            warnings: raw.warnings,
            target: raw.target,
            state_lineage: raw.state_lineage,
            manifests_fingerprint: raw.manifests_fingerprint,
            not_refreshed: raw.not_refreshed,
            refreshed: None,
            objects,
            references: raw.references,
            deferred: raw.deferred,
            held_objects_for_drift: held_objects,
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use super::*;

    fn plan_json(changes: Value) -> Value {
        json!({
            "format_version": crate::plan::FORMAT_VERSION,
            "summary": {"create": 2, "update": 0, "delete": 0, "adopt": 0, "unchanged": 0, "skipped_delete": 0},
            "changes": changes, "skipped_deletes": [], "state_updates": [], "warnings": [],
            "target": "t", "state_lineage": "l", "manifests_fingerprint": "f",
        })
    }

    fn app_create() -> Value {
        json!({"action": "create", "kind": "Application", "phase": "create_apps",
               "name": "Application/shop", "address": {"kind": "Application", "app": "shop"}})
    }

    fn resource_create() -> Value {
        json!({"kind": "Resource", "action": "create", "phase": "create_objects",
               "address": {"kind": "Resource", "key": "https://api.example.com"},
               "name": "Resource/payouts"})
    }

    #[test]
    fn every_change_is_in_one_list_in_execution_order_and_reads_back_the_same() {
        let written = plan_json(json!([resource_create(), app_create()]));
        let plan: Plan = serde_json::from_value(written.clone()).unwrap();
        assert_eq!(plan.changes.len(), 1);
        assert_eq!(plan.objects.len(), 1);
        let again = serde_json::to_value(&plan).unwrap();
        assert_eq!(again, written);
        assert_eq!(again["changes"][0]["kind"], "Resource");
        assert_eq!(again["changes"][1]["kind"], "Application");
        assert!(again.get("objects").is_none(), "{again}");
    }

    #[test]
    fn a_format_3_plan_with_its_objects_apart_reads_as_one() {
        let mut old = resource_create();
        old.as_object_mut().unwrap().remove("kind");
        let mut v3 = plan_json(json!([app_create()]));
        v3["format_version"] = json!(FORMAT_WITH_OBJECTS_APART);
        v3["objects"] = json!([old]);
        let plan: Plan = serde_json::from_value(v3).unwrap();
        assert_eq!(plan.objects.len(), 1);
        assert_eq!(plan.format_version, crate::plan::FORMAT_VERSION);
        let now = serde_json::to_value(&plan).unwrap();
        assert_eq!(now, plan_json(json!([resource_create(), app_create()])));
        // A current plan carries no `objects` list.
        let mut odd = plan_json(json!([app_create()]));
        odd["objects"] = json!([old]);
        let err = serde_json::from_value::<Plan>(odd).unwrap_err().to_string();
        assert!(
            err.contains("`objects` is a list of plan format 3"),
            "{err}"
        );
    }

    #[test]
    fn changes_of_the_two_lists_out_of_phase_order_are_refused() {
        // The resource's create runs before any application's: listed after one, the plan
        // was not written by tenantsync.
        let err =
            serde_json::from_value::<Plan>(plan_json(json!([app_create(), resource_create()])))
                .unwrap_err()
                .to_string();
        assert!(
            err.contains("changes[1]: runs in CreateObjects but is listed after a change that runs in CreateApps"),
            "{err}"
        );
    }

    #[test]
    fn a_change_naming_an_unknown_kind_or_another_kind_than_its_address_is_refused() {
        let mut unknown = resource_create();
        unknown["kind"] = json!("Widget");
        let err = serde_json::from_value::<Plan>(plan_json(json!([unknown])))
            .unwrap_err()
            .to_string();
        assert!(err.contains("changes[0]: `kind` is \"Widget\""), "{err}");
        let mut other = resource_create();
        other["kind"] = json!("Role");
        let err = serde_json::from_value::<Plan>(plan_json(json!([app_create(), other])))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("changes[1]: `kind` is Role but its address is a Resource"),
            "{err}"
        );
    }
}
