//! Fast tests of the Platform API over the in-memory twins. The same behaviours run against
//! DynamoDB (moto) in `functions/companies/tests`.

use std::sync::Arc;

use base64::Engine;
use url::Url;

use super::*;
use crate::adapters::memory::{MemoryQueue, MemorySecrets, MemoryStore};
use crate::http::ApiKeys;
use crate::vault::CredentialVault;

const KEY: &str = "unit-test-key";

fn api() -> CompaniesApi<MemoryStore> {
    let keys = ApiKeys::from_digests(&ApiKeys::digest_hex(KEY)).expect("keys");
    let edge = Edge {
        keys,
        public_base_url: Some(Url::parse("http://link.test").expect("url")),
        link_keys: crate::keyring::LinkKeySource::generate(),
    };
    let vault = CredentialVault::new(Arc::new(MemorySecrets::default()), "test/");
    let companies = Companies::new(MemoryStore::new(), vault, Arc::new(MemoryQueue::default()));
    CompaniesApi::new(companies, edge)
}

async fn call(api: &CompaniesApi<MemoryStore>, method: &str, path: &str, body: Option<Value>) -> (StatusCode, Value) {
    let auth = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(KEY));
    let mut builder = http::Request::builder().method(method).uri(path).header("authorization", auth);
    if body.is_some() {
        builder = builder.header("content-type", "application/json");
    }
    let req = builder.body(body.map_or(Body::Empty, |b| Body::Text(b.to_string()))).expect("request");
    let response = api.handle(req).await;
    let status = response.status();
    let value = match response.body() {
        Body::Text(t) => serde_json::from_str(t).expect("json"),
        _ => Value::Null,
    };
    (status, value)
}

#[tokio::test]
async fn company_and_connection_lifecycle() {
    let api = api();
    let (status, company) = call(&api, "POST", "/companies", Some(json!({"name": "Acme"}))).await;
    assert_eq!(status, 200);
    let id = company["id"].as_str().expect("id").to_string();
    assert!(company["redirect"].as_str().expect("redirect").starts_with("http://link.test/link/"));
    let (status, conn) =
        call(&api, "POST", &format!("/companies/{id}/connections"), Some(json!({"platformKey": "vqzp"}))).await;
    assert_eq!(status, 200);
    assert_eq!(conn["status"], "PendingAuth");
    let conn_id = conn["id"].as_str().expect("id");
    let (status, err) =
        call(&api, "PATCH", &format!("/companies/{id}/connections/{conn_id}"), Some(json!({"status": "Unlinked"})))
            .await;
    assert_eq!(status, 400);
    assert!(err["error"].as_str().expect("error").contains("PendingAuth"));
    let (_, fetched) = call(&api, "GET", &format!("/companies/{id}"), None).await;
    assert_eq!(fetched["dataConnections"][0]["id"], conn["id"]);
    assert_eq!(call(&api, "DELETE", &format!("/companies/{id}"), None).await.0, 204);
    assert_eq!(call(&api, "GET", &format!("/companies/{id}"), None).await.0, 404);
}

#[tokio::test]
async fn routing_errors() {
    let api = api();
    assert_eq!(call(&api, "GET", "/nowhere", None).await.0, 404);
    assert_eq!(call(&api, "GET", "/companies/not-a-uuid", None).await.0, 404);
    assert_eq!(call(&api, "DELETE", "/companies", None).await.0, 405);
    assert_eq!(call(&api, "GET", "/integrations/abcd", None).await.0, 404);
    let unauth = api.handle(http::Request::builder().uri("/companies").body(Body::Empty).expect("req")).await;
    assert_eq!(unauth.status(), 401);
    let logo =
        api.handle(http::Request::builder().uri("/assets/bigcommerce-logo.svg").body(Body::Empty).expect("req")).await;
    assert_eq!(logo.status(), 200);
}
