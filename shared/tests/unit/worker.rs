//! The sync worker's run logic over the in-memory twins (platform store, records, secrets,
//! queue) against the in-process sandbox store: no AWS emulator. Jobs are taken from the
//! in-memory queue in order, continuations included, as the event source mapping would hand
//! them over; a job that asks to be retried is run again, as a redelivery would.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use sandbox::{Mutations, Sandbox, SandboxOptions, Scope, Sizes, StoreConfig};
use secrecy::SecretString;
use shared::adapters::memory::{MemoryQueue, MemoryRecords, MemorySecrets, MemoryStore};
use shared::bigcommerce::{BigCommerceClient, Credentials, StoreHash};
use shared::domain::{Company, Connection, ConnectionStatus, DataType, Dataset, JobReason, PullStatus, SyncJob};
use shared::ports::{
    CompanyStore, ConnectionStore, DatasetStore, LinkStore, LinkedStore, RecordReader, RecordSet, RecordStore,
    StoredRecord,
};
use shared::sync::{JobReport, SyncWorker};
use shared::syncs::request_syncs;
use shared::vault::CredentialVault;
use tokio::sync::mpsc::{UnboundedReceiver, unbounded_channel};
use uuid::Uuid;

/// Every data type BigCommerce provides.
fn provided() -> Vec<DataType> {
    DataType::ALL.into_iter().filter(|d| d.supported()).collect()
}

/// Puts a fault-injecting record store in front of the twin.
pub(crate) type WrapRecords = Box<dyn FnOnce(Arc<MemoryRecords>) -> Arc<dyn RecordStore>>;

pub(crate) struct World {
    pub(crate) sandbox: Sandbox,
    pub(crate) config: StoreConfig,
    pub(crate) store: MemoryStore,
    pub(crate) records: Arc<MemoryRecords>,
    pub(crate) queue: Arc<MemoryQueue>,
    pub(crate) secrets: Arc<MemorySecrets>,
    pub(crate) worker: SyncWorker<MemoryStore>,
    pub(crate) reports: UnboundedReceiver<JobReport>,
    pub(crate) company: Uuid,
    pub(crate) connection: Uuid,
    /// Jobs of the queue handed over so far.
    pub(crate) taken: usize,
}

impl World {
    /// A linked connection to a fresh sandbox store of `sizes`, whose credentials are those of
    /// account `account` (0: every scope; 1: no customers scope), and a worker with `budget`.
    pub(crate) async fn new(sizes: Sizes, account: usize, budget: Duration) -> Self {
        Self::build(sizes, account, budget, None).await
    }

    /// [`World::new`], with the worker's record store wrapped by `wrap` (fault injection).
    pub(crate) async fn build(sizes: Sizes, account: usize, budget: Duration, wrap: Option<WrapRecords>) -> Self {
        let mut config = StoreConfig::from_seed(17, sizes);
        config.quota = 5_000;
        config.window = Duration::from_secs(1);
        let sandbox = Sandbox::start(SandboxOptions { stores: vec![config.clone()], ..Default::default() })
            .await
            .expect("sandbox");
        let store = MemoryStore::new();
        let draft = shared::codat::bodies::company_draft(&serde_json::json!({"name": "Twin Co"})).expect("draft");
        let company = Company::create(draft, Utc::now());
        store.create_company(&company).await.expect("company");
        let connection = Connection::create(company.id, Utc::now());
        store.create_connection(&connection).await.expect("connection");
        let secrets = Arc::new(MemorySecrets::default());
        let vault = CredentialVault::new(secrets.clone(), "twin/");
        let a = &config.accounts[account];
        let credentials = Credentials {
            client_id: SecretString::from(a.client_id.clone()),
            access_token: SecretString::from(a.access_token.clone()),
            store_hash: StoreHash::parse(&config.hash).expect("hash"),
        };
        let secret_name = vault.keep(company.id, connection.id, &credentials).await.expect("secret");
        let lease = Uuid::new_v4();
        store.begin_link(company.id, connection.id, lease, Utc::now(), 60).await.expect("lease");
        let linked = LinkedStore { store_hash: config.hash.clone(), secret_name, info: Default::default() };
        store.complete_link(company.id, connection.id, lease, &linked).await.expect("linked");
        let records = Arc::new(MemoryRecords::new());
        let queue = Arc::new(MemoryQueue::default());
        let base = url::Url::parse(sandbox.base_url()).expect("url");
        let (reports_to, reports) = unbounded_channel();
        let worker_records: Arc<dyn RecordStore> = match wrap {
            Some(wrap) => wrap(records.clone()),
            None => records.clone(),
        };
        let worker = SyncWorker::new(
            store.clone(),
            worker_records,
            secrets.clone(),
            queue.clone(),
            BigCommerceClient::new(base, Duration::from_secs(2), Duration::from_secs(10)).expect("client"),
            budget,
        )
        .with_reports(reports_to);
        Self {
            sandbox,
            config,
            store,
            records,
            queue,
            secrets,
            worker,
            reports,
            company: company.id,
            connection: connection.id,
            taken: 0,
        }
    }

    pub(crate) fn sandbox_store(&self) -> Arc<sandbox::Store> {
        self.sandbox.store(&self.config.hash).expect("store")
    }

    /// Requests `types` and runs every job the queue gets until it is empty.
    pub(crate) async fn sync(&mut self, types: &[DataType]) -> Vec<Dataset> {
        let datasets = self.request(types).await;
        self.drain().await;
        let mut ended = Vec::new();
        for d in datasets {
            ended.push(self.store.dataset(self.company, d.id).await.expect("read").expect("dataset"));
        }
        ended
    }

    /// Hands every queued job to the worker, in order (see [`World::step`]).
    pub(crate) async fn drain(&mut self) {
        while self.step().await {}
    }

    /// The reports of the runs since the last call.
    pub(crate) fn runs(&mut self) -> Vec<JobReport> {
        let mut runs = Vec::new();
        while let Ok(report) = self.reports.try_recv() {
            runs.push(report);
        }
        runs
    }

    /// Hands the next queued job to the worker (run again while it asks to be retried, at most
    /// five times); false when the queue has no job left.
    pub(crate) async fn step(&mut self) -> bool {
        let Some(job) = self.queue.jobs().get(self.taken).cloned() else { return false };
        self.taken += 1;
        let mut attempts = 0;
        while let Err(e) = self.worker.run(&job).await {
            attempts += 1;
            assert!(attempts < 5, "job {} kept failing: {e}", job.dataset_id);
        }
        true
    }

    /// Requests `types` without running their jobs.
    pub(crate) async fn request(&self, types: &[DataType]) -> Vec<Dataset> {
        request_syncs(
            &self.store,
            self.queue.as_ref(),
            self.company,
            self.connection,
            types,
            JobReason::Refresh,
            Utc::now(),
        )
        .await
        .expect("requested")
    }

    /// The current status of `data_type`'s latest dataset, and that dataset.
    pub(crate) async fn latest(&self, data_type: DataType) -> (PullStatus, Dataset) {
        let statuses = self.store.data_statuses(self.company).await.expect("statuses");
        let status = statuses.iter().find(|s| s.data_type == data_type).expect("status");
        let dataset = self.store.dataset(self.company, status.latest_sync_id).await.expect("read").expect("dataset");
        (status.current_status, dataset)
    }

    pub(crate) async fn stored(&self, data_type: DataType) -> Vec<StoredRecord> {
        self.records.every_record(RecordSet::new(self.connection, data_type)).await.expect("records")
    }
}

pub(crate) fn sizes() -> Sizes {
    Sizes { orders: 620, products: 60, customers: 300, categories: 6 }
}

#[tokio::test]
async fn a_first_sync_stores_exactly_what_the_store_holds() {
    let mut w = World::new(sizes(), 0, Duration::from_secs(60)).await;
    let datasets = w.sync(&provided()).await;
    assert!(datasets.iter().all(|d| d.status == PullStatus::Complete), "{datasets:#?}");
    let truth = devstack::truth::of_store(&w.sandbox_store());
    for data_type in provided() {
        let stored = w.stored(data_type).await;
        let expected = truth.counts.get(&data_type).copied();
        if let Some(expected) = expected {
            assert_eq!(stored.len(), expected, "{}", data_type.key());
        }
        let page = w.records.page(RecordSet::new(w.connection, data_type), 0, 1).await.expect("page").expect("sealed");
        assert_eq!(page.total as usize, stored.len(), "{}: the directory counts what is stored", data_type.key());
    }
    let runs = w.runs();
    assert!(runs.iter().all(|r| !r.incremental && !r.continued), "one full run per job");
    // Payments and transactions were filled by the orders run, from the same pass.
    let orders = runs.iter().find(|r| r.data_type == DataType::Orders).expect("orders run");
    let partners: Vec<DataType> = orders.partners.iter().map(|(t, _)| *t).collect();
    assert_eq!(partners, [DataType::Payments, DataType::Transactions]);
}

#[tokio::test]
async fn a_spent_budget_hands_over_to_continuations_that_finish_without_duplicates() {
    let mut w = World::new(sizes(), 0, Duration::from_millis(1)).await;
    let datasets = w.sync(&[DataType::Orders, DataType::Customers, DataType::Products]).await;
    assert!(datasets.iter().all(|d| d.status == PullStatus::Complete), "{datasets:#?}");
    let runs = w.runs();
    let continued = |data_type: DataType| runs.iter().filter(|r| r.data_type == data_type && r.continued).count();
    // 620 orders are 3 pages, 300 customers 2, 60 products 1: every page but the last ends a run.
    assert_eq!([continued(DataType::Orders), continued(DataType::Customers), continued(DataType::Products)], [2, 1, 0]);
    let parts: Vec<u32> = w.queue.jobs().iter().filter(|j| j.data_type == DataType::Orders).map(|j| j.part).collect();
    assert_eq!(parts, (0..parts.len() as u32).collect::<Vec<_>>(), "continuations count their parts");
    // No page of orders is asked for twice, and the continuations go on with the first count
    // (one more: the check for orders archived during the pass).
    let metrics = w.sandbox_store().metrics();
    let calls = |endpoint: &str| metrics.requests.get(endpoint).copied().unwrap_or_default();
    assert_eq!(calls("GET v2/orders"), 3, "{:?}", metrics.requests);
    assert_eq!(calls("GET v2/orders/count"), 2, "{:?}", metrics.requests);
    let truth = devstack::truth::of_store(&w.sandbox_store());
    for data_type in [DataType::Orders, DataType::Customers, DataType::Products] {
        assert_eq!(w.stored(data_type).await.len(), truth.counts[&data_type], "{}", data_type.key());
    }
}

#[tokio::test]
async fn a_job_delivered_again_after_it_completed_sends_nothing_to_the_store() {
    let mut w = World::new(sizes(), 0, Duration::from_secs(60)).await;
    w.sync(&[DataType::Orders]).await;
    let before = w.stored(DataType::Orders).await;
    let calls = w.sandbox_store().metrics().total_requests;
    let first = w.queue.jobs()[0].clone();
    w.worker.run(&first).await.expect("redelivery");
    assert_eq!(w.sandbox_store().metrics().total_requests, calls, "a final dataset is left alone");
    assert_eq!(w.stored(DataType::Orders).await, before);
}

#[tokio::test]
async fn after_a_full_sync_the_next_fetches_only_what_changed() {
    let mut w = World::new(sizes(), 0, Duration::from_secs(60)).await;
    w.sync(&[DataType::Orders]).await;
    w.runs();
    let touched = w.sandbox_store().mutate(Mutations { updates: 3, inserts: 2, ..Default::default() });
    let pages_before = w.sandbox_store().metrics().requests.get("GET v2/orders").copied().unwrap_or_default();
    let datasets = w.sync(&[DataType::Orders]).await;
    assert_eq!(datasets[0].status, PullStatus::Complete);
    let run = w.runs().into_iter().find(|r| r.data_type == DataType::Orders).expect("run");
    assert!(run.incremental, "changes only");
    assert_eq!(run.records, touched.orders.len() as u64, "only the changed orders are stored again");
    let pages = w.sandbox_store().metrics().requests.get("GET v2/orders").copied().unwrap_or_default() - pages_before;
    assert_eq!(pages, 2, "one page of changed orders and one of orders archived since, not the 3 pages of the store");
    let stored = w.stored(DataType::Orders).await;
    assert_eq!(touched.orders.len(), 5);
    for id in &touched.orders {
        assert!(stored.iter().any(|r| r.id == id.to_string()), "order {id} stored");
    }
    let truth = devstack::truth::of_store(&w.sandbox_store());
    assert_eq!(stored.len(), truth.counts[&DataType::Orders]);
}

#[tokio::test]
async fn a_revoked_token_deauthorizes_the_connection_and_stops_at_once() {
    let mut w = World::new(sizes(), 0, Duration::from_secs(60)).await;
    let client_id = w.config.accounts[0].client_id.clone();
    w.sandbox_store().set_revoked(&client_id, true);
    let datasets = w.sync(&[DataType::Orders]).await;
    assert_eq!(datasets[0].status, PullStatus::AuthError);
    let connection = w.store.get_connection(w.company, w.connection).await.expect("read").expect("connection");
    assert_eq!(connection.status, ConnectionStatus::Deauthorized);
    assert_eq!(w.sandbox_store().metrics().statuses.get(&401).copied(), Some(1), "no request after the first 401");
}

#[tokio::test]
async fn a_missing_scope_ends_its_data_type_and_the_others_complete() {
    let mut w = World::new(sizes(), 1, Duration::from_secs(60)).await;
    assert!(!w.config.accounts[1].scopes.contains(&Scope::Customers), "account 1 lacks the customers scope");
    let datasets = w.sync(&[DataType::Customers, DataType::Products]).await;
    let status =
        |data_type: DataType| datasets.iter().find(|d| d.data_type == data_type).map(|d| d.status).expect("dataset");
    assert_eq!(status(DataType::Customers), PullStatus::PermissionsError);
    assert_eq!(status(DataType::Products), PullStatus::Complete);
    assert!(w.stored(DataType::Customers).await.is_empty());
}

#[test]
fn jobs_carry_ids_and_no_credentials() {
    let job = SyncJob::new(Uuid::new_v4(), Uuid::new_v4(), DataType::Orders, JobReason::FirstLink, Utc::now());
    let text = serde_json::to_string(&job).expect("json");
    for field in ["accessToken", "clientSecret", "mode"] {
        assert!(!text.contains(field), "{field} in {text}");
    }
}

#[tokio::test]
async fn an_orders_sync_aggregates_net_sales_per_month_without_cancelled_orders() {
    use rust_decimal::Decimal;
    use shared::domain::SalesByMonth;
    use shared::domain::sales::SALES_AGGREGATE;
    let mut w = World::new(sizes(), 0, Duration::from_secs(60)).await;
    let datasets = w.sync(&[DataType::Orders]).await;
    assert!(datasets.iter().all(|d| d.status == PullStatus::Complete), "{datasets:#?}");
    let stored = w.records.aggregate(w.connection, SALES_AGGREGATE).await.expect("read").expect("aggregated at seal");
    let sales: SalesByMonth = serde_json::from_value(stored).expect("sales");
    // Expected from the whole stored records (not their summaries).
    let mut expected: std::collections::BTreeMap<String, Decimal> = Default::default();
    let mut cancelled = 0;
    let orders = w.stored(DataType::Orders).await;
    for order in &orders {
        let o = &order.record;
        if o["supplementalData"]["content"]["bigcommerce"]["statusId"] == 5 {
            cancelled += 1;
            continue;
        }
        let amount = |v: &serde_json::Value| v.to_string().parse::<Decimal>().unwrap_or_default();
        let month = o["createdDate"].as_str().expect("created")[..7].to_string();
        *expected.entry(month).or_default() += amount(&o["totalAmount"]) + amount(&o["totalRefund"]);
    }
    assert!(cancelled > 0, "the sandbox store has cancelled orders");
    let (currency, months) = sales.main_currency().expect("sales");
    assert_eq!(currency, orders[0].record["currency"].as_str().expect("currency"));
    assert_eq!(months, &expected);
    assert_eq!((sales.orders + sales.cancelled) as usize, orders.len());
    assert_eq!(sales.cancelled, cancelled);
}

#[tokio::test]
async fn a_full_pass_asks_for_the_refunds_of_each_page_of_orders_not_the_whole_list() {
    let mut w = World::new(sizes(), 0, Duration::from_secs(60)).await;
    let datasets = w.sync(&[DataType::Orders, DataType::Payments, DataType::Transactions]).await;
    assert!(datasets.iter().all(|d| d.status == PullStatus::Complete), "{datasets:#?}");
    let runs = w.runs();
    assert!(runs.iter().all(|r| !r.incremental), "a first sync is full");
    let metrics = w.sandbox_store().metrics();
    let calls = |endpoint: &str| metrics.requests.get(endpoint).copied().unwrap_or_default();
    // The live orders are 3 pages, listed twice: by the orders run (with line items) and by the
    // money pass (without), each page with its one refunds call; one transactions call per order.
    let live = w.stored(DataType::Orders).await.len();
    let pages = live.div_ceil(250) as u64;
    assert_eq!(pages, 3);
    assert_eq!(calls("GET v3/orders/payment_actions/refunds"), 2 * pages, "{:?}", metrics.requests);
    assert_eq!(calls("GET v2/orders"), 2 * pages, "{:?}", metrics.requests);
    assert_eq!(calls("GET v3/orders/{id}/transactions"), live as u64, "{:?}", metrics.requests);
    // And the refunds still reach every order that has them.
    let truth = devstack::truth::of_store(&w.sandbox_store());
    let stored = w.stored(DataType::Payments).await;
    let refund_payments = stored.iter().filter(|r| r.id.ends_with("_refund")).count();
    assert_eq!(refund_payments, truth.payments.keys().filter(|id| id.ends_with("_refund")).count());
    assert!(refund_payments > 0, "the store has refunds");
}

#[tokio::test]
async fn orders_are_complete_and_readable_while_their_transactions_are_still_being_fetched() {
    // A budget spent after each page: the money pass takes a run per page of orders.
    let mut w = World::new(sizes(), 0, Duration::from_millis(1)).await;
    w.request(&[DataType::Orders, DataType::Payments, DataType::Transactions]).await;
    let live = w.sandbox_store().data().orders.iter().filter(|o| !o.is_deleted).count();
    let data = shared::data::Data::new(w.store.clone(), w.records.clone());
    let orders = RecordSet::new(w.connection, DataType::Orders);
    let (mut checked, mut midway) = (0, 0);
    while w.step().await {
        let (orders_status, _) = w.latest(DataType::Orders).await;
        let (payments_status, payments) = w.latest(DataType::Payments).await;
        let (transactions_status, transactions) = w.latest(DataType::Transactions).await;
        if orders_status != PullStatus::Complete || payments_status.is_final() {
            continue;
        }
        checked += 1;
        // Every order is readable, through the sealed directory the list endpoint pages.
        data.readable(w.company, w.connection, DataType::Orders).await.expect("orders readable");
        let page = w.records.page(orders, 0, 1000).await.expect("read").expect("sealed");
        assert_eq!((page.total as usize, page.records.len()), (live, live));
        // Payments and transactions say where they are: running, not readable yet.
        for (status, dataset) in [(payments_status, &payments), (transactions_status, &transactions)] {
            assert!(PullStatus::RUNNING.contains(&status), "{status:?}");
            assert!(dataset.progress < 100, "{dataset:?}");
        }
        let refused = data.readable(w.company, w.connection, DataType::Payments).await;
        assert!(matches!(refused, Err(shared::data::DataError::NotSynced(DataType::Payments, _))), "{refused:?}");
        if payments.progress > 0 && transactions.progress > 0 {
            midway += 1;
        }
    }
    assert!(checked >= 3, "orders were Complete while the money pass ran: {checked} runs");
    assert!(midway >= 2, "progress shown midway through the money pass: {midway} runs");
    for data_type in [DataType::Orders, DataType::Payments, DataType::Transactions] {
        assert_eq!(w.latest(data_type).await.0, PullStatus::Complete, "{data_type:?}");
    }
    let truth = devstack::truth::of_store(&w.sandbox_store());
    assert_eq!(w.stored(DataType::Payments).await.len(), truth.payments.len());
    assert_eq!(w.stored(DataType::Transactions).await.len(), truth.transactions.len());
}

#[tokio::test]
async fn reconciliation_resumed_midway_removes_what_is_gone_and_no_live_record() {
    let mut w = World::new(sizes(), 0, Duration::from_secs(60)).await;
    let first = w.sync(&[DataType::Orders]).await;
    assert!(first.iter().all(|d| d.status == PullStatus::Complete), "{first:#?}");
    let archived = w.sandbox_store().mutate(Mutations { archives: 250, ..Default::default() }).orders;
    assert_eq!(archived.len(), 250);
    // A budget spent after each page and each chunk of lookups: the reconciliation continues.
    w.worker = SyncWorker::new(
        w.store.clone(),
        w.records.clone(),
        w.secrets.clone(),
        w.queue.clone(),
        BigCommerceClient::new(
            url::Url::parse(w.sandbox.base_url()).expect("url"),
            Duration::from_secs(2),
            Duration::from_secs(10),
        )
        .expect("client"),
        Duration::from_millis(1),
    )
    .with_full_sync_every(Duration::ZERO);
    w.request(&[DataType::Orders]).await;
    let orders = RecordSet::new(w.connection, DataType::Orders);
    let mut rewritten = false;
    let mut resumed_midway = 0;
    while w.step().await {
        let (status, dataset) = w.latest(DataType::Orders).await;
        let checkpoint: Option<serde_json::Value> =
            dataset.checkpoint.as_deref().and_then(|c| serde_json::from_str(c).ok());
        if status.is_final() || !checkpoint.as_ref().is_some_and(|c| c["reconcile"].is_object()) {
            continue;
        }
        resumed_midway += 1;
        if !rewritten {
            // Live orders written meanwhile by another pass (as a targeted sync would): unlisted
            // by this one, but alive, so they stay.
            let live: Vec<StoredRecord> = w
                .stored(DataType::Orders)
                .await
                .into_iter()
                .filter(|r| !archived.iter().any(|a| a.to_string() == r.id))
                .take(100)
                .collect();
            w.records.put_records(orders, &live, Some(Uuid::now_v7())).await.expect("rewritten");
            rewritten = true;
        }
    }
    assert!(resumed_midway >= 2, "the reconciliation went on over continuations: {resumed_midway}");
    assert_eq!(w.latest(DataType::Orders).await.0, PullStatus::Complete);
    let stored: std::collections::BTreeSet<String> =
        w.stored(DataType::Orders).await.into_iter().map(|r| r.id).collect();
    let live: std::collections::BTreeSet<String> =
        w.sandbox_store().data().orders.iter().filter(|o| !o.is_deleted).map(|o| o.id.to_string()).collect();
    assert_eq!(stored, live, "every archived order removed, every live one kept");
}
