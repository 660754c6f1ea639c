//! The soak: the daemon against a misbehaving upstream for a long time. `tenantsync serve
//! --faults seed=N,rate=P,kinds=429,5xx,timeout,reset,lost-response,slow,omit-from-list` holds
//! a tenant of 500 applications with 2 clients each; `tenantsync sync --prune --interval 60s`
//! manages it from a manifest directory. For `SOAK_MINUTES` (60) this bench edits the manifests
//! every `SOAK_EDIT_SECONDS` (5): an application's description, a client's redirect URIs, now
//! and then an application added or removed; drifts a managed application through the server's
//! API every `SOAK_DRIFT_SECONDS` (60); and verifies each edit and each heal live, reading the
//! server directly (through the same faults). At the end, faults still on, it waits (at most
//! `SOAK_CONVERGE_MINUTES`, 15) until the whole tenant matches the manifests.
//!
//! Reports the faults injected (server), the requests that failed and were retried (daemon's
//! `tenantsync_api_requests_total` by outcome), edits verified live with their latency, drift
//! healed, duplicates seen (two live applications with one `app_name`, or two clients with one
//! name in an application: must be 0), and the daemon's RSS sampled every resync: the lowest
//! sample of each `--interval` (min / median / max, and whether the last half stays within
//! ±2 % of its median); the lowest sample between rounds is reported beside it. Prints a table
//! and writes `benches/results/soak.json`; exits 1 when a duplicate was seen, an edit never went
//! live or the tenant did not converge.
//!
//! `SOAK_SEED` (7) and `SOAK_FAULT_RATE` (0.02) set the fault spec; `SOAK_APPS` (500) the size.
//! Before the daemon starts, its state is given the history a daemon has after months: the
//! newest `HISTORY_KEPT` apply records and as many ended drift episodes, shaped as the daemon
//! writes them. The state keeps no more than that, so the run measures a state at its bound,
//! not one filling up (at an edit every 5 s the history fills after some 2 hours, and sled
//! holds the pages it fills with). `SOAK_PREFILL=0` starts from the setup's history instead.
//! The work directory (manifests, state, server data, both processes' logs) is kept and named.
//!
//! Run: `cargo build --release && SOAK_MINUTES=35 cargo bench --bench soak`.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt as _;
use rand::rngs::StdRng;
use rand::{Rng as _, SeedableRng as _};
use serde_json::{json, Value};

#[path = "common/process.rs"]
mod process;

use process::{bin, rss_mb, status_kb, Serve};

use tenantsync::state::address::Address;

const FAULT_KINDS: &str = "429,5xx,timeout,reset,lost-response,slow,omit-from-list";
const CLIENTS: [&str; 2] = ["Web", "Mobile"];
/// The daemon's `--interval`: the period in which its sweep re-reads every managed application.
const RESYNC: Duration = Duration::from_secs(60);

/// The daemon's RSS in MB, the lowest sample of each span.
#[derive(Default)]
struct RssSeries {
    /// One per `--interval`.
    per_resync: Vec<f64>,
    /// Its anonymous part (what the daemon allocated), one per `--interval`.
    anon_per_resync: Vec<f64>,
    /// Its file-backed part (the binary's and libraries' pages read in), one per `--interval`.
    file_per_resync: Vec<f64>,
    /// One per round.
    per_round: Vec<f64>,
    /// The daemon's live heap (its allocator's count of bytes allocated and not freed, from
    /// `/metrics`), the lowest of each `--interval`: grows with a leak, level when RSS grows
    /// only because the allocator keeps pages.
    heap_per_resync: Vec<f64>,
}

/// How a series' last half spreads around its median: (median, % below, % above, within ±2 %).
fn last_half_spread(series: &[f64]) -> (f64, f64, f64, bool) {
    let half = &series[series.len() / 2..];
    let m = median(half);
    let below = (m - min(half)) / m.max(f64::EPSILON) * 100.0;
    let above = (max(half) - m) / m.max(f64::EPSILON) * 100.0;
    (m, below, above, below <= 2.0 && above <= 2.0)
}

/// A table row for a per-resync series: min / median / max and its last half's spread.
fn series_row(label: &str, xs: &[f64]) -> String {
    let (half, below, above, flat) = last_half_spread(xs);
    format!(
        "| {label} | min {:.1} / median {:.1} / max {:.1} MB; last half {half:.1} MB, −{below:.2} % / +{above:.2} %: {} |",
        min(xs),
        median(xs),
        max(xs),
        if flat { "flat within ±2 %" } else { "NOT flat within ±2 %" }
    )
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

// ----- the manifests, as this bench keeps them --------------------------------------------

/// One application as the manifests say it.
#[derive(Clone, Debug)]
struct App {
    description: String,
    /// By client name, the redirect URIs.
    clients: BTreeMap<String, Vec<String>>,
    /// In the manifests.
    present: bool,
    /// The live id, once known.
    id: Option<String>,
}

fn app_name(i: usize) -> String {
    format!("Soak App {i}")
}

fn new_app(i: usize) -> App {
    App {
        description: format!("Soak application {i}"),
        clients: CLIENTS
            .iter()
            .map(|c| {
                (
                    (*c).to_owned(),
                    vec![format!(
                        "https://app{i}.example.com/{}/cb",
                        c.to_lowercase()
                    )],
                )
            })
            .collect(),
        present: true,
        id: None,
    }
}

const PER_FILE: usize = 100;

fn file_of(i: usize) -> String {
    format!("apps-{:03}.yaml", i / PER_FILE)
}

fn app_yaml(i: usize, app: &App) -> String {
    let mut out = format!(
        "apiVersion: tenantsync/v1\nkind: Application\nmetadata: {{name: soak-{i}}}\nspec:\n  app_name: {}\n  app_description: \"{}\"\n  clients:\n",
        app_name(i),
        app.description
    );
    for (name, uris) in &app.clients {
        out.push_str(&format!("    - name: {name}\n"));
        if name == "Mobile" {
            out.push_str("      client_type: native\n");
        }
        out.push_str(&format!("      redirect_uris: [{}]\n", uris.join(", ")));
    }
    out
}

/// Writes the file holding application `i` by an atomic rename (removes it when empty).
fn write_file(dir: &Path, apps: &[App], i: usize) {
    let chunk = i / PER_FILE;
    let docs: Vec<String> = (chunk * PER_FILE..((chunk + 1) * PER_FILE).min(apps.len()))
        .filter(|j| apps[*j].present)
        .map(|j| app_yaml(j, &apps[j]))
        .collect();
    let path = dir.join(file_of(i));
    if docs.is_empty() {
        let _ = std::fs::remove_file(&path);
        return;
    }
    let tmp = dir.join(format!(".{}.swp", file_of(i)));
    std::fs::write(&tmp, docs.join("---\n")).unwrap();
    std::fs::rename(&tmp, &path).unwrap();
}

// ----- the server's API, read and written directly through the faults ------------------------

struct Api {
    http: reqwest::Client,
    origin: String,
    base: String,
    token: Mutex<Option<(String, Instant)>>,
}

impl Api {
    async fn token(&self) -> String {
        if let Some((t, at)) = self.token.lock().unwrap().clone() {
            if at.elapsed() < Duration::from_secs(20 * 60) {
                return t;
            }
        }
        loop {
            let sent =
                process::support::token_request(&self.http, &self.origin, "bench", "bench-secret")
                    .send()
                    .await;
            if let Ok(r) = sent {
                if let Ok(v) = r.json::<Value>().await {
                    if let Some(t) = v["access_token"].as_str() {
                        *self.token.lock().unwrap() = Some((t.to_owned(), Instant::now()));
                        return t.to_owned();
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    /// One attempt: the status and body, or `None` when no answer came (a fault).
    async fn once(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> Option<(u16, Value)> {
        let token = self.token().await;
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(token)
            .timeout(Duration::from_secs(5));
        if let Some(b) = body {
            req = req.json(b);
        }
        let r = req.send().await.ok()?;
        let status = r.status().as_u16();
        let bytes = r.bytes().await.ok()?;
        Some((
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        ))
    }

    /// Retries through 429s, 5xx and lost answers until an answer that is neither.
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> (u16, Value) {
        loop {
            match self.once(method.clone(), path, body).await {
                Some((status, v)) if status != 429 && status < 500 => return (status, v),
                _ => tokio::time::sleep(Duration::from_millis(300)).await,
            }
        }
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        self.call(reqwest::Method::GET, path, None).await
    }

    /// The live applications named like this bench's, by name (several ids: a duplicate).
    /// A list may leave one out (`omit-from-list`): `reads` lists are merged.
    async fn apps_by_name(&self, reads: usize) -> BTreeMap<String, BTreeSet<String>> {
        let mut by_name: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for _ in 0..reads {
            let (_, v) = self.get("/v1/applications").await;
            for a in items(&v) {
                let (Some(name), Some(id)) = (a["app_name"].as_str(), a["app_id"].as_str()) else {
                    continue;
                };
                if name.starts_with("Soak App ") {
                    by_name
                        .entry(name.to_owned())
                        .or_default()
                        .insert(id.to_owned());
                }
            }
        }
        by_name
    }

    /// The live clients of an application: by name, every client's redirect URIs (sorted).
    async fn clients(&self, app_id: &str) -> Option<BTreeMap<String, Vec<Vec<String>>>> {
        let (status, v) = self
            .get(&format!("/v1/applications/{app_id}/clients"))
            .await;
        if status != 200 {
            return None;
        }
        let mut out: BTreeMap<String, Vec<Vec<String>>> = BTreeMap::new();
        for c in items(&v) {
            let mut uris: Vec<String> = c["redirect_uris"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|u| u.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default();
            uris.sort();
            out.entry(c["name"].as_str().unwrap_or("").to_owned())
                .or_default()
                .push(uris);
        }
        Some(out)
    }

    /// The live description of an application; `None`: it is gone (404).
    async fn description(&self, app_id: &str) -> Option<String> {
        let (status, v) = self.get(&format!("/v1/applications/{app_id}")).await;
        if status == 404 {
            return None;
        }
        let app = v.get("result").unwrap_or(&v);
        Some(app["app_description"].as_str().unwrap_or("").to_owned())
    }
}

/// A list answer's items (`{"result": [...]}` or a bare array).
fn items(v: &Value) -> Vec<Value> {
    v.get("result")
        .and_then(Value::as_array)
        .or_else(|| v.as_array())
        .cloned()
        .unwrap_or_default()
}

// ----- processes ------------------------------------------------------------------------------

/// Starts `cmd` with stderr to `log`, and returns it with its first stdout line.
fn spawn_logged(cmd: &mut Command, log: &Path) -> (Child, String) {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    (child, line)
}

fn url_in(line: &str) -> String {
    line.split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| panic!("no URL in {line:?}"))
        .to_owned()
}

fn metric(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    tenantsync::telemetry::prometheus::sample(text, name, labels).unwrap_or(0.0)
}

async fn scrape(http: &reqwest::Client, url: &str) -> String {
    match http
        .get(format!("{url}/metrics"))
        .timeout(Duration::from_secs(5))
        .send()
        .await
    {
        Ok(r) => r.text().await.unwrap_or_default(),
        Err(_) => String::new(),
    }
}

// ----- what is awaited live ---------------------------------------------------------------------

#[derive(Clone, Debug, PartialEq)]
enum Expect {
    Description(String),
    Uris { client: String, uris: Vec<String> },
    Added,
    Removed,
    Healed(String),
}

#[derive(Clone, Debug)]
struct Pending {
    seq: usize,
    app: usize,
    expect: Expect,
    since: Instant,
}

impl Pending {
    fn kind(&self) -> &'static str {
        match self.expect {
            Expect::Description(_) => "description",
            Expect::Uris { .. } => "redirect_uris",
            Expect::Added => "add",
            Expect::Removed => "remove",
            Expect::Healed(_) => "drift",
        }
    }

    /// Whether `other`, made later, makes this one unobservable (same field of one app).
    fn superseded_by(&self, other: &Expect) -> bool {
        match (&self.expect, other) {
            (Expect::Description(_), Expect::Description(_)) => true,
            (Expect::Uris { client: a, .. }, Expect::Uris { client: b, .. }) => a == b,
            _ => false,
        }
    }
}

/// What one check found.
enum Checked {
    Live,
    NotYet,
    /// An added application found: its id.
    Found(String),
}

#[derive(Default)]
struct Duplicates {
    apps: BTreeSet<String>,
    clients: BTreeSet<String>,
}

async fn check(
    api: &Api,
    p: &Pending,
    id: Option<String>,
    model: &App,
    dups: &Mutex<Duplicates>,
) -> Checked {
    let i = p.app;
    let client_dups = |clients: &BTreeMap<String, Vec<Vec<String>>>| {
        for (name, list) in clients {
            if list.len() > 1 {
                dups.lock()
                    .unwrap()
                    .clients
                    .insert(format!("{} / {name}", app_name(i)));
            }
        }
    };
    // An application added by an edit gets its id when its `Added` check finds it: an edit
    // made to it before then waits for that id (a removal is checked by name).
    let id = id.as_deref();
    match &p.expect {
        Expect::Description(want) | Expect::Healed(want) => {
            let Some(id) = id else {
                return Checked::NotYet;
            };
            match api.description(id).await {
                Some(d) if &d == want => Checked::Live,
                _ => Checked::NotYet,
            }
        }
        Expect::Uris { client, uris } => {
            let Some(id) = id else {
                return Checked::NotYet;
            };
            let Some(clients) = api.clients(id).await else {
                return Checked::NotYet;
            };
            client_dups(&clients);
            let mut want = uris.clone();
            want.sort();
            match clients.get(client) {
                Some(list) if list.len() == 1 && list[0] == want => Checked::Live,
                _ => Checked::NotYet,
            }
        }
        Expect::Removed => match id {
            Some(id) => match api.description(id).await {
                None => Checked::Live,
                Some(_) => Checked::NotYet,
            },
            None if api.apps_by_name(3).await.contains_key(&app_name(i)) => Checked::NotYet,
            None => Checked::Live,
        },
        Expect::Added => {
            let by_name = api.apps_by_name(1).await;
            let Some(ids) = by_name.get(&app_name(i)) else {
                return Checked::NotYet;
            };
            if ids.len() > 1 {
                dups.lock().unwrap().apps.insert(app_name(i));
            }
            let id = ids.iter().next().unwrap().clone();
            let Some(clients) = api.clients(&id).await else {
                return Checked::NotYet;
            };
            client_dups(&clients);
            let complete = model.clients.iter().all(|(name, uris)| {
                let mut want = uris.clone();
                want.sort();
                clients
                    .get(name)
                    .is_some_and(|l| l.len() == 1 && l[0] == want)
            });
            if complete {
                Checked::Found(id)
            } else {
                Checked::NotYet
            }
        }
    }
}

/// Compares the whole tenant with the manifests: the differences found (empty: converged).
async fn full_check(api: &Api, apps: &[App], dups: &Mutex<Duplicates>) -> Vec<String> {
    let by_name = api.apps_by_name(3).await;
    let mut problems = Vec::new();
    for (name, ids) in &by_name {
        if ids.len() > 1 {
            dups.lock().unwrap().apps.insert(name.clone());
            problems.push(format!("{name}: {} live applications", ids.len()));
        }
    }
    let wanted: BTreeSet<String> = (0..apps.len())
        .filter(|i| apps[*i].present)
        .map(app_name)
        .collect();
    for name in by_name.keys() {
        if !wanted.contains(name) {
            problems.push(format!("{name}: live, not in the manifests"));
        }
    }
    let checks = futures::stream::iter((0..apps.len()).filter(|i| apps[*i].present).map(|i| {
        let ids = by_name.get(&app_name(i)).cloned();
        async move {
            let Some(ids) = ids else {
                return vec![format!("{}: not live", app_name(i))];
            };
            // A list that left one client out (`omit-from-list`, on this reader's requests
            // too) is not a difference: one is reported only when three reads agree on it.
            let mut out = Vec::new();
            for _attempt in 0..3 {
                out.clear();
                for id in &ids {
                    match api.description(id).await {
                        Some(d) if d == apps[i].description => {}
                        other => out.push(format!("{}: description {other:?}", app_name(i))),
                    }
                    let clients = api.clients(id).await.unwrap_or_default();
                    for (name, list) in &clients {
                        if list.len() > 1 {
                            dups.lock()
                                .unwrap()
                                .clients
                                .insert(format!("{} / {name}", app_name(i)));
                            out.push(format!("{} / {name}: {} clients", app_name(i), list.len()));
                        }
                    }
                    let live: BTreeMap<&String, &Vec<String>> = clients
                        .iter()
                        .filter_map(|(n, l)| Some((n, l.first()?)))
                        .collect();
                    let want: BTreeMap<&String, Vec<String>> = apps[i]
                        .clients
                        .iter()
                        .map(|(n, u)| {
                            let mut u = u.clone();
                            u.sort();
                            (n, u)
                        })
                        .collect();
                    if live.len() != want.len() || want.iter().any(|(n, u)| live.get(n) != Some(&u))
                    {
                        out.push(format!("{}: clients {live:?}", app_name(i)));
                    }
                }
                if out.is_empty() {
                    break;
                }
            }
            out
        }
    }))
    .buffer_unordered(8)
    .collect::<Vec<_>>()
    .await;
    problems.extend(checks.into_iter().flatten());
    problems
}

// ----- figures --------------------------------------------------------------------------------

fn median(xs: &[f64]) -> f64 {
    let mut v = xs.to_vec();
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

fn pct(xs: &[f64], p: f64) -> f64 {
    let mut v = xs.to_vec();
    v.sort_by(f64::total_cmp);
    if v.is_empty() {
        return 0.0;
    }
    v[((v.len() - 1) as f64 * p).round() as usize]
}

fn max(xs: &[f64]) -> f64 {
    xs.iter().copied().fold(0.0, f64::max)
}

fn min(xs: &[f64]) -> f64 {
    xs.iter().copied().fold(f64::INFINITY, f64::min)
}

/// Gives the state at `dir` the history a long-running daemon's state has: [`HISTORY_KEPT`]
/// apply records of one-application syncs and as many healed drift episodes, both written
/// through the state's own calls (so trimmed as the daemon's are). Returns how many of each.
///
/// [`HISTORY_KEPT`]: tenantsync::state::store::HISTORY_KEPT
fn prefill(dir: &Path, origin: &str, n_apps: usize) -> (usize, usize) {
    use tenantsync::drift::{DriftRecord, DriftUpdate, Resolution};
    use tenantsync::plan::{Action, Summary};
    use tenantsync::reconcile::execute::{ApplyReport, ObjectResult, Outcome};
    use tenantsync::reconcile::history::HistoryRecord;
    use tenantsync::state::store::HISTORY_KEPT;
    use tenantsync::state::{self, Access, Location};

    let started = Instant::now();
    let access = Access::Write {
        lock_timeout: Duration::from_secs(10),
    };
    let store = state::open(&Location::Dir(dir.to_owned()), access).expect("the setup's state");
    for i in 0..HISTORY_KEPT {
        let app = app_name(i % n_apps);
        let summary = Summary {
            update: 1,
            unchanged: n_apps * 3 - 1,
            ..Summary::default()
        };
        let report = ApplyReport {
            objects: vec![ObjectResult {
                name: format!("Application/{app}"),
                action: Action::Update,
                outcome: Outcome::Ok,
            }],
            state_updates: 0,
        };
        let target = format!("{origin}/cis");
        let record = HistoryRecord::now(
            target,
            Some("directory".into()),
            "sync".into(),
            summary,
            report,
        );
        store.history_append(&record).expect("history written");
        let now = tenantsync::reconcile::now_rfc3339();
        let episode = DriftRecord {
            object: Address::app(&app),
            fields: vec!["description".into()],
            first_seen: now.clone(),
            last_seen: now.clone(),
            observations: 1,
            resolved_at: Some(now),
            resolution: Some(Resolution::Healed),
        };
        let update = DriftUpdate {
            resolved: vec![episode],
            ..DriftUpdate::default()
        };
        store.drift_record(&update).expect("drift written");
    }
    store.flush().expect("state flushed");
    let kept = (
        store
            .history::<Value>(usize::MAX)
            .expect("history read")
            .len(),
        store.drift_history(usize::MAX).expect("drift read").len(),
    );
    eprintln!(
        "state prefilled with {} apply records and {} ended drift episodes in {:.0} s",
        kept.0,
        kept.1,
        started.elapsed().as_secs_f64()
    );
    kept
}

#[tokio::main]
async fn main() {
    let minutes: f64 = env_or("SOAK_MINUTES", 60.0);
    let seed: u64 = env_or("SOAK_SEED", 7);
    let rate: f64 = env_or("SOAK_FAULT_RATE", 0.02);
    let n_apps: usize = env_or("SOAK_APPS", 500);
    let edit_every = Duration::from_secs_f64(env_or("SOAK_EDIT_SECONDS", 5.0));
    let drift_every = Duration::from_secs_f64(env_or("SOAK_DRIFT_SECONDS", 60.0));
    let converge_limit = Duration::from_secs_f64(env_or("SOAK_CONVERGE_MINUTES", 15.0) * 60.0);
    let spec = format!("seed={seed},rate={rate},kinds={FAULT_KINDS}");
    let work = tempfile::Builder::new()
        .prefix("tenantsync-soak-")
        .tempdir()
        .unwrap()
        .keep();
    eprintln!(
        "soak: {minutes} min, --faults {spec}, {n_apps} applications; work dir {}",
        work.display()
    );
    let manifests = work.join("manifests");
    std::fs::create_dir_all(&manifests).unwrap();
    let mut apps: Vec<App> = (0..n_apps).map(new_app).collect();
    for chunk in 0..n_apps.div_ceil(PER_FILE) {
        write_file(&manifests, &apps, chunk * PER_FILE);
    }

    // The server, faults on from its first request.
    let (child, line) = spawn_logged(
        Command::new(bin())
            .args(["serve", "--listen", "127.0.0.1:0", "--data"])
            .arg(work.join("server"))
            .args(["--faults", &spec])
            .env("TENANTSYNC_ADMIN_CLIENT_ID", "bench")
            .env("TENANTSYNC_ADMIN_CLIENT_SECRET", "bench-secret")
            .env("RUST_LOG", "warn"),
        &work.join("serve.log"),
    );
    let serve = Serve {
        child,
        origin: url_in(&line),
        id: "bench".into(),
        secret: "bench-secret".into(),
    };
    let http = reqwest::Client::new();
    let api = Api {
        http: http.clone(),
        origin: serve.origin.clone(),
        base: serve.base(),
        token: Mutex::new(None),
    };
    let state = work.join("state");

    // The tenant, created by `apply` through the faults (again until one run is clean).
    let setup = Instant::now();
    let mut applies = 0;
    loop {
        applies += 1;
        let (_, out) = process::cli(
            &serve,
            &state,
            &[
                "apply",
                "--yes",
                "--format",
                "json",
                manifests.to_str().unwrap(),
            ],
            &[0, 1],
        );
        if out.status.success() {
            break;
        }
        assert!(
            applies < 10,
            "apply never ran clean: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let prefilled =
        (env_or("SOAK_PREFILL", 1) != 0).then(|| prefill(&state, &serve.origin, n_apps));
    let dups = Mutex::new(Duplicates::default());
    let by_name = api.apps_by_name(3).await;
    for (i, app) in apps.iter_mut().enumerate() {
        let ids = by_name.get(&app_name(i)).expect("applied");
        if ids.len() > 1 {
            dups.lock().unwrap().apps.insert(app_name(i));
        }
        app.id = ids.iter().next().cloned();
    }
    eprintln!(
        "tenant of {n_apps} applications ({} objects) applied in {:.0} s ({applies} apply runs)",
        n_apps * 3,
        setup.elapsed().as_secs_f64()
    );

    // The daemon.
    let (mut daemon, line) = spawn_logged(
        process::sync_command(
            &serve,
            &state,
            &[
                "--interval",
                &format!("{}s", RESYNC.as_secs()),
                "--prune",
                // Removals held by the quiet period pile up under an edit every few seconds;
                // past --max-deletes (10) the whole round is refused and every other edit
                // waits (seen at seed 7 after 7 minutes: 12 deletions held, 4 applications).
                "--max-deletes",
                "100",
            ],
            &manifests,
        )
        .env("RUST_LOG", "info"),
        &work.join("daemon.log"),
    );
    let daemon_url = url_in(&line);
    let pid = daemon.id();

    // RSS, sampled every 250 ms, kept two ways (both as benches/daemon_memory.rs reports
    // between rounds: the lowest sample of a span, what the daemon keeps when it is idle):
    // - per resync: the lowest sample of each `--interval` (the sweep re-reads every managed
    //   application once per interval), the figure the flatness verdict is taken on;
    // - per round (the daemon's count of reconciles moved): the lowest sample since the round
    //   before. With an edit every few seconds some rounds follow each other with no idle
    //   sample between them, so this series also shows rounds in progress.
    let rss: Arc<Mutex<RssSeries>> = Arc::default();
    let sampling = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let sampler = {
        let (rss, sampling, http, url) = (
            rss.clone(),
            sampling.clone(),
            http.clone(),
            daemon_url.clone(),
        );
        tokio::spawn(async move {
            let (mut seen, mut low) = (0.0, f64::INFINITY);
            let (mut window, mut window_low) = (Instant::now(), f64::INFINITY);
            let (mut anon_low, mut file_low) = (f64::INFINITY, f64::INFINITY);
            let mut heap_low = f64::INFINITY;
            while sampling.load(std::sync::atomic::Ordering::SeqCst) {
                let text = scrape(&http, &url).await;
                let n = metric(&text, "tenantsync_sync_reconciles_total", &[]);
                if let Some(bytes) = tenantsync::telemetry::prometheus::sample(
                    &text,
                    "tenantsync_memory_allocated_bytes",
                    &[],
                ) {
                    heap_low = heap_low.min(bytes / (1024.0 * 1024.0));
                }
                let now = rss_mb(pid);
                if n > seen {
                    if seen > 0.0 {
                        rss.lock().unwrap().per_round.push(low);
                    }
                    (seen, low) = (n, f64::INFINITY);
                }
                low = low.min(now);
                window_low = window_low.min(now);
                anon_low = anon_low.min(status_kb(pid, "RssAnon:") / 1024.0);
                file_low = file_low.min(status_kb(pid, "RssFile:") / 1024.0);
                if window.elapsed() >= RESYNC {
                    let mut series = rss.lock().unwrap();
                    series.per_resync.push(window_low);
                    series.anon_per_resync.push(anon_low);
                    series.file_per_resync.push(file_low);
                    if heap_low.is_finite() {
                        series.heap_per_resync.push(heap_low);
                    }
                    (window, window_low) = (Instant::now(), f64::INFINITY);
                    heap_low = f64::INFINITY;
                    (anon_low, file_low) = (f64::INFINITY, f64::INFINITY);
                }
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        })
    };

    let mut rng = StdRng::seed_from_u64(seed);
    let mut pending: Vec<Pending> = Vec::new();
    let mut verified: Vec<(&'static str, f64)> = Vec::new();
    let mut superseded = 0usize;
    let mut edits = 0usize;
    let mut drifts = 0usize;
    let started = Instant::now();
    let end = started + Duration::from_secs_f64(minutes * 60.0);
    let mut next_edit = started + edit_every;
    let mut next_drift = started + drift_every;
    let mut next_dup_scan = started + Duration::from_secs(60);
    let mut last_report = started;
    let mut log: Vec<Value> = Vec::new();
    let mut converge_started: Option<Instant> = None;
    let mut converged: Option<Duration> = None;
    let mut last_problems: Vec<String> = Vec::new();
    let mut next_full = Instant::now();

    loop {
        let now = Instant::now();
        let editing = now < end;
        let busy: BTreeSet<usize> = pending
            .iter()
            .filter(|p| {
                matches!(
                    p.expect,
                    Expect::Added | Expect::Removed | Expect::Healed(_)
                )
            })
            .map(|p| p.app)
            .collect();
        let idle_apps = |apps: &[App]| -> Vec<usize> {
            (0..apps.len())
                .filter(|i| apps[*i].present && apps[*i].id.is_some() && !busy.contains(i))
                .collect()
        };
        if editing && now >= next_edit {
            next_edit += edit_every;
            edits += 1;
            let roll: f64 = rng.gen();
            let candidates = idle_apps(&apps);
            let (app, expect) = if roll < 0.1 || candidates.is_empty() {
                let i = apps.len();
                apps.push(new_app(i));
                for (_, uris) in apps[i].clients.iter_mut() {
                    uris[0] = uris[0].replace("/cb", &format!("/cb{edits}"));
                }
                (i, Expect::Added)
            } else {
                let i = candidates[rng.gen_range(0..candidates.len())];
                if roll < 0.2 {
                    apps[i].present = false;
                    (i, Expect::Removed)
                } else if roll < 0.6 {
                    apps[i].description = format!("Soak edit {edits} of application {i}");
                    (i, Expect::Description(apps[i].description.clone()))
                } else {
                    let client = CLIENTS[rng.gen_range(0..CLIENTS.len())].to_owned();
                    let n = rng.gen_range(1..=3);
                    let uris: Vec<String> = (0..n)
                        .map(|k| {
                            format!(
                                "https://app{i}.example.com/{}/e{edits}-{k}",
                                client.to_lowercase()
                            )
                        })
                        .collect();
                    apps[i].clients.insert(client.clone(), uris.clone());
                    (i, Expect::Uris { client, uris })
                }
            };
            let before = pending.len();
            pending.retain(|p| !(p.app == app && p.superseded_by(&expect)));
            superseded += before - pending.len();
            write_file(&manifests, &apps, app);
            log.push(json!({"seq": edits, "t": started.elapsed().as_secs_f64(), "app": app, "edit": format!("{expect:?}")}));
            pending.push(Pending {
                seq: edits,
                app,
                expect,
                since: Instant::now(),
            });
        }
        if editing && now >= next_drift {
            next_drift += drift_every;
            let candidates: Vec<usize> = idle_apps(&apps)
                .into_iter()
                .filter(|i| !pending.iter().any(|p| p.app == *i))
                .collect();
            if !candidates.is_empty() {
                let i = candidates[rng.gen_range(0..candidates.len())];
                drifts += 1;
                let id = apps[i].id.clone().unwrap();
                let (status, _) = api
                    .call(
                        reqwest::Method::PUT,
                        &format!("/v1/applications/{id}"),
                        Some(&json!({"app_description": format!("drifted {drifts}")})),
                    )
                    .await;
                log.push(json!({"drift": drifts, "t": started.elapsed().as_secs_f64(), "app": i, "status": status}));
                if status == 200 {
                    pending.push(Pending {
                        seq: 0,
                        app: i,
                        expect: Expect::Healed(apps[i].description.clone()),
                        since: Instant::now(),
                    });
                }
            }
        }
        if editing && now >= next_dup_scan {
            next_dup_scan += Duration::from_secs(60);
            for (name, ids) in api.apps_by_name(1).await {
                if ids.len() > 1 {
                    dups.lock().unwrap().apps.insert(name);
                }
            }
        }

        // Check what is awaited, a few at a time; in order (`buffered`), since each answer is
        // paired with its pending edit by position below.
        let results: Vec<(usize, Checked)> = futures::stream::iter(pending.iter().map(|p| {
            let (api, dups, model, id) = (&api, &dups, apps[p.app].clone(), apps[p.app].id.clone());
            async move { (p.seq, check(api, p, id, &model, dups).await) }
        }))
        .buffered(8)
        .collect()
        .await;
        let done: HashMap<(usize, usize), Option<String>> = pending
            .iter()
            .zip(&results)
            .filter_map(|(p, (_, c))| match c {
                Checked::Live => Some(((p.seq, p.app), None)),
                Checked::Found(id) => Some(((p.seq, p.app), Some(id.clone()))),
                Checked::NotYet => None,
            })
            .collect();
        let _ = results;
        pending.retain(|p| match done.get(&(p.seq, p.app)) {
            None => true,
            Some(found) => {
                if let Some(id) = found {
                    apps[p.app].id = Some(id.clone());
                }
                if p.expect == Expect::Removed {
                    apps[p.app].id = None;
                }
                verified.push((p.kind(), p.since.elapsed().as_secs_f64()));
                false
            }
        });

        if last_report.elapsed() >= Duration::from_secs(60) {
            last_report = Instant::now();
            let text = scrape(&http, &daemon_url).await;
            let r = rss.lock().unwrap().per_round.clone();
            eprintln!(
                "[{:>5.1} min] edits {edits}, drifts {drifts}, verified {}, pending {}, rounds {}, RSS {:.1} MB, api retried {}",
                started.elapsed().as_secs_f64() / 60.0,
                verified.len(),
                pending.len(),
                r.len(),
                r.last().copied().unwrap_or(0.0),
                metric(&text, "tenantsync_api_requests_total", &[("outcome", "429")])
                    + metric(&text, "tenantsync_api_requests_total", &[("outcome", "5xx")])
                    + metric(&text, "tenantsync_api_requests_total", &[("outcome", "transport")]),
            );
        }

        if !editing {
            let since = *converge_started.get_or_insert_with(Instant::now);
            if pending.is_empty() && Instant::now() >= next_full {
                last_problems = full_check(&api, &apps, &dups).await;
                eprintln!("convergence check: {} differences", last_problems.len());
                if last_problems.is_empty() {
                    converged = Some(since.elapsed());
                    break;
                }
                next_full = Instant::now() + Duration::from_secs(20);
            }
            if since.elapsed() > converge_limit {
                if !pending.is_empty() {
                    last_problems.extend(pending.iter().map(|p| {
                        format!(
                            "never live: edit {} {:?} of {}",
                            p.seq,
                            p.expect,
                            app_name(p.app)
                        )
                    }));
                }
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    // Figures.
    sampling.store(false, std::sync::atomic::Ordering::SeqCst);
    let _ = sampler.await;
    let daemon_metrics = scrape(&http, &daemon_url).await;
    let server_metrics = scrape(&http, &serve.origin).await;
    let _ = daemon.kill();
    let _ = daemon.wait();
    let RssSeries {
        per_resync,
        anon_per_resync,
        file_per_resync,
        per_round,
        heap_per_resync,
    } = std::mem::take(&mut *rss.lock().unwrap());
    let faults: BTreeMap<String, f64> = FAULT_KINDS
        .split(',')
        .map(|k| {
            (
                k.to_owned(),
                metric(
                    &server_metrics,
                    "tenantsync_server_faults_injected_total",
                    &[("kind", k)],
                ),
            )
        })
        .collect();
    let api_out = |o: &str| {
        metric(
            &daemon_metrics,
            "tenantsync_api_requests_total",
            &[("outcome", o)],
        )
    };
    let requests_total = metric(&daemon_metrics, "tenantsync_api_requests_total", &[]);
    let retried = api_out("429") + api_out("5xx") + api_out("transport");
    let rounds_ok = metric(
        &daemon_metrics,
        "tenantsync_sync_reconciles_total",
        &[("result", "success")],
    );
    let rounds_all = metric(&daemon_metrics, "tenantsync_sync_reconciles_total", &[]);
    let healed: Vec<f64> = verified
        .iter()
        .filter(|(k, _)| *k == "drift")
        .map(|(_, l)| *l)
        .collect();
    let edit_lat: Vec<f64> = verified
        .iter()
        .filter(|(k, _)| *k != "drift")
        .map(|(_, l)| *l)
        .collect();
    let by_kind: BTreeMap<&str, usize> = verified.iter().fold(BTreeMap::new(), |mut m, (k, _)| {
        *m.entry(*k).or_default() += 1;
        m
    });
    let never: Vec<String> = last_problems
        .iter()
        .filter(|p| p.starts_with("never live"))
        .cloned()
        .collect();
    let (half_median, below, above, flat) = last_half_spread(&per_resync);
    let (round_median, round_below, round_above, _) = last_half_spread(&per_round);
    let (anon_median, anon_below, anon_above, anon_flat) = last_half_spread(&anon_per_resync);
    let (heap_median, heap_below, heap_above, heap_flat) = last_half_spread(&heap_per_resync);
    let file_first_last = (
        file_per_resync.first().copied().unwrap_or_default(),
        file_per_resync.last().copied().unwrap_or_default(),
    );
    let dups = dups.into_inner().unwrap();
    let duplicates = dups.apps.len() + dups.clients.len();

    println!(
        "| soak, {minutes} min, {n_apps} applications × 2 clients, --faults {spec} | figure |"
    );
    println!("|---|---|");
    println!(
        "| faults injected | {:.0} ({}) |",
        faults.values().sum::<f64>(),
        faults
            .iter()
            .map(|(k, v)| format!("{k} {v:.0}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!(
        "| daemon requests | {requests_total:.0}, of which failed and retried {retried:.0} (429 {:.0}, 5xx {:.0}, transport {:.0}) |",
        api_out("429"),
        api_out("5xx"),
        api_out("transport")
    );
    println!("| rounds | {rounds_all:.0} ({rounds_ok:.0} successful) |");
    println!(
        "| edits applied, verified live | {} of {edits} ({superseded} superseded by a later edit of the same field before seen, {} never live); {} |",
        edit_lat.len(),
        never.len(),
        by_kind.iter().filter(|(k, _)| **k != "drift").map(|(k, v)| format!("{k} {v}")).collect::<Vec<_>>().join(", ")
    );
    println!(
        "| edit → live latency | median {:.1} s, p95 {:.1} s, max {:.1} s |",
        median(&edit_lat),
        pct(&edit_lat, 0.95),
        max(&edit_lat)
    );
    println!(
        "| drift healed | {} of {drifts}, latency median {:.1} s, max {:.1} s |",
        healed.len(),
        median(&healed),
        max(&healed)
    );
    println!(
        "| duplicates seen | {duplicates} {:?} {:?} |",
        dups.apps, dups.clients
    );
    println!(
        "| converged at the end (faults on) | {} |",
        match converged {
            Some(d) => format!("yes, in {:.0} s", d.as_secs_f64()),
            None => format!(
                "NO: {} differences, e.g. {:?}",
                last_problems.len(),
                last_problems.iter().take(5).collect::<Vec<_>>()
            ),
        }
    );
    println!(
        "| daemon RSS, one sample per resync ({} × {} s) | min {:.1} / median {:.1} / max {:.1} MB |",
        per_resync.len(),
        RESYNC.as_secs(),
        min(&per_resync),
        median(&per_resync),
        max(&per_resync)
    );
    println!(
        "| last half: median, spread | {half_median:.1} MB, −{below:.2} % / +{above:.2} %: {} |",
        if flat {
            "flat within ±2 %"
        } else {
            "NOT flat within ±2 %"
        }
    );
    println!(
        "{}",
        series_row(
            "of which anonymous (allocated), per resync",
            &anon_per_resync
        )
    );
    println!(
        "| of which file-backed (code pages read in), per resync | {:.1} MB at the first resync, {:.1} MB at the last |",
        file_first_last.0, file_first_last.1
    );
    if !heap_per_resync.is_empty() {
        println!(
            "{}",
            series_row(
                "live heap (allocated, not freed), per resync",
                &heap_per_resync
            )
        );
    }
    println!(
        "| daemon RSS, one sample per round ({}) | min {:.1} / median {:.1} / max {:.1} MB; last half {round_median:.1} MB, −{round_below:.2} % / +{round_above:.2} % |",
        per_round.len(),
        min(&per_round),
        median(&per_round),
        max(&per_round)
    );
    let report = json!({
        "date": time::OffsetDateTime::now_utc().date().to_string(),
        "minutes": minutes,
        "faults_spec": spec,
        "prefilled": prefilled.map(|(history, drift)| json!({"history": history, "drift_ended": drift})),
        "applications": n_apps,
        "work_dir": work.display().to_string(),
        "faults_injected": faults,
        "daemon_requests": {"total": requests_total, "retried": retried, "429": api_out("429"), "5xx": api_out("5xx"), "transport": api_out("transport"), "4xx": api_out("4xx")},
        "rounds": {"total": rounds_all, "success": rounds_ok},
        "edits": {"made": edits, "verified": edit_lat.len(), "superseded": superseded, "never_live": never, "by_kind": by_kind,
                  "latency_s": {"median": median(&edit_lat), "p95": pct(&edit_lat, 0.95), "max": max(&edit_lat)}},
        "drift": {"made": drifts, "healed": healed.len(), "latency_s": {"median": median(&healed), "max": max(&healed)}},
        "duplicates": {"count": duplicates, "apps": dups.apps, "clients": dups.clients},
        "converged_s": converged.map(|d| d.as_secs_f64()),
        "differences_at_end": last_problems,
        "rss_mb": {"min": min(&per_resync), "median": median(&per_resync), "max": max(&per_resync),
                   "resync_seconds": RESYNC.as_secs(), "samples": per_resync.len(),
                   "last_half": {"median": half_median, "below_pct": below, "above_pct": above, "flat_within_2pct": flat},
                   "per_resync": per_resync,
                   "anon": {"per_resync": anon_per_resync, "last_half": {"median": anon_median, "below_pct": anon_below, "above_pct": anon_above, "flat_within_2pct": anon_flat}},
                   "file": {"per_resync": file_per_resync},
                   "heap_allocated": {"per_resync": heap_per_resync, "last_half": {"median": heap_median, "below_pct": heap_below, "above_pct": heap_above, "flat_within_2pct": heap_flat}},
                   "per_round": {"min": min(&per_round), "median": median(&per_round), "max": max(&per_round),
                                 "last_half": {"median": round_median, "below_pct": round_below, "above_pct": round_above},
                                 "samples": per_round}},
        "edit_log": log,
    });
    let out = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/results");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(
        out.join("soak.json"),
        serde_json::to_string_pretty(&report).unwrap(),
    )
    .unwrap();
    drop(serve);
    eprintln!("work dir kept: {}", work.display());
    if duplicates > 0 || converged.is_none() || !never.is_empty() {
        std::process::exit(1);
    }
    let _: PathBuf = work;
}
