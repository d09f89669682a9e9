//! Every BigCommerce call the sync makes, in one place: the paths, the filters with their date
//! formats (RFC 2822 for v2, ISO 8601 with the time for v3), the pagers, and the one guard
//! against a listing that repeats itself. Each function takes the paced client and the run's
//! deadline, and answers parsed JSON.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use futures::{StreamExt, TryStreamExt};
use serde_json::Value;
use tokio::time::Instant;

use sha2::{Digest, Sha256};

use super::paced::{FetchError, PacedClient, Page};

/// Records per page of every listing (BigCommerce's maximum `limit`).
pub const PAGE_SIZE: usize = 250;
/// Source ids asked for per `id:in` lookup.
pub const ID_LOOKUPS_PER_CALL: usize = 50;
/// The category tree listing.
pub const CATEGORIES: &str = "v3/catalog/trees/categories?limit=250";
/// The customers listing with addresses.
const CUSTOMERS: &str = "v3/customers?include=addresses&limit=250";

/// Fails a listing that answers a page it has answered before (an ignored `page` parameter,
/// an A/B alternation, a cursor that leads back), or a page with a record that has no numeric
/// id: going on would store the same records again and again, or records no one can address.
/// Each page is fingerprinted by the ids it lists, in order (the first 8 bytes of their
/// SHA-256), and checked against every page of the run so far, before anything of it is
/// stored. The last [`PageGuard::CARRIED`] fingerprints go into the checkpoint
/// ([`PageGuard::carried`]), so a continuation still knows the pages just before it: a store
/// that ignores `page` cannot keep a dataset alive through continuations.
#[derive(Debug, Default)]
pub struct PageGuard {
    seen: HashSet<u64>,
    recent: std::collections::VecDeque<u64>,
}

impl PageGuard {
    /// Fingerprints carried from one run of a listing to its continuation.
    pub const CARRIED: usize = 16;

    /// A guard that knows the pages a checkpoint carries (`checkpoint["seen"]`).
    pub fn resumed(checkpoint: Option<&Value>) -> Self {
        let mut guard = Self::default();
        let carried = checkpoint.and_then(|c| c["seen"].as_array()).into_iter().flatten();
        for fingerprint in carried.filter_map(|f| u64::from_str_radix(f.as_str()?, 16).ok()) {
            guard.remember(fingerprint);
        }
        guard
    }

    /// The last fingerprints, for the checkpoint (`"seen"`).
    pub fn carried(&self) -> Value {
        Value::Array(self.recent.iter().map(|f| Value::String(format!("{f:016x}"))).collect())
    }

    fn remember(&mut self, fingerprint: u64) -> bool {
        if !self.seen.insert(fingerprint) {
            return false;
        }
        self.recent.push_back(fingerprint);
        if self.recent.len() > Self::CARRIED {
            self.recent.pop_front();
        }
        true
    }

    /// Checks `records` (their ids under `id_key`) of `what` (e.g. `orders page 3`).
    pub fn check(&mut self, records: &[Value], id_key: &str, what: &str) -> Result<(), FetchError> {
        let mut hasher = Sha256::new();
        for record in records {
            let Some(id) = record[id_key].as_u64() else {
                return Err(FetchError::Broken(format!("{what} has a record without a numeric {id_key}")));
            };
            hasher.update(id.to_be_bytes());
        }
        let digest = hasher.finalize();
        let mut first = [0u8; 8];
        first.copy_from_slice(&digest[..8]);
        if !self.remember(u64::from_be_bytes(first)) {
            return Err(FetchError::Broken(format!("{what} repeated an earlier page")));
        }
        Ok(())
    }
}

/// The `data` list of a v3 answer: a 200 without one is broken, not empty.
pub fn v3_data(body: &Value, what: &str) -> Result<Vec<Value>, FetchError> {
    match body["data"].as_array() {
        Some(data) => Ok(data.clone()),
        None => Err(FetchError::Broken(format!("{what} answered without a data list"))),
    }
}

/// A v2 RFC 2822 timestamp ("Tue, 20 Nov 2012 00:00:00 +0000"), in UTC.
pub fn rfc2822(value: &Value) -> Option<DateTime<Utc>> {
    value.as_str().and_then(|d| DateTime::parse_from_rfc2822(d).ok()).map(|d| d.with_timezone(&Utc))
}

/// A v3 RFC 3339 timestamp, in UTC.
pub fn rfc3339(value: &Value) -> Option<DateTime<Utc>> {
    value.as_str().and_then(|d| DateTime::parse_from_rfc3339(d).ok()).map(|d| d.with_timezone(&Utc))
}

fn encoded(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

/// The v2 orders filter for changes since `since` (`&min_date_modified=<RFC 2822, UTC>`).
pub fn v2_changed_since(since: Option<DateTime<Utc>>) -> String {
    since.map_or_else(String::new, |at| {
        format!("&min_date_modified={}", encoded(&at.format("%a, %d %b %Y %H:%M:%S +0000").to_string()))
    })
}

/// The v3 filter for changes since `since` (`&date_modified:min=<ISO 8601, UTC>`, always with
/// the time: a bare date would get the current time of day appended).
pub fn v3_changed_since(since: Option<DateTime<Utc>>) -> String {
    since.map_or_else(String::new, |at| {
        format!("&date_modified:min={}", encoded(&at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)))
    })
}

/// The v2 orders filter for a first sync bounded by `syncFromUtc` (`&min_date_created=`).
pub fn v2_created_from(from: Option<DateTime<Utc>>) -> String {
    v2_changed_since(from).replace("min_date_modified", "min_date_created")
}

/// The v3 customers filter for a first sync bounded by `syncFromUtc` (`&date_created:min=`).
pub fn v3_created_from(from: Option<DateTime<Utc>>) -> String {
    v3_changed_since(from).replace("date_modified:min", "date_created:min")
}

/// `GET v2/store`: the store's information (`None` on an empty answer).
pub async fn store(client: &PacedClient, deadline: Instant) -> Result<Option<Value>, FetchError> {
    Ok(match client.get("v2/store", deadline).await? {
        Page::Json(store) => Some(store),
        Page::Empty => None,
    })
}

/// What every product record carries besides the product: the store's currency (`XXX` when
/// the store does not say) and the category names by id. `GET v2/store`, then the category tree.
pub async fn product_context(
    client: &PacedClient,
    deadline: Instant,
) -> Result<(String, HashMap<u64, String>), FetchError> {
    let currency = match store(client, deadline).await? {
        Some(store) => store["currency"].as_str().unwrap_or("XXX").to_string(),
        None => "XXX".to_string(),
    };
    let categories = fetch_pages(client, CATEGORIES, "category_id", deadline)
        .await?
        .iter()
        .filter_map(|c| Some((c["category_id"].as_u64()?, c["name"].as_str()?.to_string())))
        .collect();
    Ok((currency, categories))
}

/// The order count a pass started from: the checkpoint's `resumed` one when a continuation
/// goes on with it (one count call per pass), else `GET v2/orders/count` with `filter`.
pub async fn pass_order_count(
    client: &PacedClient,
    resumed: Option<u64>,
    filter: &str,
    deadline: Instant,
) -> Result<u64, FetchError> {
    match resumed {
        Some(total) => Ok(total),
        None => order_count(client, filter, deadline).await,
    }
}

/// `GET v2/orders/count` (with `filter`): the number of orders (for progress).
pub async fn order_count(client: &PacedClient, filter: &str, deadline: Instant) -> Result<u64, FetchError> {
    let path = match filter.strip_prefix('&') {
        Some(query) => format!("v2/orders/count?{query}"),
        None => "v2/orders/count".to_string(),
    };
    match client.get(&path, deadline).await? {
        Page::Json(count) => {
            count["count"].as_u64().ok_or_else(|| FetchError::Broken("v2/orders/count answered without a count".into()))
        }
        Page::Empty => Ok(0),
    }
}

/// One page of the v2 order listing (empty on 204); `filter` adds filters and embeds.
pub async fn order_page(
    client: &PacedClient,
    page: u64,
    filter: &str,
    deadline: Instant,
) -> Result<Vec<Value>, FetchError> {
    order_list(client, &order_page_path(page, filter), &format!("orders page {page}"), deadline).await
}

/// The path of page `page` of the v2 order listing with `filter`.
fn order_page_path(page: u64, filter: &str) -> String {
    format!("v2/orders?limit=250&page={page}{filter}")
}

/// One page of the v2 order listing as its body, checked to be JSON but not parsed (`None` on
/// 204), for pages fetched ahead: [`orders_of`] parses it when its turn comes.
pub async fn order_page_body(
    client: &PacedClient,
    page: u64,
    filter: &str,
    deadline: Instant,
) -> Result<Option<Vec<u8>>, FetchError> {
    client.get_body(&order_page_path(page, filter), deadline).await
}

/// The orders of page `page`'s body from [`order_page_body`] (none for a 204).
pub fn orders_of(body: Option<&[u8]>, page: u64) -> Result<Vec<Value>, FetchError> {
    match body.map(serde_json::from_slice::<Value>) {
        None => Ok(Vec::new()),
        Some(Ok(Value::Array(orders))) => Ok(orders),
        Some(Ok(_)) => Err(FetchError::Broken(format!("orders page {page} is not a list"))),
        Some(Err(e)) => Err(FetchError::Broken(format!("orders page {page}: {e}"))),
    }
}

/// A v2 order listing at `path` (`what` names it in errors): its orders, none on 204.
async fn order_list(client: &PacedClient, path: &str, what: &str, deadline: Instant) -> Result<Vec<Value>, FetchError> {
    match client.get(path, deadline).await? {
        Page::Json(Value::Array(orders)) => Ok(orders),
        Page::Json(_) => Err(FetchError::Broken(format!("{what} is not a list"))),
        Page::Empty => Ok(Vec::new()),
    }
}

/// The orders after order `after`, in id order: a keyset page of the v2 listing (`min_id`),
/// which neither skips nor repeats an order when others are archived or added meanwhile.
/// `filter` adds filters (no embeds: the line items are not needed). An id that does not follow
/// the one before it (or `after`) is a broken page: the walk always moves on.
pub async fn orders_after(
    client: &PacedClient,
    after: u64,
    filter: &str,
    deadline: Instant,
) -> Result<Vec<Value>, FetchError> {
    let what = format!("orders after {after}");
    let first = after.checked_add(1).ok_or_else(|| FetchError::Broken(format!("{what}: no order id follows")))?;
    let path = format!("v2/orders?limit=250&sort=id:asc&min_id={first}{filter}");
    let orders = order_list(client, &path, &what, deadline).await?;
    let mut last = after;
    for order in &orders {
        match order["id"].as_u64() {
            Some(id) if id > last => last = id,
            Some(_) => return Err(FetchError::Broken(format!("{what}: the ids are not ascending past {after}"))),
            None => return Err(FetchError::Broken(format!("{what}: an order without a numeric id"))),
        }
    }
    Ok(orders)
}

/// The ids of the orders the store archived (`is_deleted=true`) matching `filter`, every page.
pub async fn archived_order_ids(
    client: &PacedClient,
    filter: &str,
    deadline: Instant,
) -> Result<Vec<String>, FetchError> {
    let mut archived = Vec::new();
    let mut guard = PageGuard::default();
    for page in 1.. {
        let orders = order_page(client, page, &format!("&is_deleted=true{filter}"), deadline).await?;
        guard.check(&orders, "id", &format!("archived orders page {page}"))?;
        archived.extend(orders.iter().filter_map(|o| o["id"].as_u64()).map(|id| id.to_string()));
        if orders.len() < PAGE_SIZE {
            break;
        }
    }
    Ok(archived)
}

/// One order's v3 transactions (none when the store answers 204, or 404 for an order deleted
/// since it was listed).
pub async fn order_transactions(client: &PacedClient, id: u64, deadline: Instant) -> Result<Vec<Value>, FetchError> {
    match client.get(&format!("v3/orders/{id}/transactions"), deadline).await {
        Ok(Page::Json(body)) => v3_data(&body, &format!("the transactions of order {id}")),
        Ok(Page::Empty) | Err(FetchError::NotFound(_)) => Ok(Vec::new()),
        Err(e) => Err(e),
    }
}

/// `Some(id)` when the store no longer has order `id` or has archived it (`v2/orders/{id}`);
/// `None` when it is alive, or `id` is not an order id.
pub async fn order_gone(client: &PacedClient, id: String, deadline: Instant) -> Result<Option<String>, FetchError> {
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

/// Of `ids` (order ids), those the store no longer has or has archived: one `v2/orders/{id}`
/// each, as many in flight as the quota allows.
pub async fn gone_orders(
    client: &PacedClient,
    ids: &[String],
    deadline: Instant,
) -> Result<HashSet<String>, FetchError> {
    let width = client.quota().await.unwrap_or(1).max(1) as usize;
    let lookups = ids.iter().cloned().map(|id| order_gone(client, id, deadline));
    let found: Vec<Option<String>> = futures::stream::iter(lookups).buffered(width).try_collect().await?;
    Ok(found.into_iter().flatten().collect())
}

/// Of `ids` (numeric source ids), those the v3 list `base` (filtered by `id:in`,
/// [`ID_LOOKUPS_PER_CALL`] ids per call) no longer returns.
pub async fn gone_from_list(
    client: &PacedClient,
    base: &str,
    ids: &[String],
    deadline: Instant,
) -> Result<HashSet<String>, FetchError> {
    let mut gone = HashSet::new();
    for chunk in ids.chunks(ID_LOOKUPS_PER_CALL) {
        let path = format!("{base}&id:in={}", chunk.join(","));
        let found: HashSet<String> = match client.get(&path, deadline).await? {
            // An answer without its list says nothing about what is gone: the lookup fails
            // rather than take every id for deleted.
            Page::Json(body) => {
                v3_data(&body, base)?.iter().filter_map(|r| r["id"].as_u64()).map(|id| id.to_string()).collect()
            }
            // No body is no answer: nothing is inferred from it.
            Page::Empty => chunk.iter().cloned().collect(),
        };
        gone.extend(chunk.iter().filter(|id| !found.contains(*id)).cloned());
    }
    Ok(gone)
}

/// The v3 products list of `gone_from_list` lookups.
pub const PRODUCT_LOOKUP: &str = "v3/catalog/products?limit=250";
/// The v3 customers list of `gone_from_list` lookups.
pub const CUSTOMER_LOOKUP: &str = "v3/customers?limit=250";

/// One page of products with their variants, changed since `changed` (a v3 filter).
pub fn products_page(page: u64, changed: &str) -> String {
    format!("v3/catalog/products?include=variants&limit=250&page={page}{changed}")
}

/// A page of customers with their addresses: the first (`after` = `None`) or the one after a
/// cursor, with `filter` (v3 date filters).
pub fn customers_page(after: Option<&str>, filter: &str) -> String {
    match after {
        // The cursor is the store's text: encoded, so no `&` or `#` in it adds a parameter.
        Some(after) => format!("{CUSTOMERS}&after={}{filter}", encoded(after)),
        None => format!("{CUSTOMERS}&page=1{filter}"),
    }
}

/// The customers with `ids` (at most [`ID_LOOKUPS_PER_CALL`]), with their addresses.
pub fn customers_by_id(ids: &[u64]) -> String {
    format!("{CUSTOMERS}&id:in={}", ids.iter().map(u64::to_string).collect::<Vec<_>>().join(","))
}

/// The products with `ids` (at most [`ID_LOOKUPS_PER_CALL`]), with their variants.
pub fn products_by_id(ids: &[u64]) -> String {
    format!(
        "v3/catalog/products?include=variants&limit=250&id:in={}",
        ids.iter().map(u64::to_string).collect::<Vec<_>>().join(",")
    )
}

/// One order with its line items (`None` when the store has no such order).
pub async fn order_by_id(client: &PacedClient, id: u64, deadline: Instant) -> Result<Option<Value>, FetchError> {
    match client
        .get(&format!("v2/orders/{id}?include=consignments.line_items&consignment_structure=object"), deadline)
        .await
    {
        Ok(Page::Json(order)) => Ok(Some(order)),
        Ok(Page::Empty) | Err(FetchError::NotFound(_)) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Every record of a v3 page/limit listing; a page that repeats an earlier one fails.
pub async fn fetch_pages(
    client: &PacedClient,
    base: &str,
    id_key: &str,
    deadline: Instant,
) -> Result<Vec<Value>, FetchError> {
    let mut all = Vec::new();
    let mut guard = PageGuard::default();
    for page in 1.. {
        let what = format!("{} page {page}", endpoint_of(base));
        let Page::Json(body) = client.get(&format!("{base}&page={page}"), deadline).await? else { break };
        let data = v3_data(&body, &what)?;
        if data.is_empty() {
            break;
        }
        guard.check(&data, id_key, &what)?;
        all.extend(data);
        if page >= body["meta"]["pagination"]["total_pages"].as_u64().unwrap_or(1) {
            break;
        }
    }
    Ok(all)
}

/// A listing's path without its query (for messages).
fn endpoint_of(base: &str) -> &str {
    base.split('?').next().unwrap_or(base)
}

/// The store's refunds (those `filter` selects, e.g. `&order_id:in=1,2`), by order id.
pub async fn refunds_by_order(
    client: &PacedClient,
    filter: &str,
    deadline: Instant,
) -> Result<HashMap<u64, Vec<Value>>, FetchError> {
    let mut by_order: HashMap<u64, Vec<Value>> = HashMap::new();
    let base = format!("v3/orders/payment_actions/refunds?limit=250{filter}");
    for refund in fetch_pages(client, &base, "id", deadline).await? {
        by_order.entry(refund["order_id"].as_u64().unwrap_or_default()).or_default().push(refund);
    }
    Ok(by_order)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn filters_carry_full_timestamps_in_each_version_s_format() {
        let at = DateTime::parse_from_rfc3339("2026-11-02T03:04:05Z").expect("time").with_timezone(&Utc);
        assert_eq!(v2_changed_since(Some(at)), "&min_date_modified=Mon%2C+02+Nov+2026+03%3A04%3A05+%2B0000");
        assert_eq!(v3_changed_since(Some(at)), "&date_modified:min=2026-11-02T03%3A04%3A05Z");
        assert_eq!(v2_created_from(Some(at)), "&min_date_created=Mon%2C+02+Nov+2026+03%3A04%3A05+%2B0000");
        assert_eq!(v3_created_from(Some(at)), "&date_created:min=2026-11-02T03%3A04%3A05Z");
        assert_eq!(v2_changed_since(None), "");
        assert_eq!(rfc2822(&json!("Mon, 02 Nov 2026 03:04:05 +0000")), Some(at));
        assert_eq!(rfc3339(&json!("2026-11-02T03:04:05+00:00")), Some(at));
    }

    #[test]
    fn an_order_page_body_is_parsed_in_turn_into_its_orders() {
        let orders = orders_of(Some(br#"[{"id": 7}, {"id": 8}]"#), 3).expect("a page");
        assert_eq!(orders, vec![json!({"id": 7}), json!({"id": 8})]);
        assert_eq!(orders_of(None, 3).expect("204"), Vec::<Value>::new());
        let error = orders_of(Some(br#"{"id": 7}"#), 3).expect_err("not a list");
        assert!(matches!(&error, FetchError::Broken(m) if m == "orders page 3 is not a list"), "{error}");
    }

    #[test]
    fn a_page_answered_before_is_refused_whatever_came_between() {
        let page = |ids: &[u64]| ids.iter().map(|id| json!({"id": id})).collect::<Vec<_>>();
        let mut guard = PageGuard::default();
        assert!(guard.check(&page(&[1, 2]), "id", "page 1").is_ok());
        assert!(guard.check(&page(&[3, 4]), "id", "page 2").is_ok());
        // A/B alternation: page 3 is page 1 again.
        let error = guard.check(&page(&[1, 2]), "id", "page 3").expect_err("repeat");
        assert!(error.to_string().contains("page 3 repeated an earlier page"), "{error}");
        assert!(!error.retryable());
        // The same ids in another order, or one id fewer, are other pages.
        assert!(guard.check(&page(&[2, 1]), "id", "page 4").is_ok());
        assert!(guard.check(&page(&[3]), "id", "page 5").is_ok());
        let error = guard.check(&[json!({"id": 9}), json!({"name": "x"})], "id", "page 6").expect_err("no id");
        assert!(error.to_string().contains("without a numeric id"), "{error}");
        let error = guard.check(&[json!({"id": "9"})], "id", "page 7").expect_err("text id");
        assert!(matches!(error, FetchError::Broken(_)));
        // A continuation knows the pages just before it.
        let checkpoint = json!({"page": 5, "seen": guard.carried()});
        let mut resumed = PageGuard::resumed(Some(&checkpoint));
        let error = resumed.check(&page(&[3]), "id", "page 6").expect_err("seen before the continuation");
        assert!(error.to_string().contains("repeated an earlier page"), "{error}");
        assert!(resumed.check(&page(&[7, 8]), "id", "page 6").is_ok());
        for n in 0..40 {
            guard.check(&page(&[100 + n]), "id", "page").expect("new");
        }
        assert_eq!(guard.carried().as_array().map(Vec::len), Some(PageGuard::CARRIED));
    }

    #[test]
    fn customers_pages_start_by_page_and_go_on_by_cursor() {
        assert_eq!(customers_page(None, ""), "v3/customers?include=addresses&limit=250&page=1");
        assert_eq!(customers_page(Some("abc"), "&x=1"), "v3/customers?include=addresses&limit=250&after=abc&x=1");
        // A hostile cursor adds no parameter and no fragment.
        assert_eq!(
            customers_page(Some("a&limit=1#b c/="), ""),
            "v3/customers?include=addresses&limit=250&after=a%26limit%3D1%23b+c%2F%3D"
        );
    }
}
