use serde_json::json;

use crate::helpers::{TestApp, assert_error};
use crate::spec::assert_valid;

#[tokio::test]
async fn integrations_list_get_and_branding_follow_the_spec() {
    let app = TestApp::new().await;
    let list = app.call("GET", "/integrations", None).await;
    assert_eq!(list.status, 200);
    assert_valid("Integrations", &list.body);
    assert_eq!(list.body["totalResults"], 1);
    let integration = &list.body["results"][0];
    assert_eq!(
        (integration["key"].as_str(), integration["name"].as_str(), integration["sourceType"].as_str()),
        (Some("vqzp"), Some("BigCommerce"), Some("Commerce"))
    );
    assert_eq!(integration["enabled"], true);

    let one = app.call("GET", "/integrations/vqzp", None).await;
    assert_eq!(one.status, 200);
    assert_valid("Integration", &one.body);
    assert_eq!(&one.body, integration);

    let branding = app.call("GET", "/integrations/vqzp/branding", None).await;
    assert_eq!(branding.status, 200);
    assert_valid("Branding", &branding.body);
    let logo = branding.body["logo"]["full"]["image"]["src"].as_str().expect("logo src");
    assert_eq!(logo, "https://api.commerce-link.test/assets/bigcommerce-logo.svg");
    let served = app.request("GET", "/assets/bigcommerce-logo.svg", &[], b"").await;
    assert_eq!(served.status, 200);
    assert!(served.body.as_str().is_some_and(|svg| svg.contains("<svg")));

    assert_error(&app.call("GET", "/integrations/qudb", None).await, 404, "'vqzp'");
    assert_error(&app.call("GET", "/integrations/qudb/branding", None).await, 404, "'vqzp'");
}

#[tokio::test]
async fn disabling_the_integration_refuses_new_connections_only() {
    let app = TestApp::new().await;
    let company = app.company("Toggle Co").await;
    let id = company["id"].as_str().expect("id");
    let existing = app.connection(id).await;

    let off = app.call("PATCH", "/integrations/vqzp", Some(json!({"enabled": false}))).await;
    assert_eq!(off.status, 200);
    assert_eq!(off.body["enabled"], false);
    assert_valid("Integration", &off.body);
    assert_eq!(app.call("GET", "/integrations", None).await.body["results"][0]["enabled"], false);
    let filtered = app.call("GET", "/integrations?query=enabled%3Dtrue", None).await;
    assert_eq!(filtered.body["totalResults"], 0);

    let refused = app.call("POST", &format!("/companies/{id}/connections"), Some(json!({"platformKey": "vqzp"}))).await;
    assert_error(&refused, 400, "disabled");
    // Existing connections stay readable.
    let path = format!("/companies/{id}/connections/{}", existing["id"].as_str().expect("id"));
    assert_eq!(app.call("GET", &path, None).await.status, 200);

    let on = app.call("PATCH", "/integrations/vqzp", Some(json!({"enabled": true}))).await;
    assert_eq!(on.body["enabled"], true);
    app.connection(id).await;
}

#[tokio::test]
async fn the_toggle_validates_its_body() {
    let app = TestApp::new().await;
    for body in [json!({}), json!({"enabled": "no"}), json!({"enabled": true, "other": 1}), json!([true])] {
        let reply = app.call("PATCH", "/integrations/vqzp", Some(body.clone())).await;
        assert_eq!(reply.status, 400, "{body}");
    }
    assert_error(&app.call("DELETE", "/integrations/vqzp", None).await, 405, "DELETE");
}
