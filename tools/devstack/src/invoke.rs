//! Replays an `events/` file against a function's handler on a fresh local table seeded with
//! [`crate::fixtures`], as `sam local invoke -e` would against a deployed stack.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use aws_config::SdkConfig;

use aws_lambda_events::event::sqs::SqsEvent;
use aws_sdk_dynamodb::Client;
use lambda_http::{Body, Response};
use serde_json::Value;
use shared::adapters::dynamodb::DynamoStore;
use shared::adapters::dynamodb::records::DynamoRecords;
use shared::adapters::sqs::SqsJobQueue;
use shared::bigcommerce::BigCommerceClient;
use shared::config::{CompaniesConfig, DataConfig, LinkConfig, SchedulerConfig, WorkerConfig};
use shared::http::companies::CompaniesApi;
use shared::http::data::DataApi;
use shared::http::link::LinkApi;
use shared::http::{ApiKeys, Edge};
use shared::link::LinkSettings;
use shared::sync::SyncWorker;
use shared::wiring::{self, Clients};

use crate::event::to_lambda_request;
use crate::fixtures::{COMPANY_ID, CONNECTION_ID, DATASET_ID, EXAMPLE_API_KEY, example_link_key, seed, seed_records};
use crate::iam::{self, LocalResources};
use crate::template::{Template, create_queue_set};

/// The functions events can be replayed against.
pub const FUNCTIONS: &[&str] = &["companies", "link", "sync-worker", "data", "scheduler", "webhooks", "store-hooks"];

/// The hook secret of the example connection in the `events/store-hooks` files.
pub const EXAMPLE_HOOK_SECRET: &str = "example-hook-secret-0123456789abcdef";

/// Why an invocation could not run.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct InvokeError(String);

fn fail(e: impl std::fmt::Display) -> InvokeError {
    InvokeError(e.to_string())
}

/// Creates a fresh `PlatformTable` named `table`, seeds the fixtures, and returns the companies
/// handler over it, configured like a deployment without `PUBLIC_BASE_URL`.
pub async fn companies_handler(sdk: &SdkConfig, table: &str) -> Result<CompaniesApi<DynamoStore>, InvokeError> {
    seeded_platform_table(sdk, table).await?;
    let (queue_url, local) = fresh_sync_queue(sdk, &format!("{table}-")).await?;
    let webhook_retry_queue_url = queue_url_of(sdk, &format!("{table}-WebhookRetryQueue")).await?;
    let fresh_queue_url = queue_url_of(sdk, &format!("{table}-FreshJobsQueue.fifo")).await?;
    let config = CompaniesConfig {
        table_name: table.to_string(),
        edge: example_edge()?,
        queue_url,
        secret_prefix: format!("{table}-commerce-link/"),
        webhook_secret_prefix: format!("{table}-commerce-link-webhooks/"),
        webhook_transport: shared::webhooks::address::Transport::LoopbackHttp,
        webhook_retry_queue_url,
        fresh_queue_url,
    };
    Ok(wiring::companies(&function_clients(sdk, "CompaniesFunction", &local).await?, config))
}

/// Creates a fresh `PlatformTable` named `table`, seeded with the fixtures.
async fn seeded_platform_table(sdk: &SdkConfig, table: &str) -> Result<DynamoStore, InvokeError> {
    let dynamo = Client::new(sdk);
    Template::load_default()
        .map_err(fail)?
        .table("PlatformTable")
        .map_err(fail)?
        .create(&dynamo, table)
        .await
        .map_err(fail)?;
    let store = DynamoStore::new(dynamo, table);
    seed(&store).await.map_err(fail)?;
    Ok(store)
}

/// Creates the template's queues under `prefix` and returns the sync queue's URL, with what the
/// functions' policies name (the queues' ARNs).
async fn fresh_sync_queue(sdk: &SdkConfig, prefix: &str) -> Result<(String, LocalResources), InvokeError> {
    let template = Template::load_default().map_err(fail)?;
    let queues = create_queue_set(&template, &aws_sdk_sqs::Client::new(sdk), prefix).await.map_err(fail)?;
    let url = queues.get("SyncJobsQueue").map(|(url, _)| url.clone()).ok_or_else(|| fail("no SyncJobsQueue"))?;
    let local = LocalResources { queue_arns: queues.into_iter().map(|(id, (_, arn))| (id, arn)).collect() };
    Ok((url, local))
}

/// The URL of the queue named `name` (created by [`fresh_sync_queue`]).
async fn queue_url_of(sdk: &SdkConfig, name: &str) -> Result<String, InvokeError> {
    let out = aws_sdk_sqs::Client::new(sdk).get_queue_url().queue_name(name).send().await.map_err(fail)?;
    out.queue_url.ok_or_else(|| fail(format!("no queue {name}")))
}

/// The clients of `function`'s own principal (its template policy, for `resources`), created
/// through the admin SDK configuration `admin`.
async fn function_clients(
    admin: &SdkConfig,
    function: &str,
    resources: &LocalResources,
) -> Result<Clients, InvokeError> {
    Ok(Clients::new(&function_sdk(admin, function, resources).await?))
}

/// SDK configuration of `function`'s own principal, as [`function_clients`].
async fn function_sdk(admin: &SdkConfig, function: &str, resources: &LocalResources) -> Result<SdkConfig, InvokeError> {
    let template = Template::load_default().map_err(fail)?;
    let policy = iam::function_policy(&template, function, resources, &[]).map_err(fail)?;
    let name = format!("invoke-{function}-{}", uuid::Uuid::new_v4().simple());
    let principal = iam::create_principal(admin, &name, &policy).await.map_err(fail)?;
    let endpoint = admin.endpoint_url().ok_or_else(|| fail("the SDK configuration has no endpoint"))?;
    Ok(principal.sdk_config(endpoint))
}

/// The edge of the example deployment: its API key, no `PUBLIC_BASE_URL`, its link key.
fn example_edge() -> Result<Edge, InvokeError> {
    let keys = ApiKeys::from_digests(&ApiKeys::digest_hex(EXAMPLE_API_KEY)).map_err(fail)?;
    let link_keys = shared::keyring::LinkKeySource::fixed(shared::domain::LinkKeys::single(example_link_key()));
    Ok(Edge { keys, public_base_url: None, link_keys })
}

/// Fresh `<prefix>PlatformTable` (seeded with the fixtures) and `<prefix>DataTable`: the
/// store, the client and the data table's name.
pub async fn seeded_tables(sdk: &SdkConfig, prefix: &str) -> Result<(DynamoStore, Client, String), InvokeError> {
    let dynamo = Client::new(sdk);
    let data = format!("{prefix}DataTable");
    Template::load_default()
        .map_err(fail)?
        .table("DataTable")
        .map_err(fail)?
        .create(&dynamo, &data)
        .await
        .map_err(fail)?;
    let store = seeded_platform_table(sdk, &format!("{prefix}PlatformTable")).await?;
    Ok((store, dynamo, data))
}

/// The scheduler's resources, as [`scheduler_setup`] makes them.
pub struct SchedulerSetup {
    /// The platform table as the admin sees it (for setting up what the scheduler finds).
    pub admin_store: DynamoStore,
    /// The sync queue as the admin sends to it.
    pub admin_queue: Arc<SqsJobQueue>,
    /// The platform table as fn scheduler's own principal reads it.
    pub store: DynamoStore,
    /// The sync queue as fn scheduler's own principal sends to it.
    pub queue: Arc<SqsJobQueue>,
    /// The queue's URL.
    pub url: String,
    /// SDK configuration of fn scheduler's principal.
    pub sdk: SdkConfig,
}

/// The scheduler's resources: fresh tables seeded with the fixtures, whose Linked connection's
/// company-info sync completed and came due on 2026-01-16, and a fresh queue.
pub async fn scheduler_setup(sdk: &SdkConfig, prefix: &str) -> Result<SchedulerSetup, InvokeError> {
    use shared::ports::{DatasetStore, ScheduleStore};
    let (store, _, _) = seeded_tables(sdk, prefix).await?;
    let due = chrono::DateTime::parse_from_rfc3339("2026-01-16T09:30:00Z").map_err(fail)?.with_timezone(&chrono::Utc);
    store
        .advance_dataset(COMPANY_ID, DATASET_ID, shared::domain::PullStatus::Complete, 100, None, due)
        .await
        .map_err(fail)?;
    store.schedule_sync(COMPANY_ID, CONNECTION_ID, shared::domain::DataType::CompanyInfo, due).await.map_err(fail)?;
    let (url, local) = fresh_sync_queue(sdk, prefix).await?;
    let config = SchedulerConfig {
        table_name: format!("{prefix}PlatformTable"),
        queue_url: url.clone(),
        fresh_queue_url: queue_url_of(sdk, &format!("{prefix}FreshJobsQueue.fifo")).await?,
        sweep: shared::sweep::SweepPolicy::default(),
        history: shared::domain::History::default(),
    };
    let own = function_sdk(sdk, "SchedulerFunction", &local).await?;
    let (scheduler_store, queue) = wiring::scheduler(&Clients::new(&own), config);
    Ok(SchedulerSetup {
        admin_store: store,
        admin_queue: Arc::new(SqsJobQueue::new(aws_sdk_sqs::Client::new(sdk), url.clone())),
        store: scheduler_store,
        queue: Arc::new(queue),
        url,
        sdk: own,
    })
}

/// The Commerce API handler over fresh tables seeded with the fixtures and the example store's
/// synced company info and orders ([`seed_records`]).
pub async fn data_handler(sdk: &SdkConfig, prefix: &str) -> Result<DataApi<DynamoStore>, InvokeError> {
    let (store, dynamo, data) = seeded_tables(sdk, prefix).await?;
    let records = DynamoRecords::new(dynamo, data.clone());
    seed_records(&store, &records).await.map_err(fail)?;
    let keys = ApiKeys::from_digests(&ApiKeys::digest_hex(EXAMPLE_API_KEY)).map_err(fail)?;
    let config = DataConfig { table_name: format!("{prefix}PlatformTable"), data_table_name: data, keys };
    Ok(wiring::data(&function_clients(sdk, "DataFunction", &LocalResources::default()).await?, config))
}

/// The Link handler over fresh resources (table, queues) seeded with the fixtures, verifying
/// credentials against `sandbox` (the seed-7 store the `events/link` files name).
pub async fn link_handler(
    sdk: &SdkConfig,
    prefix: &str,
    sandbox: &sandbox::Sandbox,
) -> Result<LinkApi<DynamoStore>, InvokeError> {
    let table = format!("{prefix}PlatformTable");
    seeded_platform_table(sdk, &table).await?;
    let base = url::Url::parse(sandbox.base_url()).map_err(fail)?;
    let (queue_url, local) = fresh_sync_queue(sdk, prefix).await?;
    let config = LinkConfig {
        table_name: table,
        edge: example_edge()?,
        secret_prefix: format!("{prefix}commerce-link/"),
        queue_url,
        bigcommerce: BigCommerceClient::new(base, Duration::from_secs(3), Duration::from_secs(10))
            .map_err(|e| InvokeError(e.to_string()))?,
        settings: LinkSettings::default(),
    };
    Ok(wiring::link(&function_clients(sdk, "LinkFunction", &local).await?, config))
}

/// The sync worker over fresh tables seeded with the fixtures, against `sandbox`.
pub async fn worker(
    sdk: &SdkConfig,
    prefix: &str,
    sandbox: &sandbox::Sandbox,
) -> Result<SyncWorker<DynamoStore>, InvokeError> {
    let (_, _, data) = seeded_tables(sdk, prefix).await?;
    let (queue_url, local) = fresh_sync_queue(sdk, prefix).await?;
    let base = url::Url::parse(sandbox.base_url()).map_err(fail)?;
    let config = WorkerConfig {
        table_name: format!("{prefix}PlatformTable"),
        data_table_name: data,
        bigcommerce: BigCommerceClient::new(base, Duration::from_secs(3), Duration::from_secs(10))
            .map_err(|e| InvokeError(e.to_string()))?,
        job_budget: Duration::from_secs(60),
        queue_url,
        fresh_queue_url: queue_url_of(sdk, &format!("{prefix}FreshJobsQueue.fifo")).await?,
        full_sync_every: Duration::from_secs(7 * 86_400),
        retries: shared::sync::RetryPolicy::default(),
        secret_prefix: format!("{prefix}commerce-link/"),
        erasure_settle: shared::sync::ERASURE_SETTLE,
        history: shared::domain::History::default(),
    };
    Ok(wiring::sync_worker(&function_clients(sdk, "SyncWorkerFunction", &local).await?, config))
}

/// fn webhooks over a fresh platform table seeded with the fixtures and fresh queues, under its
/// own principal; consumers may be plain http on 127.0.0.1 (the dev stack's setting).
pub async fn webhooks_handler(
    sdk: &SdkConfig,
    prefix: &str,
) -> Result<shared::webhooks::relay::Relay<DynamoStore>, InvokeError> {
    let table = format!("{prefix}PlatformTable");
    seeded_platform_table(sdk, &table).await?;
    let template = Template::load_default().map_err(fail)?;
    let queues = create_queue_set(&template, &aws_sdk_sqs::Client::new(sdk), prefix).await.map_err(fail)?;
    let retry_queue_url =
        queues.get("WebhookRetryQueue").map(|(url, _)| url.clone()).ok_or_else(|| fail("no WebhookRetryQueue"))?;
    let local = LocalResources { queue_arns: queues.into_iter().map(|(id, (_, arn))| (id, arn)).collect() };
    let config = shared::config::WebhooksConfig {
        table_name: table,
        retry_queue_url,
        webhook_secret_prefix: format!("{prefix}commerce-link-webhooks/"),
        transport: shared::webhooks::address::Transport::LoopbackHttp,
        public_base_url: None,
    };
    Ok(wiring::webhooks(&function_clients(sdk, "WebhooksFunction", &local).await?, config))
}

/// fn store-hooks over a fresh platform table seeded with the fixtures, whose Linked example
/// connection has store hooks with [`EXAMPLE_HOOK_SECRET`], and a fresh queue set.
pub async fn store_hooks_handler(
    sdk: &SdkConfig,
    prefix: &str,
) -> Result<shared::http::hooks::HooksApi<DynamoStore>, InvokeError> {
    use shared::ports::HookStore;
    let table = format!("{prefix}PlatformTable");
    let store = seeded_platform_table(sdk, &table).await?;
    let hooks = shared::domain::hook::StoreHooks {
        destination: format!("https://api.example.com/bigcommerce/hooks/{COMPANY_ID}/{CONNECTION_ID}"),
        secret_sha256: shared::domain::hook::secret_digest(EXAMPLE_HOOK_SECRET),
    };
    store.set_hooks(COMPANY_ID, CONNECTION_ID, &hooks).await.map_err(fail)?;
    let (_, local) = fresh_sync_queue(sdk, prefix).await?;
    let config = shared::config::StoreHooksConfig {
        table_name: table,
        fresh_queue_url: queue_url_of(sdk, &format!("{prefix}FreshJobsQueue.fifo")).await?,
    };
    Ok(wiring::store_hooks(&function_clients(sdk, "StoreHooksFunction", &local).await?, config))
}

/// The sandbox the `events/link` files were written for: seed 7, default sizes.
pub async fn example_sandbox() -> Result<sandbox::Sandbox, InvokeError> {
    sandbox::Sandbox::start(sandbox::SandboxOptions::default()).await.map_err(fail)
}

/// Loads an event file.
pub fn load_event(path: &Path) -> Result<Value, InvokeError> {
    let text = std::fs::read_to_string(path).map_err(|e| fail(format!("{}: {e}", path.display())))?;
    serde_json::from_str(&text).map_err(|e| fail(format!("{}: {e}", path.display())))
}

/// Runs `function` on the event at `path` against fresh resources of `sdk`'s endpoint.
pub async fn invoke(sdk: &SdkConfig, function: &str, path: &Path) -> Result<Response<Body>, InvokeError> {
    let event = load_event(path)?;
    let request = match function {
        "sync-worker" | "scheduler" | "webhooks" => None,
        _ => Some(to_lambda_request(&event).map_err(fail)?),
    };
    let table = format!("invoke-{}", uuid::Uuid::new_v4().simple());
    match function {
        "companies" => {
            Ok(companies_handler(sdk, &table).await?.handle(request.ok_or_else(|| fail("no request"))?).await)
        }
        "sync-worker" => {
            let sandbox = example_sandbox().await?;
            let handler = worker(sdk, &format!("{table}-"), &sandbox).await?;
            let sqs: SqsEvent = serde_json::from_value(event).map_err(fail)?;
            let answer = handler.handle(sqs).await;
            sandbox.stop().await;
            let body = serde_json::to_string(&answer).map_err(fail)?;
            Ok(Response::new(Body::Text(body)))
        }
        "scheduler" => {
            let setup = scheduler_setup(sdk, &format!("{table}-")).await?;
            let now = shared::scheduler::event_time(&event).ok_or_else(|| fail("the event has no time"))?;
            let report = shared::scheduler::scheduled_tick(
                &setup.store,
                setup.queue.as_ref(),
                now,
                &shared::sweep::SweepPolicy::default(),
                chrono::Duration::zero(),
                shared::scheduler::TICK_BUDGET,
            )
            .await
            .map_err(fail)?;
            Ok(Response::new(Body::Text(serde_json::to_string(&report).map_err(fail)?)))
        }
        "webhooks" => {
            let relay = webhooks_handler(sdk, &format!("{table}-")).await?;
            let answer = shared::webhooks::handler::handle(&relay, &event).await;
            Ok(Response::new(Body::Text(answer.to_string())))
        }
        "store-hooks" => Ok(store_hooks_handler(sdk, &format!("{table}-"))
            .await?
            .handle(request.ok_or_else(|| fail("no request"))?)
            .await),
        "data" => {
            Ok(data_handler(sdk, &format!("{table}-")).await?.handle(request.ok_or_else(|| fail("no request"))?).await)
        }
        "link" => {
            let sandbox = example_sandbox().await?;
            let handler = link_handler(sdk, &format!("{table}-"), &sandbox).await?;
            let response = handler.handle(request.ok_or_else(|| fail("no request"))?).await;
            sandbox.stop().await;
            Ok(response)
        }
        other => Err(fail(format!("unknown function '{other}'; known: {}", FUNCTIONS.join(", ")))),
    }
}
