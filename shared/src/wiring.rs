//! The composition root: one builder per function wires its configuration to its clients,
//! adapters, use case and edge. Every `main.rs` and the dev stack's `invoke` use these, so a
//! function runs locally exactly as it is wired in Lambda.

use std::sync::Arc;

use aws_config::SdkConfig;

use crate::adapters::dynamodb::DynamoStore;
use crate::adapters::dynamodb::records::DynamoRecords;
use crate::adapters::secrets_manager::SecretsManagerStore;
use crate::adapters::sqs::SqsJobQueue;
use crate::companies::Companies;
use crate::config::{CompaniesConfig, DataConfig, LinkConfig, PortalConfig, SchedulerConfig, WorkerConfig};
use crate::data::Data;
use crate::http::Handler;
use crate::http::companies::CompaniesApi;
use crate::http::data::DataApi;
use crate::http::link::LinkApi;
use crate::http::portal::PortalApi;
use crate::link::LinkService;
use crate::sync::SyncWorker;
use crate::vault::CredentialVault;
use crate::webhooks::secrets::ConsumerSecrets;

/// The AWS clients of one function, built once from its SDK configuration (its credentials).
#[derive(Clone, Debug)]
pub struct Clients {
    /// DynamoDB.
    pub dynamo: aws_sdk_dynamodb::Client,
    /// Secrets Manager.
    pub secrets: aws_sdk_secretsmanager::Client,
    /// SQS.
    pub sqs: aws_sdk_sqs::Client,
}

impl Clients {
    /// Clients of `sdk` (region, credentials, endpoint).
    pub fn new(sdk: &SdkConfig) -> Self {
        Self {
            dynamo: aws_sdk_dynamodb::Client::new(sdk),
            secrets: aws_sdk_secretsmanager::Client::new(sdk),
            sqs: aws_sdk_sqs::Client::new(sdk),
        }
    }
}

/// Serves an HTTP function: hands each request Lambda receives to `handler` until the runtime
/// stops.
pub async fn serve_http(handler: impl Handler) -> Result<(), lambda_http::Error> {
    let handler = &handler;
    lambda_http::run(lambda_http::service_fn(move |req| async move {
        Ok::<_, std::convert::Infallible>(handler.handle(req).await)
    }))
    .await
}

/// fn companies: the Platform API.
pub fn companies(clients: &Clients, config: CompaniesConfig) -> CompaniesApi<DynamoStore> {
    let store = DynamoStore::new(clients.dynamo.clone(), config.table_name);
    let vault = CredentialVault::new(Arc::new(SecretsManagerStore::new(clients.secrets.clone())), config.secret_prefix);
    let queue = Arc::new(SqsJobQueue::new(clients.sqs.clone(), config.queue_url));
    let mut edge = config.edge;
    edge.keys = edge.keys.with_store(Arc::new(store.clone()));
    edge.link_keys = edge.link_keys.connect(Arc::new(SecretsManagerStore::new(clients.secrets.clone())));
    let consumer_secrets =
        ConsumerSecrets::new(Arc::new(SecretsManagerStore::new(clients.secrets.clone())), config.webhook_secret_prefix);
    let retries =
        Arc::new(crate::adapters::sqs::SqsRetryQueue::new(clients.sqs.clone(), config.webhook_retry_queue_url));
    let fresh = Arc::new(SqsJobQueue::new(clients.sqs.clone(), config.fresh_queue_url));
    let companies = Companies::new(store, vault, queue)
        .with_webhooks(consumer_secrets, retries, config.webhook_transport)
        .with_fresh_queue(fresh);
    CompaniesApi::new(companies, edge)
}

/// fn link: the Link pages and `PUT .../authorization`.
pub fn link(clients: &Clients, config: LinkConfig) -> LinkApi<DynamoStore> {
    let store = DynamoStore::new(clients.dynamo.clone(), config.table_name);
    let vault = CredentialVault::new(Arc::new(SecretsManagerStore::new(clients.secrets.clone())), config.secret_prefix);
    let queue = Arc::new(SqsJobQueue::new(clients.sqs.clone(), config.queue_url));
    let mut edge = config.edge;
    edge.keys = edge.keys.with_store(Arc::new(store.clone()));
    edge.link_keys = edge.link_keys.connect(Arc::new(SecretsManagerStore::new(clients.secrets.clone())));
    let service = LinkService::new(store, vault, queue, config.bigcommerce, config.settings);
    LinkApi::new(service, edge)
}

/// fn store-hooks: the store hooks' endpoint over the platform table and the fresh queue.
pub fn store_hooks(
    clients: &Clients,
    config: crate::config::StoreHooksConfig,
) -> crate::http::hooks::HooksApi<DynamoStore> {
    let store = DynamoStore::new(clients.dynamo.clone(), config.table_name);
    let fresh = Arc::new(SqsJobQueue::new(clients.sqs.clone(), config.fresh_queue_url));
    crate::http::hooks::HooksApi::new(crate::freshness::Receiver::new(store, fresh))
}

/// fn data: the Commerce API (read-only).
pub fn data(clients: &Clients, config: DataConfig) -> DataApi<DynamoStore> {
    let records = Arc::new(DynamoRecords::new(clients.dynamo.clone(), config.data_table_name.clone()));
    data_over(clients, config, records)
}

/// fn data reading its records from `records` instead of the data table (the benchmark's
/// in-memory record store, which measures the product's pacing apart from the emulator's writes).
pub fn data_over(
    clients: &Clients,
    config: DataConfig,
    records: Arc<dyn crate::ports::RecordReader>,
) -> DataApi<DynamoStore> {
    let store = DynamoStore::new(clients.dynamo.clone(), config.table_name);
    let keys = config.keys.with_store(Arc::new(store.clone()));
    DataApi::new(Data::new(store, records), keys)
}

/// fn portal: the operators' pages.
pub fn portal(clients: &Clients, config: PortalConfig) -> PortalApi<DynamoStore> {
    let store = DynamoStore::new(clients.dynamo.clone(), config.table_name);
    let records = Arc::new(DynamoRecords::new(clients.dynamo.clone(), config.data_table_name));
    let vault = CredentialVault::new(Arc::new(SecretsManagerStore::new(clients.secrets.clone())), config.secret_prefix);
    let queue = Arc::new(SqsJobQueue::new(clients.sqs.clone(), config.queue_url));
    let mut edge = config.edge;
    edge.keys = edge.keys.with_store(Arc::new(store.clone()));
    edge.link_keys = edge.link_keys.connect(Arc::new(SecretsManagerStore::new(clients.secrets.clone())));
    let companies = Companies::new(store.clone(), vault, queue);
    PortalApi::new(companies, store, records, edge)
}

/// fn sync-worker: the sync worker.
pub fn sync_worker(clients: &Clients, config: WorkerConfig) -> SyncWorker<DynamoStore> {
    let records = Arc::new(DynamoRecords::new(clients.dynamo.clone(), config.data_table_name.clone()));
    sync_worker_over(clients, config, records)
}

/// fn sync-worker storing its records into `records` instead of the data table (see
/// [`data_over`]).
pub fn sync_worker_over(
    clients: &Clients,
    config: WorkerConfig,
    records: Arc<dyn crate::ports::RecordStore>,
) -> SyncWorker<DynamoStore> {
    let store = DynamoStore::new(clients.dynamo.clone(), config.table_name).with_history(config.history);
    let secrets = Arc::new(SecretsManagerStore::new(clients.secrets.clone()));
    let queue = Arc::new(SqsJobQueue::new(clients.sqs.clone(), config.queue_url));
    let vault = CredentialVault::new(secrets.clone(), config.secret_prefix);
    let fresh = Arc::new(SqsJobQueue::new(clients.sqs.clone(), config.fresh_queue_url));
    SyncWorker::new(store, records, secrets, queue, config.bigcommerce, config.job_budget)
        .with_fresh_queue(fresh)
        .with_full_sync_every(config.full_sync_every)
        .with_retries(config.retries)
        .with_vault(vault)
        .with_erasure_settle(config.erasure_settle)
        .with_history(config.history)
}

/// fn webhooks: the relay over the platform table, consumers' secrets and the retry queue.
pub fn webhooks(
    clients: &Clients,
    config: crate::config::WebhooksConfig,
) -> crate::webhooks::relay::Relay<DynamoStore> {
    let secrets = Arc::new(SecretsManagerStore::new(clients.secrets.clone()));
    let reader = crate::webhooks::secrets::ConsumerSecretReader::new(secrets, config.webhook_secret_prefix);
    let resolver = Arc::new(crate::webhooks::delivery::SystemResolver);
    let deliverer = crate::webhooks::delivery::Deliverer::new(resolver, config.transport);
    let retries = Arc::new(crate::adapters::sqs::SqsRetryQueue::new(clients.sqs.clone(), config.retry_queue_url));
    crate::webhooks::relay::Relay::new(
        DynamoStore::new(clients.dynamo.clone(), config.table_name),
        reader,
        deliverer,
        retries,
        config.transport,
        config.public_base_url,
    )
}

/// fn scheduler: the store it reads due syncs from, and the queue it sends them to.
pub fn scheduler(clients: &Clients, config: SchedulerConfig) -> (DynamoStore, SqsJobQueue) {
    (
        DynamoStore::new(clients.dynamo.clone(), config.table_name).with_history(config.history),
        SqsJobQueue::new(clients.sqs.clone(), config.queue_url).with_fresh(config.fresh_queue_url),
    )
}
