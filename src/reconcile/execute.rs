//! Carrying a plan out: phases in order (create apps → create clients →
//! updates → delete clients → delete apps), objects within a phase concurrently, one object's
//! failure never stopping independent ones. Every create is journaled durably before it is sent
//! (with the idempotency key it carries), so a crash can be finished by the next run instead of
//! duplicating: see [`resolve_intents`]. A [`WriteGate`] from the caller (a daemon replica's
//! leadership) is asked before every write and halts writes in flight when it closes.

mod gate;
mod objects;
use objects::waves;
mod report;

pub use gate::{GateKeeper, WriteGate};
pub use report::{ApplyReport, ObjectResult, Outcome};

use std::collections::BTreeMap;
use std::sync::Mutex;

use futures::stream::{self, StreamExt as _};
use rand::RngCore;
use serde::{Deserialize, Serialize};

use super::intents::{find_by_name, Found, Lookup};
pub use super::intents::{resolve_intents, IntentResolution};
use super::now_rfc3339;
use crate::model::kinds::{ObjKind, APPLICATION, CLIENT};
use crate::plan::{
    live_fingerprint, live_kind, Action, AppRef, Change, DefaultClientRecord, ObjectId, Op, Phase,
    Plan, PlanDefect, Record,
};
use crate::state::entry::{Address, Kind, StateEntry};
use crate::state::object::AnyAddress;
use crate::state::store::{StateError, StateStore};
use crate::targets::{Object, Target, TargetError, TargetErrorKind};

/// How to execute.
#[derive(Debug, Clone, Default)]
pub struct ExecuteOptions {
    /// Objects in flight at once within a phase.
    pub concurrency: usize,
    /// Re-read each object before writing it and refuse if it changed since the plan (saved plans).
    pub verify_live: bool,
    /// Once any of these is set (shutdown), objects not yet started are skipped; writes in
    /// flight finish.
    pub stop: Vec<std::sync::Arc<std::sync::atomic::AtomicBool>>,
    /// Whether writes may still be sent (a daemon replica's leadership); always, by default.
    pub gate: WriteGate,
}

impl ExecuteOptions {
    fn stopping(&self) -> bool {
        self.stop
            .iter()
            .any(|s| s.load(std::sync::atomic::Ordering::SeqCst))
    }
}

/// A create that was sent (or is about to be): written durably before the request.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CreateIntent {
    /// The object.
    pub address: Address,
    /// The `Idempotency-Key` the create carries.
    pub idempotency_key: String,
    /// For clients: the app it is created in.
    pub app_id: Option<String>,
    /// `app_name` / client `name`, for adoption by name.
    pub name: String,
    /// The request body when it holds no secrets (so it can be re-sent with the same key).
    pub body: Option<Object>,
    /// State to record once it exists.
    pub record: Record,
    /// For apps: the default client created with it.
    pub default_client: Option<DefaultClientRecord>,
    /// When it was journaled.
    pub started_at: String,
    /// The live id the state mapped the address to when the create was journaled (an object
    /// re-created after it was deleted outside tenantsync): an entry still holding it does not
    /// record this create.
    #[serde(default)]
    pub replaces: Option<String>,
}

/// Errors that stop an apply as a whole (the state cannot be written).
#[derive(Debug, thiserror::Error)]
pub enum ExecuteError {
    /// The state store failed; nothing more is attempted.
    #[error(transparent)]
    State(#[from] StateError),
    /// The plan breaks an invariant execution relies on; nothing was written.
    #[error("the plan is inconsistent, nothing was applied (was it edited by hand?): {}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    InconsistentPlan(Vec<PlanDefect>),
}

fn new_key() -> String {
    let mut bytes = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut bytes);
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("tenantsync-{hex}")
}

pub(super) fn entry(
    address: &Address,
    app_id: &str,
    client_id: Option<String>,
    record: &Record,
) -> StateEntry {
    StateEntry {
        address: address.into(),
        name: String::new(),
        app_id: Some(app_id.to_owned()),
        id: client_id,
        ownership: record.ownership,
        last_applied: record.last_applied.clone(),
        protect: record.protect,
        applied_at: now_rfc3339(),
    }
}

/// Records an app created (or found) with its default client. Upstream does not promise the
/// default client's id in app responses (`client_id` is optional there): without it, the app's
/// clients are listed and the one of the default client's name is recorded.
pub(super) async fn record_app(
    target: &dyn Target,
    state: &StateStore,
    intent_like: (&Address, &Record, Option<&DefaultClientRecord>),
    app: &Object,
) -> Result<String, StateError> {
    let (address, record, default_client) = intent_like;
    let app_id = APPLICATION.id_of(app).unwrap_or_default();
    state.put_pending(&entry(address, &app_id, None, record))?;
    let Some(dc) = default_client else {
        return Ok(app_id);
    };
    let client_id = match CLIENT.id_of(app) {
        Some(id) => Some(id),
        None => {
            let name = dc.address.client.as_deref().unwrap_or_default();
            match target.list_clients(&app_id).await {
                Ok(clients) => {
                    let mut named = clients.iter().filter(|c| CLIENT.key_of(c) == Some(name));
                    match (named.next(), named.next()) {
                        (Some(one), None) => CLIENT.id_of(one),
                        _ => None,
                    }
                }
                Err(e) => {
                    tracing::warn!(object = %dc.address, error = %e, "could not read the clients of a new application; its default client will be adopted by name on the next run");
                    None
                }
            }
        }
    };
    if let Some(client_id) = client_id {
        state.put_pending(&entry(&dc.address, &app_id, Some(client_id), &dc.record))?;
    }
    Ok(app_id)
}

/// Why one object's step did not happen.
#[derive(Debug)]
enum StepError {
    /// Not attempted (its application was not created, or shutting down).
    Skipped(String),
    /// Attempted (or refused) and failed.
    Failed(String),
}

impl From<String> for StepError {
    fn from(message: String) -> Self {
        StepError::Failed(message)
    }
}

impl From<TargetError> for StepError {
    fn from(e: TargetError) -> Self {
        StepError::Failed(e.to_string())
    }
}

impl From<StateError> for StepError {
    fn from(e: StateError) -> Self {
        StepError::Failed(e.to_string())
    }
}

impl From<PlanDefect> for StepError {
    fn from(d: PlanDefect) -> Self {
        StepError::Failed(format!("not carried out: the plan is inconsistent: {d}"))
    }
}

type Step<T = ()> = Result<T, StepError>;

/// The application ids created during this run, by app key: `Err` when its create failed.
type NewAppIds = Mutex<BTreeMap<String, Result<String, ()>>>;

struct Shared<'a> {
    target: &'a dyn Target,
    state: &'a StateStore,
    options: ExecuteOptions,
    new_app_ids: NewAppIds,
    /// Ids of the described kinds' objects created or adopted in this run, by the placeholder
    /// planned bodies name them with.
    object_ids: Mutex<BTreeMap<String, String>>,
    /// The described kinds' collections listed to check a saved plan's objects, each listed
    /// once per run (an object's own entry changes only by its own change, after its check).
    checked: tokio::sync::Mutex<BTreeMap<Collection, std::sync::Arc<Vec<Object>>>>,
}

/// One described kind's collection: the kind, and its application's id for a parented kind.
type Collection = (ObjKind, Option<String>);

impl Shared<'_> {
    /// Sends one write through the caller's gate: not sent when it is closed, abandoned the
    /// moment it closes while in flight.
    async fn gated<'f, T>(
        &self,
        write: futures::future::BoxFuture<'f, Result<T, TargetError>>,
    ) -> Result<Result<T, TargetError>, StepError> {
        let gate = &self.options.gate;
        if !gate.is_open() {
            return Err(StepError::Skipped(
                "skipped: writes are no longer allowed (the leadership was lost)".to_owned(),
            ));
        }
        tokio::select! {
            biased;
            () = gate.closed() => Err(StepError::Failed(
                "halted in flight: writes are no longer allowed (the leadership was lost); the next leader plans it again"
                    .to_owned(),
            )),
            result = write => Ok(result),
        }
    }

    /// For saved plans: refuses when the object changed or vanished since the plan was made.
    async fn verify(&self, change: &Change, kind: Kind, object: ObjectId<'_>) -> Step {
        if !self.options.verify_live {
            return Ok(());
        }
        let Some(expected) = &change.live_fingerprint else {
            return Ok(());
        };
        let live = match object {
            ObjectId::Client(client) => self.target.get_client(client).await,
            ObjectId::App { app_id } => self.target.get_app(app_id).await,
        }?;
        as_planned(
            live.map(|l| live_fingerprint(live_kind(kind, &l), &l, &change.fingerprint_fields)),
            expected,
        )
    }

    /// Refuses a create or an adoption while an earlier create of the object, or of its
    /// application, is journaled and its fate unknown (its lookup failed this run): creating
    /// now could make a second object, and adopting would record the application without the
    /// default client its create made. The next run resolves the intent first.
    fn wait_for_unresolved_create(&self, address: &Address) -> Step {
        let own = self.state.journal_has(&address.key())?;
        let app = address.kind == Kind::Client
            && self.state.journal_has(&Address::app(&address.app).key())?;
        match (own, app) {
            (true, _) => Err(StepError::Skipped(
                "skipped: an earlier create of it is not resolved yet (it may exist); the next run looks it up first"
                    .to_owned(),
            )),
            (false, true) => Err(StepError::Skipped(
                "skipped: an earlier create of its application is not resolved yet; the next run looks it up first"
                    .to_owned(),
            )),
            (false, false) => Ok(()),
        }
    }

    /// Builds and journals (pending) the intent of a create. `None`: nothing to create (a saved
    /// plan's create that an earlier run already recorded).
    fn prepare(&self, change: &Change, address: &Address) -> Step<Option<CreateIntent>> {
        let (body, record, app, default_client) = match change.op()? {
            Op::CreateApp {
                body,
                record,
                default_client,
            } => (body, record, None, default_client),
            Op::CreateClient { app, body, record } => (body, record, Some(app), None),
            Op::Update { .. } | Op::Delete { .. } => return Ok(None),
        };
        self.wait_for_unresolved_create(address)?;
        if self.options.verify_live {
            // A saved plan applied again after a crash: what an earlier run created is recorded
            // (by intent resolution) and must not be created twice.
            if let Some(existing) = self.state.get(address)? {
                if app.is_none() {
                    self.new_app_ids.lock().expect("not poisoned").insert(
                        address.app.clone(),
                        Ok(existing.application_id().to_owned()),
                    );
                }
                return Ok(None);
            }
        }
        let app_id = match app {
            None => None,
            Some(AppRef::Live(id)) => Some(id.to_owned()),
            Some(AppRef::CreatedInThisPlan(key)) => {
                match self.new_app_ids.lock().expect("not poisoned").get(key) {
                    Some(Ok(id)) => Some(id.clone()),
                    Some(Err(())) | None => {
                        return Err(StepError::Skipped(format!(
                            "skipped: its application `{key}` was not created"
                        )))
                    }
                }
            }
        };
        let has_secrets = change.body_secret.is_some() && change.body_secret != change.body;
        let name = match address.kind {
            Kind::Application => APPLICATION.key_of(body),
            Kind::Client => CLIENT.key_of(body),
        }
        .unwrap_or_default()
        .to_owned();
        let intent = CreateIntent {
            address: address.clone(),
            idempotency_key: new_key(),
            app_id,
            name,
            body: (!has_secrets).then(|| body.clone()),
            record: record.clone(),
            default_client: default_client.cloned(),
            started_at: now_rfc3339(),
            replaces: self.state.get(address)?.map(|e| e.server_id().to_owned()),
        };
        self.state.journal_put_pending(&address.key(), &intent)?;
        Ok(Some(intent))
    }

    /// Sends a create whose intent is durable, and records the result.
    async fn create(&self, change: &Change, intent: CreateIntent) -> Step {
        let body = match change.op()? {
            Op::CreateApp { body, .. } | Op::CreateClient { body, .. } => body,
            Op::Update { .. } | Op::Delete { .. } => return Ok(()),
        };
        let record = &intent.record;
        let address = &intent.address;
        let journal_key = address.key();
        // A list can leave an item out, and the plan then creates what exists: a client about
        // to be created in an application that existed before this plan is first looked up by
        // name in a fresh list (one request), and recorded if it is there.
        let into_live_app = matches!(
            change.op()?,
            Op::CreateClient {
                app: AppRef::Live(_),
                ..
            }
        );
        let found = if into_live_app {
            match self.find_created(&intent).await {
                Ok(found) => found,
                Err(e) => {
                    self.state.journal_remove_pending(&journal_key)?;
                    self.state.sync().await?;
                    return Err(e.into());
                }
            }
        } else {
            None
        };
        // Halted in flight, the intent stays journaled: the next run resolves it by name.
        let result = match (found, &intent.app_id) {
            (Some(existing), _) => Ok(existing),
            (None, None) => {
                self.gated(self.target.create_app(body, &intent.idempotency_key))
                    .await?
            }
            (None, Some(app_id)) => {
                self.gated(
                    self.target
                        .create_client(app_id, body, &intent.idempotency_key),
                )
                .await?
            }
        };
        let result = match result {
            // The key was used before: the create was applied by an earlier attempt. Find it.
            Err(e) if e.kind == TargetErrorKind::KeyReused => {
                match self.find_created(&intent).await {
                    Ok(Some(object)) => Ok(object),
                    Ok(None) => Err(e),
                    Err(lookup) => Err(lookup),
                }
            }
            other => other,
        };
        match result {
            Ok(created) => {
                match &intent.app_id {
                    None => {
                        let id = record_app(
                            self.target,
                            self.state,
                            (address, record, change.default_client.as_ref()),
                            &created,
                        )
                        .await?;
                        self.new_app_ids
                            .lock()
                            .expect("not poisoned")
                            .insert(address.app.clone(), Ok(id));
                    }
                    Some(app_id) => {
                        let client_id = CLIENT.id_of(&created);
                        self.state
                            .put_pending(&entry(address, app_id, client_id, record))?;
                    }
                }
                // The record and the end of the intent become durable together at the end of
                // the phase; until then the durable intent covers a crash.
                Ok(self.state.journal_remove_pending(&journal_key)?)
            }
            Err(e) => {
                if e.certainly_not_applied() {
                    self.state.journal_remove_pending(&journal_key)?;
                    self.state.sync().await?;
                }
                Err(e.into())
            }
        }
    }

    /// The one live object a create with `intent` made, found by name among objects nobody
    /// manages (after a 409 for a reused idempotency key).
    async fn find_created(&self, intent: &CreateIntent) -> Result<Option<Object>, TargetError> {
        let snapshot = self
            .state
            .snapshot()
            .map_err(|e| TargetError::new(TargetErrorKind::Other, e.to_string()))?;
        let mut lookup = Lookup::for_state(&snapshot);
        match find_by_name(self.target, intent, &mut lookup).await? {
            Found::One(object) => Ok(Some(object)),
            Found::None | Found::Many(_) => Ok(None),
        }
    }

    async fn update(
        &self,
        change: &Change,
        address: &Address,
        object: ObjectId<'_>,
        body: Option<&Object>,
        record: &Record,
    ) -> Step {
        self.verify(change, address.kind, object).await?;
        if let Some(body) = body {
            match object {
                ObjectId::Client(client) => self.gated(self.target.update_client(client, body)),
                ObjectId::App { app_id } => self.gated(self.target.update_app(app_id, body)),
            }
            .await??;
        }
        let (app_id, client_id) = match object {
            ObjectId::App { app_id } => (app_id, None),
            ObjectId::Client(client) => (client.app_id, Some(client.client_id.to_owned())),
        };
        Ok(self
            .state
            .put_pending(&entry(address, app_id, client_id, record))?)
    }

    /// Deletes a change's live object, of any kind (`parent`: its application's id for a
    /// client or a parented kind; `id`: its own), unless only its state entry goes; one already
    /// gone counts as deleted. Then removes its state entry, and an application's clients'
    /// entries with it (upstream deletes its clients with it). A kind that can be referenced
    /// and answers "in use" is reported with what to do; nothing else was written for it.
    /// The caller has checked a saved plan's object first.
    async fn delete(&self, change: &Change, parent: Option<&str>, id: &str) -> Step {
        let kind = change.kind();
        if !change.state_only {
            match self.gated(self.target.delete(kind, parent, id)).await? {
                Ok(()) => {}
                Err(e) if e.kind == TargetErrorKind::NotFound => {}
                Err(e) if e.kind == TargetErrorKind::Conflict && kind.spec().in_use.is_some() => {
                    return Err(StepError::Failed(format!(
                        "not deleted: it is still referenced ({}); upstream answered: {}. Remove the references to it (or manage the objects that hold them) and apply again",
                        kind.spec().in_use.unwrap_or_default(),
                        e.message
                    )))
                }
                Err(e) => return Err(e.into()),
            }
        }
        self.state.remove_pending(change.address.clone())?;
        if let AnyAddress::App(address) = &change.address {
            if address.kind == Kind::Application {
                let snapshot = self.state.snapshot()?;
                for (client, _) in snapshot
                    .app_entries()
                    .filter(|(a, _)| a.kind == Kind::Client && a.app == address.app)
                {
                    self.state.remove_pending(client)?;
                }
            }
        }
        Ok(())
    }

    async fn step(
        &self,
        change: &Change,
        address: &Address,
        prepared: Option<Step<Option<CreateIntent>>>,
    ) -> Step {
        match change.op()? {
            Op::CreateApp { .. } | Op::CreateClient { .. } => {
                match prepared.unwrap_or_else(|| self.prepare(change, address))? {
                    Some(intent) => self.create(change, intent).await,
                    None => Ok(()),
                }
            }
            Op::Update {
                object,
                body,
                record,
            } => {
                if change.action == Action::Adopt {
                    self.wait_for_unresolved_create(address)?;
                }
                self.update(change, address, object, body, record).await
            }
            Op::Delete {
                object,
                already_gone,
            } => {
                if !already_gone {
                    self.verify(change, address.kind, object).await?;
                }
                let (parent, id) = match object {
                    ObjectId::App { app_id } => (None, app_id),
                    ObjectId::Client(client) => (Some(client.app_id), client.client_id),
                };
                self.delete(change, parent, id).await
            }
        }
    }

    /// Runs one change, of any kind.
    async fn run(
        &self,
        change: &Change,
        prepared: Option<Step<Option<CreateIntent>>>,
    ) -> ObjectResult {
        let result = if self.options.stopping() {
            if let Some(Ok(Some(_))) = &prepared {
                // Journaled but never sent: drop the intent so the next run plans it afresh.
                let _ = self.state.journal_remove_pending(&change.address.key());
            }
            Err(StepError::Skipped("skipped: shutting down".to_owned()))
        } else {
            match &change.address {
                AnyAddress::App(address) => self.step(change, address, prepared).await,
                AnyAddress::Object(address) => self.object_step(change, address).await,
            }
        };
        if let Some(app) = change
            .address
            .app()
            .filter(|_| change.phase == Phase::CreateApps)
        {
            if result.is_err() {
                self.new_app_ids
                    .lock()
                    .expect("not poisoned")
                    .entry(app.to_owned())
                    .or_insert(Err(()));
            }
        }
        ObjectResult {
            name: change.name.clone(),
            action: change.action,
            outcome: match result {
                Ok(()) => Outcome::Ok,
                Err(StepError::Skipped(message)) => Outcome::Skipped { message },
                Err(StepError::Failed(message)) => Outcome::Failed { message },
            },
        }
    }
}

/// A saved plan's check of one object, of any kind: `live`, the fingerprint of the object as it
/// is now (`None`: gone), against the one the plan recorded.
fn as_planned(live: Option<String>, expected: &str) -> Step {
    match live {
        None => Err(StepError::Failed(
            "refused: it no longer exists on the target (deleted since the plan was made); run plan again"
                .to_owned(),
        )),
        Some(now) if now != expected => Err(StepError::Failed(
            "refused: it changed on the target since the plan was made; nothing was written to it. Run plan again and review"
                .to_owned(),
        )),
        Some(_) => Ok(()),
    }
}

/// Carries `plan` out. `progress` is told about each object as it finishes.
pub async fn execute(
    plan: &Plan,
    target: &dyn Target,
    state: &StateStore,
    options: ExecuteOptions,
    progress: &(dyn Fn(&ObjectResult) + Sync),
) -> Result<ApplyReport, ExecuteError> {
    plan.check().map_err(ExecuteError::InconsistentPlan)?;
    let shared = Shared {
        target,
        state,
        options,
        new_app_ids: Mutex::new(BTreeMap::new()),
        object_ids: Mutex::new(BTreeMap::new()),
        checked: Default::default(),
    };
    let mut report = ApplyReport::default();
    for update in &plan.state_updates {
        if let Some(mut e) = state.get(&update.address)? {
            e.last_applied = update.record.last_applied.clone();
            e.protect = update.record.protect;
            e.applied_at = now_rfc3339();
            state.put(&e)?;
            report.state_updates += 1;
        }
    }
    // Results are reported in the plan's order.
    let mut results: Vec<(usize, ObjectResult)> = Vec::new();
    for phase in Phase::ALL {
        for wave in waves(&plan.changes, phase) {
            // References to objects created earlier in this run are filled in; a change naming
            // one that was not created is skipped.
            let mut batch: Vec<(usize, std::borrow::Cow<'_, Change>)> = Vec::new();
            for (i, c) in wave {
                match shared.with_references(c) {
                    Ok(c) => batch.push((i, c)),
                    Err(e) => {
                        let r = ObjectResult {
                            name: c.name.clone(),
                            action: c.action,
                            outcome: match e {
                                StepError::Skipped(message) => Outcome::Skipped { message },
                                StepError::Failed(message) => Outcome::Failed { message },
                            },
                        };
                        progress(&r);
                        results.push((i, r));
                    }
                }
            }
            // Every create of applications and clients is journaled first, with one flush for
            // all of them; each then needs only its own request and one (shared) flush of its
            // result.
            let mut prepared: BTreeMap<usize, Step<Option<CreateIntent>>> = BTreeMap::new();
            if phase.creates() {
                for (i, c) in &batch {
                    if let Some(address) = c.app_address() {
                        prepared.insert(*i, shared.prepare(c, address));
                    }
                }
                state.sync().await?;
            }
            let done: Vec<(usize, ObjectResult)> = stream::iter(batch.into_iter().map(|(i, c)| {
                let shared = &shared;
                let prepared = prepared.remove(&i);
                async move {
                    let r = shared.run(&c, prepared).await;
                    progress(&r);
                    (i, r)
                }
            }))
            .buffer_unordered(shared.options.concurrency.max(1))
            .collect()
            .await;
            // One flush makes the wave's records durable (the next one depends on them).
            state.sync().await?;
            results.extend(done);
        }
    }
    results.sort_by_key(|(i, _)| *i);
    report.objects = results.into_iter().map(|(_, r)| r).collect();
    state.flush()?;
    Ok(report)
}

#[cfg(test)]
mod tests;
