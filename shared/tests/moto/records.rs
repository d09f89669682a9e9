//! The data table's record store against DynamoDB in moto (which enforces the 400 KB item limit).

use serde_json::json;
use shared::adapters::dynamodb::records::DynamoRecords;
use shared::domain::DataType;
use shared::ports::{RecordReader, RecordSet, RecordStore, StoredRecord};
use uuid::Uuid;

use crate::{dynamo, table as new_table};

async fn table() -> DynamoRecords {
    DynamoRecords::new(dynamo(), new_table("DataTable").await)
}

fn record(id: u32, text: &str) -> StoredRecord {
    StoredRecord { id: id.to_string(), modified: None, record: json!({"id": id.to_string(), "note": text}) }
}

#[tokio::test]
async fn replays_overwrite_and_large_records_are_stored_whole() {
    let store = table().await;
    let connection = Uuid::new_v4();
    let batch: Vec<StoredRecord> = (1..=120).map(|i| record(i, "first")).collect();
    store.put_records(RecordSet::new(connection, DataType::Orders), &batch, None).await.expect("first write");
    // A redelivered page, with duplicates inside one batch, and one record changed.
    let mut replay: Vec<StoredRecord> = (100..=120).map(|i| record(i, "again")).collect();
    replay.push(record(110, "latest"));
    store.put_records(RecordSet::new(connection, DataType::Orders), &replay, None).await.expect("replay");
    let all = store.every_record(RecordSet::new(connection, DataType::Orders)).await.expect("read");
    assert_eq!(all.len(), 120, "no duplicates");
    let ids: Vec<u32> = all.iter().map(|r| r.id.parse().expect("numeric")).collect();
    assert_eq!(ids, (1..=120).collect::<Vec<_>>(), "numeric order");
    assert_eq!(all[109].record["note"], "latest", "the last write of a key wins");
    assert_eq!(all[0].record["note"], "first");

    // A product description of ~600 KB: over DynamoDB's item limit as text, stored compressed.
    let huge = StoredRecord {
        id: "9".into(),
        modified: Some(chrono::Utc::now()),
        record: json!({"id": "9", "description": "<p>Built for long days on the trail.</p>".repeat(15_000)}),
    };
    assert!(huge.record.to_string().len() > 400 * 1024);
    store
        .put_records(RecordSet::new(connection, DataType::Products), std::slice::from_ref(&huge), None)
        .await
        .expect("large record");
    let back = store.record(RecordSet::new(connection, DataType::Products), "9").await.expect("read").expect("stored");
    assert_eq!(back.record, huge.record);
    assert!(back.modified.is_some());
    assert!(store.record(RecordSet::new(connection, DataType::Products), "10").await.expect("read").is_none());
    assert!(
        store.every_record(RecordSet::new(Uuid::new_v4(), DataType::Orders)).await.expect("read").is_empty(),
        "connections never mix"
    );
}
