//! Order transactions (`/v3/orders/{id}/transactions`) and refunds
//! (`/v3/orders/payment_actions/refunds`), consistent with each order's status and totals.

use rust_decimal::Decimal;
use serde_json::{Value, json};

use super::names::CARD_TYPES;
use super::orders::OrderBody;
use super::{at, iso, money_number};

fn base(body: &OrderBody, id: u32, event: &str, amount: Decimal, minutes: i64, reference: Option<u32>) -> Value {
    let (gateway, method, display) = body.gateway;
    let order = body.head.id;
    let mut t = json!({
        "id": id,
        "order_id": order.to_string(),
        "event": event,
        "method": method,
        "amount": money_number(amount),
        "currency": "USD",
        "gateway": gateway,
        "gateway_transaction_id": format!("{gateway}_{order}_{id}"),
        "date_created": iso(at(body.head.created + minutes * 60)),
        "test": false,
        "status": if body.head.status_id == 6 { "error" } else { "ok" },
        "fraud_review": body.head.status_id == 12,
        "payment_method_id": format!("{gateway}.{method}"),
        "offline": null,
        "custom": null,
        "gift_certificate": null,
        "store_credit": null,
    });
    if let Some(reference) = reference {
        t["reference_transaction_id"] = json!(reference);
    }
    match method {
        "credit_card" => {
            t["credit_card"] = json!({
                "card_type": CARD_TYPES[(order as usize) % CARD_TYPES.len()],
                "card_iin": "411111",
                "card_last4": format!("{:04}", order % 10_000),
                "card_expiry_month": 1 + order % 12,
                "card_expiry_year": 2027 + (order % 4),
            });
            t["avs_result"] = json!({"code": "Y", "message": "Street and postal code match", "street_match": "Y", "postal_match": "Y"});
            t["cvv_result"] = json!({"code": "M", "message": "CVV matches"});
        }
        "offline" => t["offline"] = json!({"display_name": display}),
        "store_credit" => t["store_credit"] = json!({"remaining_balance": 12.5}),
        "gift_certificate" => {
            t["gift_certificate"] = json!({
                "code": format!("GC{order}"), "original_balance": 250, "starting_balance": 250,
                "remaining_balance": money_number(Decimal::from(250) - amount.min(Decimal::from(250))), "status": "active",
            });
        }
        _ => {}
    }
    t
}

/// The order's transactions, oldest first (none for incomplete or pending orders).
pub fn transactions(body: &OrderBody) -> Vec<Value> {
    let order = body.head.id;
    let total = body.total_inc();
    let id = |k: u32| order * 10 + k;
    let offline = body.gateway.1 == "offline";
    let split = !offline && order % 5 < 2; // authorize then capture
    let mut out = Vec::new();
    match body.head.status_id {
        0 | 1 => {}
        7 => {
            if !offline {
                out.push(base(body, id(1), "authorization", total, 1, None));
            }
        }
        5 => {
            out.push(base(body, id(1), "authorization", total, 1, None));
            out.push(base(body, id(2), "void", total, 60, Some(id(1))));
        }
        6 => out.push(base(body, id(1), "purchase", total, 1, None)),
        status => {
            if offline && order.is_multiple_of(3) {
                return out; // offline payments are often not recorded as transactions
            }
            if split {
                out.push(base(body, id(1), "authorization", total, 1, None));
                out.push(base(body, id(2), "capture", total, 30, Some(id(1))));
            } else {
                out.push(base(body, id(1), "purchase", total, 1, None));
            }
            if matches!(status, 4 | 14) {
                let paid = if split { id(2) } else { id(1) };
                out.push(base(body, id(3), "refund", body.refunded(), 3 * 24 * 60, Some(paid)));
            }
        }
    }
    out
}

/// The order's refund, if it was refunded (one per refunded order; refund id = order id).
pub fn refund(body: &OrderBody) -> Option<Value> {
    if !matches!(body.head.status_id, 4 | 14) {
        return None;
    }
    let order = body.head.id;
    let amount = body.refunded();
    let full = body.head.status_id == 4;
    let items: Vec<Value> = if full {
        vec![
            json!({"item_type": "ORDER", "item_id": order, "reason": "Customer changed their mind", "requested_amount": money_number(amount)}),
        ]
    } else {
        body.items
            .first()
            .map(|i| {
                json!({"item_type": "PRODUCT", "item_id": i.id, "quantity": i.quantity, "reason": "Damaged in transit",
                       "requested_amount": money_number(amount)})
            })
            .into_iter()
            .collect()
    };
    let tax = if full { body.total_tax() } else { body.items.first().map_or(Decimal::ZERO, |i| i.tax) };
    Some(json!({
        "id": order,
        "order_id": order,
        "user_id": 0,
        "created": iso(at(body.head.created + 3 * 86_400)),
        "reason": if full { "Customer changed their mind" } else { "Damaged in transit" },
        "total_amount": money_number(amount),
        "total_tax": money_number(tax),
        "uses_merchant_override_values": false,
        "items": items,
        "payments": [{
            "id": order,
            "provider_id": body.gateway.0,
            "amount": money_number(amount),
            "offline": body.gateway.1 == "offline",
            "is_declined": false,
            "declined_message": "",
            "transaction_id": (order * 10 + 3).to_string(),
        }],
    }))
}

/// The refund's creation time (seconds), for the `created:min/max` filters.
pub fn refund_created(body: &OrderBody) -> i64 {
    body.head.created + 3 * 86_400
}
