//! Webhook consumers and the count that bounds them, in one partition (as the API keys are).

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, Delete, ReturnValue, TransactWriteItem, Update};
use uuid::Uuid;

use super::DynamoStore;
use super::item::{Item, classify, condition_applied, condition_ok, item, key, kind, record};
use crate::domain::event::Delivery;
use crate::domain::{Event, WebhookConsumer};
use crate::error::StoreError;
use crate::ports::{DeliveryLog, WebhookConsumerStore};

/// Partition of the consumers and their count.
const WEBHOOKS_PK: &str = "WEBHOOKS";

fn consumer_key(id: Uuid) -> Item {
    key(WEBHOOKS_PK.into(), &format!("CONSUMER#{id}"))
}

fn count_key() -> Item {
    key(WEBHOOKS_PK.into(), "COUNT")
}

/// A transaction step updating the consumer count.
fn count_update(
    table: &str,
    expression: &str,
    condition: Option<&str>,
    values: &[(&str, i64)],
) -> Result<TransactWriteItem, StoreError> {
    let mut update = Update::builder().table_name(table).set_key(Some(count_key())).update_expression(expression);
    for (name, value) in values {
        update = update.expression_attribute_values(*name, AttributeValue::N(value.to_string()));
    }
    let update = update.set_condition_expression(condition.map(str::to_string)).build();
    let update = update.map_err(|e| StoreError::Backend(e.to_string()))?;
    Ok(TransactWriteItem::builder().update(update).build())
}

#[async_trait]
impl WebhookConsumerStore for DynamoStore {
    async fn webhook_consumers(&self) -> Result<Vec<WebhookConsumer>, StoreError> {
        let items = self.partition_from(WEBHOOKS_PK.to_string(), Some("CONSUMER#")).await?;
        let mut consumers: Vec<WebhookConsumer> =
            items.into_iter().filter(|i| kind(i) == Some("webhookconsumer")).map(record).collect::<Result<_, _>>()?;
        consumers.sort_by_key(|c| (c.created, c.id));
        Ok(consumers)
    }

    async fn webhook_consumer(&self, id: Uuid) -> Result<Option<WebhookConsumer>, StoreError> {
        self.get(consumer_key(id)).await?.map(record).transpose()
    }

    async fn create_webhook_consumer(&self, consumer: &WebhookConsumer, max: usize) -> Result<(), StoreError> {
        let max = i64::try_from(max).unwrap_or(i64::MAX);
        let count = count_update(
            &self.table,
            "SET n = if_not_exists(n, :zero) + :one",
            Some("attribute_not_exists(n) OR n < :max"),
            &[(":zero", 0), (":one", 1), (":max", max)],
        )?;
        let put =
            self.put(item(consumer, "webhookconsumer", consumer_key(consumer.id))?, Some("attribute_not_exists(pk)"))?;
        self.client.transact_write_items().transact_items(count).transact_items(put).send().await.map_err(classify)?;
        Ok(())
    }

    async fn delete_webhook_consumer(&self, id: Uuid) -> Result<bool, StoreError> {
        let delete = Delete::builder()
            .table_name(&self.table)
            .set_key(Some(consumer_key(id)))
            .condition_expression("attribute_exists(pk)")
            .build()
            .map_err(|e| StoreError::Backend(e.to_string()))?;
        let count = count_update(&self.table, "ADD n :one", None, &[(":one", -1)])?;
        let deleted = self
            .client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().delete(delete).build())
            .transact_items(count)
            .send()
            .await
            .map_err(classify);
        condition_ok(deleted)
    }

    async fn set_webhook_consumer_disabled(
        &self,
        id: Uuid,
        disabled: bool,
    ) -> Result<Option<WebhookConsumer>, StoreError> {
        let expression =
            if disabled { "SET disabled = :disabled" } else { "SET disabled = :disabled REMOVE failing_since" };
        let updated = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(consumer_key(id)))
            .update_expression(expression)
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":disabled", AttributeValue::Bool(disabled))
            .return_values(ReturnValue::AllNew)
            .send()
            .await
            .map_err(classify);
        match condition_applied(updated)? {
            Some(out) => out.attributes.map(record).transpose(),
            None => Ok(None),
        }
    }
}

/// A consumer's delivery log: its own partition, in the events' order.
fn delivery_key(consumer: Uuid, generated: chrono::DateTime<chrono::Utc>, event: Uuid) -> Item {
    key(format!("MESSAGES#{consumer}"), &super::events::event_sk(generated, event))
}

#[async_trait]
impl DeliveryLog for DynamoStore {
    async fn delivery(&self, consumer: Uuid, event: &Event) -> Result<Option<Delivery>, StoreError> {
        self.get(delivery_key(consumer, event.generated, event.id)).await?.map(record).transpose()
    }

    async fn put_delivery(&self, delivery: &Delivery, expires_at: i64) -> Result<(), StoreError> {
        let mut entry =
            item(delivery, "delivery", delivery_key(delivery.consumer, delivery.generated, delivery.event_id))?;
        entry.insert("expires_at".into(), AttributeValue::N(expires_at.to_string()));
        self.client.put_item().table_name(&self.table).set_item(Some(entry)).send().await.map_err(classify)?;
        Ok(())
    }

    async fn deliveries(&self, consumer: Uuid, limit: usize) -> Result<Vec<Delivery>, StoreError> {
        let request = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", AttributeValue::S(format!("MESSAGES#{consumer}")))
            .scan_index_forward(false);
        let mut out = Vec::new();
        self.each_page(request, |page| {
            for entry in page.items.unwrap_or_default() {
                if out.len() < limit {
                    out.push(record(entry)?);
                }
            }
            Ok(out.len() < limit)
        })
        .await?;
        Ok(out)
    }

    async fn consumer_outcome(
        &self,
        consumer: Uuid,
        failed: Option<chrono::DateTime<chrono::Utc>>,
    ) -> Result<Option<WebhookConsumer>, StoreError> {
        let mut request = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(consumer_key(consumer)))
            .condition_expression("attribute_exists(pk)")
            .return_values(ReturnValue::AllNew);
        request = match failed {
            Some(at) => {
                let at = serde_json::to_value(at).map_err(|e| StoreError::Backend(e.to_string()))?;
                let at = at.as_str().unwrap_or_default().to_string();
                request
                    .update_expression("SET failing_since = if_not_exists(failing_since, :at)")
                    .expression_attribute_values(":at", AttributeValue::S(at))
            }
            None => request.update_expression("REMOVE failing_since"),
        };
        match condition_applied(request.send().await.map_err(classify))? {
            Some(out) => out.attributes.map(record).transpose(),
            None => Ok(None),
        }
    }
}
