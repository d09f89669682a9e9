//! fn sync-worker: takes sync jobs off the queue, reads the store through the paced client,
//! maps records to Codat's model and stores them, moving the dataset through its statuses.
//!
//! It syncs every commerce data type BigCommerce provides (company info, customers, product
//! categories, products, orders, payments, transactions and payment methods) and answers
//! `NotSupported` for the others (locations, tax components, disputes). By stage:
//! - [`run`](self::run): one job's life, from the dataset to its end or continuation;
//! - `listings`: the store, products, categories, customers and payment methods;
//! - `order_pass`: orders first (Complete once listed), then payments and transactions in a
//!   run of their own over the order ids;
//! - `reconcile`: deletes inferred after a full listing, checkpointed chunk by chunk;
//! - [`erase`](self::erase): the erasure of a deleted connection or company;
//! - `context`: the run's state and the write side the stages share.

mod context;
mod erase;
mod listings;
mod order_pass;
mod reconcile;
mod run;
pub mod targeted;

use std::sync::Arc;
use std::time::Duration;

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use tracing::Instrument;

use crate::bigcommerce::client::Transport;
use crate::bigcommerce::paced::FetchError;
use crate::domain::{DataType, PullStatus, QueueMessage, SyncJob};
use crate::error::StoreError;
use crate::ports::{JobQueue, PlatformStore, RecordStore, SecretReader};
use crate::vault::{CredentialReader, CredentialVault};
pub use erase::Erased;

/// The partner datasets (payments, transactions) an orders run fills, as its checkpoint
/// records them (`"with": {data type: dataset id}`).
pub(crate) fn partners_in(checkpoint: &serde_json::Value) -> Vec<(uuid::Uuid, DataType)> {
    checkpoint["with"]
        .as_object()
        .into_iter()
        .flatten()
        .filter_map(|(key, id)| Some((uuid::Uuid::parse_str(id.as_str()?).ok()?, DataType::parse(key)?)))
        .collect()
}

/// What a stored checkpoint says about who fills its dataset: the partners its own run fills,
/// and the dataset whose run fills it (`driven_by`), if another run does.
pub fn checkpoint_links(checkpoint: Option<&str>) -> (Vec<(uuid::Uuid, DataType)>, Option<uuid::Uuid>) {
    let Some(value) = checkpoint.and_then(|c| serde_json::from_str::<serde_json::Value>(c).ok()) else {
        return (Vec::new(), None);
    };
    let driver = value["driven_by"].as_str().and_then(|id| uuid::Uuid::parse_str(id).ok());
    (partners_in(&value), driver)
}

/// The partner datasets a run of `dataset` was filling: those its checkpoint records, and those
/// it claimed before its first checkpoint (running datasets of the connection whose mark names
/// it as their driver).
pub async fn partners_of<S: crate::ports::DatasetStore + ?Sized>(
    store: &S,
    dataset: &crate::domain::Dataset,
) -> Result<Vec<(uuid::Uuid, DataType)>, StoreError> {
    let (mut partners, _) = checkpoint_links(dataset.checkpoint.as_deref());
    for status in store.data_statuses(dataset.company_id).await? {
        let candidate = status.latest_sync_id;
        if status.connection_id != dataset.connection_id
            || !PullStatus::RUNNING.contains(&status.current_status)
            || candidate == dataset.id
            || partners.iter().any(|(id, _)| *id == candidate)
        {
            continue;
        }
        if let Some(d) = store.dataset(dataset.company_id, candidate).await?
            && checkpoint_links(d.checkpoint.as_deref()).1 == Some(dataset.id)
        {
            partners.push((d.id, d.data_type));
        }
    }
    Ok(partners)
}

/// Why a job goes back to the queue (its dataset stays running; redelivery resumes).
#[derive(Debug, thiserror::Error)]
pub enum Retry {
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The store failed transiently.
    #[error(transparent)]
    Fetch(#[from] FetchError),
}

/// What one run of a job did (logged, and sent to the observer when there is one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobReport {
    /// The dataset.
    pub dataset_id: uuid::Uuid,
    /// The data type.
    pub data_type: DataType,
    /// The dataset's status after the run, or `None` when the run handed over to a continuation
    /// or went back to the queue.
    pub status: Option<PullStatus>,
    /// Whether the run fetched only what changed since the last successful sync.
    pub incremental: bool,
    /// True when the run queued a continuation.
    pub continued: bool,
    /// Records stored by this run.
    pub records: u64,
    /// Records removed by this run (archived orders, and what a full sync's reconciliation
    /// found gone from the store), across its data types.
    pub removed: u64,
    /// The data types filled in the same pass, and the records stored for each (their requests
    /// are this run's).
    pub partners: Vec<(DataType, u64)>,
    /// Requests sent to the store (retries included).
    pub requests: u64,
    /// 429s received.
    pub rate_limited: u64,
    /// Transient failures retried.
    pub retries: u64,
    /// Time the run took.
    pub elapsed: Duration,
}

/// Time allowed after the budget for requests already in flight.
const MIN_GRACE: Duration = Duration::from_secs(5);

/// How long after an invocation's deadline its message is delivered again if the run died.
const REDELIVERY_MARGIN: Duration = Duration::from_secs(30);

/// How a job that fails is retried (the queue's redrive policy decides the receives).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Receives before the queue moves a message to its dead-letter queue (`maxReceiveCount`):
    /// a job failing on its last receive ends its dataset instead of leaving it running.
    pub max_receives: u32,
    /// The wait before the first redelivery; each further one waits three times longer.
    pub first_backoff: Duration,
    /// The longest wait before a redelivery (it holds up the connection's other jobs meanwhile).
    pub max_backoff: Duration,
    /// Runs in a row that may store nothing before the dataset ends `FetchError`.
    pub max_stalled: u32,
    /// How long a queued continuation may wait behind its connection's other jobs before the
    /// scheduler's sweep may take its dataset for dead (see [`crate::sweep`]).
    pub continuation_wait: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_receives: 5,
            first_backoff: Duration::from_secs(10),
            max_backoff: Duration::from_secs(300),
            max_stalled: 5,
            continuation_wait: Duration::from_secs(6 * 3600),
        }
    }
}

impl RetryPolicy {
    /// The wait before redelivering a message received `receives` times.
    pub fn backoff(&self, receives: u32) -> Duration {
        let factor = 3u32.saturating_pow(receives.saturating_sub(1).min(20));
        self.first_backoff.saturating_mul(factor).min(self.max_backoff)
    }
}

/// How often a data type synced incrementally gets a full sync instead: the one that infers
/// what the store deleted (docs/mapping.md §11).
pub const FULL_SYNC_EVERY: chrono::Duration = chrono::Duration::days(7);

/// How far back an incremental sync looks before the last successful sync started: changes the
/// store recorded with a slightly earlier time, or while that sync ran, are fetched again.
pub const INCREMENTAL_OVERLAP: chrono::Duration = chrono::Duration::minutes(5);

/// The sync worker.
pub struct SyncWorker<S> {
    store: S,
    records: Arc<dyn RecordStore>,
    credentials: CredentialReader,
    queue: Arc<dyn JobQueue>,
    client: Arc<dyn Transport>,
    budget: Duration,
    full_sync_every: chrono::Duration,
    retries: RetryPolicy,
    reports: Option<tokio::sync::mpsc::UnboundedSender<JobReport>>,
    vault: Option<CredentialVault>,
    fresh_queue: Option<Arc<dyn crate::ports::FreshQueue>>,
    erasure_settle: Duration,
    history: crate::domain::History,
}

/// How long an erasure waits between its first and final pass by default: longer than any
/// writer that may have started before the delete can run (the scheduler's 300 s timeout, the
/// Link function's 20 s).
pub const ERASURE_SETTLE: Duration = Duration::from_secs(360);

impl<S: PlatformStore> SyncWorker<S> {
    /// A worker that starts no new page after `budget` in one job (the job then checkpoints and
    /// queues its continuation on `queue`), sending to the store through `client`; requests in flight get a quarter of the budget more
    /// (at least 5 s), which must stay inside the Lambda timeout.
    pub fn new(
        store: S,
        records: Arc<dyn RecordStore>,
        secrets: Arc<dyn SecretReader>,
        queue: Arc<dyn JobQueue>,
        client: impl Transport + 'static,
        budget: Duration,
    ) -> Self {
        let credentials = CredentialReader::new(secrets);
        Self {
            store,
            records,
            credentials,
            queue,
            client: Arc::new(client),
            budget,
            full_sync_every: FULL_SYNC_EVERY,
            retries: RetryPolicy::default(),
            reports: None,
            vault: None,
            fresh_queue: None,
            erasure_settle: ERASURE_SETTLE,
            history: crate::domain::History::default(),
        }
    }

    /// Keeps at most `history.per_data_type` datasets per data type (the store's expiry follows
    /// the same setting, given to the store).
    pub fn with_history(mut self, history: crate::domain::History) -> Self {
        self.history = history;
        self
    }

    /// Erasures delete credentials through `vault` (secrets named by connection id).
    pub fn with_vault(mut self, vault: CredentialVault) -> Self {
        self.vault = Some(vault);
        self
    }

    /// A targeted sync that leaves changes for later queues their job on `queue`.
    pub fn with_fresh_queue(mut self, queue: Arc<dyn crate::ports::FreshQueue>) -> Self {
        self.fresh_queue = Some(queue);
        self
    }

    /// Erasures wait `settle` between their two passes (default [`ERASURE_SETTLE`]).
    pub fn with_erasure_settle(mut self, settle: Duration) -> Self {
        self.erasure_settle = settle;
        self
    }

    /// Makes a sync of orders, payments, transactions, products or customers full (and so
    /// reconciling, see docs/mapping.md §11) once its last full sync is `every` old (default
    /// [`FULL_SYNC_EVERY`]); the syncs between are incremental.
    pub fn with_full_sync_every(mut self, every: Duration) -> Self {
        self.full_sync_every = chrono::Duration::from_std(every).unwrap_or(FULL_SYNC_EVERY);
        self
    }

    /// Retries failed jobs as `policy` says (default [`RetryPolicy::default`]).
    pub fn with_retries(mut self, policy: RetryPolicy) -> Self {
        self.retries = policy;
        self
    }

    /// Also sends a report of every run to `reports` (the demo and the benchmark use it).
    pub fn with_reports(mut self, reports: tokio::sync::mpsc::UnboundedSender<JobReport>) -> Self {
        self.reports = Some(reports);
        self
    }

    /// Handles an SQS batch in order, with no deadline but the job budget.
    pub async fn handle(&self, event: SqsEvent) -> SqsBatchResponse {
        self.handle_within(event, None).await
    }

    /// Handles an SQS batch in order, inside the invocation's `deadline` (Lambda's, when known).
    /// A message that fails (and, to keep each connection's jobs in order, every message after
    /// it) is reported for redelivery after a growing backoff; on its last receive its dataset
    /// ends with the error instead. An undecodable message fails alone and reaches the DLQ after
    /// its receives run out.
    pub async fn handle_within(&self, event: SqsEvent, deadline: Option<std::time::SystemTime>) -> SqsBatchResponse {
        let mut response = SqsBatchResponse::default();
        let mut failed_group = false;
        for message in event.records {
            let id = message.message_id.clone().unwrap_or_default();
            let span = tracing::info_span!("job", message_id = %id);
            let receives: u32 =
                message.attributes.get("ApproximateReceiveCount").and_then(|n| n.parse().ok()).unwrap_or(1);
            let message_body = message.body.as_deref().map(serde_json::from_str::<QueueMessage>);
            let fresh = matches!(message_body, Some(Ok(QueueMessage::Fresh(_))));
            self.hold(message.receipt_handle.as_deref(), deadline, fresh).await;
            let receipt = message.receipt_handle.as_deref();
            let ok = match message_body {
                Some(Ok(_)) if failed_group => false,
                Some(Ok(QueueMessage::Fresh(job))) => match self.fresh(&job).instrument(span).await {
                    Ok(()) => true,
                    Err(e) => {
                        failed_group = true;
                        let wait = self.retries.backoff(receives);
                        tracing::warn!(error = %e, receives, wait_secs = wait.as_secs(), kind = ?job.fresh, "fresh job will be retried");
                        if let Some(receipt) = receipt
                            && let Err(e) = self.queue.redeliver_after(receipt, wait).await
                        {
                            tracing::warn!(error = %e, "the retry waits for the queue's visibility timeout instead");
                        }
                        false
                    }
                },
                Some(Ok(QueueMessage::Sync(job))) => match self.run_within(&job, deadline).instrument(span).await {
                    Ok(()) => true,
                    Err(e) => {
                        failed_group = true;
                        self.after_failure(&job, &e, receives, receipt).await;
                        false
                    }
                },
                Some(Ok(QueueMessage::Erase(job))) => match self.erase(&job, deadline).instrument(span).await {
                    Ok(Erased::Done | Erased::Continued) => true,
                    Ok(Erased::Settle(wait)) => {
                        // Back after the settle time for the final pass (the group waits too).
                        failed_group = true;
                        if let Some(receipt) = receipt
                            && let Err(e) = self.queue.redeliver_after(receipt, wait).await
                        {
                            tracing::warn!(error = %e, "the final pass waits for the queue's visibility timeout");
                        }
                        false
                    }
                    Err(e) => {
                        failed_group = true;
                        let wait = self.retries.backoff(receives);
                        tracing::warn!(error = %e, receives, wait_secs = wait.as_secs(), "erasure will be retried");
                        if let Some(receipt) = receipt
                            && let Err(e) = self.queue.redeliver_after(receipt, wait).await
                        {
                            tracing::warn!(error = %e, "the retry waits for the queue's visibility timeout instead");
                        }
                        false
                    }
                },
                _ => {
                    tracing::error!(message_id = %id, "undecodable job message");
                    false
                }
            };
            if !ok {
                let mut failure = BatchItemFailure::default();
                failure.item_identifier = id;
                response.batch_item_failures.push(failure);
            }
        }
        response
    }

    /// Keeps a message away from other receivers only as long as this invocation can live (and
    /// [`REDELIVERY_MARGIN`]), not the queue's visibility timeout: if the run dies, the message
    /// comes back soon after, and its connection's other jobs wait no longer.
    async fn hold(&self, receipt: Option<&str>, deadline: Option<std::time::SystemTime>, fresh: bool) {
        let (Some(receipt), Some(deadline)) = (receipt, deadline) else { return };
        let left = deadline.duration_since(std::time::SystemTime::now()).unwrap_or_default();
        if let Err(e) = self.redeliver(receipt, left + REDELIVERY_MARGIN, fresh).await {
            tracing::warn!(error = %e, "the message stays invisible for the queue's visibility timeout");
        }
    }

    /// Delivers a received message again after `delay`, on the queue it came from (the fresh
    /// queue's when `fresh`).
    async fn redeliver(&self, receipt: &str, delay: Duration, fresh: bool) -> Result<(), StoreError> {
        match (&self.fresh_queue, fresh) {
            (Some(queue), true) => queue.redeliver_fresh_after(receipt, delay).await,
            _ => self.queue.redeliver_after(receipt, delay).await,
        }
    }

    /// A failed run's message goes back to the queue: after its backoff, or, on its last
    /// receive, with its dataset (and the partners it was filling) ended.
    async fn after_failure(&self, job: &SyncJob, error: &Retry, receives: u32, receipt: Option<&str>) {
        if receives >= self.retries.max_receives {
            tracing::error!(error = %error, dataset_id = %job.dataset_id, receives, "job failed on its last receive");
            if let Err(e) = self.give_up(job, error, receives).await {
                tracing::error!(error = %e, dataset_id = %job.dataset_id, "the dataset could not be ended");
            }
            // Straight to the dead-letter queue: the connection's other jobs wait no longer.
            if let Some(receipt) = receipt
                && let Err(e) = self.queue.redeliver_after(receipt, Duration::ZERO).await
            {
                tracing::warn!(error = %e, "the message waits for its visibility to end before the DLQ");
            }
            return;
        }
        let wait = self.retries.backoff(receives);
        tracing::warn!(error = %error, dataset_id = %job.dataset_id, receives, wait_secs = wait.as_secs(), "job will be retried");
        if let Some(receipt) = receipt
            && let Err(e) = self.queue.redeliver_after(receipt, wait).await
        {
            tracing::warn!(error = %e, "the retry waits for the queue's visibility timeout instead");
        }
    }
}
