//! The core: companies, connections, the BigCommerce integration, sync settings, datasets and
//! sync jobs, as types that can only hold valid values. Wire input is parsed into these once, at
//! the edge (`codat::bodies`).

pub mod api_key;
pub mod company;
pub mod connection;
pub mod consumer_url;
pub mod data_type;
pub mod dataset;
pub mod erasure;
pub mod event;
pub mod hook;
pub mod integration;
pub mod job;
pub mod link;
pub mod sales;
pub mod sync_settings;
pub mod webhook;

pub use api_key::{NewApiKey, StoredApiKey};
pub use company::{Company, CompanyDraft, CompanyName, CompanyPatch, Tags};
pub use connection::{Connection, ConnectionStatus};
pub use data_type::DataType;
pub use dataset::{DataTypeStatus, Dataset, History, PullStatus};
pub use erasure::{ErasureJob, ErasurePhase, ErasureProgress, ErasureReceipt, ErasureSubject, QueueMessage};
pub use event::Event;
pub use integration::IntegrationState;
pub use job::{JobReason, SyncJob};
pub use link::{LinkKey, LinkKeys, LinkNonce, LinkToken, StoredLinkKeys};
pub use sales::SalesByMonth;
pub use sync_settings::{SyncSetting, SyncSettings};
pub use webhook::{EventType, Subscription, WebhookConsumer};
