//! Benchmark: 2,000 applications with 3 clients each (8,000 objects). Measures the first apply
//! and a no-change plan (observe + plan, counting requests) against the embedded `local` target
//! and against `http` to the bundled server on loopback (served in-process, real sockets).
//!
//! Run: `cargo bench --bench plan_scale` (release). `APPS=…` changes the size.

mod common;

use std::time::{Duration, Instant};

use common::support::median;
use common::{apply_once, http_target, manifests, observe_and_plan, serve};
use tenantsync::manifest::DesiredState;
use tenantsync::plan;
use tenantsync::state::store::StateStore;
use tenantsync::targets::local::LocalTarget;
use tenantsync::targets::Target;

struct Figures {
    apply: Duration,
    writes: u64,
    plan: Duration,
    reads: u64,
}

async fn measure(
    target: &dyn Target,
    state: &StateStore,
    desired: &DesiredState,
    concurrency: usize,
) -> Figures {
    let started = Instant::now();
    let writes = apply_once(target, state, desired, concurrency).await;
    let apply = started.elapsed();

    let mut times = Vec::new();
    let mut reads = 0;
    for _ in 0..3 {
        let (r0, w0) = target.request_counts();
        let started = Instant::now();
        let p = observe_and_plan(target, state, desired, concurrency).await;
        times.push(started.elapsed());
        assert!(!p.has_changes(), "a no-change plan has changes");
        let (r1, w1) = target.request_counts();
        assert_eq!(w1, w0, "a plan wrote");
        reads = r1 - r0;
    }
    times.sort();
    Figures {
        apply,
        writes,
        plan: times[1],
        reads,
    }
}

/// POSTs the plan's create requests straight to the server (the same bodies, each with its own
/// `Idempotency-Key` as apply sends them; apps first, then their clients), 8 at a time, with no
/// planning and no state; the number of writes.
async fn raw_creates(addr: std::net::SocketAddr, plan: &plan::Plan) -> u64 {
    use futures::StreamExt as _;
    use tenantsync::model::kinds::AnyKind;
    use tenantsync::plan::{AppRef, Op};
    let client = reqwest::Client::new();
    let token: serde_json::Value = client
        .post(format!("http://{addr}/oidc/token"))
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
    let token = token["access_token"].as_str().unwrap().to_owned();
    let post = |path: String, body: serde_json::Map<String, serde_json::Value>| {
        let (client, token) = (client.clone(), token.clone());
        async move {
            let key = format!("raw-{:016x}", rand::random::<u64>());
            let r = client
                .post(format!("http://{addr}/cis{path}"))
                .bearer_auth(&token)
                .header("Idempotency-Key", key)
                .json(&body)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 201);
            r.json::<serde_json::Value>().await.unwrap()
        }
    };
    let apps: Vec<(String, serde_json::Map<String, serde_json::Value>)> = plan
        .changes
        .iter()
        .filter_map(|c| match c.op().ok()? {
            Op::CreateApp { body, .. } => Some((c.address.app_name().to_owned(), body.clone())),
            _ => None,
        })
        .collect();
    let app_ids: std::collections::HashMap<String, String> =
        futures::stream::iter(apps.into_iter().map(|(key, body)| {
            let created = post("/v1/applications".to_owned(), body);
            async move {
                (
                    key,
                    created.await["result"]["app_id"]
                        .as_str()
                        .unwrap()
                        .to_owned(),
                )
            }
        }))
        .buffer_unordered(8)
        .collect()
        .await;
    let clients: Vec<(String, serde_json::Map<String, serde_json::Value>)> = plan
        .changes
        .iter()
        .filter_map(|c| match c.op().ok()? {
            Op::Create {
                kind: AnyKind::Client,
                app: Some(AppRef::CreatedInThisPlan(key)),
                body,
                ..
            } => Some((app_ids[key].clone(), body.clone())),
            _ => None,
        })
        .collect();
    let writes = (app_ids.len() + clients.len()) as u64;
    futures::stream::iter(
        clients
            .into_iter()
            .map(|(app_id, body)| post(format!("/v1/applications/{app_id}/clients"), body)),
    )
    .buffer_unordered(8)
    .collect::<Vec<_>>()
    .await;
    writes
}

fn main() {
    let apps: usize = std::env::var("APPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2_000);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let desired = manifests(apps);
        let objects = desired.app_count() + desired.client_count();

        let dir = tempfile::tempdir().unwrap();
        let local = LocalTarget::open(&dir.path().join("local"), true).unwrap();
        let state = StateStore::open(&dir.path().join("state-local")).unwrap();
        let l = measure(&local, &state, &desired, 8).await;

        let (addr, _server) = serve(&dir.path().join("server")).await;
        let http = http_target(addr);
        let state = StateStore::open(&dir.path().join("state-http")).unwrap();
        let h = measure(&http, &state, &desired, 8).await;

        // The first apply of RATIO_APPS applications with 3 clients each over HTTP against the
        // server's own create throughput for the same bodies at the same concurrency: each
        // trial gives both a fresh server, in alternating order; the medians are compared.
        let ratio_apps: usize = std::env::var("RATIO_APPS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(1_000);
        let ratio_desired = manifests(ratio_apps);
        let (mut apply_rates, mut raw_rates) = (Vec::new(), Vec::new());
        for trial in 0..5 {
            let dir = tempfile::tempdir().unwrap();
            for side in [trial % 2, 1 - trial % 2] {
                let (addr, _server) = serve(&dir.path().join(format!("server-{side}"))).await;
                let target = http_target(addr);
                let state = StateStore::open(&dir.path().join(format!("state-{side}"))).unwrap();
                if side == 0 {
                    let started = Instant::now();
                    let writes = apply_once(&target, &state, &ratio_desired, 8).await;
                    apply_rates.push(writes as f64 / started.elapsed().as_secs_f64());
                } else {
                    let plan = observe_and_plan(&target, &state, &ratio_desired, 8).await;
                    let started = Instant::now();
                    let writes = raw_creates(addr, &plan).await;
                    raw_rates.push(writes as f64 / started.elapsed().as_secs_f64());
                }
            }
        }
        let (apply_rate, raw_rate) = (median(apply_rates), median(raw_rates));

        println!("| {objects} objects ({apps} apps × 4), concurrency 8 | local | http (loopback) | target |");
        println!("|---|---|---|---|");
        println!(
            "| first apply | {:.2} s ({:.0} objects/s, {} writes) | {:.2} s ({:.0} objects/s, {} writes) | ≥ 300 objects/s |",
            l.apply.as_secs_f64(), objects as f64 / l.apply.as_secs_f64(), l.writes,
            h.apply.as_secs_f64(), objects as f64 / h.apply.as_secs_f64(), h.writes
        );
        println!(
            "| no-change plan | {:.0} ms, {} reads | {:.0} ms, {} reads | < 1 s local, < 3 s http; ≤ 1 + {apps} reads |",
            l.plan.as_secs_f64() * 1e3, l.reads, h.plan.as_secs_f64() * 1e3, h.reads
        );
        println!(
            "| first apply of {ratio_apps} apps + {} clients: creates/s vs the server's raw POSTs of the same bodies (concurrency 8, medians of 5 alternating trials on fresh servers) | | {apply_rate:.0} vs {raw_rate:.0} = {:.2} | ≥ 0.7 |",
            2 * ratio_apps,
            apply_rate / raw_rate
        );
    });
}
