//! Pure mappings of one order's money movements (v3 transactions and refunds, v2 order) to
//! commerce-payments and commerce-transactions. Each rule is written down in `docs/mapping.md`
//! §4 and §5.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde_json::{Value, json};

use super::{money, number, order_currency, utc, v2_date};
use crate::codat::timestamp;

/// Codat's `dueDate` for payments without one, as its BigCommerce integration reports it.
const NO_DUE_DATE: &str = "0001-01-01T00:00:00";

/// What one order's payments and transactions are mapped from.
pub struct OrderMoney<'a> {
    /// The v2 order (line items not needed).
    pub order: &'a Value,
    /// `GET v3/orders/{id}/transactions` (empty when it answered 204).
    pub transactions: &'a [Value],
    /// The order's entries of `GET v3/orders/payment_actions/refunds`.
    pub refunds: &'a [Value],
}

impl OrderMoney<'_> {
    fn order_id(&self) -> String {
        self.order["id"].as_u64().map(|id| id.to_string()).unwrap_or_default()
    }

    fn has_method(&self, method: &str) -> bool {
        self.transactions.iter().any(|t| t["method"] == method)
    }

    /// Every refund payment: (refund, payment).
    fn refund_payments(&self) -> impl Iterator<Item = (&Value, &Value)> {
        self.refunds.iter().flat_map(|r| r["payments"].as_array().into_iter().flatten().map(move |p| (r, p)))
    }
}

/// A v3 id (number or string) as text.
fn text_id(value: &Value) -> String {
    match value {
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.clone(),
        _ => String::new(),
    }
}

/// Codat's payment type for a v3 transaction's `method` and `gateway` (§4.4).
fn payment_type(method: &str, gateway: &str) -> &'static str {
    match (method, gateway) {
        ("credit_card" | "bigpay_token" | "token" | "nonce", _) => "OnlineCard",
        ("apple_pay_card" | "apple_pay_token", _) => "Mobile",
        ("electronic_wallet", "paypalexpress" | "paypalpaymentsprous" | "paypalpaymentsprouk") => "Paypal",
        ("store_credit", _) => "StoreCredit",
        ("gift_certificate", _) => "Prepaid",
        ("offline", "cod" | "instore") => "Cash",
        ("custom", _) => "Custom",
        _ => "Unknown",
    }
}

/// Codat's payment type for a v2 order's `payment_method` text (§4.4, fallback row).
fn v2_payment_type(method: &str) -> &'static str {
    let lower = method.to_ascii_lowercase();
    match lower.as_str() {
        "cash" => "Cash",
        "credit card" | "test payment gateway" => "OnlineCard",
        "store credit" => "StoreCredit",
        "gift certificate" => "Prepaid",
        _ if lower.contains("paypal") => "Paypal",
        _ => "Unknown",
    }
}

/// Codat's payment status for a v2 order (§4.5, falling back to `status_id`, §3.4).
fn v2_payment_status(order: &Value) -> &'static str {
    match order["payment_status"].as_str().unwrap_or_default().to_ascii_lowercase().as_str() {
        "captured" | "paid" | "refunded" | "partially refunded" => "Paid",
        "authorized" => "Authorized",
        "pending" | "capture pending" | "held for review" | "void pending" => "Pending",
        "declined" => "Failed",
        "void" => "Cancelled",
        _ => match order["status_id"].as_u64() {
            Some(0 | 1 | 7 | 12) => "Pending",
            Some(2 | 3 | 4 | 8 | 9 | 10 | 11 | 13 | 14) => "Paid",
            Some(5) => "Cancelled",
            Some(6) => "Failed",
            _ => "Unknown",
        },
    }
}

/// The built-in payment method a v3 transaction method or refund provider stands for.
fn method_ref(method_or_provider: &str) -> Option<Value> {
    match method_or_provider {
        "store_credit" | "storecredit" => Some(json!({"id": "bigcommerce_store_credit", "name": "Store Credit"})),
        "gift_certificate" | "giftcertificate" => {
            Some(json!({"id": "bigcommerce_gift_certificate", "name": "Gift Certificate"}))
        }
        _ => None,
    }
}

fn payment(id: String, amount: Decimal, currency: &str, status: &str, provider: &str, synced: DateTime<Utc>) -> Value {
    json!({
        "id": id,
        "amount": number(amount, 2),
        "currency": currency,
        "status": status,
        "paymentProvider": provider,
        "dueDate": NO_DUE_DATE,
        "modifiedDate": timestamp(synced),
    })
}

/// commerce-payments of one order (§4.3): a charge per money-taking gateway transaction (an
/// authorization that was captured is the capture), or one synthesized from the order when the
/// store recorded no transaction; store credit and gift certificates no transaction covers;
/// and each refund payment as a negative payment.
pub fn payments(source: &OrderMoney<'_>, synced: DateTime<Utc>) -> Vec<Value> {
    let order = source.order;
    let order_id = source.order_id();
    let currency = order_currency(order);
    let mut out = Vec::new();
    let referenced = |event: &str| -> HashSet<String> {
        source
            .transactions
            .iter()
            .filter(|t| t["event"] == event)
            .map(|t| text_id(&t["reference_transaction_id"]))
            .collect()
    };
    let (captured, voided) = (referenced("capture"), referenced("void"));
    for t in source.transactions {
        let event = t["event"].as_str().unwrap_or_default();
        let id = text_id(&t["id"]);
        let status = match event {
            _ if !matches!(event, "purchase" | "capture" | "authorization" | "pending") => continue,
            "authorization" if captured.contains(&id) => continue,
            _ if t["status"] == "error" => "Failed",
            "purchase" | "capture" => "Paid",
            "authorization" if voided.contains(&id) => "Cancelled",
            "authorization" => "Authorized",
            _ => "Pending",
        };
        let method = t["method"].as_str().unwrap_or_default();
        let gateway = t["gateway"].as_str().unwrap_or_default();
        let own_currency = t["currency"].as_str().filter(|c| !c.is_empty()).unwrap_or(&currency);
        let mut p = payment(format!("{order_id}_{id}"), money(&t["amount"]), own_currency, status, gateway, synced);
        p["type"] = json!(payment_type(method, gateway));
        if let Some(reference) = method_ref(method) {
            p["paymentMethodRef"] = reference;
        }
        if let Some(created) = utc(&t["date_created"]) {
            p["createdDate"] = json!(created);
        }
        p["supplementalData"] = json!({"content": {"bigcommerce": {
            "event": event, "method": method, "gateway_transaction_id": t["gateway_transaction_id"], "test": t["test"],
        }}});
        out.push(p);
    }
    // An abandoned checkout (Incomplete, status 0) took no money.
    let taken = order["status_id"].as_u64() != Some(0);
    let created = v2_date(&order["date_created"]);
    let mut synthesized = |suffix: &str, amount: Decimal, provider: &str, kind: &str, reference: Option<Value>| {
        if !taken || amount <= Decimal::ZERO {
            return;
        }
        let mut p =
            payment(format!("{order_id}_{suffix}"), amount, &currency, v2_payment_status(order), provider, synced);
        p["type"] = json!(kind);
        if let Some(reference) = reference {
            p["paymentMethodRef"] = reference;
        }
        if let Some(created) = &created {
            p["createdDate"] = json!(created);
        }
        out.push(p);
    };
    let store_credit = money(&order["store_credit_amount"]);
    let gift = money(&order["gift_certificate_amount"]);
    if source.transactions.is_empty() {
        let method = order["payment_method"].as_str().unwrap_or_default();
        let rest = money(&order["total_inc_tax"]) - store_credit - gift;
        synthesized("order", rest, method, v2_payment_type(method), None);
    }
    if !source.has_method("store_credit") {
        synthesized("store_credit", store_credit, "storecredit", "StoreCredit", method_ref("storecredit"));
    }
    if !source.has_method("gift_certificate") {
        synthesized("gift_certificate", gift, "giftcertificate", "Prepaid", method_ref("giftcertificate"));
    }
    for (refund, p) in source.refund_payments() {
        let provider = p["provider_id"].as_str().unwrap_or_default();
        let status = if p["is_declined"] == true { "Failed" } else { "Paid" };
        let id = format!("{order_id}_{}_{}_refund", text_id(&refund["id"]), text_id(&p["id"]));
        let mut record = payment(id, -money(&p["amount"]).abs(), &currency, status, provider, synced);
        record["type"] = json!("Unknown");
        if let Some(reference) = method_ref(provider) {
            record["paymentMethodRef"] = reference;
        }
        if let Some(created) = utc(&refund["created"]) {
            record["createdDate"] = json!(created);
        }
        out.push(record);
    }
    out
}

/// commerce-transactions of one order (§5.2): every v3 transaction, signed (refunds negative),
/// and each refund payment that matches none of them (store credit, offline refunds).
pub fn transactions(source: &OrderMoney<'_>, synced: DateTime<Utc>) -> Vec<Value> {
    let order_id = source.order_id();
    let currency = order_currency(source.order);
    let source_ref = json!({"id": order_id, "type": "Order"});
    let mut out = Vec::new();
    let mut known = HashSet::new();
    for t in source.transactions {
        let id = text_id(&t["id"]);
        known.insert(id.clone());
        let event = t["event"].as_str().unwrap_or_default();
        let failed = t["status"] == "error";
        let amount = money(&t["amount"]).abs();
        let (kind, signed) = match event {
            "refund" => ("Refund", -amount),
            "purchase" | "capture" => ("Payment", amount),
            _ => ("Unknown", amount),
        };
        let mut record = json!({
            "id": format!("{order_id}_{id}"),
            "totalAmount": number(signed, 2),
            "currency": t["currency"].as_str().filter(|c| !c.is_empty()).unwrap_or(&currency),
            "type": if failed { "Unknown" } else { kind },
            "subType": if failed { format!("{event}_error") } else { event.to_string() },
            "transactionSourceRef": source_ref,
            "modifiedDate": timestamp(synced),
            "supplementalData": {"content": {"bigcommerce": {
                "gateway": t["gateway"], "method": t["method"], "gateway_transaction_id": t["gateway_transaction_id"],
                "test": t["test"], "reference_transaction_id": t["reference_transaction_id"],
            }}},
        });
        if let Some(created) = utc(&t["date_created"]) {
            record["createdDate"] = json!(created);
            record["sourceCreatedDate"] = json!(created);
        }
        out.push(record);
    }
    for (refund, p) in source.refund_payments() {
        if known.contains(&text_id(&p["transaction_id"])) {
            continue;
        }
        let mut record = json!({
            "id": format!("{order_id}_{}_{}_refund", text_id(&refund["id"]), text_id(&p["id"])),
            "totalAmount": number(-money(&p["amount"]).abs(), 2),
            "currency": currency,
            "type": "Refund",
            "subType": "refund",
            "transactionSourceRef": source_ref,
            "modifiedDate": timestamp(synced),
        });
        if let Some(created) = utc(&refund["created"]) {
            record["createdDate"] = json!(created);
            record["sourceCreatedDate"] = json!(created);
        }
        out.push(record);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order(status_id: u64, payment_status: &str) -> Value {
        json!({"id": 218, "status_id": status_id, "payment_status": payment_status, "currency_code": "USD",
               "default_currency_code": "USD", "total_inc_tax": "69.8400", "store_credit_amount": "0.0000",
               "gift_certificate_amount": "0.0000", "payment_method": "Cash",
               "date_created": "Sat, 24 Aug 2019 14:15:22 +0000"})
    }

    fn txn(id: u64, event: &str, amount: f64, reference: Option<u64>) -> Value {
        let mut t = json!({"id": id, "order_id": "218", "event": event, "method": "credit_card", "amount": amount,
                           "currency": "USD", "gateway": "stripe", "status": "ok", "test": false,
                           "gateway_transaction_id": format!("ch_{id}"), "date_created": "2019-08-24T14:15:22+00:00"});
        if let Some(r) = reference {
            t["reference_transaction_id"] = json!(r);
        }
        t
    }

    fn refund() -> Value {
        json!({"id": 12, "order_id": 218, "created": "2022-06-16T16:44:15+00:00", "payments": [
            {"id": 13, "provider_id": "storecredit", "amount": 50.0, "is_declined": false, "transaction_id": null}]})
    }

    #[test]
    fn a_captured_authorization_is_one_paid_payment_and_refunds_are_negative() {
        let o = order(14, "partially refunded");
        let txns = [txn(2181, "authorization", 69.84, None), txn(2182, "capture", 69.84, Some(2181))];
        let refunds = [refund()];
        let money = OrderMoney { order: &o, transactions: &txns, refunds: &refunds };
        let p = payments(&money, Utc::now());
        let ids: Vec<&str> = p.iter().filter_map(|p| p["id"].as_str()).collect();
        assert_eq!(ids, ["218_2182", "218_12_13_refund"]);
        assert_eq!(
            (p[0]["amount"].as_f64(), p[0]["status"].as_str(), p[0]["type"].as_str()),
            (Some(69.84), Some("Paid"), Some("OnlineCard"))
        );
        assert_eq!((p[1]["amount"].as_f64(), p[1]["status"].as_str()), (Some(-50.0), Some("Paid")));
        assert_eq!(p[1]["paymentMethodRef"]["id"], "bigcommerce_store_credit");
        assert_eq!(p[1]["createdDate"], "2022-06-16T16:44:15.000Z");
        assert_eq!(p[0]["dueDate"], NO_DUE_DATE);
    }

    #[test]
    fn a_voided_authorization_is_cancelled_and_errors_fail() {
        let o = order(5, "void");
        let txns = [txn(2181, "authorization", 10.0, None), txn(2182, "void", 10.0, Some(2181))];
        let p = payments(&OrderMoney { order: &o, transactions: &txns, refunds: &[] }, Utc::now());
        assert_eq!((p.len(), p[0]["status"].as_str()), (1, Some("Cancelled")));
        let mut declined = txn(2181, "purchase", 10.0, None);
        declined["status"] = json!("error");
        let txns = [declined];
        let p = payments(&OrderMoney { order: &order(6, "declined"), transactions: &txns, refunds: &[] }, Utc::now());
        assert_eq!(p[0]["status"], "Failed");
        let t =
            transactions(&OrderMoney { order: &order(6, "declined"), transactions: &txns, refunds: &[] }, Utc::now());
        assert_eq!((t[0]["type"].as_str(), t[0]["subType"].as_str()), (Some("Unknown"), Some("purchase_error")));
    }

    #[test]
    fn an_order_without_transactions_is_paid_as_the_order_says() {
        let mut o = order(10, "");
        o["store_credit_amount"] = json!("19.8400");
        let p = payments(&OrderMoney { order: &o, transactions: &[], refunds: &[] }, Utc::now());
        let ids: Vec<&str> = p.iter().filter_map(|p| p["id"].as_str()).collect();
        assert_eq!(ids, ["218_order", "218_store_credit"]);
        assert_eq!(
            (p[0]["amount"].as_f64(), p[0]["status"].as_str(), p[0]["type"].as_str()),
            (Some(50.0), Some("Paid"), Some("Cash"))
        );
        assert_eq!(p[1]["paymentMethodRef"]["id"], "bigcommerce_store_credit");
        assert_eq!(p[0]["createdDate"], "2019-08-24T14:15:22.000Z");
        let abandoned = payments(&OrderMoney { order: &order(0, ""), transactions: &[], refunds: &[] }, Utc::now());
        assert!(abandoned.is_empty(), "an incomplete checkout took no money");
    }

    #[test]
    fn transactions_are_signed_and_unmatched_refunds_added() {
        let o = order(4, "refunded");
        let mut gateway_refund = refund();
        gateway_refund["payments"][0]["transaction_id"] = json!("2183");
        let txns = [txn(2181, "purchase", 69.84, None), txn(2183, "refund", 69.84, Some(2181))];
        let both = [refund(), gateway_refund];
        let t = transactions(&OrderMoney { order: &o, transactions: &txns, refunds: &both }, Utc::now());
        let summary: Vec<(&str, f64, &str)> = t
            .iter()
            .map(|t| {
                (
                    t["id"].as_str().unwrap_or(""),
                    t["totalAmount"].as_f64().unwrap_or(0.0),
                    t["type"].as_str().unwrap_or(""),
                )
            })
            .collect();
        assert_eq!(
            summary,
            [("218_2181", 69.84, "Payment"), ("218_2183", -69.84, "Refund"), ("218_12_13_refund", -50.0, "Refund")]
        );
        assert!(t.iter().all(|t| t["transactionSourceRef"] == json!({"id": "218", "type": "Order"})));
    }
}
