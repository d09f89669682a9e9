//! A local BigCommerce REST API for tests, the demo and benchmarks.
//!
//! It serves deterministic stores (`data`) under `/stores/{hash}/v2|v3/...` with the real API's
//! conventions (`api`): `X-Auth-Token` auth and per-account scopes, v2 bare arrays ending in 204,
//! v3 `data` + `meta.pagination`, RFC 2822 vs ISO 8601 dates, 4-decimal money strings in v2.
//! Each store has a fixed-window rate limit with the four `X-Rate-Limit-*` headers
//! (`ratelimit`), faults switchable at runtime (`faults`), and metrics (`metrics`), reachable
//! from Rust through [`Sandbox::store`] and over HTTP through the loopback-only `/admin` API.

#![recursion_limit = "256"]

pub mod admin;
pub mod api;
pub mod config;
pub mod data;
pub mod faults;
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
pub use faults::{Faults, Mutations, Touched};
pub use metrics::Metrics;
pub use store::Store;

/// How to start a sandbox.
#[derive(Debug, Clone)]
pub struct SandboxOptions {
    /// Address to listen on (default `127.0.0.1:0`, a free loopback port).
    pub bind: SocketAddr,
    /// The stores to serve.
    pub stores: Vec<StoreConfig>,
}

impl Default for SandboxOptions {
    fn default() -> Self {
        Self { bind: SocketAddr::from(([127, 0, 0, 1], 0)), stores: vec![StoreConfig::from_seed(7, Sizes::default())] }
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
        let state = Arc::new(wire::State { stores, root: format!("http://{addr}") });
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

    /// Stops serving.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}
