//! The HTTP edge shared by every API function: API-key auth, request parsing (body limits,
//! content type, JSON), Codat error responses and per-request correlation ids.

pub mod auth;
pub mod request;
pub mod response;

pub use auth::ApiKeys;
pub use request::{RequestInfo, json_body};
pub use response::{empty, error_response, json};
