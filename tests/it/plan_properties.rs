//! Property: for random manifests and random live states on the embedded target, carrying out
//! the plan and planning again gives an empty plan, also after random changes made outside
//! tenantsync (drift, pre-existing objects to adopt, deleted clients). And over HTTP against a
//! server whose responses vary (optional fields left out, lists shuffled, as upstream may):
//! apply, then the plan is empty and a second apply sends no write.

use std::path::PathBuf;

use proptest::prelude::*;
use serde_json::{json, Map, Value};
use tenantsync::manifest::{self, DesiredState, ProcessEnvironment, SourceFile};
use tenantsync::model::kinds::AnyKind;
use tenantsync::plan::{self, PlanOptions};
use tenantsync::reconcile::{execute, pipeline};
use tenantsync::server::auth::ManagementCredential;
use tenantsync::server::ServerState;
use tenantsync::state::store::StateStore;
use tenantsync::targets::http::{Credentials, HttpTarget};
use tenantsync::targets::local::LocalTarget;
use tenantsync::targets::Target;
use tenantsync::tenant::{Permissions, Responses, Tenant, TenantStore};

#[derive(Debug, Clone)]
struct ClientSpec {
    fields: Vec<(String, Value)>,
}

#[derive(Debug, Clone)]
struct AppSpec {
    fields: Vec<(String, Value)>,
    clients: Vec<ClientSpec>,
    preexisting: bool,
}

fn optional(
    name: &'static str,
    value: impl Strategy<Value = Value>,
) -> impl Strategy<Value = Option<(String, Value)>> {
    proptest::option::of(value.prop_map(move |v| (name.to_owned(), v)))
}

fn subset(items: &'static [&'static str]) -> impl Strategy<Value = Value> {
    proptest::sample::subsequence(items.to_vec(), 0..=items.len()).prop_map(|v| json!(v))
}

/// A subset of ids, written as references to objects tenantsync does not manage (`{id: …}`).
fn id_subset(items: &'static [&'static str]) -> impl Strategy<Value = Value> {
    proptest::sample::subsequence(items.to_vec(), 0..=items.len())
        .prop_map(|v| Value::Array(v.into_iter().map(|id| json!({ "id": id })).collect()))
}

fn client_spec() -> impl Strategy<Value = ClientSpec> {
    (
        optional("description", "[a-z]{1,8}".prop_map(Value::from)),
        optional(
            "redirect_uris",
            subset(&[
                "https://a.example.com/cb",
                "https://b.example.com/cb",
                "http://localhost:3000/cb",
            ]),
        ),
        optional(
            "token_expiration",
            (
                proptest::option::of(0u64..5000),
                proptest::option::of(0u64..5000),
                proptest::option::of(0u64..5000),
            )
                .prop_map(|(a, r, m)| {
                    let mut o = Map::new();
                    if let Some(a) = a {
                        o.insert("access_token_ttl".into(), json!(a));
                    }
                    if let Some(r) = r {
                        o.insert("refresh_token_ttl".into(), json!(r));
                    }
                    if let Some(m) = m {
                        o.insert("max_refresh_rotate".into(), json!(m));
                    }
                    Value::Object(o)
                }),
        ),
        optional(
            "default_custom_claims",
            subset(&["email", "fname", "groups"]),
        ),
        optional(
            "response_types",
            subset(&["code", "id_token"])
                .prop_filter("non-empty", |v| !v.as_array().unwrap().is_empty()),
        ),
        optional("enforce_par", any::<bool>().prop_map(Value::from)),
        optional(
            "ciba_authorization",
            any::<bool>().prop_map(|b| json!({"enabled": b})),
        ),
        optional(
            "pkce",
            prop_oneof![
                Just(json!("enforcePkceInsteadOfClientCredentials")),
                Just(json!("allowPkceAlongsideClientCredentials"))
            ],
        ),
        // Write-only: never returned, compared with the last applied value.
        optional("role_ids", id_subset(&["support", "billing", "admin"])),
        optional(
            "client_type",
            prop_oneof![Just(json!("web")), Just(json!("native"))],
        ),
    )
        .prop_map(|(a, b, c, d, e, f, g, h, i, j)| ClientSpec {
            fields: [a, b, c, d, e, f, g, h, i, j]
                .into_iter()
                .flatten()
                // A native client's https redirect URIs are fine; keep the generated ones valid.
                .collect(),
        })
}

fn app_spec() -> impl Strategy<Value = AppSpec> {
    (
        optional("app_description", "[a-z]{1,8}".prop_map(Value::from)),
        optional("allow_public_signup", any::<bool>().prop_map(Value::from)),
        optional(
            "invite_member_email_expiration_minutes",
            (1u64..5000).prop_map(Value::from),
        ),
        optional("service_providers", id_subset(&["sp1", "sp2", "sp3"])),
        optional(
            "login_uri",
            (0u32..3).prop_map(|n| json!(format!("https://login{n}.example.com"))),
        ),
        proptest::collection::vec(client_spec(), 1..4),
        any::<bool>(),
    )
        .prop_map(|(a, b, c, d, e, clients, preexisting)| AppSpec {
            fields: [a, b, c, d, e].into_iter().flatten().collect(),
            clients,
            preexisting,
        })
}

fn yaml(apps: &[AppSpec]) -> String {
    let mut docs = Vec::new();
    for (i, app) in apps.iter().enumerate() {
        let mut spec = Map::new();
        spec.insert("app_name".into(), json!(format!("App {i}")));
        for (k, v) in &app.fields {
            spec.insert(k.clone(), v.clone());
        }
        let clients: Vec<Value> = app
            .clients
            .iter()
            .enumerate()
            .map(|(j, c)| {
                let mut m = Map::new();
                m.insert("name".into(), json!(format!("Client {j}")));
                for (k, v) in &c.fields {
                    m.insert(k.clone(), v.clone());
                }
                Value::Object(m)
            })
            .collect();
        spec.insert("clients".into(), Value::Array(clients));
        let doc = json!({"apiVersion": "tenantsync/v1", "kind": "Application", "metadata": {"name": format!("app-{i}")}, "spec": spec});
        docs.push(serde_yaml::to_string(&doc).unwrap());
    }
    docs.join("---\n")
}

fn desired(apps: &[AppSpec]) -> DesiredState {
    let source = SourceFile {
        path: PathBuf::from("gen.yaml"),
        bytes: yaml(apps).into_bytes(),
    };
    manifest::load(&[source], &ProcessEnvironment::default())
        .unwrap_or_else(|e| panic!("{e}\n{}", yaml(apps)))
}

/// What `apply` does, through the one reconcile pipeline.
async fn plan_and_apply(
    target: &dyn Target,
    state: &StateStore,
    desired: &DesiredState,
) -> plan::Plan {
    let options = execute::ExecuteOptions {
        concurrency: 4,
        verify_live: false,
        stop: Vec::new(),
        gate: Default::default(),
    };
    let run = pipeline::WriteRun {
        plan_options: PlanOptions::default(),
        execute: options,
        rebind: false,
        note: pipeline::HistoryNote {
            mode: "test".to_owned(),
            revision: None,
            ..Default::default()
        },
        hold_drift: false,
        reads: pipeline::Reads::all(),
    };
    let (p, applied) = pipeline::apply_once(target, state, desired, run, &|_| {})
        .await
        .unwrap();
    let report = applied.report;
    assert_eq!(report.failed(), 0, "{report:?}");
    p.check().unwrap_or_else(|d| panic!("{d:?}"));
    p
}

/// What `plan` does.
async fn empty_plan(target: &dyn Target, state: &StateStore, desired: &DesiredState) -> plan::Plan {
    let snapshot = state.snapshot().unwrap();
    pipeline::plan_once(target, desired, &snapshot, &PlanOptions::default(), 4)
        .await
        .unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn apply_then_plan_is_empty(apps in proptest::collection::vec(app_spec(), 1..4), edits in proptest::collection::vec((0usize..4, 0u8..4), 0..4)) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async {
            let dir = tempfile::tempdir().unwrap();
            let target = LocalTarget::open(&dir.path().join("local"), true).unwrap();
            let state = StateStore::open(&dir.path().join("state")).unwrap();
            let d = desired(&apps);
            // Some apps exist before tenantsync runs (created with different settings): adopted.
            for (i, app) in apps.iter().enumerate().filter(|(_, a)| a.preexisting) {
                let body = json!({"app_name": format!("App {i}"), "app_description": "pre-existing", "client_display_name": "Client 0",
                                  "first_client": {"name": "Client 0", "redirect_uris": [], "description": "old"}});
                target.create_app(body.as_object().unwrap(), &format!("pre-{i}")).await.unwrap();
                let _ = app;
            }
            plan_and_apply(&target, &state, &d).await;
            let second = empty_plan(&target, &state, &d).await;
            prop_assert!(!second.has_changes(), "not converged:\n{}\n{}", yaml(&apps), serde_json::to_string_pretty(&second).unwrap());

            // Changes made outside tenantsync are corrected by the next apply.
            let live_apps = target.list_apps().await.unwrap();
            for (which, what) in &edits {
                let Some(app) = live_apps.get(which % live_apps.len()) else { continue };
                let app_id = app["app_id"].as_str().unwrap();
                let clients = target.list_clients(app_id).await.unwrap();
                match what {
                    0 => { target.update(AnyKind::Application, None, Some(app_id), json!({"app_description": "drifted", "allow_public_signup": true}).as_object().unwrap()).await.unwrap(); }
                    1 => if let Some(c) = clients.first() {
                        let body = json!({"token_expiration": {"access_token_ttl": 7}, "redirect_uris": ["https://z.example.com/cb"]});
                        target.update(AnyKind::Client, Some(app_id), Some(c["client_id"].as_str().unwrap()), body.as_object().unwrap()).await.unwrap();
                    },
                    2 => if let Some(c) = clients.last() {
                        target.delete(AnyKind::Client, Some(app_id), c["client_id"].as_str().unwrap()).await.unwrap();
                    },
                    _ => { target.update(AnyKind::Application, None, Some(app_id), json!({"service_providers": ["zz"]}).as_object().unwrap()).await.unwrap(); }
                }
            }
            plan_and_apply(&target, &state, &d).await;
            let third = empty_plan(&target, &state, &d).await;
            prop_assert!(!third.has_changes(), "not converged after drift:\n{}\n{}", yaml(&apps), serde_json::to_string_pretty(&third).unwrap());
            Ok(())
        })?;
    }
}

/// A real server (the `serve` router over a temp sled store) on 127.0.0.1:0 whose responses
/// vary with `seed`, and an HTTP target for it.
async fn varied_server(dir: &std::path::Path, seed: u64) -> HttpTarget {
    let store = TenantStore::open(&dir.join("store")).unwrap();
    let tenant = Tenant::new(store, "http://127.0.0.1")
        .unwrap()
        .with_responses(Responses::varied(seed));
    let credentials = vec![ManagementCredential::new(
        "admin",
        "admin-secret",
        Permissions::all(),
    )];
    let state = std::sync::Arc::new(ServerState::new(tenant, credentials));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(tenantsync::server::serve(
        listener,
        state,
        "/cis",
        std::future::pending(),
    ));
    HttpTarget::new(
        &format!("http://{addr}/cis"),
        Credentials::ClientCredentials {
            client_id: "admin".into(),
            client_secret: "admin-secret".into(),
        },
        None,
    )
    .unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn over_http_with_varied_responses_apply_converges(
        apps in proptest::collection::vec(app_spec(), 1..4),
        seed in any::<u64>(),
    ) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async {
            let dir = tempfile::tempdir().unwrap();
            let target = varied_server(dir.path(), seed).await;
            let state = StateStore::open(&dir.path().join("state")).unwrap();
            let d = desired(&apps);
            plan_and_apply(&target, &state, &d).await;
            let second = empty_plan(&target, &state, &d).await;
            prop_assert!(!second.has_changes(), "seed {seed}: not converged:\n{}\n{}", yaml(&apps), serde_json::to_string_pretty(&second).unwrap());
            // A second apply sends no write.
            let (_, writes_before) = target.request_counts();
            plan_and_apply(&target, &state, &d).await;
            let (_, writes_after) = target.request_counts();
            prop_assert_eq!(writes_before, writes_after, "seed {}: the second apply wrote", seed);
            Ok(())
        })?;
    }
}

/// One daemon round reading what `reads` says; every write it plans is on an application it
/// read in that round (or one it creates).
async fn round_reading(
    target: &dyn Target,
    state: &StateStore,
    desired: &DesiredState,
    reads: pipeline::Reads,
) -> plan::Plan {
    let run = pipeline::WriteRun {
        plan_options: PlanOptions {
            prune: true,
            ..PlanOptions::default()
        },
        execute: execute::ExecuteOptions {
            concurrency: 4,
            verify_live: false,
            stop: Vec::new(),
            gate: Default::default(),
        },
        rebind: false,
        note: pipeline::HistoryNote {
            mode: "test".to_owned(),
            revision: None,
            ..Default::default()
        },
        hold_drift: false,
        reads,
    };
    let (p, applied) = pipeline::apply_once(target, state, desired, run, &|_| {})
        .await
        .unwrap();
    assert_eq!(applied.report.failed(), 0, "{:?}", applied.report);
    if let Some(read) = &p.refreshed {
        for change in p
            .changes
            .iter()
            .filter(|c| c.action != plan::Action::Create)
        {
            let kind = change.kind();
            let read_it = match kind {
                AnyKind::Application => read.reads_application(change.app_id.as_deref().unwrap()),
                kind => read.lists(kind, change.app_id.as_deref()),
            };
            assert!(
                read_it,
                "{} was written without a read of it in its round",
                change.name
            );
        }
        for change in &p.changes {
            if let Some(app_id) = &change.app_id {
                assert!(
                    read.reads_application(app_id),
                    "{} was written without a read in its round",
                    change.name
                );
            }
        }
    }
    p
}

#[derive(Debug, Clone)]
enum Step {
    /// The manifests switch to the other version (a commit, a saved file).
    Edit,
    /// Out of band: an application's managed field changed, or its last client deleted.
    LiveChange(usize, bool),
    /// A targeted round (what a manifest change triggers).
    Targeted,
    /// A sweep tick reading these managed applications (by position).
    Sweep(Vec<usize>),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        Just(Step::Edit),
        (0usize..4, any::<bool>()).prop_map(|(i, delete)| Step::LiveChange(i, delete)),
        Just(Step::Targeted),
        proptest::collection::vec(0usize..4, 0..3).prop_map(Step::Sweep),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    /// The daemon's reads: targeted rounds and sweep slices interleaved with manifest edits and
    /// live changes never write an object they did not read in the same round, never create a
    /// second copy of anything, and once a sweep has read everything the tenant equals the
    /// manifests (heal).
    #[test]
    fn targeted_rounds_and_sweep_slices_converge_without_duplicates(
        first in proptest::collection::vec(app_spec(), 1..4),
        second in proptest::collection::vec(app_spec(), 1..4),
        steps in proptest::collection::vec(step(), 1..8),
    ) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async {
            let dir = tempfile::tempdir().unwrap();
            let target = LocalTarget::open(&dir.path().join("local"), true).unwrap();
            let state = StateStore::open(&dir.path().join("state")).unwrap();
            let versions = [desired(&first), desired(&second)];
            let mut current = 0;
            round_reading(&target, &state, &versions[current], pipeline::Reads::all()).await;
            for step in &steps {
                let managed: Vec<String> = {
                    let ids: std::collections::BTreeSet<String> =
                        state.snapshot().unwrap().app_entries().map(|(_, e)| e.application_id().to_owned()).collect();
                    ids.into_iter().collect()
                };
                match step {
                    Step::Edit => {
                        current = 1 - current;
                        round_reading(&target, &state, &versions[current], pipeline::Reads { refresh: plan::Refresh::Changed, ..Default::default() }).await;
                    }
                    Step::LiveChange(i, delete) => {
                        let Some(app_id) = managed.get(i % managed.len().max(1)) else { continue };
                        if *delete {
                            if let Some(c) = target.list_clients(app_id).await.unwrap().last() {
                                target.delete(AnyKind::Client, Some(app_id), c["client_id"].as_str().unwrap()).await.unwrap();
                            }
                        } else {
                            target.update(AnyKind::Application, None, Some(app_id), json!({"app_description": "changed by hand"}).as_object().unwrap()).await.unwrap();
                        }
                    }
                    Step::Targeted => {
                        round_reading(&target, &state, &versions[current], pipeline::Reads { refresh: plan::Refresh::Changed, ..Default::default() }).await;
                    }
                    Step::Sweep(slice) => {
                        let also = slice.iter().filter_map(|i| managed.get(i % managed.len().max(1)).cloned()).collect();
                        round_reading(&target, &state, &versions[current], pipeline::Reads { refresh: plan::Refresh::Changed, also, parentless: false }).await;
                    }
                }
            }
            // The sweep's pass over every managed application: then nothing is left to do.
            let all: std::collections::BTreeSet<String> =
                state.snapshot().unwrap().app_entries().map(|(_, e)| e.application_id().to_owned()).collect();
            round_reading(&target, &state, &versions[current], pipeline::Reads { refresh: plan::Refresh::Changed, also: all, parentless: true }).await;
            let last = empty_plan(&target, &state, &versions[current]).await;
            prop_assert!(!last.has_changes(), "not converged:\n{}", serde_json::to_string_pretty(&last).unwrap());
            let live = target.list_apps().await.unwrap();
            prop_assert_eq!(live.len(), versions[current].app_count(), "{:?}", live);
            Ok(())
        })?;
    }
}
