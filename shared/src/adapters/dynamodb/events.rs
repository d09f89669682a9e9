//! The outbox: one item per event, in a partition per UTC day (`EVENT#<day>`, sorted by time
//! then id), its JSON in `event`, removed by TTL after [`EVENT_RETENTION`]. The table's stream
//! carries each new one to fn webhooks.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem};
use chrono::{DateTime, Utc};

use super::DynamoStore;
use super::item::{Item, classify, key, s, text};
use crate::domain::Event;
#[cfg(doc)]
use crate::domain::event::EVENT_RETENTION;
use crate::error::StoreError;
use crate::ports::EventOutbox;

/// Prefix of the outbox's partitions.
pub const EVENT_PK_PREFIX: &str = "EVENT#";
/// The attribute holding an event's JSON.
pub const EVENT_ATTRIBUTE: &str = "event";
/// Most items in one transaction (DynamoDB's limit).
const MAX_TRANSACTION_ITEMS: usize = 100;

fn event_pk(at: DateTime<Utc>) -> String {
    format!("{EVENT_PK_PREFIX}{}", at.format("%Y-%m-%d"))
}

/// Sorts by time, then id (the time at microseconds, fixed width).
pub(super) fn event_sk(at: DateTime<Utc>, id: uuid::Uuid) -> String {
    format!("{}#{id}", at.format("%Y-%m-%dT%H:%M:%S%.6fZ"))
}

/// The item of `event`.
pub(super) fn event_item(event: &Event) -> Result<Item, StoreError> {
    let json = serde_json::to_string(event).map_err(|e| StoreError::Backend(format!("serialise event: {e}")))?;
    let mut item = key(event_pk(event.generated), &event_sk(event.generated, event.id));
    item.insert("kind".into(), s("event"));
    item.insert(EVENT_ATTRIBUTE.into(), s(json));
    item.insert("expires_at".into(), AttributeValue::N(event.expires_at().to_string()));
    Ok(item)
}

/// Parses an event's JSON as the outbox item (or its stream image) holds it.
pub fn parse_event(json: &str) -> Result<Event, StoreError> {
    serde_json::from_str(json).map_err(|e| StoreError::Backend(format!("deserialise event: {e}")))
}

/// The event a record of the table's stream (in Lambda's DynamoDB event shape) brings: `None`
/// for a record that is not a new outbox item; an error for an item this version cannot read.
pub fn stream_event(record: &serde_json::Value) -> Option<Result<Event, StoreError>> {
    let image = &record["dynamodb"]["NewImage"];
    let is_event =
        record["eventName"] == "INSERT" && image["pk"]["S"].as_str().is_some_and(|pk| pk.starts_with(EVENT_PK_PREFIX));
    let json = image[EVENT_ATTRIBUTE]["S"].as_str().filter(|_| is_event)?;
    Some(parse_event(json))
}

impl DynamoStore {
    /// Transaction steps writing `events` (each once: an id is never written twice).
    pub(super) fn event_puts(&self, events: &[Event]) -> Result<Vec<TransactWriteItem>, StoreError> {
        events.iter().map(|e| self.put(event_item(e)?, Some("attribute_not_exists(pk)"))).collect()
    }

    /// Runs `steps` then `events` as one transaction.
    pub(super) async fn transact_reporting(
        &self,
        steps: Vec<TransactWriteItem>,
        events: &[Event],
    ) -> Result<(), StoreError> {
        let mut steps = steps;
        steps.extend(self.event_puts(events)?);
        if steps.len() > MAX_TRANSACTION_ITEMS {
            return Err(StoreError::Backend(format!("{} writes in one transaction", steps.len())));
        }
        self.client.transact_write_items().set_transact_items(Some(steps)).send().await.map_err(classify)?;
        Ok(())
    }
}

#[async_trait]
impl EventOutbox for DynamoStore {
    async fn record_events(&self, events: &[Event]) -> Result<(), StoreError> {
        for chunk in events.chunks(MAX_TRANSACTION_ITEMS) {
            self.transact_reporting(Vec::new(), chunk).await?;
        }
        Ok(())
    }

    async fn events_since(&self, since: DateTime<Utc>, limit: usize) -> Result<Vec<Event>, StoreError> {
        let mut events = Vec::new();
        let mut day = since.date_naive();
        let today = Utc::now().date_naive();
        let from = event_sk(since, uuid::Uuid::nil());
        while day <= today && events.len() < limit {
            let pk = format!("{EVENT_PK_PREFIX}{}", day.format("%Y-%m-%d"));
            let request = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk AND sk >= :from")
                .expression_attribute_values(":pk", s(pk))
                .expression_attribute_values(":from", s(from.clone()));
            self.each_page(request, |out| {
                for item in out.items.unwrap_or_default() {
                    if events.len() < limit
                        && let Some(json) = text(&item, EVENT_ATTRIBUTE)
                    {
                        events.push(parse_event(json)?);
                    }
                }
                Ok(events.len() < limit)
            })
            .await?;
            day = day.succ_opt().unwrap_or(today + chrono::Days::new(1));
        }
        Ok(events)
    }
}
