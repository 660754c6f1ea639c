//! The HTTP edge of `serve --faults`: numbers the API requests, asks [`super::faults`] which
//! fault each gets, carries it out and counts it. Only the API routes under the base path pass
//! here; `/oidc/token`, `/healthz` and `/metrics` never get a fault.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::error::ApiError;
use super::faults::{Fault, FaultSpec, Omissions, RequestClass};
use super::ServerState;
use crate::model::kinds::{AnyKind, APPLICATION, CLIENT};

/// The status the request metrics record for an answer that was never sent (nginx's "closed
/// without a response"); no client sees it.
const NO_RESPONSE: u16 = 444;

/// Largest list answer rewritten by `omit-from-list` (larger ones pass unchanged).
const MAX_LIST_BYTES: usize = 64 * 1024 * 1024;

/// A spec, the sequence number of the next API request and what the last list answers left
/// out.
#[derive(Debug)]
pub struct FaultInjector {
    spec: FaultSpec,
    next: AtomicU64,
    omitted: Omissions,
}

impl FaultInjector {
    /// Injects the faults of `spec`, numbering requests from 0.
    pub fn new(spec: FaultSpec) -> Self {
        Self {
            spec,
            next: AtomicU64::new(0),
            omitted: Omissions::default(),
        }
    }

    /// The spec.
    pub fn spec(&self) -> &FaultSpec {
        &self.spec
    }
}

/// For a `GET` of a collection (a list answer), the field that tells its items apart: every
/// kind's collection, the basic application list and the calling application's `/v1/clients`.
fn list_id_field(method: &Method, route: &str) -> Option<&'static str> {
    if method != Method::GET {
        return None;
    }
    let route = route.trim_end_matches('/');
    let lists = AnyKind::ALL
        .into_iter()
        .map(AnyKind::api)
        .filter(|api| api.create)
        .filter_map(|api| Some((api.collection, api.id_field?)))
        .chain([
            ("/v1/applications/list", APPLICATION.id_field()),
            (super::OWN_CLIENTS, CLIENT.id_field()),
        ]);
    lists
        .into_iter()
        .find(|(collection, _)| route.ends_with(collection))
        .map(|(_, id_field)| id_field)
}

/// Middleware on the API routes: applies the decided fault, if any.
pub(super) async fn inject(
    State(state): State<Arc<ServerState>>,
    matched: Option<MatchedPath>,
    request: Request,
    next: Next,
) -> Response {
    let Some(injector) = &state.faults else {
        return next.run(request).await;
    };
    let route = matched.as_ref().map_or("", |m| m.as_str());
    let id_field = list_id_field(request.method(), route);
    let class = id_field.map_or(RequestClass::Other, |_| RequestClass::List);
    // A list's concrete path: what its omission streak is kept under.
    let collection = id_field.map(|_| request.uri().path().to_owned());
    let seq = injector.next.fetch_add(1, Ordering::Relaxed);
    let Some(fault) = injector.spec.decide(seq, class) else {
        let response = next.run(request).await;
        if let Some(collection) = collection.filter(|_| response.status().is_success()) {
            // A whole list answer ends the collection's omission streak.
            injector
                .omitted
                .choose(&collection, None, 0, |_| String::new());
        }
        return response;
    };
    let kind = fault.kind();
    if !matches!(fault, Fault::OmitFromList { .. }) {
        // Counted when decided: a held request counts while it is held.
        state.metrics.count_fault(kind);
    }
    tracing::debug!(method = %request.method(), route, seq, %kind, "fault injected");
    match fault {
        Fault::TooManyRequests { retry_after_secs } => {
            let mut response = ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "Too many requests (injected fault)",
            )
            .into_response();
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
            response
        }
        Fault::Unavailable => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "Service unavailable (injected fault)",
        )
        .into_response(),
        Fault::Timeout { hold } => {
            tokio::time::sleep(hold).await;
            dropped_connection()
        }
        Fault::Reset => dropped_connection(),
        Fault::LostResponse => {
            let _applied = next.run(request).await;
            dropped_connection()
        }
        Fault::Slow { delay } => {
            tokio::time::sleep(delay).await;
            next.run(request).await
        }
        Fault::OmitFromList { pick } => {
            let list = List {
                omitted: &injector.omitted,
                collection: collection.unwrap_or_default(),
                id_field: id_field.unwrap_or_default(),
            };
            let (response, omitted) = list.omit_one(next.run(request).await, pick).await;
            // Nothing to leave out (an empty list, or an error answer): no fault happened.
            if omitted {
                state.metrics.count_fault(kind);
            }
            response
        }
    }
}

/// An answer whose body fails before anything is written: hyper closes the connection without
/// sending the status line, so the client sees the connection drop unanswered.
fn dropped_connection() -> Response {
    let body = Body::from_stream(futures::stream::once(async {
        Err::<bytes::Bytes, _>(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "injected fault: connection dropped",
        ))
    }));
    let status = StatusCode::from_u16(NO_RESPONSE).expect("valid status code");
    (status, body).into_response()
}

/// A list answer an `omit-from-list` fault rewrites.
struct List<'a> {
    omitted: &'a Omissions,
    collection: String,
    id_field: &'static str,
}

impl List<'_> {
    /// `response` with one item left out of its list (a top-level array or `result`): item
    /// `pick % len`, unless the collection's last answers already left it out too often
    /// ([`Omissions::choose`]); whether an item was left out.
    async fn omit_one(self, response: Response, pick: u64) -> (Response, bool) {
        if !response.status().is_success() {
            return (response, false);
        }
        let (mut parts, body) = response.into_parts();
        let bytes = match axum::body::to_bytes(body, MAX_LIST_BYTES).await {
            Ok(bytes) => bytes,
            Err(e) => {
                tracing::warn!(error = %e, "omit-from-list: could not read the list answer");
                return (dropped_connection(), true);
            }
        };
        let unchanged = |parts, bytes| (Response::from_parts(parts, Body::from(bytes)), false);
        let Ok(mut value) = serde_json::from_slice::<serde_json::Value>(&bytes) else {
            return unchanged(parts, bytes);
        };
        let list = match &mut value {
            serde_json::Value::Array(items) => Some(items),
            serde_json::Value::Object(map) => map.get_mut("result").and_then(|r| r.as_array_mut()),
            _ => None,
        };
        let Some(items) = list else {
            return unchanged(parts, bytes);
        };
        let key = |i: usize| match items[i].get(self.id_field) {
            Some(serde_json::Value::String(id)) => id.clone(),
            _ => items[i].to_string(),
        };
        let Some(index) = self
            .omitted
            .choose(&self.collection, Some(pick), items.len(), key)
        else {
            return unchanged(parts, bytes);
        };
        items.remove(index);
        let body = serde_json::to_vec(&value).expect("JSON serializes");
        parts.headers.remove(header::CONTENT_LENGTH);
        (Response::from_parts(parts, Body::from(body)), true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_are_the_collection_reads_and_know_their_id_field() {
        for (route, id_field) in [
            ("/cis/v1/applications", "app_id"),
            ("/cis/v1/applications/list", "app_id"),
            ("/cis/v1/applications/{app_id}/clients/", "client_id"),
            ("/v1/clients", "client_id"),
            ("/v1/resources", "resource_id"),
            ("/v1/serviceprovider/saml2", "service_provider_id"),
            ("/cis/v1/applications/{app_id}/roles", "role_id"),
        ] {
            assert_eq!(
                list_id_field(&Method::GET, route),
                Some(id_field),
                "{route}"
            );
        }
        for (method, route) in [
            (Method::POST, "/cis/v1/applications"),
            (Method::GET, "/cis/v1/applications/{app_id}"),
            (Method::GET, "/cis/v1/clients/{client_id}"),
            (Method::GET, "/v1/resources/uri"),
            // One object per application, not a list.
            (Method::GET, "/loginPreferences/{app_id}"),
        ] {
            assert_eq!(list_id_field(&method, route), None, "{route}");
        }
    }
}
