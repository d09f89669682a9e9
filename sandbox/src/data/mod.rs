//! Deterministic store data. Each record is a pure function of (store seed, record id,
//! revision): only a compact head per record (ids, dates, status) is kept in memory, and the
//! full record is generated when served. 100,000 orders cost a few megabytes.

pub mod catalog;
pub mod customers;
pub mod names;
pub mod orders;
pub mod payments;

use chrono::{DateTime, TimeZone, Utc};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rust_decimal::Decimal;

use crate::config::StoreConfig;
use crate::faults::{Mutations, StatusChange, Touched};

/// Start of generated history.
pub fn epoch() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).single().unwrap_or_default()
}

/// Generated history spans this many seconds (two years).
pub const SPAN_SECS: i64 = 2 * 365 * 24 * 3600;

/// First order id (BigCommerce starts at 100).
pub const FIRST_ORDER_ID: u32 = 100;

/// Record kinds, mixed into seeds so each kind has its own stream.
#[derive(Debug, Clone, Copy)]
#[repr(u64)]
pub enum Kind {
    /// An order's body.
    Order = 1,
    /// An order's head.
    OrderHead = 2,
    /// A product.
    Product = 3,
    /// A customer.
    Customer = 4,
    /// An order's payments.
    Payment = 5,
    /// Runtime mutations.
    Mutation = 6,
}

/// A generator for one record.
pub fn rng(seed: u64, kind: Kind, id: u64) -> ChaCha8Rng {
    // splitmix64 over the three inputs
    let mut x = seed ^ (kind as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ id.wrapping_mul(0xD1B5_4A32_D192_ED03);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    ChaCha8Rng::seed_from_u64(x ^ (x >> 31))
}

/// Picks one element.
pub fn pick<'a, T>(rng: &mut impl Rng, items: &'a [T]) -> &'a T {
    &items[rng.random_range(0..items.len())]
}

/// Money with cents from a whole number of cents.
pub fn cents(value: i64) -> Decimal {
    Decimal::new(value, 2)
}

/// v2 money: a string with four decimals.
pub fn money4(value: Decimal) -> String {
    format!("{:.4}", value.round_dp(4))
}

/// v3 money: a JSON number.
pub fn money_number(value: Decimal) -> serde_json::Value {
    use rust_decimal::prelude::ToPrimitive;
    serde_json::json!(value.round_dp(2).to_f64().unwrap_or_default())
}

/// v2 date: RFC 2822 in UTC (`Tue, 20 Nov 2012 00:00:00 +0000`).
pub fn rfc2822(at: DateTime<Utc>) -> String {
    at.format("%a, %d %b %Y %H:%M:%S +0000").to_string()
}

/// v3 date: ISO 8601 UTC.
pub fn iso(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// A timestamp from seconds.
pub fn at(secs: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(secs, 0).single().unwrap_or_default()
}

/// An order's head: what lists filter and sort on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OrderHead {
    /// Order id.
    pub id: u32,
    /// Registered customer id, 0 for guests.
    pub customer_id: u32,
    /// Creation time (seconds).
    pub created: i64,
    /// Last modification (seconds).
    pub modified: i64,
    /// BigCommerce status id.
    pub status_id: u8,
    /// Archived.
    pub is_deleted: bool,
    /// Bumped by each runtime update.
    pub revision: u16,
}

/// A product's head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProductHead {
    /// Product id.
    pub id: u32,
    /// Creation time.
    pub created: i64,
    /// Last modification.
    pub modified: i64,
    /// Base price in cents.
    pub price_cents: i64,
    /// Number of variants (at least 1: the base variant).
    pub variants: u16,
    /// Deleted from the catalog: listed nowhere (orders still refer to it).
    pub deleted: bool,
    /// Bumped by each runtime update (which renames the product).
    pub revision: u16,
}

/// A customer's head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CustomerHead {
    /// Customer id.
    pub id: u32,
    /// Creation time.
    pub created: i64,
    /// Last modification.
    pub modified: i64,
    /// Deleted: listed nowhere (orders keep the name they were placed under).
    pub deleted: bool,
    /// Bumped by each runtime update (which changes the last name).
    pub revision: u16,
}

/// Everything a store serves.
#[derive(Debug, Clone)]
pub struct Dataset {
    /// The store.
    pub config: StoreConfig,
    /// Orders by id (ascending).
    pub orders: Vec<OrderHead>,
    /// Products by id.
    pub products: Vec<ProductHead>,
    /// Customers by id.
    pub customers: Vec<CustomerHead>,
    /// Runtime mutations applied so far (seeds the next ones).
    pub mutations: u64,
}

/// Spreads `count` records over the history span; record `i` gets a time in its slot.
fn slot_time(rng: &mut impl Rng, i: u32, count: u32) -> i64 {
    let width = (SPAN_SECS / i64::from(count.max(1))).max(1);
    epoch().timestamp() + i64::from(i) * width + rng.random_range(0..width)
}

impl Dataset {
    /// Generates the heads of every record of a store.
    pub fn generate(config: StoreConfig) -> Self {
        let seed = config.seed;
        let sizes = config.sizes;
        let horizon = epoch().timestamp() + SPAN_SECS;
        let customers = (1..=sizes.customers)
            .map(|id| {
                let mut r = rng(seed, Kind::Customer, u64::from(id));
                let created = slot_time(&mut r, id - 1, sizes.customers);
                let modified = (created + r.random_range(0..90 * 86_400)).min(horizon);
                CustomerHead { id, created, modified, deleted: false, revision: 0 }
            })
            .collect();
        let products = (1..=sizes.products)
            .map(|id| {
                let mut r = rng(seed, Kind::Product, u64::from(id));
                let created = slot_time(&mut r, id - 1, sizes.products);
                let modified = (created + r.random_range(0..180 * 86_400)).min(horizon);
                let variants = catalog::variant_count(seed, id);
                let price_cents = r.random_range(499..=49_999);
                ProductHead { id, created, modified, price_cents, variants, deleted: false, revision: 0 }
            })
            .collect();
        let orders = (0..sizes.orders)
            .map(|i| {
                let id = FIRST_ORDER_ID + i;
                let mut r = rng(seed, Kind::OrderHead, u64::from(id));
                let created = slot_time(&mut r, i, sizes.orders);
                let modified = (created + r.random_range(0..20 * 86_400)).min(horizon).max(created);
                let customer_id =
                    if sizes.customers == 0 || r.random_bool(0.3) { 0 } else { r.random_range(1..=sizes.customers) };
                OrderHead {
                    id,
                    customer_id,
                    created,
                    modified,
                    status_id: orders::draw_status(&mut r),
                    is_deleted: r.random_bool(0.02),
                    revision: 0,
                }
            })
            .collect();
        Self { config, orders, products, customers, mutations: 0 }
    }

    /// An order head by id.
    pub fn order_head(&self, id: u32) -> Option<&OrderHead> {
        self.orders.binary_search_by_key(&id, |o| o.id).ok().map(|i| &self.orders[i])
    }

    /// A product head by id.
    pub fn product_head(&self, id: u32) -> Option<&ProductHead> {
        id.checked_sub(1).and_then(|i| self.products.get(i as usize))
    }

    /// A customer head by id.
    pub fn customer_head(&self, id: u32) -> Option<&CustomerHead> {
        id.checked_sub(1).and_then(|i| self.customers.get(i as usize))
    }

    /// Applies runtime changes at `now`: new orders, status updates, archives (every changed
    /// order gets `date_modified = now`), deleted products and customers, then updated products
    /// and customers (renamed, `date_modified = now`). Returns the ids touched.
    pub fn mutate(&mut self, changes: Mutations, now: DateTime<Utc>) -> Touched {
        self.mutations += 1;
        let mut r = rng(self.config.seed, Kind::Mutation, self.mutations);
        let now = now.timestamp();
        let mut touched = Touched::default();
        for _ in 0..changes.inserts {
            let id = self.orders.last().map_or(FIRST_ORDER_ID, |o| o.id + 1);
            let customers = self.config.sizes.customers;
            let customer_id = if customers == 0 || r.random_bool(0.3) { 0 } else { r.random_range(1..=customers) };
            self.orders.push(OrderHead {
                id,
                customer_id,
                created: now,
                modified: now,
                status_id: 11,
                is_deleted: false,
                revision: 0,
            });
            touched.orders.push(id);
            touched.inserted_orders.push(id);
        }
        let live: Vec<usize> = (0..self.orders.len()).filter(|i| !self.orders[*i].is_deleted).collect();
        for (n, archive) in std::iter::repeat_n(false, changes.updates as usize)
            .chain(std::iter::repeat_n(true, changes.archives as usize))
            .enumerate()
        {
            if live.is_empty() {
                break;
            }
            let index = live[(r.random_range(0..live.len()) + n) % live.len()];
            let order = &mut self.orders[index];
            if archive {
                order.is_deleted = true;
                touched.archived_orders.push(order.id);
            } else {
                let previous = order.status_id;
                order.revision = order.revision.wrapping_add(1);
                order.status_id = orders::next_status(order.status_id);
                touched.updated_orders.push(order.id);
                touched.status_changes.push(StatusChange {
                    order_id: order.id,
                    previous_status_id: previous,
                    new_status_id: order.status_id,
                });
            }
            order.modified = now.max(order.modified + 1);
            touched.orders.push(order.id);
        }
        touched.products =
            delete_some(&mut r, &mut self.products, changes.product_deletes, |p| &mut p.deleted, |p| p.id);
        touched.customers =
            delete_some(&mut r, &mut self.customers, changes.customer_deletes, |c| &mut c.deleted, |c| c.id);
        for index in pick_live(&mut r, &self.products, changes.product_updates, |p| p.deleted) {
            let product = &mut self.products[index];
            product.revision = product.revision.wrapping_add(1).max(1);
            product.modified = now.max(product.modified + 1);
            touched.updated_products.push(product.id);
        }
        for index in pick_live(&mut r, &self.customers, changes.customer_updates, |c| c.deleted) {
            let customer = &mut self.customers[index];
            customer.revision = customer.revision.wrapping_add(1).max(1);
            customer.modified = now.max(customer.modified + 1);
            touched.updated_customers.push(customer.id);
        }
        touched.updated_products.sort_unstable();
        touched.updated_customers.sort_unstable();
        touched
    }
}

/// Indexes of up to `count` distinct random records that are not deleted.
fn pick_live<T>(r: &mut impl Rng, heads: &[T], count: u32, deleted: impl Fn(&T) -> bool) -> Vec<usize> {
    let mut live: Vec<usize> = (0..heads.len()).filter(|i| !deleted(&heads[*i])).collect();
    let mut picked = Vec::new();
    for _ in 0..count {
        if live.is_empty() {
            break;
        }
        picked.push(live.swap_remove(r.random_range(0..live.len())));
    }
    picked
}

/// Marks `count` random records that are not deleted yet as deleted; returns their ids.
fn delete_some<T>(
    r: &mut impl Rng,
    heads: &mut [T],
    count: u32,
    deleted: impl Fn(&mut T) -> &mut bool,
    id: impl Fn(&T) -> u32,
) -> Vec<u32> {
    let mut live: Vec<usize> = Vec::new();
    for (i, head) in heads.iter_mut().enumerate() {
        if !*deleted(head) {
            live.push(i);
        }
    }
    let mut ids = Vec::new();
    for _ in 0..count {
        if live.is_empty() {
            break;
        }
        let index = live.swap_remove(r.random_range(0..live.len()));
        *deleted(&mut heads[index]) = true;
        ids.push(id(&heads[index]));
    }
    ids.sort_unstable();
    ids
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Sizes;

    fn dataset(orders: u32) -> Dataset {
        Dataset::generate(StoreConfig::from_seed(3, Sizes { orders, products: 20, customers: 30, categories: 5 }))
    }

    #[test]
    fn generation_is_deterministic_and_ordered() {
        let a = dataset(1000);
        assert_eq!(a.orders, dataset(1000).orders);
        assert!(a.orders.windows(2).all(|w| w[0].id + 1 == w[1].id && w[0].created <= w[1].created));
        assert!(a.orders.iter().all(|o| o.modified >= o.created));
        assert!(a.orders.iter().any(|o| o.customer_id == 0) && a.orders.iter().any(|o| o.customer_id > 0));
        assert!(a.orders.iter().any(|o| o.is_deleted));
    }

    #[test]
    fn a_hundred_thousand_orders_stay_compact() {
        let big = dataset(100_000);
        assert_eq!(big.orders.len(), 100_000);
        assert!(std::mem::size_of::<OrderHead>() <= 32);
    }

    #[test]
    fn mutations_insert_update_and_archive() {
        let mut d = dataset(50);
        let now = Utc::now();
        let touched = d.mutate(Mutations { inserts: 2, updates: 3, archives: 1, ..Default::default() }, now).orders;
        assert_eq!(touched.len(), 6);
        assert_eq!(d.orders.len(), 52);
        assert_eq!(d.orders.last().map(|o| o.id), Some(FIRST_ORDER_ID + 51));
        assert!(touched.iter().all(|id| { d.order_head(*id).is_some_and(|o| o.modified >= now.timestamp()) }));
    }

    #[test]
    fn mutations_delete_products_and_customers_once_each() {
        let mut d = dataset(10);
        let touched =
            d.mutate(Mutations { product_deletes: 3, customer_deletes: 30, ..Default::default() }, Utc::now());
        assert_eq!(touched.products.len(), 3);
        assert_eq!(touched.customers.len(), 30, "every customer, each once");
        assert!(touched.products.iter().all(|id| d.product_head(*id).is_some_and(|p| p.deleted)));
        assert_eq!(d.products.iter().filter(|p| p.deleted).count(), 3);
        let again = d.mutate(Mutations { customer_deletes: 1, ..Default::default() }, Utc::now());
        assert!(again.customers.is_empty(), "nothing left to delete");
    }

    #[test]
    fn updates_rename_live_records_and_report_what_changed() {
        let mut d = dataset(40);
        let seed = d.config.seed;
        let before_name = |d: &Dataset, id: u32| d.product_head(id).map(|p| catalog::current_name(seed, p));
        let deleted = d.mutate(Mutations { product_deletes: 5, ..Default::default() }, Utc::now()).products;
        let names: Vec<_> = (1..=20).map(|id| before_name(&d, id)).collect();
        let now = Utc::now();
        let touched = d.mutate(
            Mutations { product_updates: 4, customer_updates: 3, updates: 2, archives: 1, ..Default::default() },
            now,
        );
        assert_eq!(touched.updated_products.len(), 4);
        assert_eq!(touched.updated_customers.len(), 3);
        assert!(touched.updated_products.iter().all(|id| !deleted.contains(id)), "only live products change");
        for id in &touched.updated_products {
            let head = d.product_head(*id).expect("product");
            assert!(head.modified >= now.timestamp());
            assert_ne!(Some(catalog::current_name(seed, head)), names[*id as usize - 1], "renamed");
        }
        for id in &touched.updated_customers {
            let head = d.customer_head(*id).expect("customer");
            let was = customers::Person::generate(seed, *id);
            assert_ne!(customers::Person::current(seed, head).last_name, was.last_name);
            assert_eq!(customers::Person::current(seed, head).email, was.email);
        }
        assert_eq!(touched.updated_orders.len(), 2);
        assert_eq!(touched.status_changes.len(), 2);
        assert_eq!(touched.archived_orders.len(), 1);
        assert_eq!(touched.orders.len(), 3);
        let first = touched.status_changes[0];
        assert_eq!(first.new_status_id, orders::next_status(first.previous_status_id));
        let mut again = dataset(40);
        again.mutate(Mutations { product_deletes: 5, ..Default::default() }, Utc::now());
        let replay = again.mutate(
            Mutations { product_updates: 4, customer_updates: 3, updates: 2, archives: 1, ..Default::default() },
            now,
        );
        assert_eq!(replay, touched, "deterministic");
    }
}
