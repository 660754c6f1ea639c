//! Criterion benchmarks of the pure engine (no I/O): loading and validating manifests, a
//! no-change plan over 8,000 objects, and the three-way diff of one object.
//!
//! Run: `cargo bench --bench engine`.
#![allow(missing_docs)] // criterion_main! generates an undocumented `main`

use std::hint::black_box;
use std::path::PathBuf;

use criterion::{criterion_group, criterion_main, Criterion};

#[path = "../tests/support/mod.rs"]
mod support;
use serde_json::{json, Map, Value};
use tenantsync::manifest::{self, DesiredState, ProcessEnvironment, SourceFile};
use tenantsync::plan::diff::{diff_fields, Subject};
use tenantsync::plan::fields::ObjectKind;
use tenantsync::plan::{self, Observed, PlanContext, PlanOptions};
use tenantsync::state::address::Address;
use tenantsync::state::entry::{Ownership, StateEntry, StateSnapshot};

fn source(apps: usize) -> SourceFile {
    let docs: Vec<String> = (0..apps)
        .map(|i| support::application_yaml(i, ""))
        .collect();
    SourceFile {
        path: PathBuf::from("bench.yaml"),
        bytes: docs.join("---\n").into_bytes(),
    }
}

/// A state and live tenant that match `desired` exactly (every object already applied).
fn converged(desired: &DesiredState) -> (StateSnapshot, Observed) {
    let mut state = StateSnapshot {
        salt: b"salt".to_vec(),
        lineage: "l".into(),
        ..StateSnapshot::default()
    };
    let mut observed = Observed::default();
    for (n, app) in desired.apps().enumerate() {
        let key = &app.name;
        let app_id = format!("a{n}");
        let mut live_app: Map<String, Value> = app.spec.clone();
        live_app.insert("app_id".into(), json!(app_id));
        state.insert(StateEntry {
            address: Address::app(key),
            name: String::new(),
            app_id: Some(app_id.clone()),
            id: None,
            ownership: Ownership::Created,
            last_applied: app.spec.clone(),
            protect: false,
            applied_at: String::new(),
        });
        let mut clients = Vec::new();
        for (m, (c, _)) in desired.clients(key).enumerate() {
            let name = &c.name;
            let client_id = format!("c{n}-{m}");
            let mut live: Map<String, Value> = c.spec.clone();
            live.insert("client_id".into(), json!(client_id));
            live.insert("authentication_protocol".into(), json!("oidc"));
            clients.push(live);
            let address = Address::client(key, name);
            state.insert(StateEntry {
                address,
                name: String::new(),
                app_id: Some(app_id.clone()),
                id: Some(client_id),
                ownership: Ownership::Created,
                last_applied: c.spec.clone(),
                protect: false,
                applied_at: String::new(),
            });
        }
        observed.push_app(live_app, Some(clients), false);
    }
    (state, observed)
}

fn engine(c: &mut Criterion) {
    let small = source(250);
    c.bench_function("load and validate 1,000 objects", |b| {
        b.iter(|| {
            manifest::load(
                black_box(std::slice::from_ref(&small)),
                &ProcessEnvironment::default(),
            )
            .unwrap()
        });
    });

    let desired = manifest::load(&[source(1_600)], &ProcessEnvironment::default()).unwrap();
    let (state, observed) = converged(&desired);
    let options = PlanOptions::default();
    let context = PlanContext::default();
    c.bench_function("no-change plan of 8,000 objects", |b| {
        b.iter(|| {
            let p = plan::plan(black_box(&desired), &state, &observed, &options, &context).unwrap();
            assert!(!p.has_changes());
            p
        });
    });

    let d = json!({"name": "Web", "redirect_uris": ["https://a/cb", "https://b/cb"], "token_expiration": {"access_token_ttl": 60}});
    let live = json!({"name": "Web", "redirect_uris": ["https://b/cb", "https://a/cb"], "token_expiration": {"access_token_ttl": 3600, "refresh_token_ttl": 5}, "client_secret": "x"});
    let (d, live) = (
        d.as_object().unwrap().clone(),
        live.as_object().unwrap().clone(),
    );
    let none = tenantsync::model::FieldRules::default();
    c.bench_function("three-way diff of one client", |b| {
        b.iter(|| {
            diff_fields(
                Subject::catalogue(ObjectKind::App),
                black_box(&d),
                Some(&d),
                black_box(&live),
                &none,
                b"s",
            )
        });
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).measurement_time(std::time::Duration::from_secs(3));
    targets = engine
}
criterion_main!(benches);
