//! Lambda entry point of the Platform API: configuration, clients, then the shared handler.

use lambda_http::Error;
use shared::config::{CompaniesConfig, aws_sdk_config, init_tracing};
use shared::wiring::{Clients, companies, serve_http};

#[tokio::main]
async fn main() -> Result<(), Error> {
    init_tracing("info");
    let config = CompaniesConfig::from_env()?;
    serve_http(companies(&Clients::new(&aws_sdk_config().await), config)).await
}
