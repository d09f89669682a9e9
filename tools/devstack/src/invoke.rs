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
use shared::adapters::secrets_manager::SecretsManagerStore;
use shared::adapters::sqs::SqsJobQueue;
use shared::bigcommerce::BigCommerceClient;
use shared::commerce::CommerceApi;
use shared::http::ApiKeys;
use shared::link::{LinkApi, LinkService, LinkSettings};
use shared::platform::{Edge, PlatformApi};
use shared::sync::SyncWorker;

use crate::event::to_lambda_request;
use crate::fixtures::{COMPANY_ID, CONNECTION_ID, DATASET_ID, EXAMPLE_API_KEY, example_link_key, seed, seed_records};
use crate::template::{Template, create_queues};

/// The functions events can be replayed against.
pub const FUNCTIONS: &[&str] = &["companies", "link", "sync-worker", "data", "scheduler"];

/// Why an invocation could not run.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct InvokeError(String);

fn fail(e: impl std::fmt::Display) -> InvokeError {
    InvokeError(e.to_string())
}

/// Creates a fresh `PlatformTable` named `table`, seeds the fixtures, and returns the companies
/// handler over it, configured like a deployment without `PUBLIC_BASE_URL`.
pub async fn companies_handler(sdk: &SdkConfig, table: &str) -> Result<PlatformApi<DynamoStore>, InvokeError> {
    let dynamo = Client::new(sdk);
    Template::load_default()
        .and_then(|t| t.table("PlatformTable"))
        .map_err(fail)?
        .create(&dynamo, table)
        .await
        .map_err(fail)?;
    let store = DynamoStore::new(dynamo, table);
    seed(&store).await.map_err(fail)?;
    let template = Template::load_default().map_err(fail)?;
    let queues = create_queues(&template, &aws_sdk_sqs::Client::new(sdk), &format!("{table}-")).await.map_err(fail)?;
    let keys = ApiKeys::from_digests(&ApiKeys::digest_hex(EXAMPLE_API_KEY)).map_err(fail)?;
    let edge = Edge { keys, public_base_url: None, link_key: example_link_key() };
    let secrets = Arc::new(SecretsManagerStore::new(aws_sdk_secretsmanager::Client::new(sdk)));
    let queue = Arc::new(SqsJobQueue::new(
        aws_sdk_sqs::Client::new(sdk),
        queues.get("SyncJobsQueue").cloned().unwrap_or_default(),
    ));
    Ok(PlatformApi::new(store, secrets, queue, edge))
}

/// Fresh `<prefix>PlatformTable` (seeded with the fixtures) and `<prefix>DataTable`: the
/// store, the client and the data table's name.
pub async fn seeded_tables(sdk: &SdkConfig, prefix: &str) -> Result<(DynamoStore, Client, String), InvokeError> {
    let dynamo = Client::new(sdk);
    let template = Template::load_default().map_err(fail)?;
    let (table, data) = (format!("{prefix}PlatformTable"), format!("{prefix}DataTable"));
    template.table("PlatformTable").map_err(fail)?.create(&dynamo, &table).await.map_err(fail)?;
    template.table("DataTable").map_err(fail)?.create(&dynamo, &data).await.map_err(fail)?;
    let store = DynamoStore::new(dynamo.clone(), table);
    seed(&store).await.map_err(fail)?;
    Ok((store, dynamo, data))
}

/// The scheduler's resources: fresh tables seeded with the fixtures, whose Linked connection's
/// company-info sync completed and came due on 2026-01-16, and a fresh queue (its URL returned).
pub async fn scheduler_setup(
    sdk: &SdkConfig,
    prefix: &str,
) -> Result<(DynamoStore, Arc<SqsJobQueue>, String), InvokeError> {
    use shared::ports::{DatasetStore, ScheduleStore};
    let (store, _, _) = seeded_tables(sdk, prefix).await?;
    let due = chrono::DateTime::parse_from_rfc3339("2026-01-16T09:30:00Z").map_err(fail)?.with_timezone(&chrono::Utc);
    store
        .advance_dataset(COMPANY_ID, DATASET_ID, shared::domain::PullStatus::Complete, 100, None, due)
        .await
        .map_err(fail)?;
    store.schedule_sync(COMPANY_ID, CONNECTION_ID, shared::domain::DataType::CompanyInfo, due).await.map_err(fail)?;
    let template = Template::load_default().map_err(fail)?;
    let queues = create_queues(&template, &aws_sdk_sqs::Client::new(sdk), prefix).await.map_err(fail)?;
    let url = queues.get("SyncJobsQueue").cloned().unwrap_or_default();
    Ok((store, Arc::new(SqsJobQueue::new(aws_sdk_sqs::Client::new(sdk), url.clone())), url))
}

/// The Commerce API handler over fresh tables seeded with the fixtures and the example store's
/// synced company info and orders ([`seed_records`]).
pub async fn data_handler(sdk: &SdkConfig, prefix: &str) -> Result<CommerceApi<DynamoStore>, InvokeError> {
    let (store, dynamo, data) = seeded_tables(sdk, prefix).await?;
    let records = Arc::new(DynamoRecords::new(dynamo, data));
    seed_records(&store, records.as_ref()).await.map_err(fail)?;
    let keys = ApiKeys::from_digests(&ApiKeys::digest_hex(EXAMPLE_API_KEY)).map_err(fail)?;
    Ok(CommerceApi::new(store, records, keys))
}

/// The Link handler over fresh resources (table, queues) seeded with the fixtures, verifying
/// credentials against `sandbox` (the seed-7 store the `events/link` files name).
pub async fn link_handler(
    sdk: &SdkConfig,
    prefix: &str,
    sandbox: &sandbox::Sandbox,
) -> Result<LinkApi<DynamoStore>, InvokeError> {
    let dynamo = Client::new(sdk);
    let template = Template::load_default().map_err(fail)?;
    let table = format!("{prefix}PlatformTable");
    template.table("PlatformTable").map_err(fail)?.create(&dynamo, &table).await.map_err(fail)?;
    let queues = create_queues(&template, &aws_sdk_sqs::Client::new(sdk), prefix).await.map_err(fail)?;
    let store = DynamoStore::new(dynamo, table);
    seed(&store).await.map_err(fail)?;
    let keys = ApiKeys::from_digests(&ApiKeys::digest_hex(EXAMPLE_API_KEY)).map_err(fail)?;
    let edge = Edge { keys, public_base_url: None, link_key: example_link_key() };
    let secrets = Arc::new(SecretsManagerStore::new(aws_sdk_secretsmanager::Client::new(sdk)));
    let queue = Arc::new(SqsJobQueue::new(
        aws_sdk_sqs::Client::new(sdk),
        queues.get("SyncJobsQueue").cloned().unwrap_or_default(),
    ));
    let base = url::Url::parse(sandbox.base_url()).map_err(fail)?;
    let client = BigCommerceClient::new(base, Duration::from_secs(3), Duration::from_secs(10));
    let service = LinkService::new(store, secrets, queue, client, format!("{prefix}commerce-link/"));
    Ok(LinkApi::new(service, edge, LinkSettings { finish_url: None, attempts_per_minute: 10 }))
}

/// The sync worker over fresh tables seeded with the fixtures, against `sandbox`.
pub async fn worker(
    sdk: &SdkConfig,
    prefix: &str,
    sandbox: &sandbox::Sandbox,
) -> Result<SyncWorker<DynamoStore>, InvokeError> {
    let (store, dynamo, data) = seeded_tables(sdk, prefix).await?;
    let base = url::Url::parse(sandbox.base_url()).map_err(fail)?;
    Ok(SyncWorker::new(
        store,
        Arc::new(DynamoRecords::new(dynamo, data)),
        Arc::new(SecretsManagerStore::new(aws_sdk_secretsmanager::Client::new(sdk))),
        Arc::new(shared::adapters::memory::MemoryQueue::default()),
        BigCommerceClient::new(base, Duration::from_secs(3), Duration::from_secs(10)),
        Duration::from_secs(60),
    ))
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
        "sync-worker" | "scheduler" => None,
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
            let (store, queue, _) = scheduler_setup(sdk, &format!("{table}-")).await?;
            let now = shared::scheduler::event_time(&event).ok_or_else(|| fail("the event has no time"))?;
            let report = shared::scheduler::tick(&store, queue.as_ref(), now, shared::scheduler::TICK_BUDGET)
                .await
                .map_err(fail)?;
            Ok(Response::new(Body::Text(serde_json::to_string(&report).map_err(fail)?)))
        }
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
