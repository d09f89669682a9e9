//! Faults a test can switch on at runtime (admin endpoint or Rust), per store.

use serde::{Deserialize, Serialize};

/// Changes to apply to a store's data: orders inserted, updated and archived; products and
/// customers updated and deleted. Each change also fires the matching webhook events.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Mutations {
    /// New orders (ids after the current last one).
    pub inserts: u32,
    /// Existing orders whose status and `date_modified` change.
    pub updates: u32,
    /// Existing orders archived (`is_deleted`).
    pub archives: u32,
    /// Products deleted from the catalog (gone from every listing).
    pub product_deletes: u32,
    /// Customers deleted (gone from every listing; their orders keep their names).
    pub customer_deletes: u32,
    /// Live products renamed (`... Mk 2`), with `date_modified` bumped.
    pub product_updates: u32,
    /// Live customers whose last name changes, with `date_modified` bumped.
    pub customer_updates: u32,
}

/// One order status change made by an update.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct StatusChange {
    /// The order.
    pub order_id: u32,
    /// Status id before.
    pub previous_status_id: u8,
    /// Status id after.
    pub new_status_id: u8,
}

/// What a mutation changed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Touched {
    /// Orders inserted, updated or archived.
    pub orders: Vec<u32>,
    /// Products deleted.
    pub products: Vec<u32>,
    /// Customers deleted.
    pub customers: Vec<u32>,
    /// Orders inserted.
    pub inserted_orders: Vec<u32>,
    /// Orders updated (an order updated twice is listed twice).
    pub updated_orders: Vec<u32>,
    /// The status change of each update, in the order of `updated_orders`.
    pub status_changes: Vec<StatusChange>,
    /// Orders archived.
    pub archived_orders: Vec<u32>,
    /// Products updated.
    pub updated_products: Vec<u32>,
    /// Customers updated.
    pub updated_customers: Vec<u32>,
}

impl Mutations {
    /// Whether nothing would change.
    pub fn is_empty(&self) -> bool {
        self.inserts == 0
            && self.updates == 0
            && self.archives == 0
            && self.product_deletes == 0
            && self.customer_deletes == 0
            && self.product_updates == 0
            && self.customer_updates == 0
    }
}

/// Faults injected into a store's API responses. Rates are fractions of requests (0..=1),
/// drawn from a seeded generator so a test run is repeatable.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Faults {
    /// Only requests whose path (after `/stores/{hash}/`) contains this are affected.
    pub path_contains: Option<String>,
    /// Answer 500, 502 or 503 (rotating) at this rate.
    pub error_rate: f64,
    /// Answer 503 on `v3/orders/{id}/transactions` at this rate.
    pub transactions_503_rate: f64,
    /// Delay this fraction of responses by `slow_ms`.
    pub slow_rate: f64,
    /// The delay of slow responses.
    pub slow_ms: u64,
    /// Declare a Content-Length larger than the bytes sent, at this rate.
    pub truncate_rate: f64,
    /// Send syntactically broken JSON, at this rate.
    pub malformed_rate: f64,
    /// List pages after the first answer the first page's records again.
    pub repeat_page: bool,
    /// 429s carry no rate-limit headers (the platform-overload mode).
    pub no_headers_429: bool,
    /// `X-Retry-After` (seconds) on 429s.
    pub retry_after_secs: Option<u64>,
    /// Fixed latency added to every response.
    pub latency_ms: u64,
    /// Random extra latency, up to this many milliseconds.
    pub jitter_ms: u64,
    /// Applied to the data just before each list page is served.
    pub mutate_per_page: Mutations,
    /// Listings end early: every list page after the first (and every cursor page) comes back
    /// empty (v2: 204), while totals and counts still count every record.
    pub short_listing: bool,
}

impl Faults {
    /// Whether the faults apply to a request for `path`.
    pub fn applies_to(&self, path: &str) -> bool {
        self.path_contains.as_deref().is_none_or(|needle| path.contains(needle))
    }

    /// Checks the rates are fractions.
    pub fn validate(&self) -> Result<(), String> {
        for (name, rate) in [
            ("error_rate", self.error_rate),
            ("transactions_503_rate", self.transactions_503_rate),
            ("slow_rate", self.slow_rate),
            ("truncate_rate", self.truncate_rate),
            ("malformed_rate", self.malformed_rate),
        ] {
            if !(0.0..=1.0).contains(&rate) {
                return Err(format!("{name} must be between 0 and 1"));
            }
        }
        Ok(())
    }
}
