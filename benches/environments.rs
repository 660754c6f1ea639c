//! One plan across environments against three single plans, end to end on a release build (run
//! through `benches/run.sh`): three `tenantsync serve`s (dev, staging, prod), one repository of
//! N applications with 2 clients each (N = 1,000; `ENV_BENCH_APPS` picks another) applied to
//! each, then `plan --all-envs` timed against `plan --env dev`, `--env staging` and
//! `--env prod` run one after another (median of 3 runs each). Prints a markdown table and
//! writes `benches/results/environments.json`.

#[path = "common/process.rs"]
mod process;

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use process::support::median;
use process::{bin, Serve};
use serde_json::json;

const ENVS: [&str; 3] = ["dev", "staging", "prod"];
const RUNS: usize = 3;

fn run(dir: &Path, servers: &[Serve], args: &[&str]) -> (Duration, Output) {
    let mut cmd = Command::new(bin());
    cmd.current_dir(dir).args(args).env("RUST_LOG", "warn");
    for (env, serve) in ENVS.iter().zip(servers) {
        let upper = env.to_uppercase();
        cmd.env(format!("{upper}_ID"), &serve.id)
            .env(format!("{upper}_SECRET"), &serve.secret);
    }
    let started = Instant::now();
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (started.elapsed(), out)
}

fn main() {
    let apps: usize = std::env::var("ENV_BENCH_APPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    let work = tempfile::tempdir().unwrap();
    let dir = work.path().join("repo");
    std::fs::create_dir_all(dir.join("manifests")).unwrap();
    for chunk in 0..apps.div_ceil(100) {
        let docs: Vec<String> = (chunk * 100..((chunk + 1) * 100).min(apps))
            .map(|i| format!("apiVersion: tenantsync/v1\nkind: Application\nmetadata: {{name: a{i:05}}}\nspec:\n  app_name: App {i}\n  login_uri: ${{var:ORIGIN}}/login\n  clients:\n    - name: Web\n      redirect_uris: [\"${{var:ORIGIN}}/cb/{i}\"]\n    - name: Api\n      redirect_uris: []\n"))
            .collect();
        std::fs::write(
            dir.join(format!("manifests/apps-{chunk:03}.yaml")),
            docs.join("---\n"),
        )
        .unwrap();
    }
    let servers: Vec<Serve> = ENVS
        .iter()
        .map(|e| Serve::start(&work.path().join(format!("{e}-server"))))
        .collect();
    let mut project = String::from("apiVersion: tenantsync/v1\nkind: Project\nenvironments:\n");
    for (env, serve) in ENVS.iter().zip(&servers) {
        let upper = env.to_uppercase();
        project.push_str(&format!(
            "  {env}:\n    target: {}\n    credentials: {{client_id: {upper}_ID, client_secret: {upper}_SECRET}}\n    values: {{ORIGIN: \"https://{env}.example.com\"}}\n",
            serve.base()
        ));
    }
    std::fs::write(dir.join("tenantsync.yaml"), project).unwrap();
    for env in ENVS {
        run(&dir, &servers, &["--env", env, "apply", "--yes"]);
    }
    let mut together = Vec::new();
    let mut one_by_one = Vec::new();
    for _ in 0..RUNS {
        let (t, _) = run(&dir, &servers, &["plan", "--all-envs"]);
        together.push(t.as_secs_f64());
        let mut sum = 0.0;
        for env in ENVS {
            sum += run(&dir, &servers, &["--env", env, "plan"]).0.as_secs_f64();
        }
        one_by_one.push(sum);
    }
    let (t, o) = (median(together.clone()), median(one_by_one.clone()));
    println!("| {apps} applications × 3 environments | `plan --all-envs` | three `plan --env X`, one after another | ratio | target |");
    println!("|---|---|---|---|---|");
    println!(
        "| median of {RUNS} | {t:.2} s | {o:.2} s | {:.2} | ≤ 1 |",
        t / o
    );
    std::fs::create_dir_all("benches/results").unwrap();
    std::fs::write(
        "benches/results/environments.json",
        serde_json::to_string_pretty(&json!({
            "applications": apps,
            "all_envs_s": together,
            "one_by_one_s": one_by_one,
        }))
        .unwrap(),
    )
    .unwrap();
}
