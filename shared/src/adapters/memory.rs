//! In-memory twin of the DynamoDB adapter, for fast unit tests of the use cases.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::domain::{Company, Connection, ConnectionStatus, IntegrationState, SyncSettings};
use crate::error::StoreError;
use crate::ports::{
    CompanyRecord, CompanyStore, ConnectionStore, IntegrationStore, SyncSettingsStore,
};

#[derive(Default)]
struct State {
    integration: Option<IntegrationState>,
    companies: BTreeMap<Uuid, Company>,
    connections: BTreeMap<(Uuid, Uuid), Connection>,
    settings: BTreeMap<Uuid, SyncSettings>,
}

impl State {
    fn record(&self, company: &Company) -> CompanyRecord {
        let mut connections: Vec<Connection> = self
            .connections
            .range((company.id, Uuid::nil())..=(company.id, Uuid::max()))
            .map(|(_, c)| c.clone())
            .collect();
        connections.sort_by_key(|c| (c.created, c.id));
        CompanyRecord {
            company: company.clone(),
            connections,
        }
    }
}

/// A [`crate::ports::PlatformStore`] held in memory.
#[derive(Default)]
pub struct MemoryStore {
    state: Mutex<State>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

fn condition(what: &str) -> StoreError {
    StoreError::ConditionFailed(what.to_string())
}

#[async_trait]
impl IntegrationStore for MemoryStore {
    async fn integration_state(&self) -> Result<IntegrationState, StoreError> {
        Ok(self.lock().integration.clone().unwrap_or_default())
    }

    async fn set_integration_enabled(
        &self,
        enabled: bool,
        at: DateTime<Utc>,
    ) -> Result<IntegrationState, StoreError> {
        let state = IntegrationState {
            enabled,
            updated: Some(at),
        };
        self.lock().integration = Some(state.clone());
        Ok(state)
    }
}

#[async_trait]
impl CompanyStore for MemoryStore {
    async fn create_company(&self, company: &Company) -> Result<(), StoreError> {
        let mut state = self.lock();
        if state.companies.contains_key(&company.id) {
            return Err(condition("company exists"));
        }
        state.companies.insert(company.id, company.clone());
        Ok(())
    }

    async fn get_company(&self, id: Uuid) -> Result<Option<CompanyRecord>, StoreError> {
        let state = self.lock();
        Ok(state.companies.get(&id).map(|c| state.record(c)))
    }

    async fn list_companies(&self) -> Result<Vec<CompanyRecord>, StoreError> {
        let state = self.lock();
        Ok(state.companies.values().map(|c| state.record(c)).collect())
    }

    async fn update_company_details(&self, company: &Company) -> Result<(), StoreError> {
        let mut state = self.lock();
        let stored = state
            .companies
            .get_mut(&company.id)
            .ok_or_else(|| condition("no company"))?;
        stored.name = company.name.clone();
        stored.description = company.description.clone();
        stored.tags = company.tags.clone();
        Ok(())
    }

    async fn delete_company(&self, id: Uuid) -> Result<bool, StoreError> {
        let mut state = self.lock();
        state.connections.retain(|(company, _), _| *company != id);
        state.settings.remove(&id);
        Ok(state.companies.remove(&id).is_some())
    }
}

#[async_trait]
impl ConnectionStore for MemoryStore {
    async fn create_connection(&self, connection: &Connection) -> Result<(), StoreError> {
        let mut state = self.lock();
        if !state.companies.contains_key(&connection.company_id) {
            return Err(condition("no company"));
        }
        let key = (connection.company_id, connection.id);
        if state.connections.contains_key(&key) {
            return Err(condition("connection exists"));
        }
        state.connections.insert(key, connection.clone());
        Ok(())
    }

    async fn get_connection(
        &self,
        company: Uuid,
        id: Uuid,
    ) -> Result<Option<Connection>, StoreError> {
        Ok(self.lock().connections.get(&(company, id)).cloned())
    }

    async fn set_connection_status(
        &self,
        company: Uuid,
        id: Uuid,
        from: &[ConnectionStatus],
        to: ConnectionStatus,
    ) -> Result<Connection, StoreError> {
        let mut state = self.lock();
        let connection = state
            .connections
            .get_mut(&(company, id))
            .ok_or_else(|| condition("no connection"))?;
        if !from.contains(&connection.status) {
            return Err(condition("status changed"));
        }
        connection.status = to;
        Ok(connection.clone())
    }

    async fn delete_connection(&self, company: Uuid, id: Uuid) -> Result<bool, StoreError> {
        Ok(self.lock().connections.remove(&(company, id)).is_some())
    }
}

#[async_trait]
impl SyncSettingsStore for MemoryStore {
    async fn sync_settings(&self, company: Uuid) -> Result<Option<SyncSettings>, StoreError> {
        Ok(self.lock().settings.get(&company).cloned())
    }

    async fn put_sync_settings(
        &self,
        company: Uuid,
        settings: &SyncSettings,
    ) -> Result<(), StoreError> {
        let mut state = self.lock();
        if !state.companies.contains_key(&company) {
            return Err(condition("no company"));
        }
        state.settings.insert(company, settings.clone());
        Ok(())
    }
}
