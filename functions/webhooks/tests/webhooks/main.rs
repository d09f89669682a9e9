//! fn webhooks against the IAM-enforced local stack: changes made through the API reach a real
//! receiver on loopback (verifying with the `standardwebhooks` crate) through the outbox, the
//! platform table's stream and the retry queue, each function under its own policy.

use std::time::{Duration, Instant};

use devstack::client::ApiClient;
use devstack::receiver::{Received, Receiver};
use devstack::stack::{DevStack, StackOptions};
use serde_json::{Value, json};
use uuid::Uuid;

/// A stack of its own that runs fn webhooks (not the worker unless a test says so).
fn options() -> StackOptions {
    StackOptions {
        port: 0,
        aws_endpoint: Some(devstack::emulator_endpoint()),
        name_prefix: format!("h{}-", Uuid::new_v4().simple()),
        run_worker: false,
        run_webhooks: true,
        ..StackOptions::default()
    }
}

async fn stack() -> DevStack {
    DevStack::start(options()).await.expect("stack")
}

/// A company (`body`) and its BigCommerce connection, through the API: their ids.
async fn company_with_connection(api: &ApiClient, body: Value) -> (String, String) {
    let company = api.expect("POST", "/companies", Some(&body), 200).await.expect("company");
    let company = company["id"].as_str().expect("id").to_string();
    let connection = api
        .expect("POST", &format!("/companies/{company}/connections"), Some(&json!({"platformKey": "vqzp"})), 200)
        .await
        .expect("connection");
    (company, connection["id"].as_str().expect("id").to_string())
}

/// A receiver and its consumer (`POST /webhooks`), verifying with the secret shown once.
async fn consumer(api: &ApiClient, body: Value) -> (Receiver, String) {
    let receiver = Receiver::start().await.expect("receiver");
    let mut body = body;
    body["url"] = json!(receiver.url());
    let created = api.expect("POST", "/webhooks", Some(&body), 201).await.expect("consumer");
    receiver.set_secret(created["secret"].as_str().expect("secret"));
    (receiver, created["id"].as_str().expect("id").to_string())
}

/// Waits until `receiver` has `n` deliveries that answered 2xx.
async fn until_delivered(receiver: &Receiver, n: usize, within: Duration) -> Vec<Received> {
    let start = Instant::now();
    loop {
        let delivered: Vec<Received> = receiver.received().into_iter().filter(|r| r.answered < 300).collect();
        if delivered.len() >= n {
            return delivered;
        }
        assert!(start.elapsed() < within, "{} of {n} delivered: {:?}", delivered.len(), receiver.received());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let at = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[at.min(sorted.len() - 1)]
}

#[tokio::test]
async fn every_company_and_connection_event_arrives_signed_and_a_failed_one_again_with_its_id() {
    let stack = stack().await;
    let api = ApiClient::new(&stack.api_url, &stack.api_key);
    let types = [
        "company.created",
        "company.deleted",
        "connection.created",
        "connection.connected",
        "connection.disconnected",
        "connection.reconnected",
        "connection.deleted",
        "connection.failed",
    ];
    let started = chrono::Utc::now();
    let (all, all_id) = consumer(&api, json!({"eventTypes": types})).await;
    let (other_tag, _) = consumer(&api, json!({"eventTypes": types, "companyTags": ["region:eu"]})).await;
    let (disabled, _) = consumer(&api, json!({"eventTypes": types, "disabled": true})).await;

    let (company, connection) =
        company_with_connection(&api, json!({"name": "Hooked", "tags": {"region": "us"}})).await;
    let authorization = format!("/companies/{company}/connections/{connection}/authorization");
    let mut wrong = stack.sandbox_credentials();
    wrong["accessToken"] = json!("0123456789abcdefghijklmnopqrstu");
    let (status, _) = api.send("PUT", &authorization, Some(&wrong)).await.expect("refused");
    assert!((400..500).contains(&status), "{status}");
    api.expect("PUT", &authorization, Some(&stack.sandbox_credentials()), 200).await.expect("linked");
    let path = format!("/companies/{company}/connections/{connection}");
    api.expect("PATCH", &path, Some(&json!({"status": "Unlinked"})), 200).await.expect("unlinked");
    api.expect("PUT", &authorization, Some(&stack.sandbox_credentials()), 200).await.expect("relinked");
    api.expect("DELETE", &path, None, 200).await.expect("connection deleted");
    // The consumer fails the next attempt: company.deleted comes again, 5 s on, with its id.
    until_delivered(&all, 7, Duration::from_secs(60)).await;
    all.fail_next(1);
    let (status, _) = api.send("DELETE", &format!("/companies/{company}"), None).await.expect("delete");
    assert_eq!(status, 204);

    let delivered = until_delivered(&all, 8, Duration::from_secs(60)).await;
    let kinds: Vec<&str> = delivered.iter().map(|r| r.body["eventType"].as_str().unwrap_or_default()).collect();
    assert_eq!(
        kinds,
        [
            "company.created",
            "connection.created",
            "connection.failed",
            "connection.connected",
            "connection.disconnected",
            "connection.reconnected",
            "connection.deleted",
            "company.deleted",
        ]
    );
    let received = all.received();
    assert!(received.iter().all(|r| r.verified && r.svix_alike), "every delivery verifies: {received:?}");
    let deleted: Vec<&Received> = received.iter().filter(|r| r.body["eventType"] == "company.deleted").collect();
    assert_eq!(deleted.iter().map(|r| r.answered).collect::<Vec<_>>(), [500, 204], "retried after a failure");
    assert_eq!(deleted[0].id, deleted[1].id, "one id across attempts");
    assert!(deleted[1].arrived - deleted[0].arrived >= chrono::Duration::seconds(4), "the retry waits 5 s");
    let failed = &delivered[2].body["payload"]["connection"];
    assert_eq!(failed["dataConnectionErrors"][0]["statusCode"], "401", "{failed}");
    assert_eq!(delivered[3].body["payload"]["connection"]["status"], "Linked");
    assert_eq!(delivered[0].body["payload"]["tags"], json!({"region": "us"}));
    let text = serde_json::to_string(&received.iter().map(|r| &r.body).collect::<Vec<_>>()).expect("json");
    let credentials = stack.sandbox_credentials();
    for secret in ["accessToken", "clientSecret"] {
        let value = credentials[secret].as_str().expect("credential");
        assert!(!text.contains(value), "{secret} must never be in an event");
    }
    assert!(other_tag.received().is_empty(), "tag filters hold");
    assert!(disabled.received().is_empty(), "a disabled consumer receives nothing");

    // Latency from the change (generatedDate) to delivery, first attempts.
    let mut latencies: Vec<f64> = received
        .iter()
        .filter(|r| r.answered < 300 && r.body["eventType"] != "company.deleted")
        .filter_map(|r| {
            let generated = chrono::DateTime::parse_from_rfc3339(r.body["generatedDate"].as_str()?).ok()?;
            Some((r.arrived - generated.to_utc()).num_milliseconds() as f64 / 1000.0)
        })
        .collect();
    latencies.sort_by(f64::total_cmp);
    println!(
        "event latency, change to delivery: median {:.2} s, p95 {:.2} s, max {:.2} s over {}",
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.95),
        latencies.last().copied().unwrap_or_default(),
        latencies.len()
    );

    // The delivery log (extension), newest first.
    let log = api.expect("GET", &format!("/webhooks/{all_id}/messages"), None, 200).await.expect("messages");
    let log = log["results"].as_array().expect("results").clone();
    assert_eq!(log.len(), 8, "{log:?}");
    assert_eq!(log[0]["eventType"], "company.deleted");
    assert_eq!((log[0]["status"].as_str(), log[0]["attempts"].as_u64()), (Some("Success"), Some(2)));
    assert_eq!(log[0]["lastStatusCode"], 204);
    assert!(log.iter().all(|m| m["status"] == "Success"), "{log:?}");

    // Replay one message: it comes again with its id.
    let first = delivered[0].id.clone();
    let replay = format!("/webhooks/{all_id}/replay");
    let queued = api.expect("POST", &replay, Some(&json!({"messageId": first})), 202).await.expect("replay");
    assert_eq!(queued["queued"], 1);
    let again = until_delivered(&all, 9, Duration::from_secs(30)).await;
    assert_eq!((again[8].id.as_str(), again[8].verified), (first.as_str(), true));

    // A consumer created after the events replays them all (events of the last 14 days).
    let (late, late_id) = consumer(&api, json!({"eventTypes": ["company.created", "company.deleted"]})).await;
    let since = json!({"since": started.to_rfc3339()});
    let queued = api.expect("POST", &format!("/webhooks/{late_id}/replay"), Some(&since), 202).await.expect("replay");
    assert_eq!(queued["queued"], 2, "{queued}");
    let replayed = until_delivered(&late, 2, Duration::from_secs(30)).await;
    let mut kinds: Vec<&str> = replayed.iter().map(|r| r.body["eventType"].as_str().unwrap_or_default()).collect();
    kinds.sort_unstable();
    assert_eq!(kinds, ["company.created", "company.deleted"]);
    assert!(replayed.iter().all(|r| r.verified));

    // Bad input: 400s naming the field, 404 for what does not exist.
    for body in [
        json!({}),
        json!({"messageId": "x"}),
        json!({"since": "yesterday"}),
        json!({"messageId": first, "since": started.to_rfc3339()}),
    ] {
        let (status, answer) = api.send("POST", &replay, Some(&body)).await.expect("bad replay");
        assert_eq!(status, 400, "{body}: {answer}");
        assert!(answer["validation"]["errors"].is_array(), "{answer}");
    }
    let unknown = Uuid::new_v4();
    let (status, _) = api.send("POST", &replay, Some(&json!({"messageId": unknown}))).await.expect("unknown");
    assert_eq!(status, 404);
    let (status, _) = api.send("GET", &format!("/webhooks/{unknown}/messages"), None).await.expect("unknown");
    assert_eq!(status, 404);
    stack.stop().await;
}

/// The first syncs of a link, run by the worker under its own policy: each data type's dataset
/// ends with its `read.completed`, and the link's `read.completed.initial` follows the last.
#[tokio::test]
async fn a_link_reports_each_first_read_and_then_its_initial_read() {
    let mut options = StackOptions { run_worker: true, ..options() };
    let sizes = sandbox::Sizes { orders: 30, products: 6, customers: 8, categories: 3 };
    options.sandbox.stores = vec![sandbox::StoreConfig::from_seed(53, sizes)];
    let stack = DevStack::start(options).await.expect("stack");
    let api = ApiClient::new(&stack.api_url, &stack.api_key);
    let (receiver, _) = consumer(&api, json!({"eventTypes": ["read.completed", "read.completed.initial"]})).await;
    let (company, connection) = company_with_connection(&api, json!({"name": "Read"})).await;
    let authorization = format!("/companies/{company}/connections/{connection}/authorization");
    api.expect("PUT", &authorization, Some(&stack.sandbox_credentials()), 200).await.expect("linked");
    let settings = api.expect("GET", &format!("/companies/{company}/syncSettings"), None, 200).await.expect("settings");
    let mut first: Vec<String> = settings["settings"]
        .as_array()
        .expect("settings")
        .iter()
        .filter(|s| s["fetchOnFirstLink"] == true)
        .filter_map(|s| s["dataType"].as_str().map(str::to_string))
        .collect();
    first.sort();
    assert!(first.len() >= 5, "{settings}");

    let delivered = until_delivered(&receiver, first.len() + 1, Duration::from_secs(240)).await;
    assert!(delivered.iter().all(|r| r.verified), "{delivered:?}");
    let (initial, reads): (Vec<&Received>, Vec<&Received>) =
        delivered.iter().partition(|r| r.body["eventType"] == "read.completed.initial");
    assert_eq!(initial.len(), 1, "one initial read: {delivered:?}");
    let mut read_types: Vec<String> = reads
        .iter()
        .map(|r| {
            let payload = &r.body["payload"];
            assert_eq!(payload["referenceCompany"]["id"], company.as_str());
            assert_eq!(payload["modifiedFromDate"], Value::Null, "first reads are full");
            let types = payload["dataTypes"].as_array().expect("dataTypes");
            assert_eq!(types.len(), 1, "one data type per read.completed: {payload}");
            assert_eq!(types[0]["connectionId"], connection.as_str());
            assert_eq!(types[0]["status"], "Complete", "{payload}");
            assert_eq!(types[0]["issues"], json!([]));
            types[0]["dataType"].as_str().expect("dataType").to_string()
        })
        .collect();
    read_types.sort();
    assert_eq!(read_types, first, "one read.completed per first-link data type");
    assert!(
        initial[0].arrived >= reads.iter().map(|r| r.arrived).max().expect("reads"),
        "the initial read follows the last"
    );
    let mut initial_types: Vec<String> = initial[0].body["payload"]["dataTypes"]
        .as_array()
        .expect("dataTypes")
        .iter()
        .map(|t| t["dataType"].as_str().expect("dataType").to_string())
        .collect();
    initial_types.sort();
    assert_eq!(initial_types, first);
    let orders = reads.iter().find(|r| r.body["payload"]["dataTypes"][0]["dataType"] == "commerce-orders");
    assert_eq!(orders.expect("orders").body["payload"]["dataTypes"][0]["recordsModified"], true, "orders were stored");
    stack.stop().await;
}

/// fn webhooks from its binary, as Lambda runs it, killed (SIGKILL) while a delivery of a
/// batch waits for its answer: the stream hands the batch over again, and every event arrives,
/// the one in flight again with its id, none that succeeded twice.
#[tokio::test]
async fn a_deliverer_killed_mid_batch_loses_nothing() {
    let options =
        StackOptions { webhooks_process: Some(std::path::PathBuf::from(env!("CARGO_BIN_EXE_webhooks"))), ..options() };
    let stack = DevStack::start(options).await.expect("stack");
    let api = ApiClient::new(&stack.api_url, &stack.api_key);
    let (receiver, consumer_id) = consumer(&api, json!({"eventTypes": ["company.created"]})).await;
    let lambda = stack.webhooks_lambda.clone().expect("fn webhooks as a process");
    let switch = lambda.kill_switch();
    receiver.on_arrival(3, Duration::from_secs(2), move || switch.kill());

    // Created together, so that the stream hands them over in a batch.
    let bodies: Vec<Value> = (0..8).map(|i| json!({"name": format!("Batch {i}")})).collect();
    let created =
        futures::future::join_all(bodies.iter().map(|body| api.expect("POST", "/companies", Some(body), 200))).await;
    let mut ids: Vec<String> =
        created.into_iter().map(|c| c.expect("company")["id"].as_str().expect("id").to_string()).collect();
    ids.sort();

    let start = Instant::now();
    let arrived = loop {
        let received = receiver.received();
        let mut companies: Vec<String> = received
            .iter()
            .filter_map(|r| r.body["payload"]["id"].as_str().map(str::to_string))
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        companies.sort();
        if companies == ids && received.len() > ids.len() {
            break received;
        }
        assert!(
            start.elapsed() < Duration::from_secs(90),
            "{} of {} arrived: {received:?}",
            companies.len(),
            ids.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(lambda.stats().killed, 1, "killed once, mid-batch");
    assert!(arrived.iter().all(|r| r.verified), "{arrived:?}");
    // The delivery in flight at the kill came again with its id; the log shows each message
    // delivered.
    let held = &arrived[2];
    let again: Vec<&Received> = arrived.iter().filter(|r| r.id == held.id).collect();
    assert!(again.len() >= 2, "the message in flight is sent again: {arrived:?}");
    let log = api.expect("GET", &format!("/webhooks/{consumer_id}/messages"), None, 200).await.expect("messages");
    let log = log["results"].as_array().expect("results").clone();
    assert_eq!(log.len(), ids.len(), "{log:?}");
    assert!(log.iter().all(|m| m["status"] == "Success"), "{log:?}");
    // What succeeded before the kill is not sent again.
    for before in &arrived[..2] {
        let times = arrived.iter().filter(|r| r.id == before.id).count();
        assert_eq!(times, 1, "{} succeeded before the kill: sent once", before.id);
    }
    println!(
        "killed mid-batch: {} deliveries for {} events, {} invocations",
        arrived.len(),
        ids.len(),
        lambda.stats().invocations
    );
    stack.stop().await;
}

/// The `events/webhooks` files (for `sam local invoke` / `make invoke FN=webhooks`): each is in
/// the shape fn webhooks reads today, and replays without a failure.
#[tokio::test]
async fn every_webhooks_event_file_is_current_and_replays() {
    let dir = devstack::repo_root().join("events/webhooks");
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .expect("events/webhooks")
        .filter_map(|e| e.ok()?.file_name().to_str().map(str::to_string))
        .collect();
    files.sort();
    assert_eq!(files, ["outbox-read-completed.json", "retry.json"]);
    let stream = devstack::invoke::load_event(&dir.join("outbox-read-completed.json")).expect("event");
    let event = shared::adapters::dynamodb::events::stream_event(&stream["Records"][0])
        .expect("a new outbox item")
        .expect("the outbox item holds an event this version reads");
    assert_eq!(event.event_type, shared::domain::EventType::ReadCompleted);
    assert_eq!(event.company.id, devstack::fixtures::COMPANY_ID);
    let retry = devstack::invoke::load_event(&dir.join("retry.json")).expect("event");
    let message: shared::domain::event::RetryMessage =
        serde_json::from_str(retry["Records"][0]["body"].as_str().expect("body")).expect("a retry message");
    assert_eq!(message.event.event_type, shared::domain::EventType::CompanyCreated);
    for file in &files {
        let response =
            devstack::invoke::invoke(&devstack::emulator_sdk_config(), "webhooks", &dir.join(file)).await.expect(file);
        let body = match response.body() {
            lambda_http::Body::Text(text) => serde_json::from_str::<Value>(text).expect("JSON"),
            other => panic!("unexpected {other:?}"),
        };
        // No consumer of the fixtures wants them, and an unknown consumer's retry is dropped.
        assert_eq!(body, json!({"batchItemFailures": []}), "{file}");
    }
}

/// A disabled consumer's pending message waits (its retry comes and goes without a delivery);
/// re-enabling the consumer resumes it, with its id.
#[tokio::test]
async fn a_disabled_consumer_keeps_its_pending_messages_until_re_enabled() {
    let stack = stack().await;
    let api = ApiClient::new(&stack.api_url, &stack.api_key);
    let (receiver, id) = consumer(&api, json!({"eventTypes": ["company.created"]})).await;
    receiver.fail_next(1);
    api.expect("POST", "/companies", Some(&json!({"name": "Paused"})), 200).await.expect("company");
    let start = Instant::now();
    while receiver.received().is_empty() {
        assert!(start.elapsed() < Duration::from_secs(30), "no first attempt");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let path = format!("/webhooks/{id}");
    api.expect("PATCH", &path, Some(&json!({"disabled": true})), 200).await.expect("disabled");
    // The retry falls due 5 s after the failure and finds the consumer disabled.
    tokio::time::sleep(Duration::from_secs(8)).await;
    assert_eq!(receiver.received().len(), 1, "a disabled consumer receives nothing");
    let log = api.expect("GET", &format!("{path}/messages"), None, 200).await.expect("messages");
    assert_eq!(log["results"][0]["status"], "Attempting", "{log}");
    let enabled = api.expect("PATCH", &path, Some(&json!({"disabled": false})), 200).await.expect("enabled");
    assert_eq!(enabled["disabled"], false);
    let delivered = until_delivered(&receiver, 1, Duration::from_secs(30)).await;
    let received = receiver.received();
    assert_eq!(received.len(), 2, "{received:?}");
    assert_eq!(delivered[0].id, received[0].id, "the same message, resumed");
    assert!(received.iter().all(|r| r.verified));
    let log = api.expect("GET", &format!("{path}/messages"), None, 200).await.expect("messages");
    assert_eq!(
        (log["results"][0]["status"].as_str(), log["results"][0]["attempts"].as_u64()),
        (Some("Success"), Some(2))
    );
    stack.stop().await;
}
