//! Webhooks as BigCommerce runs them: hooks registered through `/v3/hooks` (per API account,
//! HTTPS on port 443, at most 10 per scope), and the events a mutation fires, each POSTed in
//! BigCommerce's thin envelope with the hook's custom headers, retried on a schedule, and the
//! hook deactivated once the schedule is exhausted.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Value, json};
use sha1::{Digest, Sha1};
use tokio::runtime::Handle;
use tokio::task::AbortHandle;
use url::{Host, Url};

use crate::store::lock;

/// The scopes a hook may subscribe to.
pub const SCOPES: &[&str] = &[
    "store/order/created",
    "store/order/updated",
    "store/order/archived",
    "store/order/statusUpdated",
    "store/order/refund/created",
    "store/order/transaction/created",
    "store/order/transaction/updated",
    "store/order/*",
    "store/product/created",
    "store/product/updated",
    "store/product/deleted",
    "store/product/*",
    "store/customer/created",
    "store/customer/updated",
    "store/customer/deleted",
    "store/customer/*",
];

/// BigCommerce's retry schedule after a failed delivery, in seconds (about 48 hours).
pub const BIGCOMMERCE_RETRY_SECS: [u64; 11] = [60, 180, 300, 600, 900, 1800, 3600, 7200, 21600, 50400, 86400];

/// At most this many hooks per store, account and scope.
pub const MAX_HOOKS_PER_SCOPE: usize = 10;

/// Attempts kept in the delivery log (the oldest are dropped first).
const LOG_CAPACITY: usize = 10_000;

/// How long one delivery may take.
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(5);

/// A registered hook, with what was delivered to it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Hook {
    /// Id, from 1 in each store.
    pub id: u32,
    /// The API account that created it (and alone sees it).
    pub client_id: String,
    /// The store.
    pub store_hash: String,
    /// What it subscribes to, e.g. `store/order/*`.
    pub scope: String,
    /// Where events are POSTed.
    pub destination: String,
    /// Inactive hooks receive nothing.
    pub is_active: bool,
    /// Sent with every delivery.
    pub headers: BTreeMap<String, String>,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds.
    pub updated_at: i64,
    /// POSTs attempted.
    pub attempts: u64,
    /// Attempts answered 2xx.
    pub delivered: u64,
    /// Attempts that failed (non-2xx or no answer).
    pub failed: u64,
}

impl Hook {
    /// The hook as `/v3/hooks` answers it (without the delivery counters).
    pub fn api_view(&self) -> Value {
        json!({
            "id": self.id,
            "client_id": self.client_id,
            "store_hash": self.store_hash,
            "scope": self.scope,
            "destination": self.destination,
            "is_active": self.is_active,
            "headers": self.headers,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        })
    }

    /// Whether an event of `scope` goes to this hook (exact, or a `.../*` wildcard).
    pub fn matches(&self, scope: &str) -> bool {
        match self.scope.strip_suffix('*') {
            Some(prefix) => scope.starts_with(prefix),
            None => self.scope == scope,
        }
    }
}

/// How deliveries behave; BigCommerce's by default.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HookSettings {
    /// Waits before each retry of a failed delivery; once exhausted the hook is deactivated.
    pub retry: Vec<Duration>,
    /// Deliver every event twice (same body, same hash), to test deduplication.
    pub duplicate: bool,
}

impl Default for HookSettings {
    fn default() -> Self {
        Self { retry: BIGCOMMERCE_RETRY_SECS.iter().map(|s| Duration::from_secs(*s)).collect(), duplicate: false }
    }
}

/// One delivery attempt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Delivery {
    /// The hook.
    pub hook_id: u32,
    /// The event's scope.
    pub scope: String,
    /// The id in the event's `data`.
    pub data_id: u32,
    /// The envelope's `hash`.
    pub hash: String,
    /// 1 for the first try, 2 for the first retry, ...
    pub attempt: u32,
    /// The destination's status code, if it answered.
    pub status: Option<u16>,
    /// Why there was no answer (connection refused, timeout, ...).
    pub error: Option<String>,
    /// When the attempt ended.
    pub at: DateTime<Utc>,
}

impl Delivery {
    /// Whether the destination answered 2xx.
    pub fn succeeded(&self) -> bool {
        self.status.is_some_and(|s| (200..300).contains(&s))
    }
}

/// A hook's fields as a client sets them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HookPatch {
    /// Scope.
    pub scope: Option<String>,
    /// Destination URL.
    pub destination: Option<String>,
    /// Active or not.
    pub is_active: Option<bool>,
    /// Custom headers (replacing the old ones).
    pub headers: Option<BTreeMap<String, String>>,
}

/// Why a hook operation failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HookError {
    /// No hook with that id for this account.
    NotFound,
    /// The fields are refused (422).
    Invalid(String),
}

/// An event a data change fires: its scope and `data`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Event {
    pub scope: &'static str,
    pub data: Value,
}

impl Event {
    pub fn new(scope: &'static str, kind: &str, id: u32) -> Self {
        Self { scope, data: json!({"type": kind, "id": id}) }
    }
}

/// An envelope ready to send.
#[derive(Debug)]
struct Envelope {
    scope: String,
    data_id: u32,
    hash: String,
    body: Vec<u8>,
}

/// BigCommerce's envelope: `{scope, store_id, data, created_at, producer}` plus `hash`, the
/// SHA-1 (hex) of the compact JSON of the envelope without `hash`.
pub fn envelope(scope: &str, store_id: &str, store_hash: &str, data: &Value, created_at: i64) -> Value {
    let mut payload = json!({
        "scope": scope,
        "store_id": store_id,
        "data": data,
        "created_at": created_at,
        "producer": format!("stores/{store_hash}"),
    });
    let hash = hex::encode(Sha1::digest(serde_json::to_vec(&payload).unwrap_or_default()));
    payload["hash"] = json!(hash);
    payload
}

/// Checks a scope is one hooks may subscribe to.
pub fn check_scope(scope: &str) -> Result<(), String> {
    if SCOPES.contains(&scope) { Ok(()) } else { Err(format!("The scope '{scope}' is not a valid webhook scope")) }
}

/// Checks a destination: HTTPS on port 443, or, with `loopback`, any http(s) URL on
/// 127.0.0.1, localhost or [::1].
pub fn check_destination(raw: &str, loopback: bool) -> Result<(), String> {
    let url = Url::parse(raw).map_err(|e| format!("The destination '{raw}' is not a valid URL: {e}"))?;
    let is_loopback = match url.host() {
        Some(Host::Domain(domain)) => domain.eq_ignore_ascii_case("localhost"),
        Some(Host::Ipv4(ip)) => ip == std::net::Ipv4Addr::LOCALHOST,
        Some(Host::Ipv6(ip)) => ip == std::net::Ipv6Addr::LOCALHOST,
        None => false,
    };
    if is_loopback {
        return if loopback && matches!(url.scheme(), "http" | "https") {
            Ok(())
        } else {
            Err(format!("The destination '{raw}' is not publicly reachable"))
        };
    }
    if url.scheme() != "https" || url.port_or_known_default() != Some(443) {
        return Err(format!("The destination '{raw}' must use https on port 443"));
    }
    Ok(())
}

/// Checks custom headers are valid HTTP header names and values.
pub fn check_headers(headers: &BTreeMap<String, String>) -> Result<(), String> {
    for (name, value) in headers {
        if http::HeaderName::from_bytes(name.as_bytes()).is_err() {
            return Err(format!("The header name '{name}' is not valid"));
        }
        if http::HeaderValue::from_str(value).is_err() {
            return Err(format!("The value of header '{name}' is not valid"));
        }
    }
    Ok(())
}

#[derive(Debug, Default)]
struct Book {
    hooks: Vec<Hook>,
    next_id: u32,
    settings: HookSettings,
    log: VecDeque<Delivery>,
    tasks: Vec<AbortHandle>,
}

impl Book {
    /// The limits: one hook per account + scope + destination, ten per account + scope.
    fn check_limits(&self, client_id: &str, scope: &str, destination: &str, except: Option<u32>) -> Result<(), String> {
        let same_scope: Vec<&Hook> = self
            .hooks
            .iter()
            .filter(|h| h.client_id == client_id && h.scope == scope && Some(h.id) != except)
            .collect();
        if same_scope.iter().any(|h| h.destination == destination) {
            return Err(format!("A hook for '{scope}' to '{destination}' already exists"));
        }
        if same_scope.len() >= MAX_HOOKS_PER_SCOPE {
            return Err(format!("At most {MAX_HOOKS_PER_SCOPE} hooks may subscribe to '{scope}'"));
        }
        Ok(())
    }

    fn record(&mut self, delivery: Delivery) {
        if let Some(hook) = self.hooks.iter_mut().find(|h| h.id == delivery.hook_id) {
            hook.attempts += 1;
            if delivery.succeeded() {
                hook.delivered += 1;
            } else {
                hook.failed += 1;
            }
        }
        if self.log.len() >= LOG_CAPACITY {
            self.log.pop_front();
        }
        self.log.push_back(delivery);
    }
}

/// A store's hooks and their deliveries.
#[derive(Debug, Default)]
pub(crate) struct Hooks {
    book: Arc<Mutex<Book>>,
    client: OnceLock<reqwest::Client>,
    runtime: OnceLock<Handle>,
}

impl Hooks {
    /// Deliveries run on this runtime (the sandbox's) rather than the caller's.
    pub fn attach(&self, runtime: Handle) {
        let _ = self.runtime.set(runtime);
    }

    /// Registers a hook for `client_id`.
    pub fn create(
        &self,
        client_id: &str,
        store_hash: &str,
        patch: HookPatch,
        loopback: bool,
    ) -> Result<Hook, HookError> {
        let scope = patch.scope.ok_or_else(|| HookError::Invalid("The field 'scope' is required".into()))?;
        let destination =
            patch.destination.ok_or_else(|| HookError::Invalid("The field 'destination' is required".into()))?;
        let headers = patch.headers.unwrap_or_default();
        check_scope(&scope).map_err(HookError::Invalid)?;
        check_destination(&destination, loopback).map_err(HookError::Invalid)?;
        check_headers(&headers).map_err(HookError::Invalid)?;
        let mut book = lock(&self.book);
        book.check_limits(client_id, &scope, &destination, None).map_err(HookError::Invalid)?;
        book.next_id += 1;
        let now = Utc::now().timestamp();
        let hook = Hook {
            id: book.next_id,
            client_id: client_id.to_string(),
            store_hash: store_hash.to_string(),
            scope,
            destination,
            is_active: patch.is_active.unwrap_or(true),
            headers,
            created_at: now,
            updated_at: now,
            attempts: 0,
            delivered: 0,
            failed: 0,
        };
        book.hooks.push(hook.clone());
        Ok(hook)
    }

    /// The account's hooks.
    pub fn list(&self, client_id: &str) -> Vec<Hook> {
        lock(&self.book).hooks.iter().filter(|h| h.client_id == client_id).cloned().collect()
    }

    /// One of the account's hooks.
    pub fn get(&self, client_id: &str, id: u32) -> Option<Hook> {
        lock(&self.book).hooks.iter().find(|h| h.id == id && h.client_id == client_id).cloned()
    }

    /// Changes one of the account's hooks.
    pub fn update(&self, client_id: &str, id: u32, patch: HookPatch, loopback: bool) -> Result<Hook, HookError> {
        let mut book = lock(&self.book);
        let index =
            book.hooks.iter().position(|h| h.id == id && h.client_id == client_id).ok_or(HookError::NotFound)?;
        let mut hook = book.hooks[index].clone();
        if let Some(scope) = patch.scope {
            check_scope(&scope).map_err(HookError::Invalid)?;
            hook.scope = scope;
        }
        if let Some(destination) = patch.destination {
            check_destination(&destination, loopback).map_err(HookError::Invalid)?;
            hook.destination = destination;
        }
        if let Some(headers) = patch.headers {
            check_headers(&headers).map_err(HookError::Invalid)?;
            hook.headers = headers;
        }
        if let Some(active) = patch.is_active {
            hook.is_active = active;
        }
        book.check_limits(client_id, &hook.scope, &hook.destination, Some(id)).map_err(HookError::Invalid)?;
        hook.updated_at = Utc::now().timestamp();
        book.hooks[index] = hook.clone();
        Ok(hook)
    }

    /// Deletes one of the account's hooks; returns it.
    pub fn delete(&self, client_id: &str, id: u32) -> Option<Hook> {
        let mut book = lock(&self.book);
        let index = book.hooks.iter().position(|h| h.id == id && h.client_id == client_id)?;
        Some(book.hooks.remove(index))
    }

    /// Every hook of every account.
    pub fn all(&self) -> Vec<Hook> {
        lock(&self.book).hooks.clone()
    }

    /// Every attempt logged, oldest first.
    pub fn deliveries(&self) -> Vec<Delivery> {
        lock(&self.book).log.iter().cloned().collect()
    }

    /// The delivery settings.
    pub fn settings(&self) -> HookSettings {
        lock(&self.book).settings.clone()
    }

    /// Replaces the delivery settings.
    pub fn set_settings(&self, settings: HookSettings) {
        lock(&self.book).settings = settings;
    }

    /// Activates or deactivates a hook of any account; false if there is none with `id`.
    pub fn set_active(&self, id: u32, active: bool) -> bool {
        let mut book = lock(&self.book);
        let Some(hook) = book.hooks.iter_mut().find(|h| h.id == id) else {
            return false;
        };
        if hook.is_active != active {
            hook.is_active = active;
            hook.updated_at = Utc::now().timestamp();
        }
        true
    }

    /// Stops every delivery in progress (retries included).
    pub fn abort_all(&self) {
        for task in lock(&self.book).tasks.drain(..) {
            task.abort();
        }
    }

    /// Sends `events` to every active hook they match, in the background.
    pub fn fire(&self, store_id: &str, store_hash: &str, events: &[Event]) {
        if events.is_empty() {
            return;
        }
        let (targets, settings) = {
            let book = lock(&self.book);
            let targets: Vec<(u32, usize)> = events
                .iter()
                .enumerate()
                .flat_map(|(i, event)| {
                    book.hooks.iter().filter(|h| h.is_active && h.matches(event.scope)).map(move |h| (h.id, i))
                })
                .collect();
            (targets, book.settings.clone())
        };
        if targets.is_empty() {
            return;
        }
        let Some(runtime) = self.runtime.get().cloned().or_else(|| Handle::try_current().ok()) else {
            tracing::warn!(events = events.len(), "no tokio runtime: webhook events dropped");
            return;
        };
        let client = match self.client() {
            Ok(client) => client,
            Err(e) => {
                tracing::warn!(error = %e, "cannot build the webhook client: events dropped");
                return;
            }
        };
        let created_at = Utc::now().timestamp();
        let mut envelopes: Vec<Option<Arc<Envelope>>> = vec![None; events.len()];
        let mut spawned = Vec::new();
        for (hook_id, i) in targets {
            let envelope = envelopes[i]
                .get_or_insert_with(|| {
                    let event = &events[i];
                    let payload = envelope(event.scope, store_id, store_hash, &event.data, created_at);
                    Arc::new(Envelope {
                        scope: event.scope.to_string(),
                        data_id: event.data["id"].as_u64().and_then(|id| u32::try_from(id).ok()).unwrap_or_default(),
                        hash: payload["hash"].as_str().unwrap_or_default().to_string(),
                        body: serde_json::to_vec(&payload).unwrap_or_default(),
                    })
                })
                .clone();
            for _ in 0..if settings.duplicate { 2 } else { 1 } {
                let task =
                    deliver(self.book.clone(), client.clone(), hook_id, envelope.clone(), settings.retry.clone());
                spawned.push(runtime.spawn(task).abort_handle());
            }
        }
        let mut book = lock(&self.book);
        book.tasks.retain(|t| !t.is_finished());
        book.tasks.extend(spawned);
    }

    fn client(&self) -> Result<reqwest::Client, reqwest::Error> {
        if let Some(client) = self.client.get() {
            return Ok(client.clone());
        }
        let client = reqwest::Client::builder().timeout(DELIVERY_TIMEOUT).build()?;
        Ok(self.client.get_or_init(|| client).clone())
    }
}

/// Delivers one envelope to one hook: POSTs it, retries on failure after each wait of `retry`,
/// and deactivates the hook when they are exhausted. Stops if the hook is deleted or
/// deactivated meanwhile; reads the hook's destination and headers before each attempt.
async fn deliver(
    book: Arc<Mutex<Book>>,
    client: reqwest::Client,
    hook_id: u32,
    envelope: Arc<Envelope>,
    retry: Vec<Duration>,
) {
    for attempt in 0..=retry.len() {
        if attempt > 0 {
            tokio::time::sleep(retry[attempt - 1]).await;
        }
        let target = {
            let book = lock(&book);
            book.hooks
                .iter()
                .find(|h| h.id == hook_id && h.is_active)
                .map(|h| (h.destination.clone(), h.headers.clone()))
        };
        let Some((destination, headers)) = target else {
            return;
        };
        let mut request = client.post(&destination);
        for (name, value) in &headers {
            request = request.header(name.as_str(), value.as_str());
        }
        let request = request.header(http::header::CONTENT_TYPE, "application/json").body(envelope.body.clone());
        let (status, error) = match request.send().await {
            Ok(response) => (Some(response.status().as_u16()), None),
            Err(e) => (None, Some(error_chain(&e))),
        };
        let delivery = Delivery {
            hook_id,
            scope: envelope.scope.clone(),
            data_id: envelope.data_id,
            hash: envelope.hash.clone(),
            attempt: attempt as u32 + 1,
            status,
            error,
            at: Utc::now(),
        };
        let succeeded = delivery.succeeded();
        let mut ledger = lock(&book);
        ledger.record(delivery);
        if succeeded {
            return;
        }
        if attempt == retry.len() {
            let now = Utc::now().timestamp();
            if let Some(hook) = ledger.hooks.iter_mut().find(|h| h.id == hook_id && h.is_active) {
                hook.is_active = false;
                hook.updated_at = now;
                tracing::info!(hook_id, destination = %hook.destination, "webhook deactivated after its retries");
            }
        }
    }
}

/// An error with its causes, e.g. `error sending request: connection refused`.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destinations_must_be_https_on_443_unless_loopback_is_allowed() {
        assert!(check_destination("https://example.com/hooks", false).is_ok());
        assert!(check_destination("https://example.com:443/hooks", false).is_ok());
        assert!(check_destination("http://example.com/hooks", false).is_err());
        assert!(check_destination("https://example.com:8443/hooks", false).is_err());
        assert!(check_destination("not a url", false).is_err());
        for local in ["http://127.0.0.1:9000/h", "https://localhost:8443/h", "http://[::1]:80/h", "https://127.0.0.1/h"]
        {
            assert!(check_destination(local, false).is_err(), "{local} refused by default");
            assert!(check_destination(local, true).is_ok(), "{local} accepted with loopback hooks");
        }
        assert!(check_destination("ftp://127.0.0.1/h", true).is_err());
        assert!(check_destination("http://10.0.0.1:9000/h", true).is_err(), "only loopback is exempt");
    }

    #[test]
    fn wildcards_match_their_resource_only() {
        let hook = |scope: &str| Hook {
            id: 1,
            client_id: String::new(),
            store_hash: String::new(),
            scope: scope.into(),
            destination: String::new(),
            is_active: true,
            headers: BTreeMap::new(),
            created_at: 0,
            updated_at: 0,
            attempts: 0,
            delivered: 0,
            failed: 0,
        };
        assert!(hook("store/order/*").matches("store/order/statusUpdated"));
        assert!(!hook("store/order/*").matches("store/product/updated"));
        assert!(hook("store/order/created").matches("store/order/created"));
        assert!(!hook("store/order/created").matches("store/order/updated"));
    }

    #[test]
    fn the_hash_is_the_sha1_of_the_envelope_without_it() {
        let data = json!({"type": "order", "id": 101});
        let payload = envelope("store/order/created", "1000007", "abc", &data, 1_700_000_000);
        let mut rest = payload.clone();
        let hash = rest.as_object_mut().and_then(|o| o.remove("hash")).expect("hash");
        assert_eq!(hash, json!(hex::encode(Sha1::digest(serde_json::to_vec(&rest).expect("json")))));
        assert_eq!(payload["producer"], "stores/abc");
        assert_eq!(payload, envelope("store/order/created", "1000007", "abc", &data, 1_700_000_000));
        assert_eq!(hex::encode(Sha1::digest(b"abc")), "a9993e364706816aba3e25717850c26c9cd0d89d");
    }
}
