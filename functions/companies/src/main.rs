//! Lambda entry point of the Platform API: configuration, clients, then the shared handler.

use std::sync::Arc;

use lambda_http::{Error, run, service_fn};
use shared::adapters::dynamodb::DynamoStore;
use shared::adapters::secrets_manager::SecretsManagerStore;
use shared::adapters::sqs::SqsJobQueue;
use shared::config::{PlatformConfig, aws_sdk_config, init_tracing};
use shared::platform::PlatformApi;

#[tokio::main]
async fn main() -> Result<(), Error> {
    init_tracing("info");
    let config = PlatformConfig::from_env()?;
    let sdk = aws_sdk_config().await;
    let store = DynamoStore::new(aws_sdk_dynamodb::Client::new(&sdk), config.table_name);
    let secrets = Arc::new(SecretsManagerStore::new(aws_sdk_secretsmanager::Client::new(&sdk)));
    let queue = Arc::new(SqsJobQueue::new(aws_sdk_sqs::Client::new(&sdk), config.queue_url));
    let api = PlatformApi::new(store, secrets, queue, config.edge);
    let api = &api;
    run(service_fn(move |req| async move { Ok::<_, std::convert::Infallible>(api.handle(req).await) })).await
}
