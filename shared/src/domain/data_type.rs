//! Codat's commerce data types, and which of them BigCommerce provides.

use serde::{Deserialize, Serialize};

/// Codat's commerce data types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum DataType {
    /// Store information (`GET /v2/store`).
    #[serde(rename = "commerce-companyInfo")]
    CompanyInfo,
    /// Product categories.
    #[serde(rename = "commerce-productCategories")]
    ProductCategories,
    /// Products with variants.
    #[serde(rename = "commerce-products")]
    Products,
    /// Customers with addresses.
    #[serde(rename = "commerce-customers")]
    Customers,
    /// Orders with line items.
    #[serde(rename = "commerce-orders")]
    Orders,
    /// Order transactions.
    #[serde(rename = "commerce-transactions")]
    Transactions,
    /// Payments (including refunds).
    #[serde(rename = "commerce-payments")]
    Payments,
    /// Payment methods.
    #[serde(rename = "commerce-paymentMethods")]
    PaymentMethods,
    /// Not available from BigCommerce with the requested scopes.
    #[serde(rename = "commerce-locations")]
    Locations,
    /// Not available from BigCommerce with the requested scopes.
    #[serde(rename = "commerce-taxComponents")]
    TaxComponents,
    /// Not available from BigCommerce with the requested scopes.
    #[serde(rename = "commerce-disputes")]
    Disputes,
}

impl DataType {
    /// Every commerce data type, in default sync order.
    pub const ALL: [DataType; 11] = [
        DataType::CompanyInfo,
        DataType::ProductCategories,
        DataType::Products,
        DataType::Customers,
        DataType::Orders,
        DataType::Transactions,
        DataType::Payments,
        DataType::PaymentMethods,
        DataType::Locations,
        DataType::TaxComponents,
        DataType::Disputes,
    ];

    /// Codat's key, e.g. `commerce-orders`.
    pub fn key(self) -> &'static str {
        match self {
            DataType::CompanyInfo => "commerce-companyInfo",
            DataType::ProductCategories => "commerce-productCategories",
            DataType::Products => "commerce-products",
            DataType::Customers => "commerce-customers",
            DataType::Orders => "commerce-orders",
            DataType::Transactions => "commerce-transactions",
            DataType::Payments => "commerce-payments",
            DataType::PaymentMethods => "commerce-paymentMethods",
            DataType::Locations => "commerce-locations",
            DataType::TaxComponents => "commerce-taxComponents",
            DataType::Disputes => "commerce-disputes",
        }
    }

    /// Parses Codat's key (exact case).
    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|d| d.key() == raw)
    }

    /// Whether BigCommerce provides this data type with the five read-only scopes.
    pub fn supported(self) -> bool {
        !matches!(self, DataType::Locations | DataType::TaxComponents | DataType::Disputes)
    }
}
