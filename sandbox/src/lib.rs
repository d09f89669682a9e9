//! A local BigCommerce REST API for tests, the demo and benchmarks.
//!
//! It serves deterministic stores (`data`) under `/stores/{hash}/v2|v3/...` with the real API's
//! conventions (`api`): `X-Auth-Token` auth and per-account scopes, v2 bare arrays ending in 204,
//! v3 `data` + `meta.pagination`, RFC 2822 vs ISO 8601 dates, 4-decimal money strings in v2.
//! Each store has a fixed-window rate limit with the four `X-Rate-Limit-*` headers
//! (`ratelimit`), faults switchable at runtime (`faults`), and metrics (`metrics`), reachable
//! from Rust through [`Sandbox::store`] and over HTTP through the loopback-only `/admin` API.
//!
//! Webhooks (`hooks`): each API account registers hooks through `/v3/hooks` (no OAuth scope
//! needed; HTTPS on port 443 unless [`SandboxOptions::loopback_hooks`] admits local receivers;
//! at most 10 per scope). Every [`Store::mutate`] (the admin `mutate` route, the
//! `mutate_per_page` fault, Rust callers) fires BigCommerce's events (`store/order/created`,
//! `updated`, `statusUpdated`, `archived`; `store/product/updated|deleted`;
//! `store/customer/updated|deleted`) in BigCommerce's envelope with its SHA-1 `hash`, POSTed in
//! the background with the hook's headers, retried per [`HookSettings::retry`], after which the
//! hook is deactivated. [`Store::hooks`] and [`Store::deliveries`] show what was sent.

#![recursion_limit = "256"]

pub mod admin;
pub mod api;
pub mod config;
pub mod data;
pub mod faults;
pub mod hooks;
pub mod metrics;
pub mod ratelimit;
pub mod server;
pub mod store;
pub mod wire;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::watch;

pub use config::{Account, Scope, Sizes, StoreConfig};
pub use faults::{Faults, Mutations, StatusChange, Touched};
pub use hooks::{Delivery, Hook, HookSettings};
pub use metrics::Metrics;
pub use store::Store;

/// How to start a sandbox.
#[derive(Debug, Clone)]
pub struct SandboxOptions {
    /// Address to listen on (default `127.0.0.1:0`, a free loopback port).
    pub bind: SocketAddr,
    /// The stores to serve.
    pub stores: Vec<StoreConfig>,
    /// Accept hook destinations on 127.0.0.1, localhost or [::1] over http or https on any
    /// port (default false: like BigCommerce, only https on port 443).
    pub loopback_hooks: bool,
}

impl Default for SandboxOptions {
    fn default() -> Self {
        Self {
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            stores: vec![StoreConfig::from_seed(7, Sizes::default())],
            loopback_hooks: false,
        }
    }
}

/// A running sandbox.
pub struct Sandbox {
    addr: SocketAddr,
    state: Arc<wire::State>,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl Sandbox {
    /// Generates the stores and starts serving.
    pub async fn start(options: SandboxOptions) -> std::io::Result<Self> {
        let listener = TcpListener::bind(options.bind).await?;
        let addr = listener.local_addr()?;
        let stores: BTreeMap<String, Arc<Store>> =
            options.stores.into_iter().map(|config| (config.hash.clone(), Arc::new(Store::new(config)))).collect();
        let runtime = tokio::runtime::Handle::current();
        for store in stores.values() {
            store.webhooks.attach(runtime.clone());
        }
        let state =
            Arc::new(wire::State { stores, root: format!("http://{addr}"), loopback_hooks: options.loopback_hooks });
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(server::run(listener, state.clone(), stopped));
        Ok(Self { addr, state, stop, task })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The API base URL (`http://127.0.0.1:PORT`), in place of `https://api.bigcommerce.com`.
    pub fn base_url(&self) -> &str {
        &self.state.root
    }

    /// A store by hash.
    pub fn store(&self, hash: &str) -> Option<Arc<Store>> {
        self.state.stores.get(hash).cloned()
    }

    /// Every store.
    pub fn stores(&self) -> Vec<Arc<Store>> {
        self.state.stores.values().cloned().collect()
    }

    /// `{base}/stores/{hash}`: the store's API root, before `/v2` or `/v3`.
    pub fn store_url(&self, hash: &str) -> String {
        format!("{}/stores/{hash}", self.state.root)
    }

    /// Stops serving, and stops delivering webhooks (pending retries included).
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
        for store in self.state.stores.values() {
            store.webhooks.abort_all();
        }
    }
}
