//! Every file in `events/link/` replayed against the Link handler on fresh resources seeded
//! with the fixtures, verifying against the seed-7 sandbox store the files name.

use devstack::invoke::{example_sandbox, link_handler, load_event};
use lambda_http::Body;

struct Case {
    file: &'static str,
    status: u16,
    contains: &'static str,
}

const CASES: &[Case] = &[
    Case { file: "put-authorization", status: 200, contains: "\"status\":\"Linked\"" },
    Case { file: "put-authorization-bad-api-path", status: 400, contains: "apiPath" },
    Case { file: "put-authorization-unauthorized", status: 401, contains: "Unauthorized" },
    Case { file: "get-link-page", status: 200, contains: "BigCommerce" },
    Case { file: "get-credentials-page", status: 200, contains: "Access Token" },
    Case { file: "post-credentials-cross-site", status: 403, contains: "Request refused" },
    Case { file: "get-link-page-invalid-token", status: 404, contains: "not valid" },
];

fn dir() -> std::path::PathBuf {
    devstack::repo_root().join("events/link")
}

#[tokio::test]
async fn every_link_event_runs_against_moto_and_the_sandbox() {
    let sdk = devstack::emulator_sdk_config();
    let sandbox = example_sandbox().await.expect("sandbox");
    for case in CASES {
        let prefix = format!("ev{}-", uuid::Uuid::new_v4().simple());
        let handler = link_handler(&sdk, &prefix, &sandbox).await.expect("handler");
        let event = load_event(&dir().join(format!("{}.json", case.file))).expect("event");
        let response = handler.handle(devstack::event::to_lambda_request(&event).expect("event")).await;
        let body = match response.body() {
            Body::Text(t) => t.clone(),
            _ => String::new(),
        };
        assert_eq!(response.status().as_u16(), case.status, "{}: {body}", case.file);
        assert!(body.contains(case.contains), "{}: expected {:?} in {body}", case.file, case.contains);
    }
    sandbox.stop().await;
}

#[test]
fn every_link_event_file_is_covered() {
    let files = devstack::event::event_names("link");
    let mut covered: Vec<String> = CASES.iter().map(|c| c.file.to_string()).collect();
    covered.sort();
    assert_eq!(files, covered);
}

#[test]
fn the_event_files_carry_the_example_companys_link_token() {
    let token = devstack::fixtures::example_link_token();
    for file in ["get-link-page", "get-credentials-page", "post-credentials-cross-site"] {
        let text = std::fs::read_to_string(dir().join(format!("{file}.json"))).expect("event");
        assert!(text.contains(token.as_str()), "{file}.json: the Link token of the fixtures' company and nonce");
    }
}
