//! The HTTP target: any Applications API base URL (the bundled server or upstream), with a
//! client-credentials token fetched once for all concurrent requests (refetched once on 401),
//! retries with exponential backoff and full jitter that honour `Retry-After`, a per-request
//! timeout, an optional request-rate limit, and POST retried only when the target deduplicates
//! by `Idempotency-Key`.

use std::time::{Duration, Instant};

use async_trait::async_trait;
use rand::Rng;
use reqwest::{Method, StatusCode};
use serde_json::Value;
use tokio::sync::{Mutex, OnceCell};

use super::{Object, RequestCounter, Target, TargetError, TargetErrorKind};

/// Attempts per request (first try included).
const MAX_ATTEMPTS: u32 = 6;
/// Longest wait between attempts, and the cap on `Retry-After`.
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// Total time allowed for one attempt.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// How the target authenticates.
#[derive(Clone)]
pub enum Credentials {
    /// A ready bearer token (`TENANTSYNC_TOKEN`).
    Token(String),
    /// Client credentials exchanged at `<origin>/oidc/token`.
    ClientCredentials {
        /// Client id.
        client_id: String,
        /// Client secret.
        client_secret: String,
    },
    /// No credentials (requests will get 401).
    None,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credentials::Token(_) => f.write_str("Token(sensitive)"),
            Credentials::ClientCredentials { client_id, .. } => {
                write!(f, "ClientCredentials({client_id}, sensitive)")
            }
            Credentials::None => f.write_str("None"),
        }
    }
}

struct CachedToken {
    value: String,
    refresh_after: Instant,
}

/// Spaces requests to at most `rate` per second, shared by every task.
struct RateLimiter {
    interval: Duration,
    next: Mutex<Instant>,
}

impl RateLimiter {
    async fn wait(&self) {
        let at = {
            let mut next = self.next.lock().await;
            let now = Instant::now();
            let at = (*next).max(now);
            *next = at + self.interval;
            at
        };
        tokio::time::sleep_until(at.into()).await;
    }
}

/// An Applications API reached over HTTP.
pub struct HttpTarget {
    http: reqwest::Client,
    base: String,
    origin: String,
    credentials: Credentials,
    token: Mutex<Option<CachedToken>>,
    limiter: Option<RateLimiter>,
    idempotent_posts: OnceCell<bool>,
    counter: RequestCounter,
}

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

fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let when =
        time::OffsetDateTime::parse(value, &time::format_description::well_known::Rfc2822).ok()?;
    let delta = when - time::OffsetDateTime::now_utc();
    Some(Duration::from_secs_f64(delta.as_seconds_f64().max(0.0)))
}

fn backoff(attempt: u32) -> Duration {
    let ceiling = Duration::from_millis(200)
        .saturating_mul(1 << attempt.min(8))
        .min(MAX_BACKOFF);
    let jitter = rand::thread_rng().gen_range(0.0..=1.0);
    ceiling.mul_f64(jitter).max(Duration::from_millis(20))
}

fn error_message(status: StatusCode, body: &str) -> String {
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

fn kind_of(status: StatusCode) -> TargetErrorKind {
    match status.as_u16() {
        400 | 413 | 415 | 422 => TargetErrorKind::BadRequest,
        401 => TargetErrorKind::Unauthorized,
        403 => TargetErrorKind::Forbidden,
        404 => TargetErrorKind::NotFound,
        409 => TargetErrorKind::Conflict,
        408 | 429 | 500..=599 => TargetErrorKind::Transient,
        _ => TargetErrorKind::Other,
    }
}

impl HttpTarget {
    /// A target for `base` (e.g. `http://127.0.0.1:8080/cis`). `rate` limits requests per second.
    pub fn new(
        base: &str,
        credentials: Credentials,
        rate: Option<f64>,
    ) -> Result<Self, TargetError> {
        let url = url::Url::parse(base).map_err(|e| {
            TargetError::new(
                TargetErrorKind::Other,
                format!("`{base}` is not a URL: {e}"),
            )
        })?;
        let origin = url.origin().ascii_serialization();
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(REQUEST_TIMEOUT)
            .user_agent(concat!("tenantsync/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| TargetError::new(TargetErrorKind::Other, e.to_string()))?;
        Ok(Self {
            http,
            base: base.trim_end_matches('/').to_owned(),
            origin,
            credentials,
            token: Mutex::new(None),
            limiter: rate.filter(|r| *r > 0.0).map(|r| RateLimiter {
                interval: Duration::from_secs_f64(1.0 / r),
                next: Mutex::new(Instant::now()),
            }),
            idempotent_posts: OnceCell::new(),
            counter: RequestCounter::default(),
        })
    }

    /// The bearer token, fetched once for all callers and reused until shortly before expiry.
    async fn bearer(&self, refresh: bool) -> Result<Option<String>, TargetError> {
        let (client_id, client_secret) = match &self.credentials {
            Credentials::Token(t) => return Ok(Some(t.clone())),
            Credentials::None => return Ok(None),
            Credentials::ClientCredentials {
                client_id,
                client_secret,
            } => (client_id, client_secret),
        };
        let mut cached = self.token.lock().await;
        if let Some(t) = cached.as_ref() {
            if !refresh && Instant::now() < t.refresh_after {
                return Ok(Some(t.value.clone()));
            }
        }
        let url = format!("{}/oidc/token", self.origin);
        let mut attempt = 0;
        let response = loop {
            attempt += 1;
            let sent = self
                .http
                .post(&url)
                .form(&[
                    ("grant_type", "client_credentials"),
                    ("client_id", client_id.as_str()),
                    ("client_secret", client_secret.as_str()),
                ])
                .send()
                .await;
            match sent {
                Ok(r) if r.status().is_success() => break r,
                Ok(r)
                    if kind_of(r.status()) == TargetErrorKind::Transient
                        && attempt < MAX_ATTEMPTS =>
                {
                    tokio::time::sleep(backoff(attempt)).await;
                }
                Ok(r) => {
                    let status = r.status();
                    let body = r.text().await.unwrap_or_default();
                    return Err(TargetError::new(
                        TargetErrorKind::Unauthorized,
                        format!(
                            "could not get an access token from {url}: {}",
                            error_message(status, &body)
                        ),
                    ));
                }
                Err(_) if attempt < MAX_ATTEMPTS => tokio::time::sleep(backoff(attempt)).await,
                Err(e) => {
                    return Err(TargetError::new(
                        TargetErrorKind::Transient,
                        format!("could not reach {url}: {}", e.without_url()),
                    ))
                }
            }
        };
        let body: Value = response.json().await.map_err(|e| {
            TargetError::new(
                TargetErrorKind::Other,
                format!("unreadable token response: {}", e.without_url()),
            )
        })?;
        let value = body["access_token"].as_str().unwrap_or_default().to_owned();
        let lifetime = body["expires_in"].as_u64().unwrap_or(3600);
        *cached = Some(CachedToken {
            value: value.clone(),
            refresh_after: Instant::now() + Duration::from_secs(lifetime.saturating_sub(30).max(1)),
        });
        Ok(Some(value))
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<&Object>,
        idempotency_key: Option<&str>,
    ) -> Result<(StatusCode, String), TargetError> {
        let url = format!("{}{path}", self.base);
        let is_post = method == Method::POST;
        let retry_posts =
            !is_post || (idempotency_key.is_some() && self.honors_idempotency_keys().await);
        if method == Method::GET {
            self.counter.read();
        } else {
            self.counter.write();
        }
        let mut refreshed = false;
        let mut attempt = 0;
        loop {
            attempt += 1;
            if let Some(l) = &self.limiter {
                l.wait().await;
            }
            let token = self.bearer(false).await?;
            let mut request = self.http.request(method.clone(), &url);
            if let Some(t) = &token {
                request = request.bearer_auth(t);
            }
            if let Some(b) = body {
                request = request.json(b);
            }
            if let Some(k) = idempotency_key {
                request = request.header("Idempotency-Key", k);
            }
            match request.send().await {
                Ok(response) => {
                    let status = response.status();
                    let retry_after = response
                        .headers()
                        .get(reqwest::header::RETRY_AFTER)
                        .and_then(|v| v.to_str().ok())
                        .and_then(parse_retry_after);
                    let text = response.text().await.unwrap_or_default();
                    if status.is_success() {
                        return Ok((status, text));
                    }
                    if status == StatusCode::UNAUTHORIZED
                        && !refreshed
                        && matches!(self.credentials, Credentials::ClientCredentials { .. })
                    {
                        refreshed = true;
                        self.bearer(true).await?;
                        continue;
                    }
                    let kind = kind_of(status);
                    if kind == TargetErrorKind::Transient && retry_posts && attempt < MAX_ATTEMPTS {
                        let wait = retry_after
                            .unwrap_or_else(|| backoff(attempt))
                            .min(MAX_BACKOFF);
                        tracing::debug!(%method, path, status = status.as_u16(), wait_ms = wait.as_millis() as u64, "retrying");
                        tokio::time::sleep(wait).await;
                        continue;
                    }
                    return Err(TargetError::new(
                        kind,
                        format!("{method} {path}: {}", error_message(status, &text)),
                    ));
                }
                Err(e) => {
                    // A refused connection never reached the server: safe to retry any request.
                    let never_sent = e.is_connect();
                    if (retry_posts || never_sent) && attempt < MAX_ATTEMPTS {
                        tracing::debug!(%method, path, error = %e.without_url(), "retrying after a transport error");
                        tokio::time::sleep(backoff(attempt)).await;
                        continue;
                    }
                    return Err(TargetError::new(
                        TargetErrorKind::Transient,
                        format!("{method} {path}: {}", e.without_url()),
                    ));
                }
            }
        }
    }

    async fn json(
        &self,
        method: Method,
        path: &str,
        body: Option<&Object>,
        key: Option<&str>,
    ) -> Result<Value, TargetError> {
        let (_, text) = self.send(method.clone(), path, body, key).await?;
        serde_json::from_str(&text).map_err(|e| {
            TargetError::new(
                TargetErrorKind::Other,
                format!("{method} {path}: unreadable response: {e}"),
            )
        })
    }

    async fn optional(&self, path: &str, wrapped: bool) -> Result<Option<Object>, TargetError> {
        match self.json(Method::GET, path, None, None).await {
            Ok(v) => Ok(Some(object(if wrapped { v["result"].clone() } else { v }))),
            Err(e) if e.kind == TargetErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }
}

fn object(value: Value) -> Object {
    match value {
        Value::Object(m) => m,
        _ => Object::new(),
    }
}

fn objects(value: Value) -> Vec<Object> {
    match value {
        Value::Array(items) => items.into_iter().map(object).collect(),
        _ => Vec::new(),
    }
}

#[async_trait]
impl Target for HttpTarget {
    fn describe(&self) -> String {
        self.base.clone()
    }

    fn request_counts(&self) -> (u64, u64) {
        self.counter.get()
    }

    async fn honors_idempotency_keys(&self) -> bool {
        *self
            .idempotent_posts
            .get_or_init(|| async {
                // The bundled server answers /healthz with {"status":"ok"} and deduplicates by
                // Idempotency-Key; for anything else, creates are never retried blindly.
                for attempt in 1..=3 {
                    match self
                        .http
                        .get(format!("{}/healthz", self.origin))
                        .send()
                        .await
                    {
                        Ok(r) if r.status().is_success() => {
                            return r
                                .json::<Value>()
                                .await
                                .map(|v| v["status"] == "ok")
                                .unwrap_or(false)
                        }
                        Ok(r) if kind_of(r.status()) != TargetErrorKind::Transient => return false,
                        _ => tokio::time::sleep(backoff(attempt)).await,
                    }
                }
                false
            })
            .await
    }

    async fn list_apps(&self) -> Result<Vec<Object>, TargetError> {
        Ok(objects(
            self.json(Method::GET, "/v1/applications", None, None)
                .await?["result"]
                .take(),
        ))
    }

    async fn get_app(&self, app_id: &str) -> Result<Option<Object>, TargetError> {
        self.optional(&format!("/v1/applications/{app_id}"), true)
            .await
    }

    async fn list_clients(&self, app_id: &str) -> Result<Vec<Object>, TargetError> {
        Ok(objects(
            self.json(
                Method::GET,
                &format!("/v1/applications/{app_id}/clients"),
                None,
                None,
            )
            .await?,
        ))
    }

    async fn get_client(
        &self,
        app_id: &str,
        client_id: &str,
    ) -> Result<Option<Object>, TargetError> {
        self.optional(
            &format!("/v1/applications/{app_id}/clients/{client_id}"),
            false,
        )
        .await
    }

    async fn create_app(
        &self,
        body: &Object,
        idempotency_key: &str,
    ) -> Result<Object, TargetError> {
        let mut v = self
            .json(
                Method::POST,
                "/v1/applications",
                Some(body),
                Some(idempotency_key),
            )
            .await?;
        Ok(object(v["result"].take()))
    }

    async fn update_app(&self, app_id: &str, body: &Object) -> Result<Object, TargetError> {
        let mut v = self
            .json(
                Method::PUT,
                &format!("/v1/applications/{app_id}"),
                Some(body),
                None,
            )
            .await?;
        Ok(object(v["result"].take()))
    }

    async fn delete_app(&self, app_id: &str) -> Result<(), TargetError> {
        self.send(
            Method::DELETE,
            &format!("/v1/applications/{app_id}"),
            None,
            None,
        )
        .await
        .map(|_| ())
    }

    async fn create_client(
        &self,
        app_id: &str,
        body: &Object,
        idempotency_key: &str,
    ) -> Result<Object, TargetError> {
        let path = format!("/v1/applications/{app_id}/clients");
        Ok(object(
            self.json(Method::POST, &path, Some(body), Some(idempotency_key))
                .await?,
        ))
    }

    async fn update_client(
        &self,
        app_id: &str,
        client_id: &str,
        body: &Object,
    ) -> Result<Object, TargetError> {
        let path = format!("/v1/applications/{app_id}/clients/{client_id}");
        Ok(object(
            self.json(Method::PUT, &path, Some(body), None).await?,
        ))
    }

    async fn delete_client(&self, app_id: &str, client_id: &str) -> Result<(), TargetError> {
        let path = format!("/v1/applications/{app_id}/clients/{client_id}");
        self.send(Method::DELETE, &path, None, None)
            .await
            .map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn credentials_never_print_secrets() {
        let c = Credentials::ClientCredentials {
            client_id: "id".into(),
            client_secret: "s3cret".into(),
        };
        assert!(!format!("{c:?}").contains("s3cret"));
        assert!(!format!("{:?}", Credentials::Token("tok".into())).contains("tok"));
    }
}
