use std::time::Duration;

use devstack::client::ApiClient;
use devstack::stack::{DevStack, StackOptions};
use sandbox::{Account, Sizes, StoreConfig};
use serde_json::{Value, json};

/// A private local stack (own table, queues, secrets prefix, sandbox) for one test.
pub struct Stack {
    pub stack: DevStack,
    pub api: ApiClient,
    pub store: StoreConfig,
    pub sdk: aws_config::SdkConfig,
}

pub fn aws_endpoint() -> String {
    devstack::emulator_endpoint()
}

impl Stack {
    pub async fn new() -> Self {
        Self::withholding(&[]).await
    }

    /// A stack whose worker takes the fresh queue's jobs (the store's hooks removed on unlink,
    /// then the secret), but not the sync queue's.
    pub async fn unhooking() -> Self {
        Self::build(&[], true).await
    }

    /// A stack whose functions' policies lack the (function, action) pairs.
    pub async fn withholding(withheld: &[(&str, &str)]) -> Self {
        Self::build(withheld, false).await
    }

    async fn build(withheld: &[(&str, &str)], run_fresh_worker: bool) -> Self {
        let mut config = StoreConfig::from_seed(31, Sizes { orders: 20, products: 5, customers: 5, categories: 3 });
        config.quota = 10_000;
        let mut options = StackOptions {
            port: 0,
            aws_endpoint: Some(aws_endpoint()),
            run_worker: false,
            run_fresh_worker,
            name_prefix: format!("t{}-", uuid::Uuid::new_v4().simple()),
            withheld: withheld.iter().map(|(f, a)| (f.to_string(), a.to_string())).collect(),
            ..StackOptions::default()
        };
        options.sandbox.stores = vec![config.clone()];
        let stack = DevStack::start(options).await.expect("stack");
        let api = ApiClient::new(&stack.api_url, &stack.api_key);
        let sdk = stack.admin_sdk();
        Self { stack, api, store: config, sdk }
    }

    pub fn full(&self) -> &Account {
        &self.store.accounts[0]
    }

    pub fn no_customers(&self) -> &Account {
        &self.store.accounts[1]
    }

    pub fn body(&self, account: &Account) -> Value {
        json!({
            "clientId": account.client_id,
            "clientSecret": account.client_secret,
            "accessToken": account.access_token,
            "apiPath": self.store.api_path(),
        })
    }

    /// A company and a PendingAuth connection: (company id, connection id, company JSON).
    pub async fn company(&self) -> (String, String, Value) {
        let company =
            self.api.expect("POST", "/companies", Some(&json!({"name": "Link Test Co"})), 200).await.expect("company");
        let id = company["id"].as_str().expect("id").to_string();
        let connection = self
            .api
            .expect("POST", &format!("/companies/{id}/connections"), Some(&json!({"platformKey": "vqzp"})), 200)
            .await
            .expect("conn");
        (id, connection["id"].as_str().expect("id").to_string(), company)
    }

    pub async fn authorize(&self, company: &str, connection: &str, body: &Value) -> (u16, Value) {
        self.api
            .send("PUT", &format!("/companies/{company}/connections/{connection}/authorization"), Some(body))
            .await
            .expect("send")
    }

    pub fn secret_name(&self, connection: &str) -> String {
        format!("{}{connection}", self.stack.resources.secret_prefix)
    }

    /// The secret's current value and its number of versions, if it exists.
    pub async fn secret(&self, connection: &str) -> Option<(Value, usize)> {
        let client = aws_sdk_secretsmanager::Client::new(&self.sdk);
        let name = self.secret_name(connection);
        let value = client.get_secret_value().secret_id(&name).send().await.ok()?;
        let versions =
            client.list_secret_version_ids().secret_id(&name).send().await.ok()?.versions.unwrap_or_default().len();
        Some((serde_json::from_str(value.secret_string()?).ok()?, versions))
    }

    /// Waits (up to 30 s) until the connection's secret is gone: at once without store hooks,
    /// after the worker removed them otherwise. Whether it went.
    pub async fn secret_gone(&self, connection: &str) -> bool {
        let started = std::time::Instant::now();
        while started.elapsed() < Duration::from_secs(30) {
            if self.secret(connection).await.is_none() {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        false
    }

    /// The sandbox store's hooks.
    pub fn store_hooks(&self) -> Vec<sandbox::Hook> {
        self.stack.sandbox.store(&self.store.hash).expect("store").hooks()
    }

    /// Every job message waiting on the sync queue (received and left invisible).
    pub async fn queued_jobs(&self) -> Vec<Value> {
        let client = aws_sdk_sqs::Client::new(&self.sdk);
        let url = &self.stack.resources.queues["SyncJobsQueue"];
        let mut jobs = Vec::new();
        for _ in 0..5 {
            let out = client
                .receive_message()
                .queue_url(url)
                .max_number_of_messages(10)
                .wait_time_seconds(0)
                .send()
                .await
                .expect("receive");
            let batch = out.messages.unwrap_or_default();
            if batch.is_empty() {
                break;
            }
            for message in &batch {
                jobs.extend(message.body().and_then(|b| serde_json::from_str(b).ok()));
                // FIFO: a group's next message is delivered only once this one is deleted.
                let receipt = message.receipt_handle().expect("receipt");
                client.delete_message().queue_url(url).receipt_handle(receipt).send().await.expect("delete");
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        jobs
    }

    /// Sandbox requests seen so far.
    pub fn sandbox_requests(&self) -> u64 {
        self.stack.sandbox.store(&self.store.hash).expect("store").metrics().total_requests
    }
}

impl Stack {
    /// Every item of the platform table, as text (test inspection only).
    pub async fn stack_items(&self) -> String {
        let client = aws_sdk_dynamodb::Client::new(&self.sdk);
        let items = client
            .scan()
            .table_name(&self.stack.tables["PlatformTable"])
            .send()
            .await
            .expect("scan")
            .items
            .unwrap_or_default();
        format!("{items:?}")
    }
}
