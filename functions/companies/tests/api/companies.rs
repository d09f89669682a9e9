use serde_json::json;

use crate::helpers::{TestApp, assert_error, invalid_fields};
use crate::spec::assert_valid;

#[tokio::test]
async fn create_get_replace_update_delete() {
    let app = TestApp::new().await;
    let created = app
        .call(
            "POST",
            "/companies",
            Some(json!({"name": "Acme Outdoor, Ltd.", "description": "Tents", "tags": {"region": "uk"}})),
        )
        .await;
    assert_eq!(created.status, 200);
    assert_valid("Company", &created.body);
    let id = created.body["id"].as_str().expect("id").to_string();
    assert_eq!(created.body["name"], "Acme Outdoor, Ltd.");
    assert_eq!(created.body["tags"], json!({"region": "uk"}));
    assert_eq!(created.body["dataConnections"], json!([]));
    let redirect = created.body["redirect"].as_str().expect("redirect");
    let token = redirect.strip_prefix("https://api.commerce-link.test/link/").expect("link base");
    assert!(token.len() >= 43 && !token.contains(&id), "token must be unguessable and not the id: {token}");

    let fetched = app.call("GET", &format!("/companies/{id}"), None).await;
    assert_eq!(fetched.status, 200);
    assert_eq!(fetched.body, created.body);

    let replaced = app.call("PUT", &format!("/companies/{id}"), Some(json!({"name": "Acme Group"}))).await;
    assert_eq!(replaced.status, 200);
    assert_valid("Company", &replaced.body);
    assert_eq!(replaced.body["name"], "Acme Group");
    assert_eq!(replaced.body["description"], "", "PUT clears what it omits");
    assert_eq!(replaced.body["tags"], json!({}));
    assert_eq!(replaced.body["redirect"], created.body["redirect"], "the Link URL survives edits");

    let patched = app.call("PATCH", &format!("/companies/{id}"), Some(json!({"tags": {"team": "risk"}}))).await;
    assert_eq!(patched.status, 200);
    assert_eq!(patched.body["name"], "Acme Group", "PATCH keeps what it omits");
    assert_eq!(patched.body["tags"], json!({"team": "risk"}));
    assert_eq!(app.call("GET", &format!("/companies/{id}"), None).await.body, patched.body);

    let deleted = app.call("DELETE", &format!("/companies/{id}"), None).await;
    assert_eq!(deleted.status, 204);
    assert_eq!(deleted.body, serde_json::Value::Null);
    assert_error(&app.call("GET", &format!("/companies/{id}"), None).await, 404, &id);
    assert_error(&app.call("DELETE", &format!("/companies/{id}"), None).await, 404, &id);
    assert_error(&app.call("PUT", &format!("/companies/{id}"), Some(json!({"name": "X"}))).await, 404, &id);
    assert_error(&app.call("PATCH", &format!("/companies/{id}"), Some(json!({"name": "X"}))).await, 404, &id);
}

#[tokio::test]
async fn deleting_a_company_removes_everything_stored_for_it() {
    let app = TestApp::new().await;
    let keep = app.company("Keep Me").await;
    let company = app.company("Delete Me").await;
    let id = company["id"].as_str().expect("id");
    for _ in 0..30 {
        app.connection(id).await; // more than one BatchWriteItem of children
    }
    let settings = json!({"companyId": id, "overridesDefaults": true,
        "settings": [{"dataType": "commerce-orders", "fetchOnFirstLink": true, "syncSchedule": 2, "syncOrder": 0}]});
    assert_eq!(app.call("POST", &format!("/companies/{id}/syncSettings"), Some(settings)).await.status, 204);
    assert_eq!(app.partition(&format!("COMPANY#{id}")).await.len(), 32);

    assert_eq!(app.call("DELETE", &format!("/companies/{id}"), None).await.status, 204);
    assert_error(&app.call("GET", &format!("/companies/{id}"), None).await, 404, id);
    let erasing = app.call("GET", &format!("/companies/{id}/erasure"), None).await;
    assert_eq!((erasing.status, erasing.body["status"].as_str()), (200, Some("InProgress")), "{}", erasing.body);
    assert_eq!(erasing.body["connectionsRemaining"], 30);
    assert_error(&app.call("DELETE", &format!("/companies/{id}"), None).await, 404, id);
    app.run_erasures().await;
    let erased = app.call("GET", &format!("/companies/{id}/erasure"), None).await;
    assert_eq!((erased.status, erased.body["status"].as_str()), (200, Some("Complete")), "{}", erased.body);
    assert!(erased.body["itemsDeleted"].as_u64().is_some_and(|n| n >= 2), "{}", erased.body);
    assert!(app.partition(&format!("COMPANY#{id}")).await.is_empty());
    let token = company["redirect"].as_str().expect("redirect").rsplit('/').next().expect("token");
    assert!(app.partition(&format!("LINK#{token}")).await.is_empty(), "the Link token must go too");
    let (events, leftovers): (Vec<_>, Vec<_>) = app
        .all_items()
        .await
        .into_iter()
        .filter(|item| format!("{item:?}").contains(id))
        .partition(|item| item.get("kind").and_then(|k| k.as_s().ok()).is_some_and(|k| k == "event"));
    assert!(leftovers.is_empty(), "items still mention the deleted company: {leftovers:?}");
    // Only its events outlive it (company.created, connection.created, company.deleted), each
    // expiring by TTL within 14 days.
    let horizon = chrono::Utc::now().timestamp() + 14 * 86_400 + 60;
    assert!(events.len() >= 3, "{} events", events.len());
    for event in &events {
        let expires: i64 = event["expires_at"].as_n().expect("expires_at").parse().expect("number");
        assert!(expires <= horizon, "an event outlives the retention: {expires}");
    }
    let never = uuid::Uuid::new_v4();
    assert_error(&app.call("GET", &format!("/companies/{never}/erasure"), None).await, 404, &never.to_string());
    assert_eq!(app.call("GET", &format!("/companies/{}", keep["id"].as_str().expect("id")), None).await.status, 200);
    assert_eq!(app.call("GET", "/companies", None).await.body["totalResults"], 1);
}

#[tokio::test]
async fn company_validation_names_each_problem() {
    let app = TestApp::new().await;
    let cases = [
        (json!({}), vec!["name"]),
        (json!({"name": ""}), vec!["name"]),
        (json!({"name": "Bad <Name>"}), vec!["name"]),
        (json!({"name": 42}), vec!["name"]),
        (json!({"name": "x".repeat(256)}), vec!["name"]),
        (json!({"name": "Ok", "description": "d".repeat(2001)}), vec!["description"]),
        (
            json!({"name": "Ok", "tags": (0..11).map(|i| (format!("k{i}"), json!("v"))).collect::<serde_json::Map<_, _>>()}),
            vec!["tags"],
        ),
        (json!({"name": "Ok", "tags": {"k": "v".repeat(101)}}), vec!["tags"]),
        (json!({"name": "Ok", "tags": {"k".repeat(28): "v"}}), vec!["tags"]),
        (json!({"name": "Ok", "tags": {"k": 1}}), vec!["tags"]),
        (json!({"name": "Ok", "platform": "x"}), vec!["platform"]),
        (json!({"nmae": "Typo", "tags": []}), vec!["nmae", "name", "tags"]),
    ];
    for (body, fields) in cases {
        let reply = app.call("POST", "/companies", Some(body.clone())).await;
        assert_error(&reply, 400, "Validation failed");
        assert_eq!(invalid_fields(&reply), fields, "{body}");
    }
    // Boundaries that are allowed.
    let ten: serde_json::Map<_, _> = (0..10).map(|i| (format!("k{i}"), json!("v".repeat(100)))).collect();
    let ok = app.call("POST", "/companies", Some(json!({"name": "x".repeat(255), "tags": ten}))).await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    // Nothing invalid was stored.
    assert_eq!(app.call("GET", "/companies", None).await.body["totalResults"], 1);
    let id = ok.body["id"].as_str().expect("id");
    let bad_patch = app.call("PATCH", &format!("/companies/{id}"), Some(json!({"name": "<x>"}))).await;
    assert_eq!(invalid_fields(&bad_patch), ["name"]);
    let bad_put = app.call("PUT", &format!("/companies/{id}"), Some(json!({"tags": {}}))).await;
    assert_eq!(invalid_fields(&bad_put), ["name"]);
}
