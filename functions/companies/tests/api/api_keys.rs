//! `GET/POST /apiKeys`, `DELETE /apiKeys/{id}` and `GET/POST /profile/syncSettings` against moto,
//! validated against Codat's Platform spec.

use base64::Engine;
use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_error, invalid_fields};
use crate::spec::assert_valid;

fn basic(key: &str) -> String {
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(key))
}

#[tokio::test]
async fn keys_are_created_listed_without_their_value_used_and_deleted() {
    let app = TestApp::new().await;
    let listed = app.call("GET", "/apiKeys", None).await;
    assert_eq!(listed.status, 200, "{}", listed.body);
    assert_valid("ApiKeys", &listed.body);
    let results = listed.body["results"].as_array().expect("results");
    assert_eq!(results.len(), 1, "the bootstrap key: {}", listed.body);
    let bootstrap_id = results[0]["id"].as_str().expect("id").to_string();
    assert!(results[0].get("apiKey").is_none(), "a bootstrap key's value is never known");

    let created = app.call("POST", "/apiKeys", Some(json!({"name": "azure-invoice-finance-processor"}))).await;
    assert_eq!(created.status, 201, "{}", created.body);
    assert_valid("ApiKeyDetails", &created.body);
    let key = created.body["apiKey"].as_str().expect("the key, shown once").to_string();
    let id = created.body["id"].as_str().expect("id").to_string();
    assert_eq!(created.body["name"], "azure-invoice-finance-processor");
    assert!(created.body["createdDate"].as_str().is_some());

    // The new key works, on this function and on any other over the same table.
    let auth = basic(&key);
    let with_new = app.request("GET", "/companies", &[("authorization", auth.as_str())], b"").await;
    assert_eq!(with_new.status, 200, "{}", with_new.body);

    let listed = app.call("GET", "/apiKeys", None).await;
    assert_valid("ApiKeys", &listed.body);
    let entries = listed.body["results"].as_array().expect("results");
    assert_eq!(entries.len(), 2);
    assert!(!listed.body.to_string().contains(&key), "never listed again");
    let stored: Vec<String> = app.all_items().await.iter().map(|item| format!("{item:?}")).collect();
    assert!(stored.iter().all(|item| !item.contains(&key)), "only the digest is stored");
    assert!(stored.iter().any(|item| item.contains(&shared::http::ApiKeys::digest_hex(&key))));

    let deleted = app.call("DELETE", &format!("/apiKeys/{id}"), None).await;
    assert_eq!(deleted.status, 204);
    assert_eq!(deleted.body, Value::Null, "no body");
    let after = app.request("GET", "/companies", &[("authorization", auth.as_str())], b"").await;
    assert_eq!(after.status, 401, "a deleted key stops working");
    assert_error(&app.call("DELETE", &format!("/apiKeys/{id}"), None).await, 404, "not found");
    assert_error(&app.call("DELETE", "/apiKeys/not-a-uuid", None).await, 404, "not found");
    assert_error(&app.call("DELETE", &format!("/apiKeys/{bootstrap_id}"), None).await, 400, "ApiKeySha256");
    assert_eq!(app.call("GET", "/apiKeys", None).await.body["results"].as_array().map(Vec::len), Some(1));
}

#[tokio::test]
async fn at_most_ten_keys_and_names_of_fifty_characters() {
    let app = TestApp::new().await;
    let long = app.call("POST", "/apiKeys", Some(json!({"name": "x".repeat(51)}))).await;
    assert_error(&long, 400, "Max string length (50) for `name` reached.");
    assert_eq!(invalid_fields(&long), ["name"]);
    assert_error(&app.call("POST", "/apiKeys", Some(json!({"name": 5}))).await, 400, "string");
    assert_error(&app.call("POST", "/apiKeys", Some(json!({"name": "a", "extra": 1}))).await, 400, "extra");
    // Unnamed, without a body: the bootstrap key and nine more make ten.
    for _ in 0..9 {
        let created = app.request("POST", "/apiKeys", &[("authorization", app.auth().as_str())], b"").await;
        assert_eq!(created.status, 201, "{}", created.body);
        assert_valid("ApiKeyDetails", &created.body);
        assert!(created.body.get("name").is_none());
    }
    let over = app.call("POST", "/apiKeys", Some(json!({"name": "eleventh"}))).await;
    assert_error(&over, 409, "Maximum number of API keys reached");
    assert_eq!(app.call("GET", "/apiKeys", None).await.body["results"].as_array().map(Vec::len), Some(10));
    // Deleting one makes room again.
    let listed = app.call("GET", "/apiKeys", None).await.body;
    let last = listed["results"].as_array().and_then(|r| r.last()).and_then(|k| k["id"].as_str()).expect("id");
    assert_eq!(app.call("DELETE", &format!("/apiKeys/{last}"), None).await.status, 204);
    assert_eq!(app.call("POST", "/apiKeys", Some(json!({"name": "again"}))).await.status, 201);
}

#[tokio::test]
async fn unauthenticated_key_calls_are_refused() {
    let app = TestApp::new().await;
    for (method, path) in [("GET", "/apiKeys"), ("POST", "/apiKeys"), ("DELETE", "/apiKeys/x")] {
        let reply = app.request(method, path, &[("authorization", &basic("wrong"))], b"").await;
        assert_error(&reply, 401, "Unauthorized");
    }
}

#[tokio::test]
async fn profile_sync_settings_are_the_defaults_new_companies_follow() {
    let app = TestApp::new().await;
    let before = app.call("GET", "/profile/syncSettings", None).await;
    assert_eq!(before.status, 200, "{}", before.body);
    assert_valid("SyncSettings", &before.body);
    let client_id = before.body["clientId"].as_str().expect("clientId").to_string();
    assert_eq!(before.body["settings"].as_array().map(Vec::len), Some(11));

    let wrong = app
        .call(
            "POST",
            "/profile/syncSettings",
            Some(json!({"clientId": uuid::Uuid::new_v4(), "overridesDefaults": true, "settings": []})),
        )
        .await;
    assert_error(&wrong, 400, "clientId");
    assert_eq!(invalid_fields(&wrong), ["clientId"]);

    let body = json!({"clientId": client_id, "overridesDefaults": true, "settings": [
        {"dataType": "commerce-orders", "fetchOnFirstLink": true, "syncSchedule": 6, "syncOrder": 0},
        {"dataType": "commerce-customers", "fetchOnFirstLink": false, "syncSchedule": 48, "syncOrder": 1}
    ]});
    let set = app.call("POST", "/profile/syncSettings", Some(body)).await;
    assert_eq!(set.status, 204, "{}", set.body);
    let after = app.call("GET", "/profile/syncSettings", None).await;
    assert_valid("SyncSettings", &after.body);
    let hours = |settings: &Value, data_type: &str| {
        settings["settings"]
            .as_array()
            .and_then(|all| all.iter().find(|s| s["dataType"] == data_type))
            .map(|s| (s["syncSchedule"].as_u64(), s["fetchOnFirstLink"].as_bool()))
    };
    assert_eq!(hours(&after.body, "commerce-orders"), Some((Some(6), Some(true))));

    // A new company follows them; its own settings still win where it sets them.
    let company = app.company("Inherits Co").await;
    let id = company["id"].as_str().expect("id");
    let path = format!("/companies/{id}/syncSettings");
    let inherited = app.call("GET", &path, None).await.body;
    assert_valid("CompanySyncSettings", &inherited);
    assert_eq!(hours(&inherited, "commerce-orders"), Some((Some(6), Some(true))));
    assert_eq!(hours(&inherited, "commerce-customers"), Some((Some(48), Some(false))));
    assert_eq!(hours(&inherited, "commerce-products"), Some((Some(24), Some(true))), "built-in default");
    let own = json!({"companyId": id, "overridesDefaults": true, "settings": [
        {"dataType": "commerce-orders", "fetchOnFirstLink": true, "syncSchedule": 1, "syncOrder": 0}
    ]});
    assert_eq!(app.call("POST", &path, Some(own)).await.status, 204);
    let mixed = app.call("GET", &path, None).await.body;
    assert_eq!(hours(&mixed, "commerce-orders"), Some((Some(1), Some(true))));
    assert_eq!(hours(&mixed, "commerce-customers"), Some((Some(48), Some(false))));
}
