//! DynamoDB adapter: the platform table (`companies`, `connections`, `datasets`, `schedule`:
//! one file per port group) and the data table ([`records`]). See `docs/storage.md` for the key
//! design.
//!
//! | item | pk | sk | gsi1pk / gsi1sk |
//! |---|---|---|---|
//! | integration toggle | `INTEGRATION#vqzp` | `STATE` | |
//! | company | `COMPANY#<id>` | `COMPANY` | `COMPANIES` / `<id>` |
//! | connection | `COMPANY#<id>` | `CONNECTION#<connection id>` | `COMPANIES` / `<id>#CONNECTION#<connection id>` |
//! | sync settings | `COMPANY#<id>` | `SYNCSETTINGS` | |
//! | default sync settings | `PROFILE` | `SYNCSETTINGS` | |
//! | API key (digest) | `APIKEYS` | `KEY#<key id>` | |
//! | API key count | `APIKEYS` | `COUNT` | |
//! | Link token | `LINK#<sha256 of token>` | `LINK` | |
//! | credential attempts | `ATTEMPTS#<link token hash>` | `<window start>` | | (TTL `expires_at`)
//! | dataset | `DATASETS#<id>` | `DATASET#<dataset id>` | |
//! | data status | `DATASETS#<id>` | `STATUS#<connection id>#<data type>` | (gsi2: `DUE` / due key) |
//! | erasure receipt | `ERASED#<sha256 of the erased id>` | `RECEIPT` | | (TTL `expires_at`)
//!
//! Every dataset is also in the history index (gsi4, keys only): `HISTORY#<connection>#<data type>`
//! / its id (time-ordered), which bounds the history kept per data type.
//!
//! A running dataset is also in the sweep index (gsi3): `UNSENT` / when queued, until its job is
//! on the queue; `LIVE` / its run's last sign of life, while a run fetches it.

mod api_keys;
mod batch;
mod companies;
mod connections;
mod datasets;
mod directory;
mod erasure;
pub mod events;
mod hooks;
mod item;
pub mod records;
mod schedule;
mod webhooks;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::operation::query::QueryOutput;
use aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder;
use aws_sdk_dynamodb::types::{ConditionCheck, Put, TransactWriteItem};

pub use batch::{BatchWriter, MAX_BATCH_ITEMS};
use item::{Item, classify, company_key, s};

use crate::error::StoreError;

/// Name of the index listing every company and connection.
pub const COMPANIES_INDEX: &str = "gsi1";
/// Name of the index of scheduled syncs by due time.
pub const DUE_INDEX: &str = "gsi2";
/// Name of the sparse index the scheduler sweeps for stuck datasets (unsent, or dead runs).
pub const SWEEP_INDEX: &str = "gsi3";
/// Name of the index of each (connection, data type)'s datasets, by id (time-ordered).
pub const HISTORY_INDEX: &str = "gsi4";
const COMPANIES_PARTITION: &str = "COMPANIES";

/// The platform table.
#[derive(Clone, Debug)]
pub struct DynamoStore {
    client: Client,
    table: String,
    batch: BatchWriter,
    history: crate::domain::History,
    /// Calls and items read by the history pages (`history_page`), for the benchmark.
    history_reads: std::sync::Arc<[std::sync::atomic::AtomicU64; 2]>,
}

impl DynamoStore {
    /// Uses `table` through `client`.
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        let table = table.into();
        Self {
            batch: BatchWriter::new(client.clone(), table.clone()),
            client,
            table,
            history: crate::domain::History::default(),
            history_reads: std::sync::Arc::default(),
        }
    }

    /// Calls sent and items DynamoDB read (`ScannedCount`) for the history pages served so far.
    pub fn history_reads(&self) -> (u64, u64) {
        let [calls, items] = &*self.history_reads;
        (calls.load(std::sync::atomic::Ordering::Relaxed), items.load(std::sync::atomic::Ordering::Relaxed))
    }

    fn count_history_read(&self, scanned: i32) {
        let [calls, items] = &*self.history_reads;
        calls.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        items.fetch_add(scanned.max(0) as u64, std::sync::atomic::Ordering::Relaxed);
    }

    /// Keeps `history` (how long superseded datasets stay; default [`crate::domain::History::default`]).
    pub fn with_history(mut self, history: crate::domain::History) -> Self {
        self.history = history;
        self
    }

    /// One item by key, strongly consistent.
    async fn get(&self, key: Item) -> Result<Option<Item>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key))
            .consistent_read(true)
            .send()
            .await
            .map_err(classify)?;
        Ok(out.item)
    }

    /// Every item of one partition, following pagination.
    async fn partition(&self, pk: String) -> Result<Vec<Item>, StoreError> {
        self.partition_from(pk, None).await
    }

    /// The items of partition `pk`, only those whose sort key starts with `prefix` when given.
    async fn partition_from(&self, pk: String, prefix: Option<&str>) -> Result<Vec<Item>, StoreError> {
        let mut request =
            self.client.query().table_name(&self.table).expression_attribute_values(":pk", s(pk)).consistent_read(true);
        request = match prefix {
            Some(prefix) => request
                .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
                .expression_attribute_values(":prefix", s(prefix)),
            None => request.key_condition_expression("pk = :pk"),
        };
        let mut items = Vec::new();
        self.each_page(request, |out| {
            items.extend(out.items.unwrap_or_default());
            Ok(true)
        })
        .await?;
        Ok(items)
    }

    /// Runs `request` page by page (following `LastEvaluatedKey`), handing each answer to
    /// `visit` until it returns false or the results end.
    async fn each_page(
        &self,
        request: QueryFluentBuilder,
        mut visit: impl FnMut(QueryOutput) -> Result<bool, StoreError>,
    ) -> Result<(), StoreError> {
        let mut start: Option<Item> = None;
        loop {
            let out = request.clone().set_exclusive_start_key(start.take()).send().await.map_err(classify)?;
            let next = out.last_evaluated_key.clone().filter(|key| !key.is_empty());
            if !visit(out)? {
                return Ok(());
            }
            match next {
                Some(next) => start = Some(next),
                None => return Ok(()),
            }
        }
    }

    /// A transaction step that holds only while the company exists and is not being deleted.
    fn company_exists_check(&self, company: uuid::Uuid) -> Result<TransactWriteItem, StoreError> {
        let check = ConditionCheck::builder()
            .table_name(&self.table)
            .set_key(Some(company_key(company)))
            .condition_expression("attribute_exists(pk) AND attribute_not_exists(deleting)")
            .build()
            .map_err(|e| StoreError::Backend(e.to_string()))?;
        Ok(TransactWriteItem::builder().condition_check(check).build())
    }

    /// A transaction step putting `item`, under `condition` when given.
    fn put(&self, item: Item, condition: Option<&str>) -> Result<TransactWriteItem, StoreError> {
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .set_condition_expression(condition.map(str::to_string))
            .build()
            .map_err(|e| StoreError::Backend(e.to_string()))?;
        Ok(TransactWriteItem::builder().put(put).build())
    }
}
