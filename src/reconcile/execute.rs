//! Carrying a plan out: phases in order (`Phase::ALL`: referenced objects created first,
//! deleted last), objects within a phase concurrently, one object's failure never stopping
//! independent ones. Each change is one `plan::Op`, carried out by the same steps for every
//! kind: one update, one delete, one record, one saved-plan check. Creates of applications and
//! clients are journaled durably before they are sent (`journaled.rs`), so a crash can be
//! finished by the next run instead of duplicating: see [`resolve_intents`]. A [`WriteGate`]
//! from the caller (a daemon replica's leadership) is asked before every write and halts
//! writes in flight when it closes.

mod gate;
mod journaled;
mod objects;
use objects::waves;
mod report;
pub(super) use journaled::record_created;

pub use gate::{GateKeeper, WriteGate};
pub use report::{ApplyReport, ObjectResult, Outcome};

use std::collections::BTreeMap;
use std::sync::Mutex;

use futures::stream::{self, StreamExt as _};
use rand::RngCore;
use serde::{Deserialize, Serialize};

pub use super::intents::{resolve_intents, IntentResolution};
use super::now_rfc3339;
use crate::model::kinds::{read_as_written, AnyKind};
use crate::plan::{
    entry_of, fingerprint_matches, Action, AppRef, Change, DefaultClientRecord, ObjectId, Op,
    Phase, Plan, PlanDefect, Record, REF_PREFIX,
};
use crate::state::address::Address;
use crate::state::store::{StateError, StateStore};
use crate::targets::{JsonObject, Target, TargetError, TargetErrorKind};

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
    /// The object (of a kind whose natural key upstream does not keep unique).
    pub address: Address,
    /// The `Idempotency-Key` the create carries.
    pub idempotency_key: String,
    /// For a parented kind (clients): the app it is created in.
    pub app_id: Option<String>,
    /// Its natural key (`app_name`, a client's `name`), for adoption by it.
    pub name: String,
    /// The request body when it holds no secrets (so it can be re-sent with the same key).
    pub body: Option<JsonObject>,
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

/// One run of [`execute`]: the target and state it writes, its options, and what its steps
/// share (the ids created so far, the collections listed for saved-plan checks).
struct Execution<'a> {
    target: &'a dyn Target,
    state: &'a StateStore,
    options: ExecuteOptions,
    new_app_ids: NewAppIds,
    /// Ids of the described kinds' objects created or adopted in this run, by the placeholder
    /// planned bodies name them with.
    object_ids: Mutex<BTreeMap<String, String>>,
    /// The collections listed to check a saved plan's objects of kinds not read one by id,
    /// each listed once per run (an object's own entry changes only by its own change, after
    /// its check).
    checked: tokio::sync::Mutex<BTreeMap<Collection, std::sync::Arc<Vec<JsonObject>>>>,
}

/// One kind's collection: the kind, and its application's id for a parented kind.
type Collection = (AnyKind, Option<String>);

impl Execution<'_> {
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

    /// For saved plans: refuses when the object (of any kind) changed or vanished since the
    /// plan was made. It is read again by id where its kind is read one by id
    /// (`Api::read_one`), else found in its collection, listed once per run ([`Execution::listed`]).
    async fn verify(&self, change: &Change, object: ObjectId<'_>, app_id: Option<&str>) -> Step {
        let Some(expected) = change
            .live_fingerprint
            .as_ref()
            .filter(|_| self.options.verify_live)
        else {
            return Ok(());
        };
        let spec = object.kind.spec();
        let live = match object.id.filter(|_| spec.api.read_one) {
            Some(id) => self
                .target
                .get(object.kind, app_id, id)
                .await?
                .map(|mut live| {
                    read_as_written(spec, &mut live);
                    live
                }),
            None => self
                .listed(object.kind, app_id)
                .await?
                .iter()
                .find(|o| object.id.is_none() || spec.id_of(o).as_deref() == object.id)
                .cloned(),
        };
        as_planned(
            live.map(|l| {
                fingerprint_matches(object.kind, &l, &change.fingerprint_fields, expected)
            }),
        )
    }

    /// The live id of the application an object belongs to or is created in: as planned, or
    /// created earlier in this run (or by an earlier run of a saved plan: recorded).
    fn app_id_of(&self, app: Option<AppRef<'_>>) -> Step<Option<String>> {
        let key = match app {
            None => return Ok(None),
            Some(AppRef::Live(id)) => return Ok(Some(id.to_owned())),
            Some(AppRef::CreatedInThisPlan(key)) => key,
        };
        if let Some(created) = self.new_app_ids.lock().expect("not poisoned").get(key) {
            return match created {
                Ok(id) => Ok(Some(id.clone())),
                Err(()) => Err(StepError::Skipped(format!(
                    "skipped: its application `{key}` was not created"
                ))),
            };
        }
        match self.state.get(Address::app(key))?.and_then(|e| e.app_id) {
            Some(id) => Ok(Some(id)),
            None => Err(StepError::Skipped(format!(
                "skipped: its application `{key}` does not exist yet"
            ))),
        }
    }

    /// Updates (or adopts) an object of any kind: checks a saved plan's object, sends the body
    /// if there is one, and records it.
    async fn update(
        &self,
        change: &Change,
        object: ObjectId<'_>,
        body: Option<&JsonObject>,
        record: &Record,
    ) -> Step {
        let app_id = self.app_id_of(object.app)?;
        let app = app_id.as_deref();
        self.maps(change, object)?;
        self.verify(change, object, app).await?;
        if let Some(body) = body {
            refuse_unrestored(change)?;
            self.gated(self.target.update(object.kind, app, object.id, body))
                .await??;
        }
        let id = object.id.map(str::to_owned);
        self.record(change, record, id, app_id)
    }

    /// Refuses an update of a described kind's object whose state entry (the one it moves
    /// from, for a move) does not map that object now: a saved plan made against another
    /// state, or edited, would otherwise leave two entries mapping one object (the next
    /// `--prune` deleting it) or drop an unrelated entry.
    fn maps(&self, change: &Change, object: ObjectId<'_>) -> Step {
        let Some(address) = change
            .object_address()
            .filter(|_| change.action == Action::Update)
        else {
            return Ok(());
        };
        let at: Address = match &change.moved_from {
            Some(from) => from.clone(),
            None => address.clone(),
        };
        let entry = self.state.get(&at)?;
        let mapped = entry.as_ref().map(|e| e.id.as_deref());
        let moved_onto = match &change.moved_from {
            Some(_) => self.state.get(address.clone())?.is_some(),
            None => false,
        };
        match mapped {
            Some(id) if id == object.id && !moved_onto => Ok(()),
            _ => Err(StepError::Failed(format!(
                "the state no longer maps this object under {at}{}; plan again",
                if moved_onto {
                    format!(" alone ({address} has an entry too)")
                } else {
                    String::new()
                }
            ))),
        }
    }

    /// Records what a change applied to the object `id` (of application `app_id`), and the id
    /// later changes of this run name it by.
    fn record(
        &self,
        change: &Change,
        record: &Record,
        id: Option<String>,
        app_id: Option<String>,
    ) -> Step {
        if let (Some(address), Some(id)) = (change.object_address(), &id) {
            self.object_ids
                .lock()
                .expect("not poisoned")
                .insert(format!("{REF_PREFIX}{address}"), id.clone());
        }
        // An entry that moves (the update wrote a new natural key) leaves its old address
        // first: lost writes then leave no entry, and the next plan adopts the object by its
        // new key, never two entries mapping it.
        if let Some(from) = &change.moved_from {
            self.state.remove_pending(from.clone())?;
        }
        Ok(self.state.put_pending(&entry_of(
            &change.address,
            record,
            id,
            app_id,
            now_rfc3339(),
        ))?)
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
                    // What the plan saw naming it (upstream's documented answer names nobody).
                    let seen = change
                        .notes
                        .iter()
                        .find_map(|n| crate::plan::in_use::referrers_in(n))
                        .map(|who| format!("; the plan saw it named by {who}"))
                        .unwrap_or_default();
                    return Err(StepError::Failed(format!(
                        "not deleted: it is still referenced ({}){seen}; upstream answered: {}. Remove the references to it (or manage the objects that hold them) and apply again",
                        kind.spec().in_use.unwrap_or_default(),
                        e.message
                    )));
                }
                Err(e) => return Err(e.into()),
            }
        }
        self.state.remove_pending(change.address.clone())?;
        let address = &change.address;
        if address.kind == AnyKind::Application {
            let snapshot = self.state.snapshot()?;
            for (client, _) in snapshot
                .app_entries()
                .filter(|(a, _)| a.kind == AnyKind::Client && a.app == address.app)
            {
                self.state.remove_pending(client)?;
            }
        }
        Ok(())
    }

    /// Carries out one change, of any kind (its references filled in).
    async fn step(&self, change: &Change, prepared: Option<Step<Option<CreateIntent>>>) -> Step {
        match change.op()? {
            Op::CreateApp { .. }
            | Op::Create {
                journaled: true, ..
            } => match prepared.unwrap_or_else(|| self.prepare(change))? {
                Some(intent) => self.create(change, intent).await,
                None => Ok(()),
            },
            Op::Create {
                kind,
                app,
                body,
                record,
                journaled: false,
            } => self.create_object(change, kind, app, body, record).await,
            Op::Update {
                object,
                body,
                record,
            } => {
                // An earlier create of it may be journaled (its kind's are) and unresolved.
                if change.action == Action::Adopt && !change.kind().spec().unique_key {
                    self.wait_for_unresolved_create(&change.address)?;
                }
                self.update(change, object, body, record).await
            }
            Op::Delete {
                object,
                already_gone,
            } => {
                let app_id = self.app_id_of(object.app)?;
                if !already_gone {
                    self.verify(change, object, app_id.as_deref()).await?;
                }
                self.delete(change, app_id.as_deref(), object.id.unwrap_or_default())
                    .await
            }
        }
    }

    /// Notes that a change of the `CreateApps` phase did not create its application (failed,
    /// or skipped before it ran): what this run would create in it is skipped, never sent to an
    /// id its state entry may still hold (an application deleted outside tenantsync).
    fn not_created(&self, change: &Change) {
        if let Some(app) = change
            .address
            .application()
            .filter(|_| change.phase == Phase::CreateApps)
        {
            self.new_app_ids
                .lock()
                .expect("not poisoned")
                .entry(app.to_owned())
                .or_insert(Err(()));
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
            self.step(change, prepared).await
        };
        if result.is_err() {
            self.not_created(change);
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
fn as_planned(unchanged: Option<bool>) -> Step {
    match unchanged {
        None => Err(StepError::Failed(
            "refused: it no longer exists on the target (deleted since the plan was made); run plan again"
                .to_owned(),
        )),
        Some(false) => Err(StepError::Failed(
            "refused: it changed on the target since the plan was made; nothing was written to it. Run plan again and review"
                .to_owned(),
        )),
        Some(true) => Ok(()),
    }
}

/// Refuses to send a body a saved plan shows secrets of (`(sensitive)`) when they were never
/// given back from the manifests (`plan::restore_secrets`).
fn refuse_unrestored(change: &Change) -> Step {
    // A whole replacement's body also holds the hidden values of fields it does not change.
    let shown_hidden =
        |body: &JsonObject| body.values().any(|v| v.to_string().contains("(sensitive)"));
    let unrestored = change.body.as_ref().is_none_or(|b| b.secret.is_none())
        && (change.fields.iter().any(|f| f.sensitive)
            || change.body.as_ref().is_some_and(|b| shown_hidden(&b.shown)));
    if unrestored {
        return Err(StepError::Failed(
            "a saved plan does not hold secret values; plan again and apply directly".to_owned(),
        ));
    }
    Ok(())
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
    let execution = Execution {
        target,
        state,
        options,
        new_app_ids: Mutex::new(BTreeMap::new()),
        object_ids: Mutex::new(BTreeMap::new()),
        checked: Default::default(),
    };
    let mut report = ApplyReport::default();
    for update in &plan.state_updates {
        let at = match &update.moved_from {
            Some(from) => from.clone(),
            None => update.address.clone(),
        };
        // A move onto an address that has an entry already is not this plan's to make.
        if update.moved_from.is_some() && state.get(&update.address)?.is_some() {
            continue;
        }
        if let Some(mut e) = state.get(&at)? {
            if update.moved_from.is_some() {
                state.remove_pending(at)?;
                e.address = update.address.clone();
            }
            e.last_applied = update.record.last_applied.clone();
            e.protect = update.record.protect;
            if let Some(name) = &update.record.name {
                e.name = name.clone();
            }
            e.applied_at = now_rfc3339();
            state.put(&e)?;
            report.state_updates += 1;
        }
    }
    // Results are reported in the plan's order.
    let mut results: Vec<(usize, ObjectResult)> = Vec::new();
    // A deletion runs only once every change taking a reference to its object out succeeded.
    let detaching = crate::plan::in_use::detaching(&plan.changes);
    for phase in Phase::ALL {
        for wave in waves(&plan.changes, phase) {
            // References to objects created earlier in this run are filled in; a change naming
            // one that was not created is skipped.
            let mut batch: Vec<(usize, std::borrow::Cow<'_, Change>)> = Vec::new();
            for (i, c) in wave {
                let still_named: Vec<&str> = detaching
                    .get(&i)
                    .into_iter()
                    .flatten()
                    .filter(|j| {
                        !results
                            .iter()
                            .any(|(k, r)| k == *j && r.outcome == Outcome::Ok)
                    })
                    .map(|j| plan.changes[*j].name.as_str())
                    .collect();
                if !still_named.is_empty() {
                    let r = ObjectResult {
                        name: c.name.clone(),
                        action: c.action,
                        outcome: Outcome::Skipped {
                            message: format!(
                                "not deleted: {} still names it (the update that takes the reference out did not succeed); deleting it now would leave that reference naming a deleted object",
                                still_named.join(", ")
                            ),
                        },
                    };
                    progress(&r);
                    results.push((i, r));
                    continue;
                }
                match execution.with_references(c) {
                    Ok(c) => batch.push((i, c)),
                    Err(e) => {
                        execution.not_created(c);
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
                    if c.op().is_ok_and(|op| op.journaled()) {
                        prepared.insert(*i, execution.prepare(c));
                    }
                }
                state.sync().await?;
            }
            let done: Vec<(usize, ObjectResult)> = stream::iter(batch.into_iter().map(|(i, c)| {
                let execution = &execution;
                let prepared = prepared.remove(&i);
                async move {
                    let r = execution.run(&c, prepared).await;
                    progress(&r);
                    (i, r)
                }
            }))
            .buffer_unordered(execution.options.concurrency.max(1))
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
