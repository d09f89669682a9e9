//! The sync benchmark: a generated store linked and synced completely through the real worker,
//! queue and DynamoDB (moto, started by `make bench`) against the sandbox, whose quota is
//! BigCommerce's 150 requests per window with the window compressed from 30 s to 1 s.
//!
//! For each data type and in total: records, `api_calls`, `min_api_calls` (the fewest calls
//! the API allows for that data, from the store's sizes), `http_429`, `wall_s`, `lower_bound_s`
//! (minimum calls at the quota rate) and the ratios; sandbox CPU per request; the process's
//! peak RSS, at two store sizes. Each size runs twice: with the data table in moto, and with the
//! worker and the Commerce API sharing an in-memory record store (the product's own pacing
//! against the quota, apart from what the emulator's write speed adds); the summary says which
//! bounds the wall time. Orders come first: `time_to_orders_complete_s` (link to orders
//! Complete) against `orders_lower_bound_s` (order pages, one refunds call per page and the
//! count, at the quota rate). The stored counts must match the ground truth, or the numbers
//! mean nothing and the benchmark fails. Then (up to 10,000 orders) the connection is deleted and
//! its erasure timed. Last, the scale runs: orders only at 10,000 and 1,000,000 orders, the worker
//! as its own process (`bench-worker`) under the template's job budget, timeout and
//! `MemorySize`, its records in this process's memory, every live order stored exactly once, and
//! the worker's own peak RSS compared between the two. Writes `sync.<size>` into
//! `target/bench.json`.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use devstack::client::ApiClient;
use devstack::stack::{DevStack, StackOptions};
use sandbox::{Sizes, StoreConfig};
use serde_json::{Value, json};
use shared::domain::DataType;

const QUOTA: u32 = 150;
const WINDOW: Duration = Duration::from_secs(1);
const PAGE: usize = 250;
/// The scale runs' quota per window: high, so the run measures the worker, not the wait.
const SCALE_QUOTA: u32 = 1_000;
const SCALE_SMALL: &str = "scale_orders_10000";
const SCALE_LARGE: &str = "scale_orders_1000000";

struct Size {
    name: &'static str,
    sizes: Sizes,
    /// Requests per window.
    quota: u32,
    /// The data types fetched on first link (all when empty).
    only: &'static [DataType],
    /// The worker's time budget per job: a small one makes the sync go through continuations.
    budget: Duration,
    /// The worker as its own process (`bench-worker`: the sync worker as Lambda runs it, its
    /// records in this process's memory over loopback), so its own peak RSS is measured, and
    /// the template's job budget (`budget` unused). In-memory store runs only.
    process: bool,
}

#[tokio::main]
async fn main() {
    let budget = Duration::from_secs(600);
    let runs = [
        Size {
            name: "orders_5000",
            sizes: Sizes { orders: 5_000, products: 2_000, customers: 2_000, categories: 30 },
            quota: QUOTA,
            only: &[],
            budget,
            process: false,
        },
        Size {
            name: "orders_10000",
            sizes: Sizes { orders: 10_000, products: 2_000, customers: 2_000, categories: 30 },
            quota: QUOTA,
            only: &[],
            budget,
            process: false,
        },
        // 25,000 orders through continuations: a 4 s budget, and a quota raised so that the run
        // is about storage and checkpoints rather than waiting. (Larger stores are the scale
        // runs': moto reads its whole table for every Query page, so at 100,000 orders its seal
        // alone took longer than the rest of the benchmark.)
        Size {
            name: "orders_25000_continuations",
            sizes: Sizes { orders: 25_000, products: 10, customers: 10, categories: 3 },
            quota: 2_000,
            only: &[DataType::Orders],
            budget: Duration::from_secs(4),
            process: false,
        },
        // Scale: the worker's own process and its peak RSS, at 10,000 and 1,000,000 orders, under
        // the production job budget, the records in this process's memory.
        Size {
            name: SCALE_SMALL,
            sizes: Sizes { orders: 10_000, products: 10, customers: 10, categories: 3 },
            quota: SCALE_QUOTA,
            only: &[DataType::Orders],
            budget,
            process: true,
        },
        Size {
            name: SCALE_LARGE,
            sizes: Sizes { orders: 1_000_000, products: 10, customers: 10, categories: 3 },
            quota: SCALE_QUOTA,
            only: &[DataType::Orders],
            budget,
            process: true,
        },
    ];
    // Each size runs in its own process, so one size's peak RSS cannot carry into the next's.
    let args: Vec<String> = std::env::args().collect();
    let memory = args.iter().any(|a| a == "--memory");
    if let Some(name) = args.iter().position(|a| a == "--size").and_then(|i| args.get(i + 1)) {
        let run = runs.iter().find(|r| r.name == name).expect("a known size");
        let result = if run.process { scale_once(run).await } else { sync_once(run, memory).await };
        write_result("sync", &result_name(run.name, memory), result);
        return;
    }
    let exe = std::env::current_exe().expect("this benchmark's path");
    // `--only <size>` runs one size (both stores).
    let only = args.iter().position(|a| a == "--only").and_then(|i| args.get(i + 1));
    for run in runs.iter().filter(|r| only.is_none_or(|o| o == r.name)) {
        if run.process {
            let status = std::process::Command::new(&exe).args(["--size", run.name, "--memory"]).status();
            assert!(status.expect("run a size").success(), "size {} failed", run.name);
            continue;
        }
        for memory in [true, false] {
            let mut command = std::process::Command::new(&exe);
            command.args(["--size", run.name]);
            if memory {
                command.arg("--memory");
            }
            let status = command.status().expect("run a size");
            assert!(status.success(), "size {} failed", run.name);
        }
        summarise(run.name);
    }
    summarise_scale();
}

/// The scale runs side by side: the worker's peak RSS at 1,000,000 orders against 10,000.
fn summarise_scale() {
    let path = devstack::repo_root().join("target/bench.json");
    let all: Value =
        std::fs::read_to_string(&path).ok().and_then(|t| serde_json::from_str(&t).ok()).unwrap_or_default();
    let (small, large) = (&all["sync"][result_name(SCALE_SMALL, true)], &all["sync"][result_name(SCALE_LARGE, true)]);
    let rss = |r: &Value| r["worker"]["peak_rss_mib"].as_f64().unwrap_or_default();
    if rss(small) > 0.0 && rss(large) > 0.0 {
        println!(
            "\nworker peak RSS: {:.1} MiB at 10,000 orders, {:.1} MiB at 1,000,000 ({:.2}x)",
            rss(small),
            rss(large),
            rss(large) / rss(small)
        );
    }
}

/// The result's name in `target/bench.json`: the size, `_memory` with the in-memory store.
fn result_name(size: &str, memory: bool) -> String {
    if memory { format!("{size}_memory") } else { size.to_string() }
}

/// Prints a size's two runs side by side and which bounds its wall time.
fn summarise(size: &str) {
    let path = devstack::repo_root().join("target/bench.json");
    let all: Value =
        std::fs::read_to_string(&path).ok().and_then(|t| serde_json::from_str(&t).ok()).unwrap_or_default();
    let (memory, moto) = (&all["sync"][result_name(size, true)], &all["sync"][size]);
    let wall = |r: &Value| r["total"]["wall_s"].as_f64().unwrap_or_default();
    let bound = memory["total"]["lower_bound_s"].as_f64().unwrap_or_default();
    let bounded_by =
        if wall(moto) > 1.10 * wall(memory) { "the emulator's writes (moto)" } else { "the quota (pacing)" };
    println!(
        "\n{size}: whole sync {:.1} s with the in-memory store, {:.1} s with moto, quota bound {bound:.1} s; orders Complete after {:.1} s / {:.1} s (bound {:.1} s): wall time bounded by {bounded_by}",
        wall(memory),
        wall(moto),
        memory["orders"]["time_to_orders_complete_s"].as_f64().unwrap_or_default(),
        moto["orders"]["time_to_orders_complete_s"].as_f64().unwrap_or_default(),
        memory["orders"]["orders_lower_bound_s"].as_f64().unwrap_or_default(),
    );
}

/// A new company with a BigCommerce connection (not linked yet), fetching only `only` on first
/// link when it names any data types: (company id, connection id).
async fn company_for(api: &ApiClient, only: &[DataType]) -> (String, String) {
    let (company, connection) = api.company_with_connection("Bench").await.expect("company and connection");
    if !only.is_empty() {
        let settings: Vec<Value> = DataType::ALL
            .iter()
            .map(|t| json!({"dataType": t.key(), "fetchOnFirstLink": only.contains(t), "syncSchedule": 24, "syncOrder": 0}))
            .collect();
        let body = json!({"companyId": company, "overridesDefaults": true, "settings": settings});
        api.expect("POST", &format!("/companies/{company}/syncSettings"), Some(&body), 204).await.expect("settings");
    }
    (company, connection)
}

/// Fewest pages of a v3 listing that reports its page count.
fn v3_pages(n: usize) -> u64 {
    n.div_ceil(PAGE).max(1) as u64
}

/// Fewest calls for the orders: their pages, one refunds call per page, and the count.
fn orders_minimum(orders: usize) -> u64 {
    2 * v2_pages(orders) + 1
}

/// Fewest pages of a v2 listing, which ends at a short (or empty) page.
fn v2_pages(n: usize) -> u64 {
    (n / PAGE + 1) as u64
}

async fn sync_once(run: &Size, memory: bool) -> Value {
    let endpoint = devstack::emulator_endpoint();
    let mut store = StoreConfig::from_seed(11, run.sizes);
    store.quota = run.quota;
    store.window = WINDOW;
    let (sender, mut reports) = tokio::sync::mpsc::unbounded_channel();
    let mut options = StackOptions {
        port: 0,
        aws_endpoint: Some(endpoint),
        name_prefix: format!("bench{}-", uuid::Uuid::new_v4().simple()),
        worker_reports: Some(sender),
        job_budget: run.budget,
        memory_records: memory.then(|| std::sync::Arc::new(shared::adapters::memory::MemoryRecords::new())),
        ..StackOptions::default()
    };
    options.sandbox.stores = vec![store];
    let stack = DevStack::start(options).await.expect("stack");
    let sandbox = stack.sandbox.stores()[0].clone();
    let api = ApiClient::new(&stack.api_url, &stack.api_key);
    let (company, connection) = company_for(&api, run.only).await;
    println!(
        "\nsync benchmark {}: {:?}, quota {} per {WINDOW:?}, job budget {:?}, records in {}",
        run.name,
        run.sizes,
        run.quota,
        run.budget,
        if memory { "memory" } else { "moto" }
    );
    reset_peak_rss();
    let started = Instant::now();
    let path = format!("/companies/{company}/connections/{connection}/authorization");
    api.expect("PUT", &path, Some(&stack.sandbox_credentials()), 200).await.expect("link");
    let mut orders_complete: Option<f64> = None;
    let statuses = api
        .wait_for_syncs(&company, Duration::from_secs(1800), |data_type, status, progress| {
            if data_type == DataType::Orders.key() && status == "Complete" && orders_complete.is_none() {
                orders_complete = Some(started.elapsed().as_secs_f64());
            }
            if status != "Fetching" || progress % 20 == 0 {
                println!("  [{:>6.1} s] {data_type:<28} {status} {progress}%", started.elapsed().as_secs_f64());
            }
        })
        .await
        .expect("history")
        .expect("the sync finished");
    let wall = started.elapsed().as_secs_f64();
    let metrics = sandbox.metrics();
    // Read before the ground truth is worked out (it holds the whole store's export).
    let rss_kb = peak_rss_kb();
    let truth = devstack::truth::of_store(&sandbox);

    let mut per_type: BTreeMap<DataType, (u64, u64, u64, f64)> = BTreeMap::new();
    let mut continuations = 0u64;
    while let Ok(report) = reports.try_recv() {
        continuations += u64::from(report.continued);
        for (partner, records) in &report.partners {
            per_type.entry(*partner).or_default().0 += records;
        }
        let entry = per_type.entry(report.data_type).or_default();
        entry.0 += report.records;
        entry.1 += report.requests;
        entry.2 += report.rate_limited;
        entry.3 += report.elapsed.as_secs_f64();
    }
    let count = |t: DataType| truth.counts.get(&t).copied().unwrap_or_default();
    let orders = count(DataType::Orders);
    let minimum = |t: DataType| -> u64 {
        match t {
            DataType::CompanyInfo => 1,
            DataType::Customers => v3_pages(count(t)),
            DataType::ProductCategories => v3_pages(count(t)),
            // The store currency and the category names are part of every product record.
            DataType::Products => 1 + v3_pages(count(DataType::ProductCategories)) + v3_pages(count(t)),
            // The fewest calls read each page of orders once (with its one refunds call), plus
            // the count, and make one transactions call per order, which serves payments and
            // transactions both. Orders come first in their own run; the money pass reads the
            // pages again (without line items), which counts against it. Its calls are counted
            // for the type whose run made them (the other shows 0).
            DataType::Orders => orders_minimum(orders),
            DataType::Payments | DataType::Transactions if per_type.get(&t).is_some_and(|c| c.1 > 0) => orders as u64,
            DataType::Payments | DataType::Transactions => 0,
            _ => 0,
        }
    };
    let rate = f64::from(run.quota) / WINDOW.as_secs_f64();
    let ratio = |a: f64, b: f64| if b > 0.0 { round(a / b) } else { Value::Null };
    let mut rows = serde_json::Map::new();
    let (mut calls_total, mut min_total, mut limited_total) = (0u64, 0u64, 0u64);
    println!(
        "  {:<28} {:>8} {:>9} {:>9} {:>6} {:>5} {:>8} {:>8} {:>7}",
        "data type", "records", "api_calls", "min_calls", "ratio", "429s", "wall_s", "bound_s", "ratio"
    );
    for (data_type, status) in &statuses {
        let t: DataType = serde_json::from_value(json!(data_type)).expect("data type");
        let (records, calls, limited, seconds) = per_type.get(&t).copied().unwrap_or_default();
        assert_eq!(status, "Complete", "{data_type} ended {status}");
        assert_eq!(records as usize, count(t), "{data_type}: the stored records must match the ground truth");
        let min = minimum(t);
        let bound = min as f64 / rate;
        println!(
            "  {data_type:<28} {records:>8} {calls:>9} {min:>9} {:>6} {limited:>5} {seconds:>8.2} {bound:>8.2} {:>7}",
            ratio(calls as f64, min as f64),
            ratio(seconds, bound)
        );
        rows.insert(
            data_type.clone(),
            json!({"records": records, "api_calls": calls, "min_api_calls": min, "http_429": limited,
                   "wall_s": round(seconds), "lower_bound_s": round(bound),
                   "calls_ratio": ratio(calls as f64, min as f64), "wall_ratio": ratio(seconds, bound)}),
        );
        calls_total += calls;
        min_total += min;
        limited_total += limited;
    }
    let bound = min_total as f64 / rate;
    let orders_bound = orders_minimum(orders) as f64 / rate;
    let orders_complete = orders_complete.expect("orders became Complete");
    println!(
        "  orders Complete after {orders_complete:.2} s; orders lower bound {orders_bound:.2} s ({})",
        ratio(orders_complete, orders_bound)
    );
    let cpu_ms = metrics.processing_micros as f64 / 1000.0 / metrics.total_requests.max(1) as f64;
    println!(
        "  {:<28} {:>8} {calls_total:>9} {min_total:>9} {:>6} {limited_total:>5} {wall:>8.2} {bound:>8.2} {:>7}",
        "total",
        "",
        ratio(calls_total as f64, min_total as f64),
        ratio(wall, bound)
    );
    println!(
        "  {continuations} continuations; sandbox: {} requests, {} answered 429, {cpu_ms:.2} ms CPU per request; peak RSS {} MiB",
        metrics.total_requests,
        metrics.rate_limited,
        rss_kb / 1024
    );
    // Erasure of the synced connection (stores up to 10,000 orders): DELETE, then the job's two
    // passes (with the local 2 s settle time between them) until its receipt says Complete.
    let erasure = if run.sizes.orders <= 10_000 && !memory {
        let started = Instant::now();
        api.expect("DELETE", &format!("/companies/{company}/connections/{connection}"), None, 200)
            .await
            .expect("delete");
        let path = format!("/companies/{company}/connections/{connection}/erasure");
        let receipt = loop {
            let (status, body) = api.send("GET", &path, None).await.expect("erasure");
            if status == 200 && body["status"] == "Complete" {
                break body;
            }
            assert!(started.elapsed() < Duration::from_secs(1800), "the erasure finishes: {body}");
            tokio::time::sleep(Duration::from_millis(250)).await;
        };
        let wall = started.elapsed().as_secs_f64();
        println!("  erasure: {} items deleted in {wall:.1} s (2 s settle time included)", receipt["itemsDeleted"]);
        json!({"items_deleted": receipt["itemsDeleted"], "wall_s": round(wall), "settle_s": 2})
    } else {
        Value::Null
    };
    stack.stop().await;
    json!({
        "records": if memory { "memory" } else { "moto" },
        "orders": {"time_to_orders_complete_s": round(orders_complete), "orders_lower_bound_s": round(orders_bound),
                   "ratio": ratio(orders_complete, orders_bound)},
        "erasure": erasure,
        "store": {"orders": run.sizes.orders, "products": run.sizes.products, "customers": run.sizes.customers,
                  "categories": run.sizes.categories, "quota": run.quota, "window_s": WINDOW.as_secs_f64(),
                  "job_budget_s": run.budget.as_secs_f64()},
        "continuations": continuations,
        "data_types": rows,
        "total": {"api_calls": calls_total, "min_api_calls": min_total, "http_429": limited_total,
                  "sandbox_http_429": metrics.rate_limited, "wall_s": round(wall), "lower_bound_s": round(bound),
                  "calls_ratio": ratio(calls_total as f64, min_total as f64), "wall_ratio": ratio(wall, bound)},
        "sandbox_cpu_ms_per_request": round(cpu_ms),
        "peak_rss_mib": rss_kb / 1024,
    })
}

/// A scale run: orders only, the worker as its own process (`bench-worker`) under the
/// template's job budget, timeout and `MemorySize`, its records in this process's memory. What
/// it stores must be exactly the store's live orders (0 lost, none extra).
async fn scale_once(run: &Size) -> Value {
    let records = std::sync::Arc::new(shared::adapters::memory::MemoryRecords::new());
    let server = devstack::remote::RecordServer::start(records.clone()).await.expect("record server");
    let mut store = StoreConfig::from_seed(11, run.sizes);
    store.quota = run.quota;
    store.window = WINDOW;
    let log = devstack::repo_root().join(format!("target/bench-{}.log", run.name));
    let _ = std::fs::remove_file(&log);
    let env = BTreeMap::from([
        ("RECORDS_URL".to_string(), server.url().to_string()),
        ("RUST_LOG".to_string(), "warn".to_string()),
    ]);
    let mut options = StackOptions {
        port: 0,
        aws_endpoint: Some(devstack::emulator_endpoint()),
        name_prefix: format!("bench{}-", uuid::Uuid::new_v4().simple()),
        memory_records: Some(records.clone()),
        worker_process: Some(devstack::stack::WorkerProcess {
            binary: std::env::var("BENCH_WORKER_BINARY")
                .unwrap_or_else(|_| env!("CARGO_BIN_EXE_bench-worker").into())
                .into(),
            env,
            timeout: None,
            hook: None,
            fast_forward: false,
            log: Some(log),
        }),
        ..StackOptions::default()
    };
    options.sandbox.stores = vec![store];
    let stack = DevStack::start(options).await.expect("stack");
    let sandbox = stack.sandbox.stores()[0].clone();
    let api = ApiClient::new(&stack.api_url, &stack.api_key);
    let (company, connection) = company_for(&api, run.only).await;
    println!(
        "\nscale benchmark {}: {:?}, quota {} per {WINDOW:?}, the template's job budget, the worker as its own process",
        run.name, run.sizes, run.quota
    );
    let orders_calls = |m: &sandbox::Metrics| -> u64 {
        m.requests.iter().filter(|(endpoint, _)| endpoint.contains("orders")).map(|(_, n)| n).sum()
    };
    let before = orders_calls(&sandbox.metrics());
    let started = Instant::now();
    let path = format!("/companies/{company}/connections/{connection}/authorization");
    api.expect("PUT", &path, Some(&stack.sandbox_credentials()), 200).await.expect("link");
    let statuses = api
        .wait_for_syncs(&company, Duration::from_secs(3600), |data_type, status, progress| {
            if status != "Fetching" || progress % 10 == 0 {
                println!("  [{:>6.1} s] {data_type:<28} {status} {progress}%", started.elapsed().as_secs_f64());
            }
        })
        .await
        .expect("history")
        .expect("the sync finished");
    let wall = started.elapsed().as_secs_f64();
    assert_eq!(statuses.get(DataType::Orders.key()).map(String::as_str), Some("Complete"), "{statuses:?}");
    let metrics = sandbox.metrics();
    let calls = orders_calls(&metrics) - before;
    // The dataset is Complete before its invocation ends: wait for the worker to go idle, so
    // every invocation (and its peak RSS) is counted.
    let lambda = stack.worker_lambda.as_ref().expect("the worker process");
    let idle = Instant::now();
    while lambda.stats().started > lambda.stats().invocations && idle.elapsed() < Duration::from_secs(120) {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let worker = lambda.stats();
    // 0 lost, none extra: the stored ids are the store's live orders, in order.
    let set = shared::ports::RecordSet::new(connection.parse().expect("connection id"), DataType::Orders);
    let live: Vec<String> = {
        let data = sandbox.data();
        data.orders.iter().filter(|o| !o.is_deleted).map(|o| o.id.to_string()).collect()
    };
    let (mut stored, mut after) = (Vec::with_capacity(live.len()), None);
    loop {
        let (page, next) = records.summaries_page(set, false, after.as_deref(), 10_000);
        stored.extend(page.into_iter().map(|s| s.id));
        match next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    let lost = live.len().saturating_sub(stored.len());
    assert!(stored == live, "stored {} orders, the store holds {} live ones", stored.len(), live.len());
    let minimum = orders_minimum(live.len());
    let rate = f64::from(run.quota) / WINDOW.as_secs_f64();
    let bound = minimum as f64 / rate;
    let continuations = worker.invocations.saturating_sub(1);
    let rss_mib = worker.peak_rss_kb as f64 / 1024.0;
    println!(
        "  {} orders stored, 0 lost; {calls} calls ({minimum} minimum, {}); {} 429s; {wall:.1} s (bound {bound:.1} s); \
         {continuations} continuations; worker: peak RSS {rss_mib:.1} MiB of {} MB, {} timeouts, {} out of memory",
        stored.len(),
        ratio(calls as f64, minimum as f64),
        metrics.rate_limited,
        devstack::template::Template::load_default().expect("template").function_memory_mb("SyncWorkerFunction"),
        worker.timeouts,
        worker.out_of_memory,
    );
    stack.stop().await;
    drop(server);
    json!({
        "records": "memory",
        "store": {"orders": run.sizes.orders, "quota": run.quota, "window_s": WINDOW.as_secs_f64(),
                  "job_budget_s": "template"},
        "orders": {"records": stored.len(), "lost": lost, "api_calls": calls, "min_api_calls": minimum,
                   "calls_ratio": ratio(calls as f64, minimum as f64), "http_429": metrics.rate_limited,
                   "wall_s": round(wall), "lower_bound_s": round(bound), "wall_ratio": ratio(wall, bound)},
        "continuations": continuations,
        "worker": {"peak_rss_mib": round(rss_mib), "invocations": worker.invocations, "cold_starts": worker.cold_starts,
                   "timeouts": worker.timeouts, "out_of_memory": worker.out_of_memory},
    })
}

fn ratio(a: f64, b: f64) -> Value {
    if b > 0.0 { round(a / b) } else { Value::Null }
}

fn round(x: f64) -> Value {
    json!((x * 1000.0).round() / 1000.0)
}

/// Resets the process's peak RSS (Linux: `clear_refs` 5), so each size reports its own.
fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// The process's peak RSS in KiB (`VmHWM`) since the last reset: the worker, the local API and
/// the sandbox serving the sync.
fn peak_rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmHWM:")).and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or_default()
}

/// Merges one result into `target/bench.json`.
fn write_result(group: &str, name: &str, value: Value) {
    let path = devstack::repo_root().join("target/bench.json");
    let mut all: Value =
        std::fs::read_to_string(&path).ok().and_then(|t| serde_json::from_str(&t).ok()).unwrap_or_else(|| json!({}));
    all[group][name] = value;
    std::fs::write(&path, serde_json::to_string_pretty(&all).expect("json")).expect("write bench.json");
    println!("  written {}", path.display());
}
