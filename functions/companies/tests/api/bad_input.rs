use serde_json::json;

use crate::helpers::{TestApp, assert_error};

#[tokio::test]
async fn malformed_bodies_answer_4xx_with_codat_errors() {
    let app = TestApp::new().await;
    let auth = app.auth();
    let json_ct = [("authorization", auth.as_str()), ("content-type", "application/json")];
    assert_error(&app.request("POST", "/companies", &json_ct, b"{\"name\":").await, 400, "not valid JSON");
    assert_error(&app.request("POST", "/companies", &json_ct, b"").await, 400, "body is required");
    assert_error(&app.request("POST", "/companies", &json_ct, b"[]").await, 400, "JSON object");
    assert_error(&app.request("POST", "/companies", &json_ct, b"\"Acme\"").await, 400, "JSON object");
    assert_error(
        &app.request("POST", "/companies", &json_ct, "{\"name\":\"\u{0}\"}".as_bytes()).await,
        400,
        "not valid JSON",
    );
    assert_error(&app.request("POST", "/companies", &json_ct, br#"{"name":"A\u0000"}"#).await, 400, "'name' contains");
    assert_error(&app.request("POST", "/companies", &json_ct, &[0xff, 0xfe, b'{']).await, 400, "not valid JSON");
    let nested = format!("{{\"name\":{}{}}}", "[".repeat(5000), "]".repeat(5000));
    assert_error(&app.request("POST", "/companies", &json_ct, nested.as_bytes()).await, 400, "not valid JSON");

    let text = [("authorization", auth.as_str()), ("content-type", "text/plain")];
    assert_error(&app.request("POST", "/companies", &text, b"{\"name\":\"A\"}").await, 415, "application/json");
    let form = [("authorization", auth.as_str()), ("content-type", "application/x-www-form-urlencoded")];
    assert_error(&app.request("POST", "/companies", &form, b"name=A").await, 415, "application/json");
    let none = [("authorization", auth.as_str())];
    assert_error(&app.request("POST", "/companies", &none, b"{\"name\":\"A\"}").await, 415, "application/json");

    let huge = json!({"name": "A", "description": "x".repeat(1024 * 1024)}).to_string();
    assert_error(&app.request("POST", "/companies", &json_ct, huge.as_bytes()).await, 413, "larger than 1048576 bytes");
    let long_name = json!({"name": "x".repeat(100_000)}).to_string();
    assert_error(&app.request("POST", "/companies", &json_ct, long_name.as_bytes()).await, 400, "at most 255");

    assert_eq!(app.call("GET", "/companies", None).await.body["totalResults"], 0, "nothing was stored");
}

#[tokio::test]
async fn bad_paths_and_methods() {
    let app = TestApp::new().await;
    assert_error(&app.call("GET", "/companies/not-a-uuid", None).await, 404, "not-a-uuid");
    assert_error(
        &app.call("GET", "/companies/00000000-0000-0000-0000-00000000000g/connections", None).await,
        404,
        "No company",
    );
    let company = app.company("Path Co").await;
    let id = company["id"].as_str().expect("id");
    assert_error(&app.call("GET", &format!("/companies/{id}/connections/xyz"), None).await, 404, "xyz");
    assert_error(&app.call("GET", &format!("/companies/{}", "a".repeat(5000)), None).await, 404, "No company");
    assert_error(&app.call("GET", "/companies/x/y/z/w/v", None).await, 404, "No such resource");
    assert_error(&app.call("DELETE", "/companies", None).await, 405, "DELETE");
    assert_error(&app.call("POST", &format!("/companies/{id}"), Some(json!({"name": "A"}))).await, 405, "POST");
    assert_error(&app.call("PUT", "/integrations", None).await, 405, "PUT");
    // Trailing slashes and percent-encoded ids resolve to the same resource.
    assert_eq!(app.call("GET", &format!("/companies/{id}/"), None).await.status, 200);
    let encoded = id.replace('-', "%2D");
    assert_eq!(app.call("GET", &format!("/companies/{encoded}"), None).await.status, 200);
}
