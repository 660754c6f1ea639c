//! Test harness: starts the real `tenantsync` binary (`serve` on 127.0.0.1:0 over a temp data
//! dir), gets tokens, and sends requests with reqwest.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use tenantsync::model::catalogue::{self, Object};

use crate::postgres::Postgres;
pub use crate::support::{get_json, get_text, KillOnDrop};
use crate::support::{spawn_reading_first_line, url_in};

/// Path of the compiled binary.
pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_tenantsync")
}

/// A running `tenantsync serve`.
pub struct Server {
    child: Option<Child>,
    /// `http://127.0.0.1:PORT`
    pub origin: String,
    /// `http://127.0.0.1:PORT/cis`
    pub base: String,
    /// The data directory.
    pub data: PathBuf,
    /// Where stderr (logs) goes.
    pub log: PathBuf,
    pub http: reqwest::Client,
}

/// Options for starting a server.
#[derive(Default)]
pub struct ServeOptions {
    pub env: Vec<(String, String)>,
    pub args: Vec<String>,
}

impl ServeOptions {
    /// These arguments after `serve`, nothing else.
    pub fn with_args(args: Vec<String>) -> Self {
        Self {
            args,
            ..Self::default()
        }
    }
}

impl Server {
    /// Starts a server on `data` with default options.
    pub fn start(data: &Path) -> Server {
        Self::start_with(data, ServeOptions::default())
    }

    /// Starts a server; waits for its listening line.
    pub fn start_with(data: &Path, options: ServeOptions) -> Server {
        let log = data.with_extension(format!("log-{}", rand_suffix()));
        let log_file = std::fs::File::create(&log).unwrap();
        let mut cmd = Command::new(bin());
        cmd.arg("serve");
        if !options.args.iter().any(|a| a == "--listen") {
            cmd.arg("--listen").arg("127.0.0.1:0");
        }
        cmd.arg("--data")
            .arg(data)
            .args(&options.args)
            .env_remove("TENANTSYNC_ADMIN_CLIENT_ID")
            .env_remove("TENANTSYNC_ADMIN_CLIENT_SECRET")
            .env("RUST_LOG", "trace")
            .stderr(Stdio::from(log_file));
        for (k, v) in &options.env {
            cmd.env(k, v);
        }
        let (child, line) = spawn_reading_first_line(&mut cmd);
        let origin = url_in(&line).unwrap_or_else(|| {
            let logs = std::fs::read_to_string(&log).unwrap_or_default();
            panic!("server did not start: stdout {line:?}, logs:\n{logs}")
        });
        Server {
            child: Some(child),
            base: format!("{origin}/cis"),
            origin,
            data: data.to_owned(),
            log,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap(),
        }
    }

    /// The one way tests run the CLI: `tenantsync --state-dir STATE --target BASE` with the
    /// admin credentials, quiet logs and no colour; the caller adds the command and its args.
    pub fn cli(&self, state: &Path, base: &str) -> Command {
        let (id, secret) = self.admin_credentials();
        let mut cmd = Command::new(bin());
        cmd.arg("--state-dir")
            .arg(state)
            .arg("--target")
            .arg(base)
            .env("TENANTSYNC_CLIENT_ID", id)
            .env("TENANTSYNC_CLIENT_SECRET", secret)
            .env_remove("TENANTSYNC_TOKEN")
            .env("RUST_LOG", "warn")
            .env("NO_COLOR", "1");
        cmd
    }

    /// The admin credentials the server generated into its data dir.
    pub fn admin_credentials(&self) -> (String, String) {
        let text = std::fs::read_to_string(self.data.join("admin-credentials")).unwrap();
        let get = |prefix: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(prefix))
                .unwrap()
                .to_owned()
        };
        (
            get("TENANTSYNC_CLIENT_ID="),
            get("TENANTSYNC_CLIENT_SECRET="),
        )
    }

    /// A token for client credentials.
    pub async fn token_for(&self, id: &str, secret: &str) -> String {
        let res = request_token(&self.http, &self.origin, id, secret).await;
        assert_eq!(res.status(), 200, "token request failed");
        let body: Value = res.json().await.unwrap();
        assert_token_answer(200, &body);
        body["access_token"].as_str().unwrap().to_owned()
    }

    /// An admin token.
    pub async fn admin_token(&self) -> String {
        let (id, secret) = self.admin_credentials();
        self.token_for(&id, &secret).await
    }

    /// A client bound to `token`.
    pub fn api(&self, token: &str) -> Api {
        Api {
            http: self.http.clone(),
            base: self.base.clone(),
            token: token.to_owned(),
        }
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("server running").id()
    }

    /// SIGKILL and wait.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().unwrap();
            child.wait().unwrap();
        }
    }

    /// SIGTERM and wait; returns the exit status.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let mut child = self.child.take().expect("server running");
        let pid = child.id() as libc::pid_t;
        signal(pid, libc::SIGTERM);
        child.wait().unwrap()
    }

    /// Everything the server logged so far.
    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Scrapes `/metrics`.
    pub async fn metrics(&self) -> String {
        self.http
            .get(format!("{}/metrics", self.origin))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Sends a signal to a process.
pub fn signal(pid: libc::pid_t, sig: libc::c_int) {
    let signal = match sig {
        libc::SIGTERM => rustix::process::Signal::TERM,
        libc::SIGINT => rustix::process::Signal::INT,
        libc::SIGKILL => rustix::process::Signal::KILL,
        other => panic!("signal {other} is not used by the tests"),
    };
    if let Some(pid) = rustix::process::Pid::from_raw(pid) {
        let _ = rustix::process::kill_process(pid, signal);
    }
}

fn rand_suffix() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    format!(
        "{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// A response: status and body (JSON when it parses).
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub text: String,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.text))
    }

    /// The messages of an error body.
    pub fn messages(&self) -> Vec<String> {
        match &self.json()["message"] {
            Value::String(s) => vec![s.clone()],
            Value::Array(a) => a.iter().map(|m| m.as_str().unwrap().to_owned()).collect(),
            other => panic!("no message in {other}"),
        }
    }
}

/// An API client with a bearer token.
#[derive(Clone)]
pub struct Api {
    pub http: reqwest::Client,
    pub base: String,
    pub token: String,
}

impl Api {
    pub async fn send(&self, method: &str, path: &str, body: Option<&Value>) -> Reply {
        let method_str = method;
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token);
        if let Some(body) = body {
            req = req.json(body);
        }
        let res = req.send().await.unwrap();
        let reply = Reply {
            status: res.status().as_u16(),
            text: res.text().await.unwrap(),
        };
        assert_upstream_shape(method_str, path, &reply);
        reply
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.send("GET", path, None).await
    }
    pub async fn post(&self, path: &str, body: &Value) -> Reply {
        self.send("POST", path, Some(body)).await
    }
    pub async fn put(&self, path: &str, body: &Value) -> Reply {
        self.send("PUT", path, Some(body)).await
    }
    pub async fn delete(&self, path: &str) -> Reply {
        self.send("DELETE", path, None).await
    }

    /// Creates an app and returns its `result`.
    pub async fn create_app(&self, body: &Value) -> Value {
        let r = self.post("/v1/applications", body).await;
        assert_eq!(r.status, 201, "create app: {}", r.text);
        r.json()["result"].clone()
    }

    /// Creates a client and returns it.
    pub async fn create_client(&self, app_id: &str, body: &Value) -> Value {
        let r = self
            .post(&format!("/v1/applications/{app_id}/clients"), body)
            .await;
        assert_eq!(r.status, 201, "create client: {}", r.text);
        r.json()
    }

    /// Creates app `Mobile` whose default client is the native `iOS`, plus a confidential web
    /// client `Web`; the app (with the default client's credentials) and the web client.
    pub async fn create_mobile_app_with_web(&self) -> (Value, Value) {
        let app = self
            .create_app(&serde_json::json!({"app_name": "Mobile", "client_display_name": "iOS",
                "first_client": {"name": "iOS", "client_type": "native", "redirect_uris": ["com.example.mobile://cb"]}}))
            .await;
        let web = self
            .create_client(
                app["app_id"].as_str().unwrap(),
                &serde_json::json!({"name": "Web", "redirect_uris": ["https://m.example.com/cb"]}),
            )
            .await;
        (app, web)
    }
}

/// What a successful API response carries, by method and path: the catalogue object, whether
/// the body is a list, whether it sits in a `{"result": …}` envelope, and whether it is the list
/// form of applications (no `logo`). `None` for bodies the catalogue does not describe (the
/// basic list of `GET /v1/applications/list`, which the vendored document alone checks).
fn response_kind(method: &str, path: &str) -> Option<(Option<Object>, bool, bool, bool)> {
    let segments: Vec<&str> = path
        .split('?')
        .next()
        .unwrap_or_default()
        .trim_matches('/')
        .split('/')
        .collect();
    let client = None; // decided per object by its protocol
    Some(match (method, segments.as_slice()) {
        ("GET", ["v1", "applications"]) => (Some(Object::App), true, true, true),
        ("GET", ["v1", "applications", "list"]) => return None,
        ("POST", ["v1", "applications"]) => (Some(Object::App), false, true, false),
        ("GET" | "PUT", ["v1", "applications", _]) => (Some(Object::App), false, true, false),
        ("PUT", ["v1", "applications", _, "resources"]) => (Some(Object::App), false, true, false),
        ("GET", ["v1", "applications", _, "clients"]) | ("GET", ["v1", "clients"]) => {
            (client, true, false, false)
        }
        ("POST", ["v1", "applications", _, "clients"])
        | ("POST", ["v1", "clients"])
        | ("GET" | "PUT", ["v1", "applications", _, "clients", _])
        | ("PUT", ["v1", "applications", _, "clients", _, "resources"])
        | ("GET" | "PUT", ["v1", "clients", _])
        | ("PUT", ["v1", "clients", _, "resources"]) => (client, false, false, false),
        _ => return None,
    })
}

/// Upstream's Applications OpenAPI document as the repository vendors it.
static UPSTREAM: LazyLock<Value> = LazyLock::new(|| {
    serde_yaml::from_str(include_str!("../fixtures/upstream/apps.openapi.2026.yml"))
        .expect("the vendored OpenAPI document parses")
});

/// Upstream's documents of the described kinds (resources, service providers, roles, login
/// preferences), as each kind's description names them.
static UPSTREAM_KINDS: LazyLock<Vec<Value>> = LazyLock::new(|| {
    tenantsync::model::kinds::ObjKind::ALL
        .iter()
        .map(|k| {
            let path = format!(
                "{}/tests/fixtures/upstream/{}",
                env!("CARGO_MANIFEST_DIR"),
                k.spec().upstream.document
            );
            serde_json::from_str(&std::fs::read_to_string(path).unwrap())
                .expect("a vendored OpenAPI document parses")
        })
        .collect()
});

/// Where a response of one of the described kinds' APIs breaks its vendored document; `None`
/// when no document describes that answer.
pub fn kinds_schema_problems(
    method: &str,
    path: &str,
    status: u16,
    body: &Value,
) -> Option<Vec<String>> {
    UPSTREAM_KINDS.iter().find_map(|doc| {
        let template = template_in(doc, path, false)?;
        documented_answer_problems(doc, &template, method, status, body, |_, _| false)
    })
}

/// Upstream's token endpoint OpenAPI document as the repository vendors it.
static UPSTREAM_TOKEN: LazyLock<Value> = LazyLock::new(|| {
    serde_json::from_str(include_str!("../fixtures/upstream/token.openapi.2025.json"))
        .expect("the vendored token OpenAPI document parses")
});

/// Compiled validators by document and JSON pointer.
type ValidatorCache = HashMap<(usize, String), Arc<jsonschema::Validator>>;
static VALIDATORS: LazyLock<Mutex<ValidatorCache>> = LazyLock::new(|| Mutex::new(HashMap::new()));

/// A validator for the schema at `pointer` (`#/…`) of a vendored `document`: the document
/// itself with a root `$ref`, so the schema's own `$ref`s resolve. OpenAPI 3.0 schemas are
/// JSON Schema draft 4 with extensions (`example`, `deprecated`), which validators ignore.
fn upstream_validator(document: &'static Value, pointer: &str) -> Arc<jsonschema::Validator> {
    let mut cache = VALIDATORS.lock().unwrap_or_else(|e| e.into_inner());
    cache
        .entry((std::ptr::from_ref(document) as usize, pointer.to_owned()))
        .or_insert_with(|| {
            let mut schema = document.clone();
            schema["$ref"] = Value::String(pointer.to_owned());
            Arc::new(
                jsonschema::draft4::new(&schema)
                    .unwrap_or_else(|e| panic!("{pointer} does not compile: {e}")),
            )
        })
        .clone()
}

/// Where `body` breaks the response schema `document` gives `template` (a key of its `paths`),
/// `method` and `status`; `None` when the document describes no JSON body for that answer.
fn documented_answer_problems(
    document: &'static Value,
    template: &str,
    method: &str,
    status: u16,
    body: &Value,
    decided: impl Fn(&str, &Value) -> bool,
) -> Option<Vec<String>> {
    let method = method.to_ascii_lowercase();
    let answer = &document["paths"][template][&method]["responses"][status.to_string()];
    answer["content"].get("application/json")?.get("schema")?;
    let pointer = format!(
        "#/paths/{}/{method}/responses/{status}/content/application~1json/schema",
        pointer_segment(template),
    );
    let validator = upstream_validator(document, &pointer);
    Some(
        validator
            .iter_errors(body)
            .filter(|e| !decided(&e.instance_path().to_string(), e.instance()))
            .map(|e| format!("{}: {e}", e.instance_path()))
            .collect(),
    )
}

/// Asserts that a token endpoint answer is what the vendored token document promises for its
/// status (200, 400 and 500 are documented; other statuses are not checked).
pub fn assert_token_answer(status: u16, body: &Value) {
    if let Some(problems) = documented_answer_problems(
        &UPSTREAM_TOKEN,
        "/oidc/token",
        "POST",
        status,
        body,
        |_, _| false,
    ) {
        assert!(
            problems.is_empty(),
            "POST /oidc/token → {status}: not what the vendored token document promises: {problems:#?}\n{body}"
        );
    }
}

/// A JSON pointer segment in a URI fragment (`/` → `~1`, `~` → `~0`, braces percent-encoded).
fn pointer_segment(s: &str) -> String {
    s.replace('~', "~0")
        .replace('/', "~1")
        .replace('{', "%7B")
        .replace('}', "%7D")
}

/// The path template of the vendored document that `path` is an instance of (literal segments
/// preferred over parameters). The `/v1/clients` family answers what its
/// `/v1/applications/{appId}/clients` twin answers, so it is checked against that.
fn upstream_template(path: &str) -> Option<String> {
    template_in(&UPSTREAM, path, true)
}

/// The path template of `document` that `path` is an instance of (see [`upstream_template`]).
fn template_in(document: &Value, path: &str, clients_alias: bool) -> Option<String> {
    let path = path.split('?').next().unwrap_or_default().trim_matches('/');
    let alias = path.strip_prefix("v1/clients").filter(|_| clients_alias);
    let segments: Vec<&str> = match alias {
        Some(rest) => ["v1", "applications", "{appId}", "clients"]
            .into_iter()
            .chain(rest.split('/').filter(|s| !s.is_empty()))
            .collect(),
        None => path.split('/').collect(),
    };
    let paths = document["paths"].as_object()?;
    paths
        .keys()
        .filter_map(|template| {
            let parts: Vec<&str> = template.trim_matches('/').split('/').collect();
            if parts.len() != segments.len() {
                return None;
            }
            let mut literal = 0;
            for (part, seg) in parts.iter().zip(&segments) {
                if part.starts_with('{') {
                    continue;
                }
                if part != seg {
                    return None;
                }
                literal += 1;
            }
            Some((literal, template))
        })
        .max_by_key(|(literal, _)| *literal)
        .map(|(_, template)| template.clone())
}

/// Where a response body breaks what the vendored OpenAPI document promises for `method`, the
/// path and the status, except the divergences decided for the bundled server (decisions 12:
/// `short_cookies_samesite_type: strict` is accepted and echoed; a `distinguished_name` given as
/// a string is echoed as one). `None` when the document does not describe that answer (an
/// undocumented status, a route upstream does not have, a body-less 204).
pub fn upstream_schema_problems(
    method: &str,
    path: &str,
    status: u16,
    body: &Value,
) -> Option<Vec<String>> {
    let template = upstream_template(path)?;
    let decided = |at: &str, value: &Value| {
        (at.ends_with("/short_cookies_samesite_type") && value == "strict")
            || (at.ends_with("/tls_client_auth/distinguished_name") && value.is_string())
    };
    documented_answer_problems(&UPSTREAM, &template, method, status, body, decided)
}

/// Every API response must be what upstream promises:
/// - every answer the vendored OpenAPI document describes (success and documented errors,
///   every route it has, `/v1/applications/list` included) validates against its schema there;
/// - every successful applications/clients body also matches the field catalogue's facts
///   (required fields present, write-only fields absent).
///
/// Called for every response the integration tests' API client sees.
pub fn assert_upstream_shape(method: &str, path: &str, reply: &Reply) {
    if reply.status == 204 {
        return;
    }
    let body: Value = serde_json::from_str(&reply.text).unwrap_or(Value::Null);
    if let Some(problems) = kinds_schema_problems(method, path, reply.status, &body) {
        assert!(
            problems.is_empty(),
            "{method} {path} → {}: not what the vendored OpenAPI document promises: {problems:#?}\n{}",
            reply.status,
            reply.text
        );
        return;
    }
    if let Some(problems) = upstream_schema_problems(method, path, reply.status, &body) {
        assert!(
            problems.is_empty(),
            "{method} {path} → {}: not what the vendored OpenAPI document promises: {problems:#?}\n{}",
            reply.status,
            reply.text
        );
    }
    if !(200..300).contains(&reply.status) {
        return;
    }
    let Some((object, list, wrapped, list_form)) = response_kind(method, path) else {
        return;
    };
    let body = reply.json();
    let body = if wrapped {
        assert!(
            body.get("result").is_some(),
            "{method} {path}: no `result` envelope: {body}"
        );
        body["result"].clone()
    } else {
        body
    };
    let items = if list {
        body.as_array()
            .unwrap_or_else(|| panic!("{method} {path}: expected an array: {body}"))
            .clone()
    } else {
        vec![body]
    };
    for item in items {
        let map = item
            .as_object()
            .unwrap_or_else(|| panic!("{method} {path}: expected an object: {item}"));
        let object = object
            .unwrap_or_else(|| Object::client(tenantsync::model::AuthenticationProtocol::of(map)));
        let problems = catalogue::response_problems(object, map, list_form);
        assert!(
            problems.is_empty(),
            "{method} {path}: not what upstream's {object:?} response schema allows: {problems:?}\n{item}"
        );
    }
}

/// The smallest useful manifest: application `shop` with one OIDC web client `Web`; tests
/// append clients to it.
pub const SHOP_WEB: &str = "apiVersion: tenantsync/v1
kind: Application
metadata: {name: shop}
spec:
  app_name: Shop
  clients:
    - name: Web
      redirect_uris: [https://shop.example.com/cb]
";

/// A temp directory with a `manifests/` folder and a running `tenantsync serve`, and the CLI
/// pointed at it with the server's admin credentials: what most integration tests start from.
pub struct Workspace {
    pub dir: tempfile::TempDir,
    pub server: Server,
    /// The PostgreSQL server holding the state, when the workspace is on one.
    pub postgres: Option<Postgres>,
}

/// Where a scenario keeps its reconciler state: the suites that exercise the state run on both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// `--state-dir` (sled).
    Local,
    /// `--state postgres://…` on a throwaway server of the test's own.
    Postgres,
}

/// Generates, for each named `async fn NAME(backend: Backend)`, a module `NAME` with the tests
/// `local_state` and `postgres_state`.
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                use crate::harness::Backend;

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn local_state() {
                    super::$name(Backend::Local).await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres_state() {
                    super::$name(Backend::Postgres).await;
                }
            }
        )*
    };
}
pub(crate) use on_both_backends;

impl Workspace {
    pub fn new() -> Self {
        Self::with(Backend::Local)
    }

    /// A workspace whose commands keep their state on `backend`.
    pub fn with(backend: Backend) -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("manifests")).unwrap();
        let server = Server::start(&dir.path().join("server"));
        let postgres = (backend == Backend::Postgres).then(Postgres::start);
        Self {
            dir,
            server,
            postgres,
        }
    }

    /// What a second writer on the same state is told.
    pub fn lock_refusal(&self) -> &'static str {
        match self.postgres {
            Some(_) => "is locked by",
            None => "in use by another tenantsync process",
        }
    }

    /// Whether anything wrote a state yet (the directory, or a record in the database).
    pub fn state_written(&self) -> bool {
        match &self.postgres {
            Some(pg) => {
                pg.sql("SELECT to_regclass('tenantsync_records') IS NOT NULL") == "t"
                    && pg.sql("SELECT count(*) FROM tenantsync_records") != "0"
            }
            None => self.state_dir().exists(),
        }
    }

    /// Every value the state holds, as text (the sled files, or the PostgreSQL records).
    pub fn state_contents(&self) -> Vec<u8> {
        match &self.postgres {
            Some(pg) => pg
                .sql("SELECT string_agg(encode(key, 'escape') || '=' || encode(value, 'escape'), E'\\n') FROM tenantsync_records")
                .into_bytes(),
            None => {
                let mut all = Vec::new();
                let mut stack = vec![self.state_dir()];
                while let Some(dir) = stack.pop() {
                    for e in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
                        let path = e.path();
                        if path.is_dir() {
                            stack.push(path);
                        } else {
                            all.extend(std::fs::read(&path).unwrap_or_default());
                        }
                    }
                }
                all
            }
        }
    }

    pub fn manifests(&self) -> PathBuf {
        self.dir.path().join("manifests")
    }

    pub fn state_dir(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    /// Writes a manifest file.
    pub fn write(&self, name: &str, text: &str) {
        std::fs::write(self.manifests().join(name), text).unwrap();
    }

    /// The server's socket address (to put a proxy in front of it).
    pub fn upstream(&self) -> std::net::SocketAddr {
        self.server
            .origin
            .trim_start_matches("http://")
            .parse()
            .unwrap()
    }

    /// `tenantsync --state-dir … --target BASE ARGS…` with the admin credentials.
    pub fn command(&self, base: &str, args: &[&str]) -> Command {
        let mut cmd = self.server.cli(&self.state_dir(), base);
        if let Some(pg) = &self.postgres {
            cmd.env("TENANTSYNC_STATE", pg.url());
        }
        cmd.args(args);
        cmd
    }

    /// Runs ARGS against the server with the manifests as the last argument.
    pub fn run(&self, args: &[&str]) -> std::process::Output {
        let mut cmd = self.command(&self.server.base, args);
        cmd.arg(self.manifests()).output().unwrap()
    }

    /// The same against `base` (a proxy), off the async runtime, which may be serving the proxy.
    pub async fn run_at(&self, base: &str, args: &[&str]) -> std::process::Output {
        let mut cmd = self.command(base, args);
        cmd.arg(self.manifests());
        tokio::task::spawn_blocking(move || cmd.output().unwrap())
            .await
            .unwrap()
    }

    /// A `sync` daemon command on the manifests, resyncing every 300 ms and delivering client
    /// credentials into `out`; to start with [`spawn_daemon`].
    pub fn delivering_sync(&self, out: &Path) -> Command {
        let mut cmd = self.command(
            &self.server.base,
            &[
                "sync",
                "--listen",
                "127.0.0.1:0",
                "--interval",
                "300ms",
                "--credentials-out",
            ],
        );
        cmd.arg(out).arg(self.manifests());
        cmd
    }

    pub async fn api(&self) -> Api {
        self.server.api(&self.server.admin_token().await)
    }

    /// The live applications.
    pub async fn live_apps(&self) -> Vec<Value> {
        self.api().await.get("/v1/applications").await.json()["result"]
            .as_array()
            .unwrap()
            .clone()
    }

    /// The live id of the one application named `app_name`.
    pub async fn live_app_id(&self, app_name: &str) -> String {
        let apps = self.live_apps().await;
        apps.iter()
            .find(|a| a["app_name"] == app_name)
            .and_then(|a| a["app_id"].as_str())
            .unwrap_or_else(|| panic!("no live application {app_name}: {apps:?}"))
            .to_owned()
    }
}

/// A command's stdout and stderr, for assertion messages.
/// The `name` of each change a JSON plan lists, in its order (`list`: a plan's `changes`, or
/// an apply report's `objects`).
pub fn change_names(list: &Value) -> Vec<&str> {
    list.as_array()
        .unwrap_or_else(|| panic!("not a list: {list}"))
        .iter()
        .map(|c| c["name"].as_str().unwrap_or_else(|| panic!("no name: {c}")))
        .collect()
}

pub fn output_text(o: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Starts a `sync` command (its stdout is piped here) and returns it with the URL it listens
/// on, read from its first line.
pub fn spawn_daemon(mut cmd: Command) -> (Child, String) {
    let (child, line) = spawn_reading_first_line(&mut cmd);
    let url = url_in(&line).unwrap_or_else(|| panic!("the daemon did not start: {line:?}"));
    (child, url)
}

/// Polls `/status` until `done` holds (30 s at most); the last status.
pub async fn status_until(url: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut status = Value::Null;
    while Instant::now() < deadline {
        if let Ok(r) = reqwest::get(format!("{url}/status")).await {
            status = r.json().await.unwrap_or_default();
            if done(&status) {
                return status;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out; last status: {status}");
}

/// Runs git in `dir` with a fixed identity.
pub fn git(dir: &Path, args: &[&str]) -> std::process::Output {
    Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.com")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.com")
        .output()
        .unwrap()
}

/// [`git`], which must succeed; its stdout, trimmed.
pub fn git_ok(dir: &Path, args: &[&str]) -> String {
    let out = git(dir, args);
    assert!(out.status.success(), "git {args:?}: {}", output_text(&out));
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// Polls `check` until it returns `Some`, for at most 30 s.
pub async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A client-credentials token request to `origin`'s `/oidc/token`, as sent by `http`.
pub async fn request_token(
    http: &reqwest::Client,
    origin: &str,
    id: &str,
    secret: &str,
) -> reqwest::Response {
    http.post(format!("{origin}/oidc/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", id),
            ("client_secret", secret),
        ])
        .send()
        .await
        .unwrap()
}

/// The lowercase hex HMAC-SHA256 of `body` under `key`, as webhook signatures carry it.
pub fn hmac_sha256_hex(key: &[u8], body: &[u8]) -> String {
    use hmac::{Hmac, Mac};
    let mut mac = <Hmac<sha2::Sha256>>::new_from_slice(key).unwrap();
    mac.update(body);
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// An empty bare repository `dir/BARE_NAME` and a clone of it at `dir/work` on branch `main`;
/// their paths.
pub fn bare_repo_and_clone(dir: &Path, bare_name: &str) -> (PathBuf, PathBuf) {
    let bare = dir.join(bare_name);
    std::fs::create_dir_all(&bare).unwrap();
    git_ok(
        &bare,
        &["init", "--bare", "--quiet", "--initial-branch=main"],
    );
    let work = dir.join("work");
    git_ok(dir, &["clone", "--quiet", bare.to_str().unwrap(), "work"]);
    git_ok(&work, &["checkout", "--quiet", "-B", "main"]);
    (bare, work)
}

/// A bare repository `idp.git` in `dir` whose `main` holds `tenant/shop.yaml` = `shop`, pushed
/// from a clone at `dir/work`; its path.
pub fn bare_repo_with_shop(dir: &Path, shop: &str) -> PathBuf {
    let (bare, work) = bare_repo_and_clone(dir, "idp.git");
    std::fs::create_dir_all(work.join("tenant")).unwrap();
    std::fs::write(work.join("tenant/shop.yaml"), shop).unwrap();
    git_ok(&work, &["add", "."]);
    git_ok(&work, &["commit", "--quiet", "-m", "shop"]);
    git_ok(&work, &["push", "--quiet", "origin", "main"]);
    bare
}

/// A `sync` daemon on `bare`'s `tenant` folder that proposes drift (polling every 200 ms,
/// resyncing every 300 ms), with `extra` arguments, started and waited on until its first
/// success; the process and its URL.
pub async fn spawn_proposing_daemon(
    ws: &Workspace,
    bare: &Path,
    extra: &[&str],
) -> (Child, String) {
    let url = format!("file://{}", bare.display());
    let mut args = vec![
        "sync",
        "--listen",
        "127.0.0.1:0",
        "--git",
        &url,
        "--git-path",
        "tenant",
        "--poll",
        "200ms",
        "--interval",
        "300ms",
        "--on-drift",
        "propose",
    ];
    args.extend_from_slice(extra);
    let mut cmd = ws.command(&ws.server.base, &args);
    cmd.env_remove("TENANTSYNC_MANIFESTS");
    let (daemon, status_url) = spawn_daemon(cmd);
    status_until(&status_url, |s| s["last_result"] == "success").await;
    (daemon, status_url)
}

/// The lines a `git diff` removes or adds, without its file headers.
pub fn changed_lines(diff: &str) -> Vec<&str> {
    diff.lines()
        .filter(|l| {
            (l.starts_with('-') || l.starts_with('+'))
                && !l.starts_with("---")
                && !l.starts_with("+++")
        })
        .collect()
}

/// Runs the deploy hook `script` with `event` on its stdin, against the fake Kubernetes API at
/// `addr` whose service-account files are in `api_dir`; its exit status. Blocks.
pub fn run_kube_hook(
    script: &Path,
    addr: std::net::SocketAddr,
    api_dir: &Path,
    event: &Value,
) -> std::process::ExitStatus {
    use std::io::Write as _;
    let mut child = Command::new("sh")
        .arg(script)
        .env("KUBE_API", format!("http://{addr}"))
        .env("KUBE_API_DIR", api_dir)
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(event.to_string().as_bytes())
        .unwrap();
    child.wait().unwrap()
}

/// Serves `app` on a free local port for the rest of the test; its address.
pub async fn serve_in_background(app: axum::Router) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}
