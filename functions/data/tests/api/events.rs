//! Every file in `events/data/` is replayed against the handler on fresh tables holding the
//! example store's synced company info and orders, and its response checked.

use std::path::PathBuf;

use devstack::invoke::{data_handler, load_event};
use lambda_http::Body;
use serde_json::Value;

use crate::assert_valid;

struct Case {
    file: &'static str,
    status: u16,
    schema: &'static str,
    check: fn(&Value),
}

fn ids(body: &Value) -> Vec<&str> {
    body["results"].as_array().into_iter().flatten().filter_map(|r| r["id"].as_str()).collect()
}

const CASES: &[Case] = &[
    Case {
        file: "list-orders",
        status: 200,
        schema: "Orders",
        check: |b| {
            assert_eq!(ids(b), ["101", "102"]);
            assert_eq!(b["totalResults"], 3);
            assert!(b["_links"]["next"]["href"].as_str().unwrap_or_default().ends_with("page=2&pageSize=2"));
        },
    },
    Case {
        file: "list-orders-query",
        status: 200,
        schema: "Orders",
        check: |b| {
            assert_eq!(ids(b), ["102", "103"]);
            assert_eq!(b["totalResults"], 2);
        },
    },
    Case {
        file: "list-orders-bad-page-size",
        status: 400,
        schema: "ErrorMessage",
        check: |b| assert!(b["error"].as_str().unwrap_or_default().contains("pageSize")),
    },
    Case {
        file: "list-orders-unauthorized",
        status: 401,
        schema: "ErrorMessage",
        check: |b| assert_eq!(b["error"], "Unauthorized"),
    },
    Case { file: "get-order", status: 200, schema: "Order", check: |b| assert_eq!(b["totalAmount"], 129.0) },
    Case {
        file: "get-order-missing",
        status: 404,
        schema: "ErrorMessage",
        check: |b| assert!(b["error"].as_str().unwrap_or_default().contains("'999'")),
    },
    Case {
        file: "get-company-info",
        status: 200,
        schema: "CompanyInfo",
        check: |b| assert_eq!(b["companyName"], "Example Store Ltd"),
    },
    Case {
        file: "list-products-never-requested",
        status: 409,
        schema: "ErrorMessage",
        check: |b| assert_eq!(b["error"], "The data set has not been requested."),
    },
    Case {
        file: "list-locations",
        status: 409,
        schema: "ErrorMessage",
        check: |b| assert!(b["error"].as_str().unwrap_or_default().contains("not supported")),
    },
];

fn events_dir() -> PathBuf {
    devstack::repo_root().join("events/data")
}

#[tokio::test]
async fn every_data_event_runs_against_moto() {
    let sdk = devstack::emulator_sdk_config();
    let prefix = format!("events-{}-", uuid::Uuid::new_v4().simple());
    let handler = data_handler(&sdk, &prefix).await.expect("handler");
    for case in CASES {
        let event = load_event(&events_dir().join(format!("{}.json", case.file))).expect("event");
        let request = devstack::event::to_lambda_request(&event).expect("API Gateway v2 event");
        let response = handler.handle(request).await;
        let status = response.status().as_u16();
        let body: Value = match response.body() {
            Body::Text(text) => serde_json::from_str(text).expect("JSON"),
            other => panic!("{}: unexpected body {other:?}", case.file),
        };
        assert_eq!(status, case.status, "{}: {body}", case.file);
        assert_valid(case.schema, &body);
        (case.check)(&body);
    }
}

#[test]
fn every_event_file_is_covered() {
    let files = devstack::event::event_names("data");
    let mut covered: Vec<String> = CASES.iter().map(|c| c.file.to_string()).collect();
    covered.sort();
    assert_eq!(files, covered, "each events/data file needs a case here, and each case a file");
}
