//! One run of a job ([`Run`]: its client, deadlines, resume point and tallies), why a run stops
//! early ([`Stop`]), and the write side every stage shares: storing a page's records, recording
//! the checkpoint, removing records, ending datasets.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use futures::{StreamExt, TryStreamExt};
use serde_json::{Map, Value, json};
use tokio::time::Instant;
use uuid::Uuid;

use super::SyncWorker;
use crate::bigcommerce::paced::{FetchError, PacedClient};
use crate::domain::{DataType, SyncJob};
use crate::error::StoreError;
use crate::ports::{PlatformStore, RecordSet, StoredRecord};
use crate::reads::Ending;

/// Why a run stopped before its data type was complete.
#[derive(Debug)]
pub(super) enum Stop {
    /// The store failed.
    Fetch(FetchError),
    /// Storage failed.
    Store(StoreError),
    /// The time budget is spent: carry on from this checkpoint in a continuation.
    Yield(Value),
    /// The connection was deleted (its tombstone stands, or it is gone): write nothing more.
    Erased,
}

impl From<FetchError> for Stop {
    fn from(e: FetchError) -> Self {
        Stop::Fetch(e)
    }
}

impl From<StoreError> for Stop {
    fn from(e: StoreError) -> Self {
        Stop::Store(e)
    }
}

/// How much of a full listing a run saw: what reconciliation checks before it infers deletes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Listing {
    /// Source records listed (across the dataset's runs).
    pub listed: u64,
    /// The store's own count of what the listing should return, when it gave one.
    pub announced: Option<u64>,
}

impl Listing {
    /// Whether the listing returned at least what the store announced: the only listing from
    /// whose absences deletes may be inferred. A listing that ended early, or for which the store
    /// gave no total, is partial.
    pub fn complete(&self) -> bool {
        self.announced.is_some_and(|announced| self.listed >= announced)
    }
}

/// One run of a job: the client, the clock and where an earlier run stopped.
pub(super) struct Run<'a> {
    pub job: &'a SyncJob,
    pub client: Arc<PacedClient>,
    /// In-flight requests must end by then.
    pub deadline: Instant,
    /// No page starts after this: the run checkpoints and hands over to a continuation.
    pub yield_at: Instant,
    /// Where an earlier run of the dataset got to.
    pub resume: Option<Value>,
    /// Records stored by this run.
    pub records: AtomicU64,
    /// The checkpoint of the last page stored (or the one resumed from).
    pub last_checkpoint: Mutex<Option<Value>>,
    /// The datasets this run fills in the same pass (payments with transactions, or the other
    /// way round), or, for a run of orders, those it claimed and hands over: id, data type and
    /// the records stored for each.
    pub partners: Vec<(Uuid, DataType, AtomicU64)>,
    /// Incremental: only what the store changed since then (`None`: everything).
    pub since: Option<DateTime<Utc>>,
    /// When the dataset was requested (what "during the sync" starts from).
    pub requested: DateTime<Utc>,
    /// A full sync fetches only records created from then (`syncFromUtc`; orders and customers).
    pub created_from: Option<DateTime<Utc>>,
    /// When the last full sync of an incremental run's data types was requested (`None` when
    /// this run is the full one).
    pub last_full: Option<DateTime<Utc>>,
    /// The listing so far: source records listed, and the total the store announced for it.
    pub listing: Mutex<Listing>,
    /// Records removed by this run.
    pub removed: AtomicU64,
    /// Marks the run's datasets carry once Complete (read by the next run's `changed_since`).
    pub marks: Mutex<Map<String, Value>>,
}

impl Run<'_> {
    /// A number the resumed checkpoint holds under `key`.
    pub fn resume_u64(&self, key: &str) -> Option<u64> {
        self.resume.as_ref().and_then(|c| c[key].as_u64())
    }

    /// Records how far the listing got (after each page, and where it ends).
    pub fn listed(&self, listed: u64, announced: Option<u64>) {
        let mut listing = self.listing.lock().unwrap_or_else(|e| e.into_inner());
        *listing = Listing { listed, announced: announced.or(listing.announced) };
    }

    /// Adds a mark to the run's datasets' final checkpoint.
    pub fn mark(&self, key: &str, value: Value) {
        self.marks.lock().unwrap_or_else(|e| e.into_inner()).insert(key.to_string(), value);
    }

    /// Yields with `checkpoint` once the budget is spent and `more` work remains.
    pub fn pause_if_spent(&self, more: bool, checkpoint: impl FnOnce() -> Value) -> Result<(), Stop> {
        if more && Instant::now() >= self.yield_at { Err(Stop::Yield(checkpoint())) } else { Ok(()) }
    }

    /// The data types this run writes: its own, and its partners' in the money pass (a run of
    /// orders writes orders only; the partners it claimed are handed over, see
    /// [`Run::hands_over`]).
    pub fn data_types(&self) -> impl Iterator<Item = DataType> + '_ {
        let partners = if self.hands_over() { &[][..] } else { &self.partners[..] };
        partners.iter().map(|(_, t, _)| *t).chain([self.job.data_type])
    }

    /// Whether the run's partners get a run of their own once this one is Complete: a run of
    /// orders claims the payments and transactions datasets (so their own jobs wait for it)
    /// and hands them over to the money pass when its orders are stored.
    pub fn hands_over(&self) -> bool {
        hands_over(self.job.data_type)
    }

    /// Whether this run fills `data_type` (its own, or a partner's).
    pub fn fills(&self, data_type: DataType) -> bool {
        self.data_types().any(|t| t == data_type)
    }

    /// The run's partner datasets by data type, as its checkpoints record them.
    pub fn partners_json(&self) -> Value {
        Value::Object(self.partners.iter().map(|(id, t, _)| (t.key().to_string(), json!(id.to_string()))).collect())
    }

    /// The mark a partner's checkpoint carries: this run's dataset fills it.
    pub fn driver_mark(&self) -> Value {
        json!({"driven_by": self.job.dataset_id.to_string()})
    }
}

/// Whether a run of `data_type` hands its partners over rather than fetching for them (orders).
pub(super) fn hands_over(data_type: DataType) -> bool {
    data_type == DataType::Orders
}

/// Progress of `done` out of `total` source records, at most 99% (only the final status says
/// 100) and 0 while the total is unknown.
pub(super) fn percent(done: u64, total: u64) -> u8 {
    (done * 100).checked_div(total).map_or(0, |p| p.min(99) as u8)
}

/// The source record a stored record of `data_type` comes from: a payment or transaction
/// (`<order id>_…`) comes from its order; anything else is its own.
pub(super) fn source_of(data_type: DataType, id: &str) -> String {
    match data_type {
        DataType::Payments | DataType::Transactions => id.split('_').next().unwrap_or(id).to_string(),
        _ => id.to_string(),
    }
}

/// A mapped record keyed by its Codat `id`.
pub(super) fn keyed(record: Value, modified: Option<DateTime<Utc>>) -> StoredRecord {
    StoredRecord { id: record["id"].as_str().unwrap_or_default().to_string(), modified, record }
}

impl<S: PlatformStore> SyncWorker<S> {
    /// Ends `job`'s dataset as `ending` says, with its `read.completed` ([`crate::reads`]).
    pub(super) async fn finish(&self, job: &SyncJob, ending: Ending) -> Result<(), StoreError> {
        let status = ending.status;
        crate::reads::end_dataset(&self.store, job.company_id, job.dataset_id, ending, Utc::now()).await?;
        tracing::info!(dataset_id = %job.dataset_id, data_type = job.data_type.key(), status = status.as_str(), "dataset finished");
        Ok(())
    }

    /// Stores one page's records of `data_type`, the run's own or a partner's (whose progress is
    /// updated, keeping its `driven_by` mark). The run's checkpoint is written after all kinds.
    pub(super) async fn store_kind(
        &self,
        run: &Run<'_>,
        data_type: DataType,
        records: &[StoredRecord],
        progress: u8,
    ) -> Result<(), Stop> {
        self.ensure_not_erased(run).await?;
        self.records
            .put_records(RecordSet::new(run.job.connection_id, data_type), records, Some(run.job.dataset_id))
            .await?;
        let counter = if data_type == run.job.data_type {
            &run.records
        } else {
            match run.partners.iter().find(|(_, t, _)| *t == data_type) {
                Some((partner, _, counter)) => {
                    let marker = run.driver_mark().to_string();
                    if let Err(e) = self.store.checkpoint_dataset(run.job.company_id, *partner, progress, &marker).await
                    {
                        tracing::warn!(error = %e, dataset_id = %partner, "partner progress not recorded");
                    }
                    counter
                }
                None => &run.records,
            }
        };
        counter.fetch_add(records.len() as u64, Ordering::Relaxed);
        Ok(())
    }

    /// Stores records that come whole from one answer (no checkpoint needed).
    pub(super) async fn store_all(&self, run: &Run<'_>, records: &[StoredRecord]) -> Result<(), Stop> {
        self.store_kind(run, run.job.data_type, records, 0).await
    }

    /// The tombstone check before each page is stored (one consistent read): a connection
    /// deleted mid-sync gets nothing more written (its erasure's final pass removes a page that
    /// was already being written).
    pub(super) async fn ensure_not_erased(&self, run: &Run<'_>) -> Result<(), Stop> {
        match self.store.get_connection(run.job.company_id, run.job.connection_id).await? {
            Some(connection) if connection.erasure.is_none() => Ok(()),
            _ => Err(Stop::Erased),
        }
    }

    /// Stores one page of mapped records, then records the checkpoint (see [`Self::write_checkpoint`]).
    pub(super) async fn store_page(
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
    pub(super) async fn write_checkpoint(&self, run: &Run<'_>, done: u64, total: Option<u64>, checkpoint: &Value) {
        let progress = total.map_or(0, |total| percent(done, total));
        let job = run.job;
        if let Err(e) =
            self.store.checkpoint_dataset(job.company_id, job.dataset_id, progress, &checkpoint.to_string()).await
        {
            tracing::warn!(error = %e, dataset_id = %job.dataset_id, "checkpoint not recorded");
        }
        *run.last_checkpoint.lock().unwrap_or_else(|e| e.into_inner()) = Some(checkpoint.clone());
    }

    /// The stored ids of `data_type` (payments or transactions: `<order id>_…`) of `orders`: one
    /// prefix Query per order, eight at a time.
    pub(super) async fn ids_of_orders(
        &self,
        run: &Run<'_>,
        data_type: DataType,
        orders: &[String],
    ) -> Result<Vec<String>, StoreError> {
        let connection = run.job.connection_id;
        let prefixes: Vec<String> = orders.iter().map(|order| format!("{order}_")).collect();
        let lookups = prefixes.into_iter().map(|prefix| {
            let records = self.records.clone();
            async move { records.ids_with_prefix(RecordSet::new(connection, data_type), &prefix).await }
        });
        let found: Vec<Vec<String>> = futures::stream::iter(lookups).buffered(8).try_collect().await?;
        Ok(found.into_iter().flatten().collect())
    }

    /// Removes `ids` of `data_type` (if any), counting them as the run's and logging `why`.
    pub(super) async fn remove(
        &self,
        run: &Run<'_>,
        data_type: DataType,
        ids: &[String],
        why: &str,
    ) -> Result<(), StoreError> {
        if ids.is_empty() {
            return Ok(());
        }
        self.records.delete_records(RecordSet::new(run.job.connection_id, data_type), ids).await?;
        run.removed.fetch_add(ids.len() as u64, Ordering::Relaxed);
        tracing::info!(dataset_id = %run.job.dataset_id, data_type = data_type.key(), removed = ids.len(), "{why}");
        Ok(())
    }

    /// After an incremental pass maps changed `orders` again: removes their stored payments or
    /// transactions (`data_type`) that the new mapping (`records`) no longer gives, e.g. a charge
    /// of an order since cancelled. One prefix Query per changed order. (A full sync's
    /// reconciliation does the same from the tags.)
    pub(super) async fn remove_orphans(
        &self,
        run: &Run<'_>,
        data_type: DataType,
        orders: &[Value],
        records: &[StoredRecord],
    ) -> Result<(), StoreError> {
        let produced: HashSet<&str> = records.iter().map(|r| r.id.as_str()).collect();
        let ids: Vec<String> = orders.iter().filter_map(|o| o["id"].as_u64()).map(|id| id.to_string()).collect();
        let mut orphans = self.ids_of_orders(run, data_type, &ids).await?;
        orphans.retain(|id| !produced.contains(id.as_str()));
        self.remove(run, data_type, &orphans, "records the changed orders no longer give removed").await
    }
}
