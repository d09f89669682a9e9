//! fn link's use cases: linking a connection. Validate the four values, verify them with the
//! store, keep them in Secrets Manager, mark the connection Linked, queue the first syncs. Shared
//! by the Link pages and `PUT .../authorization` (the HTTP edge: `http::link`). Only this
//! function writes secrets.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::Utc;
use secrecy::SecretString;
use url::Url;
use uuid::Uuid;

use crate::bigcommerce::credentials::check_field;
use crate::bigcommerce::{BigCommerceClient, Credentials, CredentialsFile, VerifyError, parse_api_path, verify};
use crate::domain::event::LinkFailure;
use crate::domain::hook::{StoreHooks, secret_digest};
use crate::domain::{Connection, ConnectionStatus, Event, EventType, JobReason, LinkToken, SyncSettings};
use crate::error::StoreError;
use crate::ports::{CompanyRecord, JobQueue, LinkFunctionStore, LinkedStore};
use crate::syncs::request_syncs;
use crate::vault::CredentialVault;

/// How long a credential submission may hold a connection.
pub const LEASE_SECS: i64 = 60;

/// How long registering the store's hooks may take at link (inside fn link's 20 s timeout).
pub const HOOKS_WITHIN: std::time::Duration = std::time::Duration::from_secs(8);

/// Where a connection's store hooks call: `{base}/bigcommerce/hooks/{company}/{connection}`.
pub fn hook_destination(public_base: &Url, company: Uuid, connection: Uuid) -> String {
    let base = public_base.as_str().trim_end_matches('/');
    format!("{base}/bigcommerce/hooks/{company}/{connection}")
}

/// The four fields as submitted (form or JSON), not yet validated.
#[derive(Default, Clone)]
pub struct Submission {
    /// Client ID.
    pub client_id: String,
    /// Client Secret.
    pub client_secret: String,
    /// Access Token.
    pub access_token: String,
    /// API Path.
    pub api_path: String,
}

impl std::fmt::Debug for Submission {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Submission").field("api_path", &self.api_path).finish_non_exhaustive()
    }
}

impl Submission {
    /// Fills the empty fields from a pasted or uploaded credentials file.
    pub fn fill_from_file(&mut self, text: &str) {
        let file = CredentialsFile::parse(text);
        let fill = |field: &mut String, value: Option<String>| {
            if let (true, Some(value)) = (field.trim().is_empty(), value) {
                *field = value;
            }
        };
        fill(&mut self.client_id, file.client_id);
        fill(&mut self.client_secret, file.client_secret);
        fill(&mut self.access_token, file.access_token);
        fill(&mut self.api_path, file.api_path);
    }

    /// Checks the fields' shapes and parses the API Path (no network I/O). Each problem is
    /// reported against its field: `clientId`, `clientSecret`, `accessToken`, `apiPath`.
    pub fn validate(&self) -> Result<Credentials, Vec<(&'static str, String)>> {
        let mut problems = Vec::new();
        let mut take = |field: &'static str, label: &str, raw: &str| match check_field(label, raw) {
            Ok(value) => Some(SecretString::from(value)),
            Err(message) => {
                problems.push((field, message));
                None
            }
        };
        let client_id = take("clientId", "Client ID", &self.client_id);
        let client_secret = take("clientSecret", "Client Secret", &self.client_secret);
        let access_token = take("accessToken", "Access Token", &self.access_token);
        let store_hash = match parse_api_path(&self.api_path) {
            Ok(hash) => Some(hash),
            Err(e) => {
                let mut message = e.to_string();
                if let Some(first) = message.get(..1) {
                    message = format!("{}{}", first.to_uppercase(), &message[1..]);
                }
                problems.push(("apiPath", message));
                None
            }
        };
        match (client_id, client_secret, access_token, store_hash) {
            // The Client Secret is checked (a wrong paste is caught here) but not kept.
            (Some(client_id), Some(_client_secret), Some(access_token), Some(store_hash)) if problems.is_empty() => {
                Ok(Credentials { client_id, access_token, store_hash })
            }
            _ => Err(problems),
        }
    }
}

/// Why a link did not happen.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    /// No such company or connection (or the company is being deleted).
    #[error("not found")]
    NotFound,
    /// The fields are malformed; nothing was sent to the store.
    #[error("invalid fields")]
    Invalid(Vec<(&'static str, String)>),
    /// The connection is Linked already.
    #[error("already linked")]
    AlreadyLinked,
    /// Another submission for this connection is being verified.
    #[error("a submission is in progress")]
    InProgress,
    /// The connection was linked to another store before: a different store needs a new
    /// connection (one connection never shows two stores' data). Nothing was sent or stored.
    #[error("the connection belongs to store {linked}, not {submitted}")]
    OtherStore {
        /// The store hash the connection was linked to.
        linked: String,
        /// The store hash the credentials are for.
        submitted: String,
    },
    /// The store refused or could not be asked.
    #[error("verification failed: {0}")]
    Verify(VerifyError),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Settings of the Link flow.
#[derive(Debug, Clone)]
pub struct LinkSettings {
    /// Where Finish leads after success (the platform's page), if anywhere.
    pub finish_url: Option<Url>,
    /// Credential submissions allowed per Link URL per minute.
    pub attempts_per_minute: u32,
    /// Credential submissions allowed per client address per minute, whatever the Link URL
    /// (an IPv6 address counts by its /64); past it the address is locked out for a minute,
    /// doubling with each lockout within a day, up to an hour.
    pub attempts_per_address_per_minute: u32,
}

impl Default for LinkSettings {
    fn default() -> Self {
        Self { finish_url: None, attempts_per_minute: 10, attempts_per_address_per_minute: 30 }
    }
}

/// How long the `strikes`-th lockout of an address lasts (seconds): a minute, doubling, at
/// most an hour.
pub fn lockout_secs(strikes: u32) -> i64 {
    (60i64 << strikes.saturating_sub(1).min(6)).min(3600)
}

/// How long lockouts are remembered (seconds).
const LOCKOUT_MEMORY_SECS: i64 = 86_400;

/// The key an address's Link submissions count under (see [`address_hash`]).
pub fn address_key(source_ip: &str) -> Option<String> {
    address_hash(source_ip).map(|hash| format!("link-address#{hash}"))
}

/// What a client address counts under: the hex SHA-256 of the address (of its /64 for IPv6,
/// which one client holds whole; an IPv4-mapped address as its IPv4), so no address is stored
/// as such. (An IPv4 address's hash can be found by trying them all: treat it as personal data
/// kept briefly, as the retention table says.)
pub fn address_hash(source_ip: &str) -> Option<String> {
    use sha2::Digest;
    let counted = match source_ip.trim().parse::<std::net::IpAddr>().ok()? {
        std::net::IpAddr::V4(v4) => v4.to_string(),
        std::net::IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
    };
    Some(hex::encode(sha2::Sha256::digest(counted.as_bytes())))
}

/// Whether a link's first syncs reached the queue: what the Link page tells the merchant and
/// the `x-commerce-link-first-sync` header tells the platform.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FirstSyncs {
    /// Queued: the first syncs have started (this many data types).
    Queued(usize),
    /// Recorded as Queued but not yet on the queue: the scheduler's sweep sends them within
    /// minutes (see [`crate::sweep`]).
    Waiting,
    /// Not recorded, after bounded retries: nothing will start until the platform asks
    /// (`POST /companies/{id}/data/all`).
    NotQueued,
    /// The company's sync settings fetch nothing on first link.
    NoneSet,
}

impl FirstSyncs {
    /// The `x-commerce-link-first-sync` header's value.
    pub fn header_value(self) -> &'static str {
        match self {
            Self::Queued(_) => "queued",
            Self::Waiting => "waiting",
            Self::NotQueued => "not-queued",
            Self::NoneSet => "none",
        }
    }
}

/// The name of the header that says whether a link's first syncs were queued.
pub const FIRST_SYNC_HEADER: &str = "x-commerce-link-first-sync";

/// Attempts at recording and queueing the first syncs before the link says they were not.
const FIRST_SYNC_ATTEMPTS: u32 = 3;

/// A linked connection, and how its first syncs fared.
#[derive(Debug, Clone)]
pub struct Linked {
    /// The connection, Linked.
    pub connection: Connection,
    /// Its first syncs.
    pub first_syncs: FirstSyncs,
}

/// The `connection.failed` details of a refusal the merchant can fix (`None`: the store was
/// busy or unreachable, which is not a failure to link).
fn link_failure(error: &VerifyError) -> Option<LinkFailure> {
    let (code, text) = match error {
        VerifyError::TokenRejected => ("401", "Unauthorized"),
        VerifyError::MissingScopes(_) => ("403", "Forbidden"),
        VerifyError::StoreNotFound => ("404", "Not Found"),
        VerifyError::Busy | VerifyError::Unreachable => return None,
    };
    Some(LinkFailure { status_code: code.into(), status_text: text.into(), message: error.merchant_message() })
}

/// Links connections.
pub struct LinkService<S> {
    store: S,
    vault: CredentialVault,
    queue: Arc<dyn JobQueue>,
    client: BigCommerceClient,
    settings: LinkSettings,
}

impl<S: LinkFunctionStore> LinkService<S> {
    /// A service keeping credentials in `vault`, verifying them through `client` and queueing the
    /// first syncs on `queue`.
    pub fn new(
        store: S,
        vault: CredentialVault,
        queue: Arc<dyn JobQueue>,
        client: BigCommerceClient,
        settings: LinkSettings,
    ) -> Self {
        Self { store, vault, queue, client, settings }
    }

    /// The flow's settings.
    pub fn settings(&self) -> &LinkSettings {
        &self.settings
    }

    /// The company whose Link URL carries `token`.
    pub async fn company_for(&self, token: &LinkToken) -> Result<Option<CompanyRecord>, StoreError> {
        self.store.company_by_link_hash(&token.hash()).await
    }

    /// The company with its connections (`None` if absent or being deleted).
    pub async fn company(&self, company: Uuid) -> Result<Option<CompanyRecord>, StoreError> {
        self.store.get_company(company).await
    }

    /// Whether new connections may be linked (the integration toggle).
    pub async fn integration_enabled(&self) -> Result<bool, StoreError> {
        Ok(self.store.integration_state().await?.enabled)
    }

    /// The connection a merchant who chose BigCommerce goes on with: the company's latest
    /// PendingAuth connection, or a new one.
    pub async fn connection_to_link(&self, record: &CompanyRecord) -> Result<Uuid, StoreError> {
        if let Some(pending) = record.connections.iter().rev().find(|c| c.status == ConnectionStatus::PendingAuth) {
            return Ok(pending.id);
        }
        let now = Utc::now();
        let created = Connection::create(record.company.id, now);
        let event = Event::about_connection(EventType::ConnectionCreated, &record.company, &created, now);
        self.store.create_connection_reporting(&created, &[event]).await?;
        Ok(created.id)
    }

    /// Counts one credential submission from `source_ip` (when known) against a Link URL
    /// (`token_hash`) in the current minute: `None` while within both limits, else the seconds
    /// to wait. An address past [`LinkSettings::attempts_per_address_per_minute`] is locked out
    /// ([`lockout_secs`]: growing with each lockout) and its submissions are not counted
    /// meanwhile; the Link URL's own limit is a fixed minute, so whoever holds a URL cannot lock
    /// its merchant out for longer.
    pub async fn over_attempts(&self, token_hash: &str, source_ip: Option<&str>) -> Result<Option<i64>, StoreError> {
        let now = Utc::now().timestamp();
        let window = now - now % 60;
        if let Some(address) = source_ip.and_then(address_key) {
            if let Some((strikes, last)) = self.store.strikes(&address, now).await? {
                let until = last.saturating_add(lockout_secs(strikes));
                if until > now {
                    return Ok(Some(until - now));
                }
            }
            let attempts = self.store.count_attempt(&address, window, window + 120).await?;
            if attempts > self.settings.attempts_per_address_per_minute {
                // Submissions of one burst past the limit are one lockout, not one each.
                let strikes = self.store.strike(&address, now, 60, now + LOCKOUT_MEMORY_SECS).await?;
                tracing::warn!(strikes, lockout_secs = lockout_secs(strikes), "a client address is locked out of Link");
                return Ok(Some(lockout_secs(strikes)));
            }
        }
        let attempts = self.store.count_attempt(token_hash, window, window + 120).await?;
        Ok((attempts > self.settings.attempts_per_minute).then_some(60 - (now - window)))
    }

    /// Links `connection` of `company` with `submission`, registering the store's hooks to
    /// call back under `public_base` (the stack's public URL).
    pub async fn link(
        &self,
        company: Uuid,
        connection: Uuid,
        submission: &Submission,
        public_base: &Url,
    ) -> Result<Linked, LinkError> {
        let credentials = submission.validate().map_err(LinkError::Invalid)?;
        let current = self.store.get_connection(company, connection).await?.ok_or(LinkError::NotFound)?;
        if current.status == ConnectionStatus::Linked {
            return Err(LinkError::AlreadyLinked);
        }
        let lease = Uuid::new_v4();
        match self.store.begin_link(company, connection, lease, Utc::now(), LEASE_SECS).await {
            Ok(()) => {}
            Err(StoreError::ConditionFailed(_)) => {
                return Err(match self.store.get_connection(company, connection).await? {
                    None => LinkError::NotFound,
                    Some(c) if c.status == ConnectionStatus::Linked => LinkError::AlreadyLinked,
                    Some(_) if self.store.get_company(company).await?.is_none() => LinkError::NotFound,
                    Some(_) => LinkError::InProgress,
                });
            }
            Err(e) => return Err(e.into()),
        }
        // A new secret for the store's hooks at each link: kept with the credentials, its digest
        // on the connection, sent to the store in the hooks' headers.
        let hook_secret = SecretString::from(hex::encode(rand::random::<[u8; 32]>()));
        // Under the lease no other submission can link the connection: what it says now holds.
        let outcome = match self.store.get_connection(company, connection).await {
            Ok(Some(c)) => match c.store_hash {
                Some(linked) if linked != credentials.store_hash.as_str() => {
                    tracing::info!(company_id = %company, connection_id = %connection, "credentials for another store refused");
                    Err(LinkError::OtherStore { linked, submitted: credentials.store_hash.to_string() })
                }
                _ => self.verify_and_store(&c, lease, &credentials, &hook_secret).await,
            },
            Ok(None) => Err(LinkError::NotFound),
            Err(e) => Err(e.into()),
        };
        if outcome.is_err() {
            self.store.release_link(company, connection, lease).await?;
        }
        let linked = outcome?;
        let hooked = self.register_hooks(&linked, &credentials, &hook_secret, public_base).await;
        let first_syncs = self.queue_first_syncs(&linked).await;
        tracing::info!(company_id = %company, connection_id = %connection, store_hash = %credentials.store_hash, first_syncs = first_syncs.header_value(), hooks = hooked, "connection linked");
        Ok(Linked { connection: linked, first_syncs })
    }

    async fn verify_and_store(
        &self,
        current: &Connection,
        lease: Uuid,
        credentials: &Credentials,
        hook_secret: &SecretString,
    ) -> Result<Connection, LinkError> {
        let (company, connection) = (current.company_id, current.id);
        let record = self.store.get_company(company).await?.ok_or(LinkError::NotFound)?;
        let store = match verify(&self.client, credentials).await {
            Ok(store) => store,
            Err(e) => {
                tracing::info!(company_id = %company, connection_id = %connection, reason = %e, "credentials refused");
                if let Some(failure) = link_failure(&e) {
                    let event =
                        Event::about_connection(EventType::ConnectionFailed, &record.company, current, Utc::now())
                            .with_failure(failure);
                    // The refusal is answered whether or not its event could be written.
                    if let Err(error) = self.store.record_events(&[event]).await {
                        tracing::error!(%error, "connection.failed could not be recorded");
                    }
                }
                return Err(LinkError::Verify(e));
            }
        };
        let secret_name = self.vault.keep_with_hook(company, connection, credentials, Some(hook_secret)).await?;
        let scopes: Vec<&str> = store.scopes.iter().map(|s| s.param()).collect();
        let info = BTreeMap::from([
            ("storeHash".to_string(), credentials.store_hash.to_string()),
            ("storeName".to_string(), store.name),
            ("storeDomain".to_string(), store.domain),
            ("grantedScopes".to_string(), scopes.join(",")),
        ]);
        let linked =
            LinkedStore { store_hash: credentials.store_hash.to_string(), secret_name: secret_name.clone(), info };
        let after = Connection {
            status: ConnectionStatus::Linked,
            store_hash: Some(linked.store_hash.clone()),
            secret_name: Some(linked.secret_name.clone()),
            info: linked.info.clone(),
            ..current.clone()
        };
        let events: Vec<Event> = Event::status_change(current.status, ConnectionStatus::Linked)
            .map(|kind| Event::about_connection(kind, &record.company, &after, Utc::now()))
            .into_iter()
            .collect();
        match self.store.complete_link_reporting(company, connection, lease, &linked, &events).await {
            Ok(connection) => Ok(connection),
            Err(StoreError::ConditionFailed(_)) => {
                // The lease expired, or the connection (or its company) is being erased or went
                // away while we verified: then the credentials must not stay behind.
                let erased = match self.store.get_connection(company, connection).await? {
                    None => true,
                    Some(c) => c.erasure.is_some() || self.store.get_company(company).await?.is_none(),
                };
                if erased {
                    self.vault.forget(&secret_name).await?;
                    return Err(LinkError::NotFound);
                }
                Err(LinkError::InProgress)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Records where the store's hooks call and registers them (every scope of
    /// [`crate::bigcommerce::hooks::SCOPES`], the secret in their headers). A failure does not
    /// undo the link: the connection's next scheduled sync checks the hooks and repairs them.
    /// Returns whether they are registered.
    async fn register_hooks(
        &self,
        connection: &Connection,
        credentials: &Credentials,
        secret: &SecretString,
        public_base: &Url,
    ) -> bool {
        use secrecy::ExposeSecret;
        let destination = hook_destination(public_base, connection.company_id, connection.id);
        let hooks =
            StoreHooks { destination: destination.clone(), secret_sha256: secret_digest(secret.expose_secret()) };
        if let Err(e) = self.store.set_hooks(connection.company_id, connection.id, &hooks).await {
            tracing::error!(error = %e, connection_id = %connection.id, "the hooks could not be recorded");
            return false;
        }
        let client = crate::bigcommerce::paced::PacedClient::new(
            Arc::new(self.client.clone()),
            credentials.store_hash.clone(),
            credentials.access_token.clone(),
        );
        let deadline = tokio::time::Instant::now() + HOOKS_WITHIN;
        match crate::bigcommerce::hooks::ensure(&client, &destination, secret, true, deadline).await {
            Ok(repair) => {
                tracing::info!(connection_id = %connection.id, created = repair.created, updated = repair.reactivated, "store hooks registered");
                true
            }
            Err(e) => {
                tracing::warn!(error = %e, connection_id = %connection.id, "the store hooks could not be registered: the next scheduled sync repairs them");
                false
            }
        }
    }

    /// Queues a full sync of every data type set to be fetched on first link. A failure does not
    /// undo the link: when the datasets were recorded the sweep sends them; when they were not,
    /// it is tried again ([`FIRST_SYNC_ATTEMPTS`] in all), then reported as it is.
    async fn queue_first_syncs(&self, connection: &Connection) -> FirstSyncs {
        let settings = match self.store.settings_in_force(connection.company_id).await {
            Ok(settings) => settings,
            Err(e) => {
                tracing::error!(error = %e, "reading sync settings failed; using defaults for the first sync");
                SyncSettings::default()
            }
        };
        let types = settings.fetched_on_first_link();
        if types.is_empty() {
            return FirstSyncs::NoneSet;
        }
        for attempt in 1..=FIRST_SYNC_ATTEMPTS {
            let queued = request_syncs(
                &self.store,
                self.queue.as_ref(),
                connection.company_id,
                connection.id,
                &types,
                JobReason::FirstLink,
                Utc::now(),
            )
            .await;
            let error = match queued {
                Ok(datasets) => {
                    tracing::info!(connection_id = %connection.id, jobs = datasets.len(), "first syncs queued");
                    return FirstSyncs::Queued(datasets.len());
                }
                Err(e) => e,
            };
            if self.first_syncs_recorded(connection).await {
                tracing::error!(error = %error, connection_id = %connection.id, "first syncs recorded but not queued: the sweep sends them");
                return FirstSyncs::Waiting;
            }
            tracing::error!(error = %error, connection_id = %connection.id, attempt, "first syncs could not be recorded");
            if attempt < FIRST_SYNC_ATTEMPTS {
                tokio::time::sleep(std::time::Duration::from_millis(250 * u64::from(attempt))).await;
            }
        }
        FirstSyncs::NotQueued
    }

    /// Whether datasets of `connection` were recorded (and so are the sweep's to send).
    async fn first_syncs_recorded(&self, connection: &Connection) -> bool {
        match self.store.data_statuses(connection.company_id).await {
            Ok(statuses) => statuses.iter().any(|s| s.connection_id == connection.id),
            Err(_) => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::memory::{MemoryQueue, MemorySecrets, MemoryStore};
    use crate::ports::LinkStore;

    fn service(settings: LinkSettings) -> LinkService<MemoryStore> {
        let client = BigCommerceClient::new(
            Url::parse("https://api.bigcommerce.com").expect("url"),
            std::time::Duration::from_secs(1),
            std::time::Duration::from_secs(1),
        )
        .expect("client");
        let vault = CredentialVault::new(Arc::new(MemorySecrets::default()), "t/");
        LinkService::new(MemoryStore::new(), vault, Arc::new(MemoryQueue::default()), client, settings)
    }

    #[test]
    fn addresses_count_without_being_kept_and_ipv6_by_its_64() {
        let a = address_key("203.0.113.7").expect("v4");
        assert!(!a.contains("203.0.113.7"), "hashed: {a}");
        assert_eq!(address_key("::ffff:203.0.113.7"), Some(a.clone()), "v4-mapped is the v4 address");
        assert_eq!(address_key("2001:db8:1:2::1"), address_key("2001:db8:1:2:ffff::9"), "one /64");
        assert_ne!(address_key("2001:db8:1:2::1"), address_key("2001:db8:1:3::1"));
        assert_eq!(address_key("not an address"), None);
        assert_eq!([1, 2, 3, 7, 20].map(lockout_secs), [60, 120, 240, 3600, 3600]);
    }

    #[tokio::test]
    async fn an_address_past_its_limit_is_locked_out_across_link_urls() {
        let settings =
            LinkSettings { attempts_per_minute: 100, attempts_per_address_per_minute: 5, ..Default::default() };
        let service = service(settings);
        // Five submissions on five Link URLs pass; the sixth locks the address out for a minute.
        for n in 0..5 {
            assert_eq!(service.over_attempts(&format!("url-{n}"), Some("198.51.100.4")).await.expect("count"), None);
        }
        assert_eq!(service.over_attempts("url-5", Some("198.51.100.4")).await.expect("count"), Some(60));
        // Meanwhile every submission from it is refused (and not counted), on any Link URL.
        let wait = service.over_attempts("url-9", Some("198.51.100.4")).await.expect("count");
        assert!(wait.is_some_and(|w| (58..=60).contains(&w)), "{wait:?}");
        // Another address is not affected, nor is a request whose address is unknown.
        assert_eq!(service.over_attempts("url-9", Some("198.51.100.5")).await.expect("count"), None);
        assert_eq!(service.over_attempts("url-9", None).await.expect("count"), None);
        // The next lockout of the same address lasts twice as long.
        let key = address_key("198.51.100.4").expect("key");
        let now = Utc::now().timestamp();
        assert_eq!(service.store.strike(&key, now, 60, now + 100).await.expect("same burst"), 1);
        assert_eq!(service.store.strike(&key, now + 61, 60, now + 100).await.expect("strike"), 2);
        let wait = service.over_attempts("url-1", Some("198.51.100.4")).await.expect("count");
        assert!(wait.is_some_and(|w| (179..=181).contains(&w)), "the second lockout, from its start: {wait:?}");
    }

    #[tokio::test]
    async fn a_link_url_past_its_limit_waits_for_the_minute_only() {
        let settings =
            LinkSettings { attempts_per_minute: 2, attempts_per_address_per_minute: 100, ..Default::default() };
        let service = service(settings);
        for _ in 0..2 {
            assert_eq!(service.over_attempts("url", Some("198.51.100.4")).await.expect("count"), None);
        }
        let wait = service.over_attempts("url", Some("198.51.100.6")).await.expect("count");
        assert!(wait.is_some_and(|w| w <= 60), "{wait:?}");
        let key = address_key("198.51.100.6").expect("key");
        assert_eq!(service.store.strikes(&key, Utc::now().timestamp()).await.expect("read"), None, "no lockout");
    }
}
