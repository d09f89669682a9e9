//! The worker's real binary at `RUST_LOG=trace` (its own process, as Lambda runs it): a link
//! and its first syncs leave trace-level output, and none of the credentials the worker read
//! from Secrets Manager and sent to the store.

use crate::kills::{ProcessSetup, process_env};

#[tokio::test]
async fn a_sync_at_trace_level_logs_no_credential() {
    let log = devstack::repo_root().join(format!("target/lambda-logs/sync-worker-trace-{}.log", uuid::Uuid::new_v4()));
    let e = process_env(ProcessSetup {
        env: vec![("RUST_LOG", "trace".to_string())],
        log: Some(log.clone()),
        ..ProcessSetup::default()
    })
    .await;
    let (_, _, statuses) = e.link_and_sync().await;
    assert!(statuses.values().all(|s| s == "Complete" || s == "NotSupported"), "{statuses:?}");
    let output = std::fs::read_to_string(&log).expect("log");
    assert!(output.contains("\"rust_log\":\"trace\""), "the process ran at trace");
    let credentials = e.stack.sandbox_credentials();
    for field in ["accessToken", "clientSecret", "clientId"] {
        let secret = credentials[field].as_str().expect("credential");
        assert!(!output.contains(secret), "the {field} is in the worker's output");
    }
    let _ = std::fs::remove_file(&log);
}
