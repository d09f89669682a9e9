//! Pull operations: requesting syncs, data status and history.

use serde_json::{Value, json};
use shared::ports::LinkStore;
use uuid::Uuid;

use crate::helpers::{TestApp, assert_error};
use crate::spec::assert_valid;

async fn linked(app: &TestApp) -> (String, String) {
    let company = app.company("Sync Co").await;
    let company_id = company["id"].as_str().expect("id").to_string();
    let connection = app.connection(&company_id).await;
    let connection_id = connection["id"].as_str().expect("id").to_string();
    let (c, id) = (Uuid::parse_str(&company_id).expect("uuid"), Uuid::parse_str(&connection_id).expect("uuid"));
    let lease = Uuid::new_v4();
    app.store.begin_link(c, id, lease, chrono::Utc::now(), 30).await.expect("lease");
    let store =
        shared::ports::LinkedStore { store_hash: "abc".into(), secret_name: "x".into(), info: Default::default() };
    app.store.complete_link(c, id, lease, &store).await.expect("link");
    (company_id, connection_id)
}

async fn queued_messages(app: &TestApp) -> Vec<Value> {
    let mut out = Vec::new();
    loop {
        let batch = app
            .sqs
            .receive_message()
            .queue_url(&app.queue_url)
            .max_number_of_messages(10)
            .send()
            .await
            .expect("receive");
        let messages = batch.messages.unwrap_or_default();
        if messages.is_empty() {
            return out;
        }
        for message in &messages {
            out.extend(message.body().and_then(|b| serde_json::from_str(b).ok()));
            // FIFO: a group's next message is delivered only once this one is deleted.
            let receipt = message.receipt_handle().expect("receipt");
            app.sqs.delete_message().queue_url(&app.queue_url).receipt_handle(receipt).send().await.expect("delete");
        }
    }
}

#[tokio::test]
async fn refresh_one_data_type_then_all() {
    let app = TestApp::new().await;
    let (company, connection) = linked(&app).await;
    let status = app.call("GET", &format!("/companies/{company}/dataStatus"), None).await;
    assert_eq!((status.status, &status.body), (200, &json!({})));

    let queued = app
        .call("POST", &format!("/companies/{company}/data/queue/commerce-orders?connectionId={connection}"), None)
        .await;
    assert_eq!(queued.status, 200, "{}", queued.body);
    assert_valid("PullOperation", &queued.body);
    assert_eq!(
        (queued.body["status"].as_str(), queued.body["dataType"].as_str()),
        (Some("Queued"), Some("commerce-orders"))
    );
    assert_eq!((queued.body["isCompleted"].as_bool(), queued.body["isErrored"].as_bool()), (Some(false), Some(false)));
    let dataset = queued.body["id"].as_str().expect("id").to_string();
    let jobs = queued_messages(&app).await;
    assert_eq!(jobs.len(), 1);
    assert_eq!((jobs[0]["datasetId"].as_str(), jobs[0]["reason"].as_str()), (Some(dataset.as_str()), Some("refresh")));

    let one = app.call("GET", &format!("/companies/{company}/data/history/{dataset}"), None).await;
    assert_eq!(one.body, queued.body);
    let status = app.call("GET", &format!("/companies/{company}/dataStatus"), None).await;
    assert_valid("DataStatuses", &status.body);
    assert_eq!(status.body["commerce-orders"]["currentStatus"], "Queued");
    assert_eq!(status.body["commerce-orders"]["latestSyncId"], dataset.as_str());

    // Without connectionId: the company's only Linked connection.
    assert_eq!(
        app.call("POST", &format!("/companies/{company}/data/queue/commerce-customers"), None).await.status,
        200
    );
    assert_eq!(app.call("POST", &format!("/companies/{company}/data/all"), None).await.status, 204);
    let jobs = queued_messages(&app).await;
    assert_eq!(
        jobs.len(),
        7,
        "one customers job and six of the eight fetchOnFirstLink types (orders and customers were still Queued)"
    );
    let history = app.call("GET", &format!("/companies/{company}/data/history?pageSize=5"), None).await;
    assert_valid("PullOperations", &history.body);
    assert_eq!(
        (history.body["totalResults"].as_u64(), history.body["results"].as_array().map(Vec::len)),
        (Some(8), Some(5))
    );
    // Paged in the store, newest first: the same order as the in-memory (filtered) path.
    let second = app.call("GET", &format!("/companies/{company}/data/history?pageSize=5&page=2"), None).await;
    assert_eq!(second.body["results"].as_array().map(Vec::len), Some(3));
    let ids = |body: &Value| -> Vec<String> {
        body["results"].as_array().into_iter().flatten().filter_map(|d| d["id"].as_str().map(str::to_string)).collect()
    };
    let sorted = app.call("GET", &format!("/companies/{company}/data/history?orderBy=-requested"), None).await;
    assert_eq!([ids(&history.body), ids(&second.body)].concat(), ids(&sorted.body));
    assert!(history.body["_links"]["next"].is_object() && second.body["_links"]["next"].is_null());
    let orders = app
        .call(
            "GET",
            &format!("/companies/{company}/data/history?query=dataType%3Dcommerce-orders&orderBy=-requested"),
            None,
        )
        .await;
    assert_eq!(orders.body["totalResults"], 1, "the refresh of a Queued data type answered with its dataset");
    let status = app.call("GET", &format!("/companies/{company}/dataStatus"), None).await;
    assert_eq!(status.body.as_object().map(|o| o.len()), Some(8));
    assert_eq!(status.body["commerce-orders"]["latestSyncId"], dataset.as_str());
    let again = app
        .call("POST", &format!("/companies/{company}/data/queue/commerce-orders?connectionId={connection}"), None)
        .await;
    assert_eq!(again.body["id"].as_str(), Some(dataset.as_str()), "coalesced: the queued dataset answers");
    assert!(queued_messages(&app).await.is_empty(), "and no job is queued");

    // Deleting the company removes its datasets too.
    assert_eq!(app.call("DELETE", &format!("/companies/{company}"), None).await.status, 204);
    app.run_erasures().await;
    assert!(app.partition(&format!("DATASETS#{company}")).await.is_empty());
}

#[tokio::test]
async fn refresh_rules() {
    let app = TestApp::new().await;
    let company = app.company("Unlinked Co").await;
    let id = company["id"].as_str().expect("id");
    assert_error(&app.call("POST", &format!("/companies/{id}/data/all"), None).await, 400, "no Linked connection");
    assert_error(
        &app.call("POST", &format!("/companies/{id}/data/queue/commerce-orders"), None).await,
        400,
        "no Linked connection",
    );
    let pending = app.connection(id).await;
    let path =
        format!("/companies/{id}/data/queue/commerce-orders?connectionId={}", pending["id"].as_str().expect("id"));
    assert_error(&app.call("POST", &path, None).await, 400, "PendingAuth");
    assert_error(
        &app.call("POST", &format!("/companies/{id}/data/queue/invoices"), None).await,
        400,
        "not a commerce data type",
    );
    assert_error(
        &app.call("POST", &format!("/companies/{id}/data/queue/commerce-orders?connectionId=nope"), None).await,
        400,
        "UUID",
    );
    let missing = Uuid::new_v4();
    assert_error(
        &app.call("POST", &format!("/companies/{id}/data/queue/commerce-orders?connectionId={missing}"), None).await,
        404,
        "not found",
    );
    assert_error(&app.call("GET", &format!("/companies/{id}/data/history/{missing}"), None).await, 404, "not found");
    assert_error(&app.call("GET", &format!("/companies/{missing}/dataStatus"), None).await, 404, "No company");
    assert_error(
        &app.call("GET", &format!("/companies/{id}/data/history?query=colour%3Dred"), None).await,
        400,
        "Could not resolve property colour on Dataset",
    );
    assert!(queued_messages(&app).await.is_empty(), "nothing was queued");
}
