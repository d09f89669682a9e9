//! IAM as AWS enforces it, in the emulator: moto runs with `INITIAL_NO_AUTH_ACTION_COUNT`, so
//! after the admin bootstrap every call is authorized against its caller's policies. Each
//! function gets its own principal whose policy is its `Policies` in `template.yaml`, through one
//! translation (checked against moto 5.2.5):
//! - moto authorizes DynamoDB and Secrets Manager calls against resource `*`, so their
//!   statements take `Resource: "*"` locally (`template_arns_name_the_right_resources` checks the
//!   template's own ARNs instead); SQS statements keep their queue ARNs, resolved to the local
//!   queues;
//! - moto checks the API name as the action where AWS checks another: `SendMessageBatch`,
//!   `DeleteMessageBatch` and `ChangeMessageVisibilityBatch` are allowed beside the single-message
//!   action AWS checks; `TransactWriteItems` (AWS checks each item's action instead) beside
//!   `ConditionCheckItem`, the action only a transaction uses, so only a function that may check
//!   conditions in a transaction may write one (with the item actions its statement also allows,
//!   as AWS would require). The translation adds moto's names; it never removes or replaces
//!   AWS's.
//!
//! The SQS event source mapping polls with the worker's role plus what SAM attaches for an SQS
//! event (`AWSLambdaSQSQueueExecutionRole`: `ReceiveMessage`, `DeleteMessage`,
//! `GetQueueAttributes`).

use std::collections::BTreeMap;

use aws_config::SdkConfig;
use aws_sdk_dynamodb::config::{Credentials, SharedCredentialsProvider};
use serde::Serialize;
use serde_json::{Value, json};
use serde_norway::Value as Yaml;

use crate::template::Template;

/// The emulator's account.
pub const ACCOUNT_ID: &str = "123456789012";
/// The emulator's region.
pub const REGION: &str = "us-east-1";
/// The requests moto serves before it enforces IAM: exactly the admin bootstrap's.
pub const BOOTSTRAP_ACTIONS: u32 = 3;
/// What a DynamoDB stream event source mapping reads the stream with
/// (`AWSLambdaDynamoDBExecutionRole`, which SAM attaches to a function with a DynamoDB event).
pub const STREAM_SOURCE_ACTIONS: &[&str] =
    &["dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator", "dynamodb:ListStreams"];
/// What SAM attaches to a function with an SQS event (`AWSLambdaSQSQueueExecutionRole`).
pub const EVENT_SOURCE_ACTIONS: &[&str] = &["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"];

/// Why a principal could not be made.
#[derive(Debug, thiserror::Error)]
pub enum IamError {
    /// The emulator refused a call.
    #[error("IAM in the emulator: {0}")]
    Call(String),
    /// The template's policy could not be read.
    #[error("the policy of {0} in template.yaml: {1}")]
    Policy(String, String),
}

/// An IAM user of the emulator and its access key.
#[derive(Debug, Clone, Serialize)]
pub struct Principal {
    /// User name.
    pub name: String,
    /// Access key id.
    pub access_key_id: String,
    /// Secret access key.
    pub secret_access_key: String,
}

impl Principal {
    /// The admin principal `tools/with-moto` (or a running stack) exported:
    /// `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY`.
    pub fn from_env() -> Option<Self> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        Some(Self {
            name: "admin".into(),
            access_key_id: var("AWS_ACCESS_KEY_ID")?,
            secret_access_key: var("AWS_SECRET_ACCESS_KEY")?,
        })
    }

    /// SDK configuration calling `endpoint` as this principal (fixed region, nothing from the
    /// developer's environment).
    pub fn sdk_config(&self, endpoint: &str) -> SdkConfig {
        let credentials = Credentials::new(&self.access_key_id, &self.secret_access_key, None, None, "devstack");
        SdkConfig::builder()
            .behavior_version(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new(REGION))
            .endpoint_url(endpoint)
            .credentials_provider(SharedCredentialsProvider::new(credentials))
            .build()
    }
}

fn call<E: std::fmt::Debug>(what: &str) -> impl FnOnce(E) -> IamError + '_ {
    move |e| IamError::Call(format!("{what}: {e:?}"))
}

/// Creates the admin principal with the first [`BOOTSTRAP_ACTIONS`] calls, which moto serves
/// unauthenticated; every later call needs a principal.
pub async fn bootstrap_admin(endpoint: &str) -> Result<Principal, IamError> {
    let anonymous =
        Principal { name: "bootstrap".into(), access_key_id: "bootstrap".into(), secret_access_key: "x".into() };
    let admin = policy_statements(vec![json!({"Effect": "Allow", "Action": "*", "Resource": "*"})]);
    create_principal(&anonymous.sdk_config(endpoint), "admin", &admin).await
}

/// Creates user `name` with `policy` (an inline policy document) and an access key: three
/// calls.
pub async fn create_principal(admin: &SdkConfig, name: &str, policy: &Value) -> Result<Principal, IamError> {
    let iam = aws_sdk_iam::Client::new(admin);
    iam.create_user().user_name(name).send().await.map_err(call("CreateUser"))?;
    iam.put_user_policy()
        .user_name(name)
        .policy_name("template")
        .policy_document(policy.to_string())
        .send()
        .await
        .map_err(call("PutUserPolicy"))?;
    let key = iam.create_access_key().user_name(name).send().await.map_err(call("CreateAccessKey"))?;
    let key = key.access_key.ok_or_else(|| IamError::Call("CreateAccessKey answered no key".into()))?;
    Ok(Principal { name: name.to_string(), access_key_id: key.access_key_id, secret_access_key: key.secret_access_key })
}

/// The local names of the resources a template policy refers to.
#[derive(Debug, Clone, Default)]
pub struct LocalResources {
    /// Queue ARNs by logical id.
    pub queue_arns: BTreeMap<String, String>,
}

/// The ARN of a local queue named `name`.
pub fn queue_arn(name: &str) -> String {
    format!("arn:aws:sqs:{REGION}:{ACCOUNT_ID}:{name}")
}

fn policy_statements(statements: Vec<Value>) -> Value {
    json!({"Version": "2012-10-17", "Statement": statements})
}

/// Actions moto checks under their API names, beside the action AWS checks for them.
/// Removes `action` (and the names moto checks for it) from every statement of `policy`.
pub fn withhold(policy: &mut Value, action: &str) {
    let names: Vec<&str> = std::iter::once(action).chain(moto_names(action).iter().copied()).collect();
    if let Some(statements) = policy["Statement"].as_array_mut() {
        for statement in statements.iter_mut() {
            if let Some(actions) = statement["Action"].as_array_mut() {
                actions.retain(|a| !a.as_str().is_some_and(|a| names.contains(&a)));
            }
        }
        // IAM refuses a statement without actions.
        statements.retain(|s| s["Action"].as_array().is_none_or(|a| !a.is_empty()));
    }
}

fn moto_names(action: &str) -> &'static [&'static str] {
    match action {
        "sqs:SendMessage" => &["sqs:SendMessageBatch"],
        "sqs:DeleteMessage" => &["sqs:DeleteMessageBatch"],
        "sqs:ChangeMessageVisibility" => &["sqs:ChangeMessageVisibilityBatch"],
        "dynamodb:ConditionCheckItem" => &["dynamodb:TransactWriteItems"],
        _ => &[],
    }
}

/// One statement's actions with moto's names added (each once, AWS's first).
fn with_moto_names(actions: &[String]) -> Vec<String> {
    let mut all: Vec<String> = actions.to_vec();
    for action in actions {
        for extra in moto_names(action) {
            if !all.iter().any(|a| a == extra) {
                all.push((*extra).to_string());
            }
        }
    }
    all
}

/// The statements of `function`'s `Policies` in the template (inline `Statement` lists only).
pub fn template_statements(template: &Template, function: &str) -> Result<Vec<Yaml>, IamError> {
    let bad = |why: &str| IamError::Policy(function.to_string(), why.to_string());
    let resource = template.resources.get(function).ok_or_else(|| bad("no such function"))?;
    let policies = resource.properties.get("Policies").and_then(Yaml::as_sequence).ok_or_else(|| bad("no Policies"))?;
    let mut statements = Vec::new();
    for policy in policies {
        let list =
            policy.get("Statement").and_then(Yaml::as_sequence).ok_or_else(|| bad("a policy without Statement"))?;
        statements.extend(list.iter().cloned());
    }
    Ok(statements)
}

/// The actions of a template statement.
pub fn statement_actions(statement: &Yaml) -> Vec<String> {
    match statement.get("Action") {
        Some(Yaml::String(one)) => vec![one.clone()],
        Some(Yaml::Sequence(many)) => many.iter().filter_map(|a| a.as_str().map(str::to_string)).collect(),
        _ => Vec::new(),
    }
}

/// The resources of a template statement, as written (intrinsic functions kept).
pub fn statement_resources(statement: &Yaml) -> Vec<Yaml> {
    match statement.get("Resource") {
        Some(Yaml::Sequence(many)) => many.clone(),
        Some(one) => vec![one.clone()],
        None => Vec::new(),
    }
}

/// The logical id an `!GetAtt X.Arn` names.
pub fn get_att_arn(value: &Yaml) -> Option<String> {
    match value {
        Yaml::Tagged(tagged) if tagged.tag == "GetAtt" => {
            tagged.value.as_str().and_then(|v| v.strip_suffix(".Arn")).map(str::to_string)
        }
        _ => None,
    }
}

/// `function`'s policy translated for the emulator (see the module documentation), plus
/// `extra_sqs` actions on the queues its SQS events read (the event source mapping's).
pub fn function_policy(
    template: &Template,
    function: &str,
    resources: &LocalResources,
    extra_sqs: &[&str],
) -> Result<Value, IamError> {
    let mut out = Vec::new();
    for statement in template_statements(template, function)? {
        if statement.get("Effect").and_then(Yaml::as_str) != Some("Allow") {
            return Err(IamError::Policy(function.into(), "only Allow statements are translated".into()));
        }
        let actions = statement_actions(&statement);
        let (sqs, star): (Vec<String>, Vec<String>) = actions.into_iter().partition(|a| a.starts_with("sqs:"));
        if !star.is_empty() {
            out.push(json!({"Effect": "Allow", "Action": with_moto_names(&star), "Resource": "*"}));
        }
        if !sqs.is_empty() {
            let arns = sqs_arns(function, &statement_resources(&statement), resources)?;
            out.push(json!({"Effect": "Allow", "Action": with_moto_names(&sqs), "Resource": arns}));
        }
    }
    if !extra_sqs.is_empty() {
        let sources = event_queues(template, function);
        let arns = sqs_arns(function, &sources, resources)?;
        let extra: Vec<String> = extra_sqs.iter().map(|a| a.to_string()).collect();
        out.push(json!({"Effect": "Allow", "Action": with_moto_names(&extra), "Resource": arns}));
    }
    Ok(policy_statements(out))
}

fn sqs_arns(function: &str, values: &[Yaml], resources: &LocalResources) -> Result<Vec<String>, IamError> {
    values
        .iter()
        .map(|value| {
            let id = get_att_arn(value).ok_or_else(|| {
                IamError::Policy(function.into(), format!("an SQS resource that is not !GetAtt <queue>.Arn: {value:?}"))
            })?;
            resources
                .queue_arns
                .get(&id)
                .cloned()
                .ok_or_else(|| IamError::Policy(function.into(), format!("no local queue {id}")))
        })
        .collect()
}

/// The `Queue` of each SQS event of `function`.
pub fn event_queues(template: &Template, function: &str) -> Vec<Yaml> {
    let Some(events) =
        template.resources.get(function).and_then(|r| r.properties.get("Events")).and_then(Yaml::as_mapping)
    else {
        return Vec::new();
    };
    events
        .values()
        .filter(|e| e.get("Type").and_then(Yaml::as_str) == Some("SQS"))
        .filter_map(|e| e.get("Properties")?.get("Queue").cloned())
        .collect()
}

/// Whether `function` has a DynamoDB stream event.
pub fn has_stream_event(template: &Template, function: &str) -> bool {
    template
        .resources
        .get(function)
        .and_then(|r| r.properties.get("Events"))
        .and_then(Yaml::as_mapping)
        .is_some_and(|events| events.values().any(|e| e.get("Type").and_then(Yaml::as_str) == Some("DynamoDB")))
}

/// Every function's principal, and the event source mapping's of each function with an SQS
/// event (`<function>` and `<function>.events`).
#[derive(Debug, Clone, Default)]
pub struct Principals {
    by_function: BTreeMap<String, Principal>,
}

impl Principals {
    /// Creates a principal per function of `template` but those `skipped` (users named
    /// `<prefix><logical id>`), each without the `withheld` (function, action) pairs: tests of
    /// what a missing permission does. moto looks a request's access key up among every user,
    /// so a stack creates only the principals of what it runs.
    pub async fn create(
        admin: &SdkConfig,
        template: &Template,
        resources: &LocalResources,
        prefix: &str,
        withheld: &[(String, String)],
        skipped: &[&str],
    ) -> Result<Self, IamError> {
        let mut by_function = BTreeMap::new();
        for function in template.function_ids().into_iter().filter(|f| !skipped.contains(&f.as_str())) {
            let mut policy = function_policy(template, &function, resources, &[])?;
            for (_, action) in withheld.iter().filter(|(f, _)| *f == function) {
                withhold(&mut policy, action);
            }
            let principal = create_principal(admin, &format!("{prefix}{function}"), &policy).await?;
            by_function.insert(function.clone(), principal);
            if has_stream_event(template, &function) {
                // SAM gives a DynamoDB event's function AWSLambdaDynamoDBExecutionRole's actions.
                let policy = policy_statements(vec![json!({
                    "Effect": "Allow", "Action": STREAM_SOURCE_ACTIONS, "Resource": "*",
                })]);
                let principal = create_principal(admin, &format!("{prefix}{function}-stream"), &policy).await?;
                by_function.insert(format!("{function}.stream"), principal);
            }
            if !event_queues(template, &function).is_empty() {
                let policy = function_policy(template, &function, resources, EVENT_SOURCE_ACTIONS)?;
                let principal = create_principal(admin, &format!("{prefix}{function}-events"), &policy).await?;
                by_function.insert(format!("{function}.events"), principal);
            }
        }
        Ok(Self { by_function })
    }

    /// The principal of `function` (a logical id), or of its event source mapping
    /// (`<function>.events`).
    pub fn get(&self, function: &str) -> Option<&Principal> {
        self.by_function.get(function)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moto_names_are_added_beside_aws_names_never_instead() {
        let actions = with_moto_names(&[
            "sqs:SendMessage".into(),
            "dynamodb:PutItem".into(),
            "dynamodb:ConditionCheckItem".into(),
        ]);
        assert_eq!(
            actions,
            [
                "sqs:SendMessage",
                "dynamodb:PutItem",
                "dynamodb:ConditionCheckItem",
                "sqs:SendMessageBatch",
                "dynamodb:TransactWriteItems"
            ]
        );
        assert_eq!(
            with_moto_names(&["dynamodb:UpdateItem".into()]),
            ["dynamodb:UpdateItem"],
            "no transaction without it"
        );
        assert_eq!(with_moto_names(&["dynamodb:Query".into()]), ["dynamodb:Query"]);
    }

    #[test]
    fn every_function_of_the_template_translates() {
        let template = Template::load_default().expect("template");
        let resources = LocalResources {
            queue_arns: [
                ("SyncJobsQueue".to_string(), queue_arn("q.fifo")),
                ("SyncJobsDeadLetterQueue".to_string(), queue_arn("d.fifo")),
                ("WebhookRetryQueue".to_string(), queue_arn("r")),
                ("FreshJobsQueue".to_string(), queue_arn("f.fifo")),
            ]
            .into(),
        };
        for function in template.function_ids() {
            let policy = function_policy(&template, &function, &resources, &[]).expect("translates");
            let statements = policy["Statement"].as_array().expect("statements");
            assert!(!statements.is_empty(), "{function}");
            for s in statements {
                let actions: Vec<&str> =
                    s["Action"].as_array().expect("actions").iter().filter_map(Value::as_str).collect();
                if actions.iter().all(|a| a.starts_with("sqs:")) {
                    // Each keeps its queue: the sync queue, the webhook retry queue, or the fresh queue.
                    let kept = [json!([queue_arn("q.fifo")]), json!([queue_arn("r")]), json!([queue_arn("f.fifo")])];
                    assert!(kept.contains(&s["Resource"]), "{function}: SQS keeps its queue: {}", s["Resource"]);
                } else {
                    assert_eq!(s["Resource"], "*", "{function}");
                }
            }
        }
        let worker =
            function_policy(&template, "SyncWorkerFunction", &resources, EVENT_SOURCE_ACTIONS).expect("worker");
        assert!(worker.to_string().contains("sqs:ReceiveMessage"));
    }
}
