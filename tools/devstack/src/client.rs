//! A small client of the local API (Basic auth with the stack's key), for the demo and tests.

use std::collections::BTreeMap;

use base64::Engine;
use serde_json::Value;

/// Calls the commerce-link API.
#[derive(Clone)]
pub struct ApiClient {
    http: reqwest::Client,
    base: String,
    auth: String,
}

/// A failed call: transport error or unexpected status.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Transport failure.
    #[error("request failed: {0}")]
    Http(#[from] reqwest::Error),
    /// The API answered with another status.
    #[error("{method} {path} answered {status}: {body}")]
    Status {
        /// Method.
        method: String,
        /// Path.
        path: String,
        /// Status code.
        status: u16,
        /// Response body.
        body: String,
    },
}

impl ApiClient {
    /// A client of `base` using `api_key`.
    pub fn new(base: &str, api_key: &str) -> Self {
        let auth = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(api_key));
        let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap_or_default();
        Self { http, base: base.trim_end_matches('/').to_string(), auth }
    }

    /// Sends a request and returns status and JSON body (Null when empty).
    pub async fn send(&self, method: &str, path: &str, body: Option<&Value>) -> Result<(u16, Value), ClientError> {
        let (status, _, value) = self.send_full(method, path, body).await?;
        Ok((status, value))
    }

    /// [`ApiClient::send`], with the response's headers (names in lower case).
    pub async fn send_full(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<(u16, BTreeMap<String, String>, Value), ClientError> {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap_or(reqwest::Method::GET);
        let mut request = self.http.request(method, format!("{}{path}", self.base)).header("authorization", &self.auth);
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await?;
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .filter_map(|(k, v)| Some((k.as_str().to_string(), v.to_str().ok()?.to_string())))
            .collect();
        let text = response.text().await?;
        let value =
            if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap_or(Value::String(text)) };
        Ok((status, headers, value))
    }

    /// Sends a request that must answer `expected`.
    pub async fn expect(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
        expected: u16,
    ) -> Result<Value, ClientError> {
        let (status, value) = self.send(method, path, body).await?;
        if status != expected {
            return Err(ClientError::Status {
                method: method.into(),
                path: path.into(),
                status,
                body: value.to_string(),
            });
        }
        Ok(value)
    }

    /// Creates a company named `name` and a BigCommerce connection of it (not linked yet):
    /// (company id, connection id).
    pub async fn company_with_connection(&self, name: &str) -> Result<(String, String), ClientError> {
        let company = self.expect("POST", "/companies", Some(&serde_json::json!({"name": name})), 200).await?;
        let company = company["id"].as_str().unwrap_or_default().to_string();
        let path = format!("/companies/{company}/connections");
        let connection = self.expect("POST", &path, Some(&serde_json::json!({"platformKey": "vqzp"})), 200).await?;
        Ok((company, connection["id"].as_str().unwrap_or_default().to_string()))
    }

    /// Polls a company's pull operations until none is running (or `limit` passes: `None`),
    /// telling `changed` each (data type, status, progress) it has not seen before. Returns the
    /// final status of each data type.
    pub async fn wait_for_syncs(
        &self,
        company: &str,
        limit: std::time::Duration,
        mut changed: impl FnMut(&str, &str, u64),
    ) -> Result<Option<BTreeMap<String, String>>, ClientError> {
        let started = std::time::Instant::now();
        let history = format!("/companies/{company}/data/history?pageSize=100");
        let mut shown: BTreeMap<String, (String, u64)> = BTreeMap::new();
        loop {
            let page = self.expect("GET", &history, None, 200).await?;
            let mut running = 0;
            let mut statuses = BTreeMap::new();
            for dataset in page["results"].as_array().into_iter().flatten() {
                let data_type = dataset["dataType"].as_str().unwrap_or_default().to_string();
                let status = dataset["status"].as_str().unwrap_or_default().to_string();
                let progress = dataset["progress"].as_u64().unwrap_or_default();
                if matches!(status.as_str(), "Initial" | "Queued" | "Fetching" | "MapQueued" | "Mapping") {
                    running += 1;
                }
                let seen = (status.clone(), progress);
                if shown.get(&data_type) != Some(&seen) {
                    changed(&data_type, &status, progress);
                    shown.insert(data_type.clone(), seen);
                }
                statuses.insert(data_type, status);
            }
            if running == 0 && !statuses.is_empty() {
                return Ok(Some(statuses));
            }
            if started.elapsed() > limit {
                return Ok(None);
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }
}
