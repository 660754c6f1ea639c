//! The JSON plan (`--format json`, `plan --out`): every change, of every kind, in one `changes`
//! list in execution order, each naming its `kind` (`Application`, `Client`, `Resource`, …);
//! the drifted changes held back likewise in `held_for_drift`. Each kind's change keeps the
//! form it always had (an application's or client's ids as `app_id` and `client_id`, a
//! described kind's as `id` and `app_id`), read into the one typed [`Change`]. A format-3 plan
//! (the described kinds' changes apart, in `objects` and `held_objects_for_drift`) reads the
//! same.

use std::collections::BTreeMap;

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

use super::diff::FieldChange;
use super::types::{
    Action, Body, Cascaded, Change, DefaultClientRecord, Phase, Plan, Record, SkippedDelete,
    StateUpdate, Summary,
};
use crate::model::kinds::{AnyKind, ObjKind};
use crate::state::address::Address;

/// Format 3: the described kinds' changes were apart from `changes`.
pub const FORMAT_WITH_OBJECTS_APART: u32 = 3;

/// An application's or a client's change as the JSON plan writes it (the form plans of every
/// format hold): its ids as `app_id` and `client_id`.
#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize)]
struct AppChange {
    action: Action,
    kind: AnyKind,
    phase: Phase,
    name: String,
    address: Address,
    app_id: Option<String>,
    client_id: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    drift: bool,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pending: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    fields: Vec<FieldChange>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    notes: Vec<String>,
    body: Option<Map<String, Value>>,
    live_fingerprint: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    fingerprint_fields: Vec<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    already_gone: bool,
    record: Option<Record>,
    default_client: Option<Box<DefaultClientRecord>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    cascade: Vec<Cascaded>,
}

/// A described kind's change as the JSON plan writes it: its kind first, its own id as `id`.
#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize)]
struct ObjectChange {
    /// Absent in format 3 (its list said it).
    #[serde(default)]
    kind: Option<ObjKind>,
    action: Action,
    phase: Phase,
    address: Address,
    name: String,
    id: Option<String>,
    app_id: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    drift: bool,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pending: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    fields: Vec<FieldChange>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    notes: Vec<String>,
    body: Option<Map<String, Value>>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    state_only: bool,
    record: Option<Record>,
    live_fingerprint: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    fingerprint_fields: Vec<String>,
    /// Format 7.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    moved_from: Option<Address>,
}

/// One change as the JSON plan lists it.
#[derive(Serialize)]
#[serde(untagged)]
enum Listed {
    App(AppChange),
    Object(ObjectChange),
}

impl Listed {
    fn of(c: &Change) -> Self {
        let address = &c.address;
        match address.described() {
            None => Listed::App(AppChange {
                action: c.action,
                kind: address.kind,
                phase: c.phase,
                name: c.name.clone(),
                address: address.clone(),
                app_id: c.app_id.clone(),
                client_id: c.id.clone(),
                drift: c.drift,
                pending: c.pending,
                fields: c.fields.clone(),
                notes: c.notes.clone(),
                body: c.body.as_ref().map(|b| b.shown.clone()),
                live_fingerprint: c.live_fingerprint.clone(),
                fingerprint_fields: c.fingerprint_fields.clone(),
                already_gone: c.state_only,
                record: c.record.clone(),
                default_client: c.default_client.clone().map(Box::new),
                cascade: c.cascade.clone(),
            }),
            Some(kind) => Listed::Object(ObjectChange {
                kind: Some(kind),
                action: c.action,
                phase: c.phase,
                address: address.clone(),
                name: c.name.clone(),
                id: c.id.clone(),
                app_id: c.app_id.clone(),
                drift: c.drift,
                pending: c.pending,
                fields: c.fields.clone(),
                notes: c.notes.clone(),
                body: c.body.as_ref().map(|b| b.shown.clone()),
                state_only: c.state_only,
                record: c.record.clone(),
                live_fingerprint: c.live_fingerprint.clone(),
                fingerprint_fields: c.fingerprint_fields.clone(),
                moved_from: c.moved_from.clone(),
            }),
        }
    }
}

impl AppChange {
    fn into_change(self) -> Result<Change, String> {
        if self.kind != self.address.kind {
            return Err(format!(
                "`kind` is {} but its address is a {}",
                self.kind, self.address.kind
            ));
        }
        if self.record.as_ref().is_some_and(|r| r.name.is_some()) {
            return Err("its record has a `name`, which only a described kind's keeps".to_owned());
        }
        Ok(Change {
            action: self.action,
            phase: self.phase,
            name: self.name,
            address: self.address,
            app_id: self.app_id,
            id: self.client_id,
            drift: self.drift,
            pending: self.pending,
            fields: self.fields,
            notes: self.notes,
            body: self.body.map(Body::saved),
            live_fingerprint: self.live_fingerprint,
            fingerprint_fields: self.fingerprint_fields,
            state_only: self.already_gone,
            record: self.record,
            default_client: self.default_client.map(|d| *d),
            cascade: self.cascade,
            moved_from: None,
        })
    }
}

impl ObjectChange {
    fn into_change(self) -> Result<Change, String> {
        if self.address.is_app() {
            return Err(format!(
                "its address {} is an application's or a client's, listed as another kind's",
                self.address
            ));
        }
        if let Some(kind) = self.kind.filter(|k| AnyKind::from(*k) != self.address.kind) {
            return Err(format!(
                "`kind` is {kind} but its address is a {}",
                self.address.kind
            ));
        }
        if self.record.as_ref().is_some_and(|r| r.name.is_none()) {
            return Err("its record has no `name`".to_owned());
        }
        Ok(Change {
            action: self.action,
            phase: self.phase,
            name: self.name,
            address: self.address,
            app_id: self.app_id,
            id: self.id,
            drift: self.drift,
            pending: self.pending,
            fields: self.fields,
            notes: self.notes,
            body: self.body.map(Body::saved),
            live_fingerprint: self.live_fingerprint,
            fingerprint_fields: self.fingerprint_fields,
            state_only: self.state_only,
            record: self.record,
            default_client: None,
            cascade: Vec::new(),
            moved_from: self.moved_from,
        })
    }
}

fn listed(changes: &[Change]) -> Vec<Listed> {
    changes.iter().map(Listed::of).collect()
}

/// The JSON plan as written.
#[derive(Serialize)]
struct PlanOut<'a> {
    format_version: u32,
    summary: &'a Summary,
    changes: Vec<Listed>,
    skipped_deletes: &'a [SkippedDelete],
    state_updates: &'a [StateUpdate],
    #[serde(skip_serializing_if = "Vec::is_empty")]
    held_for_drift: Vec<Listed>,
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
            changes: listed(&self.changes),
            skipped_deletes: &self.skipped_deletes,
            state_updates: &self.state_updates,
            held_for_drift: listed(&self.held_for_drift),
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
    objects: Vec<Value>,
    /// Format 3.
    #[serde(default)]
    held_objects_for_drift: Vec<Value>,
}

/// The listed changes read, by the kind each names: an application's or client's, or an
/// object's whose address is of the same kind (`objects_only`: a format-3 `objects` list,
/// whose changes did not name their kind). Their order is read as written: `Plan::check`
/// judges it, with every other invariant, before anything is carried out.
fn read<E: serde::de::Error>(
    list: Vec<Value>,
    what: &str,
    objects_only: bool,
) -> Result<Vec<Change>, E> {
    let mut out: Vec<Change> = Vec::with_capacity(list.len());
    for (i, value) in list.into_iter().enumerate() {
        let at = |e: String| E::custom(format!("{what}[{i}]: {e}"));
        let kind = value.get("kind").and_then(Value::as_str).unwrap_or("");
        let change = if !objects_only && matches!(kind, "Application" | "Client") {
            AppChange::deserialize(value)
                .map_err(|e| at(e.to_string()))?
                .into_change()
        } else if objects_only || ObjKind::from_name(kind).is_some() {
            ObjectChange::deserialize(value)
                .map_err(|e| at(e.to_string()))?
                .into_change()
        } else {
            Err(format!("`kind` is {kind:?}, not a kind tenantsync knows"))
        }
        .map_err(at)?;
        out.push(change);
    }
    Ok(out)
}

impl<'de> Deserialize<'de> for Plan {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = PlanIn::deserialize(d)?;
        let mut changes = read::<D::Error>(raw.changes, "changes", false)?;
        let mut held_for_drift = read::<D::Error>(raw.held_for_drift, "held_for_drift", false)?;
        if !(raw.objects.is_empty() && raw.held_objects_for_drift.is_empty()) {
            if raw.format_version != FORMAT_WITH_OBJECTS_APART {
                return Err(D::Error::custom(format!(
                    "`objects` is a list of plan format {FORMAT_WITH_OBJECTS_APART}; this plan says format {}",
                    raw.format_version
                )));
            }
            let objects = read::<D::Error>(raw.objects, "objects", true)?;
            changes = super::types::merged_by_phase(changes, objects);
            let held =
                read::<D::Error>(raw.held_objects_for_drift, "held_objects_for_drift", true)?;
            held_for_drift = super::types::merged_by_phase(held_for_drift, held);
        }
        if raw.format_version <= super::types::FORMAT_WITH_HOLDERS_UNSEEN {
            for change in changes.iter_mut().chain(held_for_drift.iter_mut()) {
                if let (Some(_), Some(print)) =
                    (change.address.described(), change.live_fingerprint.as_mut())
                {
                    *print = super::fingerprint::mark_format_7(print);
                }
            }
        }
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
            references: raw.references,
            deferred: raw.deferred,
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use super::*;
    use crate::model::kinds::AnyKind;

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
        assert_eq!(plan.changes.len(), 2);
        assert!(plan.changes[0].object_address().is_some());
        assert_eq!(plan.changes[1].app_address(), Some(&Address::app("shop")));
        let again = serde_json::to_value(&plan).unwrap();
        assert_eq!(again, written);
        assert_eq!(again["changes"][0]["kind"], "Resource");
        assert_eq!(again["changes"][1]["kind"], "Application");
        assert!(again.get("objects").is_none(), "{again}");
    }

    #[test]
    fn a_format_7_plans_object_fingerprints_are_checked_in_the_form_they_were_made_in() {
        let mut resource = resource_create();
        resource["action"] = json!("update");
        resource["id"] = json!("r1");
        resource["live_fingerprint"] = json!("abc");
        let mut app = app_create();
        app["live_fingerprint"] = json!("def");
        let prints = |version: u32| {
            let mut plan = plan_json(json!([resource.clone(), app.clone()]));
            plan["format_version"] = json!(version);
            let plan: Plan = serde_json::from_value(plan).unwrap();
            plan.changes
                .iter()
                .map(|c| c.live_fingerprint.clone().unwrap_or_default())
                .collect::<Vec<_>>()
        };
        assert_eq!(
            prints(crate::plan::FORMAT_WITH_HOLDERS_UNSEEN),
            ["format-7:abc", "def"]
        );
        assert_eq!(prints(crate::plan::FORMAT_VERSION), ["abc", "def"]);
    }

    #[test]
    fn a_format_3_plan_with_its_objects_apart_reads_as_one() {
        let mut old = resource_create();
        old.as_object_mut().unwrap().remove("kind");
        let mut v3 = plan_json(json!([app_create()]));
        v3["format_version"] = json!(FORMAT_WITH_OBJECTS_APART);
        v3["objects"] = json!([old]);
        let plan: Plan = serde_json::from_value(v3).unwrap();
        assert_eq!(plan.changes.len(), 2);
        assert_eq!(plan.changes[0].name, "Resource/payouts");
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
    fn a_format_4_cascade_of_clients_reads_as_one_of_any_kind() {
        let delete = |cascade: Value| {
            json!({"action": "delete", "kind": "Application", "phase": "delete_apps",
                   "name": "Application/shop", "address": {"kind": "Application", "app": "shop"},
                   "app_id": "a1", "cascade": cascade})
        };
        let mut v4 = plan_json(json!([delete(json!([
            {"name": "Web", "client_id": "c1", "managed": true}
        ]))]));
        v4["format_version"] = json!(super::super::types::FORMAT_CASCADE_OF_CLIENTS);
        let plan: Plan = serde_json::from_value(v4).unwrap();
        let client = Cascaded {
            kind: AnyKind::Client,
            name: "Web".into(),
            id: "c1".into(),
            managed: true,
        };
        assert_eq!(plan.changes[0].cascade, std::slice::from_ref(&client));
        // Written back as the current format, with a role beside the client.
        let role = Cascaded {
            kind: AnyKind::Described(ObjKind::Role),
            name: "auditor".into(),
            id: "r1".into(),
            managed: false,
        };
        let mut plan = plan;
        plan.changes[0].cascade.push(role.clone());
        let now = serde_json::to_value(&plan).unwrap();
        assert_eq!(
            now["changes"][0]["cascade"],
            json!([
                {"kind": "Client", "name": "Web", "id": "c1", "managed": true},
                {"kind": "Role", "name": "auditor", "id": "r1", "managed": false},
            ])
        );
        let back: Plan = serde_json::from_value(now).unwrap();
        assert_eq!(back.changes[0].cascade, [client, role]);
        assert_eq!(back.changes[0].cascade[1].shown(), "Role `auditor` (r1)");
    }

    #[test]
    fn changes_of_different_kinds_out_of_phase_order_are_refused_before_execution() {
        // The resource's create runs before any application's: listed after one, the plan
        // was not written by tenantsync. It reads as written, and its check refuses it.
        let plan: Plan =
            serde_json::from_value(plan_json(json!([app_create(), resource_create()]))).unwrap();
        assert_eq!(plan.changes[1].name, "Resource/payouts");
        let defects = plan.check().unwrap_err();
        assert!(
            defects.contains(&crate::plan::PlanDefect::OutOfOrder {
                address: "Resource/https://api.example.com".into()
            }),
            "{defects:?}"
        );
        // Format 3's two lists keep their own order when they become one.
        let mut v3 = plan_json(json!([app_create()]));
        v3["format_version"] = json!(FORMAT_WITH_OBJECTS_APART);
        let mut delete = resource_create();
        delete["action"] = json!("delete");
        delete["phase"] = json!("delete_objects");
        v3["objects"] = json!([delete, resource_create()]);
        let plan: Plan = serde_json::from_value(v3).unwrap();
        let phases: Vec<Phase> = plan.changes.iter().map(|c| c.phase).collect();
        assert_eq!(
            phases,
            [
                Phase::CreateApps,
                Phase::DeleteObjects,
                Phase::CreateObjects
            ]
        );
        assert!(plan
            .check()
            .unwrap_err()
            .iter()
            .any(|d| matches!(d, crate::plan::PlanDefect::OutOfOrder { .. })));
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
        // A format-3 `objects` change (no kind of its own) whose address is an application's.
        let mut app_as_object = resource_create();
        app_as_object.as_object_mut().unwrap().remove("kind");
        app_as_object["address"] = json!({"kind": "Application", "app": "shop"});
        let mut v3 = plan_json(json!([app_create()]));
        v3["format_version"] = json!(FORMAT_WITH_OBJECTS_APART);
        v3["objects"] = json!([app_as_object]);
        let err = serde_json::from_value::<Plan>(v3).unwrap_err().to_string();
        assert!(
            err.contains("objects[0]: its address Application/shop is an application's"),
            "{err}"
        );
        // An application's record never names a document.
        let mut named = app_create();
        named["record"] =
            json!({"name": "x", "ownership": "created", "last_applied": {}, "protect": false});
        let err = serde_json::from_value::<Plan>(plan_json(json!([named])))
            .unwrap_err()
            .to_string();
        assert!(err.contains("changes[0]: its record has a `name`"), "{err}");
    }
}
