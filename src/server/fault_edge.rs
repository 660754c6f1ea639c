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
use super::faults::{Fault, FaultSpec, RequestClass};
use super::ServerState;

/// The status the request metrics record for an answer that was never sent (nginx's "closed
/// without a response"); no client sees it.
const NO_RESPONSE: u16 = 444;

/// Largest list answer rewritten by `omit-from-list` (larger ones pass unchanged).
const MAX_LIST_BYTES: usize = 64 * 1024 * 1024;

/// A spec and the sequence number of the next API request.
#[derive(Debug)]
pub struct FaultInjector {
    spec: FaultSpec,
    next: AtomicU64,
}

impl FaultInjector {
    /// Injects the faults of `spec`, numbering requests from 0.
    pub fn new(spec: FaultSpec) -> Self {
        Self {
            spec,
            next: AtomicU64::new(0),
        }
    }

    /// The spec.
    pub fn spec(&self) -> &FaultSpec {
        &self.spec
    }
}

/// Whether a request reads a collection (`GET` of apps, the basic app list, or clients).
fn class(method: &Method, route: &str) -> RequestClass {
    let route = route.trim_end_matches('/');
    let list = route.ends_with("/v1/applications")
        || route.ends_with("/v1/applications/list")
        || route.ends_with("/clients");
    if method == Method::GET && list {
        RequestClass::List
    } else {
        RequestClass::Other
    }
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
    let seq = injector.next.fetch_add(1, Ordering::Relaxed);
    let Some(fault) = injector.spec.decide(seq, class(request.method(), route)) else {
        return next.run(request).await;
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
            let (response, omitted) = omit_one(next.run(request).await, pick).await;
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

/// `response` with item `pick % len` left out of its list (a top-level array or `result`);
/// whether an item was left out.
async fn omit_one(response: Response, pick: u64) -> (Response, bool) {
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
    let Some(items) = list.filter(|items| !items.is_empty()) else {
        return unchanged(parts, bytes);
    };
    let index = (pick % items.len() as u64) as usize;
    items.remove(index);
    let body = serde_json::to_vec(&value).expect("JSON serializes");
    parts.headers.remove(header::CONTENT_LENGTH);
    (Response::from_parts(parts, Body::from(body)), true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_are_the_collection_reads() {
        for route in [
            "/cis/v1/applications",
            "/cis/v1/applications/list",
            "/cis/v1/applications/{app_id}/clients/",
            "/v1/clients",
        ] {
            assert_eq!(class(&Method::GET, route), RequestClass::List, "{route}");
        }
        assert_eq!(
            class(&Method::POST, "/cis/v1/applications"),
            RequestClass::Other
        );
        assert_eq!(
            class(&Method::GET, "/cis/v1/applications/{app_id}"),
            RequestClass::Other
        );
        assert_eq!(
            class(&Method::GET, "/cis/v1/clients/{client_id}"),
            RequestClass::Other
        );
    }
}
