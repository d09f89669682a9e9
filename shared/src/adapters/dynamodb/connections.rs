//! Connections, and the short leases and attempt counters that guard linking them.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue, TransactWriteItem, Update};
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::item::{
    Item, attempts_key, classify, condition_applied, condition_ok, connection_key, connection_sk, item, lockout_key,
    map, record, s,
};
use super::{COMPANIES_PARTITION, DynamoStore};
use crate::domain::{Connection, ConnectionStatus, Event};
use crate::error::StoreError;
use crate::ports::{ConnectionStore, LinkStore, LinkedStore};

/// A time as the connection item holds it (its serde form, so it compares equal to a field
/// read back and written again).
fn time_value(at: DateTime<Utc>) -> Result<AttributeValue, StoreError> {
    serde_dynamo::aws_sdk_dynamodb_1::to_attribute_value(at)
        .map_err(|e| StoreError::Backend(format!("serialise time: {e}")))
}

#[async_trait]
impl LinkStore for DynamoStore {
    async fn begin_link(
        &self,
        company: Uuid,
        id: Uuid,
        lease: Uuid,
        now: DateTime<Utc>,
        ttl_secs: i64,
    ) -> Result<(), StoreError> {
        let statuses = ConnectionStatus::LINKABLE;
        let update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(connection_key(company, id)))
            .update_expression("SET link_lease = :lease, link_lease_until = :until")
            .condition_expression(
                "attribute_exists(pk) AND attribute_not_exists(erasure) AND #status IN (:s0, :s1, :s2) AND (attribute_not_exists(link_lease) OR link_lease_until < :now)",
            )
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":lease", s(lease.to_string()))
            .expression_attribute_values(":until", AttributeValue::N((now.timestamp() + ttl_secs).to_string()))
            .expression_attribute_values(":now", AttributeValue::N(now.timestamp().to_string()))
            .expression_attribute_values(":s0", s(statuses[0].as_str()))
            .expression_attribute_values(":s1", s(statuses[1].as_str()))
            .expression_attribute_values(":s2", s(statuses[2].as_str()))
            .build()
            .map_err(|e| StoreError::Backend(e.to_string()))?;
        self.client
            .transact_write_items()
            .transact_items(self.company_exists_check(company)?)
            .transact_items(TransactWriteItem::builder().update(update).build())
            .send()
            .await
            .map_err(classify)?;
        Ok(())
    }

    async fn complete_link_reporting(
        &self,
        company: Uuid,
        id: Uuid,
        lease: Uuid,
        linked: &LinkedStore,
        events: &[Event],
    ) -> Result<Connection, StoreError> {
        // The company must still stand, the connection not be erased, and a connection linked
        // before stays with its store (a re-link to another one is refused earlier).
        let update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(connection_key(company, id)))
            .update_expression("SET #status = :linked, store_hash = :hash, secret_name = :secret, info = :info, initial_read = :read REMOVE link_lease, link_lease_until")
            .condition_expression(
                "link_lease = :lease AND attribute_not_exists(erasure) AND (attribute_not_exists(store_hash) OR attribute_type(store_hash, :null) OR store_hash = :hash)",
            )
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":linked", s(ConnectionStatus::Linked.as_str()))
            .expression_attribute_values(":hash", s(linked.store_hash.clone()))
            .expression_attribute_values(":secret", s(linked.secret_name.clone()))
            .expression_attribute_values(":info", map(&linked.info)?)
            .expression_attribute_values(":lease", s(lease.to_string()))
            .expression_attribute_values(":null", s("NULL"))
            .expression_attribute_values(":read", time_value(Utc::now())?)
            .build()
            .map_err(|e| StoreError::Backend(e.to_string()))?;
        let steps = vec![self.company_exists_check(company)?, TransactWriteItem::builder().update(update).build()];
        self.transact_reporting(steps, events).await?;
        self.get_connection(company, id).await?.ok_or_else(|| StoreError::ConditionFailed("connection gone".into()))
    }

    async fn release_link(&self, company: Uuid, id: Uuid, lease: Uuid) -> Result<(), StoreError> {
        let released = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(connection_key(company, id)))
            .update_expression("REMOVE link_lease, link_lease_until")
            .condition_expression("link_lease = :lease")
            .expression_attribute_values(":lease", s(lease.to_string()))
            .send()
            .await
            .map_err(classify);
        // Another submission's lease (or none): nothing of ours to release.
        condition_ok(released).map(drop)
    }

    async fn count_attempt(&self, attempt_key: &str, window_start: i64, expires: i64) -> Result<u32, StoreError> {
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(attempts_key(attempt_key, window_start)))
            .update_expression("ADD attempts :one SET expires_at = :expires, kind = :kind")
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .expression_attribute_values(":expires", AttributeValue::N(expires.to_string()))
            .expression_attribute_values(":kind", s("attempts"))
            .return_values(ReturnValue::UpdatedNew)
            .send()
            .await
            .map_err(classify)?;
        Ok(out
            .attributes
            .and_then(|a| a.get("attempts").and_then(|v| v.as_n().ok()).and_then(|n| n.parse().ok()))
            .unwrap_or(u32::MAX))
    }

    async fn strike(&self, key: &str, now: i64, gap: i64, expires: i64) -> Result<u32, StoreError> {
        let counted = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(lockout_key(key)))
            .update_expression("ADD strikes :one SET last_strike = :now, expires_at = :expires")
            .condition_expression("expires_at > :now AND last_strike <= :before")
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .expression_attribute_values(":now", AttributeValue::N(now.to_string()))
            .expression_attribute_values(":before", AttributeValue::N(now.saturating_sub(gap).to_string()))
            .expression_attribute_values(":expires", AttributeValue::N(expires.to_string()))
            .return_values(ReturnValue::UpdatedNew)
            .send()
            .await
            .map_err(classify);
        let strikes = |attributes: Option<&Item>| {
            attributes.and_then(|a| a.get("strikes")).and_then(|v| v.as_n().ok()).and_then(|n| n.parse().ok())
        };
        if let Some(out) = condition_applied(counted)? {
            return Ok(strikes(out.attributes.as_ref()).unwrap_or(u32::MAX));
        }
        // Absent, expired, or a lockout of the same burst.
        if let Some((strikes, _)) = self.strikes(key, now).await?.filter(|(_, last)| *last > now.saturating_sub(gap)) {
            return Ok(strikes);
        }
        let mut item = lockout_key(key);
        item.insert("strikes".into(), AttributeValue::N("1".into()));
        item.insert("last_strike".into(), AttributeValue::N(now.to_string()));
        item.insert("expires_at".into(), AttributeValue::N(expires.to_string()));
        item.insert("kind".into(), s("lockout"));
        self.client.put_item().table_name(&self.table).set_item(Some(item)).send().await.map_err(classify)?;
        Ok(1)
    }

    async fn strikes(&self, key: &str, now: i64) -> Result<Option<(u32, i64)>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(lockout_key(key)))
            .consistent_read(true)
            .send()
            .await
            .map_err(classify)?;
        let number =
            |item: &Item, name: &str| item.get(name).and_then(|v| v.as_n().ok()).and_then(|n| n.parse::<i64>().ok());
        Ok(out.item.and_then(|item| {
            // Expired items may linger until DynamoDB's TTL removes them: they count for nothing.
            if number(&item, "expires_at").is_some_and(|at| at <= now) {
                return None;
            }
            Some((u32::try_from(number(&item, "strikes")?).ok()?, number(&item, "last_strike")?))
        }))
    }
}

#[async_trait]
impl ConnectionStore for DynamoStore {
    async fn create_connection_reporting(&self, connection: &Connection, events: &[Event]) -> Result<(), StoreError> {
        let mut keys = connection_key(connection.company_id, connection.id);
        keys.insert("gsi1pk".into(), s(COMPANIES_PARTITION));
        keys.insert("gsi1sk".into(), s(format!("{}#{}", connection.company_id, connection_sk(connection.id))));
        let item = item(connection, "connection", keys)?;
        let steps =
            vec![self.company_exists_check(connection.company_id)?, self.put(item, Some("attribute_not_exists(pk)"))?];
        self.transact_reporting(steps, events).await
    }

    async fn get_connection(&self, company: Uuid, id: Uuid) -> Result<Option<Connection>, StoreError> {
        self.get(connection_key(company, id)).await?.map(record).transpose()
    }

    async fn set_connection_status_reporting(
        &self,
        company: Uuid,
        id: Uuid,
        from: &[ConnectionStatus],
        to: ConnectionStatus,
        events: &[Event],
    ) -> Result<Connection, StoreError> {
        let placeholders: Vec<String> = (0..from.len()).map(|i| format!(":from{i}")).collect();
        let condition = format!(
            "attribute_exists(pk) AND attribute_not_exists(erasure) AND #status IN ({})",
            placeholders.join(", ")
        );
        if !events.is_empty() {
            let mut update = Update::builder()
                .table_name(&self.table)
                .set_key(Some(connection_key(company, id)))
                .update_expression("SET #status = :to")
                .condition_expression(condition)
                .expression_attribute_names("#status", "status")
                .expression_attribute_values(":to", s(to.as_str()));
            for (placeholder, status) in placeholders.iter().zip(from) {
                update = update.expression_attribute_values(placeholder, s(status.as_str()));
            }
            let update = update.build().map_err(|e| StoreError::Backend(e.to_string()))?;
            self.transact_reporting(vec![TransactWriteItem::builder().update(update).build()], events).await?;
            return self
                .get_connection(company, id)
                .await?
                .ok_or_else(|| StoreError::ConditionFailed("connection gone".into()));
        }
        let mut request = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(connection_key(company, id)))
            .update_expression("SET #status = :to")
            .condition_expression(condition)
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":to", s(to.as_str()))
            .return_values(ReturnValue::AllNew);
        for (placeholder, status) in placeholders.iter().zip(from) {
            request = request.expression_attribute_values(placeholder, s(status.as_str()));
        }
        let out = request.send().await.map_err(classify)?;
        record(out.attributes.unwrap_or_default())
    }

    async fn settle_initial_read(
        &self,
        company: Uuid,
        id: Uuid,
        due: DateTime<Utc>,
        events: &[Event],
    ) -> Result<bool, StoreError> {
        let update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(connection_key(company, id)))
            .update_expression("REMOVE initial_read")
            .condition_expression("initial_read = :due AND attribute_not_exists(erasure)")
            .expression_attribute_values(":due", time_value(due)?)
            .build()
            .map_err(|e| StoreError::Backend(e.to_string()))?;
        let settled = self.transact_reporting(vec![TransactWriteItem::builder().update(update).build()], events).await;
        condition_ok(settled)
    }
}
