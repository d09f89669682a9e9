//! A paced BigCommerce client for syncs: it spends a store's rate-limit budget without ever
//! exceeding it (so a store whose quota we alone use sees no 429), waits out 429s instead of
//! failing, retries transient failures with bounded backoff, and never mistakes a broken body
//! for an empty page.

use std::sync::Arc;
use std::time::Duration;

use secrecy::SecretString;
use serde_json::Value;
use tokio::sync::Mutex;
use tokio::time::Instant;

use super::client::{ApiResponse, Transport, Write};
use super::credentials::StoreHash;

/// Attempts for a transient failure (5xx, timeout, truncated or malformed body).
pub const MAX_TRANSIENT_ATTEMPTS: u32 = 6;
const BASE_BACKOFF: Duration = Duration::from_millis(200);
/// Growing waits for 429s without rate-limit headers (the platform is overloaded).
const OVERLOAD_BACKOFF: Duration = Duration::from_secs(2);
/// Added to the store's reset time: the header is whole milliseconds and the store's clock
/// starts the next window when a request arrives, so a request sent on the dot can still land
/// in the exhausted window.
const RESET_MARGIN: Duration = Duration::from_millis(15);
/// The least wait after the second 429 in a row (doubling with each further one).
const LIMITED_FLOOR: Duration = Duration::from_millis(250);
/// The longest wait a store's rate-limit headers can ask for (`X-Rate-Limit-Time-Reset-Ms`,
/// `X-Retry-After`): the headers are the store's to send, and a value near `u64::MAX` must
/// neither overflow a clock nor park a sync for ever. A real window is 30 s or less.
pub const MAX_RATE_LIMIT_WAIT: Duration = Duration::from_secs(3600);

/// `now + wait`, with `wait` clamped to [`MAX_RATE_LIMIT_WAIT`] (never overflows).
fn after(now: Instant, wait: Duration) -> Instant {
    let wait = wait.min(MAX_RATE_LIMIT_WAIT);
    now.checked_add(wait).unwrap_or(now)
}

/// A header's milliseconds as a duration, clamped.
fn millis(ms: u64) -> Duration {
    Duration::from_millis(ms).min(MAX_RATE_LIMIT_WAIT)
}

/// What a sync can do about a failed request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    /// 401: the token no longer works. Do not retry.
    #[error("the store rejected the access token")]
    Unauthorized,
    /// 403: the scope for this data is missing.
    #[error("a scope is missing for {0}")]
    Forbidden(String),
    /// 404 on the resource.
    #[error("not found: {0}")]
    NotFound(String),
    /// Transient failures outlasted the retries (or the deadline came first).
    #[error("the store failed repeatedly: {0}")]
    Unavailable(String),
    /// The deadline passed while waiting for the rate-limit window.
    #[error("out of time waiting for the rate limit")]
    OutOfTime,
    /// Another status the sync cannot handle.
    #[error("unexpected status {0} for {1}")]
    Unexpected(u16, String),
    /// The store answered, but what it answered cannot be right (a page repeating the previous
    /// one, a cursor that does not advance, a record without its id). Not retried.
    #[error("the store's answer cannot be used: {0}")]
    Broken(String),
}

impl FetchError {
    /// Whether a later attempt (a continuation, a redelivery) may succeed.
    pub fn retryable(&self) -> bool {
        matches!(self, Self::Unavailable(_) | Self::OutOfTime)
    }
}

/// A successful answer.
#[derive(Debug, Clone, PartialEq)]
pub enum Page {
    /// 200 with a JSON body.
    Json(Value),
    /// 204: nothing (past the last v2 page, or no transactions).
    Empty,
}

#[derive(Debug)]
struct Budget {
    /// Requests we may still send in the current window.
    left: u32,
    /// When the window resets (a fresh quota).
    reset_at: Instant,
    /// The quota per window, once known.
    quota: Option<u32>,
    /// Consecutive 429s without headers.
    overloads: u32,
    /// Consecutive 429s, headers or not (a burst of requests refused together counts once).
    limited_in_row: u32,
    /// When the last 429 was handled: a 429 to a request sent before then is of the same burst.
    last_limited: Option<Instant>,
    /// After a reset, one request probes the new window; the others wait for its answer.
    probing: bool,
}

/// Counts of what the client did, for progress and benchmarks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    /// Requests sent.
    pub requests: u64,
    /// 429s received.
    pub rate_limited: u64,
    /// Transient failures retried.
    pub retries: u64,
}

/// Paces requests to one store.
pub struct PacedClient {
    client: Arc<dyn Transport>,
    store: StoreHash,
    token: SecretString,
    budget: Mutex<Budget>,
    stats: std::sync::Mutex<Stats>,
    /// Set by the first 401: the token is dead, so no further request is sent with it.
    unauthorized: std::sync::atomic::AtomicBool,
    /// Requests sent whose answers have not been handled yet.
    in_flight: std::sync::atomic::AtomicU32,
}

/// Counts a request out of flight when its answer has been handled (or its future dropped).
struct InFlight<'a>(&'a std::sync::atomic::AtomicU32);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }
}

impl PacedClient {
    /// A client for `store` with `token`. Until the first response tells the quota, one request
    /// is sent at a time.
    pub fn new(client: Arc<dyn Transport>, store: StoreHash, token: SecretString) -> Self {
        Self {
            client,
            store,
            token,
            budget: Mutex::new(Budget {
                left: 1,
                reset_at: Instant::now(),
                quota: None,
                overloads: 0,
                limited_in_row: 0,
                last_limited: None,
                probing: false,
            }),
            stats: std::sync::Mutex::new(Stats::default()),
            unauthorized: Default::default(),
            in_flight: Default::default(),
        }
    }

    /// What was done so far.
    pub fn stats(&self) -> Stats {
        self.stats.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn count(&self, f: impl FnOnce(&mut Stats)) {
        f(&mut self.stats.lock().unwrap_or_else(|e| e.into_inner()));
    }

    /// The quota per window, once a response has told it (bounds concurrency in a job).
    pub async fn quota(&self) -> Option<u32> {
        self.budget.lock().await.quota
    }

    /// Waits for a slot in the store's budget, or fails once `deadline` would pass.
    async fn acquire(&self, deadline: Instant) -> Result<(), FetchError> {
        loop {
            let wait_until = {
                let mut budget = self.budget.lock().await;
                let now = Instant::now();
                if budget.left > 0 {
                    budget.left -= 1;
                    return Ok(());
                }
                if now >= budget.reset_at && !budget.probing {
                    // The window has reset: one request learns the new budget; the rest wait
                    // for its answer.
                    budget.probing = true;
                    return Ok(());
                }
                if budget.probing { after(now, Duration::from_millis(10)) } else { budget.reset_at }
            };
            if wait_until > deadline {
                return Err(FetchError::OutOfTime);
            }
            tokio::time::sleep_until(wait_until).await;
        }
    }

    /// Learns the budget from a response's rate-limit headers.
    async fn observe(&self, response: &ApiResponse, sent_at: Instant) {
        let mut budget = self.budget.lock().await;
        budget.probing = false;
        if let (Some(left), Some(reset)) = (response.requests_left, response.reset_ms) {
            let reset_at = after(Instant::now(), millis(reset) + RESET_MARGIN);
            // Responses arrive out of order and late under concurrency: trust the lowest count
            // seen for a window, and take a response for a new window only when even the earliest
            // end it can mean (counted as the request left) is past the window we know. A slow
            // answer from the previous window must not look like a fresh budget.
            let earliest_end = after(sent_at, millis(reset));
            if earliest_end > after(budget.reset_at, Duration::from_millis(50)) {
                // A new window. Requests still in flight (other than this one) may land in it
                // too, uncounted by this answer: keep room for them.
                let others = self.in_flight.load(std::sync::atomic::Ordering::SeqCst).saturating_sub(1);
                budget.reset_at = reset_at;
                budget.left = u32::try_from(left).unwrap_or(u32::MAX).saturating_sub(others);
            } else {
                budget.left = budget.left.min(u32::try_from(left).unwrap_or(u32::MAX));
            }
            budget.overloads = 0;
        }
        if let Some(quota) = response.quota {
            budget.quota = Some(quota);
        }
    }

    /// After a 429: nothing more until the window resets (or growing waits without headers).
    /// From the second 429 in a row the wait is at least [`LIMITED_FLOOR`], doubling each time
    /// (up to 30 s): a store that keeps answering 429 with a reset of 0 gets a few requests,
    /// not thousands.
    async fn limited(&self, response: &ApiResponse, sent_at: Instant) {
        let mut budget = self.budget.lock().await;
        budget.probing = false;
        budget.left = 0;
        // Requests in flight together that come back 429 together are one refusal, not many.
        if budget.last_limited.is_none_or(|last| sent_at >= last) {
            budget.limited_in_row = budget.limited_in_row.saturating_add(1);
        }
        budget.last_limited = Some(Instant::now());
        let floor = match budget.limited_in_row {
            0 | 1 => Duration::ZERO,
            n => LIMITED_FLOOR.saturating_mul(1 << (n - 2).min(7)).min(Duration::from_secs(30)),
        };
        let wait = match (response.reset_ms, response.retry_after_secs) {
            (None, None) => {
                budget.overloads += 1;
                OVERLOAD_BACKOFF * budget.overloads.min(8)
            }
            (reset, retry) => (millis(reset.unwrap_or(0)) + RESET_MARGIN)
                .max(Duration::from_secs(retry.unwrap_or(0).min(MAX_RATE_LIMIT_WAIT.as_secs()))),
        };
        budget.reset_at = budget.reset_at.max(after(Instant::now(), wait.max(floor)));
    }

    /// GETs `path` (e.g. `v2/orders?limit=250&page=3`), pacing, waiting out 429s and retrying
    /// transient failures until `deadline`: no request is sent once it has passed. A body that
    /// stays malformed through every attempt is [`FetchError::Broken`] (retrying later will not
    /// mend it); other transient failures are [`FetchError::Unavailable`].
    pub async fn get(&self, path: &str, deadline: Instant) -> Result<Page, FetchError> {
        let body = self.fetch(path, None, deadline, |body| serde_json::from_slice::<Value>(&body).ok()).await?;
        Ok(body.map_or(Page::Empty, Page::Json))
    }

    /// Sends `write` to `path` as [`get`](Self::get) sends a GET: paced, 429s waited out,
    /// transient failures retried (so a write may land twice; the hooks API refuses a second
    /// identical hook, which callers treat as there).
    pub async fn send(&self, path: &str, write: Write<'_>, deadline: Instant) -> Result<Page, FetchError> {
        let body = self.fetch(path, Some(write), deadline, |body| serde_json::from_slice::<Value>(&body).ok()).await?;
        Ok(body.map_or(Page::Empty, Page::Json))
    }

    /// As [`get`](Self::get), but a 200's body is only checked to be JSON, not parsed: `None`
    /// on 204. Pages fetched ahead wait as these bytes, a small part of their parsed size
    /// (a page of 250 orders with their line items parses into five to seven times its body).
    pub async fn get_body(&self, path: &str, deadline: Instant) -> Result<Option<Vec<u8>>, FetchError> {
        self.fetch(path, None, deadline, |body| {
            serde_json::from_slice::<serde::de::IgnoredAny>(&body).is_ok().then_some(body)
        })
        .await
    }

    /// The request loop of [`get`](Self::get): `decode` turns a 200's body into the answer, or
    /// `None` when it is malformed (retried as a transient failure). `Ok(None)` is a 204.
    async fn fetch<T>(
        &self,
        path: &str,
        write: Option<Write<'_>>,
        deadline: Instant,
        decode: impl Fn(Vec<u8>) -> Option<T>,
    ) -> Result<Option<T>, FetchError> {
        let mut transient = 0u32;
        let mut malformed = 0u32;
        loop {
            if self.unauthorized.load(std::sync::atomic::Ordering::Relaxed) {
                return Err(FetchError::Unauthorized);
            }
            if Instant::now() >= deadline {
                return Err(FetchError::OutOfTime);
            }
            self.acquire(deadline).await?;
            self.count(|s| s.requests += 1);
            self.in_flight.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let _landed = InFlight(&self.in_flight);
            let sent_at = Instant::now();
            let outcome = match write {
                None => self.client.get(&self.store, &self.token, path).await,
                Some(write) => self.client.send(&self.store, &self.token, path, write).await,
            };
            let failure = match outcome {
                Ok(response) => {
                    self.observe(&response, sent_at).await;
                    if response.status != 429 {
                        self.budget.lock().await.limited_in_row = 0;
                    }
                    match response.status {
                        200 => match decode(response.body) {
                            Some(value) => return Ok(Some(value)),
                            None => {
                                malformed += 1;
                                "a malformed JSON body".to_string()
                            }
                        },
                        204 => return Ok(None),
                        401 => {
                            self.unauthorized.store(true, std::sync::atomic::Ordering::Relaxed);
                            return Err(FetchError::Unauthorized);
                        }
                        403 => return Err(FetchError::Forbidden(endpoint(path))),
                        404 => return Err(FetchError::NotFound(endpoint(path))),
                        429 => {
                            self.count(|s| s.rate_limited += 1);
                            self.limited(&response, sent_at).await;
                            continue;
                        }
                        500..=599 => format!("status {}", response.status),
                        other => return Err(FetchError::Unexpected(other, endpoint(path))),
                    }
                }
                Err(e) if e.oversized => {
                    self.budget.lock().await.probing = false;
                    // Asking again reads the same body again: the page fails now.
                    return Err(FetchError::Broken(format!("{}: {}", endpoint(path), e.kind)));
                }
                Err(e) => {
                    self.budget.lock().await.probing = false;
                    e.kind.to_string()
                }
            };
            transient += 1;
            self.count(|s| s.retries += 1);
            if transient >= MAX_TRANSIENT_ATTEMPTS {
                let failed = format!("{} after {transient} attempts: {failure}", endpoint(path));
                return Err(if malformed == transient {
                    FetchError::Broken(failed)
                } else {
                    FetchError::Unavailable(failed)
                });
            }
            let backoff = BASE_BACKOFF * 2u32.pow(transient - 1);
            if after(Instant::now(), backoff) > deadline {
                return Err(FetchError::OutOfTime);
            }
            tracing::warn!(endpoint = %endpoint(path), attempt = transient, %failure, "retrying");
            tokio::time::sleep(backoff).await;
        }
    }
}

/// The path without its query (for messages and logs).
fn endpoint(path: &str) -> String {
    path.split('?').next().unwrap_or(path).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bigcommerce::client::TransportError;
    use async_trait::async_trait;
    use std::sync::atomic::{AtomicU32, Ordering};

    /// Answers every request with `answer`, counting them.
    struct Always {
        answer: Result<ApiResponse, TransportError>,
        sent: AtomicU32,
    }

    #[async_trait]
    impl Transport for Always {
        async fn get(&self, _: &StoreHash, _: &SecretString, _: &str) -> Result<ApiResponse, TransportError> {
            self.sent.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(20)).await;
            self.answer.clone()
        }
    }

    fn answer(status: u16, reset_ms: Option<u64>, left: Option<u64>, retry: Option<u64>) -> ApiResponse {
        ApiResponse {
            status,
            body: b"{}".to_vec(),
            reset_ms,
            requests_left: left,
            quota: Some(150),
            retry_after_secs: retry,
        }
    }

    fn paced(answer: Result<ApiResponse, TransportError>) -> (PacedClient, Arc<Always>) {
        let transport = Arc::new(Always { answer, sent: AtomicU32::new(0) });
        let hash = StoreHash::parse("abc123").expect("hash");
        (PacedClient::new(transport.clone(), hash, SecretString::from("t".to_string())), transport)
    }

    #[tokio::test(start_paused = true)]
    async fn absurd_rate_limit_headers_neither_panic_nor_park_the_sync() {
        for (reset, retry) in [(Some(u64::MAX), None), (None, Some(u64::MAX)), (Some(u64::MAX), Some(u64::MAX))] {
            let (client, transport) = paced(Ok(answer(429, reset, Some(0), retry)));
            let started = Instant::now();
            let deadline = started + Duration::from_secs(30);
            assert_eq!(client.get("v2/orders", deadline).await, Err(FetchError::OutOfTime));
            assert_eq!(transport.sent.load(Ordering::SeqCst), 1, "no request after a 429 until the window");
            assert!(Instant::now() <= deadline, "answered by the deadline");
        }
        // A 200 that says the window resets in u64::MAX ms: the next request waits at most the
        // clamp, and here the deadline comes first.
        let (client, _) = paced(Ok(answer(200, Some(u64::MAX), Some(0), None)));
        let deadline = Instant::now() + Duration::from_secs(30);
        assert!(matches!(client.get("v2/store", deadline).await, Ok(Page::Json(_))));
        assert_eq!(client.get("v2/store", deadline).await, Err(FetchError::OutOfTime));
        // With a deadline past the clamp, it is the clamp (an hour) that ends the wait.
        let (client, transport) = paced(Ok(answer(200, Some(u64::MAX), Some(0), None)));
        let started = Instant::now();
        let deadline = started + MAX_RATE_LIMIT_WAIT * 3;
        assert!(client.get("v2/store", deadline).await.is_ok());
        assert!(client.get("v2/store", deadline).await.is_ok());
        assert_eq!(transport.sent.load(Ordering::SeqCst), 2);
        let waited = Instant::now() - started;
        assert!(waited >= MAX_RATE_LIMIT_WAIT && waited < MAX_RATE_LIMIT_WAIT + Duration::from_secs(5), "{waited:?}");
    }

    /// Answers from a script, then 200s.
    struct Scripted(std::sync::Mutex<std::collections::VecDeque<ApiResponse>>);

    #[async_trait]
    impl Transport for Scripted {
        async fn get(&self, _: &StoreHash, _: &SecretString, _: &str) -> Result<ApiResponse, TransportError> {
            tokio::time::sleep(Duration::from_millis(20)).await;
            let next = self.0.lock().unwrap_or_else(|e| e.into_inner()).pop_front();
            Ok(next.unwrap_or_else(|| answer(200, Some(1_000), Some(100), None)))
        }
    }

    #[tokio::test(start_paused = true)]
    async fn requests_refused_together_are_one_429_not_a_growing_wait() {
        // The first answer opens a window of 10; the 8 requests sent into it all come back 429
        // (another app spent the quota) with a reset of 1 s; then the store answers again.
        let mut script = std::collections::VecDeque::from([answer(200, Some(1_000), Some(10), None)]);
        script.extend((0..8).map(|_| answer(429, Some(1_000), Some(0), None)));
        let transport = Arc::new(Scripted(std::sync::Mutex::new(script)));
        let hash = StoreHash::parse("abc123").expect("hash");
        let client = PacedClient::new(transport, hash, SecretString::from("t".to_string()));
        let deadline = Instant::now() + Duration::from_secs(120);
        assert!(client.get("v2/store", deadline).await.is_ok());
        let started = Instant::now();
        let all = futures::future::join_all((0..8).map(|_| client.get("v2/orders", deadline))).await;
        assert!(all.iter().all(Result::is_ok), "{all:?}");
        let waited = Instant::now() - started;
        // One refusal: about the 1 s reset (+ the 250 ms floor at most), not the 16 s an eighth
        // 429 "in a row" would wait.
        assert!(waited < Duration::from_secs(3), "{waited:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn an_oversized_body_fails_the_page_at_once() {
        let (client, transport) = paced(Err(TransportError::oversized()));
        let error = client.get("v2/orders?page=2", Instant::now() + Duration::from_secs(60)).await.expect_err("big");
        assert!(matches!(&error, FetchError::Broken(m) if m.contains("v2/orders") && m.contains("32 MiB")), "{error}");
        assert_eq!(transport.sent.load(Ordering::SeqCst), 1, "not read again");
        // An ordinary transport failure is retried.
        let (client, transport) = paced(Err(TransportError::transient("timed out")));
        let error = client.get("v2/orders", Instant::now() + Duration::from_secs(60)).await.expect_err("down");
        assert!(matches!(error, FetchError::Unavailable(_)), "{error}");
        assert_eq!(transport.sent.load(Ordering::SeqCst), MAX_TRANSIENT_ATTEMPTS);
    }

    #[tokio::test(start_paused = true)]
    async fn a_body_kept_unparsed_is_still_checked_to_be_json() {
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut ok = answer(200, None, Some(100), None);
        ok.body = br#"[{"id": 1}, {"id": 2}]"#.to_vec();
        let (client, _) = paced(Ok(ok.clone()));
        assert_eq!(client.get_body("v2/orders", deadline).await.expect("a page"), Some(ok.body));
        let (client, _) = paced(Ok(answer(204, None, Some(100), None)));
        assert_eq!(client.get_body("v2/orders", deadline).await.expect("no page"), None);
        // A truncated body is retried, as `get` retries it, and then fails as broken.
        let mut truncated = answer(200, None, Some(100), None);
        truncated.body = br#"[{"id": 1}, {"id""#.to_vec();
        let (client, transport) = paced(Ok(truncated));
        let error = client.get_body("v2/orders", deadline).await.expect_err("malformed");
        assert!(matches!(&error, FetchError::Broken(m) if m.contains("malformed")), "{error}");
        assert_eq!(transport.sent.load(Ordering::SeqCst), MAX_TRANSIENT_ATTEMPTS);
    }
}
