//! Lambda entry point of the sync worker: configuration, clients, then the shared handler.

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
        Ok::<SqsBatchResponse, std::convert::Infallible>(worker.handle(event.payload).await)
    }))
    .await
}
