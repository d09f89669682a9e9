//! The local Lambda runner enforces what Lambda enforces, whatever the process does: it is
//! killed at its timeout, killed when its memory passes `MemorySize`, and a process that exits
//! fails its invocation.

use std::collections::BTreeMap;
use std::time::Duration;

use devstack::lambda::{LambdaSpec, LocalLambda, Outcome};

/// A runner of `binary args…` with `env`.
async fn runner(binary: &str, args: &[&str], env: &[(&str, &str)], timeout: Duration, memory_mb: u64) -> LocalLambda {
    LocalLambda::start(LambdaSpec {
        name: "Probe".into(),
        binary: binary.into(),
        args: args.iter().map(|a| a.to_string()).collect(),
        env: env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<BTreeMap<_, _>>(),
        timeout,
        memory_mb,
        log: None,
    })
    .await
    .expect("runner")
}

/// A process that never asks for its event (a hung init) is killed at the timeout.
#[tokio::test]
async fn a_process_that_overruns_its_timeout_is_killed_with_sigkill() {
    // Deaf to SIGTERM: only SIGKILL ends it.
    let lambda = runner("/bin/sh", &["-c", "trap '' TERM; sleep 30"], &[], Duration::from_millis(800), 128).await;
    let started = std::time::Instant::now();
    let invocation = lambda.invoke(&serde_json::json!({})).await.expect("invoke");
    assert_eq!(invocation.outcome, Outcome::Timeout);
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(800) && took < Duration::from_secs(5), "{took:?}");
    let stats = lambda.stats();
    assert_eq!((stats.invocations, stats.timeouts, stats.cold_starts), (1, 1, 1));
    // The next invocation starts a new process (cold).
    let again = lambda.invoke(&serde_json::json!({})).await.expect("invoke");
    assert_eq!(again.outcome, Outcome::Timeout);
    assert_eq!(lambda.stats().cold_starts, 2);
}

#[tokio::test]
async fn a_process_whose_memory_passes_memory_size_is_killed() {
    let touch =
        "import time\nx = bytearray(200 * 1024 * 1024)\nfor i in range(0, len(x), 4096): x[i] = 1\ntime.sleep(30)";
    let lambda = runner("/usr/bin/python3", &["-c", touch], &[], Duration::from_secs(20), 64).await;
    let invocation = lambda.invoke(&serde_json::json!({})).await.expect("invoke");
    match invocation.outcome {
        Outcome::OutOfMemory(rss_kb) => assert!(rss_kb > 64 * 1024, "{rss_kb} kB"),
        other => panic!("expected OutOfMemory, got {other:?}"),
    }
    assert!(invocation.duration < Duration::from_secs(10), "killed when it passed the limit");
    assert_eq!(lambda.stats().out_of_memory, 1);
}

#[tokio::test]
async fn a_process_that_exits_fails_its_invocation_and_none_of_this_processs_env_leaks_in() {
    let checks = "test -z \"$AWS_SECRET_ACCESS_KEY$HOME\" && test \"$ONLY\" = this && test -n \"$AWS_LAMBDA_RUNTIME_API\" && exit 3";
    let lambda = runner("/bin/sh", &["-c", checks], &[("ONLY", "this")], Duration::from_secs(5), 128).await;
    let invocation = lambda.invoke(&serde_json::json!({})).await.expect("invoke");
    match &invocation.outcome {
        // Exit status 3 proves the checks passed (any failing test would exit 1).
        Outcome::Crashed(why) => assert!(why.contains("exit status: 3"), "{why}"),
        other => panic!("expected Crashed, got {other:?}"),
    }
}
