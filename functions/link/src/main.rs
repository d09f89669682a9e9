//! Lambda entry point of the Link function: configuration, clients, then the shared handler.

use lambda_http::Error;
use shared::config::{LinkConfig, aws_sdk_config, init_tracing};
use shared::wiring::{Clients, link, serve_http};

#[tokio::main]
async fn main() -> Result<(), Error> {
    init_tracing("info");
    let config = LinkConfig::from_env()?;
    serve_http(link(&Clients::new(&aws_sdk_config().await), config)).await
}
