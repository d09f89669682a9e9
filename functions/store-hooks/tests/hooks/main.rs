//! The stores' webhooks against the IAM-enforced local stack: a link registers the store's
//! hooks; a change in the sandbox store calls fn store-hooks, which leaves a change and a job
//! on the fresh queue; the worker's targeted sync fetches exactly the changed records; forged
//! and duplicate callbacks cost nothing; a scheduled sync repairs deactivated hooks; unlinking
//! removes them before the secret goes. Every function runs under its own policy.

use std::time::{Duration, Instant};

use devstack::client::ApiClient;
use devstack::stack::{DevStack, StackOptions};
use sandbox::Mutations;
use secrecy::ExposeSecret;
use serde_json::{Value, json};
use shared::adapters::dynamodb::DynamoStore;
use shared::bigcommerce::hooks::{SCOPES, SECRET_HEADER};
use shared::domain::{DataType, PullStatus};
use shared::ports::{ConnectionStore, DatasetStore, HookStore};
use uuid::Uuid;

/// A stack of its own over a small store (its first syncs take seconds).
fn options(run_worker: bool) -> StackOptions {
    let sizes = sandbox::Sizes { orders: 40, products: 8, customers: 10, categories: 3 };
    StackOptions {
        port: 0,
        aws_endpoint: Some(devstack::emulator_endpoint()),
        name_prefix: format!("k{}-", Uuid::new_v4().simple()),
        run_worker,
        sandbox: sandbox::SandboxOptions {
            stores: vec![sandbox::StoreConfig::from_seed(7, sizes)],
            ..sandbox::SandboxOptions::default()
        },
        ..StackOptions::default()
    }
}

/// The stack's platform table, read as the admin (inspection only).
fn admin_store(stack: &DevStack) -> DynamoStore {
    DynamoStore::new(aws_sdk_dynamodb::Client::new(&stack.admin_sdk()), stack.tables["PlatformTable"].clone())
}

/// A company and its connection, linked to the sandbox store through the API: their ids.
async fn linked(stack: &DevStack, api: &ApiClient) -> (Uuid, Uuid) {
    let (company, connection) = api.company_with_connection("Fresh").await.expect("company and connection");
    let authorization = format!("/companies/{company}/connections/{connection}/authorization");
    api.expect("PUT", &authorization, Some(&stack.sandbox_credentials()), 200).await.expect("linked");
    (company.parse().expect("uuid"), connection.parse().expect("uuid"))
}

fn store(stack: &DevStack) -> std::sync::Arc<sandbox::Store> {
    stack.sandbox.stores().into_iter().next().expect("a store")
}

/// The connection's hook secret, as the worker reads it (the admin reads Secrets Manager).
async fn hook_secret(stack: &DevStack, connection: Uuid) -> String {
    let secrets = shared::adapters::secrets_manager::SecretsManagerStore::new(aws_sdk_secretsmanager::Client::new(
        &stack.admin_sdk(),
    ));
    let name = format!("{}{connection}", stack.resources.secret_prefix);
    let reader = shared::vault::CredentialReader::new(std::sync::Arc::new(secrets));
    let (_, secret) = reader.read_with_hook(&name).await.expect("read").expect("the secret");
    secret.expect("a hook secret").expose_secret().to_string()
}

async fn until<T>(what: &str, within: Duration, mut check: impl AsyncFnMut() -> Option<T>) -> T {
    let started = Instant::now();
    loop {
        if let Some(found) = check().await {
            return found;
        }
        assert!(started.elapsed() < within, "{what}: not within {within:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// POSTs `body` to the connection's callback URL with `secret` (none: no header).
async fn call_back(stack: &DevStack, company: Uuid, connection: Uuid, secret: Option<&str>, body: &Value) -> u16 {
    let url = format!("{}/bigcommerce/hooks/{company}/{connection}", stack.api_url);
    let mut request = reqwest::Client::new().post(url).json(body);
    if let Some(secret) = secret {
        request = request.header(SECRET_HEADER, secret);
    }
    request.send().await.expect("sent").status().as_u16()
}

fn callback(scope: &str, id: u64, hash: &str) -> Value {
    json!({"scope": scope, "store_id": "1000007", "data": {"type": "order", "id": id}, "hash": hash,
           "created_at": chrono::Utc::now().timestamp(), "producer": "stores/x"})
}

#[tokio::test]
async fn a_link_registers_the_hooks_and_a_change_reaches_the_read_api_through_a_targeted_job() {
    let stack = DevStack::start(StackOptions { run_webhooks: true, ..options(true) }).await.expect("stack");
    let api = ApiClient::new(&stack.api_url, &stack.api_key);
    // A platform's webhook consumer: the targeted sync's read.completed reaches it.
    let receiver = devstack::receiver::Receiver::start().await.expect("receiver");
    let body = json!({"url": receiver.url(), "eventTypes": ["read.completed"]});
    let consumer = api.expect("POST", "/webhooks", Some(&body), 201).await.expect("consumer");
    receiver.set_secret(consumer["secret"].as_str().expect("secret"));
    let (company, connection) = linked(&stack, &api).await;
    let store = store(&stack);
    let hooks = store.hooks();
    let destination = format!("{}/bigcommerce/hooks/{company}/{connection}", stack.api_url);
    assert_eq!(hooks.len(), SCOPES.len(), "one hook per scope: {hooks:?}");
    for hook in &hooks {
        assert!(hook.is_active && hook.destination == destination, "{hook:?}");
        assert!(SCOPES.contains(&hook.scope.as_str()), "{}", hook.scope);
    }
    let secret = hook_secret(&stack, connection).await;
    assert!(
        hooks.iter().all(|h| h.headers.get(SECRET_HEADER) == Some(&secret)),
        "the secret rides in each hook's header"
    );
    let final_statuses =
        api.wait_for_syncs(&company.to_string(), Duration::from_secs(120), |_, _, _| {}).await.expect("history");
    assert!(final_statuses.is_some_and(|s| s.values().all(|v| v == "Complete")), "first syncs complete");

    // One order changes (and one product is deleted) in the store: its hooks call back.
    store.reset_metrics();
    let touched = store.mutate(Mutations { updates: 1, product_deletes: 1, ..Mutations::default() });
    let order = touched.updated_orders[0];
    let product = touched.products[0];
    let admin = admin_store(&stack);
    let targeted = until("a targeted orders dataset", Duration::from_secs(30), async || {
        let statuses = admin.data_statuses(company).await.expect("statuses");
        let status = statuses.iter().find(|s| s.data_type == DataType::Orders)?;
        let dataset = admin.dataset(company, status.latest_sync_id).await.expect("dataset")?;
        (dataset.targeted && dataset.status == PullStatus::Complete).then_some(dataset)
    })
    .await;
    assert_eq!(targeted.connection_id, connection);
    let record = api
        .expect(
            "GET",
            &format!("/companies/{company}/connections/{connection}/data/commerce-orders/{order}"),
            None,
            200,
        )
        .await
        .expect("the order");
    let account = &store.config().accounts[0];
    let source: Value = reqwest::Client::new()
        .get(format!("{}/v2/orders/{order}", stack.sandbox.store_url(store.hash())))
        .header("x-auth-token", &account.access_token)
        .send()
        .await
        .expect("the store's order")
        .json()
        .await
        .expect("json");
    let stored = record["sourceModifiedDate"]
        .as_str()
        .and_then(|d| chrono::NaiveDateTime::parse_from_str(d.trim_end_matches('Z'), "%Y-%m-%dT%H:%M:%S%.f").ok());
    let changed = shared::bigcommerce::endpoints::rfc2822(&source["date_modified"]).map(|d| d.naive_utc());
    assert!(stored.is_some() && stored == changed, "the order as the store has it now: {stored:?} {changed:?}");
    // The product the store deleted is gone from the read API.
    until("the deleted product removed", Duration::from_secs(30), async || {
        let path = format!("/companies/{company}/connections/{connection}/data/commerce-products/{product}");
        (api.send("GET", &path, None).await.expect("read").0 == 404).then_some(())
    })
    .await;
    // Exactly the changed ids were fetched: no listing, at most 3 calls per order.
    let metrics = store.metrics();
    let calls = |key: &str| metrics.requests.get(key).copied().unwrap_or(0);
    assert_eq!(calls("GET v2/orders"), 0, "no order listing: {:?}", metrics.requests);
    assert_eq!(calls("GET v2/orders/count"), 0);
    let order_calls = calls("GET v2/orders/{id}") + calls("GET v3/orders/{id}/transactions");
    let refunds = calls("GET v3/orders/payment_actions/refunds");
    let order_jobs = calls("GET v2/orders/{id}").max(1);
    assert!(order_calls + refunds <= 3 * order_jobs, "≤ 3 calls per changed order: {:?}", metrics.requests);
    // The history shows the targeted syncs.
    let history = api
        .expect("GET", &format!("/companies/{company}/data/history?pageSize=100"), None, 200)
        .await
        .expect("history");
    assert!(
        history["results"].as_array().expect("results").iter().any(|d| d["id"] == json!(targeted.id.to_string())),
        "the targeted dataset is in the history"
    );
    // Its read.completed: the orders of the connection, incremental from the change.
    let read = until("the targeted read.completed", Duration::from_secs(60), async || {
        receiver.received().into_iter().find(|r| {
            let types = &r.body["payload"]["dataTypes"];
            r.answered < 300
                && types[0]["dataType"] == "commerce-orders"
                && !r.body["payload"]["modifiedFromDate"].is_null()
        })
    })
    .await;
    assert!(read.verified, "signed as Standard Webhooks: {read:?}");
    let payload = &read.body["payload"];
    assert_eq!(payload["referenceCompany"]["id"], json!(company.to_string()));
    assert_eq!(payload["dataTypes"][0]["connectionId"], json!(connection.to_string()));
    assert_eq!(payload["dataTypes"][0]["status"], "Complete", "{payload}");
    stack.stop().await;
}

#[tokio::test]
async fn forged_unknown_and_duplicate_callbacks_cost_no_work_and_an_unlinked_connection_s_are_dropped() {
    let stack = DevStack::start(options(false)).await.expect("stack");
    let api = ApiClient::new(&stack.api_url, &stack.api_key);
    let (company, connection) = linked(&stack, &api).await;
    let secret = hook_secret(&stack, connection).await;
    let admin = admin_store(&stack);
    let body = callback("store/order/updated", 101, "0a1b2c3d");
    for (who, (company, connection, secret)) in [
        ("no secret", (company, connection, None)),
        ("a forged secret", (company, connection, Some("not-the-secret"))),
        ("another connection", (company, Uuid::new_v4(), Some(secret.as_str()))),
    ] {
        assert_eq!(call_back(&stack, company, connection, secret, &body).await, 401, "{who}");
    }
    let bad = format!("{}/bigcommerce/hooks/not-a-uuid/{connection}", stack.api_url);
    let status = reqwest::Client::new().post(bad).header(SECRET_HEADER, &secret).json(&body).send().await;
    assert_eq!(status.expect("sent").status().as_u16(), 401);
    assert!(admin.pending_changes(connection, 10).await.expect("changes").is_empty(), "refused calls leave no work");
    // Not BigCommerce's envelope: 400.
    assert_eq!(call_back(&stack, company, connection, Some(&secret), &json!({"scope": 1})).await, 400);

    assert_eq!(call_back(&stack, company, connection, Some(&secret), &body).await, 200);
    let first = admin.pending_changes(connection, 10).await.expect("changes");
    assert_eq!(first.len(), 1, "{first:?}");
    // The same payload again (BigCommerce's duplicate, same hash): dropped, the change as it was.
    assert_eq!(call_back(&stack, company, connection, Some(&secret), &body).await, 200);
    assert_eq!(admin.pending_changes(connection, 10).await.expect("changes"), first, "the duplicate did nothing");
    // Another event about the same order: one change still, the later one.
    let status = callback("store/order/statusUpdated", 101, "0a1b2c3e");
    assert_eq!(call_back(&stack, company, connection, Some(&secret), &status).await, 200);
    let second = admin.pending_changes(connection, 10).await.expect("changes");
    assert_eq!(second.len(), 1);
    assert_ne!(second[0].token, first[0].token);
    // The jobs on the fresh queue: one per window, in the connection's group.
    let sqs = aws_sdk_sqs::Client::new(&stack.admin_sdk());
    let queue = &stack.resources.queues["FreshJobsQueue"];
    let received = until("the targeted job", Duration::from_secs(10), async || {
        let out = sqs.receive_message().queue_url(queue).max_number_of_messages(10).send().await.expect("receive");
        let messages = out.messages.unwrap_or_default();
        (!messages.is_empty()).then_some(messages)
    })
    .await;
    let job: shared::domain::hook::FreshJob =
        serde_json::from_str(received[0].body.as_deref().expect("body")).expect("a fresh job");
    assert_eq!((job.fresh, job.connection_id), (shared::domain::hook::FreshKind::Changes, connection));

    // Unlinked: its callbacks are answered 200 and dropped.
    let path = format!("/companies/{company}/connections/{connection}");
    admin.clear_changes(&second).await.expect("cleared");
    api.expect("PATCH", &path, Some(&json!({"status": "Unlinked"})), 200).await.expect("unlinked");
    let later = callback("store/order/updated", 102, "0a1b2c3f");
    assert_eq!(call_back(&stack, company, connection, Some(&secret), &later).await, 200);
    assert!(admin.pending_changes(connection, 10).await.expect("changes").is_empty());
    stack.stop().await;
}

#[tokio::test]
async fn a_scheduled_sync_repairs_deactivated_and_missing_hooks_and_unlinking_removes_them_before_the_secret() {
    let stack = DevStack::start(options(true)).await.expect("stack");
    let api = ApiClient::new(&stack.api_url, &stack.api_key);
    let (company, connection) = linked(&stack, &api).await;
    api.wait_for_syncs(&company.to_string(), Duration::from_secs(120), |_, _, _| {}).await.expect("history");
    let store = store(&stack);
    let hooks = store.hooks();
    // BigCommerce deactivated one (after 48 h of failures) and another was deleted.
    assert!(store.set_hook_active(hooks[0].id, false));
    let account = &store.config().accounts[0];
    let deleted = reqwest::Client::new()
        .delete(format!("{}/v3/hooks/{}", stack.sandbox.store_url(store.hash()), hooks[1].id))
        .header("x-auth-token", &account.access_token)
        .send()
        .await
        .expect("deleted");
    assert_eq!(deleted.status().as_u16(), 200);
    // The next scheduled tick (everything due: a day on) queues the connection's syncs and a
    // hooks check, under the scheduler's own policy.
    let clients = shared::wiring::Clients::new(&stack.function_sdk("SchedulerFunction").expect("principal"));
    let (scheduler_store, queue) = shared::wiring::scheduler(
        &clients,
        shared::config::SchedulerConfig {
            table_name: stack.tables["PlatformTable"].clone(),
            queue_url: stack.resources.queues["SyncJobsQueue"].clone(),
            fresh_queue_url: stack.resources.queues["FreshJobsQueue"].clone(),
            sweep: shared::sweep::SweepPolicy::default(),
            history: shared::domain::History::default(),
        },
    );
    let now = chrono::Utc::now() + chrono::Duration::days(2);
    let tick =
        shared::scheduler::tick(&scheduler_store, &queue, now, shared::scheduler::TICK_BUDGET).await.expect("tick");
    assert_eq!(tick.hooks_checked, 1, "{tick:?}");
    until("the hooks repaired", Duration::from_secs(30), async || {
        let hooks = store.hooks();
        (hooks.len() == SCOPES.len() && hooks.iter().all(|h| h.is_active)).then_some(())
    })
    .await;

    // Unlinked: the hooks go, then the secret.
    let path = format!("/companies/{company}/connections/{connection}");
    api.expect("PATCH", &path, Some(&json!({"status": "Unlinked"})), 200).await.expect("unlinked");
    let secrets = aws_sdk_secretsmanager::Client::new(&stack.admin_sdk());
    let name = format!("{}{connection}", stack.resources.secret_prefix);
    until("the hooks and then the secret removed", Duration::from_secs(30), async || {
        let gone = secrets.describe_secret().secret_id(&name).send().await.is_err();
        if gone {
            assert!(store.hooks().is_empty(), "the hooks went before the secret");
        }
        gone.then_some(())
    })
    .await;
    let connection_now = admin_store(&stack).get_connection(company, connection).await.expect("read");
    assert!(connection_now.is_some_and(|c| c.hooks.is_some()), "the connection keeps where its hooks called");
    stack.stop().await;
}

/// Every file in `events/store-hooks/` replayed against fn store-hooks (fresh table seeded with
/// the fixtures, whose example connection has hooks with the example secret), under its own
/// policy: the answer each one names, and a change left only by the genuine one.
#[tokio::test]
async fn every_store_hooks_event_file_replays() {
    let cases: &[(&str, u16)] = &[("not-an-envelope", 400), ("order-updated", 200), ("order-updated-forged", 401)];
    let files = devstack::event::event_names("store-hooks");
    assert_eq!(files, cases.iter().map(|(f, _)| f.to_string()).collect::<Vec<_>>(), "a case per file");
    let sdk = devstack::emulator_sdk_config();
    for (file, status) in cases {
        let prefix = format!("e{}-", Uuid::new_v4().simple());
        let handler = devstack::invoke::store_hooks_handler(&sdk, &prefix).await.expect("handler");
        let path = devstack::repo_root().join("events/store-hooks").join(format!("{file}.json"));
        let request =
            devstack::event::to_lambda_request(&devstack::invoke::load_event(&path).expect("event")).expect("request");
        let response = handler.handle(request).await;
        assert_eq!(response.status().as_u16(), *status, "{file}");
        let store = DynamoStore::new(aws_sdk_dynamodb::Client::new(&sdk), format!("{prefix}PlatformTable"));
        let changes = store.pending_changes(devstack::fixtures::CONNECTION_ID, 10).await.expect("changes");
        assert_eq!(changes.len(), usize::from(*status == 200), "{file}: {changes:?}");
    }
}
