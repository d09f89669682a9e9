//! The fresh queue's jobs ([`FreshJob`]): targeted syncs of what the store's callbacks named,
//! checks of the store's hooks, and their removal after an unlink or delete.
//!
//! A targeted sync reads the connection's pending changes (at most [`CHANGES_PER_JOB`]), fetches
//! exactly those records (an order: itself with its line items, its transactions, and its
//! refunds in one call for all the job's orders: at most 3 calls per order; products and
//! customers: one `id:in=` call per 50), stores what the store still has and removes what it
//! answers 404 for (or archived), then ends one targeted dataset per data type touched, with its
//! `read.completed`. The seal it ends with costs what it changed. Its changes are cleared last:
//! a run killed at any point is redelivered and does it again.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use tokio::time::Instant;
use uuid::Uuid;

use super::context::keyed;
use super::{Retry, SyncWorker};
use crate::bigcommerce::endpoints::{self, ID_LOOKUPS_PER_CALL, rfc2822, rfc3339};
use crate::bigcommerce::hooks;
use crate::bigcommerce::mapping::{self, payments};
use crate::bigcommerce::paced::{FetchError, PacedClient, Page};
use crate::codat::timestamp;
use crate::domain::hook::{FreshJob, FreshKind, Resource};
use crate::domain::{Connection, DataType, Dataset, PullStatus};
use crate::error::StoreError;
use crate::ports::{PlatformStore, RecordSet, StoredRecord};
use crate::reads::Ending;

/// Changes one targeted sync takes; more are left for the next job, queued at once.
pub const CHANGES_PER_JOB: usize = 250;

/// How long a fresh job may talk to the store.
const FRESH_WITHIN: std::time::Duration = std::time::Duration::from_secs(60);

/// What a targeted sync did (logged; the tests read the datasets and the store's metrics).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Targeted {
    /// Changes taken.
    pub changes: usize,
    /// Records stored, per data type.
    pub stored: BTreeMap<DataType, u64>,
    /// Records removed, per data type.
    pub removed: BTreeMap<DataType, u64>,
    /// Requests sent to the store.
    pub requests: u64,
}

/// The records one data type gets from a targeted sync.
#[derive(Default)]
struct Batch {
    put: Vec<StoredRecord>,
    gone: Vec<String>,
}

impl<S: PlatformStore> SyncWorker<S> {
    /// Runs one fresh-queue job.
    pub async fn fresh(&self, job: &FreshJob) -> Result<(), Retry> {
        match job.fresh {
            FreshKind::Changes => self.targeted(job).await.map(drop),
            FreshKind::Hooks => self.check_hooks(job).await,
            FreshKind::Unhook => self.unhook(job).await,
        }
    }

    /// The connection's store client and hook secret, when it is Linked with hooks.
    async fn hooked_client(
        &self,
        connection: &Connection,
    ) -> Result<Option<(PacedClient, Option<secrecy::SecretString>)>, Retry> {
        let Some(name) = &connection.secret_name else { return Ok(None) };
        let Some((credentials, secret)) = self.credentials.read_with_hook(name).await? else { return Ok(None) };
        let client = PacedClient::new(self.client.clone(), credentials.store_hash.clone(), credentials.access_token);
        Ok(Some((client, secret)))
    }

    /// A targeted sync of `job`'s connection.
    pub async fn targeted(&self, job: &FreshJob) -> Result<Targeted, Retry> {
        let (company, id) = (job.company_id, job.connection_id);
        let changes = self.store.pending_changes(id, CHANGES_PER_JOB).await?;
        let mut report = Targeted { changes: changes.len(), ..Targeted::default() };
        if changes.is_empty() {
            return Ok(report);
        }
        let connection = self.store.get_connection(company, id).await?;
        let Some(connection) = connection.filter(Connection::syncable) else {
            // Unlinked or deleted since: nothing to fetch, and nothing to keep.
            self.store.clear_changes(&changes).await?;
            return Ok(report);
        };
        let Some((client, _)) = self.hooked_client(&connection).await? else {
            self.store.clear_changes(&changes).await?;
            return Ok(report);
        };
        let deadline = Instant::now() + FRESH_WITHIN;
        // Only the data types the company syncs (those with a status) are kept fresh.
        let statuses = self.store.data_statuses(company).await?;
        let synced: BTreeSet<DataType> =
            statuses.iter().filter(|s| s.connection_id == id).map(|s| s.data_type).collect();
        let ids = |resource: Resource| -> Vec<u64> {
            let ids: BTreeSet<u64> = changes.iter().filter(|c| c.resource == resource).map(|c| c.id).collect();
            ids.into_iter().collect()
        };
        let wants = |resource: Resource| resource.data_types().iter().any(|t| synced.contains(t));
        let mut batches: BTreeMap<DataType, Batch> = BTreeMap::new();
        let started = Utc::now();
        let orders = ids(Resource::Order);
        if !orders.is_empty() && wants(Resource::Order) {
            Self::fetch_orders(&client, &orders, &mut batches, deadline).await?;
        }
        let products = ids(Resource::Product);
        if !products.is_empty() && synced.contains(&DataType::Products) {
            batches.insert(DataType::Products, fetch_products(&client, &products, deadline).await?);
        }
        let customers = ids(Resource::Customer);
        if !customers.is_empty() && synced.contains(&DataType::Customers) {
            batches.insert(DataType::Customers, fetch_customers(&client, &customers, deadline).await?);
        }
        let since = changes.iter().map(|c| c.at).min();
        for (data_type, batch) in batches {
            if !synced.contains(&data_type) {
                continue;
            }
            let (stored, removed) = self.store_targeted(&connection, data_type, batch, started, since).await?;
            report.stored.insert(data_type, stored);
            report.removed.insert(data_type, removed);
        }
        report.requests = client.stats().requests;
        self.store.clear_changes(&changes).await?;
        if changes.len() >= CHANGES_PER_JOB
            && let Some(queue) = &self.fresh_queue
        {
            queue.enqueue_fresh(&[FreshJob::new(FreshKind::Changes, company, id, Utc::now())]).await?;
        }
        tracing::info!(connection_id = %id, changes = report.changes, requests = report.requests, stored = ?report.stored, removed = ?report.removed, "targeted sync done");
        Ok(report)
    }

    /// The orders with `ids`, their payments and transactions: the order (with its line
    /// items), its transactions, and the refunds of all of them in one call per 50.
    async fn fetch_orders(
        client: &PacedClient,
        ids: &[u64],
        batches: &mut BTreeMap<DataType, Batch>,
        deadline: Instant,
    ) -> Result<(), Retry> {
        let width = client.quota().await.unwrap_or(1).clamp(1, 16) as usize;
        let lookups = ids.iter().copied().map(|id| fetch_order(client, id, deadline));
        use futures::{StreamExt, TryStreamExt};
        let fetched: Vec<(u64, Option<Value>, Vec<Value>)> =
            futures::stream::iter(lookups).buffered(width).try_collect().await?;
        let live: Vec<u64> = fetched.iter().filter(|(_, o, _)| o.is_some()).map(|(id, _, _)| *id).collect();
        let mut refunds: HashMap<u64, Vec<Value>> = HashMap::new();
        for chunk in live.chunks(ID_LOOKUPS_PER_CALL) {
            refunds.extend(super::order_pass::refunds_of(client, chunk, deadline).await?);
        }
        let now = Utc::now();
        for (id, order, transactions) in &fetched {
            let key = id.to_string();
            let prefix = format!("{id}_");
            let Some(order) = order else {
                batches.entry(DataType::Orders).or_default().gone.push(key);
                for data_type in [DataType::Payments, DataType::Transactions] {
                    batches.entry(data_type).or_default().gone.push(prefix.clone());
                }
                continue;
            };
            let order_refunds = refunds.get(id).map_or(&[][..], Vec::as_slice);
            let refunded: rust_decimal::Decimal =
                order_refunds.iter().map(|r| mapping::money(&r["total_amount"]).round_dp(2)).sum();
            let modified = rfc2822(&order["date_modified"]);
            batches
                .entry(DataType::Orders)
                .or_default()
                .put
                .push(keyed(mapping::order(order, refunded, now), modified));
            let money = payments::OrderMoney { order, transactions, refunds: order_refunds };
            for (data_type, records) in [
                (DataType::Payments, payments::payments(&money, now)),
                (DataType::Transactions, payments::transactions(&money, now)),
            ] {
                let batch = batches.entry(data_type).or_default();
                // Whatever of the order's is not in its new records goes (a prefix entry).
                batch.gone.push(prefix.clone());
                batch.put.extend(records.into_iter().map(|r| keyed(r, modified)));
            }
        }
        Ok(())
    }

    /// Stores one data type's targeted batch as a targeted dataset: Fetching, the records put
    /// and removed, the set sealed (a cost in what changed), then Complete with its
    /// `read.completed`. Returns (stored, removed).
    async fn store_targeted(
        &self,
        connection: &Connection,
        data_type: DataType,
        batch: Batch,
        started: DateTime<Utc>,
        since: Option<DateTime<Utc>>,
    ) -> Result<(u64, u64), Retry> {
        let (company, id) = (connection.company_id, connection.id);
        let set = RecordSet::new(id, data_type);
        // Where the listing this carries on from started: the next scheduled sync lists from
        // there, so a change no callback named is still found.
        let statuses = self.store.data_statuses(company).await?;
        let status = statuses.iter().find(|s| s.connection_id == id && s.data_type == data_type);
        let previous = match status.and_then(|s| s.latest_successful_sync_id) {
            Some(last) => self.store.dataset(company, last).await?,
            None => None,
        };
        let marks = carried_marks(previous.as_ref());
        let mut dataset = Dataset::queued(Uuid::now_v7(), company, id, data_type, started);
        dataset.status = PullStatus::Fetching;
        dataset.targeted = true;
        self.store.queue_datasets(std::slice::from_ref(&dataset)).await?;
        self.store.checkpoint_dataset(company, dataset.id, 0, &marks.to_string()).await?;
        // Payments and transactions of an order: the stored ones its new records no longer name.
        let mut gone: Vec<String> = Vec::new();
        let keep: BTreeSet<&str> = batch.put.iter().map(|r| r.id.as_str()).collect();
        for entry in &batch.gone {
            match entry.strip_suffix('_') {
                Some(_) => {
                    let stored = self.records.ids_with_prefix(set, entry).await?;
                    gone.extend(stored.into_iter().filter(|s| !keep.contains(s.as_str())));
                }
                None => gone.push(entry.clone()),
            }
        }
        if !batch.put.is_empty() {
            self.records.put_records(set, &batch.put, None).await?;
        }
        if !gone.is_empty() {
            self.records.delete_records(set, &gone).await?;
        }
        let sealed = self.records.seal(set).await?;
        self.store.record_count(company, dataset.id, sealed.count, sealed.modified).await?;
        crate::reads::end_dataset(
            &self.store,
            company,
            dataset.id,
            Ending::new(PullStatus::Complete, None).since(since),
            Utc::now(),
        )
        .await?;
        tracing::info!(dataset_id = %dataset.id, data_type = data_type.key(), stored = batch.put.len(), removed = gone.len(), "targeted dataset complete");
        Ok((batch.put.len() as u64, gone.len() as u64))
    }

    /// Checks the store's hooks and repairs them (created again, or turned back on).
    async fn check_hooks(&self, job: &FreshJob) -> Result<(), Retry> {
        let connection = self.store.get_connection(job.company_id, job.connection_id).await?;
        let Some(connection) = connection.filter(Connection::syncable) else { return Ok(()) };
        let Some(hooks) = connection.hooks.clone() else { return Ok(()) };
        let Some((client, Some(secret))) = self.hooked_client(&connection).await? else { return Ok(()) };
        let deadline = Instant::now() + FRESH_WITHIN;
        match hooks::ensure(&client, &hooks.destination, &secret, false, deadline).await {
            Ok(repair) => {
                tracing::info!(connection_id = %connection.id, created = repair.created, reactivated = repair.reactivated, healthy = repair.healthy, "store hooks checked");
                Ok(())
            }
            // A revoked token is the next sync's to report (Deauthorized); nothing to repair.
            Err(FetchError::Unauthorized | FetchError::Forbidden(_)) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// After an unlink or a delete: removes the store's hooks, then the connection's secret
    /// (which fn companies left for this, as removing the hooks needs its token). Not while the
    /// connection is Linked again (a re-link made new ones).
    async fn unhook(&self, job: &FreshJob) -> Result<(), Retry> {
        let connection = self.store.get_connection(job.company_id, job.connection_id).await?;
        let Some(connection) = connection else { return Ok(()) };
        if connection.syncable() {
            return Ok(());
        }
        self.remove_hooks(&connection).await;
        let vault = self.vault.as_ref().ok_or_else(|| StoreError::Backend("no credential vault".into()))?;
        vault.forget(&vault.secret_name(connection.id)).await?;
        tracing::info!(connection_id = %connection.id, "store hooks removed; credentials deleted");
        Ok(())
    }

    /// Removes the store's hooks of `connection`, if it has hooks and its secret is still
    /// there. Best effort: hooks left behind call back and are refused (401) or dropped.
    pub(super) async fn remove_hooks(&self, connection: &Connection) {
        let Some(hooks) = &connection.hooks else { return };
        let client = match self.hooked_client(connection).await {
            Ok(Some((client, _))) => client,
            Ok(None) => return,
            Err(e) => {
                tracing::warn!(error = %e, connection_id = %connection.id, "the store hooks could not be removed");
                return;
            }
        };
        match hooks::remove(&client, &hooks.destination, Instant::now() + FRESH_WITHIN).await {
            Ok(removed) => tracing::info!(connection_id = %connection.id, removed, "store hooks removed"),
            Err(e) => {
                tracing::warn!(error = %e, connection_id = %connection.id, "the store hooks could not be removed")
            }
        }
    }
}

/// One order (with its line items) and, when the store still has it alive, its transactions.
async fn fetch_order(
    client: &PacedClient,
    id: u64,
    deadline: Instant,
) -> Result<(u64, Option<Value>, Vec<Value>), FetchError> {
    let order = endpoints::order_by_id(client, id, deadline).await?;
    let alive = order.filter(|o| o["is_deleted"] != true);
    let transactions = match &alive {
        Some(_) => endpoints::order_transactions(client, id, deadline).await?,
        None => Vec::new(),
    };
    Ok((id, alive, transactions))
}

/// The marks a targeted dataset carries from the listing before it: where it started
/// (`listed_at`), when the last full one was (`full_at`), whether the next must be full.
fn carried_marks(previous: Option<&Dataset>) -> Value {
    let Some(previous) = previous else {
        // Nothing was listed yet: the next scheduled sync is full.
        return json!({"targeted": true, "full_next": true});
    };
    let marked = previous.checkpoint.as_deref().and_then(|c| serde_json::from_str::<Value>(c).ok());
    let at = |name: &str| marked.as_ref().and_then(|c| rfc3339(&c[name]));
    let listed = at("listed_at").unwrap_or(previous.requested);
    let full = at("full_at").unwrap_or(previous.requested);
    let mut marks = json!({"targeted": true, "listed_at": timestamp(listed), "full_at": timestamp(full)});
    if marked.as_ref().is_some_and(|c| c["full_next"] == true) {
        marks["full_next"] = json!(true);
    }
    marks
}

/// The products with `ids`: those the store lists, and those it no longer has.
async fn fetch_products(client: &PacedClient, ids: &[u64], deadline: Instant) -> Result<Batch, Retry> {
    let (currency, categories) = endpoints::product_context(client, deadline).await?;
    let now = Utc::now();
    listed_by_id(client, ids, endpoints::products_by_id, deadline, |p| {
        keyed(mapping::product(p, &categories, &currency, now), rfc3339(&p["date_modified"]))
    })
    .await
}

/// The customers with `ids`: those the store lists, and those it no longer has.
async fn fetch_customers(client: &PacedClient, ids: &[u64], deadline: Instant) -> Result<Batch, Retry> {
    let now = Utc::now();
    listed_by_id(client, ids, endpoints::customers_by_id, deadline, |c| {
        keyed(mapping::customer(c, now), rfc3339(&c["date_modified"]))
    })
    .await
}

/// Looks `ids` up in a v3 list (`path` of each chunk of 50): what it answers is mapped by
/// `map`; an id it leaves out is gone. An answer without its list infers nothing.
async fn listed_by_id(
    client: &PacedClient,
    ids: &[u64],
    path: fn(&[u64]) -> String,
    deadline: Instant,
    map: impl Fn(&Value) -> StoredRecord,
) -> Result<Batch, Retry> {
    let mut batch = Batch::default();
    for chunk in ids.chunks(ID_LOOKUPS_PER_CALL) {
        let Page::Json(body) = client.get(&path(chunk), deadline).await? else { continue };
        let data = endpoints::v3_data(&body, "records by id")?;
        let found: BTreeSet<u64> = data.iter().filter_map(|r| r["id"].as_u64()).collect();
        batch.put.extend(data.iter().filter(|r| r["id"].as_u64().is_some_and(|id| chunk.contains(&id))).map(&map));
        batch.gone.extend(chunk.iter().filter(|id| !found.contains(id)).map(u64::to_string));
    }
    Ok(batch)
}
