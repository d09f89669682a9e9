//! The scheduler against moto: the due index, claims under concurrent ticks, the real queue, and
//! the `events/scheduler` replay.

use std::time::Instant;

use chrono::{DateTime, Duration, Utc};
use devstack::invoke::{load_event, scheduler_setup};
use shared::domain::JobReason;
use shared::domain::{Company, CompanyName, Connection, ConnectionStatus, DataType, PullStatus, Tags};
use shared::ports::{CompanyStore, ConnectionStore, DatasetStore, ScheduleStore};
use shared::scheduler::{event_time, tick};
use shared::syncs::request_syncs;
use uuid::Uuid;

fn sdk() -> aws_config::SdkConfig {
    devstack::emulator_sdk_config()
}

fn events_dir() -> std::path::PathBuf {
    devstack::repo_root().join("events/scheduler")
}

/// Takes every message waiting on the queue (a FIFO queue holds back a group's later messages
/// while one is in flight, so each is deleted); returns how many there were.
async fn drain(sqs: &aws_sdk_sqs::Client, url: &str) -> usize {
    let mut count = 0;
    loop {
        let out = sqs.receive_message().queue_url(url).max_number_of_messages(10).send().await.expect("receive");
        let messages = out.messages.unwrap_or_default();
        if messages.is_empty() {
            return count;
        }
        count += messages.len();
        for message in messages {
            let handle = message.receipt_handle.unwrap_or_default();
            sqs.delete_message().queue_url(url).receipt_handle(handle).send().await.expect("delete");
        }
    }
}

#[tokio::test]
async fn the_scheduled_event_queues_what_is_due_once_even_when_fired_twice_at_once() {
    let sdk = sdk();
    let prefix = format!("sched-{}-", Uuid::new_v4().simple());
    let setup = scheduler_setup(&sdk, &prefix).await.expect("setup");
    let (store, queue, url) = (&setup.store, &setup.queue, &setup.url);
    let event = load_event(&events_dir().join("scheduled.json")).expect("event");
    let now = event_time(&event).expect("time");
    // EventBridge delivers at least once: the same tick twice, at the same moment.
    let budget = shared::scheduler::TICK_BUDGET;
    let (a, b) = tokio::join!(tick(store, queue.as_ref(), now, budget), tick(store, queue.as_ref(), now, budget));
    let (a, b) = (a.expect("tick"), b.expect("tick"));
    assert_eq!(a.queued + b.queued, 1, "{a:?} {b:?}");
    assert_eq!(a.due + b.due, 2, "both saw it due");
    // And once more, later (a redelivery): nothing is due any more.
    let again =
        tick(store, queue.as_ref(), now + Duration::minutes(1), shared::scheduler::TICK_BUDGET).await.expect("tick");
    assert_eq!((again.due, again.queued), (0, 0));
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    assert_eq!(drain(&sqs, url).await, 1, "one job on the queue");
    let statuses = store.data_statuses(devstack::fixtures::COMPANY_ID).await.expect("statuses");
    let info = statuses.iter().find(|s| s.data_type == DataType::CompanyInfo).expect("status");
    assert_eq!(info.current_status, PullStatus::Queued);
    let history = store.datasets(devstack::fixtures::COMPANY_ID).await.expect("history");
    assert_eq!(history.iter().filter(|d| d.data_type == DataType::CompanyInfo).count(), 2);
}

#[tokio::test]
async fn every_scheduler_event_file_is_covered_and_replays() {
    let mut files: Vec<String> = std::fs::read_dir(events_dir())
        .expect("events/scheduler")
        .filter_map(|e| e.ok()?.file_name().to_str().map(str::to_string))
        .collect();
    files.sort();
    assert_eq!(files, ["scheduled.json"]);
    let response =
        devstack::invoke::invoke(&sdk(), "scheduler", &events_dir().join("scheduled.json")).await.expect("invoke");
    let body = match response.body() {
        lambda_http::Body::Text(text) => serde_json::from_str::<serde_json::Value>(text).expect("JSON"),
        other => panic!("unexpected {other:?}"),
    };
    assert_eq!(body["due"], 1, "{body}");
    assert_eq!(body["queued"], 1, "{body}");
}

/// Counts the calls a client sends (an SDK interceptor: what a tick costs, call by call).
#[derive(Debug, Clone, Default)]
struct CallCounter(std::sync::Arc<std::sync::atomic::AtomicU64>);

impl CallCounter {
    fn calls(&self) -> u64 {
        self.0.load(std::sync::atomic::Ordering::SeqCst)
    }
}

impl aws_sdk_dynamodb::config::Intercept for CallCounter {
    fn name(&self) -> &'static str {
        "CallCounter"
    }

    fn read_before_execution(
        &self,
        _context: &aws_sdk_dynamodb::config::interceptors::BeforeSerializationInterceptorContextRef<'_>,
        _cfg: &mut aws_sdk_dynamodb::config::ConfigBag,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Ok(())
    }
}

async fn company(store: &impl CompanyStore, now: DateTime<Utc>) -> Uuid {
    let company = Company {
        id: Uuid::new_v4(),
        name: CompanyName::parse("Scheduled Store").expect("name"),
        description: None,
        tags: Tags::default(),
        link_token_hash: Uuid::new_v4().to_string(),
        link_nonce: String::new(),
        created: now,
        last_sync: None,
    };
    store.create_company(&company).await.expect("company");
    company.id
}

#[tokio::test]
async fn one_tick_handles_many_connections_and_drops_unlinked_ones_from_the_schedule() {
    const LINKED: usize = 60;
    const UNLINKED: usize = 6;
    let sdk = sdk();
    let prefix = format!("sched-many-{}-", Uuid::new_v4().simple());
    let s = scheduler_setup(&sdk, &prefix).await.expect("setup");
    // The companies, links and first syncs the tick finds are set up as the admin; the tick
    // itself runs as fn scheduler.
    let (store, queue, url) = (&s.admin_store, &s.admin_queue, &s.url);
    let t0: DateTime<Utc> = DateTime::parse_from_rfc3339("2026-11-01T00:00:00Z").expect("t0").with_timezone(&Utc);
    let types = [DataType::Orders, DataType::Customers];
    let setup = (0..LINKED + UNLINKED).map(|i| {
        let queue = queue.clone();
        async move {
            let id = company(store, t0).await;
            let connection = Connection::create(id, t0);
            store.create_connection(&connection).await.expect("connection");
            store
                .set_connection_status(id, connection.id, &[ConnectionStatus::PendingAuth], ConnectionStatus::Linked)
                .await
                .expect("linked");
            let datasets = request_syncs(store, queue.as_ref(), id, connection.id, &types, JobReason::FirstLink, t0)
                .await
                .expect("first syncs");
            for d in datasets {
                store.advance_dataset(id, d.id, PullStatus::Complete, 100, None, t0).await.expect("complete");
            }
            if i >= LINKED {
                store
                    .set_connection_status(id, connection.id, &[ConnectionStatus::Linked], ConnectionStatus::Unlinked)
                    .await
                    .expect("unlinked");
            }
        }
    });
    // One at a time: moto answers 500 to concurrent transactions on one table.
    for connection in setup {
        connection.await;
    }
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let first_syncs = drain(&sqs, url).await;
    assert_eq!(first_syncs, (LINKED + UNLINKED) * types.len());

    // A day later (the default schedule), one tick: every linked connection's types, once.
    let at = t0 + Duration::hours(24);
    let early = tick(&s.store, s.queue.as_ref(), at - Duration::minutes(1), shared::scheduler::TICK_BUDGET)
        .await
        .expect("tick");
    // Only the fixture company's company-info sync, due since January; nothing before its time.
    assert_eq!((early.due, early.queued), (1, 1), "{early:?}");
    drain(&sqs, url).await;
    // The measured tick goes through clients that count their calls.
    let (dynamo_calls, sqs_calls) = (CallCounter::default(), CallCounter::default());
    let counted_store = shared::adapters::dynamodb::DynamoStore::new(
        aws_sdk_dynamodb::Client::from_conf(
            aws_sdk_dynamodb::config::Builder::from(&s.sdk).interceptor(dynamo_calls.clone()).build(),
        ),
        format!("{prefix}PlatformTable"),
    );
    let counted_queue = shared::adapters::sqs::SqsJobQueue::new(
        aws_sdk_sqs::Client::from_conf(
            aws_sdk_sqs::config::Builder::from(&s.sdk).interceptor(sqs_calls.clone()).build(),
        ),
        url.clone(),
    );
    let started = Instant::now();
    let report = tick(&counted_store, &counted_queue, at, shared::scheduler::TICK_BUDGET).await.expect("tick");
    let elapsed = started.elapsed();
    assert_eq!(report.queued, LINKED * types.len(), "{report:?}");
    assert_eq!(report.unscheduled, UNLINKED * types.len(), "{report:?}");
    assert_eq!(report.connections, LINKED);
    assert_eq!(drain(&sqs, url).await, LINKED * types.len());
    let (dynamo, sqs_sent) = (dynamo_calls.calls(), sqs_calls.calls());
    let per_linked = (dynamo + sqs_sent) as f64 / LINKED as f64;
    println!(
        "scheduler: {} connections ({} due entries) in {:.2} s, {:.1} ms per connection against moto; {dynamo} DynamoDB + {sqs_sent} SQS calls, {per_linked:.1} per linked connection",
        LINKED + UNLINKED + 1,
        report.due,
        elapsed.as_secs_f64(),
        elapsed.as_secs_f64() * 1000.0 / (LINKED + UNLINKED + 1) as f64
    );
    // The cost of a connection is a fixed handful of calls (one of them the check for data
    // types still Queued, which are not queued twice) plus four per due data type (its claim,
    // its next schedule, the record that its job was sent, and the note of the dataset it
    // supersedes, which expires once the new one ends), never a read of other connections'
    // data; an unlinked one costs its lookup and one removal per entry. Plus the due index's
    // Query and the deployment's default settings (read once a tick).
    let bound = LINKED * (9 + 4 * types.len()) + UNLINKED * (1 + types.len()) + 3;
    assert!(dynamo + sqs_sent <= bound as u64, "{} calls, at most {bound} expected", dynamo + sqs_sent);
    assert_eq!(sqs_sent, LINKED as u64, "one SendMessageBatch per connection");
    // The unlinked ones are off the schedule: a much later tick finds only the linked ones.
    let later =
        tick(&s.store, s.queue.as_ref(), at + Duration::hours(48), shared::scheduler::TICK_BUDGET).await.expect("tick");
    assert_eq!(later.due, LINKED * types.len() + 1);
    assert_eq!(later.unscheduled, 0);
    // Each due entry was read from the index, not found by scanning the table.
    let remaining = s.store.due_syncs(at + Duration::hours(48), 10_000).await.expect("due");
    assert!(remaining.is_empty(), "{} still due", remaining.len());
}

#[test]
fn the_template_schedules_the_scheduler_with_least_privilege() {
    let text = std::fs::read_to_string(devstack::repo_root().join("template.yaml")).expect("template.yaml");
    let template: serde_norway::Value = serde_norway::from_str(&text).expect("YAML");
    let function = &template["Resources"]["SchedulerFunction"]["Properties"];
    assert_eq!(function["Events"]["Tick"]["Type"], "Schedule");
    assert_eq!(template["Parameters"]["SyncScheduleExpression"]["Default"], "rate(15 minutes)");
    let actions: Vec<&str> = function["Policies"][0]["Statement"]
        .as_sequence()
        .expect("statements")
        .iter()
        .flat_map(|s| s["Action"].as_sequence().expect("actions").iter().filter_map(|a| a.as_str()))
        .collect();
    assert!(actions.iter().all(|a| a.starts_with("dynamodb:") || *a == "sqs:SendMessage"), "{actions:?}");
    assert!(!actions.iter().any(|a| a.contains("Scan") || a.contains("Delete")), "{actions:?}");
}

/// The `make dev` loop: the local stack's scheduler ticking as EventBridge would (every second
/// here, every minute in `make dev`, both counting as due what comes due within a day), the worker
/// polling the queue, and a change made in the sandbox store reaching the read API on its own.
/// The store sends no webhooks here (it refuses the stack's destination): the schedule is the
/// safety net for the changes that no event announces.
#[tokio::test]
async fn a_change_in_the_sandbox_reaches_the_read_api_after_the_next_scheduled_sync() {
    use devstack::stack::{DevStack, StackOptions};
    let endpoint = devstack::emulator_endpoint();
    let mut store =
        sandbox::StoreConfig::from_seed(7, sandbox::Sizes { orders: 300, products: 20, customers: 40, categories: 3 });
    store.quota = 10_000;
    let (run_tx, mut runs) = tokio::sync::mpsc::unbounded_channel();
    let mut options = StackOptions {
        port: 0,
        aws_endpoint: Some(endpoint),
        name_prefix: format!("dev-{}-", Uuid::new_v4().simple()),
        schedule_every: Some(std::time::Duration::from_secs(1)),
        schedule_ahead: Duration::days(1),
        worker_reports: Some(run_tx),
        store_hooks: false,
        ..StackOptions::default()
    };
    options.sandbox.stores = vec![store.clone()];
    let stack = DevStack::start(options).await.expect("stack");
    let client = devstack::client::ApiClient::new(&stack.api_url, &stack.api_key);
    let company = client
        .expect("POST", "/companies", Some(&serde_json::json!({"name": "Dev Loop Ltd"})), 200)
        .await
        .expect("company");
    let company = company["id"].as_str().expect("id").to_string();
    let connection = client
        .expect(
            "POST",
            &format!("/companies/{company}/connections"),
            Some(&serde_json::json!({"platformKey": "vqzp"})),
            200,
        )
        .await
        .expect("connection");
    let connection = connection["id"].as_str().expect("id").to_string();
    let path = format!("/companies/{company}/connections/{connection}/authorization");
    client.expect("PUT", &path, Some(&stack.sandbox_credentials()), 200).await.expect("link");
    assert_eq!(devstack::change::linked_connection(&client, &company).await.expect("list"), Some(connection.clone()));
    // The scheduler keeps syncing, so wait for the first successful orders sync, not for quiet.
    let started = std::time::Instant::now();
    let first_sync = loop {
        let status =
            client.expect("GET", &format!("/companies/{company}/dataStatus"), None, 200).await.expect("status");
        if let Some(id) = status["commerce-orders"]["latestSuccessfulSyncId"].as_str() {
            break id.to_string();
        }
        assert!(started.elapsed() < std::time::Duration::from_secs(120), "no first orders sync: {status}");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    };

    let admin = format!("{}/admin/stores/{}", stack.sandbox.base_url(), store.hash);
    let change = devstack::change::make_change(&admin).await.expect("change");
    while runs.try_recv().is_ok() {}
    let took = devstack::change::until_seen(
        &client,
        &company,
        &connection,
        &change,
        std::time::Duration::from_secs(90),
        |_, _| {},
    )
    .await
    .expect("the change reaches the read API");
    // It came with an incremental orders run that the scheduler queued (nobody else asked).
    // (Its report comes when the run ends, just after the records are readable.)
    let orders_run = tokio::time::timeout(std::time::Duration::from_secs(30), async {
        loop {
            match runs.recv().await {
                // The first sync's own report may still be on its way (its status is written
                // before it reports): the run wanted is a later one.
                Some(run) if run.dataset_id.to_string() == first_sync => {}
                Some(run) if run.data_type == DataType::Orders && run.status.is_some() => return run,
                Some(_) => {}
                None => panic!("the worker stopped reporting"),
            }
        }
    })
    .await
    .expect("an orders run ended");
    assert!(orders_run.incremental && orders_run.requests < 20, "changes only: {orders_run:?}");
    let history = client
        .expect("GET", &format!("/companies/{company}/data/history?pageSize=100"), None, 200)
        .await
        .expect("history");
    assert!(history["totalResults"].as_u64().unwrap_or(0) > 8, "the scheduler requested syncs: {history}");
    println!("a sandbox change reached the read API after {} ms", took.as_millis());
    stack.stop().await;
}
