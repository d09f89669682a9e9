//! The sync worker against moto and the sandbox store: jobs taken from the real queue and
//! handed over as the SQS event source mapping does. `faults` runs the failure scenarios a sync
//! must survive (429 storms, 5xx, slow, truncated and malformed pages, repeated pages, data
//! changing between pages, storage failing mid-batch, a token revoked mid-sync) against the
//! sandbox's fault switches.

mod erasure;
mod faults;
mod kills;
mod limits;
mod logs;
mod reconcile;

use std::sync::Arc;
use std::time::Duration;

use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
use devstack::client::ApiClient;
use devstack::stack::{DevStack, StackOptions};
use sandbox::{Sizes, StoreConfig};
use serde_json::{Value, json};
use shared::adapters::dynamodb::DynamoStore;
use shared::adapters::dynamodb::records::DynamoRecords;
use shared::adapters::secrets_manager::SecretsManagerStore;
use shared::bigcommerce::BigCommerceClient;
use shared::domain::DataType;
use shared::ports::{RecordReader, RecordSet, RecordStore};
use shared::sync::SyncWorker;
use uuid::Uuid;

struct World {
    stack: DevStack,
    api: ApiClient,
    store: StoreConfig,
    worker: SyncWorker<DynamoStore>,
    records: Arc<DynamoRecords>,
    sqs: aws_sdk_sqs::Client,
    company: String,
    connection: String,
}

fn endpoint() -> String {
    devstack::emulator_endpoint()
}

/// How a world's store and worker are set up.
struct Setup {
    sizes: Sizes,
    quota: u32,
    window: Duration,
    /// The worker's time budget per job.
    budget: Duration,
    /// The BigCommerce client's read timeout.
    read_timeout: Duration,
    /// Wraps the record store (fault injection through the storage port).
    records: Option<WrapRecords>,
    /// How old a data type's last full sync may get before the next sync is full again.
    full_sync_every: Option<Duration>,
}

/// Puts a fault-injecting record store in front of the real one.
type WrapRecords = Box<dyn FnOnce(Arc<DynamoRecords>) -> Arc<dyn RecordStore>>;

impl Default for Setup {
    fn default() -> Self {
        Self {
            // Seed 41 with 60 orders has live orders of more than 250 line items.
            sizes: Sizes { orders: 60, products: 300, customers: 600, categories: 3 },
            quota: 10_000,
            window: Duration::from_secs(30),
            budget: Duration::from_secs(30),
            read_timeout: Duration::from_secs(5),
            records: None,
            full_sync_every: None,
        }
    }
}

impl World {
    async fn new() -> Self {
        Self::with(Setup::default()).await
    }

    /// A world whose worker starts no new page after `budget` in a job.
    async fn with_budget(budget: Duration) -> Self {
        Self::with(Setup { budget, ..Setup::default() }).await
    }

    async fn with(setup: Setup) -> Self {
        let mut store = StoreConfig::from_seed(41, setup.sizes);
        store.quota = setup.quota;
        store.window = setup.window;
        let mut options = StackOptions {
            port: 0,
            aws_endpoint: Some(endpoint()),
            run_worker: false,
            name_prefix: format!("w{}-", Uuid::new_v4().simple()),
            ..StackOptions::default()
        };
        options.sandbox.stores = vec![store.clone()];
        let stack = DevStack::start(options).await.expect("stack");
        let api = ApiClient::new(&stack.api_url, &stack.api_key);
        // The test inspects as the admin; the worker runs as its own principal.
        let sdk = stack.admin_sdk();
        let records =
            Arc::new(DynamoRecords::new(aws_sdk_dynamodb::Client::new(&sdk), stack.tables["DataTable"].clone()));
        let own = stack.function_sdk("SyncWorkerFunction").expect("the worker's principal");
        let dynamo = aws_sdk_dynamodb::Client::new(&own);
        let base = url::Url::parse(stack.sandbox.base_url()).expect("url");
        let queue = shared::adapters::sqs::SqsJobQueue::new(
            aws_sdk_sqs::Client::new(&own),
            stack.resources.queues["SyncJobsQueue"].clone(),
        );
        let own_records = Arc::new(DynamoRecords::new(dynamo.clone(), stack.tables["DataTable"].clone()));
        let worker_records: Arc<dyn RecordStore> = match setup.records {
            Some(wrap) => wrap(own_records),
            None => own_records,
        };
        let mut worker = SyncWorker::new(
            DynamoStore::new(dynamo, stack.tables["PlatformTable"].clone()),
            worker_records,
            Arc::new(SecretsManagerStore::new(aws_sdk_secretsmanager::Client::new(&own))),
            Arc::new(queue),
            BigCommerceClient::new(base, Duration::from_secs(2), setup.read_timeout).expect("client"),
            setup.budget,
        );
        if let Some(every) = setup.full_sync_every {
            worker = worker.with_full_sync_every(every);
        }
        let company =
            api.expect("POST", "/companies", Some(&json!({"name": "Worker Co"})), 200).await.expect("company");
        let company = company["id"].as_str().expect("id").to_string();
        let connection = api
            .expect("POST", &format!("/companies/{company}/connections"), Some(&json!({"platformKey": "vqzp"})), 200)
            .await
            .expect("c");
        let connection = connection["id"].as_str().expect("id").to_string();
        let body = stack.sandbox_credentials();
        api.expect("PUT", &format!("/companies/{company}/connections/{connection}/authorization"), Some(&body), 200)
            .await
            .expect("link");
        let sqs = aws_sdk_sqs::Client::new(&sdk);
        Self { stack, api, store, worker, records, sqs, company, connection }
    }

    /// Receives what is on the queue (deleting it, as a successful invocation does) and returns
    /// it as the event the event source mapping would deliver.
    async fn take_event(&self) -> SqsEvent {
        let url = &self.stack.resources.queues["SyncJobsQueue"];
        let mut records = Vec::new();
        loop {
            let out =
                self.sqs.receive_message().queue_url(url).max_number_of_messages(10).send().await.expect("receive");
            let batch = out.messages.unwrap_or_default();
            if batch.is_empty() {
                break;
            }
            for m in batch {
                let mut message = SqsMessage::default();
                message.message_id = m.message_id.clone();
                message.body = m.body.clone();
                records.push(message);
                self.sqs
                    .delete_message()
                    .queue_url(url)
                    .receipt_handle(m.receipt_handle().expect("receipt"))
                    .send()
                    .await
                    .expect("delete");
            }
        }
        let mut event = SqsEvent::default();
        event.records = records;
        event
    }

    /// Takes the first-link jobs off the queue and ends their datasets (Cancelled), for tests
    /// that queue their own: a Queued data type would answer their refreshes instead.
    async fn drop_first_syncs(&self) {
        let store = DynamoStore::new(
            aws_sdk_dynamodb::Client::new(&self.stack.admin_sdk()),
            self.stack.tables["PlatformTable"].clone(),
        );
        let company = Uuid::parse_str(&self.company).expect("uuid");
        for message in self.take_event().await.records {
            let job: shared::domain::SyncJob =
                serde_json::from_str(message.body.as_deref().unwrap_or_default()).expect("job");
            shared::ports::DatasetStore::advance_dataset(
                &store,
                company,
                job.dataset_id,
                shared::domain::PullStatus::Cancelled,
                0,
                Some("dropped by the test".into()),
                chrono::Utc::now(),
            )
            .await
            .expect("cancel");
        }
    }

    /// Queues one data type of the world's connection (`POST …/data/queue/{dataType}`) and
    /// returns the PullOperation.
    async fn queue(&self, data_type: DataType) -> Value {
        let path =
            format!("/companies/{}/data/queue/{}?connectionId={}", self.company, data_type.key(), self.connection);
        self.api.expect("POST", &path, None, 200).await.expect("queue")
    }

    /// A PullOperation by id.
    async fn dataset(&self, id: &Value) -> Value {
        let path = format!("/companies/{}/data/history/{}", self.company, id.as_str().expect("dataset id"));
        self.api.expect("GET", &path, None, 200).await.expect("dataset")
    }

    /// Works the queue until it is empty, as the event source mapping would: a message that
    /// fails is delivered again (up to `max_receives` times, then it would be in the DLQ).
    /// Returns (runs, redeliveries, messages that ended in the DLQ).
    async fn drain(&self, max_receives: u32) -> (u32, u32, u32) {
        let (mut runs, mut redeliveries, mut dead) = (0, 0, 0);
        loop {
            let event = self.take_event().await;
            if event.records.is_empty() {
                return (runs, redeliveries, dead);
            }
            for message in event.records {
                let mut single = SqsEvent::default();
                single.records = vec![message];
                let mut receives = 0;
                loop {
                    receives += 1;
                    runs += 1;
                    if self.worker.handle(single.clone()).await.batch_item_failures.is_empty() {
                        break;
                    }
                    if receives == max_receives {
                        dead += 1;
                        break;
                    }
                    redeliveries += 1;
                }
            }
        }
    }

    /// Every stored record of a data type of the world's connection.
    async fn stored(&self, data_type: DataType) -> Vec<shared::ports::StoredRecord> {
        let connection = Uuid::parse_str(&self.connection).expect("uuid");
        self.records.every_record(RecordSet::new(connection, data_type)).await.expect("read")
    }

    async fn data_status(&self) -> Value {
        self.api.expect("GET", &format!("/companies/{}/dataStatus", self.company), None, 200).await.expect("status")
    }

    /// Stored payments and transactions are exactly the store's (ids and amounts to the cent).
    async fn assert_money_is_the_stores(&self) {
        let truth = devstack::truth::of_store(&self.sandbox());
        for (data_type, expected, amount) in [
            (DataType::Payments, &truth.payments, "amount"),
            (DataType::Transactions, &truth.transactions, "totalAmount"),
        ] {
            let got: std::collections::BTreeMap<String, i64> = self
                .stored(data_type)
                .await
                .iter()
                .map(|r| (r.id.clone(), devstack::truth::cents(&r.record[amount])))
                .collect();
            let missing: Vec<_> = expected.iter().filter(|(id, cents)| got.get(*id) != Some(cents)).collect();
            let extra: Vec<_> = got.iter().filter(|(id, cents)| expected.get(*id) != Some(cents)).collect();
            assert!(
                missing.is_empty() && extra.is_empty(),
                "{}: the store gives {missing:?}, stored {extra:?}",
                data_type.key()
            );
        }
    }

    fn sandbox(&self) -> Arc<sandbox::Store> {
        self.stack.sandbox.store(&self.store.hash).expect("store")
    }
}

fn pointer() -> &'static str {
    "#/components/schemas/CompanyInfo"
}

#[tokio::test]
async fn the_first_sync_stores_company_info_and_answers_not_supported_honestly() {
    let w = World::new().await;
    let event = w.take_event().await;
    assert_eq!(event.records.len(), 8, "the first link queued eight jobs");
    let response = w.worker.handle(event).await;
    assert!(response.batch_item_failures.is_empty(), "every job ended (Complete or in a final status)");
    let status = w.data_status().await;
    assert_eq!(status["commerce-companyInfo"]["currentStatus"], "Complete", "{status}");
    assert!(status["commerce-companyInfo"]["lastSuccessfulSync"].is_string());
    let connection = Uuid::parse_str(&w.connection).expect("uuid");
    let info = w
        .records
        .record(RecordSet::new(connection, DataType::CompanyInfo), &w.store.hash)
        .await
        .expect("read")
        .expect("stored");
    testkit::Spec::named("codat/Codat-Commerce")
        .with_draft(testkit::Draft::Draft7)
        .assert_valid(pointer(), &info.record);
    assert_eq!(info.record["companyName"], w.store.name.as_str());
    assert_eq!(info.record["baseCurrency"], "USD");

    // Product categories: the tree, ancestors root first.
    assert_eq!(status["commerce-productCategories"]["currentStatus"], "Complete", "{status}");
    let categories =
        w.records.every_record(RecordSet::new(connection, DataType::ProductCategories)).await.expect("read");
    assert_eq!(categories.len(), 3);
    let tents = categories.iter().find(|c| c.record["name"] == "Tents").expect("Tents");
    assert_eq!(tents.record["ancestorRefs"][0]["id"], "1");
    let commerce_spec = testkit::Spec::named("codat/Codat-Commerce").with_draft(testkit::Draft::Draft7);
    for c in &categories {
        commerce_spec.assert_valid("#/components/schemas/ProductCategory", &c.record);
    }

    // Products: 300 over two pages, variants whole (some products have hundreds).
    assert_eq!(status["commerce-products"]["currentStatus"], "Complete", "{status}");
    let products = w.records.every_record(RecordSet::new(connection, DataType::Products)).await.expect("read");
    let ids: Vec<u64> = products.iter().map(|p| p.id.parse().expect("numeric id")).collect();
    assert_eq!(ids, (1..=300).collect::<Vec<u64>>());
    let heads = w.sandbox().data().products.clone();
    for (p, head) in products.iter().zip(&heads) {
        assert_eq!(p.record["variants"].as_array().map(Vec::len), Some(usize::from(head.variants)), "product {}", p.id);
        assert!(p.record["categorization"].as_str().is_some_and(|c| !c.is_empty()));
    }
    assert!(heads.iter().any(|h| h.variants >= 500), "the store has products with hundreds of variants");
    for p in products.iter().step_by(37) {
        commerce_spec.assert_valid("#/components/schemas/Product", &p.record);
    }

    // Payment methods: the two built-ins Codat reports for BigCommerce, schema-valid.
    assert_eq!(status["commerce-paymentMethods"]["currentStatus"], "Complete", "{status}");
    let methods = w.records.every_record(RecordSet::new(connection, DataType::PaymentMethods)).await.expect("read");
    let ids: Vec<&str> = methods.iter().map(|m| m.id.as_str()).collect();
    assert_eq!(ids, ["bigcommerce_gift_certificate", "bigcommerce_store_credit"]);
    for m in &methods {
        commerce_spec.assert_valid("#/components/schemas/PaymentMethod", &m.record);
    }

    let differing = fidelity(&w, connection).await;
    assert!(differing.is_empty(), "fields differing from the store: {differing:#?}");

    // Orders: every live order, line items embedded, totals reconciling.
    assert_eq!(status["commerce-orders"]["currentStatus"], "Complete", "{status}");
    let orders = w.records.every_record(RecordSet::new(connection, DataType::Orders)).await.expect("read");
    let live: Vec<_> = w.sandbox().data().orders.iter().filter(|o| !o.is_deleted).copied().collect();
    assert_eq!(orders.len(), live.len(), "every live order stored once");
    for (stored, head) in orders.iter().zip(&live) {
        assert_eq!(stored.id, head.id.to_string());
        let body = sandbox::data::orders::OrderBody::generate(&w.sandbox().data(), head);
        let lines = stored.record["orderLineItems"].as_array().expect("lines");
        assert_eq!(lines.len(), body.items.len(), "every line item of order {}", head.id);
        let parts: f64 = lines.iter().map(|l| l["totalAmount"].as_f64().unwrap_or_default()).sum::<f64>()
            + stored.record["serviceCharges"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|c| c["totalAmount"].as_f64().unwrap_or_default())
                .sum::<f64>();
        let total = stored.record["totalAmount"].as_f64().expect("total");
        assert!(
            (parts - total).abs() < 0.011 * (lines.len() as f64 + 1.0),
            "order {} adds up: {parts} vs {total}",
            head.id
        );
        if matches!(head.status_id, 4 | 14) {
            assert!(stored.record["totalRefund"].as_f64().is_some_and(|r| r < 0.0), "refunds are negative");
        }
        commerce_spec.assert_valid("#/components/schemas/Order", &stored.record);
    }

    // Payments and transactions, each expected from the store's own transactions and refunds.
    let truth = devstack::truth::of_store(&w.sandbox());
    let (expected_payments, expected_transactions) = (&truth.payments, &truth.transactions);
    assert!(expected_payments.keys().any(|id| id.ends_with("_refund")), "the store has refunds");
    assert!(expected_payments.keys().any(|id| id.ends_with("_order")), "and orders without transactions");
    for (data_type, expected, schema) in [
        (DataType::Payments, expected_payments, "#/components/schemas/Payment"),
        (DataType::Transactions, expected_transactions, "#/components/schemas/Transaction"),
    ] {
        assert_eq!(status[data_type.key()]["currentStatus"], "Complete", "{status}");
        let stored = w.records.every_record(RecordSet::new(connection, data_type)).await.expect("read");
        let amount = if data_type == DataType::Payments { "amount" } else { "totalAmount" };
        let got: std::collections::BTreeMap<String, i64> =
            stored.iter().map(|r| (r.id.clone(), devstack::truth::cents(&r.record[amount]))).collect();
        assert_eq!(got.len(), stored.len(), "no duplicate {}", data_type.key());
        assert_eq!(&got, expected, "{}: 0 missing, 0 extra, amounts to the cent", data_type.key());
        for r in &stored {
            commerce_spec.assert_valid(schema, &r.record);
        }
    }

    // One pass of transaction calls served both: one call per live order (plus Link's probe).
    let transaction_calls: u64 =
        w.sandbox().metrics().requests.iter().filter(|(k, _)| k.contains("transactions")).map(|(_, n)| n).sum();
    assert_eq!(transaction_calls, live.len() as u64 + 1, "each order's transactions fetched once");
    for (data_type, expected) in &truth.counts {
        let stored = w.records.every_record(RecordSet::new(connection, *data_type)).await.expect("read").len();
        assert_eq!(stored, *expected, "{}: the ground truth's count", data_type.key());
    }

    // Customers: 600 over three cursor pages, every one stored once and matching the store.
    assert_eq!(status["commerce-customers"]["currentStatus"], "Complete", "{status}");
    let customers = w.records.every_record(RecordSet::new(connection, DataType::Customers)).await.expect("read");
    let ids: Vec<u64> = customers.iter().map(|c| c.id.parse().expect("numeric id")).collect();
    assert_eq!(ids, (1..=600).collect::<Vec<u64>>(), "0 missing, 0 extra, 0 duplicated");
    let mut truth = Vec::new();
    sandbox::api::export(&w.sandbox().data(), "http://x", &mut truth).expect("ground truth");
    let truth: std::collections::HashMap<String, Value> = String::from_utf8(truth)
        .expect("utf-8")
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|r| r["type"] == "customer")
        .map(|r| (r["record"]["id"].to_string(), r["record"].clone()))
        .collect();
    let commerce = testkit::Spec::named("codat/Codat-Commerce").with_draft(testkit::Draft::Draft7);
    for (i, stored) in customers.iter().enumerate() {
        let source = &truth[&stored.id];
        let name = format!(
            "{} {}",
            source["first_name"].as_str().unwrap_or_default(),
            source["last_name"].as_str().unwrap_or_default()
        );
        assert_eq!(stored.record["customerName"], name.trim());
        assert_eq!(stored.record["emailAddress"], source["email"]);
        assert_eq!(stored.record["addresses"].as_array().map(Vec::len), source["addresses"].as_array().map(Vec::len));
        if i % 50 == 0 {
            commerce.assert_valid("#/components/schemas/Customer", &stored.record);
        }
    }

    // A data type BigCommerce does not provide.
    let queued = w.queue(DataType::Locations).await;
    assert!(w.worker.handle(w.take_event().await).await.batch_item_failures.is_empty());
    let dataset = w.dataset(&queued["id"]).await;
    assert_eq!(
        (dataset["status"].as_str(), dataset["isCompleted"].as_bool(), dataset["isErrored"].as_bool()),
        (Some("NotSupported"), Some(true), Some(false))
    );
}

/// Compares every stored order, customer and product with the store's export, field by field,
/// by rules written here independently of the mapping: amounts to the cent, dates to the second,
/// every line item. Returns the differences.
async fn fidelity(w: &World, connection: Uuid) -> Vec<String> {
    use devstack::truth::cents;
    let export = devstack::truth::export(&w.sandbox());
    let diffs = std::cell::RefCell::new(Vec::new());
    let check = |what: String, stored: &Value, expected: Value| {
        if *stored != expected {
            diffs.borrow_mut().push(format!("{what}: stored {stored}, store has {expected}"));
        }
    };
    let second = |v: &Value| -> Value {
        let text = v.as_str().unwrap_or_default();
        chrono::DateTime::parse_from_rfc2822(text)
            .or_else(|_| chrono::DateTime::parse_from_rfc3339(text))
            .map(|d| json!(d.timestamp()))
            .unwrap_or(Value::Null)
    };
    let stored_second = |v: &Value| -> Value {
        v.as_str()
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
            .map(|d| json!(d.timestamp()))
            .unwrap_or(Value::Null)
    };
    let by_id = |records: Vec<shared::ports::StoredRecord>| -> std::collections::HashMap<String, Value> {
        records.into_iter().map(|r| (r.id, r.record)).collect()
    };
    let orders = by_id(w.records.every_record(RecordSet::new(connection, DataType::Orders)).await.expect("read"));
    let (mut lines_checked, mut longest) = (0, 0);
    for o in export.orders.iter().filter(|o| o.order["is_deleted"] != true) {
        let id = o.order["id"].to_string();
        let Some(stored) = orders.get(&id) else {
            diffs.borrow_mut().push(format!("order {id}: missing"));
            continue;
        };
        let money = |v: &Value| json!(cents(v));
        check(format!("order {id} totalAmount"), &money(&stored["totalAmount"]), money(&o.order["total_inc_tax"]));
        check(format!("order {id} totalTaxAmount"), &money(&stored["totalTaxAmount"]), money(&o.order["total_tax"]));
        let refunded: i64 = o.refunds.iter().map(|r| cents(&r["total_amount"])).sum();
        check(format!("order {id} totalRefund"), &money(&stored["totalRefund"]), json!(-refunded));
        check(format!("order {id} currency"), &stored["currency"], o.order["currency_code"].clone());
        check(
            format!("order {id} customerRef"),
            &stored["customerRef"]["id"],
            json!(o.order["customer_id"].to_string()),
        );
        check(
            format!("order {id} createdDate"),
            &stored_second(&stored["createdDate"]),
            second(&o.order["date_created"]),
        );
        check(
            format!("order {id} sourceModifiedDate"),
            &stored_second(&stored["sourceModifiedDate"]),
            second(&o.order["date_modified"]),
        );
        let stored_lines: std::collections::HashMap<String, &Value> = stored["orderLineItems"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|l| (l["id"].as_str().unwrap_or_default().to_string(), l))
            .collect();
        check(format!("order {id} line count"), &json!(stored_lines.len()), json!(o.line_items.len()));
        longest = longest.max(o.line_items.len());
        for line in &o.line_items {
            let line_id = line["id"].to_string();
            let Some(s) = stored_lines.get(&line_id) else {
                diffs.borrow_mut().push(format!("order {id} line {line_id}: missing"));
                continue;
            };
            lines_checked += 1;
            check(format!("order {id} line {line_id} quantity"), &s["quantity"], line["quantity"].clone());
            check(
                format!("order {id} line {line_id} product"),
                &s["productRef"]["id"],
                json!(line["product_id"].to_string()),
            );
            check(format!("order {id} line {line_id} name"), &s["productRef"]["name"], line["name"].clone());
        }
    }
    let customers = by_id(w.records.every_record(RecordSet::new(connection, DataType::Customers)).await.expect("read"));
    for c in &export.customers {
        let id = c["id"].to_string();
        let Some(stored) = customers.get(&id) else {
            diffs.borrow_mut().push(format!("customer {id}: missing"));
            continue;
        };
        check(format!("customer {id} email"), &stored["emailAddress"], c["email"].clone());
        check(format!("customer {id} createdDate"), &stored_second(&stored["createdDate"]), second(&c["date_created"]));
        check(
            format!("customer {id} sourceModifiedDate"),
            &stored_second(&stored["sourceModifiedDate"]),
            second(&c["date_modified"]),
        );
        let cities: Vec<Value> = c["addresses"].as_array().into_iter().flatten().map(|a| a["city"].clone()).collect();
        let stored_cities: Vec<Value> =
            stored["addresses"].as_array().into_iter().flatten().map(|a| a["city"].clone()).collect();
        check(format!("customer {id} address cities"), &json!(stored_cities), json!(cities));
    }
    let products = by_id(w.records.every_record(RecordSet::new(connection, DataType::Products)).await.expect("read"));
    for p in &export.products {
        let id = p["id"].to_string();
        let Some(stored) = products.get(&id) else {
            diffs.borrow_mut().push(format!("product {id}: missing"));
            continue;
        };
        check(format!("product {id} name"), &stored["name"], p["name"].clone());
        let variants: Vec<(String, i64)> = p["variants"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|v| (v["id"].to_string(), cents(if v["price"].is_null() { &p["price"] } else { &v["price"] })))
            .collect();
        let stored_variants: Vec<(String, i64)> = stored["variants"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|v| (v["id"].as_str().unwrap_or_default().to_string(), cents(&v["prices"][0]["unitPrice"])))
            .collect();
        check(format!("product {id} variants and prices"), &json!(stored_variants), json!(variants));
    }
    assert!(longest > 250, "the store has an order of more than 250 line items (longest {longest})");
    println!(
        "fidelity: {} orders ({lines_checked} line items, the longest {longest}), {} customers, {} products compared; {} differences",
        orders.len(),
        customers.len(),
        products.len(),
        diffs.borrow().len()
    );
    diffs.into_inner()
}

#[tokio::test]
async fn a_job_out_of_budget_continues_from_its_checkpoint_and_a_redelivery_resumes_there() {
    // A zero budget: every run stores one page, checkpoints and queues its continuation.
    let w = World::with_budget(Duration::ZERO).await;
    w.drop_first_syncs().await; // the first-link jobs: this test queues its own
    let customer_calls = || -> u64 {
        w.sandbox().metrics().requests.iter().filter(|(k, _)| k.contains("customers")).map(|(_, n)| n).sum()
    };
    let before = customer_calls(); // linking verified the scope with one call
    let queued = w.queue(DataType::Customers).await;
    let mut runs = 0;
    let mut progress = Vec::new();
    loop {
        let event = w.take_event().await;
        if event.records.is_empty() {
            break;
        }
        assert_eq!(event.records.len(), 1, "one message of the job at a time");
        assert!(w.worker.handle(event.clone()).await.batch_item_failures.is_empty());
        runs += 1;
        if runs == 2 {
            // The worker dies after its continuation is queued and before the message is
            // deleted: SQS delivers the message again. It resumes from the stored checkpoint.
            assert!(w.worker.handle(event).await.batch_item_failures.is_empty());
        }
        let dataset = w.dataset(&queued["id"]).await;
        progress.push((dataset["status"].as_str().unwrap_or_default().to_string(), dataset["progress"].clone()));
        assert!(runs < 10, "the job ends");
    }
    assert_eq!(
        progress,
        [
            ("Fetching".to_string(), json!(41)),
            ("Complete".to_string(), json!(100)),
            ("Complete".to_string(), json!(100))
        ],
        "run 1: page 1 of 3 (250 of 600); run 2 and its redelivery: pages 2 and 3; run 3: the \
         leftover continuation finds the dataset Complete"
    );
    let connection = Uuid::parse_str(&w.connection).expect("uuid");
    let customers = w.records.every_record(RecordSet::new(connection, DataType::Customers)).await.expect("read");
    let ids: Vec<u64> = customers.iter().map(|c| c.id.parse().expect("numeric id")).collect();
    assert_eq!(ids, (1..=600).collect::<Vec<u64>>(), "0 missing, 0 extra, 0 duplicated");
    assert_eq!(customer_calls() - before, 3, "three pages, each fetched once across three runs and a redelivery");
}

#[tokio::test]
async fn products_continue_page_by_page_and_each_page_is_fetched_once() {
    let w = World::with_budget(Duration::ZERO).await;
    w.drop_first_syncs().await;
    let product_calls = || -> u64 {
        w.sandbox().metrics().requests.iter().filter(|(k, _)| k.ends_with("v3/catalog/products")).map(|(_, n)| n).sum()
    };
    let before = product_calls(); // linking verified the scope with one call
    let dataset = w.queue(DataType::Products).await;
    let (runs, redeliveries, dead) = w.drain(5).await;
    assert_eq!(w.dataset(&dataset["id"]).await["status"], "Complete");
    assert_eq!((runs, redeliveries, dead), (2, 0, 0), "one run per page of 250");
    assert_eq!(product_calls() - before, 2, "no page fetched ahead and thrown away at the budget");
    let ids: Vec<u64> = w.stored(DataType::Products).await.iter().map(|p| p.id.parse().expect("id")).collect();
    assert_eq!(ids, (1..=300).collect::<Vec<u64>>());
}

#[tokio::test]
async fn duplicates_poison_messages_401_and_403() {
    let w = World::new().await;
    w.drop_first_syncs().await; // drop the first-link jobs: this test queues its own
    w.queue(DataType::CompanyInfo).await;
    let mut event = w.take_event().await;
    let job = event.records[0].clone();
    let mut poison = SqsMessage::default();
    poison.message_id = Some("poison-1".into());
    poison.body = Some("{not json".into());
    event.records.insert(0, poison);
    let response = w.worker.handle(event).await;
    let failed: Vec<_> = response.batch_item_failures.iter().map(|f| f.item_identifier.clone()).collect();
    assert_eq!(failed, ["poison-1"], "only the undecodable message fails");
    let before = w.sandbox().metrics().total_requests;
    let mut duplicate = SqsEvent::default();
    duplicate.records = vec![job];
    assert!(w.worker.handle(duplicate).await.batch_item_failures.is_empty());
    assert_eq!(w.sandbox().metrics().total_requests, before, "a redelivered finished job costs nothing");

    // 403: the account loses the Information & Settings scope.
    let client_id = w.store.accounts[0].client_id.clone();
    w.sandbox().set_scopes(&client_id, [sandbox::Scope::Orders]);
    w.queue(DataType::CompanyInfo).await;
    w.queue(DataType::Orders).await;
    w.queue(DataType::Payments).await;
    w.queue(DataType::Transactions).await;
    assert!(w.worker.handle(w.take_event().await).await.batch_item_failures.is_empty());
    let status = w.data_status().await;
    assert_eq!(status["commerce-companyInfo"]["currentStatus"], "PermissionsError");
    assert_eq!(status["commerce-orders"]["currentStatus"], "Complete", "the other data types go on");
    // The orders run was also filling the queued payments and transactions, which need the
    // transactions scope: they end PermissionsError while the orders complete.
    assert_eq!(status["commerce-payments"]["currentStatus"], "PermissionsError", "{status}");
    assert_eq!(status["commerce-transactions"]["currentStatus"], "PermissionsError", "{status}");

    // 401: the token is revoked; the connection becomes Deauthorized, synced data stays.
    w.sandbox().set_revoked(&client_id, true);
    w.queue(DataType::CompanyInfo).await;
    assert!(w.worker.handle(w.take_event().await).await.batch_item_failures.is_empty());
    let status = w.data_status().await;
    assert_eq!(status["commerce-companyInfo"]["currentStatus"], "AuthError");
    assert!(
        status["commerce-companyInfo"]["latestSuccessfulSyncId"].is_string(),
        "the earlier success is still recorded"
    );
    let connection = w
        .api
        .expect("GET", &format!("/companies/{}/connections/{}", w.company, w.connection), None, 200)
        .await
        .expect("c");
    assert_eq!(connection["status"], "Deauthorized");
    let id = Uuid::parse_str(&w.connection).expect("uuid");
    assert!(w.records.record(RecordSet::new(id, DataType::CompanyInfo), &w.store.hash).await.expect("read").is_some());
}

#[tokio::test]
async fn a_poison_message_reaches_the_dead_letter_queue_after_max_receives() {
    // As the event source mapping does: receive, hand the batch to the worker, delete only what
    // succeeded; a failed message comes back after its visibility timeout, and SQS moves it to
    // the DLQ after maxReceiveCount receives.
    let w = World::new().await;
    w.drop_first_syncs().await;
    let (queue, dlq) =
        (&w.stack.resources.queues["SyncJobsQueue"], &w.stack.resources.queues["SyncJobsDeadLetterQueue"]);
    // Seconds instead of the template's 90 minutes, so the test sees the receives run out.
    w.sqs
        .set_queue_attributes()
        .queue_url(queue)
        .attributes(aws_sdk_sqs::types::QueueAttributeName::VisibilityTimeout, "1")
        .send()
        .await
        .expect("visibility");
    w.sqs
        .send_message()
        .queue_url(queue)
        .message_body("{not a job")
        .message_group_id("poison")
        .message_deduplication_id("poison-1")
        .send()
        .await
        .expect("send");
    let (mut receives, mut dead) = (0, Vec::new());
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while dead.is_empty() && std::time::Instant::now() < deadline {
        let out = w.sqs.receive_message().queue_url(queue).max_number_of_messages(1).send().await.expect("receive");
        for m in out.messages.unwrap_or_default() {
            receives += 1;
            let mut message = SqsMessage::default();
            message.message_id = m.message_id.clone();
            message.body = m.body.clone();
            let mut event = SqsEvent::default();
            event.records = vec![message];
            let failed = w.worker.handle(event).await.batch_item_failures;
            assert_eq!(failed.len(), 1, "the poison message fails");
        }
        let out = w.sqs.receive_message().queue_url(dlq).send().await.expect("receive");
        dead.extend(out.messages.unwrap_or_default());
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    println!("poison message: {receives} receives, then the DLQ");
    assert_eq!(dead.len(), 1, "the poison message ends in the DLQ");
    assert_eq!(dead[0].body.as_deref(), Some("{not a job"));
    assert_eq!(receives, 5, "maxReceiveCount receives");
}

#[tokio::test]
async fn the_worker_event_file_replays_with_only_the_poison_message_failing() {
    use shared::ports::DatasetStore;
    let sdk = devstack::emulator_sdk_config();
    let sandbox = devstack::invoke::example_sandbox().await.expect("sandbox");
    let prefix = format!("ev{}-", Uuid::new_v4().simple());
    let worker = devstack::invoke::worker(&sdk, &prefix, &sandbox).await.expect("worker");
    let path = devstack::repo_root().join("events/sync-worker/batch-good-and-poison.json");
    let event: SqsEvent =
        serde_json::from_value(devstack::invoke::load_event(&path).expect("event")).expect("an SQS event");
    let response = worker.handle(event).await;
    let failed: Vec<_> = response.batch_item_failures.iter().map(|f| f.item_identifier.clone()).collect();
    assert_eq!(failed, ["poison-0000-4000-8000-000000000001"]);
    // The fixture's Linked connection has no stored credentials: its job ends, it does not loop.
    let store = DynamoStore::new(aws_sdk_dynamodb::Client::new(&sdk), format!("{prefix}PlatformTable"));
    let dataset = store
        .dataset(devstack::fixtures::COMPANY_ID, devstack::fixtures::DATASET_ID)
        .await
        .expect("read")
        .expect("dataset");
    assert_eq!(dataset.status, shared::domain::PullStatus::AuthError);
    let files: Vec<_> = std::fs::read_dir(devstack::repo_root().join("events/sync-worker")).expect("dir").collect();
    assert_eq!(files.len(), 1, "each events/sync-worker file needs a case here");
    sandbox.stop().await;
}

#[tokio::test]
async fn after_a_complete_sync_the_next_fetches_only_what_changed() {
    let w = World::with(Setup {
        sizes: Sizes { orders: 5_000, products: 40, customers: 60, categories: 3 },
        ..Setup::default()
    })
    .await;
    w.drain(5).await;
    let first = w.sandbox().metrics().total_requests;
    let status = w.data_status().await;
    assert_eq!(status["commerce-orders"]["currentStatus"], "Complete", "{status}");
    let before = w.stored(DataType::Orders).await.len();

    // Ten orders change in the store: four new, six updated.
    let touched =
        w.sandbox().mutate(sandbox::Mutations { inserts: 4, updates: 6, archives: 0, ..Default::default() }).orders;
    assert_eq!(touched.len(), 10);
    w.sandbox().reset_metrics();
    for data_type in [DataType::Orders, DataType::Payments, DataType::Transactions] {
        w.queue(data_type).await;
    }
    w.drain(5).await;
    let metrics = w.sandbox().metrics();
    let status = w.data_status().await;
    for key in ["commerce-orders", "commerce-payments", "commerce-transactions"] {
        assert_eq!(status[key]["currentStatus"], "Complete", "{key}: {status}");
    }
    // Every changed order is stored as the store has it now.
    let stored: std::collections::HashMap<String, shared::ports::StoredRecord> =
        w.stored(DataType::Orders).await.into_iter().map(|r| (r.id.clone(), r)).collect();
    assert_eq!(stored.len(), before + 4);
    let live = w.sandbox().data().orders.clone();
    for id in &touched {
        let head = live.iter().find(|o| o.id == *id).expect("touched order");
        let modified = stored.get(&id.to_string()).and_then(|r| r.modified).map(|m| m.timestamp());
        assert_eq!(modified, Some(head.modified), "order {id}");
    }
    // Payments and transactions (refunds included) are the store's, to the cent: the changed
    // orders' refunds came with them, and what their mapping no longer gives went.
    w.assert_money_is_the_stores().await;
    let transactions = metrics.requests.iter().filter(|(k, _)| k.contains("transactions")).map(|(_, n)| n).sum::<u64>();
    let refunds = metrics.requests.iter().filter(|(k, _)| k.contains("refunds")).map(|(_, n)| n).sum::<u64>();
    println!(
        "incremental: 10 orders changed in a 5,000-order store: {} calls ({transactions} transactions, {refunds} refunds, the rest orders pages, counts, archived listings and archive check); the first sync made {first}",
        metrics.total_requests
    );
    // One transactions call per changed order. The orders run: the count, one orders page with
    // one call for its orders' refunds, the archived orders listing and the archive check; the
    // money pass: the count, the page again (by id, without line items) with its refunds, and
    // the archived orders listing.
    assert_eq!(transactions, 10, "{:?}", metrics.requests);
    assert_eq!(refunds, 2, "the refunds of the changed orders only, once per pass: {:?}", metrics.requests);
    assert!(metrics.total_requests <= transactions + refunds + 7, "{:?}", metrics.requests);
    assert!(metrics.total_requests * 100 < first, "proportional to the change, not to the store");
}

/// A source record's id and creation time (Unix seconds).
type Created = (u32, i64);

#[tokio::test]
async fn sync_from_utc_bounds_the_first_sync_of_orders_and_customers() {
    let w = World::new().await;
    w.drop_first_syncs().await;
    let (live_orders, all_orders, customers): (Vec<Created>, usize, Vec<Created>) = {
        let sandbox = w.sandbox();
        let data = sandbox.data();
        (
            data.orders.iter().filter(|o| !o.is_deleted).map(|o| (o.id, o.created)).collect(),
            data.orders.len(),
            data.customers.iter().map(|c| (c.id, c.created)).collect(),
        )
    };
    let median = |records: &[Created]| {
        let mut created: Vec<i64> = records.iter().map(|(_, c)| *c).collect();
        created.sort_unstable();
        created[created.len() / 2]
    };
    let cut = median(&live_orders).min(median(&customers));
    let cut_at = chrono::DateTime::from_timestamp(cut, 0).expect("instant");
    let path = format!("/companies/{}/syncSettings", w.company);
    let mut settings = w.api.expect("GET", &path, None, 200).await.expect("settings");
    for setting in settings["settings"].as_array_mut().expect("settings") {
        // Orders, payments and transactions come from one pass: all three are bounded.
        let bounded = ["commerce-orders", "commerce-payments", "commerce-transactions", "commerce-customers"];
        if bounded.iter().any(|t| setting["dataType"] == *t) {
            setting["syncFromUtc"] = json!(shared::codat::timestamp(cut_at));
        }
    }
    settings["overridesDefaults"] = json!(true);
    w.api.expect("POST", &path, Some(&settings), 204).await.expect("saved");
    w.queue(DataType::Orders).await;
    w.queue(DataType::Customers).await;
    w.drain(5).await;
    let ids = |records: Vec<shared::ports::StoredRecord>| {
        records.into_iter().map(|r| r.id).collect::<std::collections::BTreeSet<String>>()
    };
    let recent = |records: &[Created]| -> std::collections::BTreeSet<String> {
        records.iter().filter(|(_, created)| *created >= cut).map(|(id, _)| id.to_string()).collect()
    };
    let (orders, customers) = (recent(&live_orders), recent(&customers));
    assert!(!orders.is_empty() && orders.len() < all_orders);
    assert_eq!(ids(w.stored(DataType::Orders).await), orders);
    assert_eq!(ids(w.stored(DataType::Customers).await), customers);
}

#[tokio::test]
async fn orders_archived_in_the_store_are_removed_with_their_payments_and_transactions() {
    let w = World::new().await;
    w.drain(5).await;
    let archived: Vec<String> = w
        .sandbox()
        .mutate(sandbox::Mutations { inserts: 0, updates: 0, archives: 3, ..Default::default() })
        .orders
        .into_iter()
        .map(|id| id.to_string())
        .collect();
    assert_eq!(archived.len(), 3);
    let has = |records: &[shared::ports::StoredRecord], order: &str| {
        records.iter().any(|r| r.id == order || r.id.starts_with(&format!("{order}_")))
    };
    let payments_before = w.stored(DataType::Payments).await;
    assert!(archived.iter().any(|o| has(&payments_before, o)), "the archived orders had payments");
    for data_type in [DataType::Orders, DataType::Payments, DataType::Transactions] {
        w.queue(data_type).await;
    }
    w.drain(5).await;
    let live: std::collections::BTreeSet<String> = {
        let sandbox = w.sandbox();
        let data = sandbox.data();
        data.orders.iter().filter(|o| !o.is_deleted).map(|o| o.id.to_string()).collect()
    };
    let orders = w.stored(DataType::Orders).await;
    assert_eq!(orders.iter().map(|r| r.id.clone()).collect::<std::collections::BTreeSet<_>>(), live);
    for data_type in [DataType::Payments, DataType::Transactions] {
        let records = w.stored(data_type).await;
        for order in &archived {
            assert!(!has(&records, order), "{} of archived order {order} remain", data_type.key());
        }
    }
    // The read API counts what is left (the directory was sealed after the removal).
    let path = format!("/companies/{}/connections/{}/data/commerce-orders?pageSize=1", w.company, w.connection);
    let page = w.api.expect("GET", &path, None, 200).await.expect("list");
    assert_eq!(page["totalResults"], live.len());
}
