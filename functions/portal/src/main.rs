//! Lambda entry point of the portal function: configuration, clients, then the shared handler.

use lambda_http::Error;
use shared::config::{PortalConfig, aws_sdk_config, init_tracing};
use shared::wiring::{Clients, portal, serve_http};

#[tokio::main]
async fn main() -> Result<(), Error> {
    init_tracing("info");
    let config = PortalConfig::from_env()?;
    serve_http(portal(&Clients::new(&aws_sdk_config().await), config)).await
}
