//! A running store: its data, accounts, rate limiter, faults and metrics, all shareable
//! between the HTTP server and Rust tests.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

use chrono::Utc;

use crate::config::{Account, Scope, StoreConfig};
use crate::data::Dataset;
use crate::faults::{Faults, Mutations, Touched};
use crate::hooks::{Delivery, Event, Hook, HookSettings, Hooks};
use crate::metrics::{Counters, Metrics};
use crate::ratelimit::Limiter;

#[derive(Debug, Default)]
pub(crate) struct Tally {
    pub requests: BTreeMap<String, u64>,
    pub statuses: BTreeMap<u16, u64>,
    pub total: u64,
    pub processing_micros: u64,
}

/// One store of the sandbox.
#[derive(Debug)]
pub struct Store {
    hash: String,
    data: RwLock<Dataset>,
    accounts: RwLock<Vec<Account>>,
    pub(crate) limiter: Mutex<Limiter>,
    faults: RwLock<Faults>,
    pub(crate) counters: Counters,
    pub(crate) tally: Mutex<Tally>,
    fault_draws: AtomicU64,
    /// The `store_id` that `v2/store` answers (as a string, as webhook envelopes carry it).
    store_id: String,
    pub(crate) webhooks: Hooks,
}

fn read<T>(lock: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(|e| e.into_inner())
}

fn write<T>(lock: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(|e| e.into_inner())
}

pub(crate) fn lock<T>(lock: &Mutex<T>) -> MutexGuard<'_, T> {
    lock.lock().unwrap_or_else(|e| e.into_inner())
}

impl Store {
    /// Generates the store's data.
    pub fn new(config: StoreConfig) -> Self {
        let store_id = crate::api::store_id(&config).to_string();
        Self {
            store_id,
            webhooks: Hooks::default(),
            hash: config.hash.clone(),
            accounts: RwLock::new(config.accounts.clone()),
            limiter: Mutex::new(Limiter::new(config.quota, config.window)),
            data: RwLock::new(Dataset::generate(config)),
            faults: RwLock::new(Faults::default()),
            counters: Counters::default(),
            tally: Mutex::new(Tally::default()),
            fault_draws: AtomicU64::new(0),
        }
    }

    /// The store hash.
    pub fn hash(&self) -> &str {
        &self.hash
    }

    /// Reads the data.
    pub fn data(&self) -> RwLockReadGuard<'_, Dataset> {
        read(&self.data)
    }

    /// The store's configuration (as generated; accounts as they are now).
    pub fn config(&self) -> StoreConfig {
        let mut config = self.data().config.clone();
        config.accounts = self.accounts();
        config
    }

    /// The API accounts as they are now.
    pub fn accounts(&self) -> Vec<Account> {
        read(&self.accounts).clone()
    }

    /// The scopes of a live token, or `None` if no live account has it.
    pub fn authenticate(&self, token: &str) -> Option<Vec<Scope>> {
        self.account_of(token).map(|a| a.scopes.into_iter().collect())
    }

    /// Revokes (or restores) an account's token.
    pub fn set_revoked(&self, client_id: &str, revoked: bool) -> bool {
        let mut accounts = write(&self.accounts);
        accounts.iter_mut().find(|a| a.client_id == client_id).map(|a| a.revoked = revoked).is_some()
    }

    /// Replaces an account's scopes.
    pub fn set_scopes(&self, client_id: &str, scopes: impl IntoIterator<Item = Scope>) -> bool {
        let mut accounts = write(&self.accounts);
        accounts
            .iter_mut()
            .find(|a| a.client_id == client_id)
            .map(|a| a.scopes = scopes.into_iter().collect())
            .is_some()
    }

    /// Current faults.
    pub fn faults(&self) -> Faults {
        read(&self.faults).clone()
    }

    /// Replaces the faults.
    pub fn set_faults(&self, faults: Faults) -> Result<(), String> {
        faults.validate()?;
        *write(&self.faults) = faults;
        Ok(())
    }

    /// Changes quota and window (a fresh window starts).
    pub fn set_rate_limit(&self, quota: u32, window: Duration) {
        lock(&self.limiter).reconfigure(quota, window);
    }

    /// Exhausts the current window: every request gets 429 until it resets.
    pub fn exhaust(&self) {
        lock(&self.limiter).exhaust(std::time::Instant::now());
    }

    /// Applies data changes now; returns what they touched. Each change fires its webhook
    /// events to the matching active hooks, delivered in the background.
    pub fn mutate(&self, changes: Mutations) -> Touched {
        if changes.is_empty() {
            return Touched::default();
        }
        let touched = write(&self.data).mutate(changes, Utc::now());
        self.webhooks.fire(&self.store_id, &self.hash, &events(&touched));
        touched
    }

    /// Every hook of every account, with its delivery counters.
    pub fn hooks(&self) -> Vec<Hook> {
        self.webhooks.all()
    }

    /// Every delivery attempt, oldest first (the last 10,000).
    pub fn deliveries(&self) -> Vec<Delivery> {
        self.webhooks.deliveries()
    }

    /// The current delivery settings.
    pub fn hook_settings(&self) -> HookSettings {
        self.webhooks.settings()
    }

    /// Replaces the delivery settings (retry schedule, duplicates) for events fired from now on.
    pub fn set_hook_settings(&self, settings: HookSettings) {
        self.webhooks.set_settings(settings);
    }

    /// Activates or deactivates a hook, as BigCommerce does on its own; false if no such hook.
    pub fn set_hook_active(&self, id: u32, active: bool) -> bool {
        self.webhooks.set_active(id, active)
    }

    /// The account of a live token.
    pub(crate) fn account_of(&self, token: &str) -> Option<Account> {
        read(&self.accounts).iter().find(|a| !a.revoked && !token.is_empty() && a.access_token == token).cloned()
    }

    /// A deterministic draw in [0, 1) for fault decisions.
    pub(crate) fn draw(&self) -> f64 {
        let n = self.fault_draws.fetch_add(1, Ordering::Relaxed);
        let mut r = crate::data::rng(self.data().config.seed, crate::data::Kind::Mutation, n | (7 << 48));
        rand::Rng::random(&mut r)
    }

    /// A snapshot of the metrics.
    pub fn metrics(&self) -> Metrics {
        let tally = lock(&self.tally);
        Metrics {
            requests: tally.requests.clone(),
            statuses: tally.statuses.clone(),
            total_requests: tally.total,
            rate_limited: self.counters.rate_limited.load(Ordering::SeqCst),
            peak_concurrency: self.counters.peak_in_flight.load(Ordering::SeqCst),
            requests_before_reset_after_429: lock(&self.limiter).impolite(),
            faults_injected: self.counters.faults_injected.load(Ordering::SeqCst),
            processing_micros: tally.processing_micros,
        }
    }

    /// Clears the metrics.
    pub fn reset_metrics(&self) {
        *lock(&self.tally) = Tally::default();
        self.counters.rate_limited.store(0, Ordering::SeqCst);
        self.counters.peak_in_flight.store(0, Ordering::SeqCst);
        self.counters.faults_injected.store(0, Ordering::SeqCst);
        let mut limiter = lock(&self.limiter);
        let (quota, window) = (limiter.quota(), limiter.window());
        *limiter = Limiter::new(quota, window);
    }
}

/// The webhook events of a mutation, in the order the changes were made.
fn events(touched: &Touched) -> Vec<Event> {
    let mut events = Vec::new();
    for id in &touched.inserted_orders {
        events.push(Event::new("store/order/created", "order", *id));
    }
    for change in &touched.status_changes {
        events.push(Event::new("store/order/updated", "order", change.order_id));
        let mut status = Event::new("store/order/statusUpdated", "order", change.order_id);
        status.data["status"] = serde_json::json!({
            "previous_status_id": change.previous_status_id,
            "new_status_id": change.new_status_id,
        });
        events.push(status);
    }
    for id in &touched.archived_orders {
        events.push(Event::new("store/order/archived", "order", *id));
    }
    for id in &touched.products {
        events.push(Event::new("store/product/deleted", "product", *id));
    }
    for id in &touched.customers {
        events.push(Event::new("store/customer/deleted", "customer", *id));
    }
    for id in &touched.updated_products {
        events.push(Event::new("store/product/updated", "product", *id));
    }
    for id in &touched.updated_customers {
        events.push(Event::new("store/customer/updated", "customer", *id));
    }
    events
}
