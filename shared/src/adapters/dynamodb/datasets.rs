//! Datasets (pull operations) and the latest status of each (connection, data type).

use async_trait::async_trait;
use aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::item::{
    LIVE_PK, UNSENT_PK, classify, company_key, condition_ok, connection_key, dataset_key, datasets_pk, item, kind,
    parse_dataset_key, record, s, status_key, sweep_pk,
};
use super::{DynamoStore, SWEEP_INDEX};
use crate::codat::timestamp;
use crate::domain::{DataTypeStatus, Dataset, PullStatus};
use crate::error::StoreError;
use crate::ports::{DatasetStore, StaleDataset, Staleness};

impl DynamoStore {
    /// An UpdateItem of a dataset that applies only while it is running (Queued, Fetching,
    /// MapQueued, Mapping), with `:progress` bound.
    fn update_running_dataset(&self, company: Uuid, id: Uuid, progress: u8) -> UpdateItemFluentBuilder {
        let mut request = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(dataset_key(company, id)))
            .condition_expression("attribute_exists(pk) AND #status IN (:r0, :r1, :r2, :r3)")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":progress", AttributeValue::N(progress.to_string()));
        for (i, status) in PullStatus::RUNNING.iter().enumerate() {
            request = request.expression_attribute_values(format!(":r{i}"), s(status.as_str()));
        }
        request
    }
}

impl DynamoStore {
    /// Moves the `lastSync` of a connection and its company forward to `at` (never back, and
    /// never onto an item that is gone).
    async fn record_last_sync(&self, company: Uuid, connection: Uuid, at: DateTime<Utc>) -> Result<(), StoreError> {
        let value = serde_dynamo::aws_sdk_dynamodb_1::to_attribute_value(at)
            .map_err(|e| StoreError::Backend(format!("serialise lastSync: {e}")))?;
        for key in [connection_key(company, connection), company_key(company)] {
            let moved = self
                .client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(key))
                .update_expression("SET last_sync = :at")
                .condition_expression(
                    "attribute_exists(pk) AND (attribute_not_exists(last_sync) OR attribute_type(last_sync, :null) OR last_sync < :at)",
                )
                .expression_attribute_values(":at", value.clone())
                .expression_attribute_values(":null", s("NULL"))
                .send()
                .await
                .map_err(classify);
            condition_ok(moved)?;
        }
        Ok(())
    }
}

#[async_trait]
impl DatasetStore for DynamoStore {
    async fn queue_datasets(&self, datasets: &[Dataset]) -> Result<(), StoreError> {
        let items = datasets
            .iter()
            .map(|d| {
                let mut keys = dataset_key(d.company_id, d.id);
                keys.insert("gsi3pk".into(), s(UNSENT_PK));
                keys.insert("gsi3sk".into(), s(timestamp(d.requested)));
                item(d, "dataset", keys)
            })
            .collect::<Result<Vec<_>, _>>()?;
        self.batch.put(items).await?;
        for d in datasets {
            // Update, not put: the last successful sync of the data type must survive. A later
            // dataset already the latest fails the condition: this one stays in the history only.
            let updated = self
                .client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(status_key(d.company_id, d.connection_id, d.data_type)))
                .update_expression(
                    "SET kind = :kind, connection_id = :conn, data_type = :dt, current_status = :status, latest_sync_id = :id, latest_requested = :requested",
                )
                .condition_expression("attribute_not_exists(latest_requested) OR latest_requested <= :requested")
                .expression_attribute_values(":kind", s("datastatus"))
                .expression_attribute_values(":conn", s(d.connection_id.to_string()))
                .expression_attribute_values(":dt", s(d.data_type.key()))
                .expression_attribute_values(":status", s(d.status.as_str()))
                .expression_attribute_values(":id", s(d.id.to_string()))
                .expression_attribute_values(":requested", s(timestamp(d.requested)))
                .send()
                .await
                .map_err(classify);
            condition_ok(updated)?;
        }
        Ok(())
    }

    async fn mark_sent(&self, company: Uuid, datasets: &[Uuid]) -> Result<(), StoreError> {
        let updates = datasets.iter().map(|id| async move {
            let sent = self
                .client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(dataset_key(company, *id)))
                .update_expression("REMOVE gsi3pk, gsi3sk")
                .condition_expression("gsi3pk = :unsent")
                .expression_attribute_values(":unsent", s(UNSENT_PK))
                .send()
                .await
                .map_err(classify);
            // A run took it up already (or it ended): it is not waiting to be sent.
            condition_ok(sent)
        });
        futures::future::try_join_all(updates).await.map(drop)
    }

    async fn pause_dataset(&self, company: Uuid, id: Uuid, until: DateTime<Utc>) -> Result<(), StoreError> {
        let paused = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(dataset_key(company, id)))
            .update_expression("SET gsi3sk = :until")
            .condition_expression("gsi3pk = :live")
            .expression_attribute_values(":live", s(LIVE_PK))
            .expression_attribute_values(":until", s(timestamp(until)))
            .send()
            .await
            .map_err(classify);
        condition_ok(paused).map(drop)
    }

    async fn stale_datasets(
        &self,
        kind: Staleness,
        before: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<StaleDataset>, StoreError> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(SWEEP_INDEX)
            .key_condition_expression("gsi3pk = :kind AND gsi3sk < :before")
            .expression_attribute_values(":kind", s(sweep_pk(kind)))
            .expression_attribute_values(":before", s(timestamp(before)))
            .limit(limit.min(1000) as i32)
            .send()
            .await
            .map_err(classify)?;
        Ok(out
            .items
            .unwrap_or_default()
            .iter()
            .filter_map(|item| {
                let (company, dataset) = parse_dataset_key(item)?;
                let seen = item.get("gsi3sk")?.as_s().ok()?.clone();
                Some(StaleDataset { company, dataset, seen })
            })
            .collect())
    }

    async fn claim_stale(&self, kind: Staleness, seen: &StaleDataset, now: DateTime<Utc>) -> Result<bool, StoreError> {
        let claimed = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(dataset_key(seen.company, seen.dataset)))
            .update_expression("SET gsi3sk = :now")
            .condition_expression("gsi3pk = :kind AND gsi3sk = :seen")
            .expression_attribute_values(":kind", s(sweep_pk(kind)))
            .expression_attribute_values(":seen", s(seen.seen.clone()))
            .expression_attribute_values(":now", s(timestamp(now)))
            .send()
            .await
            .map_err(classify);
        condition_ok(claimed)
    }

    async fn dataset(&self, company: Uuid, id: Uuid) -> Result<Option<Dataset>, StoreError> {
        self.get(dataset_key(company, id)).await?.map(record).transpose()
    }

    async fn datasets(&self, company: Uuid) -> Result<Vec<Dataset>, StoreError> {
        self.partition_from(datasets_pk(company), Some("DATASET#"))
            .await?
            .into_iter()
            .filter(|i| kind(i) == Some("dataset"))
            .map(record)
            .collect()
    }

    async fn data_statuses(&self, company: Uuid) -> Result<Vec<DataTypeStatus>, StoreError> {
        // The status items only: one per (connection, data type), however long the history.
        self.partition_from(datasets_pk(company), Some("STATUS#"))
            .await?
            .into_iter()
            .filter(|i| kind(i) == Some("datastatus"))
            .map(record)
            .collect()
    }

    async fn advance_dataset(
        &self,
        company: Uuid,
        id: Uuid,
        to: PullStatus,
        progress: u8,
        error_message: Option<String>,
        now: DateTime<Utc>,
    ) -> Result<Option<Dataset>, StoreError> {
        let mut request = self
            .update_running_dataset(company, id, progress)
            .expression_attribute_values(":to", s(to.as_str()))
            .return_values(ReturnValue::AllNew);
        request = if to.is_final() {
            let message = error_message.map_or(AttributeValue::Null(true), AttributeValue::S);
            request
                .update_expression(
                    "SET #status = :to, progress = :progress, completed = :completed, error_message = :message REMOVE gsi3pk, gsi3sk",
                )
                .expression_attribute_values(":completed", s(timestamp(now)))
                .expression_attribute_values(":message", message)
        } else {
            request
                .update_expression("SET #status = :to, progress = :progress, gsi3pk = :live, gsi3sk = :alive")
                .expression_attribute_values(":live", s(LIVE_PK))
                .expression_attribute_values(":alive", s(timestamp(now)))
        };
        let dataset: Dataset = match request.send().await.map_err(classify) {
            Ok(out) => record(out.attributes.unwrap_or_default())?,
            // Already final (or gone): a redelivered job finds it as it is.
            Err(StoreError::ConditionFailed(_)) => return self.dataset(company, id).await,
            Err(e) => return Err(e),
        };
        let status_key = status_key(company, dataset.connection_id, dataset.data_type);
        // Only while this dataset is the latest of its data type.
        let current = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(status_key.clone()))
            .update_expression("SET current_status = :to")
            .condition_expression("latest_sync_id = :id")
            .expression_attribute_values(":to", s(to.as_str()))
            .expression_attribute_values(":id", s(id.to_string()))
            .send()
            .await
            .map_err(classify);
        condition_ok(current)?;
        if to == PullStatus::Complete {
            // The last success only moves forward.
            let at = timestamp(now);
            let success = self
                .client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(status_key))
                .update_expression("SET latest_successful_sync_id = :id, last_successful_sync = :at")
                .condition_expression("attribute_not_exists(last_successful_sync) OR last_successful_sync <= :at")
                .expression_attribute_values(":id", s(id.to_string()))
                .expression_attribute_values(":at", s(at))
                .send()
                .await
                .map_err(classify);
            condition_ok(success)?;
            self.record_last_sync(company, dataset.connection_id, now).await?;
        }
        Ok(Some(dataset))
    }

    async fn checkpoint_dataset(
        &self,
        company: Uuid,
        id: Uuid,
        progress: u8,
        checkpoint: &str,
    ) -> Result<bool, StoreError> {
        let request = self
            .update_running_dataset(company, id, progress)
            .update_expression("SET progress = :progress, #checkpoint = :checkpoint, gsi3pk = :live, gsi3sk = :alive")
            .expression_attribute_names("#checkpoint", "checkpoint")
            .expression_attribute_values(":checkpoint", s(checkpoint))
            .expression_attribute_values(":live", s(LIVE_PK))
            .expression_attribute_values(":alive", s(timestamp(Utc::now())));
        condition_ok(request.send().await.map_err(classify))
    }

    async fn record_count(&self, company: Uuid, id: Uuid, records: u64) -> Result<(), StoreError> {
        let written = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(dataset_key(company, id)))
            .update_expression("SET #records = :n")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_names("#records", "records")
            .expression_attribute_values(":n", AttributeValue::N(records.to_string()))
            .send()
            .await
            .map_err(classify);
        condition_ok(written).map(|_| ())
    }
}
