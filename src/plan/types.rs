//! The plan as data: its options, its errors, and each change with what it sends and records;
//! serialized as the JSON plan (`--format json`, `plan --out`).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::diff::FieldChange;
use crate::model::kinds::{AnyKind, ObjKind};
use crate::state::address::Address;
use crate::state::entry::{Ownership, StateEntry};

/// Version of the JSON plan format.
pub const FORMAT_VERSION: u32 = 8;

/// Format 7: a described kind's live fingerprint left out whole a member holding a secret
/// deeper (`push.apn`), so it did not cover the members an answer shows beside the key. Read,
/// each such fingerprint is checked in the form it was made in (`fingerprint::mark_format_7`).
/// An earlier release refuses format 8, whose fingerprints it would compute otherwise and
/// report as changed on the target.
pub const FORMAT_WITH_HOLDERS_UNSEEN: u32 = 7;

/// Format 6: no change moved a state entry (`moved_from`); it reads as the current one. An
/// earlier release refuses format 7, which it would misread: it would leave the moved entry
/// under its old address, mapping the object it then plans to delete.
pub const FORMAT_WITHOUT_MOVES: u32 = 6;

/// Format 5: no change ran in the `release` phase; it reads as the current one.
pub const FORMAT_WITHOUT_RELEASE: u32 = 5;

/// Format 4: an application's `cascade` listed its clients only, each as `client_id`; it
/// reads as the current one.
pub const FORMAT_CASCADE_OF_CLIENTS: u32 = 4;

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
    /// The live object a manifest object would adopt was answered without its id: it can be
    /// neither managed nor created again beside it.
    #[error(
        "{address}: the target answers the {what} whose `{field}` is `{name}` but leaves its `{id_field}` out; \
         tenantsync can neither manage it nor create a second one beside it. Check that the target \
         speaks the API version tenantsync expects (`tenantsync doctor`)"
    )]
    UnidentifiedLive {
        /// The manifest object.
        address: String,
        /// What kind of object (singular).
        what: &'static str,
        /// The natural key's field.
        field: &'static str,
        /// Its value.
        name: String,
        /// The field the id should be in.
        id_field: &'static str,
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
    /// Deleting an application would delete clients, roles or role groups tenantsync never
    /// created or adopted.
    #[error(
        "refused: deleting an application deletes every client, role and role group it has, and these were never created or adopted by tenantsync: {}. \
         Move them to another application, manage them in the manifests, or pass --allow-cascade to delete them too",
        .clients.join("; ")
    )]
    UnmanagedCascade {
        /// `Application/x: `name` (client id), Role `name` (id), …` per application.
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

/// A change's request body: as plans show it, and as it is sent.
#[derive(Debug, Clone, PartialEq)]
pub struct Body {
    /// As plans show it: every hidden value (secret, or read from the environment) as
    /// `(sensitive)`. What a plan file holds.
    pub shown: Map<String, Value>,
    /// With its hidden values: in memory only, never serialized. `None` in a saved plan until
    /// its secrets are given back from the manifests (`restore_secrets`).
    pub secret: Option<Map<String, Value>>,
}

impl Body {
    /// A body planned here: `sent` as it is sent, and as plans show it.
    pub fn planned(shown: Map<String, Value>, sent: Map<String, Value>) -> Self {
        Body {
            shown,
            secret: Some(sent),
        }
    }

    /// A body read from a plan file: shown only.
    pub fn saved(shown: Map<String, Value>) -> Self {
        Body {
            shown,
            secret: None,
        }
    }

    /// What is sent: the body with its hidden values where it holds them, else as shown (a
    /// saved plan's body that hides nothing; `execute` refuses one that does).
    pub fn to_send(&self) -> &Map<String, Value> {
        self.secret.as_ref().unwrap_or(&self.shown)
    }

    /// Whether what is sent differs from what is shown (it holds hidden values).
    pub fn hides_values(&self) -> bool {
        self.secret.as_ref().is_some_and(|s| *s != self.shown)
    }

    /// Both maps (they may hold placeholders of objects the plan creates).
    pub fn maps(&self) -> impl Iterator<Item = &Map<String, Value>> {
        std::iter::once(&self.shown).chain(self.secret.as_ref())
    }

    /// The same, to fill them in.
    pub fn maps_mut(&mut self) -> impl Iterator<Item = &mut Map<String, Value>> {
        std::iter::once(&mut self.shown).chain(self.secret.as_mut())
    }
}

/// One planned change to one object of any kind: an application, a client, or an object of a
/// described kind (`model::kinds`). Its JSON form (`plan::wire`) is the one each kind had before
/// they shared this type, so saved plans read the same.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    /// What happens.
    pub action: Action,
    /// When it runs: the phases run in [`Phase::ALL`] order, objects within one concurrently.
    pub phase: Phase,
    /// The object as plans show it (`Application/food`, `Client/food/iOS`,
    /// `Resource/payouts-api`).
    pub name: String,
    /// Its identity.
    pub address: Address,
    /// The live id of the application it is or belongs to (absent: an application this plan
    /// creates, or a kind that belongs to none).
    pub app_id: Option<String>,
    /// Its own live id, for clients and the described kinds (an application's is `app_id`;
    /// absent: created by this change, or a singleton).
    pub id: Option<String>,
    /// Drift: some managed field's live value differs from the value last applied, or the
    /// object was deleted outside tenantsync.
    pub drift: bool,
    /// Pending: the manifests changed the object since the last apply (a new object, a changed
    /// or removed field, a removed object). A change can be drift and pending at once.
    pub pending: bool,
    /// Field-level changes.
    pub fields: Vec<FieldChange>,
    /// Explanations (why, what cannot be done).
    pub notes: Vec<String>,
    /// The request body sent (create body or PUT body), as shown and as sent.
    pub body: Option<Body>,
    /// Hash of the managed fields of the live object when planned; apply refuses if it changed
    /// since.
    pub live_fingerprint: Option<String>,
    /// The fields `live_fingerprint` covers: those the plan manages on this object.
    pub fingerprint_fields: Vec<String>,
    /// For deletions: only the state entry is removed (the live object is gone already, or its
    /// kind cannot be deleted and tenantsync only stops managing it).
    pub state_only: bool,
    /// What the state records after success (secrets hashed).
    pub record: Option<Record>,
    /// For app creation: the default client created with it, and its record.
    pub default_client: Option<DefaultClientRecord>,
    /// For an application's deletion: what upstream deletes with it and no other change
    /// deletes (every live client; roles and role groups tenantsync does not manage), each
    /// counted against `--max-deletes`.
    pub cascade: Vec<Cascaded>,
    /// The state entry this change's object was recorded under, when its document changed the
    /// object's natural key (a role's `role_name`) and the update writes the new one in place:
    /// the entry moves to [`Change::address`] once the update succeeds.
    pub moved_from: Option<Address>,
}

impl Change {
    /// Its kind.
    pub fn kind(&self) -> AnyKind {
        self.address.kind
    }

    /// Its address, if it is an application's or a client's change.
    pub fn app_address(&self) -> Option<&Address> {
        self.address.as_app()
    }

    /// Its address, if it is a described kind's change.
    pub fn object_address(&self) -> Option<&Address> {
        self.address.as_object()
    }

    /// A change of `action` to `address`, in the phase its kind runs it in, with nothing else
    /// set yet.
    pub fn new(action: Action, address: Address, name: String) -> Self {
        Self {
            action,
            phase: Phase::of(action, address.kind),
            name,
            address,
            app_id: None,
            id: None,
            drift: false,
            pending: false,
            fields: Vec::new(),
            notes: Vec::new(),
            body: None,
            live_fingerprint: None,
            fingerprint_fields: Vec::new(),
            state_only: false,
            record: None,
            default_client: None,
            cascade: Vec::new(),
            moved_from: None,
        }
    }
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
    /// Update or delete the applications that give up a value upstream keeps unique in a
    /// tenant (a subdomain, a custom domain, the Authentication Hub role) which another change
    /// of the plan takes, before it takes it (`plan::unique`).
    Release,
    /// Create applications (each with its default client).
    CreateApps,
    /// Create, adopt or update the objects of applications (roles, role groups, login preferences), before
    /// clients name them.
    AppObjects,
    /// Create the other clients.
    CreateClients,
    /// Update or adopt applications (but those in [`Phase::Release`]).
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
    pub const ALL: [Phase; 11] = [
        Phase::CreateObjects,
        Phase::Release,
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

    /// The phase a change of this action and kind runs in. A described kind's: referenced
    /// kinds (no parent) are created before the applications that name them and deleted after
    /// every reference is gone; an application's objects are written once it exists and before
    /// its clients name them, and deleted before it.
    pub fn of(action: Action, kind: AnyKind) -> Phase {
        let parented = |kind: ObjKind| kind.spec().parent.is_some();
        match (action, kind) {
            (Action::Create, AnyKind::Application) => Phase::CreateApps,
            (Action::Create, AnyKind::Client) => Phase::CreateClients,
            (Action::Adopt | Action::Update, AnyKind::Application) => Phase::UpdateApps,
            (Action::Adopt | Action::Update, AnyKind::Client) => Phase::UpdateClients,
            (Action::Delete, AnyKind::Client) => Phase::DeleteClients,
            (Action::Delete, AnyKind::Application) => Phase::DeleteApps,
            (Action::Delete, AnyKind::Described(k)) if parented(k) => Phase::DeleteAppObjects,
            (Action::Delete, AnyKind::Described(_)) => Phase::DeleteObjects,
            (_, AnyKind::Described(k)) if parented(k) => Phase::AppObjects,
            (_, AnyKind::Described(_)) => Phase::CreateObjects,
        }
    }

    /// Whether a change of `action` to an object of `kind` may run in [`Phase::Release`] rather
    /// than its own phase: an application's update, adoption or deletion, and the deletion of an
    /// object of an application (deleted with it).
    pub fn may_release(action: Action, kind: AnyKind) -> bool {
        match kind {
            AnyKind::Application => action != Action::Create,
            AnyKind::Client => false,
            AnyKind::Described(k) => action == Action::Delete && k.spec().parent.is_some(),
        }
    }

    /// Whether the phase creates objects (each journaled durably before it is sent).
    pub fn creates(self) -> bool {
        matches!(self, Phase::CreateApps | Phase::CreateClients)
    }
}

/// A live object that goes with the application a change deletes and no change of the plan
/// deletes on its own: upstream deletes an application's clients, roles and role groups with
/// it; of its roles and role groups, those tenantsync manages are deleted first, each by its
/// own change, so only hand-made ones are here.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cascaded {
    /// Its kind (absent in format 4, whose cascade listed clients only).
    #[serde(default = "client_kind")]
    pub kind: AnyKind,
    /// Its natural key (a client's or role group's name, a role's `role_name`).
    pub name: String,
    /// Its id (format 4: `client_id`).
    #[serde(alias = "client_id")]
    pub id: String,
    /// Whether tenantsync manages it (only a client can be both managed and here).
    pub managed: bool,
}

fn client_kind() -> AnyKind {
    AnyKind::Client
}

impl Cascaded {
    /// As plans and refusals name it: `` `Web` (id) `` for a client, `` Role `clerk` (id) ``
    /// for another kind; live names and ids with control characters escaped.
    pub fn shown(&self) -> String {
        let (name, id) = (
            crate::shown::escape_controls(&self.name),
            crate::shown::escape_controls(&self.id),
        );
        match self.kind {
            AnyKind::Client => format!("`{name}` ({id})"),
            kind => format!("{kind} `{name}` ({id})"),
        }
    }
}

/// State to record for an object after its change succeeds.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// The `metadata.name` of its document (described kinds: references name it).
    #[serde(default)]
    pub name: Option<String>,
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
    /// Each field its part of the create body (`first_client`) sends, as a create lists its
    /// fields (none in plans of earlier releases).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<FieldChange>,
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
    /// The object, of any kind (an application's or client's address reads as it always did).
    pub address: Address,
    /// Its new record.
    pub record: Record,
    /// Why, for the reader: how the new record differs from the entry's (field names, never a
    /// value). Plans of earlier releases have none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reasons: Vec<String>,
    /// Its entry's address until now, when the entry moves (the natural key changed and the
    /// live object already holds the new one: an update in place that was sent, then not
    /// recorded). Plans of earlier releases have none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub moved_from: Option<Address>,
}

impl StateUpdate {
    /// What the plan does with an object of any kind whose diff needs no write: nothing, or
    /// its record written again when it differs from its entry's in any way (a field released,
    /// a new `protect`, a hidden value's record from before member names were kept, a renamed
    /// document: references and plans name it by its new `metadata.name`), though
    /// what decides a write compares hidden values by hash alone. `subject`: its kind's field
    /// facts, which say why.
    pub(super) fn of_unchanged(
        address: Address,
        entry: &StateEntry,
        record: Record,
        subject: super::diff::Subject,
    ) -> Option<Self> {
        let renamed = record.name.clone().filter(|name| *name != entry.name);
        let rewritten =
            entry.last_applied != record.last_applied || entry.protect != record.protect;
        (rewritten || renamed.is_some()).then(|| {
            let mut reasons = super::records::rewritten_because(
                subject,
                (&entry.last_applied, entry.protect),
                &record.last_applied,
                record.protect,
            );
            if let Some(name) = renamed {
                reasons.insert(
                    0,
                    format!("its document is now named `{name}` (was `{}`)", entry.name),
                );
            }
            StateUpdate {
                address,
                record,
                reasons,
                moved_from: None,
            }
        })
    }
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
    /// Updates that wait, not carried out: a whole replacement cannot keep a live secret the
    /// manifest does not set (the warnings say which, and what to do). The target does not
    /// match the manifests while any waits.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub waiting: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// A complete plan, its changes of every kind in one list. Its JSON is `plan::wire`'s.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// Format version of this JSON.
    pub format_version: u32,
    /// Counts.
    pub summary: Summary,
    /// Every change, of every kind, in execution order.
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
    /// What each id (or placeholder of an object this plan creates) in a reference field
    /// names: `Resource/payouts-api`. Plans show these names, never bare ids.
    pub references: std::collections::BTreeMap<String, String>,
    /// Some reference fields wait for objects this plan creates after their holder; apply
    /// runs a second round for them.
    pub deferred: bool,
}

/// Two lists of changes, each in execution order, as one: merged by phase, each list's own
/// order kept.
pub fn merged_by_phase(first: Vec<Change>, second: Vec<Change>) -> Vec<Change> {
    let mut out = Vec::with_capacity(first.len() + second.len());
    let (mut first, mut second) = (first.into_iter().peekable(), second.into_iter().peekable());
    loop {
        let take_second = match (first.peek(), second.peek()) {
            (Some(a), Some(b)) => b.phase < a.phase,
            (None, Some(_)) => true,
            (_, None) => false,
        };
        match if take_second {
            second.next()
        } else {
            first.next()
        } {
            Some(change) => out.push(change),
            None => return out,
        }
    }
}

impl Plan {
    /// True when applying would write to the target or adopt objects.
    pub fn has_changes(&self) -> bool {
        !self.changes.is_empty()
    }

    /// True when the target does not match the manifests: changes to apply, or updates that
    /// wait (`--detailed-exitcode` exits 2).
    pub fn differs(&self) -> bool {
        self.has_changes() || self.summary.waiting > 0
    }

    /// How many changes of `action` it carries out.
    pub fn count(&self, action: Action) -> usize {
        self.changes.iter().filter(|c| c.action == action).count()
    }

    /// Holds back every change of a drifted object (it is reported, not written; the changes
    /// of other objects stay) and recounts the summary.
    pub fn hold_drifted(&mut self) {
        let held = self.hold(|c| c.drift);
        self.held_for_drift.extend(held);
        // In execution order, as every list of changes is (a held client create came last).
        self.held_for_drift.sort_by_key(|c| c.phase);
    }

    /// Takes out every change `which` picks, and every change of an object of an application
    /// whose create it picks (its clients, roles, role groups and login preferences have
    /// nowhere to go until it exists); recounts the summary; returns what it took, in order.
    pub fn hold(&mut self, which: impl Fn(&Change) -> bool) -> Vec<Change> {
        let (mut held, kept): (Vec<Change>, Vec<Change>) = std::mem::take(&mut self.changes)
            .into_iter()
            .partition(|c| which(c));
        let held_apps: std::collections::BTreeSet<String> = held
            .iter()
            .filter(|c| c.kind() == AnyKind::Application && c.action == Action::Create)
            .filter_map(|c| c.address.application().map(str::to_owned))
            .collect();
        let (also_held, kept): (Vec<Change>, Vec<Change>) = kept.into_iter().partition(|c| {
            c.kind() != AnyKind::Application
                && c.address
                    .application()
                    .is_some_and(|app| held_apps.contains(app))
        });
        self.changes = kept;
        held.extend(also_held);
        held.sort_by_key(|c| c.phase);
        self.summary.create = self.count(Action::Create);
        self.summary.update = self.count(Action::Update);
        self.summary.delete = self.count(Action::Delete);
        self.summary.adopt = self.count(Action::Adopt);
        held
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
