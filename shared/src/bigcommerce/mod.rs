//! The BigCommerce integration: credentials and API Path parsing, the HTTP client, scopes and
//! credential verification. (Sync and mapping join here with the sync engine.)

pub mod client;
pub mod credentials;
pub mod paced;
pub mod scopes;
pub mod verify;

pub use client::BigCommerceClient;
pub use credentials::{Credentials, CredentialsFile, StoreHash, parse_api_path};
pub use scopes::Scope;
pub use verify::{VerifiedStore, VerifyError, verify};
