//! Targets: where the live tenant is. One trait, two implementations: [`local::LocalTarget`]
//! (the embedded sled tenant, in-process, same semantics as `serve`) and
//! [`http::HttpTarget`] (any Applications API base URL: the bundled server or upstream).
//! Live objects are JSON maps exactly as the API returns them.

pub mod faulty;
pub mod http;
pub mod local;
pub mod usage;

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::{Map, Value};

use crate::model::kinds::AnyKind;
use crate::model::ClientKey;
use usage::ApiUsage;

/// A live object as the API returns it.
pub type JsonObject = Map<String, Value>;

/// Classes of target failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetErrorKind {
    /// 404.
    NotFound,
    /// 400: the request was refused as invalid.
    BadRequest,
    /// 409.
    Conflict,
    /// 401: credentials missing or wrong.
    Unauthorized,
    /// 403: not permitted.
    Forbidden,
    /// Timeouts, connection failures and 5xx: may succeed later. For a create, the object may or
    /// may not exist.
    Transient,
    /// 429: the request was refused before it was processed; it may be sent again later.
    RateLimited,
    /// 409 for an `Idempotency-Key` already used: the create it names was (probably) applied;
    /// find it by name.
    KeyReused,
    /// Anything else (bad URL, unreadable response, local store failure).
    Other,
}

/// A failed target operation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct TargetError {
    /// The class.
    pub kind: TargetErrorKind,
    /// What happened (no secrets).
    pub message: String,
}

impl TargetError {
    /// An error of a kind.
    pub fn new(kind: TargetErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }

    /// Whether the operation certainly did not happen (so a create left nothing behind).
    pub fn certainly_not_applied(&self) -> bool {
        matches!(
            self.kind,
            TargetErrorKind::BadRequest
                | TargetErrorKind::RateLimited
                | TargetErrorKind::Conflict
                | TargetErrorKind::Unauthorized
                | TargetErrorKind::Forbidden
                | TargetErrorKind::NotFound
        )
    }
}

/// The live tenant.
#[async_trait]
pub trait Target: Send + Sync {
    /// A description for plans and logs (no credentials).
    fn describe(&self) -> String;
    /// The requests sent so far (by method and outcome, retries included) and the rate in force.
    fn usage(&self) -> Arc<ApiUsage>;
    /// `(reads, writes)` sent so far: GETs, and POSTs, PUTs and DELETEs.
    fn request_counts(&self) -> (u64, u64) {
        let tally = self.usage().tally();
        (tally.reads(), tally.writes())
    }
    /// Where the tenant's clients get tokens (`<origin>/oidc/token`), when it has such a URL.
    fn token_url(&self) -> Option<String> {
        None
    }
    /// Setting it makes the target stop retrying and start no new read (shutdown: the daemon
    /// exits within its grace period however slow the target is), where the target retries.
    fn stop_handle(&self) -> Option<Arc<std::sync::atomic::AtomicBool>> {
        None
    }
    /// Whether creates are deduplicated by `Idempotency-Key`: only where the target says so
    /// explicitly (the bundled API advertises it); never assumed of upstream.
    async fn honors_idempotency_keys(&self) -> bool;
    /// The tenant id, where the target tells it (the access token's `tid`, the embedded
    /// tenant's id).
    async fn tenant_id(&self) -> Result<Option<String>, TargetError>;
    /// How much of the tenant the credential may see, as its token tells (the embedded tenant:
    /// everything).
    async fn credential_view(&self) -> Result<crate::plan::CredentialView, TargetError> {
        Ok(crate::plan::CredentialView::Unrestricted)
    }
    /// Every object of `kind`: of the application `app_id` for a parented kind; for a
    /// singleton (login preferences) its one object, or none. Applications in list form
    /// (`logo` omitted).
    async fn list(
        &self,
        kind: AnyKind,
        app_id: Option<&str>,
    ) -> Result<Vec<JsonObject>, TargetError>;
    /// One object of a kind read one by id (`Api::read_one`), or `None`.
    async fn get(
        &self,
        kind: AnyKind,
        app_id: Option<&str>,
        id: &str,
    ) -> Result<Option<JsonObject>, TargetError>;
    /// Creates an object; returns what the create answered (out of its envelope). An
    /// application is created with its default client. For a kind whose create answer is
    /// untyped (`CreateAnswer::Untyped`) it may not hold the object: find it by natural key.
    async fn create(
        &self,
        kind: AnyKind,
        app_id: Option<&str>,
        body: &JsonObject,
        idempotency_key: &str,
    ) -> Result<JsonObject, TargetError>;
    /// Updates an object (`id`: `None` for a singleton, which is replaced whole); returns the
    /// object when its API answers it (`Api::update_answers_object`).
    async fn update(
        &self,
        kind: AnyKind,
        app_id: Option<&str>,
        id: Option<&str>,
        body: &JsonObject,
    ) -> Result<Option<JsonObject>, TargetError>;
    /// Deletes an object (an application with its clients).
    async fn delete(
        &self,
        kind: AnyKind,
        app_id: Option<&str>,
        id: &str,
    ) -> Result<(), TargetError>;

    // What follows is the calls above for one kind each, as the reconciler names them.

    /// Every application (list form: `logo` omitted), without the login secrets its
    /// read-only `login_preferences` may show (`kinds::without_login_secrets`).
    async fn list_apps(&self) -> Result<Vec<JsonObject>, TargetError> {
        let mut apps = self.list(AnyKind::Application, None).await?;
        apps.iter_mut()
            .for_each(crate::model::kinds::without_login_secrets);
        Ok(apps)
    }
    /// One application, or `None` (as [`Target::list_apps`] reads each).
    async fn get_app(&self, app_id: &str) -> Result<Option<JsonObject>, TargetError> {
        let mut app = self.get(AnyKind::Application, None, app_id).await?;
        app.iter_mut()
            .for_each(crate::model::kinds::without_login_secrets);
        Ok(app)
    }
    /// An application's clients.
    async fn list_clients(&self, app_id: &str) -> Result<Vec<JsonObject>, TargetError> {
        self.list(AnyKind::Client, Some(app_id)).await
    }
    /// One client, or `None`.
    async fn get_client(&self, client: ClientKey<'_>) -> Result<Option<JsonObject>, TargetError> {
        self.get(AnyKind::Client, Some(client.app_id), client.client_id)
            .await
    }
    /// Creates an application (with its default client); returns it.
    async fn create_app(
        &self,
        body: &JsonObject,
        idempotency_key: &str,
    ) -> Result<JsonObject, TargetError> {
        self.create(AnyKind::Application, None, body, idempotency_key)
            .await
    }
    /// Creates a client; returns it.
    async fn create_client(
        &self,
        app_id: &str,
        body: &JsonObject,
        idempotency_key: &str,
    ) -> Result<JsonObject, TargetError> {
        self.create(AnyKind::Client, Some(app_id), body, idempotency_key)
            .await
    }
    /// Every object of a kind (see [`Target::list`]), each with its fields as requests write
    /// them (`kinds::read_as_written`: a role group's `role_ids`).
    async fn list_objects(
        &self,
        kind: AnyKind,
        app_id: Option<&str>,
    ) -> Result<Vec<JsonObject>, TargetError> {
        let mut objects = self.list(kind, app_id).await?;
        for object in &mut objects {
            crate::model::kinds::read_as_written(kind.spec(), object);
        }
        Ok(objects)
    }
}
