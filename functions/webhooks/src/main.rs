//! Lambda entry point of fn webhooks: configuration, clients, then each batch of the platform
//! table's stream (new events) or of the retry queue (later attempts).

use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use serde_json::Value;
use shared::config::{WebhooksConfig, aws_sdk_config, init_tracing};
use shared::webhooks::handler::handle;
use shared::wiring::{Clients, webhooks};

#[tokio::main]
async fn main() -> Result<(), Error> {
    init_tracing("info");
    let relay = webhooks(&Clients::new(&aws_sdk_config().await), WebhooksConfig::from_env()?);
    let relay = &relay;
    run(service_fn(
        move |event: LambdaEvent<Value>| async move { Ok::<Value, Error>(handle(relay, &event.payload).await) },
    ))
    .await
}
