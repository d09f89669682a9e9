use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::helpers::{Reply, TestApp};

fn without_correlation(reply: &Reply) -> serde_json::Value {
    let mut body = reply.body.clone();
    body.as_object_mut().expect("object").remove("correlationId");
    body
}

#[tokio::test]
async fn every_failure_answers_the_same_401() {
    let app = TestApp::new().await;
    let encoded_key = STANDARD.encode(&app.key);
    let wrong = format!("Basic {}", STANDARD.encode("not-the-key"));
    let bearer = format!("Bearer {}", app.key);
    let raw = format!("Basic {}", app.key);
    let query_key = format!("/companies?apiKey={}&authorization=Basic%20{encoded_key}", app.key);
    let attempts: Vec<(String, Vec<(&str, &str)>)> = vec![
        ("/companies".into(), vec![]),
        ("/companies".into(), vec![("authorization", wrong.as_str())]),
        ("/companies".into(), vec![("authorization", bearer.as_str())]),
        ("/companies".into(), vec![("authorization", raw.as_str())]),
        ("/companies".into(), vec![("authorization", "Basic")]),
        ("/companies".into(), vec![("authorization", "")]),
        (query_key, vec![]),
        ("/integrations".into(), vec![("x-api-key", app.key.as_str())]),
    ];
    let mut bodies = Vec::new();
    for (path, headers) in attempts {
        let reply = app.request("GET", &path, &headers, b"").await;
        assert_eq!(reply.status, 401, "{path} {headers:?}");
        bodies.push(without_correlation(&reply));
    }
    assert!(bodies.windows(2).all(|w| w[0] == w[1]), "401 bodies differ: {bodies:?}");
    assert_eq!(bodies[0]["error"], "Unauthorized");
    // Unknown routes also hide behind auth, so they reveal nothing either.
    assert_eq!(app.request("GET", "/secret/place", &[], b"").await.status, 401);
    let ok = app.request("GET", "/companies", &[("authorization", &format!("Basic {encoded_key}"))], b"").await;
    assert_eq!(ok.status, 200);
}

#[tokio::test]
async fn other_deployments_keys_do_not_work_here() {
    let one = TestApp::new().await;
    let two = TestApp::new().await;
    let reply = one.request("GET", "/companies", &[("authorization", &two.auth())], b"").await;
    assert_eq!(reply.status, 401);
}
