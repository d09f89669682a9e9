//! The Link function's real binary at `RUST_LOG=trace`, fed through the local Runtime API as
//! Lambda feeds it (so `lambda_runtime` sees the raw event, and the AWS SDK writes the secret):
//! its output holds trace lines but none of the credentials it handled.

use std::collections::BTreeMap;

use base64::Engine;
use devstack::event::{HttpRequest, api_gateway_event};
use devstack::lambda::Outcome;

use crate::helpers::Stack;

#[tokio::test]
async fn a_link_at_trace_level_logs_no_credential() {
    let s = Stack::new().await;
    let (company, connection, _) = s.company().await;
    let log = devstack::repo_root().join(format!("target/lambda-logs/link-trace-{connection}.log"));
    let env = BTreeMap::from([("RUST_LOG".to_string(), "trace".to_string())]);
    let lambda = s
        .stack
        .function_process("LinkFunction", env!("CARGO_BIN_EXE_link").into(), env, Some(log.clone()))
        .await
        .expect("link process");
    let body = serde_json::to_vec(&s.body(s.full())).expect("json");
    let path = format!("/companies/{company}/connections/{connection}/authorization");
    let basic = base64::engine::general_purpose::STANDARD.encode(&s.stack.api_key);
    let event = api_gateway_event(&HttpRequest {
        method: "PUT",
        path: &path,
        query: "",
        headers: vec![
            ("host".into(), "127.0.0.1".into()),
            ("content-type".into(), "application/json".into()),
            ("authorization".into(), format!("Basic {basic}")),
        ],
        body: &body,
        source_ip: "127.0.0.1",
    });
    let invocation = lambda.invoke(&event).await.expect("invoke");
    let Outcome::Response(response) = &invocation.outcome else { panic!("{:?}", invocation.outcome) };
    assert_eq!(response["statusCode"], 200, "{response}");
    // Its output reaches the log as it is written; give the last lines a moment, then stop it.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    lambda.kill_switch().kill();
    let output = std::fs::read_to_string(&log).expect("log");
    assert!(output.contains("\"rust_log\":\"trace\""), "the process ran at trace: {output}");
    let account = s.full();
    for (what, secret) in [
        ("access token", &account.access_token),
        ("client secret", &account.client_secret),
        ("client id", &account.client_id),
    ] {
        assert!(!output.contains(secret.as_str()), "the {what} is in the Link function's output");
    }
    let _ = std::fs::remove_file(&log);
}
