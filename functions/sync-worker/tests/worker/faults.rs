//! The failure scenarios a sync must survive, each against moto and the sandbox's fault switches
//! (storage faults through the record store port). Each prints its figures: faults injected,
//! records lost, duplicate rows, repeated runs, DLQ count.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use sandbox::{Faults, Mutations, Sizes};
use shared::adapters::dynamodb::records::DynamoRecords;
use shared::domain::DataType;
use shared::error::StoreError;
use shared::ports::{RecordSet, RecordStore, RecordSummary, StoredRecord, TallyPage};
use uuid::Uuid;

use super::{Setup, World};

/// A store of three order pages (and one page of everything else).
fn three_pages() -> Sizes {
    Sizes { orders: 600, products: 40, customers: 100, categories: 3 }
}

/// Compares what is stored of `data_type` with the ground truth: (lost, extra). Ids are unique
/// by construction of the table key, so duplicates would show as extra ids.
async fn lost_and_extra(w: &World, data_type: DataType) -> (usize, usize) {
    let truth = devstack::truth::of_store(&w.sandbox());
    let stored: BTreeSet<String> = w.stored(data_type).await.into_iter().map(|r| r.id).collect();
    let expected: BTreeSet<String> = match data_type {
        DataType::Payments => truth.payments.keys().cloned().collect(),
        DataType::Transactions => truth.transactions.keys().cloned().collect(),
        DataType::Orders => {
            w.sandbox().data().orders.iter().filter(|o| !o.is_deleted).map(|o| o.id.to_string()).collect()
        }
        other => panic!("no id-level truth for {}", other.key()),
    };
    (expected.difference(&stored).count(), stored.difference(&expected).count())
}

#[tokio::test]
async fn a_429_storm_is_waited_out_without_a_request_before_the_reset() {
    let w = World::with(Setup {
        sizes: Sizes { orders: 150, ..three_pages() },
        quota: 100,
        window: Duration::from_secs(5),
        ..Setup::default()
    })
    .await;
    w.drop_first_syncs().await;
    w.sandbox().reset_metrics();
    let dataset = w.queue(DataType::Payments).await;
    // Another app of the store used the whole window, just before the job runs (exhausted
    // earlier, the window could reset while the job is queued; a 5 s window outlasts the run's
    // reads before its first request, even on a machine loaded by the whole suite, where 2 s
    // did not).
    w.sandbox().exhaust();
    let (runs, redeliveries, dead) = w.drain(5).await;
    let metrics = w.sandbox().metrics();
    let (lost, extra) = lost_and_extra(&w, DataType::Payments).await;
    println!(
        "429 storm: {} requests, {} answered 429, {} sent before a reset; {runs} runs, {lost} lost, {extra} extra, {dead} DLQ",
        metrics.total_requests, metrics.rate_limited, metrics.requests_before_reset_after_429
    );
    assert_eq!(w.dataset(&dataset["id"]).await["status"], "Complete");
    assert!(metrics.rate_limited >= 1, "the storm was felt");
    assert_eq!(metrics.requests_before_reset_after_429, 0, "no request before the window reset");
    assert_eq!((lost, extra, redeliveries, dead), (0, 0, 0, 0));
}

#[tokio::test]
async fn a_429_that_outlasts_the_budget_continues_from_the_checkpoint_without_a_busy_loop() {
    // Budget 0: the run may only finish requests already possible within the 5 s grace.
    let w = World::with(Setup { sizes: three_pages(), budget: Duration::ZERO, ..Setup::default() }).await;
    w.drop_first_syncs().await;
    let dataset = w.queue(DataType::Orders).await;
    let event = w.take_event().await;
    w.sandbox().set_rate_limit(1, Duration::from_secs(60));
    w.sandbox().exhaust();
    w.sandbox().reset_metrics();
    let response = w.worker.handle(event).await;
    assert!(response.batch_item_failures.is_empty(), "not failed towards the DLQ");
    let sent = w.sandbox().metrics().total_requests;
    assert!(sent <= 1, "one request learns the window; no busy loop ({sent} sent)");
    let running = w.dataset(&dataset["id"]).await;
    assert_eq!(running["status"], "Fetching", "still running, not failed");
    // The continuation waits on the queue; once the store has quota again it completes.
    w.sandbox().set_rate_limit(10_000, Duration::from_secs(1));
    let continuation = w.take_event().await;
    assert_eq!(continuation.records.len(), 1, "one continuation queued");
    let body: serde_json::Value =
        serde_json::from_str(continuation.records[0].body.as_deref().unwrap_or_default()).expect("job");
    assert_eq!((body["reason"].as_str(), body["part"].as_u64()), (Some("continuation"), Some(1)));
    assert!(w.worker.handle(continuation).await.batch_item_failures.is_empty());
    // Budget 0 still: one page per run from here, each run queueing the next.
    let (runs, redeliveries, dead) = w.drain(5).await;
    let (lost, extra) = lost_and_extra(&w, DataType::Orders).await;
    println!(
        "persistent 429: {sent} request(s) in the starved run, then {} continuation runs, {lost} lost, {extra} extra, {dead} DLQ",
        runs + 1
    );
    assert_eq!(w.dataset(&dataset["id"]).await["status"], "Complete");
    assert_eq!((lost, extra, redeliveries, dead), (0, 0, 0, 0));
}

#[tokio::test]
async fn five_xx_503s_timeouts_truncated_and_malformed_bodies_are_retried_and_nothing_is_lost() {
    let w = World::with(Setup {
        sizes: three_pages(),
        read_timeout: Duration::from_millis(700),
        budget: Duration::from_secs(60),
        ..Setup::default()
    })
    .await;
    w.drop_first_syncs().await;
    w.sandbox()
        .set_faults(Faults {
            error_rate: 0.04,
            transactions_503_rate: 0.15,
            truncate_rate: 0.03,
            malformed_rate: 0.03,
            slow_rate: 0.01,
            slow_ms: 1_000,
            ..Faults::default()
        })
        .expect("faults");
    w.sandbox().reset_metrics();
    let types = [DataType::Orders, DataType::Payments, DataType::Transactions, DataType::Customers];
    let mut datasets = Vec::new();
    for t in types {
        datasets.push(w.queue(t).await);
    }
    let (runs, redeliveries, dead) = w.drain(5).await;
    let metrics = w.sandbox().metrics();
    let mut lost_total = 0;
    for (t, dataset) in types.iter().zip(&datasets) {
        assert_eq!(w.dataset(&dataset["id"]).await["status"], "Complete", "{}", t.key());
        if *t != DataType::Customers {
            let (lost, extra) = lost_and_extra(&w, *t).await;
            assert_eq!((lost, extra), (0, 0), "{}", t.key());
            lost_total += lost;
        }
    }
    let customers: BTreeSet<String> = w.stored(DataType::Customers).await.into_iter().map(|r| r.id).collect();
    assert_eq!(customers.len(), 100, "every customer");
    println!(
        "5xx/503/slow/truncated/malformed: {} faults injected over {} requests; {runs} runs ({redeliveries} redelivered), {lost_total} lost, 0 duplicate rows, {dead} DLQ",
        metrics.faults_injected, metrics.total_requests
    );
    assert!(metrics.faults_injected >= 20, "faults were injected: {}", metrics.faults_injected);
    assert_eq!(dead, 0);
}

#[tokio::test]
async fn a_page_that_repeats_fails_the_job_loudly_without_duplicates() {
    let w = World::with(Setup { sizes: three_pages(), ..Setup::default() }).await;
    w.drop_first_syncs().await;
    w.sandbox().set_faults(Faults { repeat_page: true, ..Faults::default() }).expect("faults");
    let dataset = w.queue(DataType::Orders).await;
    let (runs, _, dead) = w.drain(5).await;
    let ended = w.dataset(&dataset["id"]).await;
    let stored = w.stored(DataType::Orders).await;
    println!("repeating page: {runs} run, status {}, {} rows stored, {dead} DLQ", ended["status"], stored.len());
    assert_eq!(ended["status"], "FetchError");
    assert!(ended["errorMessage"].as_str().is_some_and(|m| m.contains("repeated")), "{ended}");
    assert_eq!(stored.len(), 250, "the first page only, once");
    assert_eq!(dead, 0, "a loud failure, not a retry loop");
}

#[tokio::test]
async fn data_changing_between_pages_converges_on_the_next_sync() {
    let w = World::with(Setup { sizes: three_pages(), ..Setup::default() }).await;
    w.drop_first_syncs().await;
    let changes = Mutations { inserts: 3, updates: 5, archives: 2, ..Default::default() };
    w.sandbox().set_faults(Faults { mutate_per_page: changes, ..Faults::default() }).expect("faults");
    w.queue(DataType::Orders).await;
    w.drain(5).await;
    w.sandbox().set_faults(Faults::default()).expect("faults");
    let during = w.stored(DataType::Orders).await.len();
    let dataset = w.queue(DataType::Orders).await;
    w.drain(5).await;
    assert_eq!(w.dataset(&dataset["id"]).await["status"], "Complete");
    let (lost, extra) = lost_and_extra(&w, DataType::Orders).await;
    // Every live order carries the store's latest modification time.
    let live = w.sandbox().data().orders.clone();
    let stored: std::collections::HashMap<String, StoredRecord> =
        w.stored(DataType::Orders).await.into_iter().map(|r| (r.id.clone(), r)).collect();
    let mut stale = 0;
    for head in live.iter().filter(|o| !o.is_deleted) {
        let modified = stored.get(&head.id.to_string()).and_then(|r| r.modified).map(|m| m.timestamp());
        if modified != Some(head.modified) {
            stale += 1;
        }
    }
    println!(
        "changes between pages: {} inserted, {} updated, {} archived per page; {during} rows after the first sync; after the next: {lost} lost, {stale} stale, {extra} archived still stored",
        changes.inserts, changes.updates, changes.archives
    );
    assert_eq!((lost, stale, extra), (0, 0, 0));
}

/// A record store that fails every `fail_every`-th write after writing half of it: DynamoDB
/// throttling that outlasted the adapter's retries, or a worker killed mid-batch. It also fails
/// its first `seal_failures` seals (a run failing after its last page).
#[derive(Default)]
struct Flaky {
    inner: Option<Arc<DynamoRecords>>,
    fail_every: u32,
    calls: AtomicU32,
    failures: Arc<AtomicU32>,
    after_write: Option<Box<dyn Fn(u32) + Send + Sync>>,
    seal_failures: AtomicU32,
}

impl Flaky {
    fn inner(&self) -> &DynamoRecords {
        self.inner.as_deref().expect("the real record store")
    }
}

#[async_trait]
impl RecordStore for Flaky {
    async fn put_records(
        &self,
        set: RecordSet,
        records: &[StoredRecord],
        pass: Option<Uuid>,
    ) -> Result<(), StoreError> {
        let n = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
        if self.fail_every > 0 && n.is_multiple_of(self.fail_every) {
            self.inner().put_records(set, &records[..records.len() / 2], pass).await?;
            self.failures.fetch_add(1, Ordering::SeqCst);
            return Err(StoreError::Unavailable("injected: throttled after a partial write".into()));
        }
        self.inner().put_records(set, records, pass).await?;
        if let Some(hook) = &self.after_write {
            hook(n);
        }
        Ok(())
    }

    async fn tally_page(
        &self,
        set: RecordSet,
        pass: Uuid,
        after: Option<&str>,
        limit: usize,
    ) -> Result<TallyPage, StoreError> {
        self.inner().tally_page(set, pass, after, limit).await
    }

    async fn seal(&self, set: RecordSet) -> Result<shared::ports::Sealed, StoreError> {
        if self.seal_failures.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok() {
            return Err(StoreError::Unavailable("injected: the seal failed".into()));
        }
        self.inner().seal(set).await
    }

    async fn delete_records(&self, set: RecordSet, ids: &[String]) -> Result<(), StoreError> {
        self.inner().delete_records(set, ids).await
    }

    async fn summaries(&self, set: RecordSet, visit: &mut (dyn FnMut(RecordSummary) + Send)) -> Result<(), StoreError> {
        self.inner().summaries(set, visit).await
    }

    async fn put_aggregate(&self, connection: Uuid, name: &str, value: &serde_json::Value) -> Result<(), StoreError> {
        self.inner().put_aggregate(connection, name, value).await
    }

    async fn ids_with_prefix(&self, set: RecordSet, prefix: &str) -> Result<Vec<String>, StoreError> {
        self.inner().ids_with_prefix(set, prefix).await
    }

    async fn erase(&self, set: RecordSet, limit: usize) -> Result<(u64, bool), StoreError> {
        self.inner().erase(set, limit).await
    }

    async fn erase_aggregates(&self, connection: Uuid) -> Result<u64, StoreError> {
        self.inner().erase_aggregates(connection).await
    }
}

#[tokio::test]
async fn storage_failures_mid_batch_are_redelivered_and_converge_with_the_checkpoint_never_ahead() {
    let failures = Arc::new(AtomicU32::new(0));
    let counter = failures.clone();
    let w = World::with(Setup {
        sizes: three_pages(),
        records: Some(Box::new(move |inner| {
            // The orders run also fills the first link's payments and transactions: three writes
            // per page, so every fourth write fails, each time in a different page.
            Arc::new(Flaky { inner: Some(inner), fail_every: 4, failures: counter, ..Flaky::default() })
        })),
        ..Setup::default()
    })
    .await;
    w.drop_first_syncs().await;
    let dataset = w.queue(DataType::Orders).await;
    // Filled in the same pass: three writes a page.
    w.queue(DataType::Payments).await;
    w.queue(DataType::Transactions).await;
    let event = w.take_event().await;
    let mut runs = 0;
    loop {
        runs += 1;
        let failed = !w.worker.handle(event.clone()).await.batch_item_failures.is_empty();
        // After every run, the checkpoint covers only what is stored.
        let status = w.dataset(&dataset["id"]).await;
        let stored = w.stored(DataType::Orders).await.len() as u64;
        let progress = status["progress"].as_u64().unwrap_or_default();
        if status["status"] != "Complete" {
            assert!(progress * 600 / 100 <= stored, "progress {progress}% with {stored} stored");
        }
        if !failed {
            break;
        }
        assert!(runs < 10, "converges");
    }
    let (lost, extra) = lost_and_extra(&w, DataType::Orders).await;
    let injected = failures.load(Ordering::SeqCst);
    println!(
        "storage failures: {injected} injected (each after a partial write); {runs} runs ({} redelivered), {lost} lost, {extra} duplicate or extra rows, 0 DLQ",
        runs - 1
    );
    assert_eq!(w.dataset(&dataset["id"]).await["status"], "Complete");
    assert!(injected >= 2, "faults were injected");
    assert_eq!((lost, extra), (0, 0));
}

#[tokio::test]
async fn a_token_revoked_mid_sync_deauthorizes_without_retries_and_keeps_the_data() {
    // Payments: after the first page of orders is stored, the next page's transaction calls
    // meet the revoked token.
    let store = Arc::new(std::sync::OnceLock::<(Arc<sandbox::Store>, String)>::new());
    let target = store.clone();
    let w = World::with(Setup {
        sizes: three_pages(),
        records: Some(Box::new(move |inner| {
            let hook = move |n: u32| {
                if n == 1
                    && let Some((store, client_id)) = target.get()
                {
                    store.set_revoked(client_id, true);
                }
            };
            Arc::new(Flaky { inner: Some(inner), after_write: Some(Box::new(hook)), ..Flaky::default() })
        })),
        ..Setup::default()
    })
    .await;
    let _ = store.set((w.sandbox(), w.store.accounts[0].client_id.clone()));
    w.drop_first_syncs().await;
    let dataset = w.queue(DataType::Payments).await;
    w.sandbox().reset_metrics();
    let (runs, redeliveries, dead) = w.drain(5).await;
    let ended = w.dataset(&dataset["id"]).await;
    let metrics = w.sandbox().metrics();
    let unauthorized = metrics.statuses.get(&401).copied().unwrap_or_default();
    let stored = w.stored(DataType::Payments).await.len();
    let truth = devstack::truth::of_store(&w.sandbox()).payments.len();
    println!(
        "401 mid-sync: {runs} run, {} requests ({unauthorized} answered 401), status {}, {stored} of {truth} rows kept, {dead} DLQ",
        metrics.total_requests, ended["status"]
    );
    assert_eq!(ended["status"], "AuthError");
    assert_eq!((redeliveries, dead), (0, 0), "no retries");
    assert!(stored > 0 && stored < truth, "the page synced before the revocation stays readable");
    // Only calls already in flight when the first 401 came back meet it: at most one page's.
    assert!((1..=250).contains(&unauthorized), "no retry storm: {unauthorized} requests answered 401");
    let connection = w
        .api
        .expect("GET", &format!("/companies/{}/connections/{}", w.company, w.connection), None, 200)
        .await
        .expect("connection");
    assert_eq!(connection["status"], "Deauthorized");
}

#[tokio::test]
async fn a_run_failing_after_its_last_page_resumes_there_not_from_the_first_page() {
    let w = World::with(Setup {
        records: Some(Box::new(|inner| {
            Arc::new(Flaky { inner: Some(inner), seal_failures: AtomicU32::new(1), ..Flaky::default() })
        })),
        ..Setup::default()
    })
    .await;
    w.drop_first_syncs().await;
    let product_calls = || -> u64 {
        w.sandbox().metrics().requests.iter().filter(|(k, _)| k.ends_with("v3/catalog/products")).map(|(_, n)| n).sum()
    };
    let before = product_calls();
    let dataset = w.queue(DataType::Products).await;
    let (runs, redeliveries, dead) = w.drain(5).await;
    assert_eq!(w.dataset(&dataset["id"]).await["status"], "Complete");
    assert_eq!((runs, redeliveries, dead), (2, 1, 0), "the failed seal sent the job back once");
    // Pages 1 and 2, then the redelivery resumes after page 2: one call finds the end.
    assert_eq!(product_calls() - before, 3, "the listing did not start over");
    assert_eq!(w.stored(DataType::Products).await.len(), 300);
}
