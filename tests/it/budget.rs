//! The API budget against the real binary and server: the request summary line every command
//! ends with matches the server's own request counter exactly, the JSON plan's `api` section,
//! and the adaptive rate behind a proxy that answers every third API request with 429.

use std::collections::BTreeMap;
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use crate::harness::{
    get_text, output_text as text, serve_in_background, spawn_daemon, status_until, KillOnDrop,
    Workspace,
};

/// An application manifest with one OIDC client.
fn app(key: &str, name: &str) -> String {
    format!(
        "apiVersion: tenantsync/v1
kind: Application
metadata: {{name: {key}}}
spec:
  app_name: {name}
  clients:
    - name: Web
      redirect_uris: [https://{key}.example.com/cb]
"
    )
}

/// The Applications API requests the server answered (routes under `/v1/`; the token endpoint,
/// `/healthz` and `/metrics` are not API requests), by method.
fn api_requests(metrics: &str) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for line in metrics
        .lines()
        .filter(|l| l.starts_with("tenantsync_server_requests_total{"))
    {
        let (series, value) = line.rsplit_once(' ').unwrap();
        let label = |name: &str| {
            let start = series.find(&format!("{name}=\"")).unwrap() + name.len() + 2;
            series[start..].split('"').next().unwrap().to_owned()
        };
        // Every API route: `/v1/…`, and the login preferences' `/loginPreferences/…`.
        let route = label("route");
        if route.contains("/v1/") || route.contains("/loginPreferences/") {
            *out.entry(label("method")).or_insert(0) += value.parse::<f64>().unwrap() as u64;
        }
    }
    out
}

/// `b - a`, per method, leaving out zeros.
fn difference(a: &BTreeMap<String, u64>, b: &BTreeMap<String, u64>) -> BTreeMap<String, u64> {
    b.iter()
        .map(|(k, v)| (k.clone(), v - a.get(k).copied().unwrap_or(0)))
        .filter(|(_, v)| *v > 0)
        .collect()
}

/// The request summary line of a command's stderr: its total and its counts by method.
fn summary(stderr: &str) -> (u64, BTreeMap<String, u64>, String) {
    let line = stderr
        .lines()
        .rfind(|l| l.contains(" request") && (l.contains(" at ") || l.contains("no rate limit")))
        .unwrap_or_else(|| panic!("no request summary line in:\n{stderr}"))
        .to_owned();
    let (total, rest) = line.split_once(' ').unwrap();
    let mut methods = BTreeMap::new();
    if let Some((_, list)) = rest.split_once(": ") {
        let list = list.split(';').next().unwrap();
        let list = list.split(" (").next().unwrap();
        for part in list.split(", ") {
            let (n, method) = part.split_once(' ').unwrap();
            methods.insert(method.to_owned(), n.parse().unwrap());
        }
    }
    (total.parse().unwrap(), methods, line)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_counts_its_requests_exactly_as_the_server_does_and_prices_its_writes() {
    let ws = Workspace::new();
    for i in 0..4 {
        ws.write(
            &format!("a{i}.yaml"),
            &app(&format!("a{i}"), &format!("App {i}")),
        );
    }
    let out = ws.run(&["apply", "--yes"]);
    assert!(out.status.success(), "{}", text(&out));
    let (total, methods, _) = summary(&String::from_utf8_lossy(&out.stderr));
    assert_eq!(methods.get("POST"), Some(&4), "{}", text(&out));
    assert_eq!(total, methods.values().sum::<u64>());

    // Two changes: one application renamed, one new.
    ws.write("a0.yaml", &app("a0", "App zero"));
    ws.write("a9.yaml", &app("a9", "App 9"));
    let before = api_requests(&ws.server.metrics().await);
    let plan_file = ws.dir.path().join("plan.json");
    let out = ws.run(&[
        "plan",
        "--format",
        "json",
        "--rate",
        "50",
        "--out",
        plan_file.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let seen = difference(&before, &api_requests(&ws.server.metrics().await));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let (total, methods, line) = summary(&stderr);
    assert_eq!(
        methods, seen,
        "the summary `{line}` against the server's count"
    );
    assert_eq!(total, seen.values().sum::<u64>(), "{line}");
    // One list of applications and one list of clients per managed application at least.
    assert!(total >= 5, "{line}");
    let reads = total as f64;
    assert!(
        line.ends_with(&format!("; {:.1} s at 50/s", reads / 50.0 + 1e-9)),
        "{line}"
    );

    let plan: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(plan["api"]["reads"], total, "{}", plan["api"]);
    assert_eq!(plan["api"]["writes_planned"], 2, "{}", plan["api"]);
    assert_eq!(plan["api"]["seconds_at_rate"], 0.04, "{}", plan["api"]);
    let saved: Value = serde_json::from_slice(&std::fs::read(&plan_file).unwrap()).unwrap();
    assert_eq!(saved["api"], plan["api"]);

    // Without a rate (loopback default) the writes have no price.
    let out = ws.run(&["plan", "--format", "json"]);
    assert!(out.status.success(), "{}", text(&out));
    let plan: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(plan["api"]["seconds_at_rate"], Value::Null);
    assert!(
        summary(&String::from_utf8_lossy(&out.stderr))
            .2
            .ends_with("; no rate limit"),
        "{}",
        text(&out)
    );

    // The saved plan (with `api`) applies, and so does one written without it.
    let mut older = saved.clone();
    older.as_object_mut().unwrap().remove("api");
    let older_file = ws.dir.path().join("older.json");
    std::fs::write(&older_file, serde_json::to_vec(&older).unwrap()).unwrap();
    let before = api_requests(&ws.server.metrics().await);
    let out = ws.run(&["apply", "--yes", "--plan", older_file.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    let seen = difference(&before, &api_requests(&ws.server.metrics().await));
    let (_, methods, line) = summary(&String::from_utf8_lossy(&out.stderr));
    assert_eq!(
        methods, seen,
        "apply's summary `{line}` against the server's count"
    );
    assert_eq!(
        seen.get("POST").copied().unwrap_or(0) + seen.get("PUT").copied().unwrap_or(0),
        2,
        "{line}"
    );

    // doctor sends its own requests and accounts for them the same way.
    let before = api_requests(&ws.server.metrics().await);
    let out = ws
        .command(&ws.server.base, &["doctor", "--write"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let seen = difference(&before, &api_requests(&ws.server.metrics().await));
    let (_, methods, line) = summary(&String::from_utf8_lossy(&out.stderr));
    assert_eq!(
        methods, seen,
        "doctor's summary `{line}` against the server's count"
    );
    assert!(seen.contains_key("DELETE"), "{line}");
}

/// What the proxy counts, and every API request it forwarded (when, the path).
#[derive(Default)]
struct ProxyState {
    upstream: String,
    /// Answer every n-th API request with 429 (0: never).
    refuse_every: u64,
    api_requests: AtomicU64,
    refused: AtomicU64,
    forwarded: std::sync::Mutex<Vec<(Instant, String)>>,
    http: reqwest::Client,
}

/// Forwards everything to the server, except every `refuse_every`-th Applications API request,
/// answered with 429 and `Retry-After: 1` (the token endpoint and `/healthz` are always
/// forwarded).
async fn proxy(
    State(s): State<Arc<ProxyState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    if path.contains("/v1/") {
        let n = s.api_requests.fetch_add(1, Ordering::SeqCst) + 1;
        if s.refuse_every > 0 && n % s.refuse_every == 0 {
            s.refused.fetch_add(1, Ordering::SeqCst);
            return (
                StatusCode::TOO_MANY_REQUESTS,
                [("retry-after", "1"), ("content-type", "application/json")],
                r#"{"message":"Too many requests","error_code":429}"#,
            )
                .into_response();
        }
    }
    let mut request = s
        .http
        .request(method, format!("{}{path}", s.upstream))
        .body(body);
    for (name, value) in &headers {
        if !matches!(name.as_str(), "host" | "content-length" | "connection") {
            request = request.header(name, value);
        }
    }
    if path.contains("/v1/") {
        s.forwarded
            .lock()
            .unwrap()
            .push((Instant::now(), path.to_owned()));
    }
    let Ok(answer) = request.send().await else {
        return StatusCode::BAD_GATEWAY.into_response();
    };
    let status = answer.status();
    let mut out = HeaderMap::new();
    for (name, value) in answer.headers() {
        if !matches!(
            name.as_str(),
            "content-length" | "transfer-encoding" | "connection"
        ) {
            out.insert(name, value.clone());
        }
    }
    let body = answer.bytes().await.unwrap_or_default();
    (status, out, body).into_response()
}

/// Starts the proxy in front of `upstream` (an origin); its origin and counters.
async fn start_proxy(upstream: &str, refuse_every: u64) -> (String, Arc<ProxyState>) {
    let state = Arc::new(ProxyState {
        upstream: upstream.to_owned(),
        refuse_every,
        ..ProxyState::default()
    });
    let app = axum::Router::new()
        .fallback(proxy)
        .with_state(state.clone());
    let addr = serve_in_background(app).await;
    (format!("http://{addr}"), state)
}

/// Names of live applications that appear more than once.
fn duplicated(apps: &[Value]) -> Vec<String> {
    let mut seen = BTreeMap::<String, usize>::new();
    for a in apps {
        *seen
            .entry(a["app_name"].as_str().unwrap_or_default().to_owned())
            .or_default() += 1;
    }
    seen.into_iter()
        .filter(|(_, n)| *n > 1)
        .map(|(k, _)| k)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_third_request_answered_429_lowers_the_rate_and_nothing_is_duplicated() {
    let ws = Workspace::new();
    for i in 0..5 {
        ws.write(
            &format!("a{i}.yaml"),
            &app(&format!("a{i}"), &format!("App {i}")),
        );
    }
    let (origin, proxy) = start_proxy(&ws.server.origin, 3).await;
    let base = format!("{origin}/cis");

    // apply through the proxy: every refused request is sent again after Retry-After.
    let out = ws.run_at(&base, &["apply", "--yes", "--rate", "40"]).await;
    assert!(out.status.success(), "{}", text(&out));
    let refused = proxy.refused.load(Ordering::SeqCst);
    assert!(refused >= 2, "the proxy refused {refused} requests");
    let (total, _, line) = summary(&String::from_utf8_lossy(&out.stderr));
    assert!(line.contains(&format!("{refused} × 429")), "{line}");
    assert_eq!(total, proxy.api_requests.load(Ordering::SeqCst), "{line}");
    let apps = ws.live_apps().await;
    assert_eq!(apps.len(), 5, "{apps:?}");
    assert!(duplicated(&apps).is_empty(), "{apps:?}");

    // Without a rate (the loopback default) a 429 imposes one: the plan's requests are priced.
    let out = ws.run_at(&base, &["plan"]).await;
    assert!(out.status.success(), "{}", text(&out));
    let (_, _, line) = summary(&String::from_utf8_lossy(&out.stderr));
    assert!(
        line.contains(" × 429") && !line.ends_with("no rate limit"),
        "{line}"
    );

    // The daemon through the proxy: the rate in force drops below --rate, and an edit still
    // reaches live once.
    let mut cmd = ws.command(&base, &["sync", "--listen", "127.0.0.1:0", "--rate", "40"]);
    cmd.arg(ws.manifests())
        .env("RUST_LOG", "info")
        .stderr(Stdio::null());
    let (mut child, url) = spawn_daemon(cmd);
    status_until(&url, |s| s["last_result"] == "success").await;
    ws.write("a1.yaml", &app("a1", "App one"));
    ws.write("a7.yaml", &app("a7", "App 7"));
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut lowest = f64::MAX;
    let mut metrics = String::new();
    while Instant::now() < deadline && lowest >= 40.0 {
        metrics = get_text(&http, format!("{url}/metrics")).await;
        if let Some(rate) =
            tenantsync::telemetry::prometheus::sample(&metrics, "tenantsync_api_rate_limit", &[])
        {
            lowest = lowest.min(rate);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        lowest < 40.0,
        "the rate in force never dropped below --rate 40:\n{metrics}"
    );
    assert!(
        tenantsync::telemetry::prometheus::sample(
            &metrics,
            "tenantsync_api_requests_total",
            &[("outcome", "429")]
        )
        .unwrap_or(0.0)
            >= 1.0,
        "{metrics}"
    );
    let status = status_until(&url, |s| {
        s["api"]["rate_limit"].as_f64().is_some_and(|r| r < 40.0)
            || s["api"]["by_outcome"]["429"].as_u64().unwrap_or(0) > 0
    })
    .await;
    assert_eq!(status["api"]["configured_rate"], 40.0, "{status}");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let apps = ws.live_apps().await;
        let names: Vec<&str> = apps.iter().filter_map(|a| a["app_name"].as_str()).collect();
        if names.contains(&"App one") && names.contains(&"App 7") {
            assert_eq!(apps.len(), 6, "{names:?}");
            assert!(duplicated(&apps).is_empty(), "{names:?}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the edit never reached live: {names:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// The server's API request counts, now.
async fn server_counts(http: &reqwest::Client, ws: &Workspace) -> BTreeMap<String, u64> {
    api_requests(&get_text(http, format!("{}/metrics", ws.server.origin)).await)
}

/// The daemon's status once a reconcile that started after `after` (its `last_reconcile`)
/// ended with `trigger`.
async fn round_after(url: &str, after: &str, trigger: &str) -> Value {
    status_until(url, |s| {
        s["last_trigger"] == trigger && s["last_reconcile"].as_str().is_some_and(|t| t > after)
    })
    .await
}

/// A workspace with `n` applications `a00…` (`App 0…`), and a daemon on it with `args`.
fn daemon_over(n: usize, args: &[&str]) -> (Workspace, KillOnDrop, String) {
    let ws = Workspace::new();
    let base = ws.server.base.clone();
    let (child, url) = daemon_on(&ws, &base, n, args);
    (ws, child, url)
}

/// [`daemon_over`] on an existing workspace, against `target`.
fn daemon_on(ws: &Workspace, target: &str, n: usize, args: &[&str]) -> (KillOnDrop, String) {
    for i in 0..n {
        ws.write(
            &format!("a{i:02}.yaml"),
            &app(&format!("a{i:02}"), &format!("App {i}")),
        );
    }
    let mut base = vec!["sync", "--listen", "127.0.0.1:0"];
    base.extend_from_slice(args);
    let mut cmd = ws.command(target, &base);
    cmd.arg(ws.manifests()).stderr(Stdio::null());
    let (child, url) = spawn_daemon(cmd);
    (KillOnDrop(child), url)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_the_first_observation_an_edit_reads_and_writes_only_what_it_changes() {
    const APPS: usize = 40;
    let (ws, child, url) = daemon_over(APPS, &["--interval", "1h", "--rate", "20"]);
    let first = status_until(&url, |s| s["last_result"] == "success").await;
    assert_eq!(first["objects_managed"], 2 * APPS, "{first}");
    let http = reqwest::Client::new();
    let mut last = first["last_reconcile"].as_str().unwrap().to_owned();
    for edit in 0..5 {
        let i = edit * 7;
        let before = server_counts(&http, &ws).await;
        // Saved as editors do (a rename), so one event brings the whole file.
        let path = ws.manifests().join(format!("a{i:02}.yaml"));
        let tmp = path.with_extension("swp");
        std::fs::write(&tmp, app(&format!("a{i:02}"), &format!("App {i} renamed"))).unwrap();
        std::fs::rename(&tmp, &path).unwrap();
        let status = round_after(&url, &last, "file_change").await;
        last = status["last_reconcile"].as_str().unwrap().to_owned();
        assert_eq!(status["last_result"], "success", "{status}");
        assert_eq!(status["last_plan"]["update"], 1, "{status}");
        let spent = difference(&before, &server_counts(&http, &ws).await);
        // The application and its client list read by id, then the one write: never the
        // tenant's list, whatever its size.
        assert_eq!(
            spent,
            BTreeMap::from([("GET".to_owned(), 2), ("PUT".to_owned(), 1)]),
            "edit {edit}"
        );
    }
    let names: Vec<String> = ws
        .live_apps()
        .await
        .iter()
        .filter_map(|a| a["app_name"].as_str().map(str::to_owned))
        .collect();
    for i in [0, 7, 14, 21, 28] {
        assert!(names.contains(&format!("App {i} renamed")), "{names:?}");
    }
    assert_eq!(names.len(), APPS, "{names:?}");
    drop(child);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sweep_finds_drift_stays_within_its_budget_and_reads_every_application() {
    const APPS: usize = 12;
    // 12 applications × 2 requests within 3 s needs 8 requests/s: a budget of 10 covers it.
    // Through a proxy that records every request, to see when each application was read.
    let ws = Workspace::new();
    let (proxy, recorded) = start_proxy(&ws.server.origin, 0).await;
    let (child, url) = daemon_on(
        &ws,
        &format!("{proxy}/cis"),
        APPS,
        &[
            "--interval",
            "3s",
            "--read-budget",
            "10",
            "--on-drift",
            "report",
        ],
    );
    let first = status_until(&url, |s| s["last_result"] == "success").await;
    let http = reqwest::Client::new();

    // Over a window of three periods with no change: within the budget (and a slice's worth).
    let before = server_counts(&http, &ws).await;
    let started = Instant::now();
    let mut last = first["last_reconcile"].as_str().unwrap().to_owned();
    let mut sweeps = 0;
    while started.elapsed() < Duration::from_secs(9) {
        let s = round_after(&url, &last, "sweep").await;
        last = s["last_reconcile"].as_str().unwrap().to_owned();
        sweeps += 1;
    }
    let window = started.elapsed().as_secs_f64();
    let ended = Instant::now();
    let spent = difference(&before, &server_counts(&http, &ws).await);
    // Every managed application was read in every period of the window: at least twice in
    // three periods, never more than a period and a tick apart.
    let reads: Vec<(Instant, String)> = recorded
        .forwarded
        .lock()
        .unwrap()
        .iter()
        .filter(|(t, _)| *t >= started && *t <= ended)
        .cloned()
        .collect();
    for app in ws.live_apps().await {
        let id = app["app_id"].as_str().unwrap();
        let times: Vec<Instant> = reads
            .iter()
            .filter(|(_, p)| p.ends_with(&format!("/v1/applications/{id}/clients")))
            .map(|(t, _)| *t)
            .collect();
        assert!(
            times.len() >= 2,
            "{}: read {} times in {window:.1} s",
            app["app_name"],
            times.len()
        );
        for pair in times.windows(2) {
            let gap = pair[1] - pair[0];
            assert!(
                gap <= Duration::from_millis(4500),
                "{}: {gap:?} between two reads (period 3 s)",
                app["app_name"]
            );
        }
    }
    let gets = spent.get("GET").copied().unwrap_or(0);
    assert_eq!(
        spent.len(),
        1,
        "a sweep without drift only reads: {spent:?}"
    );
    assert!(
        gets as f64 <= 10.0 * window + 2.0 * 2.0 * 4.0,
        "{gets} GETs in {window:.1} s"
    );
    assert!(sweeps >= 2, "{sweeps} sweep rounds");
    let status = status_until(&url, |s| s["sweep"]["applications"] == APPS).await;
    assert_eq!(status["sweep"]["stretched"], false, "{status}");
    assert_eq!(status["sweep"]["period_seconds"], 3.0, "{status}");

    // A change made by hand is found by a sweep round (no file changed) and reported.
    let api = ws.api().await;
    let apps = ws.live_apps().await;
    let target = apps.iter().find(|a| a["app_name"] == "App 5").unwrap();
    let id = target["app_id"].as_str().unwrap();
    api.put(
        &format!("/v1/applications/{id}"),
        &serde_json::json!({"app_name": "App 5 edited by hand"}),
    )
    .await;
    let status = status_until(&url, |s| {
        s["drift"]
            .as_array()
            .is_some_and(|d| d.iter().any(|r| r["object"] == "Application/a05"))
    })
    .await;
    assert_eq!(status["last_trigger"], "sweep", "{status}");
    let metrics = get_text(&http, format!("{url}/metrics")).await;
    assert!(
        tenantsync::telemetry::prometheus::sample(
            &metrics,
            "tenantsync_sweep_coverage_seconds",
            &[]
        )
        .is_some(),
        "{metrics}"
    );
    // Reported, not healed.
    let live = ws.live_apps().await;
    assert!(live.iter().any(|a| a["app_name"] == "App 5 edited by hand"));
    drop(child);

    // A budget that cannot cover the interval stretches it, and says so.
    let mut cmd = ws.command(
        &ws.server.base,
        &[
            "sync",
            "--listen",
            "127.0.0.1:0",
            "--interval",
            "1s",
            "--read-budget",
            "4",
        ],
    );
    cmd.arg(ws.manifests()).stderr(Stdio::null());
    let (child, url) = spawn_daemon(cmd);
    let child = KillOnDrop(child);
    let status = status_until(&url, |s| s["sweep"]["stretched"] == true).await;
    assert_eq!(status["sweep"]["period_seconds"], 6.0, "{status}");
    drop(child);
}
