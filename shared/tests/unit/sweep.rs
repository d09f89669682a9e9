//! The scheduler's sweep over the in-memory twins: unsent jobs are sent again (once), dead runs
//! end with a message and are queued anew, live and waiting ones are left alone.

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use shared::adapters::memory::{MemoryQueue, MemoryStore};
use shared::domain::{Company, CompanyName, Connection, ConnectionStatus, DataType, JobReason, PullStatus, SyncJob};
use shared::error::StoreError;
use shared::ports::{CompanyStore, ConnectionStore, DatasetStore, JobQueue};
use shared::sweep::{SweepPolicy, sweep};
use shared::syncs::request_syncs;
use uuid::Uuid;

/// A queue that refuses everything (SQS down, or a policy without `sqs:SendMessage`).
struct DownQueue;

#[async_trait]
impl JobQueue for DownQueue {
    async fn enqueue(&self, _: &[SyncJob]) -> Result<(), StoreError> {
        Err(StoreError::Unavailable("SendMessageBatch: ServiceUnavailable".into()))
    }

    async fn redeliver_after(&self, _: &str, _: std::time::Duration) -> Result<(), StoreError> {
        Err(StoreError::Unavailable("ChangeMessageVisibility: ServiceUnavailable".into()))
    }
    async fn enqueue_erasures(&self, _: &[shared::domain::ErasureJob]) -> Result<(), StoreError> {
        Err(StoreError::Unavailable("queue down".into()))
    }
}

async fn linked(store: &MemoryStore, now: DateTime<Utc>) -> (Uuid, Uuid) {
    let company = Company {
        id: Uuid::new_v4(),
        name: CompanyName::parse("Swept Ltd").expect("name"),
        description: None,
        tags: Default::default(),
        link_token_hash: "x".into(),
        link_nonce: String::new(),
        created: now,
        last_sync: None,
    };
    store.create_company(&company).await.expect("company");
    let connection = Connection::create(company.id, now);
    store.create_connection(&connection).await.expect("connection");
    store
        .set_connection_status(company.id, connection.id, &[ConnectionStatus::PendingAuth], ConnectionStatus::Linked)
        .await
        .expect("linked");
    (company.id, connection.id)
}

async fn status(store: &MemoryStore, company: Uuid, id: Uuid) -> (PullStatus, Option<String>) {
    let d = store.dataset(company, id).await.expect("read").expect("dataset");
    (d.status, d.error_message)
}

#[tokio::test]
async fn a_job_that_never_reached_the_queue_is_sent_again_once() {
    let store = MemoryStore::new();
    let t0 = Utc::now();
    let (company, connection) = linked(&store, t0).await;
    let refused = request_syncs(&store, &DownQueue, company, connection, &[DataType::Orders], JobReason::Refresh, t0);
    assert!(refused.await.is_err(), "the queue refused");
    let dataset = store.datasets(company).await.expect("history")[0].clone();
    assert_eq!(dataset.status, PullStatus::Queued);

    let queue = MemoryQueue::default();
    let policy = SweepPolicy::default();
    let early = sweep(&store, &queue, t0 + Duration::seconds(60), &policy).await.expect("sweep");
    assert_eq!(early.resent, 0, "not before {} s", policy.unsent_after.num_seconds());
    // Two sweeps at once (two ticks): one sends it.
    let at = t0 + Duration::minutes(3);
    let (a, b) = tokio::join!(sweep(&store, &queue, at, &policy), sweep(&store, &queue, at, &policy));
    assert_eq!(a.expect("a").resent + b.expect("b").resent, 1);
    let jobs = queue.jobs();
    assert_eq!(jobs.len(), 1);
    assert_eq!((jobs[0].dataset_id, jobs[0].data_type, jobs[0].part), (dataset.id, DataType::Orders, 0));
    let later = sweep(&store, &queue, at + Duration::hours(2), &policy).await.expect("sweep");
    assert_eq!((later.resent, queue.jobs().len()), (0, 1), "sent once");
    assert_eq!(status(&store, company, dataset.id).await.0, PullStatus::Queued, "left to its run");
}

#[tokio::test]
async fn a_job_that_cannot_be_sent_for_an_hour_ends_saying_so_and_an_unlinked_one_is_cancelled() {
    let store = MemoryStore::new();
    let t0 = Utc::now();
    let (company, connection) = linked(&store, t0).await;
    let _ = request_syncs(&store, &DownQueue, company, connection, &[DataType::Orders], JobReason::Refresh, t0).await;
    let policy = SweepPolicy::default();
    let retried = sweep(&store, &DownQueue, t0 + Duration::minutes(3), &policy).await.expect("sweep");
    assert_eq!((retried.resent, retried.unsent_ended), (0, 0), "tried again later");
    let ended = sweep(&store, &DownQueue, t0 + Duration::minutes(70), &policy).await.expect("sweep");
    assert_eq!(ended.unsent_ended, 1);
    let dataset = store.datasets(company).await.expect("history")[0].id;
    let (final_status, message) = status(&store, company, dataset).await;
    assert_eq!(final_status, PullStatus::InternalError);
    assert!(message.as_deref().is_some_and(|m| m.contains("could not be queued")), "{message:?}");

    let (company, connection) = linked(&store, t0).await;
    let _ = request_syncs(&store, &DownQueue, company, connection, &[DataType::Products], JobReason::Refresh, t0).await;
    store
        .set_connection_status(company, connection, &[ConnectionStatus::Linked], ConnectionStatus::Unlinked)
        .await
        .expect("unlinked");
    let swept = sweep(&store, &MemoryQueue::default(), t0 + Duration::minutes(3), &policy).await.expect("sweep");
    assert_eq!(swept.unsent_ended, 1);
    let dataset = store.datasets(company).await.expect("history")[0].id;
    assert_eq!(status(&store, company, dataset).await.0, PullStatus::Cancelled);
}

#[tokio::test]
async fn a_run_that_died_ends_with_its_partners_and_its_data_types_are_queued_anew() {
    let store = MemoryStore::new();
    let t0 = Utc::now();
    let (company, connection) = linked(&store, t0).await;
    let queue = MemoryQueue::default();
    let types = [DataType::Orders, DataType::Payments, DataType::Transactions];
    let datasets = request_syncs(&store, &queue, company, connection, &types, JobReason::Refresh, t0).await.expect("q");
    let (orders, payments, transactions) = (datasets[0].id, datasets[1].id, datasets[2].id);
    // The orders run took its partners and checkpointed, then died (no further sign of life).
    let with =
        serde_json::json!({"page": 2, "with": {"commerce-payments": payments, "commerce-transactions": transactions}});
    let driven = serde_json::json!({"driven_by": orders}).to_string();
    for (id, checkpoint) in [(payments, &driven), (transactions, &driven), (orders, &with.to_string())] {
        assert!(store.checkpoint_dataset(company, id, 40, checkpoint).await.expect("checkpoint"));
        store.advance_dataset(company, id, PullStatus::Fetching, 40, None, t0).await.expect("fetching");
    }
    let policy = SweepPolicy::default();
    let alive = sweep(&store, &queue, t0 + Duration::minutes(10), &policy).await.expect("sweep");
    assert_eq!(alive.dead_ended, 0, "a run may live {} minutes", policy.dead_after.num_minutes());
    let jobs_before = queue.jobs().len();

    let swept = sweep(&store, &queue, t0 + Duration::minutes(21), &policy).await.expect("sweep");
    assert_eq!((swept.dead_ended, swept.requeued), (3, 3), "{swept:?}");
    for id in [orders, payments, transactions] {
        let (ended, message) = status(&store, company, id).await;
        assert_eq!(ended, PullStatus::InternalError);
        let message = message.unwrap_or_default();
        assert!(
            message.contains("no sign of life for 20 minutes") && message.contains("new sync was queued"),
            "{message}"
        );
    }
    let fresh = &queue.jobs()[jobs_before..];
    assert_eq!(fresh.iter().map(|j| j.data_type).collect::<Vec<_>>(), types);
    let statuses = store.data_statuses(company).await.expect("statuses");
    assert!(statuses.iter().all(|s| s.current_status == PullStatus::Queued), "{statuses:?}");
    let again = sweep(&store, &queue, t0 + Duration::minutes(22), &policy).await.expect("sweep");
    assert_eq!((again.dead_ended, again.requeued), (0, 0));
}

#[tokio::test]
async fn a_waiting_continuation_and_a_partner_of_a_live_run_are_left_alone() {
    let store = MemoryStore::new();
    let t0 = Utc::now();
    let (company, connection) = linked(&store, t0).await;
    let queue = MemoryQueue::default();
    let types = [DataType::Orders, DataType::Payments, DataType::Products];
    let datasets = request_syncs(&store, &queue, company, connection, &types, JobReason::Refresh, t0).await.expect("q");
    let (orders, payments, products) = (datasets[0].id, datasets[1].id, datasets[2].id);
    // Products handed over to a continuation that may wait six hours behind other jobs.
    store.advance_dataset(company, products, PullStatus::Fetching, 10, None, t0).await.expect("fetching");
    store.pause_dataset(company, products, t0 + Duration::hours(6)).await.expect("paused");
    // Payments is filled by the orders run, which is alive (it checkpointed just now).
    let driven = serde_json::json!({"driven_by": orders}).to_string();
    assert!(store.checkpoint_dataset(company, payments, 0, &driven).await.expect("marked"));
    store.advance_dataset(company, payments, PullStatus::Fetching, 0, None, t0 - Duration::hours(1)).await.expect("f");
    store.advance_dataset(company, orders, PullStatus::Fetching, 0, None, t0 + Duration::minutes(15)).await.expect("f");

    let swept = sweep(&store, &queue, t0 + Duration::minutes(21), &SweepPolicy::default()).await.expect("sweep");
    assert_eq!(swept.dead_ended, 0, "{swept:?}");
    for id in [orders, payments, products] {
        assert_eq!(status(&store, company, id).await.0, PullStatus::Fetching);
    }
    // Once the continuation's wait is over with no run, it is dead.
    let late = sweep(&store, &queue, t0 + Duration::hours(7), &SweepPolicy::default()).await.expect("sweep");
    assert!(late.dead_ended >= 1);
    assert_eq!(status(&store, company, products).await.0, PullStatus::InternalError);
}
