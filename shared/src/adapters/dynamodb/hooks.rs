//! [`HookStore`]: a connection's store hooks (on its item), the callbacks seen
//! (`CALLBACKS#<connection>` / `<hash>`, TTL `expires_at`) and the pending changes
//! (`CHANGES#<connection>` / `<resource>#<id>`).

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::DynamoStore;
use super::item::{Item, classify, condition_ok, connection_key, key, map, s, text};
use crate::domain::ConnectionStatus;
use crate::domain::hook::{Change, Resource, StoreHooks};
use crate::error::StoreError;
use crate::ports::HookStore;

fn changes_pk(connection: Uuid) -> String {
    format!("CHANGES#{connection}")
}

fn change_sk(resource: Resource, id: u64) -> String {
    format!("{}#{id:020}", resource.key())
}

fn change_of(item: &Item) -> Option<Change> {
    let connection = Uuid::parse_str(text(item, "pk")?.strip_prefix("CHANGES#")?).ok()?;
    let (resource, id) = text(item, "sk")?.split_once('#')?;
    Some(Change {
        company: Uuid::parse_str(text(item, "company")?).ok()?,
        connection,
        resource: Resource::parse(resource)?,
        id: id.parse().ok()?,
        token: Uuid::parse_str(text(item, "token")?).ok()?,
        at: DateTime::parse_from_rfc3339(text(item, "at")?).ok()?.with_timezone(&Utc),
    })
}

#[async_trait]
impl HookStore for DynamoStore {
    async fn set_hooks(&self, company: Uuid, id: Uuid, hooks: &StoreHooks) -> Result<(), StoreError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(connection_key(company, id)))
            .update_expression("SET hooks = :hooks")
            .condition_expression("#status = :linked AND attribute_not_exists(erasure)")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":hooks", map(hooks)?)
            .expression_attribute_values(":linked", s(ConnectionStatus::Linked.as_str()))
            .send()
            .await
            .map_err(classify)?;
        Ok(())
    }

    async fn callback_seen(&self, connection: Uuid, hash: &str) -> Result<bool, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(format!("CALLBACKS#{connection}"), hash)))
            .projection_expression("pk")
            .send()
            .await
            .map_err(classify)?;
        Ok(out.item.is_some())
    }

    async fn mark_callback_seen(&self, connection: Uuid, hash: &str, expires: i64) -> Result<(), StoreError> {
        let mut item = key(format!("CALLBACKS#{connection}"), hash);
        item.insert("kind".into(), s("callback"));
        item.insert("expires_at".into(), AttributeValue::N(expires.to_string()));
        self.client.put_item().table_name(&self.table).set_item(Some(item)).send().await.map_err(classify)?;
        Ok(())
    }

    async fn record_change(&self, change: &Change) -> Result<(), StoreError> {
        let mut item = key(changes_pk(change.connection), &change_sk(change.resource, change.id));
        item.insert("kind".into(), s("change"));
        item.insert("company".into(), s(change.company.to_string()));
        item.insert("token".into(), s(change.token.to_string()));
        item.insert("at".into(), s(change.at.to_rfc3339()));
        self.client.put_item().table_name(&self.table).set_item(Some(item)).send().await.map_err(classify)?;
        Ok(())
    }

    async fn pending_changes(&self, connection: Uuid, limit: usize) -> Result<Vec<Change>, StoreError> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", s(changes_pk(connection)))
            .limit(i32::try_from(limit).unwrap_or(i32::MAX))
            .consistent_read(true)
            .send()
            .await
            .map_err(classify)?;
        Ok(out.items.unwrap_or_default().iter().filter_map(change_of).collect())
    }

    async fn clear_changes(&self, changes: &[Change]) -> Result<(), StoreError> {
        for change in changes {
            let cleared = self
                .client
                .delete_item()
                .table_name(&self.table)
                .set_key(Some(key(changes_pk(change.connection), &change_sk(change.resource, change.id))))
                .condition_expression("#token = :token")
                .expression_attribute_names("#token", "token")
                .expression_attribute_values(":token", s(change.token.to_string()))
                .send()
                .await
                .map_err(classify);
            // Replaced by a later callback: it stays for the next targeted sync.
            condition_ok(cleared)?;
        }
        Ok(())
    }
}
