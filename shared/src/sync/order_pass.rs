//! Orders, payments and transactions in one pass over the order pages (whichever this run
//! fills, docs/mapping.md §3–5), the removal of orders archived since the last sync, and the
//! check for archives during the pass.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use chrono::Utc;
use futures::{StreamExt, TryStreamExt};
use serde_json::{Value, json};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::SyncWorker;
use super::context::{Run, Stop, keyed, percent};
use crate::bigcommerce::endpoints::{self, PAGE_SIZE, PageGuard, rfc2822};
use crate::bigcommerce::mapping::{self, payments};
use crate::bigcommerce::paced::{FetchError, PacedClient};
use crate::domain::DataType;
use crate::ports::{PlatformStore, StoredRecord};

/// Order pages fetched ahead of the one being stored, at most (a page of orders with its line
/// items is about 5 MB of JSON): as many as the quota allows, up to this.
const MAX_PAGES_AHEAD: u32 = 4;

impl<S: PlatformStore> SyncWorker<S> {
    /// The pass: orders 250 per page (with their line items embedded when orders are filled: no
    /// call per order) and each page's refunds (`order_id:in=`, one call per page). For payments and transactions,
    /// each page's transactions are fetched concurrently (one call per order, as many in flight
    /// as the quota allows) while the page's orders are stored. Every data type's records of a
    /// page are stored before the checkpoint that covers them.
    /// Checkpoint: `{"page", "done", "seen", "with"?}` (the last stored page, the last pages'
    /// fingerprints).
    pub(super) async fn sync_order_pass(&self, run: &Run<'_>) -> Result<(), Stop> {
        let (client, deadline) = (&*run.client, run.deadline);
        let orders_wanted = run.fills(DataType::Orders);
        let mut money_wanted = run.fills(DataType::Payments) || run.fills(DataType::Transactions);
        let changed =
            format!("{}{}", endpoints::v2_changed_since(run.since), endpoints::v2_created_from(run.created_from));
        let total = endpoints::order_count(client, &changed, deadline).await?;
        let lines = if orders_wanted { "&include=consignments.line_items&consignment_structure=object" } else { "" };
        let mut pages = OrderPages::new(format!("{changed}{lines}"), run, total).await;
        while let Some(orders) = pages.next().await? {
            let ids = orders
                .iter()
                .map(|o| o["id"].as_u64())
                .collect::<Option<Vec<u64>>>()
                .ok_or_else(|| FetchError::Broken("an order without a numeric id".into()))?;
            // The refunds of this page's orders only (one call per page, full or incremental):
            // never the store's whole refunds list in memory.
            let listed = ids.iter().map(u64::to_string).collect::<Vec<_>>().join(",");
            let refunds = &endpoints::refunds_by_order(client, &format!("&order_id:in={listed}"), deadline).await?;
            let progress = pages.progress(orders.len(), total);
            let transactions = async {
                if !money_wanted {
                    return Ok(Vec::new());
                }
                let width = client.quota().await.unwrap_or(1).max(1) as usize;
                futures::stream::iter(ids.into_iter().map(|id| endpoints::order_transactions(client, id, deadline)))
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
                    run.partners_given_up.store(true, Ordering::SeqCst);
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
                    if run.fills(DataType::Payments) {
                        payment_records.extend(payments::payments(&money, now).into_iter().map(|r| keyed(r, modified)));
                    }
                    if run.fills(DataType::Transactions) {
                        let mapped = payments::transactions(&money, now);
                        transaction_records.extend(mapped.into_iter().map(|r| keyed(r, modified)));
                    }
                }
                for (data_type, records) in
                    [(DataType::Payments, &payment_records), (DataType::Transactions, &transaction_records)]
                {
                    if run.fills(data_type) {
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
        let filter = endpoints::v2_changed_since(run.since);
        let archived = endpoints::archived_order_ids(&run.client, &filter, run.deadline).await?;
        if archived.is_empty() {
            return Ok(());
        }
        for data_type in run.data_types() {
            let ids = match data_type {
                DataType::Orders => archived.clone(),
                _ => self.ids_of_orders(run, data_type, &archived).await?,
            };
            self.remove(run, data_type, &ids, "archived orders removed").await?;
        }
        Ok(())
    }

    /// Pages are by position (id order), so an order archived while the pass ran shifts the
    /// later ones back and one of them may never be listed. Inserts (at the end) and updates (in
    /// place) shift nothing, and the next incremental sync fetches them. If the store archived
    /// any order since this dataset was requested (one count call), the dataset is marked so the
    /// next sync of these data types is full rather than incremental.
    async fn check_archives_during(&self, run: &Run<'_>) -> Result<(), Stop> {
        let since = run.requested - chrono::Duration::minutes(1);
        let filter = format!("&is_deleted=true{}", endpoints::v2_changed_since(Some(since)));
        let archived = endpoints::order_count(&run.client, &filter, run.deadline).await?;
        if archived > 0 {
            tracing::info!(dataset_id = %run.job.dataset_id, archived, "orders archived during the pass: the next sync is full");
            run.mark("full_next", json!(true));
            run.mark("archived_during", json!(archived));
        }
        Ok(())
    }
}

/// The v2 order listing, 250 per page. The pages the order count announces are fetched in
/// the background, as many ahead of the page being stored as the quota allows (at most
/// [`MAX_PAGES_AHEAD`]), and handed over in order; after them, pages are read one by one until a
/// short page (orders added during the sync). A page answered before fails loudly. It starts after the checkpoint's page when the run resumes; pages fetched ahead are
/// abandoned when the run stops.
struct OrderPages {
    filter: String,
    client: Arc<PacedClient>,
    deadline: Instant,
    page: u64,
    done: u64,
    guard: PageGuard,
    last: bool,
    announced: u64,
    next_ahead: u64,
    width: usize,
    ahead: VecDeque<JoinHandle<Result<Vec<Value>, FetchError>>>,
}

impl OrderPages {
    async fn new(filter: String, run: &Run<'_>, count: u64) -> Self {
        let (page, done) = (run.resume_u64("page").unwrap_or(0), run.resume_u64("done").unwrap_or(0));
        let width = run.client.quota().await.unwrap_or(1).clamp(1, MAX_PAGES_AHEAD) as usize;
        let mut pages = Self {
            filter,
            client: run.client.clone(),
            deadline: run.deadline,
            page,
            done,
            guard: PageGuard::resumed(run.resume.as_ref()),
            last: false,
            announced: count.div_ceil(PAGE_SIZE as u64),
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
            let (client, page, filter, deadline) =
                (self.client.clone(), self.next_ahead, self.filter.clone(), self.deadline);
            self.ahead
                .push_back(tokio::spawn(async move { endpoints::order_page(&client, page, &filter, deadline).await }));
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
            None => endpoints::order_page(&self.client, page, &self.filter, self.deadline).await?,
        };
        self.fetch_ahead();
        self.last = orders.len() < PAGE_SIZE;
        if orders.is_empty() {
            return Ok(None);
        }
        self.guard.check(&orders, "id", &format!("orders page {page}"))?;
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
        let mut checkpoint = json!({"page": self.page, "done": self.done, "seen": self.guard.carried()});
        if !run.partners.is_empty() {
            checkpoint["with"] = run.partners_json();
        }
        worker.write_checkpoint(run, self.done, Some(total), &checkpoint).await;
        run.pause_if_spent(!self.last, || checkpoint)
    }
}

impl Drop for OrderPages {
    fn drop(&mut self) {
        for task in &self.ahead {
            task.abort();
        }
    }
}
