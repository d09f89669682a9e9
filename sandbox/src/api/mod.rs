//! The BigCommerce endpoints: routing, the v2/v3 response conventions (bare arrays and 204 past
//! the end in v2, `data` + `meta.pagination` in v3) and one file per resource.

mod catalog;
mod customers;
mod export;
mod hooks;
mod orders;
mod params;
mod reply;
mod store_info;

use chrono::Utc;
use hyper::Method;
use serde_json::json;

pub use customers::encode_cursor;
pub use export::export;
pub use params::{Params, parse_instant};
pub use reply::Reply;
pub use store_info::store_id;

pub(crate) use hooks::{Caller, hooks};

use crate::config::Scope;
use crate::data::Dataset;

/// What an endpoint answers, or the error reply that ends it early.
type Result<T> = std::result::Result<T, Reply>;

/// API generation, which decides error shapes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    /// v2: errors are arrays.
    V2,
    /// v3: errors are objects.
    V3,
}

/// An endpoint of the sandbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// `GET v2/store`
    Store,
    /// `GET v2/time`
    Time,
    /// `GET v2/orders`
    Orders,
    /// `GET v2/orders/count`
    OrdersCount,
    /// `GET v2/orders/{id}`
    Order(String),
    /// `GET v2/orders/{id}/products`
    OrderProducts(String),
    /// `GET v2/orders/{id}/shipping_addresses`
    OrderShippingAddresses(String),
    /// `GET v2/orders/{id}/coupons`
    OrderCoupons(String),
    /// `GET v3/orders/{id}/transactions`
    Transactions(String),
    /// `GET v3/orders/payment_actions/refunds`
    Refunds,
    /// `GET v3/catalog/products`
    Products,
    /// `GET v3/catalog/trees/categories`
    TreeCategories,
    /// `GET v3/catalog/categories`
    Categories,
    /// `GET v3/customers`
    Customers,
    /// `GET|POST v3/hooks`
    Hooks,
    /// `GET|PUT|DELETE v3/hooks/{id}`
    Hook(String),
}

impl Endpoint {
    /// Recognises a path below `/stores/{hash}/`.
    pub fn parse(segments: &[&str]) -> Option<Self> {
        Some(match segments {
            ["v2", "store"] => Self::Store,
            ["v2", "time"] => Self::Time,
            ["v2", "orders"] => Self::Orders,
            ["v2", "orders", "count"] => Self::OrdersCount,
            ["v2", "orders", id] => Self::Order((*id).to_string()),
            ["v2", "orders", id, "products"] => Self::OrderProducts((*id).to_string()),
            ["v2", "orders", id, "shipping_addresses" | "shippingaddresses"] => {
                Self::OrderShippingAddresses((*id).to_string())
            }
            ["v2", "orders", id, "coupons"] => Self::OrderCoupons((*id).to_string()),
            ["v3", "orders", "payment_actions", "refunds"] => Self::Refunds,
            ["v3", "orders", id, "transactions"] => Self::Transactions((*id).to_string()),
            ["v3", "catalog", "products"] => Self::Products,
            ["v3", "catalog", "trees", "categories"] => Self::TreeCategories,
            ["v3", "catalog", "categories"] => Self::Categories,
            ["v3", "customers"] => Self::Customers,
            ["v3", "hooks"] => Self::Hooks,
            ["v3", "hooks", id] => Self::Hook((*id).to_string()),
            _ => return None,
        })
    }

    /// The metrics key, e.g. `GET v2/orders/{id}`.
    pub fn key(&self) -> &'static str {
        match self {
            Self::Store => "GET v2/store",
            Self::Time => "GET v2/time",
            Self::Orders => "GET v2/orders",
            Self::OrdersCount => "GET v2/orders/count",
            Self::Order(_) => "GET v2/orders/{id}",
            Self::OrderProducts(_) => "GET v2/orders/{id}/products",
            Self::OrderShippingAddresses(_) => "GET v2/orders/{id}/shipping_addresses",
            Self::OrderCoupons(_) => "GET v2/orders/{id}/coupons",
            Self::Transactions(_) => "GET v3/orders/{id}/transactions",
            Self::Refunds => "GET v3/orders/payment_actions/refunds",
            Self::Products => "GET v3/catalog/products",
            Self::TreeCategories => "GET v3/catalog/trees/categories",
            Self::Categories => "GET v3/catalog/categories",
            Self::Customers => "GET v3/customers",
            Self::Hooks => "GET v3/hooks",
            Self::Hook(_) => "GET v3/hooks/{id}",
        }
    }

    /// The metrics key of a request with `method`: `POST v3/hooks`, `DELETE v3/hooks/{id}`;
    /// the read-only endpoints count every method under their `GET` key.
    pub fn metrics_key(&self, method: &Method) -> String {
        match self {
            Self::Hooks => format!("{method} v3/hooks"),
            Self::Hook(_) => format!("{method} v3/hooks/{{id}}"),
            other => other.key().to_string(),
        }
    }

    /// Whether the endpoint answers `method` (every other one gets 405).
    pub fn allows(&self, method: &Method) -> bool {
        let extra: &[Method] = match self {
            Self::Hooks => &[Method::POST],
            Self::Hook(_) => &[Method::PUT, Method::DELETE],
            _ => &[],
        };
        method == Method::GET || method == Method::HEAD || extra.contains(method)
    }

    /// Whether a request with `method` carries a JSON body to read.
    pub fn takes_body(&self, method: &Method) -> bool {
        matches!((self, method), (Self::Hooks, &Method::POST) | (Self::Hook(_), &Method::PUT))
    }

    /// Whether it is a webhook endpoint (answered from the store's hooks, not its data).
    pub fn is_hooks(&self) -> bool {
        matches!(self, Self::Hooks | Self::Hook(_))
    }

    /// Scopes of which any one grants access; none for the hooks, which any live token may use
    /// (BigCommerce's "default scope").
    pub fn scopes(&self) -> &'static [Scope] {
        match self {
            Self::Store | Self::Time => &[Scope::Information],
            Self::Orders
            | Self::OrdersCount
            | Self::Order(_)
            | Self::OrderProducts(_)
            | Self::OrderShippingAddresses(_)
            | Self::OrderCoupons(_) => &[Scope::Orders],
            Self::Transactions(_) => &[Scope::Transactions],
            Self::Refunds => &[Scope::Transactions, Scope::Orders],
            Self::Products | Self::TreeCategories | Self::Categories => &[Scope::Products],
            Self::Customers => &[Scope::Customers],
            Self::Hooks | Self::Hook(_) => &[],
        }
    }

    /// Whether it is a paged list of store data (subject to the repeat-page, short-listing and
    /// mutate-per-page faults). The hooks list is not.
    pub fn is_list(&self) -> bool {
        matches!(
            self,
            Self::Orders
                | Self::OrderProducts(_)
                | Self::Refunds
                | Self::Products
                | Self::Customers
                | Self::TreeCategories
                | Self::Categories
        )
    }
}

/// The version a path belongs to.
pub fn version_of(segments: &[&str]) -> Version {
    if segments.first() == Some(&"v2") { Version::V2 } else { Version::V3 }
}

/// Answers a data endpoint (the hooks are answered by the server from the store).
/// `page_override` replaces the requested page (the repeat-page fault).
pub fn serve(ds: &Dataset, endpoint: &Endpoint, params: &Params, base: &str, page_override: Option<usize>) -> Reply {
    let result = match endpoint {
        Endpoint::Store => Ok(store_info::store_info(ds, base)),
        Endpoint::Time => Ok(Reply::ok(json!({"time": Utc::now().timestamp()}))),
        Endpoint::Orders => orders::orders(ds, params, base, page_override),
        Endpoint::OrdersCount => orders::orders_count(ds, params),
        Endpoint::Order(id) => orders::order(ds, id, params, base),
        Endpoint::OrderProducts(id) => orders::order_products(ds, id, params, page_override),
        Endpoint::OrderShippingAddresses(id) => {
            orders::order_sub(ds, id, params, |body| vec![body.shipping_address(base)])
        }
        Endpoint::OrderCoupons(id) => orders::order_sub(ds, id, params, |body| body.coupons()),
        Endpoint::Transactions(id) => orders::transactions(ds, id),
        Endpoint::Refunds => orders::refunds(ds, params, page_override),
        Endpoint::Products => catalog::products(ds, params, page_override),
        Endpoint::TreeCategories => catalog::tree_categories(ds, params, page_override),
        Endpoint::Categories => catalog::legacy_categories(ds, params, page_override),
        Endpoint::Customers => customers::customers(ds, params, page_override),
        Endpoint::Hooks | Endpoint::Hook(_) => {
            Err(Reply::error(Version::V3, 404, "Hooks are answered from the store, not its data"))
        }
    };
    result.unwrap_or_else(|reply| reply)
}
