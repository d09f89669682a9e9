//! The paced client against the sandbox store: no 429s when we own the quota, 429s waited out
//! politely, transient failures retried, broken bodies never taken as empty pages.

use std::time::Duration;

use futures::StreamExt;

use sandbox::{Faults, Sandbox, SandboxOptions, Sizes, StoreConfig};
use secrecy::SecretString;
use shared::bigcommerce::paced::{FetchError, PacedClient, Page};
use shared::bigcommerce::{BigCommerceClient, StoreHash};
use tokio::time::Instant;

struct Env {
    sandbox: Sandbox,
    hash: String,
    token: String,
    no_customers: String,
}

async fn env(quota: u32, window_ms: u64) -> Env {
    let mut config = StoreConfig::from_seed(5, Sizes { orders: 60, products: 10, customers: 10, categories: 3 });
    config.quota = quota;
    config.window = Duration::from_millis(window_ms);
    let (hash, token, no_customers) =
        (config.hash.clone(), config.accounts[0].access_token.clone(), config.accounts[1].access_token.clone());
    let sandbox = Sandbox::start(SandboxOptions { stores: vec![config], ..Default::default() }).await.expect("sandbox");
    Env { sandbox, hash, token, no_customers }
}

impl Env {
    fn client(&self, token: &str) -> PacedClient {
        let base = url::Url::parse(self.sandbox.base_url()).expect("url");
        let http = BigCommerceClient::new(base, Duration::from_secs(2), Duration::from_secs(2)).expect("client");
        PacedClient::new(
            std::sync::Arc::new(http),
            StoreHash::parse(&self.hash).expect("hash"),
            SecretString::from(token.to_string()),
        )
    }

    fn store(&self) -> std::sync::Arc<sandbox::Store> {
        self.sandbox.store(&self.hash).expect("store")
    }
}

fn later(secs: u64) -> Instant {
    Instant::now() + Duration::from_secs(secs)
}

#[tokio::test]
async fn a_store_whose_quota_we_own_never_answers_429() {
    let e = env(5, 400).await;
    let client = e.client(&e.token);
    let started = Instant::now();
    for _ in 0..12 {
        assert!(matches!(client.get("v2/time", later(30)).await, Ok(Page::Json(_))));
    }
    let concurrent = (0..13).map(|_| client.get("v2/store", later(30)));
    let results = futures::future::join_all(concurrent).await;
    assert!(results.iter().all(|r| matches!(r, Ok(Page::Json(_)))));
    let metrics = e.store().metrics();
    assert_eq!(metrics.rate_limited, 0, "no request beyond the quota");
    assert_eq!(metrics.total_requests, 25);
    assert!(started.elapsed() >= Duration::from_millis(1600), "25 requests at 5 per 400 ms take at least 4 windows");
    assert_eq!(client.quota().await, Some(5));
    assert_eq!(client.stats().rate_limited, 0);
}

#[tokio::test]
async fn many_requests_in_flight_across_window_boundaries_meet_no_429() {
    // As a page of transactions is fetched: up to a whole window's quota in flight at once, each
    // answered 40 ms later, so answers describe a window that may already have moved on.
    let e = env(30, 200).await;
    // Every answer 40 ms late, and some as late as a whole window: an answer can describe a
    // window that has already ended.
    e.store().set_faults(Faults { latency_ms: 40, slow_rate: 0.1, slow_ms: 250, ..Faults::default() }).expect("faults");
    let client = e.client(&e.token);
    let calls = futures::stream::iter(0..300).map(|i| {
        let client = &client;
        async move { client.get(&format!("v3/orders/{}/transactions", 100 + i % 60), later(60)).await }
    });
    let results: Vec<_> = futures::StreamExt::buffer_unordered(calls, 30).collect().await;
    assert!(results.iter().all(|r| r.is_ok()), "every call answered");
    let metrics = e.store().metrics();
    assert_eq!((metrics.rate_limited, metrics.total_requests), (0, 300), "no 429, no retry");
}

#[tokio::test]
async fn a_429_storm_is_waited_out_politely() {
    let e = env(1000, 700).await;
    let client = e.client(&e.token);
    e.store().exhaust();
    let started = Instant::now();
    assert!(matches!(client.get("v2/store", later(30)).await, Ok(Page::Json(_))));
    assert!(started.elapsed() < Duration::from_millis(1500));
    let metrics = e.store().metrics();
    assert_eq!(metrics.rate_limited, 1, "one 429, then a wait for the reset");
    assert_eq!(metrics.requests_before_reset_after_429, 0, "nothing sent before the window reset");
    assert_eq!(client.stats().rate_limited, 1);
}

#[tokio::test]
async fn headerless_429s_back_off_and_still_succeed() {
    let e = env(1000, 300).await;
    e.store().set_faults(Faults { no_headers_429: true, ..Default::default() }).expect("faults");
    e.store().exhaust();
    let client = e.client(&e.token);
    assert!(matches!(client.get("v2/store", later(30)).await, Ok(Page::Json(_))));
    assert_eq!(e.store().metrics().rate_limited, 1);
}

#[tokio::test]
async fn transient_failures_are_retried_and_never_look_empty() {
    let e = env(10_000, 30_000).await;
    let client = e.client(&e.token);
    e.store()
        .set_faults(Faults { error_rate: 0.2, malformed_rate: 0.1, truncate_rate: 0.1, ..Default::default() })
        .expect("faults");
    for page in 1..=8 {
        match client.get(&format!("v2/orders?limit=5&page={page}"), later(60)).await {
            Ok(Page::Json(orders)) => {
                assert_eq!(orders.as_array().map(Vec::len), Some(5), "a full page, never a broken one")
            }
            other => panic!("page {page}: {other:?}"),
        }
    }
    assert!(client.stats().retries > 0, "faults were injected and retried");
    // Every body broken: the client gives up with a retryable error, not an empty page.
    e.store().set_faults(Faults { malformed_rate: 1.0, ..Default::default() }).expect("faults");
    let result = client.get("v2/orders?limit=5", Instant::now() + Duration::from_millis(1500)).await;
    assert!(matches!(&result, Err(e) if e.retryable()), "{result:?}");
}

#[tokio::test]
async fn auth_scope_and_empty_answers() {
    let e = env(10_000, 30_000).await;
    assert_eq!(e.client("nope").get("v2/store", later(5)).await, Err(FetchError::Unauthorized));
    assert_eq!(e.store().metrics().total_requests, 1, "401 is not retried");
    let limited = e.client(&e.no_customers);
    assert!(matches!(limited.get("v3/customers?limit=1", later(5)).await, Err(FetchError::Forbidden(_))));
    let client = e.client(&e.token);
    assert_eq!(client.get("v2/orders?page=999", later(5)).await, Ok(Page::Empty));
    assert!(matches!(client.get("v2/orders/1", later(5)).await, Err(FetchError::NotFound(_))));
}

#[tokio::test]
async fn no_request_is_sent_once_the_deadline_has_passed_even_with_quota_to_spare() {
    let e = env(10_000, 30_000).await;
    let client = e.client(&e.token);
    assert!(matches!(client.get("v2/store", later(5)).await, Ok(Page::Json(_))));
    let sent = e.store().metrics().total_requests;
    let result = client.get("v2/orders?limit=5", Instant::now()).await;
    assert_eq!(result, Err(FetchError::OutOfTime));
    assert_eq!(e.store().metrics().total_requests, sent, "nothing sent past the deadline");
}

#[tokio::test]
async fn a_body_malformed_through_every_attempt_is_broken_not_retried_for_ever() {
    let e = env(10_000, 30_000).await;
    e.store().set_faults(Faults { malformed_rate: 1.0, ..Default::default() }).expect("faults");
    let client = e.client(&e.token);
    // Time enough for every attempt: the bounded retries end it, not the deadline.
    let result = client.get("v2/orders?limit=5", later(60)).await;
    match &result {
        Err(FetchError::Broken(why)) => assert!(why.contains("malformed") && why.contains("6 attempts"), "{why}"),
        other => panic!("expected Broken, got {other:?}"),
    }
    assert!(result.as_ref().is_err_and(|e| !e.retryable()), "a later attempt will not mend it");
    assert_eq!(e.store().metrics().total_requests, u64::from(shared::bigcommerce::paced::MAX_TRANSIENT_ATTEMPTS));
}
