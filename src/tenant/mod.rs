//! The Applications API's semantics over the tenant store: validation, the default client and its
//! mirror fields, whole-object replacement on update, uniqueness (409), permissions and
//! idempotency. The HTTP server only translates to and from the wire; the embedded `local`
//! target calls this same layer in-process.

mod any;
mod apps;
pub mod caller;
mod claims;
mod clients;
pub mod error;
mod objects;
pub mod render;
mod semantics;
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
use crate::model::client::{ClientIdentity, ClientKey};
use crate::model::kinds::{self, AnyKind, Shape};
use crate::model::schema::{BodySchema, FieldPath, Problem};
use crate::model::{
    rules, App, AppCore, AppInput, AuthenticationProtocol, Client, ClientType, CustomDomain,
    CustomDomainStatus, DefaultClientView, ExternalCommunication, OidcClient, OidcClientInput,
    ResourceIdsInput, SamlClient, SamlClientInput,
};
pub use any::answer_body;
pub use render::Responses;
use semantics::*;

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

/// The body of `PUT …/resources` (a sub-resource, not a kind's object).
static RESOURCE_IDS: LazyLock<BodySchema> = LazyLock::new(BodySchema::of::<ResourceIdsInput>);

/// What a create (`create`) or an update body of an application must be (the kinds'
/// descriptions say it for every kind: `model::kinds::request_body`).
fn app_body(create: bool) -> &'static BodySchema {
    kinds::request_body(Shape::Catalogue(Object::App), create)
}

/// The same of a client of `protocol` (its create body is also what an application's
/// `first_client` must be: upstream's oneOf(ApiCreateOidcClientInput, ApiCreateSamlClientInput)).
fn client_body(protocol: AuthenticationProtocol, create: bool) -> &'static BodySchema {
    kinds::request_body(Shape::Catalogue(Object::client(protocol)), create)
}

/// Whether `body` (at `prefix`) is what `schema` accepts: every problem in one 400 if not.
fn check_body(schema: &BodySchema, body: &Value, prefix: &FieldPath) -> Result<(), TenantError> {
    let problems = problems_at(schema.check(body), prefix);
    match problems.is_empty() {
        true => Ok(()),
        false => Err(TenantError::Invalid(problems)),
    }
}

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

/// Folds the deprecated app-level fields of a request into the default client's fields (a field
/// the client fields already hold wins). A field that a SAML client lacks is a problem, worded
/// with `saml_hint`.
fn fold_deprecated_client_fields(
    app_fields: &Map<String, Value>,
    saml: bool,
    client_fields: &mut Map<String, Value>,
    problems: &mut Vec<String>,
    saml_hint: &str,
) {
    for (app_field, client_field, oidc_only) in DEPRECATED_CLIENT_FIELDS.iter() {
        let Some(v) = app_fields.get(*app_field) else {
            continue;
        };
        if *oidc_only && saml {
            problems.push(format!(
                "{app_field}: applies only to an OIDC default client, but {saml_hint}"
            ));
            continue;
        }
        client_fields
            .entry(*client_field)
            .or_insert_with(|| v.clone());
    }
}

/// An `Idempotency-Key` sent with a create, and the request it came with.
#[derive(Debug, Clone)]
pub struct Idempotency {
    key: String,
    fingerprint: String,
    /// The fingerprint of the path as the request wrote it, where that is not `route` (the
    /// bundled server's records before its creates were fingerprinted by their collection's
    /// path: a retry to the same URL still replays what such a record holds).
    as_sent: Option<String>,
}

impl Idempotency {
    /// The key for a create in the collection at `route` (the kind's collection path, its
    /// application resolved and its id written one way) with `body`: one request however
    /// its URL names the collection.
    pub fn new(key: &str, route: &str, body: &Value) -> Self {
        Self {
            key: key.to_owned(),
            fingerprint: fingerprint(route, body),
            as_sent: None,
        }
    }

    /// The same, for a request sent to `path` (as written in its URL): a record made under
    /// that path's fingerprint is this request too.
    pub fn sent_to(mut self, path: &str, body: &Value) -> Self {
        let as_sent = fingerprint(path, body);
        self.as_sent = (as_sent != self.fingerprint).then_some(as_sent);
        self
    }
}

/// What tells one request from another under one key: its route and its body.
fn fingerprint(route: &str, body: &Value) -> String {
    let mut hasher = Sha256::new();
    hasher.update(route.as_bytes());
    hasher.update(b"\n");
    hasher.update(serde_json::to_vec(body).unwrap_or_default());
    hex(&hasher.finalize())
}

/// A create's fingerprint as an earlier release's server recorded it, when it differs from
/// today's: that server saw a client create's route as `/` (its client routes were nested),
/// so its records name no application. Such a record still answers a retry of the same body
/// to the application it created the client in.
struct EarlierForm<'a> {
    /// The create's body (its earlier fingerprint is computed only when a record's differs
    /// from today's).
    body: &'a Value,
    app_id: &'a str,
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

thread_local! {
    /// Set by [`seed_ids_on_this_thread`]: where this thread's ids and secrets come from.
    static SEEDED: std::cell::RefCell<Option<rand::rngs::StdRng>> = const { std::cell::RefCell::new(None) };
}

/// Makes the ids and secrets the tenant generates on this thread come from a generator seeded
/// with `seed` (`None`: the operating system's randomness again). For the deterministic
/// simulation, which runs the tenant on one thread and must replay a seed exactly; `serve` and
/// the embedded target never call it.
pub fn seed_ids_on_this_thread(seed: Option<u64>) {
    use rand::SeedableRng as _;
    SEEDED.with(|s| *s.borrow_mut() = seed.map(rand::rngs::StdRng::seed_from_u64));
}

/// Fills `bytes` from this thread's seeded generator, or the operating system's.
fn fill_random(bytes: &mut [u8]) {
    SEEDED.with(|s| match s.borrow_mut().as_mut() {
        Some(rng) => rng.fill_bytes(bytes),
        None => rand::thread_rng().fill_bytes(bytes),
    });
}

fn random_id(len: usize) -> String {
    SEEDED.with(|s| match s.borrow_mut().as_mut() {
        Some(rng) => rng
            .sample_iter(&Alphanumeric)
            .take(len)
            .map(char::from)
            .collect(),
        None => rand::thread_rng()
            .sample_iter(&Alphanumeric)
            .take(len)
            .map(char::from)
            .collect(),
    })
}

fn random_secret() -> String {
    let mut bytes = [0u8; 32];
    fill_random(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
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

    /// One write to an app or its clients: checks the caller may edit `app_id`, runs `write`
    /// under the tenant lock, then makes it durable before anything is answered.
    async fn edit<T>(
        &self,
        caller: &Caller,
        app_id: &str,
        write: impl FnOnce() -> Result<T, TenantError>,
    ) -> Result<T, TenantError> {
        self.authorize(caller, AnyKind::Application, Verb::Edit, Some(app_id))?;
        let out = {
            let _guard = self.lock();
            write()?
        };
        self.store.make_durable().await?;
        Ok(out)
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
    fn list_apps_json(&self, caller: &Caller) -> Result<bytes::Bytes, TenantError> {
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

    /// `GET …/clients` as the JSON body; for a management caller, served from a cache that
    /// writes to the app clear (an app's client sees its siblings without their secrets).
    fn list_clients_json(
        &self,
        caller: &Caller,
        app_id: &str,
    ) -> Result<bytes::Bytes, TenantError> {
        caller.require(Verb::Read, Some(app_id))?;
        if caller.own_app().is_some() {
            return Ok(serde_json::to_vec(&self.list_clients(caller, app_id)?)
                .expect("clients serialize")
                .into());
        }
        self.rendered_once(&self.rendered_clients, app_id, || {
            Ok(serde_json::to_vec(&self.list_clients(caller, app_id)?).expect("clients serialize"))
        })
    }

    /// The body cached under `app_id` in `cache`, or `render`'s, cached unless a write
    /// committed meanwhile (it could be stale).
    fn rendered_once(
        &self,
        cache: &RwLock<HashMap<String, bytes::Bytes>>,
        app_id: &str,
        render: impl FnOnce() -> Result<Vec<u8>, TenantError>,
    ) -> Result<bytes::Bytes, TenantError> {
        if let Some(hit) = cache
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(app_id)
        {
            return Ok(hit.clone());
        }
        let generation = self.write_generation.load(Ordering::SeqCst);
        let body = bytes::Bytes::from(render()?);
        let mut cache = cache
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if self.write_generation.load(Ordering::SeqCst) == generation {
            cache.insert(app_id.to_owned(), body.clone());
        }
        Ok(body)
    }

    /// `GET /v1/applications/{appId}` as the wrapped JSON body; for a management caller, served
    /// from a cache of rendered views that every write to the app invalidates.
    fn get_app_json(&self, caller: &Caller, app_id: &str) -> Result<bytes::Bytes, TenantError> {
        caller.require(Verb::Read, Some(app_id))?;
        if caller.own_app().is_some() {
            let result = self.get_app(caller, app_id)?;
            return Ok(serde_json::to_vec(&serde_json::json!({ "result": result }))
                .expect("apps serialize")
                .into());
        }
        self.rendered_once(&self.rendered, app_id, || {
            let view = self.view(self.app_record(app_id)?)?;
            let result = self.responses.app(&view, false);
            Ok(serde_json::to_vec(&serde_json::json!({ "result": result }))
                .expect("apps serialize"))
        })
    }

    /// An app as `caller` sees it (`list_form`: as an item of `GET /v1/applications`).
    fn app_view(&self, caller: &Caller, app: &App, list_form: bool) -> Value {
        let mut value = self.responses.app(app, list_form);
        caller.conceal_secrets(Object::App, &mut value);
        value
    }

    /// A client as `caller` sees it.
    fn client_view(&self, caller: &Caller, client: &Client) -> Value {
        let mut value = self.responses.client(client);
        let object = match client {
            Client::Oidc(_) => Object::OidcClient,
            Client::Saml(_) => Object::SamlClient,
        };
        caller.conceal_secrets(object, &mut value);
        value
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
        self.replay_or_earlier(caller, idempotency, None)
    }

    /// [`Tenant::replay`], also answering a record `earlier` describes.
    fn replay_or_earlier(
        &self,
        caller: &Caller,
        idempotency: Option<&Idempotency>,
        earlier: Option<EarlierForm<'_>>,
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
        let body: Value =
            serde_json::from_str(&record.body).map_err(|source| StoreError::Codec {
                key: idem.key.clone(),
                source,
            })?;
        let same = record.fingerprint == idem.fingerprint
            || idem.as_sent.as_ref() == Some(&record.fingerprint)
            || earlier.is_some_and(|e| {
                body.get("app_id").and_then(Value::as_str) == Some(e.app_id)
                    && record.fingerprint == fingerprint("/", e.body)
            });
        if !same {
            return Err(TenantError::IdempotencyKeyReused(format!(
                "Idempotency-Key `{}` was already used with a different request; use a new key for a new request",
                idem.key
            )));
        }
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
}

fn idempotency_scope(caller: &Caller, idem: &Idempotency) -> String {
    format!("{}\0{}", caller.client_id, idem.key)
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
