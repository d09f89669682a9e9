//! Each test gets its own table (random name, created from `template.yaml`) in the moto
//! server that `make test` starts, and its own handler with its own API key; tests run in
//! parallel without seeing each other.

use std::collections::HashMap;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::AttributeValue;
use base64::Engine;
use devstack::event::{HttpRequest, api_gateway_event, to_lambda_request};
use devstack::stack::generate_api_key;
use devstack::template::Template;
use lambda_http::{Body, Response};
use serde_json::Value;

use shared::adapters::dynamodb::DynamoStore;
use shared::config::CompaniesConfig;
use shared::domain::LinkKey;
use shared::http::companies::CompaniesApi;
use shared::http::{ApiKeys, Edge};
use shared::wiring::{Clients, companies};

/// Public base URL the test handlers are configured with.
pub const BASE_URL: &str = "https://api.commerce-link.test";

/// The moto endpoint from the environment; tests cannot run without it.
pub fn aws_endpoint() -> String {
    devstack::emulator_endpoint()
}

/// SDK configuration for the test emulator.
pub fn sdk() -> aws_config::SdkConfig {
    devstack::emulator_sdk_config()
}

/// A DynamoDB client for the test emulator.
pub fn dynamo() -> Client {
    Client::new(&sdk())
}

/// A decoded response.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: http::HeaderMap,
    pub body: Value,
}

/// One test's application.
pub struct TestApp {
    pub api: CompaniesApi<DynamoStore>,
    pub store: DynamoStore,
    pub key: String,
    pub table: String,
    pub dynamo: Client,
    pub link_key: LinkKey,
    pub secrets: aws_sdk_secretsmanager::Client,
    pub sqs: aws_sdk_sqs::Client,
    pub queue_url: String,
}

impl TestApp {
    /// A handler over a fresh table.
    pub async fn new() -> Self {
        let dynamo = dynamo();
        let table = format!("test-{}", uuid::Uuid::new_v4().simple());
        Template::load_default()
            .and_then(|t| t.table("PlatformTable"))
            .expect("template has PlatformTable")
            .create(&dynamo, &table)
            .await
            .expect("create table");
        let key = generate_api_key();
        let keys = ApiKeys::from_digests(&ApiKeys::digest_hex(&key)).expect("keys");
        let store = DynamoStore::new(dynamo.clone(), &table);
        let link_key = LinkKey::generate();
        let edge = Edge {
            keys,
            public_base_url: Some(url::Url::parse(BASE_URL).expect("url")),
            link_keys: shared::keyring::LinkKeySource::fixed(shared::domain::LinkKeys::single(link_key.clone())),
        };
        let secrets_client = aws_sdk_secretsmanager::Client::new(&sdk());
        let template = Template::load_default().expect("template");
        let sqs = aws_sdk_sqs::Client::new(&sdk());
        let queues = devstack::template::create_queues(&template, &sqs, &format!("{table}-")).await.expect("queues");
        let queue_url = queues["SyncJobsQueue"].clone();
        let config = CompaniesConfig {
            table_name: table.clone(),
            edge,
            queue_url: queue_url.clone(),
            secret_prefix: format!("{table}/"),
            webhook_secret_prefix: format!("{table}-webhooks/"),
            webhook_transport: shared::webhooks::address::Transport::LoopbackHttp,
            webhook_retry_queue_url: queues["WebhookRetryQueue"].clone(),
            fresh_queue_url: queues["FreshJobsQueue"].clone(),
        };
        let api = companies(&Clients::new(&sdk()), config);
        Self { api, store, key, table, dynamo, link_key, secrets: secrets_client, sqs, queue_url }
    }

    pub fn auth(&self) -> String {
        format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(&self.key))
    }

    /// Sends a request as API Gateway would deliver it.
    pub async fn request(&self, method: &str, path_and_query: &str, headers: &[(&str, &str)], body: &[u8]) -> Reply {
        let (path, query) = path_and_query.split_once('?').unwrap_or((path_and_query, ""));
        let event = api_gateway_event(&HttpRequest {
            method,
            path,
            query,
            headers: headers.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            body,
            source_ip: "127.0.0.1",
        });
        decode(self.api.handle(to_lambda_request(&event).expect("event")).await)
    }

    /// Sends an authorised request with an optional JSON body.
    pub async fn call(&self, method: &str, path: &str, body: Option<Value>) -> Reply {
        let auth = self.auth();
        let text = body.map(|b| b.to_string()).unwrap_or_default();
        let mut headers = vec![("authorization", auth.as_str())];
        if !text.is_empty() {
            headers.push(("content-type", "application/json"));
        }
        self.request(method, path, &headers, text.as_bytes()).await
    }

    /// Creates a company; returns its JSON.
    pub async fn company(&self, name: &str) -> Value {
        let reply = self.call("POST", "/companies", Some(serde_json::json!({"name": name}))).await;
        assert_eq!(reply.status, 200, "{:?}", reply.body);
        reply.body
    }

    /// Creates a BigCommerce connection; returns its JSON.
    pub async fn connection(&self, company: &str) -> Value {
        let reply = self
            .call(
                "POST",
                &format!("/companies/{company}/connections"),
                Some(serde_json::json!({"platformKey": "vqzp"})),
            )
            .await;
        assert_eq!(reply.status, 200, "{:?}", reply.body);
        reply.body
    }

    /// Every item stored under a partition key.
    pub async fn partition(&self, pk: &str) -> Vec<HashMap<String, AttributeValue>> {
        self.dynamo
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", AttributeValue::S(pk.into()))
            .send()
            .await
            .expect("query")
            .items
            .unwrap_or_default()
    }

    /// Runs the sync worker on the sync queue, as the event source mapping does, until the
    /// queue is empty: the erasures the deletes queued (with no settle time between passes).
    pub async fn run_erasures(&self) {
        let data_table = format!("{}-data", self.table);
        let template = Template::load_default().expect("template");
        // Created once per test app (a second create fails: it exists).
        let _ = template.table("DataTable").expect("DataTable").create(&self.dynamo, &data_table).await;
        let config = shared::config::WorkerConfig {
            table_name: self.table.clone(),
            data_table_name: data_table,
            bigcommerce: shared::bigcommerce::BigCommerceClient::new(
                url::Url::parse("http://127.0.0.1:9").expect("url"),
                std::time::Duration::from_secs(1),
                std::time::Duration::from_secs(1),
            )
            .expect("client"),
            job_budget: std::time::Duration::from_secs(60),
            queue_url: self.queue_url.clone(),
            fresh_queue_url: self.queue_url.replace("SyncJobsQueue", "FreshJobsQueue"),
            full_sync_every: std::time::Duration::from_secs(86_400),
            retries: shared::sync::RetryPolicy::default(),
            secret_prefix: format!("{}/", self.table),
            erasure_settle: std::time::Duration::ZERO,
            history: shared::domain::History::default(),
        };
        let worker = shared::wiring::sync_worker(&Clients::new(&sdk()), config);
        let settings = devstack::runner::PollerSettings {
            queue_url: self.queue_url.clone(),
            queue_arn: String::new(),
            batch_size: 1,
            timeout: std::time::Duration::from_secs(60),
            fast_forward: None,
        };
        let poller = devstack::runner::SqsPoller::start(self.sqs.clone(), settings, std::sync::Arc::new(worker));
        let mut empty_checks = 0;
        for _ in 0..240 {
            tokio::time::sleep(std::time::Duration::from_millis(250)).await;
            let attributes = self
                .sqs
                .get_queue_attributes()
                .queue_url(&self.queue_url)
                .attribute_names(aws_sdk_sqs::types::QueueAttributeName::All)
                .send()
                .await
                .expect("attributes")
                .attributes
                .unwrap_or_default();
            let count = |name| attributes.get(&name).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
            let left = count(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages)
                + count(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessagesNotVisible);
            empty_checks = if left == 0 { empty_checks + 1 } else { 0 };
            if empty_checks >= 3 {
                break;
            }
        }
        poller.stop().await;
        assert!(empty_checks >= 3, "the queue did not empty");
    }

    /// Every item of the table (test inspection only).
    pub async fn all_items(&self) -> Vec<HashMap<String, AttributeValue>> {
        self.dynamo.scan().table_name(&self.table).send().await.expect("scan").items.unwrap_or_default()
    }
}

/// Decodes a handler response.
pub fn decode(response: Response<Body>) -> Reply {
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = match response.body() {
        Body::Text(text) => serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.clone())),
        Body::Binary(bytes) => Value::String(String::from_utf8_lossy(bytes).into_owned()),
        _ => Value::Null,
    };
    Reply { status, headers, body }
}

/// Asserts a Codat error body with `status` whose message contains `needle`.
pub fn assert_error(reply: &Reply, status: u16, needle: &str) {
    assert_eq!(reply.status, status, "{}", reply.body);
    assert_eq!(reply.body["statusCode"], status, "{}", reply.body);
    assert!(reply.body["correlationId"].as_str().is_some_and(|c| !c.is_empty()), "{}", reply.body);
    assert_eq!(reply.body["service"], "PublicApi");
    let message = reply.body["error"].as_str().unwrap_or_default();
    assert!(message.contains(needle), "expected '{needle}' in '{message}'");
    assert_eq!(reply.headers.get("content-type").and_then(|v| v.to_str().ok()), Some("application/json"));
}

/// The `itemId`s of a validation error.
pub fn invalid_fields(reply: &Reply) -> Vec<String> {
    reply.body["validation"]["errors"]
        .as_array()
        .map(|errors| errors.iter().filter_map(|e| e["itemId"].as_str().map(str::to_string)).collect())
        .unwrap_or_default()
}
