//! The integration toggle, companies (with their Link tokens) and sync settings.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, Delete, TransactWriteItem, Update};
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::item::{
    Item, classify, company_key, company_pk, condition_ok, integration_key, item, kind, link_key, map,
    profile_settings_key, record, s, settings_key, text,
};
use super::{COMPANIES_INDEX, COMPANIES_PARTITION, DynamoStore};
use crate::domain::{Company, Connection, Event, IntegrationState, LinkNonce, SyncSettings};
use crate::error::StoreError;
use crate::ports::{CompanyRecord, CompanyStore, IntegrationStore, SyncSettingsStore};

/// Companies (not being deleted, unless `include_deleting`) with their connections (tombstones
/// only with `include_deleting`), from items of any kind.
pub(super) fn group(items: Vec<Item>, include_deleting: bool) -> Result<Vec<CompanyRecord>, StoreError> {
    let mut companies: HashMap<Uuid, CompanyRecord> = HashMap::new();
    let mut connections = Vec::new();
    for item in items {
        match kind(&item) {
            Some("company") if include_deleting || !item.contains_key("deleting") => {
                let company: Company = record(item)?;
                companies.insert(company.id, CompanyRecord { company, connections: Vec::new() });
            }
            Some("connection") if include_deleting || !item.contains_key("erasure") => {
                connections.push(record::<Connection>(item)?)
            }
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

#[async_trait]
impl IntegrationStore for DynamoStore {
    async fn integration_state(&self) -> Result<IntegrationState, StoreError> {
        self.get(integration_key()).await?.map(record).transpose().map(Option::unwrap_or_default)
    }

    async fn set_integration_enabled(&self, enabled: bool, at: DateTime<Utc>) -> Result<IntegrationState, StoreError> {
        let state = IntegrationState { enabled, updated: Some(at) };
        let item = item(&state, "integration", integration_key())?;
        self.client.put_item().table_name(&self.table).set_item(Some(item)).send().await.map_err(classify)?;
        Ok(state)
    }
}

#[async_trait]
impl CompanyStore for DynamoStore {
    async fn create_company_reporting(&self, company: &Company, events: &[Event]) -> Result<(), StoreError> {
        let mut keys = company_key(company.id);
        keys.insert("gsi1pk".into(), s(COMPANIES_PARTITION));
        keys.insert("gsi1sk".into(), s(company.id.to_string()));
        let company_item = item(company, "company", keys)?;
        let mut link_item = link_key(&company.link_token_hash);
        link_item.insert("kind".into(), s("link"));
        link_item.insert("company_id".into(), s(company.id.to_string()));
        let steps = vec![
            self.put(company_item, Some("attribute_not_exists(pk)"))?,
            self.put(link_item, Some("attribute_not_exists(pk)"))?,
        ];
        self.transact_reporting(steps, events).await
    }

    async fn get_company(&self, id: Uuid) -> Result<Option<CompanyRecord>, StoreError> {
        let items = self.partition(company_pk(id)).await?;
        Ok(group(items, false)?.pop())
    }

    async fn list_companies(&self) -> Result<Vec<CompanyRecord>, StoreError> {
        let request = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(COMPANIES_INDEX)
            .key_condition_expression("gsi1pk = :p")
            .expression_attribute_values(":p", s(COMPANIES_PARTITION));
        let mut items = Vec::new();
        self.each_page(request, |out| {
            items.extend(out.items.unwrap_or_default());
            Ok(true)
        })
        .await?;
        group(items, false)
    }

    async fn update_company_details(&self, company: &Company) -> Result<(), StoreError> {
        let description = company.description.clone().map_or(AttributeValue::Null(true), AttributeValue::S);
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(company_key(company.id)))
            .update_expression("SET #name = :name, description = :description, tags = :tags")
            .condition_expression("attribute_exists(pk) AND attribute_not_exists(deleting)")
            .expression_attribute_names("#name", "name")
            .expression_attribute_values(":name", s(company.name.as_str()))
            .expression_attribute_values(":description", description)
            .expression_attribute_values(":tags", map(&company.tags)?)
            .send()
            .await
            .map_err(classify)?;
        Ok(())
    }

    async fn company_by_link_hash(&self, token_hash: &str) -> Result<Option<CompanyRecord>, StoreError> {
        let Some(link) = self.get(link_key(token_hash)).await? else {
            return Ok(None);
        };
        let Some(id) = text(&link, "company_id").and_then(|s| Uuid::parse_str(s).ok()) else {
            return Ok(None);
        };
        self.get_company(id).await
    }

    async fn rotate_link(&self, id: Uuid, old_hash: &str, nonce: &LinkNonce) -> Result<(), StoreError> {
        let new_hash = nonce.hash();
        let update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(company_key(id)))
            .update_expression("SET link_nonce = :nonce, link_token_hash = :new")
            .condition_expression("attribute_exists(pk) AND attribute_not_exists(deleting) AND link_token_hash = :old")
            .expression_attribute_values(":nonce", s(nonce.as_text()))
            .expression_attribute_values(":new", s(new_hash.clone()))
            .expression_attribute_values(":old", s(old_hash))
            .build()
            .map_err(|e| StoreError::Backend(e.to_string()))?;
        let delete = Delete::builder()
            .table_name(&self.table)
            .set_key(Some(link_key(old_hash)))
            .build()
            .map_err(|e| StoreError::Backend(e.to_string()))?;
        let mut link_item = link_key(&new_hash);
        link_item.insert("kind".into(), s("link"));
        link_item.insert("company_id".into(), s(id.to_string()));
        self.client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().update(update).build())
            .transact_items(TransactWriteItem::builder().delete(delete).build())
            .transact_items(self.put(link_item, Some("attribute_not_exists(pk)"))?)
            .send()
            .await
            .map_err(classify)?;
        Ok(())
    }

    async fn mark_company_deleting(&self, id: Uuid) -> Result<Option<CompanyRecord>, StoreError> {
        let marked = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(company_key(id)))
            .update_expression("SET deleting = :t REMOVE gsi1pk, gsi1sk")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":t", AttributeValue::Bool(true))
            .send()
            .await
            .map_err(classify);
        if !condition_ok(marked)? {
            return Ok(None);
        }
        Ok(group(self.partition(company_pk(id)).await?, true)?.pop())
    }

    async fn mark_company_deleting_reporting(
        &self,
        id: Uuid,
        events: &[Event],
    ) -> Result<Option<CompanyRecord>, StoreError> {
        let mark = Update::builder()
            .table_name(&self.table)
            .set_key(Some(company_key(id)))
            .update_expression("SET deleting = :t REMOVE gsi1pk, gsi1sk")
            .condition_expression("attribute_exists(pk) AND attribute_not_exists(deleting)")
            .expression_attribute_values(":t", AttributeValue::Bool(true))
            .build()
            .map_err(|e| StoreError::Backend(e.to_string()))?;
        match self.transact_reporting(vec![TransactWriteItem::builder().update(mark).build()], events).await {
            // Marked now, or before (absent, or a repeat: no event again).
            Ok(()) | Err(StoreError::ConditionFailed(_)) => self.mark_company_deleting(id).await,
            Err(e) => Err(e),
        }
    }
}

#[async_trait]
impl SyncSettingsStore for DynamoStore {
    async fn sync_settings(&self, company: Uuid) -> Result<Option<SyncSettings>, StoreError> {
        self.get(settings_key(company)).await?.map(record).transpose()
    }

    async fn put_sync_settings(&self, company: Uuid, settings: &SyncSettings) -> Result<(), StoreError> {
        let item = item(settings, "syncsettings", settings_key(company))?;
        self.client
            .transact_write_items()
            .transact_items(self.company_exists_check(company)?)
            .transact_items(self.put(item, None)?)
            .send()
            .await
            .map_err(classify)?;
        Ok(())
    }

    async fn profile_sync_settings(&self) -> Result<Option<SyncSettings>, StoreError> {
        self.get(profile_settings_key()).await?.map(record).transpose()
    }

    async fn put_profile_sync_settings(&self, settings: &SyncSettings) -> Result<(), StoreError> {
        let item = item(settings, "profilesettings", profile_settings_key())?;
        self.client.put_item().table_name(&self.table).set_item(Some(item)).send().await.map_err(classify)?;
        Ok(())
    }
}
