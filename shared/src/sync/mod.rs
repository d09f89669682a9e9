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
use serde_json::Value;
use tokio::time::Instant;
use tracing::Instrument;

use crate::bigcommerce::paced::{FetchError, PacedClient, Page};
use crate::bigcommerce::{BigCommerceClient, Credentials};
use crate::domain::{ConnectionStatus, DataType, PullStatus};
use crate::error::StoreError;
use crate::jobs::SyncJob;
use crate::ports::{PlatformStore, RecordStore, SecretReader, StoredRecord};

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

/// The sync worker.
pub struct SyncWorker<S> {
    store: S,
    records: Arc<dyn RecordStore>,
    secrets: Arc<dyn SecretReader>,
    client: BigCommerceClient,
    budget: Duration,
}

impl<S: PlatformStore> SyncWorker<S> {
    /// A worker spending at most `budget` on one job (well inside the Lambda timeout).
    pub fn new(
        store: S,
        records: Arc<dyn RecordStore>,
        secrets: Arc<dyn SecretReader>,
        client: BigCommerceClient,
        budget: Duration,
    ) -> Self {
        Self { store, records, secrets, client, budget }
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

    /// Runs one job. Repeats are harmless: a final dataset is left alone.
    pub async fn run(&self, job: &SyncJob) -> Result<(), Retry> {
        let Some(dataset) = self.store.dataset(job.company_id, job.dataset_id).await? else {
            tracing::info!(dataset_id = %job.dataset_id, "dataset gone (company deleted?); dropping the job");
            return Ok(());
        };
        if dataset.status.is_final() {
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
        self.store.advance_dataset(job.company_id, job.dataset_id, PullStatus::Fetching, 0, None, Utc::now()).await?;
        let client =
            PacedClient::new(self.client.clone(), credentials.store_hash.clone(), credentials.access_token.clone());
        let deadline = Instant::now() + self.budget;
        match self.fetch_and_store(job, &client, deadline).await {
            Ok(()) => self.finish(job, PullStatus::Complete, None).await,
            Err(FetchError::Unauthorized) => {
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
                self.finish(job, PullStatus::AuthError, Some("The store rejected the access token".into())).await
            }
            Err(FetchError::Forbidden(endpoint)) => {
                self.finish(job, PullStatus::PermissionsError, Some(format!("A scope is missing for {endpoint}"))).await
            }
            Err(e) if e.retryable() => Err(Retry::Fetch(e)),
            Err(e) => self.finish(job, PullStatus::FetchError, Some(e.to_string())).await,
        }
    }

    async fn fetch_and_store(&self, job: &SyncJob, client: &PacedClient, deadline: Instant) -> Result<(), FetchError> {
        let store_error = |e: StoreError| FetchError::Unavailable(format!("storage: {e}"));
        match job.data_type {
            DataType::CompanyInfo => {
                let Page::Json(store) = client.get("v2/store", deadline).await? else {
                    return Err(FetchError::Unavailable("v2/store answered without a body".into()));
                };
                let info = mapping::company_info(&store, Utc::now());
                let record = StoredRecord {
                    id: store["id"].as_str().unwrap_or_default().to_string(),
                    modified: None,
                    record: info,
                };
                self.records.put_records(job.connection_id, job.data_type, &[record]).await.map_err(store_error)
            }
            DataType::Customers => self.sync_customers(job, client, deadline).await,
            DataType::ProductCategories => self.sync_categories(job, client, deadline).await,
            DataType::Products => self.sync_products(job, client, deadline).await,
            DataType::Orders => self.sync_orders(job, client, deadline).await,
            DataType::Payments | DataType::Transactions => self.sync_order_money(job, client, deadline).await,
            DataType::PaymentMethods => {
                // Built-ins (docs/mapping.md §6): no store call, so nothing can be half-synced.
                let records: Vec<StoredRecord> =
                    mapping::payment_methods(Utc::now()).into_iter().map(|record| keyed(record, None)).collect();
                self.records.put_records(job.connection_id, job.data_type, &records).await.map_err(store_error)
            }
            other => Err(FetchError::Unexpected(501, format!("{} sync is not available in this build", other.key()))),
        }
    }

    /// Every product with its variants, page by page (each page stored before the next; a
    /// repeated page fails loudly). Category names and the store currency are read first.
    async fn sync_products(&self, job: &SyncJob, client: &PacedClient, deadline: Instant) -> Result<(), FetchError> {
        let currency = match client.get("v2/store", deadline).await? {
            Page::Json(store) => store["currency"].as_str().unwrap_or("XXX").to_string(),
            Page::Empty => "XXX".to_string(),
        };
        let categories: std::collections::HashMap<u64, String> = self
            .fetch_pages(client, "v3/catalog/trees/categories?limit=250", "category_id", deadline)
            .await?
            .iter()
            .filter_map(|c| Some((c["category_id"].as_u64()?, c["name"].as_str()?.to_string())))
            .collect();
        let mut previous_first = None;
        let mut stored = 0u64;
        for page in 1.. {
            let path = format!("v3/catalog/products?include=variants&limit=250&page={page}");
            let Page::Json(body) = client.get(&path, deadline).await? else { break };
            let data = body["data"].as_array().cloned().unwrap_or_default();
            if data.is_empty() {
                break;
            }
            let first = data.first().map(|p| p["id"].clone());
            if first == previous_first {
                return Err(FetchError::Unexpected(508, format!("products page {page} repeated the previous page")));
            }
            previous_first = first;
            let now = Utc::now();
            let records: Vec<StoredRecord> = data
                .iter()
                .map(|p| keyed(mapping::product(p, &categories, &currency, now), rfc3339(&p["date_modified"])))
                .collect();
            let total = body["meta"]["pagination"]["total"].as_u64();
            stored += records.len() as u64;
            self.store_page(job, &records, stored, total, now).await?;
            if page >= body["meta"]["pagination"]["total_pages"].as_u64().unwrap_or(1) {
                break;
            }
        }
        Ok(())
    }

    /// Orders, 250 per page with their line items embedded (no call per order), each page stored
    /// before the next; the store's refunds are read first for `totalRefund`. Pages end with
    /// 204 or a short page; a page that repeats the previous one fails loudly.
    async fn sync_orders(&self, job: &SyncJob, client: &PacedClient, deadline: Instant) -> Result<(), FetchError> {
        let refunds = self.refunds_by_order(client, deadline).await?;
        let total = order_count(client, deadline).await?;
        let mut pages = OrderPages::new("&include=consignments.line_items&consignment_structure=object");
        let mut stored = 0u64;
        while let Some(orders) = pages.next(client, deadline).await? {
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
            stored += orders.len() as u64;
            self.store_page(job, &records, stored, Some(total), now).await?;
        }
        Ok(())
    }

    /// Payments or transactions (docs/mapping.md §4–5): the refunds first, then orders 250 per
    /// page, each page's transactions fetched concurrently (one call per order, as many in
    /// flight as the store's quota allows), mapped and stored before the next page.
    async fn sync_order_money(&self, job: &SyncJob, client: &PacedClient, deadline: Instant) -> Result<(), FetchError> {
        let refunds = self.refunds_by_order(client, deadline).await?;
        let total = order_count(client, deadline).await?;
        let mut pages = OrderPages::new("");
        let mut done = 0u64;
        while let Some(orders) = pages.next(client, deadline).await? {
            let ids = orders
                .iter()
                .map(|o| o["id"].as_u64())
                .collect::<Option<Vec<u64>>>()
                .ok_or_else(|| FetchError::Unexpected(502, "an order without a numeric id".into()))?;
            let width = client.quota().await.unwrap_or(1).max(1) as usize;
            let transactions: Vec<Vec<Value>> =
                futures::stream::iter(ids.into_iter().map(|id| order_transactions(client, id, deadline)))
                    .buffered(width)
                    .try_collect()
                    .await?;
            let now = Utc::now();
            let mut records = Vec::new();
            for (order, transactions) in orders.iter().zip(&transactions) {
                let refunds = refunds.get(&order["id"].as_u64().unwrap_or_default()).map_or(&[][..], Vec::as_slice);
                let money = payments::OrderMoney { order, transactions, refunds };
                let mapped = if job.data_type == DataType::Payments {
                    payments::payments(&money, now)
                } else {
                    payments::transactions(&money, now)
                };
                let modified = rfc2822(&order["date_modified"]);
                records.extend(mapped.into_iter().map(|record| keyed(record, modified)));
            }
            done += orders.len() as u64;
            self.store_page(job, &records, done, Some(total), now).await?;
        }
        Ok(())
    }

    /// The store's refunds, by order id.
    async fn refunds_by_order(
        &self,
        client: &PacedClient,
        deadline: Instant,
    ) -> Result<HashMap<u64, Vec<Value>>, FetchError> {
        let mut by_order: HashMap<u64, Vec<Value>> = HashMap::new();
        for refund in self.fetch_pages(client, "v3/orders/payment_actions/refunds?limit=250", "id", deadline).await? {
            by_order.entry(refund["order_id"].as_u64().unwrap_or_default()).or_default().push(refund);
        }
        Ok(by_order)
    }

    /// Stores one page of mapped records, then reports progress (`done` of `total` source
    /// records, when the store gave a total) as at most 99%: only the final status says 100.
    async fn store_page(
        &self,
        job: &SyncJob,
        records: &[StoredRecord],
        done: u64,
        total: Option<u64>,
        now: chrono::DateTime<Utc>,
    ) -> Result<(), FetchError> {
        self.records
            .put_records(job.connection_id, job.data_type, records)
            .await
            .map_err(|e| FetchError::Unavailable(format!("storage: {e}")))?;
        if let Some(total) = total.filter(|t| *t > 0) {
            let progress = ((done * 100) / total).min(99) as u8;
            // Progress is advisory: a failed write here must not fail the page just stored.
            let _ = self
                .store
                .advance_dataset(job.company_id, job.dataset_id, PullStatus::Fetching, progress, None, now)
                .await;
        }
        Ok(())
    }

    /// Every record of a v3 page/limit listing; a page that repeats the previous one fails.
    async fn fetch_pages(
        &self,
        client: &PacedClient,
        base: &str,
        id_key: &str,
        deadline: Instant,
    ) -> Result<Vec<serde_json::Value>, FetchError> {
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
    async fn sync_categories(&self, job: &SyncJob, client: &PacedClient, deadline: Instant) -> Result<(), FetchError> {
        let all = self.fetch_pages(client, "v3/catalog/trees/categories?limit=250", "category_id", deadline).await?;
        let records: Vec<StoredRecord> =
            mapping::product_categories(&all, Utc::now()).into_iter().map(|record| keyed(record, None)).collect();
        self.records
            .put_records(job.connection_id, job.data_type, &records)
            .await
            .map_err(|e| FetchError::Unavailable(format!("storage: {e}")))
    }

    /// Customers by cursor (stable against inserts between pages), 250 per page, each page
    /// stored before the next is asked for. A cursor that does not advance fails loudly.
    async fn sync_customers(&self, job: &SyncJob, client: &PacedClient, deadline: Instant) -> Result<(), FetchError> {
        let mut path = "v3/customers?include=addresses&limit=250&page=1".to_string();
        let mut seen_cursors = std::collections::HashSet::new();
        let mut stored = 0u64;
        loop {
            let Page::Json(page) = client.get(&path, deadline).await? else { return Ok(()) };
            let data = page["data"].as_array().cloned().unwrap_or_default();
            if data.is_empty() {
                return Ok(());
            }
            let now = Utc::now();
            let records: Vec<StoredRecord> =
                data.iter().map(|c| keyed(mapping::customer(c, now), rfc3339(&c["date_modified"]))).collect();
            stored += records.len() as u64;
            self.store_page(job, &records, stored, page["meta"]["pagination"]["total"].as_u64(), now).await?;
            let Some(cursor) = page["meta"]["cursor_pagination"]["end_cursor"].as_str().map(str::to_string) else {
                return Ok(());
            };
            if !seen_cursors.insert(cursor.clone()) {
                return Err(FetchError::Unexpected(508, format!("customers cursor {cursor} did not advance")));
            }
            path = format!("v3/customers?include=addresses&limit=250&after={cursor}");
        }
    }
}

/// A mapped record keyed by its Codat `id`.
fn keyed(record: serde_json::Value, modified: Option<chrono::DateTime<Utc>>) -> StoredRecord {
    StoredRecord { id: record["id"].as_str().unwrap_or_default().to_string(), modified, record }
}

/// A v2 RFC 2822 timestamp ("Tue, 20 Nov 2012 00:00:00 +0000"), in UTC.
fn rfc2822(value: &Value) -> Option<chrono::DateTime<Utc>> {
    value.as_str().and_then(|d| chrono::DateTime::parse_from_rfc2822(d).ok()).map(|d| d.with_timezone(&Utc))
}

/// `GET v2/orders/count`: the number of orders (for progress).
async fn order_count(client: &PacedClient, deadline: Instant) -> Result<u64, FetchError> {
    Ok(match client.get("v2/orders/count", deadline).await? {
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

/// The v2 order listing, 250 per page, ending at 204 or a short page; a page that repeats the
/// previous one fails loudly.
struct OrderPages {
    include: &'static str,
    page: u32,
    previous_first: Option<Value>,
    done: bool,
}

impl OrderPages {
    fn new(include: &'static str) -> Self {
        Self { include, page: 0, previous_first: None, done: false }
    }

    async fn next(&mut self, client: &PacedClient, deadline: Instant) -> Result<Option<Vec<Value>>, FetchError> {
        if self.done {
            return Ok(None);
        }
        self.page += 1;
        let path = format!("v2/orders?limit=250&page={}{}", self.page, self.include);
        let orders = match client.get(&path, deadline).await? {
            Page::Json(body) => body.as_array().cloned().unwrap_or_default(),
            Page::Empty => Vec::new(),
        };
        self.done = orders.len() < 250;
        if orders.is_empty() {
            return Ok(None);
        }
        let first = orders.first().map(|o| o["id"].clone());
        if first == self.previous_first {
            return Err(FetchError::Unexpected(508, format!("orders page {} repeated the previous page", self.page)));
        }
        self.previous_first = first;
        Ok(Some(orders))
    }
}

/// A v3 RFC 3339 timestamp, in UTC.
fn rfc3339(value: &serde_json::Value) -> Option<chrono::DateTime<Utc>> {
    value.as_str().and_then(|d| chrono::DateTime::parse_from_rfc3339(d).ok()).map(|d| d.with_timezone(&Utc))
}
