//! The data table's contract ([`RecordStore`] and [`RecordReader`]).

use serde_json::json;
use shared::domain::DataType;
use shared::ports::{RecordReader, RecordSet, RecordStore, Sealed, StoredRecord};
use uuid::Uuid;

fn record(id: &str, note: &str) -> StoredRecord {
    StoredRecord {
        id: id.to_string(),
        modified: None,
        record: json!({"id": id, "note": note, "totalAmount": id.len(), "orderLineItems": [{"id": "l"}]}),
    }
}

fn ids(records: &[StoredRecord]) -> Vec<String> {
    records.iter().map(|r| r.id.clone()).collect()
}

/// Writes and replays, numeric order, prefixes, tallies by pass, deletes, the sealed directory
/// and its pages, scans of summaries and records, lookups by id, connections kept apart.
pub async fn records<S: RecordStore + RecordReader>(store: &S) {
    let (connection, other) = (Uuid::new_v4(), Uuid::new_v4());
    let (first_pass, second_pass) = (Uuid::new_v4(), Uuid::new_v4());
    let mut batch: Vec<StoredRecord> = (1..=250).map(|i| record(&i.to_string(), "first")).collect();
    batch.push(record("42_1", "payment"));
    batch.push(record("42_2", "payment"));
    store.put_records(RecordSet::new(connection, DataType::Orders), &batch, Some(first_pass)).await.expect("write");
    // A replay of part of it, with a key twice in one call: the last write wins, nothing doubles.
    let mut replay: Vec<StoredRecord> = (100..=120).map(|i| record(&i.to_string(), "again")).collect();
    replay.push(record("110", "latest"));
    store.put_records(RecordSet::new(connection, DataType::Orders), &replay, Some(second_pass)).await.expect("replay");
    let all = store.every_record(RecordSet::new(connection, DataType::Orders)).await.expect("every record");
    assert_eq!(all.len(), 252, "no duplicates");
    let numeric: Vec<String> = (1..=250).map(|i| i.to_string()).collect();
    assert_eq!(ids(&all[..250]), numeric, "numeric ids in numeric order, then the others");
    assert_eq!(ids(&all[250..]), ["42_1", "42_2"]);
    assert_eq!(all[109].record["note"], "latest");
    assert_eq!(
        store
            .record(RecordSet::new(connection, DataType::Orders), "7")
            .await
            .expect("record")
            .map(|r| r.record["note"].clone()),
        Some(json!("first"))
    );
    assert!(store.record(RecordSet::new(connection, DataType::Orders), "9999").await.expect("record").is_none());
    assert!(
        store.every_record(RecordSet::new(other, DataType::Orders)).await.expect("other").is_empty(),
        "connections never mix"
    );
    assert!(store.every_record(RecordSet::new(connection, DataType::Products)).await.expect("other type").is_empty());

    let mut prefixed =
        store.ids_with_prefix(RecordSet::new(connection, DataType::Orders), "42_").await.expect("prefix");
    prefixed.sort();
    assert_eq!(prefixed, ["42_1", "42_2"]);
    // The tally, a page at a time in sort-key order, each id with whether the pass wrote it.
    let (mut tallied, mut after) = (Vec::new(), None);
    loop {
        let page = store
            .tally_page(RecordSet::new(connection, DataType::Orders), second_pass, after.as_deref(), 40)
            .await
            .expect("tally");
        assert!(page.ids.len() <= 40, "a page holds at most its limit");
        tallied.extend(page.ids);
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    assert_eq!(tallied.iter().map(|(id, _)| id.clone()).collect::<Vec<_>>(), ids(&all), "every id once, in order");
    let written: Vec<&str> = tallied.iter().filter(|(_, w)| *w).map(|(id, _)| id.as_str()).collect();
    let expected: Vec<String> = (100..=120).map(|i| i.to_string()).collect();
    assert_eq!(written, expected, "the ids the second pass wrote last");

    // Nothing to page through before the first seal.
    assert!(store.page(RecordSet::new(connection, DataType::Orders), 0, 10).await.expect("page").is_none());
    let sealed = store.seal(RecordSet::new(connection, DataType::Orders)).await.expect("seal");
    assert_eq!(sealed, Sealed { count: 252, modified: true }, "written since it was never sealed");
    let again = store.seal(RecordSet::new(connection, DataType::Orders)).await.expect("seal");
    assert_eq!(again, Sealed { count: 252, modified: false }, "nothing written since the last seal");
    let page = store.page(RecordSet::new(connection, DataType::Orders), 195, 10).await.expect("page").expect("sealed");
    assert_eq!(page.total, 252);
    assert_eq!(ids(&page.records), (196..=205).map(|i| i.to_string()).collect::<Vec<_>>(), "page by offset");
    let past = store.page(RecordSet::new(connection, DataType::Orders), 252, 10).await.expect("page").expect("sealed");
    assert!(past.records.is_empty());

    store
        .delete_records(RecordSet::new(connection, DataType::Orders), &["1".into(), "42_1".into(), "nope".into()])
        .await
        .expect("delete");
    assert_eq!(
        store.every_record(RecordSet::new(connection, DataType::Orders)).await.expect("after delete").len(),
        250
    );
    let sealed = store.seal(RecordSet::new(connection, DataType::Orders)).await.expect("seal again");
    assert_eq!(sealed, Sealed { count: 250, modified: true }, "removing records modifies the set");

    let mut summaries = Vec::new();
    store
        .scan(RecordSet::new(connection, DataType::Orders), false, &mut |s| summaries.push(s))
        .await
        .expect("scan summaries");
    assert_eq!(summaries.len(), 250);
    assert_eq!(summaries[0].id, "2");
    assert!(summaries[0].summary.get("orderLineItems").is_none(), "summaries leave heavy properties out");
    assert_eq!(summaries[0].summary["note"], "first");
    let mut whole = Vec::new();
    store.scan(RecordSet::new(connection, DataType::Orders), true, &mut |s| whole.push(s)).await.expect("scan records");
    assert!(whole[0].summary.get("orderLineItems").is_some());

    let wanted: Vec<String> = ["120", "3", "missing", "42_2"].map(String::from).to_vec();
    let found = store.records(RecordSet::new(connection, DataType::Orders), &wanted).await.expect("records");
    assert_eq!(ids(&found), ["120", "3", "42_2"], "in the order asked, missing ones left out");
    assert!(store.stats().calls > 0 && store.stats().items > 0, "reads are metered");
}

/// Aggregates: stored per connection and name, replaced whole, read back as stored.
pub async fn aggregates<S: RecordStore + RecordReader>(store: &S) {
    let (connection, other) = (Uuid::new_v4(), Uuid::new_v4());
    assert_eq!(store.aggregate(connection, "sales").await.expect("read"), None);
    store.put_aggregate(connection, "sales", &serde_json::json!({"a": 1})).await.expect("put");
    store.put_aggregate(connection, "sales", &serde_json::json!({"b": 2})).await.expect("replace");
    assert_eq!(store.aggregate(connection, "sales").await.expect("read"), Some(serde_json::json!({"b": 2})));
    assert_eq!(store.aggregate(other, "sales").await.expect("read"), None, "per connection");
    assert_eq!(store.aggregate(connection, "other").await.expect("read"), None, "per name");
}

/// Erasure: a set's records, summaries and directory go in bounded steps, other sets and
/// connections stay; aggregates go per connection.
pub async fn erasure<S: RecordStore + RecordReader>(store: &S) {
    let (connection, other) = (Uuid::new_v4(), Uuid::new_v4());
    let orders = RecordSet::new(connection, DataType::Orders);
    let records: Vec<StoredRecord> = (1..=30)
        .map(|n| StoredRecord { id: n.to_string(), modified: None, record: serde_json::json!({"id": n.to_string()}) })
        .collect();
    for set in [orders, RecordSet::new(connection, DataType::Customers), RecordSet::new(other, DataType::Orders)] {
        store.put_records(set, &records, None).await.expect("put");
        store.seal(set).await.expect("seal");
    }
    store.put_aggregate(connection, "sales", &serde_json::json!({"a": 1})).await.expect("put");
    store.put_aggregate(other, "sales", &serde_json::json!({"a": 1})).await.expect("put");
    let (mut deleted, mut rounds) = (0, 0);
    loop {
        let (n, more) = store.erase(orders, 25).await.expect("erase");
        assert!(n <= 25 * 2, "bounded by the limit (a record and its summary at most)");
        deleted += n;
        rounds += 1;
        if !more {
            break;
        }
        assert!(rounds < 10, "erasure ends");
    }
    assert!(deleted >= 60, "30 records and 30 summaries at least, the directory too: {deleted}");
    assert!(rounds > 1, "in steps");
    assert_eq!(store.erase(orders, 25).await.expect("again"), (0, false), "nothing left");
    assert_eq!(store.page(orders, 0, 10).await.expect("page"), None, "the directory went too");
    assert!(store.every_record(orders).await.expect("read").is_empty());
    let customers = store.every_record(RecordSet::new(connection, DataType::Customers)).await.expect("read");
    assert_eq!(customers.len(), 30, "other data types stay");
    assert_eq!(store.every_record(RecordSet::new(other, DataType::Orders)).await.expect("read").len(), 30);
    assert_eq!(store.erase_aggregates(connection).await.expect("aggregates"), 1);
    assert_eq!(store.aggregate(connection, "sales").await.expect("read"), None);
    assert!(store.aggregate(other, "sales").await.expect("read").is_some(), "other connections keep theirs");
}
