//! Manifests: finding the files, parsing YAML with positions, interpolating `${env:…}` and
//! `${file:…}`, and validating raw documents into the [`DesiredState`] the planner uses.
//!
//! Pure apart from [`files`], which reads the manifest tree with `std::fs`; no tokio, sled,
//! reqwest, axum or notify here.

mod assemble;
pub mod desired;
mod document;
pub mod edit;
mod environment;
pub mod error;
pub mod files;
pub mod interpolate;
mod load;
mod metadata;
mod objects;
pub mod overlay;
pub mod raw;
mod unique;
pub mod validate;
pub mod yaml;

pub use desired::{
    ClientFacts, DesiredObject, DesiredState, Facts, Origin, Redactions, Ref, References,
    SourceInfo,
};
pub use error::{ManifestError, ManifestErrors};
pub use interpolate::{EnvValues, Environment, ProcessEnvironment, ReadAllowance};
pub use load::{load, load_with, LoadCache};
pub use metadata::{POLICY_IGNORE_ANNOTATION, PROTECT_ANNOTATION};
pub use validate::SourceFile;
