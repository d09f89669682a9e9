//! The worker's real binary, run as Lambda runs it (its own process behind a local Runtime API,
//! under its own principal, with the SQS attributes Lambda passes), and killed with SIGKILL at
//! seeded points of a sync: before a call leaves or after it landed but before its answer
//! (mid-page, mid-write, mid-checkpoint, mid-seal). Each kill is followed by a redelivery, as
//! the queue would make once the message's visibility ends; every sync must converge.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use devstack::client::ApiClient;
use devstack::lambda::KillSwitch;
use devstack::stack::{DevStack, StackOptions, WorkerProcess};
use devstack::tap::{TapAction, TapCall, TapHook};
use rand::{Rng, SeedableRng};
use sandbox::{Sizes, StoreConfig};
use serde_json::json;
use shared::adapters::dynamodb::records::DynamoRecords;
use shared::domain::DataType;
use shared::ports::{RecordReader, RecordSet};
use uuid::Uuid;

/// Seed of the kill points.
const SEED: u64 = 15;
/// Kills per kind of call.
const PER_KIND: usize = 7;
/// Kills per sync (fewer than the queue's 5 receives: a message killed on every receive would
/// reach the dead-letter queue, which is the sweep's case, tested apart).
const PER_SYNC: usize = 3;

/// What a call of the worker is.
fn kind(call: &TapCall) -> &'static str {
    let body = String::from_utf8_lossy(&call.body);
    match (call.tap, call.target.as_deref().unwrap_or_default()) {
        ("bigcommerce", _) => "page",
        (_, t) if t.ends_with("BatchWriteItem") || t.ends_with("PutItem") => {
            if body.contains("DIR#") {
                "seal"
            } else {
                "write"
            }
        }
        (_, t) if t.ends_with("UpdateItem") => "checkpoint",
        // The orders run handing payments and transactions over to their own run.
        (_, t) if t.starts_with("AmazonSQS") && body.contains("commerce-payments") && body.contains("continuation") => {
            "handover"
        }
        (_, t) if t.starts_with("AmazonSQS") => "queue",
        _ => "read",
    }
}

/// Counts the worker's calls and kills its process at a planned one.
#[derive(Default)]
struct Killer {
    switch: OnceLock<KillSwitch>,
    calls: AtomicU64,
    kinds: Mutex<Vec<&'static str>>,
    plan: Mutex<std::collections::VecDeque<(u64, TapAction)>>,
    /// Kill the next call of this kind, so.
    target: Mutex<Option<(&'static str, TapAction)>>,
    killed: Mutex<Vec<(&'static str, TapAction)>>,
}

impl Killer {
    /// Starts counting from zero; kills at each planned call (1-based, ascending) as planned.
    fn arm(&self, plan: &[(u64, TapAction)]) {
        self.calls.store(0, Ordering::SeqCst);
        self.kinds.lock().expect("kinds").clear();
        *self.plan.lock().expect("plan") = plan.iter().copied().collect();
    }
}

impl TapHook for Killer {
    fn decide(&self, call: &TapCall) -> TapAction {
        let n = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
        self.kinds.lock().expect("kinds").push(kind(call));
        let mut target = self.target.lock().expect("target");
        if let Some((wanted, action)) = *target
            && wanted == kind(call)
        {
            *target = None;
            self.killed.lock().expect("killed").push((wanted, action));
            return action;
        }
        let mut plan = self.plan.lock().expect("plan");
        match plan.front().copied() {
            Some((at, action)) if at == n => {
                plan.pop_front();
                self.killed.lock().expect("killed").push((kind(call), action));
                action
            }
            _ => TapAction::Forward,
        }
    }

    fn stop(&self, _: &TapCall) {
        if let Some(switch) = self.switch.get() {
            switch.kill();
        }
    }
}

/// A stack whose worker runs as its own process from its binary, under its own principal.
pub(crate) struct Env {
    pub(crate) stack: DevStack,
    pub(crate) api: ApiClient,
    pub(crate) records: DynamoRecords,
    pub(crate) store: StoreConfig,
}

/// How [`Env`]'s worker runs.
pub(crate) struct ProcessSetup {
    /// The hook every call of the worker passes.
    pub(crate) hook: Option<Arc<dyn TapHook>>,
    /// Variables over the template's.
    pub(crate) env: Vec<(&'static str, String)>,
    /// Actions left out of the functions' policies.
    pub(crate) withheld: Vec<(String, String)>,
    /// Poll the queue (false: the test works it).
    pub(crate) run_worker: bool,
    /// After a failed invocation, redeliver at once (as if the wait had passed).
    pub(crate) fast_forward: bool,
    /// Where the process's output goes (default `target/lambda-logs/sync-worker.log`).
    pub(crate) log: Option<std::path::PathBuf>,
}

impl Default for ProcessSetup {
    fn default() -> Self {
        Self { hook: None, env: Vec::new(), withheld: Vec::new(), run_worker: true, fast_forward: true, log: None }
    }
}

async fn env(killer: Arc<Killer>, budget_secs: u64) -> Env {
    let e = process_env(ProcessSetup {
        hook: Some(killer.clone() as Arc<dyn TapHook>),
        env: vec![("JOB_BUDGET_SECS", budget_secs.to_string()), ("RETRY_FIRST_BACKOFF_SECS", "1".into())],
        ..ProcessSetup::default()
    })
    .await;
    let lambda = e.stack.worker_lambda.clone().expect("the worker runs as a process");
    let _ = killer.switch.set(lambda.kill_switch());
    e
}

/// The stack of `setup`, with a small store.
pub(crate) async fn process_env(setup: ProcessSetup) -> Env {
    let mut store = StoreConfig::from_seed(43, Sizes { orders: 120, products: 30, customers: 60, categories: 3 });
    store.quota = 100_000;
    let log = setup.log.unwrap_or_else(|| devstack::repo_root().join("target/lambda-logs/sync-worker.log"));
    let mut env = BTreeMap::from([("RUST_LOG".to_string(), "warn".to_string())]);
    env.extend(setup.env.into_iter().map(|(k, v)| (k.to_string(), v)));
    let mut options = StackOptions {
        port: 0,
        aws_endpoint: Some(devstack::emulator_endpoint()),
        name_prefix: format!("k{}-", Uuid::new_v4().simple()),
        run_worker: setup.run_worker,
        withheld: setup.withheld,
        worker_process: Some(WorkerProcess {
            binary: env!("CARGO_BIN_EXE_sync-worker").into(),
            env,
            timeout: None,
            hook: setup.hook,
            fast_forward: setup.fast_forward,
            log: Some(log),
        }),
        ..StackOptions::default()
    };
    options.sandbox.stores = vec![store.clone()];
    let stack = DevStack::start(options).await.expect("stack");
    let api = ApiClient::new(&stack.api_url, &stack.api_key);
    let records =
        DynamoRecords::new(aws_sdk_dynamodb::Client::new(&stack.admin_sdk()), stack.tables["DataTable"].clone());
    Env { stack, api, records, store }
}

impl Env {
    /// Links a new company to the store and waits until its first syncs end: (company,
    /// connection, final status by data type).
    pub(crate) async fn link_and_sync(&self) -> (String, Uuid, BTreeMap<String, String>) {
        let (company, connection) = self.link().await;
        let statuses = self.api.wait_for_syncs(&company, Duration::from_secs(90), |_, _, _| {}).await.expect("history");
        let Some(statuses) = statuses else {
            let history = format!("/companies/{company}/data/history?pageSize=100");
            let history = self.api.expect("GET", &history, None, 200).await.expect("history");
            panic!("the syncs of {company} did not end: {history:#}");
        };
        (company, connection, statuses)
    }

    /// Links a new company to the store: (company, connection).
    pub(crate) async fn link(&self) -> (String, Uuid) {
        let company = self.api.expect("POST", "/companies", Some(&json!({"name": "Killed Co"})), 200).await.expect("c");
        let company = company["id"].as_str().expect("id").to_string();
        let connection = self
            .api
            .expect("POST", &format!("/companies/{company}/connections"), Some(&json!({"platformKey": "vqzp"})), 200)
            .await
            .expect("connection");
        let connection = connection["id"].as_str().expect("id").to_string();
        let path = format!("/companies/{company}/connections/{connection}/authorization");
        self.api.expect("PUT", &path, Some(&self.stack.sandbox_credentials()), 200).await.expect("link");
        (company, connection.parse().expect("uuid"))
    }

    /// (lost, extra, duplicate rows) of what is stored for `connection` against the store.
    pub(crate) async fn compare(&self, connection: Uuid) -> (usize, usize, usize) {
        let sandbox = self.stack.sandbox.store(&self.store.hash).expect("store");
        let truth = devstack::truth::of_store(&sandbox);
        let mut expected: BTreeMap<DataType, BTreeSet<String>> = BTreeMap::new();
        expected.insert(DataType::Payments, truth.payments.keys().cloned().collect());
        expected.insert(DataType::Transactions, truth.transactions.keys().cloned().collect());
        expected.insert(
            DataType::Orders,
            sandbox.data().orders.iter().filter(|o| !o.is_deleted).map(|o| o.id.to_string()).collect(),
        );
        let (mut lost, mut extra, mut duplicates) = (0, 0, 0);
        for (data_type, count) in &truth.counts {
            let set = RecordSet::new(connection, *data_type);
            let stored: Vec<String> =
                self.records.every_record(set).await.expect("records").into_iter().map(|r| r.id).collect();
            let unique: BTreeSet<String> = stored.iter().cloned().collect();
            duplicates += stored.len() - unique.len();
            // The sealed directory must count what is stored, once each.
            let listed = self.records.page(set, 0, 1).await.expect("page").map_or(0, |p| p.total as usize);
            duplicates += listed.saturating_sub(unique.len());
            match expected.get(data_type) {
                Some(ids) => {
                    lost += ids.difference(&unique).count();
                    extra += unique.difference(ids).count();
                }
                None => {
                    lost += count.saturating_sub(unique.len());
                    extra += unique.len().saturating_sub(*count);
                }
            }
        }
        (lost, extra, duplicates)
    }
}

#[tokio::test]
async fn the_worker_binary_syncs_under_its_runtime_api_within_its_memory() {
    let killer = Arc::new(Killer::default());
    let e = env(killer, 600).await;
    let (company, connection, statuses) = e.link_and_sync().await;
    assert!(statuses.values().all(|s| s == "Complete" || s == "NotSupported"), "{company}: {statuses:?}");
    assert_eq!(e.compare(connection).await, (0, 0, 0));
    let stats = e.stack.worker_lambda.as_ref().expect("lambda").stats();
    println!("worker process: {stats:?}");
    assert!(stats.invocations >= 8, "one per data type at least: {stats:?}");
    assert_eq!((stats.cold_starts, stats.timeouts, stats.out_of_memory, stats.crashed), (1, 0, 0, 0));
    assert!(stats.peak_rss_kb > 0 && stats.peak_rss_kb < 512 * 1024, "within MemorySize: {stats:?}");
    e.stack.stop().await;
}

#[tokio::test]
async fn killed_at_seeded_points_every_sync_converges_with_nothing_lost_or_duplicated() {
    let killer = Arc::new(Killer::default());
    // A short budget: continuations too, so kills land in later parts.
    let e = env(killer.clone(), 1).await;
    // The calls of an undisturbed first sync, by kind: where the kills can land.
    killer.arm(&[]);
    let started = std::time::Instant::now();
    let (_, baseline, statuses) = e.link_and_sync().await;
    eprintln!("baseline: {} calls, {:?}", killer.kinds.lock().expect("kinds").len(), started.elapsed());
    assert!(statuses.values().all(|s| s == "Complete" || s == "NotSupported"), "{statuses:?}");
    assert_eq!(e.compare(baseline).await, (0, 0, 0));
    let kinds = killer.kinds.lock().expect("kinds").clone();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(SEED);
    let mut points = Vec::new();
    for wanted in ["page", "write", "checkpoint", "seal"] {
        let at: Vec<u64> = kinds.iter().enumerate().filter(|(_, k)| **k == wanted).map(|(i, _)| i as u64 + 1).collect();
        assert!(!at.is_empty(), "no {wanted} call in {} calls", kinds.len());
        for n in 0..PER_KIND {
            let action = if n % 2 == 0 { TapAction::StopBefore } else { TapAction::StopAfter };
            points.push((at[rng.random_range(0..at.len())], action));
        }
    }
    // Shuffled into syncs of PER_SYNC kills each, in call order within a sync.
    for i in (1..points.len()).rev() {
        points.swap(i, rng.random_range(0..=i));
    }
    let plans: Vec<Vec<(u64, TapAction)>> = points
        .chunks(PER_SYNC)
        .map(|chunk| {
            let mut plan = chunk.to_vec();
            plan.sort_by_key(|(at, _)| *at);
            plan.dedup_by_key(|(at, _)| *at);
            plan
        })
        .collect();
    let lambda = e.stack.worker_lambda.clone().expect("lambda");
    let before = lambda.stats();
    let mut figures = (0usize, 0usize, 0usize, 0usize);
    for plan in &plans {
        killer.arm(plan);
        let started = std::time::Instant::now();
        let (company, connection, statuses) = e.link_and_sync().await;
        eprintln!("kills at {plan:?}: {:?}", started.elapsed());
        let wrong: Vec<_> = statuses.iter().filter(|(_, s)| *s != "Complete" && *s != "NotSupported").collect();
        assert!(wrong.is_empty(), "killed at calls {plan:?}, company {company}: {wrong:?}");
        let (lost, extra, duplicates) = e.compare(connection).await;
        figures.0 += lost;
        figures.1 += extra;
        figures.2 += duplicates;
        figures.3 += 1;
        assert_eq!((lost, extra, duplicates), (0, 0, 0), "killed at calls {plan:?}");
    }
    let stats = lambda.stats();
    let killed = killer.killed.lock().expect("killed").clone();
    let mut by_kind: BTreeMap<&str, usize> = BTreeMap::new();
    for (kind, _) in &killed {
        *by_kind.entry(kind).or_default() += 1;
    }
    let after: usize = killed.iter().filter(|(_, a)| *a == TapAction::StopAfter).count();
    println!(
        "kill points: {} syncs, {} kills ({by_kind:?}; {after} after the call landed), {} invocations, {} redeliveries after a kill, {} cold starts, lost {}, extra {}, duplicate rows {}",
        figures.3,
        stats.killed - before.killed,
        stats.invocations - before.invocations,
        stats.killed - before.killed,
        stats.cold_starts - before.cold_starts,
        figures.0,
        figures.1,
        figures.2
    );
    assert!(stats.killed - before.killed >= 20, "at least 20 kills: {stats:?}");
    e.stack.stop().await;
}

#[tokio::test]
async fn killed_between_the_orders_and_the_money_pass_each_resumes() {
    let killer = Arc::new(Killer::default());
    let e = env(killer.clone(), 600).await;
    // Before the handover leaves (orders stored, not sealed) and after it landed (the money
    // pass queued, orders not yet Complete).
    for action in [TapAction::StopBefore, TapAction::StopAfter] {
        killer.arm(&[]);
        *killer.target.lock().expect("target") = Some(("handover", action));
        let (company, connection, statuses) = e.link_and_sync().await;
        assert!(killer.target.lock().expect("target").is_none(), "the handover was killed ({action:?})");
        assert!(statuses.values().all(|s| s == "Complete" || s == "NotSupported"), "{company}: {statuses:?}");
        assert_eq!(e.compare(connection).await, (0, 0, 0), "killed {action:?} the handover");
        let handovers = killer.kinds.lock().expect("kinds").iter().filter(|k| **k == "handover").count();
        assert!(handovers >= 2, "the redelivered orders run handed over again: {handovers}");
    }
    e.stack.stop().await;
}
