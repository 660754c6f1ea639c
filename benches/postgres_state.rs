//! Benchmark: the reconciler state on PostgreSQL against the local (sled) state, both applying
//! over HTTP to the bundled server on loopback.
//!
//! - the first apply of 1,000 applications + 2,000 extra clients, local vs PostgreSQL state:
//!   medians of 3 alternating trials, each on a fresh server and a fresh state (a new scope);
//! - a no-change plan of 8,000 objects on a PostgreSQL state, as `plan` runs it: open the state
//!   read-only, load it, observe the target, plan.
//!
//! Needs `TENANTSYNC_BENCH_POSTGRES=postgres://…` (`benches/run.sh` starts a throwaway server
//! with fsync on); without it the bench says so and measures nothing.

mod common;

use std::time::Instant;

use common::support::median;
use common::{apply_once, http_target, manifests, observe_and_plan, serve};
use tenantsync::state::postgres::{Access, PostgresBackend};
use tenantsync::state::store::StateStore;

fn postgres_state(url: &str, scope: &str, access: Access) -> StateStore {
    StateStore::with_backend(Box::new(PostgresBackend::open(url, scope, access).unwrap())).unwrap()
}

fn main() {
    let Ok(url) = std::env::var("TENANTSYNC_BENCH_POSTGRES") else {
        println!("| PostgreSQL state | skipped: set TENANTSYNC_BENCH_POSTGRES (benches/run.sh does) | | |");
        return;
    };
    let write = Access::Write {
        lock_timeout: std::time::Duration::ZERO,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let run = std::process::id();
        let ratio_apps = 1_000;
        let desired = manifests(ratio_apps);
        let (mut local_rates, mut pg_rates) = (Vec::new(), Vec::new());
        for trial in 0..3 {
            let dir = tempfile::tempdir().unwrap();
            for side in [trial % 2, 1 - trial % 2] {
                let (addr, _server) = serve(&dir.path().join(format!("server-{side}"))).await;
                let target = http_target(addr);
                let state = if side == 0 {
                    StateStore::open(&dir.path().join("state")).unwrap()
                } else {
                    postgres_state(&url, &format!("bench-{run}-apply-{trial}"), write)
                };
                let started = Instant::now();
                let writes = apply_once(&target, &state, &desired, 8).await;
                let rate = writes as f64 / started.elapsed().as_secs_f64();
                if side == 0 {
                    local_rates.push(rate);
                } else {
                    pg_rates.push(rate);
                }
            }
        }
        let (local_rate, pg_rate) = (median(local_rates), median(pg_rates));

        // 8,000 objects applied once on a PostgreSQL state, then planned with nothing to do.
        let plan_apps = 2_000;
        let big = manifests(plan_apps);
        let objects = big.app_count() + big.client_count();
        let dir = tempfile::tempdir().unwrap();
        let (addr, _server) = serve(&dir.path().join("server-plan")).await;
        let target = http_target(addr);
        let scope = format!("bench-{run}-plan");
        {
            let state = postgres_state(&url, &scope, write);
            apply_once(&target, &state, &big, 8).await;
        }
        let mut plans = Vec::new();
        for _ in 0..3 {
            let started = Instant::now();
            let state = postgres_state(&url, &scope, Access::Read);
            let plan = observe_and_plan(&target, &state, &big, 8).await;
            plans.push(started.elapsed().as_secs_f64());
            assert!(!plan.has_changes(), "a no-change plan has changes");
        }
        let plan_ms = median(plans) * 1e3;

        println!("| PostgreSQL state (fsync on), http to the bundled server, concurrency 8 | local state | PostgreSQL state | target |");
        println!("|---|---|---|---|");
        println!(
            "| first apply of {ratio_apps} apps + {} clients, creates/s (medians of 3 alternating trials) | {local_rate:.0} | {pg_rate:.0} = {:.2} of local | ≥ 0.5 |",
            2 * ratio_apps,
            pg_rate / local_rate
        );
        println!(
            "| no-change plan of {objects} objects: open + load the state, observe, plan (median of 3) | | {plan_ms:.0} ms | < 1.5 s |"
        );
    });
}
