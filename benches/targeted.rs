//! Cost proportional to the change, end to end on a release build (run through
//! `benches/run.sh`): for N applications with 2 clients each, one file per application
//! (N = 2,000 and 10,000; `TARGETED_SIZES=500,2000` picks others), against `tenantsync serve`:
//!
//! - the daemon (`sync --rate 20 --interval 24h`): its first full observation, then five
//!   single-application edits, each timed from the file's save until the daemon's write has
//!   been answered (the `PUT` counted in its `/status`) and until its round has ended, with
//!   the requests the server counted over that window;
//! - `plan --refresh changed --rate 20`: with no change (time and requests), and with 3
//!   applications edited (requests, and the plan's counts).
//!
//! The first full observation runs at the daemon's rate: 2 requests per application (one
//! page of 100 applications, one client list each), about 500 s at 10,000 applications. Prints
//! a markdown table and writes `benches/results/targeted.json`.

#[path = "common/process.rs"]
mod process;

use std::path::Path;
use std::time::{Duration, Instant};

use process::support::{get_json, median, url_in, KillOnDrop};
use process::{requests, spawn_reading_first_line, Serve};
use serde_json::{json, Value};

const EDITS: usize = 5;

fn app_file(i: usize, suffix: &str) -> String {
    format!(
        "apiVersion: tenantsync/v1\nkind: Application\nmetadata: {{name: a{i:05}}}\nspec:\n  app_name: App {i}{suffix}\n  clients:\n    - name: Web\n      redirect_uris: [https://a{i}.example.com/cb]\n    - name: Api\n      redirect_uris: []\n"
    )
}

/// Saves one application's file the way editors do: a temporary file renamed over it.
fn save(dir: &Path, i: usize, suffix: &str) {
    let tmp = dir.join(format!(".a{i:05}.swp"));
    std::fs::write(&tmp, app_file(i, suffix)).unwrap();
    std::fs::rename(&tmp, dir.join(format!("a{i:05}.yaml"))).unwrap();
}

fn cli(serve: &Serve, state: &Path, args: &[&str]) -> (Duration, std::process::Output) {
    process::cli(serve, state, args, &[0, 2])
}

struct Daemon {
    _child: KillOnDrop,
    origin: String,
}

async fn status(http: &reqwest::Client, daemon: &Daemon) -> Value {
    get_json(http, format!("{}/status", daemon.origin)).await
}

fn puts(status: &Value) -> u64 {
    status["api"]["by_method"]["PUT"].as_u64().unwrap_or(0)
}

/// API requests the server answered (reads and writes, not the token or its own routes).
async fn served(http: &reqwest::Client, serve: &Serve) -> f64 {
    let (reads, writes) = requests(http, serve).await;
    reads + writes
}

async fn one_size(http: &reqwest::Client, work: &Path, apps: usize) -> Value {
    let manifests = work.join("manifests");
    std::fs::create_dir_all(&manifests).unwrap();
    for i in 0..apps {
        std::fs::write(manifests.join(format!("a{i:05}.yaml")), app_file(i, "")).unwrap();
    }
    let serve = Serve::start(&work.join("server"));
    let state = work.join("state");
    let m = manifests.to_str().unwrap();
    cli(&serve, &state, &["apply", "--yes", m]);

    let (child, line) = spawn_reading_first_line(&mut process::sync_command(
        &serve,
        &state,
        &["--interval", "24h", "--rate", "20"],
        &manifests,
    ));
    let origin = url_in(&line).unwrap();
    let daemon = Daemon {
        _child: KillOnDrop(child),
        origin,
    };
    let started = Instant::now();
    let mut first = status(http, &daemon).await;
    while first["last_result"] != "success" {
        tokio::time::sleep(Duration::from_millis(200)).await;
        first = status(http, &daemon).await;
    }
    let observation = started.elapsed();

    let mut written = Vec::new();
    let mut rounds = Vec::new();
    let mut counted = Vec::new();
    for e in 0..EDITS {
        let i = (e * 397 + 11) % apps;
        let before = status(http, &daemon).await;
        let served_before = served(http, &serve).await;
        let saved = Instant::now();
        save(&manifests, i, &format!(" edit {e}"));
        loop {
            let now = status(http, &daemon).await;
            if written.len() == e && puts(&now) > puts(&before) {
                written.push(saved.elapsed().as_secs_f64());
            }
            if now["last_trigger"] == "file_change"
                && now["last_reconcile"] != before["last_reconcile"]
                && now["last_plan"]["update"] == 1
            {
                rounds.push(saved.elapsed().as_secs_f64());
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert_eq!(written.len(), e + 1, "edit {e} was never written");
        counted.push(served(http, &serve).await - served_before);
    }
    drop(daemon);

    let served_before = served(http, &serve).await;
    let (unchanged, _) = cli(
        &serve,
        &state,
        &["plan", "--refresh", "changed", "--rate", "20", m],
    );
    let unchanged_requests = served(http, &serve).await - served_before;

    for i in [1, apps / 2, apps - 1] {
        save(&manifests, i, " three");
    }
    let served_before = served(http, &serve).await;
    let (three, out) = cli(
        &serve,
        &state,
        &[
            "plan",
            "--refresh",
            "changed",
            "--rate",
            "20",
            "--format",
            "json",
            m,
        ],
    );
    let three_requests = served(http, &serve).await - served_before;
    let plan: Value = serde_json::from_slice(&out.stdout).unwrap();

    json!({
        "applications": apps,
        "first_observation_s": observation.as_secs_f64(),
        "edit_written_s": written,
        "edit_round_s": rounds,
        "edit_requests": counted,
        "edit_written_median_s": median(written.clone()),
        "edit_round_median_s": median(rounds.clone()),
        "plan_changed_unchanged_s": unchanged.as_secs_f64(),
        "plan_changed_unchanged_requests": unchanged_requests,
        "plan_changed_three_s": three.as_secs_f64(),
        "plan_changed_three_requests": three_requests,
        "plan_changed_three_summary": plan["summary"],
    })
}

#[tokio::main]
async fn main() {
    let sizes: Vec<usize> = std::env::var("TARGETED_SIZES")
        .unwrap_or_else(|_| "2000,10000".into())
        .split(',')
        .map(|s| s.trim().parse().expect("TARGETED_SIZES: numbers"))
        .collect();
    let http = reqwest::Client::new();
    let mut results = Vec::new();
    for apps in sizes {
        let work = tempfile::tempdir().unwrap();
        results.push(one_size(&http, work.path(), apps).await);
    }
    println!("| applications (2 clients each), `--rate 20` | first full observation | file → written, median (5 edits) | file → round ended, median | server requests per edit | no-change `plan --refresh changed` | 3 edits: `plan --refresh changed` requests |");
    println!("|---|---|---|---|---|---|---|");
    for r in &results {
        let per_edit: Vec<String> = r["edit_requests"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| format!("{}", v.as_f64().unwrap()))
            .collect();
        println!(
            "| {} | {:.0} s | {:.2} s | {:.2} s | {} | {:.2} s, {} requests | {} (plan: {}) |",
            r["applications"],
            r["first_observation_s"].as_f64().unwrap(),
            r["edit_written_median_s"].as_f64().unwrap(),
            r["edit_round_median_s"].as_f64().unwrap(),
            per_edit.join(", "),
            r["plan_changed_unchanged_s"].as_f64().unwrap(),
            r["plan_changed_unchanged_requests"],
            r["plan_changed_three_requests"],
            r["plan_changed_three_summary"],
        );
    }
    std::fs::create_dir_all("benches/results").unwrap();
    std::fs::write(
        "benches/results/targeted.json",
        serde_json::to_string_pretty(&json!({ "sizes": results })).unwrap(),
    )
    .unwrap();
}
