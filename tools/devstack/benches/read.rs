//! The read benchmark: what one page of the Commerce API costs in DynamoDB (moto, started by
//! `make bench`) on a connection of 90,000 orders, early in the list and late in it.
//!
//! The orders are the sandbox's (seed 7) mapped by the real mapping, their ids renumbered to
//! reach 90,000, stored through the record store and sealed as a finished sync would. Each
//! request goes through the Commerce API handler; the record reader counts the items it read
//! and the read capacity they cost by DynamoDB's rules (moto reports a constant, so the units
//! are computed from the items' sizes). Writes `read` into `target/bench.json`.

use std::sync::Arc;
use std::time::Instant;

use base64::Engine;

use devstack::fixtures::{COMPANY_ID, CONNECTION_ID, EXAMPLE_API_KEY, ORDERS_DATASET_ID};
use serde_json::{Value, json};
use shared::adapters::dynamodb::DynamoStore;
use shared::adapters::dynamodb::records::DynamoRecords;
use shared::data::Data;
use shared::domain::{DataType, Dataset, PullStatus};
use shared::http::ApiKeys;
use shared::http::data::DataApi;
use shared::ports::{DatasetStore, ReadStats, RecordReader, RecordSet, RecordStore, StoredRecord};

const ORDERS: usize = 90_000;
const PAGE_SIZE: usize = 100;
/// Orders written per put (a sync page).
const WRITE_PAGE: usize = 250;

#[tokio::main]
async fn main() {
    let sdk = devstack::emulator_sdk_config();
    let prefix = format!("read-{}-", uuid::Uuid::new_v4().simple());
    let (store, dynamo, data) = devstack::invoke::seeded_tables(&sdk, &prefix).await.expect("tables");
    let records = Arc::new(DynamoRecords::new(dynamo, data));

    let started = Instant::now();
    let templates = mapped_orders();
    let bytes: usize = templates.iter().map(|o| o.to_string().len()).sum();
    println!(
        "read bench: {} sandbox orders mapped ({} bytes of JSON on average); storing {ORDERS} orders",
        templates.len(),
        bytes / templates.len()
    );
    let synced = chrono::Utc::now();
    let pages: Vec<Vec<StoredRecord>> = (0..ORDERS)
        .collect::<Vec<_>>()
        .chunks(WRITE_PAGE)
        .map(|chunk| {
            chunk
                .iter()
                .map(|&i| {
                    let id = (i + 1).to_string();
                    let mut record = templates[i % templates.len()].clone();
                    record["id"] = json!(id);
                    record["orderNumber"] = json!(id);
                    StoredRecord { id, modified: Some(synced), record }
                })
                .collect()
        })
        .collect();
    for batch in pages.chunks(4) {
        let writes =
            batch.iter().map(|page| records.put_records(RecordSet::new(CONNECTION_ID, DataType::Orders), page, None));
        futures::future::try_join_all(writes).await.expect("write");
    }
    let count = records.seal(RecordSet::new(CONNECTION_ID, DataType::Orders)).await.expect("seal").count;
    assert_eq!(count as usize, ORDERS);
    store
        .queue_datasets(&[Dataset::queued(ORDERS_DATASET_ID, COMPANY_ID, CONNECTION_ID, DataType::Orders, synced)])
        .await
        .expect("dataset");
    store
        .advance_dataset(COMPANY_ID, ORDERS_DATASET_ID, PullStatus::Complete, 100, None, synced)
        .await
        .expect("complete");
    println!("  stored and sealed in {:.1} s", started.elapsed().as_secs_f64());

    let keys = ApiKeys::from_digests(&ApiKeys::digest_hex(EXAMPLE_API_KEY)).expect("keys");
    // The Commerce API reads as fn data's own principal, as deployed.
    let own = aws_sdk_dynamodb::Client::new(
        &devstack::function_sdk_config("DataFunction", &devstack::iam::LocalResources::default()).await,
    );
    let table = |logical: &str| format!("{prefix}{logical}");
    let (store, records) =
        (DynamoStore::new(own.clone(), table("PlatformTable")), Arc::new(DynamoRecords::new(own, table("DataTable"))));
    let api = DataApi::new(Data::new(store, records.clone()), keys);
    let mut result = json!({"orders": ORDERS, "page_size": PAGE_SIZE});
    // The query is a platform's incremental pull since before the sync: every order matches, so
    // page 900 exists, and every summary is read and evaluated to count the matches.
    for (name, query) in [("no_query", ""), ("query", "&query=modifiedDate%3E%3D2000-01-01T00%3A00%3A00Z")] {
        let first = measure(&api, records.as_ref(), 1, query).await;
        let late = measure(&api, records.as_ref(), 900, query).await;
        let ratio = |key: &str| late[key].as_f64().unwrap_or_default() / first[key].as_f64().unwrap_or(1.0).max(1e-9);
        let entry = json!({
            "page_1": first,
            "page_900": late,
            "ratio_items": ratio("items"),
            "ratio_capacity": ratio("capacity"),
        });
        println!(
            "  {name:<9} page 1: {} items, {} RCU, {} ms; page 900: {} items, {} RCU, {} ms; ratio {:.3} (items) {:.3} (capacity)",
            first["items"],
            first["capacity"],
            first["ms"],
            late["items"],
            late["capacity"],
            late["ms"],
            entry["ratio_items"].as_f64().unwrap_or_default(),
            entry["ratio_capacity"].as_f64().unwrap_or_default()
        );
        result[name] = entry;
    }
    write_result(result);
}

/// One GET of `page` through the handler: what it read and how long it took.
async fn measure(api: &DataApi<DynamoStore>, records: &DynamoRecords, page: usize, query: &str) -> Value {
    let path = format!("/companies/{COMPANY_ID}/connections/{CONNECTION_ID}/data/commerce-orders");
    let query = format!("page={page}&pageSize={PAGE_SIZE}{query}");
    let auth = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(EXAMPLE_API_KEY));
    let event = devstack::event::api_gateway_event(&devstack::event::HttpRequest {
        method: "GET",
        path: &path,
        query: &query,
        headers: vec![("authorization".into(), auth)],
        body: b"",
        source_ip: "127.0.0.1",
    });
    let request = devstack::event::to_lambda_request(&event).expect("request");
    let before: ReadStats = records.stats();
    let started = Instant::now();
    let response = api.handle(request).await;
    let ms = started.elapsed().as_millis() as u64;
    let cost = records.stats().since(&before);
    assert_eq!(response.status(), 200, "{path}?{query}");
    let body: Value = match response.body() {
        lambda_http::Body::Text(text) => serde_json::from_str(text).expect("JSON"),
        _ => panic!("{path}?{query}: no JSON body"),
    };
    let results = body["results"].as_array().map_or(0, Vec::len);
    assert_eq!(results, PAGE_SIZE, "{path}?{query}: a full page");
    json!({
        "total_results": body["totalResults"],
        "first_id": body["results"][0]["id"],
        "calls": cost.calls,
        "items": cost.items,
        "bytes": cost.bytes,
        "capacity": cost.capacity,
        "ms": ms,
    })
}

/// The sandbox's orders (seed 7, 2,000 orders) through the real order mapping.
fn mapped_orders() -> Vec<Value> {
    let config = sandbox::StoreConfig::from_seed(
        7,
        sandbox::Sizes { orders: 2_000, products: 500, customers: 1_000, categories: 12 },
    );
    let store = sandbox::Store::new(config);
    let synced = chrono::Utc::now();
    devstack::truth::export(&store)
        .orders
        .into_iter()
        .map(|exported| {
            let mut source = exported.order;
            source["consignments"] = json!({"shipping": [{"line_items": exported.line_items}]});
            shared::bigcommerce::mapping::order(&source, rust_decimal::Decimal::ZERO, synced)
        })
        .collect()
}

fn write_result(value: Value) {
    let path = devstack::repo_root().join("target/bench.json");
    let mut all: Value =
        std::fs::read_to_string(&path).ok().and_then(|t| serde_json::from_str(&t).ok()).unwrap_or_else(|| json!({}));
    all["read"] = value;
    std::fs::create_dir_all(path.parent().expect("target")).expect("target dir");
    std::fs::write(&path, serde_json::to_string_pretty(&all).expect("json")).expect("write bench.json");
    println!("  written {}", path.display());
}
