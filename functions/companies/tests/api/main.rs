//! Integration tests of the Platform API against DynamoDB in moto (started by `make test`).

mod api_keys;
mod auth;
mod bad_input;
mod companies;
mod connections;
mod datasets;
mod events;
mod helpers;
mod iam;
mod integrations;
mod lists;
mod runner;
mod settings;
mod spec;
mod template;
mod webhooks;
