//! The local stack: what `make demo`, `make dev` and the integration tests run on, with no AWS
//! account and no Docker.
//!
//! - [`change`]: a sandbox change followed until the read API shows it (`make dev-change`)
//! - [`client`]: a client of the local API for the demo and tests
//! - [`fixtures`]: the records the `events/` files refer to
//! - [`iam`]: IAM enforced in the emulator, a principal per function from its template policy
//! - [`invoke`]: replays an `events/` file against a function, like `sam local invoke`
//! - [`lambda`]: a function's binary run as Lambda runs it (Runtime API, timeout, memory, SIGKILL)
//! - [`tap`]: a proxy on a function's outgoing calls, for kills at chosen points
//! - [`moto`]: a moto server process on loopback (the AWS emulator)
//! - [`remote`]: the benchmark's in-memory record store served to a worker process
//! - [`receiver`]: a webhook consumer on loopback that verifies signatures (demo and tests)
//! - [`template`]: the resources of `template.yaml`, created in moto under their logical names
//! - [`event`]: HTTP requests turned into API Gateway HTTP API (v2) events, as API Gateway does
//! - [`runner`]: a local HTTP server handing those events to the same handlers the Lambdas run
//! - [`stack`]: all of it together, writing `target/devstack.json`
//! - [`truth`]: what a full sync of a sandbox store must store (demo, benchmark and tests)

pub mod browser;
pub mod change;
pub mod client;
pub mod event;
pub mod fixtures;
pub mod iam;
pub mod invoke;
pub mod keys;
pub mod lambda;
pub mod moto;
pub mod receiver;
pub mod remote;
pub mod runner;
pub mod stack;
pub mod streams;
pub mod tap;
pub mod template;
pub mod truth;

use std::path::PathBuf;

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

/// The emulator's admin principal that `tools/with-moto` exported (`AWS_ACCESS_KEY_ID`,
/// `AWS_SECRET_ACCESS_KEY`): for setting up and inspecting resources, never for a function.
pub fn emulator_admin() -> iam::Principal {
    iam::Principal::from_env().unwrap_or_else(|| {
        panic!("AWS_ACCESS_KEY_ID is not set: run with `make test` or `make bench` (tools/with-moto)")
    })
}

/// SDK configuration of [`emulator_endpoint`] as [`emulator_admin`].
pub fn emulator_sdk_config() -> aws_config::SdkConfig {
    emulator_admin().sdk_config(&emulator_endpoint())
}

/// SDK configuration of the emulator as the principal template.yaml gives `function` (a
/// logical id, e.g. `CompaniesFunction`), created now for the local resources `resources`.
pub async fn function_sdk_config(function: &str, resources: &iam::LocalResources) -> aws_config::SdkConfig {
    let template = template::Template::load_default().expect("template.yaml");
    let policy = iam::function_policy(&template, function, resources, &[]).expect("the function's policy translates");
    let name = format!("{function}-{}", uuid::Uuid::new_v4().simple());
    let principal = iam::create_principal(&emulator_sdk_config(), &name, &policy).await.expect("principal");
    principal.sdk_config(&emulator_endpoint())
}
