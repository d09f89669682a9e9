//! A hostile or broken store, answer by answer: a property test that hands the paced client and
//! every listing of the sync worker random and adversarial answers (statuses, rate-limit headers
//! up to `u64::MAX`, malformed and wrongly shaped bodies, records without ids, pages answered
//! again in any order, hostile cursors, transport failures, oversized bodies) through the
//! [`Transport`] seam, on tokio's paused clock, over the in-memory twins. Whatever the answers:
//! - nothing panics (a panic hook counts every panic, spawned tasks' included);
//! - nothing loops: each case ends within a bounded number of requests and job runs;
//! - nothing is stored from a broken page (a page with a record without a numeric id);
//! - no work is left stuck: every dataset requested ends in a final status.
//!
//! `make test` runs 10,000 cases (`HOSTILE_CASES`); `make test-hostile` runs a longer search
//! (`HOSTILE_CASES=200000` by default).

use std::cell::Cell;
use std::collections::HashSet;
use std::sync::{Arc, Mutex, Once};
use std::time::Duration;

use async_trait::async_trait;
use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
use chrono::Utc;
use proptest::prelude::*;
use secrecy::SecretString;
use serde_json::{Value, json};
use shared::adapters::memory::{MemoryQueue, MemoryRecords, MemorySecrets, MemoryStore};
use shared::bigcommerce::client::{ApiResponse, Transport, TransportError};
use shared::bigcommerce::{Credentials, StoreHash};
use shared::domain::{Company, Connection, DataType, JobReason, SyncJob};
use shared::ports::{
    CompanyStore, ConnectionStore, DatasetStore, LinkStore, LinkedStore, RecordReader, RecordSet, RecordStore,
};
use shared::sync::{RetryPolicy, SyncWorker};
use shared::vault::CredentialVault;
use uuid::Uuid;

/// Requests one case may send before it counts as an endless loop.
const MAX_REQUESTS: usize = 4_000;
/// Job runs (deliveries, continuations included) one case may take.
const MAX_RUNS: usize = 80;

static HOOK: Once = Once::new();

thread_local! {
    /// Panics on this thread (each case runs on a current-thread runtime, its spawned tasks
    /// included, so the other half's thread does not count here).
    static PANICS: Cell<usize> = const { Cell::new(0) };
}

/// Counts every panic (those of spawned tasks too, which tokio turns into errors).
fn count_panics() {
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            PANICS.with(|p| p.set(p.get() + 1));
            previous(info);
        }));
    });
}

/// Rate-limit headers, from the ordinary to the absurd.
#[derive(Debug, Clone)]
struct Headers {
    reset_ms: Option<u64>,
    left: Option<u64>,
    quota: Option<u64>,
    retry: Option<u64>,
}

/// A customers cursor.
#[derive(Debug, Clone)]
enum Cursor {
    None,
    Fresh,
    Same,
    Hostile,
}

/// One answer of the store, rendered in the shape of whatever was asked.
#[derive(Debug, Clone)]
enum Answer {
    /// 200 with `n` records whose ids are the answer's own.
    Page { n: usize, total: Option<u64>, total_pages: Option<u64>, cursor: Cursor, headers: Option<Headers> },
    /// The answer given at an earlier position, again (same ids: a repeated page).
    Replay(usize),
    /// 200 whose page has one record without a usable id (missing, text or negative).
    NoId { n: usize, kind: u8 },
    /// 200 with bytes that are not JSON.
    Malformed,
    /// 200 with JSON of the other shape (an object for a list, a list for an object).
    WrongShape,
    /// Any other status, with or without rate-limit headers.
    Status { status: u16, headers: Option<Headers> },
    /// The transport failed (timed out, or the body passed the cap).
    Failed { oversized: bool },
    /// The answer comes late (virtual time), then is a page.
    Slow { ms: u64, n: usize },
}

fn headers() -> impl Strategy<Value = Headers> {
    let value = prop_oneof![Just(0u64), Just(1), 0u64..40_000, Just(30_000), Just(u64::MAX - 1), Just(u64::MAX)];
    (
        proptest::option::of(value.clone()),
        proptest::option::of(value.clone()),
        proptest::option::of(value.clone()),
        proptest::option::of(value),
    )
        .prop_map(|(reset_ms, left, quota, retry)| Headers { reset_ms, left, quota, retry })
}

fn page_size() -> impl Strategy<Value = usize> {
    prop_oneof![12 => 0usize..4, 1 => Just(249usize), 4 => Just(250usize), 1 => 4usize..249]
}

fn answer() -> impl Strategy<Value = Answer> {
    let cursor = prop_oneof![Just(Cursor::None), Just(Cursor::Fresh), Just(Cursor::Same), Just(Cursor::Hostile)];
    let status = prop_oneof![
        Just(204u16),
        Just(302),
        Just(400),
        Just(401),
        Just(403),
        Just(404),
        Just(409),
        Just(418),
        Just(422),
        Just(429),
        Just(500),
        Just(502),
        Just(503),
        Just(504),
    ];
    prop_oneof![
        8 => (
            page_size(),
            proptest::option::of(prop_oneof![Just(0u64), 0u64..2_000, Just(u64::MAX)]),
            proptest::option::of(prop_oneof![Just(0u64), 1u64..5, Just(u64::MAX)]),
            cursor,
            proptest::option::of(headers()),
        )
            .prop_map(|(n, total, total_pages, cursor, headers)| Answer::Page { n, total, total_pages, cursor, headers }),
        3 => (0usize..64).prop_map(Answer::Replay),
        1 => (page_size(), 0u8..3).prop_map(|(n, kind)| Answer::NoId { n: n.max(1), kind }),
        1 => Just(Answer::Malformed),
        1 => Just(Answer::WrongShape),
        3 => (status, proptest::option::of(headers())).prop_map(|(status, headers)| Answer::Status { status, headers }),
        1 => any::<bool>().prop_map(|oversized| Answer::Failed { oversized }),
        1 => (prop_oneof![0u64..2_000, Just(20_000u64), Just(120_000u64)], page_size())
            .prop_map(|(ms, n)| Answer::Slow { ms, n }),
    ]
}

/// What the store answers once its script is spent.
#[derive(Debug, Clone)]
enum Then {
    /// 204 to everything.
    Empty,
    /// The last answer, for ever.
    RepeatLast,
}

/// The endpoint kinds, for rendering and for the ids each page served.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Kind {
    Store,
    Count,
    Orders,
    Order,
    Transactions,
    Refunds,
    Categories,
    Products,
    Customers,
    Other,
}

fn kind_of(path: &str) -> Kind {
    let endpoint = path.split('?').next().unwrap_or(path);
    match endpoint {
        "v2/store" => Kind::Store,
        "v2/orders/count" => Kind::Count,
        "v2/orders" => Kind::Orders,
        "v3/orders/payment_actions/refunds" => Kind::Refunds,
        "v3/catalog/trees/categories" => Kind::Categories,
        "v3/catalog/products" => Kind::Products,
        "v3/customers" => Kind::Customers,
        e if e.starts_with("v2/orders/") => Kind::Order,
        e if e.starts_with("v3/orders/") && e.ends_with("/transactions") => Kind::Transactions,
        _ => Kind::Other,
    }
}

/// The scripted store: the n-th request gets the n-th answer, whatever it asked.
struct Scripted {
    script: Vec<Answer>,
    then: Then,
    log: Mutex<Log>,
}

#[derive(Default)]
struct Log {
    requests: usize,
    /// (kind, source id) of records on well-formed pages.
    good: HashSet<(Kind, String)>,
    /// (kind, source id) of records on pages with a defect.
    bad: HashSet<(Kind, String)>,
    /// The run went past [`MAX_REQUESTS`].
    endless: bool,
}

fn rfc2822(minute: u64) -> String {
    let at = chrono::DateTime::from_timestamp(1_700_000_000 + minute as i64 * 60, 0).unwrap_or_default();
    at.format("%a, %d %b %Y %H:%M:%S +0000").to_string()
}

fn rfc3339(minute: u64) -> String {
    let at = chrono::DateTime::from_timestamp(1_700_000_000 + minute as i64 * 60, 0).unwrap_or_default();
    at.to_rfc3339()
}

/// A record of `kind` with source id `id`.
fn record(kind: Kind, id: Value, n: u64) -> Value {
    match kind {
        Kind::Orders => json!({
            "id": id, "status_id": 10, "status": "Completed", "currency_code": "USD",
            "date_created": rfc2822(n), "date_modified": rfc2822(n + 1),
            "subtotal_ex_tax": "10.0000", "total_inc_tax": "12.0000", "total_tax": "2.0000",
            "customer_id": n % 7, "payment_method": "Credit Card",
            "consignments": [{"shipping": [{"line_items": [{"id": n, "product_id": 1, "quantity": 1, "base_price": "10.0000"}]}]}],
        }),
        Kind::Products => json!({
            "id": id, "name": format!("Product {n}"), "sku": format!("SKU-{n}"), "price": 9.5,
            "categories": [1], "date_modified": rfc3339(n),
            "variants": [{"id": n * 10, "sku": format!("SKU-{n}-A"), "price": 9.5, "inventory_level": 3}],
        }),
        Kind::Customers => json!({
            "id": id, "email": format!("c{n}@example.com"), "first_name": "C", "last_name": format!("{n}"),
            "date_created": rfc3339(n), "date_modified": rfc3339(n + 1),
            "addresses": [{"id": n, "address1": "1 Street", "city": "Town", "country_code": "GB"}],
        }),
        Kind::Categories => json!({"category_id": id, "name": format!("Category {n}"), "parent_id": 0}),
        Kind::Refunds => json!({"id": id, "order_id": n % 300 + 1000, "total_amount": "1.00", "payments": []}),
        Kind::Transactions => json!({
            "id": id, "order_id": n, "event": "purchase", "method": "credit_card", "amount": 12.0,
            "currency": "USD", "status": "ok", "date_created": rfc3339(n),
        }),
        _ => json!({"id": id}),
    }
}

impl Scripted {
    fn answer_at(&self, at: usize) -> (usize, Option<&Answer>) {
        match self.script.get(at) {
            Some(Answer::Replay(k)) if at > 0 => self.answer_at(k % at),
            Some(Answer::Replay(_)) => (at, None),
            Some(answer) => (at, Some(answer)),
            None => match self.then {
                Then::Empty => (at, None),
                Then::RepeatLast => match self.script.len() {
                    0 => (at, None),
                    len => self.answer_at(len - 1),
                },
            },
        }
    }

    /// `n` records for `path` with ids of answer `at` (one broken when `broken` says how).
    fn render(&self, path: &str, at: usize, n: usize, broken: Option<u8>, log: &mut Log) -> Value {
        let kind = kind_of(path);
        // An order has a few transactions, not a page of them.
        let n = if kind == Kind::Transactions { n.min(3) } else { n };
        let base = (at as u64 + 1) * 1_000;
        let mut records = Vec::new();
        let mut ids = Vec::new();
        let key = if kind == Kind::Categories { "category_id" } else { "id" };
        for k in 0..n as u64 {
            let id = base + k;
            let mut r = record(kind, json!(id), id);
            match broken {
                Some(0) if k == n as u64 / 2 => {
                    r.as_object_mut().map(|o| o.remove(key));
                }
                Some(1) if k == n as u64 / 2 => r[key] = json!(id.to_string()),
                Some(_) if k == n as u64 / 2 => r[key] = json!(-(id as i64)),
                _ => {}
            }
            ids.push(id.to_string());
            records.push(r);
        }
        let target = if broken.is_some() { &mut log.bad } else { &mut log.good };
        target.extend(ids.iter().map(|id| (kind, id.clone())));
        Value::Array(records)
    }

    fn body(&self, path: &str, at: usize, answer: &Answer, log: &mut Log) -> Vec<u8> {
        let kind = kind_of(path);
        let (n, broken, total, total_pages, cursor) = match answer {
            Answer::Page { n, total, total_pages, cursor, .. } => (*n, None, *total, *total_pages, cursor.clone()),
            Answer::NoId { n, kind } => (*n, Some(*kind), None, None, Cursor::Fresh),
            Answer::Slow { n, .. } => (*n, None, None, None, Cursor::Fresh),
            _ => (0, None, None, None, Cursor::None),
        };
        let base = (at as u64 + 1) * 1_000;
        let value = match kind {
            Kind::Store => match broken {
                Some(_) => json!({"name": "No id", "currency": "USD"}),
                None => json!({"id": format!("store{base}"), "name": "Store", "currency": "USD", "country_code": "US"}),
            },
            Kind::Count => json!({"count": total.unwrap_or(n as u64)}),
            Kind::Orders => self.render(path, at, n, broken, log),
            Kind::Order => {
                let id: u64 = path.trim_start_matches("v2/orders/").parse().unwrap_or(0);
                json!({"id": id, "is_deleted": base.is_multiple_of(3_000)})
            }
            Kind::Other => json!({}),
            _ => {
                let data = if path.contains("id:in=") {
                    // A lookup by id: some of the ids asked for are alive.
                    let asked = path.split("id:in=").nth(1).unwrap_or("").split('&').next().unwrap_or("");
                    let alive: Vec<Value> = asked
                        .split(',')
                        .filter_map(|id| id.parse::<u64>().ok())
                        .filter(|id| (id + base / 1_000).is_multiple_of(2))
                        .map(|id| json!({"id": id}))
                        .collect();
                    Value::Array(alive)
                } else {
                    self.render(path, at, n, broken, log)
                };
                let end_cursor = match cursor {
                    Cursor::None => Value::Null,
                    Cursor::Fresh => json!(format!("c{base}")),
                    Cursor::Same => json!("same"),
                    Cursor::Hostile => json!("a&page=1#x y/=%"),
                };
                json!({
                    "data": data,
                    "meta": {
                        "pagination": {"total": total, "total_pages": total_pages, "count": n},
                        "cursor_pagination": {"end_cursor": end_cursor},
                    },
                })
            }
        };
        serde_json::to_vec(&value).unwrap_or_default()
    }
}

fn response(status: u16, body: Vec<u8>, headers: Option<&Headers>) -> ApiResponse {
    let h = headers.cloned().unwrap_or(Headers { reset_ms: None, left: None, quota: None, retry: None });
    ApiResponse {
        status,
        body,
        reset_ms: h.reset_ms,
        requests_left: h.left,
        quota: h.quota.and_then(|q| u32::try_from(q).ok()),
        retry_after_secs: h.retry,
    }
}

#[async_trait]
impl Transport for Scripted {
    async fn get(&self, _: &StoreHash, _: &SecretString, path: &str) -> Result<ApiResponse, TransportError> {
        let at = {
            let mut log = self.log.lock().unwrap_or_else(|e| e.into_inner());
            log.requests += 1;
            if log.requests > MAX_REQUESTS {
                log.endless = true;
                return Err(TransportError::transient("the case ran out of requests"));
            }
            log.requests - 1
        };
        let (at, answer) = self.answer_at(at);
        // Every answer takes a little (virtual) time, as a network would.
        tokio::time::sleep(Duration::from_millis(15)).await;
        let Some(answer) = answer.cloned() else { return Ok(response(204, Vec::new(), None)) };
        if let Answer::Slow { ms, .. } = answer {
            tokio::time::sleep(Duration::from_millis(ms)).await;
        }
        let mut log = self.log.lock().unwrap_or_else(|e| e.into_inner());
        Ok(match &answer {
            Answer::Page { headers, .. } => response(200, self.body(path, at, &answer, &mut log), headers.as_ref()),
            Answer::NoId { .. } | Answer::Slow { .. } => response(200, self.body(path, at, &answer, &mut log), None),
            Answer::Malformed => response(200, b"{\"data\": [{\"id\": 1".to_vec(), None),
            Answer::WrongShape => match kind_of(path) {
                Kind::Orders => response(200, b"{\"id\": 1}".to_vec(), None),
                _ => response(200, b"[{\"id\": 1}]".to_vec(), None),
            },
            Answer::Status { status, headers } => response(*status, b"{}".to_vec(), headers.as_ref()),
            Answer::Failed { oversized: true } => return Err(TransportError::oversized()),
            Answer::Failed { oversized: false } => return Err(TransportError::transient("timed out")),
            Answer::Replay(_) => response(204, Vec::new(), None),
        })
    }
}

/// The kind of listing a stored data type's source ids come from.
fn listing_of(data_type: DataType) -> Option<Kind> {
    match data_type {
        DataType::Orders | DataType::Payments | DataType::Transactions => Some(Kind::Orders),
        DataType::Products => Some(Kind::Products),
        DataType::Customers => Some(Kind::Customers),
        DataType::ProductCategories => Some(Kind::Categories),
        _ => None,
    }
}

fn event(job: &SyncJob, receives: u32) -> SqsEvent {
    let mut message = SqsMessage::default();
    message.message_id = Some(format!("m-{}-{receives}", job.dataset_id));
    message.receipt_handle = Some(format!("r-{}-{receives}", job.dataset_id));
    message.body = Some(serde_json::to_string(job).unwrap_or_default());
    message.attributes.insert("ApproximateReceiveCount".into(), receives.to_string());
    let mut event = SqsEvent::default();
    event.records = vec![message];
    event
}

/// What a case left behind.
struct Outcome {
    stuck: Vec<String>,
    stored: Vec<(DataType, String)>,
    runs: usize,
}

/// Links a connection over the twins, then runs two rounds of syncs of `types` (the first full,
/// the second incremental where the first completed) against `store`.
async fn run_case(store_answers: Arc<Scripted>, types: Vec<DataType>) -> Outcome {
    let store = MemoryStore::new();
    let draft = shared::codat::bodies::company_draft(&json!({"name": "Hostile Co"})).expect("draft");
    let company = Company::create(draft, Utc::now());
    store.create_company(&company).await.expect("company");
    let connection = Connection::create(company.id, Utc::now());
    store.create_connection(&connection).await.expect("connection");
    let secrets = Arc::new(MemorySecrets::default());
    let vault = CredentialVault::new(secrets.clone(), "hostile/");
    let credentials = Credentials {
        client_id: SecretString::from("client".to_string()),
        access_token: SecretString::from("token".to_string()),
        store_hash: StoreHash::parse("hostile1").expect("hash"),
    };
    let secret_name = vault.keep(company.id, connection.id, &credentials).await.expect("secret");
    let lease = Uuid::new_v4();
    store.begin_link(company.id, connection.id, lease, Utc::now(), 60).await.expect("lease");
    let linked = LinkedStore { store_hash: "hostile1".into(), secret_name, info: Default::default() };
    store.complete_link(company.id, connection.id, lease, &linked).await.expect("linked");
    let records = Arc::new(MemoryRecords::new());
    let queue = Arc::new(MemoryQueue::default());
    let worker = SyncWorker::new(
        store.clone(),
        records.clone() as Arc<dyn RecordStore>,
        secrets,
        queue.clone(),
        ForwardTo(store_answers),
        Duration::from_secs(60),
    )
    .with_retries(RetryPolicy { max_receives: 3, ..RetryPolicy::default() });
    let (mut taken, mut runs, mut stuck) = (0usize, 0usize, Vec::new());
    for _round in 0..2 {
        let datasets = shared::syncs::request_syncs(
            &store,
            queue.as_ref(),
            company.id,
            connection.id,
            &types,
            JobReason::Refresh,
            Utc::now(),
        )
        .await
        .expect("requested");
        while let Some(job) = queue.jobs().get(taken).cloned() {
            taken += 1;
            for receives in 1..=3 {
                runs += 1;
                if runs > MAX_RUNS {
                    stuck.push(format!("more than {MAX_RUNS} job runs"));
                    break;
                }
                if worker.handle(event(&job, receives)).await.batch_item_failures.is_empty() {
                    break;
                }
            }
        }
        for dataset in datasets {
            let now = store.dataset(company.id, dataset.id).await.expect("read").expect("dataset");
            if !now.status.is_final() {
                stuck.push(format!("{} {:?}", now.data_type.key(), now.status));
            }
        }
    }
    let mut stored = Vec::new();
    for data_type in [
        DataType::Orders,
        DataType::Payments,
        DataType::Transactions,
        DataType::Products,
        DataType::Customers,
        DataType::ProductCategories,
    ] {
        for record in records.every_record(RecordSet::new(connection.id, data_type)).await.expect("records") {
            stored.push((data_type, record.id));
        }
    }
    Outcome { stuck, stored, runs }
}

/// The worker takes its transport by value: this hands it the shared script.
struct ForwardTo(Arc<Scripted>);

#[async_trait]
impl Transport for ForwardTo {
    async fn get(&self, store: &StoreHash, token: &SecretString, path: &str) -> Result<ApiResponse, TransportError> {
        self.0.get(store, token, path).await
    }
}

fn cases() -> u32 {
    std::env::var("HOSTILE_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(10_000)
}

fn types() -> impl Strategy<Value = Vec<DataType>> {
    prop_oneof![
        3 => Just(vec![DataType::Orders, DataType::Payments, DataType::Transactions]),
        1 => Just(vec![DataType::Orders]),
        2 => Just(vec![DataType::Products]),
        2 => Just(vec![DataType::Customers]),
        1 => Just(vec![DataType::ProductCategories]),
        1 => Just(vec![DataType::CompanyInfo]),
    ]
}

/// One half of the search (the two halves run on the test harness's two threads), from
/// `HOSTILE_SEED` (default fixed, so every `make test` tries the same cases) and `half`.
fn search(half: u64) {
    count_panics();
    let seed = std::env::var("HOSTILE_SEED").ok().and_then(|n| n.parse::<u64>().ok()).unwrap_or(18);
    let config = ProptestConfig {
        cases: cases().div_ceil(2),
        failure_persistence: None,
        max_shrink_iters: 256,
        rng_seed: proptest::test_runner::RngSeed::Fixed(seed.wrapping_mul(2).wrapping_add(half)),
        ..ProptestConfig::default()
    };
    let strategy = (proptest::collection::vec(answer(), 0..14), any::<bool>(), types());
    let mut runner = proptest::test_runner::TestRunner::new(config);
    if let Err(failure) = runner.run(&strategy, |(script, repeat_last, types)| check(script, repeat_last, types)) {
        panic!("{failure}");
    }
}

/// One case: the script served to two rounds of syncs of `types`, then the properties.
fn check(script: Vec<Answer>, repeat_last: bool, types: Vec<DataType>) -> Result<(), TestCaseError> {
    let then = if repeat_last { Then::RepeatLast } else { Then::Empty };
    let scripted = Arc::new(Scripted { script, then, log: Mutex::new(Log::default()) });
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().start_paused(true).build().expect("rt");
    let before = PANICS.with(Cell::get);
    let outcome = runtime.block_on(run_case(scripted.clone(), types));
    prop_assert_eq!(PANICS.with(Cell::get), before, "a panic while serving the script");
    let log = scripted.log.lock().unwrap_or_else(|e| e.into_inner());
    prop_assert!(!log.endless, "more than {} requests: an endless loop", MAX_REQUESTS);
    prop_assert!(outcome.stuck.is_empty(), "left stuck after {} runs: {:?}", outcome.runs, outcome.stuck);
    for (data_type, id) in &outcome.stored {
        let Some(kind) = listing_of(*data_type) else { continue };
        let source = id.split('_').next().unwrap_or(id).to_string();
        prop_assert!(
            !log.bad.contains(&(kind, source.clone())),
            "{} {} was stored from a broken page",
            data_type.key(),
            id
        );
        prop_assert!(
            log.good.contains(&(kind, source.clone())),
            "{} {} was stored but never listed",
            data_type.key(),
            id
        );
    }
    Ok(())
}

#[test]
fn a_hostile_store_cannot_crash_loop_or_plant_records() {
    search(0);
}

#[test]
fn a_hostile_store_cannot_crash_loop_or_plant_records_second_half() {
    search(1);
}
