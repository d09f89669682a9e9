//! The one integration commerce-link offers: BigCommerce, Codat platform key `vqzp`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::{Uuid, uuid};

/// Codat's platform key for BigCommerce.
pub const PLATFORM_KEY: &str = "vqzp";
/// Display name.
pub const PLATFORM_NAME: &str = "BigCommerce";
/// Stable integration id of this deployment's BigCommerce integration.
pub const INTEGRATION_ID: Uuid = uuid!("6a4e1f0c-3b7d-4c59-9a51-7f2b8d1e4c20");
/// Stable source id (Codat's id for the underlying platform).
pub const SOURCE_ID: Uuid = uuid!("b7e2c9a4-58f1-4d0e-8c36-2a9f4e7d1b53");
/// Path of the logo served by the companies function.
pub const LOGO_PATH: &str = "/assets/bigcommerce-logo.svg";

/// Whether the integration is enabled (the portal toggle). Absent state means enabled.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IntegrationState {
    /// New connections are accepted only while enabled.
    pub enabled: bool,
    /// Last change.
    pub updated: Option<DateTime<Utc>>,
}

impl Default for IntegrationState {
    fn default() -> Self {
        Self { enabled: true, updated: None }
    }
}
