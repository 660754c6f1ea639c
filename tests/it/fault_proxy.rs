//! A fault-injecting HTTP/1.1 proxy for tests (never part of the product): in front of a real
//! `tenantsync serve`, it answers a share of requests itself with 503 or 429 (with Retry-After),
//! or forwards them and then drops the connection instead of answering, so the caller cannot
//! tell whether a create happened. It can also make the bundled server look like upstream (no
//! idempotency advertisement, a generic `/healthz`), hide one application from the list of
//! applications, and rate-limit the first POSTs. It can answer as sparsely as upstream's
//! response schemas allow, shuffle every list whose order upstream leaves open, and add fields
//! and values newer than the vendored spec. It records every POST it sees. A test can hold
//! requests at it ([`FaultProxy::hold`]) and let them go when it chooses, so that "mid-run" is
//! an event the test waits for rather than a moment it hopes to catch.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use serde_json::{Map, Value};
use tenantsync::model::catalogue::{Object, Presence};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Counters of what the proxy did.
#[derive(Default)]
pub struct FaultStats {
    pub forwarded: AtomicU64,
    pub refused: AtomicU64,
    pub dropped: AtomicU64,
    /// Every write (POST, PUT, DELETE) received: method, path, `Idempotency-Key`, when, and
    /// the status the proxy itself answered (0: forwarded).
    pub writes: Mutex<Vec<WriteSeen>>,
    /// How many answers to each request line had their lists shuffled.
    pub answers: Mutex<HashMap<String, u64>>,
}

/// One write the proxy received.
#[derive(Debug, Clone)]
pub struct WriteSeen {
    pub method: String,
    pub path: String,
    pub key: Option<String>,
    pub at: Instant,
    pub answered_by_proxy: u16,
}

impl FaultStats {
    /// The POSTs seen so far.
    pub fn posts(&self) -> Vec<WriteSeen> {
        self.writes()
            .into_iter()
            .filter(|w| w.method == "POST")
            .collect()
    }

    /// The writes seen so far.
    pub fn writes(&self) -> Vec<WriteSeen> {
        self.writes.lock().unwrap().clone()
    }
}

/// What the proxy does besides forwarding.
#[derive(Debug, Clone, Default)]
pub struct ProxyOptions {
    /// Share of requests (percent) answered with a fault (the token endpoint is left alone).
    pub fault_percent: u64,
    /// Look like upstream: `/healthz` answers `{"status":"ok"}` itself, and the bundled
    /// server's idempotency advertisement is stripped from every response.
    pub upstream_like: bool,
    /// Leave the application of this name out of `GET /v1/applications`.
    pub hide_app: Option<String>,
    /// List the application of this name in `GET /v1/applications` without its `app_id`
    /// (an answer that breaks upstream's schema).
    pub idless_app: Option<String>,
    /// Answer this many first POSTs with 429 and `Retry-After` of the given seconds.
    pub rate_limit_posts: Option<(u64, u64)>,
    /// Answer as sparsely as upstream's response schemas allow: leave out of app and client
    /// objects (and their nested objects) every field the schema does not require, except a
    /// field with a response default that holds another value (absent would mean the default).
    /// The facts are the field catalogue's.
    pub sparse: bool,
    /// Shuffle, seeded by this, every list whose order upstream leaves open: lists of objects
    /// and every set-like or unknown list field of an app or client (ordered lists such as
    /// claims keep their order). Each list of two or more distinct items comes back reordered.
    pub shuffle_seed: Option<u64>,
    /// Add these fields to every client object (fields newer than the vendored spec).
    pub extra_client_fields: Vec<(String, Value)>,
    /// Add `none` to every OIDC client's `response_types` (upstream's response default names it).
    pub none_response_type: bool,
    /// Hold every DELETE whose path starts with this (recorded, never forwarded, never
    /// answered): a caller can be killed while the request is in flight.
    pub hold_deletes: Option<String>,
    /// Answer every write (POST, PUT, DELETE) whose path contains this with its status and
    /// an empty body: upstream documents no answer for some (role groups).
    pub empty_writes: Option<String>,
    /// Answer every GET whose path (without its query) ends with this `403 Forbidden`, as
    /// upstream does for a credential without the permission (`/roles`: no `roles:read`).
    pub forbid_reads: Option<String>,
    /// Answer every POST whose path (without its query) ends with this `403 Forbidden`, as
    /// upstream does for a credential without the create permission: nothing is created.
    pub forbid_creates: Option<String>,
}

impl ProxyOptions {
    fn rewrites_bodies(&self) -> bool {
        self.hide_app.is_some()
            || self.idless_app.is_some()
            || self.sparse
            || self.shuffle_seed.is_some()
            || !self.extra_client_fields.is_empty()
            || self.none_response_type
            || self.empty_writes.is_some()
    }
}

/// Which requests [`FaultProxy::hold`] holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hold {
    /// Every write (POST, PUT, DELETE; not the token endpoint) after the first `n` written
    /// since the hold began: forwarded, so the server acts on it, and its answer held.
    WritesAfter(u64),
    /// Every request whose request line starts with this (`GET /cis/v1/applications/ID `):
    /// held before it is forwarded.
    Requests(String),
}

/// The holding state the test and the proxy's connections share.
#[derive(Debug, Default)]
struct HoldState {
    rule: Option<Hold>,
    /// Writes seen since the hold began.
    writes: u64,
    /// Requests held so far (each one's ticket is its number, from 0).
    held: u64,
    /// Tickets below this are let go.
    released: u64,
    /// Which hold is current: a request decided under an earlier one (a killed run's write
    /// still on its way back from the server) is never counted or held under the next.
    epoch: u64,
}

/// A running proxy.
pub struct FaultProxy {
    pub addr: SocketAddr,
    pub stats: Arc<FaultStats>,
    holds: tokio::sync::watch::Sender<HoldState>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Reads one HTTP message (headers + Content-Length body). `None` at EOF.
async fn read_message(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Option<Vec<u8>> {
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            let length: usize = head
                .lines()
                .find_map(|l| {
                    l.strip_prefix("content-length:")
                        .map(|v| v.trim().parse().unwrap_or(0))
                })
                .unwrap_or(0);
            let total = end + 4 + length;
            while buf.len() < total {
                let mut chunk = [0u8; 8192];
                let n = stream.read(&mut chunk).await.ok()?;
                if n == 0 {
                    return None;
                }
                buf.extend_from_slice(&chunk[..n]);
            }
            let message = buf[..total].to_vec();
            buf.drain(..total);
            return Some(message);
        }
        let mut chunk = [0u8; 8192];
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// Makes the forwarded request close its upstream connection after the answer.
fn with_connection_close(request: &[u8]) -> Vec<u8> {
    let end = request.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&request[..end]);
    let mut out: Vec<String> = head
        .lines()
        .filter(|l| !l.to_ascii_lowercase().starts_with("connection:"))
        .map(str::to_owned)
        .collect();
    out.push("Connection: close".to_owned());
    let mut bytes = out.join("\r\n").into_bytes();
    bytes.extend_from_slice(b"\r\n\r\n");
    bytes.extend_from_slice(&request[end + 4..]);
    bytes
}

fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// What a `/v1/` response carries, by its request line: apps (in a `result` envelope) or
/// clients (bare). `None` for anything else, including the basic list of applications.
fn objects_in(request_line: &str) -> Option<Object> {
    let path = request_line.split_whitespace().nth(1)?.split('?').next()?;
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let v1 = segments.iter().position(|s| *s == "v1")?;
    match &segments[v1 + 1..] {
        ["applications", "list"] => None,
        ["applications"] | ["applications", _] => Some(Object::App),
        ["applications", _, "clients", ..] | ["clients", ..] => Some(Object::OidcClient),
        _ => None,
    }
}

/// Leaves out of `map` what upstream's response schema for `object` lets a response leave out.
fn make_sparse(object: Object, map: &mut Map<String, Value>) {
    map.retain(|name, value| match object.field(name) {
        None => true,
        Some(f) if f.presence == Presence::Required => true,
        Some(f) => f.response_default_value().is_some_and(|d| d != *value),
    });
    for (name, value) in map.iter_mut() {
        if let (Some(nested), Value::Object(inner)) =
            (object.field(name).and_then(|f| f.nested), value)
        {
            make_sparse(nested, inner);
        }
    }
}

/// A seeded generator (splitmix64).
struct Shuffler(u64);

impl Shuffler {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Reorders `items`; a list of two or more distinct items always comes back in another
    /// order.
    fn shuffle(&mut self, items: &mut [Value]) {
        let before = items.to_vec();
        for i in (1..items.len()).rev() {
            let j = (self.next() % (i as u64 + 1)) as usize;
            items.swap(i, j);
        }
        if items.len() > 1 && items == before.as_slice() {
            items.rotate_left(1);
        }
    }
}

/// Applies the body rewrites to one app or client object.
fn rewrite_object(
    object: Object,
    map: &mut Map<String, Value>,
    options: &ProxyOptions,
    shuffler: &mut Option<Shuffler>,
) {
    let object = match object {
        Object::App => Object::App,
        _ => Object::client(tenantsync::model::AuthenticationProtocol::of(map)),
    };
    if object != Object::App {
        for (name, value) in &options.extra_client_fields {
            map.insert(name.clone(), value.clone());
        }
        if options.none_response_type && object == Object::OidcClient {
            if let Some(Value::Array(types)) = map.get_mut("response_types") {
                if !types.iter().any(|t| t == "none") {
                    types.push(Value::from("none"));
                }
            }
        }
    }
    if options.sparse {
        make_sparse(object, map);
    }
    if let Some(shuffler) = shuffler {
        for (name, value) in map.iter_mut() {
            let ordered = object.field(name).is_some_and(|f| !f.set_like);
            if let (false, Value::Array(items)) = (ordered, value) {
                shuffler.shuffle(items);
            }
        }
    }
}

/// Applies the body rewrites to a `/v1/` answer.
fn rewrite_body(body: &mut Value, request_line: &str, options: &ProxyOptions, stats: &FaultStats) {
    let Some(object) = objects_in(request_line) else {
        return;
    };
    let mut shuffler = options.shuffle_seed.map(|seed| {
        // Seeded by the request line and how often it was answered, so that a run is
        // reproducible whatever order concurrent requests arrive in.
        let mut counts = stats.answers.lock().unwrap();
        let count = counts.entry(request_line.to_owned()).or_insert(0);
        *count += 1;
        let mut h = seed ^ *count;
        for b in request_line.bytes() {
            h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01B3);
        }
        Shuffler(h)
    });
    let content = if object == Object::App {
        &mut body["result"]
    } else {
        body
    };
    match content {
        Value::Array(items) => {
            for item in items.iter_mut() {
                if let Value::Object(map) = item {
                    rewrite_object(object, map, options, &mut shuffler);
                }
            }
            if let Some(shuffler) = &mut shuffler {
                shuffler.shuffle(items);
            }
        }
        Value::Object(map) => rewrite_object(object, map, options, &mut shuffler),
        _ => {}
    }
}

/// The response with the idempotency advertisement removed, the hidden app left out of the list
/// of applications, and the body rewrites applied.
fn rewrite(
    response: &[u8],
    request_line: &str,
    options: &ProxyOptions,
    stats: &FaultStats,
) -> Vec<u8> {
    if !options.upstream_like && !options.rewrites_bodies() {
        return response.to_vec();
    }
    let Some(end) = response.windows(4).position(|w| w == b"\r\n\r\n") else {
        return response.to_vec();
    };
    let head = String::from_utf8_lossy(&response[..end]).into_owned();
    let mut body = response[end + 4..].to_vec();
    if let Some(hidden) = &options.hide_app {
        if request_line.starts_with("GET ") && request_line.contains("/v1/applications ") {
            if let Ok(mut v) = serde_json::from_slice::<Value>(&body) {
                if let Some(items) = v["result"].as_array_mut() {
                    items.retain(|a| a["app_name"].as_str() != Some(hidden.as_str()));
                }
                body = serde_json::to_vec(&v).unwrap();
            }
        }
    }
    if let Some(idless) = &options.idless_app {
        if request_line.starts_with("GET ") && request_line.contains("/v1/applications ") {
            if let Ok(mut v) = serde_json::from_slice::<Value>(&body) {
                for app in v["result"].as_array_mut().into_iter().flatten() {
                    if app["app_name"].as_str() == Some(idless.as_str()) {
                        app.as_object_mut().map(|a| a.remove("app_id"));
                    }
                }
                body = serde_json::to_vec(&v).unwrap();
            }
        }
    }
    let status_ok = head
        .split_whitespace()
        .nth(1)
        .is_some_and(|code| code.starts_with('2'));
    let write = ["POST ", "PUT ", "DELETE "]
        .iter()
        .any(|m| request_line.starts_with(m));
    let emptied = options
        .empty_writes
        .as_ref()
        .is_some_and(|part| write && status_ok && request_line.contains(part.as_str()));
    if emptied {
        body.clear();
    } else if status_ok && options.rewrites_bodies() {
        if let Ok(mut v) = serde_json::from_slice::<Value>(&body) {
            rewrite_body(&mut v, request_line, options, stats);
            body = serde_json::to_vec(&v).unwrap();
        }
    }
    let mut lines: Vec<String> = head
        .lines()
        .filter(|l| {
            let lower = l.to_ascii_lowercase();
            let advertisement = lower.starts_with("tenantsync-idempotency-window:");
            !(lower.starts_with("content-length:") || (options.upstream_like && advertisement))
        })
        .map(str::to_owned)
        .collect();
    lines.push(format!("content-length: {}", body.len()));
    let mut out = lines.join("\r\n").into_bytes();
    out.extend_from_slice(b"\r\n\r\n");
    out.extend_from_slice(&body);
    out
}

async fn serve_connection(
    mut client: TcpStream,
    upstream: SocketAddr,
    options: ProxyOptions,
    stats: Arc<FaultStats>,
    seed: Arc<AtomicU64>,
    holds: tokio::sync::watch::Sender<HoldState>,
) {
    let fault_percent = options.fault_percent;
    let mut buf = Vec::new();
    while let Some(request) = read_message(&mut client, &mut buf).await {
        // A small deterministic generator: reproducible fault sequences per proxy.
        let roll = {
            let mut x = seed.fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed);
            x ^= x >> 33;
            x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
            x ^= x >> 33;
            x % 100
        };
        let head_end = request
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .unwrap_or(request.len());
        let head = String::from_utf8_lossy(&request[..head_end]).into_owned();
        let start = head.lines().next().unwrap_or_default().to_owned();
        let is_write = ["POST ", "PUT ", "DELETE "]
            .iter()
            .any(|m| start.starts_with(m))
            && !start.contains("/oidc/token");
        // Held here until released (a request picked by its line), or held once answered (a
        // write after the first n).
        let (mut hold_request, mut hold_answer, mut epoch) = (false, false, 0);
        holds.send_modify(|h| {
            epoch = h.epoch;
            if is_write {
                h.writes += 1;
            }
            match &h.rule {
                Some(Hold::WritesAfter(n)) => hold_answer = is_write && h.writes > *n,
                Some(Hold::Requests(prefix)) => hold_request = start.starts_with(prefix.as_str()),
                None => {}
            }
        });
        let hold_here = || async {
            let mut ticket = None;
            holds.send_modify(|h| {
                if h.epoch == epoch {
                    ticket = Some(h.held);
                    h.held += 1;
                }
            });
            if let Some(ticket) = ticket {
                let _ = holds.subscribe().wait_for(|h| h.released > ticket).await;
            }
        };
        if hold_request {
            hold_here().await;
        }
        if options.upstream_like && start.starts_with("GET /healthz") {
            // A generic health answer, as many gateways give: it must not be taken for the
            // idempotency extension.
            let body = r#"{"status":"ok"}"#;
            let response = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
                body.len()
            );
            let _ = client.write_all(response.as_bytes()).await;
            continue;
        }
        let is_token = start.contains("/oidc/token");
        let method = start
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_owned();
        if matches!(method.as_str(), "POST" | "PUT" | "DELETE") && !is_token {
            let path = start
                .split_whitespace()
                .nth(1)
                .unwrap_or_default()
                .to_owned();
            let key = header(&head, "idempotency-key").map(str::to_owned);
            let limited = {
                let mut writes = stats.writes.lock().unwrap();
                let posts_so_far = writes.iter().filter(|w| w.method == "POST").count() as u64;
                let limited = method == "POST"
                    && options
                        .rate_limit_posts
                        .is_some_and(|(count, _)| posts_so_far < count);
                writes.push(WriteSeen {
                    method: method.clone(),
                    path,
                    key,
                    at: Instant::now(),
                    answered_by_proxy: if limited { 429 } else { 0 },
                });
                limited
            };
            let held = method == "DELETE"
                && options.hold_deletes.as_deref().is_some_and(|prefix| {
                    start
                        .split_whitespace()
                        .nth(1)
                        .is_some_and(|p| p.starts_with(prefix))
                });
            if held {
                // Never answered: the connection stays open until the caller goes away.
                let mut sink = [0u8; 1024];
                while client.read(&mut sink).await.is_ok_and(|n| n > 0) {}
                return;
            }
            if limited {
                let wait = options.rate_limit_posts.map_or(0, |(_, w)| w);
                stats.refused.fetch_add(1, Ordering::Relaxed);
                let body = r#"{"message":"rate limited","error_code":429}"#;
                let response = format!(
                    "HTTP/1.1 429 Too Many Requests\r\ncontent-type: application/json\r\nretry-after: {wait}\r\ncontent-length: {}\r\n\r\n{body}",
                    body.len()
                );
                let _ = client.write_all(response.as_bytes()).await;
                continue;
            }
        }
        let path_ends_with = |suffix: &str| {
            start
                .split_whitespace()
                .nth(1)
                .map(|p| p.split('?').next().unwrap_or(p))
                .is_some_and(|p| p.ends_with(suffix))
        };
        let forbidden = (method == "GET"
            && options.forbid_reads.as_deref().is_some_and(path_ends_with))
            || (method == "POST"
                && options
                    .forbid_creates
                    .as_deref()
                    .is_some_and(path_ends_with));
        if forbidden {
            stats.refused.fetch_add(1, Ordering::Relaxed);
            let body =
                r#"{"message":"Forbidden: the token lacks the permission","error_code":403}"#;
            let response = format!(
                "HTTP/1.1 403 Forbidden\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
                body.len()
            );
            let _ = client.write_all(response.as_bytes()).await;
            continue;
        }
        if roll < fault_percent && !is_token {
            match roll % 3 {
                0 | 1 => {
                    stats.refused.fetch_add(1, Ordering::Relaxed);
                    let (status, retry_after) = if roll % 3 == 0 {
                        ("503 Service Unavailable", 0)
                    } else {
                        ("429 Too Many Requests", 1)
                    };
                    let body = format!(
                        "{{\"message\":\"injected fault\",\"error_code\":{}}}",
                        &status[..3]
                    );
                    let response = format!(
                        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\nretry-after: {retry_after}\r\ncontent-length: {}\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = client.write_all(response.as_bytes()).await;
                    continue;
                }
                _ => {
                    // Forward, let the server act, then hang up without an answer.
                    if let Ok(mut up) = TcpStream::connect(upstream).await {
                        let _ = up.write_all(&with_connection_close(&request)).await;
                        let mut sink = Vec::new();
                        let _ = up.read_to_end(&mut sink).await;
                    }
                    stats.dropped.fetch_add(1, Ordering::Relaxed);
                    return;
                }
            }
        }
        let Ok(mut up) = TcpStream::connect(upstream).await else {
            return;
        };
        if up
            .write_all(&with_connection_close(&request))
            .await
            .is_err()
        {
            return;
        }
        let mut response = Vec::new();
        if up.read_to_end(&mut response).await.is_err() {
            return;
        }
        stats.forwarded.fetch_add(1, Ordering::Relaxed);
        if hold_answer {
            hold_here().await;
        }
        let response = rewrite(&response, &start, &options, &stats);
        if client.write_all(&response).await.is_err() {
            return;
        }
        // The upstream closed after one answer; tell the client the same way, once the answer
        // is written, so it opens a new connection for the next request.
        let keep_alive = !String::from_utf8_lossy(&response)
            .to_ascii_lowercase()
            .contains("connection: close");
        if !keep_alive {
            return;
        }
    }
}

impl FaultProxy {
    /// Starts a proxy on 127.0.0.1:0 in front of `upstream`, faulting `fault_percent`% of requests
    /// (the token endpoint is left alone).
    pub async fn start(upstream: SocketAddr, fault_percent: u64) -> FaultProxy {
        Self::start_with(
            upstream,
            ProxyOptions {
                fault_percent,
                ..ProxyOptions::default()
            },
        )
        .await
    }

    /// Starts a proxy with `options`.
    pub async fn start_with(upstream: SocketAddr, options: ProxyOptions) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let stats = Arc::new(FaultStats::default());
        let seed = Arc::new(AtomicU64::new(42));
        let task_stats = stats.clone();
        let (holds, _) = tokio::sync::watch::channel(HoldState::default());
        let task_holds = holds.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((client, _)) = listener.accept().await else {
                    return;
                };
                tokio::spawn(serve_connection(
                    client,
                    upstream,
                    options.clone(),
                    task_stats.clone(),
                    seed.clone(),
                    task_holds.clone(),
                ));
            }
        });
        FaultProxy {
            addr,
            stats,
            holds,
            task,
        }
    }

    /// From now on, holds the requests `rule` picks until [`release`](Self::release) lets them
    /// go (what was held before stays held).
    pub fn hold(&self, rule: Hold) {
        self.holds.send_modify(|h| {
            h.rule = Some(rule);
            h.epoch += 1;
            h.writes = 0;
            h.released = h.released.min(h.held);
        });
    }

    /// Waits until `count` requests in all have been held (a write held by
    /// [`Hold::WritesAfter`] counts once the server has answered it); 30 s at most.
    pub async fn held(&self, count: u64) {
        let mut rx = self.holds.subscribe();
        let waited = tokio::time::timeout(
            std::time::Duration::from_secs(30),
            rx.wait_for(|h| h.held >= count),
        )
        .await;
        assert!(waited.is_ok(), "no request was held ({count} expected)");
    }

    /// How many requests were held so far.
    pub fn held_so_far(&self) -> u64 {
        self.holds.borrow().held
    }

    /// Lets the next `count` held requests go (also those held later, up to that count).
    pub fn release(&self, count: u64) {
        self.holds.send_modify(|h| h.released += count);
    }

    /// Holds nothing more, and lets everything held go.
    pub fn release_all(&self) {
        self.holds.send_modify(|h| {
            h.rule = None;
            h.released = u64::MAX;
        });
    }
}
