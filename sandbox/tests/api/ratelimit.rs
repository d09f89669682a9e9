use std::time::{Duration, Instant};

use reqwest::header::HeaderMap;

use crate::helpers::Env;

fn header(h: &HeaderMap, name: &str) -> Option<u64> {
    h.get(name).and_then(|v| v.to_str().ok()).and_then(|v| v.parse().ok())
}

#[tokio::test]
async fn quota_headers_429_and_reset() {
    let env = Env::small().await;
    env.store.set_rate_limit(5, Duration::from_millis(1500));
    let started = Instant::now();
    for expected_left in (0..5).rev() {
        let r = env.get("v2/time").await;
        assert_eq!(r.status, 200);
        assert_eq!(header(&r.headers, "x-rate-limit-requests-left"), Some(expected_left));
        assert_eq!(header(&r.headers, "x-rate-limit-requests-quota"), Some(5));
        assert_eq!(header(&r.headers, "x-rate-limit-time-window-ms"), Some(1500));
        assert!(header(&r.headers, "x-rate-limit-time-reset-ms").is_some_and(|ms| ms <= 1500));
    }
    let limited = env.get("v2/time").await;
    assert_eq!(limited.status, 429);
    assert_eq!(header(&limited.headers, "x-rate-limit-requests-left"), Some(0));
    let reset = header(&limited.headers, "x-rate-limit-time-reset-ms").expect("reset");
    assert!(reset <= 1500);
    assert!(limited.headers.get("x-retry-after").is_none());
    let impolite = env.get("v2/time").await;
    assert_eq!(impolite.status, 429);
    let metrics = env.store.metrics();
    assert_eq!((metrics.rate_limited, metrics.requests_before_reset_after_429), (2, 1));

    let waited = started.elapsed();
    tokio::time::sleep(Duration::from_millis(1550).saturating_sub(waited)).await;
    let after = env.get("v2/time").await;
    assert_eq!(after.status, 200, "the window reset");
    assert_eq!(header(&after.headers, "x-rate-limit-requests-left"), Some(4));
}

#[tokio::test]
async fn storms_retry_after_and_headerless_429s() {
    let env = Env::small().await;
    env.store.set_rate_limit(1000, Duration::from_secs(30));
    env.store.exhaust();
    let storm = env.get("v2/store").await;
    assert_eq!(storm.status, 429);
    let mut faults = sandbox::Faults { retry_after_secs: Some(7), ..Default::default() };
    env.store.set_faults(faults.clone()).expect("faults");
    assert_eq!(header(&env.get("v2/store").await.headers, "x-retry-after"), Some(7));
    faults.no_headers_429 = true;
    env.store.set_faults(faults).expect("faults");
    let bare = env.get("v2/store").await;
    assert_eq!(bare.status, 429);
    assert!(bare.headers.get("x-rate-limit-requests-left").is_none() && bare.headers.get("x-retry-after").is_none());
    // Over the admin API: a new limit opens a fresh window.
    let admin = format!("{}/admin/stores/{}/rate-limit", env.sandbox.base_url(), env.hash);
    let r =
        env.http.put(admin).json(&serde_json::json!({"quota": 450, "window_ms": 30000})).send().await.expect("admin");
    assert_eq!(r.status(), 200);
    let ok = env.get("v2/store").await;
    assert_eq!((ok.status, header(&ok.headers, "x-rate-limit-requests-quota")), (200, Some(450)));
}
