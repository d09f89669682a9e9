//! What cfn-lint cannot see in SAM resources: runtime, build method, routes, least privilege,
//! and that the template's table has the keys the code uses.

use std::process::Command;

use serde_norway::Value;

fn template() -> Value {
    let text = std::fs::read_to_string(devstack::repo_root().join("template.yaml")).expect("template.yaml");
    serde_norway::from_str(&text).expect("YAML")
}

fn functions(t: &Value) -> Vec<(String, Value)> {
    t["Resources"]
        .as_mapping()
        .expect("resources")
        .iter()
        .filter(|(_, r)| r["Type"] == "AWS::Serverless::Function")
        .map(|(k, r)| (k.as_str().unwrap_or_default().to_string(), r.clone()))
        .collect()
}

#[test]
fn globals_and_functions_are_deployable() {
    let t = template();
    let globals = &t["Globals"]["Function"];
    assert_eq!(globals["Runtime"], "provided.al2023");
    // The Architecture parameter, arm64 unless a deployment says x86_64.
    let architecture = &globals["Architectures"][0];
    assert!(format!("{architecture:?}").contains("Architecture"), "{architecture:?}");
    assert_eq!(t["Parameters"]["Architecture"]["Default"], "arm64");
    let allowed = t["Parameters"]["Architecture"]["AllowedValues"].as_sequence().expect("values").clone();
    assert_eq!(allowed, ["arm64", "x86_64"].map(serde_norway::Value::from));
    assert_eq!(globals["Handler"], "bootstrap");
    assert_eq!(globals["LoggingConfig"]["LogFormat"], "JSON");
    let fns = functions(&t);
    assert!(!fns.is_empty());
    for (name, f) in fns {
        assert_eq!(f["Metadata"]["BuildMethod"], "rust-cargolambda", "{name}");
        let code = f["Properties"]["CodeUri"].as_str().expect("CodeUri");
        assert!(devstack::repo_root().join(code).join("Cargo.toml").exists(), "{name}: {code} is not a crate");
    }
}

#[test]
fn companies_function_routes_and_least_privilege() {
    let t = template();
    let f = &t["Resources"]["CompaniesFunction"]["Properties"];
    let mut routes: Vec<(String, String)> = f["Events"]
        .as_mapping()
        .expect("events")
        .values()
        .map(|e| {
            assert_eq!(e["Type"], "HttpApi");
            (
                e["Properties"]["Method"].as_str().unwrap_or("").into(),
                e["Properties"]["Path"].as_str().unwrap_or("").into(),
            )
        })
        .collect();
    routes.sort();
    let expected = [
        ("ANY", "/apiKeys"),
        ("ANY", "/apiKeys/{apiKeyId}"),
        ("ANY", "/companies"),
        ("ANY", "/companies/{companyId}"),
        ("ANY", "/companies/{companyId}/connections"),
        ("ANY", "/companies/{companyId}/connections/{connectionId}"),
        ("ANY", "/companies/{companyId}/data/{proxy+}"),
        ("ANY", "/companies/{companyId}/syncSettings"),
        ("ANY", "/integrations/{platformKey}"),
        ("ANY", "/profile/syncSettings"),
        ("ANY", "/webhooks"),
        ("ANY", "/webhooks/{webhookId}"),
        ("GET", "/assets/{asset}"),
        ("GET", "/companies/{companyId}/connections/{connectionId}/erasure"),
        ("GET", "/companies/{companyId}/dataStatus"),
        ("GET", "/companies/{companyId}/erasure"),
        ("GET", "/integrations"),
        ("GET", "/integrations/{platformKey}/branding"),
        ("GET", "/webhooks/{webhookId}/messages"),
        ("POST", "/companies/{companyId}/redirect/rotate"),
        ("POST", "/webhooks/{webhookId}/replay"),
    ];
    let expected: Vec<(String, String)> = expected.iter().map(|(m, p)| (m.to_string(), p.to_string())).collect();
    assert_eq!(routes, expected);
    let env = &f["Environment"]["Variables"];
    for var in [
        "TABLE_NAME",
        "API_KEY_SHA256",
        "PUBLIC_BASE_URL",
        "LINK_KEY_SECRET",
        "SYNC_QUEUE_URL",
        "WEBHOOK_SECRET_PREFIX",
        "WEBHOOK_RETRY_QUEUE_URL",
    ] {
        assert!(!env[var].is_null(), "{var} missing");
    }
    let policy = serde_norway::to_string(&f["Policies"]).expect("policies");
    for forbidden in
        ["dynamodb:Scan", "dynamodb:*", "PutSecretValue", "sqs:ReceiveMessage", "sqs:DeleteMessage", "'*'", "\"*\""]
    {
        assert!(!policy.contains(forbidden), "companies policy must not grant {forbidden}: {policy}");
    }
    assert!(policy.contains("secretsmanager:DeleteSecret"), "deleting a connection deletes its secret");
    // It creates secrets only under the webhook prefix (consumers' signing secrets), never
    // credentials.
    let statements = f["Policies"][0]["Statement"].as_sequence().cloned().unwrap_or_default();
    for statement in statements {
        let text = serde_norway::to_string(&statement).expect("statement");
        if text.contains("CreateSecret") {
            assert!(text.contains("${WebhookSecretPrefix}*") && !text.contains("${SecretPrefix}*"), "{text}");
        }
    }
}

#[test]
fn the_table_has_the_keys_and_index_the_code_uses() {
    let table = devstack::template::Template::load_default().expect("template").table("PlatformTable").expect("table");
    let keys: Vec<_> = table.key_schema.iter().map(|k| (k.attribute_name.as_str(), k.key_type.as_str())).collect();
    assert_eq!(keys, [("pk", "HASH"), ("sk", "RANGE")]);
    let index = table
        .global_secondary_indexes
        .iter()
        .find(|i| i.index_name == shared::adapters::dynamodb::COMPANIES_INDEX)
        .expect("companies index");
    let keys: Vec<_> = index.key_schema.iter().map(|k| k.attribute_name.as_str()).collect();
    assert_eq!(keys, ["gsi1pk", "gsi1sk"]);
}

#[test]
fn cfn_lint_passes() {
    let cfn_lint = std::env::var_os("CFN_LINT")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| devstack::repo_root().join(".venv/bin/cfn-lint"));
    assert!(cfn_lint.exists(), "{} not found: run `make venv`", cfn_lint.display());
    let out =
        Command::new(&cfn_lint).arg("template.yaml").current_dir(devstack::repo_root()).output().expect("cfn-lint");
    assert!(
        out.status.success(),
        "cfn-lint:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn link_function_writes_secrets_only_under_the_prefix_and_never_reads_them() {
    let t = template();
    let f = &t["Resources"]["LinkFunction"]["Properties"];
    let policy = serde_norway::to_string(&f["Policies"]).expect("policies");
    for granted in ["secretsmanager:CreateSecret", "secretsmanager:PutSecretValue", "sqs:SendMessage"] {
        assert!(policy.contains(granted), "{granted} missing: {policy}");
    }
    for forbidden in ["dynamodb:Scan", "'*'", "\"*\""] {
        assert!(!policy.contains(forbidden), "link policy must not grant {forbidden}: {policy}");
    }
    // It reads the link keys, never the credentials it writes.
    let statements = f["Policies"][0]["Statement"].as_sequence().cloned().unwrap_or_default();
    for statement in &statements {
        let text = serde_norway::to_string(statement).unwrap_or_default();
        if text.contains("GetSecretValue") {
            assert!(text.contains("LinkSigningKeySecret") && !text.contains("SecretPrefix"), "{text}");
        }
    }
    assert!(policy.contains("secret:${SecretPrefix}*"), "secret actions are limited to the prefix: {policy}");
    let queue = &t["Resources"]["SyncJobsQueue"]["Properties"];
    assert_eq!(queue["FifoQueue"], true);
    assert_eq!(queue["RedrivePolicy"]["maxReceiveCount"], 5);
    assert!(queue["VisibilityTimeout"].as_u64().is_some_and(|v| v >= 6 * 900), "visibility >= 6x the worker timeout");
}

#[test]
fn only_the_sync_worker_reads_secrets_and_it_reports_partial_batch_failures() {
    let t = template();
    for (name, f) in functions(&t) {
        // Credentials (the secrets under SecretPrefix): read by the worker alone.
        let policy = serde_norway::to_string(&f["Properties"]["Policies"]).expect("policies");
        let reads_credentials = policy.contains("GetSecretValue") && policy.contains("${SecretPrefix}*") && {
            let statements = f["Properties"]["Policies"][0]["Statement"].as_sequence().cloned().unwrap_or_default();
            statements.iter().any(|s| {
                let text = serde_norway::to_string(s).unwrap_or_default();
                text.contains("GetSecretValue") && text.contains("${SecretPrefix}*")
            })
        };
        assert_eq!(reads_credentials, name == "SyncWorkerFunction", "{name}: {policy}");
    }
    let worker = &t["Resources"]["SyncWorkerFunction"]["Properties"];
    let event = &worker["Events"]["SyncJobs"];
    assert_eq!(event["Type"], "SQS");
    assert_eq!(event["Properties"]["FunctionResponseTypes"][0], "ReportBatchItemFailures");
    let timeout = worker["Timeout"].as_u64().expect("timeout");
    let visibility = t["Resources"]["SyncJobsQueue"]["Properties"]["VisibilityTimeout"].as_u64().expect("visibility");
    assert!(visibility >= 6 * timeout, "queue visibility {visibility} s < 6 × worker timeout {timeout} s");
    let budget: u64 =
        worker["Environment"]["Variables"]["JOB_BUDGET_SECS"].as_str().and_then(|b| b.parse().ok()).expect("budget");
    assert!(
        budget + budget / 4 < timeout,
        "a job checkpoints (with its grace for requests in flight) inside the Lambda timeout"
    );
    assert_eq!(event["Properties"]["BatchSize"], 1, "one job per invocation: the job budget is the invocation's");
    assert!(!worker["Environment"]["Variables"]["SYNC_QUEUE_URL"].is_null(), "continuations go back on the queue");
    let policy = serde_norway::to_string(&worker["Policies"]).expect("policies");
    for forbidden in ["PutSecretValue", "CreateSecret", "dynamodb:Scan"] {
        assert!(!policy.contains(forbidden), "the worker must not {forbidden}");
    }
    // Erasures delete: a deleted connection's items and secret.
    for needed in ["DeleteSecret", "DeleteItem", "BatchWriteItem"] {
        assert!(policy.contains(needed), "erasures need {needed}");
    }
    assert!(!worker["Environment"]["Variables"]["SECRET_PREFIX"].is_null(), "erasures name secrets");
}

#[test]
fn every_policy_names_the_resources_its_actions_touch() {
    use devstack::iam::{get_att_arn, statement_actions, statement_resources, template_statements};
    let template = devstack::template::Template::load_default().expect("template");
    let secrets = "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:${SecretPrefix}*";
    let webhook_secrets =
        "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:${WebhookSecretPrefix}*";
    let kind = |id: &str| template.resources.get(id).map(|r| r.kind.clone()).unwrap_or_default();
    for function in template.function_ids() {
        let mut indexes = Vec::new();
        for statement in template_statements(&template, &function).expect("statements") {
            let actions = statement_actions(&statement);
            let services: std::collections::BTreeSet<&str> =
                actions.iter().filter_map(|a| a.split(':').next()).collect();
            assert_eq!(services.len(), 1, "{function}: one service per statement: {actions:?}");
            for resource in statement_resources(&statement) {
                let sub = match &resource {
                    Value::Tagged(t) if t.tag == "Sub" => t.value.as_str().map(str::to_string),
                    _ => None,
                };
                match services.first().copied() {
                    Some("dynamodb") => match (get_att_arn(&resource), sub) {
                        (Some(table), _) => assert_eq!(kind(&table), "AWS::DynamoDB::Table", "{function}: {table}"),
                        (None, Some(sub)) => {
                            let (table, index) = sub
                                .strip_prefix("${")
                                .and_then(|s| s.split_once(".Arn}/index/"))
                                .unwrap_or_else(|| panic!("{function}: {sub} is not a table's index"));
                            let spec = template.table(table).expect("table");
                            assert!(
                                spec.global_secondary_indexes.iter().any(|i| i.index_name == index),
                                "{function}: {table} has no index {index}"
                            );
                            indexes.push(index.to_string());
                        }
                        _ => panic!("{function}: a DynamoDB resource that names no table: {resource:?}"),
                    },
                    Some("sqs") => {
                        let queue = get_att_arn(&resource).unwrap_or_else(|| panic!("{function}: {resource:?}"));
                        assert_eq!(kind(&queue), "AWS::SQS::Queue", "{function}: {queue}");
                    }
                    Some("secretsmanager") => match &resource {
                        // The link keys: read only, by the HTTP functions that sign.
                        Value::Tagged(t) if t.tag == "Ref" => {
                            assert_eq!(t.value.as_str(), Some("LinkSigningKeySecret"), "{function}");
                            assert_eq!(actions, ["secretsmanager:GetSecretValue"], "{function}: read only");
                        }
                        // Webhook consumers' secrets: read only by fn webhooks, which signs.
                        _ if sub.as_deref() == Some(webhook_secrets) && function == "WebhooksFunction" => {
                            assert_eq!(actions, ["secretsmanager:GetSecretValue"], "{function}: read only");
                        }
                        // Created and deleted with their consumer by fn companies, which never
                        // reads them.
                        _ if sub.as_deref() == Some(webhook_secrets) => {
                            assert_eq!(function, "CompaniesFunction", "{function}: webhook secrets");
                            assert!(
                                actions.iter().all(|a| [
                                    "secretsmanager:CreateSecret",
                                    "secretsmanager:TagResource",
                                    "secretsmanager:DeleteSecret"
                                ]
                                .contains(&a.as_str())),
                                "{function}: webhook secrets are created and deleted, not read: {actions:?}"
                            );
                        }
                        _ => assert_eq!(sub.as_deref(), Some(secrets), "{function}: secrets only under the prefix"),
                    },
                    other => panic!("{function}: a statement for {other:?}"),
                }
            }
        }
        // The indexes each function queries are in its policy (AWS authorizes index ARNs apart).
        let queried: &[&str] = match function.as_str() {
            "CompaniesFunction" => {
                &[shared::adapters::dynamodb::COMPANIES_INDEX, shared::adapters::dynamodb::HISTORY_INDEX]
            }
            "SyncWorkerFunction" => &[shared::adapters::dynamodb::HISTORY_INDEX],
            "SchedulerFunction" => &[shared::adapters::dynamodb::DUE_INDEX],
            _ => &[],
        };
        for index in queried {
            assert!(indexes.iter().any(|i| i == index), "{function} queries {index} without its ARN in its policy");
        }
    }
}

/// No job is stuck or silent: the worker's idea of the last receive is the queue's, the DLQ's
/// depth alarms to a topic that mails the `AlarmEmail` parameter, and the sweep can read its index.
#[test]
fn retries_match_the_queue_and_a_job_in_the_dead_letter_queue_alarms() {
    let t = template();
    let r = &t["Resources"];
    let worker = &r["SyncWorkerFunction"]["Properties"];
    let max_receives = r["SyncJobsQueue"]["Properties"]["RedrivePolicy"]["maxReceiveCount"].as_u64().expect("count");
    assert_eq!(worker["Environment"]["Variables"]["MAX_RECEIVE_COUNT"], max_receives.to_string().as_str());
    let text = |v: &Value| format!("{v:?}");
    assert!(text(&worker["Policies"]).contains("sqs:ChangeMessageVisibility"), "the worker shortens its retries");
    let scheduler = &r["SchedulerFunction"]["Properties"];
    assert!(text(&scheduler["Policies"]).contains("index/gsi3"), "the sweep queries the sweep index");
    let alarm = &r["SyncJobsDeadLetterAlarm"]["Properties"];
    assert_eq!(r["SyncJobsDeadLetterAlarm"]["Type"], "AWS::CloudWatch::Alarm");
    assert_eq!(alarm["MetricName"], "ApproximateNumberOfMessagesVisible");
    assert!(text(&alarm["Dimensions"]).contains("SyncJobsDeadLetterQueue"));
    assert_eq!(
        (alarm["Threshold"].as_u64(), alarm["ComparisonOperator"].as_str()),
        (Some(0), Some("GreaterThanThreshold"))
    );
    assert!(text(&alarm["AlarmActions"]).contains("AlarmTopic"));
    assert_eq!(r["AlarmTopic"]["Type"], "AWS::SNS::Topic");
    let subscription = text(&r["AlarmTopic"]["Properties"]["Subscription"]);
    assert!(subscription.contains("email") && subscription.contains("AlarmEmail"), "{subscription}");
    assert_eq!(t["Parameters"]["AlarmEmail"]["Type"], "String");
}

#[test]
fn every_log_group_has_a_retention_and_every_function_logs_into_one() {
    let t = template();
    let resources = &t["Resources"];
    let retention = |group: &str| {
        let g = &resources[group];
        assert_eq!(g["Type"], "AWS::Logs::LogGroup", "{group}");
        let days = &g["Properties"]["RetentionInDays"];
        assert!(format!("{days:?}").contains("LogRetentionDays"), "{group}: {days:?}");
    };
    for (name, f) in functions(&t) {
        let group = &f["Properties"]["LoggingConfig"]["LogGroup"];
        let group = format!("{group:?}");
        let id = group.split('"').nth(1).unwrap_or_else(|| panic!("{name}: no LogGroup !Ref ({group})"));
        retention(id);
    }
    let api = &resources["HttpApi"]["Properties"]["AccessLogSettings"];
    let destination = format!("{:?}", api["DestinationArn"]);
    assert!(destination.contains("ApiAccessLogGroup"), "{destination}");
    retention("ApiAccessLogGroup");
    let format = api["Format"].as_str().expect("format");
    assert!(format.contains("$context.routeKey") && !format.contains("$context.path"), "no Link token in access logs");
    assert_eq!(t["Parameters"]["LogRetentionDays"]["Default"], 30);
}

#[test]
fn public_routes_have_their_own_lower_throttles() {
    let t = template();
    let api = &t["Resources"]["HttpApi"]["Properties"];
    let rate = |settings: &Value| settings["ThrottlingRateLimit"].as_u64().expect("rate");
    let default = rate(&api["DefaultRouteSettings"]);
    // Every route of every function, as API Gateway keys them.
    let declared: Vec<String> = functions(&t)
        .iter()
        .flat_map(|(_, f)| f["Properties"]["Events"].as_mapping().cloned().unwrap_or_default().into_values())
        .filter(|e| e["Type"] == "HttpApi")
        .map(|e| {
            format!(
                "{} {}",
                e["Properties"]["Method"].as_str().unwrap_or(""),
                e["Properties"]["Path"].as_str().unwrap_or("")
            )
        })
        .collect();
    let routes = api["RouteSettings"].as_mapping().expect("route settings");
    for public in ["ANY /link/{proxy+}", "ANY /portal", "ANY /portal/{proxy+}", "GET /assets/{asset}"] {
        let settings = routes.get(public).unwrap_or_else(|| panic!("{public} has no throttle of its own"));
        assert!(rate(settings) < default, "{public}");
        assert!(settings["ThrottlingBurstLimit"].as_u64().expect("burst") <= 2 * rate(settings), "{public}");
    }
    for key in routes.keys() {
        let key = key.as_str().expect("route key");
        assert!(declared.iter().any(|d| d == key), "{key} is not a route of the template");
    }
}

#[test]
fn the_bigcommerce_base_parameter_is_https_only() {
    let t = template();
    let parameter = &t["Parameters"]["BigCommerceApiBase"];
    let pattern = regex::Regex::new(parameter["AllowedPattern"].as_str().expect("AllowedPattern")).expect("regex");
    assert!(pattern.is_match(parameter["Default"].as_str().expect("default")));
    for good in ["https://api.bigcommerce.com", "https://proxy.example.com:8443/bc/"] {
        assert!(pattern.is_match(good), "{good}");
    }
    for bad in
        ["http://api.bigcommerce.com", "https://user:pw@api.bigcommerce.com", "ftp://x", "https://x.com/?a=1", ""]
    {
        assert!(!pattern.is_match(bad), "{bad}");
    }
    // And the functions never set the local-development switches.
    for (name, f) in functions(&t) {
        let variables = &f["Properties"]["Environment"]["Variables"];
        assert!(variables.get(shared::config::ALLOW_HTTP_FLAG).is_none(), "{name}");
        assert!(variables.get(shared::config::WEBHOOKS_LOOPBACK_FLAG).is_none(), "{name}");
    }
}

#[test]
fn webhook_secrets_live_apart_from_the_credentials() {
    let t = template();
    let credentials = t["Parameters"]["SecretPrefix"]["Default"].as_str().expect("credential prefix");
    let webhooks = t["Parameters"]["WebhookSecretPrefix"]["Default"].as_str().expect("webhook prefix");
    // The worker reads every secret under the credentials' prefix: webhook secrets are outside it.
    assert!(!webhooks.starts_with(credentials) && !credentials.starts_with(webhooks), "{credentials} {webhooks}");
    let companies = &t["Resources"]["CompaniesFunction"]["Properties"];
    assert!(!companies["Environment"]["Variables"]["WEBHOOK_SECRET_PREFIX"].is_null(), "fn companies names them");
    let policy = serde_norway::to_string(&companies["Policies"]).expect("policies");
    assert!(policy.contains("${WebhookSecretPrefix}*"), "{policy}");
}
