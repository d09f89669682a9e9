//! API keys (digests only) and the count that bounds them, in one partition.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, Delete, TransactWriteItem, Update};
use uuid::Uuid;

use super::DynamoStore;
use super::item::{api_key_key, api_keys_count_key, classify, condition_ok, item, kind, record};
use crate::domain::StoredApiKey;
use crate::error::StoreError;
use crate::ports::ApiKeyStore;

/// Partition of the API keys and their count.
pub(super) const API_KEYS_PK: &str = "APIKEYS";

/// A transaction step updating the key count with `expression` and its `values`.
fn count_update(
    table: &str,
    expression: &str,
    condition: Option<&str>,
    values: &[(&str, i64)],
) -> Result<TransactWriteItem, StoreError> {
    let mut update =
        Update::builder().table_name(table).set_key(Some(api_keys_count_key())).update_expression(expression);
    for (name, value) in values {
        update = update.expression_attribute_values(*name, AttributeValue::N(value.to_string()));
    }
    let update = update.set_condition_expression(condition.map(str::to_string)).build();
    let update = update.map_err(|e| StoreError::Backend(e.to_string()))?;
    Ok(TransactWriteItem::builder().update(update).build())
}

#[async_trait]
impl ApiKeyStore for DynamoStore {
    async fn api_keys(&self) -> Result<Vec<StoredApiKey>, StoreError> {
        let items = self.partition_from(API_KEYS_PK.to_string(), Some("KEY#")).await?;
        let mut keys: Vec<StoredApiKey> =
            items.into_iter().filter(|i| kind(i) == Some("apikey")).map(record).collect::<Result<_, _>>()?;
        keys.sort_by_key(|k| (k.created, k.id));
        Ok(keys)
    }

    async fn create_api_key(&self, key: &StoredApiKey, max: usize) -> Result<(), StoreError> {
        let max = i64::try_from(max).unwrap_or(i64::MAX);
        let count = count_update(
            &self.table,
            "SET n = if_not_exists(n, :zero) + :one",
            Some("attribute_not_exists(n) OR n < :max"),
            &[(":zero", 0), (":one", 1), (":max", max)],
        )?;
        self.client
            .transact_write_items()
            .transact_items(count)
            .transact_items(self.put(item(key, "apikey", api_key_key(key.id))?, Some("attribute_not_exists(pk)"))?)
            .send()
            .await
            .map_err(classify)?;
        Ok(())
    }

    async fn delete_api_key(&self, id: Uuid) -> Result<bool, StoreError> {
        let delete = Delete::builder()
            .table_name(&self.table)
            .set_key(Some(api_key_key(id)))
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
}
