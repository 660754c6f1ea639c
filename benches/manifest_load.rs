//! Benchmark: read and validate a generated manifest tree of 10,000 objects (2,500 applications
//! with 3 clients each), and lint it, against the floor of parsing the same YAML alone.
//!
//! Run: `cargo bench --bench manifest_load` (release build). Prints a markdown table.

use std::path::PathBuf;
use std::time::Instant;

use tenantsync::manifest::{self, files, ProcessEnvironment};

#[path = "../tests/support/mod.rs"]
mod support;
use support::median;

fn app_yaml(i: usize) -> String {
    format!(
        "apiVersion: tenantsync/v1
kind: Application
metadata:
  name: app-{i}
  labels: {{team: t{t}}}
spec:
  app_name: Application {i}
  app_description: Generated application number {i}
  login_uri: https://app{i}.example.com/login
  clients:
    - name: Web
      redirect_uris: [https://app{i}.example.com/cb, http://localhost:3000/cb]
      token_expiration: {{access_token_ttl: 3600, refresh_token_ttl: 1209600}}
      default_custom_claims: [email, fname]
    - name: iOS
      client_type: native
      redirect_uris: [com.example.app{i}://cb]
      pkce: enforcePkceInsteadOfClientCredentials
    - name: Backend
      redirect_uris: []
      resources: [{{id: api-{i}}}]
      token_expiration: {{access_token_ttl: \"${{env:BENCH_TTL:-300}}\"}}
",
        t = i % 17
    )
}

fn main() {
    let apps = 2_500;
    let dir = tempfile::tempdir().unwrap();
    for chunk in 0..25 {
        let text: Vec<String> = (chunk * 100..(chunk + 1) * 100).map(app_yaml).collect();
        std::fs::write(
            dir.path().join(format!("apps-{chunk:02}.yaml")),
            text.join("---\n"),
        )
        .unwrap();
    }
    let paths = vec![PathBuf::from(dir.path())];
    let runs = 7;

    let mut load = Vec::new();
    let mut objects = 0;
    for _ in 0..runs {
        let started = Instant::now();
        let sources = files::read_sources(&paths).unwrap();
        let state = manifest::load(&sources, &ProcessEnvironment::default()).unwrap();
        load.push(started.elapsed());
        objects = state.app_count() + state.client_count();
    }

    // `tenantsync lint`: read + validate + the security policy (target: under 0.5 s).
    let mut lint = Vec::new();
    let mut found = 0;
    for _ in 0..runs {
        let started = Instant::now();
        let sources = files::read_sources(&paths).unwrap();
        let state = manifest::load(&sources, &ProcessEnvironment::default()).unwrap();
        let findings = tenantsync::policy::lint(&state, &tenantsync::policy::Policy::default());
        lint.push(started.elapsed());
        found = findings.len();
    }

    let sources = files::read_sources(&paths).unwrap();
    let mut parse_only = Vec::new();
    for _ in 0..runs {
        let started = Instant::now();
        for s in &sources {
            let text = std::str::from_utf8(&s.bytes).unwrap();
            let docs = manifest::yaml::parse(text).unwrap();
            std::hint::black_box(docs);
        }
        parse_only.push(started.elapsed());
    }
    let mut serde_yaml_floor = Vec::new();
    for _ in 0..runs {
        let started = Instant::now();
        for s in &sources {
            use serde::Deserialize as _;
            let text = std::str::from_utf8(&s.bytes).unwrap();
            for doc in serde_yaml::Deserializer::from_str(text) {
                std::hint::black_box(serde_yaml::Value::deserialize(doc).unwrap());
            }
        }
        serde_yaml_floor.push(started.elapsed());
    }
    let load = median(load);
    let lint = median(lint);
    let parse = median(parse_only);
    let floor = median(serde_yaml_floor);
    assert_eq!(objects, apps * 4);
    println!("| measurement ({objects} objects, {apps} apps, median of {runs}) | time | ratio to serde_yaml parse |");
    println!("|---|---|---|");
    println!(
        "| read + validate (`validate`) | {:.0} ms | {:.2} |",
        load.as_secs_f64() * 1e3,
        load.as_secs_f64() / floor.as_secs_f64()
    );
    println!(
        "| read + validate + policy (`lint`, {found} findings; target < 500 ms) | {:.0} ms | {:.2} |",
        lint.as_secs_f64() * 1e3,
        lint.as_secs_f64() / floor.as_secs_f64()
    );
    println!(
        "| positioned YAML parse alone | {:.0} ms | {:.2} |",
        parse.as_secs_f64() * 1e3,
        parse.as_secs_f64() / floor.as_secs_f64()
    );
    println!(
        "| floor: serde_yaml parse to Value | {:.0} ms | 1.00 |",
        floor.as_secs_f64() * 1e3
    );
}
