//! The HTTP target: any Applications API base URL (the bundled server or upstream), with a
//! client-credentials token fetched once for all concurrent requests (refetched once on 401),
//! retries with exponential backoff and full jitter that honour `Retry-After` (up to a limit), a
//! per-request timeout and an optional request-rate limit that adapts to 429s (AIMD, see
//! [`aimd`]). Every request sent, retries included, is counted in the target's
//! [`ApiUsage`](super::usage::ApiUsage).
//!
//! A POST is sent again only when it certainly was not processed (a refused connection, a 429)
//! or when the target advertises `Idempotency-Key` deduplication explicitly. Responses whose shape
//! is not what the API documents are errors, never read as empty.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use reqwest::{Method, StatusCode};
use serde_json::Value;
use tokio::sync::{Mutex, OnceCell};

pub mod aimd;
mod calls;
use calls::opened;
pub mod wire;

use super::usage::{ApiMethod, ApiUsage, RequestOutcome};
use super::{JsonObject, Target, TargetError, TargetErrorKind};
use crate::model::kinds::AnyKind;
pub use wire::{
    advertises_idempotency, is_loopback, jwt_claims, request_token, DEFAULT_MAX_RETRY_AFTER,
    MAX_RESPONSE_BYTES,
};
use wire::{
    backoff, error_message, kind_of, object, read_capped, retry_after_of, too_long,
    wait_before_retry, MAX_ATTEMPTS, REQUEST_TIMEOUT,
};

/// The form a target URL is shown in (status, logs, plans, notifications, exports, the state's
/// binding): without user, password, query or fragment, which may hold credentials. A URL
/// without them is shown as given (less a trailing `/`); text that is not an http(s) URL
/// (`local`, `local:DIR`) is returned unchanged.
pub fn display_url(text: &str) -> String {
    let trimmed = text.trim_end_matches('/');
    match url::Url::parse(text) {
        Ok(mut url) if matches!(url.scheme(), "http" | "https") => {
            let private = !url.username().is_empty()
                || url.password().is_some()
                || url.query().is_some()
                || url.fragment().is_some();
            if !private {
                return trimmed.to_owned();
            }
            let _ = url.set_username("");
            let _ = url.set_password(None);
            url.set_query(None);
            url.set_fragment(None);
            url.as_str().trim_end_matches('/').to_owned()
        }
        // An http(s) text that does not parse: nothing after `//` up to an `@` is shown.
        _ if text.starts_with("http://") || text.starts_with("https://") => {
            let (scheme, rest) = text.split_once("//").unwrap_or(("", text));
            let rest = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
            let rest = rest.split(['?', '#']).next().unwrap_or_default();
            format!("{scheme}//{}", rest.trim_end_matches('/'))
        }
        _ => text.to_owned(),
    }
}

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

/// At most `rate` requests a second, evenly spaced (a burst of one): `None` without a rate.
fn request_limiter(rate: Option<f64>) -> Option<governor::DefaultDirectRateLimiter> {
    rate.filter(|r| *r > 0.0)
        .and_then(|r| governor::Quota::with_period(Duration::from_secs_f64(1.0 / r)))
        .map(governor::RateLimiter::direct)
}

/// The request rate of one target carried out on a `governor` limiter: the rate in force is
/// decided by the AIMD controller in the target's [`ApiUsage`]; the limiter is replaced whole
/// when that rate changes (a task already waiting finishes its wait on the old one).
struct Pacer {
    limiter: std::sync::Mutex<(Option<f64>, Option<Arc<governor::DefaultDirectRateLimiter>>)>,
}

impl Pacer {
    fn new(rate: Option<f64>) -> Self {
        Self {
            limiter: std::sync::Mutex::new((rate, request_limiter(rate).map(Arc::new))),
        }
    }

    /// Waits until one more request may go at `rate`.
    async fn until_ready(&self, rate: Option<f64>) {
        let limiter = {
            let mut current = self.limiter.lock().expect("not poisoned");
            if current.0 != rate {
                match rate {
                    Some(r) => tracing::info!(rate = r, "request rate in force changed"),
                    None => tracing::info!("request rate limit lifted"),
                }
                *current = (rate, request_limiter(rate).map(Arc::new));
            }
            current.1.clone()
        };
        if let Some(l) = limiter {
            l.until_ready().await;
        }
    }
}

/// An Applications API reached over HTTP.
pub struct HttpTarget {
    http: reqwest::Client,
    base: String,
    /// `base` as shown ([`display_url`]).
    shown: String,
    origin: String,
    credentials: Credentials,
    token: Mutex<Option<CachedToken>>,
    /// Spaces requests to at most the rate in force per second (no bursts), shared by every
    /// task; lowered by 429s.
    pacer: Pacer,
    idempotent_posts: OnceCell<bool>,
    usage: Arc<ApiUsage>,
    max_retry_after: Duration,
    /// Shutdown: no retry, and no new read ([`Target::stop_handle`]).
    stopping: Arc<AtomicBool>,
}

/// One API request: the method, the path below the base URL, and what it carries.
struct Request<'a> {
    method: Method,
    path: &'a str,
    body: Option<&'a JsonObject>,
    idempotency_key: Option<&'a str>,
    /// A POST that sets what it names (a one-field replacement): sending it twice does what
    /// sending it once does, so it may be sent again like a PUT.
    replaces: bool,
}

impl<'a> Request<'a> {
    fn get(path: &'a str) -> Self {
        Self {
            method: Method::GET,
            path,
            body: None,
            idempotency_key: None,
            replaces: false,
        }
    }

    fn put(path: &'a str, body: &'a JsonObject) -> Self {
        Self {
            method: Method::PUT,
            body: Some(body),
            ..Self::get(path)
        }
    }

    fn post(path: &'a str, body: &'a JsonObject, idempotency_key: &'a str) -> Self {
        Self {
            method: Method::POST,
            body: Some(body),
            idempotency_key: Some(idempotency_key),
            ..Self::get(path)
        }
    }

    /// A POST replacing one field of an object (`Api::replaces_one`).
    fn replace(path: &'a str, body: &'a JsonObject) -> Self {
        Self {
            method: Method::POST,
            body: Some(body),
            replaces: true,
            ..Self::get(path)
        }
    }

    fn delete(path: &'a str) -> Self {
        Self {
            method: Method::DELETE,
            ..Self::get(path)
        }
    }
}

impl HttpTarget {
    /// A target for `base` (e.g. `http://127.0.0.1:8080/cis`). `rate` limits requests per second
    /// (lowered after 429s, see [`aimd`]); without one a 429 imposes a rate.
    pub fn new(
        base: &str,
        credentials: Credentials,
        rate: Option<f64>,
    ) -> Result<Self, TargetError> {
        let url = url::Url::parse(base).map_err(|e| {
            TargetError::new(
                TargetErrorKind::Other,
                format!("`{}` is not a URL: {e}", display_url(base)),
            )
        })?;
        let origin = url.origin().ascii_serialization();
        if url.scheme() == "http" && !is_loopback(base) && !matches!(credentials, Credentials::None)
        {
            tracing::warn!(
                target = %origin,
                "credentials are sent over plain http to a host that is not this machine; anyone on the path can read them: use https"
            );
        }
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(REQUEST_TIMEOUT)
            // The API never redirects; following one could carry the bearer token or the token
            // request's client secret to another origin.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("tenantsync/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| TargetError::new(TargetErrorKind::Other, e.to_string()))?;
        let usage = Arc::new(ApiUsage::new(rate));
        Ok(Self {
            http,
            base: base.trim_end_matches('/').to_owned(),
            shown: display_url(base),
            origin,
            credentials,
            token: Mutex::new(None),
            pacer: Pacer::new(usage.rate_in_force()),
            idempotent_posts: OnceCell::new(),
            usage,
            max_retry_after: DEFAULT_MAX_RETRY_AFTER,
            stopping: Arc::new(AtomicBool::new(false)),
        })
    }

    /// An error when shutdown stopped `what` (a retry, or a read not begun).
    fn stopped(&self, what: &str) -> Result<(), TargetError> {
        if self.stopping.load(Ordering::SeqCst) {
            return Err(TargetError::new(
                TargetErrorKind::Transient,
                format!("{what}: not sent: shutting down"),
            ));
        }
        Ok(())
    }

    /// Honours `Retry-After` up to `max`; a longer one fails the request.
    pub fn with_max_retry_after(mut self, max: Duration) -> Self {
        self.max_retry_after = max;
        self
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
            if attempt > 1 {
                self.stopped("token request")?;
            }
            let sent = request_token(&self.http, &url, client_id, client_secret).await;
            match sent {
                Ok(r) if r.status().is_success() => break r,
                Ok(r) => {
                    let status = r.status();
                    let retry_after = retry_after_of(r.headers());
                    let body = r.text().await.unwrap_or_default();
                    let kind = kind_of(status, &body);
                    let retryable = matches!(
                        kind,
                        TargetErrorKind::Transient | TargetErrorKind::RateLimited
                    );
                    if retryable && attempt < MAX_ATTEMPTS {
                        let wait = wait_before_retry(retry_after, attempt, self.max_retry_after)
                            .map_err(|w| too_long("token request", w, self.max_retry_after))?;
                        tokio::time::sleep(wait).await;
                        continue;
                    }
                    return Err(TargetError::new(
                        if retryable {
                            kind
                        } else {
                            TargetErrorKind::Unauthorized
                        },
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
        let Some(value) = body["access_token"]
            .as_str()
            .filter(|t| !t.is_empty())
            .map(str::to_owned)
        else {
            return Err(TargetError::new(
                TargetErrorKind::Unauthorized,
                format!("the token response of {url} has no access_token"),
            ));
        };
        let lifetime = body["expires_in"].as_u64().unwrap_or(3600);
        *cached = Some(CachedToken {
            value: value.clone(),
            refresh_after: Instant::now() + Duration::from_secs(lifetime.saturating_sub(30).max(1)),
        });
        Ok(Some(value))
    }

    async fn send(&self, request: Request<'_>) -> Result<(StatusCode, String), TargetError> {
        let Request {
            method,
            path,
            body,
            idempotency_key,
            replaces,
        } = request;
        let url = format!("{}{path}", self.base);
        let is_post = method == Method::POST;
        // A POST that may have been processed is sent again only where the target deduplicates,
        // or when it replaces a field (sending it again sets the same value).
        let resend_maybe_applied = !is_post
            || replaces
            || (idempotency_key.is_some() && self.honors_idempotency_keys().await);
        let counted = ApiMethod::of(method.as_str());
        let mut refreshed = false;
        let mut attempt = 0;
        loop {
            attempt += 1;
            // Shutting down: a read is not begun, and nothing is sent again.
            if attempt > 1 || method == Method::GET {
                self.stopped(&format!("{method} {path}"))?;
            }
            self.pacer.until_ready(self.usage.sending()).await;
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
                    self.usage
                        .record(counted, RequestOutcome::of_status(status.as_u16()));
                    self.usage.answered(status == StatusCode::TOO_MANY_REQUESTS);
                    let retry_after = retry_after_of(response.headers());
                    let text = read_capped(response, &format!("{method} {path}")).await?;
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
                    let kind = kind_of(status, &text);
                    // 429 means "not processed": any request may be sent again after the wait.
                    let retryable = kind == TargetErrorKind::RateLimited
                        || (kind == TargetErrorKind::Transient && resend_maybe_applied);
                    if retryable && attempt < MAX_ATTEMPTS {
                        let wait = wait_before_retry(retry_after, attempt, self.max_retry_after)
                            .map_err(|w| {
                                too_long(&format!("{method} {path}"), w, self.max_retry_after)
                            })?;
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
                    self.usage.record(counted, RequestOutcome::Transport);
                    // A refused connection never reached the server: safe to retry any request.
                    let never_sent = e.is_connect();
                    if (resend_maybe_applied || never_sent) && attempt < MAX_ATTEMPTS {
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

    /// Sends `request` and reads its answer as JSON.
    async fn json(&self, request: Request<'_>) -> Result<Value, TargetError> {
        let (method, path) = (request.method.clone(), request.path);
        let (_, text) = self.send(request).await?;
        serde_json::from_str(&text).map_err(|e| {
            TargetError::new(
                TargetErrorKind::Other,
                format!("{method} {path}: unreadable response: {e}"),
            )
        })
    }
}

#[async_trait]
impl Target for HttpTarget {
    fn describe(&self) -> String {
        self.shown.clone()
    }

    fn token_url(&self) -> Option<String> {
        Some(format!("{}/oidc/token", self.origin))
    }

    fn stop_handle(&self) -> Option<Arc<AtomicBool>> {
        Some(self.stopping.clone())
    }

    fn usage(&self) -> Arc<ApiUsage> {
        self.usage.clone()
    }

    async fn honors_idempotency_keys(&self) -> bool {
        *self
            .idempotent_posts
            .get_or_init(|| async {
                // Only an explicit advertisement counts (the bundled server sends its header on
                // every response); a health endpoint that merely answers proves nothing.
                for attempt in 1..=3 {
                    match self
                        .http
                        .get(format!("{}/healthz", self.origin))
                        .send()
                        .await
                    {
                        Ok(r) if r.status().is_server_error() => {
                            tokio::time::sleep(backoff(attempt)).await;
                        }
                        Ok(r) => return advertises_idempotency(r.headers()),
                        Err(_) => tokio::time::sleep(backoff(attempt)).await,
                    }
                }
                false
            })
            .await
    }

    async fn tenant_id(&self) -> Result<Option<String>, TargetError> {
        let token = self.bearer(false).await?;
        Ok(token
            .as_deref()
            .and_then(jwt_claims)
            .and_then(|c| c.get("tid").and_then(Value::as_str).map(str::to_owned)))
    }

    async fn credential_view(&self) -> Result<crate::plan::CredentialView, TargetError> {
        use crate::plan::CredentialView;
        let token = self.bearer(false).await?;
        let Some(claims) = token.as_deref().and_then(jwt_claims) else {
            return Ok(CredentialView::Opaque);
        };
        let roles = claims
            .get("roles")
            .and_then(Value::as_array)
            .map(|r| {
                r.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        Ok(CredentialView::Roles(roles))
    }

    async fn list(
        &self,
        kind: AnyKind,
        app_id: Option<&str>,
    ) -> Result<Vec<JsonObject>, TargetError> {
        let api = kind.api();
        let Some(field) = api.singleton_field else {
            return self.list_of(api, app_id).await;
        };
        let path = api.collection_path(app_id);
        let what = format!("GET {path}");
        let mut one = object(
            &what,
            opened(api, &what, self.json(Request::get(&path)).await?)?,
        )?;
        Ok(match one.remove(field) {
            Some(Value::Null) | None => vec![],
            Some(inner) => vec![object(&what, inner)?],
        })
    }

    async fn get(
        &self,
        kind: AnyKind,
        app_id: Option<&str>,
        id: &str,
    ) -> Result<Option<JsonObject>, TargetError> {
        self.read_one(kind.api(), app_id, id).await
    }

    async fn create(
        &self,
        kind: AnyKind,
        app_id: Option<&str>,
        body: &JsonObject,
        idempotency_key: &str,
    ) -> Result<JsonObject, TargetError> {
        self.create_in(kind.api(), app_id, body, idempotency_key)
            .await
    }

    async fn update(
        &self,
        kind: AnyKind,
        app_id: Option<&str>,
        id: Option<&str>,
        body: &JsonObject,
    ) -> Result<Option<JsonObject>, TargetError> {
        self.update_of(kind.api(), app_id, id, body).await
    }

    async fn delete(
        &self,
        kind: AnyKind,
        app_id: Option<&str>,
        id: &str,
    ) -> Result<(), TargetError> {
        self.delete_of(kind.api(), app_id, id).await
    }
}

#[cfg(test)]
mod tests {
    use super::{display_url, request_limiter};

    #[test]
    fn a_target_is_shown_without_userinfo_query_or_fragment() {
        assert_eq!(
            display_url("http://user:canary@127.0.0.1:8080/cis?key=q#f"),
            "http://127.0.0.1:8080/cis"
        );
        assert_eq!(
            display_url("https://tok@idp.example.com/"),
            "https://idp.example.com"
        );
        // Without any of them, shown as given (so recorded bindings still match).
        assert_eq!(display_url("HTTP://Idp:443/cis/"), "HTTP://Idp:443/cis");
        assert_eq!(display_url("local:/tmp/x"), "local:/tmp/x");
        assert_eq!(display_url("local"), "local");
        assert_eq!(display_url("http://u:p@[bad/cis?x"), "http://[bad/cis");
    }

    #[test]
    fn the_request_rate_allows_no_burst() {
        assert!(request_limiter(None).is_none());
        assert!(request_limiter(Some(0.0)).is_none());
        // One request a minute: the first goes at once, the second must wait.
        let limiter = request_limiter(Some(1.0 / 60.0)).unwrap();
        assert!(limiter.check().is_ok());
        let wait = limiter.check().unwrap_err();
        let clock = governor::clock::DefaultClock::default();
        let left = wait.wait_time_from(governor::clock::Clock::now(&clock));
        assert!(
            left > std::time::Duration::from_secs(50),
            "the second request may go after {left:?}"
        );
    }
}
