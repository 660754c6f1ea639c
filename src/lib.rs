//! tenantsync: keep Transmit Security Mosaic applications and their OAuth/OIDC/SAML clients in git.
//!
//! Module map (see ARCHITECTURE.md):
//! - [`model`]: wire types of the Applications API and the schema validator (pure).
//! - [`tenant`]: the API's semantics over a sled store; shared by `serve` and the `local` target.
//! - [`server`]: the HTTP edge of [`tenant`] (axum).
//! - [`cli`]: command-line definitions; [`commands`]: one module per subcommand.
//! - [`project`]: the project file (`tenantsync.yaml`): environments and promotion (pure).
//! - [`telemetry`]: logging setup and Prometheus text rendering.

// `unsafe` is denied everywhere; `memory::release_freed` alone allows it, for one glibc call.
#![deny(unsafe_code)]

pub mod cli;
pub mod commands;
pub mod credentials;
pub mod daemon;
pub mod doctor;
pub mod drift;
pub mod export;
pub mod group_commit;
pub mod manifest;
pub mod memory;
pub mod model;
pub mod plan;
pub mod policy;
pub mod private_dir;
pub mod project;
pub mod reconcile;
pub mod server;
pub mod shown;
pub mod sled_db;
pub mod state;
pub mod targets;
pub mod telemetry;
pub mod tenant;
