//! [`ApiError`]: what a caller is told (Codat's error JSON), and the one mapping into it from
//! storage errors and bad input. Rendering is in [`super::response`].

use http::StatusCode;

use crate::codat::{BadInput, ValidationItem};
use crate::error::StoreError;
use crate::query::QueryError;

/// An error answered to an API caller. The message is safe to show: it never holds a
/// credential or an internal detail (those are logged with the correlation id instead).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{status}: {message}")]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Codat's `error` text.
    pub message: String,
    /// Per-field problems, Codat's `validation.errors`.
    pub validation: Vec<ValidationItem>,
}

impl ApiError {
    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self { status, message: message.into(), validation: Vec::new() }
    }

    /// 400 with a message.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    /// 400 naming each invalid field in `validation.errors`.
    pub fn validation(items: Vec<ValidationItem>) -> Self {
        let summary = items.iter().filter_map(|i| i.message.clone()).collect::<Vec<_>>().join("; ");
        Self { validation: items, ..Self::bad_request(format!("Validation failed: {summary}")) }
    }

    /// 401, the same body whatever the reason.
    pub fn unauthorized() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "Unauthorized")
    }

    /// 404 with a message.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }

    /// 405 for a known path with another method.
    pub fn method_not_allowed(method: &http::Method) -> Self {
        Self::new(StatusCode::METHOD_NOT_ALLOWED, format!("Method {method} is not allowed on this resource"))
    }

    /// 409 with a message.
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, message)
    }

    /// 413 for bodies over the limit.
    pub fn payload_too_large(limit: usize) -> Self {
        Self::new(StatusCode::PAYLOAD_TOO_LARGE, format!("The request body is larger than {limit} bytes"))
    }

    /// 415 for bodies that are not JSON.
    pub fn unsupported_media_type() -> Self {
        Self::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, "The request body must be JSON (Content-Type: application/json)")
    }

    /// 500; the cause is logged by the caller, never shown.
    pub fn internal() -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "There is a problem with our server. Please try again later.")
    }

    /// 503 when a dependency is throttling or unavailable.
    pub fn unavailable() -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "The service is temporarily unavailable. Please try again later.")
    }
}

impl From<QueryError> for ApiError {
    fn from(e: QueryError) -> Self {
        Self::bad_request(e.to_string())
    }
}

impl From<BadInput> for ApiError {
    fn from(e: BadInput) -> Self {
        match e {
            BadInput::Message(message) => Self::bad_request(message),
            BadInput::Fields(items) => Self::validation(items),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        tracing::error!(error = %e, "storage failure");
        if e.retryable() { ApiError::unavailable() } else { ApiError::internal() }
    }
}
