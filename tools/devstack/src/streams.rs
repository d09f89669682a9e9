//! The DynamoDB stream event source mapping, locally: polls a table's stream as the mapping's
//! principal (`<function>.stream`), keeps the records the template's `FilterCriteria` keeps
//! (new items of the outbox, `EVENT#…`), hands them in batches in Lambda's DynamoDB event shape,
//! and resumes from the first record a batch reports failed (`ReportBatchItemFailures`).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_dynamodbstreams::types::{AttributeValue, Record, ShardIteratorType};
use serde_json::{Value, json};
use tokio::sync::watch;

/// What the mapping hands a batch to.
#[async_trait::async_trait]
pub trait StreamTarget: Send + Sync {
    /// Handles `event`; its `{"batchItemFailures": [...]}` answer, `None` when the invocation
    /// failed as a whole (the batch is handed over again).
    async fn invoke(&self, event: Value) -> Option<Value>;
}

#[async_trait::async_trait]
impl<S: shared::ports::WebhookConsumerStore + shared::ports::DeliveryLog + 'static> StreamTarget
    for shared::webhooks::relay::Relay<S>
{
    async fn invoke(&self, event: Value) -> Option<Value> {
        Some(shared::webhooks::handler::handle(self, &event).await)
    }
}

#[async_trait::async_trait]
impl<S: shared::ports::WebhookConsumerStore + shared::ports::DeliveryLog + 'static> crate::runner::SqsTarget
    for shared::webhooks::relay::Relay<S>
{
    async fn invoke(
        &self,
        event: aws_lambda_events::event::sqs::SqsEvent,
        _deadline: std::time::SystemTime,
    ) -> Option<aws_lambda_events::event::sqs::SqsBatchResponse> {
        let payload = serde_json::to_value(&event).ok()?;
        serde_json::from_value(shared::webhooks::handler::handle(self, &payload).await).ok()
    }
}

#[async_trait::async_trait]
impl StreamTarget for crate::lambda::LocalLambda {
    async fn invoke(&self, event: Value) -> Option<Value> {
        let invocation = match crate::lambda::LocalLambda::invoke(self, &event).await {
            Ok(invocation) => invocation,
            Err(e) => {
                tracing::error!(error = %e, "the function could not be started");
                return None;
            }
        };
        match invocation.outcome {
            crate::lambda::Outcome::Response(body) => Some(body),
            other => {
                tracing::warn!(outcome = ?other, "stream batch invocation failed");
                None
            }
        }
    }
}

/// Whether the template's filter keeps `record`: an INSERT of an `EVENT#` item.
fn kept(record: &Record) -> bool {
    let insert = record.event_name.as_ref().is_some_and(|n| n.as_str() == "INSERT");
    let pk = record.dynamodb.as_ref().and_then(|d| d.keys.as_ref()).and_then(|k| k.get("pk"));
    insert
        && matches!(pk, Some(AttributeValue::S(pk)) if pk.starts_with(shared::adapters::dynamodb::events::EVENT_PK_PREFIX))
}

/// An attribute in DynamoDB's JSON (what Lambda's event carries).
fn attribute(value: &AttributeValue) -> Value {
    match value {
        AttributeValue::S(s) => json!({"S": s}),
        AttributeValue::N(n) => json!({"N": n}),
        AttributeValue::Bool(b) => json!({"BOOL": b}),
        AttributeValue::Null(_) => json!({"NULL": true}),
        AttributeValue::M(m) => json!({"M": image(m)}),
        AttributeValue::L(l) => json!({"L": l.iter().map(attribute).collect::<Vec<_>>()}),
        AttributeValue::Ss(ss) => json!({"SS": ss}),
        AttributeValue::Ns(ns) => json!({"NS": ns}),
        _ => Value::Null,
    }
}

fn image(item: &std::collections::HashMap<String, AttributeValue>) -> Value {
    Value::Object(item.iter().map(|(k, v)| (k.clone(), attribute(v))).collect())
}

/// A record as Lambda's DynamoDB event carries it.
fn lambda_record(record: &Record, stream_arn: &str) -> Value {
    let stream = record.dynamodb.as_ref();
    json!({
        "eventID": record.event_id,
        "eventName": record.event_name.as_ref().map(|n| n.as_str()),
        "eventSource": "aws:dynamodb",
        "eventSourceARN": stream_arn,
        "awsRegion": crate::iam::REGION,
        "dynamodb": {
            "Keys": stream.and_then(|s| s.keys.as_ref()).map(image),
            "NewImage": stream.and_then(|s| s.new_image.as_ref()).map(image),
            "SequenceNumber": stream.and_then(|s| s.sequence_number.clone()),
            "StreamViewType": "NEW_IMAGE",
        },
    })
}

/// Polls one stream.
pub struct StreamPoller {
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl StreamPoller {
    /// Starts polling `stream_arn` (from its oldest record, as `TRIM_HORIZON`) as `client`,
    /// handing at most `batch_size` kept records at a time to `target`.
    pub fn start(
        client: aws_sdk_dynamodbstreams::Client,
        stream_arn: String,
        batch_size: usize,
        target: Arc<dyn StreamTarget>,
    ) -> Self {
        let (stop, mut stopped) = watch::channel(false);
        let task = tokio::spawn(async move {
            let mut iterators: BTreeMap<String, Option<String>> = BTreeMap::new();
            let mut pending: Vec<Record> = Vec::new();
            loop {
                if *stopped.borrow() {
                    break;
                }
                if let Err(e) = poll_once(&client, &stream_arn, &mut iterators, &mut pending).await {
                    tracing::warn!(error = %e, "reading the stream failed");
                }
                while !pending.is_empty() {
                    let batch: Vec<Record> = pending.iter().take(batch_size.max(1)).cloned().collect();
                    let event =
                        json!({"Records": batch.iter().map(|r| lambda_record(r, &stream_arn)).collect::<Vec<_>>()});
                    let failed_from = match target.invoke(event).await {
                        None => Some(0),
                        Some(answer) => answer["batchItemFailures"].as_array().and_then(|f| f.first()).map(|first| {
                            let sequence = first["itemIdentifier"].as_str().unwrap_or_default();
                            batch
                                .iter()
                                .position(|r| {
                                    r.dynamodb.as_ref().and_then(|d| d.sequence_number.as_deref()) == Some(sequence)
                                })
                                .unwrap_or(0)
                        }),
                    };
                    match failed_from {
                        // Done up to the failure: the rest comes again after a pause.
                        Some(at) => {
                            pending.drain(..at);
                            tokio::time::sleep(Duration::from_millis(500)).await;
                            break;
                        }
                        None => {
                            pending.drain(..batch.len());
                        }
                    }
                }
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_millis(100)) => {}
                    _ = stopped.changed() => break,
                }
            }
        });
        Self { stop, task }
    }

    /// Stops polling (a batch in progress finishes first).
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

/// Reads what is new on every shard into `pending` (kept records only).
async fn poll_once(
    client: &aws_sdk_dynamodbstreams::Client,
    stream_arn: &str,
    iterators: &mut BTreeMap<String, Option<String>>,
    pending: &mut Vec<Record>,
) -> Result<(), String> {
    if iterators.is_empty() || iterators.values().all(Option::is_none) {
        let described = client.describe_stream().stream_arn(stream_arn).send().await.map_err(|e| format!("{e:?}"))?;
        for shard in described.stream_description.and_then(|d| d.shards).unwrap_or_default() {
            let Some(id) = shard.shard_id else { continue };
            if iterators.contains_key(&id) {
                continue;
            }
            let iterator = client
                .get_shard_iterator()
                .stream_arn(stream_arn)
                .shard_id(&id)
                .shard_iterator_type(ShardIteratorType::TrimHorizon)
                .send()
                .await
                .map_err(|e| format!("{e:?}"))?;
            iterators.insert(id, iterator.shard_iterator);
        }
    }
    for iterator in iterators.values_mut() {
        let Some(current) = iterator.clone() else { continue };
        let out = client.get_records().shard_iterator(current).send().await.map_err(|e| format!("{e:?}"))?;
        pending.extend(out.records.unwrap_or_default().into_iter().filter(kept));
        *iterator = out.next_shard_iterator;
    }
    Ok(())
}
