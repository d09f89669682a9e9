//! The data table's record store against DynamoDB in moto (which enforces the 400 KB item limit).

use serde_json::json;
use shared::adapters::dynamodb::records::DynamoRecords;
use shared::domain::DataType;
use shared::ports::{RecordReader, RecordSet, RecordStore, Sealed, StoredRecord};
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

/// Seals after a few changes recount only the key ranges the changes touched (read items
/// counted by the meter, far fewer than the set), and pages stay exact: at every offset, the
/// records a fresh sort of what is stored would give, through inserts that split a range,
/// deletes that empty one, updates and scattered changes.
#[tokio::test]
async fn seals_after_a_few_changes_read_what_changed_and_pages_stay_exact() {
    use std::collections::BTreeSet;
    let store = table().await;
    let set = RecordSet::new(Uuid::new_v4(), DataType::Orders);
    let mut stored: BTreeSet<u32> = (1..=3_000).map(|i| i * 2).collect();
    let all: Vec<StoredRecord> = stored.iter().map(|&i| record(i, "first")).collect();
    for batch in all.chunks(500) {
        store.put_records(set, batch, None).await.expect("write");
    }
    let seal = |store: &DynamoRecords| {
        let store = store.clone();
        async move {
            let before = store.stats();
            let count = store.seal(set).await.expect("seal").count;
            (count, store.stats().since(&before).items)
        }
    };
    let (count, first_cost) = seal(&store).await;
    assert_eq!(count, 3_000);
    assert!(first_cost >= 3_000, "the first seal reads every key: {first_cost}");

    let odd = |range: std::ops::RangeInclusive<u32>| range.filter(|i| i % 2 == 1).collect::<Vec<_>>();
    let rounds: Vec<(&str, Vec<u32>, Vec<u32>)> = vec![
        // 200 ids into the ranges of ids 1,001 to 1,400: two of them split.
        ("inserts that split", odd(1_001..=1_400), vec![]),
        // Every id of one range goes.
        ("deletes that empty a range", vec![], (4_000..=4_400).filter(|i| i % 2 == 0).collect()),
        ("scattered", vec![77, 4_501, 5_999], vec![2, 3_000, 6_000]),
        ("updates", vec![4, 4_444, 4_800], vec![]),
        ("past the end and before the start", vec![20_001, 20_003, 0], vec![]),
    ];
    for (name, added, removed) in rounds {
        let records: Vec<StoredRecord> = added.iter().map(|&i| record(i, name)).collect();
        store.put_records(set, &records, None).await.expect("write");
        stored.extend(&added);
        let removed_ids: Vec<String> = removed.iter().map(u32::to_string).collect();
        store.delete_records(set, &removed_ids).await.expect("delete");
        for id in &removed {
            stored.remove(id);
        }
        let (count, cost) = seal(&store).await;
        assert_eq!(count as usize, stored.len(), "{name}: the count");
        assert!(cost < count / 4, "{name}: a seal after a few changes reads {cost} items of {count}");
        let expected: Vec<String> = stored.iter().map(u32::to_string).collect();
        let mut offsets: Vec<usize> = (0..expected.len()).step_by(331).collect();
        offsets.push(expected.len() - 1);
        for offset in offsets {
            let page = store.page(set, offset as u64, 40).await.expect("page").expect("sealed");
            assert_eq!(page.total as usize, expected.len());
            let ids: Vec<String> = page.records.iter().map(|r| r.id.clone()).collect();
            let end = (offset + 40).min(expected.len());
            assert_eq!(ids, expected[offset..end], "{name}: the page at {offset}");
        }
    }
    let (count, cost) = seal(&store).await;
    assert_eq!(count as usize, stored.len());
    assert!(cost <= 1, "a seal with nothing changed reads the head alone: {cost}");
    let updated = store.record(set, "4444").await.expect("read").expect("stored");
    assert_eq!(updated.record["note"], "updates");

    // An empty set seals to an empty directory (no chunk item), then fills.
    let empty = RecordSet::new(Uuid::new_v4(), DataType::Customers);
    assert_eq!(store.seal(empty).await.expect("seal"), Sealed { count: 0, modified: false });
    let page = store.page(empty, 0, 10).await.expect("page").expect("sealed");
    assert_eq!((page.total, page.records.len()), (0, 0));
    let five: Vec<StoredRecord> = (1..=5).map(|i| record(i, "new")).collect();
    store.put_records(empty, &five, None).await.expect("write");
    assert_eq!(store.seal(empty).await.expect("seal"), Sealed { count: 5, modified: true });
    let page = store.page(empty, 1, 10).await.expect("page").expect("sealed");
    assert_eq!(page.records.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(), ["2", "3", "4", "5"]);
}
