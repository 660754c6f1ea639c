//! The bundled Applications API server (`tenantsync serve`): an axum router over
//! [`crate::tenant::Tenant`] that only translates between the wire and the service, plus
//! `/oidc/token`, `/healthz` and `/metrics`.

pub mod auth;
pub mod error;
mod extract;
mod fault_edge;
pub mod faults;
mod handlers;
mod kinds;
pub mod throttle;

use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use axum::Router;
use tokio::net::TcpListener;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::model::kinds::AnyKind;
use crate::telemetry::prometheus::{self, HistogramFamily};
use crate::tenant::Tenant;
use auth::{ManagementCredential, TokenSigner};
use error::ApiError;
pub use fault_edge::FaultInjector;

/// Largest accepted request body (larger: 413).
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// The labels of a request counter sample.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: String,
    route: String,
    status: String,
}

/// The labels of a request latency sample.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    method: String,
    route: String,
}

/// The labels of the stored-object gauge.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabels {
    kind: &'static str,
}

/// HTTP metrics of the server.
pub struct ServerMetrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: HistogramFamily<RouteLabels>,
    objects: Family<KindLabels, Gauge>,
    store_bytes: Gauge,
    faults: Family<KindLabels, Counter>,
}

impl Default for ServerMetrics {
    fn default() -> Self {
        let requests = Family::default();
        let latency = prometheus::latency_family();
        let objects = Family::default();
        let store_bytes = Gauge::default();
        let faults = Family::default();
        let mut registry = Registry::default();
        crate::register_metrics!(registry,
            "tenantsync_server_requests", "HTTP requests answered, by method, route template and status." => requests;
            "tenantsync_server_request_duration_seconds", "Time to answer a request, by method and route template." => latency;
            "tenantsync_server_objects", "Objects stored, by kind." => objects;
            "tenantsync_server_store_bytes", "Bytes the sled store occupies on disk." => store_bytes;
            "tenantsync_server_faults_injected", "Faults injected by --faults, by kind." => faults;
        );
        Self {
            registry,
            requests,
            latency,
            objects,
            store_bytes,
            faults,
        }
    }
}

impl ServerMetrics {
    /// Counts one answered request and its latency.
    fn record(&self, method: &str, route: &str, status: &str, seconds: f64) {
        self.requests
            .get_or_create(&RequestLabels {
                method: method.to_owned(),
                route: route.to_owned(),
                status: status.to_owned(),
            })
            .inc();
        self.latency
            .get_or_create(&RouteLabels {
                method: method.to_owned(),
                route: route.to_owned(),
            })
            .observe(seconds);
    }

    /// Counts one injected fault.
    fn count_fault(&self, kind: faults::FaultKind) {
        self.faults
            .get_or_create(&KindLabels { kind: kind.name() })
            .inc();
    }
}

/// Everything a request handler needs.
pub struct ServerState {
    /// The tenant service.
    pub tenant: Tenant,
    /// Token signing and verification.
    pub signer: TokenSigner,
    /// Management credentials accepted at `/oidc/token`.
    pub credentials: Vec<ManagementCredential>,
    /// Request metrics.
    pub metrics: ServerMetrics,
    /// What a token issued to an application's own client may do (least privilege unless
    /// configured: list and read).
    pub app_token_permissions: crate::tenant::Permissions,
    /// Failed token requests by source (and client id): a source that failed too often is
    /// answered 429 for a while.
    pub token_throttle: throttle::TokenThrottle,
    /// `--faults`: the faults injected into API answers (none by default).
    pub faults: Option<FaultInjector>,
}

impl ServerState {
    /// State for `tenant` accepting `credentials`.
    pub fn new(tenant: Tenant, credentials: Vec<ManagementCredential>) -> Self {
        let signer = TokenSigner::new(
            tenant.signing_key(),
            &format!("urn:tenantsync:tenant:{}", tenant.tenant_id()),
            tenant.tenant_id(),
        );
        Self {
            tenant,
            signer,
            credentials,
            metrics: ServerMetrics::default(),
            app_token_permissions: crate::tenant::Permissions::reads(),
            token_throttle: throttle::TokenThrottle::default(),
            faults: None,
        }
    }

    /// Lets application tokens do `permissions`.
    pub fn with_app_token_permissions(mut self, permissions: crate::tenant::Permissions) -> Self {
        self.app_token_permissions = permissions;
        self
    }

    /// Injects the faults of `spec` into the API's answers (never into `/oidc/token`,
    /// `/healthz` or `/metrics`); each of its kinds is counted from 0.
    pub fn with_faults(mut self, spec: faults::FaultSpec) -> Self {
        for kind in spec.kinds() {
            drop(
                self.metrics
                    .faults
                    .get_or_create(&KindLabels { kind: kind.name() }),
            );
        }
        self.faults = Some(FaultInjector::new(spec));
        self
    }

    /// `/metrics` text.
    pub fn render_metrics(&self) -> String {
        let store = self.tenant.store();
        let metrics = &self.metrics;
        let kind = |kind| KindLabels { kind };
        metrics
            .objects
            .get_or_create(&kind("application"))
            .set(store.app_count());
        metrics
            .objects
            .get_or_create(&kind("client"))
            .set(store.client_count());
        metrics
            .store_bytes
            .set(i64::try_from(store.size_on_disk()).unwrap_or(i64::MAX));
        prometheus::render(&metrics.registry)
    }
}

/// Where the calling application's own clients are: the routes of an application's clients,
/// the application taken from the caller's token.
pub(super) const OWN_CLIENTS: &str = "/v1/clients";

/// The routes of the API, relative to the base path; `--faults` applies to all but the token
/// endpoint. Every kind's routes come from its description (`kinds::routes`); beside them,
/// what upstream documents for applications and clients alone: the basic application list,
/// the resources of a client (and of an application's default client), deleting every client
/// of an application, and the calling application's own clients at `/v1/clients`.
fn api_routes(state: &Arc<ServerState>) -> Router<Arc<ServerState>> {
    use handlers::*;
    let (app, client) = (AnyKind::Application, AnyKind::Client);
    let own_item = format!("{OWN_CLIENTS}/{{id}}");
    // `…/resources` under an item: a sub-resource, not a kind's object.
    let resources = |kind, item: &str| format!("{}/resources", kinds::route_path(kind, item));
    kinds::routes()
        .merge(kinds::kind_routes::<true>(
            Router::new(),
            client,
            OWN_CLIENTS,
            &own_item,
        ))
        .route("/v1/applications/list", get(list_basic_apps))
        .route(
            &resources(app, app.api().item),
            put(set_default_client_resources),
        )
        .route(client.api().collection, delete(delete_clients))
        .route(OWN_CLIENTS, delete(delete_clients))
        .route(
            &resources(client, client.api().item),
            put(set_client_resources),
        )
        .route(&resources(client, &own_item), put(set_client_resources))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            fault_edge::inject,
        ))
        .route("/oidc/token", post(token))
}

/// The full router: the API under `base_path`, `/oidc/token` at the root too, `/healthz`,
/// `/metrics`, JSON 404/405 answers, the 1 MiB body limit and request metrics.
pub fn router(state: Arc<ServerState>, base_path: &str) -> Router {
    let base = base_path.trim_end_matches('/');
    let api = api_routes(&state);
    let routed = if base.is_empty() {
        api
    } else {
        Router::new()
            .nest(base, api)
            .route("/oidc/token", post(handlers::token))
    };
    routed
        .route("/healthz", get(handlers::healthz))
        .route("/metrics", get(handlers::metrics))
        .method_not_allowed_fallback(handlers::method_not_allowed)
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            track_request,
        ))
        .fallback(handlers::not_found)
        .layer(axum::middleware::map_response(advertise_idempotency))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}

/// Tells every client that this server deduplicates creates by `Idempotency-Key` (an extension
/// of the bundled server; upstream documents none), and for how long.
async fn advertise_idempotency(mut response: Response) -> Response {
    response.headers_mut().insert(
        crate::tenant::IDEMPOTENCY_EXTENSION_HEADER,
        axum::http::HeaderValue::from(crate::tenant::IDEMPOTENCY_TTL_SECS),
    );
    response
}

/// Counts and times every routed request; logs 5xx once, here.
async fn track_request(
    State(state): State<Arc<ServerState>>,
    matched: Option<MatchedPath>,
    request: Request,
    next: Next,
) -> Response {
    let method = request.method().clone();
    let route = matched
        .map(|m| m.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let started = Instant::now();
    let response = next.run(request).await;
    let elapsed = started.elapsed().as_secs_f64();
    let status = response.status();
    state
        .metrics
        .record(method.as_str(), &route, status.as_str(), elapsed);
    if status.is_server_error() {
        tracing::error!(%method, %route, status = status.as_u16(), "request failed");
    } else {
        tracing::debug!(%method, %route, status = status.as_u16(), elapsed_ms = elapsed * 1e3, "request");
    }
    response
}

/// Serves `state` on `listener` until `shutdown` resolves, then flushes the store.
pub async fn serve(
    listener: TcpListener,
    state: Arc<ServerState>,
    base_path: &str,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = router(state.clone(), base_path)
        .into_make_service_with_connect_info::<std::net::SocketAddr>();
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await?;
    if let Err(e) = state.tenant.store().flush() {
        tracing::error!(error = %e, "final flush failed");
    }
    Ok(())
}

impl IntoResponse for crate::tenant::TenantError {
    fn into_response(self) -> Response {
        ApiError::from(self).into_response()
    }
}

pub(crate) fn json_response<T: serde::Serialize>(status: StatusCode, body: &T) -> Response {
    (status, axum::Json(body)).into_response()
}
