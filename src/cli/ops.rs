//! The arguments of the operational commands: `serve`, `state`, `doctor`, `history`.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Subcommand};

use super::OutputFormat;

/// Arguments of `serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Data directory (sled store and generated admin credentials).
    #[arg(
        long,
        env = "TENANTSYNC_DATA_DIR",
        default_value = ".tenantsync/server"
    )]
    pub data: PathBuf,
    /// Path prefix of the API.
    #[arg(long, default_value = "/cis")]
    pub base_path: String,
    /// Public origin used in generated SAML values (default: http://LISTEN).
    #[arg(long)]
    pub public_url: Option<String>,
    /// YAML file of extra management credentials:
    /// `- {client_id: …, client_secret: …, permissions: [apps:read, …]}`.
    #[arg(long)]
    pub credentials: Option<PathBuf>,
    /// What tokens of an application's own clients may do: comma-separated permissions as
    /// upstream names them (`apps:read`, `roles:read`, …), `reads` (every kind's list and read)
    /// or `all`. Reads only by default; management credentials are unaffected.
    #[arg(long, value_name = "PERMISSIONS", default_value = "reads", value_parser = crate::tenant::Permissions::parse_list)]
    pub app_token_permissions: crate::tenant::Permissions,
    /// Test aid: leave out, deterministically from SEED, a share of the response fields upstream
    /// does not promise, and shuffle list order. Proves a client relies only on what upstream
    /// documents.
    #[arg(long, value_name = "SEED")]
    pub response_variation: Option<u64>,
    /// Test aid: inject faults into the API's answers, `seed=N,rate=P,kinds=K1,K2…` with kinds
    /// 429, 5xx, timeout, reset, lost-response, slow, omit-from-list (which request gets which
    /// fault follows from the seed). Never into /oidc/token, /healthz or /metrics. Off by default.
    #[arg(long, value_name = "SPEC", value_parser = parse_faults)]
    pub faults: Option<crate::server::faults::FaultSpec>,
}

fn parse_faults(text: &str) -> Result<crate::server::faults::FaultSpec, String> {
    text.parse().map_err(|e| format!("{e}"))
}

/// Arguments of `state`.
#[derive(Debug, Args)]
pub struct StateArgs {
    /// What to do.
    #[command(subcommand)]
    pub action: StateAction,
}

/// `state` subcommands.
#[derive(Debug, Subcommand)]
pub enum StateAction {
    /// List every entry.
    List,
    /// Show one entry.
    Show {
        /// `Application/NAME`, `Client/APP/NAME`, `Client/DOCUMENT`, or another kind's address
        /// as `state list` shows it (`Resource/URI`, `Role/APP/NAME`, `LoginPreferences/APP`, …).
        address: String,
        /// Manifest files or directories, read only to resolve `Client/DOCUMENT`.
        #[arg(long = "manifests", default_value = "manifests")]
        manifests: Vec<PathBuf>,
    },
    /// Drop an entry (the live object is left alone and no longer managed).
    Forget {
        /// `Application/NAME`, `Client/APP/NAME`, `Client/DOCUMENT`, or another kind's address
        /// as `state list` shows it (`Resource/URI`, `Role/APP/NAME`, `LoginPreferences/APP`, …).
        address: String,
        /// Manifest files or directories, read only to resolve `Client/DOCUMENT`.
        #[arg(long = "manifests", default_value = "manifests")]
        manifests: Vec<PathBuf>,
    },
    /// Copy the whole state (entries, journal, history, deliveries) to another backend and
    /// verify the copy; the source is left as it is.
    Migrate {
        /// Where to: `postgres://…` (same --state-scope) or a state directory.
        #[arg(long, value_name = "URL|DIR")]
        to: String,
    },
}

/// Arguments of `doctor`.
#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// Also create, update and delete a throwaway application (needs apps:create, apps:edit,
    /// apps:delete).
    #[arg(long)]
    pub write: bool,
    /// Output format (`markdown` prints text).
    #[arg(long, value_enum, default_value = "text")]
    pub format: OutputFormat,
}

/// Arguments of `history`.
#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    pub format: OutputFormat,
    /// Show at most N entries (newest first).
    #[arg(long, default_value_t = 20)]
    pub limit: usize,
    /// Show drift episodes instead of applies: those still open, then those that ended (when
    /// first and last seen, and whether tenantsync healed them or they went away).
    #[arg(long)]
    pub drift: bool,
}
