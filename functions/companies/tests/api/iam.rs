//! IAM is enforced in the emulator as AWS enforces it: a call whose action the function's policy
//! lacks is denied.

use devstack::iam::{LocalResources, create_principal, function_policy};
use devstack::template::Template;
use serde_json::Value;
use shared::adapters::dynamodb::DynamoStore;
use shared::ports::CompanyStore;

use crate::helpers::{TestApp, sdk};

/// `CompaniesFunction`'s translated policy without `action`.
fn companies_policy_without(action: &str) -> Value {
    let template = Template::load_default().expect("template");
    let resources = LocalResources {
        queue_arns: [
            ("SyncJobsQueue".into(), devstack::iam::queue_arn("unused")),
            ("WebhookRetryQueue".into(), devstack::iam::queue_arn("retries")),
            ("FreshJobsQueue".into(), devstack::iam::queue_arn("fresh")),
        ]
        .into(),
    };
    let mut policy = function_policy(&template, "CompaniesFunction", &resources, &[]).expect("policy");
    for statement in policy["Statement"].as_array_mut().expect("statements") {
        if let Some(actions) = statement["Action"].as_array_mut() {
            actions.retain(|a| a != action);
        }
    }
    policy
}

/// The app's table through a principal of its own with `policy`.
async fn store_as(app: &TestApp, policy: Value, name: &str) -> DynamoStore {
    let user = format!("{name}-{}", uuid::Uuid::new_v4().simple());
    let principal = create_principal(&sdk(), &user, &policy).await.expect("principal");
    let client = aws_sdk_dynamodb::Client::new(&principal.sdk_config(&devstack::emulator_endpoint()));
    DynamoStore::new(client, app.table.clone())
}

#[tokio::test]
async fn an_action_missing_from_the_policy_is_denied_with_access_denied() {
    let app = TestApp::new().await;
    let company = app.company("Permitted Co").await;
    let id: uuid::Uuid = company["id"].as_str().expect("id").parse().expect("uuid");
    // The function's own policy reads the company (GetCompany is one Query of its partition).
    let full = store_as(&app, companies_policy_without("none"), "companies").await;
    assert!(full.get_company(id).await.expect("allowed").is_some());
    // Without dynamodb:Query the same read is denied, as AWS would deny it.
    let denied = store_as(&app, companies_policy_without("dynamodb:Query"), "no-query").await;
    let error = denied.get_company(id).await.expect_err("denied");
    assert!(format!("{error:?}").contains("AccessDenied"), "{error:?}");
    assert!(!error.retryable(), "a refusal is permanent");
}
