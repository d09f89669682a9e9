//! The history benchmark: 100 simulated days of `make dev` churn on one connection against the
//! platform table in moto (started by `make bench`), through the DynamoDB adapter the functions
//! use: every tick queues a sync of each data type, runs it to Complete (the worker's writes:
//! Fetching, Complete, the expiry of what it supersedes) and trims each data type's history as
//! the worker does. `make dev` ticks every minute (8 data types: 8 datasets a minute); the
//! benchmark spaces 720 ticks over the 100 days (one every 200 minutes), more than the 500 a data
//! type keeps, so the cap acts, for 2 data types (moto's index queries scan its whole table, so 8
//! take half an hour; each data type's history is bounded on its own, and the count of a page
//! reads each type's index: the figures scale by the number of types). Then it reads the first
//! and the last history page (the API's default: newest first, 100) and reports the items kept
//! and read. Writes `history` into `target/bench.json`.

use std::time::Instant;

use chrono::{Duration, Utc};
use shared::adapters::dynamodb::DynamoStore;
use shared::domain::{DataType, Dataset, History, PullStatus};
use shared::ports::DatasetStore;
use uuid::Uuid;

const TICKS: i64 = 720;
const DAYS: i64 = 100;
const TYPES: [DataType; 2] = [DataType::Orders, DataType::Customers];

#[tokio::main]
async fn main() {
    let sdk = devstack::emulator_sdk_config();
    let dynamo = aws_sdk_dynamodb::Client::new(&sdk);
    let table = format!("bench-history-{}", Uuid::new_v4().simple());
    devstack::template::Template::load_default()
        .and_then(|t| t.table("PlatformTable"))
        .expect("template table")
        .create(&dynamo, &table)
        .await
        .expect("table");
    let history = History::default();
    let store = DynamoStore::new(dynamo.clone(), &table).with_history(history);
    let (company, connection) = (Uuid::new_v4(), Uuid::new_v4());
    let end = Utc::now();
    let start = end - Duration::days(DAYS);
    let step = Duration::minutes(DAYS * 24 * 60 / TICKS);
    println!(
        "\nhistory benchmark: {TICKS} ticks of {} data types over {DAYS} simulated days (one every {} min); keeps {} per data type, {} days",
        TYPES.len(),
        step.num_minutes(),
        history.per_data_type,
        history.retention.num_days()
    );
    let started = Instant::now();
    for tick in 0..TICKS {
        let at = start + step * tick as i32;
        let runs = TYPES.iter().map(|data_type| {
            let store = &store;
            async move {
                let dataset = Dataset::queued(Uuid::now_v7(), company, connection, *data_type, at);
                store.queue_datasets(std::slice::from_ref(&dataset)).await.expect("queue");
                store.advance_dataset(company, dataset.id, PullStatus::Fetching, 0, None, at).await.expect("run");
                let done = at + Duration::seconds(20);
                store.advance_dataset(company, dataset.id, PullStatus::Complete, 100, None, done).await.expect("end");
                store.trim_history(company, connection, *data_type, history.per_data_type).await.expect("trim")
            }
        });
        futures::future::join_all(runs).await;
        if tick % 180 == 179 {
            println!("  [{:>6.1} s] {} ticks", started.elapsed().as_secs_f64(), tick + 1);
        }
    }
    let written = TICKS * TYPES.len() as i64;
    // What the table holds, and what the history serves.
    let mut stored = 0usize;
    let mut start_key = None;
    loop {
        let out =
            dynamo.scan().table_name(&table).set_exclusive_start_key(start_key.take()).send().await.expect("scan");
        stored += out
            .items
            .unwrap_or_default()
            .iter()
            .filter(|i| i.get("kind").and_then(|k| k.as_s().ok()).is_some_and(|k| k == "dataset"))
            .count();
        match out.last_evaluated_key {
            Some(next) if !next.is_empty() => start_key = Some(next),
            _ => break,
        }
    }
    let before = store.history_reads();
    let (page, total) = store.history_page(company, 0, 100, end).await.expect("page");
    let first = store.history_reads();
    let (last, _) = store.history_page(company, (total as usize).saturating_sub(100), 100, end).await.expect("last");
    let after = store.history_reads();
    let (first_calls, first_items) = (first.0 - before.0, first.1 - before.1);
    let (last_calls, last_items) = (after.0 - first.0, after.1 - first.1);
    println!(
        "  {written} datasets written; {stored} items kept ({} per data type at most), {total} served (unexpired)",
        history.per_data_type
    );
    println!(
        "  first page of 100: {} results, {first_items} items read in {first_calls} calls (the page, then the count over the history index); last page: {} results, {last_items} items in {last_calls} calls",
        page.len(),
        last.len()
    );
    let result = serde_json::json!({
        "ticks": TICKS, "simulated_days": DAYS, "data_types": TYPES.len(), "datasets_written": written,
        "dataset_items_kept": stored, "served": total,
        "first_page": {"results": page.len(), "items_read": first_items, "calls": first_calls},
        "last_page": {"results": last.len(), "items_read": last_items, "calls": last_calls},
        "wall_s": started.elapsed().as_secs_f64(),
    });
    assert!(stored <= TYPES.len() * history.per_data_type, "the cap holds");
    let path = devstack::repo_root().join("target/bench.json");
    let mut all: serde_json::Value = std::fs::read_to_string(&path)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_else(|| serde_json::json!({}));
    all["history"] = result;
    std::fs::write(&path, serde_json::to_string_pretty(&all).expect("json")).expect("bench.json");
}
