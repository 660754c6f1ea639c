//! What the plan_scale and postgres_state benchmarks share: the generated manifests, the
//! in-process bundled server, and plan / apply as the commands run them.

use std::path::PathBuf;
use std::sync::Arc;

#[path = "../../tests/support/mod.rs"]
pub mod support;

use tenantsync::manifest::{self, DesiredState, ProcessEnvironment, SourceFile};
use tenantsync::plan::{self, PlanOptions};
use tenantsync::reconcile::{execute, pipeline};
use tenantsync::server::auth::ManagementCredential;
use tenantsync::server::{self as api_server, ServerState};
use tenantsync::state::store::StateStore;
use tenantsync::targets::http::{Credentials, HttpTarget};
use tenantsync::targets::Target;
use tenantsync::tenant::{Permissions, Tenant, TenantStore};

/// `apps` applications with 3 clients each (the default `Web`, `iOS`, `Backend`).
pub fn manifests(apps: usize) -> DesiredState {
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
      resources: [{{id: api-{i}}}]
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
pub async fn observe_and_plan(
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

/// Serves the bundled API on a free loopback port from a fresh store at `dir`.
pub async fn serve(dir: &std::path::Path) -> (std::net::SocketAddr, tokio::task::JoinHandle<()>) {
    let store = TenantStore::open(dir).unwrap();
    let tenant = Tenant::new(store, "http://127.0.0.1").unwrap();
    let credentials = vec![ManagementCredential::new(
        "bench",
        "bench-secret",
        Permissions::all(),
    )];
    let server_state = Arc::new(ServerState::new(tenant, credentials));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let handle = tokio::spawn(async move {
        let _ = api_server::serve(listener, server_state, "/cis", std::future::pending()).await;
    });
    (addr, handle)
}

pub fn http_target(addr: std::net::SocketAddr) -> HttpTarget {
    HttpTarget::new(
        &format!("http://{addr}/cis"),
        Credentials::ClientCredentials {
            client_id: "bench".into(),
            client_secret: "bench-secret".into(),
        },
        None,
    )
    .unwrap()
}

/// Plans and applies once (what `apply` does); the writes issued so far.
pub async fn apply_once(
    target: &dyn Target,
    state: &StateStore,
    desired: &DesiredState,
    concurrency: usize,
) -> u64 {
    let p = observe_and_plan(target, state, desired, concurrency).await;
    let options = execute::ExecuteOptions {
        concurrency,
        verify_live: false,
        stop: Vec::new(),
        gate: Default::default(),
    };
    let report = execute::execute(&p, target, state, options, &|_| {})
        .await
        .unwrap();
    assert_eq!(report.failed(), 0);
    target.request_counts().1
}
