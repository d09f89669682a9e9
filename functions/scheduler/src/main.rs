//! Lambda entry point of the scheduler: configuration, clients, then one tick per EventBridge
//! event (at the event's time): the sweep of stuck datasets, then the due syncs.

use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use serde_json::Value;
use shared::config::{SchedulerConfig, aws_sdk_config, init_tracing};
use shared::scheduler::{TICK_BUDGET, event_time, scheduled_tick};
use shared::wiring::{Clients, scheduler};

#[tokio::main]
async fn main() -> Result<(), Error> {
    init_tracing("info");
    let config = SchedulerConfig::from_env()?;
    let sweep = config.sweep;
    let (store, queue) = scheduler(&Clients::new(&aws_sdk_config().await), config);
    let (store, queue, sweep) = (&store, &queue, &sweep);
    run(service_fn(move |event: LambdaEvent<Value>| async move {
        let now = event_time(&event.payload).unwrap_or_else(chrono::Utc::now);
        // A failed tick is retried by EventBridge; its claims come due again after the lease.
        let report = scheduled_tick(store, queue, now, sweep, chrono::Duration::zero(), TICK_BUDGET).await?;
        Ok::<Value, Error>(serde_json::to_value(report)?)
    }))
    .await
}
