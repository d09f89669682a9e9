//! commerce-link's library: everything the Lambda functions do, organised by architecture.
//!
//! - [`domain`]: companies, connections, the integration, sync settings (valid by construction)
//! - [`codat`]: Codat's wire model and the conversions into it
//! - [`query`] and [`paging`]: Codat's query language, `orderBy` and list envelopes
//! - [`ports`]: what the use cases need from storage; [`adapters`]: DynamoDB and in-memory
//! - [`http`]: auth, request parsing, Codat error responses
//! - [`platform`]: the Platform API handlers (fn companies)
//! - [`commerce`]: the Commerce API handlers (fn data)
//! - [`config`]: typed environment configuration and logging setup

pub mod adapters;
pub mod bigcommerce;
pub mod codat;
pub mod commerce;
pub mod config;
pub mod domain;
pub mod error;
pub mod http;
pub mod jobs;
pub mod link;
pub mod paging;
pub mod platform;
pub mod ports;
pub mod query;
pub mod scheduler;
pub mod sync;
pub mod sync_requests;
