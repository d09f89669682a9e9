//! Lambda entry point of the scheduler: configuration, clients, then one tick per EventBridge
//! event (at the event's time).

use std::sync::Arc;

use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use serde_json::Value;
use shared::adapters::dynamodb::DynamoStore;
use shared::adapters::sqs::SqsJobQueue;
use shared::config::{SchedulerConfig, aws_sdk_config, init_tracing};
use shared::scheduler::{event_time, tick};

#[tokio::main]
async fn main() -> Result<(), Error> {
    init_tracing("info");
    let config = SchedulerConfig::from_env()?;
    let sdk = aws_sdk_config().await;
    let store = DynamoStore::new(aws_sdk_dynamodb::Client::new(&sdk), config.table_name);
    let queue = Arc::new(SqsJobQueue::new(aws_sdk_sqs::Client::new(&sdk), config.queue_url));
    let (store, queue) = (&store, &queue);
    run(service_fn(move |event: LambdaEvent<Value>| async move {
        let now = event_time(&event.payload).unwrap_or_else(chrono::Utc::now);
        // A failed tick is retried by EventBridge; its claims come due again after the lease.
        let report = tick(store, queue.as_ref(), now, shared::scheduler::TICK_BUDGET).await?;
        Ok::<Value, Error>(serde_json::to_value(report)?)
    }))
    .await
}
