//! The handlers of what is not a kind's collection or item (those are `server::kinds`): the
//! basic application list, the resources of a client, deleting every client of an
//! application, the token endpoint, health, metrics and the fallbacks.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde_json::json;

use super::error::ApiError;
use super::extract::{AppOf, Authenticated, ClientOf, JsonBody, SourceIp};
use super::throttle::MAX_CLIENT_ID_BYTES;
use super::{json_response, ServerState};
use crate::model::error_body::TokenResponse;
use crate::model::kinds::AnyKind;
use crate::tenant::{Caller, Permissions, Reach, Verb};

type AppState = State<Arc<ServerState>>;
type Answer = Result<Response, ApiError>;

fn wrapped<T: serde::Serialize>(status: StatusCode, result: T) -> Response {
    json_response(status, &json!({ "result": result }))
}

fn no_content() -> Response {
    StatusCode::NO_CONTENT.into_response()
}

// ----- what upstream documents for applications and clients alone -------------------------------

pub(super) async fn list_basic_apps(State(s): AppState, Authenticated(c): Authenticated) -> Answer {
    Ok(wrapped(StatusCode::OK, s.tenant.list_basic_apps(&c)?))
}

pub(super) async fn set_default_client_resources(
    State(s): AppState,
    AppOf { caller, app_id }: AppOf,
    body: JsonBody,
) -> Answer {
    s.tenant
        .authorize(&caller, AnyKind::Application, Verb::Edit, Some(&app_id))?;
    let body = body.value()?;
    Ok(wrapped(
        StatusCode::OK,
        s.tenant
            .set_default_client_resources(&caller, &app_id, &body)
            .await?,
    ))
}

pub(super) async fn delete_clients(State(s): AppState, AppOf { caller, app_id }: AppOf) -> Answer {
    s.tenant.delete_clients(&caller, &app_id).await?;
    Ok(no_content())
}

pub(super) async fn set_client_resources(
    State(s): AppState,
    c: ClientOf,
    body: JsonBody,
) -> Answer {
    s.tenant
        .authorize(&c.caller, AnyKind::Client, Verb::Edit, Some(&c.app_id))?;
    let body = body.value()?;
    ok(&s
        .tenant
        .set_client_resources(&c.caller, c.key(), &body)
        .await?)
}

/// A `200 OK` answer with a JSON body.
fn ok<T: serde::Serialize>(body: &T) -> Answer {
    Ok(json_response(StatusCode::OK, body))
}

// ----- token, health, metrics, fallbacks --------------------------------------------------------

/// `POST /oidc/token`: client credentials in form fields or HTTP Basic. A source that failed too
/// often for a client id (or in all) is answered 429 for a while; other sources are not.
pub(super) async fn token(
    State(s): AppState,
    SourceIp(source): SourceIp,
    headers: HeaderMap,
    body: Bytes,
) -> Answer {
    let basic = basic_credentials(&headers);
    let used_basic = basic.is_some();
    // The token endpoint's 400 body carries a string message, as upstream documents, and the
    // OAuth error code libraries look for; upstream documents no other client error (a wrong
    // content type is an invalid request too).
    let token_error =
        |error: &str, message: String| ApiError::token_bad_request(error, message, used_basic);
    let content_type = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !content_type
        .to_ascii_lowercase()
        .starts_with("application/x-www-form-urlencoded")
    {
        return Err(token_error(
            "invalid_request",
            "Content-Type must be application/x-www-form-urlencoded".to_owned(),
        ));
    }
    let mut grant_type = None;
    let mut client_id = None;
    let mut client_secret = None;
    let mut resource = None;
    for (k, v) in url::form_urlencoded::parse(&body) {
        match k.as_ref() {
            "grant_type" => grant_type = Some(v.into_owned()),
            "client_id" => client_id = Some(v.into_owned()),
            "client_secret" => client_secret = Some(v.into_owned()),
            "resource" => resource = Some(v.into_owned()),
            _ => {}
        }
    }
    if let Some((id, secret)) = basic {
        client_id = Some(id);
        client_secret = Some(secret);
    }
    match grant_type.as_deref() {
        Some("client_credentials") => {}
        Some(other) => {
            return Err(token_error(
                "unsupported_grant_type",
                format!("unsupported grant_type `{other}`; only client_credentials is supported"),
            ))
        }
        None => {
            return Err(token_error(
                "invalid_request",
                "grant_type is required (client_credentials)".to_owned(),
            ))
        }
    }
    let (Some(client_id), Some(client_secret)) = (client_id, client_secret) else {
        return Err(token_error(
            "invalid_request",
            "client_id and client_secret are required, as form fields or HTTP Basic".to_owned(),
        ));
    };
    if client_id.len() > MAX_CLIENT_ID_BYTES {
        // Refused before anything is recorded: a client id is a short identifier.
        return Err(token_error(
            "invalid_request",
            format!("client_id is longer than {MAX_CLIENT_ID_BYTES} bytes"),
        ));
    }
    let now = std::time::Instant::now();
    if let Some(wait) = s.token_throttle.refused(source, &client_id, now) {
        let mut response = ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too many failed token requests from this address; wait and try again",
        )
        .into_response();
        response
            .headers_mut()
            .insert("retry-after", wait.to_string().parse().expect("a number"));
        return Ok(response);
    }
    let (caller, app_name, admin, generation, lifetime) = if let Some(cred) = s
        .credentials
        .iter()
        .find(|c| c.matches(&client_id, &client_secret))
    {
        let caller = Caller {
            client_id: cred.client_id.clone(),
            reach: Reach::Tenant,
            permissions: cred.permissions,
        };
        let generation = s.signer.credential_generation(cred);
        (
            caller,
            None,
            cred.permissions == Permissions::all(),
            Some(generation),
            super::auth::TOKEN_TTL_SECS,
        )
    } else if let Some((app, client)) = s.tenant.authenticate_client(&client_id, &client_secret)? {
        let caller = Caller {
            client_id: client.identity().client_id.clone(),
            reach: Reach::App(app.app_id.clone()),
            permissions: s.app_token_permissions,
        };
        let lifetime = super::auth::client_token_lifetime(&client);
        (caller, Some(app.app_name), false, None, lifetime)
    } else {
        s.token_throttle.failed(source, &client_id, now);
        return Err(token_error(
            "invalid_client",
            "invalid client credentials".to_owned(),
        ));
    };
    s.token_throttle.succeeded(source, &client_id);
    let (token, claims) = s.signer.issue(
        &caller,
        app_name.as_deref(),
        resource.as_deref(),
        admin,
        generation,
        lifetime,
    );
    ok(&TokenResponse {
        access_token: token,
        token_type: "Bearer".to_owned(),
        expires_in: claims.exp - claims.iat,
        scope: claims.scope,
    })
}

fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?;
    let encoded = value
        .strip_prefix("Basic ")
        .or_else(|| value.strip_prefix("basic "))?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (id, secret) = text.split_once(':')?;
    let id = url::form_urlencoded::parse(format!("a={id}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())?;
    let secret = url::form_urlencoded::parse(format!("a={secret}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())?;
    Some((id, secret))
}

pub(super) async fn healthz() -> Response {
    json_response(StatusCode::OK, &json!({"status": "ok"}))
}

pub(super) async fn metrics(State(s): AppState) -> Response {
    (
        [(CONTENT_TYPE, crate::telemetry::prometheus::CONTENT_TYPE)],
        s.render_metrics(),
    )
        .into_response()
}

pub(super) async fn not_found(uri: Uri) -> Response {
    ApiError::new(
        StatusCode::NOT_FOUND,
        format!("no such endpoint: {}", uri.path()),
    )
    .into_response()
}

pub(super) async fn method_not_allowed(uri: Uri) -> Response {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        format!("method not allowed on {}", uri.path()),
    )
    .into_response()
}
