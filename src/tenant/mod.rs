//! The Applications API's semantics over the tenant store: validation, the default client and its
//! mirror fields, whole-object replacement on update, uniqueness (409), permissions and
//! idempotency. The HTTP server only translates to and from the wire; the embedded `local`
//! target calls this same layer in-process.

pub mod caller;
pub mod error;
pub mod render;
pub mod store;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{LazyLock, Mutex, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use rand::distributions::Alphanumeric;
use rand::{Rng, RngCore};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::model::catalogue::{self, Flow, Object};
use crate::model::client::ClientIdentity;
use crate::model::schema::{BodySchema, FieldPath, Problem};
use crate::model::{
    rules, App, AppCore, AppInput, AuthenticationProtocol, Client, ClientType, CustomDomain,
    CustomDomainStatus, DefaultClientView, ExternalCommunication, OidcClient, OidcClientInput,
    ResourceIdsInput, SamlClient, SamlClientInput,
};
pub use render::Responses;

pub use caller::{Caller, Permissions, Reach, Verb};
pub use error::TenantError;
use store::{Changes, IdempotencyRecord, StoredApp, StoredClient};
pub use store::{StoreError, TenantStore};

/// How long an `Idempotency-Key` is remembered.
pub const IDEMPOTENCY_TTL_SECS: u64 = 24 * 60 * 60;

/// The response header by which the bundled server advertises its `Idempotency-Key` extension
/// (value: how long a key is remembered, in seconds). Clients rely on idempotency keys only where
/// they see it: upstream documents no such extension.
pub const IDEMPOTENCY_EXTENSION_HEADER: &str = "tenantsync-idempotency-window";

/// Request schemas, generated once from the wire types.
struct Schemas {
    app_create: BodySchema,
    app_update: BodySchema,
    oidc_create: BodySchema,
    oidc_update: BodySchema,
    oidc_first_client: BodySchema,
    saml_create: BodySchema,
    saml_update: BodySchema,
    saml_first_client: BodySchema,
    resource_ids: BodySchema,
}

/// The fields the catalogue marks as required on create, and those accepted on create only.
fn create_facts(object: Object) -> (Vec<&'static str>, Vec<&'static str>) {
    let fields = object.fields().iter();
    let required = fields
        .clone()
        .filter(|f| f.required_on_create)
        .map(|f| f.name)
        .collect();
    let create_only = fields
        .filter(|f| f.flow == Flow::CreateOnly)
        .map(|f| f.name)
        .collect();
    (required, create_only)
}

static SCHEMAS: LazyLock<Schemas> = LazyLock::new(|| {
    let (app_required, _) = create_facts(Object::App);
    let (oidc_required, oidc_create_only) = create_facts(Object::OidcClient);
    let (saml_required, saml_create_only) = create_facts(Object::SamlClient);
    Schemas {
        app_create: BodySchema::of::<AppInput>().require(&app_required),
        app_update: BodySchema::of::<AppInput>(),
        oidc_create: BodySchema::of::<OidcClientInput>().require(&oidc_required),
        oidc_update: BodySchema::of::<OidcClientInput>().without(&oidc_create_only),
        oidc_first_client: BodySchema::of::<OidcClientInput>(),
        saml_create: BodySchema::of::<SamlClientInput>().require(&saml_required),
        saml_update: BodySchema::of::<SamlClientInput>().without(&saml_create_only),
        saml_first_client: BodySchema::of::<SamlClientInput>(),
        resource_ids: BodySchema::of::<ResourceIdsInput>(),
    }
});

/// Deprecated app-level fields that a request may send for the default client, the client field
/// each stands for, and whether it applies to OIDC clients only (SAML clients lack the field).
static DEPRECATED_CLIENT_FIELDS: LazyLock<Vec<(&'static str, &'static str, bool)>> =
    LazyLock::new(|| {
        catalogue::app_mirrors()
            .filter(|(app_field, _)| {
                Object::App
                    .field(app_field)
                    .is_some_and(|f| f.flow == Flow::ReadWrite)
            })
            .map(|(app_field, client_field)| {
                let oidc_only = Object::SamlClient.field(client_field).is_none();
                (app_field, client_field, oidc_only)
            })
            .collect()
    });

/// An `Idempotency-Key` sent with a create, and the request it came with.
#[derive(Debug, Clone)]
pub struct Idempotency {
    key: String,
    fingerprint: String,
}

impl Idempotency {
    /// The key for a request to `route` with `body`.
    pub fn new(key: &str, route: &str, body: &Value) -> Self {
        let mut hasher = Sha256::new();
        hasher.update(route.as_bytes());
        hasher.update(b"\n");
        hasher.update(serde_json::to_vec(body).unwrap_or_default());
        Self {
            key: key.to_owned(),
            fingerprint: hex(&hasher.finalize()),
        }
    }
}

/// The result of a create: the response body, and whether it was replayed for a repeated
/// `Idempotency-Key`.
#[derive(Debug, Clone, PartialEq)]
pub struct Created {
    /// The response body (the app without envelope, or the client).
    pub body: Value,
    /// True when this is the stored response of an earlier request with the same key.
    pub replayed: bool,
}

/// A tenant: the service every API operation goes through.
pub struct Tenant {
    store: TenantStore,
    write_lock: Mutex<()>,
    /// Bumped after every committed write; guards [`Self::rendered`] against stale inserts.
    write_generation: AtomicU64,
    /// `GET /v1/applications/{appId}` bodies, rendered once per app version.
    rendered: RwLock<HashMap<String, bytes::Bytes>>,
    /// `GET …/clients` bodies, rendered once per version of the app's clients.
    rendered_clients: RwLock<HashMap<String, bytes::Bytes>>,
    /// The management caller's `GET /v1/applications` body, rendered once per tenant version.
    rendered_list: RwLock<Option<bytes::Bytes>>,
    tenant_id: String,
    public_url: String,
    idp_certificate: String,
    signing_key: Vec<u8>,
    responses: Responses,
}

fn now_rfc3339() -> String {
    let now = time::OffsetDateTime::now_utc();
    let micros = now.nanosecond() / 1_000 * 1_000;
    now.replace_nanosecond(micros)
        .expect("a truncated nanosecond is valid")
        .format(&time::format_description::well_known::Rfc3339)
        .expect("RFC 3339 formatting of the current time cannot fail")
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn random_id(len: usize) -> String {
    rand::thread_rng()
        .sample_iter(&Alphanumeric)
        .take(len)
        .map(char::from)
        .collect()
}

fn random_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn problems_at(problems: Vec<Problem>, prefix: &FieldPath) -> Vec<String> {
    problems
        .into_iter()
        .map(|p| {
            Problem {
                path: p.path.prefixed(prefix),
                message: p.message,
            }
            .to_string()
        })
        .collect()
}

fn as_object(body: &Value) -> Result<&Map<String, Value>, TenantError> {
    body.as_object()
        .ok_or_else(|| TenantError::invalid("the request body must be a JSON object"))
}

fn decode<T: serde::de::DeserializeOwned>(value: Value) -> Result<T, TenantError> {
    serde_json::from_value(value).map_err(|e| TenantError::invalid(e.to_string()))
}

fn not_found_app(app_id: &str) -> TenantError {
    TenantError::NotFound(format!("application `{app_id}` not found"))
}

fn not_found_client(app_id: &str, client_id: &str) -> TenantError {
    TenantError::NotFound(format!(
        "client `{client_id}` not found in application `{app_id}`"
    ))
}

/// The API's prose rules for an OIDC client's settings.
fn oidc_rule_problems(settings: &OidcClientInput, prefix: &FieldPath) -> Vec<String> {
    let mut out = Vec::new();
    let client_type = settings.client_type.unwrap_or(ClientType::Web);
    for (i, uri) in settings.redirect_uris.iter().flatten().enumerate() {
        if let Err(message) = rules::check_redirect_uri(uri, client_type) {
            out.push(format!(
                "{}: {message}",
                prefix.key("redirect_uris").index(i)
            ));
        }
    }
    if let Err(message) = rules::check_userinfo_claims(
        settings.default_user_info_claims.as_deref(),
        settings.sync_id_token_claims_to_userinfo,
    ) {
        out.push(format!(
            "{}: {message}",
            prefix.key("default_user_info_claims")
        ));
    }
    out
}

fn saml_rule_problems(settings: &SamlClientInput, prefix: &FieldPath) -> Vec<String> {
    let mut out = Vec::new();
    if let Err(message) = rules::check_userinfo_claims(
        settings.default_user_info_claims.as_deref(),
        settings.sync_id_token_claims_to_userinfo,
    ) {
        out.push(format!(
            "{}: {message}",
            prefix.key("default_user_info_claims")
        ));
    }
    out
}

fn client_rule_problems(client: &Client, prefix: &FieldPath) -> Vec<String> {
    match client {
        Client::Oidc(c) => oidc_rule_problems(&c.settings, prefix),
        Client::Saml(c) => saml_rule_problems(&c.settings, prefix),
    }
}

/// The protocol a create-client body asks for (`oidc` unless it says `saml`).
fn requested_protocol(body: &Map<String, Value>) -> AuthenticationProtocol {
    match body.get("authentication_protocol").and_then(Value::as_str) {
        Some("saml") => AuthenticationProtocol::Saml,
        _ => AuthenticationProtocol::Oidc,
    }
}

/// The mirror of a default client in app responses.
fn default_view(client: &Client) -> DefaultClientView {
    let identity = client.identity();
    let mut view = DefaultClientView {
        client_id: identity.client_id.clone(),
        client_display_name: client.name().to_owned(),
        client_description: None,
        client_secret: identity.client_secret.clone(),
        client_type: None,
        redirect_uris: None,
        resources: None,
        client_auth_method: None,
        pkce: None,
        device_authorization: None,
        ciba_authorization: None,
    };
    match client {
        Client::Oidc(c) => {
            let s = &c.settings;
            view.client_description = s.description.clone();
            view.client_type = s.client_type;
            view.redirect_uris = s.redirect_uris.clone();
            view.resources = s.resources.clone();
            view.client_auth_method = s.token_endpoint_auth_method;
            view.pkce = s.pkce;
            view.device_authorization = s.device_authorization.clone();
            view.ciba_authorization = s.ciba_authorization.clone();
        }
        Client::Saml(c) => {
            view.client_description = c.settings.description.clone();
            view.resources = c.settings.resources.clone();
        }
    }
    view
}

/// Uniqueness claims an app holds: subdomain, custom domain, the hub role (a 409 where another
/// app holds one; names are not unique).
fn unique_claims(core: &AppCore) -> Vec<(String, String)> {
    let mut claims = Vec::new();
    if let Some(s) = &core.subdomain {
        claims.push((
            format!("subdomain\0{}", s.to_lowercase()),
            format!("subdomain `{s}`"),
        ));
    }
    if let Some(d) = &core.custom_domain {
        claims.push((
            format!("custom_domain\0{}", d.domain.to_lowercase()),
            format!("custom domain `{}`", d.domain),
        ));
    }
    if core
        .authenticator_preferences
        .as_ref()
        .is_some_and(|p| p.is_centralized)
    {
        claims.push((
            "hub".to_owned(),
            "the Authentication Hub role (`authenticator_preferences.is_centralized: true`)"
                .to_owned(),
        ));
    }
    claims
}

/// Copies the app-level fields of an input onto an app (top-level replacement).
fn apply_app_fields(core: &mut AppCore, input: &AppInput, now: &str) {
    if let Some(v) = &input.app_name {
        core.app_name = v.clone();
    }
    if let Some(v) = &input.app_description {
        core.app_description = Some(v.clone());
    }
    if let Some(v) = &input.service_providers {
        core.service_providers = v.clone();
    }
    if let Some(v) = input.allow_public_signup {
        core.allow_public_signup = v;
    }
    if let Some(v) = &input.authenticator_preferences {
        core.authenticator_preferences = Some(v.clone());
    }
    if let Some(v) = &input.login_uri {
        core.login_uri = Some(v.clone());
    }
    if let Some(v) = &input.invite_member_uri {
        core.invite_member_uri = Some(v.clone());
    }
    if let Some(v) = input.invite_member_email_expiration_minutes {
        core.invite_member_email_expiration_minutes = v;
    }
    if let Some(v) = &input.refresh_token_invalidation_trigger_configuration {
        core.refresh_token_invalidation_trigger_configuration = Some(v.clone());
    }
    if let Some(v) = &input.logo {
        core.logo = Some(v.clone());
    }
    if let Some(v) = &input.subdomain {
        core.subdomain = Some(v.clone());
    }
    if let Some(v) = &input.custom_domain {
        let unchanged = core.custom_domain.as_ref().is_some_and(|d| &d.domain == v);
        if !unchanged {
            core.custom_domain = Some(CustomDomain {
                domain: v.clone(),
                updated_at: now.to_owned(),
                status: CustomDomainStatus::Pending,
                error: None,
            });
        }
    }
    if let Some(v) = input.signing_key_enabled {
        core.signing_key_enabled = v;
    }
    if let Some(v) = &input.invite_client_id {
        core.invite_client_id = Some(v.clone());
    }
    core.updated_at = now.to_owned();
}

impl Tenant {
    /// Opens the tenant stored in `store`. `public_url` is the origin used in generated SAML
    /// values (IdP entity id, SSO and metadata URLs).
    pub fn new(store: TenantStore, public_url: &str) -> Result<Self, StoreError> {
        let tenant_id = String::from_utf8_lossy(
            &store.meta_or_init("tenant_id", || random_id(21).into_bytes())?,
        )
        .into_owned();
        let signing_key = store.meta_or_init("token_signing_key", || {
            let mut key = vec![0u8; 32];
            rand::thread_rng().fill_bytes(&mut key);
            key
        })?;
        let idp_certificate =
            String::from_utf8_lossy(&store.meta_or_init("idp_certificate", || {
                generate_idp_certificate(&tenant_id).into_bytes()
            })?)
            .into_owned();
        let purged = store.purge_idempotency(unix_now().saturating_sub(IDEMPOTENCY_TTL_SECS))?;
        if purged > 0 {
            tracing::debug!(purged, "expired idempotency records removed");
        }
        Ok(Self {
            store,
            write_lock: Mutex::new(()),
            write_generation: AtomicU64::new(0),
            rendered: RwLock::new(HashMap::new()),
            rendered_clients: RwLock::new(HashMap::new()),
            rendered_list: RwLock::new(None),
            tenant_id,
            public_url: public_url.trim_end_matches('/').to_owned(),
            idp_certificate,
            signing_key,
            responses: Responses::exact(),
        })
    }

    /// Renders responses with `responses` (e.g. a response variation for tests).
    pub fn with_responses(mut self, responses: Responses) -> Self {
        self.responses = responses;
        self
    }

    /// How responses are rendered.
    pub fn responses(&self) -> Responses {
        self.responses
    }

    /// Removes idempotency records older than their window (they hold created objects' bodies,
    /// secrets included, so they are not kept longer than needed). Returns how many went.
    pub fn purge_expired_idempotency(&self) -> Result<usize, StoreError> {
        self.store
            .purge_idempotency(unix_now().saturating_sub(IDEMPOTENCY_TTL_SECS))
    }

    /// The tenant id.
    pub fn tenant_id(&self) -> &str {
        &self.tenant_id
    }

    /// The key access tokens are signed with (HMAC-SHA256).
    pub fn signing_key(&self) -> &[u8] {
        &self.signing_key
    }

    /// The underlying store (metrics, shutdown flush).
    pub fn store(&self) -> &TenantStore {
        &self.store
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ()> {
        self.write_lock
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Applies changes and drops the rendered views of every app they touch.
    fn commit(&self, changes: &Changes) -> Result<(), StoreError> {
        self.store.apply(changes)?;
        self.write_generation.fetch_add(1, Ordering::SeqCst);
        let mut rendered = self
            .rendered
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut rendered_clients = self
            .rendered_clients
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for (app_id, _) in &changes.apps {
            rendered.remove(app_id);
            rendered_clients.remove(app_id);
        }
        for (app_id, _, _) in &changes.clients {
            rendered.remove(app_id);
            rendered_clients.remove(app_id);
        }
        *self
            .rendered_list
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = None;
        Ok(())
    }

    /// `GET /v1/applications` as the wrapped JSON body; for a management caller, served from a
    /// cache that every write clears.
    pub fn list_apps_json(&self, caller: &Caller) -> Result<bytes::Bytes, TenantError> {
        let cacheable = caller.own_app().is_none();
        if cacheable {
            caller.require(Verb::List, None)?;
            if let Some(hit) = self
                .rendered_list
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .as_ref()
            {
                return Ok(hit.clone());
            }
        }
        let generation = self.write_generation.load(Ordering::SeqCst);
        let body = bytes::Bytes::from(
            serde_json::to_vec(&serde_json::json!({ "result": self.list_apps(caller)? }))
                .expect("apps serialize"),
        );
        if cacheable && self.write_generation.load(Ordering::SeqCst) == generation {
            *self
                .rendered_list
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(body.clone());
        }
        Ok(body)
    }

    /// `GET …/clients` as the JSON body, served from a cache that writes to the app clear.
    pub fn list_clients_json(
        &self,
        caller: &Caller,
        app_id: &str,
    ) -> Result<bytes::Bytes, TenantError> {
        caller.require(Verb::Read, Some(app_id))?;
        if let Some(hit) = self
            .rendered_clients
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(app_id)
        {
            return Ok(hit.clone());
        }
        let generation = self.write_generation.load(Ordering::SeqCst);
        let body = bytes::Bytes::from(
            serde_json::to_vec(&self.list_clients(caller, app_id)?).expect("clients serialize"),
        );
        let mut cache = self
            .rendered_clients
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if self.write_generation.load(Ordering::SeqCst) == generation {
            cache.insert(app_id.to_owned(), body.clone());
        }
        Ok(body)
    }

    /// `GET /v1/applications/{appId}` as the wrapped JSON body, served from a cache of rendered
    /// views that every write to the app invalidates.
    pub fn get_app_json(&self, caller: &Caller, app_id: &str) -> Result<bytes::Bytes, TenantError> {
        caller.require(Verb::Read, Some(app_id))?;
        if let Some(hit) = self
            .rendered
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(app_id)
        {
            return Ok(hit.clone());
        }
        let generation = self.write_generation.load(Ordering::SeqCst);
        let view = self.view(self.app_record(app_id)?)?;
        let result = self.responses.app(&view, false);
        let body = bytes::Bytes::from(
            serde_json::to_vec(&serde_json::json!({ "result": result })).expect("apps serialize"),
        );
        let mut rendered = self
            .rendered
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if self.write_generation.load(Ordering::SeqCst) == generation {
            rendered.insert(app_id.to_owned(), body.clone());
        }
        Ok(body)
    }

    fn app_record(&self, app_id: &str) -> Result<StoredApp, TenantError> {
        self.store.app(app_id)?.ok_or_else(|| not_found_app(app_id))
    }

    fn view(&self, stored: StoredApp) -> Result<App, TenantError> {
        let default_client = match &stored.default_client_id {
            Some(client_id) => self
                .store
                .client(&stored.app.app_id, client_id)?
                .map(|c| default_view(&c.client)),
            None => None,
        };
        Ok(App {
            core: stored.app,
            default_client,
        })
    }

    fn replay(
        &self,
        caller: &Caller,
        idempotency: Option<&Idempotency>,
    ) -> Result<Option<Created>, TenantError> {
        let Some(idem) = idempotency else {
            return Ok(None);
        };
        let Some(record) = self.store.idempotency(&idempotency_scope(caller, idem))? else {
            return Ok(None);
        };
        if record.created_unix + IDEMPOTENCY_TTL_SECS < unix_now() {
            return Ok(None);
        }
        if record.fingerprint != idem.fingerprint {
            return Err(TenantError::IdempotencyKeyReused(format!(
                "Idempotency-Key `{}` was already used with a different request; use a new key for a new request",
                idem.key
            )));
        }
        let body = serde_json::from_str(&record.body).map_err(|source| StoreError::Codec {
            key: idem.key.clone(),
            source,
        })?;
        Ok(Some(Created {
            body,
            replayed: true,
        }))
    }

    fn idempotency_change(
        caller: &Caller,
        idempotency: Option<&Idempotency>,
        body: &Value,
    ) -> Option<(String, IdempotencyRecord)> {
        idempotency.map(|idem| {
            (
                idempotency_scope(caller, idem),
                IdempotencyRecord {
                    fingerprint: idem.fingerprint.clone(),
                    status: 201,
                    body: body.to_string(),
                    created_unix: unix_now(),
                },
            )
        })
    }

    fn check_unique(
        &self,
        core: &AppCore,
        old: Option<&AppCore>,
    ) -> Result<Vec<(String, Option<String>)>, TenantError> {
        let new_claims = unique_claims(core);
        let mut changes = Vec::new();
        for (claim, what) in &new_claims {
            if let Some(owner) = self.store.unique_owner(claim)? {
                if owner != core.app_id {
                    return Err(TenantError::IdentifierTaken(format!(
                        "{what} is already used by application `{owner}`"
                    )));
                }
            }
            changes.push((claim.clone(), Some(core.app_id.clone())));
        }
        if let Some(old) = old {
            for (claim, _) in unique_claims(old) {
                if !new_claims.iter().any(|(c, _)| *c == claim) {
                    changes.push((claim, None));
                }
            }
        }
        Ok(changes)
    }

    fn new_client(
        &self,
        app_id: &str,
        protocol: AuthenticationProtocol,
        settings: Map<String, Value>,
        now: &str,
    ) -> Result<Client, TenantError> {
        let identity = ClientIdentity {
            app_id: app_id.to_owned(),
            tenant_id: self.tenant_id.clone(),
            client_id: random_id(22),
            client_secret: random_secret(),
            created_at: now.to_owned(),
            updated_at: now.to_owned(),
        };
        Ok(match protocol {
            AuthenticationProtocol::Oidc => {
                // Defaults are not stored: responses fill them in from the catalogue.
                let mut s: OidcClientInput = decode(Value::Object(settings))?;
                s.authentication_protocol = Some(AuthenticationProtocol::Oidc);
                Client::Oidc(OidcClient {
                    identity,
                    settings: s,
                })
            }
            AuthenticationProtocol::Saml => {
                let mut s: SamlClientInput = decode(Value::Object(settings))?;
                s.authentication_protocol = Some(AuthenticationProtocol::Saml);
                let base = format!("{}/saml/{app_id}", self.public_url);
                let client_id = identity.client_id.clone();
                Client::Saml(SamlClient {
                    identity,
                    metadata_url: format!("{base}/{client_id}/metadata"),
                    sso_url: format!("{base}/{client_id}/sso"),
                    entity_id: base,
                    x509_certificate: self.idp_certificate.clone(),
                    settings: s,
                })
            }
        })
    }

    // ----- applications -------------------------------------------------------------------

    /// `GET /v1/applications`: every app the caller can reach, with default-client fields, in
    /// the list form (`ApiAppWithoutLogo`).
    pub fn list_apps(&self, caller: &Caller) -> Result<Vec<Value>, TenantError> {
        let apps = self.reachable_apps(caller)?;
        let apps = self.responses.order(apps, |a| a.core.app_id.as_str());
        Ok(apps.iter().map(|a| self.responses.app(a, true)).collect())
    }

    fn reachable_apps(&self, caller: &Caller) -> Result<Vec<App>, TenantError> {
        caller.require(Verb::List, caller.own_app())?;
        let apps = match caller.own_app() {
            Some(own) => self.store.app(own)?.into_iter().collect(),
            None => self.store.apps()?,
        };
        apps.into_iter().map(|a| self.view(a)).collect()
    }

    /// `GET /v1/applications/list`: basic information of every reachable app.
    pub fn list_basic_apps(
        &self,
        caller: &Caller,
    ) -> Result<Vec<crate::model::BasicApp>, TenantError> {
        let apps = self.reachable_apps(caller)?;
        let apps = self.responses.order(apps, |a| a.core.app_id.as_str());
        Ok(apps.iter().map(|a| (&a.core).into()).collect())
    }

    /// `GET /v1/applications/{appId}` (the `result`).
    pub fn get_app(&self, caller: &Caller, app_id: &str) -> Result<Value, TenantError> {
        caller.require(Verb::Read, Some(app_id))?;
        let stored = self.app_record(app_id)?;
        Ok(self.responses.app(&self.view(stored)?, false))
    }

    /// `POST /v1/applications`: creates the app and its default client.
    pub async fn create_app(
        &self,
        caller: &Caller,
        body: &Value,
        idempotency: Option<&Idempotency>,
    ) -> Result<Created, TenantError> {
        caller.require(Verb::Create, None)?;
        let created = self.create_app_locked(caller, body, idempotency)?;
        self.store.make_durable().await?;
        Ok(created)
    }

    fn create_app_locked(
        &self,
        caller: &Caller,
        body: &Value,
        idempotency: Option<&Idempotency>,
    ) -> Result<Created, TenantError> {
        let fields = as_object(body)?;
        let mut problems = problems_at(SCHEMAS.app_create.check(body), &FieldPath::root());
        let first_client = fields.get("first_client").and_then(Value::as_object);
        let declared = fields
            .get("first_client_authentication_protocol")
            .and_then(Value::as_str);
        let protocol = match (first_client.map(requested_protocol), declared) {
            (Some(from_client), Some(d))
                if first_client.is_some_and(|c| c.contains_key("authentication_protocol"))
                    && from_client.as_str() != d =>
            {
                problems.push(format!(
                    "first_client.authentication_protocol: `{from_client}` contradicts first_client_authentication_protocol `{d}`"
                ));
                from_client
            }
            (Some(from_client), _)
                if first_client.is_some_and(|c| c.contains_key("authentication_protocol")) =>
            {
                from_client
            }
            (_, Some("saml")) => AuthenticationProtocol::Saml,
            _ => AuthenticationProtocol::Oidc,
        };
        let first_prefix = FieldPath::root().key("first_client");
        if let Some(fc) = fields.get("first_client").filter(|v| v.is_object()) {
            let schema = match protocol {
                AuthenticationProtocol::Oidc => &SCHEMAS.oidc_first_client,
                AuthenticationProtocol::Saml => &SCHEMAS.saml_first_client,
            };
            problems.extend(problems_at(schema.check(fc), &first_prefix));
        }
        if !problems.is_empty() {
            return Err(TenantError::Invalid(problems));
        }
        let input: AppInput = decode(body.clone())?;

        // The default client: first_client wins; deprecated app-level fields fill the rest.
        let mut client_fields = first_client.cloned().unwrap_or_default();
        client_fields.remove("authentication_protocol");
        for (app_field, client_field, oidc_only) in DEPRECATED_CLIENT_FIELDS.iter() {
            if let Some(v) = fields.get(*app_field) {
                if *oidc_only && protocol == AuthenticationProtocol::Saml {
                    problems.push(format!(
                        "{app_field}: applies only to an OIDC default client, but first_client is SAML; set the SAML client's fields in first_client"
                    ));
                    continue;
                }
                client_fields
                    .entry(*client_field)
                    .or_insert_with(|| v.clone());
            }
        }
        if !client_fields.contains_key("name") {
            problems.push(
                "first_client.name: the default client needs a name; set first_client.name (or the deprecated client_display_name)"
                    .to_owned(),
            );
        }
        if protocol == AuthenticationProtocol::Saml && !client_fields.contains_key("sp_entity_id") {
            problems.push("first_client.sp_entity_id: required field is missing".to_owned());
        }
        if !problems.is_empty() {
            return Err(TenantError::Invalid(problems));
        }

        let _guard = self.lock();
        if let Some(replayed) = self.replay(caller, idempotency)? {
            return Ok(replayed);
        }
        let now = now_rfc3339();
        let app_id = random_id(21);
        let client = self.new_client(&app_id, protocol, client_fields, &now)?;
        let rule_prefix = if first_client.is_some() {
            first_prefix
        } else {
            FieldPath::root()
        };
        let rule_problems = client_rule_problems(&client, &rule_prefix);
        if !rule_problems.is_empty() {
            return Err(TenantError::Invalid(rule_problems));
        }
        let mut core = AppCore {
            app_id: app_id.clone(),
            tenant_id: self.tenant_id.clone(),
            app_name: String::new(),
            app_description: None,
            logo: None,
            login_preferences: serde_json::json!({"auth_methods": {}}),
            created_at: now.clone(),
            created_by: caller.client_id.clone(),
            updated_at: now.clone(),
            service_providers: Vec::new(),
            authenticator_preferences: None,
            allow_public_signup: false,
            password_sharing_group_id: None,
            login_uri: None,
            invite_member_uri: None,
            invite_client_id: None,
            subdomain: None,
            invite_member_email_expiration_minutes: 2880,
            custom_domain: None,
            external_communication: ExternalCommunication::default(),
            signing_key_enabled: false,
            refresh_token_invalidation_trigger_configuration: None,
            application_type: None,
        };
        apply_app_fields(&mut core, &input, &now);
        let unique = self.check_unique(&core, None)?;
        let client_id = client.identity().client_id.clone();
        let stored_app = StoredApp {
            seq: self.store.next_seq()?,
            default_client_id: Some(client_id.clone()),
            app: core,
        };
        let stored_client = StoredClient {
            seq: self.store.next_seq()?,
            client: client.clone(),
        };
        let view = App {
            core: stored_app.app.clone(),
            default_client: Some(default_view(&client)),
        };
        let body = self.responses.app(&view, false);
        let changes = Changes {
            apps: vec![(app_id.clone(), Some(stored_app))],
            clients: vec![(app_id, client_id, Some(stored_client))],
            unique,
            idempotency: Self::idempotency_change(caller, idempotency, &body),
        };
        self.commit(&changes)?;
        Ok(Created {
            body,
            replayed: false,
        })
    }

    /// `PUT /v1/applications/{appId}`: top-level partial update; object fields replace whole;
    /// `first_client` and deprecated client fields update the default client.
    pub async fn update_app(
        &self,
        caller: &Caller,
        app_id: &str,
        body: &Value,
    ) -> Result<Value, TenantError> {
        caller.require(Verb::Edit, Some(app_id))?;
        let app = self.update_app_locked(app_id, body)?;
        self.store.make_durable().await?;
        Ok(self.responses.app(&app, false))
    }

    fn update_app_locked(&self, app_id: &str, body: &Value) -> Result<App, TenantError> {
        let fields = as_object(body)?;
        let mut problems = problems_at(SCHEMAS.app_update.check(body), &FieldPath::root());
        if !problems.is_empty() {
            return Err(TenantError::Invalid(problems));
        }
        let input: AppInput = decode(body.clone())?;
        let _guard = self.lock();
        let stored = self.app_record(app_id)?;
        let default_client = match &stored.default_client_id {
            Some(id) => self.store.client(app_id, id)?,
            None => None,
        };
        let protocol = default_client.as_ref().map(|c| c.client.protocol());
        let first_prefix = FieldPath::root().key("first_client");
        let mut client_fields = Map::new();
        if let Some(fc) = fields.get("first_client") {
            let fc_map = fc.as_object().cloned().unwrap_or_default();
            let schema = match protocol {
                Some(AuthenticationProtocol::Saml) => &SCHEMAS.saml_update,
                _ => &SCHEMAS.oidc_update,
            };
            problems.extend(problems_at(schema.check(fc), &first_prefix));
            client_fields = fc_map;
        }
        if let (Some(declared), Some(actual)) =
            (input.first_client_authentication_protocol, protocol)
        {
            if declared != actual {
                problems.push(format!(
                    "first_client_authentication_protocol: the default client is {actual}; a client's protocol cannot be changed (create a new client instead)"
                ));
            }
        }
        for (app_field, client_field, oidc_only) in DEPRECATED_CLIENT_FIELDS.iter() {
            if let Some(v) = fields.get(*app_field) {
                if *oidc_only && protocol == Some(AuthenticationProtocol::Saml) {
                    problems.push(format!(
                        "{app_field}: applies only to an OIDC default client, but the default client is SAML"
                    ));
                    continue;
                }
                client_fields
                    .entry(*client_field)
                    .or_insert_with(|| v.clone());
            }
        }
        if !problems.is_empty() {
            return Err(TenantError::Invalid(problems));
        }
        let now = now_rfc3339();
        let mut changes = Changes::default();
        let mut new_default = default_client.clone();
        if !client_fields.is_empty() {
            let Some(current) = &default_client else {
                return Err(TenantError::invalid(
                    "first_client: the application has no clients left; create one with POST /v1/applications/{appId}/clients",
                ));
            };
            let merged = merge_client(&current.client, &client_fields, &now)?;
            let rule_problems = client_rule_problems(&merged, &first_prefix);
            if !rule_problems.is_empty() {
                return Err(TenantError::Invalid(rule_problems));
            }
            let updated = StoredClient {
                seq: current.seq,
                client: merged,
            };
            changes.clients.push((
                app_id.to_owned(),
                updated.client.identity().client_id.clone(),
                Some(updated.clone()),
            ));
            new_default = Some(updated);
        }
        let mut core = stored.app.clone();
        apply_app_fields(&mut core, &input, &now);
        changes.unique = self.check_unique(&core, Some(&stored.app))?;
        let new_stored = StoredApp {
            seq: stored.seq,
            default_client_id: stored.default_client_id,
            app: core,
        };
        changes
            .apps
            .push((app_id.to_owned(), Some(new_stored.clone())));
        self.commit(&changes)?;
        Ok(App {
            core: new_stored.app,
            default_client: new_default.map(|c| default_view(&c.client)),
        })
    }

    /// `DELETE /v1/applications/{appId}`: deletes the app and all its clients.
    pub async fn delete_app(&self, caller: &Caller, app_id: &str) -> Result<(), TenantError> {
        caller.require(Verb::Delete, Some(app_id))?;
        {
            let _guard = self.lock();
            let stored = self.app_record(app_id)?;
            let mut changes = Changes {
                apps: vec![(app_id.to_owned(), None)],
                ..Changes::default()
            };
            for c in self.store.clients(app_id)? {
                changes.clients.push((
                    app_id.to_owned(),
                    c.client.identity().client_id.clone(),
                    None,
                ));
            }
            changes.unique = unique_claims(&stored.app)
                .into_iter()
                .map(|(claim, _)| (claim, None))
                .collect();
            self.commit(&changes)?;
        }
        self.store.make_durable().await?;
        Ok(())
    }

    /// `PUT /v1/applications/{appId}/resources` (deprecated): sets the default client's resources.
    pub async fn set_default_client_resources(
        &self,
        caller: &Caller,
        app_id: &str,
        body: &Value,
    ) -> Result<Value, TenantError> {
        caller.require(Verb::Edit, Some(app_id))?;
        let resources = resource_ids(body)?;
        let app = {
            let _guard = self.lock();
            let stored = self.app_record(app_id)?;
            let Some(default_id) = stored.default_client_id.clone() else {
                return Err(TenantError::invalid(
                    "the application has no default client; create a client first",
                ));
            };
            let updated = self.client_with_resources(app_id, &default_id, resources)?;
            self.commit(&Changes {
                clients: vec![(app_id.to_owned(), default_id, Some(updated.clone()))],
                ..Changes::default()
            })?;
            App {
                core: stored.app,
                default_client: Some(default_view(&updated.client)),
            }
        };
        self.store.make_durable().await?;
        Ok(self.responses.app(&app, false))
    }

    // ----- clients ---------------------------------------------------------------------------

    /// `GET …/clients`: the app's clients in creation order.
    pub fn list_clients(&self, caller: &Caller, app_id: &str) -> Result<Vec<Value>, TenantError> {
        caller.require(Verb::Read, Some(app_id))?;
        self.app_record(app_id)?;
        let clients: Vec<Client> = self
            .store
            .clients(app_id)?
            .into_iter()
            .map(|c| c.client)
            .collect();
        let clients = self
            .responses
            .order(clients, |c| c.identity().client_id.as_str());
        Ok(clients.iter().map(|c| self.responses.client(c)).collect())
    }

    /// `GET …/clients/{clientId}`.
    pub fn get_client(
        &self,
        caller: &Caller,
        app_id: &str,
        client_id: &str,
    ) -> Result<Value, TenantError> {
        caller.require(Verb::Read, Some(app_id))?;
        self.app_record(app_id)?;
        self.store
            .client(app_id, client_id)?
            .map(|c| self.responses.client(&c.client))
            .ok_or_else(|| not_found_client(app_id, client_id))
    }

    /// `POST …/clients`: creates an OIDC or SAML client; the first client of an app without
    /// clients becomes its default.
    pub async fn create_client(
        &self,
        caller: &Caller,
        app_id: &str,
        body: &Value,
        idempotency: Option<&Idempotency>,
    ) -> Result<Created, TenantError> {
        caller.require(Verb::Edit, Some(app_id))?;
        let created = self.create_client_locked(caller, app_id, body, idempotency)?;
        self.store.make_durable().await?;
        Ok(created)
    }

    fn create_client_locked(
        &self,
        caller: &Caller,
        app_id: &str,
        body: &Value,
        idempotency: Option<&Idempotency>,
    ) -> Result<Created, TenantError> {
        let fields = as_object(body)?;
        let protocol = requested_protocol(fields);
        let schema = match protocol {
            AuthenticationProtocol::Oidc => &SCHEMAS.oidc_create,
            AuthenticationProtocol::Saml => &SCHEMAS.saml_create,
        };
        let problems = problems_at(schema.check(body), &FieldPath::root());
        if !problems.is_empty() {
            return Err(TenantError::Invalid(problems));
        }
        let _guard = self.lock();
        let mut stored_app = self.app_record(app_id)?;
        if let Some(replayed) = self.replay(caller, idempotency)? {
            return Ok(replayed);
        }
        let now = now_rfc3339();
        let mut settings = fields.clone();
        settings.remove("authentication_protocol");
        let client = self.new_client(app_id, protocol, settings, &now)?;
        let rule_problems = client_rule_problems(&client, &FieldPath::root());
        if !rule_problems.is_empty() {
            return Err(TenantError::Invalid(rule_problems));
        }
        let client_id = client.identity().client_id.clone();
        let body = self.responses.client(&client);
        let mut changes = Changes {
            clients: vec![(
                app_id.to_owned(),
                client_id.clone(),
                Some(StoredClient {
                    seq: self.store.next_seq()?,
                    client,
                }),
            )],
            idempotency: Self::idempotency_change(caller, idempotency, &body),
            ..Changes::default()
        };
        if stored_app.default_client_id.is_none() {
            stored_app.default_client_id = Some(client_id);
            changes.apps.push((app_id.to_owned(), Some(stored_app)));
        }
        self.commit(&changes)?;
        Ok(Created {
            body,
            replayed: false,
        })
    }

    /// `PUT …/clients/{clientId}`: top-level partial update; object fields replace whole.
    pub async fn update_client(
        &self,
        caller: &Caller,
        app_id: &str,
        client_id: &str,
        body: &Value,
    ) -> Result<Value, TenantError> {
        caller.require(Verb::Edit, Some(app_id))?;
        let fields = as_object(body)?;
        let client = {
            let _guard = self.lock();
            self.app_record(app_id)?;
            let current = self
                .store
                .client(app_id, client_id)?
                .ok_or_else(|| not_found_client(app_id, client_id))?;
            let schema = match current.client.protocol() {
                AuthenticationProtocol::Oidc => &SCHEMAS.oidc_update,
                AuthenticationProtocol::Saml => &SCHEMAS.saml_update,
            };
            let problems = problems_at(schema.check(body), &FieldPath::root());
            if !problems.is_empty() {
                return Err(TenantError::Invalid(problems));
            }
            let merged = merge_client(&current.client, fields, &now_rfc3339())?;
            let rule_problems = client_rule_problems(&merged, &FieldPath::root());
            if !rule_problems.is_empty() {
                return Err(TenantError::Invalid(rule_problems));
            }
            self.commit(&Changes {
                clients: vec![(
                    app_id.to_owned(),
                    client_id.to_owned(),
                    Some(StoredClient {
                        seq: current.seq,
                        client: merged.clone(),
                    }),
                )],
                ..Changes::default()
            })?;
            merged
        };
        self.store.make_durable().await?;
        Ok(self.responses.client(&client))
    }

    /// `PUT …/clients/{clientId}/resources`: sets the client's resources.
    pub async fn set_client_resources(
        &self,
        caller: &Caller,
        app_id: &str,
        client_id: &str,
        body: &Value,
    ) -> Result<Value, TenantError> {
        caller.require(Verb::Edit, Some(app_id))?;
        let resources = resource_ids(body)?;
        let client = {
            let _guard = self.lock();
            self.app_record(app_id)?;
            let updated = self.client_with_resources(app_id, client_id, resources)?;
            self.commit(&Changes {
                clients: vec![(
                    app_id.to_owned(),
                    client_id.to_owned(),
                    Some(updated.clone()),
                )],
                ..Changes::default()
            })?;
            updated.client
        };
        self.store.make_durable().await?;
        Ok(self.responses.client(&client))
    }

    fn client_with_resources(
        &self,
        app_id: &str,
        client_id: &str,
        resources: Vec<String>,
    ) -> Result<StoredClient, TenantError> {
        let mut current = self
            .store
            .client(app_id, client_id)?
            .ok_or_else(|| not_found_client(app_id, client_id))?;
        match &mut current.client {
            Client::Oidc(c) => c.settings.resources = Some(resources),
            Client::Saml(c) => c.settings.resources = Some(resources),
        }
        current.client.identity_mut().updated_at = now_rfc3339();
        Ok(current)
    }

    /// `DELETE …/clients/{clientId}`. Deleting the default client promotes the oldest remaining
    /// client (by `created_at`, then `client_id`).
    pub async fn delete_client(
        &self,
        caller: &Caller,
        app_id: &str,
        client_id: &str,
    ) -> Result<(), TenantError> {
        caller.require(Verb::Delete, Some(app_id))?;
        {
            let _guard = self.lock();
            let mut stored_app = self.app_record(app_id)?;
            if self.store.client(app_id, client_id)?.is_none() {
                return Err(not_found_client(app_id, client_id));
            }
            let mut changes = Changes {
                clients: vec![(app_id.to_owned(), client_id.to_owned(), None)],
                ..Changes::default()
            };
            if stored_app.default_client_id.as_deref() == Some(client_id) {
                let successor = self
                    .store
                    .clients(app_id)?
                    .into_iter()
                    .map(|c| c.client)
                    .filter(|c| c.identity().client_id != client_id)
                    .min_by(|a, b| {
                        let (a, b) = (a.identity(), b.identity());
                        (&a.created_at, &a.client_id).cmp(&(&b.created_at, &b.client_id))
                    });
                stored_app.default_client_id = successor.map(|c| c.identity().client_id.clone());
                changes.apps.push((app_id.to_owned(), Some(stored_app)));
            }
            self.commit(&changes)?;
        }
        self.store.make_durable().await?;
        Ok(())
    }

    /// `DELETE …/clients`: deletes every client of the app (allowed; the app is then unusable).
    pub async fn delete_clients(&self, caller: &Caller, app_id: &str) -> Result<(), TenantError> {
        caller.require(Verb::Delete, Some(app_id))?;
        {
            let _guard = self.lock();
            let mut stored_app = self.app_record(app_id)?;
            let mut changes = Changes::default();
            for c in self.store.clients(app_id)? {
                changes.clients.push((
                    app_id.to_owned(),
                    c.client.identity().client_id.clone(),
                    None,
                ));
            }
            stored_app.default_client_id = None;
            changes.apps.push((app_id.to_owned(), Some(stored_app)));
            self.commit(&changes)?;
        }
        self.store.make_durable().await?;
        Ok(())
    }

    /// The app and client behind client credentials, if they are valid.
    pub fn authenticate_client(
        &self,
        client_id: &str,
        client_secret: &str,
    ) -> Result<Option<(AppCore, Client)>, TenantError> {
        let Some(app_id) = self.store.app_of_client(client_id)? else {
            return Ok(None);
        };
        let (Some(app), Some(client)) = (
            self.store.app(&app_id)?,
            self.store.client(&app_id, client_id)?,
        ) else {
            return Ok(None);
        };
        let expected = client.client.identity().client_secret.as_bytes();
        if bool::from(expected.ct_eq(client_secret.as_bytes())) {
            Ok(Some((app.app, client.client)))
        } else {
            Ok(None)
        }
    }

    /// Whether a client still exists (tokens of deleted clients stop working).
    pub fn client_exists(&self, app_id: &str, client_id: &str) -> Result<bool, TenantError> {
        Ok(self.store.client(app_id, client_id)?.is_some())
    }
}

fn idempotency_scope(caller: &Caller, idem: &Idempotency) -> String {
    format!("{}\0{}", caller.client_id, idem.key)
}

fn resource_ids(body: &Value) -> Result<Vec<String>, TenantError> {
    as_object(body)?;
    let problems = problems_at(SCHEMAS.resource_ids.check(body), &FieldPath::root());
    if !problems.is_empty() {
        return Err(TenantError::Invalid(problems));
    }
    Ok(decode::<ResourceIdsInput>(body.clone())?.resource_ids)
}

/// Top-level replacement of a client's settings by the keys of an update body.
fn merge_client(
    current: &Client,
    update: &Map<String, Value>,
    now: &str,
) -> Result<Client, TenantError> {
    let mut value = serde_json::to_value(current).expect("clients serialize");
    let object = value.as_object_mut().expect("a client is an object");
    for (k, v) in update {
        object.insert(k.clone(), v.clone());
    }
    object.insert("updated_at".into(), Value::String(now.to_owned()));
    decode(value)
}

fn generate_idp_certificate(tenant_id: &str) -> String {
    let names = vec![format!("{tenant_id}.idp.tenantsync.local")];
    match rcgen::generate_simple_self_signed(names) {
        Ok(certified) => certified
            .cert
            .pem()
            .lines()
            .filter(|l| !l.starts_with("-----"))
            .collect::<String>(),
        Err(e) => {
            tracing::warn!(error = %e, "could not generate the SAML IdP certificate");
            String::new()
        }
    }
}
