//! The local stack end to end: tables from the template in moto, the API Gateway-like runner,
//! real HTTP from a client.

use devstack::client::ApiClient;
use devstack::stack::{DevStack, StackOptions};
use serde_json::json;

use crate::helpers::aws_endpoint;

#[tokio::test]
async fn the_local_runner_serves_the_api_over_http() {
    let options = StackOptions {
        port: 0,
        aws_endpoint: Some(aws_endpoint()),
        name_prefix: format!("runner-{}-", uuid::Uuid::new_v4().simple()),
        ..StackOptions::default()
    };
    let stack = DevStack::start(options).await.expect("stack");
    assert!(stack.tables.get("PlatformTable").is_some_and(|t| t.ends_with("PlatformTable")));
    let client = ApiClient::new(&stack.api_url, &stack.api_key);

    let company = client.expect("POST", "/companies", Some(&json!({"name": "Runner Co"})), 200).await.expect("create");
    let redirect = company["redirect"].as_str().expect("redirect");
    assert!(redirect.starts_with(&format!("{}/link/", stack.api_url)), "{redirect}");
    let id = company["id"].as_str().expect("id");
    let conn = client
        .expect("POST", &format!("/companies/{id}/connections"), Some(&json!({"platformKey": "vqzp"})), 200)
        .await
        .expect("connection");
    assert_eq!(conn["status"], "PendingAuth");
    let list = client.expect("GET", "/companies?query=name~runner&pageSize=1", None, 200).await.expect("list");
    assert_eq!(list["totalResults"], 1);

    // The sandbox store runs beside it and is described as devstack.json describes it.
    let store = stack.sandbox_description();
    let api_path = store["api_path"].as_str().expect("api_path");
    assert_eq!(
        api_path,
        format!("https://api.bigcommerce.com/stores/{}/v3/", store["store_hash"].as_str().expect("hash"))
    );
    let time = reqwest::Client::new()
        .get(format!(
            "{}/stores/{}/v2/time",
            store["api_base"].as_str().expect("base"),
            store["store_hash"].as_str().expect("hash")
        ))
        .header("x-auth-token", store["access_token"].as_str().expect("token"))
        .send()
        .await
        .expect("sandbox");
    assert_eq!(time.status(), 200);

    let stranger = ApiClient::new(&stack.api_url, "wrong-key");
    let (status, body) = stranger.send("GET", "/companies", None).await.expect("send");
    assert_eq!((status, body["error"].as_str()), (401, Some("Unauthorized")));
    let (status, _) = client.send("GET", "/not-routed", None).await.expect("send");
    assert_eq!(status, 404);
    let logo = reqwest::get(format!("{}/assets/bigcommerce-logo.svg", stack.api_url)).await.expect("logo");
    assert_eq!(logo.headers()["content-type"], "image/svg+xml");
    stack.stop().await;
}
