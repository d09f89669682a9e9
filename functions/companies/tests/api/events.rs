//! Every file in `events/companies/` is replayed against the handler on a fresh, seeded table
//! in moto, and its response checked.

use std::path::PathBuf;

use devstack::fixtures::{COMPANY_ID, CONNECTION_ID};
use devstack::invoke::{companies_handler, load_event};
use serde_json::Value;

use crate::helpers::{decode, sdk};
use crate::spec::assert_valid;

struct Case {
    file: &'static str,
    status: u16,
    schema: Option<&'static str>,
    check: fn(&Value),
}

fn nothing(_: &Value) {}

const CASES: &[Case] = &[
    Case {
        file: "list-integrations",
        status: 200,
        schema: Some("Integrations"),
        check: |b| assert_eq!(b["results"][0]["key"], "vqzp"),
    },
    Case {
        file: "get-integration",
        status: 200,
        schema: Some("Integration"),
        check: |b| assert_eq!(b["enabled"], true),
    },
    Case { file: "get-integration-branding", status: 200, schema: Some("Branding"), check: nothing },
    Case {
        file: "disable-integration",
        status: 200,
        schema: Some("Integration"),
        check: |b| assert_eq!(b["enabled"], false),
    },
    Case {
        file: "list-companies",
        status: 200,
        schema: Some("Companies"),
        check: |b| {
            assert_eq!(b["totalResults"], 1);
            assert_eq!(b["results"][0]["id"], COMPANY_ID.to_string());
        },
    },
    Case {
        file: "create-company",
        status: 200,
        schema: Some("Company"),
        check: |b| assert_eq!(b["name"], "Technicalium"),
    },
    Case {
        file: "create-company-invalid",
        status: 400,
        schema: Some("ErrorMessage"),
        check: |b| assert_eq!(b["validation"]["errors"].as_array().map(Vec::len), Some(2)),
    },
    Case {
        file: "create-company-unauthorized",
        status: 401,
        schema: Some("ErrorMessage"),
        check: |b| assert_eq!(b["error"], "Unauthorized"),
    },
    Case {
        file: "get-company",
        status: 200,
        schema: Some("Company"),
        check: |b| {
            assert_eq!(b["dataConnections"][0]["id"], CONNECTION_ID.to_string());
            let redirect = b["redirect"].as_str().unwrap_or_default();
            assert!(redirect.starts_with("https://abc123xyz.execute-api.eu-west-2.amazonaws.com/link/"), "{redirect}");
        },
    },
    Case {
        file: "replace-company",
        status: 200,
        schema: Some("Company"),
        check: |b| assert_eq!(b["tags"]["region"], "eu"),
    },
    Case {
        file: "update-company",
        status: 200,
        schema: Some("Company"),
        check: |b| assert_eq!(b["name"], "Example Store Ltd"),
    },
    Case { file: "delete-company", status: 204, schema: None, check: |b| assert_eq!(b, &Value::Null) },
    Case {
        file: "list-connections",
        status: 200,
        schema: Some("Connections"),
        check: |b| assert_eq!(b["totalResults"], 1),
    },
    Case {
        file: "create-connection",
        status: 200,
        schema: Some("Connection"),
        check: |b| assert_eq!(b["status"], "PendingAuth"),
    },
    Case {
        file: "get-connection",
        status: 200,
        schema: Some("Connection"),
        check: |b| assert_eq!(b["status"], "Linked"),
    },
    Case {
        file: "unlink-connection",
        status: 200,
        schema: Some("Connection"),
        check: |b| assert_eq!(b["status"], "Unlinked"),
    },
    Case { file: "delete-connection", status: 200, schema: None, check: |b| assert_eq!(b, &Value::Null) },
    Case {
        file: "get-sync-settings",
        status: 200,
        schema: Some("CompanySyncSettings"),
        check: |b| assert_eq!(b["companyId"], COMPANY_ID.to_string()),
    },
    Case { file: "set-sync-settings", status: 204, schema: None, check: |b| assert_eq!(b, &Value::Null) },
];

fn events_dir() -> PathBuf {
    devstack::repo_root().join("events/companies")
}

#[tokio::test]
async fn every_companies_event_runs_against_moto() {
    let sdk = sdk();
    for case in CASES {
        let table = format!("events-{}", uuid::Uuid::new_v4().simple());
        let handler = companies_handler(&sdk, &table).await.expect("handler");
        let event = load_event(&events_dir().join(format!("{}.json", case.file))).expect("event");
        let request = devstack::event::to_lambda_request(&event).expect("API Gateway v2 event");
        let reply = decode(handler.handle(request).await);
        assert_eq!(reply.status, case.status, "{}: {}", case.file, reply.body);
        if let Some(schema) = case.schema {
            assert_valid(schema, &reply.body);
        }
        (case.check)(&reply.body);
    }
}

#[test]
fn every_event_file_is_covered() {
    let files = devstack::event::event_names("companies");
    let mut covered: Vec<String> = CASES.iter().map(|c| c.file.to_string()).collect();
    covered.sort();
    assert_eq!(files, covered, "each events/companies file needs a case here, and each case a file");
    let mut dirs: Vec<String> = std::fs::read_dir(devstack::repo_root().join("events"))
        .expect("events")
        .filter_map(|e| e.ok()?.file_name().to_str().map(str::to_string))
        .collect();
    dirs.sort();
    assert_eq!(
        dirs,
        ["companies", "data", "link", "scheduler", "store-hooks", "sync-worker", "webhooks"],
        "each function's events need a replay test (functions/data, link, scheduler, store-hooks, sync-worker and webhooks tests)"
    );
}
