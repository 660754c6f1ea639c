//! The web page's model: one immutable [`Board`] per reconcile, built by a pure function from
//! what the round saw (state, manifests, plan, apply report, drift, history). Pages read it;
//! nothing here does I/O, and no value of a secret survives into it.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::sync::Arc;

use serde_json::{Map, Value};

use crate::drift::DriftRecord;
use crate::manifest::DesiredState;
use crate::plan::Plan;
use crate::reconcile::execute::{ApplyReport, Outcome};
use crate::reconcile::history::HistoryRecord;
use crate::state::address::Address;
use crate::state::entry::{StateSnapshot, SENSITIVE_KEY};

/// What the page says of an object, most urgent first (the order sorting by status uses).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ObjectStatus {
    /// Its last change failed.
    Failed,
    /// Changed outside tenantsync (an open drift episode).
    Drift,
    /// A change the daemon holds back (drift it only reports, a deletion it keeps).
    Held,
    /// The manifests say something the tenant does not have yet.
    Pending,
    /// The tenant matches the manifests.
    InSync,
}

impl ObjectStatus {
    /// Every status, in order.
    pub const ALL: [ObjectStatus; 5] = [
        ObjectStatus::Failed,
        ObjectStatus::Drift,
        ObjectStatus::Held,
        ObjectStatus::Pending,
        ObjectStatus::InSync,
    ];

    /// The name filters and CSS classes use.
    pub fn as_str(self) -> &'static str {
        match self {
            ObjectStatus::Failed => "failed",
            ObjectStatus::Drift => "drift",
            ObjectStatus::Held => "held",
            ObjectStatus::Pending => "pending",
            ObjectStatus::InSync => "in-sync",
        }
    }

    /// Parses [`Self::as_str`].
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

impl fmt::Display for ObjectStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ObjectStatus::InSync => "in sync",
            other => other.as_str(),
        })
    }
}

/// One managed (or to-be-managed) object, as the list shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// Its name as plans show it: `Application/shop`, `Client/shop/Web`, `Role/shop-admin`.
    pub key: String,
    /// `Application`, `Client`, `Resource`, …
    pub kind: String,
    /// The part after the kind (`shop/Web`).
    pub name: String,
    /// The `metadata.name` of its application, when it has one.
    pub application: Option<String>,
    /// What the page says of it.
    pub status: ObjectStatus,
    /// When tenantsync last wrote it (RFC 3339).
    pub applied_at: Option<String>,
    /// The manifests' revision of that write, when the history still has it.
    pub revision: Option<String>,
    /// Where the manifests define it (`file:line`), when they do.
    pub source: Option<String>,
    /// Its state entry, when it has one.
    pub(super) applied: Option<Address>,
}

/// One apply of the history, as the object page lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct ObjectEvent {
    /// When the apply finished.
    pub time: String,
    /// The manifests' revision.
    pub revision: Option<String>,
    /// What was planned (`create`, `update`, …).
    pub action: String,
    /// `ok`, `failed: …`, `skipped: …`.
    pub outcome: String,
}

/// Everything the page knows of one object beyond its row.
#[derive(Debug, Clone, PartialEq)]
pub struct Detail<'a> {
    /// Its row.
    pub row: &'a Row,
    /// Where its manifest defines it (`manifests/shop.yaml:3`).
    pub source: Option<&'a str>,
    /// The values last applied, as YAML, secrets shown as `(sensitive)`.
    pub last_applied: Option<String>,
    /// The change the last plan had for it, rendered like the plan.
    pub diff: Option<&'a str>,
    /// Why its last change failed.
    pub failure: Option<&'a str>,
    /// Its drift episodes, open first, then ended ones newest first.
    pub drift: Vec<&'a DriftRecord>,
    /// The applies that touched it, newest first.
    pub history: Vec<ObjectEvent>,
}

/// What one reconcile gives the board.
pub struct Round<'a> {
    /// The state after the round.
    pub state: Arc<StateSnapshot>,
    /// The manifests in force.
    pub desired: Option<&'a DesiredState>,
    /// The round's plan and what carrying it out did (none when it failed before that).
    pub plan: Option<(&'a Plan, &'a ApplyReport)>,
    /// Open drift episodes.
    pub open_drift: Vec<DriftRecord>,
    /// Ended drift episodes, newest first (at most [`ENDED_DRIFT_KEPT`] are kept).
    pub ended_drift: Arc<Vec<DriftRecord>>,
    /// History records, newest first (at most [`HISTORY_KEPT`] are kept); shared with the
    /// previous board when the round added none.
    pub history: Arc<Vec<HistoryRecord>>,
}

/// The page's model of the tenant after one reconcile.
#[derive(Debug, Default)]
pub struct Board {
    /// Sorted by key (a page looks one up by binary search).
    rows: Vec<Row>,
    state: Arc<StateSnapshot>,
    diffs: BTreeMap<String, String>,
    failures: HashMap<String, String>,
    open_drift: Vec<DriftRecord>,
    ended_drift: Arc<Vec<DriftRecord>>,
    history: Arc<Vec<HistoryRecord>>,
}

/// How many history records the board keeps (the object pages' history and revisions).
pub const HISTORY_KEPT: usize = 50;
/// How many ended drift episodes the board keeps.
pub const ENDED_DRIFT_KEPT: usize = 500;

impl Board {
    /// Builds the board of one round.
    pub fn build(round: Round<'_>) -> Self {
        let Round {
            state,
            desired,
            plan,
            open_drift,
            ended_drift,
            history,
        } = round;
        let mut rows: BTreeMap<String, Row> = BTreeMap::new();
        // A row per key: from the state (with its entry) and from the manifests (with where
        // they define it), whichever comes first, completed by the other.
        let mut add = |key: String,
                       application: Option<&str>,
                       applied: Option<(Address, &str)>,
                       source: Option<String>| {
            let row = rows.entry(key).or_insert_with_key(|key| {
                let (kind, name) = key.split_once('/').unwrap_or((key.as_str(), ""));
                Row {
                    kind: kind.to_owned(),
                    name: name.to_owned(),
                    key: key.clone(),
                    application: application.map(str::to_owned),
                    status: ObjectStatus::InSync,
                    applied_at: None,
                    revision: None,
                    source: None,
                    applied: None,
                }
            });
            if let Some((entry, at)) = applied {
                row.applied = Some(entry);
                row.applied_at = Some(at.to_owned());
            }
            if source.is_some() {
                row.source = source;
            }
        };
        for (address, entry) in &state.entries {
            let key = row_of(address, &entry.name);
            let applied = Some((address.clone(), entry.applied_at.as_str()));
            add(key, address.application(), applied, None);
        }
        let mut wanted = HashSet::new();
        if let Some(desired) = desired {
            for (address, written) in desired.each() {
                let key = row_of(address, &written.name);
                wanted.insert(key.clone());
                add(
                    key,
                    address.application(),
                    None,
                    Some(written.origin.to_string()),
                );
            }
        }
        let (diffs, failures, held, pending) = match plan {
            Some((plan, report)) => planned(plan, report),
            None => Default::default(),
        };
        let drifting: HashSet<String> = open_drift
            .iter()
            .filter_map(|r| row_key(&state, &r.object))
            .collect();
        let revisions = revisions(&history);
        for row in rows.values_mut() {
            let key = row.key.as_str();
            row.status = if failures.contains_key(key) {
                ObjectStatus::Failed
            } else if drifting.contains(key) {
                ObjectStatus::Drift
            } else if held.contains(key) {
                ObjectStatus::Held
            } else if pending.contains(key)
                || (desired.is_some() && !wanted.contains(key))
                || row.applied_at.is_none()
            {
                ObjectStatus::Pending
            } else {
                ObjectStatus::InSync
            };
            row.revision = revisions.get(key).cloned().flatten();
        }
        // A client written with its application (the default client, made by the
        // application's create) has no history entry of its own: its application's stands in.
        let apps: HashMap<String, Option<String>> = rows
            .values()
            .filter(|r| r.kind == "Application")
            .map(|r| (r.name.clone(), r.revision.clone()))
            .collect();
        for row in rows.values_mut() {
            if row.kind == "Client" && !revisions.contains_key(row.key.as_str()) {
                if let Some(app) = row.application.as_ref().and_then(|a| apps.get(a)) {
                    row.revision.clone_from(app);
                }
            }
        }
        let rows: Vec<Row> = rows.into_values().collect();
        Self {
            rows,
            state,
            diffs,
            failures,
            open_drift,
            ended_drift,
            history,
        }
    }

    /// Every object, by key.
    pub fn rows(&self) -> &[Row] {
        &self.rows
    }

    /// The applies the board keeps, newest first.
    pub fn history(&self) -> &[HistoryRecord] {
        &self.history
    }

    /// The same, shared with the next board.
    pub fn history_shared(&self) -> Arc<Vec<HistoryRecord>> {
        self.history.clone()
    }

    /// The ended drift episodes the board keeps, shared with the next board.
    pub fn ended_drift_shared(&self) -> Arc<Vec<DriftRecord>> {
        self.ended_drift.clone()
    }

    /// How many objects have each status.
    pub fn counts(&self) -> BTreeMap<ObjectStatus, usize> {
        let mut counts = BTreeMap::new();
        for row in &self.rows {
            *counts.entry(row.status).or_default() += 1;
        }
        counts
    }

    /// The kinds present, sorted.
    pub fn kinds(&self) -> Vec<&str> {
        let mut kinds: Vec<&str> = self.rows.iter().map(|r| r.kind.as_str()).collect();
        kinds.sort_unstable();
        kinds.dedup();
        kinds
    }

    /// Rows needing attention (failed, drift, held), most urgent first.
    pub fn attention(&self) -> Vec<&Row> {
        let mut rows: Vec<&Row> = self
            .rows
            .iter()
            .filter(|r| r.status <= ObjectStatus::Held)
            .collect();
        rows.sort_by_key(|r| r.status);
        rows
    }

    /// Why an object's last change failed.
    pub fn failure(&self, key: &str) -> Option<&str> {
        self.failures.get(key).map(String::as_str)
    }

    /// The open drift episode of an object.
    pub fn open_drift(&self, key: &str) -> Option<&DriftRecord> {
        self.open_drift
            .iter()
            .find(|r| row_key(&self.state, &r.object).as_deref() == Some(key))
    }

    /// One object's page, if the board has it.
    pub fn detail(&self, key: &str) -> Option<Detail<'_>> {
        let at = self
            .rows
            .binary_search_by(|r| r.key.as_str().cmp(key))
            .ok()?;
        let row = &self.rows[at];
        let last_applied = row
            .applied
            .as_ref()
            .and_then(|a| Some(shown_values(&self.state.entries.get(a)?.last_applied)));
        let drift = self
            .open_drift
            .iter()
            .chain(self.ended_drift.iter())
            .filter(|r| row_key(&self.state, &r.object).as_deref() == Some(key))
            .collect();
        let history = self
            .history
            .iter()
            .flat_map(|record| {
                record
                    .report
                    .objects
                    .iter()
                    .filter(|o| o.name == key)
                    .map(|o| ObjectEvent {
                        time: record.time.clone(),
                        revision: record.manifests_revision.clone(),
                        action: format!("{:?}", o.action).to_lowercase(),
                        outcome: match &o.outcome {
                            Outcome::Ok => "ok".to_owned(),
                            Outcome::Failed { message } => format!("failed: {message}"),
                            Outcome::Skipped { message } => format!("skipped: {message}"),
                        },
                    })
            })
            .collect();
        Some(Detail {
            row,
            source: row.source.as_deref(),
            last_applied,
            diff: self.diffs.get(key).map(String::as_str),
            failure: self.failure(key),
            drift,
            history,
        })
    }
}

/// An object's row key: its address for an application or client, its kind and
/// `metadata.name` (`name`) for a described kind's.
fn row_of(address: &Address, name: &str) -> String {
    match address.described() {
        None => address.to_string(),
        Some(kind) => format!("{kind}/{name}"),
    }
}

/// The row key of a drift episode's object ([`row_of`]; a described kind's as long as the
/// state maps it).
fn row_key(state: &StateSnapshot, object: &Address) -> Option<String> {
    match object.described() {
        None => Some(object.to_string()),
        Some(_) => state.entry(object).map(|e| row_of(object, &e.name)),
    }
}

type Planned = (
    BTreeMap<String, String>,
    HashMap<String, String>,
    HashSet<String>,
    HashSet<String>,
);

/// What a round's plan and report say per object: diffs, failures, held and still-pending keys.
fn planned(plan: &Plan, report: &ApplyReport) -> Planned {
    let diffs = crate::plan::render::blocks_by_name(plan);
    let mut failures = HashMap::new();
    let mut done = HashSet::new();
    for result in &report.objects {
        match &result.outcome {
            Outcome::Failed { message } => {
                failures.insert(result.name.clone(), message.clone());
            }
            Outcome::Ok => {
                done.insert(result.name.as_str());
            }
            Outcome::Skipped { .. } => {}
        }
    }
    let held = plan
        .held_for_drift
        .iter()
        .map(|c| c.name.clone())
        .chain(plan.skipped_deletes.iter().map(|s| s.name.clone()))
        .collect();
    let pending = plan
        .changes
        .iter()
        .map(|c| c.name.as_str())
        .filter(|name| !done.contains(name))
        .map(str::to_owned)
        .collect();
    (diffs, failures, held, pending)
}

/// The revision of each object's newest successful write the history holds (`None` inside:
/// written outside git).
fn revisions(history: &[HistoryRecord]) -> HashMap<&str, Option<String>> {
    let mut out = HashMap::new();
    for record in history {
        for object in &record.report.objects {
            if object.outcome == Outcome::Ok {
                out.entry(object.name.as_str())
                    .or_insert_with(|| record.manifests_revision.clone());
            }
        }
    }
    out
}

/// Values last applied as YAML, every hashed secret shown as `(sensitive)`.
pub fn shown_values(values: &Map<String, Value>) -> String {
    fn hide(value: &Value) -> Value {
        match value {
            Value::Object(m) if m.contains_key(SENSITIVE_KEY) => {
                Value::String("(sensitive)".to_owned())
            }
            Value::Object(m) => {
                Value::Object(m.iter().map(|(k, v)| (k.clone(), hide(v))).collect())
            }
            Value::Array(items) => Value::Array(items.iter().map(hide).collect()),
            other => other.clone(),
        }
    }
    let shown = hide(&Value::Object(values.clone()));
    serde_yaml::to_string(&shown).unwrap_or_default()
}

#[cfg(test)]
#[path = "view_tests.rs"]
mod tests;
