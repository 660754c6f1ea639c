//! The HTTP target's wire rules: which statuses mean what (a 429 is "not processed", a 409 may
//! be a reused idempotency key), `Retry-After` and backoff, response bodies read with a cap and
//! held to the shapes the API documents, the token request, and what a JWT says about itself.

use std::time::Duration;

use rand::Rng;
use reqwest::StatusCode;
use serde_json::Value;

use crate::targets::{JsonObject, TargetError, TargetErrorKind};

/// Attempts per request (first try included).
pub(super) const MAX_ATTEMPTS: u32 = 6;
/// Longest wait between attempts when the server names none.
pub(super) const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// The largest response body read (a list of 10,000 applications is about 15 MB).
pub const MAX_RESPONSE_BYTES: usize = 64 * 1024 * 1024;

/// Reads a body of at most [`MAX_RESPONSE_BYTES`]; a larger one is an error, not a memory hog.
pub(super) async fn read_capped(
    mut response: reqwest::Response,
    what: &str,
) -> Result<String, TargetError> {
    let mut body = Vec::new();
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
                    return Err(TargetError::new(
                        TargetErrorKind::Other,
                        format!("{what}: the response is larger than {MAX_RESPONSE_BYTES} bytes; refused"),
                    ));
                }
                body.extend_from_slice(&chunk);
            }
            Ok(None) => break,
            Err(e) => {
                return Err(TargetError::new(
                    TargetErrorKind::Transient,
                    format!("{what}: {}", e.without_url()),
                ))
            }
        }
    }
    Ok(String::from_utf8_lossy(&body).into_owned())
}

/// Longest `Retry-After` honoured unless configured otherwise.
pub const DEFAULT_MAX_RETRY_AFTER: Duration = Duration::from_secs(120);
/// Total time allowed for one attempt.
pub(super) const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Whether a URL points at this machine (no rate limit by default there).
pub fn is_loopback(url: &str) -> bool {
    match url::Url::parse(url)
        .ok()
        .and_then(|u| u.host().map(|h| h.to_owned()))
    {
        Some(url::Host::Domain(d)) => d == "localhost",
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

pub(super) fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let when =
        time::OffsetDateTime::parse(value, &time::format_description::well_known::Rfc2822).ok()?;
    let delta = when - time::OffsetDateTime::now_utc();
    Some(Duration::from_secs_f64(delta.as_seconds_f64().max(0.0)))
}

pub(super) fn backoff(attempt: u32) -> Duration {
    let ceiling = Duration::from_millis(200)
        .saturating_mul(1 << attempt.min(8))
        .min(MAX_BACKOFF);
    let jitter = rand::thread_rng().gen_range(0.0..=1.0);
    ceiling.mul_f64(jitter).max(Duration::from_millis(20))
}

pub(super) fn error_message(status: StatusCode, body: &str) -> String {
    if status.is_redirection() {
        return format!(
            "HTTP {}: a redirect, not followed (the API does not redirect; check --target)",
            status.as_u16()
        );
    }
    let parsed: Option<Value> = serde_json::from_str(body).ok();
    let message = match parsed.as_ref().and_then(|v| v.get("message")) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|m| m.as_str().map_or_else(|| m.to_string(), str::to_owned))
            .collect::<Vec<_>>()
            .join("; "),
        _ => body.chars().take(300).collect(),
    };
    format!("HTTP {}: {message}", status.as_u16())
}

pub(super) fn kind_of(status: StatusCode, body: &str) -> TargetErrorKind {
    match status.as_u16() {
        300..=399 => TargetErrorKind::Other,
        400 | 413 | 415 | 422 => TargetErrorKind::BadRequest,
        401 => TargetErrorKind::Unauthorized,
        403 => TargetErrorKind::Forbidden,
        404 => TargetErrorKind::NotFound,
        409 if key_reused(body) => TargetErrorKind::KeyReused,
        409 => TargetErrorKind::Conflict,
        429 => TargetErrorKind::RateLimited,
        408 | 500..=599 => TargetErrorKind::Transient,
        _ => TargetErrorKind::Other,
    }
}

/// Whether a 409 body says an `Idempotency-Key` was used before.
pub(super) fn key_reused(body: &str) -> bool {
    serde_json::from_str::<Value>(body)
        .ok()
        .and_then(|v| {
            v.get("ts_error_code")
                .and_then(Value::as_str)
                .map(str::to_owned)
        })
        .is_some_and(|code| code == "idempotency_key_reused")
}

/// How long to wait before attempt `attempt + 1`: the server's `Retry-After` when it names one
/// (an error when that is longer than `max`), else exponential backoff with jitter.
pub(super) fn wait_before_retry(
    retry_after: Option<Duration>,
    attempt: u32,
    max: Duration,
) -> Result<Duration, Duration> {
    match retry_after {
        Some(wait) if wait > max => Err(wait),
        Some(wait) => Ok(wait),
        None => Ok(backoff(attempt)),
    }
}

pub(super) fn retry_after_of(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    headers
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(parse_retry_after)
}

pub(super) fn too_long(what: &str, wait: Duration, max: Duration) -> TargetError {
    TargetError::new(
        TargetErrorKind::RateLimited,
        format!(
            "{what}: the server asks to retry after {}s (Retry-After), longer than --max-retry-after {}s; nothing more was sent",
            wait.as_secs(),
            max.as_secs()
        ),
    )
}

pub(super) fn unexpected(what: &str, expected: &str, got: &Value) -> TargetError {
    let found = match got {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    };
    TargetError::new(
        TargetErrorKind::Other,
        format!("{what}: the response is not what the API documents (expected {expected}, found {found}); nothing is assumed from it"),
    )
}

/// The `result` of an app operation's `{"result": …}` envelope.
pub(super) fn result(what: &str, mut value: Value) -> Result<Value, TargetError> {
    match value.get_mut("result") {
        Some(v) => Ok(v.take()),
        None => Err(unexpected(what, "an object with `result`", &value)),
    }
}

pub(super) fn object(what: &str, value: Value) -> Result<JsonObject, TargetError> {
    match value {
        Value::Object(m) => Ok(m),
        other => Err(unexpected(what, "an object", &other)),
    }
}

pub(super) fn objects(what: &str, value: Value) -> Result<Vec<JsonObject>, TargetError> {
    match value {
        Value::Array(items) => items.into_iter().map(|v| object(what, v)).collect(),
        other => Err(unexpected(what, "an array", &other)),
    }
}

/// The client-credentials token request (form fields, as upstream documents).
pub async fn request_token(
    http: &reqwest::Client,
    url: &str,
    client_id: &str,
    client_secret: &str,
) -> reqwest::Result<reqwest::Response> {
    http.post(url)
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", client_id),
            ("client_secret", client_secret),
        ])
        .send()
        .await
}

/// The claims of a JWT, read without verifying it (only to learn what the token says about
/// itself: tenant, roles, permissions).
pub fn jwt_claims(token: &str) -> Option<serde_json::Map<String, Value>> {
    use base64::Engine as _;
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    match serde_json::from_slice(&bytes).ok()? {
        Value::Object(m) => Some(m),
        _ => None,
    }
}

/// Whether a response carries the bundled server's explicit idempotency advertisement.
pub fn advertises_idempotency(headers: &reqwest::header::HeaderMap) -> bool {
    headers
        .get(crate::tenant::IDEMPOTENCY_EXTENSION_HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .is_some_and(|window| window > 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::targets::http::Credentials;

    #[test]
    fn retry_after_forms_and_backoff_bounds() {
        assert_eq!(parse_retry_after("3"), Some(Duration::from_secs(3)));
        assert!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT").is_some());
        assert_eq!(parse_retry_after("soon"), None);
        for attempt in 1..10 {
            let b = backoff(attempt);
            assert!(b <= MAX_BACKOFF && b >= Duration::from_millis(20));
        }
        assert!(is_loopback("http://127.0.0.1:8080/cis"));
        assert!(is_loopback("http://localhost/cis"));
        assert!(!is_loopback("https://api.transmitsecurity.io/cis"));
    }

    #[test]
    fn unexpected_shapes_are_errors_never_empty_lists() {
        use serde_json::json;
        let what = "GET /v1/applications";
        assert!(objects(what, json!([])).unwrap().is_empty());
        assert_eq!(objects(what, json!([{"app_id": "a"}])).unwrap().len(), 1);
        for odd in [json!({"items": []}), json!(null), json!("[]"), json!([1])] {
            let e = objects(what, odd.clone()).unwrap_err();
            assert_eq!(e.kind, TargetErrorKind::Other, "{odd}");
            assert!(e.message.contains("not what the API documents"), "{e}");
        }
        assert!(result(what, json!({"results": []})).is_err());
        assert!(object(what, json!([])).is_err());
    }

    #[test]
    fn statuses_and_retry_after_limits() {
        assert_eq!(
            kind_of(StatusCode::TOO_MANY_REQUESTS, ""),
            TargetErrorKind::RateLimited
        );
        assert_eq!(
            kind_of(
                StatusCode::CONFLICT,
                r#"{"message":"x","error_code":409,"ts_error_code":"idempotency_key_reused"}"#
            ),
            TargetErrorKind::KeyReused
        );
        assert_eq!(
            kind_of(
                StatusCode::CONFLICT,
                r#"{"message":"x","error_code":409,"ts_error_code":"identifier_taken"}"#
            ),
            TargetErrorKind::Conflict
        );
        let max = Duration::from_secs(120);
        assert_eq!(
            wait_before_retry(Some(Duration::from_secs(2)), 1, max),
            Ok(Duration::from_secs(2))
        );
        assert_eq!(
            wait_before_retry(Some(Duration::from_secs(600)), 1, max),
            Err(Duration::from_secs(600))
        );
        assert!(wait_before_retry(None, 1, max).unwrap() <= MAX_BACKOFF);
    }

    #[test]
    fn only_an_explicit_advertisement_means_idempotency() {
        let mut headers = reqwest::header::HeaderMap::new();
        assert!(!advertises_idempotency(&headers));
        headers.insert("tenantsync-idempotency-window", "86400".parse().unwrap());
        assert!(advertises_idempotency(&headers));
        headers.insert("tenantsync-idempotency-window", "0".parse().unwrap());
        assert!(!advertises_idempotency(&headers));
    }

    #[test]
    fn credentials_never_print_secrets() {
        let c = Credentials::ClientCredentials {
            client_id: "id".into(),
            client_secret: "s3cret".into(),
        };
        assert!(!format!("{c:?}").contains("s3cret"));
        assert!(!format!("{:?}", Credentials::Token("tok".into())).contains("tok"));
    }
}
