//! The HTTP edge shared by every API function: API-key auth, request parsing (body limits,
//! content type, JSON), Codat error responses and per-request correlation ids.

pub mod auth;
pub mod request;
pub mod response;

pub use auth::ApiKeys;
pub use request::{RequestInfo, json_body};
pub use response::{empty, error_response, json, json_text};

/// Answers a request with `dispatch` inside `span`: errors become Codat's error JSON, and the
/// status and latency are logged. Shared by every HTTP function.
pub async fn respond<F>(
    info: &RequestInfo,
    span: tracing::Span,
    dispatch: F,
) -> lambda_http::Response<lambda_http::Body>
where
    F: std::future::Future<Output = Result<lambda_http::Response<lambda_http::Body>, crate::error::ApiError>>,
{
    use tracing::Instrument;
    async {
        let started = std::time::Instant::now();
        let response = match dispatch.await {
            Ok(response) => response,
            Err(error) => error_response(&error, &info.correlation_id),
        };
        tracing::info!(
            status = response.status().as_u16(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "handled"
        );
        response
    }
    .instrument(span)
    .await
}
