//! In-memory twin of the platform table: every port [`crate::ports::PlatformStore`] and
//! [`LinkStore`] name, with the same conditions as the DynamoDB adapter.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::codat::timestamp;
use crate::domain::{
    Company, Connection, ConnectionStatus, DataType, DataTypeStatus, Dataset, ErasureProgress, ErasureReceipt, Event,
    History, IntegrationState, LinkNonce, PullStatus, StoredApiKey, SyncSettings, WebhookConsumer,
};
use crate::error::StoreError;
use crate::ports::DeliveryLog;
use crate::ports::{
    ApiKeyStore, CompanyRecord, CompanyStore, ConnectionStore, DatasetStore, DueSync, ErasureStore, EventOutbox,
    IntegrationStore, LinkStore, LinkedStore, ScheduleStore, StaleDataset, Staleness, SyncSettingsStore,
    WebhookConsumerStore,
};

#[derive(Default)]
struct State {
    integration: Option<IntegrationState>,
    companies: BTreeMap<Uuid, Company>,
    deleting: std::collections::BTreeSet<Uuid>,
    connections: BTreeMap<(Uuid, Uuid), Connection>,
    leases: BTreeMap<(Uuid, Uuid), (Uuid, i64)>,
    settings: BTreeMap<Uuid, SyncSettings>,
    profile: Option<SyncSettings>,
    api_keys: BTreeMap<Uuid, StoredApiKey>,
    webhook_consumers: BTreeMap<Uuid, WebhookConsumer>,
    attempts: BTreeMap<(String, i64), u32>,
    /// Lockouts by key: (strikes, last strike, expires).
    lockouts: BTreeMap<String, (u32, i64, i64)>,
    datasets: BTreeMap<(Uuid, Uuid), Dataset>,
    statuses: BTreeMap<(Uuid, Uuid, DataType), DataTypeStatus>,
    /// Next due time of each scheduled (company, connection, data type).
    due: BTreeMap<(Uuid, Uuid, DataType), DateTime<Utc>>,
    /// The sweep marks of running datasets, by (company, dataset).
    marks: BTreeMap<(Uuid, Uuid), (Staleness, String)>,
    /// Erasure receipts by key.
    receipts: BTreeMap<String, ErasureReceipt>,
    /// How much history is kept.
    history: History,
    /// The outbox, by (generated, id).
    events: BTreeMap<(DateTime<Utc>, Uuid), Event>,
    /// The delivery log, by (consumer, generated, event).
    deliveries: BTreeMap<(Uuid, DateTime<Utc>, Uuid), crate::domain::event::Delivery>,
    /// Callbacks handled, by (connection, hash).
    callbacks: std::collections::BTreeSet<(Uuid, String)>,
    /// Pending changes, by (connection, resource, id).
    changes: BTreeMap<(Uuid, crate::domain::hook::Resource, u64), crate::domain::hook::Change>,
}

impl State {
    fn record_with_tombstones(&self, company: &Company) -> CompanyRecord {
        let mut connections: Vec<Connection> = self
            .connections
            .range((company.id, Uuid::nil())..=(company.id, Uuid::max()))
            .map(|(_, c)| c.clone())
            .collect();
        connections.sort_by_key(|c| (c.created, c.id));
        CompanyRecord { company: company.clone(), connections }
    }

    /// Writes `events`, refusing an id written before (before any other write of the change).
    fn check_events(&self, events: &[Event]) -> Result<(), StoreError> {
        match events.iter().any(|e| self.events.contains_key(&(e.generated, e.id))) {
            true => Err(condition("event exists")),
            false => Ok(()),
        }
    }

    fn add_events(&mut self, events: &[Event]) {
        for event in events {
            self.events.insert((event.generated, event.id), event.clone());
        }
    }

    fn record(&self, company: &Company) -> CompanyRecord {
        let mut record = self.record_with_tombstones(company);
        record.connections.retain(|c| c.erasure.is_none());
        record
    }
}

/// A [`crate::ports::PlatformStore`] held in memory. Clones share the same state, as two
/// handles of one DynamoDB table do.
#[derive(Default, Clone)]
pub struct MemoryStore {
    state: Arc<Mutex<State>>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Keeps `history` (default [`History::default`]).
    pub fn with_history(self, history: History) -> Self {
        self.lock().history = history;
        self
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
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

    async fn set_integration_enabled(&self, enabled: bool, at: DateTime<Utc>) -> Result<IntegrationState, StoreError> {
        let state = IntegrationState { enabled, updated: Some(at) };
        self.lock().integration = Some(state.clone());
        Ok(state)
    }
}

#[async_trait]
impl CompanyStore for MemoryStore {
    async fn create_company_reporting(&self, company: &Company, events: &[Event]) -> Result<(), StoreError> {
        let mut state = self.lock();
        if state.companies.contains_key(&company.id) {
            return Err(condition("company exists"));
        }
        state.check_events(events)?;
        state.companies.insert(company.id, company.clone());
        state.add_events(events);
        Ok(())
    }

    async fn get_company(&self, id: Uuid) -> Result<Option<CompanyRecord>, StoreError> {
        let state = self.lock();
        Ok(state.companies.get(&id).filter(|c| !state.deleting.contains(&c.id)).map(|c| state.record(c)))
    }

    async fn list_companies(&self) -> Result<Vec<CompanyRecord>, StoreError> {
        let state = self.lock();
        Ok(state.companies.values().filter(|c| !state.deleting.contains(&c.id)).map(|c| state.record(c)).collect())
    }

    async fn update_company_details(&self, company: &Company) -> Result<(), StoreError> {
        let mut state = self.lock();
        let stored = state.companies.get_mut(&company.id).ok_or_else(|| condition("no company"))?;
        stored.name = company.name.clone();
        stored.description = company.description.clone();
        stored.tags = company.tags.clone();
        Ok(())
    }

    async fn company_by_link_hash(&self, token_hash: &str) -> Result<Option<CompanyRecord>, StoreError> {
        let state = self.lock();
        Ok(state
            .companies
            .values()
            .find(|c| c.link_token_hash == token_hash && !state.deleting.contains(&c.id))
            .map(|c| state.record(c)))
    }

    async fn rotate_link(&self, id: Uuid, old_hash: &str, nonce: &LinkNonce) -> Result<(), StoreError> {
        let mut state = self.lock();
        let deleting = state.deleting.contains(&id);
        let company = state.companies.get_mut(&id).filter(|c| !deleting && c.link_token_hash == old_hash);
        let company = company.ok_or_else(|| condition("no such company, or rotated already"))?;
        company.link_nonce = nonce.as_text();
        company.link_token_hash = nonce.hash();
        Ok(())
    }

    async fn mark_company_deleting(&self, id: Uuid) -> Result<Option<CompanyRecord>, StoreError> {
        let mut state = self.lock();
        if !state.companies.contains_key(&id) {
            return Ok(None);
        }
        state.deleting.insert(id);
        Ok(state.companies.get(&id).map(|c| state.record_with_tombstones(c)))
    }

    async fn mark_company_deleting_reporting(
        &self,
        id: Uuid,
        events: &[Event],
    ) -> Result<Option<CompanyRecord>, StoreError> {
        {
            let mut state = self.lock();
            if state.companies.contains_key(&id) && !state.deleting.contains(&id) && state.check_events(events).is_ok()
            {
                state.add_events(events);
            }
        }
        self.mark_company_deleting(id).await
    }
}

#[async_trait]
impl LinkStore for MemoryStore {
    async fn begin_link(
        &self,
        company: Uuid,
        id: Uuid,
        lease: Uuid,
        now: DateTime<Utc>,
        ttl_secs: i64,
    ) -> Result<(), StoreError> {
        let mut state = self.lock();
        if !state.companies.contains_key(&company) || state.deleting.contains(&company) {
            return Err(condition("no company"));
        }
        let linkable = state
            .connections
            .get(&(company, id))
            .is_some_and(|c| c.erasure.is_none() && ConnectionStatus::LINKABLE.contains(&c.status));
        let free = state.leases.get(&(company, id)).is_none_or(|(_, until)| *until < now.timestamp());
        if !linkable || !free {
            return Err(condition("not linkable"));
        }
        state.leases.insert((company, id), (lease, now.timestamp() + ttl_secs));
        Ok(())
    }

    async fn complete_link_reporting(
        &self,
        company: Uuid,
        id: Uuid,
        lease: Uuid,
        linked: &LinkedStore,
        events: &[Event],
    ) -> Result<Connection, StoreError> {
        let mut state = self.lock();
        if state.leases.get(&(company, id)).map(|(l, _)| *l) != Some(lease) {
            return Err(condition("lease lost"));
        }
        if !state.companies.contains_key(&company) || state.deleting.contains(&company) {
            return Err(condition("no company"));
        }
        let connection = state.connections.get(&(company, id)).ok_or_else(|| condition("no connection"))?;
        if connection.erasure.is_some() || connection.store_hash.as_ref().is_some_and(|h| *h != linked.store_hash) {
            return Err(condition("erased, or linked to another store"));
        }
        state.check_events(events)?;
        state.add_events(events);
        state.leases.remove(&(company, id));
        let connection = state.connections.get_mut(&(company, id)).ok_or_else(|| condition("no connection"))?;
        connection.status = ConnectionStatus::Linked;
        connection.store_hash = Some(linked.store_hash.clone());
        connection.secret_name = Some(linked.secret_name.clone());
        connection.info = linked.info.clone();
        connection.initial_read = Some(Utc::now());
        Ok(connection.clone())
    }

    async fn release_link(&self, company: Uuid, id: Uuid, lease: Uuid) -> Result<(), StoreError> {
        let mut state = self.lock();
        if state.leases.get(&(company, id)).map(|(l, _)| *l) == Some(lease) {
            state.leases.remove(&(company, id));
        }
        Ok(())
    }

    async fn count_attempt(&self, key: &str, window_start: i64, _expires: i64) -> Result<u32, StoreError> {
        let mut state = self.lock();
        let count = state.attempts.entry((key.to_string(), window_start)).or_default();
        *count += 1;
        Ok(*count)
    }

    async fn strike(&self, key: &str, now: i64, gap: i64, expires: i64) -> Result<u32, StoreError> {
        let mut state = self.lock();
        let entry = state.lockouts.entry(key.to_string()).or_insert((0, now, expires));
        if entry.2 <= now {
            *entry = (0, now, expires);
        } else if entry.0 > 0 && entry.1 > now.saturating_sub(gap) {
            return Ok(entry.0);
        }
        *entry = (entry.0 + 1, now, expires);
        Ok(entry.0)
    }

    async fn strikes(&self, key: &str, now: i64) -> Result<Option<(u32, i64)>, StoreError> {
        let state = self.lock();
        Ok(state.lockouts.get(key).filter(|(_, _, expires)| *expires > now).map(|(n, last, _)| (*n, *last)))
    }
}

#[async_trait]
impl ConnectionStore for MemoryStore {
    async fn create_connection_reporting(&self, connection: &Connection, events: &[Event]) -> Result<(), StoreError> {
        let mut state = self.lock();
        if !state.companies.contains_key(&connection.company_id) || state.deleting.contains(&connection.company_id) {
            return Err(condition("no company"));
        }
        let key = (connection.company_id, connection.id);
        if state.connections.contains_key(&key) {
            return Err(condition("connection exists"));
        }
        state.check_events(events)?;
        state.add_events(events);
        state.connections.insert(key, connection.clone());
        Ok(())
    }

    async fn get_connection(&self, company: Uuid, id: Uuid) -> Result<Option<Connection>, StoreError> {
        Ok(self.lock().connections.get(&(company, id)).cloned())
    }

    async fn set_connection_status_reporting(
        &self,
        company: Uuid,
        id: Uuid,
        from: &[ConnectionStatus],
        to: ConnectionStatus,
        events: &[Event],
    ) -> Result<Connection, StoreError> {
        let mut state = self.lock();
        let connection = state.connections.get(&(company, id)).ok_or_else(|| condition("no connection"))?;
        if connection.erasure.is_some() || !from.contains(&connection.status) {
            return Err(condition("status changed"));
        }
        state.check_events(events)?;
        state.add_events(events);
        let connection = state.connections.get_mut(&(company, id)).ok_or_else(|| condition("no connection"))?;
        connection.status = to;
        Ok(connection.clone())
    }

    async fn settle_initial_read(
        &self,
        company: Uuid,
        id: Uuid,
        due: DateTime<Utc>,
        events: &[Event],
    ) -> Result<bool, StoreError> {
        let mut state = self.lock();
        let Some(connection) = state.connections.get(&(company, id)) else { return Ok(false) };
        if connection.erasure.is_some() || connection.initial_read != Some(due) {
            return Ok(false);
        }
        state.check_events(events)?;
        state.add_events(events);
        if let Some(connection) = state.connections.get_mut(&(company, id)) {
            connection.initial_read = None;
        }
        Ok(true)
    }
}

#[async_trait]
impl SyncSettingsStore for MemoryStore {
    async fn sync_settings(&self, company: Uuid) -> Result<Option<SyncSettings>, StoreError> {
        Ok(self.lock().settings.get(&company).cloned())
    }

    async fn put_sync_settings(&self, company: Uuid, settings: &SyncSettings) -> Result<(), StoreError> {
        let mut state = self.lock();
        if !state.companies.contains_key(&company) {
            return Err(condition("no company"));
        }
        state.settings.insert(company, settings.clone());
        Ok(())
    }

    async fn profile_sync_settings(&self) -> Result<Option<SyncSettings>, StoreError> {
        Ok(self.lock().profile.clone())
    }

    async fn put_profile_sync_settings(&self, settings: &SyncSettings) -> Result<(), StoreError> {
        self.lock().profile = Some(settings.clone());
        Ok(())
    }
}

#[async_trait]
impl ApiKeyStore for MemoryStore {
    async fn api_keys(&self) -> Result<Vec<StoredApiKey>, StoreError> {
        let mut keys: Vec<StoredApiKey> = self.lock().api_keys.values().cloned().collect();
        keys.sort_by_key(|k| (k.created, k.id));
        Ok(keys)
    }

    async fn create_api_key(&self, key: &StoredApiKey, max: usize) -> Result<(), StoreError> {
        let mut state = self.lock();
        if state.api_keys.len() >= max {
            return Err(condition("at the key limit"));
        }
        if state.api_keys.contains_key(&key.id) {
            return Err(condition("key exists"));
        }
        state.api_keys.insert(key.id, key.clone());
        Ok(())
    }

    async fn delete_api_key(&self, id: Uuid) -> Result<bool, StoreError> {
        Ok(self.lock().api_keys.remove(&id).is_some())
    }
}

#[async_trait]
impl DeliveryLog for MemoryStore {
    async fn delivery(
        &self,
        consumer: Uuid,
        event: &Event,
    ) -> Result<Option<crate::domain::event::Delivery>, StoreError> {
        Ok(self.lock().deliveries.get(&(consumer, event.generated, event.id)).cloned())
    }

    async fn put_delivery(&self, delivery: &crate::domain::event::Delivery, _expires: i64) -> Result<(), StoreError> {
        let key = (delivery.consumer, delivery.generated, delivery.event_id);
        self.lock().deliveries.insert(key, delivery.clone());
        Ok(())
    }

    async fn deliveries(
        &self,
        consumer: Uuid,
        limit: usize,
    ) -> Result<Vec<crate::domain::event::Delivery>, StoreError> {
        let state = self.lock();
        let range = state.deliveries.range(
            (consumer, DateTime::<Utc>::MIN_UTC, Uuid::nil())..=(consumer, DateTime::<Utc>::MAX_UTC, Uuid::max()),
        );
        Ok(range.rev().take(limit).map(|(_, d)| d.clone()).collect())
    }

    async fn consumer_outcome(
        &self,
        consumer: Uuid,
        failed: Option<DateTime<Utc>>,
    ) -> Result<Option<WebhookConsumer>, StoreError> {
        let mut state = self.lock();
        let Some(stored) = state.webhook_consumers.get_mut(&consumer) else { return Ok(None) };
        match failed {
            Some(at) => {
                stored.failing_since.get_or_insert(at);
            }
            None => stored.failing_since = None,
        }
        Ok(Some(stored.clone()))
    }
}

#[async_trait]
impl EventOutbox for MemoryStore {
    async fn record_events(&self, events: &[Event]) -> Result<(), StoreError> {
        let mut state = self.lock();
        state.check_events(events)?;
        state.add_events(events);
        Ok(())
    }

    async fn events_since(&self, since: DateTime<Utc>, limit: usize) -> Result<Vec<Event>, StoreError> {
        let state = self.lock();
        Ok(state.events.range((since, Uuid::nil())..).take(limit).map(|(_, e)| e.clone()).collect())
    }
}

#[async_trait]
impl WebhookConsumerStore for MemoryStore {
    async fn webhook_consumers(&self) -> Result<Vec<WebhookConsumer>, StoreError> {
        let mut consumers: Vec<WebhookConsumer> = self.lock().webhook_consumers.values().cloned().collect();
        consumers.sort_by_key(|c| (c.created, c.id));
        Ok(consumers)
    }

    async fn webhook_consumer(&self, id: Uuid) -> Result<Option<WebhookConsumer>, StoreError> {
        Ok(self.lock().webhook_consumers.get(&id).cloned())
    }

    async fn create_webhook_consumer(&self, consumer: &WebhookConsumer, max: usize) -> Result<(), StoreError> {
        let mut state = self.lock();
        if state.webhook_consumers.len() >= max {
            return Err(condition("at the consumer limit"));
        }
        if state.webhook_consumers.contains_key(&consumer.id) {
            return Err(condition("consumer exists"));
        }
        state.webhook_consumers.insert(consumer.id, consumer.clone());
        Ok(())
    }

    async fn delete_webhook_consumer(&self, id: Uuid) -> Result<bool, StoreError> {
        Ok(self.lock().webhook_consumers.remove(&id).is_some())
    }

    async fn set_webhook_consumer_disabled(
        &self,
        id: Uuid,
        disabled: bool,
    ) -> Result<Option<WebhookConsumer>, StoreError> {
        let mut state = self.lock();
        Ok(state.webhook_consumers.get_mut(&id).map(|consumer| {
            consumer.disabled = disabled;
            if !disabled {
                consumer.failing_since = None;
            }
            consumer.clone()
        }))
    }
}

#[async_trait]
impl ScheduleStore for MemoryStore {
    async fn schedule_sync(
        &self,
        company: Uuid,
        connection: Uuid,
        data_type: DataType,
        due: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut state = self.lock();
        if state.statuses.contains_key(&(company, connection, data_type)) {
            state.due.insert((company, connection, data_type), due);
        }
        Ok(())
    }

    async fn due_syncs(&self, now: DateTime<Utc>, limit: usize) -> Result<Vec<DueSync>, StoreError> {
        let mut due: Vec<DueSync> = self
            .lock()
            .due
            .iter()
            .filter(|(_, at)| **at <= now)
            .map(|((company, connection, data_type), at)| DueSync {
                company: *company,
                connection: *connection,
                data_type: *data_type,
                due: *at,
            })
            .collect();
        due.sort_by_key(|d| (d.due, d.company, d.connection, d.data_type.key()));
        due.truncate(limit);
        Ok(due)
    }

    async fn claim_due(&self, seen: &DueSync, until: DateTime<Utc>) -> Result<bool, StoreError> {
        let mut state = self.lock();
        match state.due.get_mut(&(seen.company, seen.connection, seen.data_type)) {
            Some(at) if *at == seen.due => {
                *at = until;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn unschedule(&self, seen: &DueSync) -> Result<(), StoreError> {
        let mut state = self.lock();
        let key = (seen.company, seen.connection, seen.data_type);
        if state.due.get(&key) == Some(&seen.due) {
            state.due.remove(&key);
        }
        Ok(())
    }
}

#[async_trait]
impl DatasetStore for MemoryStore {
    async fn queue_datasets(&self, datasets: &[Dataset]) -> Result<(), StoreError> {
        let mut state = self.lock();
        for d in datasets {
            state.datasets.insert((d.company_id, d.id), d.clone());
            if !d.targeted {
                state.marks.insert((d.company_id, d.id), (Staleness::Unsent, timestamp(d.requested)));
            }
            let entry =
                state.statuses.entry((d.company_id, d.connection_id, d.data_type)).or_insert_with(|| DataTypeStatus {
                    connection_id: d.connection_id,
                    data_type: d.data_type,
                    current_status: d.status,
                    latest_sync_id: d.id,
                    latest_requested: d.requested,
                    latest_successful_sync_id: None,
                    last_successful_sync: None,
                });
            let behind_a_run =
                d.targeted && entry.latest_sync_id != d.id && PullStatus::RUNNING.contains(&entry.current_status);
            if entry.latest_requested <= d.requested && !behind_a_run {
                entry.current_status = d.status;
                entry.latest_sync_id = d.id;
                entry.latest_requested = d.requested;
            }
        }
        Ok(())
    }

    async fn mark_sent(&self, company: Uuid, datasets: &[Uuid]) -> Result<(), StoreError> {
        let mut state = self.lock();
        for id in datasets {
            if state.marks.get(&(company, *id)).is_some_and(|(kind, _)| *kind == Staleness::Unsent) {
                state.marks.remove(&(company, *id));
            }
        }
        Ok(())
    }

    async fn pause_dataset(&self, company: Uuid, id: Uuid, until: DateTime<Utc>) -> Result<(), StoreError> {
        let mut state = self.lock();
        if let Some((Staleness::Live, at)) = state.marks.get_mut(&(company, id)) {
            *at = timestamp(until);
        }
        Ok(())
    }

    async fn stale_datasets(
        &self,
        kind: Staleness,
        before: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<StaleDataset>, StoreError> {
        let before = timestamp(before);
        let mut stale: Vec<StaleDataset> = self
            .lock()
            .marks
            .iter()
            .filter(|(_, (k, at))| *k == kind && *at < before)
            .map(|((company, dataset), (_, at))| StaleDataset {
                company: *company,
                dataset: *dataset,
                seen: at.clone(),
            })
            .collect();
        stale.sort_by(|a, b| a.seen.cmp(&b.seen));
        stale.truncate(limit);
        Ok(stale)
    }

    async fn claim_stale(&self, kind: Staleness, seen: &StaleDataset, now: DateTime<Utc>) -> Result<bool, StoreError> {
        let mut state = self.lock();
        match state.marks.get_mut(&(seen.company, seen.dataset)) {
            Some((k, at)) if *k == kind && *at == seen.seen => {
                *at = timestamp(now);
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn dataset(&self, company: Uuid, id: Uuid) -> Result<Option<Dataset>, StoreError> {
        Ok(self.lock().datasets.get(&(company, id)).filter(|d| !d.expired(Utc::now())).cloned())
    }

    async fn datasets(&self, company: Uuid) -> Result<Vec<Dataset>, StoreError> {
        let now = Utc::now();
        Ok(self.lock().datasets.values().filter(|d| d.company_id == company && !d.expired(now)).cloned().collect())
    }

    async fn history_page(
        &self,
        company: Uuid,
        offset: usize,
        limit: usize,
        now: DateTime<Utc>,
    ) -> Result<(Vec<Dataset>, u64), StoreError> {
        let state = self.lock();
        let mut live: Vec<&Dataset> =
            state.datasets.values().filter(|d| d.company_id == company && !d.expired(now)).collect();
        live.sort_by_key(|d| std::cmp::Reverse(d.id));
        let total = live.len() as u64;
        Ok((live.into_iter().skip(offset).take(limit).cloned().collect(), total))
    }

    async fn trim_history(
        &self,
        company: Uuid,
        connection: Uuid,
        data_type: DataType,
        keep: usize,
    ) -> Result<u64, StoreError> {
        let mut state = self.lock();
        let exempt: Vec<Uuid> = state
            .statuses
            .get(&(company, connection, data_type))
            .map(|s| [Some(s.latest_sync_id), s.latest_successful_sync_id].into_iter().flatten().collect())
            .unwrap_or_default();
        let mut ids: Vec<Uuid> = state
            .datasets
            .values()
            .filter(|d| d.company_id == company && d.connection_id == connection && d.data_type == data_type)
            .map(|d| d.id)
            .collect();
        ids.sort_by_key(|id| std::cmp::Reverse(*id));
        let gone: Vec<Uuid> = ids.into_iter().skip(keep).filter(|id| !exempt.contains(id)).collect();
        for id in &gone {
            state.datasets.remove(&(company, *id));
            state.marks.remove(&(company, *id));
        }
        Ok(gone.len() as u64)
    }

    async fn data_statuses(&self, company: Uuid) -> Result<Vec<DataTypeStatus>, StoreError> {
        Ok(self.lock().statuses.iter().filter(|((c, _, _), _)| *c == company).map(|(_, s)| s.clone()).collect())
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
        let mut state = self.lock();
        let Some(dataset) = state.datasets.get(&(company, id)) else { return Ok(None) };
        if !PullStatus::RUNNING.contains(&dataset.status) {
            return Ok(Some(dataset.clone()));
        }
        if to.is_final() {
            state.check_events(events)?;
            state.add_events(events);
        }
        let Some(dataset) = state.datasets.get_mut(&(company, id)) else { return Ok(None) };
        dataset.status = to;
        dataset.progress = progress;
        if to.is_final() {
            dataset.completed = Some(now);
            dataset.error_message = error_message;
        }
        let dataset = dataset.clone();
        if to.is_final() {
            state.marks.remove(&(company, id));
        } else {
            state.marks.insert((company, id), (Staleness::Live, timestamp(now)));
        }
        if let Some(status) = state.statuses.get_mut(&(company, dataset.connection_id, dataset.data_type)) {
            if status.latest_sync_id == id {
                status.current_status = to;
            }
            if to == PullStatus::Complete && status.last_successful_sync.is_none_or(|at| at <= now) {
                status.latest_successful_sync_id = Some(id);
                status.last_successful_sync = Some(now);
            }
        }
        if to.is_final() {
            // Every ended dataset of the data type but the latest and the latest successful
            // leaves the history after the retention (what the DynamoDB adapter's superseded set
            // amounts to).
            let key = (company, dataset.connection_id, dataset.data_type);
            let exempt: Vec<Uuid> = state
                .statuses
                .get(&key)
                .map(|s| [Some(s.latest_sync_id), s.latest_successful_sync_id].into_iter().flatten().collect())
                .unwrap_or_default();
            let expires = (now + state.history.retention).timestamp();
            for d in state.datasets.values_mut() {
                if (d.company_id, d.connection_id, d.data_type) == key
                    && d.status.is_final()
                    && !exempt.contains(&d.id)
                    && d.expires_at.is_none()
                {
                    d.expires_at = Some(expires);
                }
            }
        }
        if to == PullStatus::Complete {
            let forward = |at: &mut Option<DateTime<Utc>>| {
                if at.is_none_or(|at| at < now) {
                    *at = Some(now);
                }
            };
            if let Some(connection) = state.connections.get_mut(&(company, dataset.connection_id)) {
                forward(&mut connection.last_sync);
            }
            if let Some(company) = state.companies.get_mut(&company) {
                forward(&mut company.last_sync);
            }
        }
        Ok(Some(dataset))
    }

    async fn record_count(&self, company: Uuid, id: Uuid, records: u64, modified: bool) -> Result<(), StoreError> {
        if let Some(dataset) = self.lock().datasets.get_mut(&(company, id)) {
            dataset.records = Some(records);
            dataset.records_modified |= modified;
        }
        Ok(())
    }

    async fn checkpoint_dataset(
        &self,
        company: Uuid,
        id: Uuid,
        progress: u8,
        checkpoint: &str,
    ) -> Result<bool, StoreError> {
        let mut state = self.lock();
        match state.datasets.get_mut(&(company, id)) {
            Some(dataset) if PullStatus::RUNNING.contains(&dataset.status) => {
                dataset.progress = progress;
                dataset.checkpoint = Some(checkpoint.to_string());
                state.marks.insert((company, id), (Staleness::Live, timestamp(Utc::now())));
                Ok(true)
            }
            _ => Ok(false),
        }
    }
}

#[async_trait]
impl ErasureStore for MemoryStore {
    async fn mark_connection_erasing(
        &self,
        company: Uuid,
        id: Uuid,
        progress: &ErasureProgress,
    ) -> Result<Option<Connection>, StoreError> {
        let mut state = self.lock();
        let Some(connection) = state.connections.get_mut(&(company, id)) else { return Ok(None) };
        connection.erasure.get_or_insert_with(|| progress.clone());
        Ok(Some(connection.clone()))
    }

    async fn mark_connection_erasing_reporting(
        &self,
        company: Uuid,
        id: Uuid,
        progress: &ErasureProgress,
        events: &[Event],
    ) -> Result<Option<Connection>, StoreError> {
        {
            let mut state = self.lock();
            let first = state.connections.get(&(company, id)).is_some_and(|c| c.erasure.is_none());
            if first && state.check_events(events).is_ok() {
                state.add_events(events);
            }
        }
        self.mark_connection_erasing(company, id, progress).await
    }

    async fn erasing_company(&self, id: Uuid) -> Result<Option<CompanyRecord>, StoreError> {
        let state = self.lock();
        Ok(state.companies.get(&id).filter(|_| state.deleting.contains(&id)).map(|c| state.record_with_tombstones(c)))
    }

    async fn record_erasure(&self, company: Uuid, id: Uuid, progress: &ErasureProgress) -> Result<bool, StoreError> {
        let mut state = self.lock();
        let Some(connection) = state.connections.get_mut(&(company, id)) else { return Ok(false) };
        connection.erasure = Some(progress.clone());
        Ok(true)
    }

    async fn erase_connection_history(&self, company: Uuid, id: Uuid) -> Result<u64, StoreError> {
        let mut state = self.lock();
        let before = state.datasets.len() + state.statuses.len() + state.changes.len() + state.callbacks.len();
        let gone: Vec<(Uuid, Uuid)> = state
            .datasets
            .iter()
            .filter(|(_, d)| d.company_id == company && d.connection_id == id)
            .map(|(k, _)| *k)
            .collect();
        for key in &gone {
            state.datasets.remove(key);
            state.marks.remove(key);
        }
        state.statuses.retain(|(c, n, _), _| !(*c == company && *n == id));
        state.due.retain(|(c, n, _), _| !(*c == company && *n == id));
        state.changes.retain(|(n, _, _), _| *n != id);
        state.callbacks.retain(|(n, _)| *n != id);
        let after = state.datasets.len() + state.statuses.len() + state.changes.len() + state.callbacks.len();
        Ok((before - after) as u64)
    }

    async fn remove_connection(&self, company: Uuid, id: Uuid) -> Result<bool, StoreError> {
        let mut state = self.lock();
        state.connections.remove(&(company, id));
        let left = state.connections.range((company, Uuid::nil())..=(company, Uuid::max())).next().is_some();
        Ok(state.deleting.contains(&company) && !left)
    }

    async fn purge_company(&self, id: Uuid) -> Result<u64, StoreError> {
        let mut state = self.lock();
        let before = state.connections.len() + state.datasets.len() + state.statuses.len() + state.attempts.len();
        if let Some(hash) = state.companies.get(&id).map(|c| c.link_token_hash.clone()) {
            state.attempts.retain(|(key, _), _| *key != hash);
        }
        state.connections.retain(|(company, _), _| *company != id);
        let settings = u64::from(state.settings.remove(&id).is_some());
        let company = u64::from(state.companies.remove(&id).is_some());
        state.deleting.remove(&id);
        state.datasets.retain(|(company, _), _| *company != id);
        state.marks.retain(|(company, _), _| *company != id);
        state.statuses.retain(|(company, _, _), _| *company != id);
        state.due.retain(|(company, _, _), _| *company != id);
        let after = state.connections.len() + state.datasets.len() + state.statuses.len() + state.attempts.len();
        Ok((before - after) as u64 + settings + company)
    }

    async fn put_erasure_receipt(&self, key: &str, receipt: &ErasureReceipt) -> Result<(), StoreError> {
        self.lock().receipts.insert(key.to_string(), receipt.clone());
        Ok(())
    }

    async fn erasure_receipt(&self, key: &str) -> Result<Option<ErasureReceipt>, StoreError> {
        Ok(self.lock().receipts.get(key).cloned())
    }
}

#[async_trait]
impl crate::ports::HookStore for MemoryStore {
    async fn set_hooks(
        &self,
        company: Uuid,
        id: Uuid,
        hooks: &crate::domain::hook::StoreHooks,
    ) -> Result<(), StoreError> {
        let mut state = self.lock();
        match state.connections.get_mut(&(company, id)) {
            Some(c) if c.syncable() => {
                c.hooks = Some(hooks.clone());
                Ok(())
            }
            _ => Err(condition("connection not linked")),
        }
    }

    async fn callback_seen(&self, connection: Uuid, hash: &str) -> Result<bool, StoreError> {
        Ok(self.lock().callbacks.contains(&(connection, hash.to_string())))
    }

    async fn mark_callback_seen(&self, connection: Uuid, hash: &str, _expires: i64) -> Result<(), StoreError> {
        self.lock().callbacks.insert((connection, hash.to_string()));
        Ok(())
    }

    async fn record_change(&self, change: &crate::domain::hook::Change) -> Result<(), StoreError> {
        self.lock().changes.insert((change.connection, change.resource, change.id), change.clone());
        Ok(())
    }

    async fn pending_changes(
        &self,
        connection: Uuid,
        limit: usize,
    ) -> Result<Vec<crate::domain::hook::Change>, StoreError> {
        Ok(self.lock().changes.values().filter(|c| c.connection == connection).take(limit).cloned().collect())
    }

    async fn clear_changes(&self, changes: &[crate::domain::hook::Change]) -> Result<(), StoreError> {
        let mut state = self.lock();
        for change in changes {
            let key = (change.connection, change.resource, change.id);
            if state.changes.get(&key).is_some_and(|c| c.token == change.token) {
                state.changes.remove(&key);
            }
        }
        Ok(())
    }
}
