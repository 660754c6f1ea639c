//! The scale story, measured end to end on a release build (run through `benches/run.sh`):
//! for N = 100, 1,000 and 10,000 objects it times `validate`, the first `apply` and a no-change
//! `plan` of the real binary against `tenantsync serve` on loopback, counts their requests, and
//! sets each figure against its floor (YAML parsing alone; the server's own write and read
//! throughput for the same requests at the same concurrency). Then the daemon: watch-to-live
//! latency over 20 saves, and resident memory with 8,000 managed objects across 10 resyncs.
//!
//! Prints a markdown table and writes `benches/results/scale.json`.

use std::path::Path;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

#[path = "common/process.rs"]
mod process;

use process::support::{app_id, application_yaml};
use process::{bin, peak_rss_mb, requests, rss_mb, spawn_reading_first_line, Serve};
use serde::Deserialize as _;
use serde_json::{json, Value};

const CONCURRENCY: usize = 8;

fn tenantsync(serve: &Serve, state: &Path, args: &[&str]) -> (Duration, std::process::Output) {
    process::cli(serve, state, args, &[0])
}

async fn token(http: &reqwest::Client, serve: &Serve) -> String {
    let v: Value = http
        .post(format!("{}/oidc/token", serve.origin))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", "bench"),
            ("client_secret", "bench-secret"),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    v["access_token"].as_str().unwrap().to_owned()
}

/// The server's own throughput for the same writes: `apps` app creates then 3 clients each.
async fn raw_writes(http: &reqwest::Client, serve: &Serve, apps: usize) -> Duration {
    use futures::StreamExt as _;
    let token = token(http, serve).await;
    let base = serve.base();
    let started = Instant::now();
    let ids: Vec<String> = futures::stream::iter((0..apps).map(|i| {
        let (http, token, base) = (http.clone(), token.clone(), base.clone());
        async move {
            let v: Value = http.post(format!("{base}/v1/applications")).bearer_auth(&token)
                .json(&json!({"app_name": format!("Raw {i}"), "client_display_name": "Web", "first_client": {"name": "Web", "redirect_uris": [format!("https://raw{i}.example.com/cb")]}}))
                .send().await.unwrap().json().await.unwrap();
            v["result"]["app_id"].as_str().unwrap().to_owned()
        }
    })).buffer_unordered(CONCURRENCY).collect().await;
    futures::stream::iter((0..apps * 3).map(|i| {
        let (http, token, base, app) = (
            http.clone(),
            token.clone(),
            base.clone(),
            ids[i % ids.len()].clone(),
        );
        async move {
            let r = http
                .post(format!("{base}/v1/applications/{app}/clients"))
                .bearer_auth(&token)
                .json(&json!({"name": format!("raw {i}"), "redirect_uris": []}))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 201);
        }
    }))
    .buffer_unordered(CONCURRENCY)
    .collect::<Vec<_>>()
    .await;
    started.elapsed()
}

/// The server's own throughput for a plan's reads: list apps, then the clients of `apps` apps.
async fn raw_reads(http: &reqwest::Client, serve: &Serve, apps: usize) -> Duration {
    use futures::StreamExt as _;
    let token = token(http, serve).await;
    let base = serve.base();
    let started = Instant::now();
    let list: Value = http
        .get(format!("{base}/v1/applications"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let ids: Vec<String> = list["result"]
        .as_array()
        .unwrap()
        .iter()
        .take(apps)
        .map(|a| a["app_id"].as_str().unwrap().to_owned())
        .collect();
    futures::stream::iter(ids.into_iter().map(|id| {
        let (http, token, base) = (http.clone(), token.clone(), base.clone());
        async move {
            let r = http
                .get(format!("{base}/v1/applications/{id}/clients"))
                .bearer_auth(&token)
                .send()
                .await
                .unwrap();
            let _ = r.bytes().await.unwrap();
        }
    }))
    .buffer_unordered(CONCURRENCY)
    .collect::<Vec<_>>()
    .await;
    started.elapsed()
}

/// Starts `tenantsync sync` on `manifests`; returns it and its first stdout line.
fn spawn_daemon(state: &Path, serve: &Serve, manifests: &Path, interval: &str) -> (Child, String) {
    spawn_reading_first_line(&mut process::sync_command(
        serve,
        state,
        &["--interval", interval],
        manifests,
    ))
}

fn parse_floor(dir: &Path) -> Duration {
    let started = Instant::now();
    for entry in std::fs::read_dir(dir).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        for doc in serde_yaml::Deserializer::from_str(&text) {
            std::hint::black_box(serde_yaml::Value::deserialize(doc).unwrap());
        }
    }
    started.elapsed()
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

#[tokio::main]
async fn main() {
    let http = reqwest::Client::new();
    let work = tempfile::tempdir().unwrap();
    let mut rows = Vec::new();
    let mut results = Vec::new();
    let only_memory = std::env::var("SCALE_ONLY_MEMORY").is_ok();
    for objects in [100usize, 1_000, 10_000]
        .into_iter()
        .filter(|_| !only_memory)
    {
        let dir = work.path().join(format!("n{objects}"));
        let manifests = dir.join("manifests");
        let apps = process::application_tree(&manifests, objects);
        let serve = Serve::start(&dir.join("server"));
        let state = dir.join("state");
        let m = manifests.to_str().unwrap();

        let started = Instant::now();
        let v = Command::new(bin()).args(["validate", m]).output().unwrap();
        assert!(v.status.success());
        let validate = started.elapsed();
        let parse = parse_floor(&manifests);

        let (r0, w0) = requests(&http, &serve).await;
        let (apply, _) = tenantsync(
            &serve,
            &state,
            &[
                "apply",
                "--yes",
                "--format",
                "json",
                "--concurrency",
                "8",
                m,
            ],
        );
        let (r1, w1) = requests(&http, &serve).await;
        let (plan, _) = tenantsync(
            &serve,
            &state,
            &["plan", "--detailed-exitcode", "--concurrency", "8", m],
        );
        let (r2, w2) = requests(&http, &serve).await;
        assert_eq!(w2, w1, "a no-change plan wrote");

        let raw_w = raw_writes(&http, &serve, apps).await;
        let raw_r = raw_reads(&http, &serve, apps).await;
        let server_peak = serve.peak_rss_mb();
        let writes = w1 - w0;
        let plan_reads = r2 - r1;
        rows.push(format!(
            "| {objects} | validate {:.0} ms (floor: YAML parse {:.0} ms, ×{:.1}) | apply {:.2} s, {:.0} objects/s, {writes} writes (floor {:.2} s, ratio {:.2}) | plan {:.0} ms, {plan_reads} reads = 1 + {apps} apps (floor {:.0} ms, ratio {:.2}) | server peak {:.0} MB |",
            secs(validate) * 1e3, secs(parse) * 1e3, secs(validate) / secs(parse),
            secs(apply), objects as f64 / secs(apply), secs(raw_w), secs(raw_w) / secs(apply),
            secs(plan) * 1e3, secs(raw_r) * 1e3, secs(raw_r) / secs(plan), server_peak
        ));
        results.push(json!({
            "objects": objects, "apps": apps,
            "validate_s": secs(validate), "yaml_parse_floor_s": secs(parse),
            "apply_s": secs(apply), "apply_objects_per_s": objects as f64 / secs(apply), "apply_writes": writes, "raw_writes_s": secs(raw_w),
            "plan_s": secs(plan), "plan_reads": plan_reads, "raw_reads_s": secs(raw_r), "server_peak_rss_mb": server_peak,
        }));
        let _ = r0;
    }

    // The daemon: watch-to-live latency over 20 saves (atomic renames), against 1,000 objects.
    let mut latencies = vec![Duration::ZERO];
    if !only_memory {
        latencies.clear();
        let (manifests, serve, state) = process::managed_tree(&work.path().join("daemon"), 1_000);
        let (mut daemon, _) = spawn_daemon(&state, &serve, &manifests, "1h");
        let token = token(&http, &serve).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        let list: Value = http
            .get(format!("{}/v1/applications", serve.base()))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let app0 = app_id(&list, "App 0");
        for sample in 0..20 {
            let text = application_yaml(0, &format!("sample {sample}"));
            let content = std::fs::read_to_string(manifests.join("apps-000.yaml")).unwrap();
            let rest: Vec<&str> = content.split("---\n").skip(1).collect();
            let new = format!("{text}---\n{}", rest.join("---\n"));
            let tmp = manifests.join(".apps-000.yaml.tmp");
            std::fs::write(&tmp, new).unwrap();
            let started = Instant::now();
            std::fs::rename(&tmp, manifests.join("apps-000.yaml")).unwrap();
            loop {
                let v: Value = http
                    .get(format!("{}/v1/applications/{app0}", serve.base()))
                    .bearer_auth(&token)
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                if v["result"]["app_description"] == format!("sample {sample}") {
                    break;
                }
                assert!(
                    started.elapsed() < Duration::from_secs(20),
                    "the change never went live"
                );
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            latencies.push(started.elapsed());
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let _ = daemon.kill();
        let _ = daemon.wait();
    }
    latencies.sort();
    let median = latencies[latencies.len() / 2];
    let p95 = latencies[latencies.len() * 95 / 100];

    // The daemon's memory with 8,000 managed objects across 10 resyncs.
    let (manifests, serve, state) = process::managed_tree(&work.path().join("memory"), 8_000);
    let (mut daemon, line) = spawn_daemon(&state, &serve, &manifests, "1s");
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap()
        .to_owned();
    let mut seen = 0.0;
    let mut rss = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(240);
    while rss.len() < 11 && Instant::now() < deadline {
        let text = http
            .get(format!("{url}/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let n = tenantsync::telemetry::prometheus::sample(
            &text,
            "tenantsync_sync_reconciles_total",
            &[("result", "success")],
        )
        .unwrap_or(0.0);
        if n > seen {
            seen = n;
            rss.push(rss_mb(daemon.id()));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let daemon_peak = peak_rss_mb(daemon.id());
    let _ = daemon.kill();
    let _ = daemon.wait();
    let first_resync = rss.get(1).copied().unwrap_or(0.0);
    let last = rss.last().copied().unwrap_or(0.0);

    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    println!("| objects | validate | first apply | no-change plan | memory |");
    println!("|---|---|---|---|---|");
    for r in &rows {
        println!("{r}");
    }
    println!();
    println!("| daemon ({cores} cores) | figure | target |");
    println!("|---|---|---|");
    println!(
        "| watch-to-live latency, 20 atomic-rename saves, 1,000 objects | median {:.0} ms, p95 {:.0} ms (floor: the {} ms debounce, ratio {:.2}) | median ≤ 300 ms |",
        secs(median) * 1e3,
        secs(p95) * 1e3,
        tenantsync::daemon::DEBOUNCE.as_millis(),
        secs(tenantsync::daemon::DEBOUNCE) / secs(median).max(1e-9)
    );
    println!("| RSS with 8,000 managed objects: after the first resync → after the 10th | {first_resync:.1} MB → {last:.1} MB (peak {daemon_peak:.1} MB, {} samples) | ≤ 80 MB, not growing |", rss.len());
    let report = json!({
        "date": time::OffsetDateTime::now_utc().date().to_string(),
        "cores": cores,
        "sizes": results,
        "watch_to_live_ms": {"median": secs(median) * 1e3, "p95": secs(p95) * 1e3, "samples": latencies.len()},
        "daemon_rss_mb": {"per_resync": rss, "peak": daemon_peak},
    });
    let out = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/results");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(
        out.join("scale.json"),
        serde_json::to_string_pretty(&report).unwrap(),
    )
    .unwrap();
}
