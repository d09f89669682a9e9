//! The HTTP client for BigCommerce: requests go only to the configured base URL (production:
//! `https://api.bigcommerce.com`, locally: the sandbox), under `/stores/{hash}/`, with
//! `X-Auth-Token`, gzip, short timeouts, no redirects and a cap on what a body may grow to.
//! [`Transport`] is the seam the paced client sends through: this client in production, a
//! scripted store in tests.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use async_trait::async_trait;

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

/// The most a response body may hold once decompressed (32 MiB; a page of 250 orders with
/// their line items is about 5 MB). A larger body is refused, never cut short.
pub const MAX_BODY_BYTES: usize = 32 * 1024 * 1024;

/// A transport failure (connect, timeout, truncated or oversized body). Never carries a
/// credential.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("BigCommerce request failed: {kind}")]
pub struct TransportError {
    /// What happened, without URLs or headers.
    pub kind: &'static str,
    /// The body passed [`MAX_BODY_BYTES`]: asking again would only read it again.
    pub oversized: bool,
}

impl TransportError {
    /// A failure that a later attempt may not meet.
    pub fn transient(kind: &'static str) -> Self {
        Self { kind, oversized: false }
    }

    /// A body past [`MAX_BODY_BYTES`].
    pub fn oversized() -> Self {
        Self { kind: "the response body is larger than 32 MiB", oversized: true }
    }
}

/// The HTTP client could not be built (no TLS roots, say).
#[derive(Debug, thiserror::Error)]
#[error("the BigCommerce HTTP client could not be built: {0}")]
pub struct ClientBuildError(String);

/// A write to a store: the method and the JSON body (the hooks API is the only one we write to).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Write<'a> {
    /// `POST` with a body.
    Post(&'a [u8]),
    /// `PUT` with a body.
    Put(&'a [u8]),
    /// `DELETE`.
    Delete,
}

/// Sends requests to a store: what the paced client needs of HTTP.
#[async_trait]
pub trait Transport: Send + Sync {
    /// GET `path` (e.g. `v2/orders?limit=250&page=3`) of `store` with `token`.
    async fn get(&self, store: &StoreHash, token: &SecretString, path: &str) -> Result<ApiResponse, TransportError>;
    /// Sends `write` to `path` of `store` with `token`. Transports that only read refuse it.
    async fn send(
        &self,
        _store: &StoreHash,
        _token: &SecretString,
        _path: &str,
        _write: Write<'_>,
    ) -> Result<ApiResponse, TransportError> {
        Err(TransportError::transient("this transport only reads"))
    }
}

/// Client of one deployment's BigCommerce base URL.
#[derive(Clone, Debug)]
pub struct BigCommerceClient {
    /// Built at the first request (loading the TLS roots is most of a function's init
    /// otherwise, and a first request that calls no store does not need it).
    http: Arc<OnceLock<reqwest::Client>>,
    connect_timeout: Duration,
    timeout: Duration,
    base: Url,
}

impl BigCommerceClient {
    /// A client of `base` with connect and whole-request timeouts. Its HTTP client is built
    /// when it first sends; a failure to build it fails that request (and is retried with it).
    pub fn new(base: Url, connect_timeout: Duration, timeout: Duration) -> Result<Self, ClientBuildError> {
        Ok(Self { http: Arc::default(), connect_timeout, timeout, base })
    }

    /// The HTTP client, built on first use.
    fn http(&self) -> Result<&reqwest::Client, TransportError> {
        if let Some(http) = self.http.get() {
            return Ok(http);
        }
        let built = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(self.connect_timeout)
            .timeout(self.timeout)
            .gzip(true)
            .user_agent(concat!("commerce-link/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| {
                tracing::error!(error = %ClientBuildError(e.to_string()), "no BigCommerce HTTP client");
                TransportError::transient("the HTTP client could not be built")
            })?;
        Ok(self.http.get_or_init(|| built))
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
}

#[async_trait]
impl Transport for BigCommerceClient {
    async fn get(&self, store: &StoreHash, token: &SecretString, path: &str) -> Result<ApiResponse, TransportError> {
        let request = self.http()?.get(self.url(store, path));
        receive(request, token).await
    }

    async fn send(
        &self,
        store: &StoreHash,
        token: &SecretString,
        path: &str,
        write: Write<'_>,
    ) -> Result<ApiResponse, TransportError> {
        let http = self.http()?;
        let url = self.url(store, path);
        let request = match write {
            Write::Post(body) => http.post(url).header("content-type", "application/json").body(body.to_vec()),
            Write::Put(body) => http.put(url).header("content-type", "application/json").body(body.to_vec()),
            Write::Delete => http.delete(url),
        };
        receive(request, token).await
    }
}

/// Sends `request` with `token` and reads its answer, within [`MAX_BODY_BYTES`].
async fn receive(request: reqwest::RequestBuilder, token: &SecretString) -> Result<ApiResponse, TransportError> {
    let mut response = request
        .header("x-auth-token", token.expose_secret())
        .header("accept", "application/json")
        .send()
        .await
        .map_err(|e| TransportError::transient(classify(&e)))?;
    let header =
        |name: &str| response.headers().get(name).and_then(|v| v.to_str().ok()).and_then(|v| v.trim().parse().ok());
    let status = response.status().as_u16();
    let reset_ms = header("x-rate-limit-time-reset-ms");
    let requests_left = header("x-rate-limit-requests-left");
    let quota = header("x-rate-limit-requests-quota").and_then(|q| u32::try_from(q).ok());
    let retry_after_secs = header("x-retry-after");
    // Read in chunks (decompressed), refusing at once a body that announces or reaches more
    // than the cap: a decompression bomb costs at most the cap.
    if response.content_length().is_some_and(|n| n > MAX_BODY_BYTES as u64) {
        return Err(TransportError::oversized());
    }
    let mut body = Vec::with_capacity(response.content_length().unwrap_or(0) as usize);
    while let Some(chunk) = response.chunk().await.map_err(|e| TransportError::transient(classify(&e)))? {
        if body.len() + chunk.len() > MAX_BODY_BYTES {
            return Err(TransportError::oversized());
        }
        body.extend_from_slice(&chunk);
    }
    // A body read in chunks has up to twice its length reserved; pages fetched ahead wait
    // as these bytes.
    body.shrink_to_fit();
    Ok(ApiResponse { status, body, reset_ms, requests_left, quota, retry_after_secs })
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
    use std::io::Write;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A one-connection-at-a-time HTTP server answering every request with `head` and `body`.
    async fn serve(head: String, body: Vec<u8>) -> Url {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = Url::parse(&format!("http://{}", listener.local_addr().expect("addr"))).expect("url");
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let mut request = [0u8; 4096];
                let _ = socket.read(&mut request).await;
                let _ = socket.write_all(head.as_bytes()).await;
                let _ = socket.write_all(&body).await;
                let _ = socket.shutdown().await;
            }
        });
        url
    }

    fn gzip(plain: &[u8]) -> Vec<u8> {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        encoder.write_all(plain).expect("gzip");
        encoder.finish().expect("gzip")
    }

    async fn fetch(base: Url) -> Result<ApiResponse, TransportError> {
        let client = BigCommerceClient::new(base, Duration::from_secs(2), Duration::from_secs(20)).expect("client");
        let token = SecretString::from("t".to_string());
        client.get(&StoreHash::parse("abc123").expect("hash"), &token, "v2/orders").await
    }

    #[tokio::test]
    async fn a_decompression_bomb_is_refused_at_the_cap_and_a_large_page_is_read_whole() {
        // 40 MiB of JSON whitespace in about 40 KiB of gzip.
        let mut plain = vec![b' '; 40 * 1024 * 1024];
        plain[0] = b'[';
        *plain.last_mut().expect("byte") = b']';
        let bomb = gzip(&plain);
        assert!(bomb.len() < 200 * 1024, "{} bytes", bomb.len());
        let head = |len: usize| {
            format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-encoding: gzip\r\ncontent-length: {len}\r\nconnection: close\r\n\r\n"
            )
        };
        let refused = fetch(serve(head(bomb.len()), bomb).await).await.expect_err("over the cap");
        assert!(refused.oversized, "{refused}");
        // A 20 MiB body (four large order pages' worth) is read whole.
        let mut plain = vec![b' '; 20 * 1024 * 1024];
        plain[0] = b'[';
        *plain.last_mut().expect("byte") = b']';
        let large = gzip(&plain);
        let read = fetch(serve(head(large.len()), large).await).await.expect("under the cap");
        assert_eq!(read.body.len(), plain.len());
        // An uncompressed body that announces more than the cap is refused before it is read.
        let announced = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
            MAX_BODY_BYTES + 1
        );
        let refused = fetch(serve(announced, b"[]".to_vec()).await).await.expect_err("announced");
        assert!(refused.oversized, "{refused}");
    }

    #[test]
    fn urls_stay_under_the_configured_base() {
        let client = BigCommerceClient::new(
            Url::parse("http://127.0.0.1:4000").expect("url"),
            Duration::from_secs(1),
            Duration::from_secs(1),
        )
        .expect("client");
        let hash = StoreHash::parse("abc123").expect("hash");
        assert_eq!(
            client.url(&hash, "v2/orders?limit=1").as_str(),
            "http://127.0.0.1:4000/stores/abc123/v2/orders?limit=1"
        );
        let prefixed = BigCommerceClient::new(
            Url::parse("https://proxy.test/bc/").expect("url"),
            Duration::from_secs(1),
            Duration::from_secs(1),
        )
        .expect("client");
        assert_eq!(prefixed.url(&hash, "v2/store").as_str(), "https://proxy.test/bc/stores/abc123/v2/store");
    }
}
