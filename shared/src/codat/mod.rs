//! Codat's wire model: the Platform JSON ([`platform`]), request bodies ([`bodies`], read
//! through [`reader`]), list parameters and envelopes ([`paging`]), the queryable properties of
//! commerce records ([`commerce_fields`], generated) and their summaries ([`summary`]), and the
//! error JSON ([`errors`]).

pub mod bodies;
pub mod commerce_fields;
pub mod errors;
pub mod events;
pub mod paging;
pub mod platform;
pub mod reader;
pub mod summary;

use chrono::{DateTime, SecondsFormat, Utc};

pub use errors::{BadInput, ErrorMessage, Validation, ValidationItem};
pub use platform::{
    COMPANY_SCHEMA, CONNECTION_SCHEMA, DATASET_SCHEMA, INTEGRATION_SCHEMA, PublicUrls, SOURCE_TYPE, TAGS_SCHEMA,
    api_key, bootstrap_key, branding, company, connection, data_statuses, integration, pull_operation, sync_setting,
    webhook_consumer, webhook_message,
};

/// Formats an instant as Codat does (ISO 8601 UTC, milliseconds).
pub fn timestamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}
