//! Ports: the narrow capabilities the use cases need from storage. Adapters live in
//! `adapters/` (DynamoDB for real, memory for fast unit tests); both honour the same contract,
//! checked by one conformance suite run against each.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::domain::{Company, Connection, ConnectionStatus, IntegrationState, SyncSettings};
use crate::error::StoreError;

/// A company with its connections, as read together.
#[derive(Debug, Clone, PartialEq)]
pub struct CompanyRecord {
    /// The company.
    pub company: Company,
    /// Its connections, oldest first.
    pub connections: Vec<Connection>,
}

/// The integration toggle.
#[async_trait]
pub trait IntegrationStore: Send + Sync {
    /// Current state (enabled when never set).
    async fn integration_state(&self) -> Result<IntegrationState, StoreError>;
    /// Enables or disables new connections.
    async fn set_integration_enabled(
        &self,
        enabled: bool,
        at: DateTime<Utc>,
    ) -> Result<IntegrationState, StoreError>;
}

/// Companies.
#[async_trait]
pub trait CompanyStore: Send + Sync {
    /// Stores a new company (and its Link token). Fails with `ConditionFailed` if the id exists.
    async fn create_company(&self, company: &Company) -> Result<(), StoreError>;
    /// A company with its connections; `None` if absent or being deleted.
    async fn get_company(&self, id: Uuid) -> Result<Option<CompanyRecord>, StoreError>;
    /// Every company with its connections (not in any order).
    async fn list_companies(&self) -> Result<Vec<CompanyRecord>, StoreError>;
    /// Writes name, description and tags. `ConditionFailed` if absent or being deleted.
    async fn update_company_details(&self, company: &Company) -> Result<(), StoreError>;
    /// Deletes a company and everything stored under it, resumably: a failed call may be
    /// repeated. Returns false if there was no such company.
    async fn delete_company(&self, id: Uuid) -> Result<bool, StoreError>;
}

/// Connections.
#[async_trait]
pub trait ConnectionStore: Send + Sync {
    /// Stores a new connection. `ConditionFailed` if its company is absent or being deleted.
    async fn create_connection(&self, connection: &Connection) -> Result<(), StoreError>;
    /// A connection of a company.
    async fn get_connection(
        &self,
        company: Uuid,
        id: Uuid,
    ) -> Result<Option<Connection>, StoreError>;
    /// Changes status only if the current one is in `from`; `ConditionFailed` otherwise
    /// (including when absent). Returns the updated connection.
    async fn set_connection_status(
        &self,
        company: Uuid,
        id: Uuid,
        from: &[ConnectionStatus],
        to: ConnectionStatus,
    ) -> Result<Connection, StoreError>;
    /// Deletes a connection; false if it did not exist.
    async fn delete_connection(&self, company: Uuid, id: Uuid) -> Result<bool, StoreError>;
}

/// Sync settings.
#[async_trait]
pub trait SyncSettingsStore: Send + Sync {
    /// The company's explicit settings, if it ever set any.
    async fn sync_settings(&self, company: Uuid) -> Result<Option<SyncSettings>, StoreError>;
    /// Replaces the company's settings. `ConditionFailed` if the company is absent.
    async fn put_sync_settings(
        &self,
        company: Uuid,
        settings: &SyncSettings,
    ) -> Result<(), StoreError>;
}

/// Everything the Platform API needs.
pub trait PlatformStore:
    IntegrationStore + CompanyStore + ConnectionStore + SyncSettingsStore
{
}

impl<T: IntegrationStore + CompanyStore + ConnectionStore + SyncSettingsStore> PlatformStore for T {}
