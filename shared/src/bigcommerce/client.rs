//! The HTTP client for BigCommerce: requests go only to the configured base URL (production:
//! `https://api.bigcommerce.com`, locally: the sandbox), under `/stores/{hash}/`, with
//! `X-Auth-Token`, gzip, short timeouts and no redirects.

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use url::Url;

use super::credentials::StoreHash;

/// The production API base.
pub const PRODUCTION_BASE: &str = "https://api.bigcommerce.com";

/// A response, as far as callers need it.
#[derive(Debug, Clone)]
pub struct ApiResponse {
    /// HTTP status.
    pub status: u16,
    /// Body bytes (complete; a truncated body is an error, never a short success).
    pub body: Vec<u8>,
    /// `X-Rate-Limit-Time-Reset-Ms`, when sent.
    pub reset_ms: Option<u64>,
    /// `X-Rate-Limit-Requests-Left`, when sent.
    pub requests_left: Option<u64>,
    /// `X-Rate-Limit-Requests-Quota`, when sent.
    pub quota: Option<u32>,
    /// `X-Retry-After` (seconds), when sent.
    pub retry_after_secs: Option<u64>,
}

/// A transport failure (connect, timeout, truncated body). Never carries a credential.
#[derive(Debug, thiserror::Error)]
#[error("BigCommerce request failed: {kind}")]
pub struct TransportError {
    /// What happened, without URLs or headers.
    pub kind: &'static str,
}

/// Client of one deployment's BigCommerce base URL.
#[derive(Clone, Debug)]
pub struct BigCommerceClient {
    http: reqwest::Client,
    base: Url,
}

impl BigCommerceClient {
    /// A client of `base` with connect and whole-request timeouts.
    pub fn new(base: Url, connect_timeout: Duration, timeout: Duration) -> Self {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(connect_timeout)
            .timeout(timeout)
            .gzip(true)
            .user_agent(concat!("commerce-link/", env!("CARGO_PKG_VERSION")))
            .build()
            .unwrap_or_default();
        Self { http, base }
    }

    /// The URL of `path` (e.g. `v2/store`) for a store. `path` comes from our code, never from
    /// a user; the store hash has been validated as lowercase letters and digits.
    fn url(&self, store: &StoreHash, path: &str) -> Url {
        let mut url = self.base.clone();
        let prefix = self.base.path().trim_end_matches('/');
        let (path, query) = path.split_once('?').unwrap_or((path, ""));
        url.set_path(&format!("{prefix}/stores/{store}/{path}"));
        url.set_query((!query.is_empty()).then_some(query));
        url
    }

    /// GET `path` of `store` with `token`.
    pub async fn get(
        &self,
        store: &StoreHash,
        token: &SecretString,
        path: &str,
    ) -> Result<ApiResponse, TransportError> {
        let response = self
            .http
            .get(self.url(store, path))
            .header("x-auth-token", token.expose_secret())
            .header("accept", "application/json")
            .send()
            .await
            .map_err(|e| TransportError { kind: classify(&e) })?;
        let header =
            |name: &str| response.headers().get(name).and_then(|v| v.to_str().ok()).and_then(|v| v.parse().ok());
        let status = response.status().as_u16();
        let reset_ms = header("x-rate-limit-time-reset-ms");
        let requests_left = header("x-rate-limit-requests-left");
        let quota = header("x-rate-limit-requests-quota").and_then(|q| u32::try_from(q).ok());
        let retry_after_secs = header("x-retry-after");
        let body = response.bytes().await.map_err(|e| TransportError { kind: classify(&e) })?.to_vec();
        Ok(ApiResponse { status, body, reset_ms, requests_left, quota, retry_after_secs })
    }
}

fn classify(e: &reqwest::Error) -> &'static str {
    if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else if e.is_body() || e.is_decode() {
        "the response body was incomplete"
    } else {
        "transport error"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_stay_under_the_configured_base() {
        let client = BigCommerceClient::new(
            Url::parse("http://127.0.0.1:4000").expect("url"),
            Duration::from_secs(1),
            Duration::from_secs(1),
        );
        let hash = StoreHash::parse("abc123").expect("hash");
        assert_eq!(
            client.url(&hash, "v2/orders?limit=1").as_str(),
            "http://127.0.0.1:4000/stores/abc123/v2/orders?limit=1"
        );
        let prefixed = BigCommerceClient::new(
            Url::parse("https://proxy.test/bc/").expect("url"),
            Duration::from_secs(1),
            Duration::from_secs(1),
        );
        assert_eq!(prefixed.url(&hash, "v2/store").as_str(), "https://proxy.test/bc/stores/abc123/v2/store");
    }
}
