//! The sandbox over real HTTP: every endpoint validated against BigCommerce's OpenAPI schemas,
//! and each behaviour (paging, filters, sorting, includes, cursors, auth, rate limits, faults,
//! webhooks).

mod auth;
mod behaviour;
mod conventions;
mod faults;
mod helpers;
mod hooks;
mod ratelimit;
mod schemas;
