//! The AWS adapters against moto (started by `make test`): the ports' contract, and what only
//! the real services do (DynamoDB's item limit).

#[path = "../contract/mod.rs"]
mod contract;
mod records;

use shared::adapters::dynamodb::DynamoStore;
use shared::adapters::dynamodb::records::DynamoRecords;
use shared::adapters::secrets_manager::SecretsManagerStore;
use uuid::Uuid;

/// A DynamoDB client of the emulator.
pub fn dynamo() -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::new(&devstack::emulator_sdk_config())
}

/// A fresh table of the template's `logical` table.
pub async fn table(logical: &str) -> String {
    let name = format!("contract-{}", Uuid::new_v4().simple());
    devstack::template::Template::load_default()
        .and_then(|t| t.table(logical))
        .expect("template table")
        .create(&dynamo(), &name)
        .await
        .expect("table");
    name
}

#[tokio::test]
async fn dynamodb_store_honours_the_contract() {
    let store = DynamoStore::new(dynamo(), table("PlatformTable").await);
    contract::platform::platform_store(&store).await;
}

#[tokio::test]
async fn dynamodb_store_keeps_store_hooks_changes() {
    let store = DynamoStore::new(dynamo(), table("PlatformTable").await);
    contract::platform::store_hooks(&store).await;
}

#[tokio::test]
async fn dynamodb_store_writes_read_events_with_their_change() {
    let store = DynamoStore::new(dynamo(), table("PlatformTable").await);
    contract::platform::read_events(&store).await;
}

/// A worker killed between a dataset's final write and its data type's status: the repeat
/// (a redelivered job) brings the status in line.
#[tokio::test]
async fn dynamodb_store_brings_a_data_type_in_line_with_its_ended_dataset() {
    use aws_sdk_dynamodb::types::AttributeValue;
    use shared::domain::{DataType, Dataset, PullStatus};
    use shared::ports::DatasetStore;
    let name = table("PlatformTable").await;
    let store = DynamoStore::new(dynamo(), &name);
    let (company, connection) = (Uuid::new_v4(), Uuid::new_v4());
    let d = Dataset::queued(Uuid::now_v7(), company, connection, DataType::Orders, chrono::Utc::now());
    store.queue_datasets(std::slice::from_ref(&d)).await.expect("queue");
    store.advance_dataset(company, d.id, PullStatus::Fetching, 10, None, chrono::Utc::now()).await.expect("fetching");
    // The first write alone, as a run killed right after it leaves the dataset.
    let key = |pk: String, sk: String| {
        std::collections::HashMap::from([
            ("pk".to_string(), AttributeValue::S(pk)),
            ("sk".to_string(), AttributeValue::S(sk)),
        ])
    };
    let items = dynamo().scan().table_name(&name).send().await.expect("scan").items.unwrap_or_default();
    let item = items
        .iter()
        .find(|i| i.get("kind").and_then(|k| k.as_s().ok()).is_some_and(|k| k == "dataset"))
        .expect("dataset item");
    let (pk, sk) = (item["pk"].as_s().expect("pk").clone(), item["sk"].as_s().expect("sk").clone());
    dynamo()
        .update_item()
        .table_name(&name)
        .set_key(Some(key(pk, sk)))
        .update_expression("SET #status = :done, completed = :at")
        .expression_attribute_names("#status", "status")
        .expression_attribute_values(":done", AttributeValue::S("Complete".into()))
        .expression_attribute_values(":at", AttributeValue::S(shared::codat::timestamp(chrono::Utc::now())))
        .send()
        .await
        .expect("first write");
    let stale = store.data_statuses(company).await.expect("statuses");
    assert_eq!(stale[0].current_status, PullStatus::Fetching, "the status write was lost");
    let again = store.advance_dataset(company, d.id, PullStatus::Complete, 100, None, chrono::Utc::now()).await;
    assert_eq!(again.expect("repeat").expect("dataset").status, PullStatus::Complete);
    let status = store.data_statuses(company).await.expect("statuses");
    assert_eq!(status[0].current_status, PullStatus::Complete);
    assert_eq!(status[0].latest_successful_sync_id, Some(d.id), "and its last success");
}

#[tokio::test]
async fn dynamodb_store_keeps_keys_and_profile_settings() {
    let store = DynamoStore::new(dynamo(), table("PlatformTable").await);
    contract::platform::keys_and_profile(&store).await;
}

#[tokio::test]
async fn dynamodb_store_keeps_a_bounded_expiring_history() {
    let history = shared::domain::History { retention: chrono::Duration::zero(), per_data_type: 500 };
    let name = table("PlatformTable").await;
    let store = DynamoStore::new(dynamo(), &name).with_history(history);
    contract::platform::history(&store).await;
    use shared::domain::{DataType, Dataset, PullStatus};
    use shared::ports::DatasetStore;
    let (company, connection) = (Uuid::new_v4(), Uuid::new_v4());
    for _ in 0..2 {
        let d = Dataset::queued(Uuid::now_v7(), company, connection, DataType::Orders, chrono::Utc::now());
        store.queue_datasets(std::slice::from_ref(&d)).await.expect("queue");
        store.advance_dataset(company, d.id, PullStatus::Complete, 100, None, chrono::Utc::now()).await.expect("end");
    }
    // Expired datasets carry the table's TTL attribute (a number), which DynamoDB deletes by
    // (moto never does; reads skip them).
    let items = dynamo().scan().table_name(&name).send().await.expect("scan").items.unwrap_or_default();
    let with_ttl = items
        .iter()
        .filter(|i| i.get("kind").and_then(|k| k.as_s().ok()).is_some_and(|k| k == "dataset"))
        .filter(|i| i.get("expires_at").is_some_and(|v| v.as_n().is_ok()))
        .count();
    assert!(with_ttl >= 1, "expired datasets carry expires_at");
}

#[tokio::test]
async fn dynamodb_store_keeps_the_sweep_marks_in_its_sparse_index() {
    let store = DynamoStore::new(dynamo(), table("PlatformTable").await);
    contract::platform::sweep_marks(&store).await;
}

#[tokio::test]
async fn dynamodb_records_honour_the_contract() {
    let records = DynamoRecords::new(dynamo(), table("DataTable").await);
    contract::records::records(&records).await;
    contract::records::aggregates(&records).await;
    contract::records::erasure(&records).await;
}

#[tokio::test]
async fn secrets_manager_honours_the_contract() {
    let client = aws_sdk_secretsmanager::Client::new(&devstack::emulator_sdk_config());
    let name = format!("commerce-link/contract-{}", Uuid::new_v4().simple());
    contract::secrets::secrets(&SecretsManagerStore::new(client), &name).await;
}
