//! Errors of the tenant service, one variant per API error class (the HTTP edge maps each to a
//! status code and the upstream error body).

use super::store::StoreError;

/// Why a tenant operation did not happen. Nothing is written when one is returned.
#[derive(Debug, thiserror::Error)]
pub enum TenantError {
    /// The request is malformed; one message per problem (400).
    #[error("invalid request: {}", .0.join("; "))]
    Invalid(Vec<String>),
    /// No usable credentials (401).
    #[error("{0}")]
    Unauthenticated(String),
    /// Credentials lack the permission or reach another app (403).
    #[error("{0}")]
    Forbidden(String),
    /// The app or client does not exist (404).
    #[error("{0}")]
    NotFound(String),
    /// A unique identifier (subdomain, custom domain, the hub) is taken (409 `identifier_taken`).
    #[error("{0}")]
    IdentifierTaken(String),
    /// The object is still referenced and cannot be deleted (409, upstream's "in use").
    #[error("{0}")]
    InUse(String),
    /// An `Idempotency-Key` was reused with a different request (409).
    #[error("{0}")]
    IdempotencyKeyReused(String),
    /// The store failed (500).
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl TenantError {
    /// A 400 with a single message.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::Invalid(vec![message.into()])
    }
}
