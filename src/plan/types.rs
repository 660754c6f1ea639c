//! The plan as data: its options, its errors, and each change with what it sends and records;
//! serialized as the JSON plan (`--format json`, `plan --out`).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::diff::FieldChange;
use crate::state::entry::{Address, Kind, Ownership};
use crate::state::object::AnyAddress;

/// Version of the JSON plan format.
pub const FORMAT_VERSION: u32 = 4;

/// Options that shape a plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanOptions {
    /// Delete managed objects that left the manifests.
    pub prune: bool,
    /// Refuse plans deleting more than this many objects.
    pub max_deletes: usize,
    /// Allow more deletions than `max_deletes`.
    pub allow_mass_delete: bool,
    /// Past `max_deletes` (without `allow_mass_delete`), hold the deletions and plan every
    /// other change instead of refusing the plan: the daemon's choice, since a refused round
    /// would hold back every other change behind the deletions too.
    pub hold_mass_delete: bool,
    /// Allow deleting an application with clients tenantsync does not manage.
    pub allow_cascade: bool,
    /// Plan creates even when the credential may not see the whole tenant.
    pub assume_full_view: bool,
}

impl Default for PlanOptions {
    fn default() -> Self {
        Self {
            prune: false,
            max_deletes: 10,
            allow_mass_delete: false,
            hold_mass_delete: false,
            allow_cascade: false,
            assume_full_view: false,
        }
    }
}

/// Why no plan could be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    /// Several live objects match a key that the state does not map yet.
    #[error(
        "{address}: {count} live {what} are named `{name}` ({ids}); tenantsync will not guess which one to manage. \
         Pick one with `tenantsync import {address} <id>`"
    )]
    AmbiguousAdoption {
        /// The manifest object.
        address: String,
        /// What kind of object.
        what: &'static str,
        /// The name shared.
        name: String,
        /// How many match.
        count: usize,
        /// Their ids.
        ids: String,
    },
    /// A client's protocol differs between the manifest and the live object.
    #[error(
        "{address}: the live client is {live} but the manifest says {desired}; the API cannot change a client's protocol. \
         Give the client a new name to create it anew (and --prune the old one)"
    )]
    ProtocolChange {
        /// The client.
        address: String,
        /// Live protocol.
        live: String,
        /// Manifest protocol.
        desired: String,
    },
    /// The plan deletes more than allowed.
    #[error(
        "the plan deletes {count} objects, more than --max-deletes {max}; review it, then raise --max-deletes or pass --allow-mass-delete"
    )]
    MassDelete {
        /// Deletions planned.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// Deleting an application would delete clients tenantsync never created or adopted.
    #[error(
        "refused: deleting an application deletes every client it has, and these were never created or adopted by tenantsync: {}. \
         Move them to another application, manage them in the manifests, or pass --allow-cascade to delete them too",
        .clients.join("; ")
    )]
    UnmanagedCascade {
        /// `Application/x: `name` (client id), …` per application.
        clients: Vec<String>,
    },
    /// The plan creates objects, but the credential may not see the whole tenant.
    #[error(
        "refused: the plan creates {creates} object(s), but the credential may not see the whole tenant: {}. \
         An object it cannot see would be created a second time. Use a management application's credentials \
         (a token with the Admin role); or, if it does see every application, run again with --assume-full-view",
        .reasons.join("; ")
    )]
    PartialView {
        /// Creates planned.
        creates: usize,
        /// Why the view may be partial.
        reasons: Vec<String>,
    },
}

/// What a change does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Create a new live object.
    Create,
    /// Start managing an existing live object (and update it if it differs).
    Adopt,
    /// Update a managed live object.
    Update,
    /// Delete a managed live object.
    Delete,
}

/// One planned change to one object.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Change {
    /// What happens.
    pub action: Action,
    /// Application or client.
    pub kind: Kind,
    /// When it runs: the phases run in [`Phase::ALL`] order, objects within one concurrently.
    pub phase: Phase,
    /// The object's manifest identity, as text (`Application/food`, `Client/food/iOS`).
    pub name: String,
    /// The same, structured.
    pub address: Address,
    /// Live app id (absent for an app not created yet).
    pub app_id: Option<String>,
    /// Live client id (clients that exist).
    pub client_id: Option<String>,
    /// Drift: some managed field's live value differs from the value last applied, or the
    /// object was deleted outside tenantsync.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub drift: bool,
    /// Pending: the manifests changed the object since the last apply (a new object, a changed
    /// or removed field, a removed object). A change can be drift and pending at once.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub pending: bool,
    /// Field-level changes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<FieldChange>,
    /// Explanations (why, what cannot be done).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// The request body sent (create body or PUT body); secrets shown as `(sensitive)`.
    pub body: Option<Map<String, Value>>,
    /// The request body with secret values (in memory only; never serialized).
    #[serde(skip)]
    pub body_secret: Option<Map<String, Value>>,
    /// Hash of the managed fields of the live object when planned; apply refuses if it changed
    /// since.
    pub live_fingerprint: Option<String>,
    /// The fields `live_fingerprint` covers: those the plan manages on this object.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fingerprint_fields: Vec<String>,
    /// For deletions: the live object is already gone; only the state entry is removed.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub already_gone: bool,
    /// What the state records after success (secrets hashed).
    pub record: Option<Record>,
    /// For app creation: the default client created with it, and its record.
    pub default_client: Option<DefaultClientRecord>,
    /// For an application's deletion: the live clients deleted with it (managed or not), each
    /// counted against `--max-deletes`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cascade: Vec<CascadedClient>,
}

/// A step of execution. The order of the variants is the order they run in: an app exists
/// before its clients are created, updates run once everything they might name exists, and
/// clients go before the application that holds them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Create, adopt or update the objects applications and clients reference (resources,
    /// service providers).
    CreateObjects,
    /// Create applications (each with its default client).
    CreateApps,
    /// Create, adopt or update the objects of applications (roles, role groups, login preferences), before
    /// clients name them.
    AppObjects,
    /// Create the other clients.
    CreateClients,
    /// Update or adopt applications.
    UpdateApps,
    /// Update or adopt clients.
    UpdateClients,
    /// Delete clients.
    DeleteClients,
    /// Delete the objects of applications (role groups, then roles; login preferences are only
    /// released).
    DeleteAppObjects,
    /// Delete applications (the API deletes their remaining clients with them).
    DeleteApps,
    /// Delete referenced objects, once every reference to them is gone.
    DeleteObjects,
}

impl Phase {
    /// Every phase, in execution order.
    pub const ALL: [Phase; 10] = [
        Phase::CreateObjects,
        Phase::CreateApps,
        Phase::AppObjects,
        Phase::CreateClients,
        Phase::UpdateApps,
        Phase::UpdateClients,
        Phase::DeleteClients,
        Phase::DeleteAppObjects,
        Phase::DeleteApps,
        Phase::DeleteObjects,
    ];

    /// The phase a change of this action and kind runs in.
    pub fn of(action: Action, kind: Kind) -> Phase {
        match (action, kind) {
            (Action::Create, Kind::Application) => Phase::CreateApps,
            (Action::Create, Kind::Client) => Phase::CreateClients,
            (Action::Adopt | Action::Update, Kind::Application) => Phase::UpdateApps,
            (Action::Adopt | Action::Update, Kind::Client) => Phase::UpdateClients,
            (Action::Delete, Kind::Client) => Phase::DeleteClients,
            (Action::Delete, Kind::Application) => Phase::DeleteApps,
        }
    }

    /// Whether the phase creates objects (each journaled durably before it is sent).
    pub fn creates(self) -> bool {
        matches!(self, Phase::CreateApps | Phase::CreateClients)
    }
}

/// A live client that goes with the application a change deletes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CascadedClient {
    /// Its name.
    pub name: String,
    /// Its id.
    pub client_id: String,
    /// Whether tenantsync manages it.
    pub managed: bool,
}

/// State to record for an object after its change succeeds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// Created or adopted.
    pub ownership: Ownership,
    /// The managed fields as applied (secrets hashed).
    pub last_applied: Map<String, Value>,
    /// Protected from deletion.
    pub protect: bool,
}

/// The default client created together with an app.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DefaultClientRecord {
    /// Its address.
    pub address: Address,
    /// Its record.
    pub record: Record,
}

/// A deletion that is not carried out, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SkippedDelete {
    /// The object.
    pub name: String,
    /// Why it stays.
    pub reason: String,
}

/// A state entry to rewrite without any write to the target (e.g. a field tenantsync stops
/// managing because the API cannot clear it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StateUpdate {
    /// The object.
    pub address: Address,
    /// Its new record.
    pub record: Record,
}

/// Counts by action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Summary {
    /// Objects to create.
    pub create: usize,
    /// Objects to update.
    pub update: usize,
    /// Objects to delete.
    pub delete: usize,
    /// Objects to adopt.
    pub adopt: usize,
    /// Objects already as desired.
    pub unchanged: usize,
    /// Deletions not carried out (no --prune, protected, empty manifest set).
    pub skipped_delete: usize,
}

/// A complete plan. Its JSON (`plan::wire`) lists the applications' and clients' changes and
/// the described kinds' in one `changes` list.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// Format version of this JSON.
    pub format_version: u32,
    /// Counts.
    pub summary: Summary,
    /// Applications' and clients' changes, in execution order.
    pub changes: Vec<Change>,
    /// Deletions left out.
    pub skipped_deletes: Vec<SkippedDelete>,
    /// State-only updates.
    pub state_updates: Vec<StateUpdate>,
    /// Changes of drifted objects held back, not carried out (`sync --on-drift report`).
    pub held_for_drift: Vec<Change>,
    /// Things the user should know.
    pub warnings: Vec<String>,
    /// The target it was made against.
    pub target: String,
    /// The state it was made against.
    pub state_lineage: String,
    /// Fingerprint of the manifests it was made from.
    pub manifests_fingerprint: String,
    /// Made with `--refresh changed`: how many managed objects were not read (their drift is
    /// not shown, and they are not planned). Absent: every object was read.
    pub not_refreshed: Option<usize>,
    /// Made with `--refresh changed`: what was read (applications by id, the described kinds'
    /// collections). Drift episodes of objects outside it neither advance nor end. In memory
    /// only (a saved plan advances the episodes of the objects it plans).
    pub refreshed: Option<super::ReadSet>,
    /// Changes to objects of the described kinds (resources, service providers, roles, role
    /// groups, login preferences), in execution order; they run in their own phases among
    /// `changes`, and the JSON lists them there.
    pub objects: Vec<super::objects::ObjectChange>,
    /// What each id (or placeholder of an object this plan creates) in a reference field
    /// names: `Resource/payouts-api`. Plans show these names, never bare ids.
    pub references: std::collections::BTreeMap<String, String>,
    /// Some reference fields wait for objects this plan creates after their holder; apply
    /// runs a second round for them.
    pub deferred: bool,
    /// Changes of drifted objects of the described kinds held back (`sync --on-drift report`).
    pub held_objects_for_drift: Vec<super::objects::ObjectChange>,
}

/// One planned change of any kind: an application's or a client's, or an object's of a
/// described kind. What every consumer that does not write reads of a change.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum PlanChange<'a> {
    /// An application's or a client's.
    App(&'a Change),
    /// An object's of a described kind.
    Object(&'a super::objects::ObjectChange),
}

impl<'a> PlanChange<'a> {
    /// As plans show it: `Client/shop/Web`, `Resource/payouts-api`.
    pub fn name(self) -> &'a str {
        match self {
            PlanChange::App(c) => &c.name,
            PlanChange::Object(c) => &c.name,
        }
    }

    /// What happens.
    pub fn action(self) -> Action {
        match self {
            PlanChange::App(c) => c.action,
            PlanChange::Object(c) => c.action,
        }
    }

    /// When it runs.
    pub fn phase(self) -> Phase {
        match self {
            PlanChange::App(c) => c.phase,
            PlanChange::Object(c) => c.phase,
        }
    }

    /// Whether the live object drifted from what was last applied.
    pub fn drift(self) -> bool {
        match self {
            PlanChange::App(c) => c.drift,
            PlanChange::Object(c) => c.drift,
        }
    }

    /// Whether the manifests changed it since the last apply.
    pub fn pending(self) -> bool {
        match self {
            PlanChange::App(c) => c.pending,
            PlanChange::Object(c) => c.pending,
        }
    }

    /// Its explanations.
    pub fn notes(self) -> &'a [String] {
        match self {
            PlanChange::App(c) => &c.notes,
            PlanChange::Object(c) => &c.notes,
        }
    }

    /// Its field-level changes.
    pub fn fields(self) -> &'a [FieldChange] {
        match self {
            PlanChange::App(c) => &c.fields,
            PlanChange::Object(c) => &c.fields,
        }
    }

    /// Its identity.
    pub fn address(self) -> AnyAddress {
        match self {
            PlanChange::App(c) => c.address.clone().into(),
            PlanChange::Object(c) => c.address.clone().into(),
        }
    }
}

/// Two lists of changes as one, in execution order: merged by phase, each list's own order
/// kept (the two kinds of change run in phases of their own).
fn merged<'a>(
    apps: &'a [Change],
    objects: &'a [super::objects::ObjectChange],
) -> Vec<PlanChange<'a>> {
    let mut out = Vec::with_capacity(apps.len() + objects.len());
    let (mut a, mut o) = (0, 0);
    while a < apps.len() || o < objects.len() {
        let object_first = match (apps.get(a), objects.get(o)) {
            (Some(app), Some(object)) => object.phase < app.phase,
            (None, _) => true,
            (Some(_), None) => false,
        };
        if object_first {
            out.push(PlanChange::Object(&objects[o]));
            o += 1;
        } else {
            out.push(PlanChange::App(&apps[a]));
            a += 1;
        }
    }
    out
}

impl Plan {
    /// True when applying would write to the target or adopt objects.
    pub fn has_changes(&self) -> bool {
        !self.changes.is_empty() || !self.objects.is_empty()
    }

    /// Every change to carry out, of every kind, in execution order.
    pub fn every_change(&self) -> Vec<PlanChange<'_>> {
        merged(&self.changes, &self.objects)
    }

    /// Every change held back for drift, of every kind.
    pub fn every_held(&self) -> Vec<PlanChange<'_>> {
        merged(&self.held_for_drift, &self.held_objects_for_drift)
    }

    /// How many changes it carries out.
    pub fn change_count(&self) -> usize {
        self.changes.len() + self.objects.len()
    }

    /// How many changes of `action` it carries out.
    pub fn count(&self, action: Action) -> usize {
        self.every_change()
            .iter()
            .filter(|c| c.action() == action)
            .count()
    }

    /// Holds back every change of a drifted object (it is reported, not written; the changes
    /// of other objects stay) and recounts the summary.
    pub fn hold_drifted(&mut self) {
        let (held, kept): (Vec<Change>, Vec<Change>) = std::mem::take(&mut self.changes)
            .into_iter()
            .partition(|c| c.drift);
        // A client created in an application that is itself held waits with it.
        let held_apps: std::collections::BTreeSet<String> = held
            .iter()
            .filter(|c| c.kind == Kind::Application && c.action == Action::Create)
            .map(|c| c.address.app.clone())
            .collect();
        let (also_held, kept): (Vec<Change>, Vec<Change>) = kept.into_iter().partition(|c| {
            c.kind == Kind::Client
                && c.action == Action::Create
                && held_apps.contains(&c.address.app)
        });
        self.changes = kept;
        self.held_for_drift.extend(held);
        self.held_for_drift.extend(also_held);
        // In execution order, as every list of changes is (a held client create came last).
        self.held_for_drift.sort_by_key(|c| c.phase);
        let (held, kept): (Vec<_>, Vec<_>) = std::mem::take(&mut self.objects)
            .into_iter()
            .partition(|c| c.drift);
        self.objects = kept;
        self.held_objects_for_drift.extend(held);
        self.summary.create = self.count(Action::Create);
        self.summary.update = self.count(Action::Update);
        self.summary.delete = self.count(Action::Delete);
        self.summary.adopt = self.count(Action::Adopt);
    }
}

/// Identification of the inputs, recorded in the plan.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PlanContext {
    /// The target description.
    pub target: String,
    /// Fingerprint of the desired state.
    pub manifests_fingerprint: String,
}
