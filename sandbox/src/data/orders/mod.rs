//! Orders as `GET /v2/orders` serves them: 4-decimal money strings, RFC 2822 dates, line items,
//! discounts, shipping, taxes, consignments and sub-resource references.

use rand::Rng;
use rust_decimal::Decimal;

mod render;

pub use render::reference;

use super::names::{FIRST_NAMES, GATEWAYS, LAST_NAMES, PLACES, STREETS, ascii_slug};
use super::{Dataset, Kind, OrderHead, cents, pick, rng};

/// BigCommerce's order statuses: (id, name, sort order, description).
pub const STATUSES: &[(u8, &str, u8, &str)] = &[
    (
        0,
        "Incomplete",
        0,
        "An incomplete order happens when a shopper reached the payment page, but did not complete the transaction.",
    ),
    (1, "Pending", 1, "Customer started the checkout process, but did not complete it."),
    (7, "Awaiting Payment", 2, "Customer has completed checkout process, but payment has yet to be confirmed."),
    (11, "Awaiting Fulfillment", 3, "Customer has completed the checkout process and payment has been confirmed."),
    (
        9,
        "Awaiting Shipment",
        4,
        "Order has been pulled and packaged, and is awaiting collection from a shipping provider.",
    ),
    (
        8,
        "Awaiting Pickup",
        5,
        "Order has been pulled, and is awaiting customer pickup from a seller-specified location.",
    ),
    (
        3,
        "Partially Shipped",
        6,
        "Only some items in the order have been shipped, due to some products being pre-order only or other reasons.",
    ),
    (10, "Completed", 7, "Client has paid for their digital product and their file(s) are available for download."),
    (
        2,
        "Shipped",
        8,
        "Order has been shipped, but receipt has not been confirmed; seller has used the Ship Items action.",
    ),
    (5, "Cancelled", 9, "Seller has cancelled an order, due to a stock inconsistency or other reasons."),
    (6, "Declined", 10, "Seller has marked the order as declined for lack of manual payment, or other reasons."),
    (4, "Refunded", 11, "Seller has used the Refund action."),
    (
        13,
        "Disputed",
        12,
        "Customer has initiated a dispute resolution process for the PayPal transaction that paid for the order.",
    ),
    (12, "Manual Verification Required", 13, "Order is on hold while some aspect needs to be manually confirmed."),
    (14, "Partially Refunded", 14, "Seller has partially refunded the order."),
];

/// The name of a status id.
pub fn status_name(id: u8) -> &'static str {
    STATUSES.iter().find(|s| s.0 == id).map_or("Unknown", |s| s.1)
}

/// Draws a realistic status: mostly completed or shipped.
pub fn draw_status(rng: &mut impl Rng) -> u8 {
    let weights: &[(u8, u32)] = &[
        (10, 40),
        (2, 20),
        (11, 8),
        (9, 4),
        (7, 4),
        (3, 2),
        (8, 1),
        (4, 5),
        (14, 4),
        (5, 4),
        (6, 2),
        (0, 2),
        (1, 2),
        (12, 1),
        (13, 1),
    ];
    let total: u32 = weights.iter().map(|w| w.1).sum();
    let mut n = rng.random_range(0..total);
    for (status, weight) in weights {
        if n < *weight {
            return *status;
        }
        n -= weight;
    }
    10
}

/// The status an update moves an order to.
pub fn next_status(current: u8) -> u8 {
    match current {
        0 | 1 | 7 => 11,
        11 | 9 | 8 => 2,
        2 | 3 => 10,
        10 => 14,
        14 => 4,
        _ => 10,
    }
}

/// Which embeds a request asked for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Includes {
    /// `include=consignments` with `consignment_structure=object`.
    pub consignments: bool,
    /// `include=consignments.line_items` with `consignment_structure=object`.
    pub line_items: bool,
    /// `include=fees`.
    pub fees: bool,
}

/// One line item, before rendering.
#[derive(Debug, Clone)]
pub struct Item {
    /// Order-product id (unique in the store).
    pub id: u32,
    /// Catalog product id.
    pub product_id: u32,
    /// Variant id.
    pub variant_id: u32,
    /// Name (product name and options).
    pub name: String,
    /// SKU.
    pub sku: String,
    /// Quantity.
    pub quantity: u32,
    /// Unit price excluding tax.
    pub price_ex: Decimal,
    /// Discount on the line.
    pub discount: Decimal,
    /// Tax on the line (after discount).
    pub tax: Decimal,
    /// Option value (colour), if any.
    pub option: Option<&'static str>,
    /// Whether a coupon or manual discount applied.
    pub discount_kind: Option<(&'static str, &'static str, Option<&'static str>)>,
}

/// Everything that defines an order; rendered into the different endpoint shapes.
#[derive(Debug, Clone)]
pub struct OrderBody {
    /// The head it was generated for.
    pub head: OrderHead,
    /// Billing name.
    pub first_name: &'static str,
    /// Billing family name.
    pub last_name: &'static str,
    /// Billing email.
    pub email: String,
    /// (ISO2, country, state, city, postcode pattern).
    pub place: (&'static str, &'static str, &'static str, &'static str, &'static str),
    /// Street line.
    pub street: String,
    /// Postcode.
    pub zip: String,
    /// Line items.
    pub items: Vec<Item>,
    /// Shipping excluding tax.
    pub shipping_ex: Decimal,
    /// Tax on shipping.
    pub shipping_tax: Decimal,
    /// Tax rate.
    pub tax_rate: Decimal,
    /// Coupon code, if a coupon applied.
    pub coupon: Option<String>,
    /// (gateway, method, display name).
    pub gateway: (&'static str, &'static str, &'static str),
    /// Staff notes.
    pub staff_notes: String,
    /// Customer message.
    pub customer_message: String,
}

fn postcode(rng: &mut impl Rng, pattern: &str) -> String {
    pattern
        .chars()
        .map(|c| match c {
            '#' => char::from(b'0' + rng.random_range(0..10u8)),
            'A' => char::from(b'A' + rng.random_range(0..26u8)),
            other => other,
        })
        .collect()
}

fn line_count(rng: &mut impl Rng) -> u32 {
    let r: f64 = rng.random();
    if r < 0.88 {
        rng.random_range(1..=4)
    } else if r < 0.97 {
        rng.random_range(5..=50)
    } else if r < 0.993 {
        rng.random_range(51..=250)
    } else {
        rng.random_range(251..=300)
    }
}

fn tax_rate(iso2: &str) -> Decimal {
    match iso2 {
        "US" => Decimal::new(825, 4),
        "GB" | "FR" => Decimal::new(20, 2),
        "DE" => Decimal::new(19, 2),
        "CA" => Decimal::new(13, 2),
        "JP" => Decimal::new(10, 2),
        _ => Decimal::new(10, 2),
    }
}

impl OrderBody {
    /// Generates the order of `head`.
    pub fn generate(ds: &Dataset, head: &OrderHead) -> Self {
        let seed = ds.config.seed;
        let mut r = rng(seed, Kind::Order, u64::from(head.id));
        let (first_name, last_name, email, customer_place) = match ds.customer_head(head.customer_id) {
            Some(c) => {
                let customer = super::customers::Person::generate(seed, c.id);
                (customer.first_name, customer.last_name, customer.email, Some(customer.place))
            }
            None => {
                let first = *pick(&mut r, FIRST_NAMES);
                let last = *pick(&mut r, LAST_NAMES);
                let email = format!("{}.{}.guest{}@example.com", ascii_slug(first), ascii_slug(last), head.id);
                (first, last, email, None)
            }
        };
        let place = customer_place.unwrap_or_else(|| *pick(&mut r, PLACES));
        let street = format!("{} {}", r.random_range(1..2000), pick(&mut r, STREETS));
        let zip = postcode(&mut r, place.4);
        let rate = tax_rate(place.0);
        let coupon = r.random_bool(0.15).then(|| format!("TRAIL{}", r.random_range(10..40)));
        let manual = coupon.is_none() && r.random_bool(0.05);
        let count = line_count(&mut r);
        let products = ds.products.len().max(1) as u32;
        let items = (0..count)
            .map(|k| {
                let product_id = r.random_range(1..=products);
                let (price_cents, variants) =
                    ds.product_head(product_id).map_or((1999, 1), |p| (p.price_cents, u32::from(p.variants)));
                let variant = r.random_range(0..variants.max(1));
                let option =
                    (variants > 1).then(|| super::names::COLOURS[(variant as usize) % super::names::COLOURS.len()]);
                let quantity = if r.random_bool(0.8) { 1 } else { r.random_range(2..=4) };
                let price_ex = cents(price_cents + i64::from(variant % 5) * 100);
                let line = price_ex * Decimal::from(quantity);
                let (discount, discount_kind) = if coupon.is_some() {
                    ((line * Decimal::new(10, 2)).round_dp(2), Some(("total-coupon", "Coupon", None)))
                } else if manual {
                    ((line * Decimal::new(5, 2)).round_dp(2), Some(("manual-discount", "Manual Discount", None)))
                } else {
                    (Decimal::ZERO, None)
                };
                let tax = ((line - discount) * rate).round_dp(2);
                Item {
                    id: head.id * 1000 + k,
                    product_id,
                    variant_id: product_id * 1000 + variant,
                    name: super::catalog::product_name(seed, product_id),
                    sku: format!("SKU-{product_id}-{variant}"),
                    quantity,
                    price_ex,
                    discount,
                    tax,
                    option,
                    discount_kind,
                }
            })
            .collect();
        let shipping_ex = if r.random_bool(0.3) { Decimal::ZERO } else { cents(r.random_range(499..=1999)) };
        let shipping_tax = (shipping_ex * rate).round_dp(2);
        let gateway = *pick(&mut r, GATEWAYS);
        let staff_notes =
            if r.random_bool(0.1) { "Ring the bell — fragile «glass» items".into() } else { String::new() };
        let customer_message =
            if r.random_bool(0.1) { "Bitte vor der Tür abstellen. Merci !".into() } else { String::new() };
        Self {
            head: *head,
            first_name,
            last_name,
            email,
            place,
            street,
            zip,
            items,
            shipping_ex,
            shipping_tax,
            tax_rate: rate,
            coupon,
            gateway,
            staff_notes,
            customer_message,
        }
    }

    /// Sum of line totals excluding tax, before discounts.
    pub fn subtotal_ex(&self) -> Decimal {
        self.items.iter().map(|i| i.price_ex * Decimal::from(i.quantity)).sum()
    }

    /// Tax on the items.
    pub fn subtotal_tax(&self) -> Decimal {
        self.items.iter().map(|i| i.tax).sum()
    }

    /// All discounts.
    pub fn discount(&self) -> Decimal {
        self.items.iter().map(|i| i.discount).sum()
    }

    /// Total excluding tax.
    pub fn total_ex(&self) -> Decimal {
        self.subtotal_ex() - self.discount() + self.shipping_ex
    }

    /// Total tax.
    pub fn total_tax(&self) -> Decimal {
        self.subtotal_tax() + self.shipping_tax
    }

    /// Total including tax.
    pub fn total_inc(&self) -> Decimal {
        self.total_ex() + self.total_tax()
    }

    /// Amount refunded (refunded and partially refunded orders).
    pub fn refunded(&self) -> Decimal {
        match self.head.status_id {
            4 => self.total_inc(),
            14 => self
                .items
                .first()
                .map_or(Decimal::ZERO, |i| i.price_ex * Decimal::from(i.quantity) - i.discount + i.tax),
            _ => Decimal::ZERO,
        }
    }

    fn payment_status(&self) -> &'static str {
        match self.head.status_id {
            0 | 1 => "",
            7 => "authorized",
            4 => "refunded",
            14 => "partially refunded",
            5 => "void",
            6 => "declined",
            12 => "held for review",
            _ if self.gateway.1 == "offline" => "paid",
            _ => "captured",
        }
    }

    fn items_total(&self) -> u32 {
        self.items.iter().map(|i| i.quantity).sum()
    }

    fn items_shipped(&self) -> u32 {
        match self.head.status_id {
            2 | 10 => self.items_total(),
            3 => self.items.first().map_or(0, |i| i.quantity),
            _ => 0,
        }
    }

    fn address_id(&self) -> u32 {
        self.head.id * 10 + 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Sizes, StoreConfig};

    #[test]
    fn totals_add_up_and_line_counts_vary() {
        let ds = Dataset::generate(StoreConfig::from_seed(
            11,
            Sizes { orders: 3000, products: 40, customers: 50, categories: 5 },
        ));
        let mut max_lines = 0;
        for head in &ds.orders {
            let body = OrderBody::generate(&ds, head);
            assert_eq!(body.total_inc(), body.total_ex() + body.total_tax());
            assert!(!body.items.is_empty() && body.items.len() <= 300);
            max_lines = max_lines.max(body.items.len());
        }
        assert!(max_lines > 250, "some orders must exceed 250 lines, max {max_lines}");
        let head = ds.orders[0];
        let a = OrderBody::generate(&ds, &head).render("http://x", Includes::default());
        let b = OrderBody::generate(&ds, &head).render("http://x", Includes::default());
        assert_eq!(a, b, "deterministic");
        assert_eq!(a["products"]["url"], format!("http://x/v2/orders/{}/products", head.id));
    }
}
