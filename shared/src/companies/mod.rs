//! fn companies' use cases: the integration toggle, companies and their connections, sync
//! settings, the pull history and sync requests. Routing, wire parsing and rendering are the
//! HTTP edge's (`http::companies`); every answer here is a domain value or a [`CompaniesError`].

mod webhooks;

pub use webhooks::{REPLAY_LIMIT, Replay};

use chrono::Utc;
use uuid::Uuid;

use crate::domain::api_key::MAX_API_KEYS;
use crate::domain::consumer_url::Transport;
use crate::domain::erasure::erasure_receipt_key;
use crate::domain::hook::{FreshJob, FreshKind};
use crate::domain::{
    Company, CompanyDraft, Connection, ConnectionStatus, DataType, DataTypeStatus, Dataset, ErasureJob,
    ErasureProgress, ErasureReceipt, Event, EventType, IntegrationState, JobReason, LinkNonce, NewApiKey, StoredApiKey,
    SyncSettings,
};
use crate::error::StoreError;
use crate::ports::{CompanyRecord, JobQueue, PlatformStore};
use crate::syncs::{Known, request_syncs, request_syncs_with};
use crate::vault::CredentialVault;
use crate::webhooks::secrets::ConsumerSecrets;
use std::sync::Arc;

/// Why a request of the Platform API cannot be served.
#[derive(Debug, thiserror::Error)]
pub enum CompaniesError {
    /// No such company (or it is being deleted).
    #[error("no company {0}")]
    CompanyNotFound(Uuid),
    /// The company has no such connection.
    #[error("no connection {0}")]
    ConnectionNotFound(Uuid),
    /// The company has no such dataset.
    #[error("no dataset {0}")]
    DatasetNotFound(Uuid),
    /// A refresh found no Linked connection.
    #[error("no Linked connection")]
    NoLinkedConnection,
    /// A refresh without `connectionId` found several Linked connections.
    #[error("several Linked connections")]
    SeveralLinkedConnections,
    /// Only a Linked connection can be refreshed.
    #[error("connection is {0:?}, not Linked")]
    RefreshNotLinked(ConnectionStatus),
    /// Only a Linked connection can be unlinked.
    #[error("connection is {0:?}, not Linked")]
    UnlinkNotLinked(ConnectionStatus),
    /// The integration is disabled: no new connections.
    #[error("the integration is disabled")]
    IntegrationDisabled,
    /// The deployment holds [`MAX_API_KEYS`] keys already.
    #[error("too many API keys")]
    TooManyKeys,
    /// No stored key has this id.
    #[error("no API key {0}")]
    ApiKeyNotFound(Uuid),
    /// Bootstrap keys come from the deploy parameter and cannot be deleted here.
    #[error("API key {0} is a bootstrap key")]
    BootstrapKey(Uuid),
    /// The deployment holds [`crate::domain::webhook::MAX_CONSUMERS`] webhook consumers already.
    #[error("too many webhook consumers")]
    TooManyConsumers,
    /// No webhook consumer has this id.
    #[error("no webhook consumer {0}")]
    ConsumerNotFound(Uuid),
    /// The consumer's log has no such message.
    #[error("no webhook message {0}")]
    MessageNotFound(Uuid),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

type Result<T> = std::result::Result<T, CompaniesError>;

/// How an erasure stands ([`Companies::erasure`]).
#[derive(Debug, Clone, PartialEq)]
pub enum ErasureStatus {
    /// Under way: the connections still being erased, and their progress summed.
    InProgress {
        /// Connections not yet erased.
        connections: usize,
        /// Where it stands (the earliest request; items and data types summed).
        progress: ErasureProgress,
    },
    /// Finished; the receipt.
    Complete(ErasureReceipt),
}

/// The Platform API's use cases over a store.
pub struct Companies<S> {
    store: S,
    vault: CredentialVault,
    queue: Arc<dyn JobQueue>,
    consumer_secrets: Option<ConsumerSecrets>,
    webhook_retries: Option<Arc<dyn crate::ports::RetryQueue>>,
    webhook_transport: Transport,
    fresh: Option<Arc<dyn crate::ports::FreshQueue>>,
}

impl<S: PlatformStore> Companies<S> {
    /// Over `store`; `vault` deletes the credentials of deleted connections, `queue` takes sync
    /// requests and erasures.
    pub fn new(store: S, vault: CredentialVault, queue: Arc<dyn JobQueue>) -> Self {
        Self {
            store,
            vault,
            queue,
            consumer_secrets: None,
            webhook_retries: None,
            webhook_transport: Transport::PublicHttps,
            fresh: None,
        }
    }

    /// A connection with store hooks, unlinked or deleted, has them removed by the sync worker
    /// (a job on `fresh`), which then deletes its secret.
    pub fn with_fresh_queue(self, fresh: Arc<dyn crate::ports::FreshQueue>) -> Self {
        Self { fresh: Some(fresh), ..self }
    }

    /// Lets go of a connection's credentials: deleted now, or, when the store has hooks for it,
    /// once the sync worker has removed them with its token (within seconds, on the fresh
    /// queue). If that job cannot be queued the secret goes now and the hooks stay behind,
    /// refused when they call.
    async fn let_go(&self, connection: &Connection) -> Result<()> {
        if let (Some(fresh), Some(_)) = (&self.fresh, &connection.hooks) {
            let job = FreshJob::new(FreshKind::Unhook, connection.company_id, connection.id, Utc::now());
            match fresh.enqueue_fresh(&[job]).await {
                Ok(()) => return Ok(()),
                Err(e) => {
                    tracing::error!(error = %e, connection_id = %connection.id, "the hooks' removal could not be queued: the credentials go now");
                }
            }
        }
        self.vault.forget(&self.vault.secret_name(connection.id)).await?;
        Ok(())
    }

    /// The same, managing webhook consumers, whose secrets `secrets` keeps, at URLs allowed
    /// under `transport`, replaying their messages through `retries` (fn companies).
    pub fn with_webhooks(
        self,
        secrets: ConsumerSecrets,
        retries: Arc<dyn crate::ports::RetryQueue>,
        transport: Transport,
    ) -> Self {
        Self { consumer_secrets: Some(secrets), webhook_retries: Some(retries), webhook_transport: transport, ..self }
    }

    /// Where webhook consumers may be.
    pub fn webhook_transport(&self) -> Transport {
        self.webhook_transport
    }

    /// The integration toggle.
    pub async fn integration_state(&self) -> Result<IntegrationState> {
        Ok(self.store.integration_state().await?)
    }

    /// Enables or disables new BigCommerce connections.
    pub async fn set_integration(&self, enabled: bool) -> Result<IntegrationState> {
        let state = self.store.set_integration_enabled(enabled, Utc::now()).await?;
        tracing::info!(enabled, "integration toggled");
        Ok(state)
    }

    /// Every company with its connections (not in any order).
    pub async fn companies(&self) -> Result<Vec<CompanyRecord>> {
        Ok(self.store.list_companies().await?)
    }

    /// A company with its connections.
    pub async fn company(&self, id: Uuid) -> Result<CompanyRecord> {
        self.store.get_company(id).await?.ok_or(CompaniesError::CompanyNotFound(id))
    }

    /// A connection of a company.
    pub async fn connection(&self, company: Uuid, id: Uuid) -> Result<Connection> {
        Ok(self.company_connection(company, id).await?.1)
    }

    /// A connection with its company (whose Link URL its own extends).
    pub async fn company_connection(&self, company: Uuid, id: Uuid) -> Result<(Company, Connection)> {
        let record = self.company(company).await?;
        let connection = find_connection(&record, id)?.clone();
        Ok((record.company, connection))
    }

    /// Rotates a company's Link URL: a new nonce, so the old URL (and every connection's under
    /// it) stops working at once. Returns the company with its new `redirect`.
    pub async fn rotate_link(&self, id: Uuid) -> Result<CompanyRecord> {
        let record = self.company(id).await?;
        let nonce = LinkNonce::generate();
        match self.store.rotate_link(id, &record.company.link_token_hash, &nonce).await {
            Ok(()) => {}
            Err(StoreError::ConditionFailed(_)) => {
                // Deleted meanwhile, or rotated by a concurrent request: the newer one stands.
                return self.company(id).await;
            }
            Err(e) => return Err(e.into()),
        }
        tracing::info!(company_id = %id, "Link URL rotated");
        self.company(id).await
    }

    /// Creates a company (and its Link token).
    pub async fn create_company(&self, draft: CompanyDraft) -> Result<Company> {
        let now = Utc::now();
        let company = Company::create(draft, now);
        let created = Event::about_company(EventType::CompanyCreated, &company, now);
        self.store.create_company_reporting(&company, &[created]).await?;
        tracing::info!(company_id = %company.id, "company created");
        Ok(company)
    }

    /// Applies `edit` to a stored company and writes its details back.
    pub async fn edit_company(&self, id: Uuid, edit: impl FnOnce(&mut Company)) -> Result<CompanyRecord> {
        let mut record = self.company(id).await?;
        edit(&mut record.company);
        self.store.update_company_details(&record.company).await.map_err(|e| not_found_if_condition(e, id))?;
        Ok(record)
    }

    /// Deletes a company: marks it (reads stop, no new children), puts a tombstone on each
    /// connection, deletes their secrets by name, and queues the erasure of everything else
    /// (see [`crate::domain::erasure`]). Repeatable while the erasure runs (it queues it again).
    pub async fn delete_company(&self, id: Uuid) -> Result<()> {
        if let Some(erasing) = self.store.erasing_company(id).await? {
            // Deleted already (the answer stays 404), but its erasure is queued again in case
            // the first request failed after marking it: erasures are repeatable.
            let now = Utc::now();
            for connection in &erasing.connections {
                self.erase_connection(id, connection.id, now).await?;
            }
            self.queue_erasures(&erasing, now).await?;
            return Err(CompaniesError::CompanyNotFound(id));
        }
        let now = Utc::now();
        let events = match self.store.get_company(id).await? {
            Some(record) => vec![Event::about_company(EventType::CompanyDeleted, &record.company, now)],
            None => Vec::new(),
        };
        let record = self
            .store
            .mark_company_deleting_reporting(id, &events)
            .await?
            .ok_or(CompaniesError::CompanyNotFound(id))?;
        for connection in &record.connections {
            self.erase_connection(id, connection.id, now).await?;
        }
        self.queue_erasures(&record, now).await?;
        tracing::info!(company_id = %id, connections = record.connections.len(), "company deleted; erasure queued");
        Ok(())
    }

    /// Queues the erasure of each connection of a company being deleted, or of the company's
    /// own items when it has none.
    async fn queue_erasures(&self, record: &CompanyRecord, now: chrono::DateTime<Utc>) -> Result<()> {
        let id = record.company.id;
        let mut jobs: Vec<ErasureJob> =
            record.connections.iter().map(|c| ErasureJob::connection(id, c.id, now)).collect();
        if jobs.is_empty() {
            jobs.push(ErasureJob::company(id, now));
        }
        Ok(self.queue.enqueue_erasures(&jobs).await?)
    }

    /// Puts the tombstone on a connection and deletes its secret (by its deterministic name,
    /// whatever the connection records). False when there is no such connection.
    async fn erase_connection(&self, company: Uuid, id: Uuid, now: chrono::DateTime<Utc>) -> Result<bool> {
        self.erase_connection_reporting(company, id, now, &[]).await
    }

    /// The same, writing `events` with the tombstone (if it is the first).
    async fn erase_connection_reporting(
        &self,
        company: Uuid,
        id: Uuid,
        now: chrono::DateTime<Utc>,
        events: &[Event],
    ) -> Result<bool> {
        let progress = ErasureProgress::queued(now);
        let Some(marked) = self.store.mark_connection_erasing_reporting(company, id, &progress, events).await? else {
            return Ok(false);
        };
        self.let_go(&marked).await?;
        Ok(true)
    }

    /// How the erasure of a deleted company (or, with `connection`, of one of its connections)
    /// stands: in progress while its tombstone stands, done once its receipt is stored.
    pub async fn erasure(&self, company: Uuid, connection: Option<Uuid>) -> Result<ErasureStatus> {
        let subject = connection.unwrap_or(company);
        let in_progress = match connection {
            Some(id) => self
                .store
                .get_connection(company, id)
                .await?
                .and_then(|c| c.erasure)
                .map(|p| ErasureStatus::InProgress { connections: 1, progress: p }),
            None => self.store.erasing_company(company).await?.map(|record| {
                let tombstones: Vec<ErasureProgress> =
                    record.connections.iter().filter_map(|c| c.erasure.clone()).collect();
                let mut progress = tombstones
                    .iter()
                    .min_by_key(|p| p.requested)
                    .cloned()
                    .unwrap_or_else(|| ErasureProgress::queued(record.company.created));
                progress.items_deleted = tombstones.iter().map(|p| p.items_deleted).sum();
                progress.data_types_done = tombstones.iter().map(|p| p.data_types_done).sum();
                ErasureStatus::InProgress { connections: tombstones.len(), progress }
            }),
        };
        if let Some(status) = in_progress {
            return Ok(status);
        }
        match self.store.erasure_receipt(&erasure_receipt_key(subject)).await? {
            Some(receipt) => Ok(ErasureStatus::Complete(receipt)),
            None if connection.is_some() => Err(CompaniesError::ConnectionNotFound(subject)),
            None => Err(CompaniesError::CompanyNotFound(subject)),
        }
    }

    /// Creates a PendingAuth BigCommerce connection, unless the integration is disabled.
    pub async fn create_connection(&self, company: Uuid) -> Result<Connection> {
        let record = self.company(company).await?;
        if !self.store.integration_state().await?.enabled {
            return Err(CompaniesError::IntegrationDisabled);
        }
        let now = Utc::now();
        let connection = Connection::create(company, now);
        let created = Event::about_connection(EventType::ConnectionCreated, &record.company, &connection, now);
        self.store
            .create_connection_reporting(&connection, &[created])
            .await
            .map_err(|e| not_found_if_condition(e, company))?;
        tracing::info!(company_id = %company, connection_id = %connection.id, "connection created");
        Ok(connection)
    }

    /// Unlinks a Linked connection (a conditional write: a concurrent change wins).
    pub async fn unlink(&self, company: Uuid, id: Uuid) -> Result<Connection> {
        let record = self.company(company).await?;
        let current = self.connection(company, id).await?;
        if current.status != ConnectionStatus::Linked {
            return Err(CompaniesError::UnlinkNotLinked(current.status));
        }
        let unlinked = Connection { status: ConnectionStatus::Unlinked, ..current };
        let event = Event::about_connection(EventType::ConnectionDisconnected, &record.company, &unlinked, Utc::now());
        let updated = match self
            .store
            .set_connection_status_reporting(
                company,
                id,
                &[ConnectionStatus::Linked],
                ConnectionStatus::Unlinked,
                &[event],
            )
            .await
        {
            Ok(updated) => updated,
            Err(StoreError::ConditionFailed(_)) => {
                let now =
                    self.store.get_connection(company, id).await?.ok_or(CompaniesError::ConnectionNotFound(id))?;
                return Err(CompaniesError::UnlinkNotLinked(now.status));
            }
            Err(e) => return Err(e.into()),
        };
        // The data stays (as Codat keeps it); the credentials are no longer needed.
        self.let_go(&updated).await?;
        tracing::info!(company_id = %company, connection_id = %id, "connection unlinked; credentials deleted");
        Ok(updated)
    }

    /// Deletes a connection: its tombstone and its secret at once, then the erasure of its
    /// records, history and schedule as a job. Repeatable while the erasure runs.
    pub async fn delete_connection(&self, company: Uuid, id: Uuid) -> Result<()> {
        let record = self.company(company).await?;
        let now = Utc::now();
        let current = self.store.get_connection(company, id).await?;
        if let Some(erasing) = current.as_ref().and_then(|c| c.erasure.clone()) {
            // Deleted already: 404 as before, and its erasure queued again (repeatable).
            self.queue.enqueue_erasures(&[ErasureJob::connection(company, id, erasing.requested)]).await?;
            return Err(CompaniesError::ConnectionNotFound(id));
        }
        let events: Vec<Event> = current
            .iter()
            .map(|c| Event::about_connection(EventType::ConnectionDeleted, &record.company, c, now))
            .collect();
        if !self.erase_connection_reporting(company, id, now, &events).await? {
            return Err(CompaniesError::ConnectionNotFound(id));
        }
        self.queue.enqueue_erasures(&[ErasureJob::connection(company, id, now)]).await?;
        tracing::info!(company_id = %company, connection_id = %id, "connection deleted; erasure queued");
        Ok(())
    }

    /// A company's sync settings in force: its own over the deployment's defaults.
    pub async fn sync_settings(&self, id: Uuid) -> Result<SyncSettings> {
        self.company(id).await?;
        Ok(self.store.settings_in_force(id).await?)
    }

    /// Replaces a company's sync settings.
    pub async fn set_sync_settings(&self, id: Uuid, settings: &SyncSettings) -> Result<()> {
        self.store.put_sync_settings(id, settings).await.map_err(|e| not_found_if_condition(e, id))
    }

    /// The deployment's default sync settings (the built-in ones where never set).
    pub async fn profile_sync_settings(&self) -> Result<SyncSettings> {
        Ok(self.store.profile_sync_settings().await?.unwrap_or_default())
    }

    /// Replaces the deployment's default sync settings: companies that do not set a data type
    /// themselves follow them from now on (new companies included).
    pub async fn set_profile_sync_settings(&self, settings: &SyncSettings) -> Result<()> {
        self.store.put_profile_sync_settings(settings).await?;
        tracing::info!(settings = settings.settings.len(), "default sync settings replaced");
        Ok(())
    }

    /// The stored API keys, oldest first.
    pub async fn api_keys(&self) -> Result<Vec<StoredApiKey>> {
        Ok(self.store.api_keys().await?)
    }

    /// Creates an API key, unless the deployment would then hold more than [`MAX_API_KEYS`]
    /// (its `bootstrap` keys count too).
    pub async fn create_api_key(&self, name: Option<String>, bootstrap: usize) -> Result<NewApiKey> {
        let created = NewApiKey::generate(name, Utc::now());
        let room = MAX_API_KEYS.saturating_sub(bootstrap);
        match self.store.create_api_key(&created.stored, room).await {
            Ok(()) => {}
            Err(StoreError::ConditionFailed(_)) => return Err(CompaniesError::TooManyKeys),
            Err(e) => return Err(e.into()),
        }
        tracing::info!(api_key_id = %created.stored.id, "API key created");
        Ok(created)
    }

    /// Deletes a stored API key; `bootstrap` are the ids of the deploy parameter's keys.
    pub async fn delete_api_key(&self, id: Uuid, bootstrap: &[Uuid]) -> Result<()> {
        if bootstrap.contains(&id) {
            return Err(CompaniesError::BootstrapKey(id));
        }
        if !self.store.delete_api_key(id).await? {
            return Err(CompaniesError::ApiKeyNotFound(id));
        }
        tracing::info!(api_key_id = %id, "API key deleted");
        Ok(())
    }

    /// The latest status of every data type of a company's connections.
    pub async fn data_statuses(&self, id: Uuid) -> Result<Vec<DataTypeStatus>> {
        self.company(id).await?;
        Ok(self.store.data_statuses(id).await?)
    }

    /// Every dataset (pull operation) of a company.
    pub async fn datasets(&self, id: Uuid) -> Result<Vec<Dataset>> {
        self.company(id).await?;
        Ok(self.store.datasets(id).await?)
    }

    /// A page of a company's history, newest first, and how many datasets it holds (read a
    /// page at a time from the store).
    pub async fn history_page(&self, id: Uuid, offset: usize, limit: usize) -> Result<(Vec<Dataset>, u64)> {
        self.company(id).await?;
        Ok(self.store.history_page(id, offset, limit, Utc::now()).await?)
    }

    /// One dataset of a company.
    pub async fn dataset(&self, company: Uuid, id: Uuid) -> Result<Dataset> {
        self.company(company).await?;
        self.store.dataset(company, id).await?.ok_or(CompaniesError::DatasetNotFound(id))
    }

    /// Queues every data type with `fetchOnFirstLink`, for every Linked connection.
    pub async fn refresh_all(&self, id: Uuid) -> Result<()> {
        let record = self.company(id).await?;
        let linked: Vec<&Connection> =
            record.connections.iter().filter(|c| c.status == ConnectionStatus::Linked).collect();
        if linked.is_empty() {
            return Err(CompaniesError::NoLinkedConnection);
        }
        let settings = self.store.settings_in_force(id).await?;
        let types = settings.fetched_on_first_link();
        // Read once for all the company's connections.
        let (effective, statuses) = (settings.effective(), self.store.data_statuses(id).await?);
        let known = Known { settings: &effective, statuses: &statuses };
        for connection in linked {
            let (queue, now) = (self.queue.as_ref(), Utc::now());
            request_syncs_with(&self.store, queue, id, connection.id, &types, JobReason::Refresh, now, known).await?;
        }
        Ok(())
    }

    /// Queues one data type of `record`'s connection `connection`, or of its only Linked
    /// connection when `connection` is `None`.
    pub async fn refresh_one(
        &self,
        record: &CompanyRecord,
        data_type: DataType,
        connection: Option<Uuid>,
    ) -> Result<Dataset> {
        let connection = match connection {
            Some(wanted) => find_connection(record, wanted)?,
            None => {
                let mut linked = record.connections.iter().filter(|c| c.status == ConnectionStatus::Linked);
                match (linked.next(), linked.next()) {
                    (Some(only), None) => only,
                    (None, _) => return Err(CompaniesError::NoLinkedConnection),
                    (Some(_), Some(_)) => return Err(CompaniesError::SeveralLinkedConnections),
                }
            }
        };
        if connection.status != ConnectionStatus::Linked {
            return Err(CompaniesError::RefreshNotLinked(connection.status));
        }
        let company = record.company.id;
        let datasets = request_syncs(
            &self.store,
            self.queue.as_ref(),
            company,
            connection.id,
            &[data_type],
            JobReason::Refresh,
            Utc::now(),
        )
        .await?;
        datasets.into_iter().next().ok_or(CompaniesError::Store(StoreError::Backend("no dataset queued".into())))
    }
}

fn find_connection(record: &CompanyRecord, id: Uuid) -> Result<&Connection> {
    record.connections.iter().find(|c| c.id == id).ok_or(CompaniesError::ConnectionNotFound(id))
}

fn not_found_if_condition(e: StoreError, company: Uuid) -> CompaniesError {
    match e {
        StoreError::ConditionFailed(_) => CompaniesError::CompanyNotFound(company),
        other => other.into(),
    }
}
