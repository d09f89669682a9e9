//! How failing jobs end, over the twins: growing backoffs on the message, the last receive ending
//! the dataset and its partners, permanent errors ending at once, runs that make no progress
//! bounded, and Lambda's deadline kept whatever the quota.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
use chrono::Utc;
use sandbox::Faults;
use shared::adapters::memory::MemoryRecords;
use shared::domain::{DataType, JobReason, PullStatus, SyncJob};
use shared::error::StoreError;
use shared::ports::{DatasetStore, RecordSet, RecordStore, RecordSummary, StoredRecord, TallyPage};
use shared::sync::RetryPolicy;
use shared::syncs::request_syncs;
use uuid::Uuid;

use super::worker::{World, WrapRecords, sizes};

/// A record store whose writes fail with `error` (reads and the rest pass through).
struct Refusing {
    inner: Arc<MemoryRecords>,
    error: fn() -> StoreError,
    refusals: Arc<AtomicU32>,
}

#[async_trait]
impl RecordStore for Refusing {
    async fn put_records(&self, _: RecordSet, _: &[StoredRecord], _: Option<Uuid>) -> Result<(), StoreError> {
        self.refusals.fetch_add(1, Ordering::SeqCst);
        Err((self.error)())
    }
    async fn delete_records(&self, set: RecordSet, ids: &[String]) -> Result<(), StoreError> {
        self.inner.delete_records(set, ids).await
    }
    async fn ids_with_prefix(&self, set: RecordSet, prefix: &str) -> Result<Vec<String>, StoreError> {
        self.inner.ids_with_prefix(set, prefix).await
    }
    async fn tally_page(
        &self,
        set: RecordSet,
        pass: Uuid,
        after: Option<&str>,
        limit: usize,
    ) -> Result<TallyPage, StoreError> {
        self.inner.tally_page(set, pass, after, limit).await
    }
    async fn seal(&self, set: RecordSet) -> Result<shared::ports::Sealed, StoreError> {
        self.inner.seal(set).await
    }
    async fn summaries(&self, set: RecordSet, visit: &mut (dyn FnMut(RecordSummary) + Send)) -> Result<(), StoreError> {
        self.inner.summaries(set, visit).await
    }
    async fn put_aggregate(&self, connection: Uuid, name: &str, value: &serde_json::Value) -> Result<(), StoreError> {
        self.inner.put_aggregate(connection, name, value).await
    }
    async fn erase(&self, _: RecordSet, _: usize) -> Result<(u64, bool), StoreError> {
        Ok((0, false))
    }
    async fn erase_aggregates(&self, _: Uuid) -> Result<u64, StoreError> {
        Ok(0)
    }
}

fn refusing(error: fn() -> StoreError, refusals: Arc<AtomicU32>) -> Option<WrapRecords> {
    Some(Box::new(move |inner| Arc::new(Refusing { inner, error, refusals }) as Arc<dyn RecordStore>))
}

/// The SQS event of `job` on its `receives`-th receive, as Lambda passes it.
fn event(job: &SyncJob, receives: u32) -> SqsEvent {
    let mut message = SqsMessage::default();
    message.message_id = Some(format!("m-{}", job.dataset_id));
    message.receipt_handle = Some(format!("receipt-{receives}"));
    message.body = Some(serde_json::to_string(job).expect("json"));
    message.attributes.insert("ApproximateReceiveCount".into(), receives.to_string());
    let mut event = SqsEvent::default();
    event.records = vec![message];
    event
}

/// Requests orders with its payments and transactions partners; returns the orders job.
async fn orders_with_partners(w: &World) -> (SyncJob, Vec<Uuid>) {
    let types = [DataType::Orders, DataType::Payments, DataType::Transactions];
    let datasets =
        request_syncs(&w.store, w.queue.as_ref(), w.company, w.connection, &types, JobReason::Refresh, Utc::now())
            .await
            .expect("requested");
    (w.queue.jobs()[0].clone(), datasets.iter().map(|d| d.id).collect())
}

async fn status(w: &World, id: Uuid) -> (PullStatus, String) {
    let d = w.store.dataset(w.company, id).await.expect("read").expect("dataset");
    (d.status, d.error_message.unwrap_or_default())
}

#[tokio::test]
async fn a_job_failing_on_every_receive_backs_off_growing_then_ends_with_its_partners_on_the_last() {
    let refusals = Arc::new(AtomicU32::new(0));
    let unavailable = || StoreError::Unavailable("ProvisionedThroughputExceededException: slow down".into());
    let w = World::build(sizes(), 0, Duration::from_secs(60), refusing(unavailable, refusals.clone())).await;
    let (job, ids) = orders_with_partners(&w).await;
    let policy = RetryPolicy::default();
    for receives in 1..=policy.max_receives {
        let response = w.worker.handle_within(event(&job, receives), None).await;
        assert_eq!(response.batch_item_failures.len(), 1, "receive {receives} fails towards the DLQ");
        if receives < policy.max_receives {
            for id in &ids {
                assert!(!status(&w, *id).await.0.is_final(), "still running after receive {receives}");
            }
        }
    }
    let waits: Vec<(String, u64)> = w.queue.redeliveries().into_iter().map(|(r, d)| (r, d.as_secs())).collect();
    let expected: Vec<(String, u64)> =
        [(1, 10), (2, 30), (3, 90), (4, 270), (5, 0)].iter().map(|(r, s)| (format!("receipt-{r}"), *s)).collect();
    assert_eq!(waits, expected, "each retry waits three times longer; the last goes to the DLQ at once");
    assert_eq!(policy.backoff(5), Duration::from_secs(300), "at most five minutes");
    assert!(refusals.load(Ordering::SeqCst) >= 5);
    for id in ids {
        let (ended, message) = status(&w, id).await;
        assert_eq!(ended, PullStatus::InternalError, "{message}");
        assert!(message.contains("Gave up after 5 attempts") && message.contains("ProvisionedThroughput"), "{message}");
    }
}

#[tokio::test]
async fn a_storage_refusal_ends_the_dataset_at_once_naming_the_cause() {
    let refusals = Arc::new(AtomicU32::new(0));
    let too_large =
        || StoreError::Backend("ValidationException: Item size has exceeded the maximum allowed size".into());
    let w = World::build(sizes(), 0, Duration::from_secs(60), refusing(too_large, refusals.clone())).await;
    let (job, ids) = orders_with_partners(&w).await;
    let response = w.worker.handle_within(event(&job, 1), None).await;
    assert!(response.batch_item_failures.is_empty(), "not retried: a retry cannot mend it");
    assert!(w.queue.redeliveries().is_empty());
    assert_eq!(refusals.load(Ordering::SeqCst), 1, "one write tried");
    for id in ids {
        let (ended, message) = status(&w, id).await;
        assert_eq!(ended, PullStatus::InternalError);
        assert!(message.contains("Storage refused the sync") && message.contains("ValidationException"), "{message}");
    }
}

#[tokio::test]
async fn continuations_that_store_nothing_end_the_dataset_after_five_in_a_row() {
    // No budget and a rate-limit window longer than the grace: no run can fetch a page.
    let mut w = World::new(sizes(), 0, Duration::ZERO).await;
    w.sandbox_store().set_rate_limit(1, Duration::from_secs(120));
    w.sandbox_store().exhaust();
    let datasets = w.sync(&[DataType::Products]).await;
    let (ended, message) = status(&w, datasets[0].id).await;
    assert_eq!(ended, PullStatus::FetchError);
    assert!(message.contains("No progress in 5 runs in a row"), "{message}");
    let stalled: Vec<u32> = w.queue.jobs().iter().map(|j| j.stalled).collect();
    assert_eq!(stalled, [0, 1, 2, 3, 4], "each continuation counts the runs without progress");
    assert!(w.sandbox_store().metrics().total_requests <= 5, "no busy loop");
}

#[tokio::test]
async fn a_run_hands_over_before_lambdas_deadline_even_with_quota_to_spare() {
    // A job budget far beyond the invocation: Lambda's deadline must win.
    let w = World::new(sizes(), 0, Duration::from_secs(600)).await;
    w.sandbox_store().set_faults(Faults { latency_ms: 120, ..Default::default() }).expect("faults");
    let (job, ids) = orders_with_partners(&w).await;
    let started = std::time::Instant::now();
    let deadline = SystemTime::now() + Duration::from_secs(5);
    let response = w.worker.handle_within(event(&job, 1), Some(deadline)).await;
    let took = started.elapsed();
    assert!(response.batch_item_failures.is_empty());
    assert!(took < Duration::from_secs(3), "ended 3 s before Lambda's deadline, took {took:?}");
    let jobs = w.queue.jobs();
    // Orders come first and may be Complete by then: the run handed over is whichever pass
    // the deadline found (the orders', or the money pass over payments and transactions).
    let next = jobs.iter().find(|j| j.part == 1).expect("a continuation");
    assert_eq!(next.reason, JobReason::Continuation);
    assert!(ids.contains(&next.dataset_id), "a continuation of this sync's datasets");
    assert!(!status(&w, next.dataset_id).await.0.is_final(), "the continuation finishes it");
    // The message is held only as long as the invocation can live, not the visibility timeout.
    let held = w.queue.redeliveries();
    assert_eq!(held.len(), 1);
    assert!(held[0].1 <= Duration::from_secs(5 + 30), "{held:?}");
}

#[tokio::test]
async fn a_redelivery_takes_back_the_partners_its_killed_attempt_claimed_before_recording_them() {
    let mut w = World::new(sizes(), 0, Duration::from_secs(60)).await;
    let (job, ids) = orders_with_partners(&w).await;
    let (payments, transactions) = (ids[1], ids[2]);
    // The killed attempt marked both partners and moved payments to Fetching, then died before
    // writing its own checkpoint (which names them).
    let marker = serde_json::json!({"driven_by": job.dataset_id}).to_string();
    for partner in [payments, transactions] {
        assert!(w.store.checkpoint_dataset(w.company, partner, 0, &marker).await.expect("marked"));
    }
    w.store.advance_dataset(w.company, payments, PullStatus::Fetching, 0, None, Utc::now()).await.expect("fetching");
    w.worker.run(&job).await.expect("redelivery");
    w.taken = 1;
    w.drain().await;
    let truth = devstack::truth::of_store(&w.sandbox_store());
    for (id, data_type) in [(payments, DataType::Payments), (transactions, DataType::Transactions)] {
        assert_eq!(status(&w, id).await.0, PullStatus::Complete, "{}", data_type.key());
        assert_eq!(w.stored(data_type).await.len(), truth.counts[&data_type], "{}", data_type.key());
    }
}
