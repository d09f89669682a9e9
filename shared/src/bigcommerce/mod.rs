//! How we talk to BigCommerce and read what it answers: credentials and API Path parsing, the
//! HTTP client and its paced form, scopes and credential verification, every endpoint the sync
//! calls ([`endpoints`]), and the mappings of its models to Codat's ([`mapping`]).

pub mod client;
pub mod credentials;
pub mod endpoints;
pub mod hooks;
pub mod mapping;
pub mod paced;
pub mod scopes;
pub mod verify;

pub use client::BigCommerceClient;
pub use credentials::{Credentials, CredentialsFile, StoreHash, parse_api_path};
pub use scopes::Scope;
pub use verify::{VerifiedStore, VerifyError, verify};
