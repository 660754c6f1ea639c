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

use crate::model::kinds::ObjKind;
use crate::model::ClientKey;
use usage::ApiUsage;

/// A live object as the API returns it.
pub type Object = Map<String, Value>;

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
    /// Every application (list form: `logo` omitted).
    async fn list_apps(&self) -> Result<Vec<Object>, TargetError>;
    /// One application, or `None`.
    async fn get_app(&self, app_id: &str) -> Result<Option<Object>, TargetError>;
    /// An application's clients.
    async fn list_clients(&self, app_id: &str) -> Result<Vec<Object>, TargetError>;
    /// One client, or `None`.
    async fn get_client(&self, client: ClientKey<'_>) -> Result<Option<Object>, TargetError>;
    /// Creates an application (with its default client); returns it.
    async fn create_app(&self, body: &Object, idempotency_key: &str)
        -> Result<Object, TargetError>;
    /// Updates an application (top-level partial update); returns it.
    async fn update_app(&self, app_id: &str, body: &Object) -> Result<Object, TargetError>;
    /// Deletes an application and its clients.
    async fn delete_app(&self, app_id: &str) -> Result<(), TargetError>;
    /// Creates a client; returns it.
    async fn create_client(
        &self,
        app_id: &str,
        body: &Object,
        idempotency_key: &str,
    ) -> Result<Object, TargetError>;
    /// Updates a client; returns it.
    async fn update_client(
        &self,
        client: ClientKey<'_>,
        body: &Object,
    ) -> Result<Object, TargetError>;
    /// Deletes a client.
    async fn delete_client(&self, client: ClientKey<'_>) -> Result<(), TargetError>;
    /// Every object of a described kind: of the application `app_id` for a parented kind; for a
    /// singleton (login preferences) its one object.
    async fn list_objects(
        &self,
        kind: ObjKind,
        app_id: Option<&str>,
    ) -> Result<Vec<Object>, TargetError>;
    /// Creates an object of a described kind; returns the answer's `result` (for a kind whose
    /// create answer is untyped, it may not hold the object: find it by natural key).
    async fn create_object(
        &self,
        kind: ObjKind,
        app_id: Option<&str>,
        body: &Object,
        idempotency_key: &str,
    ) -> Result<Object, TargetError>;
    /// Updates an object (`id`: `None` for a singleton, which is replaced whole).
    async fn update_object(
        &self,
        kind: ObjKind,
        app_id: Option<&str>,
        id: Option<&str>,
        body: &Object,
    ) -> Result<(), TargetError>;
    /// Deletes an object.
    async fn delete_object(
        &self,
        kind: ObjKind,
        app_id: Option<&str>,
        id: &str,
    ) -> Result<(), TargetError>;
}
