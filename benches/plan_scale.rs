//! Benchmark: 2,000 applications with 3 clients each (8,000 objects). Measures the first apply
//! and a no-change plan (observe + plan, counting requests) against the embedded `local` target
//! and against `http` to the bundled server on loopback (served in-process, real sockets).
//!
//! Run: `cargo bench --bench plan_scale` (release). `APPS=…` changes the size.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tenantsync::manifest::{self, DesiredState, ProcessEnvironment, SourceFile};
use tenantsync::plan::{self, PlanOptions};
use tenantsync::reconcile::{execute, pipeline};
use tenantsync::server::auth::ManagementCredential;
use tenantsync::server::{self as api_server, ServerState};
use tenantsync::state::store::StateStore;
use tenantsync::targets::http::{Credentials, HttpTarget};
use tenantsync::targets::local::LocalTarget;
use tenantsync::targets::Target;
use tenantsync::tenant::{Permissions, Tenant, TenantStore};

fn manifests(apps: usize) -> DesiredState {
    let docs: Vec<String> = (0..apps)
        .map(|i| {
            format!(
                "apiVersion: tenantsync/v1
kind: Application
metadata: {{name: app-{i}}}
spec:
  app_name: Application {i}
  app_description: Generated {i}
  clients:
    - name: Web
      redirect_uris: [https://app{i}.example.com/cb]
      token_expiration: {{access_token_ttl: 3600, refresh_token_ttl: 1209600}}
    - name: iOS
      client_type: native
      redirect_uris: [com.example.app{i}://cb]
      pkce: enforcePkceInsteadOfClientCredentials
    - name: Backend
      resources: [api-{i}]
"
            )
        })
        .collect();
    let source = SourceFile {
        path: PathBuf::from("generated.yaml"),
        bytes: docs.join("---\n").into_bytes(),
    };
    manifest::load(&[source], &ProcessEnvironment::default())
        .expect("generated manifests are valid")
}

/// Observes the target and plans: what a `plan` does.
async fn observe_and_plan(
    target: &dyn Target,
    state: &StateStore,
    desired: &DesiredState,
    concurrency: usize,
) -> plan::Plan {
    let snapshot = state.snapshot().unwrap();
    pipeline::plan_once(
        target,
        desired,
        &snapshot,
        &PlanOptions::default(),
        concurrency,
    )
    .await
    .unwrap()
}

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
    let p = observe_and_plan(target, state, desired, concurrency).await;
    let options = execute::ExecuteOptions {
        concurrency,
        verify_live: false,
        stop: None,
    };
    let report = execute::execute(&p, target, state, options, &|_| {})
        .await
        .unwrap();
    assert_eq!(report.failed(), 0);
    let apply = started.elapsed();
    let (_, writes) = target.request_counts();

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
        let objects = desired.apps.len() + desired.client_count();

        let dir = tempfile::tempdir().unwrap();
        let local = LocalTarget::open(&dir.path().join("local"), true).unwrap();
        let state = StateStore::open(&dir.path().join("state-local")).unwrap();
        let l = measure(&local, &state, &desired, 8).await;

        let store = TenantStore::open(&dir.path().join("server")).unwrap();
        let tenant = Tenant::new(store, "http://127.0.0.1").unwrap();
        let credentials = vec![ManagementCredential::new("bench", "bench-secret", Permissions::all())];
        let server_state = Arc::new(ServerState::new(tenant, credentials));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(api_server::serve(listener, server_state, "/cis", std::future::pending()));
        let http = HttpTarget::new(
            &format!("http://{addr}/cis"),
            Credentials::ClientCredentials { client_id: "bench".into(), client_secret: "bench-secret".into() },
            None,
        )
        .unwrap();
        let state = StateStore::open(&dir.path().join("state-http")).unwrap();
        let h = measure(&http, &state, &desired, 8).await;

        // The server's own create throughput at the same concurrency, in the same run: raw
        // POSTs of clients, no planning, no state.
        let client = reqwest::Client::new();
        let token: serde_json::Value = client
            .post(format!("http://{addr}/oidc/token"))
            .form(&[("grant_type", "client_credentials"), ("client_id", "bench"), ("client_secret", "bench-secret")])
            .send().await.unwrap().json().await.unwrap();
        let token = token["access_token"].as_str().unwrap().to_owned();
        // The same request mix as the apply: one app (with its default client) per app, then
        // its extra clients.
        let started = Instant::now();
        use futures::StreamExt as _;
        let new_apps: Vec<String> = futures::stream::iter((0..apps).map(|i| {
            let (client, token) = (client.clone(), token.clone());
            async move {
                let r = client
                    .post(format!("http://{addr}/cis/v1/applications"))
                    .bearer_auth(&token)
                    .json(&serde_json::json!({"app_name": format!("Raw {i}"), "client_display_name": "Web", "first_client": {"name": "Web", "redirect_uris": [format!("https://raw{i}.example.com/cb")]}}))
                    .send().await.unwrap();
                assert_eq!(r.status(), 201);
                let v: serde_json::Value = r.json().await.unwrap();
                v["result"]["app_id"].as_str().unwrap().to_owned()
            }
        }))
        .buffer_unordered(8)
        .collect()
        .await;
        let extra = h.writes as usize - apps;
        futures::stream::iter((0..extra).map(|i| {
            let (client, token, app) = (client.clone(), token.clone(), new_apps[i % new_apps.len()].clone());
            async move {
                let r = client
                    .post(format!("http://{addr}/cis/v1/applications/{app}/clients"))
                    .bearer_auth(&token)
                    .json(&serde_json::json!({"name": format!("raw {i}"), "redirect_uris": ["https://raw.example.com/cb"]}))
                    .send().await.unwrap();
                assert_eq!(r.status(), 201);
            }
        }))
        .buffer_unordered(8)
        .collect::<Vec<_>>()
        .await;
        let raw_count = h.writes as usize;
        let raw = started.elapsed();
        let raw_rate = raw_count as f64 / raw.as_secs_f64();
        let apply_rate = h.writes as f64 / h.apply.as_secs_f64();

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
            "| apply creates/s vs raw POSTs of the same apps and clients (same run, concurrency 8) | | {apply_rate:.0} vs {raw_rate:.0} = {:.2} | ≥ 0.7 |",
            apply_rate / raw_rate
        );
    });
}
