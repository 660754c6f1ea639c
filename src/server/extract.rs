//! Request extractors: the bearer-token caller, the application (and client) a client route acts
//! on, and a JSON body with upstream-style errors for
//! wrong content type, oversized bodies and malformed JSON.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Path, Request};
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE};
use axum::http::request::Parts;
use axum::http::StatusCode;
use serde_json::Value;

use super::error::ApiError;
use super::ServerState;
use crate::model::kinds::AnyKind;
use crate::model::ClientKey;
use crate::tenant::{Caller, Idempotency, TenantError};

/// The address a request came from (unspecified when the router runs without connection
/// information, as in-process tests may).
pub struct SourceIp(pub IpAddr);

impl<S: Send + Sync> FromRequestParts<S> for SourceIp {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(SourceIp(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|ConnectInfo(addr)| addr.ip())
                .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
        ))
    }
}

/// The authenticated caller of an API request.
pub struct Authenticated(pub Caller);

impl FromRequestParts<Arc<ServerState>> for Authenticated {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<ServerState>,
    ) -> Result<Self, Self::Rejection> {
        let header = parts
            .headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| {
                ApiError::unauthorized(
                    "missing access token: send `Authorization: Bearer <token>` (get a token from POST /oidc/token)",
                )
            })?;
        let token = header
            .strip_prefix("Bearer ")
            .or_else(|| header.strip_prefix("bearer "))
            .ok_or_else(|| {
                ApiError::unauthorized("the Authorization header must use the Bearer scheme")
            })?;
        let claims = state
            .signer
            .verify(token.trim())
            .map_err(|e| ApiError::unauthorized(e.to_string()))?;
        let mut caller = claims.caller();
        match &claims.app_id {
            Some(app_id) => {
                let alive = state
                    .tenant
                    .client_exists(app_id, &claims.client_id)
                    .map_err(ApiError::from)?;
                if !alive {
                    return Err(ApiError::unauthorized(
                        "the client this token was issued to no longer exists",
                    ));
                }
                caller.permissions = caller.permissions.intersection(state.app_token_permissions);
            }
            None => {
                // A management token is worth what its credential is worth now: a credential
                // removed or narrowed since the token was issued takes the token with it.
                let Some(current) = state
                    .credentials
                    .iter()
                    .find(|c| c.client_id == claims.client_id)
                else {
                    return Err(ApiError::unauthorized(
                        "the credential this token was issued to is no longer configured",
                    ));
                };
                // Its secret must still be the one the token was issued for: rotating a
                // secret (same client id) revokes the tokens issued before.
                if !state
                    .signer
                    .same_generation(current, claims.cred_gen.as_deref())
                {
                    return Err(ApiError::unauthorized(
                        "the credential's secret has changed since this token was issued; fetch a new token",
                    ));
                }
                // An Admin token was issued for everything its credential held: it holds what
                // the credential holds now (a permission a newer release knows included);
                // another, no more than it was issued with.
                caller.permissions = if claims.roles.iter().any(|r| r == "Admin") {
                    current.permissions
                } else {
                    caller.permissions.intersection(current.permissions)
                };
            }
        }
        Ok(Authenticated(caller))
    }
}

/// The caller and the application a route acts on: `{app_id}` of `/v1/applications/{app_id}…`,
/// or the calling application itself for `/v1/clients…` (which a management token, having no
/// application, cannot use).
pub struct AppOf {
    /// The caller.
    pub caller: Caller,
    /// The application.
    pub app_id: String,
}

/// [`AppOf`] plus the `{client_id}` of the route.
pub struct ClientOf {
    /// The caller.
    pub caller: Caller,
    /// The application.
    pub app_id: String,
    /// The client.
    pub client_id: String,
}

impl ClientOf {
    /// The client the route names.
    pub fn key(&self) -> ClientKey<'_> {
        ClientKey::new(&self.app_id, &self.client_id)
    }
}

/// The route's parameters by name.
async fn path_params(
    parts: &mut Parts,
    state: &Arc<ServerState>,
) -> Result<HashMap<String, String>, ApiError> {
    Path::<HashMap<String, String>>::from_request_parts(parts, state)
        .await
        .map(|Path(params)| params)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, e.body_text()))
}

/// The caller and the route's parameters, for every kind's routes (`server::kinds`). `OWN`:
/// a route of the calling application's own objects (`/v1/clients…`), whose application is
/// the caller's (a management token, having none, is refused here, before the body is read).
pub struct ObjectPath<const OWN: bool = false> {
    /// Who calls.
    pub caller: Caller,
    /// The route's parameters by name (`app_id` filled in from the caller on an own route).
    params: HashMap<String, String>,
}

impl<const OWN: bool> ObjectPath<OWN> {
    /// The application a parented kind's route is under (`None` for a kind without a parent).
    pub fn app_of(&self, kind: AnyKind) -> Result<Option<String>, ApiError> {
        if kind.spec().parent.is_none() {
            return Ok(None);
        }
        match self.params.get("app_id") {
            Some(app_id) => Ok(Some(app_id.clone())),
            None => Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                format!("the route names no application of the {}", kind.spec().noun),
            )),
        }
    }

    /// The object's own id on an item route: the parameter named after its kind's id field
    /// (`server::kinds::route_path`).
    pub fn id(&self, kind: AnyKind) -> Option<String> {
        self.params.get(kind.api().id_field?).cloned()
    }
}

/// The calling application, for `/v1/clients…`.
fn own_app(caller: &Caller) -> Result<String, ApiError> {
    caller.own_app().map(str::to_owned).ok_or_else(|| {
        ApiError::from(TenantError::Forbidden(
            "/v1/clients acts on the calling application's own clients, and a management token has no application; use /v1/applications/{appId}/clients"
                .to_owned(),
        ))
    })
}

impl<const OWN: bool> FromRequestParts<Arc<ServerState>> for ObjectPath<OWN> {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<ServerState>,
    ) -> Result<Self, Self::Rejection> {
        let Authenticated(caller) = Authenticated::from_request_parts(parts, state).await?;
        // A segment that does not decode is refused (400), never read as absent.
        let mut params = path_params(parts, state).await?;
        if OWN {
            params.insert("app_id".to_owned(), own_app(&caller)?);
        }
        Ok(ObjectPath { caller, params })
    }
}

impl FromRequestParts<Arc<ServerState>> for AppOf {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<ServerState>,
    ) -> Result<Self, Self::Rejection> {
        let Authenticated(caller) = Authenticated::from_request_parts(parts, state).await?;
        let mut params = path_params(parts, state).await?;
        let app_id = match params.remove("app_id") {
            Some(app_id) => app_id,
            None => own_app(&caller)?,
        };
        Ok(AppOf { caller, app_id })
    }
}

impl FromRequestParts<Arc<ServerState>> for ClientOf {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<ServerState>,
    ) -> Result<Self, Self::Rejection> {
        let AppOf { caller, app_id } = AppOf::from_request_parts(parts, state).await?;
        let client_id = path_params(parts, state)
            .await?
            .remove("client_id")
            .ok_or_else(|| ApiError::new(StatusCode::BAD_REQUEST, "the route names no client"))?;
        Ok(ClientOf {
            caller,
            app_id,
            client_id,
        })
    }
}

/// The `Idempotency-Key` header, if sent.
struct IdempotencyKey(Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for IdempotencyKey {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        match parts.headers.get("idempotency-key") {
            None => Ok(IdempotencyKey(None)),
            Some(v) => {
                let key = v
                    .to_str()
                    .ok()
                    .map(str::trim)
                    .filter(|k| !k.is_empty() && k.len() <= 255);
                match key {
                    Some(k) => Ok(IdempotencyKey(Some(k.to_owned()))),
                    None => Err(ApiError::new(
                        StatusCode::BAD_REQUEST,
                        "Idempotency-Key must be 1 to 255 visible ASCII characters",
                    )),
                }
            }
        }
    }
}

/// The body of a create (`POST`) and the `Idempotency-Key` the caller sent, if any, read but
/// not yet judged: [`CreateBody::read`] says what is wrong with them. A handler asks once the
/// caller's permission is checked, so a request the caller may not make is refused (403)
/// whatever its body.
pub struct CreateBody {
    body: Result<Value, ApiError>,
    key: Result<Option<String>, ApiError>,
    /// The request's path, as written.
    path: String,
}

impl CreateBody {
    /// The key and the JSON body, or why they are refused (the key first: 400; then the body:
    /// 415, 413 or 400).
    pub fn read(self) -> Result<Create, ApiError> {
        Ok(Create {
            key: self.key?,
            body: self.body?,
            path: self.path,
        })
    }
}

/// A create's body and `Idempotency-Key`, judged ([`CreateBody::read`]).
pub struct Create {
    /// The JSON body.
    pub body: Value,
    key: Option<String>,
    /// The request's path, as written.
    path: String,
}

impl Create {
    /// What makes a retry answer the first result, when the caller sent a key: the key, the
    /// collection the create is in (`route`: its path with the application resolved, so
    /// `/v1/clients` and `/v1/applications/{own id}/clients`, or an id percent-encoded
    /// otherwise, are one collection) and the body.
    pub fn idempotency(&self, route: &str) -> Option<Idempotency> {
        self.key
            .as_deref()
            .map(|k| Idempotency::new(k, route, &self.body).sent_to(&self.path, &self.body))
    }
}

impl<S: Send + Sync> FromRequest<S> for CreateBody {
    type Rejection = Infallible;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let (mut parts, body) = request.into_parts();
        let key = IdempotencyKey::from_request_parts(&mut parts, state)
            .await
            .map(|k| k.0);
        let path = parts.uri.path().to_owned();
        let JsonBody(body) =
            JsonBody::from_request(Request::from_parts(parts, body), state).await?;
        Ok(CreateBody { body, key, path })
    }
}

/// A JSON request body, read but not yet judged: [`JsonBody::value`] says what is wrong with
/// it (415, 413 or 400). A handler asks once the caller's permission is checked, so a request
/// the caller may not make is refused (403) whatever its body.
pub struct JsonBody(Result<Value, ApiError>);

impl JsonBody {
    /// The JSON value, or why the body is refused.
    pub fn value(self) -> Result<Value, ApiError> {
        self.0
    }
}

impl<S: Send + Sync> FromRequest<S> for JsonBody {
    type Rejection = Infallible;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        Ok(JsonBody(json_body(request, state).await))
    }
}

/// Reads `request`'s body as JSON: a JSON content type (else 415), within the size limit
/// (else 413), well-formed (else 400).
async fn json_body<S: Send + Sync>(request: Request, state: &S) -> Result<Value, ApiError> {
    let content_type = request
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if essence != "application/json" && !essence.ends_with("+json") {
        let shown = if content_type.is_empty() {
            "none"
        } else {
            content_type
        };
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!("Content-Type must be application/json (got {shown})"),
        ));
    }
    let bytes = Bytes::from_request(request, state)
        .await
        .map_err(|rejection| {
            let status = rejection.status();
            if status == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new(
                    status,
                    format!(
                        "the request body exceeds the limit of {} bytes",
                        super::MAX_BODY_BYTES
                    ),
                )
            } else {
                ApiError::new(status, rejection.body_text())
            }
        })?;
    let value: Value = serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, format!("malformed JSON body: {e}")))?;
    Ok(value)
}
