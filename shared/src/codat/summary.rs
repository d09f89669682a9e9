//! Record summaries: a commerce record without its heavy properties, stored beside it so that
//! filters and sorts read small items.

use serde_json::{Map, Value};

use crate::domain::sales::STATUS_ID_POINTER;

/// Top-level properties left out of record summaries: arrays of lines, variants, addresses and
/// the like, long text, and supplemental data. Filtering or sorting on one of them reads whole
/// records.
pub const HEAVY_FIELDS: &[&str] = &[
    "orderLineItems",
    "serviceCharges",
    "payments",
    "variants",
    "description",
    "supplementalData",
    "addresses",
    "phoneNumbers",
    "webLinks",
    "ancestorRefs",
];

/// A record's summary: the record without its [`HEAVY_FIELDS`], except BigCommerce's order
/// status id (`supplementalData.content.bigcommerce.statusId`), which the sales aggregate reads.
/// Queries and sorts on `supplementalData` still read whole records (it stays heavy).
pub fn summarize(record: &Value) -> Value {
    match record {
        Value::Object(map) => {
            let mut summary: Map<String, Value> = map
                .iter()
                .filter(|(key, _)| !HEAVY_FIELDS.contains(&key.as_str()))
                .map(|(key, value)| (key.clone(), value.clone()))
                .collect();
            if let Some(status) = record.pointer(STATUS_ID_POINTER) {
                summary.insert(
                    "supplementalData".into(),
                    serde_json::json!({"content": {"bigcommerce": {"statusId": status}}}),
                );
            }
            Value::Object(summary)
        }
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn summaries_keep_light_properties_only() {
        let order = json!({"id": "1", "totalAmount": 5.5, "customerRef": {"id": "9"},
            "orderLineItems": [{"id": "l1"}], "supplementalData": {"content": {}}});
        assert_eq!(summarize(&order), json!({"id": "1", "totalAmount": 5.5, "customerRef": {"id": "9"}}));
        let cancelled = json!({"id": "2", "supplementalData": {"content": {"bigcommerce": {"statusId": 5, "status": "Cancelled"}}}});
        assert_eq!(
            summarize(&cancelled),
            json!({"id": "2", "supplementalData": {"content": {"bigcommerce": {"statusId": 5}}}}),
            "the status id stays, the rest of supplementalData does not"
        );
    }
}
