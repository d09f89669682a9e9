//! Datasets (pull operations) and the latest status of each (connection, data type).

use async_trait::async_trait;
use aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue, TransactWriteItem, Update};
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::item::{
    Item, LIVE_PK, UNSENT_PK, classify, company_key, condition_applied, condition_ok, connection_key, dataset_key,
    datasets_pk, history_pk, item, key_of, kind, parse_dataset_key, record, s, status_key, sweep_pk, text,
};
use super::{DynamoStore, HISTORY_INDEX, SWEEP_INDEX};
use crate::codat::timestamp;
use crate::domain::{DataType, DataTypeStatus, Dataset, Event, PullStatus};
use crate::error::StoreError;
use crate::ports::{DatasetStore, StaleDataset, Staleness};

/// The update that ends a dataset (`:to`, `:progress`, `:completed`, `:message`).
const ENDED: &str =
    "SET #status = :to, progress = :progress, completed = :completed, error_message = :message REMOVE gsi3pk, gsi3sk";
/// The condition that a dataset is running (`:r0`..`:r3` bound to [`PullStatus::RUNNING`]).
const RUNNING_TEST: &str = "#status IN (:r0, :r1, :r2, :r3)";

impl DynamoStore {
    /// An UpdateItem of a dataset that applies only while it is running (Queued, Fetching,
    /// MapQueued, Mapping), or with `running` false only once it has ended.
    fn update_dataset(&self, company: Uuid, id: Uuid, running: bool) -> UpdateItemFluentBuilder {
        let test = if running { RUNNING_TEST.to_string() } else { format!("NOT ({RUNNING_TEST})") };
        let mut request = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(dataset_key(company, id)))
            .condition_expression(format!("attribute_exists(pk) AND {test}"))
            .expression_attribute_names("#status", "status");
        for (i, status) in PullStatus::RUNNING.iter().enumerate() {
            request = request.expression_attribute_values(format!(":r{i}"), s(status.as_str()));
        }
        request
    }

    /// [`Self::update_dataset`] of a running dataset, with `:progress` bound.
    fn update_running_dataset(&self, company: Uuid, id: Uuid, progress: u8) -> UpdateItemFluentBuilder {
        self.update_dataset(company, id, true)
            .expression_attribute_values(":progress", AttributeValue::N(progress.to_string()))
    }
}

/// The datasets of a data type that never leave the history: its latest and latest successful.
fn protected(status: &Item) -> Vec<String> {
    ["latest_sync_id", "latest_successful_sync_id"].iter().filter_map(|n| text(status, n).map(str::to_string)).collect()
}

impl DynamoStore {
    /// Gives the datasets `ended` supersedes their expiry: those it replaced as the latest
    /// (kept in the status's `superseded` set until they end), the latest success it replaced,
    /// and itself when a newer dataset is the latest, unless one is still the latest or the
    /// latest successful of the data type.
    async fn expire_superseded(
        &self,
        ended: &Dataset,
        replaced_success: Option<String>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let key = status_key(ended.company_id, ended.connection_id, ended.data_type);
        let Some(status) = self.get(key.clone()).await? else { return Ok(()) };
        let exempt = protected(&status);
        let mut candidates: Vec<String> =
            status.get("superseded").and_then(|v| v.as_ss().ok()).cloned().unwrap_or_default();
        candidates.extend(replaced_success);
        candidates.push(ended.id.to_string());
        candidates.sort();
        candidates.dedup();
        let expires = (now + self.history.retention).timestamp();
        let mut settled = Vec::new();
        for candidate in candidates.into_iter().filter(|c| !exempt.contains(c)) {
            let Ok(id) = Uuid::parse_str(&candidate) else { continue };
            let expiring = self
                .update_dataset(ended.company_id, id, false)
                .update_expression("SET expires_at = if_not_exists(expires_at, :expires)")
                .expression_attribute_values(":expires", AttributeValue::N(expires.to_string()))
                .send()
                .await
                .map_err(classify);
            match expiring {
                Ok(_) => settled.push(candidate),
                // Gone, or still running (it ends later, and is expired then).
                Err(StoreError::ConditionFailed(_)) => {
                    if self.get(dataset_key(ended.company_id, id)).await?.is_none() {
                        settled.push(candidate);
                    }
                }
                Err(e) => return Err(e),
            }
        }
        if !settled.is_empty() {
            self.client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(key))
                .update_expression("DELETE superseded :done")
                .expression_attribute_values(":done", AttributeValue::Ss(settled))
                .send()
                .await
                .map_err(classify)?;
        }
        Ok(())
    }

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

impl DynamoStore {
    /// The first write of [`DatasetStore::advance_dataset`]: the dataset moves to `to` if it is
    /// still running (`ConditionFailed` otherwise). Returns it as stored.
    async fn move_dataset(
        &self,
        company: Uuid,
        id: Uuid,
        to: PullStatus,
        progress: u8,
        error_message: Option<String>,
        now: DateTime<Utc>,
    ) -> Result<Dataset, StoreError> {
        let mut request = self
            .update_running_dataset(company, id, progress)
            .expression_attribute_values(":to", s(to.as_str()))
            .return_values(ReturnValue::AllNew);
        request = if to.is_final() {
            let message = error_message.map_or(AttributeValue::Null(true), AttributeValue::S);
            request
                .update_expression(ENDED)
                .expression_attribute_values(":completed", s(timestamp(now)))
                .expression_attribute_values(":message", message)
        } else {
            request
                .update_expression("SET #status = :to, progress = :progress, gsi3pk = :live, gsi3sk = :alive")
                .expression_attribute_values(":live", s(LIVE_PK))
                .expression_attribute_values(":alive", s(timestamp(now)))
        };
        let out = request.send().await.map_err(classify)?;
        record(out.attributes.unwrap_or_default())
    }

    /// [`Self::move_dataset`] to a final `to`, with `events` in the same transaction.
    #[allow(clippy::too_many_arguments)]
    async fn end_dataset_reporting(
        &self,
        company: Uuid,
        id: Uuid,
        to: PullStatus,
        progress: u8,
        error_message: Option<String>,
        now: DateTime<Utc>,
        events: &[Event],
    ) -> Result<Dataset, StoreError> {
        let message = error_message.map_or(AttributeValue::Null(true), AttributeValue::S);
        let mut update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(dataset_key(company, id)))
            .condition_expression(format!("attribute_exists(pk) AND {RUNNING_TEST}"))
            .update_expression(ENDED)
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":to", s(to.as_str()))
            .expression_attribute_values(":progress", AttributeValue::N(progress.to_string()))
            .expression_attribute_values(":completed", s(timestamp(now)))
            .expression_attribute_values(":message", message);
        for (i, status) in PullStatus::RUNNING.iter().enumerate() {
            update = update.expression_attribute_values(format!(":r{i}"), s(status.as_str()));
        }
        let update = update.build().map_err(|e| StoreError::Backend(e.to_string()))?;
        self.transact_reporting(vec![TransactWriteItem::builder().update(update).build()], events).await?;
        self.dataset(company, id).await?.ok_or_else(|| StoreError::ConditionFailed("dataset gone".into()))
    }

    /// What follows a dataset's move to `to` at `now`: its data type's current status (while
    /// it is the latest), and for a final one the last success, `lastSync` and the expiry of
    /// what it supersedes. Each write is idempotent: applying it again changes nothing.
    async fn after_advance(&self, dataset: &Dataset, to: PullStatus, now: DateTime<Utc>) -> Result<(), StoreError> {
        let (company, id) = (dataset.company_id, dataset.id);
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
        let mut replaced_success = None;
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
                .return_values(ReturnValue::UpdatedOld)
                .send()
                .await
                .map_err(classify);
            if let Some(old) = condition_applied(success)? {
                replaced_success = old
                    .attributes
                    .as_ref()
                    .and_then(|a| text(a, "latest_successful_sync_id"))
                    .filter(|old| *old != id.to_string())
                    .map(str::to_string);
            }
            self.record_last_sync(company, dataset.connection_id, now).await?;
        }
        if to.is_final() {
            self.expire_superseded(dataset, replaced_success, now).await?;
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
                // A targeted sync has no job to send again (its message is on the fresh queue).
                if !d.targeted {
                    keys.insert("gsi3pk".into(), s(UNSENT_PK));
                    keys.insert("gsi3sk".into(), s(timestamp(d.requested)));
                }
                keys.insert("gsi4pk".into(), s(history_pk(d.connection_id, d.data_type)));
                keys.insert("gsi4sk".into(), s(d.id.to_string()));
                item(d, "dataset", keys)
            })
            .collect::<Result<Vec<_>, _>>()?;
        self.batch.put(items).await?;
        for d in datasets {
            // Update, not put: the last successful sync of the data type must survive. A later
            // dataset already the latest fails the condition: this one stays in the history only.
            // So does a targeted sync while another sync of the data type runs.
            let condition = match d.targeted {
                false => "attribute_not_exists(latest_requested) OR latest_requested <= :requested",
                true => {
                    "(attribute_not_exists(latest_requested) OR latest_requested <= :requested) AND NOT (current_status IN (:queued, :fetching, :mapqueued, :mapping))"
                }
            };
            let mut update = self.client.update_item();
            if d.targeted {
                for (name, status) in [
                    (":queued", PullStatus::Queued),
                    (":fetching", PullStatus::Fetching),
                    (":mapqueued", PullStatus::MapQueued),
                    (":mapping", PullStatus::Mapping),
                ] {
                    update = update.expression_attribute_values(name, s(status.as_str()));
                }
            }
            let updated = update
                .table_name(&self.table)
                .set_key(Some(status_key(d.company_id, d.connection_id, d.data_type)))
                .update_expression(
                    "SET kind = :kind, connection_id = :conn, data_type = :dt, current_status = :status, latest_sync_id = :id, latest_requested = :requested",
                )
                .condition_expression(condition)
                .expression_attribute_values(":kind", s("datastatus"))
                .expression_attribute_values(":conn", s(d.connection_id.to_string()))
                .expression_attribute_values(":dt", s(d.data_type.key()))
                .expression_attribute_values(":status", s(d.status.as_str()))
                .expression_attribute_values(":id", s(d.id.to_string()))
                .expression_attribute_values(":requested", s(timestamp(d.requested)))
                .return_values(ReturnValue::AllOld)
                .send()
                .await
                .map_err(classify);
            let superseded = condition_applied(updated)?
                .and_then(|out| out.attributes)
                .and_then(|a| text(&a, "latest_sync_id").map(str::to_string))
                .filter(|old| *old != d.id.to_string());
            if let Some(old) = superseded {
                // The dataset it replaces as the latest gets its expiry when this one ends.
                self.client
                    .update_item()
                    .table_name(&self.table)
                    .set_key(Some(status_key(d.company_id, d.connection_id, d.data_type)))
                    .update_expression("ADD superseded :old")
                    .expression_attribute_values(":old", AttributeValue::Ss(vec![old]))
                    .send()
                    .await
                    .map_err(classify)?;
            }
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
        let dataset: Option<Dataset> = self.get(dataset_key(company, id)).await?.map(record).transpose()?;
        Ok(dataset.filter(|d| !d.expired(Utc::now())))
    }

    async fn datasets(&self, company: Uuid) -> Result<Vec<Dataset>, StoreError> {
        let now = Utc::now();
        let datasets: Vec<Dataset> = self
            .partition_from(datasets_pk(company), Some("DATASET#"))
            .await?
            .into_iter()
            .filter(|i| kind(i) == Some("dataset"))
            .map(record)
            .collect::<Result<_, _>>()?;
        Ok(datasets.into_iter().filter(|d| !d.expired(now)).collect())
    }

    async fn history_page(
        &self,
        company: Uuid,
        offset: usize,
        limit: usize,
        now: DateTime<Utc>,
    ) -> Result<(Vec<Dataset>, u64), StoreError> {
        let live = "attribute_not_exists(expires_at) OR expires_at > :now";
        let query = || {
            self.client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
                .filter_expression(live)
                .expression_attribute_values(":pk", s(datasets_pk(company)))
                .expression_attribute_values(":prefix", s("DATASET#"))
                .expression_attribute_values(":now", AttributeValue::N(now.timestamp().to_string()))
        };
        // Newest first (ids are time-ordered), reading no further than the page's end.
        let request = query().scan_index_forward(false).limit((offset + limit).clamp(1, 1000) as i32);
        let (mut page, mut seen) = (Vec::new(), 0usize);
        self.each_page(request, |out| {
            self.count_history_read(out.scanned_count);
            for item in out.items.unwrap_or_default() {
                if seen < offset {
                    seen += 1;
                } else if page.len() < limit {
                    page.push(record::<Dataset>(item)?);
                }
            }
            Ok(page.len() < limit)
        })
        .await?;
        // The count reads each data type's keys in the history index (about 100 bytes a
        // dataset, bounded by History::per_data_type), not the datasets.
        let statuses = self.data_statuses(company).await?;
        let counts = statuses.iter().map(|status| async move {
            let request = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(HISTORY_INDEX)
                .key_condition_expression("gsi4pk = :pk")
                .filter_expression(live)
                .expression_attribute_values(":pk", s(history_pk(status.connection_id, status.data_type)))
                .expression_attribute_values(":now", AttributeValue::N(now.timestamp().to_string()))
                .select(aws_sdk_dynamodb::types::Select::Count);
            let mut count = 0u64;
            self.each_page(request, |out| {
                self.count_history_read(out.scanned_count);
                count += out.count.max(0) as u64;
                Ok(true)
            })
            .await?;
            Ok::<u64, StoreError>(count)
        });
        let total = futures::future::try_join_all(counts).await?.into_iter().sum();
        Ok((page, total))
    }

    async fn trim_history(
        &self,
        company: Uuid,
        connection: Uuid,
        data_type: DataType,
        keep: usize,
    ) -> Result<u64, StoreError> {
        let kept =
            self.get(status_key(company, connection, data_type)).await?.map(|s| protected(&s)).unwrap_or_default();
        let request = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(HISTORY_INDEX)
            .key_condition_expression("gsi4pk = :pk")
            .expression_attribute_values(":pk", s(history_pk(connection, data_type)))
            .scan_index_forward(false);
        let (mut keys, mut seen) = (Vec::new(), 0usize);
        self.each_page(request, |out| {
            for item in out.items.unwrap_or_default() {
                seen += 1;
                let id = text(&item, "gsi4sk").unwrap_or_default().to_string();
                if seen > keep && !kept.contains(&id) {
                    keys.push(key_of(item));
                }
            }
            Ok(true)
        })
        .await?;
        let trimmed = keys.len() as u64;
        self.batch.delete(keys).await?;
        Ok(trimmed)
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

    async fn advance_dataset_reporting(
        &self,
        company: Uuid,
        id: Uuid,
        to: PullStatus,
        progress: u8,
        error_message: Option<String>,
        now: DateTime<Utc>,
        events: &[Event],
    ) -> Result<Option<Dataset>, StoreError> {
        let written = match to.is_final() && !events.is_empty() {
            true => self.end_dataset_reporting(company, id, to, progress, error_message, now, events).await,
            false => self.move_dataset(company, id, to, progress, error_message, now).await,
        };
        let dataset = match written {
            Ok(dataset) => dataset,
            Err(StoreError::ConditionFailed(_)) => {
                // Already final (or gone): a redelivered job finds it as it is, and its data
                // type's status in line with it (a run that died after the first write).
                let found = self.dataset(company, id).await?;
                if let Some(ended) = found.as_ref().filter(|d| d.status.is_final()) {
                    self.after_advance(ended, ended.status, ended.completed.unwrap_or(now)).await?;
                }
                return Ok(found);
            }
            Err(e) => return Err(e),
        };
        self.after_advance(&dataset, to, now).await?;
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

    async fn record_count(&self, company: Uuid, id: Uuid, records: u64, modified: bool) -> Result<(), StoreError> {
        let expression = match modified {
            true => "SET #records = :n, records_modified = :modified",
            false => "SET #records = :n",
        };
        let mut request = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(dataset_key(company, id)))
            .update_expression(expression)
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_names("#records", "records")
            .expression_attribute_values(":n", AttributeValue::N(records.to_string()));
        if modified {
            request = request.expression_attribute_values(":modified", AttributeValue::Bool(true));
        }
        condition_ok(request.send().await.map_err(classify)).map(|_| ())
    }
}
