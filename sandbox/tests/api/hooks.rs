//! Webhooks: the `/v3/hooks` API, destination rules, and deliveries to a local receiver.

use std::convert::Infallible;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use reqwest::Method;
use sandbox::{HookSettings, Mutations};
use serde_json::{Value, json};
use sha1::{Digest, Sha1};
use tokio::net::TcpListener;

use crate::helpers::Env;

/// One request the receiver got.
#[derive(Debug, Clone)]
struct Hit {
    path: String,
    headers: http::HeaderMap,
    bytes: Vec<u8>,
    body: Value,
}

/// A local webhook receiver answering every POST with a settable status.
struct Receiver {
    base: String,
    hits: Arc<Mutex<Vec<Hit>>>,
    status: Arc<AtomicU16>,
    task: tokio::task::JoinHandle<()>,
}

impl Receiver {
    async fn start(status: u16) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let hits = Arc::new(Mutex::new(Vec::new()));
        let status = Arc::new(AtomicU16::new(status));
        let (h, s) = (hits.clone(), status.clone());
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (hits, status) = (h.clone(), s.clone());
                tokio::spawn(async move {
                    let service = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                        let (hits, status) = (hits.clone(), status.clone());
                        async move {
                            let (parts, body) = req.into_parts();
                            let bytes = body.collect().await.map(|b| b.to_bytes().to_vec()).unwrap_or_default();
                            let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
                            let hit = Hit { path: parts.uri.path().to_string(), headers: parts.headers, bytes, body };
                            hits.lock().expect("hits").push(hit);
                            let mut response = hyper::Response::new(Full::new(Bytes::new()));
                            *response.status_mut() =
                                hyper::StatusCode::from_u16(status.load(Ordering::SeqCst)).expect("status");
                            Ok::<_, Infallible>(response)
                        }
                    });
                    let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
                });
            }
        });
        Self { base, hits, status, task }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn set_status(&self, status: u16) {
        self.status.store(status, Ordering::SeqCst);
    }

    fn hits(&self) -> Vec<Hit> {
        self.hits.lock().expect("hits").clone()
    }

    /// Waits until at least `n` requests arrived.
    async fn wait_for(&self, n: usize) -> Vec<Hit> {
        until(&format!("{n} deliveries"), || Some(self.hits()).filter(|h| h.len() >= n)).await
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Polls `check` until it answers, for up to 10 seconds.
async fn until<T>(what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn create(env: &Env, token: &str, body: Value) -> crate::helpers::Resp {
    env.send(Method::POST, "v3/hooks", token, Some(&body)).await
}

fn hook_id(r: &crate::helpers::Resp) -> u64 {
    assert_eq!(r.status, 200, "{}", r.body);
    r.body["data"]["id"].as_u64().expect("hook id")
}

/// SHA-1 (hex) of an envelope without its `hash`, and that hash.
fn hashes(envelope: &Value) -> (String, String) {
    let mut rest = envelope.clone();
    let claimed = rest.as_object_mut().and_then(|o| o.remove("hash")).expect("hash");
    let computed = hex::encode(Sha1::digest(serde_json::to_vec(&rest).expect("json")));
    (computed, claimed.as_str().expect("hash string").to_string())
}

#[tokio::test]
async fn hooks_crud_round_trip_and_per_account_visibility() {
    let env = Env::small().await;
    let (a, b) = (env.token.clone(), env.no_customers.clone());
    let accounts = env.store.accounts();
    let body = json!({"scope": "store/order/*", "destination": "https://example.com/hooks/a",
                      "headers": {"X-Secret": "s3cret"}});
    let created = create(&env, &a, body).await;
    assert_eq!(hook_id(&created), 1, "ids start at 1");
    let hook = &created.body["data"];
    assert_eq!(hook["client_id"], accounts[0].client_id.as_str());
    assert_eq!(hook["store_hash"], env.hash.as_str());
    assert_eq!(hook["scope"], "store/order/*");
    assert_eq!(hook["destination"], "https://example.com/hooks/a");
    assert_eq!(hook["is_active"], true, "active by default");
    assert_eq!(hook["headers"], json!({"X-Secret": "s3cret"}));
    let created_at = hook["created_at"].as_i64().expect("created_at");
    assert!((created_at - chrono::Utc::now().timestamp()).abs() < 5);
    assert_eq!(hook["updated_at"], hook["created_at"]);
    assert_eq!(created.body["meta"], json!({}));

    let listed = env.send(Method::GET, "v3/hooks", &a, None).await;
    assert_eq!(listed.body["data"], json!([hook]));
    assert_eq!(listed.body["meta"]["pagination"]["total"], 1);
    assert_eq!(env.send(Method::GET, "v3/hooks/1", &a, None).await.body["data"], *hook);

    // Another account of the same store sees none of it.
    let other = env.send(Method::GET, "v3/hooks", &b, None).await;
    assert_eq!((other.status, other.body["data"].clone()), (200, json!([])), "no scope needed, nothing visible");
    assert_eq!(env.send(Method::GET, "v3/hooks/1", &b, None).await.status, 404);
    let stolen = json!({"is_active": false});
    assert_eq!(env.send(Method::PUT, "v3/hooks/1", &b, Some(&stolen)).await.status, 404);
    assert_eq!(env.send(Method::DELETE, "v3/hooks/1", &b, None).await.status, 404);
    // It may register the same scope and destination for itself.
    assert_eq!(
        hook_id(
            &create(&env, &b, json!({"scope": "store/order/*", "destination": "https://example.com/hooks/a"})).await
        ),
        2
    );

    let changed = env
        .send(
            Method::PUT,
            "v3/hooks/1",
            &a,
            Some(&json!({"is_active": false, "destination": "https://example.com/hooks/b", "headers": {}})),
        )
        .await;
    assert_eq!(changed.status, 200, "{}", changed.body);
    assert_eq!(changed.body["data"]["is_active"], false);
    assert_eq!(changed.body["data"]["destination"], "https://example.com/hooks/b");
    assert_eq!(changed.body["data"]["headers"], json!({}));
    assert_eq!(changed.body["data"]["scope"], "store/order/*", "unchanged fields stay");
    assert_eq!(env.send(Method::GET, "v3/hooks/1", &a, None).await.body["data"], changed.body["data"]);
    let bad_put = json!({"scope": "store/cart/created"});
    assert_eq!(env.send(Method::PUT, "v3/hooks/1", &a, Some(&bad_put)).await.status, 422);

    // One per scope + destination, ten per scope.
    let again = create(&env, &a, json!({"scope": "store/order/*", "destination": "https://example.com/hooks/b"})).await;
    assert_eq!(again.status, 422, "{}", again.body);
    assert!(again.body["title"].as_str().is_some_and(|t| t.contains("already exists")), "{}", again.body);
    for n in 0..9 {
        let dest = format!("https://example.com/hooks/{n}");
        hook_id(&create(&env, &a, json!({"scope": "store/order/*", "destination": dest})).await);
    }
    let eleventh = create(&env, &a, json!({"scope": "store/order/*", "destination": "https://example.com/x"})).await;
    assert_eq!(eleventh.status, 422, "{}", eleventh.body);
    let moved = json!({"scope": "store/order/*"});
    let other_scope =
        hook_id(&create(&env, &a, json!({"scope": "store/product/*", "destination": "https://example.com/x"})).await);
    let full = env.send(Method::PUT, &format!("v3/hooks/{other_scope}"), &a, Some(&moved)).await;
    assert_eq!(full.status, 422, "moving into a full scope is refused too");

    let page = env.send(Method::GET, "v3/hooks?limit=4&page=3", &a, None).await;
    let pagination = &page.body["meta"]["pagination"];
    assert_eq!(
        (&pagination["total"], &pagination["count"], &pagination["per_page"], &pagination["current_page"]),
        (&json!(11), &json!(3), &json!(4), &json!(3))
    );
    assert_eq!(pagination["total_pages"], 3);
    let inactive = env.send(Method::GET, "v3/hooks?is_active=false", &a, None).await;
    assert_eq!(inactive.body["data"].as_array().map(Vec::len), Some(1));

    for (body, status) in [
        (json!({"scope": "store/cart/created", "destination": "https://example.com/c"}), 422),
        (json!({"destination": "https://example.com/c"}), 422),
        (json!({"scope": "store/order/created"}), 422),
        (json!({"scope": "store/order/created", "destination": "https://example.com/c", "is_active": "yes"}), 422),
        (json!({"scope": "store/order/created", "destination": "https://example.com/c", "headers": {"X": 1}}), 422),
        (json!(["not", "an", "object"]), 422),
    ] {
        let r = create(&env, &a, body.clone()).await;
        assert_eq!(r.status, status, "{body}: {}", r.body);
        assert_eq!(r.body["status"], status, "v3 error shape: {}", r.body);
    }
    let url = format!("{}/v3/hooks", env.sandbox.store_url(&env.hash));
    let broken = env.http.post(&url).header("x-auth-token", &a).body("{not json").send().await.expect("post");
    assert_eq!(broken.status(), 400);
    let huge = env.http.post(&url).header("x-auth-token", &a).body(vec![b' '; 2 * 1024 * 1024]).send().await;
    if let Ok(huge) = huge {
        assert_eq!(huge.status(), 413);
    }
    assert!(env.store.metrics().statuses.contains_key(&413), "bodies over 1 MiB are refused");
    assert_eq!(env.http.post(&url).body("{}").send().await.expect("post").status(), 401, "a token is required");
    assert_eq!(env.send(Method::PATCH, "v3/hooks", &a, None).await.status, 405);
    assert_eq!(env.send(Method::POST, "v2/orders", &a, Some(&json!({}))).await.status, 405, "data stays read-only");
    assert_eq!(env.send(Method::GET, "v3/hooks/abc", &a, None).await.status, 404);

    let deleted = env.send(Method::DELETE, "v3/hooks/1", &a, None).await;
    assert_eq!((deleted.status, &deleted.body["data"]["id"]), (200, &json!(1)));
    assert_eq!(env.send(Method::GET, "v3/hooks/1", &a, None).await.status, 404);
    assert_eq!(env.send(Method::DELETE, "v3/hooks/1", &a, None).await.status, 404);
    assert_eq!(env.store.hooks().len(), 11, "every account's hooks, from Rust");
}

#[tokio::test]
async fn destinations_must_be_https_on_443_unless_loopback_hooks_are_on() {
    let strict = Env::small().await;
    let relaxed = Env::loopback_hooks().await;
    let refused_everywhere = ["http://example.com/h", "https://example.com:8443/h", "ftp://example.com/h", "nope"];
    let loopback = ["http://127.0.0.1:9000/h", "https://localhost:8443/h", "http://[::1]:80/h", "https://127.0.0.1/h"];
    for (n, destination) in refused_everywhere.iter().chain(&loopback).enumerate() {
        let r =
            create(&strict, &strict.token, json!({"scope": "store/order/created", "destination": destination})).await;
        assert_eq!(r.status, 422, "{destination} refused: {}", r.body);
        if n < refused_everywhere.len() {
            let r =
                create(&relaxed, &relaxed.token, json!({"scope": "store/order/created", "destination": destination}))
                    .await;
            assert_eq!(r.status, 422, "{destination} refused even with loopback hooks: {}", r.body);
        }
    }
    for destination in loopback {
        let r =
            create(&relaxed, &relaxed.token, json!({"scope": "store/order/created", "destination": destination})).await;
        assert_eq!(r.status, 200, "{destination} accepted with loopback hooks: {}", r.body);
    }
    for destination in ["https://example.com/h", "https://example.com:443/h2"] {
        let r =
            create(&strict, &strict.token, json!({"scope": "store/order/created", "destination": destination})).await;
        assert_eq!(r.status, 200, "{destination}: {}", r.body);
    }
}

#[tokio::test]
async fn a_mutation_delivers_bigcommerce_envelopes_to_matching_active_hooks() {
    let env = Env::loopback_hooks().await;
    let receiver = Receiver::start(200).await;
    let token = env.token.clone();
    let orders = hook_id(
        &create(
            &env,
            &token,
            json!({"scope": "store/order/*", "destination": receiver.url("/orders"), "headers": {"X-Secret": "s3cret"}}),
        )
        .await,
    );
    hook_id(
        &create(&env, &token, json!({"scope": "store/product/updated", "destination": receiver.url("/products")}))
            .await,
    );
    hook_id(
        &create(&env, &token, json!({"scope": "store/customer/deleted", "destination": receiver.url("/customers")}))
            .await,
    );
    let idle = hook_id(
        &create(
            &env,
            &token,
            json!({"scope": "store/order/created", "destination": receiver.url("/idle"), "is_active": false}),
        )
        .await,
    );
    let store_info = env.get("v2/store").await.body;
    let product_before = env.items("v3/catalog/products?limit=250").await;

    let admin = format!("{}/admin/stores/{}", env.sandbox.base_url(), env.hash);
    let changes = json!({"inserts": 1, "updates": 1, "archives": 1, "product_updates": 2, "product_deletes": 1,
                         "customer_deletes": 1});
    let touched: Value = env
        .http
        .post(format!("{admin}/mutate"))
        .json(&changes)
        .send()
        .await
        .expect("mutate")
        .json()
        .await
        .expect("json");
    let hits = receiver.wait_for(7).await;

    let scopes = |path: &str| -> Vec<String> {
        let mut s: Vec<String> = hits
            .iter()
            .filter(|h| h.path == path)
            .map(|h| h.body["scope"].as_str().unwrap_or("").to_string())
            .collect();
        s.sort();
        s
    };
    assert_eq!(
        scopes("/orders"),
        ["store/order/archived", "store/order/created", "store/order/statusUpdated", "store/order/updated"]
    );
    assert_eq!(scopes("/products"), ["store/product/updated", "store/product/updated"]);
    assert_eq!(scopes("/customers"), ["store/customer/deleted"]);
    assert!(scopes("/idle").is_empty(), "inactive hooks receive nothing");

    for hit in &hits {
        let envelope = &hit.body;
        let keys: Vec<&String> = envelope.as_object().expect("object").keys().collect();
        assert_eq!(keys.len(), 6, "scope, store_id, data, hash, created_at, producer: {envelope}");
        assert_eq!(envelope["store_id"], json!(store_info["store_id"].to_string()), "store_id as a string");
        assert_eq!(envelope["producer"], format!("stores/{}", env.hash));
        assert!((envelope["created_at"].as_i64().expect("created_at") - chrono::Utc::now().timestamp()).abs() < 10);
        let (computed, claimed) = hashes(envelope);
        assert_eq!(computed, claimed, "hash is the SHA-1 of the envelope without it");
        assert_eq!(claimed.len(), 40);
        assert_eq!(hit.headers.get("content-type").map(|v| v.to_str().ok()), Some(Some("application/json")));
        let expected_secret = (hit.path == "/orders").then_some("s3cret");
        assert_eq!(hit.headers.get("x-secret").and_then(|v| v.to_str().ok()), expected_secret);
    }
    let event = |scope: &str| hits.iter().find(|h| h.body["scope"] == scope).map(|h| h.body["data"].clone());
    assert_eq!(event("store/order/created"), Some(json!({"type": "order", "id": touched["inserted_orders"][0]})));
    assert_eq!(event("store/order/archived"), Some(json!({"type": "order", "id": touched["archived_orders"][0]})));
    assert_eq!(event("store/order/updated"), Some(json!({"type": "order", "id": touched["updated_orders"][0]})));
    let change = &touched["status_changes"][0];
    assert_eq!(
        event("store/order/statusUpdated"),
        Some(json!({"type": "order", "id": change["order_id"],
                    "status": {"previous_status_id": change["previous_status_id"],
                               "new_status_id": change["new_status_id"]}}))
    );
    assert_eq!(
        event("store/customer/deleted"),
        Some(json!({"type": "customer", "id": touched["deleted_customers"][0]}))
    );

    // The receiver re-fetches: updated products come back renamed, with a later date_modified.
    for id in touched["updated_products"].as_array().expect("updated products") {
        let now = env.items(&format!("v3/catalog/products?id:in={id}")).await;
        let before = product_before.iter().find(|p| p["id"] == *id).expect("product existed");
        assert_ne!(now[0]["name"], before["name"]);
        assert!(now[0]["date_modified"].as_str() > before["date_modified"].as_str());
    }
    until("the delivery log", || Some(()).filter(|_| env.store.deliveries().len() == 7)).await;
    let counters = env.store.hooks().into_iter().find(|h| h.id as u64 == orders).expect("hook");
    assert_eq!((counters.attempts, counters.delivered, counters.failed), (4, 4, 0));
    assert_eq!(env.store.hooks().into_iter().find(|h| h.id as u64 == idle).map(|h| h.attempts), Some(0));
    assert!(env.store.deliveries().iter().all(|d| d.status == Some(200) && d.attempt == 1));

    // Changes made by the mutate-per-page fault fire events too.
    env.store
        .set_faults(sandbox::Faults {
            mutate_per_page: Mutations { inserts: 1, ..Default::default() },
            ..Default::default()
        })
        .expect("faults");
    assert_eq!(env.get("v2/orders?limit=1").await.status, 200);
    let hits = receiver.wait_for(8).await;
    assert_eq!(hits[7].body["scope"], "store/order/created");
}

#[tokio::test]
async fn a_failing_destination_is_retried_on_schedule_then_deactivated() {
    let env = Env::loopback_hooks().await;
    let receiver = Receiver::start(500).await;
    let admin = format!("{}/admin/stores/{}", env.sandbox.base_url(), env.hash);
    let settings = env
        .http
        .put(format!("{admin}/hooks/settings"))
        .json(&json!({"retry_ms": [50, 100]}))
        .send()
        .await
        .expect("settings");
    assert_eq!(settings.status(), 200);
    assert_eq!(settings.json::<Value>().await.expect("json"), json!({"retry_ms": [50, 100], "duplicate": false}));
    let id = hook_id(
        &create(&env, &env.token, json!({"scope": "store/order/created", "destination": receiver.url("/fails")})).await,
    );
    let started = Instant::now();
    env.store.mutate(Mutations { inserts: 1, ..Default::default() });
    let hook =
        until("deactivation", || env.store.hooks().into_iter().find(|h| h.id as u64 == id && !h.is_active)).await;
    assert!(started.elapsed() >= Duration::from_millis(150), "both waits were served");
    assert_eq!((hook.attempts, hook.delivered, hook.failed), (3, 0, 3), "one try and two retries");
    let hits = receiver.hits();
    assert_eq!(hits.len(), 3);
    assert!(hits.iter().all(|h| h.bytes == hits[0].bytes), "retries resend the same envelope");
    let log = env.store.deliveries();
    assert_eq!(log.iter().map(|d| d.attempt).collect::<Vec<_>>(), [1, 2, 3]);
    assert!(log.iter().all(|d| d.status == Some(500) && d.hook_id as u64 == id));
    assert!(log[1].at - log[0].at >= chrono::Duration::milliseconds(50));
    assert!(log[2].at - log[1].at >= chrono::Duration::milliseconds(100));
    let listed = env.send(Method::GET, &format!("v3/hooks/{id}"), &env.token, None).await;
    assert_eq!(listed.body["data"]["is_active"], false, "the API shows the deactivation");
    let admin_hooks: Value =
        env.http.get(format!("{admin}/hooks")).send().await.expect("admin").json().await.expect("json");
    assert_eq!(admin_hooks[0]["failed"], 3);

    env.store.mutate(Mutations { inserts: 1, ..Default::default() });
    assert_eq!(env.store.deliveries().len(), 3, "a deactivated hook is sent nothing");

    // Reactivated (over the admin API) and healthy again, it receives the next events.
    receiver.set_status(204);
    let patched =
        env.http.patch(format!("{admin}/hooks/{id}")).json(&json!({"is_active": true})).send().await.expect("patch");
    assert_eq!(patched.status(), 200);
    env.store.mutate(Mutations { inserts: 1, ..Default::default() });
    receiver.wait_for(4).await;
    let hook =
        until("a success", || env.store.hooks().into_iter().find(|h| h.id as u64 == id && h.delivered == 1)).await;
    assert!(hook.is_active);
    assert!(env.store.set_hook_active(u32::try_from(id).expect("id"), false));
    assert!(!env.store.set_hook_active(999, false));
    let missing = env.http.patch(format!("{admin}/hooks/999")).json(&json!({"is_active": true})).send().await;
    assert_eq!(missing.expect("patch").status(), 404);

    // An unreachable destination fails without an answer.
    let closed = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let dead = format!("http://{}/gone", closed.local_addr().expect("addr"));
    drop(closed);
    env.store.set_hook_settings(HookSettings { retry: vec![], duplicate: false });
    let dead_id = hook_id(&create(&env, &env.token, json!({"scope": "store/order/*", "destination": dead})).await);
    env.store.mutate(Mutations { archives: 1, ..Default::default() });
    until("the dead hook's deactivation", || {
        env.store.hooks().into_iter().find(|h| h.id as u64 == dead_id && !h.is_active)
    })
    .await;
    let failure = env.store.deliveries().into_iter().find(|d| d.hook_id as u64 == dead_id).expect("attempt");
    assert!(failure.status.is_none() && failure.error.is_some(), "{failure:?}");
}

#[tokio::test]
async fn duplicate_mode_sends_each_event_twice_with_the_same_hash() {
    let env = Env::loopback_hooks().await;
    let receiver = Receiver::start(200).await;
    env.store.set_hook_settings(HookSettings { duplicate: true, ..HookSettings::default() });
    assert_eq!(env.store.hook_settings().retry.len(), 11, "BigCommerce's schedule by default");
    hook_id(
        &create(&env, &env.token, json!({"scope": "store/customer/*", "destination": receiver.url("/customers")}))
            .await,
    );
    let before = env.items("v3/customers?limit=250").await;
    let touched = env.store.mutate(Mutations { customer_updates: 1, ..Default::default() });
    let hits = receiver.wait_for(2).await;
    until("both attempts logged", || Some(()).filter(|_| env.store.deliveries().len() == 2)).await;
    assert_eq!(receiver.hits().len(), 2, "exactly twice");
    assert_eq!(hits[0].bytes, hits[1].bytes, "the same body");
    assert_eq!(hits[0].body["hash"], hits[1].body["hash"]);
    assert_eq!(hits[0].body["scope"], "store/customer/updated");
    assert_eq!(hits[0].body["data"], json!({"type": "customer", "id": touched.updated_customers[0]}));

    let id = touched.updated_customers[0];
    let now = env.items(&format!("v3/customers?id:in={id}")).await;
    let was = before.iter().find(|c| c["id"] == id).expect("customer");
    assert_ne!(now[0]["last_name"], was["last_name"], "a re-fetch sees the change");
    assert_eq!(now[0]["email"], was["email"]);
    assert!(now[0]["date_modified"].as_str() > was["date_modified"].as_str());
}

#[tokio::test]
async fn hooks_calls_are_counted_and_rate_limited_like_any_other() {
    let env = Env::small().await;
    env.store.reset_metrics();
    let token = env.token.clone();
    let id =
        hook_id(&create(&env, &token, json!({"scope": "store/order/*", "destination": "https://example.com/h"})).await);
    assert_eq!(env.send(Method::GET, "v3/hooks", &token, None).await.status, 200);
    assert_eq!(env.send(Method::GET, &format!("v3/hooks/{id}"), &token, None).await.status, 200);
    let put = json!({"is_active": false});
    assert_eq!(env.send(Method::PUT, &format!("v3/hooks/{id}"), &token, Some(&put)).await.status, 200);
    assert_eq!(env.send(Method::DELETE, &format!("v3/hooks/{id}"), &token, None).await.status, 200);
    let metrics = env.store.metrics();
    for key in ["POST v3/hooks", "GET v3/hooks", "GET v3/hooks/{id}", "PUT v3/hooks/{id}", "DELETE v3/hooks/{id}"] {
        assert_eq!(metrics.requests.get(key), Some(&1), "{key}: {:?}", metrics.requests);
    }
    assert_eq!(metrics.total_requests, 5);

    env.store.set_rate_limit(2, Duration::from_secs(30));
    let first = env.send(Method::GET, "v3/hooks", &token, None).await;
    assert!(first.headers.contains_key("x-rate-limit-requests-left"));
    assert_eq!(env.send(Method::GET, "v3/hooks", &token, None).await.status, 200);
    let limited = create(&env, &token, json!({"scope": "store/order/*", "destination": "https://example.com/h"})).await;
    assert_eq!(limited.status, 429);
    assert!(env.store.hooks().is_empty(), "a refused call registers nothing");
}
