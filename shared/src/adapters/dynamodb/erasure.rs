//! Erasure in the platform table: connection tombstones, the purge of a connection's history and
//! of a company's own items, and receipts (`ERASED#<hash>`, expiring by TTL).

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue, TransactWriteItem, Update};
use uuid::Uuid;

use super::DynamoStore;
use super::item::{
    Item, attempts_pk, classify, company_deleting, company_key, company_pk, condition_applied, condition_ok,
    connection_key, datasets_pk, item, key, key_of, kind, link_key, map, record, text,
};
use crate::domain::erasure::RECEIPT_DAYS;
use crate::domain::{ErasureProgress, ErasureReceipt, Event};
use crate::error::StoreError;
use crate::ports::{CompanyRecord, ErasureStore};

fn receipt_key(key_hash: &str) -> Item {
    key(format!("ERASED#{key_hash}"), "RECEIPT")
}

#[async_trait]
impl ErasureStore for DynamoStore {
    async fn mark_connection_erasing(
        &self,
        company: Uuid,
        id: Uuid,
        progress: &ErasureProgress,
    ) -> Result<Option<crate::domain::Connection>, StoreError> {
        let marked = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(connection_key(company, id)))
            .update_expression("SET erasure = if_not_exists(erasure, :progress) REMOVE gsi1pk, gsi1sk")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":progress", map(progress)?)
            .return_values(ReturnValue::AllNew)
            .send()
            .await
            .map_err(classify);
        condition_applied(marked)?.map(|out| record(out.attributes.unwrap_or_default())).transpose()
    }

    async fn mark_connection_erasing_reporting(
        &self,
        company: Uuid,
        id: Uuid,
        progress: &ErasureProgress,
        events: &[Event],
    ) -> Result<Option<crate::domain::Connection>, StoreError> {
        let mark = Update::builder()
            .table_name(&self.table)
            .set_key(Some(connection_key(company, id)))
            .update_expression("SET erasure = :progress REMOVE gsi1pk, gsi1sk")
            .condition_expression("attribute_exists(pk) AND attribute_not_exists(erasure)")
            .expression_attribute_values(":progress", map(progress)?)
            .build()
            .map_err(|e| StoreError::Backend(e.to_string()))?;
        match self.transact_reporting(vec![TransactWriteItem::builder().update(mark).build()], events).await {
            // Marked now, or before (absent, or a repeat: no event again).
            Ok(()) | Err(StoreError::ConditionFailed(_)) => self.mark_connection_erasing(company, id, progress).await,
            Err(e) => Err(e),
        }
    }

    async fn erasing_company(&self, id: Uuid) -> Result<Option<CompanyRecord>, StoreError> {
        let items = self.partition(company_pk(id)).await?;
        if !company_deleting(&items) {
            return Ok(None);
        }
        Ok(super::companies::group(items, true)?.pop())
    }

    async fn record_erasure(&self, company: Uuid, id: Uuid, progress: &ErasureProgress) -> Result<bool, StoreError> {
        let recorded = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(connection_key(company, id)))
            .update_expression("SET erasure = :progress")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":progress", map(progress)?)
            .send()
            .await
            .map_err(classify);
        condition_ok(recorded)
    }

    async fn erase_connection_history(&self, company: Uuid, id: Uuid) -> Result<u64, StoreError> {
        let pk = datasets_pk(company);
        let mut keys: Vec<Item> =
            self.partition_from(pk.clone(), Some(&format!("STATUS#{id}#"))).await?.into_iter().map(key_of).collect();
        let connection = id.to_string();
        keys.extend(
            self.partition_from(pk, Some("DATASET#"))
                .await?
                .into_iter()
                .filter(|i| text(i, "connection_id") == Some(connection.as_str()))
                .map(key_of),
        );
        // Its store's pending changes and the callbacks remembered for it (ids and hashes only).
        for pk in [format!("CHANGES#{id}"), format!("CALLBACKS#{id}")] {
            keys.extend(self.partition(pk).await?.into_iter().map(key_of));
        }
        let count = keys.len() as u64;
        self.batch.delete(keys).await?;
        Ok(count)
    }

    async fn remove_connection(&self, company: Uuid, id: Uuid) -> Result<bool, StoreError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(connection_key(company, id)))
            .send()
            .await
            .map_err(classify)?;
        // Consistent: of two connections removed at once, the later one's read sees neither.
        let items = self.partition(company_pk(company)).await?;
        Ok(company_deleting(&items) && !items.iter().any(|i| kind(i) == Some("connection")))
    }

    async fn purge_company(&self, id: Uuid) -> Result<u64, StoreError> {
        let items = self.partition(company_pk(id)).await?;
        let link_hash = items
            .iter()
            .find(|item| kind(item) == Some("company"))
            .and_then(|item| text(item, "link_token_hash"))
            .map(str::to_string);
        // Children, the Link token and its attempt counters first, the company item last, so a
        // failed purge leaves the company findable (and still marked) for a retry.
        let mut keys: Vec<Item> = items.into_iter().filter(|item| kind(item) != Some("company")).map(key_of).collect();
        if let Some(hash) = link_hash {
            keys.push(link_key(&hash));
            keys.extend(self.partition(attempts_pk(&hash)).await?.into_iter().map(key_of));
        }
        keys.extend(self.partition(datasets_pk(id)).await?.into_iter().map(key_of));
        let count = keys.len() as u64 + 1;
        self.batch.delete(keys).await?;
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(company_key(id)))
            .send()
            .await
            .map_err(classify)?;
        Ok(count)
    }

    async fn put_erasure_receipt(&self, key_hash: &str, receipt: &ErasureReceipt) -> Result<(), StoreError> {
        let mut item = item(receipt, "erasure_receipt", receipt_key(key_hash))?;
        let expires = receipt.completed + chrono::Duration::days(RECEIPT_DAYS);
        item.insert("expires_at".into(), AttributeValue::N(expires.timestamp().to_string()));
        self.client.put_item().table_name(&self.table).set_item(Some(item)).send().await.map_err(classify)?;
        Ok(())
    }

    async fn erasure_receipt(&self, key_hash: &str) -> Result<Option<ErasureReceipt>, StoreError> {
        let Some(item) = self.get(receipt_key(key_hash)).await? else { return Ok(None) };
        let now = chrono::Utc::now().timestamp();
        // DynamoDB deletes expired items within days, not at once (moto never does).
        let expired = item
            .get("expires_at")
            .and_then(|v| v.as_n().ok())
            .and_then(|n| n.parse::<i64>().ok())
            .is_some_and(|at| at <= now);
        if expired { Ok(None) } else { record(item).map(Some) }
    }
}
