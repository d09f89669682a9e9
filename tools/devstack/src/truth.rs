//! Ground truth: what a complete first sync of a sandbox store must store, worked out from the
//! store's export (every record as its API serves it) by rules written here a second time,
//! independently of the worker's mapping code (docs/mapping.md §4.3 and §5.2). The demo, the
//! benchmark and the tests compare what was stored against it.

use std::collections::BTreeMap;

use serde_json::Value;
use shared::domain::DataType;

/// Record id → amount in cents.
pub type Amounts = BTreeMap<String, i64>;

/// What a full sync of a store must give.
#[derive(Debug, Clone, Default)]
pub struct Truth {
    /// Records per data type.
    pub counts: BTreeMap<DataType, usize>,
    /// Payments: id → amount in cents.
    pub payments: Amounts,
    /// Transactions: id → signed amount in cents.
    pub transactions: Amounts,
}

/// A JSON amount (number or v2 money string) in cents (0 when absent).
pub fn cents(value: &Value) -> i64 {
    let amount = value.as_f64().or_else(|| value.as_str().and_then(|s| s.parse().ok())).unwrap_or_default();
    (amount * 100.0).round() as i64
}

/// One order with its transactions and refunds, as the export lists them.
#[derive(Default)]
struct OrderMoney {
    order: Value,
    transactions: Vec<Value>,
    refunds: Vec<Value>,
}

/// The ground truth of `store`.
pub fn of_store(store: &sandbox::Store) -> Truth {
    let mut export = Vec::new();
    // Writing into a Vec cannot fail.
    let _ = sandbox::api::export(&store.data(), "http://sandbox.invalid", &mut export);
    let mut counts: BTreeMap<DataType, usize> = BTreeMap::new();
    let mut orders: Vec<OrderMoney> = Vec::new();
    for line in export.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
        let Ok(line) = serde_json::from_slice::<Value>(line) else { continue };
        let record = line["record"].clone();
        match line["type"].as_str() {
            Some("order") => orders.push(OrderMoney { order: record, ..Default::default() }),
            Some("transaction") => orders.last_mut().into_iter().for_each(|o| o.transactions.push(record.clone())),
            Some("refund") => orders.last_mut().into_iter().for_each(|o| o.refunds.push(record.clone())),
            Some("customer") => *counts.entry(DataType::Customers).or_default() += 1,
            Some("product") => *counts.entry(DataType::Products).or_default() += 1,
            Some("category") => *counts.entry(DataType::ProductCategories).or_default() += 1,
            _ => {}
        }
    }
    // Archived orders are not listed, so neither they nor their money are synced.
    orders.retain(|o| o.order["is_deleted"] != true);
    let mut truth = Truth::default();
    for o in &orders {
        add_money(o, &mut truth.payments, &mut truth.transactions);
    }
    counts.insert(DataType::CompanyInfo, 1);
    counts.insert(DataType::Orders, orders.len());
    counts.insert(DataType::Payments, truth.payments.len());
    counts.insert(DataType::Transactions, truth.transactions.len());
    counts.insert(DataType::PaymentMethods, 2);
    truth.counts = counts;
    truth
}

fn add_money(o: &OrderMoney, payments: &mut Amounts, txns: &mut Amounts) {
    let id = &o.order["id"];
    let list = &o.transactions;
    let captured: Vec<&Value> =
        list.iter().filter(|t| t["event"] == "capture").map(|t| &t["reference_transaction_id"]).collect();
    for t in list {
        let sign = if t["event"] == "refund" { -1 } else { 1 };
        txns.insert(format!("{id}_{}", t["id"]), sign * cents(&t["amount"]));
        let charge = match t["event"].as_str() {
            Some("purchase" | "capture" | "pending") => true,
            Some("authorization") => !captured.contains(&&t["id"]),
            _ => false,
        };
        if charge {
            payments.insert(format!("{id}_{}", t["id"]), cents(&t["amount"]));
        }
    }
    let order = &o.order;
    let (credit, gift) = (cents(&order["store_credit_amount"]), cents(&order["gift_certificate_amount"]));
    if order["status_id"] != 0 {
        let rest = cents(&order["total_inc_tax"]) - credit - gift;
        if list.is_empty() && rest > 0 {
            payments.insert(format!("{id}_order"), rest);
        }
        if credit > 0 && !list.iter().any(|t| t["method"] == "store_credit") {
            payments.insert(format!("{id}_store_credit"), credit);
        }
        if gift > 0 && !list.iter().any(|t| t["method"] == "gift_certificate") {
            payments.insert(format!("{id}_gift_certificate"), gift);
        }
    }
    for r in &o.refunds {
        for p in r["payments"].as_array().into_iter().flatten() {
            let key = format!("{id}_{}_{}_refund", r["id"], p["id"]);
            payments.insert(key.clone(), -cents(&p["amount"]));
            let paid_by = p["transaction_id"].as_str().and_then(|s| s.parse::<u64>().ok());
            if !list.iter().any(|t| t["id"].as_u64() == paid_by) {
                txns.insert(key, -cents(&p["amount"]));
            }
        }
    }
}
