//! A store's sales per month, aggregated from its order summaries when an orders sync seals, so
//! the portal's chart reads one item whatever the store's size.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Where an order's BigCommerce status id is, in its record and its summary.
pub const STATUS_ID_POINTER: &str = "/supplementalData/content/bigcommerce/statusId";
/// BigCommerce's status id of a cancelled order.
pub const CANCELLED_STATUS_ID: u64 = 5;
/// Name of the aggregate item.
pub const SALES_AGGREGATE: &str = "sales-by-month";

/// Net sales (`totalAmount` less refunds) per currency and `YYYY-MM` of `createdDate`,
/// cancelled orders left out.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SalesByMonth {
    /// Currency -> month -> net sales.
    pub months: BTreeMap<String, BTreeMap<String, Decimal>>,
    /// Orders counted.
    pub orders: u64,
    /// Cancelled orders left out.
    pub cancelled: u64,
    /// Orders without a creation date or amount, left out.
    pub undated: u64,
    /// When it was computed.
    pub computed: Option<DateTime<Utc>>,
}

fn decimal(value: &Value) -> Option<Decimal> {
    match value {
        Value::Number(n) => n.to_string().parse().ok(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

impl SalesByMonth {
    /// Counts one order summary (Codat JSON).
    pub fn add(&mut self, order: &Value) {
        if order.pointer(STATUS_ID_POINTER).and_then(Value::as_u64) == Some(CANCELLED_STATUS_ID) {
            self.cancelled += 1;
            return;
        }
        let month = order["createdDate"].as_str().filter(|d| d.len() >= 7 && d.is_char_boundary(7)).map(|d| &d[..7]);
        let (Some(month), Some(total)) = (month, decimal(&order["totalAmount"])) else {
            self.undated += 1;
            return;
        };
        // Codat's totalRefund is negative (money returned); its size is subtracted.
        let refund = decimal(&order["totalRefund"]).unwrap_or_default().abs();
        let currency = order["currency"].as_str().unwrap_or("").to_string();
        *self.months.entry(currency).or_default().entry(month.to_string()).or_default() += total - refund;
        self.orders += 1;
    }

    /// The currency with the most months of sales (the store's), and its months in order.
    pub fn main_currency(&self) -> Option<(&str, &BTreeMap<String, Decimal>)> {
        self.months.iter().max_by_key(|(_, months)| months.len()).map(|(c, m)| (c.as_str(), m))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn net_sales_by_month_leave_cancelled_orders_out() {
        let mut sales = SalesByMonth::default();
        for order in [
            json!({"id": "1", "currency": "USD", "totalAmount": 100.5, "totalRefund": -20.25, "createdDate": "2026-01-03T10:00:00Z"}),
            json!({"id": "2", "currency": "USD", "totalAmount": 50, "totalRefund": 0, "createdDate": "2026-01-31T23:59:59Z"}),
            json!({"id": "3", "currency": "USD", "totalAmount": 10, "createdDate": "2026-02-01T00:00:00Z"}),
            json!({"id": "4", "currency": "USD", "totalAmount": 999, "createdDate": "2026-02-02T00:00:00Z",
                "supplementalData": {"content": {"bigcommerce": {"statusId": 5}}}}),
            json!({"id": "5", "currency": "USD", "totalAmount": 1}),
        ] {
            sales.add(&order);
        }
        let (currency, months) = sales.main_currency().expect("sales");
        assert_eq!(currency, "USD");
        assert_eq!(months.get("2026-01"), Some(&"130.25".parse().expect("d")));
        assert_eq!(months.get("2026-02"), Some(&Decimal::from(10)));
        assert_eq!((sales.orders, sales.cancelled, sales.undated), (3, 1, 1));
    }
}
