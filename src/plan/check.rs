//! The plan's invariants, and the typed view of each change that execution works from: a
//! [`Change`] is flat data (it is what the JSON plan holds), an [`Op`] is what it sends, checked.

use std::collections::BTreeSet;

use serde_json::{Map, Value};

use super::types::{Action, Body, Change, DefaultClientRecord, Phase, Plan, Record};
use crate::model::kinds::AnyKind;
use crate::state::address::Address;

/// The live object a change writes to, of any kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ObjectId<'a> {
    /// Its kind.
    pub kind: AnyKind,
    /// The application it belongs to: a client's, a parented kind's (`None`: an application,
    /// or a kind that belongs to none).
    pub app: Option<AppRef<'a>>,
    /// Its own id (an application's is its app id). `None`: a singleton, or an object whose
    /// id upstream did not answer, which only the state is written for.
    pub id: Option<&'a str>,
}

/// The application a new client (or an object of a parented kind) is created in, or an object
/// belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppRef<'a> {
    /// An application that exists: its id.
    Live(&'a str),
    /// An application the same plan creates first: its manifest key.
    CreatedInThisPlan(&'a str),
}

/// What one change sends and records, for every kind.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Op<'a> {
    /// Create an application together with its default client (journaled first: upstream
    /// lets two applications share a name, so only the journal finds a lost create again).
    CreateApp {
        /// The create body.
        body: &'a Map<String, Value>,
        /// What the state records for the app.
        record: &'a Record,
        /// The default client created with it.
        default_client: Option<&'a DefaultClientRecord>,
    },
    /// Create an object of any other kind.
    Create {
        /// Its kind.
        kind: AnyKind,
        /// The application it is created in: a client's, a parented kind's.
        app: Option<AppRef<'a>>,
        /// The create body.
        body: &'a Map<String, Value>,
        /// What the state records.
        record: &'a Record,
        /// Journaled before it is sent, as an application: its kind's key is not unique
        /// upstream (`KindSpec::unique_key`: a client's name), so only the journal finds a
        /// create lost to a crash. Else one created before a crash is adopted by its key on
        /// the next plan.
        journaled: bool,
    },
    /// Update (or adopt) an object; without a body only the state is written.
    Update {
        /// The object.
        object: ObjectId<'a>,
        /// The body sent, when the live object differs.
        body: Option<&'a Map<String, Value>>,
        /// What the state records.
        record: &'a Record,
    },
    /// Delete an object (or only forget it: it is gone already, or its kind cannot be
    /// deleted).
    Delete {
        /// The object.
        object: ObjectId<'a>,
        /// Only the state entry is removed.
        already_gone: bool,
    },
}

impl Op<'_> {
    /// Whether it is a create journaled before it is sent (an application's, a client's).
    pub fn journaled(&self) -> bool {
        matches!(
            self,
            Op::CreateApp { .. }
                | Op::Create {
                    journaled: true,
                    ..
                }
        )
    }
}

/// A way a plan can be inconsistent: a bug in the planner, or a plan file edited by hand.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanDefect {
    /// A change moving a state entry from where no move can come: an object of another kind
    /// or application, a change other than an update, or an address another change writes.
    #[error("{address}: cannot move its state entry from {from}: {why}")]
    BadMove {
        /// The object.
        address: String,
        /// Where the entry was.
        from: String,
        /// What is wrong.
        why: &'static str,
    },
    /// An update or deletion without the id of the object it writes to.
    #[error("{address}: a {action:?} without the live id it writes to")]
    MissingId {
        /// The object.
        address: String,
        /// Its action.
        action: Action,
    },
    /// A create or update without the state record it leaves behind.
    #[error("{address}: a {action:?} without the state record it leaves")]
    MissingRecord {
        /// The object.
        address: String,
        /// Its action.
        action: Action,
    },
    /// A create without a body.
    #[error("{address}: a create without a request body")]
    MissingBody {
        /// The object.
        address: String,
    },
    /// The change's phase is not the one its action and kind run in.
    #[error("{address}: phase {phase:?}, but a {action:?} runs in {expected:?}")]
    WrongPhase {
        /// The object.
        address: String,
        /// Its action.
        action: Action,
        /// The phase it has.
        phase: Phase,
        /// The phase it should have.
        expected: Phase,
    },
    /// A change listed after a change of a later phase.
    #[error("{address}: listed after a change of a later phase")]
    OutOfOrder {
        /// The object.
        address: String,
    },
    /// Two changes for one object.
    #[error("{address}: changed twice in one plan")]
    Duplicate {
        /// The object.
        address: String,
    },
    /// A client created in an application that neither exists nor is created by the plan.
    #[error("{address}: created in application `{app}`, which the plan neither has an id for nor creates")]
    OrphanClient {
        /// The client.
        address: String,
        /// The application key.
        app: String,
    },
    /// The summary does not count the changes.
    #[error("the summary counts {summary} {action:?} changes, the plan holds {actual}")]
    SummaryMismatch {
        /// The action.
        action: Action,
        /// Counted in the summary.
        summary: usize,
        /// In the plan.
        actual: usize,
    },
}

fn non_empty(id: Option<&String>) -> Option<&str> {
    id.map(String::as_str).filter(|id| !id.is_empty())
}

impl Change {
    /// The application this change's object belongs to, or is created in: one that exists
    /// (its id), or one this plan creates (its key).
    fn app_ref(&self) -> Option<AppRef<'_>> {
        if self.address.kind == AnyKind::Application {
            return None;
        }
        let key = self.address.application()?;
        Some(match non_empty(self.app_id.as_ref()) {
            Some(id) => AppRef::Live(id),
            None => AppRef::CreatedInThisPlan(key),
        })
    }

    /// The live object this change writes to. `needs_ids`: it must name the object by id (an
    /// object of a kind with ids, in an application that exists).
    fn object_id(&self, needs_ids: bool) -> Result<ObjectId<'_>, PlanDefect> {
        let kind = self.kind();
        let spec = kind.spec();
        let id = match kind {
            AnyKind::Application => non_empty(self.app_id.as_ref()),
            _ => non_empty(self.id.as_ref()),
        };
        let app = self.app_ref();
        let has_ids = spec.api.id_field.is_some();
        let missing = needs_ids
            && has_ids
            && (id.is_none() || matches!(app, Some(AppRef::CreatedInThisPlan(_))));
        if missing {
            return Err(PlanDefect::MissingId {
                address: self.address.to_string(),
                action: self.action,
            });
        }
        Ok(ObjectId { kind, app, id })
    }

    /// The body sent: with secret values when the plan holds them in memory.
    fn sent_body(&self) -> Option<&Map<String, Value>> {
        self.body.as_ref().map(Body::to_send)
    }

    /// What this change sends, or why it is not a change execution can carry out.
    pub fn op(&self) -> Result<Op<'_>, PlanDefect> {
        let address = || self.address.to_string();
        // A described kind's record names its document (the state shows it by that name).
        let record = || {
            self.record
                .as_ref()
                .filter(|r| self.object_address().is_none() || r.name.is_some())
                .ok_or(PlanDefect::MissingRecord {
                    address: address(),
                    action: self.action,
                })
        };
        // An application's or a client's state entry is found again by its ids (by refresh, by
        // the journal), so even a change that writes only the state must have them; a
        // described kind's needs them only to write to the object.
        let found_by_ids = self.app_address().is_some();
        match self.action {
            Action::Create => {
                let body = self
                    .sent_body()
                    .ok_or(PlanDefect::MissingBody { address: address() })?;
                let record = record()?;
                Ok(match (self.kind(), self.app_ref()) {
                    (AnyKind::Application, _) => Op::CreateApp {
                        body,
                        record,
                        default_client: self.default_client.as_ref(),
                    },
                    (kind, app) => Op::Create {
                        kind,
                        app,
                        body,
                        record,
                        journaled: !kind.spec().unique_key,
                    },
                })
            }
            Action::Update | Action::Adopt => {
                let body = self.sent_body();
                Ok(Op::Update {
                    object: self.object_id(found_by_ids || body.is_some())?,
                    body,
                    record: record()?,
                })
            }
            Action::Delete => Ok(Op::Delete {
                object: self.object_id(found_by_ids || !self.state_only)?,
                already_gone: self.state_only,
            }),
        }
    }
}

impl Plan {
    /// Checks the invariants execution relies on: every change is one execution can carry out
    /// (a valid [`Op`]), in the phase its action and kind run in,
    /// the changes are in phase order, no object is changed twice, every new client's
    /// application exists or is created first, and the summary counts the changes. Returns
    /// every defect found.
    pub fn check(&self) -> Result<(), Vec<PlanDefect>> {
        let mut defects = Vec::new();
        let mut seen: BTreeSet<&Address> = BTreeSet::new();
        let created_apps: BTreeSet<&str> = self
            .changes
            .iter()
            .filter(|c| c.action == Action::Create && c.kind() == AnyKind::Application)
            .filter_map(|c| c.address.application())
            .collect();
        let addresses: BTreeSet<&Address> = self.changes.iter().map(|c| &c.address).collect();
        let mut moved: BTreeSet<&Address> = BTreeSet::new();
        // Every move, of a change or of a state update alone: within its kind and application,
        // from an address nothing else in the plan writes or moves.
        let moves = self
            .changes
            .iter()
            .filter_map(|c| Some((&c.address, c.moved_from.as_ref()?, Some(c.action))))
            .chain(
                self.state_updates
                    .iter()
                    .filter_map(|u| Some((&u.address, u.moved_from.as_ref()?, None))),
            );
        for (to, from, action) in moves {
            let why = match to.as_object() {
                _ if action.is_some_and(|a| a != Action::Update) => {
                    Some("only an update moves one")
                }
                Some(to) if to.kind == from.kind && to.app == from.app && to != from => {
                    if addresses.contains(&from.clone()) {
                        Some("another change of the plan writes that object")
                    } else if !moved.insert(from) {
                        Some("another change of the plan moves that entry")
                    } else {
                        None
                    }
                }
                _ => Some("an entry moves within its kind and application only"),
            };
            if let Some(why) = why {
                defects.push(PlanDefect::BadMove {
                    address: to.to_string(),
                    from: from.to_string(),
                    why,
                });
            }
        }
        let mut last_phase = Phase::ALL[0];
        for change in &self.changes {
            let address = || change.address.to_string();
            let released =
                change.phase == Phase::Release && Phase::may_release(change.action, change.kind());
            let expected = match released {
                true => Phase::Release,
                false => Phase::of(change.action, change.kind()),
            };
            in_order(
                &address,
                change.action,
                change.phase,
                expected,
                &mut last_phase,
                &mut defects,
            );
            if !seen.insert(&change.address) {
                defects.push(PlanDefect::Duplicate { address: address() });
            }
            match change.op() {
                Ok(Op::Create {
                    kind: AnyKind::Client,
                    app: Some(AppRef::CreatedInThisPlan(app)),
                    ..
                }) if !created_apps.contains(app) => defects.push(PlanDefect::OrphanClient {
                    address: address(),
                    app: app.to_owned(),
                }),
                Ok(_) => {}
                Err(defect) => defects.push(defect),
            }
        }
        for (action, summary) in [
            (Action::Create, self.summary.create),
            (Action::Update, self.summary.update),
            (Action::Adopt, self.summary.adopt),
            (Action::Delete, self.summary.delete),
        ] {
            let actual = self.count(action);
            if actual != summary {
                defects.push(PlanDefect::SummaryMismatch {
                    action,
                    summary,
                    actual,
                });
            }
        }
        if defects.is_empty() {
            Ok(())
        } else {
            Err(defects)
        }
    }
}

/// A change runs in the phase its action and kind say, or in `release` where that kind may
/// (`Phase::may_release`: an application giving a unique value up, and the deletions of its
/// objects; running those early only reorders what the plan does), and comes no earlier than
/// the changes listed before it.
fn in_order(
    address: &dyn Fn() -> String,
    action: Action,
    phase: Phase,
    expected: Phase,
    last_phase: &mut Phase,
    defects: &mut Vec<PlanDefect>,
) {
    if phase != expected {
        defects.push(PlanDefect::WrongPhase {
            address: address(),
            action,
            phase,
            expected,
        });
    }
    if phase < *last_phase {
        defects.push(PlanDefect::OutOfOrder { address: address() });
    }
    *last_phase = (*last_phase).max(phase);
}

/// Plan and change builders for unit tests, shared by the modules that check or hold plans.
#[cfg(test)]
pub(crate) mod fixtures {
    use super::*;
    use crate::plan::Summary;
    use crate::state::entry::Ownership;

    pub(crate) fn record() -> Record {
        Record {
            name: None,
            ownership: Ownership::Created,
            last_applied: Map::new(),
            protect: false,
        }
    }

    pub(crate) fn change(action: Action, address: Address, app_id: Option<&str>) -> Change {
        Change {
            app_id: app_id.map(str::to_owned),
            body: (action == Action::Create).then(|| Body::planned(Map::new(), Map::new())),
            record: (action != Action::Delete).then(record),
            ..Change::new(action, address.clone(), address.to_string())
        }
    }

    pub(crate) fn plan(changes: Vec<Change>) -> Plan {
        let count = |a: Action| changes.iter().filter(|c| c.action == a).count();
        Plan {
            format_version: crate::plan::FORMAT_VERSION,
            summary: Summary {
                create: count(Action::Create),
                update: count(Action::Update),
                delete: count(Action::Delete),
                adopt: count(Action::Adopt),
                ..Summary::default()
            },
            changes,
            skipped_deletes: Vec::new(),
            state_updates: Vec::new(),
            held_for_drift: Vec::new(),
            warnings: Vec::new(),
            references: Default::default(),
            deferred: false,
            target: String::new(),
            state_lineage: String::new(),
            manifests_fingerprint: String::new(),
            not_refreshed: None,
            refreshed: None,
        }
    }
}

#[cfg(test)]
#[path = "check_tests.rs"]
mod tests;
