//! Erasure against moto, as deployed: the API deletes a connection, then the company, each
//! while a worker (its own IAM principal, in the stack's event source mapping) is mid-sync; the
//! erasure jobs run on the same queue; then every table is scanned for the ids, and Secrets
//! Manager for their secrets.

use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::AttributeValue;
use devstack::client::ApiClient;
use devstack::stack::{DevStack, StackOptions};
use sandbox::{Faults, Sizes, StoreConfig};
use serde_json::{Value, json};
use uuid::Uuid;

/// Items of every table of the stack whose text mentions `id`, and the count of all items;
/// events (which expire within 14 days by TTL, and outlive an erasure) are not counted.
async fn items_mentioning(stack: &DevStack, id: &str) -> (usize, usize) {
    let dynamo = aws_sdk_dynamodb::Client::new(&stack.admin_sdk());
    let (mut mentioning, mut all) = (0, 0);
    for table in stack.tables.values() {
        let mut start: Option<std::collections::HashMap<String, AttributeValue>> = None;
        loop {
            let out = dynamo.scan().table_name(table).set_exclusive_start_key(start.take()).send().await.expect("scan");
            for item in out.items.unwrap_or_default() {
                if item.get("kind").and_then(|k| k.as_s().ok()).is_some_and(|k| k == "event") {
                    continue;
                }
                all += 1;
                if format!("{item:?}").contains(id) {
                    mentioning += 1;
                }
            }
            match out.last_evaluated_key {
                Some(next) if !next.is_empty() => start = Some(next),
                _ => break,
            }
        }
    }
    (mentioning, all)
}

/// Secrets whose name mentions `id`.
async fn secrets_mentioning(stack: &DevStack, id: &str) -> usize {
    let secrets = aws_sdk_secretsmanager::Client::new(&stack.admin_sdk());
    let out = secrets.list_secrets().max_results(100).send().await.expect("list secrets");
    out.secret_list.unwrap_or_default().iter().filter(|s| s.name().is_some_and(|n| n.contains(id))).count()
}

async fn link(api: &ApiClient, stack: &DevStack, company: &str) -> String {
    let connection = api
        .expect("POST", &format!("/companies/{company}/connections"), Some(&json!({"platformKey": "vqzp"})), 200)
        .await
        .expect("connection");
    let id = connection["id"].as_str().expect("id").to_string();
    let body = stack.sandbox_credentials();
    api.expect("PUT", &format!("/companies/{company}/connections/{id}/authorization"), Some(&body), 200)
        .await
        .expect("link");
    id
}

/// The connection's datasets, as the history lists them.
async fn datasets_of(api: &ApiClient, company: &str, connection: &str) -> Vec<Value> {
    let history = api
        .expect("GET", &format!("/companies/{company}/data/history?pageSize=500"), None, 200)
        .await
        .expect("history");
    history["results"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|d| d["connectionId"] == connection)
        .collect()
}

/// Waits until `done` holds (polling), at most `limit`.
async fn wait_for<F, Fut>(limit: Duration, what: &str, mut done: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    while !done().await {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Waits until the connection's orders sync is running and has stored at least one page.
async fn until_mid_sync(api: &ApiClient, company: &str, connection: &str) {
    wait_for(Duration::from_secs(90), "an orders sync mid-run", || async {
        datasets_of(api, company, connection).await.iter().any(|d| {
            d["dataType"] == "commerce-orders" && d["status"] == "Fetching" && d["progress"].as_u64() > Some(0)
        })
    })
    .await;
}

/// Waits until the erasure at `path` reports Complete; returns its answer.
async fn until_erased(api: &ApiClient, path: &str) -> Value {
    let start = Instant::now();
    loop {
        let (status, body) = api.send("GET", path, None).await.expect("erasure");
        if status == 200 && body["status"] == "Complete" {
            return body;
        }
        assert!(start.elapsed() < Duration::from_secs(120), "timed out waiting for {path}: {status} {body}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn deleting_a_connection_then_its_company_mid_sync_leaves_no_item_and_no_secret() {
    let sizes = Sizes { orders: 400, products: 150, customers: 300, categories: 3 };
    let mut store = StoreConfig::from_seed(17, sizes);
    store.quota = 100_000;
    let mut options = StackOptions {
        port: 0,
        aws_endpoint: Some(devstack::emulator_endpoint()),
        name_prefix: format!("e{}-", Uuid::new_v4().simple()),
        ..StackOptions::default()
    };
    options.sandbox.stores = vec![store.clone()];
    let stack = DevStack::start(options).await.expect("stack");
    let api = ApiClient::new(&stack.api_url, &stack.api_key);
    let sandbox = stack.sandbox.store(&store.hash).expect("store");
    let company =
        api.expect("POST", "/companies", Some(&json!({"name": "Erase Co"})), 200).await.expect("company")["id"]
            .as_str()
            .expect("id")
            .to_string();

    // A: every data type synced.
    let kept = link(&api, &stack, &company).await;
    wait_for(Duration::from_secs(180), "A's first syncs", || async {
        let datasets = datasets_of(&api, &company, &kept).await;
        !datasets.is_empty()
            && datasets.iter().all(|d| matches!(d["status"].as_str(), Some("Complete" | "NotSupported")))
    })
    .await;
    let (kept_items, _) = items_mentioning(&stack, &kept).await;
    assert!(kept_items > 1_000, "A's records are stored: {kept_items}");

    // B: deleted while its first orders sync is mid-run (the store answers slowly).
    sandbox.set_faults(Faults { latency_ms: 15, ..Faults::default() }).expect("faults");
    let deleted = link(&api, &stack, &company).await;
    until_mid_sync(&api, &company, &deleted).await;
    let (before, _) = items_mentioning(&stack, &deleted).await;
    let started = Instant::now();
    api.expect("DELETE", &format!("/companies/{company}/connections/{deleted}"), None, 200).await.expect("delete");
    let erased = until_erased(&api, &format!("/companies/{company}/connections/{deleted}/erasure")).await;
    let took = started.elapsed();
    let (after, _) = items_mentioning(&stack, &deleted).await;
    println!(
        "connection erasure: {before} items mentioning it before the delete (mid-sync), {after} after; {} deleted in {:.1} s (2 s settle)",
        erased["itemsDeleted"],
        took.as_secs_f64()
    );
    assert_eq!(after, 0, "nothing of the deleted connection is left in any table");
    assert_eq!(secrets_mentioning(&stack, &deleted).await, 0, "its secret is gone");
    let (kept_after, _) = items_mentioning(&stack, &kept).await;
    assert_eq!(kept_after, kept_items, "the other connection keeps everything");
    assert_eq!(secrets_mentioning(&stack, &kept).await, 1);

    // The company, while a third connection's first sync runs.
    let third = link(&api, &stack, &company).await;
    until_mid_sync(&api, &company, &third).await;
    let (company_before, all_before) = items_mentioning(&stack, &company).await;
    let started = Instant::now();
    api.expect("DELETE", &format!("/companies/{company}"), None, 204).await.expect("delete company");
    let receipt = until_erased(&api, &format!("/companies/{company}/erasure")).await;
    let took = started.elapsed();
    let (company_after, all_after) = items_mentioning(&stack, &company).await;
    let (kept_gone, _) = items_mentioning(&stack, &kept).await;
    let (third_gone, _) = items_mentioning(&stack, &third).await;
    println!(
        "company erasure: {company_before} items mentioning the company (of {all_before} in all tables) before, {company_after} after ({all_after} in all, the receipts included); {kept_items} + the third connection's items removed in {:.1} s; receipt {receipt}",
        took.as_secs_f64()
    );
    assert_eq!((company_after, kept_gone, third_gone), (0, 0, 0), "nothing mentions the company or its connections");
    assert_eq!(secrets_mentioning(&stack, &kept).await + secrets_mentioning(&stack, &third).await, 0, "no secret left");
    stack.stop().await;
}
