//! Ids in request paths, and the 404s of the resources they name (the same words in every API).

use uuid::Uuid;

use super::error::ApiError;

/// At most the first 64 characters of a path segment, for messages.
pub fn shorten(raw: &str) -> String {
    raw.chars().take(64).collect()
}

/// A company id from the path (404 otherwise).
pub fn company_id(raw: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(raw).map_err(|_| company_not_found(shorten(raw)))
}

/// A connection id from the path (404 otherwise).
pub fn connection_id(raw: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(raw).map_err(|_| connection_not_found(shorten(raw)))
}

/// 404 for a company.
pub fn company_not_found(id: impl std::fmt::Display) -> ApiError {
    ApiError::not_found(format!("No company was found with ID {id}"))
}

/// 404 for a connection.
pub fn connection_not_found(id: impl std::fmt::Display) -> ApiError {
    ApiError::not_found(format!("Data connection {id} not found"))
}
