//! Registered customers as `GET /v3/customers` serves them, with their address books.

use rand::Rng;
use serde_json::{Value, json};

use super::names::{FIRST_NAMES, LAST_NAMES, PLACES, STREETS, ascii_slug};
use super::{CustomerHead, Kind, at, iso, pick, rng};

/// Who a customer is (also used to bill their orders).
#[derive(Debug, Clone)]
pub struct Person {
    /// Given name.
    pub first_name: &'static str,
    /// Family name.
    pub last_name: &'static str,
    /// Email (ASCII).
    pub email: String,
    /// Home place.
    pub place: (&'static str, &'static str, &'static str, &'static str, &'static str),
    /// Number of saved addresses (0..=4).
    pub addresses: u32,
    /// Company name, if any.
    pub company: &'static str,
}

impl Person {
    /// The customer with `id` in a store seeded with `seed`.
    pub fn generate(seed: u64, id: u32) -> Self {
        let mut r = rng(seed, Kind::Customer, u64::from(id) | (1 << 40));
        let first_name = *pick(&mut r, FIRST_NAMES);
        let last_name = *pick(&mut r, LAST_NAMES);
        let email = format!("{}.{}{id}@example.com", ascii_slug(first_name), ascii_slug(last_name));
        let place = *pick(&mut r, PLACES);
        let addresses = match r.random_range(0..10) {
            0 => 0,
            1..=6 => 1,
            7 | 8 => 2,
            _ => 4,
        };
        let company = if r.random_bool(0.2) { "Trailhead Supplies GmbH" } else { "" };
        Self { first_name, last_name, email, place, addresses, company }
    }

    /// The customer as they are now: each runtime update changes the last name (the email and
    /// the names on past orders stay).
    pub fn current(seed: u64, head: &CustomerHead) -> Self {
        let mut person = Self::generate(seed, head.id);
        if head.revision > 0 && LAST_NAMES.len() > 1 {
            let at = LAST_NAMES.iter().position(|n| *n == person.last_name).unwrap_or(0);
            let shift = 1 + (usize::from(head.revision) - 1) % (LAST_NAMES.len() - 1);
            person.last_name = LAST_NAMES[(at + shift) % LAST_NAMES.len()];
        }
        person
    }
}

/// The customer as `/v3/customers` serves it; addresses only with `include=addresses`.
pub fn render(seed: u64, head: &CustomerHead, include_addresses: bool) -> Value {
    let person = Person::current(seed, head);
    let mut customer = json!({
        "id": head.id,
        "email": person.email,
        "first_name": person.first_name,
        "last_name": person.last_name,
        "company": person.company,
        "phone": format!("+1555{:07}", head.id),
        "registration_ip_address": format!("198.51.100.{}", head.id % 250),
        "notes": "",
        "tax_exempt_category": "",
        "customer_group_id": if head.id.is_multiple_of(5) { 2 } else { 0 },
        "date_created": iso(at(head.created)),
        "date_modified": iso(at(head.modified)),
        "address_count": person.addresses,
        "attribute_count": 0,
        "authentication": {"force_password_reset": false},
        "accepts_product_review_abandoned_cart_emails": head.id.is_multiple_of(2),
        "origin_channel_id": 1,
        "channel_ids": [1],
    });
    if include_addresses {
        customer["addresses"] = Value::Array(addresses(seed, head.id, &person));
    }
    customer
}

fn addresses(seed: u64, customer: u32, person: &Person) -> Vec<Value> {
    let mut r = rng(seed, Kind::Customer, u64::from(customer) | (2 << 40));
    (0..person.addresses)
        .map(|k| {
            let place = if k == 0 { person.place } else { *pick(&mut r, PLACES) };
            json!({
                "id": customer * 10 + k,
                "customer_id": customer,
                "first_name": person.first_name,
                "last_name": person.last_name,
                "company": person.company,
                "address1": format!("{} {}", r.random_range(1..999), pick(&mut r, STREETS)),
                "address2": if k == 1 { "Apt 4B" } else { "" },
                "city": place.3,
                "state_or_province": place.2,
                "postal_code": format!("{}", r.random_range(10_000..99_999)),
                "country_code": place.0,
                "country": place.1,
                "phone": format!("+1555{:07}", customer),
                "address_type": if k % 2 == 0 { "residential" } else { "commercial" },
            })
        })
        .collect()
}
