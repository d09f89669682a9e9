//! fn sync-worker: takes sync jobs off the queue, reads the store through the paced client,
//! maps records to Codat's model and stores them, moving the dataset through its statuses.
//!
//! It syncs every commerce data type BigCommerce provides (company info, customers, product
//! categories, products, orders, payments, transactions and payment methods) and answers
//! `NotSupported` for the others (locations, tax components, disputes).

pub mod mapping;
pub mod payments;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use chrono::Utc;
use futures::{StreamExt, TryStreamExt};
use serde_json::{Value, json};
use tokio::time::Instant;
use tracing::Instrument;

use crate::bigcommerce::paced::{FetchError, PacedClient, Page};
use crate::bigcommerce::{BigCommerceClient, Credentials};
use crate::domain::{ConnectionStatus, DataType, DataTypeStatus, PullStatus};
use crate::error::StoreError;
use crate::jobs::SyncJob;
use crate::ports::{JobQueue, PlatformStore, RecordStore, SecretReader, StoredRecord};

/// Why a job goes back to the queue (its dataset stays running; redelivery resumes).
#[derive(Debug, thiserror::Error)]
pub enum Retry {
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The store failed transiently or the time budget ran out.
    #[error("{0}")]
    Fetch(FetchError),
}

/// Why a run stopped before its data type was complete.
#[derive(Debug)]
enum Stop {
    /// The store (or storage) failed.
    Fetch(FetchError),
    /// The time budget is spent: carry on from this checkpoint in a continuation.
    Yield(Value),
}

impl From<FetchError> for Stop {
    fn from(e: FetchError) -> Self {
        Stop::Fetch(e)
    }
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

/// One run of a job: the client, the clock and where an earlier run stopped.
struct Run<'a> {
    job: &'a SyncJob,
    client: Arc<PacedClient>,
    /// In-flight requests must end by then.
    deadline: Instant,
    /// No page starts after this: the run checkpoints and hands over to a continuation.
    yield_at: Instant,
    /// Where an earlier run of the dataset got to.
    resume: Option<Value>,
    /// Records stored by this run.
    records: std::sync::atomic::AtomicU64,
    /// The checkpoint of the last page stored (or the one resumed from).
    last_checkpoint: std::sync::Mutex<Option<Value>>,
    /// The datasets this run fills in the same pass (orders with payments and transactions):
    /// id, data type and the records stored for each.
    partners: Vec<(uuid::Uuid, DataType, std::sync::atomic::AtomicU64)>,
    /// Incremental: only what the store changed since then (`None`: everything).
    since: Option<chrono::DateTime<Utc>>,
    /// When the dataset was requested (what "during the sync" starts from).
    requested: chrono::DateTime<Utc>,
    /// A full sync fetches only records created from then (`syncFromUtc`; orders and customers).
    created_from: Option<chrono::DateTime<Utc>>,
    /// When the last full sync of an incremental run's data types was requested (`None` when
    /// this run is the full one).
    last_full: Option<chrono::DateTime<Utc>>,
    /// The listing so far: source records listed, and the total the store announced for it.
    listing: std::sync::Mutex<Listing>,
    /// Records removed by this run.
    removed: std::sync::atomic::AtomicU64,
    /// The partners were given up mid-pass (a scope went missing): their records were not all
    /// written again, so nothing may be inferred about them.
    partners_given_up: std::sync::atomic::AtomicBool,
    /// Marks the run's datasets carry once Complete (read by the next run's `changed_since`).
    marks: std::sync::Mutex<serde_json::Map<String, Value>>,
}

/// How much of a full listing a run saw: what reconciliation checks before it infers deletes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Listing {
    /// Source records listed (across the dataset's runs).
    listed: u64,
    /// The store's own count of what the listing should return, when it gave one.
    announced: Option<u64>,
}

impl Listing {
    /// Whether the listing returned at least what the store announced: the only listing from
    /// whose absences deletes may be inferred. A listing that ended early, or for which the store
    /// gave no total, is partial.
    fn complete(&self) -> bool {
        self.announced.is_some_and(|announced| self.listed >= announced)
    }
}

impl Run<'_> {
    fn resume_u64(&self, key: &str) -> Option<u64> {
        self.resume.as_ref().and_then(|c| c[key].as_u64())
    }

    /// Records how far the listing got (after each page, and where it ends).
    fn listed(&self, listed: u64, announced: Option<u64>) {
        let mut listing = self.listing.lock().unwrap_or_else(|e| e.into_inner());
        *listing = Listing { listed, announced: announced.or(listing.announced) };
    }

    /// Adds a mark to the run's datasets' final checkpoint.
    fn mark(&self, key: &str, value: Value) {
        self.marks.lock().unwrap_or_else(|e| e.into_inner()).insert(key.to_string(), value);
    }

    /// Yields with `checkpoint` once the budget is spent and `more` work remains.
    fn pause_if_spent(&self, more: bool, checkpoint: impl FnOnce() -> Value) -> Result<(), Stop> {
        if more && Instant::now() >= self.yield_at { Err(Stop::Yield(checkpoint())) } else { Ok(()) }
    }
}

/// Time allowed after the budget for requests already in flight.
const MIN_GRACE: Duration = Duration::from_secs(5);

/// The sync worker.
pub struct SyncWorker<S> {
    store: S,
    records: Arc<dyn RecordStore>,
    secrets: Arc<dyn SecretReader>,
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
        Self { store, records, secrets, queue, client, budget, full_sync_every: FULL_SYNC_EVERY, reports: None }
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

    async fn finish(&self, job: &SyncJob, status: PullStatus, message: Option<String>) -> Result<(), Retry> {
        let progress = if status == PullStatus::Complete { 100 } else { 0 };
        self.store.advance_dataset(job.company_id, job.dataset_id, status, progress, message, Utc::now()).await?;
        tracing::info!(dataset_id = %job.dataset_id, data_type = job.data_type.key(), status = status.as_str(), "dataset finished");
        Ok(())
    }

    /// Runs one job. Repeats are harmless: a final dataset is left alone, and a running one
    /// resumes from its last checkpoint.
    pub async fn run(&self, job: &SyncJob) -> Result<(), Retry> {
        let Some(dataset) = self.store.dataset(job.company_id, job.dataset_id).await? else {
            tracing::info!(dataset_id = %job.dataset_id, "dataset gone (company deleted?); dropping the job");
            return Ok(());
        };
        if dataset.status.is_final() {
            return Ok(());
        }
        // The stored checkpoint, read once: a mark that another run fills this dataset, or where
        // an earlier run got to.
        let stored_checkpoint = dataset.checkpoint.as_deref().and_then(|c| serde_json::from_str::<Value>(c).ok());
        if let Some(driver) = stored_checkpoint.as_ref().and_then(|c| c["driven_by"].as_str()) {
            tracing::info!(dataset_id = %job.dataset_id, %driver, "filled by its sibling's run; nothing to do");
            return Ok(());
        }
        if !job.data_type.supported() {
            return self
                .finish(
                    job,
                    PullStatus::NotSupported,
                    Some(format!("BigCommerce does not provide {}", job.data_type.key())),
                )
                .await;
        }
        let connection = match self.store.get_connection(job.company_id, job.connection_id).await? {
            Some(c) if c.status == ConnectionStatus::Linked => c,
            Some(c) if c.status == ConnectionStatus::Deauthorized => {
                return self.finish(job, PullStatus::AuthError, Some("The connection is Deauthorized".into())).await;
            }
            _ => return self.finish(job, PullStatus::Cancelled, Some("The connection is not Linked".into())).await,
        };
        let secret = match &connection.secret_name {
            Some(name) => self.secrets.read_secret(name).await?,
            None => None,
        };
        let Some(credentials) =
            secret.as_ref().and_then(|s| Credentials::from_secret_json(secrecy::ExposeSecret::expose_secret(s)))
        else {
            return self
                .finish(job, PullStatus::AuthError, Some("The connection's credentials are missing".into()))
                .await;
        };
        self.store
            .advance_dataset(job.company_id, job.dataset_id, PullStatus::Fetching, dataset.progress, None, Utc::now())
            .await?;
        let client = Arc::new(PacedClient::new(
            self.client.clone(),
            credentials.store_hash.clone(),
            credentials.access_token.clone(),
        ));
        let started = Instant::now();
        // The stored checkpoint is at least as far as the message's (it moves after every page).
        let resume = stored_checkpoint.or(job.checkpoint.clone());
        // Read once: which siblings are still Queued, and when each type last synced successfully.
        let statuses = self.store.data_statuses(job.company_id).await?;
        let partners = self.claim_partners(job, &resume, &statuses).await?;
        let incremental = self.changed_since(job, &partners, &statuses).await?;
        let (since, last_full) = (incremental.map(|(since, _)| since), incremental.map(|(_, full)| full));
        let created_from = match since {
            Some(_) => None,
            None => self.sync_from(job, &partners).await?,
        };
        let run = Run {
            job,
            client: client.clone(),
            deadline: started + self.budget + (self.budget / 4).max(MIN_GRACE),
            yield_at: started + self.budget,
            last_checkpoint: std::sync::Mutex::new(resume.clone()),
            resume,
            records: Default::default(),
            partners: partners.into_iter().map(|(id, t)| (id, t, Default::default())).collect(),
            since,
            requested: dataset.requested,
            created_from,
            last_full,
            listing: Default::default(),
            removed: Default::default(),
            partners_given_up: Default::default(),
            marks: Default::default(),
        };
        if let Some(since) = since {
            tracing::info!(dataset_id = %job.dataset_id, since = %crate::codat::timestamp(since), "incremental: changes only");
        }
        let outcome = match self.fetch_and_store(&run).await {
            Ok(()) => self.reconcile(&run).await,
            stopped => stopped,
        };
        let mut continued = false;
        let result = match outcome {
            Ok(()) => self.finish_run(&run, PullStatus::Complete, None).await,
            Err(Stop::Yield(checkpoint)) => {
                // The checkpoint is stored already; the continuation only says where to go on.
                self.queue.enqueue(&[job.continuation(Some(checkpoint))]).await?;
                tracing::info!(dataset_id = %job.dataset_id, part = job.part + 1, "time budget spent: continuation queued");
                continued = true;
                Ok(())
            }
            Err(Stop::Fetch(FetchError::OutOfTime)) => {
                // The store kept us waiting (429s, slowness) past the budget: go on from the last
                // stored page in a fresh invocation rather than fail towards the DLQ.
                let checkpoint = run.last_checkpoint.lock().unwrap_or_else(|e| e.into_inner()).clone();
                self.queue.enqueue(&[job.continuation(checkpoint)]).await?;
                tracing::warn!(dataset_id = %job.dataset_id, part = job.part + 1, "requests could not finish in time: continuation queued");
                continued = true;
                Ok(())
            }
            Err(Stop::Fetch(FetchError::Unauthorized)) => {
                let _ = self
                    .store
                    .set_connection_status(
                        job.company_id,
                        job.connection_id,
                        &[ConnectionStatus::Linked],
                        ConnectionStatus::Deauthorized,
                    )
                    .await;
                tracing::warn!(connection_id = %job.connection_id, "store rejected the token: connection Deauthorized");
                self.finish_run(&run, PullStatus::AuthError, Some("The store rejected the access token".into())).await
            }
            Err(Stop::Fetch(FetchError::Forbidden(endpoint))) => {
                let message = Some(format!("A scope is missing for {endpoint}"));
                self.finish_run(&run, PullStatus::PermissionsError, message).await
            }
            Err(Stop::Fetch(e)) if e.retryable() => Err(Retry::Fetch(e)),
            Err(Stop::Fetch(e)) => self.finish_run(&run, PullStatus::FetchError, Some(e.to_string())).await,
        };
        self.report(&run, started, continued, &result).await;
        result
    }

    /// Finishes the run's dataset, and its partners' with the same status.
    /// Each data type's list directory is rebuilt first, so a reader that sees the status finds
    /// the directory of what was stored.
    async fn finish_run(&self, run: &Run<'_>, status: PullStatus, message: Option<String>) -> Result<(), Retry> {
        let connection = run.job.connection_id;
        if status == PullStatus::Complete {
            // What the next run of these data types reads: when their last full sync was asked
            // for (this one's, or carried on), and whether the next must be full anyway.
            // They join each checkpoint rather than replace it: if what follows fails, the
            // redelivery still resumes after the last page (and with the same partners).
            run.mark("full_at", json!(crate::codat::timestamp(run.last_full.unwrap_or(run.requested))));
            let marks = run.marks.lock().unwrap_or_else(|e| e.into_inner()).clone();
            let with_marks = |checkpoint: Option<Value>| {
                let mut merged = match checkpoint {
                    Some(Value::Object(fields)) => fields,
                    _ => serde_json::Map::new(),
                };
                merged.extend(marks.clone());
                Value::Object(merged).to_string()
            };
            let driver = json!({"driven_by": run.job.dataset_id.to_string()});
            for (partner, _, _) in &run.partners {
                self.store
                    .checkpoint_dataset(run.job.company_id, *partner, 99, &with_marks(Some(driver.clone())))
                    .await?;
            }
            let own = run.last_checkpoint.lock().unwrap_or_else(|e| e.into_inner()).clone();
            self.store.checkpoint_dataset(run.job.company_id, run.job.dataset_id, 99, &with_marks(own)).await?;
        }
        for data_type in run.partners.iter().map(|(_, t, _)| *t).chain([run.job.data_type]) {
            let count = self.records.seal(connection, data_type).await?;
            tracing::info!(dataset_id = %run.job.dataset_id, data_type = data_type.key(), count, "directory sealed");
        }
        for (partner, data_type, _) in &run.partners {
            let partner_job = SyncJob { dataset_id: *partner, data_type: *data_type, ..run.job.clone() };
            self.finish(&partner_job, status, message.clone()).await?;
        }
        self.finish(run.job, status, message).await
    }

    /// Where an incremental run starts: the last successful sync of the run's data type (and of
    /// each partner it fills) was requested at some time; the store's changes since then, less
    /// [`INCREMENTAL_OVERLAP`], are fetched. Returns that time and when the last full sync of
    /// them was requested. `None` (a full sync) when any of them never synced successfully, was
    /// marked `full_next`, or had its last full sync [`FULL_SYNC_EVERY`] ago or more; and for data
    /// fetched whole every time.
    async fn changed_since(
        &self,
        job: &SyncJob,
        partners: &[(uuid::Uuid, DataType)],
        statuses: &[DataTypeStatus],
    ) -> Result<Option<(chrono::DateTime<Utc>, chrono::DateTime<Utc>)>, Retry> {
        if !matches!(
            job.data_type,
            DataType::Orders | DataType::Payments | DataType::Transactions | DataType::Products | DataType::Customers
        ) {
            return Ok(None);
        }
        let mut since: Option<(chrono::DateTime<Utc>, chrono::DateTime<Utc>)> = None;
        for data_type in partners.iter().map(|(_, t)| *t).chain([job.data_type]) {
            let last = statuses
                .iter()
                .find(|s| s.connection_id == job.connection_id && s.data_type == data_type)
                .and_then(|s| s.latest_successful_sync_id);
            let Some(last) = last else { return Ok(None) };
            let Some(dataset) = self.store.dataset(job.company_id, last).await? else { return Ok(None) };
            let marked = dataset.checkpoint.as_deref().and_then(|c| serde_json::from_str::<Value>(c).ok());
            if marked.as_ref().is_some_and(|c| c["full_next"] == true) {
                return Ok(None);
            }
            let last_full = marked.as_ref().and_then(|c| rfc3339(&c["full_at"])).unwrap_or(dataset.requested);
            if Utc::now() - last_full >= self.full_sync_every {
                tracing::info!(dataset_id = %job.dataset_id, data_type = data_type.key(), "last full sync is due for renewal: full sync");
                return Ok(None);
            }
            let from = dataset.requested - INCREMENTAL_OVERLAP;
            since = Some(since.map_or((from, last_full), |(s, f)| (s.min(from), f.min(last_full))));
        }
        Ok(since)
    }

    /// The company's `syncFromUtc` for a full sync of orders (with the partners it fills: the
    /// earliest of theirs, none if one has none) or customers. Products and the rest are fetched
    /// whole: orders refer to them whatever their age.
    async fn sync_from(
        &self,
        job: &SyncJob,
        partners: &[(uuid::Uuid, DataType)],
    ) -> Result<Option<chrono::DateTime<Utc>>, Retry> {
        if !matches!(
            job.data_type,
            DataType::Orders | DataType::Payments | DataType::Transactions | DataType::Customers
        ) {
            return Ok(None);
        }
        let settings = self.store.sync_settings(job.company_id).await?.unwrap_or_default().effective();
        let mut from: Option<chrono::DateTime<Utc>> = None;
        for data_type in partners.iter().map(|(_, t)| *t).chain([job.data_type]) {
            let Some(at) = settings.iter().find(|s| s.data_type == data_type).and_then(|s| s.sync_from_utc) else {
                return Ok(None);
            };
            from = Some(from.map_or(at, |f| f.min(at)));
        }
        Ok(from)
    }

    /// Orders, payments and transactions come from the same order pages, and payments and
    /// transactions from the same transaction calls. A run of orders fills payments and
    /// transactions too, and a run of one of those the other, when their latest datasets are still
    /// Queued: it marks each such dataset as driven by this one (its own job then leaves it alone)
    /// and records them in its own checkpoint, so a redelivery or continuation carries on with all.
    async fn claim_partners(
        &self,
        job: &SyncJob,
        resume: &Option<Value>,
        statuses: &[DataTypeStatus],
    ) -> Result<Vec<(uuid::Uuid, DataType)>, Retry> {
        let siblings: &[DataType] = match job.data_type {
            DataType::Orders => &[DataType::Payments, DataType::Transactions],
            DataType::Payments => &[DataType::Transactions],
            DataType::Transactions => &[DataType::Payments],
            _ => return Ok(Vec::new()),
        };
        if let Some(resume) = resume {
            let recorded: Vec<(uuid::Uuid, DataType)> = resume["with"]
                .as_object()
                .into_iter()
                .flatten()
                .filter_map(|(key, id)| {
                    let data_type = serde_json::from_value::<DataType>(json!(key)).ok()?;
                    Some((uuid::Uuid::parse_str(id.as_str()?).ok()?, data_type))
                })
                .collect();
            // A partner already ended (e.g. PermissionsError) is not filled any more.
            let mut partners = Vec::new();
            for (id, data_type) in recorded {
                if self.store.dataset(job.company_id, id).await?.is_some_and(|d| !d.status.is_final()) {
                    partners.push((id, data_type));
                }
            }
            return Ok(partners);
        }
        let mut partners = Vec::new();
        for sibling in siblings {
            let Some(status) = statuses.iter().find(|s| {
                s.connection_id == job.connection_id
                    && s.data_type == *sibling
                    && s.current_status == PullStatus::Queued
            }) else {
                continue;
            };
            let partner = status.latest_sync_id;
            let marker = json!({"driven_by": job.dataset_id.to_string()}).to_string();
            if self.store.checkpoint_dataset(job.company_id, partner, 0, &marker).await? {
                self.store.advance_dataset(job.company_id, partner, PullStatus::Fetching, 0, None, Utc::now()).await?;
                tracing::info!(dataset_id = %job.dataset_id, partner = %partner, "filling {} in the same pass", sibling.key());
                partners.push((partner, *sibling));
            }
        }
        if !partners.is_empty() {
            let with: serde_json::Map<String, Value> =
                partners.iter().map(|(id, t)| (t.key().to_string(), json!(id.to_string()))).collect();
            let own = json!({"with": with}).to_string();
            self.store.checkpoint_dataset(job.company_id, job.dataset_id, 0, &own).await?;
        }
        Ok(partners)
    }

    async fn report(&self, run: &Run<'_>, started: Instant, continued: bool, result: &Result<(), Retry>) {
        let stats = run.client.stats();
        let status = match (continued, result) {
            (false, Ok(())) => {
                self.store.dataset(run.job.company_id, run.job.dataset_id).await.ok().flatten().map(|d| d.status)
            }
            _ => None,
        };
        let report = JobReport {
            dataset_id: run.job.dataset_id,
            data_type: run.job.data_type,
            status,
            incremental: run.since.is_some(),
            continued,
            records: run.records.load(std::sync::atomic::Ordering::Relaxed),
            removed: run.removed.load(std::sync::atomic::Ordering::Relaxed),
            partners: run.partners.iter().map(|(_, t, n)| (*t, n.load(std::sync::atomic::Ordering::Relaxed))).collect(),
            requests: stats.requests,
            rate_limited: stats.rate_limited,
            retries: stats.retries,
            elapsed: started.elapsed(),
        };
        tracing::info!(
            dataset_id = %report.dataset_id,
            data_type = report.data_type.key(),
            status = report.status.map(|s| s.as_str()),
            continued,
            records = report.records,
            removed = report.removed,
            requests = report.requests,
            rate_limited = report.rate_limited,
            retries = report.retries,
            elapsed_ms = report.elapsed.as_millis() as u64,
            "job run"
        );
        if let Some(reports) = &self.reports {
            let _ = reports.send(report);
        }
    }

    async fn fetch_and_store(&self, run: &Run<'_>) -> Result<(), Stop> {
        let (job, client, deadline) = (run.job, &*run.client, run.deadline);
        match job.data_type {
            DataType::CompanyInfo => {
                let Page::Json(store) = client.get("v2/store", deadline).await? else {
                    return Err(FetchError::Unavailable("v2/store answered without a body".into()).into());
                };
                let info = mapping::company_info(&store, Utc::now());
                let record = StoredRecord {
                    id: store["id"].as_str().unwrap_or_default().to_string(),
                    modified: None,
                    record: info,
                };
                self.store_all(run, &[record]).await
            }
            DataType::Customers => self.sync_customers(run).await,
            DataType::ProductCategories => self.sync_categories(run).await,
            DataType::Products => self.sync_products(run).await,
            DataType::Orders | DataType::Payments | DataType::Transactions => self.sync_order_pass(run).await,
            DataType::PaymentMethods => {
                // Built-ins (docs/mapping.md §6): no store call, so nothing can be half-synced.
                let records: Vec<StoredRecord> =
                    mapping::payment_methods(Utc::now()).into_iter().map(|record| keyed(record, None)).collect();
                self.store_all(run, &records).await
            }
            other => {
                Err(FetchError::Unexpected(501, format!("{} sync is not available in this build", other.key())).into())
            }
        }
    }

    /// Every product with its variants, page by page (each page stored before the next; a
    /// repeated page fails loudly). Category names and the store currency are read first.
    /// Checkpoint: `{"page", "done"}` (the last stored page).
    async fn sync_products(&self, run: &Run<'_>) -> Result<(), Stop> {
        let (client, deadline) = (&*run.client, run.deadline);
        let currency = match client.get("v2/store", deadline).await? {
            Page::Json(store) => store["currency"].as_str().unwrap_or("XXX").to_string(),
            Page::Empty => "XXX".to_string(),
        };
        let categories: HashMap<u64, String> = self
            .fetch_pages(client, "v3/catalog/trees/categories?limit=250", "category_id", deadline)
            .await?
            .iter()
            .filter_map(|c| Some((c["category_id"].as_u64()?, c["name"].as_str()?.to_string())))
            .collect();
        let mut previous_first = None;
        let mut stored = run.resume_u64("done").unwrap_or(0);
        let mut page = run.resume_u64("page").unwrap_or(0) + 1;
        let changed = v3_changed_since(run.since);
        let path = |page: u64| format!("v3/catalog/products?include=variants&limit=250&page={page}{changed}");
        let mut fetched = client.get(&path(page), deadline).await?;
        loop {
            let Page::Json(body) = fetched else { return Ok(()) };
            let data = body["data"].as_array().cloned().unwrap_or_default();
            let total = body["meta"]["pagination"]["total"].as_u64();
            if data.is_empty() {
                run.listed(stored, total);
                return Ok(());
            }
            let first = data.first().map(|p| p["id"].clone());
            if first == previous_first {
                return Err(
                    FetchError::Unexpected(508, format!("products page {page} repeated the previous page")).into()
                );
            }
            previous_first = first;
            let now = Utc::now();
            let records: Vec<StoredRecord> = data
                .iter()
                .map(|p| keyed(mapping::product(p, &categories, &currency, now), rfc3339(&p["date_modified"])))
                .collect();
            stored += records.len() as u64;
            run.listed(stored, total);
            let checkpoint = json!({"page": page, "done": stored});
            let more = page < body["meta"]["pagination"]["total_pages"].as_u64().unwrap_or(1);
            // The next page is fetched while this one is stored, unless the budget is spent
            // (then the continuation asks for it).
            let ahead = more && Instant::now() < run.yield_at;
            let next = async { if ahead { Some(client.get(&path(page + 1), deadline).await) } else { None } };
            let (stored_page, next) = tokio::join!(self.store_page(run, &records, stored, total, &checkpoint), next);
            stored_page?;
            if !more {
                return Ok(());
            }
            run.pause_if_spent(!ahead, || checkpoint)?;
            page += 1;
            fetched = match next {
                Some(next) => next?,
                None => client.get(&path(page), deadline).await?,
            };
        }
    }

    /// Orders, payments and transactions (whichever this run fills, docs/mapping.md §3–5) in one
    /// pass over the order pages: the store's refunds first, then orders 250 per page (with their
    /// line items embedded when orders are filled: no call per order). For payments and
    /// transactions, each page's transactions are fetched concurrently (one call per order, as
    /// many in flight as the quota allows) while the page's orders are stored. Every data type's
    /// records of a page are stored before the checkpoint that covers them.
    /// Checkpoint: `{"page", "done", "with"?}` (the last stored page).
    async fn sync_order_pass(&self, run: &Run<'_>) -> Result<(), Stop> {
        let (client, deadline) = (&*run.client, run.deadline);
        let fills = |t: DataType| run.job.data_type == t || run.partners.iter().any(|(_, p, _)| *p == t);
        let orders_wanted = fills(DataType::Orders);
        let mut money_wanted = fills(DataType::Payments) || fills(DataType::Transactions);
        // A full pass reads the store's refunds list once (fewer calls than one per page of
        // orders); an incremental one asks for the refunds of each page's orders only.
        let all_refunds = match run.since {
            None => Some(self.refunds_by_order(client, "", deadline).await?),
            Some(_) => None,
        };
        let changed = format!("{}{}", v2_changed_since(run.since), v2_created_from(run.created_from));
        let total = order_count(client, &changed, deadline).await?;
        let lines = if orders_wanted { "&include=consignments.line_items&consignment_structure=object" } else { "" };
        let mut pages = OrderPages::new(format!("{changed}{lines}"), run, total).await;
        while let Some(orders) = pages.next().await? {
            let ids = orders
                .iter()
                .map(|o| o["id"].as_u64())
                .collect::<Option<Vec<u64>>>()
                .ok_or_else(|| FetchError::Unexpected(502, "an order without a numeric id".into()))?;
            let page_refunds;
            let refunds = match &all_refunds {
                Some(all) => all,
                None => {
                    let listed = ids.iter().map(u64::to_string).collect::<Vec<_>>().join(",");
                    page_refunds = self.refunds_by_order(client, &format!("&order_id:in={listed}"), deadline).await?;
                    &page_refunds
                }
            };
            let progress = pages.progress(orders.len(), total);
            let transactions = async {
                if !money_wanted {
                    return Ok(Vec::new());
                }
                let width = client.quota().await.unwrap_or(1).max(1) as usize;
                futures::stream::iter(ids.into_iter().map(|id| order_transactions(client, id, deadline)))
                    .buffered(width)
                    .try_collect::<Vec<Vec<Value>>>()
                    .await
            };
            let store_orders = async {
                if !orders_wanted {
                    return Ok(());
                }
                let now = Utc::now();
                let records: Vec<StoredRecord> = orders
                    .iter()
                    .map(|o| {
                        let refunded: rust_decimal::Decimal = refunds
                            .get(&o["id"].as_u64().unwrap_or_default())
                            .into_iter()
                            .flatten()
                            .map(|r| mapping::money(&r["total_amount"]).round_dp(2))
                            .sum();
                        keyed(mapping::order(o, refunded, now), rfc2822(&o["date_modified"]))
                    })
                    .collect();
                self.store_kind(run, DataType::Orders, &records, progress).await
            };
            let (transactions, stored) = tokio::join!(transactions, store_orders);
            stored?;
            let transactions = match transactions {
                Err(FetchError::Forbidden(endpoint)) if run.job.data_type == DataType::Orders => {
                    // Orders go on; the data types that need the missing scope end here.
                    self.give_up_partners(run, &endpoint).await?;
                    run.partners_given_up.store(true, std::sync::atomic::Ordering::SeqCst);
                    money_wanted = false;
                    Vec::new()
                }
                other => other?,
            };
            if money_wanted {
                let now = Utc::now();
                let (mut payment_records, mut transaction_records) = (Vec::new(), Vec::new());
                for (order, transactions) in orders.iter().zip(&transactions) {
                    let refunds = refunds.get(&order["id"].as_u64().unwrap_or_default()).map_or(&[][..], Vec::as_slice);
                    let money = payments::OrderMoney { order, transactions, refunds };
                    let modified = rfc2822(&order["date_modified"]);
                    if fills(DataType::Payments) {
                        payment_records.extend(payments::payments(&money, now).into_iter().map(|r| keyed(r, modified)));
                    }
                    if fills(DataType::Transactions) {
                        let mapped = payments::transactions(&money, now);
                        transaction_records.extend(mapped.into_iter().map(|r| keyed(r, modified)));
                    }
                }
                for (data_type, records) in
                    [(DataType::Payments, &payment_records), (DataType::Transactions, &transaction_records)]
                {
                    if fills(data_type) {
                        self.store_kind(run, data_type, records, progress).await?;
                        if run.since.is_some() {
                            self.remove_orphans(run, data_type, &orders, records).await?;
                        }
                    }
                }
            }
            pages.checkpoint(self, run, orders.len(), total).await?;
        }
        run.listed(pages.done, Some(total));
        if run.since.is_some() {
            self.remove_archived(run).await?;
        }
        self.check_archives_during(run).await
    }

    /// An incremental pass also lists the orders the store archived since (`is_deleted=true`)
    /// and removes them, with their payments and transactions (ids `<order id>_…`), from every
    /// data type the pass fills: archived orders do not stay as if alive (docs/mapping.md §3).
    async fn remove_archived(&self, run: &Run<'_>) -> Result<(), Stop> {
        let filter = format!("&is_deleted=true{}", v2_changed_since(run.since));
        let mut archived = Vec::new();
        for page in 1.. {
            let Page::Json(body) =
                run.client.get(&format!("v2/orders?limit=250&page={page}{filter}"), run.deadline).await?
            else {
                break;
            };
            let orders = body.as_array().cloned().unwrap_or_default();
            archived.extend(orders.iter().filter_map(|o| o["id"].as_u64()).map(|id| id.to_string()));
            if orders.len() < 250 {
                break;
            }
        }
        if archived.is_empty() {
            return Ok(());
        }
        for data_type in run.partners.iter().map(|(_, t, _)| *t).chain([run.job.data_type]) {
            let ids = match data_type {
                DataType::Orders => archived.clone(),
                _ => self.ids_of_orders(run, data_type, &archived).await?,
            };
            self.remove(run, data_type, &ids, "archived orders removed").await?;
        }
        Ok(())
    }

    /// The stored ids of `data_type` (payments or transactions: `<order id>_…`) of `orders`: one
    /// prefix Query per order, eight at a time.
    async fn ids_of_orders(
        &self,
        run: &Run<'_>,
        data_type: DataType,
        orders: &[String],
    ) -> Result<Vec<String>, FetchError> {
        let connection = run.job.connection_id;
        let prefixes: Vec<String> = orders.iter().map(|order| format!("{order}_")).collect();
        let lookups = prefixes.into_iter().map(|prefix| {
            let records = self.records.clone();
            async move { records.ids_with_prefix(connection, data_type, &prefix).await }
        });
        let found: Vec<Vec<String>> =
            futures::stream::iter(lookups).buffered(8).try_collect().await.map_err(storage)?;
        Ok(found.into_iter().flatten().collect())
    }

    /// Removes `ids` of `data_type` (if any), counting them as the run's and logging `why`.
    async fn remove(&self, run: &Run<'_>, data_type: DataType, ids: &[String], why: &str) -> Result<(), FetchError> {
        if ids.is_empty() {
            return Ok(());
        }
        self.records.delete_records(run.job.connection_id, data_type, ids).await.map_err(storage)?;
        run.removed.fetch_add(ids.len() as u64, std::sync::atomic::Ordering::Relaxed);
        tracing::info!(dataset_id = %run.job.dataset_id, data_type = data_type.key(), removed = ids.len(), "{why}");
        Ok(())
    }

    /// After an incremental pass maps changed `orders` again: removes their stored payments or
    /// transactions (`data_type`) that the new mapping (`records`) no longer gives, e.g. a charge
    /// of an order since cancelled. One prefix Query per changed order. (A full sync's
    /// reconciliation does the same from the tags.)
    async fn remove_orphans(
        &self,
        run: &Run<'_>,
        data_type: DataType,
        orders: &[Value],
        records: &[StoredRecord],
    ) -> Result<(), FetchError> {
        let produced: std::collections::HashSet<&str> = records.iter().map(|r| r.id.as_str()).collect();
        let ids: Vec<String> = orders.iter().filter_map(|o| o["id"].as_u64()).map(|id| id.to_string()).collect();
        let mut orphans = self.ids_of_orders(run, data_type, &ids).await?;
        orphans.retain(|id| !produced.contains(id.as_str()));
        self.remove(run, data_type, &orphans, "records the changed orders no longer give removed").await
    }

    /// Infers deletes after a full listing (docs/mapping.md §11). The stored records of the run's
    /// data types that this pass did not write are candidates. None is removed unless the listing
    /// was complete (it returned at least what the store announced: a listing cut short never
    /// looks like a mass delete), and then only those the store confirms gone when asked for by
    /// id (an archived order counts as gone; a payment or transaction goes with its order). A
    /// record the listing skipped (pages shifted under it) is found alive and stays. A payment or
    /// transaction of an order this pass mapped again, which the mapping no longer gives, goes
    /// too. Syncs that are incremental or bounded by `syncFromUtc` list only part of the store and
    /// infer nothing.
    async fn reconcile(&self, run: &Run<'_>) -> Result<(), Stop> {
        let reconciled = matches!(
            run.job.data_type,
            DataType::Orders | DataType::Payments | DataType::Transactions | DataType::Products | DataType::Customers
        );
        if run.since.is_some() || run.created_from.is_some() || !reconciled {
            return Ok(());
        }
        let (connection, dataset_id) = (run.job.connection_id, run.job.dataset_id);
        let mut candidates = Vec::new();
        // Sources this pass wrote records of: a payment or transaction of one of these orders that
        // the pass did not write is one the order's mapping no longer gives (it was just mapped).
        let mut listed = std::collections::HashSet::new();
        // Partners given up mid-pass were not listed whole: they are left as they are.
        let partners = match run.partners_given_up.load(std::sync::atomic::Ordering::SeqCst) {
            true => &[][..],
            false => &run.partners[..],
        };
        for data_type in partners.iter().map(|(_, t, _)| *t).chain([run.job.data_type]) {
            let tally = self.records.tally_pass(connection, data_type, dataset_id).await.map_err(storage)?;
            listed.extend(tally.written.iter().map(|id| source_of(data_type, id)));
            if !tally.others.is_empty() {
                candidates.push((data_type, tally.others));
            }
        }
        let mut gone: std::collections::HashSet<String> = Default::default();
        let unlisted: Vec<String> = {
            let mut sources: Vec<String> = candidates
                .iter()
                .flat_map(|(t, ids)| ids.iter().map(|id| source_of(*t, id)))
                .filter(|source| !listed.contains(source))
                .collect();
            sources.sort_unstable();
            sources.dedup();
            sources
        };
        let listing = *run.listing.lock().unwrap_or_else(|e| e.into_inner());
        if !unlisted.is_empty() && !listing.complete() {
            tracing::warn!(
                %dataset_id, listed = listing.listed, announced = listing.announced, unlisted = unlisted.len(),
                "the listing returned less than the store announced: no deletes inferred"
            );
        } else if !unlisted.is_empty() {
            // Ask the store about each unlisted source: products, customers, or orders.
            gone = match run.job.data_type {
                DataType::Products => self.gone_from_list(run, "v3/catalog/products?limit=250", &unlisted).await?,
                DataType::Customers => self.gone_from_list(run, "v3/customers?limit=250", &unlisted).await?,
                _ => self.gone_orders(run, &unlisted).await?,
            };
            tracing::info!(%dataset_id, unlisted = unlisted.len(), confirmed_gone = gone.len(), "reconciled with the store");
        }
        for (data_type, ids) in candidates {
            let money = matches!(data_type, DataType::Payments | DataType::Transactions);
            let ids: Vec<String> = ids
                .into_iter()
                .filter(|id| {
                    let source = source_of(data_type, id);
                    gone.contains(&source) || (money && listed.contains(&source))
                })
                .collect();
            self.remove(run, data_type, &ids, "records gone from the store removed").await?;
        }
        Ok(())
    }

    /// Of `ids` (numeric source ids), those a v3 list (`base`, filtered by `id:in`, 50 ids per
    /// call) no longer returns.
    async fn gone_from_list(
        &self,
        run: &Run<'_>,
        base: &str,
        ids: &[String],
    ) -> Result<std::collections::HashSet<String>, FetchError> {
        let mut gone = std::collections::HashSet::new();
        for chunk in ids.chunks(ID_LOOKUPS_PER_CALL) {
            let path = format!("{base}&id:in={}", chunk.join(","));
            let found: std::collections::HashSet<String> = match run.client.get(&path, run.deadline).await? {
                Page::Json(body) => body["data"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|r| r["id"].as_u64())
                    .map(|id| id.to_string())
                    .collect(),
                // No body is no answer: nothing is inferred from it.
                Page::Empty => chunk.iter().cloned().collect(),
            };
            gone.extend(chunk.iter().filter(|id| !found.contains(*id)).cloned());
        }
        Ok(gone)
    }

    /// Of `ids` (order ids), those the store no longer has or has archived: one `v2/orders/{id}`
    /// each, as many in flight as the quota allows.
    async fn gone_orders(
        &self,
        run: &Run<'_>,
        ids: &[String],
    ) -> Result<std::collections::HashSet<String>, FetchError> {
        let (client, deadline) = (&*run.client, run.deadline);
        let width = client.quota().await.unwrap_or(1).max(1) as usize;
        let lookups = ids.iter().cloned().map(|id| order_gone(client, id, deadline));
        let found: Vec<Option<String>> = futures::stream::iter(lookups).buffered(width).try_collect().await?;
        Ok(found.into_iter().flatten().collect())
    }

    /// Pages are by position (id order), so an order archived while the pass ran shifts the
    /// later ones back and one of them may never be listed. Inserts (at the end) and updates (in
    /// place) shift nothing, and the next incremental sync fetches them. If the store archived
    /// any order since this dataset was requested (one count call), the dataset is marked so the
    /// next sync of these data types is full rather than incremental.
    async fn check_archives_during(&self, run: &Run<'_>) -> Result<(), Stop> {
        let since = run.requested - chrono::Duration::minutes(1);
        let filter = format!("&is_deleted=true{}", v2_changed_since(Some(since)));
        let archived = order_count(&run.client, &filter, run.deadline).await?;
        if archived > 0 {
            tracing::info!(dataset_id = %run.job.dataset_id, archived, "orders archived during the pass: the next sync is full");
            run.mark("full_next", json!(true));
            run.mark("archived_during", json!(archived));
        }
        Ok(())
    }

    /// Ends the run's payments and transactions partners with PermissionsError (the orders run
    /// that fills them goes on without them).
    async fn give_up_partners(&self, run: &Run<'_>, endpoint: &str) -> Result<(), FetchError> {
        for (partner, data_type, _) in &run.partners {
            let partner_job = SyncJob { dataset_id: *partner, data_type: *data_type, ..run.job.clone() };
            let message = Some(format!("A scope is missing for {endpoint}"));
            self.finish(&partner_job, PullStatus::PermissionsError, message)
                .await
                .map_err(|e| FetchError::Unavailable(format!("storage: {e}")))?;
        }
        Ok(())
    }

    /// Stores one page's records of `data_type`, the run's own or a partner's (whose progress is
    /// updated, keeping its `driven_by` mark). The run's checkpoint is written after all kinds.
    async fn store_kind(
        &self,
        run: &Run<'_>,
        data_type: DataType,
        records: &[StoredRecord],
        progress: u8,
    ) -> Result<(), FetchError> {
        self.records
            .put_records(run.job.connection_id, data_type, records, Some(run.job.dataset_id))
            .await
            .map_err(storage)?;
        let counter = if data_type == run.job.data_type {
            &run.records
        } else {
            match run.partners.iter().find(|(_, t, _)| *t == data_type) {
                Some((partner, _, counter)) => {
                    let marker = json!({"driven_by": run.job.dataset_id.to_string()}).to_string();
                    let _ = self.store.checkpoint_dataset(run.job.company_id, *partner, progress, &marker).await;
                    counter
                }
                None => &run.records,
            }
        };
        counter.fetch_add(records.len() as u64, std::sync::atomic::Ordering::Relaxed);
        Ok(())
    }

    /// The store's refunds (those `filter` selects, e.g. `&order_id:in=1,2`), by order id.
    async fn refunds_by_order(
        &self,
        client: &PacedClient,
        filter: &str,
        deadline: Instant,
    ) -> Result<HashMap<u64, Vec<Value>>, FetchError> {
        let mut by_order: HashMap<u64, Vec<Value>> = HashMap::new();
        let base = format!("v3/orders/payment_actions/refunds?limit=250{filter}");
        for refund in self.fetch_pages(client, &base, "id", deadline).await? {
            by_order.entry(refund["order_id"].as_u64().unwrap_or_default()).or_default().push(refund);
        }
        Ok(by_order)
    }

    /// Stores records that come whole from one answer (no checkpoint needed).
    async fn store_all(&self, run: &Run<'_>, records: &[StoredRecord]) -> Result<(), Stop> {
        Ok(self.store_kind(run, run.job.data_type, records, 0).await?)
    }

    /// Stores one page of mapped records, then records the checkpoint (see [`Self::write_checkpoint`]).
    async fn store_page(
        &self,
        run: &Run<'_>,
        records: &[StoredRecord],
        done: u64,
        total: Option<u64>,
        checkpoint: &Value,
    ) -> Result<(), Stop> {
        self.store_all(run, records).await?;
        self.write_checkpoint(run, done, total, checkpoint).await;
        Ok(())
    }

    /// Records the checkpoint with progress (`done` of `total` source records, when the store
    /// gave a total) as at most 99%: only the final status says 100. It is what a redelivered job
    /// resumes from; if the write fails the page is simply fetched again.
    async fn write_checkpoint(&self, run: &Run<'_>, done: u64, total: Option<u64>, checkpoint: &Value) {
        let progress = total.map_or(0, |total| percent(done, total));
        let job = run.job;
        if let Err(e) =
            self.store.checkpoint_dataset(job.company_id, job.dataset_id, progress, &checkpoint.to_string()).await
        {
            tracing::warn!(error = %e, dataset_id = %job.dataset_id, "checkpoint not recorded");
        }
        *run.last_checkpoint.lock().unwrap_or_else(|e| e.into_inner()) = Some(checkpoint.clone());
    }

    /// Every record of a v3 page/limit listing; a page that repeats the previous one fails.
    async fn fetch_pages(
        &self,
        client: &PacedClient,
        base: &str,
        id_key: &str,
        deadline: Instant,
    ) -> Result<Vec<Value>, FetchError> {
        let mut all = Vec::new();
        let mut previous_first = None;
        for page in 1.. {
            let Page::Json(body) = client.get(&format!("{base}&page={page}"), deadline).await? else { break };
            let data = body["data"].as_array().cloned().unwrap_or_default();
            if data.is_empty() {
                break;
            }
            let first = data.first().map(|c| c[id_key].clone());
            if first == previous_first {
                return Err(FetchError::Unexpected(508, format!("{base} page {page} repeated the previous page")));
            }
            previous_first = first;
            all.extend(data);
            if page >= body["meta"]["pagination"]["total_pages"].as_u64().unwrap_or(1) {
                break;
            }
        }
        Ok(all)
    }

    /// Every tree category (page by page; a page that repeats the previous one fails loudly),
    /// then mapped together: ancestors and `hasChildren` need the whole tree.
    async fn sync_categories(&self, run: &Run<'_>) -> Result<(), Stop> {
        let all =
            self.fetch_pages(&run.client, "v3/catalog/trees/categories?limit=250", "category_id", run.deadline).await?;
        let records: Vec<StoredRecord> =
            mapping::product_categories(&all, Utc::now()).into_iter().map(|record| keyed(record, None)).collect();
        self.store_all(run, &records).await
    }

    /// Customers by cursor (stable against inserts between pages), 250 per page, each page
    /// stored before the next is asked for. A cursor that does not advance fails loudly.
    /// Checkpoint: `{"after", "done"}` (the cursor after the last stored page).
    async fn sync_customers(&self, run: &Run<'_>) -> Result<(), Stop> {
        let changed = format!("{}{}", v3_changed_since(run.since), v3_created_from(run.created_from));
        let mut path = match run.resume.as_ref().and_then(|c| c["after"].as_str()) {
            Some(after) => format!("v3/customers?include=addresses&limit=250&after={after}{changed}"),
            None => format!("v3/customers?include=addresses&limit=250&page=1{changed}"),
        };
        let mut seen_cursors = std::collections::HashSet::new();
        let mut stored = run.resume_u64("done").unwrap_or(0);
        // The total comes with the first page only; checkpoints carry it on.
        let mut total = run.resume_u64("total");
        loop {
            let Page::Json(page) = run.client.get(&path, run.deadline).await? else { return Ok(()) };
            let data = page["data"].as_array().cloned().unwrap_or_default();
            total = page["meta"]["pagination"]["total"].as_u64().or(total);
            if data.is_empty() {
                run.listed(stored, total);
                return Ok(());
            }
            let now = Utc::now();
            let records: Vec<StoredRecord> =
                data.iter().map(|c| keyed(mapping::customer(c, now), rfc3339(&c["date_modified"]))).collect();
            stored += records.len() as u64;
            run.listed(stored, total);
            let Some(cursor) = page["meta"]["cursor_pagination"]["end_cursor"].as_str().map(str::to_string) else {
                return self.store_all(run, &records).await;
            };
            let checkpoint = json!({"after": cursor, "done": stored, "total": total});
            self.store_page(run, &records, stored, total, &checkpoint).await?;
            if !seen_cursors.insert(cursor.clone()) {
                return Err(FetchError::Unexpected(508, format!("customers cursor {cursor} did not advance")).into());
            }
            if data.len() < 250 || total.is_some_and(|t| stored >= t) {
                // A short page is the last, and so is the one that reaches the first page's
                // total: no call to learn that. Customers added since are the next sync's.
                return Ok(());
            }
            run.pause_if_spent(true, || checkpoint)?;
            path = format!("v3/customers?include=addresses&limit=250&after={cursor}{changed}");
        }
    }
}

/// Progress of `done` out of `total` source records, at most 99% (only the final status says
/// 100) and 0 while the total is unknown.
fn percent(done: u64, total: u64) -> u8 {
    (done * 100).checked_div(total).map_or(0, |p| p.min(99) as u8)
}

/// A storage failure, as the run reports it (retryable: the job goes back to the queue).
fn storage(e: StoreError) -> FetchError {
    FetchError::Unavailable(format!("storage: {e}"))
}

/// Source ids asked for per `id:in` lookup when reconciling.
const ID_LOOKUPS_PER_CALL: usize = 50;

/// The source record a stored record of `data_type` comes from: a payment or transaction
/// (`<order id>_…`) comes from its order; anything else is its own.
fn source_of(data_type: DataType, id: &str) -> String {
    match data_type {
        DataType::Payments | DataType::Transactions => id.split('_').next().unwrap_or(id).to_string(),
        _ => id.to_string(),
    }
}

/// A mapped record keyed by its Codat `id`.
fn keyed(record: Value, modified: Option<chrono::DateTime<Utc>>) -> StoredRecord {
    StoredRecord { id: record["id"].as_str().unwrap_or_default().to_string(), modified, record }
}

/// A v2 RFC 2822 timestamp ("Tue, 20 Nov 2012 00:00:00 +0000"), in UTC.
fn rfc2822(value: &Value) -> Option<chrono::DateTime<Utc>> {
    value.as_str().and_then(|d| chrono::DateTime::parse_from_rfc2822(d).ok()).map(|d| d.with_timezone(&Utc))
}

/// How often a data type synced incrementally gets a full sync instead: the one that infers
/// what the store deleted (docs/mapping.md §11).
pub const FULL_SYNC_EVERY: chrono::Duration = chrono::Duration::days(7);

/// How far back an incremental sync looks before the last successful sync started: changes the
/// store recorded with a slightly earlier time, or while that sync ran, are fetched again.
pub const INCREMENTAL_OVERLAP: chrono::Duration = chrono::Duration::minutes(5);

/// The v2 orders filter for changes since `since` (`&min_date_modified=<RFC 2822, UTC>`).
fn v2_changed_since(since: Option<chrono::DateTime<Utc>>) -> String {
    since.map_or_else(String::new, |at| {
        let stamp = at.format("%a, %d %b %Y %H:%M:%S +0000").to_string();
        format!("&min_date_modified={}", url::form_urlencoded::byte_serialize(stamp.as_bytes()).collect::<String>())
    })
}

/// The v3 filter for changes since `since` (`&date_modified:min=<ISO 8601, UTC>`, always with
/// the time: a bare date would get the current time of day appended).
fn v3_changed_since(since: Option<chrono::DateTime<Utc>>) -> String {
    since.map_or_else(String::new, |at| {
        let stamp = at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        format!("&date_modified:min={}", url::form_urlencoded::byte_serialize(stamp.as_bytes()).collect::<String>())
    })
}

/// The v2 orders filter for a first sync bounded by `syncFromUtc` (`&min_date_created=`).
fn v2_created_from(from: Option<chrono::DateTime<Utc>>) -> String {
    v2_changed_since(from).replace("min_date_modified", "min_date_created")
}

/// The v3 customers filter for a first sync bounded by `syncFromUtc` (`&date_created:min=`).
fn v3_created_from(from: Option<chrono::DateTime<Utc>>) -> String {
    v3_changed_since(from).replace("date_modified:min", "date_created:min")
}

/// `GET v2/orders/count` (with `filter`): the number of orders (for progress).
async fn order_count(client: &PacedClient, filter: &str, deadline: Instant) -> Result<u64, FetchError> {
    let path = match filter.strip_prefix('&') {
        Some(query) => format!("v2/orders/count?{query}"),
        None => "v2/orders/count".to_string(),
    };
    Ok(match client.get(&path, deadline).await? {
        Page::Json(count) => count["count"].as_u64().unwrap_or(0),
        Page::Empty => 0,
    })
}

/// One order's v3 transactions (none when the store answers 204, or 404 for an order deleted
/// since it was listed).
async fn order_transactions(client: &PacedClient, id: u64, deadline: Instant) -> Result<Vec<Value>, FetchError> {
    match client.get(&format!("v3/orders/{id}/transactions"), deadline).await {
        Ok(Page::Json(body)) => Ok(body["data"].as_array().cloned().unwrap_or_default()),
        Ok(Page::Empty) | Err(FetchError::NotFound(_)) => Ok(Vec::new()),
        Err(e) => Err(e),
    }
}

/// `Some(id)` when the store no longer has order `id` or has archived it (`v2/orders/{id}`);
/// `None` when it is alive, or `id` is not an order id.
async fn order_gone(client: &PacedClient, id: String, deadline: Instant) -> Result<Option<String>, FetchError> {
    if id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(None);
    }
    match client.get(&format!("v2/orders/{id}"), deadline).await {
        Ok(Page::Json(order)) if order["is_deleted"] == true => Ok(Some(id)),
        Err(FetchError::NotFound(_)) => Ok(Some(id)),
        Ok(_) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Order pages fetched ahead of the one being stored, at most (a page of orders with its line
/// items is about 5 MB of JSON): as many as the quota allows, up to this.
const MAX_PAGES_AHEAD: u32 = 4;

/// One page of the v2 order listing (empty on 204).
async fn order_page(
    client: &PacedClient,
    page: u64,
    include: &str,
    deadline: Instant,
) -> Result<Vec<Value>, FetchError> {
    let path = format!("v2/orders?limit=250&page={page}{include}");
    Ok(match client.get(&path, deadline).await? {
        Page::Json(body) => body.as_array().cloned().unwrap_or_default(),
        Page::Empty => Vec::new(),
    })
}

/// The v2 order listing, 250 per page. The pages the order count announces are fetched in
/// the background, as many ahead of the page being stored as the quota allows (at most
/// [`MAX_PAGES_AHEAD`]), and handed over in order; after them, pages are read one by one until a
/// short page (orders added during the sync). A page that repeats the previous one fails
/// loudly. It starts after the checkpoint's page when the run resumes; pages fetched ahead are
/// abandoned when the run stops.
struct OrderPages {
    include: String,
    client: Arc<PacedClient>,
    deadline: Instant,
    page: u64,
    done: u64,
    previous_first: Option<Value>,
    last: bool,
    announced: u64,
    next_ahead: u64,
    width: usize,
    ahead: std::collections::VecDeque<tokio::task::JoinHandle<Result<Vec<Value>, FetchError>>>,
}

impl OrderPages {
    async fn new(include: String, run: &Run<'_>, count: u64) -> Self {
        let (page, done) = (run.resume_u64("page").unwrap_or(0), run.resume_u64("done").unwrap_or(0));
        let width = run.client.quota().await.unwrap_or(1).clamp(1, MAX_PAGES_AHEAD) as usize;
        let mut pages = Self {
            include,
            client: run.client.clone(),
            deadline: run.deadline,
            page,
            done,
            previous_first: None,
            last: false,
            announced: count.div_ceil(250),
            next_ahead: page + 1,
            width,
            ahead: Default::default(),
        };
        pages.fetch_ahead();
        pages
    }

    /// Starts fetching announced pages until `width` are under way.
    fn fetch_ahead(&mut self) {
        while self.ahead.len() < self.width && self.next_ahead <= self.announced {
            let (client, page, include, deadline) =
                (self.client.clone(), self.next_ahead, self.include.clone(), self.deadline);
            self.ahead.push_back(tokio::spawn(async move { order_page(&client, page, &include, deadline).await }));
            self.next_ahead += 1;
        }
    }

    async fn next(&mut self) -> Result<Option<Vec<Value>>, FetchError> {
        if self.last {
            return Ok(None);
        }
        let page = self.page + 1;
        let orders = match self.ahead.pop_front() {
            Some(task) => task.await.map_err(|e| FetchError::Unavailable(format!("orders page {page}: {e}")))??,
            None => order_page(&self.client, page, &self.include, self.deadline).await?,
        };
        self.fetch_ahead();
        self.last = orders.len() < 250;
        if orders.is_empty() {
            return Ok(None);
        }
        let first = orders.first().map(|o| o["id"].clone());
        if first == self.previous_first {
            return Err(FetchError::Unexpected(508, format!("orders page {page} repeated the previous page")));
        }
        self.previous_first = first;
        Ok(Some(orders))
    }

    /// The progress once the page just read (`orders` orders) is stored, as at most 99%.
    fn progress(&self, orders: usize, total: u64) -> u8 {
        percent(self.done + orders as u64, total)
    }

    /// Checkpoints the page just read (`orders` orders) once every data type's records of it are
    /// stored, and yields when the budget is spent and more pages remain.
    async fn checkpoint<S: PlatformStore>(
        &mut self,
        worker: &SyncWorker<S>,
        run: &Run<'_>,
        orders: usize,
        total: u64,
    ) -> Result<(), Stop> {
        self.page += 1;
        self.done += orders as u64;
        let mut checkpoint = json!({"page": self.page, "done": self.done});
        if !run.partners.is_empty() {
            checkpoint["with"] = partners_json(run);
        }
        worker.write_checkpoint(run, self.done, Some(total), &checkpoint).await;
        run.pause_if_spent(!self.last, || checkpoint)
    }
}

/// The run's partner datasets by data type, as its checkpoints record them.
fn partners_json(run: &Run<'_>) -> Value {
    Value::Object(run.partners.iter().map(|(id, t, _)| (t.key().to_string(), json!(id.to_string()))).collect())
}

impl Drop for OrderPages {
    fn drop(&mut self) {
        for task in &self.ahead {
            task.abort();
        }
    }
}

/// A v3 RFC 3339 timestamp, in UTC.
fn rfc3339(value: &serde_json::Value) -> Option<chrono::DateTime<Utc>> {
    value.as_str().and_then(|d| chrono::DateTime::parse_from_rfc3339(d).ok()).map(|d| d.with_timezone(&Utc))
}
