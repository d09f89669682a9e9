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
use crate::domain::{Connection, ConnectionStatus, JobReason, LinkToken, SyncSettings};
use crate::error::StoreError;
use crate::ports::{CompanyRecord, JobQueue, LinkFunctionStore, LinkedStore};
use crate::syncs::request_syncs;
use crate::vault::CredentialVault;

/// How long a credential submission may hold a connection.
pub const LEASE_SECS: i64 = 60;

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
            (Some(client_id), Some(client_secret), Some(access_token), Some(store_hash)) if problems.is_empty() => {
                Ok(Credentials { client_id, client_secret, access_token, store_hash })
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
        let created = Connection::create(record.company.id, Utc::now());
        self.store.create_connection(&created).await?;
        Ok(created.id)
    }

    /// Counts one credential submission against a Link URL (`token_hash`) in the current minute:
    /// `None` while within [`LinkSettings::attempts_per_minute`], else the seconds until the
    /// window ends.
    pub async fn over_attempts(&self, token_hash: &str) -> Result<Option<i64>, StoreError> {
        let now = Utc::now().timestamp();
        let window = now - now % 60;
        let attempts = self.store.count_attempt(token_hash, window, window + 120).await?;
        Ok((attempts > self.settings.attempts_per_minute).then_some(60 - (now - window)))
    }

    /// Links `connection` of `company` with `submission`.
    pub async fn link(&self, company: Uuid, connection: Uuid, submission: &Submission) -> Result<Linked, LinkError> {
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
        // Under the lease no other submission can link the connection: what it says now holds.
        let outcome = match self.store.get_connection(company, connection).await {
            Ok(Some(c)) => match c.store_hash {
                Some(linked) if linked != credentials.store_hash.as_str() => {
                    tracing::info!(company_id = %company, connection_id = %connection, "credentials for another store refused");
                    Err(LinkError::OtherStore { linked, submitted: credentials.store_hash.to_string() })
                }
                _ => self.verify_and_store(company, connection, lease, &credentials).await,
            },
            Ok(None) => Err(LinkError::NotFound),
            Err(e) => Err(e.into()),
        };
        if outcome.is_err() {
            self.store.release_link(company, connection, lease).await?;
        }
        let linked = outcome?;
        let first_syncs = self.queue_first_syncs(&linked).await;
        tracing::info!(company_id = %company, connection_id = %connection, store_hash = %credentials.store_hash, first_syncs = first_syncs.header_value(), "connection linked");
        Ok(Linked { connection: linked, first_syncs })
    }

    async fn verify_and_store(
        &self,
        company: Uuid,
        connection: Uuid,
        lease: Uuid,
        credentials: &Credentials,
    ) -> Result<Connection, LinkError> {
        let store = verify(&self.client, credentials).await.map_err(|e| {
            tracing::info!(company_id = %company, connection_id = %connection, reason = %e, "credentials refused");
            LinkError::Verify(e)
        })?;
        let secret_name = self.vault.keep(company, connection, credentials).await?;
        let scopes: Vec<&str> = store.scopes.iter().map(|s| s.param()).collect();
        let info = BTreeMap::from([
            ("storeHash".to_string(), credentials.store_hash.to_string()),
            ("storeName".to_string(), store.name),
            ("storeDomain".to_string(), store.domain),
            ("grantedScopes".to_string(), scopes.join(",")),
        ]);
        let linked =
            LinkedStore { store_hash: credentials.store_hash.to_string(), secret_name: secret_name.clone(), info };
        match self.store.complete_link(company, connection, lease, &linked).await {
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
