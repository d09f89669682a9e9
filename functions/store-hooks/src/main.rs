//! Lambda entry point of the store hooks' endpoint: configuration, clients, then the shared
//! handler (`POST /bigcommerce/hooks/{companyId}/{connectionId}`).

use lambda_http::Error;
use shared::config::{StoreHooksConfig, aws_sdk_config, init_tracing};
use shared::wiring::{Clients, serve_http, store_hooks};

#[tokio::main]
async fn main() -> Result<(), Error> {
    init_tracing("info");
    let config = StoreHooksConfig::from_env()?;
    serve_http(store_hooks(&Clients::new(&aws_sdk_config().await), config)).await
}
