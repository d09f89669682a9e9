//! Reads `template.yaml` and creates its DynamoDB tables in the local emulator, so local
//! resources have exactly the keys and indexes that will be deployed.

use std::collections::BTreeMap;
use std::path::Path;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection, ProjectionType,
    ScalarAttributeType,
};
use serde::Deserialize;

/// Why the template could not be used.
#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    /// Reading the file failed.
    #[error("reading template: {0}")]
    Io(#[from] std::io::Error),
    /// The YAML did not have the expected shape.
    #[error("parsing template: {0}")]
    Yaml(#[from] serde_norway::Error),
    /// The template lacks a resource the stack needs.
    #[error("template has no DynamoDB table {0}")]
    MissingTable(String),
    /// Creating a resource in the emulator failed.
    #[error("creating {0}: {1}")]
    Create(String, String),
}

/// The parts of a CloudFormation template the local stack reads.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Template {
    /// Resources by logical id.
    pub resources: BTreeMap<String, Resource>,
    /// `Globals` (SAM): settings every function inherits.
    #[serde(default)]
    pub globals: serde_norway::Value,
    /// `Parameters`, kept as YAML.
    #[serde(default)]
    pub parameters: serde_norway::Value,
}

/// One resource.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Resource {
    /// CloudFormation type, e.g. `AWS::DynamoDB::Table`.
    #[serde(rename = "Type")]
    pub kind: String,
    /// Properties, kept as YAML (intrinsic functions stay tagged values).
    #[serde(default)]
    pub properties: serde_norway::Value,
}

/// A DynamoDB table's definition.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TableSpec {
    /// Attribute types.
    pub attribute_definitions: Vec<AttributeSpec>,
    /// Primary key.
    pub key_schema: Vec<KeySpec>,
    /// Global secondary indexes.
    #[serde(default)]
    pub global_secondary_indexes: Vec<IndexSpec>,
    /// Its stream, if it has one.
    #[serde(default)]
    pub stream_specification: Option<StreamSpec>,
}

/// A table's stream.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct StreamSpec {
    /// What each record carries (`NEW_IMAGE`, ...).
    pub stream_view_type: String,
}

/// An attribute definition.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AttributeSpec {
    /// Name.
    pub attribute_name: String,
    /// `S`, `N` or `B`.
    pub attribute_type: String,
}

/// A key element.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct KeySpec {
    /// Name.
    pub attribute_name: String,
    /// `HASH` or `RANGE`.
    pub key_type: String,
}

/// A global secondary index.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct IndexSpec {
    /// Index name.
    pub index_name: String,
    /// Its key.
    pub key_schema: Vec<KeySpec>,
    /// What it copies of each item (`ALL`, `KEYS_ONLY` or `INCLUDE`), as deployed: a query
    /// that reads more than its index holds fails here as in AWS.
    pub projection: ProjectionSpec,
}

/// A global secondary index's projection.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ProjectionSpec {
    /// `ALL`, `KEYS_ONLY` or `INCLUDE`.
    pub projection_type: String,
    /// The attributes `INCLUDE` adds to the keys.
    #[serde(default)]
    pub non_key_attributes: Vec<String>,
}

impl Template {
    /// Loads a template file.
    pub fn load(path: &Path) -> Result<Self, TemplateError> {
        Ok(serde_norway::from_str(&std::fs::read_to_string(path)?)?)
    }

    /// The repository's `template.yaml`.
    pub fn load_default() -> Result<Self, TemplateError> {
        Self::load(&crate::repo_root().join("template.yaml"))
    }

    /// The definition of table `logical_id`.
    pub fn table(&self, logical_id: &str) -> Result<TableSpec, TemplateError> {
        let resource = self
            .resources
            .get(logical_id)
            .filter(|r| r.kind == "AWS::DynamoDB::Table")
            .ok_or_else(|| TemplateError::MissingTable(logical_id.to_string()))?;
        Ok(serde_norway::from_value(resource.properties.clone())?)
    }

    /// Logical ids of every function (`AWS::Serverless::Function`).
    pub fn function_ids(&self) -> Vec<String> {
        self.resources.iter().filter(|(_, r)| r.kind == "AWS::Serverless::Function").map(|(id, _)| id.clone()).collect()
    }

    /// Logical ids of every DynamoDB table.
    pub fn table_ids(&self) -> Vec<String> {
        self.resources.iter().filter(|(_, r)| r.kind == "AWS::DynamoDB::Table").map(|(id, _)| id.clone()).collect()
    }
}

fn key_schema(keys: &[KeySpec]) -> Result<Vec<KeySchemaElement>, TemplateError> {
    keys.iter()
        .map(|k| {
            KeySchemaElement::builder()
                .attribute_name(&k.attribute_name)
                .key_type(KeyType::from(k.key_type.as_str()))
                .build()
                .map_err(|e| TemplateError::Create(k.attribute_name.clone(), e.to_string()))
        })
        .collect()
}

impl TableSpec {
    /// Creates this table as `name` (on-demand billing, as deployed), without its stream:
    /// moto keeps every stream record of a table in memory, which slows a long test run, and
    /// only a stack that runs the stream's reader needs it ([`Self::create_with_stream`]).
    pub async fn create(&self, client: &Client, name: &str) -> Result<(), TemplateError> {
        self.create_with_stream(client, name, false).await
    }

    /// The same, with its stream (if the template gives it one) when `stream`.
    pub async fn create_with_stream(&self, client: &Client, name: &str, stream: bool) -> Result<(), TemplateError> {
        let err = |e: String| TemplateError::Create(name.to_string(), e);
        let mut request = client.create_table().table_name(name).billing_mode(BillingMode::PayPerRequest);
        for a in &self.attribute_definitions {
            request = request.attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name(&a.attribute_name)
                    .attribute_type(ScalarAttributeType::from(a.attribute_type.as_str()))
                    .build()
                    .map_err(|e| err(e.to_string()))?,
            );
        }
        request = request.set_key_schema(Some(key_schema(&self.key_schema)?));
        for index in &self.global_secondary_indexes {
            request = request.global_secondary_indexes(
                GlobalSecondaryIndex::builder()
                    .index_name(&index.index_name)
                    .set_key_schema(Some(key_schema(&index.key_schema)?))
                    .projection(
                        Projection::builder()
                            .projection_type(ProjectionType::from(index.projection.projection_type.as_str()))
                            .set_non_key_attributes(
                                Some(index.projection.non_key_attributes.clone()).filter(|a| !a.is_empty()),
                            )
                            .build(),
                    )
                    .build()
                    .map_err(|e| err(e.to_string()))?,
            );
        }
        if let Some(spec) = self.stream_specification.as_ref().filter(|_| stream) {
            request = request.stream_specification(
                aws_sdk_dynamodb::types::StreamSpecification::builder()
                    .stream_enabled(true)
                    .stream_view_type(aws_sdk_dynamodb::types::StreamViewType::from(spec.stream_view_type.as_str()))
                    .build()
                    .map_err(|e| err(e.to_string()))?,
            );
        }
        request.send().await.map_err(|e| err(format!("{e:?}")))?;
        Ok(())
    }
}

impl Template {
    /// The HTTP API routes: (function logical id, path pattern).
    pub fn http_routes(&self) -> Vec<(String, String)> {
        let mut routes = Vec::new();
        for (id, resource) in &self.resources {
            if resource.kind != "AWS::Serverless::Function" {
                continue;
            }
            let Some(events) = resource.properties.get("Events").and_then(serde_norway::Value::as_mapping) else {
                continue;
            };
            for event in events.values() {
                if event.get("Type").and_then(serde_norway::Value::as_str) != Some("HttpApi") {
                    continue;
                }
                if let Some(path) =
                    event.get("Properties").and_then(|p| p.get("Path")).and_then(serde_norway::Value::as_str)
                {
                    routes.push((id.clone(), path.to_string()));
                }
            }
        }
        routes
    }

    /// A function's environment as deployed: the `Globals` variables, then its own, each
    /// `!Ref` resolved: a parameter to `parameters[name]` (else its `Default`), a resource to
    /// `resources[logical id]` (a table's name, a queue's URL).
    pub fn function_environment(
        &self,
        function: &str,
        parameters: &BTreeMap<String, String>,
        resources: &BTreeMap<String, String>,
    ) -> Result<BTreeMap<String, String>, TemplateError> {
        let variables = |root: Option<&serde_norway::Value>| -> Option<serde_norway::Mapping> {
            root?.get("Environment")?.get("Variables")?.as_mapping().cloned()
        };
        let own = self.resources.get(function).map(|r| &r.properties);
        let mut env = BTreeMap::new();
        for mapping in [variables(self.globals.get("Function")), variables(own)].into_iter().flatten() {
            for (name, value) in mapping {
                let Some(name) = name.as_str() else { continue };
                env.insert(name.to_string(), self.resolve(function, name, &value, parameters, resources)?);
            }
        }
        Ok(env)
    }

    fn resolve(
        &self,
        function: &str,
        variable: &str,
        value: &serde_norway::Value,
        parameters: &BTreeMap<String, String>,
        resources: &BTreeMap<String, String>,
    ) -> Result<String, TemplateError> {
        use serde_norway::Value;
        let unresolved = |what: String| TemplateError::Create(format!("{function} {variable}"), what);
        match value {
            Value::String(s) => Ok(s.clone()),
            Value::Number(n) => Ok(n.to_string()),
            Value::Bool(b) => Ok(b.to_string()),
            Value::Tagged(tagged) if tagged.tag == "Ref" => {
                let name = tagged.value.as_str().unwrap_or_default();
                if let Some(value) = parameters.get(name).or_else(|| resources.get(name)) {
                    return Ok(value.clone());
                }
                let default = self.parameters.get(name).and_then(|p| p.get("Default"));
                match default {
                    Some(Value::String(s)) => Ok(s.clone()),
                    Some(Value::Number(n)) => Ok(n.to_string()),
                    _ => Err(unresolved(format!("!Ref {name} has no local value"))),
                }
            }
            other => Err(unresolved(format!("cannot resolve {other:?} locally"))),
        }
    }

    /// A function's `Timeout` (else the template's `Globals`, else Lambda's 3 s).
    pub fn function_timeout(&self, function: &str) -> std::time::Duration {
        std::time::Duration::from_secs(self.function_setting(function, "Timeout").unwrap_or(3))
    }

    /// A function's `MemorySize` in MB (else the template's `Globals`, else Lambda's 128).
    pub fn function_memory_mb(&self, function: &str) -> u64 {
        self.function_setting(function, "MemorySize").unwrap_or(128)
    }

    fn function_setting(&self, function: &str, name: &str) -> Option<u64> {
        let own =
            self.resources.get(function).and_then(|r| r.properties.get(name)).and_then(serde_norway::Value::as_u64);
        own.or_else(|| self.globals.get("Function")?.get(name)?.as_u64())
    }

    /// The `BatchSize` of a function's SQS event source, if it has one.
    pub fn sqs_batch_size(&self, function: &str) -> Option<i32> {
        let events = self.resources.get(function)?.properties.get("Events")?.as_mapping()?;
        events
            .values()
            .filter(|e| e.get("Type").and_then(serde_norway::Value::as_str) == Some("SQS"))
            .find_map(|e| e.get("Properties")?.get("BatchSize")?.as_i64())
            .and_then(|n| i32::try_from(n).ok())
    }
}

/// An SQS queue's definition (the properties the local stack honours).
#[derive(Debug, Clone)]
pub struct QueueSpec {
    /// Logical id.
    pub logical_id: String,
    /// FIFO queue.
    pub fifo: bool,
    /// Visibility timeout, seconds.
    pub visibility_timeout: Option<u64>,
    /// Delivery delay of every message, seconds.
    pub delay_seconds: Option<u64>,
    /// Logical id of the dead-letter queue and the receive count that moves a message there.
    pub redrive: Option<(String, u64)>,
}

impl Template {
    /// Every SQS queue, dead-letter queues first.
    pub fn queues(&self) -> Vec<QueueSpec> {
        let mut queues: Vec<QueueSpec> = self
            .resources
            .iter()
            .filter(|(_, r)| r.kind == "AWS::SQS::Queue")
            .map(|(id, r)| {
                let p = &r.properties;
                let redrive = p.get("RedrivePolicy").and_then(|policy| {
                    let target = match policy.get("deadLetterTargetArn")? {
                        serde_norway::Value::Tagged(tagged) => {
                            tagged.value.as_str()?.trim_end_matches(".Arn").to_string()
                        }
                        _ => return None,
                    };
                    Some((target, policy.get("maxReceiveCount")?.as_u64()?))
                });
                QueueSpec {
                    logical_id: id.clone(),
                    fifo: p.get("FifoQueue").and_then(serde_norway::Value::as_bool).unwrap_or(false),
                    visibility_timeout: p.get("VisibilityTimeout").and_then(serde_norway::Value::as_u64),
                    delay_seconds: p.get("DelaySeconds").and_then(serde_norway::Value::as_u64),
                    redrive,
                }
            })
            .collect();
        queues.sort_by_key(|q| q.redrive.is_some());
        queues
    }
}

impl QueueSpec {
    /// Creates the queue as `prefix + logical id` (`.fifo` appended for FIFO queues); `dlq_arns`
    /// maps logical ids of already created queues to their ARNs. Returns (url, arn).
    pub async fn create(
        &self,
        client: &aws_sdk_sqs::Client,
        prefix: &str,
        dlq_arns: &BTreeMap<String, String>,
    ) -> Result<(String, String), TemplateError> {
        use aws_sdk_sqs::types::QueueAttributeName;
        let name = format!("{prefix}{}{}", self.logical_id, if self.fifo { ".fifo" } else { "" });
        let err = |e: String| TemplateError::Create(name.clone(), e);
        let mut request = client.create_queue().queue_name(&name);
        if self.fifo {
            request = request.attributes(QueueAttributeName::FifoQueue, "true");
        }
        if let Some(timeout) = self.visibility_timeout {
            request = request.attributes(QueueAttributeName::VisibilityTimeout, timeout.to_string());
        }
        if let Some(delay) = self.delay_seconds {
            request = request.attributes(QueueAttributeName::DelaySeconds, delay.to_string());
        }
        if let Some((dlq, max)) = &self.redrive {
            let arn = dlq_arns.get(dlq).ok_or_else(|| err(format!("dead-letter queue {dlq} not created first")))?;
            let policy = serde_json::json!({"deadLetterTargetArn": arn, "maxReceiveCount": max}).to_string();
            request = request.attributes(QueueAttributeName::RedrivePolicy, policy);
        }
        let url = request.send().await.map_err(|e| err(format!("{e:?}")))?.queue_url.unwrap_or_default();
        let attributes = client
            .get_queue_attributes()
            .queue_url(&url)
            .attribute_names(QueueAttributeName::QueueArn)
            .send()
            .await
            .map_err(|e| err(format!("{e:?}")))?;
        let arn = attributes.attributes.and_then(|a| a.get(&QueueAttributeName::QueueArn).cloned()).unwrap_or_default();
        Ok((url, arn))
    }
}

/// Creates every queue of the template; returns logical id → queue URL.
pub async fn create_queues(
    template: &Template,
    client: &aws_sdk_sqs::Client,
    prefix: &str,
) -> Result<BTreeMap<String, String>, TemplateError> {
    Ok(create_queue_set(template, client, prefix).await?.into_iter().map(|(id, (url, _))| (id, url)).collect())
}

/// Creates every queue of the template; returns logical id → (queue URL, queue ARN).
pub async fn create_queue_set(
    template: &Template,
    client: &aws_sdk_sqs::Client,
    prefix: &str,
) -> Result<BTreeMap<String, (String, String)>, TemplateError> {
    let mut arns = BTreeMap::new();
    let mut queues = BTreeMap::new();
    for queue in template.queues() {
        let (url, arn) = queue.create(client, prefix, &arns).await?;
        arns.insert(queue.logical_id.clone(), arn.clone());
        queues.insert(queue.logical_id.clone(), (url, arn));
    }
    Ok(queues)
}
