//! The command-line interface (clap): commands, flags and environment variables exactly as
//! README documents them. Parsing only; each command lives in `commands/`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::daemon::OnDrift;
use crate::manifest::{EnvValues, ReadAllowance};
use crate::telemetry::LogFormat;

mod environments;
mod ops;
mod parse;
mod sources;
pub use environments::{
    EnvArgs, EnvCommand, EnvDiffArgs, PromoteArgs, RenderArgs, SchemaArgs, SchemaOf,
};
pub use ops::{DoctorArgs, HistoryArgs, ServeArgs, StateAction, StateArgs};
pub use parse::{parse_concurrency, parse_duration, parse_period, parse_rate};
pub use sources::FromVariables;

/// Keep Mosaic applications and their OAuth/OIDC/SAML clients in git.
#[derive(Debug, Parser)]
#[command(
    name = "tenantsync",
    version,
    about = "Keep Transmit Security Mosaic applications and their OAuth/OIDC/SAML clients in git",
    long_about = "Keep Transmit Security Mosaic applications and their OAuth/OIDC/SAML clients in git.\n\n\
Describe apps and clients in YAML manifests, review a plan, apply it from CI, or let the sync \
daemon keep the live tenant equal to the repository. The live tenant is the upstream \
Applications API (--target https://…/cis) or the bundled sled-backed implementation \
(the default `local` target, or `tenantsync serve`).",
    after_help = "Examples:\n  tenantsync validate manifests/\n  tenantsync plan\n  tenantsync apply --yes\n  tenantsync serve --listen 127.0.0.1:8080"
)]
pub struct Cli {
    /// Options every command accepts.
    #[command(flatten)]
    pub global: GlobalArgs,
    /// The command to run.
    #[command(subcommand)]
    pub command: Command,
}

/// The target when none is named: the embedded tenant.
pub const DEFAULT_TARGET: &str = "local";

/// The state directory when none is named.
pub const DEFAULT_STATE_DIR: &str = ".tenantsync";

/// Options shared by every command.
#[derive(Debug, Clone, Args)]
pub struct GlobalArgs {
    /// Live tenant: `local` (embedded store in the state dir), `local:DIR`, or an Applications
    /// API base URL such as `http://127.0.0.1:8080/cis`.
    #[arg(
        long,
        env = "TENANTSYNC_TARGET",
        default_value = DEFAULT_TARGET,
        global = true
    )]
    pub target: String,
    /// Reconciler state directory (ownership, ids, last-applied, journal, history).
    #[arg(
        long,
        env = "TENANTSYNC_STATE_DIR",
        default_value = DEFAULT_STATE_DIR,
        global = true
    )]
    pub state_dir: PathBuf,
    /// Shared reconciler state in PostgreSQL instead of --state-dir
    /// (`postgres://user:password@host/db?sslmode=require`; TLS unless `sslmode=disable`).
    /// Empty: the local state.
    #[arg(
        long = "state",
        env = "TENANTSYNC_STATE",
        hide_env_values = true,
        global = true,
        value_name = "URL"
    )]
    pub state_url: Option<String>,
    /// The part of a shared state this run owns: separate entries and lock per scope.
    #[arg(
        long,
        env = "TENANTSYNC_STATE_SCOPE",
        default_value = "default",
        global = true
    )]
    pub state_scope: String,
    /// How long to wait for another run's lock on a shared state (0: fail at once, naming the
    /// holder).
    #[arg(
        long,
        env = "TENANTSYNC_LOCK_TIMEOUT",
        default_value = "0s",
        value_parser = parse_duration,
        global = true
    )]
    pub lock_timeout: Duration,
    /// Log line format (logs go to stderr; `RUST_LOG` filters).
    #[arg(
        long,
        env = "TENANTSYNC_LOG_FORMAT",
        value_enum,
        default_value = "text",
        global = true
    )]
    pub log_format: LogFormat,
    /// Disable colored output (also honoured: the NO_COLOR environment variable).
    #[arg(long, global = true)]
    pub no_color: bool,
    /// Show logs (`-v` info, `-vv` debug). One-shot commands print only their output by
    /// default; `sync` and `serve` log at info. `RUST_LOG` overrides both.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    /// A directory `${file:…}` references may read besides the manifest root (repeatable).
    #[arg(long, value_name = "DIR", global = true)]
    pub allow_file_dir: Vec<PathBuf>,
    /// Secret-looking variable names (containing SECRET, TOKEN, PASS, PWD, PRIVATE, CREDENTIAL,
    /// KEY, DSN or AUTH), and `*_URL` variables holding `user:password@`, that `${env:…}` may
    /// read; `*` wildcards, comma-separated in the variable. `TENANTSYNC_*` is never readable.
    #[arg(
        long,
        value_name = "GLOB",
        env = "TENANTSYNC_ENV_ALLOW",
        value_delimiter = ',',
        global = true
    )]
    pub env_allow: Vec<String>,
    /// Longest `Retry-After` an http target's answer is honoured for (a longer one fails the
    /// request instead of waiting).
    #[arg(
        long,
        env = "TENANTSYNC_MAX_RETRY_AFTER",
        default_value = "120s",
        value_parser = parse_duration,
        global = true
    )]
    pub max_retry_after: Duration,
    /// The environment of the project file to work on: it chooses the target, the variables
    /// holding the credentials, the state and the `${var:…}` values. `plan` takes several,
    /// comma-separated.
    #[arg(
        long = "env",
        env = "TENANTSYNC_ENV",
        value_delimiter = ',',
        global = true,
        value_name = "NAME"
    )]
    pub envs: Vec<String>,
    /// Which of the target and state options were read from their variables rather than
    /// given on the command line ([`Cli::parse_with_sources`]).
    #[arg(skip)]
    pub from_variables: FromVariables,
    /// The project file naming the environments (read only with `--env` and the commands
    /// about environments).
    #[arg(
        long,
        env = "TENANTSYNC_PROJECT",
        default_value = crate::project::FILE_NAME,
        global = true,
        value_name = "FILE"
    )]
    pub project: PathBuf,
    /// The environment chosen with `--env` (filled in before the command runs).
    #[arg(skip)]
    pub environment: Option<crate::project::EnvironmentSpec>,
}

impl GlobalArgs {
    /// What interpolation may read besides the manifests' own directories.
    pub fn read_allowance(&self) -> ReadAllowance {
        ReadAllowance {
            file_dirs: self.allow_file_dir.clone(),
            // `A, B` in the variable: each name without the spaces around it.
            env_names: self
                .env_allow
                .iter()
                .map(|g| g.trim().to_owned())
                .filter(|g| !g.is_empty())
                .collect(),
            values: self.environment.as_ref().map(|e| EnvValues {
                environment: e.name.clone(),
                values: e.values.clone(),
            }),
        }
    }
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Load and validate manifests; no network, no writes.
    #[command(after_help = "Example:\n  tenantsync validate manifests/ --format json")]
    Validate(ValidateArgs),
    /// Print the manifests as an environment sees them (overlay applied, `${var:…}` values
    /// written in; `${env:…}` and `${file:…}` left as written); no network.
    #[command(after_help = "Example:\n  tenantsync render --env prod")]
    Render(RenderArgs),
    /// The project file's environments: list them, or show how two differ.
    Env(EnvArgs),
    /// Move an environment to the commit the one before it runs, through gates (applied,
    /// no drift, soaked, lint, no deletion). Exit 0: promoted; 1: refused.
    #[command(
        after_help = "Examples:\n  tenantsync promote dev prod\n  tenantsync promote staging prod --push"
    )]
    Promote(PromoteArgs),
    /// Show what apply would do; read-only against target and state.
    #[command(
        visible_alias = "diff",
        after_help = "Examples:\n  tenantsync plan\n  tenantsync plan --format markdown --detailed-exitcode\n  tenantsync plan --out plan.json"
    )]
    Plan(PlanArgs),
    /// Report live changes made outside tenantsync (drift), apart from manifest changes not
    /// applied yet (pending); read-only.
    #[command(
        after_help = "Examples:\n  tenantsync drift\n  tenantsync drift --detailed-exitcode   # nightly: exit 2 on drift\n  tenantsync drift --format markdown > drift.md"
    )]
    Drift(DriftArgs),
    /// Make the target equal to the manifests, or carry out a saved plan.
    #[command(
        after_help = "Examples:\n  tenantsync apply --yes\n  tenantsync apply --plan plan.json --yes\n  tenantsync apply --prune --max-deletes 3"
    )]
    Apply(ApplyArgs),
    /// Long-running daemon: watch, reconcile, self-heal, serve health and metrics.
    #[command(
        after_help = "Examples:\n  tenantsync sync manifests/ --interval 5m\n  tenantsync sync --git https://git.example.com/idp.git --branch main --git-path manifests"
    )]
    Sync(Box<SyncArgs>),
    /// Write manifests for everything live, ready to commit.
    #[command(after_help = "Example:\n  tenantsync export --out manifests/")]
    Export(ExportArgs),
    /// Adopt one existing live object into state without changing it.
    #[command(
        after_help = "Examples:\n  tenantsync import Application/food-delivery 0a1b2c3d\n  tenantsync import Client/food-delivery/iOS Xy12Zz\n  tenantsync import Resource/payouts-api 5f2c9e01"
    )]
    Import(ImportArgs),
    /// Run the bundled Applications API server.
    #[command(
        after_help = "Example:\n  tenantsync serve --listen 127.0.0.1:8080 --data .tenantsync/server\n\n\
Admin credentials come from TENANTSYNC_ADMIN_CLIENT_ID / TENANTSYNC_ADMIN_CLIENT_SECRET, or are \
generated on first start into DATA/admin-credentials (mode 0600)."
    )]
    Serve(ServeArgs),
    /// List, show or forget entries of the reconciler state.
    #[command(
        after_help = "Examples:\n  tenantsync state list\n  tenantsync state show Application/food-delivery"
    )]
    State(StateArgs),
    /// Past applies: when, what, result.
    #[command(after_help = "Example:\n  tenantsync history --format json")]
    History(HistoryArgs),
    /// Check that tenantsync can operate safely against a target: credentials, permissions,
    /// response shapes, idempotency support, rate limits. The first command against a real tenant.
    #[command(
        after_help = "Examples:\n  tenantsync doctor --target https://api.sbx.transmitsecurity.io/cis\n  tenantsync doctor --target https://api.sbx.transmitsecurity.io/cis --write --format json\n\n\
Read-only unless --write, which creates a throwaway application `tenantsync-doctor-<random>` with two \
clients, updates a nested object and deletes it all (nothing else is touched). Exit 0 when tenantsync \
can operate safely, 1 otherwise."
    )]
    Doctor(DoctorArgs),
    /// Check the manifests against OAuth / OIDC / SAML security rules (RFC 9700, RFC 8252,
    /// FAPI 2.0); no network, no state.
    #[command(
        after_help = "Examples:\n  tenantsync lint\n  tenantsync lint manifests/ --format sarif > lint.sarif\n  tenantsync lint --fail-on medium --policy policy.yaml\n  tenantsync lint --rules\n\n\
Exit 1 when a finding reaches --fail-on (default high). An object opts out of a rule with the \
annotation `tenantsync/policy-ignore: \"TS001: why\"` (several separated by `;`; a reason is required). \
A policy file sets severities, disables rules and changes limits:\n  rules: {TS004: {severity: medium}, TS006: {enabled: false}}\n  limits: {access_token_ttl_medium: 1800, access_token_ttl_high: 43200, native_refresh_token_ttl: 2592000}"
    )]
    Lint(LintArgs),
    /// Print the client ids and secrets of managed clients, read live; only for the clients
    /// named (or `--all`). The one command that prints secrets; it writes nothing.
    #[command(
        after_help = "Examples:\n  tenantsync credentials Client/shop/Web --format env > web.env\n  tenantsync credentials Application/shop --format json\n  tenantsync credentials --all --format json\n\n\
An application names all of its managed clients. Public clients (token_endpoint_auth_method: none) \
and SAML clients have no secret: only their client_id is printed."
    )]
    Credentials(CredentialsArgs),
    /// Print the JSON Schema of the manifest format (or of the project file).
    #[command(
        after_help = "Examples:\n  tenantsync schema > schema/tenantsync.schema.json\n  tenantsync schema project > schema/project.schema.json"
    )]
    Schema(SchemaArgs),
    /// Print shell completions.
    #[command(
        after_help = "Example:\n  tenantsync completions bash > /etc/bash_completion.d/tenantsync"
    )]
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: Shell,
    },
    /// Print the man page (roff).
    #[command(after_help = "Example:\n  tenantsync man > /usr/local/share/man/man1/tenantsync.1")]
    Man,
}

/// Shells with completions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Shell {
    /// GNU bash.
    Bash,
    /// Z shell.
    Zsh,
    /// fish.
    Fish,
}

/// Arguments of `lint`.
#[derive(Debug, Args)]
pub struct LintArgs {
    /// Where the manifests are.
    #[command(flatten)]
    pub manifests: ManifestPaths,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    pub format: LintFormat,
    /// Exit 1 when a finding is at least this severe.
    #[arg(long, value_enum, default_value = "high")]
    pub fail_on: crate::policy::Severity,
    /// A policy file (YAML): severities, disabled rules, limits.
    #[arg(long)]
    pub policy: Option<PathBuf>,
    /// List every rule with its rationale and reference, and exit.
    #[arg(long)]
    pub rules: bool,
}

/// Output format of `lint`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LintFormat {
    /// `file:line:col: severity rule: message`.
    Text,
    /// Versioned JSON.
    Json,
    /// SARIF 2.1.0, for code scanning.
    Sarif,
    /// A pull-request comment section.
    Markdown,
}

/// Arguments of `credentials`.
#[derive(Debug, Args)]
pub struct CredentialsArgs {
    /// Managed clients (`Client/APP/NAME`, or `Client/DOCUMENT`: a `kind: Client` document's
    /// `metadata.name`) or applications (`Application/APP`: all its managed clients).
    pub objects: Vec<String>,
    /// Every managed client.
    #[arg(long, conflicts_with = "objects")]
    pub all: bool,
    /// Manifest files or directories, read only to resolve `Client/DOCUMENT`.
    #[arg(long = "manifests", default_value = "manifests")]
    pub manifests: Vec<PathBuf>,
    /// `env`: `APP_CLIENT_CLIENT_ID='…'` lines for a shell or a `.env` file; `json`: an array.
    #[arg(long, value_enum, default_value = "env")]
    pub format: CredentialsFormat,
}

/// Output format of `credentials`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CredentialsFormat {
    /// Shell variables.
    Env,
    /// JSON.
    Json,
}

/// Where `apply` and `sync` deliver the credentials of the confidential clients they manage.
#[derive(Debug, Args, Default)]
pub struct DeliveryArgs {
    /// Write one file per managed client into DIR (`DIR/<app>/<client>.json`, mode 0600);
    /// removed when the client is pruned. Repeatable.
    #[arg(long = "credentials-out", value_name = "DIR")]
    pub out_dirs: Vec<PathBuf>,
    /// Format of the --credentials-out files.
    #[arg(long = "credentials-format", value_enum, default_value = "json")]
    pub file_format: crate::credentials::FileFormat,
    /// Run CMD once per delivery (created, changed, deleted) with a JSON event on stdin; no
    /// shell unless CMD is `sh -c '…'`. A failure is reported and retried on the next run.
    /// Repeatable.
    #[arg(long = "credentials-exec", value_name = "CMD")]
    pub commands: Vec<String>,
    /// How long a --credentials-exec command may run.
    #[arg(long = "credentials-exec-timeout", default_value = "30s", value_parser = parse_period)]
    pub exec_timeout: Duration,
}

/// Output format of plan / apply / validate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// Human-readable.
    Text,
    /// Versioned JSON.
    Json,
    /// A pull-request comment.
    Markdown,
}

/// The manifest files and directories a command reads (directories are recursed for `*.yaml`
/// and `*.yml`; `sync` watches them).
#[derive(Debug, Args)]
pub struct ManifestPaths {
    /// Manifest files or directories (recursed; `*.yaml`, `*.yml`).
    #[arg(default_value = "manifests")]
    pub paths: Vec<PathBuf>,
}

/// Arguments of `validate`.
#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Where the manifests are.
    #[command(flatten)]
    pub manifests: ManifestPaths,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    pub format: OutputFormat,
}

/// Safety and speed options shared by plan, apply and sync.
#[derive(Debug, Args)]
pub struct ReconcileArgs {
    /// Delete managed objects that are no longer in the manifests.
    #[arg(long)]
    pub prune: bool,
    /// Refuse a plan that deletes more than N objects.
    #[arg(long, default_value_t = 10)]
    pub max_deletes: usize,
    /// Allow plans that delete more than --max-deletes objects.
    #[arg(long)]
    pub allow_mass_delete: bool,
    /// Let --prune delete an application together with clients tenantsync never created or
    /// adopted (refused otherwise, naming them).
    #[arg(long)]
    pub allow_cascade: bool,
    /// Plan creates even when the credential may not see the whole tenant (its token has no
    /// Admin role, or an application the state maps can no longer be found); refused otherwise,
    /// since an object the credential cannot see would be created a second time.
    #[arg(long)]
    pub assume_full_view: bool,
    /// Independent writes in flight at once (1 to 256).
    #[arg(long, default_value_t = 8, value_parser = parse_concurrency)]
    pub concurrency: usize,
    /// Use this state against another target than the one it recorded: forget the recorded ids
    /// and adopt the target's objects by name.
    #[arg(long)]
    pub rebind_target: bool,
    /// Requests per second (default: unlimited for local and loopback targets, 20 otherwise).
    #[arg(long, value_parser = parse_rate)]
    pub rate: Option<f64>,
}

/// Arguments of `plan`.
#[derive(Debug, Args)]
pub struct PlanArgs {
    /// Where the manifests are.
    #[command(flatten)]
    pub manifests: ManifestPaths,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    pub format: OutputFormat,
    /// Save the plan (JSON) for `apply --plan`.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Exit 2 when there are changes (0: none, 1: error).
    #[arg(long)]
    pub detailed_exitcode: bool,
    /// What to read from the target: `all` (every managed object) or `changed` (only the
    /// objects whose manifests differ from last-applied, new ones and their application, and
    /// those that left the manifests; drift in the others is not shown).
    #[arg(long, value_enum, default_value = "all")]
    pub refresh: RefreshArg,
    /// Plan every environment of the project file (as `--env` naming them all).
    #[arg(long)]
    pub all_envs: bool,
    /// Reconcile options.
    #[command(flatten)]
    pub reconcile: ReconcileArgs,
}

/// `plan --refresh`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum RefreshArg {
    /// Read every managed object.
    All,
    /// Read only what the manifests changed.
    Changed,
}

impl From<RefreshArg> for crate::plan::Refresh {
    fn from(arg: RefreshArg) -> Self {
        match arg {
            RefreshArg::All => Self::All,
            RefreshArg::Changed => Self::Changed,
        }
    }
}

/// Arguments of `drift`.
#[derive(Debug, Args)]
pub struct DriftArgs {
    /// Where the manifests are.
    #[command(flatten)]
    pub manifests: ManifestPaths,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    pub format: OutputFormat,
    /// Exit 2 when there is drift (0: none, 1: error). Pending changes alone exit 0.
    #[arg(long)]
    pub detailed_exitcode: bool,
    /// Reconcile options.
    #[command(flatten)]
    pub reconcile: ReconcileArgs,
}

/// Arguments of `apply`.
#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// Where the manifests are.
    #[command(flatten)]
    pub manifests: ManifestPaths,
    /// Carry out a saved plan instead of planning now.
    #[arg(long)]
    pub plan: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    pub format: OutputFormat,
    /// Do not ask for confirmation.
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// What to read from the target before planning, as `plan --refresh`: `all` or `changed`
    /// (only what the manifests changed; drift in the other objects is neither shown nor
    /// corrected).
    #[arg(long, value_enum, default_value = "all")]
    pub refresh: RefreshArg,
    /// Reconcile options.
    #[command(flatten)]
    pub reconcile: ReconcileArgs,
    /// Credential delivery.
    #[command(flatten)]
    pub delivery: DeliveryArgs,
}

/// Arguments of `sync`.
#[derive(Debug, Args)]
pub struct SyncArgs {
    /// Where the manifests are.
    #[command(flatten)]
    pub manifests: ManifestPaths,
    /// Reconcile from this git repository instead of a directory.
    #[arg(long)]
    pub git: Option<String>,
    /// Branch to follow with --git (default: the `ref` of the environment `--env` chose, else
    /// `main`).
    #[arg(long)]
    pub branch: Option<String>,
    /// Directory inside the repository holding the manifests.
    #[arg(long, default_value = ".")]
    pub git_path: PathBuf,
    /// How often to fetch the git repository.
    #[arg(long, default_value = "30s", value_parser = parse_period)]
    pub poll: Duration,
    /// The drift sweep's period: every managed application is re-read at least once per this
    /// period, a slice at a time (a manifest change reads only what it changes). Stretched, and
    /// said so, when --read-budget cannot cover it.
    #[arg(long, default_value = "5m", value_parser = parse_period)]
    pub interval: Duration,
    /// Requests per second the drift sweep may spend on average (default: a quarter of --rate;
    /// unlimited when the rate is).
    #[arg(long, value_parser = parse_rate, value_name = "R")]
    pub read_budget: Option<f64>,
    /// What to do with an object changed outside tenantsync: `heal` writes the manifest's
    /// values back; `report` only reports it (logs, /status, metrics, --notify-url) and never
    /// writes the object; `propose` (with --git) also commits the live values to a branch
    /// `tenantsync/drift/<object>` and pushes it.
    #[arg(long, value_enum, default_value_t = OnDrift::Heal)]
    pub on_drift: OnDrift,
    /// POST a JSON event (with a Slack-compatible `text`) here when drift is detected, healed,
    /// resolved or proposed; retried with backoff, never blocking a reconcile.
    #[arg(long, value_name = "URL")]
    pub notify_url: Option<String>,
    /// Notify of a drift once this many reconciles in a row have seen it.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    pub notify_after: u32,
    /// With --state postgres://…: replicas elect one leader; when it dies or loses the
    /// database, a follower takes over within this time.
    #[arg(long, default_value = "15s", value_parser = parse_period)]
    pub leader_timeout: Duration,
    /// A file holding the git remote's credentials: `USER:TOKEN`, or a token alone. They reach
    /// git through its environment, never its command line.
    #[arg(long, value_name = "FILE")]
    pub git_credentials_file: Option<PathBuf>,
    /// Longest a git command may take before it is killed.
    #[arg(long, default_value = "60s", value_parser = parse_period)]
    pub git_timeout: Duration,
    /// A file holding the secret `POST /hooks/sync` requests are signed with (GitHub
    /// `X-Hub-Signature-256`, or GitLab `X-Gitlab-Token`). Without it, hooks are accepted only
    /// when --listen is a loopback address.
    #[arg(long, value_name = "FILE")]
    pub webhook_secret_file: Option<PathBuf>,
    /// Address of the web page (`/`), /healthz, /readyz, /metrics, /status and /hooks/sync.
    #[arg(long, default_value = "127.0.0.1:9464")]
    pub listen: SocketAddr,
    /// A file holding the token the web page asks for (at least 16 characters): sent as
    /// `Authorization: Bearer TOKEN`, or typed once into its login form. Without it the page is
    /// served only when --listen is a loopback address.
    #[arg(long, value_name = "FILE")]
    pub ui_token_file: Option<PathBuf>,
    /// Serve `/badge.svg`, a status badge (in sync, drift, failed, pending) anyone who reaches
    /// the listener may fetch.
    #[arg(long)]
    pub ui_badge: bool,
    /// Reconcile options.
    #[command(flatten)]
    pub reconcile: ReconcileArgs,
    /// Credential delivery.
    #[command(flatten)]
    pub delivery: DeliveryArgs,
}

/// Arguments of `export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Directory to write manifests into.
    #[arg(long)]
    pub out: PathBuf,
    /// Only write files; do not record the objects as adopted in the state.
    #[arg(long)]
    pub no_adopt: bool,
    /// Print nothing on stdout, and no notes about the files written (`env diff --live`
    /// exports to compare, into files nobody sees); warnings are still printed.
    #[arg(skip)]
    pub quiet: bool,
}

/// Arguments of `import`.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// `Application/NAME`, `Client/APP/NAME` or `Client/DOCUMENT` as named in the manifests;
    /// for the other kinds their address (`Resource/URI`, `ServiceProvider/ENTITY_ID`,
    /// `Role/APP/ROLE_NAME`, `LoginPreferences/APP`) or `KIND/DOCUMENT` (metadata.name).
    pub address: String,
    /// The live object's server id (app_id, client_id, resource_id, service_provider_id,
    /// role_id; for LoginPreferences the application's app_id).
    pub id: String,
    /// Manifest files or directories.
    #[arg(long = "manifests", default_value = "manifests")]
    pub paths: Vec<PathBuf>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }
}
