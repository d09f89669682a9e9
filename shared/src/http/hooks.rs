//! fn store-hooks' HTTP edge: `POST /bigcommerce/hooks/{companyId}/{connectionId}`, the
//! destination of a connection's store hooks. No API key: the hook's secret header is the
//! authentication (README, "Freshness"). Answers 200 with no body as BigCommerce asks, 401 for
//! anything not carrying the connection's secret (whatever the reason), 400 for a body that is
//! not BigCommerce's envelope.

use http::{Method, StatusCode};
use lambda_http::{Body, Request, Response};

use super::error::ApiError;
use super::request::{RequestInfo, body_bytes};
use super::response::empty;
use crate::bigcommerce::hooks::SECRET_HEADER;
use crate::freshness::{Receiver, Refused};
use crate::ports::{ConnectionStore, HookStore};

/// The most a callback body may hold (BigCommerce's are well under 1 KB).
pub const MAX_CALLBACK_BYTES: usize = 64 * 1024;

/// The callback endpoint.
pub struct HooksApi<S> {
    receiver: Receiver<S>,
}

impl<S: ConnectionStore + HookStore> HooksApi<S> {
    /// Answers callbacks through `receiver`.
    pub fn new(receiver: Receiver<S>) -> Self {
        Self { receiver }
    }

    /// Answers one request. Never fails: every error becomes Codat's error JSON.
    pub async fn handle(&self, req: Request) -> Response<Body> {
        super::handle(req, |_| "/bigcommerce/hooks".to_string(), async |req, info| self.dispatch(req, info).await).await
    }

    async fn dispatch(&self, req: &Request, info: &RequestInfo) -> Result<Response<Body>, ApiError> {
        let segments: Vec<&str> = info.segments.iter().map(String::as_str).collect();
        let ["bigcommerce", "hooks", company, connection] = segments.as_slice() else {
            return Err(ApiError::not_found("No such resource"));
        };
        if req.method() != Method::POST {
            return Err(ApiError::method_not_allowed(req.method()));
        }
        // An id that is not one names no connection: refused as any unknown caller is.
        let (Ok(company), Ok(connection)) = (uuid::Uuid::parse_str(company), uuid::Uuid::parse_str(connection)) else {
            return Err(ApiError::unauthorized());
        };
        let body = body_bytes(req);
        if body.len() > MAX_CALLBACK_BYTES {
            return Err(ApiError::payload_too_large(MAX_CALLBACK_BYTES));
        }
        let secret = req.headers().get(SECRET_HEADER).and_then(|v| v.to_str().ok());
        match self.receiver.receive(company, connection, secret, body, chrono::Utc::now()).await {
            Ok(_) => Ok(empty(StatusCode::OK, &info.correlation_id)),
            Err(Refused::Unauthorized) => {
                tracing::warn!(connection_id = %connection, "callback refused: not the connection's hook secret");
                Err(ApiError::unauthorized())
            }
            Err(Refused::Body(e)) => Err(ApiError::bad_request(format!("Not a BigCommerce webhook payload: {e}"))),
            Err(Refused::Store(e)) => Err(e.into()),
        }
    }
}

#[async_trait::async_trait]
impl<S: ConnectionStore + HookStore + 'static> super::Handler for HooksApi<S> {
    async fn handle(&self, req: Request) -> Response<Body> {
        Self::handle(self, req).await
    }
}
