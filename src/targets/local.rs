//! The embedded target: the sled tenant in-process, through the same service layer `serve`
//! uses, as a management caller. No HTTP, same semantics.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use serde_json::Value;

use super::usage::{ApiMethod, ApiUsage, RequestOutcome};
use super::{JsonObject, Target, TargetError, TargetErrorKind};
use crate::model::kinds::{AnyKind, ObjKind};
use crate::tenant::{Caller, Idempotency, Tenant, TenantError, TenantStore};

/// The embedded tenant.
pub struct LocalTarget {
    dir: PathBuf,
    tenant: Option<Arc<Tenant>>,
    caller: Caller,
    usage: Arc<ApiUsage>,
}

fn to_object(value: Value) -> JsonObject {
    match value {
        Value::Object(m) => m,
        _ => JsonObject::new(),
    }
}

impl From<TenantError> for TargetError {
    fn from(e: TenantError) -> Self {
        let kind = match &e {
            TenantError::Invalid(_) => TargetErrorKind::BadRequest,
            TenantError::Unauthenticated(_) => TargetErrorKind::Unauthorized,
            TenantError::Forbidden(_) => TargetErrorKind::Forbidden,
            TenantError::NotFound(_) => TargetErrorKind::NotFound,
            TenantError::IdentifierTaken(_) | TenantError::InUse(_) => TargetErrorKind::Conflict,
            TenantError::IdempotencyKeyReused(_) => TargetErrorKind::KeyReused,
            TenantError::Store(_) => TargetErrorKind::Other,
        };
        TargetError::new(kind, e.to_string())
    }
}

impl LocalTarget {
    /// Opens the embedded tenant in `dir` (the same layout as `serve --data DIR`, so
    /// `tenantsync serve --data DIR` can serve it over HTTP when tenantsync is not using it).
    /// With `create: false` a missing tenant is empty and nothing is written (so `plan` never
    /// creates files).
    pub fn open(dir: &Path, create: bool) -> Result<Self, crate::tenant::StoreError> {
        let store_dir = dir.join("store");
        let tenant = if create || store_dir.exists() {
            crate::private_dir::create(dir)
                .map_err(|e| crate::tenant::StoreError::Sled(e.into()))?;
            let store = TenantStore::open(&store_dir)?;
            Some(Arc::new(Tenant::new(store, "local://tenantsync")?))
        } else {
            None
        };
        Ok(Self {
            dir: dir.to_owned(),
            tenant,
            caller: Caller::admin("tenantsync-local"),
            usage: Arc::new(ApiUsage::new(None)),
        })
    }

    /// An embedded tenant in memory, gone when dropped, whose writes never wait on a blocking
    /// flush (the deterministic simulation's tenant).
    pub fn temporary() -> Result<Self, crate::tenant::StoreError> {
        let store = TenantStore::temporary()?;
        Ok(Self {
            dir: PathBuf::from("(temporary)"),
            tenant: Some(Arc::new(Tenant::new(store, "local://tenantsync")?)),
            caller: Caller::admin("tenantsync-local"),
            usage: Arc::new(ApiUsage::new(None)),
        })
    }

    /// Renders responses with `responses` (tests: a response variation), as `serve` would.
    pub fn with_responses(mut self, responses: crate::tenant::Responses) -> Self {
        self.tenant = self
            .tenant
            .take()
            .and_then(Arc::into_inner)
            .map(|t| Arc::new(t.with_responses(responses)));
        self
    }

    /// Runs one operation, counted as the request `serve` would have answered: by method and by
    /// the class of status its result maps to.
    async fn counted<T>(
        &self,
        method: ApiMethod,
        operation: impl Future<Output = Result<T, TargetError>>,
    ) -> Result<T, TargetError> {
        let result = operation.await;
        let outcome = match &result {
            Ok(_) => RequestOutcome::Ok,
            Err(e) => match e.kind {
                TargetErrorKind::Other | TargetErrorKind::Transient => RequestOutcome::ServerError,
                TargetErrorKind::RateLimited => RequestOutcome::RateLimited,
                _ => RequestOutcome::ClientError,
            },
        };
        self.usage.record(method, outcome);
        result
    }

    /// An update of a described kind: the PUT, then the POST of the field a `replaces_one`
    /// path writes (`Api::update_requests`), each counted as over HTTP.
    async fn update_described(
        &self,
        kind: ObjKind,
        app_id: Option<&str>,
        id: Option<&str>,
        body: &JsonObject,
    ) -> Result<Option<JsonObject>, TargetError> {
        let requests = kind.spec().api.update_requests(body);
        let sends = requests
            .put
            .map(|b| (ApiMethod::Put, b))
            .into_iter()
            .chain(requests.replace.map(|(_, b)| (ApiMethod::Post, b)));
        for (method, body) in sends {
            let body = Value::Object(body);
            self.counted(method, async {
                self.tenant()?
                    .update_object(&self.caller, kind, app_id, id, &body)
                    .await
                    .map_err(TargetError::from)
            })
            .await?;
        }
        Ok(None)
    }

    fn tenant(&self) -> Result<&Tenant, TargetError> {
        self.tenant.as_deref().ok_or_else(|| {
            TargetError::new(
                TargetErrorKind::Other,
                format!(
                    "the embedded tenant at {} does not exist yet",
                    self.dir.display()
                ),
            )
        })
    }
}

fn none_if_missing<T>(r: Result<T, TargetError>) -> Result<Option<T>, TargetError> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(e) if e.kind == TargetErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

#[async_trait]
impl Target for LocalTarget {
    fn describe(&self) -> String {
        format!("local:{}", self.dir.display())
    }

    fn usage(&self) -> Arc<ApiUsage> {
        self.usage.clone()
    }

    async fn honors_idempotency_keys(&self) -> bool {
        true
    }

    async fn tenant_id(&self) -> Result<Option<String>, TargetError> {
        Ok(self.tenant.as_ref().map(|t| t.tenant_id().to_owned()))
    }

    async fn list(
        &self,
        kind: AnyKind,
        app_id: Option<&str>,
    ) -> Result<Vec<JsonObject>, TargetError> {
        let Some(tenant) = &self.tenant else {
            // Nothing was ever written.
            self.usage.record(ApiMethod::Get, RequestOutcome::Ok);
            return Ok(Vec::new());
        };
        let caller = &self.caller;
        let listed = self
            .counted(ApiMethod::Get, async {
                Ok(tenant.list(caller, kind, app_id)?)
            })
            .await?;
        // What the HTTP target reads: the objects, or a singleton's one object.
        Ok(match (kind.api().singleton_field, listed) {
            (Some(field), Value::Object(mut one)) => match one.remove(field) {
                Some(Value::Object(inner)) => vec![inner],
                _ => Vec::new(),
            },
            (_, Value::Array(items)) => items.into_iter().map(to_object).collect(),
            _ => Vec::new(),
        })
    }

    async fn get(
        &self,
        kind: AnyKind,
        app_id: Option<&str>,
        id: &str,
    ) -> Result<Option<JsonObject>, TargetError> {
        let Some(tenant) = &self.tenant else {
            self.usage
                .record(ApiMethod::Get, RequestOutcome::ClientError);
            return Ok(None);
        };
        let caller = &self.caller;
        let found = self
            .counted(ApiMethod::Get, async {
                if !kind.api().read_one {
                    return Err(TargetError::new(
                        TargetErrorKind::Other,
                        format!("a {kind} is not read one by id"),
                    ));
                }
                Ok(tenant.read(caller, kind, app_id, id)?)
            })
            .await;
        Ok(none_if_missing(found)?.map(to_object))
    }

    async fn create(
        &self,
        kind: AnyKind,
        app_id: Option<&str>,
        body: &JsonObject,
        idempotency_key: &str,
    ) -> Result<JsonObject, TargetError> {
        let body = Value::Object(body.clone());
        let route = kind.api().collection_path(app_id);
        let idem = Idempotency::new(idempotency_key, &route, &body);
        let created = self
            .counted(ApiMethod::Post, async {
                let tenant = self.tenant()?;
                let caller = &self.caller;
                Ok(tenant
                    .create(caller, kind, app_id, &body, Some(&idem))
                    .await?)
            })
            .await?;
        Ok(to_object(created.body))
    }

    async fn update(
        &self,
        kind: AnyKind,
        app_id: Option<&str>,
        id: Option<&str>,
        body: &JsonObject,
    ) -> Result<Option<JsonObject>, TargetError> {
        if let AnyKind::Described(kind) = kind {
            return self.update_described(kind, app_id, id, body).await;
        }
        let body = Value::Object(body.clone());
        self.counted(ApiMethod::Put, async {
            let updated = self
                .tenant()?
                .update(&self.caller, kind, app_id, id, &body)
                .await?;
            Ok(Some(to_object(updated)))
        })
        .await
    }

    async fn delete(
        &self,
        kind: AnyKind,
        app_id: Option<&str>,
        id: &str,
    ) -> Result<(), TargetError> {
        self.counted(ApiMethod::Delete, async {
            Ok(self
                .tenant()?
                .delete(&self.caller, kind, app_id, id)
                .await?)
        })
        .await
    }
}
