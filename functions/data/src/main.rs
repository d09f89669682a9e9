//! Lambda entry point of the Commerce API: configuration, clients, then the shared handler.

use lambda_http::Error;
use shared::config::{DataConfig, aws_sdk_config, init_tracing};
use shared::wiring::{Clients, data, serve_http};

#[tokio::main]
async fn main() -> Result<(), Error> {
    init_tracing("info");
    let config = DataConfig::from_env()?;
    serve_http(data(&Clients::new(&aws_sdk_config().await), config)).await
}
