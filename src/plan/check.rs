//! The plan's invariants, and the typed view of each change that execution works from: a
//! [`Change`] is flat data (it is what the JSON plan holds), an [`Op`] is what it sends, checked.

use std::collections::BTreeSet;

use serde_json::{Map, Value};

use super::types::{Action, Change, DefaultClientRecord, Phase, Plan, Record};
use crate::model::kinds::{AnyKind, KindSpec};
use crate::model::ClientKey;
use crate::state::entry::Kind;
use crate::state::object::AnyAddress;

/// The live object a change writes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObjectId<'a> {
    /// An application.
    App {
        /// Its id.
        app_id: &'a str,
    },
    /// A client.
    Client(ClientKey<'a>),
}

/// The application a new client is created in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppRef<'a> {
    /// An application that exists: its id.
    Live(&'a str),
    /// An application the same plan creates first: its manifest key.
    CreatedInThisPlan(&'a str),
}

/// What one change sends and records.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Op<'a> {
    /// Create an application together with its default client.
    CreateApp {
        /// The create body.
        body: &'a Map<String, Value>,
        /// What the state records for the app.
        record: &'a Record,
        /// The default client created with it.
        default_client: Option<&'a DefaultClientRecord>,
    },
    /// Create a client.
    CreateClient {
        /// Where.
        app: AppRef<'a>,
        /// The create body.
        body: &'a Map<String, Value>,
        /// What the state records.
        record: &'a Record,
    },
    /// Update (or adopt) an object; without a body only the state is written.
    Update {
        /// The object.
        object: ObjectId<'a>,
        /// The full PUT body, when the live object differs.
        body: Option<&'a Map<String, Value>>,
        /// What the state records.
        record: &'a Record,
    },
    /// Delete an object (or only forget it, when it is already gone).
    Delete {
        /// The object.
        object: ObjectId<'a>,
        /// The live object is gone already; only the state entry is removed.
        already_gone: bool,
    },
}

/// A way a plan can be inconsistent: a bug in the planner, or a plan file edited by hand.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanDefect {
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
    /// A described kind's change where an application's or a client's was expected.
    #[error("{address}: not an application's or a client's change")]
    NotAnApplication {
        /// The object.
        address: String,
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
    /// The id of the live application or client this change writes to, if it has one.
    fn object_id(&self) -> Option<ObjectId<'_>> {
        let app_id = non_empty(self.app_id.as_ref())?;
        match self.app_address()?.kind {
            Kind::Application => Some(ObjectId::App { app_id }),
            Kind::Client => Some(ObjectId::Client(ClientKey::new(
                app_id,
                non_empty(self.id.as_ref())?,
            ))),
        }
    }

    /// The body sent: with secret values when the plan holds them in memory.
    fn sent_body(&self) -> Option<&Map<String, Value>> {
        self.body_secret.as_ref().or(self.body.as_ref())
    }

    /// What this application's or client's change sends, or why it is not a change execution
    /// can carry out.
    pub fn op(&self) -> Result<Op<'_>, PlanDefect> {
        let address = || self.address.to_string();
        let Some(app_address) = self.app_address() else {
            return Err(PlanDefect::NotAnApplication { address: address() });
        };
        let record = || {
            self.record.as_ref().ok_or(PlanDefect::MissingRecord {
                address: address(),
                action: self.action,
            })
        };
        let object_id = || {
            self.object_id().ok_or(PlanDefect::MissingId {
                address: address(),
                action: self.action,
            })
        };
        match self.action {
            Action::Create => {
                let body = self
                    .sent_body()
                    .ok_or(PlanDefect::MissingBody { address: address() })?;
                match app_address.kind {
                    Kind::Application => Ok(Op::CreateApp {
                        body,
                        record: record()?,
                        default_client: self.default_client.as_ref(),
                    }),
                    Kind::Client => Ok(Op::CreateClient {
                        app: match non_empty(self.app_id.as_ref()) {
                            Some(id) => AppRef::Live(id),
                            None => AppRef::CreatedInThisPlan(&app_address.app),
                        },
                        body,
                        record: record()?,
                    }),
                }
            }
            Action::Update | Action::Adopt => Ok(Op::Update {
                object: object_id()?,
                body: self.sent_body(),
                record: record()?,
            }),
            Action::Delete => Ok(Op::Delete {
                object: object_id()?,
                already_gone: self.state_only,
            }),
        }
    }
}

impl Plan {
    /// Checks the invariants execution relies on: every change is one execution can carry out
    /// (an application's or client's a valid [`Op`]), in the phase its action and kind run in,
    /// the changes are in phase order, no object is changed twice, every new client's
    /// application exists or is created first, and the summary counts the changes. Returns
    /// every defect found.
    pub fn check(&self) -> Result<(), Vec<PlanDefect>> {
        let mut defects = Vec::new();
        let mut seen: BTreeSet<&AnyAddress> = BTreeSet::new();
        let created_apps: BTreeSet<&str> = self
            .changes
            .iter()
            .filter(|c| c.action == Action::Create && c.kind() == AnyKind::Application)
            .filter_map(|c| c.address.app())
            .collect();
        let mut last_phase = Phase::ALL[0];
        for change in &self.changes {
            let address = || change.address.to_string();
            let expected = Phase::of(change.action, change.kind());
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
            match change.object_address() {
                Some(object) => check_object(change, object.kind.spec(), &mut defects),
                None => match change.op() {
                    Ok(Op::CreateClient {
                        app: AppRef::CreatedInThisPlan(app),
                        ..
                    }) if !created_apps.contains(app) => defects.push(PlanDefect::OrphanClient {
                        address: address(),
                        app: app.to_owned(),
                    }),
                    Ok(_) => {}
                    Err(defect) => defects.push(defect),
                },
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

/// The invariants of a described kind's change: a create with a body, every write with its
/// record (naming its document), a delete or update of an object with an id has it.
fn check_object(change: &Change, spec: &KindSpec, defects: &mut Vec<PlanDefect>) {
    let address = || change.address.to_string();
    match change.action {
        Action::Create if change.body.is_none() => {
            defects.push(PlanDefect::MissingBody { address: address() });
        }
        Action::Delete
            if !change.state_only && spec.api.id_field.is_some() && change.id.is_none() =>
        {
            defects.push(PlanDefect::MissingId {
                address: address(),
                action: change.action,
            });
        }
        Action::Update | Action::Adopt
            if change.body.is_some() && spec.api.id_field.is_some() && change.id.is_none() =>
        {
            defects.push(PlanDefect::MissingId {
                address: address(),
                action: change.action,
            });
        }
        Action::Delete => {}
        _ if change.record.as_ref().is_none_or(|r| r.name.is_none()) => {
            defects.push(PlanDefect::MissingRecord {
                address: address(),
                action: change.action,
            });
        }
        _ => {}
    }
}

/// A change runs in the phase its action and kind say, and comes no earlier than the changes
/// listed before it.
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
    use crate::state::entry::{Address, Ownership};

    fn record() -> Record {
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
            body: (action == Action::Create).then(Map::new),
            record: (action != Action::Delete).then(record),
            ..Change::new(action, address.clone().into(), address.to_string())
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
mod tests {
    use super::fixtures::{change, plan};
    use super::*;
    use crate::state::entry::Address;

    #[test]
    fn a_well_formed_plan_passes() {
        let p = plan(vec![
            change(Action::Create, Address::app("food"), None),
            change(Action::Create, Address::client("food", "iOS"), None),
            change(Action::Update, Address::app("shop"), Some("a1")),
        ]);
        assert_eq!(p.check(), Ok(()));
        assert!(matches!(
            p.changes[1].op(),
            Ok(Op::CreateClient {
                app: AppRef::CreatedInThisPlan("food"),
                ..
            })
        ));
    }

    #[test]
    fn every_defect_is_reported() {
        let mut update_without_id = change(Action::Update, Address::app("shop"), None);
        update_without_id.phase = Phase::DeleteApps;
        let orphan = change(Action::Create, Address::client("gone", "iOS"), None);
        let delete_client = change(Action::Delete, Address::client("x", "c"), Some("a1"));
        let mut p = plan(vec![
            update_without_id,
            orphan,
            delete_client.clone(),
            delete_client,
        ]);
        p.summary.create = 5;
        let defects = p.check().unwrap_err();
        let has = |f: &dyn Fn(&PlanDefect) -> bool| defects.iter().any(f);
        assert!(has(&|d| matches!(
            d,
            PlanDefect::WrongPhase {
                expected: Phase::UpdateApps,
                ..
            }
        )));
        assert!(has(&|d| matches!(
            d,
            PlanDefect::MissingId {
                action: Action::Update,
                ..
            }
        )));
        assert!(has(&|d| matches!(d, PlanDefect::OutOfOrder { .. })));
        assert!(has(
            &|d| matches!(d, PlanDefect::OrphanClient { app, .. } if app == "gone")
        ));
        // A client deletion needs the client's id, not only the app's.
        assert!(has(&|d| matches!(
            d,
            PlanDefect::MissingId {
                action: Action::Delete,
                ..
            }
        )));
        assert!(has(&|d| matches!(d, PlanDefect::Duplicate { .. })));
        assert!(has(&|d| matches!(
            d,
            PlanDefect::SummaryMismatch {
                action: Action::Create,
                summary: 5,
                actual: 1
            }
        )));
    }

    #[test]
    fn phases_run_in_dependency_order() {
        let mut sorted = Phase::ALL;
        sorted.sort();
        assert_eq!(sorted, Phase::ALL);
        assert!(
            Phase::of(Action::Create, AnyKind::Application)
                < Phase::of(Action::Create, AnyKind::Client)
        );
        assert!(
            Phase::of(Action::Delete, AnyKind::Client)
                < Phase::of(Action::Delete, AnyKind::Application)
        );
        assert!(Phase::ALL.iter().filter(|p| p.creates()).count() == 2);
    }
}
