//! fn webhooks' Lambda event: a batch of the platform table's stream (new outbox items, in
//! order) or of the retry queue. Answers `{"batchItemFailures": [...]}`: for the stream the
//! first record that could not be relayed (Lambda resumes there), for the queue each message
//! that stays (its next attempt hidden until due, or a failure to retry).

use serde_json::{Value, json};

use super::relay::{Next, Relay};
use crate::adapters::dynamodb::events::stream_event;
use crate::domain::event::RetryMessage;
use crate::ports::{DeliveryLog, WebhookConsumerStore};

/// Handles one batch.
pub async fn handle<S: WebhookConsumerStore + DeliveryLog>(relay: &Relay<S>, payload: &Value) -> Value {
    let records = payload["Records"].as_array().cloned().unwrap_or_default();
    let mut failures = Vec::new();
    for record in &records {
        match record["eventSource"].as_str() {
            Some("aws:dynamodb") => {
                if let Err(e) = stream_record(relay, record).await {
                    let sequence = record["dynamodb"]["SequenceNumber"].as_str().unwrap_or_default();
                    tracing::warn!(error = %e, sequence, "event not relayed; the stream hands it over again");
                    failures.push(json!({"itemIdentifier": sequence}));
                    // A stream resumes from its first failure: nothing after it counts.
                    break;
                }
            }
            Some("aws:sqs") => {
                let id = record["messageId"].as_str().unwrap_or_default();
                match retry_record(relay, record).await {
                    Ok(Next::Done) => {}
                    Ok(Next::Later) => failures.push(json!({"itemIdentifier": id})),
                    Err(e) => {
                        tracing::warn!(error = %e, message_id = id, "retry failed; SQS hands it over again");
                        failures.push(json!({"itemIdentifier": id}));
                    }
                }
            }
            other => tracing::warn!(source = ?other, "a record of an unknown source is ignored"),
        }
    }
    json!({"batchItemFailures": failures})
}

/// A new outbox item: relayed; anything else of the table is not ours.
async fn stream_record<S: WebhookConsumerStore + DeliveryLog>(
    relay: &Relay<S>,
    record: &Value,
) -> Result<(), crate::error::StoreError> {
    let event = match stream_event(record) {
        None => return Ok(()),
        Some(Ok(event)) => event,
        Some(Err(e)) => {
            // Not an event this version can read: retrying would not help.
            tracing::error!(error = %e, "an outbox item could not be read; skipped");
            return Ok(());
        }
    };
    relay.relay(&event).await.map(|_| ())
}

async fn retry_record<S: WebhookConsumerStore + DeliveryLog>(
    relay: &Relay<S>,
    record: &Value,
) -> Result<Next, crate::error::StoreError> {
    let body = record["body"].as_str().unwrap_or_default();
    let Ok(message) = serde_json::from_str::<RetryMessage>(body) else {
        tracing::error!("a retry message could not be read; dropped");
        return Ok(Next::Done);
    };
    let receipt = record["receiptHandle"].as_str().unwrap_or_default();
    relay.retry(&message, receipt).await
}
