//! Responses: JSON with the headers every answer carries, and the one mapping from
//! [`ApiError`] to Codat's error JSON.

use http::{HeaderValue, StatusCode};
use lambda_http::{Body, Response};
use serde_json::Value;

use super::error::ApiError;
use crate::codat::{ErrorMessage, Validation};

/// Service name in error bodies.
pub const SERVICE: &str = "PublicApi";

fn with_headers(
    status: StatusCode,
    body: Body,
    content_type: Option<&'static str>,
    correlation_id: &str,
) -> Response<Body> {
    let mut response = Response::new(body);
    *response.status_mut() = status;
    let headers = response.headers_mut();
    if let Some(ct) = content_type {
        headers.insert(http::header::CONTENT_TYPE, HeaderValue::from_static(ct));
    }
    headers.insert(http::header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    if let Ok(id) = HeaderValue::from_str(correlation_id) {
        headers.insert("x-correlation-id", id);
    }
    response
}

/// A JSON response.
pub fn json(status: StatusCode, value: &Value, correlation_id: &str) -> Response<Body> {
    with_headers(status, Body::Text(value.to_string()), Some("application/json"), correlation_id)
}

/// A JSON response from text already serialised.
pub fn json_text(status: StatusCode, text: String, correlation_id: &str) -> Response<Body> {
    with_headers(status, Body::Text(text), Some("application/json"), correlation_id)
}

/// A response without a body (204, or 200 where Codat sends none).
pub fn empty(status: StatusCode, correlation_id: &str) -> Response<Body> {
    with_headers(status, Body::Empty, None, correlation_id)
}

/// A static asset.
pub fn asset(content_type: &'static str, bytes: &'static [u8], correlation_id: &str) -> Response<Body> {
    let mut response = with_headers(StatusCode::OK, Body::Binary(bytes.to_vec()), Some(content_type), correlation_id);
    response.headers_mut().insert(http::header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=86400"));
    response
}

/// Codat's error JSON for an [`ApiError`].
pub fn error_response(error: &ApiError, correlation_id: &str) -> Response<Body> {
    let body = ErrorMessage {
        status_code: error.status.as_u16(),
        service: SERVICE,
        error: error.message.clone(),
        correlation_id: correlation_id.to_string(),
        validation: (!error.validation.is_empty())
            .then(|| Validation { errors: error.validation.clone(), warnings: Vec::new() }),
        can_be_retried: if error.status.is_server_error() { "Unknown" } else { "False" },
        detailed_error_code: 0,
    };
    let value = serde_json::to_value(body).unwrap_or_default();
    json(error.status, &value, correlation_id)
}
