//! fn sync-worker: takes sync jobs off the queue, reads the store through the paced client,
//! maps records to Codat's model and stores them, moving the dataset through its statuses.
//!
//! It syncs every commerce data type BigCommerce provides (company info, customers, product
//! categories, products, orders, payments, transactions and payment methods) and answers
//! `NotSupported` for the others (locations, tax components, disputes). By stage:
//! - [`run`](self::run): one job's life, from the dataset to its end or continuation;
//! - `listings`: the store, products, categories, customers and payment methods;
//! - `order_pass`: orders, payments and transactions in one pass over the order pages;
//! - `reconcile`: deletes inferred after a full listing;
//! - `context`: the run's state and the write side the stages share.

mod context;
mod listings;
mod order_pass;
mod reconcile;
mod run;

use std::sync::Arc;
use std::time::Duration;

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use tracing::Instrument;

use crate::bigcommerce::BigCommerceClient;
use crate::bigcommerce::paced::FetchError;
use crate::domain::{DataType, PullStatus, SyncJob};
use crate::error::StoreError;
use crate::ports::{JobQueue, PlatformStore, RecordStore, SecretReader};
use crate::vault::CredentialReader;

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
    client: BigCommerceClient,
    budget: Duration,
    full_sync_every: chrono::Duration,
    reports: Option<tokio::sync::mpsc::UnboundedSender<JobReport>>,
}

impl<S: PlatformStore> SyncWorker<S> {
    /// A worker that starts no new page after `budget` in one job (the job then checkpoints and
    /// queues its continuation on `queue`); requests in flight get a quarter of the budget more
    /// (at least 5 s), which must stay inside the Lambda timeout.
    pub fn new(
        store: S,
        records: Arc<dyn RecordStore>,
        secrets: Arc<dyn SecretReader>,
        queue: Arc<dyn JobQueue>,
        client: BigCommerceClient,
        budget: Duration,
    ) -> Self {
        let credentials = CredentialReader::new(secrets);
        Self { store, records, credentials, queue, client, budget, full_sync_every: FULL_SYNC_EVERY, reports: None }
    }

    /// Makes a sync of orders, payments, transactions, products or customers full (and so
    /// reconciling, see docs/mapping.md §11) once its last full sync is `every` old (default
    /// [`FULL_SYNC_EVERY`]); the syncs between are incremental.
    pub fn with_full_sync_every(mut self, every: Duration) -> Self {
        self.full_sync_every = chrono::Duration::from_std(every).unwrap_or(FULL_SYNC_EVERY);
        self
    }

    /// Also sends a report of every run to `reports` (the demo and the benchmark use it).
    pub fn with_reports(mut self, reports: tokio::sync::mpsc::UnboundedSender<JobReport>) -> Self {
        self.reports = Some(reports);
        self
    }

    /// Handles an SQS batch in order. A message that fails (and, to keep each connection's
    /// jobs in order, every message after it) is reported for redelivery; an undecodable
    /// message fails alone and reaches the DLQ after its receives run out.
    pub async fn handle(&self, event: SqsEvent) -> SqsBatchResponse {
        let mut response = SqsBatchResponse::default();
        let mut failed_group = false;
        for message in event.records {
            let id = message.message_id.clone().unwrap_or_default();
            let span = tracing::info_span!("job", message_id = %id);
            let job = message.body.as_deref().map(serde_json::from_str::<SyncJob>);
            let ok = match job {
                Some(Ok(job)) if !failed_group => match self.run(&job).instrument(span).await {
                    Ok(()) => true,
                    Err(e) => {
                        tracing::warn!(error = %e, dataset_id = %job.dataset_id, "job will be retried");
                        failed_group = true;
                        false
                    }
                },
                Some(Ok(_)) => false,
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
}
