//! The API's error responses: the upstream error envelope for every 4xx/5xx.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;

use crate::model::error_body::{ErrorBody, ErrorMessage};
use crate::tenant::TenantError;

/// An error answer: a status and the upstream error body.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    body: ErrorBody,
    /// Send `WWW-Authenticate: Basic` (a token request that authenticated with HTTP Basic and
    /// failed, RFC 6749 §5.2).
    basic_challenge: bool,
}

impl ApiError {
    /// An error with one message.
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        let message = message.into();
        let message = if status == StatusCode::BAD_REQUEST {
            ErrorMessage::Many(vec![message])
        } else {
            ErrorMessage::One(message)
        };
        Self {
            status,
            body: ErrorBody {
                message,
                error_code: status.as_u16(),
                ts_error_code: None,
                error: None,
                error_description: None,
            },
            basic_challenge: false,
        }
    }

    /// 401 with a message.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, message)
    }

    /// 400 from the token endpoint: upstream's body (a string `message`, `error_code`) plus the
    /// RFC 6749 §5.2 `error` and `error_description` that OAuth client libraries read; with
    /// `basic`, the client authenticated with HTTP Basic and is challenged again.
    pub fn token_bad_request(error: &str, message: impl Into<String>, basic: bool) -> Self {
        let message = message.into();
        Self {
            status: StatusCode::BAD_REQUEST,
            body: ErrorBody {
                message: ErrorMessage::One(message.clone()),
                error_code: 400,
                ts_error_code: None,
                error: Some(error.to_owned()),
                error_description: Some(message),
            },
            basic_challenge: basic && error == "invalid_client",
        }
    }

    /// The status.
    pub fn status(&self) -> StatusCode {
        self.status
    }
}

impl From<TenantError> for ApiError {
    fn from(err: TenantError) -> Self {
        let (status, ts_error_code) = match &err {
            TenantError::Invalid(messages) => {
                let mut messages = messages.clone();
                let limit = crate::model::schema::MAX_PROBLEMS;
                if messages.len() > limit + 1 {
                    let more = messages.len() - limit;
                    messages.truncate(limit);
                    messages.push(format!("… and {more} more problems"));
                }
                return Self {
                    status: StatusCode::BAD_REQUEST,
                    body: ErrorBody {
                        message: ErrorMessage::Many(messages),
                        error_code: 400,
                        ts_error_code: None,
                        error: None,
                        error_description: None,
                    },
                    basic_challenge: false,
                };
            }
            TenantError::Unauthenticated(_) => (StatusCode::UNAUTHORIZED, None),
            TenantError::Forbidden(_) => (StatusCode::FORBIDDEN, None),
            TenantError::NotFound(_) => (StatusCode::NOT_FOUND, None),
            TenantError::IdentifierTaken(_) => {
                (StatusCode::CONFLICT, Some("identifier_taken".to_owned()))
            }
            TenantError::InUse(_) => (StatusCode::CONFLICT, None),
            TenantError::IdempotencyKeyReused(_) => (
                StatusCode::CONFLICT,
                Some("idempotency_key_reused".to_owned()),
            ),
            TenantError::Store(e) => {
                tracing::error!(error = %e, "tenant store failed");
                (StatusCode::INTERNAL_SERVER_ERROR, None)
            }
        };
        let message = match &err {
            TenantError::Store(_) => {
                "internal error: the tenant store failed; see the server log".to_owned()
            }
            other => other.to_string(),
        };
        Self {
            status,
            body: ErrorBody {
                message: ErrorMessage::One(message),
                error_code: status.as_u16(),
                ts_error_code,
                error: None,
                error_description: None,
            },
            basic_challenge: false,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, Json(self.body)).into_response();
        if self.basic_challenge {
            response.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Basic realm=\"tenantsync\""),
            );
        }
        response
    }
}
