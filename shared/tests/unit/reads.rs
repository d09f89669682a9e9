//! `read.completed` and `read.completed.initial` as the sync worker writes them to the outbox,
//! over the in-memory twins against the in-process sandbox store: one per ended dataset, never
//! again on a redelivery, `recordsModified` as the run did, and one initial read per link.

use std::time::Duration;

use chrono::Utc;
use sandbox::Mutations;
use shared::domain::event::ReadOutcome;
use shared::domain::{ConnectionStatus, DataType, Event, EventType, PullStatus};
use shared::ports::{ConnectionStore, EventOutbox, LinkStore, LinkedStore};
use uuid::Uuid;

use crate::worker::{World, sizes};

fn provided() -> Vec<DataType> {
    DataType::ALL.into_iter().filter(|d| d.supported()).collect()
}

async fn events(w: &World, kind: EventType) -> Vec<Event> {
    let since = Utc::now() - chrono::Duration::hours(1);
    let all = w.store.events_since(since, 10_000).await.expect("events");
    all.into_iter().filter(|e| e.event_type == kind).collect()
}

fn outcome(event: &Event) -> &ReadOutcome {
    let read = event.read.as_ref().expect("a read event has its read");
    assert_eq!(read.data_types.len(), 1, "one data type per read.completed");
    &read.data_types[0]
}

#[tokio::test]
async fn each_ended_dataset_reports_its_read_once_and_each_link_its_initial_read() {
    let mut w = World::new(sizes(), 0, Duration::from_secs(60)).await;
    let datasets = w.sync(&provided()).await;
    assert!(datasets.iter().all(|d| d.status == PullStatus::Complete), "{datasets:#?}");

    let reads = events(&w, EventType::ReadCompleted).await;
    assert_eq!(reads.len(), datasets.len(), "one read.completed per dataset: {reads:#?}");
    for dataset in &datasets {
        let event = reads.iter().find(|e| outcome(e).dataset_id == dataset.id).expect("its read.completed");
        let read = outcome(event);
        assert_eq!(
            (read.data_type, read.status, read.connection_id),
            (dataset.data_type, dataset.status, w.connection)
        );
        let stored = !w.stored(dataset.data_type).await.is_empty();
        assert_eq!(read.records_modified, stored, "{}: a full read modifies what it stores", dataset.data_type.key());
        assert_eq!(event.read.as_ref().and_then(|r| r.modified_from), None, "a first read is full");
        assert_eq!(event.company.id, w.company);
    }
    let initial = events(&w, EventType::ReadCompletedInitial).await;
    assert_eq!(initial.len(), 1, "one initial read for the link");
    let types: Vec<DataType> = initial[0].read.as_ref().expect("read").data_types.iter().map(|o| o.data_type).collect();
    let mut expected = provided();
    expected.sort_by_key(|t| t.key());
    let mut types = types;
    types.sort_by_key(|t| t.key());
    assert_eq!(types, expected, "every data type fetched on first link");

    // Redelivered jobs write no second event.
    for job in w.queue.jobs() {
        w.worker.run(&job).await.expect("redelivery");
    }
    assert_eq!(events(&w, EventType::ReadCompleted).await.len(), datasets.len());
    assert_eq!(events(&w, EventType::ReadCompletedInitial).await.len(), 1);

    // An incremental read that finds nothing new modifies nothing; one that finds changes does.
    w.sync(&[DataType::Orders]).await;
    let quiet = events(&w, EventType::ReadCompleted).await;
    let last = quiet.last().expect("read");
    assert_eq!(outcome(last).data_type, DataType::Orders);
    assert!(last.read.as_ref().and_then(|r| r.modified_from).is_some(), "changes since the last read");
    assert!(!outcome(last).records_modified, "nothing changed in the store");
    w.sandbox_store().mutate(Mutations { updates: 2, ..Default::default() });
    w.sync(&[DataType::Orders]).await;
    let changed = events(&w, EventType::ReadCompleted).await;
    assert!(outcome(changed.last().expect("read")).records_modified, "two orders changed");
    assert_eq!(events(&w, EventType::ReadCompletedInitial).await.len(), 1, "no initial read without a link");

    // A re-link is due its own initial read, once its first-link types have read again.
    let (company, connection) = (w.company, w.connection);
    w.store
        .set_connection_status(company, connection, &[ConnectionStatus::Linked], ConnectionStatus::Unlinked)
        .await
        .expect("unlinked");
    let lease = Uuid::new_v4();
    w.store.begin_link(company, connection, lease, Utc::now(), 60).await.expect("lease");
    let before = w.store.get_connection(company, connection).await.expect("read").expect("connection");
    let linked = LinkedStore {
        store_hash: before.store_hash.clone().expect("hash"),
        secret_name: before.secret_name.clone().expect("secret"),
        info: Default::default(),
    };
    w.store.complete_link(company, connection, lease, &linked).await.expect("relinked");
    w.sync(&[DataType::Orders]).await;
    assert_eq!(events(&w, EventType::ReadCompletedInitial).await.len(), 1, "the other types have not read since");
    let rest: Vec<DataType> = provided().into_iter().filter(|t| *t != DataType::Orders).collect();
    w.sync(&rest).await;
    assert_eq!(events(&w, EventType::ReadCompletedInitial).await.len(), 2, "the re-link's initial read");
    let cleared = w.store.get_connection(company, connection).await.expect("read").expect("connection");
    assert_eq!(cleared.initial_read, None, "settled");
}

#[tokio::test]
async fn a_failed_read_reports_its_status() {
    let mut w = World::new(sizes(), 1, Duration::from_secs(60)).await;
    let datasets = w.sync(&[DataType::Customers]).await;
    assert_eq!(datasets[0].status, PullStatus::PermissionsError);
    let reads = events(&w, EventType::ReadCompleted).await;
    assert_eq!(reads.len(), 1);
    assert_eq!((outcome(&reads[0]).status, outcome(&reads[0]).records_modified), (PullStatus::PermissionsError, false));
}
