//! The listings of one data type each: the store's information, products (page by page, the
//! next fetched while the current is stored), the category tree (whole), customers (by cursor)
//! and the built-in payment methods.

use std::collections::HashSet;

use chrono::Utc;
use serde_json::json;
use tokio::time::Instant;

use super::SyncWorker;
use super::context::{Run, Stop, keyed};
use crate::bigcommerce::endpoints::{self, PageGuard, rfc3339};
use crate::bigcommerce::mapping;
use crate::bigcommerce::paced::{FetchError, Page};
use crate::ports::{PlatformStore, StoredRecord};

impl<S: PlatformStore> SyncWorker<S> {
    /// `v2/store` as the one company-info record.
    pub(super) async fn sync_company_info(&self, run: &Run<'_>) -> Result<(), Stop> {
        let Some(store) = endpoints::store(&run.client, run.deadline).await? else {
            return Err(FetchError::Unavailable("v2/store answered without a body".into()).into());
        };
        let Some(id) = store["id"].as_str().filter(|id| !id.is_empty()).map(str::to_string) else {
            return Err(FetchError::Broken("v2/store answered without the store's id".into()).into());
        };
        let info = mapping::company_info(&store, Utc::now());
        let record = StoredRecord { id, modified: None, record: info };
        self.store_all(run, &[record]).await
    }

    /// The built-in payment methods (docs/mapping.md §6): no store call, so nothing can be
    /// half-synced.
    pub(super) async fn sync_payment_methods(&self, run: &Run<'_>) -> Result<(), Stop> {
        let records: Vec<StoredRecord> =
            mapping::payment_methods(Utc::now()).into_iter().map(|record| keyed(record, None)).collect();
        self.store_all(run, &records).await
    }

    /// Every product with its variants, page by page (each page stored before the next; a
    /// page answered before fails loudly). Category names and the store currency are read first.
    /// Checkpoint: `{"page", "done", "seen"}` (the last stored page, the last pages'
    /// fingerprints).
    pub(super) async fn sync_products(&self, run: &Run<'_>) -> Result<(), Stop> {
        let (client, deadline) = (&*run.client, run.deadline);
        let (currency, categories) = endpoints::product_context(client, deadline).await?;
        let mut guard = PageGuard::resumed(run.resume.as_ref());
        let mut stored = run.resume_u64("done").unwrap_or(0);
        let mut page = run.resume_u64("page").unwrap_or(0) + 1;
        let changed = endpoints::v3_changed_since(run.since);
        let mut fetched = client.get(&endpoints::products_page(page, &changed), deadline).await?;
        loop {
            let Page::Json(body) = fetched else { return Ok(()) };
            let what = format!("products page {page}");
            let data = endpoints::v3_data(&body, &what)?;
            let total = body["meta"]["pagination"]["total"].as_u64();
            if data.is_empty() {
                run.listed(stored, total);
                return Ok(());
            }
            guard.check(&data, "id", &what)?;
            let now = Utc::now();
            let records: Vec<StoredRecord> = data
                .iter()
                .map(|p| keyed(mapping::product(p, &categories, &currency, now), rfc3339(&p["date_modified"])))
                .collect();
            stored += records.len() as u64;
            run.listed(stored, total);
            let checkpoint = json!({"page": page, "done": stored, "seen": guard.carried()});
            let more = page < body["meta"]["pagination"]["total_pages"].as_u64().unwrap_or(1);
            // The next page is fetched while this one is stored, unless the budget is spent
            // (then the continuation asks for it).
            let ahead = more && Instant::now() < run.yield_at;
            let next = async {
                if ahead {
                    Some(client.get(&endpoints::products_page(page + 1, &changed), deadline).await)
                } else {
                    None
                }
            };
            let (stored_page, next) = tokio::join!(self.store_page(run, &records, stored, total, &checkpoint), next);
            stored_page?;
            if !more {
                return Ok(());
            }
            run.pause_if_spent(!ahead, || checkpoint)?;
            page += 1;
            fetched = match next {
                Some(next) => next?,
                None => client.get(&endpoints::products_page(page, &changed), deadline).await?,
            };
        }
    }

    /// Every tree category (page by page; a page answered before fails loudly),
    /// then mapped together: ancestors and `hasChildren` need the whole tree.
    pub(super) async fn sync_categories(&self, run: &Run<'_>) -> Result<(), Stop> {
        let all = endpoints::fetch_pages(&run.client, endpoints::CATEGORIES, "category_id", run.deadline).await?;
        let records: Vec<StoredRecord> =
            mapping::product_categories(&all, Utc::now()).into_iter().map(|record| keyed(record, None)).collect();
        self.store_all(run, &records).await
    }

    /// Customers by cursor (stable against inserts between pages), 250 per page, each page
    /// stored before the next is asked for. A page answered before, or a cursor met before,
    /// fails loudly before anything of it is stored.
    /// Checkpoint: `{"after", "done", "total", "seen"}` (the cursor after the last stored page,
    /// the last pages' fingerprints).
    pub(super) async fn sync_customers(&self, run: &Run<'_>) -> Result<(), Stop> {
        let changed =
            format!("{}{}", endpoints::v3_changed_since(run.since), endpoints::v3_created_from(run.created_from));
        let mut path = endpoints::customers_page(run.resume.as_ref().and_then(|c| c["after"].as_str()), &changed);
        let mut seen_cursors = HashSet::new();
        let mut guard = PageGuard::resumed(run.resume.as_ref());
        let mut stored = run.resume_u64("done").unwrap_or(0);
        // The total comes with the first page only; checkpoints carry it on.
        let mut total = run.resume_u64("total");
        loop {
            let Page::Json(page) = run.client.get(&path, run.deadline).await? else { return Ok(()) };
            let what = format!("customers page after {} stored", stored);
            let data = endpoints::v3_data(&page, &what)?;
            total = page["meta"]["pagination"]["total"].as_u64().or(total);
            if data.is_empty() {
                run.listed(stored, total);
                return Ok(());
            }
            guard.check(&data, "id", &what)?;
            let now = Utc::now();
            let records: Vec<StoredRecord> =
                data.iter().map(|c| keyed(mapping::customer(c, now), rfc3339(&c["date_modified"]))).collect();
            stored += records.len() as u64;
            run.listed(stored, total);
            let Some(cursor) = page["meta"]["cursor_pagination"]["end_cursor"].as_str().map(str::to_string) else {
                return self.store_all(run, &records).await;
            };
            if !seen_cursors.insert(cursor.clone()) {
                return Err(FetchError::Broken(format!("{what}: its cursor was met before")).into());
            }
            let checkpoint = json!({"after": cursor, "done": stored, "total": total, "seen": guard.carried()});
            self.store_page(run, &records, stored, total, &checkpoint).await?;
            if data.len() < endpoints::PAGE_SIZE || total.is_some_and(|t| stored >= t) {
                // A short page is the last, and so is the one that reaches the first page's
                // total: no call to learn that. Customers added since are the next sync's.
                return Ok(());
            }
            run.pause_if_spent(true, || checkpoint)?;
            path = endpoints::customers_page(Some(&cursor), &changed);
        }
    }
}
