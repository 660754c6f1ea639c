//! What the end-to-end benchmarks share: the release binary, `tenantsync serve` as a child
//! process, the server's own request counts, and reading a process's memory from /proc.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

#[path = "../../tests/support/mod.rs"]
pub mod support;

pub fn bin() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let release = root.join("target/release/tenantsync");
    assert!(release.exists(), "build first: cargo build --release");
    release
}

pub struct Serve {
    pub child: Child,
    pub origin: String,
    pub id: String,
    pub secret: String,
}

impl Serve {
    pub fn start(data: &Path) -> Serve {
        let (child, line) = spawn_reading_first_line(
            Command::new(bin())
                .args(["serve", "--listen", "127.0.0.1:0", "--data"])
                .arg(data)
                .env("TENANTSYNC_ADMIN_CLIENT_ID", "bench")
                .env("TENANTSYNC_ADMIN_CLIENT_SECRET", "bench-secret"),
        );
        let origin = support::url_in(&line).unwrap();
        Serve {
            child,
            origin,
            id: "bench".into(),
            secret: "bench-secret".into(),
        }
    }

    pub fn base(&self) -> String {
        format!("{}/cis", self.origin)
    }

    pub fn peak_rss_mb(&self) -> f64 {
        peak_rss_mb(self.child.id())
    }
}

/// `tenantsync sync --listen 127.0.0.1:0 FLAGS… MANIFESTS` against `serve`, with its
/// credentials and the state in `state`: the daemon each end-to-end bench starts (the caller
/// adds what else it needs, and spawns it).
pub fn sync_command(serve: &Serve, state: &Path, flags: &[&str], manifests: &Path) -> Command {
    let mut cmd = Command::new(bin());
    cmd.arg("--state-dir")
        .arg(state)
        .arg("--target")
        .arg(serve.base())
        .args(["sync", "--listen", "127.0.0.1:0"])
        .args(flags)
        .arg(manifests)
        .env("TENANTSYNC_CLIENT_ID", &serve.id)
        .env("TENANTSYNC_CLIENT_SECRET", &serve.secret);
    cmd
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn status_kb(pid: u32, field: &str) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

pub fn peak_rss_mb(pid: u32) -> f64 {
    status_kb(pid, "VmHWM:") / 1024.0
}

pub fn rss_mb(pid: u32) -> f64 {
    status_kb(pid, "VmRSS:") / 1024.0
}

pub async fn requests(http: &reqwest::Client, serve: &Serve) -> (f64, f64) {
    let text = support::get_text(http, format!("{}/metrics", serve.origin)).await;
    let sample = |labels: &[(&str, &str)]| {
        tenantsync::telemetry::prometheus::sample(&text, "tenantsync_server_requests_total", labels)
            .unwrap_or(0.0)
    };
    let api_gets = sample(&[("method", "GET")])
        - sample(&[("route", "/metrics")])
        - sample(&[("route", "/healthz")]);
    let writes = sample(&[("method", "POST")])
        + sample(&[("method", "PUT")])
        + sample(&[("method", "DELETE")])
        - sample(&[("route", "/oidc/token")]);
    (api_gets, writes)
}

/// Starts `cmd` (logs off, stdout piped) and returns it with the first line it prints.
pub fn spawn_reading_first_line(cmd: &mut Command) -> (Child, String) {
    support::spawn_reading_first_line(cmd.env("RUST_LOG", "warn").stderr(Stdio::null()))
}

/// Runs the binary against `serve` with the state in `state`; how long it took and its output.
/// Any exit code but those in `accept` fails the benchmark with its stderr.
pub fn cli(
    serve: &Serve,
    state: &Path,
    args: &[&str],
    accept: &[i32],
) -> (Duration, std::process::Output) {
    let started = Instant::now();
    let out = Command::new(bin())
        .arg("--state-dir")
        .arg(state)
        .arg("--target")
        .arg(serve.base())
        .args(args)
        .env("TENANTSYNC_CLIENT_ID", &serve.id)
        .env("TENANTSYNC_CLIENT_SECRET", &serve.secret)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    assert!(
        out.status.code().is_some_and(|c| accept.contains(&c)),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (started.elapsed(), out)
}

/// Writes `objects` objects (applications of four clients each, 100 per file) under `dir`;
/// how many applications.
pub fn application_tree(dir: &Path, objects: usize) -> usize {
    let apps = objects / 4;
    std::fs::create_dir_all(dir).unwrap();
    for chunk in 0..apps.div_ceil(100) {
        let docs: Vec<String> = (chunk * 100..((chunk + 1) * 100).min(apps))
            .map(|i| support::application_yaml(i, &format!("Application {i}")))
            .collect();
        std::fs::write(
            dir.join(format!("apps-{chunk:03}.yaml")),
            docs.join("---\n"),
        )
        .unwrap();
    }
    apps
}

/// A tree of `objects` objects under `dir/manifests`, applied to a fresh server
/// (`dir/server`) with the state in `dir/state`: (manifests, server, state dir).
pub fn managed_tree(dir: &Path, objects: usize) -> (PathBuf, Serve, PathBuf) {
    let manifests = dir.join("manifests");
    application_tree(&manifests, objects);
    let serve = Serve::start(&dir.join("server"));
    let state = dir.join("state");
    cli(
        &serve,
        &state,
        &[
            "apply",
            "--yes",
            "--format",
            "json",
            manifests.to_str().unwrap(),
        ],
        &[0],
    );
    (manifests, serve, state)
}
