//! The cold-start benchmark: each function's release binary, from exec to its answer to a first
//! request (init plus that request), run as Lambda runs it (its own process, its template
//! environment and IAM principal, fed through the local Runtime API; [`devstack::lambda`]),
//! against the baseline: `hello-lambda`, a hello-world `lambda_runtime` binary built the same
//! way (`cargo build --release`), under the same principal, that makes the same first AWS call.
//!
//! Each function answers one of its `events/` files (the API key swapped for the stack's);
//! its first AWS call is read off a tap in front of the emulator, then handed to the baseline.
//! Each binary starts cold `ROUNDS` times, alternating; the medians are compared (the whole, and
//! init alone: exec to the first poll for an event), with how many
//! AWS calls the function's first answer took (the baseline makes one). Writes
//! `cold_start.<function>` into `target/bench.json`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use base64::Engine;
use devstack::lambda::{Invocation, Outcome};
use devstack::stack::{DevStack, StackOptions};
use devstack::tap::{Tap, TapAction, TapCall, TapHook};
use serde_json::{Value, json};

const ROUNDS: usize = 9;

/// A function: its logical id, its binary, the event it answers first.
struct Function {
    logical: &'static str,
    binary: &'static str,
    event: &'static str,
}

const FUNCTIONS: &[Function] = &[
    Function { logical: "CompaniesFunction", binary: "companies", event: "events/companies/list-companies.json" },
    Function { logical: "DataFunction", binary: "data", event: "events/data/list-orders.json" },
    Function { logical: "LinkFunction", binary: "link", event: "events/link/get-link-page.json" },
    // The portal's sign-in page: the list-companies event at /portal.
    Function { logical: "PortalFunction", binary: "portal", event: "events/companies/list-companies.json" },
    Function { logical: "SchedulerFunction", binary: "scheduler", event: "events/scheduler/scheduled.json" },
    Function {
        logical: "SyncWorkerFunction",
        binary: "sync-worker",
        event: "events/sync-worker/batch-good-and-poison.json",
    },
];

/// Records the AWS calls through the tap, forwarding each.
#[derive(Default)]
struct Recorder(Mutex<Vec<TapCall>>);

impl TapHook for Recorder {
    fn decide(&self, call: &TapCall) -> TapAction {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).push(call.clone());
        TapAction::Forward
    }
    fn stop(&self, _: &TapCall) {}
}

#[tokio::main]
async fn main() {
    let root = devstack::repo_root();
    let release = build_release(&root);
    let stack = DevStack::start(StackOptions {
        port: 0,
        aws_endpoint: Some(devstack::emulator_endpoint()),
        name_prefix: format!("cold{}-", uuid::Uuid::new_v4().simple()),
        run_worker: false,
        ..StackOptions::default()
    })
    .await
    .expect("stack");
    let auth = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(&stack.api_key));
    println!("\ncold-start benchmark: {ROUNDS} cold starts of each binary, median exec to first answer");
    println!(
        "  {:<20} {:>11} {:>8} {:>6} {:>8} {:>8}  first AWS call",
        "function", "function_ms", "hello_ms", "ratio", "init_ms", "hello_init"
    );
    let mut results = serde_json::Map::new();
    for function in FUNCTIONS {
        let event = event_for(&root, function, &auth);
        let binary = release.join(function.binary);
        // The function once through a tap: its first AWS call.
        let recorder = Arc::new(Recorder::default());
        let tap = Tap::start("aws", &devstack::emulator_endpoint(), recorder.clone()).await.expect("tap");
        let env = BTreeMap::from([("AWS_ENDPOINT_URL".to_string(), tap.url().to_string())]);
        let probe = stack.function_process(function.logical, binary.clone(), env, None).await.expect("process");
        let answer = probe.invoke(&event).await.expect("invoke");
        assert!(matches!(answer.outcome, Outcome::Response(_)), "{} answers: {:?}", function.binary, answer.outcome);
        drop(probe);
        let calls: Vec<TapCall> = recorder.0.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let first = calls.first().cloned();
        let (target, body) = match &first {
            Some(call) => (call.target.clone().unwrap_or_default(), String::from_utf8_lossy(&call.body).to_string()),
            None => (String::new(), "{}".to_string()),
        };
        let hello_env =
            BTreeMap::from([("HELLO_TARGET".to_string(), target.clone()), ("HELLO_BODY".to_string(), body)]);
        let (mut own, mut hello) = (Vec::new(), Vec::new());
        for _ in 0..ROUNDS {
            own.push(cold(&stack, function.logical, &binary, BTreeMap::new(), &event).await);
            hello.push(cold(&stack, function.logical, &release.join("hello-lambda"), hello_env.clone(), &event).await);
        }
        let (own_init, hello_init) =
            (median(own.iter().map(|c| c.0).collect()), median(hello.iter().map(|c| c.0).collect()));
        let (own, hello) =
            (median(own.into_iter().map(|c| c.1).collect()), median(hello.into_iter().map(|c| c.1).collect()));
        let ratio = own / hello;
        let call = if target.is_empty() { "none".to_string() } else { target.clone() };
        println!(
            "  {:<20} {own:>11.1} {hello:>8.1} {ratio:>6.2} {own_init:>8.1} {hello_init:>8.1}  {call} (of {} calls)",
            function.binary,
            calls.len()
        );
        results.insert(
            function.binary.to_string(),
            json!({"function_ms": round(own), "hello_ms": round(hello), "ratio": round(ratio),
                   "init_ms": round(own_init), "hello_init_ms": round(hello_init),
                   "first_aws_call": call, "aws_calls": calls.len(), "rounds": ROUNDS}),
        );
    }
    stack.stop().await;
    let path = root.join("target/bench.json");
    let mut all: Value =
        std::fs::read_to_string(&path).ok().and_then(|t| serde_json::from_str(&t).ok()).unwrap_or_else(|| json!({}));
    all["cold_start"] = Value::Object(results);
    std::fs::write(&path, serde_json::to_string_pretty(&all).expect("json")).expect("write bench.json");
    println!("  written {}", path.display());
}

/// Builds every function and the baseline as `make package` builds them for the host: the
/// release profile. Returns the directory of the binaries.
fn build_release(root: &Path) -> PathBuf {
    let mut command = std::process::Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    command.current_dir(root).args(["build", "--release", "--bins", "-p", "hello-lambda"]);
    for function in FUNCTIONS {
        command.args(["-p", function.binary]);
    }
    let status = command.status().expect("cargo build");
    assert!(status.success(), "the release build failed");
    std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| root.join("target")).join("release")
}

/// The event `function` answers, with the stack's API key.
fn event_for(root: &Path, function: &Function, auth: &str) -> Value {
    let text = std::fs::read_to_string(root.join(function.event)).expect("event file");
    let mut event: Value = serde_json::from_str(&text).expect("event json");
    if event["headers"].get("authorization").is_some() {
        event["headers"]["authorization"] = json!(auth);
    }
    if function.binary == "portal" {
        event["rawPath"] = json!("/portal");
        event["requestContext"]["http"]["path"] = json!("/portal");
        event["headers"]["accept"] = json!("text/html");
    }
    event
}

/// One cold start: a new process; exec to its first poll for an event (init), and exec to the
/// answer of its first invocation, in ms.
async fn cold(
    stack: &DevStack,
    logical: &str,
    binary: &Path,
    env: BTreeMap<String, String>,
    event: &Value,
) -> (f64, f64) {
    let log = devstack::repo_root().join("target/cold").join(format!("{logical}.log"));
    let lambda = stack.function_process(logical, binary.to_path_buf(), env, Some(log)).await.expect("process");
    let Invocation { outcome, duration, cold_start, .. } = lambda.invoke(event).await.expect("invoke");
    assert!(matches!(outcome, Outcome::Response(_)), "{} answers: {outcome:?}", binary.display());
    let init = cold_start.expect("a new process starts cold");
    (init.as_secs_f64() * 1000.0, (init + duration).as_secs_f64() * 1000.0)
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn round(x: f64) -> Value {
    json!((x * 100.0).round() / 100.0)
}
