//! The arguments of the commands about environments: `env`, `promote`, `render`, and `schema`
//! (which prints the project file's schema too).

use clap::{Args, Subcommand, ValueEnum};

use super::{ManifestPaths, OutputFormat, ReconcileArgs};

/// Arguments of `env`.
#[derive(Debug, Args)]
pub struct EnvArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: EnvCommand,
}

/// `env` subcommands.
#[derive(Debug, Subcommand)]
pub enum EnvCommand {
    /// List the project file's environments.
    List,
    /// How two environments differ, object by object, in their manifests after values and
    /// overlays. Exit 0: the same; 2: they differ; 1: error.
    #[command(after_help = "Example:\n  tenantsync env diff dev prod --format markdown")]
    Diff(EnvDiffArgs),
}

/// Arguments of `env diff`.
#[derive(Debug, Args)]
pub struct EnvDiffArgs {
    /// The first environment.
    pub a: String,
    /// The second environment.
    pub b: String,
    /// Where the manifests are.
    #[command(flatten)]
    pub manifests: ManifestPaths,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    pub format: OutputFormat,
    /// Compare the live tenants instead (each read whole, as `export --no-adopt` reads it:
    /// objects matched by natural key, references by name, ids ignored).
    #[arg(long)]
    pub live: bool,
    /// Leave out the differences that come from the environments' `values` alone (what the
    /// manifests and overlays make different remains). Desired states only: a live tenant
    /// does not say which of its values came from `values`.
    #[arg(long, conflicts_with = "live")]
    pub ignore_values: bool,
}

/// Arguments of `promote`.
#[derive(Debug, Args)]
pub struct PromoteArgs {
    /// The environment whose commit is promoted.
    pub from: String,
    /// The environment that moves to it.
    pub to: String,
    /// Move the target's git ref (a fast-forward push), or push `tenantsync/promote/<to>`
    /// when the target is protected (review it as a pull request).
    #[arg(long)]
    pub push: bool,
    /// The git remote to push to.
    #[arg(long, default_value = "origin")]
    pub remote: String,
    /// Let the target's plan delete objects.
    #[arg(long)]
    pub allow_delete: bool,
    /// Where the manifests are (a git checkout at the commit promoted).
    #[command(flatten)]
    pub manifests: ManifestPaths,
    /// Reconcile options for the two plans.
    #[command(flatten)]
    pub reconcile: ReconcileArgs,
}

/// Arguments of `schema`.
#[derive(Debug, Args)]
pub struct SchemaArgs {
    /// Which format: a manifest document, or the project file (`tenantsync.yaml`).
    #[arg(value_enum, default_value = "manifest")]
    pub of: SchemaOf,
}

/// `schema`'s subject.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SchemaOf {
    /// A manifest document.
    Manifest,
    /// The project file.
    Project,
}

/// Arguments of `render`.
#[derive(Debug, Args)]
pub struct RenderArgs {
    /// Where the manifests are.
    #[command(flatten)]
    pub manifests: ManifestPaths,
}
