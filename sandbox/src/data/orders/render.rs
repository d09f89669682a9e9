//! An order rendered in the shapes the endpoints serve: the v2 order (with its consignments
//! and fees when asked for), its line items, shipping address and coupons.

use rust_decimal::Decimal;
use serde_json::{Value, json};

use super::{Includes, Item, OrderBody, status_name};
use crate::data::{at, money_number, money4, rfc2822};

impl OrderBody {
    /// One line item as `/v2/orders/{id}/products` serves it (only the spec's fields).
    pub fn line_item(&self, item: &Item) -> Value {
        let qty = Decimal::from(item.quantity);
        let total_ex = item.price_ex * qty;
        let unit_tax = (item.price_ex * self.tax_rate).round_dp(2);
        let shipped = match self.head.status_id {
            2 | 10 => item.quantity,
            _ => 0,
        };
        let refunded = self.head.status_id == 4;
        let discounts: Vec<Value> = item
            .discount_kind
            .map(|(id, name, _)| {
                let (id, code): (String, Value) = match &self.coupon {
                    Some(code) => (id.to_string(), json!(code)),
                    None => (id.to_string(), Value::Null),
                };
                json!({"id": id, "amount": money4(item.discount), "name": name, "code": code, "target": "order"})
            })
            .into_iter()
            .collect();
        let options: Vec<Value> = item
            .option
            .map(|colour| {
                json!({
                    "id": item.id, "option_id": 3, "order_product_id": item.id, "product_option_id": 100 + item.product_id,
                    "display_name": "Colour", "display_name_customer": "Colour", "display_name_merchant": "Colour",
                    "display_value": colour, "display_value_customer": colour, "display_value_merchant": colour,
                    "value": (item.variant_id % 1000).to_string(), "type": "Swatch", "name": "Colour", "display_style": "Swatch",
                })
            })
            .into_iter()
            .collect();
        let name = match item.option {
            Some(colour) => format!("{} - {colour}", item.name),
            None => item.name.clone(),
        };
        let mut line = json!({
            "id": item.id,
            "order_id": self.head.id,
            "product_id": item.product_id,
            "variant_id": item.variant_id,
            "order_pickup_method_id": 0,
            "order_address_id": self.address_id(),
            "name": name,
            "name_customer": name,
            "name_merchant": name,
            "sku": item.sku,
            "upc": "",
            "type": "physical",
            "base_price": money4(item.price_ex),
            "price_ex_tax": money4(item.price_ex),
            "price_inc_tax": money4(item.price_ex + unit_tax),
            "price_tax": money4(unit_tax),
            "base_total": money4(total_ex),
            "total_ex_tax": money4(total_ex),
            "total_inc_tax": money4(total_ex + item.tax + item.discount * self.tax_rate.round_dp(4)),
            "total_tax": money4(item.tax),
            "quantity": item.quantity,
            "base_cost_price": money4((item.price_ex * Decimal::new(55, 2)).round_dp(2)),
            "cost_price_inc_tax": money4((item.price_ex * Decimal::new(55, 2)).round_dp(2)),
            "cost_price_ex_tax": money4((item.price_ex * Decimal::new(55, 2)).round_dp(2)),
            "cost_price_tax": money4(Decimal::ZERO),
            "weight": "1.5000",
            "width": "10.0000",
            "height": "5.0000",
            "depth": "3.0000",
            "is_refunded": refunded,
            "quantity_refunded": if refunded { item.quantity } else { 0 },
            "refund_amount": money4(Decimal::ZERO),
            "return_id": 0,
            "wrapping_id": 0,
            "wrapping_name": "",
            "base_wrapping_cost": money4(Decimal::ZERO),
            "wrapping_cost_ex_tax": money4(Decimal::ZERO),
            "wrapping_cost_inc_tax": money4(Decimal::ZERO),
            "wrapping_cost_tax": money4(Decimal::ZERO),
            "wrapping_message": "",
            "quantity_shipped": shipped,
            "event_name": null,
            "event_date": null,
            "fixed_shipping_cost": money4(Decimal::ZERO),
            "ebay_item_id": "",
            "ebay_transaction_id": "",
            "option_set_id": if item.option.is_some() { json!(7) } else { Value::Null },
            "parent_order_product_id": null,
            "is_bundled_product": false,
            "bin_picking_number": "",
            "external_id": null,
            "brand": "Sandbox Outfitters",
            "configurable_fields": [],
            "gift_certificate_id": null,
            "discounted_total_inc_tax": money4(total_ex - item.discount + item.tax),
        });
        line["applied_discounts"] = Value::Array(discounts);
        line["product_options"] = Value::Array(options);
        line
    }

    fn address_fields(&self) -> Value {
        let p = self.place;
        json!({
            "first_name": self.first_name,
            "last_name": self.last_name,
            "company": "",
            "street_1": self.street,
            "street_2": "",
            "city": p.3,
            "state": p.2,
            "zip": self.zip,
            "country": p.1,
            "country_iso2": p.0,
            "phone": format!("+1555{:07}", self.head.id % 10_000_000),
            "email": self.email,
        })
    }

    /// The order's shipping address, as `/v2/orders/{id}/shipping_addresses` serves it.
    pub fn shipping_address(&self, base: &str) -> Value {
        let mut address = self.address_fields();
        let id = self.address_id();
        let order = self.head.id;
        let extra = json!({
            "id": id,
            "order_id": order,
            "items_total": self.items_total(),
            "items_shipped": self.items_shipped(),
            "shipping_method": if self.shipping_ex.is_zero() { "Free Shipping" } else { "Flat Rate" },
            "base_cost": money4(self.shipping_ex + self.shipping_tax),
            "cost_ex_tax": money4(self.shipping_ex),
            "cost_inc_tax": money4(self.shipping_ex + self.shipping_tax),
            "cost_tax": money4(self.shipping_tax),
            "cost_tax_class_id": 2,
            "base_handling_cost": money4(Decimal::ZERO),
            "handling_cost_ex_tax": money4(Decimal::ZERO),
            "handling_cost_inc_tax": money4(Decimal::ZERO),
            "handling_cost_tax": money4(Decimal::ZERO),
            "handling_cost_tax_class_id": 2,
            "shipping_zone_id": 1,
            "shipping_zone_name": self.place.1,
            "shipping_quotes": reference(base, &format!("/orders/{order}/shippingaddresses/{id}/shippingquotes")),
            "form_fields": [],
        });
        merge(&mut address, extra);
        address
    }

    /// The order's coupons, as `/v2/orders/{id}/coupons` serves them.
    pub fn coupons(&self) -> Vec<Value> {
        self.coupon
            .iter()
            .map(|code| {
                json!({
                    "id": self.head.id, "coupon_id": 1 + self.head.id % 7, "order_id": self.head.id, "code": code,
                    "amount": 10, "type": 1, "discount": money_number(self.discount()),
                })
            })
            .collect()
    }

    fn consignments(&self, base: &str, full_items: bool) -> Value {
        let order = self.head.id;
        let line_items: Vec<Value> = self
            .items
            .iter()
            .map(|i| {
                if full_items {
                    self.line_item(i)
                } else {
                    reference(base, &format!("/orders/{order}/products/{}", i.id))
                }
            })
            .collect();
        let number = |d: Decimal| money_number(d);
        let mut shipping = self.address_fields();
        merge(
            &mut shipping,
            json!({
                "id": self.address_id(),
                "form_fields": [],
                "items_total": self.items_total(),
                "items_shipped": self.items_shipped(),
                "shipping_method": if self.shipping_ex.is_zero() { "Free Shipping" } else { "Flat Rate" },
                "base_cost": number(self.shipping_ex + self.shipping_tax),
                "cost_ex_tax": number(self.shipping_ex),
                "cost_inc_tax": number(self.shipping_ex + self.shipping_tax),
                "cost_tax": number(self.shipping_tax),
                "cost_tax_class_id": 2,
                "base_handling_cost": 0,
                "handling_cost_ex_tax": 0,
                "handling_cost_inc_tax": 0,
                "handling_cost_tax": 0,
                "handling_cost_tax_class_id": 2,
                "shipping_zone_id": 1,
                "shipping_zone_name": self.place.1,
                "shipping_quotes": reference(base, &format!("/orders/{order}/consignments/shipping/{}/shipping_quotes", self.address_id())),
            }),
        );
        // Moved in, not passed through `json!` (which would deep-copy every line item).
        shipping["line_items"] = Value::Array(line_items);
        let mut consignments = json!({"pickups": [], "downloads": [], "email": {"gift_certificates": []}});
        consignments["shipping"] = Value::Array(vec![shipping]);
        consignments
    }

    /// The order as `/v2/orders` and `/v2/orders/{id}` serve it.
    pub fn render(&self, base: &str, include: Includes) -> Value {
        let h = &self.head;
        let id = h.id;
        let mut billing = self.address_fields();
        merge(&mut billing, json!({"form_fields": []}));
        let shipped = matches!(h.status_id, 2 | 10);
        let mut order = json!({
            "id": id,
            "customer_id": h.customer_id,
            "date_created": rfc2822(at(h.created)),
            "date_modified": rfc2822(at(h.modified)),
            "date_shipped": if shipped { rfc2822(at(h.created + 2 * 86_400)) } else { String::new() },
            "status_id": h.status_id,
            "status": status_name(h.status_id),
            "custom_status": status_name(h.status_id),
            "subtotal_ex_tax": money4(self.subtotal_ex()),
            "subtotal_inc_tax": money4(self.subtotal_ex() + self.subtotal_tax()),
            "subtotal_tax": money4(self.subtotal_tax()),
            "base_shipping_cost": money4(self.shipping_ex + self.shipping_tax),
            "shipping_cost_ex_tax": money4(self.shipping_ex),
            "shipping_cost_inc_tax": money4(self.shipping_ex + self.shipping_tax),
            "shipping_cost_tax": money4(self.shipping_tax),
            "shipping_cost_tax_class_id": 2,
            "base_handling_cost": money4(Decimal::ZERO),
            "handling_cost_ex_tax": money4(Decimal::ZERO),
            "handling_cost_inc_tax": money4(Decimal::ZERO),
            "handling_cost_tax": money4(Decimal::ZERO),
            "handling_cost_tax_class_id": 2,
            "base_wrapping_cost": money4(Decimal::ZERO),
            "wrapping_cost_ex_tax": money4(Decimal::ZERO),
            "wrapping_cost_inc_tax": money4(Decimal::ZERO),
            "wrapping_cost_tax": money4(Decimal::ZERO),
            "wrapping_cost_tax_class_id": 3,
            "total_ex_tax": money4(self.total_ex()),
            "total_inc_tax": money4(self.total_inc()),
            "total_tax": money4(self.total_tax()),
            "is_tax_inclusive_pricing": false,
            "items_total": self.items_total(),
            "items_shipped": self.items_shipped(),
            "payment_method": self.gateway.2,
            "payment_provider_id": if self.gateway.1 == "offline" { String::new() } else { format!("{}-{id}", self.gateway.0) },
            "payment_status": self.payment_status(),
            "refunded_amount": money4(self.refunded()),
            "order_is_digital": false,
            "store_credit_amount": money4(if self.gateway.0 == "storecredit" { self.total_inc() } else { Decimal::ZERO }),
            "gift_certificate_amount": money4(if self.gateway.0 == "giftcertificate" { self.total_inc() } else { Decimal::ZERO }),
            "ip_address": format!("203.0.113.{}", id % 250),
            "ip_address_v6": "",
            "geoip_country": self.place.1,
            "geoip_country_iso2": self.place.0,
            "currency_id": 1,
            "currency_code": self.currency(),
            "currency_exchange_rate": "1.0000000000",
            "default_currency_id": 1,
            "default_currency_code": self.currency(),
            "staff_notes": self.staff_notes,
            "customer_message": self.customer_message,
            "discount_amount": money4(self.discount()),
            "coupon_discount": money4(if self.coupon.is_some() { self.discount() } else { Decimal::ZERO }),
            "shipping_address_count": 1,
            "is_deleted": h.is_deleted,
            "ebay_order_id": "0",
            "cart_id": format!("{:08x}-0000-4000-8000-{:012x}", id, u64::from(id) * 7919),
            "is_email_opt_in": id.is_multiple_of(3),
            "credit_card_type": null,
            "order_source": if id.is_multiple_of(9) { "manual" } else { "www" },
            "channel_id": 1,
            "external_source": null,
            "products": reference(base, &format!("/orders/{id}/products")),
            "shipping_addresses": reference(base, &format!("/orders/{id}/shippingaddresses")),
            "coupons": reference(base, &format!("/orders/{id}/coupons")),
            "external_id": null,
            "external_merchant_id": null,
            "tax_provider_id": "BasicTaxProvider",
            "store_default_currency_code": self.currency(),
            "store_default_to_transactional_exchange_rate": "1.0000000000",
            "customer_locale": "en",
            "external_order_id": "",
        });
        order["billing_address"] = billing;
        if include.consignments || include.line_items {
            order["consignments"] = self.consignments(base, include.line_items);
        }
        if include.fees {
            order["fees"] = json!([]);
        }
        order
    }

    fn currency(&self) -> &'static str {
        "USD"
    }
}

/// A `{url, resource}` reference under the store's v2 base URL.
pub fn reference(base: &str, resource: &str) -> Value {
    json!({"url": format!("{base}/v2{resource}"), "resource": resource})
}

fn merge(target: &mut Value, extra: Value) {
    if let (Some(t), Value::Object(e)) = (target.as_object_mut(), extra) {
        t.extend(e);
    }
}
