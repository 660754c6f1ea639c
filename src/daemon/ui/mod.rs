//! The daemon's read-only web page (`GET /` on `--listen`): who may see it, the board it shows
//! (rebuilt after every reconcile), its routes and their security headers. The model lives in
//! [`view`], the list's query in [`query`], the HTML in [`page`].

pub mod page;
pub mod query;
pub mod view;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};

use axum::extract::{Form, Query as QueryString, State};
use axum::http::header::{
    AUTHORIZATION, CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, COOKIE, LOCATION,
    REFERRER_POLICY, SET_COOKIE, X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS,
};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde::Deserialize;

use super::status::Shared;
use crate::manifest::DesiredState;
use crate::plan::Plan;
use crate::reconcile::execute::ApplyReport;
use crate::state::entry::StateSnapshot;
use crate::state::store::StateStore;
use view::{Board, Round};

/// The Content-Security-Policy of every page: nothing but this origin's own stylesheet and
/// script, no inline code, no framing, forms only to this origin.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
    form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The cookie the login form sets.
const COOKIE_NAME: &str = "tenantsync_ui";

/// Shortest token `--ui-token-file` may hold.
pub const MIN_TOKEN_LEN: usize = 16;

/// Who may see the page.
#[derive(Clone)]
pub enum Access {
    /// Anyone who reaches the listener: it listens on loopback.
    Open,
    /// Requests with this token (`Authorization: Bearer`, or the cookie the login form sets).
    Token(Vec<u8>),
    /// Nobody, and why (said on the page and in the log).
    Off(String),
}

/// Why `--ui-token-file` cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum AccessError {
    /// Unreadable.
    #[error("reading the UI token file {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// Too short to resist guessing.
    #[error("the UI token file {path} holds {len} characters; use at least {MIN_TOKEN_LEN} (e.g. `openssl rand -hex 32 > {path}`)")]
    Short {
        /// The file.
        path: String,
        /// Its token's length.
        len: usize,
    },
}

impl Access {
    /// The page's access for a daemon listening on `listen`: a token when a file gives one,
    /// open on loopback, otherwise off.
    pub fn decide(listen: SocketAddr, token_file: Option<&Path>) -> Result<Self, AccessError> {
        if let Some(path) = token_file {
            let shown = path.display().to_string();
            let token = std::fs::read(path).map_err(|source| AccessError::Read {
                path: shown.clone(),
                source,
            })?;
            let token = token.trim_ascii().to_vec();
            if token.len() < MIN_TOKEN_LEN {
                return Err(AccessError::Short {
                    path: shown,
                    len: token.len(),
                });
            }
            return Ok(Access::Token(token));
        }
        if listen.ip().is_loopback() {
            Ok(Access::Open)
        } else {
            Ok(Access::Off(format!(
                "the daemon listens on {listen}, beyond loopback, and no --ui-token-file is given: \
                 the web page is not served (/status, /metrics and the probes are)"
            )))
        }
    }

    /// The cookie value that stands for the token: an HMAC of a fixed label, so the cookie
    /// never holds the token itself.
    fn session(token: &[u8]) -> String {
        use hmac::{Hmac, Mac};
        let mut mac = <Hmac<sha2::Sha256>>::new_from_slice(token).expect("any key length");
        mac.update(b"tenantsync ui session v1");
        mac.finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    /// Whether a request with these headers may see the page.
    fn admits(&self, headers: &HeaderMap) -> bool {
        use subtle::ConstantTimeEq as _;
        let Access::Token(token) = self else {
            return matches!(self, Access::Open);
        };
        let bearer = headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        if let Some(given) = bearer {
            return bool::from(given.trim().as_bytes().ct_eq(token));
        }
        let session = Self::session(token);
        headers
            .get_all(COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .any(|(name, value)| {
                name == COOKIE_NAME && bool::from(value.as_bytes().ct_eq(session.as_bytes()))
            })
    }
}

/// The page's part of the daemon: who may see it, whether the badge is on, and the board of the
/// last reconcile.
pub struct Ui {
    /// Who may see it.
    pub access: Access,
    /// `/badge.svg` served (`--ui-badge`).
    pub badge: bool,
    board: Mutex<Arc<Board>>,
    /// A board was built from the state (the first one reads the history).
    observed: std::sync::atomic::AtomicBool,
}

/// `previous` unless `fresh`; then what `read` gives (or `previous`, logged, when it fails).
fn reread<T>(
    fresh: bool,
    previous: Arc<Vec<T>>,
    read: impl FnOnce() -> Result<Vec<T>, crate::state::store::StateError>,
) -> Arc<Vec<T>> {
    if !fresh {
        return previous;
    }
    match read() {
        Ok(records) => Arc::new(records),
        Err(e) => {
            tracing::warn!(error = %e, "the web page could not read the state");
            previous
        }
    }
}

impl Ui {
    /// A page with nothing reconciled yet.
    pub fn new(access: Access, badge: bool) -> Self {
        Self {
            access,
            badge,
            board: Mutex::default(),
            observed: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// The board of the last reconcile.
    pub fn board(&self) -> Arc<Board> {
        self.board.lock().expect("not poisoned").clone()
    }

    /// Puts `board` on the page.
    pub fn show(&self, board: Board) {
        *self.board.lock().expect("not poisoned") = Arc::new(board);
    }

    /// Rebuilds the board after a reconcile: `snapshot` is the state after it, `round` its plan
    /// and what carrying it out did, `open_drift` the state's open drift episodes. Reads the state's history and ended drift only at the first
    /// round and when this one added to them.
    pub fn observe(
        &self,
        state: &StateStore,
        snapshot: Arc<StateSnapshot>,
        desired: &DesiredState,
        round: Option<(&Plan, &ApplyReport, &crate::drift::DriftUpdate)>,
        open_drift: Vec<crate::drift::DriftRecord>,
    ) {
        let previous = self.board();
        let first = !self
            .observed
            .swap(true, std::sync::atomic::Ordering::SeqCst);
        let wrote = round.is_some_and(|(plan, report, _)| {
            plan.has_changes() || report.state_updates > 0 || !report.objects.is_empty()
        });
        let ended = round.is_some_and(|(_, _, drift)| !drift.resolved.is_empty());
        let history = reread(first || wrote, previous.history_shared(), || {
            state.history(view::HISTORY_KEPT)
        });
        let ended_drift = reread(first || ended, previous.ended_drift_shared(), || {
            state.drift_history(view::ENDED_DRIFT_KEPT)
        });
        let board = Board::build(Round {
            state: snapshot,
            desired: Some(desired),
            plan: round.map(|(plan, report, _)| (plan, report)),
            open_drift,
            ended_drift,
            history,
        });
        self.show(board);
    }
}

fn secured(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers
        .entry(CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    response
}

fn html(status: StatusCode, markup: maud::Markup) -> Response {
    secured(
        (
            status,
            [(CONTENT_TYPE, "text/html; charset=utf-8")],
            markup.into_string(),
        )
            .into_response(),
    )
}

/// The page for a request the access rules stop, if they do.
fn gate(shared: &Shared, headers: &HeaderMap) -> Option<Response> {
    match &shared.ui.access {
        Access::Off(why) => Some(html(StatusCode::FORBIDDEN, page::refused(why))),
        access if access.admits(headers) => None,
        _ => Some(html(StatusCode::UNAUTHORIZED, page::login(false))),
    }
}

fn now() -> String {
    crate::reconcile::now_rfc3339()
}

fn status_now(shared: &Shared) -> super::status::Status {
    shared.status_now()
}

async fn overview(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    QueryString(raw): QueryString<query::RawQuery>,
) -> Response {
    if let Some(stop) = gate(&s, &headers) {
        return stop;
    }
    let board = s.ui.board();
    let query = query::Query::from_raw(raw);
    html(
        StatusCode::OK,
        page::overview(&board, &status_now(&s), &query, &now()),
    )
}

#[derive(Deserialize)]
struct ObjectQuery {
    name: Option<String>,
}

async fn object(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    QueryString(q): QueryString<ObjectQuery>,
) -> Response {
    if let Some(stop) = gate(&s, &headers) {
        return stop;
    }
    let board = s.ui.board();
    let status = status_now(&s);
    match q.name.as_deref().and_then(|name| board.detail(name)) {
        Some(detail) => html(StatusCode::OK, page::object(&detail, &status, &now())),
        None => html(StatusCode::NOT_FOUND, page::not_found(&status, &now())),
    }
}

async fn history(State(s): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    if let Some(stop) = gate(&s, &headers) {
        return stop;
    }
    let board = s.ui.board();
    html(
        StatusCode::OK,
        page::history(board.history(), &status_now(&s), &now()),
    )
}

#[derive(Deserialize)]
struct Login {
    token: String,
}

/// Whether the browser reached the page over HTTPS: the daemon serves plain HTTP, so only a
/// TLS-terminating proxy in front of it can say so (`X-Forwarded-Proto` or `Forwarded`). The
/// answer only ever makes the cookie stricter, so a client claiming it gains nothing.
fn reached_over_https(headers: &HeaderMap) -> bool {
    let values = |name: &'static str| {
        headers
            .get_all(name)
            .into_iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split([',', ';']))
            .map(str::trim)
    };
    let https = |value: &str| value.trim_matches('"').eq_ignore_ascii_case("https");
    values("x-forwarded-proto").any(https)
        || values("forwarded").any(|pair| {
            pair.split_once('=')
                .is_some_and(|(key, value)| key.eq_ignore_ascii_case("proto") && https(value))
        })
}

async fn login(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    Form(form): Form<Login>,
) -> Response {
    use subtle::ConstantTimeEq as _;
    let token = match &s.ui.access {
        Access::Token(token) => token,
        Access::Open => return see_other("/"),
        Access::Off(why) => return html(StatusCode::FORBIDDEN, page::refused(why)),
    };
    if !bool::from(form.token.trim().as_bytes().ct_eq(token)) {
        tracing::warn!("web page: a login with a wrong token");
        return html(StatusCode::UNAUTHORIZED, page::login(true));
    }
    let mut response = see_other("/");
    // Secure when the browser came over HTTPS: the cookie then never travels in clear text.
    let secure = if reached_over_https(&headers) {
        "; Secure"
    } else {
        ""
    };
    let cookie = format!(
        "{COOKIE_NAME}={}; Path=/; HttpOnly; SameSite=Strict{secure}",
        Access::session(token)
    );
    response.headers_mut().insert(
        SET_COOKIE,
        HeaderValue::from_str(&cookie).expect("hex is a valid header value"),
    );
    response
}

fn see_other(to: &'static str) -> Response {
    secured((StatusCode::SEE_OTHER, [(LOCATION, to)]).into_response())
}

async fn badge(State(s): State<Arc<Shared>>) -> Response {
    if !s.ui.badge {
        return (
            StatusCode::NOT_FOUND,
            "the badge is off: start sync with --ui-badge",
        )
            .into_response();
    }
    let svg = page::badge(&s.ui.board(), &status_now(&s));
    secured(
        (
            [
                (CONTENT_TYPE, "image/svg+xml"),
                (CACHE_CONTROL, "no-cache, max-age=0"),
            ],
            svg,
        )
            .into_response(),
    )
}

async fn stylesheet() -> Response {
    secured(
        (
            [
                (CONTENT_TYPE, "text/css; charset=utf-8"),
                (CACHE_CONTROL, "max-age=3600"),
            ],
            include_str!("assets/style.css"),
        )
            .into_response(),
    )
}

async fn script() -> Response {
    secured(
        (
            [
                (CONTENT_TYPE, "text/javascript; charset=utf-8"),
                (CACHE_CONTROL, "max-age=3600"),
            ],
            include_str!("assets/app.js"),
        )
            .into_response(),
    )
}

/// The page's routes.
pub fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/", get(overview))
        .route("/object", get(object))
        .route("/history", get(history))
        .route("/login", axum::routing::post(login))
        .route("/badge.svg", get(badge))
        .route("/ui/style.css", get(stylesheet))
        .route("/ui/app.js", get(script))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn a_token_admits_bearer_and_session_cookie_only() {
        let access = Access::Token(b"0123456789abcdef".to_vec());
        assert!(access.admits(&headers(&[("authorization", "Bearer 0123456789abcdef")])));
        assert!(!access.admits(&headers(&[("authorization", "Bearer 0123456789abcdeX")])));
        assert!(!access.admits(&headers(&[])));
        let session = Access::session(b"0123456789abcdef");
        assert!(
            !session.contains("0123456789abcdef"),
            "the cookie never holds the token"
        );
        let cookie = format!("a=b; {COOKIE_NAME}={session}");
        assert!(access.admits(&headers(&[("cookie", &cookie)])));
        assert!(!access.admits(&headers(&[("cookie", "tenantsync_ui=0123456789abcdef")])));
        assert!(Access::Open.admits(&headers(&[])));
        assert!(!Access::Off("x".into()).admits(&headers(&[])));
    }

    #[test]
    fn access_is_open_on_loopback_off_beyond_it_and_short_tokens_are_refused() {
        let loopback: SocketAddr = "127.0.0.1:9464".parse().unwrap();
        let wide: SocketAddr = "0.0.0.0:9464".parse().unwrap();
        assert!(matches!(Access::decide(loopback, None), Ok(Access::Open)));
        match Access::decide(wide, None) {
            Ok(Access::Off(why)) => assert!(why.contains("--ui-token-file"), "{why}"),
            _ => panic!("a wide listener without a token must turn the page off"),
        }
        let dir = tempfile::tempdir().unwrap();
        let short = dir.path().join("short");
        std::fs::write(&short, "abc\n").unwrap();
        assert!(matches!(
            Access::decide(wide, Some(&short)),
            Err(AccessError::Short { len: 3, .. })
        ));
        let good = dir.path().join("good");
        std::fs::write(&good, "0123456789abcdef0123\n").unwrap();
        assert!(matches!(Access::decide(wide, Some(&good)), Ok(Access::Token(t)) if t.len() == 20));
    }

    #[test]
    fn https_is_what_a_proxy_in_front_says_and_nothing_else() {
        let with = |name: &'static str, value: &str| reached_over_https(&headers(&[(name, value)]));
        assert!(with("x-forwarded-proto", "https"));
        assert!(with("x-forwarded-proto", "HTTPS, http"));
        assert!(with(
            "forwarded",
            "for=192.0.2.60;proto=https;by=203.0.113.43"
        ));
        assert!(with("forwarded", "for=192.0.2.43, Proto=\"https\""));
        assert!(!with("x-forwarded-proto", "http"));
        assert!(!with("forwarded", "for=192.0.2.60;proto=http;host=https"));
        assert!(!with("x-forwarded-host", "https"));
        assert!(!reached_over_https(&HeaderMap::new()));
    }
}
