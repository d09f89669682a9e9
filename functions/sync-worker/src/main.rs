//! Lambda entry point of the sync worker: configuration, clients, then the shared handler,
//! inside the invocation's deadline.

use std::time::{Duration, UNIX_EPOCH};

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use shared::config::{WorkerConfig, aws_sdk_config, init_tracing};
use shared::wiring::{Clients, sync_worker};

#[tokio::main]
async fn main() -> Result<(), Error> {
    init_tracing("info");
    let config = WorkerConfig::from_env()?;
    let worker = sync_worker(&Clients::new(&aws_sdk_config().await), config);
    let worker = &worker;
    run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        // Lambda's deadline (ms since the epoch): the run yields in time to answer before it.
        let deadline = UNIX_EPOCH + Duration::from_millis(event.context.deadline);
        Ok::<SqsBatchResponse, std::convert::Infallible>(worker.handle_within(event.payload, Some(deadline)).await)
    }))
    .await
}
