//! What plan, apply and sync share: choosing the target from `--target` and the environment, and
//! reading the state without creating it.

use std::collections::BTreeMap;

use std::path::Path;
use std::sync::Arc;

use anyhow::{bail, Context as _};

use crate::cli::{DeliveryArgs, GlobalArgs, ReconcileArgs};
use crate::drift::DriftRecord;
use crate::manifest::DesiredState;
use crate::plan::{Plan, PlanOptions};
use crate::reconcile::deliver::{deliver, DeliveryReport, Sink};
use crate::reconcile::pipeline::{self, ReconcileError};
use crate::state::address::{Address, AddressRef};
use crate::state::entry::StateSnapshot;
use crate::state::store::StateStore;
use crate::state::{self, Access, Location};
use crate::targets::http::{is_loopback, Credentials, HttpTarget};
use crate::targets::local::LocalTarget;
use crate::targets::usage::ApiUsage;
use crate::targets::Target;

/// The one line on stderr every command that talks to a target ends with (`41 requests: 38 GET,
/// 3 PUT; 2.1 s at 20/s`, see [`crate::targets::usage::summary_line`]): printed when the command
/// lets go of it, so error paths end with it too.
#[must_use = "the summary is printed when this is dropped"]
pub struct RequestSummary {
    usage: Arc<ApiUsage>,
    /// Printed before the line (the environment, when a command works on several).
    label: Option<String>,
}

impl RequestSummary {
    /// Reports the requests `target` sends (all of them, from its creation).
    pub fn of(target: &dyn Target) -> Self {
        Self::of_usage(target.usage())
    }

    /// Reports the requests counted in `usage` (a command that sends its own requests).
    pub fn of_usage(usage: Arc<ApiUsage>) -> Self {
        Self { usage, label: None }
    }

    /// The same, its line starting with `label: `.
    pub fn labelled(mut self, label: &str) -> Self {
        self.label = Some(label.to_owned());
        self
    }

    /// The accounting behind it.
    pub fn usage(&self) -> &ApiUsage {
        &self.usage
    }
}

impl Drop for RequestSummary {
    fn drop(&mut self) {
        match &self.label {
            Some(label) => eprintln!("{label}: {}", self.usage.summary()),
            None => eprintln!("{}", self.usage.summary()),
        }
    }
}

/// Default request rate for remote (non-loopback) HTTP targets, per second.
pub const REMOTE_DEFAULT_RATE: f64 = 20.0;

/// Opens the target named by `--target`. With `create: false` an embedded tenant that does not
/// exist yet reads as empty and nothing is written.
pub fn open_target(
    global: &GlobalArgs,
    create: bool,
    rate: Option<f64>,
) -> anyhow::Result<Box<dyn Target>> {
    let spec = global.target.trim();
    if spec == "local" {
        let dir = global.state_dir.join("local");
        return Ok(Box::new(LocalTarget::open(&dir, create).with_context(
            || format!("opening the embedded tenant in {}", dir.display()),
        )?));
    }
    if let Some(dir) = spec.strip_prefix("local:") {
        let dir = Path::new(dir);
        return Ok(Box::new(LocalTarget::open(dir, create).with_context(
            || format!("opening the embedded tenant in {}", dir.display()),
        )?));
    }
    if spec.starts_with("http://") || spec.starts_with("https://") {
        let credentials = http_credentials(global, spec)?;
        let rate = rate.or((!is_loopback(spec)).then_some(REMOTE_DEFAULT_RATE));
        return Ok(Box::new(
            HttpTarget::new(spec, credentials, rate)?.with_max_retry_after(global.max_retry_after),
        ));
    }
    bail!("--target `{}` is not `local`, `local:DIR` or an http(s) URL of the Applications API (e.g. http://127.0.0.1:8080/cis)", crate::targets::http::display_url(spec))
}

/// The credentials for an http target: from the variables the chosen environment names, or
/// from `TENANTSYNC_TOKEN`, or `TENANTSYNC_CLIENT_ID` and `TENANTSYNC_CLIENT_SECRET`.
pub fn http_credentials(global: &GlobalArgs, spec: &str) -> anyhow::Result<Credentials> {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    if let Some(env) = &global.environment {
        if let Some(vars) = &env.credentials {
            return match (var(&vars.client_id), var(&vars.client_secret)) {
                (Some(client_id), Some(client_secret)) => Ok(Credentials::ClientCredentials {
                    client_id,
                    client_secret,
                }),
                _ => bail!(
                    "environment `{}` takes its credentials from {} and {}: set both",
                    env.name,
                    vars.client_id,
                    vars.client_secret
                ),
            };
        }
    }
    Ok(match (
            var("TENANTSYNC_TOKEN"),
            var("TENANTSYNC_CLIENT_ID"),
            var("TENANTSYNC_CLIENT_SECRET"),
        ) {
            (Some(token), _, _) => Credentials::Token(token),
            (None, Some(client_id), Some(client_secret)) => Credentials::ClientCredentials { client_id, client_secret },
            (None, Some(_), None) | (None, None, Some(_)) => {
                bail!("set both TENANTSYNC_CLIENT_ID and TENANTSYNC_CLIENT_SECRET (or TENANTSYNC_TOKEN)")
            }
            (None, None, None) => bail!(
                "no credentials for {}: set TENANTSYNC_CLIENT_ID and TENANTSYNC_CLIENT_SECRET (a management client), or TENANTSYNC_TOKEN",
                crate::targets::http::display_url(spec)
            ),
        })
}

/// Where the state is: the one reading of `--state`, `--state-scope` and `--state-dir`.
pub fn state_location(global: &GlobalArgs) -> Location {
    Location::from_flags(
        global.state_url.as_deref(),
        &global.state_dir,
        &global.state_scope,
    )
}

/// The stored state for a read-only command, if there is one (opened without taking a shared
/// state's lock; never creates, upgrades or writes anything: a state of an older layout is read
/// as it is).
pub fn stored_state(global: &GlobalArgs) -> anyhow::Result<Option<StateStore>> {
    Ok(state::open_existing(&state_location(global))?)
}

/// The state for a read-only command: the stored state (opened and released at once), else an
/// empty state.
pub fn read_state(global: &GlobalArgs) -> anyhow::Result<Arc<StateSnapshot>> {
    match stored_state(global)? {
        Some(store) => Ok(store.snapshot()?),
        None => Ok(Arc::default()),
    }
}

/// The open drift episodes the state knows, without writing it (none when there is no state).
pub fn read_drift(global: &GlobalArgs) -> anyhow::Result<BTreeMap<Address, DriftRecord>> {
    match stored_state(global)? {
        Some(store) => Ok(store.drift_open()?),
        None => Ok(BTreeMap::new()),
    }
}

/// Opens (creating) the state for a command that writes it; fails at once if another process
/// holds it. A state of an older layout is upgraded in place, and said so on stderr.
pub fn open_state(global: &GlobalArgs) -> anyhow::Result<StateStore> {
    let location = state_location(global);
    let access = Access::Write {
        lock_timeout: global.lock_timeout,
    };
    let store = state::open(&location, access)?;
    if let Some(from) = store.upgraded_from() {
        eprintln!(
            "note: upgraded the state {} from schema {from} to {}; its old records are kept until the next successful apply",
            location.describe(),
            state::schema::STATE_SCHEMA_VERSION
        );
    }
    Ok(store)
}

/// The object `text` names: `Application/NAME`, `Client/APP/NAME`, or `Client/DOCUMENT` (a
/// `kind: Client` document's `metadata.name`, looked up in the manifests at `paths`, which are
/// read only for that form).
pub fn resolve_address(
    global: &GlobalArgs,
    text: &str,
    paths: &[std::path::PathBuf],
) -> anyhow::Result<Address> {
    let document = match AddressRef::parse(text) {
        Some(AddressRef::Address(address)) => return Ok(address),
        Some(AddressRef::ClientDocument(document)) => document,
        None => bail!("`{text}` is not an address: use {}", AddressRef::FORMS),
    };
    let shown: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
    let desired = super::validate::load_manifests(global, paths).map_err(|e| {
        anyhow::anyhow!(
            "`{text}` names a Client document, but the manifests in {} do not load:\n{e}",
            shown.join(", ")
        )
    })?;
    let found = desired
        .each()
        .find(|(_, c)| c.client().and_then(|f| f.document.as_deref()) == Some(document.as_str()))
        .map(|(address, _)| address.clone());
    found.ok_or_else(|| {
        anyhow::anyhow!(
            "`{text}`: no Client document named `{document}` in {} (use {})",
            shown.join(", "),
            AddressRef::FORMS
        )
    })
}

/// Observes `target` and plans `desired` against `state` with the reconcile flags.
pub async fn plan_now(
    target: &dyn Target,
    desired: &DesiredState,
    state: &StateSnapshot,
    args: &ReconcileArgs,
) -> Result<Plan, ReconcileError> {
    plan_now_refreshing(target, desired, state, args, crate::plan::Refresh::All).await
}

/// [`plan_now`] reading what `refresh` says (`plan --refresh`).
pub async fn plan_now_refreshing(
    target: &dyn Target,
    desired: &DesiredState,
    state: &StateSnapshot,
    args: &ReconcileArgs,
    refresh: crate::plan::Refresh,
) -> Result<Plan, ReconcileError> {
    pipeline::plan_once_refreshing(
        target,
        desired,
        state,
        &plan_options(args),
        args.concurrency,
        refresh,
    )
    .await
}

/// Refuses a plan that touches live objects another scope of the shared state manages,
/// naming each object and its scope.
pub fn refuse_foreign_objects(global: &GlobalArgs, plan: &Plan) -> anyhow::Result<()> {
    let location = state_location(global);
    if matches!(location, Location::Dir(_)) {
        return Ok(());
    }
    pipeline::refuse_foreign_objects(plan, |ids| {
        state::open_backend(&location, Access::Read)?.claimed_elsewhere(ids)
    })?;
    Ok(())
}

/// The credential sinks `apply` and `sync` deliver to.
pub fn delivery_sinks(args: &DeliveryArgs) -> anyhow::Result<Vec<Sink>> {
    let mut sinks: Vec<Sink> = args
        .out_dirs
        .iter()
        .map(|dir| Sink::Files {
            dir: dir.clone(),
            format: args.file_format,
        })
        .collect();
    for command in &args.commands {
        sinks.push(Sink::exec(command, args.exec_timeout).map_err(anyhow::Error::msg)?);
    }
    Ok(sinks)
}

/// Delivers credentials to `sinks` after an apply, and says what happened (failures on
/// stderr; they never fail the command and are retried on the next run).
pub async fn deliver_and_report(
    target: &dyn Target,
    state: &StateStore,
    sinks: &[Sink],
    text: bool,
) -> Option<DeliveryReport> {
    if sinks.is_empty() {
        return None;
    }
    match deliver(target, state, sinks).await {
        Ok(report) => {
            for failure in &report.failures {
                eprintln!("warning: credential delivery: {failure}; retried on the next run");
            }
            if text {
                println!(
                    "Credentials: {} delivered, {} withdrawn, {} failed.",
                    report.delivered,
                    report.withdrawn,
                    report.failures.len()
                );
            }
            Some(report)
        }
        Err(e) => {
            eprintln!("warning: credentials were not delivered: {e}; retried on the next run");
            None
        }
    }
}

/// The planner options the reconcile flags ask for.
pub fn plan_options(args: &ReconcileArgs) -> PlanOptions {
    PlanOptions {
        prune: args.prune,
        max_deletes: args.max_deletes,
        allow_mass_delete: args.allow_mass_delete,
        hold_mass_delete: false,
        allow_cascade: args.allow_cascade,
        assume_full_view: args.assume_full_view,
    }
}

/// Whether stdout is a terminal that takes colors.
pub fn color_stdout(global: &GlobalArgs) -> bool {
    use std::io::IsTerminal as _;
    !global.no_color && std::env::var_os("NO_COLOR").is_none() && std::io::stdout().is_terminal()
}
