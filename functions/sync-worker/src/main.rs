//! Lambda entry point of the sync worker: configuration, clients, then the shared handler.

use std::sync::Arc;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use shared::adapters::dynamodb::DynamoStore;
use shared::adapters::dynamodb::records::DynamoRecords;
use shared::adapters::secrets_manager::SecretsManagerStore;
use shared::adapters::sqs::SqsJobQueue;
use shared::config::{WorkerConfig, aws_sdk_config, init_tracing};
use shared::sync::SyncWorker;

#[tokio::main]
async fn main() -> Result<(), Error> {
    init_tracing("info");
    let config = WorkerConfig::from_env()?;
    let sdk = aws_sdk_config().await;
    let dynamo = aws_sdk_dynamodb::Client::new(&sdk);
    let store = DynamoStore::new(dynamo.clone(), config.table_name);
    let records = Arc::new(DynamoRecords::new(dynamo, config.data_table_name));
    let secrets = Arc::new(SecretsManagerStore::new(aws_sdk_secretsmanager::Client::new(&sdk)));
    let queue = Arc::new(SqsJobQueue::new(aws_sdk_sqs::Client::new(&sdk), config.queue_url));
    let worker = SyncWorker::new(store, records, secrets, queue, config.bigcommerce, config.job_budget)
        .with_full_sync_every(config.full_sync_every);
    let worker = &worker;
    run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        Ok::<SqsBatchResponse, std::convert::Infallible>(worker.handle(event.payload).await)
    }))
    .await
}
