//! Wire types of the Mosaic Applications API (apps, OIDC and SAML clients, nested objects) and the
//! schema-driven request validator shared by the bundled server and the reconciler.
//!
//! Pure: no I/O, no async. Field names are the API's own (snake_case, plus the few camelCase
//! names upstream uses), so a field can be looked up in upstream's API reference as written.

pub mod app;
pub mod catalogue;
pub mod client;
pub mod enums;
pub mod error_body;
pub mod field_path;
pub mod kinds;
pub mod nested;
pub mod rules;
pub mod schema;

pub use app::{App, AppCore, AppInput, BasicApp, DefaultClientView};
pub use client::{
    Client, ClientKey, OidcClient, OidcClientInput, ResourceIdsInput, SamlClient, SamlClientInput,
};
pub use enums::*;
pub use field_path::{FieldPath, FieldRules, PathSegment};
pub use nested::*;
