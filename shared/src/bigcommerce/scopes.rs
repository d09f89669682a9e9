//! The five read-only scopes commerce-link needs, with the names merchants see.

use serde::{Deserialize, Serialize};

/// A store API account scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Scope {
    /// Orders.
    Orders,
    /// Order Transactions.
    Transactions,
    /// Products.
    Products,
    /// Information & Settings.
    Information,
    /// Customers.
    Customers,
}

impl Scope {
    /// All five, in the order the Link page lists them.
    pub const ALL: [Scope; 5] =
        [Scope::Orders, Scope::Transactions, Scope::Products, Scope::Information, Scope::Customers];

    /// The name in BigCommerce's control panel.
    pub fn ui_name(self) -> &'static str {
        match self {
            Scope::Orders => "Orders",
            Scope::Transactions => "Order Transactions",
            Scope::Products => "Products",
            Scope::Information => "Information & Settings",
            Scope::Customers => "Customers",
        }
    }

    /// The scope parameter.
    pub fn param(self) -> &'static str {
        match self {
            Scope::Orders => "store_v2_orders_read_only",
            Scope::Transactions => "store_v2_transactions_read_only",
            Scope::Products => "store_v2_products_read_only",
            Scope::Information => "store_v2_information_read_only",
            Scope::Customers => "store_v2_customers_read_only",
        }
    }

    /// The cheap request that needs exactly this scope, and the statuses that mean "granted".
    pub fn probe(self) -> (&'static str, &'static [u16]) {
        match self {
            Scope::Information => ("v2/store", &[200]),
            Scope::Orders => ("v2/orders?limit=1", &[200, 204]),
            // Order 0 never exists: 404 (or 204) after the scope check means the scope is granted.
            Scope::Transactions => ("v3/orders/0/transactions", &[200, 204, 404]),
            Scope::Products => ("v3/catalog/products?limit=1", &[200]),
            Scope::Customers => ("v3/customers?limit=1", &[200]),
        }
    }
}
