//! Ports: the narrow capabilities the use cases need from storage, secrets and the queue.
//! Adapters live in `adapters/`: DynamoDB, Secrets Manager and SQS for real, and an in-memory
//! twin of each for fast tests. Both honour the same contract, checked by one suite run against
//! each (`shared/tests`).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use secrecy::SecretString;

use crate::domain::event::Delivery;
use crate::domain::{
    Company, Connection, ConnectionStatus, DataType, DataTypeStatus, Dataset, ErasureJob, ErasureProgress,
    ErasureReceipt, Event, IntegrationState, PullStatus, StoredApiKey, SyncJob, SyncSettings, WebhookConsumer,
};
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
    async fn set_integration_enabled(&self, enabled: bool, at: DateTime<Utc>) -> Result<IntegrationState, StoreError>;
}

/// Companies.
#[async_trait]
pub trait CompanyStore: Send + Sync {
    /// Stores a new company (and its Link token). Fails with `ConditionFailed` if the id exists.
    async fn create_company(&self, company: &Company) -> Result<(), StoreError> {
        self.create_company_reporting(company, &[]).await
    }
    /// The same, writing `events` (the outbox) in the same transaction.
    async fn create_company_reporting(&self, company: &Company, events: &[Event]) -> Result<(), StoreError>;
    /// A company with its connections; `None` if absent or being deleted.
    async fn get_company(&self, id: Uuid) -> Result<Option<CompanyRecord>, StoreError>;
    /// Every company with its connections (not in any order).
    async fn list_companies(&self) -> Result<Vec<CompanyRecord>, StoreError>;
    /// Writes name, description and tags. `ConditionFailed` if absent or being deleted.
    async fn update_company_details(&self, company: &Company) -> Result<(), StoreError>;
    /// The company whose Link token hashes to `token_hash`.
    async fn company_by_link_hash(&self, token_hash: &str) -> Result<Option<CompanyRecord>, StoreError>;
    /// Gives the company a new Link nonce (its Link URL rotates): the lookup item of `old_hash`
    /// goes, the new one comes, in one transaction. `ConditionFailed` if the company is gone,
    /// being deleted, or no longer has `old_hash`.
    async fn rotate_link(&self, id: Uuid, old_hash: &str, nonce: &crate::domain::LinkNonce) -> Result<(), StoreError>;
    /// First step of a delete: marks the company deleting (it disappears from reads and refuses
    /// new children) and returns it with its connections (tombstones included), so each can be
    /// erased. Repeatable; `None` if there is no such company.
    async fn mark_company_deleting(&self, id: Uuid) -> Result<Option<CompanyRecord>, StoreError>;
    /// The same, writing `events` in the same transaction as the mark, only if the company was
    /// not marked before (a repeat writes no event).
    async fn mark_company_deleting_reporting(
        &self,
        id: Uuid,
        events: &[Event],
    ) -> Result<Option<CompanyRecord>, StoreError>;
}

/// Erasure: tombstones, the purge of the platform table's items, receipts (see
/// [`crate::domain::erasure`]).
#[async_trait]
pub trait ErasureStore: Send + Sync {
    /// Marks a connection for erasure (its tombstone, `progress`), unless it is marked already:
    /// from then on it is hidden from reads and refused to links, status changes and syncs.
    /// Returns it as stored; `None` if there is no such connection. Repeatable.
    async fn mark_connection_erasing(
        &self,
        company: Uuid,
        id: Uuid,
        progress: &ErasureProgress,
    ) -> Result<Option<Connection>, StoreError>;
    /// The same, writing `events` in the same transaction as the tombstone, only if the
    /// connection had none (a repeat writes no event).
    async fn mark_connection_erasing_reporting(
        &self,
        company: Uuid,
        id: Uuid,
        progress: &ErasureProgress,
        events: &[Event],
    ) -> Result<Option<Connection>, StoreError>;
    /// A company being deleted, with every connection it still has (tombstones included).
    async fn erasing_company(&self, id: Uuid) -> Result<Option<CompanyRecord>, StoreError>;
    /// Records how far a connection's erasure got; false when its tombstone is gone.
    async fn record_erasure(&self, company: Uuid, id: Uuid, progress: &ErasureProgress) -> Result<bool, StoreError>;
    /// Deletes a connection's datasets and data statuses (its schedule entries with them), its
    /// store's pending changes and the hook callbacks remembered for it; returns how many items went.
    async fn erase_connection_history(&self, company: Uuid, id: Uuid) -> Result<u64, StoreError>;
    /// Deletes a connection's tombstone, its last item. Returns true when its company is being
    /// deleted and has no connection left (its own items are due to go).
    async fn remove_connection(&self, company: Uuid, id: Uuid) -> Result<bool, StoreError>;
    /// Deletes what a company being deleted still has: its partition, datasets, Link token and
    /// attempt counters, the company item last. Repeatable; returns how many items went.
    async fn purge_company(&self, id: Uuid) -> Result<u64, StoreError>;
    /// Stores the receipt of a finished erasure under `key` ([`crate::domain::erasure::erasure_receipt_key`]).
    async fn put_erasure_receipt(&self, key: &str, receipt: &ErasureReceipt) -> Result<(), StoreError>;
    /// The receipt stored under `key`, if it has not expired.
    async fn erasure_receipt(&self, key: &str) -> Result<Option<ErasureReceipt>, StoreError>;
}

/// The store an account was verified against, recorded on a Linked connection.
#[derive(Debug, Clone, PartialEq)]
pub struct LinkedStore {
    /// Store hash.
    pub store_hash: String,
    /// Name of the secret holding the credentials.
    pub secret_name: String,
    /// Facts shown as `connectionInfo` (store name, domain, granted scopes).
    pub info: std::collections::BTreeMap<String, String>,
}

/// Short leases that serialise concurrent credential submissions for one connection.
#[async_trait]
pub trait LinkStore: Send + Sync {
    /// Takes the link lease if the connection may be linked (PendingAuth, Deauthorized or
    /// Unlinked, company not being deleted) and no unexpired lease is held.
    /// `ConditionFailed` otherwise.
    async fn begin_link(
        &self,
        company: Uuid,
        id: Uuid,
        lease: Uuid,
        now: DateTime<Utc>,
        ttl_secs: i64,
    ) -> Result<(), StoreError>;
    /// Marks the connection Linked with `linked`, if `lease` is still held; releases it. Its
    /// `initial_read` is due from now on (see [`ConnectionStore::settle_initial_read`]).
    async fn complete_link(
        &self,
        company: Uuid,
        id: Uuid,
        lease: Uuid,
        linked: &LinkedStore,
    ) -> Result<Connection, StoreError> {
        self.complete_link_reporting(company, id, lease, linked, &[]).await
    }
    /// The same, writing `events` in the same transaction.
    async fn complete_link_reporting(
        &self,
        company: Uuid,
        id: Uuid,
        lease: Uuid,
        linked: &LinkedStore,
        events: &[Event],
    ) -> Result<Connection, StoreError>;
    /// Releases `lease` without linking (verification failed).
    async fn release_link(&self, company: Uuid, id: Uuid, lease: Uuid) -> Result<(), StoreError>;
    /// Counts one attempt against `key` in the current window; returns the count so far.
    async fn count_attempt(&self, key: &str, window_start: i64, expires: i64) -> Result<u32, StoreError>;
    /// Records one more lockout of `key` at `now` (Unix seconds), kept until `expires`, and
    /// returns the lockouts so far. A lockout that began less than `gap` seconds ago is not
    /// counted again (requests of one burst, refused together, are one lockout); a record
    /// expired at `now` starts again from one (DynamoDB's TTL removes items late).
    async fn strike(&self, key: &str, now: i64, gap: i64, expires: i64) -> Result<u32, StoreError>;
    /// The lockouts of `key` and when the last began, unless they expired before `now`.
    async fn strikes(&self, key: &str, now: i64) -> Result<Option<(u32, i64)>, StoreError>;
}

/// Connections.
#[async_trait]
pub trait ConnectionStore: Send + Sync {
    /// Stores a new connection. `ConditionFailed` if its company is absent or being deleted.
    async fn create_connection(&self, connection: &Connection) -> Result<(), StoreError> {
        self.create_connection_reporting(connection, &[]).await
    }
    /// The same, writing `events` in the same transaction.
    async fn create_connection_reporting(&self, connection: &Connection, events: &[Event]) -> Result<(), StoreError>;
    /// A connection of a company.
    async fn get_connection(&self, company: Uuid, id: Uuid) -> Result<Option<Connection>, StoreError>;
    /// Changes status only if the current one is in `from`; `ConditionFailed` otherwise
    /// (including when absent). Returns the updated connection.
    async fn set_connection_status(
        &self,
        company: Uuid,
        id: Uuid,
        from: &[ConnectionStatus],
        to: ConnectionStatus,
    ) -> Result<Connection, StoreError> {
        self.set_connection_status_reporting(company, id, from, to, &[]).await
    }
    /// The same, writing `events` in the same transaction.
    async fn set_connection_status_reporting(
        &self,
        company: Uuid,
        id: Uuid,
        from: &[ConnectionStatus],
        to: ConnectionStatus,
        events: &[Event],
    ) -> Result<Connection, StoreError>;
    /// Clears the connection's `initial_read` if it is still `due` (the link it was set for),
    /// writing `events` (its `read.completed.initial`) in the same transaction. False, with
    /// nothing written, when it was cleared already (of concurrent callers one gets true), the
    /// connection was linked again meanwhile, or it is gone or being erased.
    async fn settle_initial_read(
        &self,
        company: Uuid,
        id: Uuid,
        due: DateTime<Utc>,
        events: &[Event],
    ) -> Result<bool, StoreError>;
}

/// The outbox: every event, kept [`crate::domain::event::EVENT_RETENTION`] (by TTL) and
/// relayed to consumers from the table's stream.
#[async_trait]
pub trait EventOutbox: Send + Sync {
    /// Writes events whose change is written elsewhere or not at all (`connection.failed`).
    async fn record_events(&self, events: &[Event]) -> Result<(), StoreError>;
    /// Events generated at or after `since`, oldest first, at most `limit`.
    async fn events_since(&self, since: DateTime<Utc>, limit: usize) -> Result<Vec<Event>, StoreError>;
}

/// The webhook deliverer's log of messages, and its record of failing consumers.
#[async_trait]
pub trait DeliveryLog: Send + Sync {
    /// The log entry of `event` for `consumer`.
    async fn delivery(&self, consumer: Uuid, event: &Event) -> Result<Option<Delivery>, StoreError>;
    /// Writes a log entry (kept as long as its event).
    async fn put_delivery(&self, delivery: &Delivery, expires_at: i64) -> Result<(), StoreError>;
    /// A consumer's log, newest first, at most `limit`.
    async fn deliveries(&self, consumer: Uuid, limit: usize) -> Result<Vec<Delivery>, StoreError>;
    /// Records an attempt's outcome on the consumer: a failure at `failed` keeps the first
    /// failure since the last success, a success (`None`) clears it. The consumer as it is now.
    async fn consumer_outcome(
        &self,
        consumer: Uuid,
        failed: Option<DateTime<Utc>>,
    ) -> Result<Option<WebhookConsumer>, StoreError>;
}

/// Later attempts of webhook messages: a standard SQS queue, each message hidden until due.
#[async_trait]
pub trait RetryQueue: Send + Sync {
    /// Sends `message` to be attempted after `delay` (at most 15 minutes).
    async fn retry_later(
        &self,
        message: &crate::domain::event::RetryMessage,
        delay: std::time::Duration,
    ) -> Result<(), StoreError>;
    /// Hides a received message for `delay` (at most 12 hours): it comes back then.
    async fn redeliver_after(&self, receipt: &str, delay: std::time::Duration) -> Result<(), StoreError>;
}

/// Sync settings.
#[async_trait]
pub trait SyncSettingsStore: Send + Sync {
    /// The company's explicit settings, if it ever set any.
    async fn sync_settings(&self, company: Uuid) -> Result<Option<SyncSettings>, StoreError>;
    /// Replaces the company's settings. `ConditionFailed` if the company is absent.
    async fn put_sync_settings(&self, company: Uuid, settings: &SyncSettings) -> Result<(), StoreError>;
    /// The deployment's default settings (`/profile/syncSettings`), if ever set.
    async fn profile_sync_settings(&self) -> Result<Option<SyncSettings>, StoreError>;
    /// Replaces the deployment's default settings.
    async fn put_profile_sync_settings(&self, settings: &SyncSettings) -> Result<(), StoreError>;
    /// The settings in force for `company`: its own, over the profile's defaults, over the
    /// built-in ones ([`SyncSettings::over`]).
    async fn settings_in_force(&self, company: Uuid) -> Result<SyncSettings, StoreError> {
        let own = self.sync_settings(company).await?.unwrap_or_default();
        let profile = self.profile_sync_settings().await?.unwrap_or_default();
        Ok(own.over(&profile))
    }
}

/// API keys created through the API or the portal (digests only).
#[async_trait]
pub trait ApiKeyStore: Send + Sync {
    /// Every stored key, oldest first.
    async fn api_keys(&self) -> Result<Vec<StoredApiKey>, StoreError>;
    /// Stores `key` unless `max` keys are stored already (`ConditionFailed` then).
    async fn create_api_key(&self, key: &StoredApiKey, max: usize) -> Result<(), StoreError>;
    /// Deletes a key; false when there is none with that id.
    async fn delete_api_key(&self, id: Uuid) -> Result<bool, StoreError>;
}

/// Webhook consumers (their secrets are in Secrets Manager, named by their ids).
#[async_trait]
pub trait WebhookConsumerStore: Send + Sync {
    /// Every consumer, oldest first.
    async fn webhook_consumers(&self) -> Result<Vec<WebhookConsumer>, StoreError>;
    /// One consumer, if it exists.
    async fn webhook_consumer(&self, id: Uuid) -> Result<Option<WebhookConsumer>, StoreError>;
    /// Stores `consumer` unless `max` consumers are stored already (`ConditionFailed` then).
    async fn create_webhook_consumer(&self, consumer: &WebhookConsumer, max: usize) -> Result<(), StoreError>;
    /// Deletes a consumer; false when there is none with that id.
    async fn delete_webhook_consumer(&self, id: Uuid) -> Result<bool, StoreError>;
    /// Disables or re-enables a consumer (re-enabling forgets its failures); the consumer as it
    /// is now, or `None` when there is none.
    async fn set_webhook_consumer_disabled(
        &self,
        id: Uuid,
        disabled: bool,
    ) -> Result<Option<WebhookConsumer>, StoreError>;
}

/// Which running datasets the scheduler's sweep looks for ([`DatasetStore::stale_datasets`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Staleness {
    /// Queued, and its job never reached the queue (marked when queued, cleared by
    /// [`DatasetStore::mark_sent`]).
    Unsent,
    /// Being fetched by a run whose last sign of life (the run's start, or its last checkpoint) is
    /// old: a run that died (timeout, out of memory, a crash) leaves it so. A run that hands over
    /// to a continuation moves the mark ahead ([`DatasetStore::pause_dataset`]).
    Live,
}

/// A dataset the sweep found, and the mark it was found by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaleDataset {
    /// Company.
    pub company: Uuid,
    /// Dataset.
    pub dataset: Uuid,
    /// The mark as seen (when it was queued, or the run's last sign of life).
    pub seen: String,
}

/// Datasets (pull operations) and the per-data-type status.
#[async_trait]
pub trait DatasetStore: Send + Sync {
    /// Records new Queued datasets, each becoming the latest of its (connection, data type), and
    /// each marked [`Staleness::Unsent`] until [`DatasetStore::mark_sent`].
    async fn queue_datasets(&self, datasets: &[Dataset]) -> Result<(), StoreError>;
    /// Records that the jobs of `datasets` (of `company`) are on the queue.
    async fn mark_sent(&self, company: Uuid, datasets: &[Uuid]) -> Result<(), StoreError>;
    /// Marks a running dataset as waiting on the queue for its continuation: its
    /// [`Staleness::Live`] mark moves to `until` (how long the continuation may wait behind its
    /// connection's other jobs), and the run that takes it up marks it again.
    async fn pause_dataset(&self, company: Uuid, id: Uuid, until: DateTime<Utc>) -> Result<(), StoreError>;
    /// Up to `limit` datasets marked `kind` before `before` (a timestamp), oldest first.
    async fn stale_datasets(
        &self,
        kind: Staleness,
        before: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<StaleDataset>, StoreError>;
    /// Takes a stale dataset for the sweep if it is still marked as `seen`: moves its mark to
    /// `now` and returns true. Of concurrent sweeps, exactly one gets true.
    async fn claim_stale(&self, kind: Staleness, seen: &StaleDataset, now: DateTime<Utc>) -> Result<bool, StoreError>;
    /// A dataset of a company.
    async fn dataset(&self, company: Uuid, id: Uuid) -> Result<Option<Dataset>, StoreError>;
    /// Every dataset of a company still in the history (not expired; not in any order).
    async fn datasets(&self, company: Uuid) -> Result<Vec<Dataset>, StoreError>;
    /// A page of a company's history, newest first (by id: dataset ids are time-ordered), read
    /// with a Limit (expired datasets skipped), and how many datasets the history holds.
    async fn history_page(
        &self,
        company: Uuid,
        offset: usize,
        limit: usize,
        now: DateTime<Utc>,
    ) -> Result<(Vec<Dataset>, u64), StoreError>;
    /// Keeps at most `keep` datasets of a (connection, data type), deleting the oldest others
    /// (never the latest or the latest successful one); returns how many went.
    async fn trim_history(
        &self,
        company: Uuid,
        connection: Uuid,
        data_type: DataType,
        keep: usize,
    ) -> Result<u64, StoreError>;
    /// The latest status of every (connection, data type) of a company that was ever queued.
    async fn data_statuses(&self, company: Uuid) -> Result<Vec<DataTypeStatus>, StoreError>;
    /// Moves a dataset to `to` (and `progress`) if it is still running (Queued, Fetching,
    /// MapQueued, Mapping); a final `to` also records `completed` and `error_message`, clears its
    /// sweep marks and updates the data type's status (the last success only moves forward); a
    /// running `to` marks it [`Staleness::Live`] as of `now`. Returns the dataset as stored
    /// afterwards; a dataset already final is returned unchanged (redelivered jobs). Datasets this
    /// one supersedes (and itself, when a newer one is the latest) get their expiry
    /// ([`crate::domain::History::retention`]), unless one is still the latest or the latest
    /// successful of its data type.
    /// A dataset found final already has its data type's status brought in line with it (a
    /// run that died between the two writes).
    async fn advance_dataset(
        &self,
        company: Uuid,
        id: Uuid,
        to: PullStatus,
        progress: u8,
        error_message: Option<String>,
        now: DateTime<Utc>,
    ) -> Result<Option<Dataset>, StoreError> {
        self.advance_dataset_reporting(company, id, to, progress, error_message, now, &[]).await
    }
    /// The same, writing `events` in the same transaction as a final `to` (nothing when the
    /// dataset was final already: a repeat writes no second event).
    #[allow(clippy::too_many_arguments)]
    async fn advance_dataset_reporting(
        &self,
        company: Uuid,
        id: Uuid,
        to: PullStatus,
        progress: u8,
        error_message: Option<String>,
        now: DateTime<Utc>,
        events: &[Event],
    ) -> Result<Option<Dataset>, StoreError>;
    /// Records how far a running dataset got (`progress` and the worker's `checkpoint`), after
    /// the records before that point are stored, as a sign of life ([`Staleness::Live`] as of
    /// now). Returns false when the dataset is no longer running (or gone): nothing is written
    /// then.
    async fn checkpoint_dataset(
        &self,
        company: Uuid,
        id: Uuid,
        progress: u8,
        checkpoint: &str,
    ) -> Result<bool, StoreError>;
    /// Records how many records of its data type were stored when a dataset's run sealed them
    /// (shown in the history), and that the run modified records when `modified` (never
    /// unset: a redelivered run that seals nothing new keeps it). Nothing is written when the
    /// dataset is gone.
    async fn record_count(&self, company: Uuid, id: Uuid, records: u64, modified: bool) -> Result<(), StoreError>;
}

/// A (connection, data type) whose scheduled sync is due, as the due index lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct DueSync {
    /// Company.
    pub company: Uuid,
    /// Connection.
    pub connection: Uuid,
    /// Data type.
    pub data_type: DataType,
    /// When it fell due.
    pub due: DateTime<Utc>,
}

/// When each (connection, data type) is next due to sync: an index on the due time, so the
/// scheduler reads only what is due.
#[async_trait]
pub trait ScheduleStore: Send + Sync {
    /// Sets the next due time of a data type that has a status (a sync was requested once).
    async fn schedule_sync(
        &self,
        company: Uuid,
        connection: Uuid,
        data_type: DataType,
        due: DateTime<Utc>,
    ) -> Result<(), StoreError>;
    /// Up to `limit` syncs due at `now` or earlier, oldest first.
    async fn due_syncs(&self, now: DateTime<Utc>, limit: usize) -> Result<Vec<DueSync>, StoreError>;
    /// Moves a due sync to `until` if it is still due as `seen` says: of concurrent schedulers,
    /// exactly one gets true.
    async fn claim_due(&self, seen: &DueSync, until: DateTime<Utc>) -> Result<bool, StoreError>;
    /// Takes a sync off the schedule (its connection is no longer Linked), if still as `seen`.
    async fn unschedule(&self, seen: &DueSync) -> Result<(), StoreError>;
}

/// The records of one data type of one connection: the unit the data table stores, seals and
/// pages through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RecordSet {
    /// The connection.
    pub connection: Uuid,
    /// The data type.
    pub data_type: DataType,
}

impl RecordSet {
    /// The records of `data_type` of `connection`.
    pub fn new(connection: Uuid, data_type: DataType) -> Self {
        Self { connection, data_type }
    }
}

/// One synced record: its source id and its Codat JSON.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredRecord {
    /// The source record's id (unique per connection and data type).
    pub id: String,
    /// When the source last changed it (for incremental pulls by the platform).
    pub modified: Option<DateTime<Utc>>,
    /// The Codat record.
    pub record: serde_json::Value,
}

/// Synced records, keyed by (record set, source id): writing a record again replaces it, never
/// duplicates it.
#[async_trait]
pub trait RecordStore: Send + Sync {
    /// Writes records durably (returns only once all are stored), each tagged with the sync
    /// `pass` that wrote it (a dataset id; see [`RecordStore::tally_page`]).
    async fn put_records(&self, set: RecordSet, records: &[StoredRecord], pass: Option<Uuid>)
    -> Result<(), StoreError>;
    /// Removes records (the source deleted or archived them). Removing a missing one succeeds.
    async fn delete_records(&self, set: RecordSet, ids: &[String]) -> Result<(), StoreError>;
    /// The ids of the records whose id starts with `prefix` (e.g. an order's payments, `"42_"`).
    async fn ids_with_prefix(&self, set: RecordSet, prefix: &str) -> Result<Vec<String>, StoreError>;
    /// Up to `limit` ids of `set` in sort-key order ([`sort_key`]) after the position `after`
    /// (from the start when `None`), each with whether `pass` wrote it last: a record a full
    /// listing did not write is a candidate for removal, never removed on this alone. Paged, so
    /// the caller holds a page, never the whole set.
    async fn tally_page(
        &self,
        set: RecordSet,
        pass: Uuid,
        after: Option<&str>,
        limit: usize,
    ) -> Result<TallyPage, StoreError>;
    /// Rebuilds the list directory (the count and the position of every `STRIDE`-th record) from
    /// what is stored now, so lists can jump to any page. Called once a sync of the data type
    /// ends.
    async fn seal(&self, set: RecordSet) -> Result<Sealed, StoreError>;
    /// Visits every record summary of `set`, in source id order (costs the summary index).
    async fn summaries(&self, set: RecordSet, visit: &mut (dyn FnMut(RecordSummary) + Send)) -> Result<(), StoreError>;
    /// Stores `value` as the aggregate `name` of `connection` (e.g. sales per month), replacing it.
    async fn put_aggregate(&self, connection: Uuid, name: &str, value: &serde_json::Value) -> Result<(), StoreError>;
    /// Erasure: deletes up to about `limit` items of `set` (records, summaries, the directory);
    /// returns how many went and whether any are left.
    async fn erase(&self, set: RecordSet, limit: usize) -> Result<(u64, bool), StoreError>;
    /// Erasure: deletes every aggregate of `connection`; returns how many went.
    async fn erase_aggregates(&self, connection: Uuid) -> Result<u64, StoreError>;
}

/// What sealing a record set found ([`RecordStore::seal`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Sealed {
    /// Records in the set.
    pub count: u64,
    /// Whether records were written or removed since the set was last sealed.
    pub modified: bool,
}

/// A page of a record set's ids against a sync pass ([`RecordStore::tally_page`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TallyPage {
    /// Source ids in sort-key order, each with whether the pass wrote it last.
    pub ids: Vec<(String, bool)>,
    /// The position to read on from (the last sort key read); `None` when the set is done.
    pub next: Option<String>,
}

/// Where a record sorts in its set: numeric ids (up to 20 digits) numerically, zero-padded,
/// before every other id, which sorts as text after a `~`. Lists, pages and tallies follow it.
pub fn sort_key(id: &str) -> String {
    if !id.is_empty() && id.len() <= 20 && id.bytes().all(|b| b.is_ascii_digit()) {
        format!("{id:0>20}")
    } else {
        format!("~{id}")
    }
}

/// A page of records in the default order (source id), and the sealed count.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordPage {
    /// Records of the data type when it was last sealed.
    pub total: u64,
    /// The page.
    pub records: Vec<StoredRecord>,
}

/// The queryable summary of a record: its properties without the heavy ones
/// ([`crate::codat::summary::HEAVY_FIELDS`]), or the whole record when a scan asks for it.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordSummary {
    /// Source id.
    pub id: String,
    /// The record's light properties.
    pub summary: serde_json::Value,
}

/// What reads cost, counted by the adapter since it was created.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ReadStats {
    /// Read calls sent.
    pub calls: u64,
    /// Items returned.
    pub items: u64,
    /// Bytes of those items, as DynamoDB sizes them.
    pub bytes: u64,
    /// Read capacity units they cost, by DynamoDB's rules (4 KB units, eventually consistent
    /// reads at half a unit).
    pub capacity: f64,
}

impl ReadStats {
    /// The reads between `earlier` and `self`.
    pub fn since(&self, earlier: &ReadStats) -> ReadStats {
        ReadStats {
            calls: self.calls - earlier.calls,
            items: self.items - earlier.items,
            bytes: self.bytes - earlier.bytes,
            capacity: self.capacity - earlier.capacity,
        }
    }
}

/// Reading synced records for the Commerce API (fn data): never writes.
#[async_trait]
pub trait RecordReader: Send + Sync {
    /// One record.
    async fn record(&self, set: RecordSet, id: &str) -> Result<Option<StoredRecord>, StoreError>;
    /// Records `offset..offset + limit` in source id order, found through the directory: the cost
    /// is the page's, whatever the offset. `None` when the data type was never sealed.
    async fn page(&self, set: RecordSet, offset: u64, limit: u32) -> Result<Option<RecordPage>, StoreError>;
    /// Hands every record's summary (or, with `whole`, every record) to `visit`, in source id
    /// order, one DynamoDB page at a time: the caller keeps what it needs, so memory does not grow
    /// with the data set. Costs the whole summary index (or the whole data set).
    async fn scan(
        &self,
        set: RecordSet,
        whole: bool,
        visit: &mut (dyn FnMut(RecordSummary) + Send),
    ) -> Result<(), StoreError>;
    /// Records by source id, in the order given; ids not stored are left out.
    async fn records(&self, set: RecordSet, ids: &[String]) -> Result<Vec<StoredRecord>, StoreError>;
    /// Every record, in source id order (costs the whole data set).
    async fn every_record(&self, set: RecordSet) -> Result<Vec<StoredRecord>, StoreError>;
    /// The aggregate `name` of `connection`, if one was stored (one item).
    async fn aggregate(&self, connection: Uuid, name: &str) -> Result<Option<serde_json::Value>, StoreError>;
    /// Reads made so far.
    fn stats(&self) -> ReadStats;
}

/// The store webhooks' side of the platform table: a connection's hooks, the callbacks seen
/// (by `hash`), and the changes they left for a targeted sync. Costs grow with the callbacks,
/// never with the store's size.
#[async_trait]
pub trait HookStore: Send + Sync {
    /// Records where the hooks of a Linked connection call and their secret's digest.
    /// `ConditionFailed` when the connection is not Linked or is being erased.
    async fn set_hooks(
        &self,
        company: Uuid,
        id: Uuid,
        hooks: &crate::domain::hook::StoreHooks,
    ) -> Result<(), StoreError>;
    /// Whether a callback with `hash` was handled for `connection` already.
    async fn callback_seen(&self, connection: Uuid, hash: &str) -> Result<bool, StoreError>;
    /// Records that the callback with `hash` was handled, until `expires` (Unix seconds).
    async fn mark_callback_seen(&self, connection: Uuid, hash: &str, expires: i64) -> Result<(), StoreError>;
    /// Leaves `change` to fetch, replacing an earlier change of the same record.
    async fn record_change(&self, change: &crate::domain::hook::Change) -> Result<(), StoreError>;
    /// Up to `limit` pending changes of `connection`.
    async fn pending_changes(
        &self,
        connection: Uuid,
        limit: usize,
    ) -> Result<Vec<crate::domain::hook::Change>, StoreError>;
    /// Clears changes that were fetched, each only while no later callback replaced it.
    async fn clear_changes(&self, changes: &[crate::domain::hook::Change]) -> Result<(), StoreError>;
}

/// Everything the Platform API needs.
pub trait PlatformStore:
    IntegrationStore
    + CompanyStore
    + ConnectionStore
    + SyncSettingsStore
    + DatasetStore
    + ScheduleStore
    + ApiKeyStore
    + ErasureStore
    + WebhookConsumerStore
    + EventOutbox
    + DeliveryLog
    + HookStore
{
}

impl<
    T: IntegrationStore
        + CompanyStore
        + ConnectionStore
        + SyncSettingsStore
        + DatasetStore
        + ScheduleStore
        + ApiKeyStore
        + ErasureStore
        + WebhookConsumerStore
        + EventOutbox
        + DeliveryLog
        + HookStore,
> PlatformStore for T
{
}

/// Secrets (store credentials). Only fn link writes them; fn companies may delete them.
#[async_trait]
pub trait SecretStore: Send + Sync {
    /// Stores `value` under `name`, creating the secret with `tags` or updating it in place
    /// (never delete-and-create: a deleted name stays blocked for days).
    async fn put_secret(&self, name: &str, value: &SecretString, tags: &[(&str, String)]) -> Result<(), StoreError>;
    /// Deletes a secret immediately (no recovery window). Deleting a missing secret succeeds.
    async fn delete_secret(&self, name: &str) -> Result<(), StoreError>;
}

/// Reading secrets: only the sync worker does.
#[async_trait]
pub trait SecretReader: Send + Sync {
    /// The secret's value, or `None` if it does not exist.
    async fn read_secret(&self, name: &str) -> Result<Option<SecretString>, StoreError>;
}

/// The sync job queue.
#[async_trait]
pub trait JobQueue: Send + Sync {
    /// Enqueues jobs; each is delivered at least once, in order per connection.
    async fn enqueue(&self, jobs: &[SyncJob]) -> Result<(), StoreError>;
    /// Enqueues erasures, each behind the jobs of its connection.
    async fn enqueue_erasures(&self, jobs: &[ErasureJob]) -> Result<(), StoreError>;
    /// Has a received message (its `receipt`) delivered again after `delay`, unless it is
    /// deleted first, rather than after the queue's visibility timeout: a retry (or a run that
    /// dies) holds up its connection's other jobs no longer.
    async fn redeliver_after(&self, receipt: &str, delay: std::time::Duration) -> Result<(), StoreError>;
    /// The fresh queue that goes with this one, where a caller also sends hooks checks (the
    /// scheduler's tick); `None` by default.
    fn fresh(&self) -> Option<&dyn FreshQueue> {
        None
    }
}

/// The fresh queue: targeted syncs and hooks checks, apart from the sync queue so that they
/// never wait behind a connection's long jobs.
#[async_trait]
pub trait FreshQueue: Send + Sync {
    /// Enqueues `jobs`; one per connection and window is kept ([`FreshJob::deduplication_id`]).
    ///
    /// [`FreshJob::deduplication_id`]: crate::domain::hook::FreshJob::deduplication_id
    async fn enqueue_fresh(&self, jobs: &[crate::domain::hook::FreshJob]) -> Result<(), StoreError>;
    /// Has a received message delivered again after `delay` (see [`JobQueue::redeliver_after`]).
    async fn redeliver_fresh_after(&self, receipt: &str, delay: std::time::Duration) -> Result<(), StoreError>;
}

/// Everything the Link function needs.
pub trait LinkFunctionStore: PlatformStore + LinkStore {}

impl<T: PlatformStore + LinkStore> LinkFunctionStore for T {}
