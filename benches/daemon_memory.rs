//! The daemon's resident memory with 8,000 managed objects, round after round: the tree and the
//! daemon are built the way `benches/scale.rs` builds them (2,000 applications with 4 clients
//! each, applied to a fresh `tenantsync serve`, then `tenantsync sync --interval 1s`), and the
//! daemon's RSS is sampled every 50 ms; per interval between two successful rounds (moves of
//! its `/metrics` count of reconciles) the lowest sample is what it keeps between rounds, the
//! highest what a round holds while it runs; the peak (`VmHWM`) is reported apart.
//!
//! Acceptance (issue 28): RSS ≤ 80 MB, and over 200 rounds the last 100 samples all within
//! ±2 % of their median.
//!
//! Environment: `DAEMON_MEMORY_ROUNDS` (200), `DAEMON_MEMORY_ENV` (`K=V,K=V` set on the daemon
//! only, e.g. `MALLOC_ARENA_MAX=2`, to compare allocators' settings), `DAEMON_MEMORY_LABEL`
//! (suffix of the results file). Prints a table; writes
//! `benches/results/daemon_memory[-LABEL].json`.

use std::path::Path;
use std::process::Child;
use std::time::{Duration, Instant};

#[path = "common/process.rs"]
mod process;

use process::{peak_rss_mb, rss_mb, spawn_reading_first_line, status_kb, Serve};
use serde_json::json;

/// `tenantsync sync --interval 1s` on `manifests`, with `extra_env` set; it and its URL.
fn spawn_daemon(
    state: &Path,
    serve: &Serve,
    manifests: &Path,
    extra_env: &[(String, String)],
) -> (Child, String) {
    let mut cmd = process::sync_command(serve, state, &["--interval", "1s"], manifests);
    for (k, v) in extra_env {
        cmd.env(k, v);
    }
    let (child, line) = spawn_reading_first_line(&mut cmd);
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .expect("the daemon prints its URL")
        .to_owned();
    (child, url)
}

/// The median of `xs` (sorted copy; the upper median for an even count).
fn median(xs: &[f64]) -> f64 {
    let mut v = xs.to_vec();
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

/// How far the samples stray from their median, in percent: (below, above).
fn spread_pct(xs: &[f64]) -> (f64, f64) {
    let m = median(xs).max(f64::EPSILON);
    let min = xs.iter().copied().fold(f64::INFINITY, f64::min);
    let max = xs.iter().copied().fold(0.0, f64::max);
    ((m - min) / m * 100.0, (max - m) / m * 100.0)
}

/// The daemon's largest mappings by resident size (`/proc/PID/smaps`): which of the heap, the
/// allocator's per-thread arenas (anonymous 64 MiB-aligned regions) and the binary hold it.
fn print_mappings(pid: u32) {
    let smaps = std::fs::read_to_string(format!("/proc/{pid}/smaps")).unwrap_or_default();
    let mut maps: Vec<(u64, String)> = Vec::new();
    for line in smaps.lines() {
        let first = line.split_whitespace().next().unwrap_or("");
        if first.contains('-') && !first.ends_with(':') {
            let name = line.split_whitespace().nth(5).unwrap_or("[anon]");
            maps.push((0, format!("{first} {name}")));
        } else if let Some(kb) = line.strip_prefix("Rss:") {
            if let Some(last) = maps.last_mut() {
                last.0 = kb
                    .trim()
                    .trim_end_matches(" kB")
                    .trim()
                    .parse()
                    .unwrap_or(0);
            }
        }
    }
    maps.sort_by_key(|m| std::cmp::Reverse(m.0));
    let anon: u64 = maps
        .iter()
        .filter(|m| m.1.ends_with("[anon]"))
        .map(|m| m.0)
        .sum();
    eprintln!(
        "mappings: {} anonymous ones hold {:.1} MB; the largest:",
        maps.iter().filter(|m| m.1.ends_with("[anon]")).count(),
        anon as f64 / 1024.0
    );
    for (kb, name) in maps.iter().take(12) {
        eprintln!("  {:>8.1} MB  {name}", *kb as f64 / 1024.0);
    }
}

#[tokio::main]
async fn main() {
    let rounds: usize = std::env::var("DAEMON_MEMORY_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let extra_env: Vec<(String, String)> = std::env::var("DAEMON_MEMORY_ENV")
        .unwrap_or_default()
        .split(',')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    let label = std::env::var("DAEMON_MEMORY_LABEL").ok();
    let http = reqwest::Client::new();
    let work = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let (manifests, serve, state) = process::managed_tree(work.path(), 8_000);
    eprintln!(
        "applied 8,000 objects in {:.0} s; sampling {rounds} rounds",
        started.elapsed().as_secs_f64()
    );
    let (mut daemon, url) = spawn_daemon(&state, &serve, &manifests, &extra_env);
    let pid = daemon.id();
    let mut seen = 0.0;
    // Per round interval (from one round's end to the next's): the lowest RSS sampled, when
    // the daemon idles between rounds (the resident set it keeps), and the highest (what a
    // round holds while it runs; the process's peak is reported apart).
    let (mut rss, mut anon, mut busy) = (Vec::new(), Vec::new(), Vec::new());
    let (mut low, mut low_anon, mut high) = (f64::INFINITY, f64::INFINITY, 0.0_f64);
    let sampling = Instant::now();
    let deadline = sampling + Duration::from_secs(60 * 60);
    while rss.len() < rounds && Instant::now() < deadline {
        let text = match http.get(format!("{url}/metrics")).send().await {
            Ok(r) => r.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        };
        let n = tenantsync::telemetry::prometheus::sample(
            &text,
            "tenantsync_sync_reconciles_total",
            &[("result", "success")],
        )
        .unwrap_or(0.0);
        let now = rss_mb(pid);
        if n > seen {
            // A round ended: the interval before it is complete (the first one, from the
            // daemon's start, is not a round interval and is not counted).
            if seen > 0.0 {
                rss.push(low);
                anon.push(low_anon);
                busy.push(high);
            }
            seen = n;
            (low, low_anon, high) = (f64::INFINITY, f64::INFINITY, 0.0);
            if rss.len() % 20 == 0 && !rss.is_empty() {
                eprintln!(
                    "round {:>3} ({n} reconciles, {:.0} s): RSS between rounds {:.1} MB (anon {:.1} MB), during {:.1} MB",
                    rss.len(),
                    sampling.elapsed().as_secs_f64(),
                    rss.last().unwrap(),
                    anon.last().unwrap(),
                    busy.last().unwrap()
                );
            }
        }
        low = low.min(now);
        low_anon = low_anon.min(status_kb(pid, "RssAnon:") / 1024.0);
        high = high.max(now);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let secs_per_round = sampling.elapsed().as_secs_f64() / rss.len().max(1) as f64;
    let peak = peak_rss_mb(pid);
    if std::env::var_os("DAEMON_MEMORY_SMAPS").is_some() {
        print_mappings(pid);
    }
    let _ = daemon.kill();
    let _ = daemon.wait();
    drop(serve);

    let min = rss.iter().copied().fold(f64::INFINITY, f64::min);
    let max = rss.iter().copied().fold(0.0, f64::max);
    let med = median(&rss);
    let tail = &rss[rss.len().saturating_sub(100)..];
    let tail_median = median(tail);
    let (below, above) = spread_pct(tail);
    let flat = rss.len() >= rounds && below <= 2.0 && above <= 2.0;
    let under = max <= 80.0;
    let env_note = if extra_env.is_empty() {
        "-".to_owned()
    } else {
        extra_env
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(",")
    };
    println!("| daemon RSS, 8,000 managed objects, --interval 1s ({env_note}) | figure | target |");
    println!("|---|---|---|");
    println!(
        "| rounds sampled | {} ({secs_per_round:.1} s per round) | {rounds} |",
        rss.len()
    );
    println!(
        "| RSS between rounds, min / median / max | {min:.1} / {med:.1} / {max:.1} MB | ≤ 80 MB: {} |",
        if under { "met" } else { "NOT met" }
    );
    println!(
        "| RSS during rounds, median / max; peak (VmHWM) | {:.1} / {:.1} MB; {peak:.1} MB | |",
        median(&busy),
        busy.iter().copied().fold(0.0, f64::max)
    );
    println!(
        "| first → 10th → last round | {:.1} → {:.1} → {:.1} MB | |",
        rss.first().copied().unwrap_or(0.0),
        rss.get(9).copied().unwrap_or(0.0),
        rss.last().copied().unwrap_or(0.0)
    );
    println!(
        "| last {} rounds: median, spread | {tail_median:.1} MB, −{below:.2} % / +{above:.2} % | within ±2 %: {} |",
        tail.len(),
        if flat { "met" } else { "NOT met" }
    );
    let report = json!({
        "date": time::OffsetDateTime::now_utc().date().to_string(),
        "objects": 8_000,
        "interval": "1s",
        "daemon_env": env_note,
        "rounds": rss.len(),
        "seconds_per_round": secs_per_round,
        "rss_mb": {"min": min, "median": med, "max": max, "peak": peak, "per_round": rss},
        "rss_mb_during_rounds": busy,
        "rss_anon_mb_per_round": anon,
        "last_100": {"median": tail_median, "below_pct": below, "above_pct": above, "flat_within_2pct": flat},
        "under_80_mb": under,
    });
    let out = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/results");
    std::fs::create_dir_all(&out).unwrap();
    let name = match label {
        Some(l) => format!("daemon_memory-{l}.json"),
        None => "daemon_memory.json".to_owned(),
    };
    std::fs::write(
        out.join(name),
        serde_json::to_string_pretty(&report).unwrap(),
    )
    .unwrap();
}
