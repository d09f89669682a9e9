//! The cold-start baseline of `make bench` (`benches/cold.rs` in devstack): the least a Rust
//! Lambda function can do, built the same way as ours. It loads the SDK configuration from the
//! environment, waits for its first event through the Runtime API, makes one AWS call, the
//! one the function it stands beside made first (`HELLO_TARGET`, the call's `X-Amz-Target`,
//! with `HELLO_BODY`, its JSON body: the table and key, or the secret; a write becomes a read
//! of the same key, so the baseline changes nothing), and answers.

use aws_sdk_dynamodb::types::AttributeValue;
use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::{Value, json};

/// The call to make, read from the environment before the first event.
enum Call {
    /// The function made no AWS call before answering.
    None,
    GetItem {
        table: String,
        key: Vec<(String, String)>,
    },
    Query {
        table: String,
        index: Option<String>,
        condition: String,
        names: Vec<(String, String)>,
        values: Vec<(String, String)>,
    },
    GetSecretValue {
        secret: String,
    },
    ChangeMessageVisibility {
        queue: String,
        receipt: String,
        timeout: i32,
    },
}

/// String attributes of a DynamoDB JSON map (`{"pk": {"S": "…"}}`).
fn strings(map: &Value) -> Vec<(String, String)> {
    let pairs = map.as_object().into_iter().flatten();
    pairs.filter_map(|(k, v)| Some((k.clone(), v["S"].as_str()?.to_string()))).collect()
}

fn text(body: &Value, name: &str) -> Result<String, Error> {
    body[name].as_str().map(str::to_string).ok_or_else(|| format!("HELLO_BODY lacks {name}").into())
}

fn call_from_env() -> Result<Call, Error> {
    let target = std::env::var("HELLO_TARGET").unwrap_or_default();
    if target.is_empty() {
        return Ok(Call::None);
    }
    let body: Value = serde_json::from_str(&std::env::var("HELLO_BODY")?)?;
    Ok(match target.rsplit('.').next().unwrap_or_default() {
        // A write's baseline reads the same key instead: the baseline changes nothing.
        "GetItem" | "UpdateItem" | "DeleteItem" => {
            Call::GetItem { table: text(&body, "TableName")?, key: strings(&body["Key"]) }
        }
        "Query" => Call::Query {
            table: text(&body, "TableName")?,
            index: body["IndexName"].as_str().map(str::to_string),
            condition: text(&body, "KeyConditionExpression")?,
            names: body["ExpressionAttributeNames"]
                .as_object()
                .into_iter()
                .flatten()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                .collect(),
            values: strings(&body["ExpressionAttributeValues"]),
        },
        "GetSecretValue" => Call::GetSecretValue { secret: text(&body, "SecretId")? },
        "ChangeMessageVisibility" => Call::ChangeMessageVisibility {
            queue: text(&body, "QueueUrl")?,
            receipt: text(&body, "ReceiptHandle")?,
            timeout: body["VisibilityTimeout"].as_i64().unwrap_or_default() as i32,
        },
        other => return Err(format!("no baseline for {other}").into()),
    })
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let call = std::sync::Arc::new(call_from_env()?);
    let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let (dynamo, secrets) = (aws_sdk_dynamodb::Client::new(&sdk), aws_sdk_secretsmanager::Client::new(&sdk));
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    lambda_runtime::run(service_fn(move |_: LambdaEvent<Value>| {
        let (call, dynamo, secrets, sqs) = (call.clone(), dynamo.clone(), secrets.clone(), sqs.clone());
        async move {
            // The call's answer does not matter (a missing item or secret is an answer too).
            let answered = match &*call {
                Call::None => true,
                Call::GetItem { table, key } => {
                    let key = key.iter().map(|(k, v)| (k.clone(), AttributeValue::S(v.clone())));
                    dynamo.get_item().table_name(table).set_key(Some(key.collect())).send().await.is_ok()
                }
                Call::Query { table, index, condition, names, values } => {
                    let values = values.iter().map(|(k, v)| (k.clone(), AttributeValue::S(v.clone())));
                    let names = (!names.is_empty()).then(|| names.iter().cloned().collect());
                    let query = dynamo.query().table_name(table).set_index_name(index.clone());
                    let query = query.key_condition_expression(condition).set_expression_attribute_names(names);
                    query.set_expression_attribute_values(Some(values.collect())).limit(1).send().await.is_ok()
                }
                Call::GetSecretValue { secret } => secrets.get_secret_value().secret_id(secret).send().await.is_ok(),
                Call::ChangeMessageVisibility { queue, receipt, timeout } => {
                    let change = sqs.change_message_visibility().queue_url(queue).receipt_handle(receipt);
                    change.visibility_timeout(*timeout).send().await.is_ok()
                }
            };
            Ok::<Value, Error>(json!({"statusCode": 200, "body": "hello", "answered": answered}))
        }
    }))
    .await
}
