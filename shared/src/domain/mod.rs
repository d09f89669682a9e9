//! The core: companies, connections, the BigCommerce integration and sync settings, as types
//! that can only hold valid values. Wire input is parsed into these once, at the edge.

pub mod company;
pub mod connection;
pub mod dataset;
pub mod integration;
pub mod link;
pub mod sync_settings;
pub mod validate;

pub use company::{Company, CompanyDraft, CompanyName, Tags};
pub use connection::{Connection, ConnectionStatus};
pub use dataset::{DataTypeStatus, Dataset, PullStatus};
pub use integration::IntegrationState;
pub use link::{LinkKey, LinkToken};
pub use sync_settings::{DataType, SyncSetting, SyncSettings};
