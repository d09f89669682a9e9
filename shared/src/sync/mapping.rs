//! Pure mappings from BigCommerce's models to Codat's commerce schemas. Each decision is
//! written down in `docs/mapping.md`.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::codat::timestamp;

/// `GET v2/store` → commerce-companyInfo.
pub fn company_info(store: &Value, synced: DateTime<Utc>) -> Value {
    let text = |key: &str| store[key].as_str().unwrap_or_default().to_string();
    let mut lines =
        text("address").lines().map(str::trim).filter(|l| !l.is_empty()).map(str::to_string).collect::<Vec<_>>();
    let mut address = json!({"type": "Billing", "country": text("country")});
    if !lines.is_empty() {
        address["line1"] = json!(lines.remove(0));
    }
    if !lines.is_empty() {
        address["line2"] = json!(lines.join(", "));
    }
    let mut info = json!({
        "companyName": text("name"),
        "commercePlatformRef": text("id"),
        "companyLegalName": text("name"),
        "addresses": [address],
        "phoneNumbers": [],
        "webLinks": [],
        "baseCurrency": text("currency"),
        "sourceUrls": {},
        "modifiedDate": timestamp(synced),
    });
    if !text("phone").is_empty() {
        info["phoneNumbers"] = json!([{"number": text("phone"), "type": "Primary"}]);
    }
    if !text("secure_url").is_empty() {
        info["webLinks"] = json!([{"type": "Website", "url": text("secure_url")}]);
    }
    info
}

/// A v3 date-time (any offset) as Codat's UTC timestamp.
fn utc(value: &Value) -> Option<String> {
    value.as_str().and_then(|s| DateTime::parse_from_rfc3339(s).ok()).map(|d| timestamp(d.with_timezone(&Utc)))
}

/// `GET v3/customers?include=addresses` record → commerce-customers (see docs/mapping.md §2).
pub fn customer(source: &Value, synced: DateTime<Utc>) -> Value {
    let text = |v: &Value| v.as_str().unwrap_or_default().trim().to_string();
    let name = format!("{} {}", text(&source["first_name"]), text(&source["last_name"])).trim().to_string();
    let addresses: Vec<Value> = source["addresses"]
        .as_array()
        .map(|list| {
            list.iter()
                .map(|a| {
                    let mut address = json!({
                        "type": "Unknown",
                        "line1": text(&a["address1"]),
                        "city": text(&a["city"]),
                        "region": text(&a["state_or_province"]),
                        "country": text(&a["country"]),
                        "postalCode": text(&a["postal_code"]),
                    });
                    if !text(&a["address2"]).is_empty() {
                        address["line2"] = json!(text(&a["address2"]));
                    }
                    address
                })
                .collect()
        })
        .unwrap_or_default();
    let mut customer = json!({
        "id": source["id"].as_u64().map(|id| id.to_string()).unwrap_or_else(|| text(&source["id"])),
        "customerName": name,
        "emailAddress": text(&source["email"]),
        "defaultCurrency": "XXX",
        "addresses": addresses,
        "modifiedDate": timestamp(synced),
    });
    if source.get("phone").is_some() {
        customer["phone"] = json!(text(&source["phone"]));
    }
    if !text(&source["notes"]).is_empty() {
        customer["note"] = json!(text(&source["notes"]));
    }
    if let Some(created) = utc(&source["date_created"]) {
        customer["createdDate"] = json!(created);
    }
    if let Some(modified) = utc(&source["date_modified"]) {
        customer["sourceModifiedDate"] = json!(modified);
    }
    customer
}

/// Text of an HTML fragment: tags dropped, the basic entities decoded, whitespace collapsed.
pub fn plain_text(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => {
                in_tag = true;
                out.push(' ');
            }
            '>' if in_tag => in_tag = false,
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    let decoded = out
        .replace("&nbsp;", " ")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&");
    decoded.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A v3 catalog product (with variants) → commerce-products (see docs/mapping.md §7).
/// `categories` maps category ids to names; `currency` is the store's.
pub fn product(
    source: &Value,
    categories: &std::collections::HashMap<u64, String>,
    currency: &str,
    synced: DateTime<Utc>,
) -> Value {
    let name = source["name"].as_str().unwrap_or_default();
    let published = if source["is_visible"].as_bool().unwrap_or(true) { "Published" } else { "Unpublished" };
    let tracking = source["inventory_tracking"].as_str().unwrap_or("none");
    let variants: Vec<Value> = source["variants"]
        .as_array()
        .map(|variants| {
            variants
                .iter()
                .map(|v| {
                    let options: Vec<String> = v["option_values"]
                        .as_array()
                        .map(|o| {
                            o.iter()
                                .map(|o| {
                                    format!(
                                        "{} = {}",
                                        o["option_display_name"].as_str().unwrap_or_default(),
                                        o["label"].as_str().unwrap_or_default()
                                    )
                                })
                                .collect()
                        })
                        .unwrap_or_default();
                    let variant_name =
                        if options.is_empty() { name.to_string() } else { format!("{name} ({})", options.join(", ")) };
                    let barcode = [&v["upc"], &v["gtin"]]
                        .iter()
                        .filter_map(|b| b.as_str())
                        .find(|b| !b.is_empty())
                        .unwrap_or_default()
                        .to_string();
                    let price = v["price"].as_f64().or_else(|| source["price"].as_f64()).unwrap_or_default();
                    let quantity = match tracking {
                        "variant" => v["inventory_level"].as_i64().unwrap_or_default(),
                        "product" => source["inventory_level"].as_i64().unwrap_or_default(),
                        _ => 0,
                    };
                    json!({
                        "id": v["id"].as_u64().map(|id| id.to_string()).unwrap_or_default(),
                        "name": variant_name,
                        "sku": v["sku"].as_str().unwrap_or_default(),
                        "barcode": barcode,
                        "isTaxEnabled": false,
                        "vatPercentage": 0,
                        "prices": [{"currency": currency, "unitPrice": price}],
                        "inventory": {"totalQuantity": quantity, "locations": []},
                        "shippingRequired": source["type"].as_str() != Some("digital"),
                        "status": published,
                        "createdDate": "0001-01-01T00:00:00",
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    let names: Vec<&str> = source["categories"]
        .as_array()
        .map(|ids| {
            ids.iter().filter_map(|id| id.as_u64().and_then(|id| categories.get(&id)).map(String::as_str)).collect()
        })
        .unwrap_or_default();
    let mut product = json!({
        "id": source["id"].as_u64().map(|id| id.to_string()).unwrap_or_default(),
        "name": name,
        "description": plain_text(source["description"].as_str().unwrap_or_default()),
        "isGiftCard": false,
        "variants": variants,
        "modifiedDate": timestamp(synced),
    });
    if !names.is_empty() {
        product["categorization"] = json!(names.join(", "));
    }
    if let Some(created) = utc(&source["date_created"]) {
        product["createdDate"] = json!(created);
    }
    if let Some(modified) = utc(&source["date_modified"]) {
        product["sourceModifiedDate"] = json!(modified);
    }
    product
}

/// All of a store's tree categories → commerce-productCategories (see docs/mapping.md §8):
/// ancestors root first, immediate parent last.
pub fn product_categories(categories: &[Value], synced: DateTime<Utc>) -> Vec<Value> {
    let id = |c: &Value| c["category_id"].as_u64().unwrap_or_default();
    let parents: std::collections::HashMap<u64, (u64, String)> = categories
        .iter()
        .map(|c| {
            (id(c), (c["parent_id"].as_u64().unwrap_or_default(), c["name"].as_str().unwrap_or_default().to_string()))
        })
        .collect();
    categories
        .iter()
        .map(|c| {
            let mut ancestors = Vec::new();
            let mut parent = c["parent_id"].as_u64().unwrap_or_default();
            while parent != 0 && ancestors.len() < 64 {
                let name = parents.get(&parent).map(|p| p.1.clone()).unwrap_or_default();
                ancestors.push(json!({"id": parent.to_string(), "type": "ProductCategory", "name": name}));
                parent = parents.get(&parent).map_or(0, |p| p.0);
            }
            ancestors.reverse();
            json!({
                "id": id(c).to_string(),
                "name": c["name"].as_str().unwrap_or_default(),
                "ancestorRefs": ancestors,
                "hasChildren": categories.iter().any(|other| other["parent_id"].as_u64() == Some(id(c))),
                "modifiedDate": timestamp(synced),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn company_info_keeps_name_currency_and_address() {
        let store = json!({"id": "abc123", "name": "Shop", "address": "1 Way\nAustin, TX\nUS", "country": "United States",
                           "currency": "USD", "phone": "+1 555", "secure_url": "https://shop.example"});
        let info = company_info(&store, Utc::now());
        assert_eq!((info["companyName"].as_str(), info["baseCurrency"].as_str()), (Some("Shop"), Some("USD")));
        assert_eq!(info["addresses"][0]["line1"], "1 Way");
        assert_eq!(info["addresses"][0]["line2"], "Austin, TX, US");
        assert_eq!(info["webLinks"][0]["url"], "https://shop.example");
        let bare = company_info(&json!({"id": "x", "name": "S"}), Utc::now());
        assert_eq!(bare["phoneNumbers"], json!([]));
    }

    #[test]
    fn products_keep_variants_prices_inventory_and_categories() {
        let categories = std::collections::HashMap::from([(1, "Camping".to_string()), (2, "Tents".to_string())]);
        let source = json!({"id": 5, "name": "Alpine Tent 5", "type": "physical", "description": "<p>Light &amp; strong</p>",
            "price": 199.0, "categories": [1, 2], "inventory_tracking": "variant", "is_visible": true,
            "date_created": "2024-01-01T00:00:00+00:00",
            "variants": [{"id": 5000, "sku": "T-1", "price": 209.0, "upc": "", "gtin": "", "inventory_level": 7,
                          "option_values": [{"option_display_name": "Colour", "label": "Sand"}]}]});
        let p = product(&source, &categories, "USD", Utc::now());
        assert_eq!((p["id"].as_str(), p["categorization"].as_str()), (Some("5"), Some("Camping, Tents")));
        assert_eq!(p["description"], "Light & strong");
        let v = &p["variants"][0];
        assert_eq!((v["id"].as_str(), v["name"].as_str()), (Some("5000"), Some("Alpine Tent 5 (Colour = Sand)")));
        assert_eq!(v["prices"][0], json!({"currency": "USD", "unitPrice": 209.0}));
        assert_eq!(v["inventory"]["totalQuantity"], 7);
    }

    #[test]
    fn categories_list_ancestors_root_first() {
        let tree = [
            json!({"category_id": 1, "parent_id": 0, "name": "Camping"}),
            json!({"category_id": 2, "parent_id": 1, "name": "Tents"}),
            json!({"category_id": 3, "parent_id": 2, "name": "Ultralight"}),
        ];
        let mapped = product_categories(&tree, Utc::now());
        assert_eq!(
            mapped[2]["ancestorRefs"].as_array().map(|a| a.iter().map(|r| r["id"].clone()).collect::<Vec<_>>()),
            Some(vec![json!("1"), json!("2")])
        );
        assert_eq!((mapped[0]["hasChildren"].as_bool(), mapped[2]["hasChildren"].as_bool()), (Some(true), Some(false)));
        assert_eq!(mapped[0]["ancestorRefs"], json!([]));
    }

    #[test]
    fn customers_follow_codats_bigcommerce_examples() {
        let source = json!({"id": 7, "first_name": "Zoë", "last_name": "O'Brien", "email": "z@example.com", "phone": "+1 555",
            "notes": "", "date_created": "2024-03-01T10:00:00+01:00", "date_modified": "2024-03-02T10:00:00Z",
            "addresses": [{"address1": "1 Way", "address2": "", "city": "Austin", "state_or_province": "Texas",
                           "country": "United States", "country_code": "US", "postal_code": "78701"}]});
        let c = customer(&source, Utc::now());
        assert_eq!((c["id"].as_str(), c["customerName"].as_str()), (Some("7"), Some("Zoë O'Brien")));
        assert_eq!(c["defaultCurrency"], "XXX");
        assert_eq!(c["createdDate"], "2024-03-01T09:00:00.000Z", "UTC");
        assert_eq!(c["addresses"][0]["type"], "Unknown");
        assert_eq!(c["addresses"][0]["country"], "United States", "the country name, not the code");
        assert!(c["addresses"][0].get("line2").is_none() && c.get("note").is_none());
    }
}
