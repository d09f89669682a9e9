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
}
