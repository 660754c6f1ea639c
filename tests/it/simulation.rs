//! Deterministic simulation of the reconciler. The real daemon loop (`daemon::run`: load,
//! journal, intents, plan, apply, drift healing, backoff, the sweep, the prune quiet period)
//! runs against the embedded tenant behind a seeded fault layer (`targets::faulty`), on a
//! paused tokio clock, with its state in memory where a crash loses what was not flushed. A
//! seeded driver edits the manifests, changes the tenant out of band, crashes and restarts the
//! daemon (at a request, applied or not), and switches faults on and off. Invariants are
//! checked after every step and at the end. One seed is one world: the same seed gives the
//! same trace, and a failing seed prints the command that replays it.
//!
//! `cargo test --test it simulation` runs [`DEFAULT_SEEDS`] seeds; `TENANTSYNC_SIM_SEEDS=N`
//! (and `TENANTSYNC_SIM_START=S`) run others, `TENANTSYNC_SIM_SEED=N … simulation::replay`
//! replays one and prints its trace, `TENANTSYNC_SIM_FAILURES=FILE` writes the failing seeds.

#[path = "sim/memory.rs"]
mod memory;
#[path = "sim/world.rs"]
mod world;

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use tokio::sync::{mpsc, Notify};

use memory::{Disk, MemoryBackend};
use tenantsync::daemon::source::Trigger;
use tenantsync::daemon::status::{HookPolicy, Metrics, Shared, Status};
use tenantsync::daemon::{self, Config, OnDrift, Source, StateAccess};
use tenantsync::manifest::{self, ProcessEnvironment, ReadAllowance, SourceFile};
use tenantsync::model::kinds::AnyKind;
use tenantsync::plan::PlanOptions;
use tenantsync::reconcile::pipeline;
use tenantsync::server::faults::{FaultKind, FaultSpec};
use tenantsync::state::store::StateStore;
use tenantsync::targets::faulty::{Decide, FaultyTarget, Injected, Request};
use tenantsync::targets::local::LocalTarget;
use tenantsync::targets::{JsonObject, Target};
use world::World;

/// Seeds `cargo test` runs.
const DEFAULT_SEEDS: u64 = 300;
/// Steps the driver takes per seed.
const STEPS: usize = 60;
/// Full rounds the daemon gets, once the faults stop, to converge.
const CONVERGE_ROUNDS: usize = 4;

/// What a seed's reconciler is: the product, or a deliberately broken one (the simulation's
/// self-test: its invariants must catch it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reconciler {
    /// As shipped.
    Shipped,
    /// Its journal's writes are dropped: interrupted creates are never looked up by name.
    WithoutJournal,
}

/// The fault layer's decisions: the faults in force, a scheduled halt, and the trace.
#[derive(Default)]
struct Chaos {
    inner: Mutex<ChaosState>,
    /// Woken when a halt was injected: the driver crashes the daemon.
    halted: Notify,
    /// Print the trace as it grows (a replay).
    live: bool,
}

#[derive(Default)]
struct ChaosState {
    /// Requests seen so far.
    n: u64,
    faults: Option<FaultSpec>,
    /// Halt request number `.0`, after applying it when `.1`.
    halt_at: Option<(u64, bool)>,
    injected: BTreeMap<&'static str, u64>,
    trace: Vec<String>,
}

impl Decide for Chaos {
    fn inject(&self, request: Request) -> Option<Injected> {
        let mut s = self.inner.lock().unwrap();
        let n = s.n;
        s.n += 1;
        let injected = match s.halt_at {
            Some((at, applied)) if at <= n => {
                s.halt_at = None;
                self.halted.notify_one();
                Some(Injected::Halt { applied })
            }
            _ => s
                .faults
                .as_ref()
                .and_then(|f| f.decide(n, request.class))
                .map(Injected::Fault),
        };
        let what = match injected {
            None => "ok".to_owned(),
            Some(Injected::Fault(f)) => f.kind().name().to_owned(),
            Some(Injected::Halt { applied }) => format!("halt (applied: {applied})"),
        };
        *s.injected
            .entry(match injected {
                None => "none",
                Some(Injected::Fault(f)) => f.kind().name(),
                Some(Injected::Halt { .. }) => "halt",
            })
            .or_default() += 1;
        self.push(
            &mut s,
            format!("    request {n} {} {} → {what}", request.op, request.kind),
        );
        injected
    }
}

impl Chaos {
    fn push(&self, s: &mut ChaosState, line: String) {
        if self.live {
            println!("{line}");
        }
        s.trace.push(line);
    }

    fn note(&self, line: String) {
        let mut s = self.inner.lock().unwrap();
        self.push(&mut s, line);
    }
}

/// A seed's result: its trace, and what went wrong (if anything).
struct Run {
    trace: Vec<String>,
    failure: Option<String>,
    injected: BTreeMap<&'static str, u64>,
}

type Daemon = Pin<Box<dyn Future<Output = Result<(), tenantsync::state::store::StateError>>>>;

/// Starts the daemon on `disk`'s state (what survived), watching `manifests`.
fn start(
    manifests: &std::path::Path,
    tenant: &Arc<dyn Target>,
    chaos: &Arc<Chaos>,
    disk: &Arc<Disk>,
    dedup: bool,
) -> (Daemon, mpsc::UnboundedSender<Trigger>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let shared = Arc::new(Shared {
        status: Mutex::new(Status::default()),
        metrics: Metrics::default(),
        triggers: tx.clone(),
        hooks: HookPolicy::Closed,
        hook: Arc::new(Notify::new()),
        deliveries: Mutex::default(),
        ui: daemon::ui::Ui::new(daemon::ui::Access::Off("simulation".into()), false),
    });
    let state = StateStore::with_backend(Box::new(MemoryBackend(disk.clone())))
        .expect("the simulation's state opens");
    let config = Config {
        source: Source::Directories(vec![manifests.to_owned()]),
        interval: Duration::from_secs(60),
        read_budget: None,
        poll: Duration::from_secs(3600),
        plan_options: sim_plan_options(),
        concurrency: 2,
        rebind_target: false,
        reads: ReadAllowance::default(),
        overlay: None,
        environment: None,
        sinks: Vec::new(),
        on_drift: OnDrift::Heal,
        notify: None,
    };
    let target = Box::new(FaultyTarget::new(
        tenant.clone(),
        chaos.clone() as Arc<dyn Decide>,
        dedup,
    ));
    let daemon = daemon::run(
        config,
        target,
        StateAccess::Exclusive(state),
        shared,
        rx,
        std::future::pending(),
    );
    (Box::pin(daemon), tx)
}

/// Deletions of what left the manifests, however many piled up while the faults held them
/// back (the mass-delete guard asks a human; the simulation has none).
fn sim_plan_options() -> PlanOptions {
    PlanOptions {
        prune: true,
        allow_mass_delete: true,
        ..PlanOptions::default()
    }
}

/// What the manifests want, as the planner reads it.
fn desired(world: &World) -> manifest::DesiredState {
    let sources: Vec<SourceFile> = world
        .apps
        .iter()
        .map(|(n, app)| SourceFile {
            path: format!("app-{n}.yaml").into(),
            bytes: World::yaml(*n, app).into_bytes(),
        })
        .collect();
    manifest::load(&sources, &ProcessEnvironment::default()).expect("the world's manifests load")
}

/// Live applications named `App N` (the managed names) and their clients, by name.
async fn live(tenant: &dyn Target) -> Result<Vec<(JsonObject, Vec<JsonObject>)>, String> {
    let mut out = Vec::new();
    for app in tenant.list_apps().await.map_err(|e| e.to_string())? {
        let id = app["app_id"].as_str().unwrap_or_default().to_owned();
        let clients = tenant.list_clients(&id).await.map_err(|e| e.to_string())?;
        out.push((app, clients));
    }
    Ok(out)
}

fn name(object: &JsonObject, field: &str) -> String {
    object
        .get(field)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

/// Never two live objects for one managed key: an `App N` name, or a client name within one
/// application.
fn no_duplicates(live: &[(JsonObject, Vec<JsonObject>)]) -> Result<(), String> {
    let mut apps: BTreeMap<String, usize> = BTreeMap::new();
    for (app, clients) in live {
        *apps.entry(name(app, "app_name")).or_default() += 1;
        let mut names = BTreeSet::new();
        for c in clients {
            if !names.insert(name(c, "name")) {
                return Err(format!(
                    "two live clients named `{}` in `{}`",
                    name(c, "name"),
                    name(app, "app_name")
                ));
            }
        }
    }
    match apps
        .iter()
        .find(|(n, count)| n.starts_with("App ") && **count > 1)
    {
        Some((n, count)) => Err(format!("{count} live applications named `{n}`")),
        None => Ok(()),
    }
}

/// After a crash, what the state durably holds accounts for every live managed object: its
/// id is recorded, or an unfinished create of it is journaled.
fn accounted_for(disk: &Arc<Disk>, live: &[(JsonObject, Vec<JsonObject>)]) -> Result<(), String> {
    let state =
        StateStore::read_only(Box::new(MemoryBackend(disk.clone()))).map_err(|e| e.to_string())?;
    let snapshot = state.snapshot().map_err(|e| e.to_string())?;
    let ids: BTreeSet<&str> = snapshot.app_entries().map(|(_, e)| e.server_id()).collect();
    let journal: Vec<(String, Value)> = state.journal_all().map_err(|e| e.to_string())?;
    let journaled = |n: &str, app_id: Option<&str>| {
        journal.iter().any(|(_, intent)| {
            intent["name"] == n && (app_id.is_none() || intent["app_id"].as_str() == app_id)
        })
    };
    let known = || {
        let entries: Vec<String> = snapshot
            .app_entries()
            .map(|(a, e)| format!("{a} → {}", e.server_id()))
            .collect();
        let intents: Vec<String> = journal
            .iter()
            .map(|(_, i)| format!("{} {}", i["name"], i["app_id"]))
            .collect();
        format!("(state: {entries:?}; journal: {intents:?})")
    };
    for (app, clients) in live {
        let app_name = name(app, "app_name");
        if !app_name.starts_with("App ") {
            continue;
        }
        let app_id = name(app, "app_id");
        if !ids.contains(app_id.as_str()) && !journaled(&app_name, None) {
            return Err(format!(
                "live `{app_name}` ({app_id}) is neither in the durable state nor journaled {}",
                known()
            ));
        }
        for c in clients {
            let client_id = name(c, "client_id");
            // An application's first client is created with it: it is recorded with it.
            let with_app = !ids.contains(app_id.as_str());
            if !with_app
                && !ids.contains(client_id.as_str())
                && !journaled(&name(c, "name"), Some(&app_id))
            {
                return Err(format!(
                    "live client `{}` ({client_id}) of `{app_name}` is neither in the durable state nor journaled {}",
                    name(c, "name"),
                    known()
                ));
            }
        }
    }
    Ok(())
}

/// A change made outside tenantsync, described for the trace.
async fn drift(rng: &mut StdRng, tenant: &dyn Target, strays: &mut u32) -> String {
    let Ok(apps) = tenant.list_apps().await else {
        return "drift: (tenant unreadable)".into();
    };
    let managed: Vec<&JsonObject> = apps
        .iter()
        .filter(|a| name(a, "app_name").starts_with("App "))
        .collect();
    let choice = rng.gen_range(0..5);
    if managed.is_empty() || choice == 4 {
        *strays += 1;
        let body = json!({"app_name": format!("Stray {strays}"), "client_display_name": "Stray",
                          "first_client": {"name": "Stray", "redirect_uris": []}});
        let created = tenant
            .create_app(body.as_object().unwrap(), &format!("stray-{strays}"))
            .await;
        return format!("drift: create `Stray {strays}` ({})", created.is_ok());
    }
    let app = managed[rng.gen_range(0..managed.len())];
    let (app_name, app_id) = (name(app, "app_name"), name(app, "app_id"));
    let clients = tenant.list_clients(&app_id).await.unwrap_or_default();
    match (choice, clients.first()) {
        (0, _) => {
            let body = json!({"app_description": "changed by hand"});
            let r = tenant
                .update(
                    AnyKind::Application,
                    None,
                    Some(&app_id),
                    body.as_object().unwrap(),
                )
                .await;
            format!("drift: `{app_name}` app_description ({})", r.is_ok())
        }
        (1, Some(c)) => {
            let body = json!({"redirect_uris": ["https://drift.example.com/cb"]});
            let client_id = c["client_id"].as_str().unwrap_or_default();
            let r = tenant
                .update(
                    AnyKind::Client,
                    Some(&app_id),
                    Some(client_id),
                    body.as_object().unwrap(),
                )
                .await;
            format!(
                "drift: `{app_name}` `{}` redirect_uris ({})",
                name(c, "name"),
                r.is_ok()
            )
        }
        (2, Some(c)) => {
            let client_id = c["client_id"].as_str().unwrap_or_default();
            let r = tenant
                .delete(AnyKind::Client, Some(&app_id), client_id)
                .await;
            format!(
                "drift: delete `{app_name}` `{}` ({})",
                name(c, "name"),
                r.is_ok()
            )
        }
        _ => {
            let r = tenant.delete(AnyKind::Application, None, &app_id).await;
            format!("drift: delete `{app_name}` ({})", r.is_ok())
        }
    }
}

/// Faults for the next phase: a seeded spec over a random subset of the kinds.
fn faults(rng: &mut StdRng) -> FaultSpec {
    let kinds: Vec<&str> = FaultKind::ALL
        .iter()
        .filter(|_| rng.gen_bool(0.5))
        .map(|k| k.name())
        .collect();
    let kinds = if kinds.is_empty() {
        vec!["lost-response"]
    } else {
        kinds
    };
    let rate = [0.1, 0.2, 0.3, 0.5][rng.gen_range(0..4)];
    format!(
        "seed={},rate={rate},kinds={}",
        rng.gen::<u32>(),
        kinds.join(",")
    )
    .parse()
    .expect("a valid spec")
}

/// Lets the daemon run for `how_long` of simulated time; a halt crashes it (and `true` is
/// returned).
async fn run_for(daemon: &mut Daemon, chaos: &Chaos, how_long: Duration) -> Result<bool, String> {
    tokio::select! {
        biased;
        ended = daemon.as_mut() => Err(format!("the daemon stopped on its own: {ended:?}")),
        () = chaos.halted.notified() => Ok(true),
        () = tokio::time::sleep(how_long) => Ok(false),
    }
}

/// Runs one seed.
fn run_seed(seed: u64, reconciler: Reconciler) -> Run {
    run_seed_showing(seed, reconciler, false)
}

/// Runs one seed, printing its trace as it goes when `live`.
fn run_seed_showing(seed: u64, reconciler: Reconciler, live: bool) -> Run {
    // A livelock (the loop spinning, so the paused clock never moves) never ends: a watchdog
    // on the wall clock names the seed and stops the test binary.
    let (done, watched) = std::sync::mpsc::channel::<()>();
    std::thread::spawn(move || {
        if let Err(std::sync::mpsc::RecvTimeoutError::Timeout) =
            watched.recv_timeout(Duration::from_secs(SEED_WALL_LIMIT_SECS))
        {
            // Straight to the process's stderr: the test harness's capture dies with it.
            use std::io::Write as _;
            let _ = writeln!(
                std::io::stderr(),
                "seed {seed} did not finish within {SEED_WALL_LIMIT_SECS} s of wall time (a livelock?); replay: {}",
                replay_command(seed)
            );
            std::process::abort();
        }
    });
    let run = run_seed_inner(seed, reconciler, live);
    let _ = done.send(());
    run
}

/// How long one seed may take on the wall clock (it takes well under a second).
const SEED_WALL_LIMIT_SECS: u64 = 120;

fn run_seed_inner(seed: u64, reconciler: Reconciler, live: bool) -> Run {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .unwrap();
    let chaos = Arc::new(Chaos {
        live,
        ..Chaos::default()
    });
    let logs = LogBuffer(Arc::default(), live);
    let subscriber = tracing_subscriber::fmt()
        .with_writer(logs.clone())
        .with_ansi(false)
        .with_max_level(match std::env::var("TENANTSYNC_SIM_LOG").as_deref() {
            Ok("debug") => tracing::Level::DEBUG,
            _ => tracing::Level::INFO,
        })
        .finish();
    let outcome = {
        let _guard = tracing::subscriber::set_default(subscriber);
        tenantsync::tenant::seed_ids_on_this_thread(Some(seed));
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            runtime.block_on(simulate(seed, reconciler, chaos.clone(), logs.clone()))
        }));
        tenantsync::tenant::seed_ids_on_this_thread(None);
        outcome
    };
    drop(runtime);
    let failure = match outcome {
        Ok(Ok(())) => None,
        Ok(Err(message)) => Some(message),
        Err(panic) => Some(format!(
            "panicked: {}",
            panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_default()
        )),
    };
    let s = std::mem::take(&mut *chaos.inner.lock().unwrap());
    Run {
        trace: s.trace,
        failure,
        injected: s.injected,
    }
}

/// The log lines a seed's reconciler wrote.
#[derive(Clone, Default)]
struct LogBuffer(Arc<Mutex<Vec<u8>>>, bool);

impl std::io::Write for LogBuffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.1 {
            print!("      log: {}", String::from_utf8_lossy(buf));
        }
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogBuffer {
    type Writer = LogBuffer;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

/// The driver: steps, invariants after each, then convergence once the faults stop.
async fn simulate(
    seed: u64,
    reconciler: Reconciler,
    chaos: Arc<Chaos>,
    logs: LogBuffer,
) -> Result<(), String> {
    let mut rng = StdRng::seed_from_u64(seed);
    let dir = tempfile::tempdir().unwrap();
    let manifests = dir.path().join("manifests");
    std::fs::create_dir(&manifests).unwrap();
    let tenant: Arc<dyn Target> = Arc::new(LocalTarget::temporary().unwrap());
    // Odd seeds: a target that, like upstream, never promises to deduplicate creates.
    let dedup = seed % 2 == 0;
    let disk = Disk::new(reconciler == Reconciler::WithoutJournal);
    let mut world = World::initial(&mut rng);
    world.write(&manifests);
    chaos.note(format!(
        "seed {seed}: deduplicating target: {dedup}; {world:?}"
    ));
    if rng.gen_bool(0.7) {
        let spec = faults(&mut rng);
        chaos.note(format!("faults {spec}"));
        chaos.inner.lock().unwrap().faults = Some(spec);
    }
    let (mut daemon, mut triggers) = start(&manifests, &tenant, &chaos, &disk, dedup);
    let mut strays = 0;
    for step in 0..STEPS {
        let crashed = match rng.gen_range(0..20) {
            0..=5 => {
                let what = world.edit(&mut rng);
                world.write(&manifests);
                let _ = triggers.send(Trigger::FileChange);
                chaos.note(format!("step {step}: edit: {what}"));
                false
            }
            6..=7 => {
                let what = drift(&mut rng, &*tenant, &mut strays).await;
                chaos.note(format!("step {step}: {what}"));
                false
            }
            8 => {
                let (at, applied) = (rng.gen_range(0..12), rng.gen_bool(0.5));
                let mut s = chaos.inner.lock().unwrap();
                let request = s.n + at;
                s.halt_at = Some((request, applied));
                chaos.push(
                    &mut s,
                    format!("step {step}: crash at request {request} (applied: {applied})"),
                );
                false
            }
            9 => {
                chaos.note(format!("step {step}: crash now"));
                true
            }
            10..=11 => {
                let mut s = chaos.inner.lock().unwrap();
                s.faults = match s.faults.take() {
                    Some(_) => None,
                    None => Some(faults(&mut rng)),
                };
                let line = format!(
                    "step {step}: faults {}",
                    s.faults.as_ref().map_or("off".into(), |f| f.to_string())
                );
                chaos.push(&mut s, line);
                false
            }
            _ => {
                let wait = [0, 10, 100, 500, 2_000, 10_000, 60_000][rng.gen_range(0..7)];
                chaos.note(format!("step {step}: wait {wait} ms"));
                run_for(&mut daemon, &chaos, Duration::from_millis(wait)).await?
            }
        };
        if crashed {
            drop(daemon);
            disk.crash();
            chaos.inner.lock().unwrap().halt_at = None;
            chaos.note(format!("step {step}: crashed; restarting"));
            accounted_for(&disk, &live(&*tenant).await?)
                .map_err(|e| format!("after the crash at step {step}: {e}"))?;
            (daemon, triggers) = start(&manifests, &tenant, &chaos, &disk, dedup);
        }
        no_duplicates(&live(&*tenant).await?).map_err(|e| format!("at step {step}: {e}"))?;
    }

    // The faults stop: the daemon converges within CONVERGE_ROUNDS full rounds.
    {
        let mut s = chaos.inner.lock().unwrap();
        s.faults = None;
        s.halt_at = None;
        chaos.push(&mut s, "faults stop".into());
    }
    let wanted = desired(&world);
    let mut converged = None;
    for round in 0..CONVERGE_ROUNDS {
        let _ = triggers.send(Trigger::Rescan);
        // Long enough for any backoff (at most 5 minutes) and the prune quiet period.
        if run_for(&mut daemon, &chaos, Duration::from_secs(6 * 60)).await? {
            return Err("a halt after the faults stopped".into());
        }
        let state = StateStore::read_only(Box::new(MemoryBackend(disk.clone())))
            .map_err(|e| e.to_string())?;
        let snapshot = state.snapshot().map_err(|e| e.to_string())?;
        let plan = pipeline::plan_once(&*tenant, &wanted, &snapshot, &sim_plan_options(), 2)
            .await
            .map_err(|e| format!("planning after round {round}: {e}"))?;
        let journal: Vec<(String, Value)> = state.journal_all().map_err(|e| e.to_string())?;
        if !plan.has_changes() && journal.is_empty() {
            converged = Some(round);
            break;
        }
        if round + 1 == CONVERGE_ROUNDS {
            return Err(format!(
                "not converged {CONVERGE_ROUNDS} rounds after the faults stopped: {} journal entries; plan: {}",
                journal.len(),
                serde_json::to_value(&plan).map(|p| p["changes"].to_string()).unwrap_or_default()
            ));
        }
    }
    chaos.note(format!(
        "converged after {} round(s)",
        converged.unwrap_or(0) + 1
    ));
    let live = live(&*tenant).await?;
    no_duplicates(&live)?;
    // Every object the manifests hold is live once, with the id the state records.
    let state =
        StateStore::read_only(Box::new(MemoryBackend(disk.clone()))).map_err(|e| e.to_string())?;
    let snapshot = state.snapshot().map_err(|e| e.to_string())?;
    let live_ids: BTreeSet<String> = live
        .iter()
        .flat_map(|(a, cs)| {
            std::iter::once(name(a, "app_id")).chain(cs.iter().map(|c| name(c, "client_id")))
        })
        .collect();
    // The simulated tenant's applications and clients (its manifests hold no other kind).
    for (address, entry) in snapshot.app_entries() {
        if !live_ids.contains(entry.server_id()) {
            return Err(format!(
                "the state maps {address} to {}, which is not live",
                entry.server_id()
            ));
        }
    }
    let managed_live = live
        .iter()
        .filter(|(a, _)| name(a, "app_name").starts_with("App "))
        .count();
    if managed_live != world.apps.len() {
        return Err(format!(
            "{managed_live} managed applications live, the manifests hold {}",
            world.apps.len()
        ));
    }
    // What tenantsync does not manage is never touched.
    let strays_live = live
        .iter()
        .filter(|(a, _)| name(a, "app_name").starts_with("Stray "))
        .count();
    if strays_live != strays as usize {
        return Err(format!(
            "{strays} unmanaged applications were made by hand, {strays_live} are live"
        ));
    }
    // No secret in a log line, a state record or the trace.
    let secrets: Vec<String> = live
        .iter()
        .flat_map(|(_, cs)| cs.iter().map(|c| name(c, "client_secret")))
        .filter(|s| !s.is_empty())
        .collect();
    let log_text = String::from_utf8_lossy(&logs.0.lock().unwrap()).into_owned();
    let records = disk.all_values();
    let trace = chaos.inner.lock().unwrap().trace.join("\n");
    for secret in &secrets {
        if log_text.contains(secret.as_str()) || trace.contains(secret.as_str()) {
            return Err("a client secret appears in the logs".into());
        }
        if records
            .iter()
            .any(|r| r.windows(secret.len()).any(|w| w == secret.as_bytes()))
        {
            return Err("a client secret appears in a state record".into());
        }
    }
    Ok(())
}

/// The command that replays `seed`.
fn replay_command(seed: u64) -> String {
    format!("TENANTSYNC_SIM_SEED={seed} cargo test --test it simulation::replay -- --nocapture")
}

/// Runs `seeds` on every core; the failures, each with its replay command and the end of its
/// trace.
fn run_seeds(seeds: std::ops::Range<u64>, reconciler: Reconciler) -> Vec<(u64, String)> {
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get().min(4)) as u64;
    let failures = Mutex::new(Vec::new());
    let injected: Mutex<BTreeMap<&'static str, u64>> = Mutex::default();
    let count = seeds.end - seeds.start;
    std::thread::scope(|scope| {
        for t in 0..threads {
            let (seeds, failures, injected) = (seeds.clone(), &failures, &injected);
            scope.spawn(move || {
                for seed in seeds.filter(|s| s % threads == t) {
                    let run = run_seed(seed, reconciler);
                    for (kind, n) in &run.injected {
                        *injected.lock().unwrap().entry(*kind).or_default() += n;
                    }
                    if let Some(failure) = run.failure {
                        let tail: Vec<&String> = run.trace.iter().rev().take(30).rev().collect();
                        let tail: Vec<&str> = tail.iter().map(|s| s.as_str()).collect();
                        failures.lock().unwrap().push((
                            seed,
                            format!(
                                "seed {seed}: {failure}\n  replay: {}\n  trace (last lines):\n{}",
                                replay_command(seed),
                                tail.join("\n")
                            ),
                        ));
                    }
                }
            });
        }
    });
    let mut failures = failures.into_inner().unwrap();
    failures.sort_by_key(|(seed, _)| *seed);
    let injected = injected.into_inner().unwrap();
    let requests: u64 = injected.values().sum();
    println!(
        "simulation ({reconciler:?}): {count} seeds, {} failed; {requests} requests, of which injected: {:?}",
        failures.len(),
        injected
            .iter()
            .filter(|(k, _)| **k != "none")
            .collect::<BTreeMap<_, _>>()
    );
    failures
}

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.parse().ok())
}

#[test]
fn seeds_hold_every_invariant() {
    let start = env_u64("TENANTSYNC_SIM_START").unwrap_or(0);
    let count = env_u64("TENANTSYNC_SIM_SEEDS").unwrap_or(DEFAULT_SEEDS);
    let failures = run_seeds(start..start + count, Reconciler::Shipped);
    if let Ok(path) = std::env::var("TENANTSYNC_SIM_FAILURES") {
        let seeds: Vec<String> = failures.iter().map(|(s, _)| s.to_string()).collect();
        std::fs::write(&path, seeds.join("\n")).unwrap();
    }
    let shown: Vec<&str> = failures.iter().take(5).map(|(_, m)| m.as_str()).collect();
    assert!(
        failures.is_empty(),
        "{} of {count} seeds failed:\n{}",
        failures.len(),
        shown.join("\n\n")
    );
}

#[test]
fn a_seed_replays_exactly() {
    for seed in [3, 8, 12, 41, 77] {
        let (a, b) = (
            run_seed(seed, Reconciler::Shipped),
            run_seed(seed, Reconciler::Shipped),
        );
        assert!(
            a.trace.len() > STEPS,
            "a trace records every step and request"
        );
        assert_eq!(a.trace, b.trace, "seed {seed} ran differently twice");
        assert_eq!(a.injected, b.injected);
    }
}

#[test]
fn the_invariants_catch_a_reconciler_without_its_journal() {
    // The same worlds, with a reconciler that never finds its interrupted creates: some seed
    // must fail, saying how to replay it.
    let failures = run_seeds(0..DEFAULT_SEEDS, Reconciler::WithoutJournal);
    assert!(
        !failures.is_empty(),
        "no seed noticed a reconciler without its journal"
    );
    let (seed, message) = &failures[0];
    assert!(message.contains(&replay_command(*seed)), "{message}");
}

#[test]
fn faults_of_every_kind_and_halts_are_injected() {
    let mut total: BTreeMap<&'static str, u64> = BTreeMap::new();
    for seed in 0..40 {
        for (k, v) in run_seed(seed, Reconciler::Shipped).injected {
            *total.entry(k).or_default() += v;
        }
    }
    for kind in FaultKind::ALL {
        assert!(total.get(kind.name()).is_some_and(|n| *n > 0), "{total:?}");
    }
    assert!(total.get("halt").is_some_and(|n| *n > 0), "{total:?}");
}

/// Replays `TENANTSYNC_SIM_SEED` and prints its trace.
#[test]
fn replay() {
    let Some(seed) = env_u64("TENANTSYNC_SIM_SEED") else {
        return;
    };
    let reconciler = match std::env::var("TENANTSYNC_SIM_RECONCILER").as_deref() {
        Ok("without-journal") => Reconciler::WithoutJournal,
        _ => Reconciler::Shipped,
    };
    let run = run_seed_showing(seed, reconciler, true);
    println!("injected: {:?}", run.injected);
    if let Some(failure) = run.failure {
        panic!("seed {seed}: {failure}");
    }
}
