//! The sync worker as `functions/sync-worker` runs it (the same configuration, clients, handler
//! and Lambda runtime), except that its records go to the benchmark's in-memory store over
//! loopback (`RECORDS_URL`, [`devstack::remote`]): `make bench` measures the worker process's
//! own peak memory at 10,000 and 1,000,000 orders with it. Never deployed.

use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use devstack::remote::RemoteRecords;
use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use shared::config::{WorkerConfig, aws_sdk_config, init_tracing};
use shared::wiring::{Clients, sync_worker_over};

#[tokio::main]
async fn main() -> Result<(), Error> {
    init_tracing("info");
    let config = WorkerConfig::from_env()?;
    let url = std::env::var("RECORDS_URL").map_err(|_| "RECORDS_URL is not set")?;
    let records = Arc::new(RemoteRecords::new(&url));
    let worker = sync_worker_over(&Clients::new(&aws_sdk_config().await), config, records);
    let worker = &worker;
    run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        let deadline = UNIX_EPOCH + Duration::from_millis(event.context.deadline);
        Ok::<SqsBatchResponse, std::convert::Infallible>(worker.handle_within(event.payload, Some(deadline)).await)
    }))
    .await
}
