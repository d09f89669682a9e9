//! DynamoDB adapter: the platform table (see `docs/storage.md` for the key design).
//!
//! | item | pk | sk | gsi1pk / gsi1sk |
//! |---|---|---|---|
//! | integration toggle | `INTEGRATION#vqzp` | `STATE` | |
//! | company | `COMPANY#<id>` | `COMPANY` | `COMPANIES` / `<id>` |
//! | connection | `COMPANY#<id>` | `CONNECTION#<connection id>` | `COMPANIES` / `<id>#CONNECTION#<connection id>` |
//! | sync settings | `COMPANY#<id>` | `SYNCSETTINGS` | |
//! | Link token | `LINK#<sha256 of token>` | `LINK` | |
//! | credential attempts | `ATTEMPTS#<link token hash>` | `<window start>` | | (TTL `expires_at`)

mod batch;
pub mod records;

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::{AttributeValue, ConditionCheck, Put, ReturnValue, TransactWriteItem};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_dynamo::aws_sdk_dynamodb_1::{from_item, to_item};
use uuid::Uuid;

pub use batch::{BatchWriter, MAX_BATCH_ITEMS};

use crate::domain::integration::PLATFORM_KEY;
use crate::domain::{
    Company, Connection, ConnectionStatus, DataType, DataTypeStatus, Dataset, IntegrationState, PullStatus,
    SyncSettings,
};
use crate::error::StoreError;
use crate::ports::{
    CompanyRecord, CompanyStore, ConnectionStore, DatasetStore, DueSync, IntegrationStore, LinkStore, LinkedStore,
    ScheduleStore, SyncSettingsStore,
};

/// Name of the index listing every company and connection.
pub const COMPANIES_INDEX: &str = "gsi1";
const COMPANIES_PARTITION: &str = "COMPANIES";

type Item = HashMap<String, AttributeValue>;

/// The platform table.
#[derive(Clone, Debug)]
pub struct DynamoStore {
    client: Client,
    table: String,
    batch: BatchWriter,
}

impl DynamoStore {
    /// Uses `table` through `client`.
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        let table = table.into();
        Self { batch: BatchWriter::new(client.clone(), table.clone()), client, table }
    }
}

fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

fn company_pk(id: Uuid) -> String {
    format!("COMPANY#{id}")
}

fn connection_sk(id: Uuid) -> String {
    format!("CONNECTION#{id}")
}

fn key(pk: String, sk: &str) -> Item {
    HashMap::from([("pk".to_string(), s(pk)), ("sk".to_string(), s(sk))])
}

/// Serialises a record and adds its keys and kind.
fn item<T: Serialize>(record: &T, kind: &str, keys: Item) -> Result<Item, StoreError> {
    let mut item: Item = to_item(record).map_err(|e| StoreError::Backend(format!("serialise {kind}: {e}")))?;
    item.extend(keys);
    item.insert("kind".into(), s(kind));
    Ok(item)
}

fn record<T: DeserializeOwned>(item: Item) -> Result<T, StoreError> {
    from_item(item).map_err(|e| StoreError::Backend(format!("deserialise item: {e}")))
}

fn kind(item: &Item) -> Option<&str> {
    item.get("kind").and_then(|v| v.as_s().ok()).map(String::as_str)
}

/// Maps an SDK error to a store error: conditions, throttling/transport, the rest.
pub(crate) fn classify<E: ProvideErrorMetadata + std::fmt::Debug, R: std::fmt::Debug>(
    err: SdkError<E, R>,
) -> StoreError {
    match &err {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) => StoreError::Unavailable(format!("{err:?}")),
        _ => match err.code() {
            Some("ConditionalCheckFailedException") => StoreError::ConditionFailed(err.message().unwrap_or("").into()),
            Some("TransactionCanceledException")
                if err.message().is_some_and(|m| m.contains("ConditionalCheckFailed")) =>
            {
                StoreError::ConditionFailed(err.message().unwrap_or("").into())
            }
            Some(
                "ProvisionedThroughputExceededException"
                | "ThrottlingException"
                | "RequestLimitExceeded"
                | "InternalServerError"
                | "ServiceUnavailable"
                | "TransactionConflictException"
                | "TransactionCanceledException",
            ) => StoreError::Unavailable(format!("{}: {}", err.code().unwrap_or(""), err.message().unwrap_or(""))),
            _ => StoreError::Backend(format!("{err:?}")),
        },
    }
}

impl DynamoStore {
    /// One item by key, strongly consistent.
    async fn get(&self, key: Item) -> Result<Option<Item>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key))
            .consistent_read(true)
            .send()
            .await
            .map_err(classify)?;
        Ok(out.item)
    }

    /// Every item of one partition, following pagination.
    async fn partition(&self, pk: String) -> Result<Vec<Item>, StoreError> {
        self.partition_from(pk, None).await
    }

    /// The items of partition `pk`, only those whose sort key starts with `prefix` when given.
    async fn partition_from(&self, pk: String, prefix: Option<&str>) -> Result<Vec<Item>, StoreError> {
        let mut items = Vec::new();
        let mut start: Option<Item> = None;
        let mut request =
            self.client.query().table_name(&self.table).expression_attribute_values(":pk", s(pk)).consistent_read(true);
        request = match prefix {
            Some(prefix) => request
                .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
                .expression_attribute_values(":prefix", s(prefix)),
            None => request.key_condition_expression("pk = :pk"),
        };
        loop {
            let out = request.clone().set_exclusive_start_key(start.take()).send().await.map_err(classify)?;
            items.extend(out.items.unwrap_or_default());
            match out.last_evaluated_key {
                Some(next) if !next.is_empty() => start = Some(next),
                _ => return Ok(items),
            }
        }
    }

    fn group(items: Vec<Item>) -> Result<Vec<CompanyRecord>, StoreError> {
        Self::group_with(items, false)
    }

    fn group_with(items: Vec<Item>, include_deleting: bool) -> Result<Vec<CompanyRecord>, StoreError> {
        let mut companies: HashMap<Uuid, CompanyRecord> = HashMap::new();
        let mut connections = Vec::new();
        for item in items {
            match kind(&item) {
                Some("company") if include_deleting || !item.contains_key("deleting") => {
                    let company: Company = record(item)?;
                    companies.insert(company.id, CompanyRecord { company, connections: Vec::new() });
                }
                Some("connection") => connections.push(record::<Connection>(item)?),
                _ => {}
            }
        }
        for connection in connections {
            if let Some(entry) = companies.get_mut(&connection.company_id) {
                entry.connections.push(connection);
            }
        }
        let mut records: Vec<CompanyRecord> = companies.into_values().collect();
        for r in &mut records {
            r.connections.sort_by_key(|c| (c.created, c.id));
        }
        Ok(records)
    }

    fn company_exists_check(&self, company: Uuid) -> Result<TransactWriteItem, StoreError> {
        let check = ConditionCheck::builder()
            .table_name(&self.table)
            .set_key(Some(key(company_pk(company), "COMPANY")))
            .condition_expression("attribute_exists(pk) AND attribute_not_exists(deleting)")
            .build()
            .map_err(|e| StoreError::Backend(e.to_string()))?;
        Ok(TransactWriteItem::builder().condition_check(check).build())
    }

    fn put(&self, item: Item, condition: Option<&str>) -> Result<TransactWriteItem, StoreError> {
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .set_condition_expression(condition.map(str::to_string))
            .build()
            .map_err(|e| StoreError::Backend(e.to_string()))?;
        Ok(TransactWriteItem::builder().put(put).build())
    }
}

#[async_trait]
impl IntegrationStore for DynamoStore {
    async fn integration_state(&self) -> Result<IntegrationState, StoreError> {
        self.get(key(format!("INTEGRATION#{PLATFORM_KEY}"), "STATE"))
            .await?
            .map(record)
            .transpose()
            .map(Option::unwrap_or_default)
    }

    async fn set_integration_enabled(&self, enabled: bool, at: DateTime<Utc>) -> Result<IntegrationState, StoreError> {
        let state = IntegrationState { enabled, updated: Some(at) };
        let item = item(&state, "integration", key(format!("INTEGRATION#{PLATFORM_KEY}"), "STATE"))?;
        self.client.put_item().table_name(&self.table).set_item(Some(item)).send().await.map_err(classify)?;
        Ok(state)
    }
}

#[async_trait]
impl CompanyStore for DynamoStore {
    async fn create_company(&self, company: &Company) -> Result<(), StoreError> {
        let mut keys = key(company_pk(company.id), "COMPANY");
        keys.insert("gsi1pk".into(), s(COMPANIES_PARTITION));
        keys.insert("gsi1sk".into(), s(company.id.to_string()));
        let company_item = item(company, "company", keys)?;
        let mut link_item = key(format!("LINK#{}", company.link_token_hash), "LINK");
        link_item.insert("kind".into(), s("link"));
        link_item.insert("company_id".into(), s(company.id.to_string()));
        self.client
            .transact_write_items()
            .transact_items(self.put(company_item, Some("attribute_not_exists(pk)"))?)
            .transact_items(self.put(link_item, Some("attribute_not_exists(pk)"))?)
            .send()
            .await
            .map_err(classify)?;
        Ok(())
    }

    async fn get_company(&self, id: Uuid) -> Result<Option<CompanyRecord>, StoreError> {
        let items = self.partition(company_pk(id)).await?;
        Ok(Self::group(items)?.pop())
    }

    async fn list_companies(&self) -> Result<Vec<CompanyRecord>, StoreError> {
        let mut items = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(COMPANIES_INDEX)
                .key_condition_expression("gsi1pk = :p")
                .expression_attribute_values(":p", s(COMPANIES_PARTITION))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(classify)?;
            items.extend(out.items.unwrap_or_default());
            match out.last_evaluated_key {
                Some(next) if !next.is_empty() => start = Some(next),
                _ => break,
            }
        }
        Self::group(items)
    }

    async fn update_company_details(&self, company: &Company) -> Result<(), StoreError> {
        let tags = to_item(&company.tags).map_err(|e| StoreError::Backend(e.to_string()))?;
        let description = company.description.clone().map_or(AttributeValue::Null(true), AttributeValue::S);
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(company_pk(company.id), "COMPANY")))
            .update_expression("SET #name = :name, description = :description, tags = :tags")
            .condition_expression("attribute_exists(pk) AND attribute_not_exists(deleting)")
            .expression_attribute_names("#name", "name")
            .expression_attribute_values(":name", s(company.name.as_str()))
            .expression_attribute_values(":description", description)
            .expression_attribute_values(":tags", AttributeValue::M(tags))
            .send()
            .await
            .map_err(classify)?;
        Ok(())
    }

    async fn company_by_link_hash(&self, token_hash: &str) -> Result<Option<CompanyRecord>, StoreError> {
        let Some(link) = self.get(key(format!("LINK#{token_hash}"), "LINK")).await? else {
            return Ok(None);
        };
        let Some(id) = link.get("company_id").and_then(|v| v.as_s().ok()).and_then(|s| Uuid::parse_str(s).ok()) else {
            return Ok(None);
        };
        self.get_company(id).await
    }

    async fn mark_company_deleting(&self, id: Uuid) -> Result<Option<CompanyRecord>, StoreError> {
        let marked = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(company_pk(id), "COMPANY")))
            .update_expression("SET deleting = :t REMOVE gsi1pk, gsi1sk")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":t", AttributeValue::Bool(true))
            .send()
            .await
            .map_err(classify);
        match marked {
            Ok(_) => Ok(Self::group_with(self.partition(company_pk(id)).await?, true)?.pop()),
            Err(StoreError::ConditionFailed(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn purge_company(&self, id: Uuid) -> Result<(), StoreError> {
        let items = self.partition(company_pk(id)).await?;
        let link_hash = items
            .iter()
            .find(|item| kind(item) == Some("company"))
            .and_then(|item| item.get("link_token_hash"))
            .and_then(|v| v.as_s().ok())
            .cloned();
        // Children and the Link token first, the company item last, so a failed purge leaves the
        // company findable (and still marked) for a retry.
        let mut keys: Vec<Item> = items
            .into_iter()
            .filter(|item| kind(item) != Some("company"))
            .map(|item| item.into_iter().filter(|(k, _)| k == "pk" || k == "sk").collect())
            .collect();
        if let Some(hash) = link_hash {
            keys.push(key(format!("LINK#{hash}"), "LINK"));
        }
        keys.extend(
            self.partition(datasets_pk(id))
                .await?
                .into_iter()
                .map(|item| item.into_iter().filter(|(k, _)| k == "pk" || k == "sk").collect::<Item>()),
        );
        self.batch.delete(keys).await?;
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(company_pk(id), "COMPANY")))
            .send()
            .await
            .map_err(classify)?;
        Ok(())
    }
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
        let update = aws_sdk_dynamodb::types::Update::builder()
            .table_name(&self.table)
            .set_key(Some(key(company_pk(company), &connection_sk(id))))
            .update_expression("SET link_lease = :lease, link_lease_until = :until")
            .condition_expression(
                "attribute_exists(pk) AND #status IN (:s0, :s1, :s2) AND (attribute_not_exists(link_lease) OR link_lease_until < :now)",
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

    async fn complete_link(
        &self,
        company: Uuid,
        id: Uuid,
        lease: Uuid,
        linked: &LinkedStore,
    ) -> Result<Connection, StoreError> {
        let info = to_item(&linked.info).map_err(|e| StoreError::Backend(e.to_string()))?;
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(company_pk(company), &connection_sk(id))))
            .update_expression("SET #status = :linked, store_hash = :hash, secret_name = :secret, info = :info REMOVE link_lease, link_lease_until")
            .condition_expression("link_lease = :lease")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":linked", s(ConnectionStatus::Linked.as_str()))
            .expression_attribute_values(":hash", s(linked.store_hash.clone()))
            .expression_attribute_values(":secret", s(linked.secret_name.clone()))
            .expression_attribute_values(":info", AttributeValue::M(info))
            .expression_attribute_values(":lease", s(lease.to_string()))
            .return_values(ReturnValue::AllNew)
            .send()
            .await
            .map_err(classify)?;
        record(out.attributes.unwrap_or_default())
    }

    async fn release_link(&self, company: Uuid, id: Uuid, lease: Uuid) -> Result<(), StoreError> {
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(company_pk(company), &connection_sk(id))))
            .update_expression("REMOVE link_lease, link_lease_until")
            .condition_expression("link_lease = :lease")
            .expression_attribute_values(":lease", s(lease.to_string()))
            .send()
            .await
            .map_err(classify);
        match out {
            Ok(_) | Err(StoreError::ConditionFailed(_)) => Ok(()),
            Err(e) => Err(e),
        }
    }

    async fn count_attempt(&self, attempt_key: &str, window_start: i64, expires: i64) -> Result<u32, StoreError> {
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(format!("ATTEMPTS#{attempt_key}"), &window_start.to_string())))
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
}

#[async_trait]
impl ConnectionStore for DynamoStore {
    async fn create_connection(&self, connection: &Connection) -> Result<(), StoreError> {
        let mut keys = key(company_pk(connection.company_id), &connection_sk(connection.id));
        keys.insert("gsi1pk".into(), s(COMPANIES_PARTITION));
        keys.insert("gsi1sk".into(), s(format!("{}#{}", connection.company_id, connection_sk(connection.id))));
        let item = item(connection, "connection", keys)?;
        self.client
            .transact_write_items()
            .transact_items(self.company_exists_check(connection.company_id)?)
            .transact_items(self.put(item, Some("attribute_not_exists(pk)"))?)
            .send()
            .await
            .map_err(classify)?;
        Ok(())
    }

    async fn get_connection(&self, company: Uuid, id: Uuid) -> Result<Option<Connection>, StoreError> {
        self.get(key(company_pk(company), &connection_sk(id))).await?.map(record).transpose()
    }

    async fn set_connection_status(
        &self,
        company: Uuid,
        id: Uuid,
        from: &[ConnectionStatus],
        to: ConnectionStatus,
    ) -> Result<Connection, StoreError> {
        let placeholders: Vec<String> = (0..from.len()).map(|i| format!(":from{i}")).collect();
        let mut request = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(company_pk(company), &connection_sk(id))))
            .update_expression("SET #status = :to")
            .condition_expression(format!("attribute_exists(pk) AND #status IN ({})", placeholders.join(", ")))
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":to", s(to.as_str()))
            .return_values(ReturnValue::AllNew);
        for (placeholder, status) in placeholders.iter().zip(from) {
            request = request.expression_attribute_values(placeholder, s(status.as_str()));
        }
        let out = request.send().await.map_err(classify)?;
        record(out.attributes.unwrap_or_default())
    }

    async fn delete_connection(&self, company: Uuid, id: Uuid) -> Result<bool, StoreError> {
        let out = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(company_pk(company), &connection_sk(id))))
            .return_values(ReturnValue::AllOld)
            .send()
            .await
            .map_err(classify)?;
        Ok(out.attributes.is_some_and(|a| !a.is_empty()))
    }
}

#[async_trait]
impl SyncSettingsStore for DynamoStore {
    async fn sync_settings(&self, company: Uuid) -> Result<Option<SyncSettings>, StoreError> {
        self.get(key(company_pk(company), "SYNCSETTINGS")).await?.map(record).transpose()
    }

    async fn put_sync_settings(&self, company: Uuid, settings: &SyncSettings) -> Result<(), StoreError> {
        let item = item(settings, "syncsettings", key(company_pk(company), "SYNCSETTINGS"))?;
        self.client
            .transact_write_items()
            .transact_items(self.company_exists_check(company)?)
            .transact_items(self.put(item, None)?)
            .send()
            .await
            .map_err(classify)?;
        Ok(())
    }
}

fn datasets_pk(company: Uuid) -> String {
    format!("DATASETS#{company}")
}

impl DynamoStore {
    /// An UpdateItem of a dataset that applies only while it is running (Queued, Fetching,
    /// MapQueued, Mapping), with `:progress` bound.
    fn update_running_dataset(
        &self,
        company: Uuid,
        id: Uuid,
        progress: u8,
    ) -> aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder {
        let mut request = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(datasets_pk(company), &format!("DATASET#{id}"))))
            .condition_expression("attribute_exists(pk) AND #status IN (:r0, :r1, :r2, :r3)")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":progress", AttributeValue::N(progress.to_string()));
        for (i, status) in PullStatus::RUNNING.iter().enumerate() {
            request = request.expression_attribute_values(format!(":r{i}"), s(status.as_str()));
        }
        request
    }
}

/// Partition key of the due index (`gsi2`): every scheduled sync of the deployment.
const DUE_PK: &str = "DUE";

/// Sort key of a scheduled sync in the due index: due time first (fixed width), then ids.
fn due_key(due: DateTime<Utc>, company: Uuid, connection: Uuid, data_type: DataType) -> String {
    format!("{}#{company}#{connection}#{}", crate::codat::timestamp(due), data_type.key())
}

fn parse_due_key(raw: &str) -> Option<DueSync> {
    let mut parts = raw.splitn(4, '#');
    let due = chrono::DateTime::parse_from_rfc3339(parts.next()?).ok()?.with_timezone(&Utc);
    let company = Uuid::parse_str(parts.next()?).ok()?;
    let connection = Uuid::parse_str(parts.next()?).ok()?;
    let data_type = DataType::parse(parts.next()?)?;
    Some(DueSync { company, connection, data_type, due })
}

fn status_key(company: Uuid, connection: Uuid, data_type: DataType) -> Item {
    key(datasets_pk(company), &format!("STATUS#{connection}#{}", data_type.key()))
}

#[async_trait]
impl ScheduleStore for DynamoStore {
    async fn schedule_sync(
        &self,
        company: Uuid,
        connection: Uuid,
        data_type: DataType,
        due: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let updated = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(status_key(company, connection, data_type)))
            .update_expression("SET gsi2pk = :due_pk, gsi2sk = :due_key")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":due_pk", s(DUE_PK))
            .expression_attribute_values(":due_key", s(due_key(due, company, connection, data_type)))
            .send()
            .await
            .map_err(classify);
        match updated {
            // No status (the company was deleted meanwhile): nothing to schedule.
            Ok(_) | Err(StoreError::ConditionFailed(_)) => Ok(()),
            Err(e) => Err(e),
        }
    }

    async fn due_syncs(&self, now: DateTime<Utc>, limit: usize) -> Result<Vec<DueSync>, StoreError> {
        // '$' sorts right after '#': every key due at `now` or earlier.
        let bound = format!("{}$", crate::codat::timestamp(now));
        let mut due = Vec::new();
        let mut start = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .index_name("gsi2")
                .key_condition_expression("gsi2pk = :due_pk AND gsi2sk < :bound")
                .expression_attribute_values(":due_pk", s(DUE_PK))
                .expression_attribute_values(":bound", s(bound.clone()))
                .projection_expression("gsi2sk")
                .limit((limit - due.len()).min(1000) as i32)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(classify)?;
            for item in out.items.unwrap_or_default() {
                if let Some(entry) = item.get("gsi2sk").and_then(|v| v.as_s().ok()).and_then(|k| parse_due_key(k)) {
                    due.push(entry);
                }
            }
            match out.last_evaluated_key {
                Some(next) if !next.is_empty() && due.len() < limit => start = Some(next),
                _ => return Ok(due),
            }
        }
    }

    async fn claim_due(&self, seen: &DueSync, until: DateTime<Utc>) -> Result<bool, StoreError> {
        let claimed = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(status_key(seen.company, seen.connection, seen.data_type)))
            .update_expression("SET gsi2sk = :next")
            .condition_expression("gsi2sk = :seen")
            .expression_attribute_values(":seen", s(due_key(seen.due, seen.company, seen.connection, seen.data_type)))
            .expression_attribute_values(":next", s(due_key(until, seen.company, seen.connection, seen.data_type)))
            .send()
            .await
            .map_err(classify);
        match claimed {
            Ok(_) => Ok(true),
            Err(StoreError::ConditionFailed(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }

    async fn unschedule(&self, seen: &DueSync) -> Result<(), StoreError> {
        let removed = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(status_key(seen.company, seen.connection, seen.data_type)))
            .update_expression("REMOVE gsi2pk, gsi2sk")
            .condition_expression("gsi2sk = :seen")
            .expression_attribute_values(":seen", s(due_key(seen.due, seen.company, seen.connection, seen.data_type)))
            .send()
            .await
            .map_err(classify);
        match removed {
            Ok(_) | Err(StoreError::ConditionFailed(_)) => Ok(()),
            Err(e) => Err(e),
        }
    }
}

#[async_trait]
impl DatasetStore for DynamoStore {
    async fn queue_datasets(&self, datasets: &[Dataset]) -> Result<(), StoreError> {
        let items = datasets
            .iter()
            .map(|d| item(d, "dataset", key(datasets_pk(d.company_id), &format!("DATASET#{}", d.id))))
            .collect::<Result<Vec<_>, _>>()?;
        self.batch.put(items).await?;
        for d in datasets {
            // Update, not put: the last successful sync of the data type must survive.
            let updated = self
                .client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(key(datasets_pk(d.company_id), &format!("STATUS#{}#{}", d.connection_id, d.data_type.key()))))
                .update_expression(
                    "SET kind = :kind, connection_id = :conn, data_type = :dt, current_status = :status, latest_sync_id = :id, latest_requested = :requested",
                )
                .condition_expression("attribute_not_exists(latest_requested) OR latest_requested <= :requested")
                .expression_attribute_values(":kind", s("datastatus"))
                .expression_attribute_values(":conn", s(d.connection_id.to_string()))
                .expression_attribute_values(":dt", s(d.data_type.key()))
                .expression_attribute_values(":status", s(d.status.as_str()))
                .expression_attribute_values(":id", s(d.id.to_string()))
                .expression_attribute_values(":requested", s(crate::codat::timestamp(d.requested)))
                .send()
                .await
                .map_err(classify);
            match updated {
                // A later dataset is already the latest: this one stays in the history only.
                Ok(_) | Err(StoreError::ConditionFailed(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    async fn dataset(&self, company: Uuid, id: Uuid) -> Result<Option<Dataset>, StoreError> {
        self.get(key(datasets_pk(company), &format!("DATASET#{id}"))).await?.map(record).transpose()
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
                    "SET #status = :to, progress = :progress, completed = :completed, error_message = :message",
                )
                .expression_attribute_values(":completed", s(crate::codat::timestamp(now)))
                .expression_attribute_values(":message", message)
        } else {
            request.update_expression("SET #status = :to, progress = :progress")
        };
        let dataset: Dataset = match request.send().await.map_err(classify) {
            Ok(out) => record(out.attributes.unwrap_or_default())?,
            // Already final (or gone): a redelivered job finds it as it is.
            Err(StoreError::ConditionFailed(_)) => return self.dataset(company, id).await,
            Err(e) => return Err(e),
        };
        let status_key =
            key(datasets_pk(company), &format!("STATUS#{}#{}", dataset.connection_id, dataset.data_type.key()));
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
        match current {
            Ok(_) | Err(StoreError::ConditionFailed(_)) => {}
            Err(e) => return Err(e),
        }
        if to == PullStatus::Complete {
            let at = crate::codat::timestamp(now);
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
            match success {
                Ok(_) | Err(StoreError::ConditionFailed(_)) => {}
                Err(e) => return Err(e),
            }
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
            .update_expression("SET progress = :progress, #checkpoint = :checkpoint")
            .expression_attribute_names("#checkpoint", "checkpoint")
            .expression_attribute_values(":checkpoint", s(checkpoint));
        match request.send().await.map_err(classify) {
            Ok(_) => Ok(true),
            Err(StoreError::ConditionFailed(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }
}
