use std::sync::Arc;
use std::time::Duration;

use reqwest::header::HeaderMap;
use sandbox::{Sandbox, SandboxOptions, Sizes, Store, StoreConfig};
use serde_json::Value;

/// A sandbox with one store, and a client for it.
pub struct Env {
    pub sandbox: Sandbox,
    pub store: Arc<Store>,
    pub hash: String,
    /// Token of the account with every scope.
    pub token: String,
    /// Token of the account without the customers scope.
    pub no_customers: String,
    pub http: reqwest::Client,
}

#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Value,
    pub bytes: usize,
}

impl Env {
    /// A store with `sizes`, generous rate limit (tests of the limit set their own).
    pub async fn new(seed: u64, sizes: Sizes) -> Self {
        Self::start(seed, sizes, false).await
    }

    /// A small store whose hooks may deliver to loopback receivers.
    pub async fn loopback_hooks() -> Self {
        Self::start(7, Sizes { orders: 120, products: 40, customers: 30, categories: 14 }, true).await
    }

    /// A store with `sizes`; `loopback_hooks` as in `SandboxOptions`.
    pub async fn start(seed: u64, sizes: Sizes, loopback_hooks: bool) -> Self {
        let mut config = StoreConfig::from_seed(seed, sizes);
        config.quota = 100_000;
        config.window = Duration::from_secs(30);
        let token = config.accounts[0].access_token.clone();
        let no_customers = config.accounts[1].access_token.clone();
        let hash = config.hash.clone();
        let sandbox =
            Sandbox::start(SandboxOptions { stores: vec![config], loopback_hooks, ..SandboxOptions::default() })
                .await
                .expect("sandbox");
        let store = sandbox.store(&hash).expect("store");
        Self { sandbox, store, hash, token, no_customers, http: reqwest::Client::new() }
    }

    /// A small store.
    pub async fn small() -> Self {
        Self::new(7, Sizes { orders: 120, products: 40, customers: 30, categories: 14 }).await
    }

    /// GET `path` (below `/stores/{hash}/`) with a token.
    pub async fn get_as(&self, path: &str, token: Option<&str>) -> Resp {
        let url = format!("{}/{path}", self.sandbox.store_url(&self.hash));
        let mut request = self.http.get(url).header("accept", "application/json");
        if let Some(token) = token {
            request = request.header("x-auth-token", token);
        }
        let response = request.send().await.expect("request");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let bytes = response.bytes().await.expect("body");
        let body = if bytes.is_empty() { Value::Null } else { serde_json::from_slice(&bytes).expect("JSON body") };
        Resp { status, headers, body, bytes: bytes.len() }
    }

    /// `method` on `path` (below `/stores/{hash}/`) with a token and an optional JSON body.
    pub async fn send(&self, method: reqwest::Method, path: &str, token: &str, body: Option<&Value>) -> Resp {
        let url = format!("{}/{path}", self.sandbox.store_url(&self.hash));
        let mut request = self.http.request(method, url).header("x-auth-token", token);
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.expect("request");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let bytes = response.bytes().await.expect("body");
        let body = if bytes.is_empty() { Value::Null } else { serde_json::from_slice(&bytes).expect("JSON body") };
        Resp { status, headers, body, bytes: bytes.len() }
    }

    /// GET with the full-access token.
    pub async fn get(&self, path: &str) -> Resp {
        self.get_as(path, Some(&self.token)).await
    }

    /// The `data` array of a v3 answer or the array of a v2 answer.
    pub async fn items(&self, path: &str) -> Vec<Value> {
        let r = self.get(path).await;
        assert!(r.status == 200 || r.status == 204, "{path}: {} {}", r.status, r.body);
        match r.body {
            Value::Array(items) => items,
            Value::Null => Vec::new(),
            other => other["data"].as_array().cloned().unwrap_or_default(),
        }
    }
}

/// Ids of records.
pub fn ids(items: &[Value], key: &str) -> Vec<u64> {
    items
        .iter()
        .map(|i| i[key].as_u64().unwrap_or_else(|| i[key].as_str().and_then(|s| s.parse().ok()).expect("id")))
        .collect()
}
