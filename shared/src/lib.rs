//! commerce-link's library: everything the Lambda functions do, by layer from the ground up.
//!
//! 1. [`domain`] (companies, connections, data types, datasets, jobs, sync settings; valid by
//!    construction) and [`error`] (storage errors).
//! 2. [`ports`] (what the use cases need from storage, secrets and the queue), [`codat`] (Codat's
//!    wire model: rendering, request bodies, paging, commerce fields, summaries) and [`query`]
//!    (Codat's query language).
//! 3. [`adapters`] (DynamoDB, Secrets Manager, SQS, and an in-memory twin of each) and
//!    [`bigcommerce`] (the client, its endpoints and the mappings to Codat's model).
//! 4. The use cases: [`vault`] (credential storage), [`keyring`] (the link keys, from a secret), [`syncs`] (requesting syncs), [`sync`] (fn
//!    sync-worker), [`scheduler`] and [`sweep`] (fn scheduler), [`companies`] (fn companies), [`link`] (fn
//!    link), [`data`] (fn data), [`webhooks`] (Codat's events: signing, consumer URLs, delivery).
//! 5. [`http`]: the HTTP edge (auth, requests, errors, and one router per HTTP function).
//! 6. [`config`] (typed environment configuration, logging) and [`wiring`] (one builder per
//!    function), which the functions' `main.rs` call.

pub mod adapters;
pub mod bigcommerce;
pub mod codat;
pub mod companies;
pub mod config;
pub mod data;
pub mod domain;
pub mod error;
pub mod freshness;
pub mod http;
pub mod keyring;
pub mod link;
pub mod ports;
pub mod query;
pub mod reads;
pub mod scheduler;
pub mod sweep;
pub mod sync;
pub mod syncs;
pub mod vault;
pub mod webhooks;
pub mod wiring;
