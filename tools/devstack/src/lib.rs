//! The local stack: what `make demo`, `make dev` and the integration tests run on, with no AWS
//! account and no Docker.
//!
//! - [`change`]: a sandbox change followed until the read API shows it (`make dev-change`)
//! - [`client`]: a client of the local API for the demo and tests
//! - [`fixtures`]: the records the `events/` files refer to
//! - [`invoke`]: replays an `events/` file against a function, like `sam local invoke`
//! - [`moto`]: a moto server process on loopback (the AWS emulator)
//! - [`template`]: the resources of `template.yaml`, created in moto under their logical names
//! - [`event`]: HTTP requests turned into API Gateway HTTP API (v2) events, as API Gateway does
//! - [`runner`]: a local HTTP server handing those events to the same handlers the Lambdas run
//! - [`stack`]: all of it together, writing `target/devstack.json`
//! - [`truth`]: what a full sync of a sandbox store must store (demo, benchmark and tests)

pub mod change;
pub mod client;
pub mod event;
pub mod fixtures;
pub mod invoke;
pub mod moto;
pub mod runner;
pub mod stack;
pub mod template;
pub mod truth;

use std::path::PathBuf;

use aws_sdk_dynamodb::config::{Credentials, SharedCredentialsProvider};

/// The repository root (two levels above this crate).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap_or_else(|_| PathBuf::from("."))
}

/// The emulator `make test` (and `make bench`) started: `AWS_ENDPOINT_URL`. Panics, saying how to
/// run the tests, when it is unset.
pub fn emulator_endpoint() -> String {
    std::env::var("AWS_ENDPOINT_URL").ok().filter(|e| !e.is_empty()).unwrap_or_else(|| {
        panic!("AWS_ENDPOINT_URL is not set: run with `make test` or `make bench` (they start moto), or start moto and set it")
    })
}

/// SDK configuration of [`emulator_endpoint`].
pub fn emulator_sdk_config() -> aws_config::SdkConfig {
    local_sdk_config(&emulator_endpoint())
}

/// SDK configuration for a local AWS endpoint: fixed region and dummy credentials, so nothing
/// from the developer's environment can reach a real account.
pub fn local_sdk_config(endpoint: &str) -> aws_config::SdkConfig {
    aws_config::SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(SharedCredentialsProvider::new(Credentials::new("test", "test", None, None, "devstack")))
        .build()
}
