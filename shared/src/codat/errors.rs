//! Codat's error JSON, and the input errors the wire layer reports before anything is stored.

use serde::Serialize;

/// One entry of Codat's `validation.errors`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ValidationItem {
    /// The field at fault.
    pub item_id: Option<String>,
    /// What is wrong with it.
    pub message: Option<String>,
    /// Which rule failed.
    pub validator_name: Option<String>,
}

impl ValidationItem {
    /// A problem with `field`.
    pub fn new(field: &str, message: impl Into<String>) -> Self {
        Self {
            item_id: Some(field.to_string()),
            message: Some(message.into()),
            validator_name: Some("Validation".into()),
        }
    }
}

/// Codat's `validation` object.
#[derive(Debug, Clone, Serialize)]
pub struct Validation {
    /// Errors.
    pub errors: Vec<ValidationItem>,
    /// Warnings (always empty here).
    pub warnings: Vec<ValidationItem>,
}

/// Codat's error JSON.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorMessage {
    /// HTTP status.
    pub status_code: u16,
    /// Service name.
    pub service: &'static str,
    /// Human-readable message.
    pub error: String,
    /// Id to quote to support; also in the logs.
    pub correlation_id: String,
    /// Field problems, when any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub validation: Option<Validation>,
    /// Codat's retry hint.
    pub can_be_retried: &'static str,
    /// Codat's detailed code (always 0).
    pub detailed_error_code: i32,
}

/// Input Codat's API refuses with a 400: a message, or the fields at fault.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum BadInput {
    /// One problem with the request as a whole (not an object, a repeated parameter, ...).
    #[error("{0}")]
    Message(String),
    /// Problems with named fields (`validation.errors`).
    #[error("{} invalid field(s)", .0.len())]
    Fields(Vec<ValidationItem>),
}

impl BadInput {
    /// A problem with the request as a whole.
    pub fn message(message: impl Into<String>) -> Self {
        Self::Message(message.into())
    }

    /// The fields at fault (none for a [`BadInput::Message`]).
    pub fn fields(&self) -> &[ValidationItem] {
        match self {
            Self::Message(_) => &[],
            Self::Fields(items) => items,
        }
    }
}

impl From<crate::query::QueryError> for BadInput {
    fn from(e: crate::query::QueryError) -> Self {
        Self::Message(e.to_string())
    }
}
