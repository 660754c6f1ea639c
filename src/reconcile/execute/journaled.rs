//! Journaled creates: an object of a kind whose natural key upstream does not keep unique
//! (`KindSpec::unique_key` false: applications, whose `app_name` two may share, and clients,
//! whose `name` two of one application may share) is journaled durably, with the idempotency
//! key its create carries, before the create is sent: only the journal finds such a create
//! lost to a crash again ([`resolve_intents`]). Addressed by the kind's address, sent with
//! `Target::create`, found again by the kind's natural key and id field, recorded with the one
//! entry constructor of every kind; an application is recorded with the default client
//! upstream creates with it. Those two kinds are the only ones journaled: a described kind
//! with a key upstream lets two share would also need what `create_object` does for them (a
//! lookup where the create's answer is untyped, the ids the plan's placeholders name), and is
//! refused here until it has it.
//!
//! [`resolve_intents`]: super::resolve_intents

use super::{new_key, CreateIntent, Execution, Step, StepError};
use crate::model::kinds::{AnyKind, APPLICATION, CLIENT};
use crate::plan::{entry_of, AppRef, Body, Change, DefaultClientRecord, Op, Record};
use crate::reconcile::intents::{find_by_name, Found, Lookup};
use crate::reconcile::now_rfc3339;
use crate::state::address::Address;
use crate::state::store::{StateError, StateStore};
use crate::targets::{JsonObject, Target, TargetError, TargetErrorKind};

/// Records what a journaled create made (or what the lookup of an interrupted one found): an
/// application with its default client (returning the application's id), any other object by
/// its own id in its application.
pub(in crate::reconcile) async fn record_created(
    target: &dyn Target,
    state: &StateStore,
    intent: &CreateIntent,
    created: &JsonObject,
) -> Result<Option<String>, StateError> {
    let address = &intent.address;
    match address.kind {
        AnyKind::Application => record_app(
            target,
            state,
            address,
            &intent.record,
            intent.default_client.as_ref(),
            created,
        )
        .await
        .map(Some),
        kind => {
            let id = kind.spec().id_of(created);
            let app_id = intent.app_id.clone();
            state.put_pending(&entry_of(
                address,
                &intent.record,
                id,
                app_id,
                now_rfc3339(),
            ))?;
            Ok(None)
        }
    }
}

/// Records an app created (or found) with its default client. Upstream does not promise the
/// default client's id in app responses (`client_id` is optional there): without it, the app's
/// clients are listed and the one of the default client's name is recorded.
async fn record_app(
    target: &dyn Target,
    state: &StateStore,
    address: &Address,
    record: &Record,
    default_client: Option<&DefaultClientRecord>,
    app: &JsonObject,
) -> Result<String, StateError> {
    let app_id = APPLICATION.id_of(app).unwrap_or_default();
    state.put_pending(&entry_of(
        address,
        record,
        Some(app_id.clone()),
        None,
        now_rfc3339(),
    ))?;
    let Some(dc) = default_client else {
        return Ok(app_id);
    };
    let client_id = match CLIENT.id_of(app) {
        Some(id) => Some(id),
        None => {
            let name = dc.address.client_name().unwrap_or_default();
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
        state.put_pending(&entry_of(
            &(&dc.address).into(),
            &dc.record,
            Some(client_id),
            Some(app_id.clone()),
            now_rfc3339(),
        ))?;
    }
    Ok(app_id)
}

impl Execution<'_> {
    /// Refuses a create or an adoption while an earlier create of the object, or of its
    /// application, is journaled and its fate unknown (its lookup failed this run): creating
    /// now could make a second object, and adopting would record the application without the
    /// default client its create made. The next run resolves the intent first.
    pub(super) fn wait_for_unresolved_create(&self, address: &Address) -> Step {
        let own = self.state.journal_has(&address.key())?;
        let app = match address
            .application()
            .filter(|_| address.kind != AnyKind::Application)
        {
            Some(app) => self.state.journal_has(&Address::app(app).key())?,
            None => false,
        };
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
    pub(super) fn prepare(&self, change: &Change) -> Step<Option<CreateIntent>> {
        let address = &change.address;
        if address.as_app().is_none() {
            return Err(StepError::Failed(format!(
                "not carried out: a journaled create of a {} is not supported (its key is unique upstream in every description this release has)",
                change.kind().spec().noun
            )));
        }
        let (body, record, app, default_client) = match change.op()? {
            Op::CreateApp {
                body,
                record,
                default_client,
            } => (body, record, None, default_client),
            Op::Create {
                app,
                body,
                record,
                journaled: true,
                ..
            } => (body, record, app, None),
            Op::Create { .. } | Op::Update { .. } | Op::Delete { .. } => return Ok(None),
        };
        self.wait_for_unresolved_create(address)?;
        if self.options.verify_live {
            // A saved plan applied again after a crash: what an earlier run created is recorded
            // (by intent resolution) and must not be created twice.
            if let Some(existing) = self.state.get(address)? {
                if let Some(key) = address
                    .application()
                    .filter(|_| change.kind() == AnyKind::Application)
                {
                    self.new_app_ids
                        .lock()
                        .expect("not poisoned")
                        .insert(key.to_owned(), Ok(existing.application_id().to_owned()));
                }
                return Ok(None);
            }
        }
        let app_id = self.app_id_of(app)?;
        let has_secrets = change.body.as_ref().is_some_and(Body::hides_values);
        let name = change
            .kind()
            .spec()
            .key_of(body)
            .unwrap_or_default()
            .to_owned();
        let intent = CreateIntent {
            address: address.clone(),
            idempotency_key: new_key(),
            app_id,
            name,
            body: (!has_secrets).then(|| body.clone()),
            record: record.clone(),
            // Its field changes are for plans to show; the journal keeps what a resume needs.
            default_client: default_client.map(|d| DefaultClientRecord {
                fields: Vec::new(),
                ..d.clone()
            }),
            started_at: now_rfc3339(),
            replaces: self.state.get(address)?.map(|e| e.server_id().to_owned()),
        };
        self.state.journal_put_pending(&address.key(), &intent)?;
        Ok(Some(intent))
    }

    /// Sends a create whose intent is durable, and records the result.
    pub(super) async fn create(&self, change: &Change, intent: CreateIntent) -> Step {
        let body = match change.op()? {
            Op::CreateApp { body, .. }
            | Op::Create {
                body,
                journaled: true,
                ..
            } => body,
            Op::Create { .. } | Op::Update { .. } | Op::Delete { .. } => return Ok(()),
        };
        let address = &intent.address;
        let journal_key = address.key();
        // A list can leave an item out, and the plan then creates what exists: a client about
        // to be created in an application that existed before this plan is first looked up by
        // name in a fresh list (one request), and recorded if it is there.
        let into_live_app = matches!(
            change.op()?,
            Op::Create {
                app: Some(AppRef::Live(_)),
                journaled: true,
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
        let result = match found {
            Some(existing) => Ok(existing),
            None => {
                let (kind, app_id) = (address.kind, intent.app_id.as_deref());
                self.gated(
                    self.target
                        .create(kind, app_id, body, &intent.idempotency_key),
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
                let app_id = record_created(self.target, self.state, &intent, &created).await?;
                if let (Some(id), Some(key)) = (app_id, address.application()) {
                    self.new_app_ids
                        .lock()
                        .expect("not poisoned")
                        .insert(key.to_owned(), Ok(id));
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
    async fn find_created(&self, intent: &CreateIntent) -> Result<Option<JsonObject>, TargetError> {
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
}
