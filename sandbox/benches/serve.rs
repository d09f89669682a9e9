//! How fast the sandbox serves a full page: 250 v2 orders with their line items embedded, the
//! heaviest request a sync makes. The default quota allows one request per 200 ms (30 s / 150);
//! the sandbox must answer far inside that so it is never a sync's bottleneck.
//! Writes `sandbox.page_250_orders` into `target/bench.json`.

use std::time::{Duration, Instant};

use sandbox::{Sandbox, SandboxOptions, Sizes, StoreConfig};
use serde_json::{Value, json};

const PAGES: usize = 20;
const BUDGET_MS: f64 = 30_000.0 / 150.0;

#[tokio::main]
async fn main() {
    let mut config =
        StoreConfig::from_seed(42, Sizes { orders: 6_000, products: 300, customers: 1_000, categories: 14 });
    config.quota = 1_000_000;
    let token = config.accounts[0].access_token.clone();
    let hash = config.hash.clone();
    let sandbox =
        Sandbox::start(SandboxOptions { stores: vec![config], ..SandboxOptions::default() }).await.expect("sandbox");
    let store = sandbox.store(&hash).expect("store");
    let http = reqwest::Client::new();
    let mut wall = Vec::new();
    let mut bytes = 0usize;
    let mut lines = 0usize;
    for page in 1..=PAGES {
        let url = format!(
            "{}/v2/orders?limit=250&page={page}&include=consignments.line_items&consignment_structure=object",
            sandbox.store_url(&hash)
        );
        let started = Instant::now();
        let body =
            http.get(url).header("x-auth-token", &token).send().await.expect("page").bytes().await.expect("body");
        wall.push(started.elapsed());
        bytes += body.len();
        let orders: Vec<Value> = serde_json::from_slice(&body).expect("orders");
        assert_eq!(orders.len(), 250);
        lines += orders
            .iter()
            .map(|o| o["consignments"]["shipping"][0]["line_items"].as_array().map_or(0, Vec::len))
            .sum::<usize>();
    }
    let metrics = store.metrics();
    sandbox.stop().await;
    wall.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let mean = wall.iter().map(|d| ms(*d)).sum::<f64>() / PAGES as f64;
    let p95 = ms(wall[(PAGES * 95 / 100).min(PAGES - 1)]);
    let processing = metrics.processing_micros as f64 / 1000.0 / PAGES as f64;
    let result = json!({
        "requests": PAGES,
        "orders_per_page": 250,
        "mean_line_items_per_page": lines / PAGES,
        "mean_bytes_per_page": bytes / PAGES,
        "wall_ms_mean": round(mean),
        "wall_ms_p95": round(p95),
        "sandbox_processing_ms_per_request": round(processing),
        "quota_budget_ms_per_request": BUDGET_MS,
        "share_of_budget": round(mean / BUDGET_MS),
    });
    println!(
        "sandbox: 250-order page with line items: mean {mean:.1} ms, p95 {p95:.1} ms, sandbox processing {processing:.1} ms (budget {BUDGET_MS} ms per request)"
    );
    write_result("sandbox", "page_250_orders", result);
}

fn round(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// Merges one result into `target/bench.json`.
fn write_result(group: &str, name: &str, value: Value) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/bench.json");
    let mut all: Value =
        std::fs::read_to_string(&path).ok().and_then(|t| serde_json::from_str(&t).ok()).unwrap_or_else(|| json!({}));
    all[group][name] = value;
    std::fs::write(&path, serde_json::to_string_pretty(&all).expect("json")).expect("write bench.json");
    println!("written {}", path.display());
}
