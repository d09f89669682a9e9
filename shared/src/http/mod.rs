//! The HTTP edge: what API Gateway's requests meet first. Shared pieces (API-key auth, request
//! parsing with body limits, ids in paths, Codat error responses, per-request correlation ids and
//! spans) and one router per HTTP function: [`companies`] (fn companies), [`link`] (fn link),
//! [`data`] (fn data), [`portal`] (fn portal). Routers parse wire input, call their use case, and render the answer.

pub mod auth;
pub mod companies;
pub mod data;
pub mod edge;
pub mod error;
pub mod hooks;
pub mod link;
pub mod paths;
pub mod portal;
pub mod request;
pub mod response;

use lambda_http::{Body, Request, Response};
use tracing::Instrument;

pub use auth::ApiKeys;
pub use edge::Edge;
pub use error::ApiError;
pub use request::{RequestInfo, json_body};
pub use response::{empty, error_response, json, json_text};

/// An HTTP function's handler: what API Gateway (or the local runner) hands each request to.
#[async_trait::async_trait]
pub trait Handler: Send + Sync {
    /// Answers one request. Never fails: every error becomes Codat's error JSON (or a page).
    async fn handle(&self, req: Request) -> Response<Body>;
}

/// Answers `req` with `dispatch` inside a span named by `route` (the path, or a label where
/// the path holds a secret): errors become Codat's error JSON, and the status and latency are
/// logged. Shared by every HTTP function.
pub async fn handle<F>(req: Request, route: impl FnOnce(&RequestInfo) -> String, dispatch: F) -> Response<Body>
where
    F: AsyncFnOnce(&Request, &RequestInfo) -> Result<Response<Body>, ApiError>,
{
    let info = RequestInfo::new(&req);
    let route = route(&info);
    let span = tracing::info_span!(
        "request",
        method = %req.method(),
        route = %route,
        correlation_id = %info.correlation_id,
    );
    async {
        let started = std::time::Instant::now();
        let response = match dispatch(&req, &info).await {
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
