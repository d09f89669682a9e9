//! `GET/POST /webhooks`, `PATCH/DELETE /webhooks/{webhookId}` against moto, validated against
//! Codat's Platform spec: the signing secret shown once and kept only in Secrets Manager.

use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_error, invalid_fields};
use crate::spec::assert_valid;

async fn secret_names(app: &TestApp) -> Vec<String> {
    let listed = app.secrets.list_secrets().send().await.expect("list secrets");
    let prefix = format!("{}-webhooks/", app.table);
    listed
        .secret_list()
        .iter()
        .filter_map(|s| s.name())
        .filter(|n| n.starts_with(&prefix))
        .map(str::to_string)
        .collect()
}

#[tokio::test]
async fn consumers_are_created_with_a_secret_shown_once_listed_disabled_and_deleted() {
    let app = TestApp::new().await;
    let empty = app.call("GET", "/webhooks", None).await;
    assert_eq!(empty.status, 200, "{}", empty.body);
    assert_eq!(empty.body, json!({"results": []}));

    let body = json!({
        "url": "http://127.0.0.1:9/webhooks",
        "eventTypes": ["read.completed", "connection.connected"],
        "companyTags": ["region:us"],
    });
    let created = app.call("POST", "/webhooks", Some(body)).await;
    assert_eq!(created.status, 201, "{}", created.body);
    assert_valid("WebhookConsumer", &created.body);
    let id = created.body["id"].as_str().expect("id").to_string();
    let secret = created.body["secret"].as_str().expect("the secret, shown once").to_string();
    assert!(secret.starts_with("whsec_"));
    assert_eq!(created.body["eventTypes"], json!(["read.completed", "connection.connected"]));
    assert_eq!(created.body["companyTags"], json!(["region:us"]));
    assert_eq!(created.body["disabled"], false);

    // The secret is in Secrets Manager under the webhook prefix, and nowhere else.
    let names = secret_names(&app).await;
    assert_eq!(names, [format!("{}-webhooks/{id}", app.table)]);
    let stored = app.secrets.get_secret_value().secret_id(&names[0]).send().await.expect("secret");
    assert_eq!(stored.secret_string(), Some(secret.as_str()));
    let items: Vec<String> = app.all_items().await.iter().map(|item| format!("{item:?}")).collect();
    assert!(items.iter().all(|item| !item.contains(&secret[6..])), "no secret in DynamoDB");

    let listed = app.call("GET", "/webhooks", None).await;
    let results = listed.body["results"].as_array().expect("results");
    assert_eq!(results.len(), 1);
    assert_valid("WebhookConsumer", &results[0]);
    assert!(results[0].get("secret").is_none() && !listed.body.to_string().contains(&secret), "never listed");

    let disabled = app.call("PATCH", &format!("/webhooks/{id}"), Some(json!({"disabled": true}))).await;
    assert_eq!(disabled.status, 200, "{}", disabled.body);
    assert_eq!(disabled.body["disabled"], true);
    assert!(disabled.body.get("secret").is_none());
    let enabled = app.call("PATCH", &format!("/webhooks/{id}"), Some(json!({"disabled": false}))).await;
    assert_eq!(enabled.body["disabled"], false);
    assert_eq!(app.call("GET", "/webhooks", None).await.body["results"][0]["disabled"], false);

    let deleted = app.call("DELETE", &format!("/webhooks/{id}"), None).await;
    assert_eq!(deleted.status, 204);
    assert_eq!(deleted.body, Value::Null);
    assert!(secret_names(&app).await.is_empty(), "the secret goes with its consumer");
    assert_error(&app.call("DELETE", &format!("/webhooks/{id}"), None).await, 404, "not found");
    assert_error(
        &app.call("PATCH", &format!("/webhooks/{id}"), Some(json!({"disabled": true}))).await,
        404,
        "not found",
    );
    assert_error(&app.call("DELETE", "/webhooks/not-a-uuid", None).await, 404, "not found");
    assert_error(&app.call("PUT", "/webhooks", None).await, 405, "");
}

#[tokio::test]
async fn bad_consumers_are_refused_field_by_field_before_anything_is_stored() {
    let app = TestApp::new().await;
    let post = |body: Value| {
        let app = &app;
        async move { app.call("POST", "/webhooks", Some(body)).await }
    };
    let types = json!(["company.created"]);
    for (body, field, needle) in [
        (json!({"eventTypes": types}), "url", "'url' is required"),
        (json!({"url": "http://example.com/hook", "eventTypes": types}), "url", "https"),
        (json!({"url": "https://169.254.169.254/latest", "eventTypes": types}), "url", "metadata"),
        (json!({"url": "https://10.0.0.8/hook", "eventTypes": types}), "url", "private"),
        (json!({"url": "https://localhost/hook", "eventTypes": types}), "url", "internal"),
        (json!({"url": "https://u:p@example.com/hook", "eventTypes": types}), "url", "password"),
        (json!({"url": "https://example.com/hook"}), "eventTypes", "required"),
        (json!({"url": "https://example.com/hook", "eventTypes": []}), "eventTypes", "one or more"),
        (
            json!({"url": "https://example.com/hook", "eventTypes": ["DataSyncCompleted"]}),
            "eventTypes",
            "not an event type",
        ),
        (
            json!({"url": "https://example.com/hook", "eventTypes": types, "companyTags": ["nocolon"]}),
            "companyTags",
            "tagKey:tagValue",
        ),
        (
            json!({"url": "https://example.com/hook", "eventTypes": types, "disabled": "no"}),
            "disabled",
            "true or false",
        ),
        (
            json!({"url": "https://example.com/hook", "eventTypes": types, "secret": "whsec_x"}),
            "secret",
            "Unknown field",
        ),
    ] {
        let reply = post(body.clone()).await;
        assert_error(&reply, 400, needle);
        assert!(invalid_fields(&reply).contains(&field.to_string()), "{body}: {}", reply.body);
    }
    let too_many: Vec<String> = (0..11).map(|i| format!("k{i}:v")).collect();
    let reply = post(json!({"url": "https://example.com/hook", "eventTypes": types, "companyTags": too_many})).await;
    assert_error(&reply, 400, "at most 10");
    assert_eq!(app.call("GET", "/webhooks", None).await.body, json!({"results": []}), "nothing stored");
    assert!(secret_names(&app).await.is_empty(), "no secret created");
    assert_error(
        &app.call("PATCH", "/webhooks/6a4e1f0c-3b7d-4c59-9a51-7f2b8d1e4c20", Some(json!({}))).await,
        400,
        "'disabled' is required",
    );
}
