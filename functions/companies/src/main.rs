//! Lambda entry point of the Platform API: configuration, clients, then the shared handler.

use lambda_http::{Error, run, service_fn};
use shared::adapters::dynamodb::DynamoStore;
use shared::config::{PlatformConfig, aws_sdk_config, init_tracing};
use shared::platform::PlatformApi;

#[tokio::main]
async fn main() -> Result<(), Error> {
    init_tracing("info");
    let config = PlatformConfig::from_env()?;
    let dynamo = aws_sdk_dynamodb::Client::new(&aws_sdk_config().await);
    let api = PlatformApi::new(
        DynamoStore::new(dynamo, config.table_name),
        config.api_keys,
        config.public_base_url,
    );
    let api = &api;
    run(service_fn(move |req| async move {
        Ok::<_, std::convert::Infallible>(api.handle(req).await)
    }))
    .await
}
