use std::time::{Duration, Instant};

use sandbox::{Faults, Mutations};

use crate::helpers::{Env, ids};

#[tokio::test]
async fn server_errors_and_transaction_503s() {
    let env = Env::small().await;
    env.store
        .set_faults(Faults { error_rate: 1.0, path_contains: Some("catalog".into()), ..Default::default() })
        .expect("faults");
    let r = env.get("v3/catalog/products").await;
    assert!([500, 502, 503].contains(&r.status), "{}", r.status);
    assert_eq!(env.get("v2/orders?limit=1").await.status, 200, "path_contains scopes the fault");
    env.store.set_faults(Faults { transactions_503_rate: 1.0, ..Default::default() }).expect("faults");
    let order = env.store.data().orders[0].id;
    assert_eq!(env.get(&format!("v3/orders/{order}/transactions")).await.status, 503);
    assert_eq!(env.get(&format!("v2/orders/{order}")).await.status, 200, "the order itself is fine");
    env.store.set_faults(Faults { error_rate: 0.3, ..Default::default() }).expect("faults");
    let mut errors = 0;
    for _ in 0..200 {
        if env.get("v2/time").await.status >= 500 {
            errors += 1;
        }
    }
    assert!((30..=90).contains(&errors), "about 30% errors, got {errors}/200");
    assert!(env.store.metrics().faults_injected >= 30);
    assert!(Faults { error_rate: 1.5, ..Default::default() }.validate().is_err());
}

#[tokio::test]
async fn slow_truncated_and_malformed_bodies() {
    let env = Env::small().await;
    env.store.set_faults(Faults { slow_rate: 1.0, slow_ms: 300, ..Default::default() }).expect("faults");
    let started = Instant::now();
    assert_eq!(env.get("v2/time").await.status, 200);
    assert!(started.elapsed() >= Duration::from_millis(300));
    let client = reqwest::Client::builder().timeout(Duration::from_millis(100)).build().expect("client");
    let timed_out = client
        .get(format!("{}/v2/time", env.sandbox.store_url(&env.hash)))
        .header("x-auth-token", &env.token)
        .send()
        .await;
    assert!(timed_out.is_err_and(|e| e.is_timeout()));

    env.store.set_faults(Faults { truncate_rate: 1.0, ..Default::default() }).expect("faults");
    let response = env
        .http
        .get(format!("{}/v2/orders", env.sandbox.store_url(&env.hash)))
        .header("x-auth-token", &env.token)
        .send()
        .await;
    let body = match response {
        Ok(r) => r.bytes().await.map(|b| b.len()),
        Err(e) => Err(e),
    };
    assert!(body.is_err(), "a truncated body must fail to read, got {body:?}");

    env.store.set_faults(Faults { malformed_rate: 1.0, ..Default::default() }).expect("faults");
    let text = env
        .http
        .get(format!("{}/v2/orders", env.sandbox.store_url(&env.hash)))
        .header("x-auth-token", &env.token)
        .send()
        .await
        .expect("response")
        .text()
        .await
        .expect("complete body");
    assert!(serde_json::from_str::<serde_json::Value>(&text).is_err(), "malformed JSON must not parse");
}

#[tokio::test]
async fn data_changes_between_pages_and_repeated_pages() {
    let env = Env::small().await;
    let before = env.items("v2/orders?limit=250").await.len();
    env.store
        .set_faults(Faults {
            mutate_per_page: Mutations { inserts: 2, updates: 1, archives: 1, ..Default::default() },
            ..Default::default()
        })
        .expect("faults");
    let _ = env.items("v2/orders?limit=10&page=1").await;
    let _ = env.items("v2/orders?limit=10&page=2").await;
    env.store.set_faults(Faults::default()).expect("faults");
    let after = env.items("v2/orders?limit=250").await.len();
    assert_eq!(after, before + 4 - 2, "two pages: 4 inserts, 2 archives");

    env.store.set_faults(Faults { repeat_page: true, ..Default::default() }).expect("faults");
    let page1 = ids(&env.items("v2/orders?limit=10&page=1").await, "id");
    let page2 = ids(&env.items("v2/orders?limit=10&page=2").await, "id");
    assert_eq!(page1, page2, "the repeat-page fault serves page 1 again");
}

#[tokio::test]
async fn mutations_over_the_admin_api_bump_date_modified() {
    let env = Env::small().await;
    let admin = format!("{}/admin/stores/{}", env.sandbox.base_url(), env.hash);
    let since = chrono::Utc::now() - chrono::Duration::seconds(1);
    let r = env
        .http
        .post(format!("{admin}/mutate"))
        .json(&serde_json::json!({"inserts": 3, "updates": 5}))
        .send()
        .await
        .expect("admin");
    let touched: serde_json::Value = r.json().await.expect("json");
    assert_eq!(touched["touched"].as_array().map(Vec::len), Some(8));
    let stamp: String = url::form_urlencoded::byte_serialize(since.to_rfc3339().as_bytes()).collect();
    let changed = env.items(&format!("v2/orders?limit=250&min_date_modified={stamp}")).await;
    assert_eq!(changed.len(), 8);
    let faults = env
        .http
        .put(format!("{admin}/faults"))
        .json(&serde_json::json!({"error_rate": 2}))
        .send()
        .await
        .expect("admin");
    assert_eq!(faults.status(), 400);
    let unknown =
        env.http.put(format!("{admin}/faults")).json(&serde_json::json!({"eror_rate": 1})).send().await.expect("admin");
    assert_eq!(unknown.status(), 400, "unknown fault names are refused");
    let metrics: serde_json::Value =
        env.http.get(format!("{admin}/metrics")).send().await.expect("admin").json().await.expect("json");
    assert!(metrics["requests"]["GET v2/orders"].as_u64().is_some_and(|n| n >= 1));
}

#[tokio::test]
async fn latency_and_peak_concurrency_are_observable() {
    let env = Env::small().await;
    env.store.set_faults(Faults { latency_ms: 150, jitter_ms: 50, ..Default::default() }).expect("faults");
    env.store.reset_metrics();
    let started = Instant::now();
    let calls = (0..8).map(|_| env.get("v2/time"));
    let replies = futures::future::join_all(calls).await;
    assert!(replies.iter().all(|r| r.status == 200));
    let elapsed = started.elapsed();
    assert!(elapsed >= Duration::from_millis(150), "latency applied: {elapsed:?}");
    let metrics = env.store.metrics();
    assert!(metrics.peak_concurrency >= 4, "concurrent requests overlap: peak {}", metrics.peak_concurrency);
    assert_eq!(metrics.requests.get("GET v2/time"), Some(&8));
    assert!(metrics.processing_micros < 150_000 * 8, "injected latency is not counted as processing time");
}
