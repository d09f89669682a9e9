//! The envelope every event is sent in: `{id, eventType, generatedDate, payload}`, the
//! Standard Webhooks shape Codat uses.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use uuid::Uuid;

pub use crate::domain::webhook::{EventType, Subscription};

/// An event's envelope as delivered, its payload already rendered.
pub fn envelope(id: Uuid, event_type: EventType, generated: DateTime<Utc>, payload: Value) -> Value {
    json!({
        "id": id,
        "eventType": event_type,
        "generatedDate": crate::codat::timestamp(generated),
        "payload": payload,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_envelope_is_codats() {
        let id = Uuid::nil();
        let at = DateTime::parse_from_rfc3339("2026-12-01T10:00:00Z").map(|d| d.to_utc()).expect("date");
        let body = envelope(id, EventType::CompanyCreated, at, json!({"id": "c"}));
        assert_eq!(
            body,
            json!({"id": id, "eventType": "company.created", "generatedDate": "2026-12-01T10:00:00.000Z",
                   "payload": {"id": "c"}})
        );
    }
}
