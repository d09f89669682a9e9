//! The freshness benchmark: how soon a change in the store is readable through the Commerce API
//! once its webhooks announce it, on the dev stack (moto, started by `make bench`) with the
//! sandbox delivering its callbacks to the stack's loopback endpoint.
//!
//! For a store of 1,000 and of 10,000 orders: link, wait for the first syncs, then make 20
//! changes one after the other (an order added and another updated, through the sandbox's admin
//! API, as `make dev-change` does) and measure each until both orders read back changed: idle,
//! and again while a full sync of the same connection runs (orders and payments, queued again
//! whenever it finishes; a change counts as during it only when that full sync was running both
//! when the change was made and when it became readable). For each change it counts the store
//! calls made meanwhile and the items the worker read from the data table (idle: the targeted
//! sync's alone, which should not grow with the store; during the full sync: its reads too). The quota is BigCommerce's 150 requests
//! per window, in a 1 s window as in `make demo`. Writes `fresh` into `target/bench.json`.

use std::time::{Duration, Instant};

use devstack::change::{self, Change, Trail};
use devstack::client::ApiClient;
use devstack::stack::{DevStack, StackOptions};
use serde_json::{Value, json};
use shared::domain::DataType;

/// Changes per phase (the goal is over 20).
const CHANGES: usize = 20;
/// Changes tried while looking for 20 made during a full sync.
const DURING_ATTEMPTS: usize = 60;
/// How long one change may take to be readable.
const LIMIT: Duration = Duration::from_secs(120);
/// The full sync kept running in the second phase.
const FULL: [DataType; 2] = [DataType::Orders, DataType::Payments];

#[tokio::main]
async fn main() {
    let mut result = json!({});
    for orders in [1_000u32, 10_000] {
        result[format!("orders_{orders}")] = run(orders).await;
    }
    let idle = |n: &str, key: &str| result[n]["idle"][key].as_f64().unwrap_or_default();
    result["items_read_ratio_10000_to_1000"] = json!(round(
        idle("orders_10000", "worker_items_read_per_change")
            / idle("orders_1000", "worker_items_read_per_change").max(1.0)
    ));
    println!("\nfresh: {}", serde_json::to_string_pretty(&result).expect("json"));
    let path = devstack::repo_root().join("target/bench.json");
    let mut all: Value =
        std::fs::read_to_string(&path).ok().and_then(|t| serde_json::from_str(&t).ok()).unwrap_or_else(|| json!({}));
    all["fresh"] = result;
    std::fs::write(&path, serde_json::to_string_pretty(&all).expect("json")).expect("bench.json");
}

async fn run(orders: u32) -> Value {
    let mut store =
        sandbox::StoreConfig::from_seed(13, sandbox::Sizes { orders, products: 200, customers: 200, categories: 12 });
    store.window = Duration::from_secs(1);
    let mut options = StackOptions {
        port: 0,
        aws_endpoint: Some(devstack::emulator_endpoint()),
        name_prefix: format!("fresh{}-", uuid::Uuid::new_v4().simple()),
        // Every queued sync is full: the second phase's long job.
        full_sync_every: Some(Duration::ZERO),
        ..StackOptions::default()
    };
    options.sandbox.stores = vec![store];
    let stack = DevStack::start(options).await.expect("stack");
    let api = ApiClient::new(&stack.api_url, &stack.api_key);
    let description = stack.sandbox_description();
    let admin = format!(
        "{}/admin/stores/{}",
        description["api_base"].as_str().expect("api_base"),
        description["store_hash"].as_str().expect("hash")
    );
    let (company, connection) = company_for(&api).await;
    println!("\nfresh benchmark: {orders} orders, quota 150 per 1 s, records in moto");
    let started = Instant::now();
    let path = format!("/companies/{company}/connections/{connection}/authorization");
    api.expect("PUT", &path, Some(&stack.sandbox_credentials()), 200).await.expect("link");
    api.wait_for_syncs(&company, Duration::from_secs(1800), |_, _, _| {})
        .await
        .expect("history")
        .expect("the first syncs finished");
    let first_sync = started.elapsed().as_secs_f64();
    println!("  [{first_sync:>6.1} s] linked and first syncs Complete");

    let mut idle = Vec::new();
    for n in 1..=CHANGES {
        let sample = one_change(&stack, &api, &admin, &company, &connection).await;
        println!("  idle   {n:>2}: {}", sample.line());
        idle.push(sample);
    }
    let mut during = Vec::new();
    let mut full: Vec<String> = Vec::new();
    let mut attempts = 0;
    while during.len() < CHANGES && attempts < DURING_ATTEMPTS {
        attempts += 1;
        if running(&api, &company, &full).await.is_empty() {
            full = queue_full(&api, &company, &connection).await;
            // Until the worker takes it up.
            let waited = Instant::now();
            while running(&api, &company, &full).await.is_empty() && waited.elapsed() < Duration::from_secs(60) {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        let before = running(&api, &company, &full).await;
        let sample = one_change(&stack, &api, &admin, &company, &connection).await;
        let after = running(&api, &company, &full).await;
        let overlapped = before.iter().any(|id| after.contains(id));
        println!("  {} {:>2}: {}", if overlapped { "during" } else { "after " }, during.len() + 1, sample.line());
        if overlapped {
            during.push(sample);
        }
    }
    stack.stop().await;
    json!({
        "orders": orders,
        "idle": summary(&idle),
        "during_full_sync": summary(&during),
        "during_attempts": attempts,
        "first_sync_s": round(first_sync),
        "wall_s": round(started.elapsed().as_secs_f64()),
    })
}

/// One change followed to the read API.
struct Sample {
    latency: Duration,
    trail: Trail,
    items_read: u64,
}

impl Sample {
    fn line(&self) -> String {
        format!(
            "readable after {:.1} s, {:?}, {} store calls, {} items read",
            self.latency.as_secs_f64(),
            self.trail.route(),
            self.trail.total_calls(),
            self.items_read
        )
    }
}

async fn one_change(stack: &DevStack, api: &ApiClient, admin: &str, company: &str, connection: &str) -> Sample {
    let calls = change::store_calls(admin).await.expect("metrics");
    let reads = stack.worker_reads().expect("the worker's records are in DynamoDB");
    let made: Change = change::make_change(admin).await.expect("change");
    let latency = change::until_seen(api, company, connection, &made, LIMIT, |_, _| {}).await.expect("readable");
    // The targeted sync may still be finishing (its dataset, its event) after the records show.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let delivered = change::delivered(admin, &made).await.expect("deliveries");
    let trail = Trail::between(&calls, &change::store_calls(admin).await.expect("metrics"), delivered);
    let items_read = stack.worker_reads().expect("reads").items - reads.items;
    Sample { latency, trail, items_read }
}

fn summary(samples: &[Sample]) -> Value {
    let latencies: Vec<Duration> = samples.iter().map(|s| s.latency).collect();
    let secs = |p: f64| round(change::percentile(&latencies, p).as_secs_f64());
    let n = samples.len().max(1) as f64;
    let webhooks = samples.iter().filter(|s| s.trail.route() == change::Route::Webhooks).count();
    let calls: u64 = samples.iter().map(|s| s.trail.total_calls()).sum();
    let items: u64 = samples.iter().map(|s| s.items_read).sum();
    let by_id: u64 = samples
        .iter()
        .map(|s| {
            s.trail
                .calls
                .iter()
                .filter(|(k, _)| k.starts_with("GET v2/orders/{id}") || k.contains("transactions"))
                .map(|(_, v)| *v)
                .sum::<u64>()
        })
        .sum();
    json!({
        "changes": samples.len(),
        "through_webhooks_alone": webhooks,
        "median_s": secs(50.0),
        "p95_s": secs(95.0),
        "max_s": secs(100.0),
        "store_calls_per_change": round(calls as f64 / n),
        "by_id_calls_per_change": round(by_id as f64 / n),
        "worker_items_read_per_change": round(items as f64 / n),
    })
}

/// The ids among `datasets` still running (Queued or Fetching).
async fn running(api: &ApiClient, company: &str, datasets: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    for id in datasets {
        let dataset = api.expect("GET", &format!("/companies/{company}/data/history/{id}"), None, 200).await;
        if dataset.is_ok_and(|d| matches!(d["status"].as_str(), Some("Fetching"))) {
            out.push(id.clone());
        }
    }
    out
}

/// Queues a full sync of [`FULL`]; the datasets' ids.
async fn queue_full(api: &ApiClient, company: &str, connection: &str) -> Vec<String> {
    let mut ids = Vec::new();
    for data_type in FULL {
        let path = format!("/companies/{company}/data/queue/{}?connectionId={connection}", data_type.key());
        let dataset = api.expect("POST", &path, None, 200).await.expect("queue");
        ids.push(dataset["id"].as_str().expect("id").to_string());
    }
    ids
}

/// A company whose first link fetches the orders and payments only.
async fn company_for(api: &ApiClient) -> (String, String) {
    let (company, connection) = api.company_with_connection("Fresh bench").await.expect("company and connection");
    let settings: Vec<Value> = DataType::ALL
        .iter()
        .map(|t| json!({"dataType": t.key(), "fetchOnFirstLink": FULL.contains(t), "syncSchedule": 24, "syncOrder": 0}))
        .collect();
    let body = json!({"companyId": company, "overridesDefaults": true, "settings": settings});
    api.expect("POST", &format!("/companies/{company}/syncSettings"), Some(&body), 204).await.expect("settings");
    (company, connection)
}

fn round(v: f64) -> Value {
    json!((v * 100.0).round() / 100.0)
}
