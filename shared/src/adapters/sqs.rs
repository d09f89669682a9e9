//! SQS adapter of the sync queue: a FIFO queue, message group = connection, de-duplication id =
//! dataset id (plus the part for continuations), batches of at most 10, failed entries retried.

use async_trait::async_trait;
use aws_sdk_sqs::Client;
use aws_sdk_sqs::error::ProvideErrorMetadata;
use aws_sdk_sqs::types::SendMessageBatchRequestEntry;

use crate::domain::{ErasureJob, SyncJob};
use crate::error::StoreError;
use crate::ports::JobQueue;

/// SQS's limit of entries per SendMessageBatch.
pub const MAX_BATCH: usize = 10;
/// SQS's limit of a message body (moto does not enforce it; we do).
pub const MAX_BODY_BYTES: usize = 256 * 1024;
const ATTEMPTS: u32 = 4;

/// A failed call: refusals (permissions, a bad request) are permanent, the rest may pass later.
fn failure<E: ProvideErrorMetadata>(
    operation: &str,
    e: &aws_sdk_sqs::error::SdkError<E, aws_sdk_sqs::config::http::HttpResponse>,
) -> StoreError {
    let status = e.raw_response().map(|r| r.status().as_u16());
    let code = match (e.code(), status) {
        (Some(code), _) => code,
        // An answer whose error the client could not read: its status still tells a refusal.
        (None, Some(403)) => "AccessDenied",
        (None, _) => "unknown",
    };
    let detail = format!("{operation}: {code}");
    match code {
        "AccessDenied"
        | "AccessDeniedException"
        | "InvalidParameterValue"
        | "InvalidClientTokenId"
        | "AWS.SimpleQueueService.NonExistentQueue"
        | "QueueDoesNotExist"
        | "ReceiptHandleIsInvalid" => StoreError::Backend(detail),
        _ => StoreError::Unavailable(detail),
    }
}

/// Hides a received message for `delay` (SQS's limit: 12 hours): it comes back then.
async fn hide(client: &Client, url: &str, receipt: &str, delay: std::time::Duration) -> Result<(), StoreError> {
    client
        .change_message_visibility()
        .queue_url(url)
        .receipt_handle(receipt)
        .visibility_timeout(i32::try_from(delay.as_secs()).unwrap_or(i32::MAX).min(43_200))
        .send()
        .await
        .map_err(|e| failure("ChangeMessageVisibility", &e))?;
    Ok(())
}

/// The sync queue in SQS.
#[derive(Clone, Debug)]
pub struct SqsJobQueue {
    client: Client,
    url: String,
    fresh: Option<Box<SqsJobQueue>>,
}

impl SqsJobQueue {
    /// Sends to the queue at `url`.
    pub fn new(client: Client, url: impl Into<String>) -> Self {
        Self { client, url: url.into(), fresh: None }
    }

    /// With the fresh queue at `url` ([`JobQueue::fresh`]); none when `url` is empty.
    pub fn with_fresh(self, url: impl Into<String>) -> Self {
        let url = url.into();
        let fresh = (!url.is_empty()).then(|| Box::new(Self::new(self.client.clone(), url)));
        Self { fresh, ..self }
    }
}

impl SqsJobQueue {
    /// Sends `(body, message group, de-duplication id)` messages, 10 per batch, retrying
    /// failed entries.
    async fn send(&self, messages: Vec<(String, String, String)>) -> Result<(), StoreError> {
        for chunk in messages.chunks(MAX_BATCH) {
            let mut pending: Vec<SendMessageBatchRequestEntry> = chunk
                .iter()
                .enumerate()
                .map(|(i, (body, group, dedup))| {
                    if body.len() > MAX_BODY_BYTES {
                        return Err(StoreError::Backend(format!(
                            "job message of {} bytes exceeds SQS's limit",
                            body.len()
                        )));
                    }
                    SendMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .message_body(body)
                        .message_group_id(group)
                        .message_deduplication_id(dedup)
                        .build()
                        .map_err(|e| StoreError::Backend(e.to_string()))
                })
                .collect::<Result<_, _>>()?;
            for attempt in 0..ATTEMPTS {
                if attempt > 0 {
                    tokio::time::sleep(std::time::Duration::from_millis(50 << attempt)).await;
                }
                let out = self
                    .client
                    .send_message_batch()
                    .queue_url(&self.url)
                    .set_entries(Some(pending.clone()))
                    .send()
                    .await
                    .map_err(|e| failure("SendMessageBatch", &e));
                match out {
                    Ok(out) => {
                        let failed: Vec<String> = out.failed.iter().map(|f| f.id.clone()).collect();
                        pending.retain(|entry| failed.contains(&entry.id));
                        if pending.is_empty() {
                            break;
                        }
                    }
                    Err(e) if !e.retryable() || attempt + 1 == ATTEMPTS => return Err(e),
                    Err(_) => {}
                }
            }
            if !pending.is_empty() {
                return Err(StoreError::Unavailable(format!("{} job messages could not be sent", pending.len())));
            }
        }
        Ok(())
    }
}

fn body<T: serde::Serialize>(message: &T) -> Result<String, StoreError> {
    serde_json::to_string(message).map_err(|e| StoreError::Backend(e.to_string()))
}

#[async_trait]
impl crate::ports::FreshQueue for SqsJobQueue {
    async fn enqueue_fresh(&self, jobs: &[crate::domain::hook::FreshJob]) -> Result<(), StoreError> {
        let messages = jobs
            .iter()
            .map(|job| Ok((body(job)?, job.group(), job.deduplication_id())))
            .collect::<Result<_, StoreError>>()?;
        self.send(messages).await
    }

    async fn redeliver_fresh_after(&self, receipt: &str, delay: std::time::Duration) -> Result<(), StoreError> {
        hide(&self.client, &self.url, receipt, delay).await
    }
}

#[async_trait]
impl JobQueue for SqsJobQueue {
    async fn enqueue(&self, jobs: &[SyncJob]) -> Result<(), StoreError> {
        let messages = jobs
            .iter()
            .map(|job| Ok((body(job)?, job.connection_id.to_string(), job.deduplication_id())))
            .collect::<Result<_, StoreError>>()?;
        self.send(messages).await
    }

    async fn enqueue_erasures(&self, jobs: &[ErasureJob]) -> Result<(), StoreError> {
        let messages = jobs
            .iter()
            .map(|job| Ok((body(job)?, job.group(), job.deduplication_id())))
            .collect::<Result<_, StoreError>>()?;
        self.send(messages).await
    }

    async fn redeliver_after(&self, receipt: &str, delay: std::time::Duration) -> Result<(), StoreError> {
        hide(&self.client, &self.url, receipt, delay).await
    }

    fn fresh(&self) -> Option<&dyn crate::ports::FreshQueue> {
        self.fresh.as_deref().map(|q| q as &dyn crate::ports::FreshQueue)
    }
}

/// The webhook retry queue in SQS: a standard queue (a message can wait there), each message a
/// [`crate::domain::event::RetryMessage`].
#[derive(Clone, Debug)]
pub struct SqsRetryQueue {
    client: Client,
    url: String,
}

impl SqsRetryQueue {
    /// Sends to the queue at `url`.
    pub fn new(client: Client, url: impl Into<String>) -> Self {
        Self { client, url: url.into() }
    }
}

#[async_trait]
impl crate::ports::RetryQueue for SqsRetryQueue {
    async fn retry_later(
        &self,
        message: &crate::domain::event::RetryMessage,
        delay: std::time::Duration,
    ) -> Result<(), StoreError> {
        self.client
            .send_message()
            .queue_url(&self.url)
            .message_body(body(message)?)
            .delay_seconds(i32::try_from(delay.as_secs()).unwrap_or(900).min(900))
            .send()
            .await
            .map_err(|e| failure("SendMessage", &e))?;
        Ok(())
    }

    async fn redeliver_after(&self, receipt: &str, delay: std::time::Duration) -> Result<(), StoreError> {
        hide(&self.client, &self.url, receipt, delay).await
    }
}
