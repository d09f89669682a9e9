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
    /// Refunds the store lists (`v3/orders/payment_actions/refunds`).
    pub refunds: usize,
}

/// A JSON amount (number or v2 money string) in cents (0 when absent).
pub fn cents(value: &Value) -> i64 {
    let amount = value.as_f64().or_else(|| value.as_str().and_then(|s| s.parse().ok())).unwrap_or_default();
    (amount * 100.0).round() as i64
}

/// One order with its line items, transactions and refunds, as the store's API serves them.
#[derive(Debug, Clone, Default)]
pub struct ExportedOrder {
    /// The v2 order.
    pub order: Value,
    /// Its v2 order products (line items).
    pub line_items: Vec<Value>,
    /// Its v3 transactions.
    pub transactions: Vec<Value>,
    /// Its v3 refunds.
    pub refunds: Vec<Value>,
}

/// Every record of a store as its API serves it.
#[derive(Debug, Clone, Default)]
pub struct Export {
    /// Orders (archived ones included), with what belongs to them.
    pub orders: Vec<ExportedOrder>,
    /// v3 products with variants.
    pub products: Vec<Value>,
    /// v3 tree categories.
    pub categories: Vec<Value>,
    /// v3 customers with addresses.
    pub customers: Vec<Value>,
}

/// The store's export, parsed.
pub fn export(store: &sandbox::Store) -> Export {
    let mut text = Vec::new();
    // Writing into a Vec cannot fail.
    let _ = sandbox::api::export(&store.data(), "http://sandbox.invalid", &mut text);
    let mut export = Export::default();
    for line in text.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
        let Ok(line) = serde_json::from_slice::<Value>(line) else { continue };
        let record = line["record"].clone();
        let order = export.orders.last_mut();
        match line["type"].as_str() {
            Some("order") => export.orders.push(ExportedOrder { order: record, ..Default::default() }),
            Some("order_product") => order.into_iter().for_each(|o| o.line_items.push(record.clone())),
            Some("transaction") => order.into_iter().for_each(|o| o.transactions.push(record.clone())),
            Some("refund") => order.into_iter().for_each(|o| o.refunds.push(record.clone())),
            Some("customer") => export.customers.push(record),
            Some("product") => export.products.push(record),
            Some("category") => export.categories.push(record),
            _ => {}
        }
    }
    export
}

/// The ground truth of `store`.
pub fn of_store(store: &sandbox::Store) -> Truth {
    let export = export(store);
    let refunds = export.orders.iter().map(|o| o.refunds.len()).sum();
    let mut counts: BTreeMap<DataType, usize> = BTreeMap::from([
        (DataType::Customers, export.customers.len()),
        (DataType::Products, export.products.len()),
        (DataType::ProductCategories, export.categories.len()),
    ]);
    // Archived orders are not listed, so neither they nor their money are synced.
    let orders: Vec<&ExportedOrder> = export.orders.iter().filter(|o| o.order["is_deleted"] != true).collect();
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
    truth.refunds = refunds;
    truth
}

fn add_money(o: &ExportedOrder, payments: &mut Amounts, txns: &mut Amounts) {
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
