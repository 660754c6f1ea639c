//! Error and token bodies of the API: `{"message", "error_code"}` (a 400 carries a list of
//! messages, one per problem; every other status, and the token endpoint, a string).

use serde::{Deserialize, Serialize};

/// An error body: 400 carries one message per problem, every other status one string.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// What went wrong.
    pub message: ErrorMessage,
    /// The HTTP status, repeated.
    pub error_code: u16,
    /// Upstream's machine code, e.g. `identifier_taken` on 409.
    pub ts_error_code: Option<String>,
    /// Token endpoint only: the RFC 6749 §5.2 error code (`invalid_client`, `invalid_request`,
    /// `unsupported_grant_type`, `invalid_scope`), which OAuth client libraries look for.
    pub error: Option<String>,
    /// Token endpoint only: the RFC 6749 §5.2 description (the same text as `message`).
    pub error_description: Option<String>,
}

/// `message` of an error body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ErrorMessage {
    /// One message (401, 403, 404, 409, 5xx, token errors).
    One(String),
    /// One entry per problem (400).
    Many(Vec<String>),
}

impl ErrorMessage {
    /// All messages as a list.
    pub fn to_list(&self) -> Vec<String> {
        match self {
            ErrorMessage::One(m) => vec![m.clone()],
            ErrorMessage::Many(ms) => ms.clone(),
        }
    }
}

/// 200 body of `POST /oidc/token`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TokenResponse {
    /// The bearer token (a signed JWT).
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: String,
    /// Lifetime in seconds.
    pub expires_in: u64,
    /// Granted permissions, space separated.
    pub scope: String,
}
