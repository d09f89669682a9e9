//! Lambda entry point of the Commerce API: configuration, clients, then the shared handler.

use std::sync::Arc;

use lambda_http::{Error, run, service_fn};
use shared::adapters::dynamodb::DynamoStore;
use shared::adapters::dynamodb::records::DynamoRecords;
use shared::commerce::CommerceApi;
use shared::config::{DataConfig, aws_sdk_config, init_tracing};

#[tokio::main]
async fn main() -> Result<(), Error> {
    init_tracing("info");
    let config = DataConfig::from_env()?;
    let sdk = aws_sdk_config().await;
    let dynamo = aws_sdk_dynamodb::Client::new(&sdk);
    let store = DynamoStore::new(dynamo.clone(), config.table_name);
    let records = Arc::new(DynamoRecords::new(dynamo, config.data_table_name));
    let api = CommerceApi::new(store, records, config.keys);
    let api = &api;
    run(service_fn(move |req| async move { Ok::<_, std::convert::Infallible>(api.handle(req).await) })).await
}
