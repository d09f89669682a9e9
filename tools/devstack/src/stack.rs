//! The whole local stack: moto, the template's resources, the local API runner, and
//! `target/devstack.json` describing them.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_dynamodb::Client as DynamoClient;
use base64::Engine;
use rand::RngCore;
use serde_json::{Value, json};
use shared::bigcommerce::BigCommerceClient;
use shared::config::{CompaniesConfig, DataConfig, LinkConfig, PortalConfig, SchedulerConfig, WorkerConfig};
use shared::http::{ApiKeys, Edge};
use shared::link::LinkSettings;
use shared::wiring::{self, Clients};
use tokio::net::TcpListener;

use crate::iam::{IamError, LocalResources, Principal, Principals};
use crate::lambda::{LambdaSpec, LocalLambda};
use crate::moto::{MotoError, MotoServer};
use crate::runner::{PollerSettings, Routes, Runner, SqsPoller, SqsTarget};
use crate::streams::StreamTarget;
use crate::tap::{Tap, TapHook};
use crate::template::{Template, TemplateError, create_queue_set};

/// Why the stack could not start.
#[derive(Debug, thiserror::Error)]
pub enum StackError {
    /// moto failed.
    #[error(transparent)]
    Moto(#[from] MotoError),
    /// The template could not be read or applied.
    #[error(transparent)]
    Template(#[from] TemplateError),
    /// A socket or file failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// Configuration was invalid.
    #[error("{0}")]
    Config(String),
    /// A function's principal could not be made.
    #[error(transparent)]
    Iam(#[from] IamError),
}

/// How to start the stack.
#[derive(Debug, Clone)]
pub struct StackOptions {
    /// Port of the local API (0: any free port).
    pub port: u16,
    /// Use this AWS endpoint instead of starting moto.
    pub aws_endpoint: Option<String>,
    /// moto executable.
    pub moto_binary: PathBuf,
    /// Prefix of physical resource names (empty: the logical names).
    pub name_prefix: String,
    /// The BigCommerce sandbox to run beside the stack.
    pub sandbox: sandbox::SandboxOptions,
    /// Poll the sync queue and run the sync worker (tests that inspect the queue turn it off).
    pub run_worker: bool,
    /// The worker's time budget per job (`JOB_BUDGET_SECS` in Lambda).
    pub job_budget: Duration,
    /// Where the worker reports each job run (the demo's and the benchmark's figures).
    pub worker_reports: Option<tokio::sync::mpsc::UnboundedSender<shared::sync::JobReport>>,
    /// Run the scheduler this often, as the template's EventBridge schedule would (`None`: never).
    pub schedule_every: Option<Duration>,
    /// Each tick counts as due what comes due within this much time (`make dev`: a day, so every
    /// data type syncs again at each tick; deployed: zero).
    pub schedule_ahead: chrono::Duration,
    /// Run fn webhooks as its event source mappings would: on the platform table's stream and
    /// on the retry queue (`make dev` and `make demo` do).
    pub run_webhooks: bool,
    /// Where the scheduler reports each tick.
    pub tick_reports: Option<tokio::sync::mpsc::UnboundedSender<shared::scheduler::ScheduledTick>>,
    /// How the worker retries failed jobs (deployed: the template's settings).
    pub retries: shared::sync::RetryPolicy,
    /// When the scheduler's sweep takes a dataset for stuck (deployed: the template's settings).
    pub sweep: shared::sweep::SweepPolicy,
    /// (function, action) pairs left out of the functions' policies: tests of a missing
    /// permission. Empty everywhere else.
    pub withheld: Vec<(String, String)>,
    /// Run the worker as its own process from its binary, as Lambda does (`None`: in this
    /// process).
    pub worker_process: Option<WorkerProcess>,
    /// Run fn webhooks (with `run_webhooks`) from this binary, as Lambda does, for both its
    /// event source mappings (`None`: in this process). Tests of its sudden death.
    pub webhooks_process: Option<PathBuf>,
    /// How long an erasure waits between its two passes (deployed: `ERASURE_SETTLE_SECS`,
    /// 360 s; locally 2 s, as no writer here runs long).
    pub erasure_settle: Duration,
    /// The history kept (deployed: `HISTORY_RETENTION_DAYS`, `HISTORY_PER_DATA_TYPE`).
    pub history: shared::domain::History,
    /// How often the functions read the link keys again (deployed: 5 minutes; locally 2 s, so a
    /// rotation shows at once).
    pub link_key_refresh: Duration,
    /// The benchmark's in-memory record store, shared by the in-process worker and the Commerce
    /// API instead of the data table (the platform table, queue and secrets stay in the
    /// emulator): what the product's own pacing costs, apart from the emulator's write speed.
    /// Never in tests of behaviour, which run against the emulator.
    pub memory_records: Option<Arc<shared::adapters::memory::MemoryRecords>>,
    /// Poll the fresh queue (targeted syncs, hook checks and removals) even with `run_worker`
    /// off: tests that inspect the sync queue and still need a store's hooks removed.
    pub run_fresh_worker: bool,
    /// Whether the sandbox delivers store webhooks to this stack's loopback endpoint (default);
    /// off, it refuses that destination as BigCommerce refuses any that is not HTTPS on 443:
    /// a store whose hooks cannot be registered, kept fresh by the schedule alone.
    pub store_hooks: bool,
    /// How old a data type's last full sync may be before the worker runs another (the
    /// product's `FULL_SYNC_EVERY` unless set; zero makes every sync full).
    pub full_sync_every: Option<Duration>,
}

/// The sync worker run from its binary behind a local Lambda Runtime API ([`crate::lambda`]).
#[derive(Clone)]
pub struct WorkerProcess {
    /// The `sync-worker` binary.
    pub binary: PathBuf,
    /// Variables set over the template's (e.g. a short `JOB_BUDGET_SECS`).
    pub env: BTreeMap<String, String>,
    /// The function's timeout instead of the template's (tests of a timeout).
    pub timeout: Option<Duration>,
    /// When set, every call of the worker to AWS and to the store passes this hook first.
    pub hook: Option<Arc<dyn TapHook>>,
    /// After a failed invocation its messages are visible again at once (tests: as if the
    /// wait had passed).
    pub fast_forward: bool,
    /// Where the process writes its output (appended).
    pub log: Option<PathBuf>,
}

impl std::fmt::Debug for WorkerProcess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkerProcess")
            .field("binary", &self.binary)
            .field("env", &self.env.keys().collect::<Vec<_>>())
            .field("timeout", &self.timeout)
            .field("hook", &self.hook.is_some())
            .field("fast_forward", &self.fast_forward)
            .finish()
    }
}

impl WorkerProcess {
    /// Its runner: the template's environment with `names` for its resources, `aws` and the
    /// store at `bigcommerce` (each through a tap when there is a hook), as `principal`.
    async fn start(
        &self,
        template: &Template,
        names: &BTreeMap<String, String>,
        aws: &str,
        bigcommerce: &str,
        principal: Option<&Principal>,
    ) -> Result<(LocalLambda, Vec<Tap>), StackError> {
        let function = "SyncWorkerFunction";
        let principal = principal.ok_or_else(|| StackError::Config(format!("no principal for {function}")))?;
        let mut taps = Vec::new();
        let (mut aws, mut bigcommerce) = (aws.to_string(), bigcommerce.to_string());
        if let Some(hook) = &self.hook {
            let aws_tap = Tap::start("aws", &aws, hook.clone()).await?;
            let store_tap = Tap::start("bigcommerce", &bigcommerce, hook.clone()).await?;
            (aws, bigcommerce) = (aws_tap.url().to_string(), store_tap.url().to_string());
            taps.extend([aws_tap, store_tap]);
        }
        let parameters = BTreeMap::from([("BigCommerceApiBase".to_string(), bigcommerce)]);
        let mut env = template.function_environment(function, &parameters, names)?;
        env.extend(lambda_environment(&aws, principal));
        env.extend(self.env.clone());
        let spec = LambdaSpec {
            name: function.to_string(),
            binary: self.binary.clone(),
            args: Vec::new(),
            env,
            timeout: self.timeout.unwrap_or_else(|| template.function_timeout(function)),
            memory_mb: template.function_memory_mb(function),
            log: self.log.clone(),
        };
        Ok((LocalLambda::start(spec).await?, taps))
    }
}

/// What Lambda (and this stack) adds to a function process's template environment: the AWS
/// endpoint and region, the function's own principal, JSON logs, and the local-development
/// switches (the sandbox is plain http on loopback, and so are the webhook receivers).
fn lambda_environment(aws: &str, principal: &Principal) -> [(String, String); 8] {
    [
        ("AWS_ENDPOINT_URL".to_string(), aws.to_string()),
        ("AWS_REGION".to_string(), crate::iam::REGION.to_string()),
        ("AWS_DEFAULT_REGION".to_string(), crate::iam::REGION.to_string()),
        ("AWS_ACCESS_KEY_ID".to_string(), principal.access_key_id.clone()),
        ("AWS_SECRET_ACCESS_KEY".to_string(), principal.secret_access_key.clone()),
        ("AWS_LAMBDA_LOG_FORMAT".to_string(), "JSON".to_string()),
        (shared::config::ALLOW_HTTP_FLAG.to_string(), "true".to_string()),
        (shared::config::WEBHOOKS_LOOPBACK_FLAG.to_string(), "true".to_string()),
    ]
}

impl Default for StackOptions {
    fn default() -> Self {
        Self {
            port: 3000,
            aws_endpoint: None,
            moto_binary: crate::moto::default_binary(),
            name_prefix: String::new(),
            sandbox: sandbox::SandboxOptions::default(),
            run_worker: true,
            job_budget: Duration::from_secs(600),
            worker_reports: None,
            schedule_every: None,
            schedule_ahead: chrono::Duration::zero(),
            tick_reports: None,
            retries: shared::sync::RetryPolicy::default(),
            sweep: shared::sweep::SweepPolicy::default(),
            withheld: Vec::new(),
            worker_process: None,
            webhooks_process: None,
            erasure_settle: Duration::from_secs(2),
            history: shared::domain::History::default(),
            link_key_refresh: Duration::from_secs(2),
            memory_records: None,
            run_fresh_worker: false,
            store_hooks: true,
            full_sync_every: None,
            run_webhooks: false,
        }
    }
}

/// Creates the link key secret with a fresh current key (kept if it exists).
async fn create_link_key_secret(client: &aws_sdk_secretsmanager::Client, name: &str) -> Result<(), StackError> {
    let value = shared::domain::StoredLinkKeys {
        current: shared::domain::link::new_key_text(),
        previous: None,
        previous_until: None,
        sign_from: None,
    };
    let json = serde_json::to_string(&value).map_err(|e| StackError::Config(e.to_string()))?;
    match client.create_secret().name(name).secret_string(json).send().await {
        Ok(_) => Ok(()),
        Err(e) if aws_sdk_secretsmanager::error::ProvideErrorMetadata::code(&e) == Some("ResourceExistsException") => {
            Ok(())
        }
        Err(e) => Err(StackError::Config(format!("the link key secret: {e:?}"))),
    }
}

/// A random API key.
pub fn generate_api_key() -> String {
    let mut bytes = [0u8; 24];
    rand::rng().fill_bytes(&mut bytes);
    format!("cl_{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

/// A running local stack.
pub struct DevStack {
    moto: Option<MotoServer>,
    runner: Runner,
    poller: Option<SqsPoller>,
    /// The worker's second event source mapping: the fresh queue (targeted syncs).
    fresh_poller: Option<SqsPoller>,
    /// The in-process worker's data table reader (its read meter).
    worker_records: Option<Arc<shared::adapters::dynamodb::records::DynamoRecords>>,
    scheduler: Option<tokio::task::JoinHandle<()>>,
    webhooks: Option<(crate::streams::StreamPoller, SqsPoller)>,
    /// fn webhooks as its own process, when [`StackOptions::webhooks_process`] is set.
    pub webhooks_lambda: Option<Arc<LocalLambda>>,
    /// The BigCommerce sandbox store server.
    pub sandbox: sandbox::Sandbox,
    /// AWS endpoint (moto).
    pub aws_endpoint: String,
    /// Base URL of the local API.
    pub api_url: String,
    /// The API key accepted by the local API.
    pub api_key: String,
    /// Physical names of the template's tables by logical id.
    pub tables: BTreeMap<String, String>,
    /// Every local resource.
    pub resources: Resources,
    /// The emulator's admin principal (setup and inspection only).
    pub admin: Principal,
    /// Each function's principal, and the worker's event source mapping's.
    pub principals: Principals,
    /// The worker's process runner, when it runs as its own process.
    pub worker_lambda: Option<Arc<LocalLambda>>,
    _taps: Vec<Tap>,
}

/// The local resources, by logical id.
#[derive(Debug, Clone)]
pub struct Resources {
    /// Table names.
    pub tables: BTreeMap<String, String>,
    /// Queue URLs.
    pub queues: BTreeMap<String, String>,
    /// Queue ARNs (what the functions' policies name).
    pub queue_arns: BTreeMap<String, String>,
    /// Prefix of secret names.
    pub secret_prefix: String,
    /// The secret holding the link keys (`LinkSigningKeySecret`).
    pub link_key_secret: String,
}

impl Resources {
    /// What the template's policies refer to, resolved to these resources.
    pub fn local(&self) -> LocalResources {
        LocalResources { queue_arns: self.queue_arns.clone() }
    }
}

impl DevStack {
    /// Starts moto (unless an endpoint is given), creates the template's tables and serves
    /// the API.
    pub async fn start(options: StackOptions) -> Result<Self, StackError> {
        let moto = match &options.aws_endpoint {
            Some(_) => None,
            None => Some(MotoServer::start(&options.moto_binary).await?),
        };
        let (aws_endpoint, admin) = match (&options.aws_endpoint, &moto) {
            (Some(endpoint), _) => {
                let admin = Principal::from_env().ok_or_else(|| {
                    StackError::Config(
                        "AWS_ACCESS_KEY_ID: the emulator's admin keys are needed with AWS_ENDPOINT_URL".into(),
                    )
                })?;
                (endpoint.clone(), admin)
            }
            (None, Some(moto)) => (moto.endpoint().to_string(), moto.admin().clone()),
            (None, None) => unreachable!("moto started above"),
        };
        let sdk = admin.sdk_config(&aws_endpoint);
        let dynamo = DynamoClient::new(&sdk);
        let template = Template::load_default()?;
        let mut tables = BTreeMap::new();
        for id in template.table_ids() {
            let name = format!("{}{id}", options.name_prefix);
            // The platform table's stream only where its reader runs (see `TableSpec::create`).
            template.table(&id)?.create_with_stream(&dynamo, &name, options.run_webhooks).await?;
            tables.insert(id, name);
        }
        let platform_table =
            tables.get("PlatformTable").cloned().ok_or_else(|| StackError::Config("no PlatformTable".into()))?;

        let queue_set = create_queue_set(&template, &aws_sdk_sqs::Client::new(&sdk), &options.name_prefix).await?;
        // The template's LinkSigningKeySecret: a random current key, as its GenerateSecretString
        // makes one (outside the credentials' prefix).
        let link_key_secret = format!("{}link-signing-keys", options.name_prefix);
        create_link_key_secret(&aws_sdk_secretsmanager::Client::new(&sdk), &link_key_secret).await?;
        let queues: BTreeMap<String, String> =
            queue_set.iter().map(|(id, (url, _))| (id.clone(), url.clone())).collect();
        let queue_arns: BTreeMap<String, String> =
            queue_set.iter().map(|(id, (_, arn))| (id.clone(), arn.clone())).collect();
        let local = LocalResources { queue_arns: queue_arns.clone() };
        let principal_prefix = format!("{}{}-", options.name_prefix, uuid::Uuid::new_v4().simple());
        // fn webhooks' principals only where it runs (see `Principals::create`).
        let skipped: &[&str] = if options.run_webhooks { &[] } else { &["WebhooksFunction"] };
        let principals =
            Principals::create(&sdk, &template, &local, &principal_prefix, &options.withheld, skipped).await?;
        let clients_of = |function: &str| -> Result<Clients, StackError> {
            let principal =
                principals.get(function).ok_or_else(|| StackError::Config(format!("no principal for {function}")))?;
            Ok(Clients::new(&principal.sdk_config(&aws_endpoint)))
        };
        let sync_queue =
            queues.get("SyncJobsQueue").cloned().ok_or_else(|| StackError::Config("no SyncJobsQueue".into()))?;
        let fresh_queue =
            queues.get("FreshJobsQueue").cloned().ok_or_else(|| StackError::Config("no FreshJobsQueue".into()))?;
        // The stores' hooks call this stack's loopback API: the sandbox allows that destination.
        let mut sandbox_options = options.sandbox.clone();
        sandbox_options.loopback_hooks = options.store_hooks;
        let sandbox = sandbox::Sandbox::start(sandbox_options).await?;

        let listener = TcpListener::bind(("127.0.0.1", options.port)).await?;
        let api_url = format!("http://{}", listener.local_addr()?);
        let api_key = generate_api_key();
        let keys =
            ApiKeys::from_digests(&ApiKeys::digest_hex(&api_key)).map_err(|e| StackError::Config(e.to_string()))?;
        let public = url::Url::parse(&api_url).map_err(|e| StackError::Config(e.to_string()))?;
        let edge = Edge {
            keys,
            public_base_url: Some(public),
            link_keys: shared::keyring::LinkKeySource::secret_refreshed(
                link_key_secret.clone(),
                options.link_key_refresh,
            ),
        };
        let bigcommerce = url::Url::parse(sandbox.base_url()).map_err(|e| StackError::Config(e.to_string()))?;
        let data_table = tables.get("DataTable").cloned().ok_or_else(|| StackError::Config("no DataTable".into()))?;
        let secret_prefix = format!("{}commerce-link/", options.name_prefix);
        // Each function as its own `main.rs` wires it, from the configuration its environment
        // would give it, with the clients of its own principal.
        let platform = Arc::new(wiring::companies(
            &clients_of("CompaniesFunction")?,
            CompaniesConfig {
                table_name: platform_table.clone(),
                edge: edge.clone(),
                queue_url: sync_queue.clone(),
                secret_prefix: secret_prefix.clone(),
                webhook_secret_prefix: format!("{}commerce-link-webhooks/", options.name_prefix),
                // The dev stack's setting: consumers may be plain http on 127.0.0.1.
                webhook_transport: shared::webhooks::address::Transport::LoopbackHttp,
                webhook_retry_queue_url: queues.get("WebhookRetryQueue").cloned().unwrap_or_default(),
                fresh_queue_url: fresh_queue.clone(),
            },
        ));
        let data_config = DataConfig {
            table_name: platform_table.clone(),
            data_table_name: data_table.clone(),
            keys: edge.keys.clone(),
        };
        let data = Arc::new(match &options.memory_records {
            Some(records) => wiring::data_over(&clients_of("DataFunction")?, data_config, records.clone()),
            None => wiring::data(&clients_of("DataFunction")?, data_config),
        });
        let link = Arc::new(wiring::link(
            &clients_of("LinkFunction")?,
            LinkConfig {
                table_name: platform_table.clone(),
                edge: edge.clone(),
                secret_prefix: secret_prefix.clone(),
                queue_url: sync_queue.clone(),
                bigcommerce: BigCommerceClient::new(
                    bigcommerce.clone(),
                    Duration::from_secs(3),
                    Duration::from_secs(10),
                )
                .map_err(|e| StackError::Config(e.to_string()))?,
                settings: LinkSettings::default(),
            },
        ));
        let portal = Arc::new(wiring::portal(
            &clients_of("PortalFunction")?,
            PortalConfig {
                table_name: platform_table.clone(),
                data_table_name: data_table.clone(),
                edge: edge.clone(),
                queue_url: sync_queue.clone(),
                secret_prefix: secret_prefix.clone(),
            },
        ));
        let store_hooks = Arc::new(wiring::store_hooks(
            &clients_of("StoreHooksFunction")?,
            shared::config::StoreHooksConfig {
                table_name: platform_table.clone(),
                fresh_queue_url: fresh_queue.clone(),
            },
        ));
        // Route as the template routes: each function's HTTP events, most specific first.
        let mut routes = Routes::default();
        for (function, path) in template.http_routes() {
            let handler: Arc<dyn shared::http::Handler> = match function.as_str() {
                "CompaniesFunction" => platform.clone(),
                "LinkFunction" => link.clone(),
                "DataFunction" => data.clone(),
                "PortalFunction" => portal.clone(),
                "StoreHooksFunction" => store_hooks.clone(),
                other => return Err(StackError::Config(format!("the local runner does not host {other}"))),
            };
            routes = routes.with(path, handler);
        }
        let runner = Runner::start(listener, routes)?;
        let worker_config = WorkerConfig {
            table_name: platform_table.clone(),
            data_table_name: data_table,
            bigcommerce: BigCommerceClient::new(bigcommerce, Duration::from_secs(3), Duration::from_secs(30))
                .map_err(|e| StackError::Config(e.to_string()))?,
            job_budget: options.job_budget,
            queue_url: sync_queue.clone(),
            fresh_queue_url: fresh_queue.clone(),
            full_sync_every: options
                .full_sync_every
                .unwrap_or_else(|| shared::sync::FULL_SYNC_EVERY.to_std().unwrap_or(Duration::from_secs(7 * 86_400))),
            retries: options.retries,
            secret_prefix: secret_prefix.clone(),
            erasure_settle: options.erasure_settle,
            history: options.history,
        };
        let mut worker_records = None;
        let mut worker = match &options.memory_records {
            Some(records) => {
                wiring::sync_worker_over(&clients_of("SyncWorkerFunction")?, worker_config, records.clone())
            }
            None => {
                let clients = clients_of("SyncWorkerFunction")?;
                let records = Arc::new(shared::adapters::dynamodb::records::DynamoRecords::new(
                    clients.dynamo.clone(),
                    worker_config.data_table_name.clone(),
                ));
                worker_records = Some(records.clone());
                wiring::sync_worker_over(&clients, worker_config, records)
            }
        };
        if let Some(reports) = options.worker_reports.clone() {
            worker = worker.with_reports(reports);
        }
        let mut settings = PollerSettings {
            queue_url: sync_queue.clone(),
            queue_arn: queue_arns.get("SyncJobsQueue").cloned().unwrap_or_default(),
            batch_size: template.sqs_batch_size("SyncWorkerFunction").unwrap_or(10),
            timeout: template.function_timeout("SyncWorkerFunction"),
            fast_forward: None,
        };
        // The worker in this process, or its binary as Lambda runs it.
        let (target, worker_lambda, taps): (Arc<dyn SqsTarget>, _, _) = match &options.worker_process {
            None => (Arc::new(worker), None, Vec::new()),
            Some(process) => {
                let names: BTreeMap<String, String> = tables.clone().into_iter().chain(queues.clone()).collect();
                // The stack's secret names and settle time, unless the test sets its own.
                let mut process = process.clone();
                process.env.entry("SECRET_PREFIX".into()).or_insert_with(|| secret_prefix.clone());
                let settle = options.erasure_settle.as_secs().max(1).to_string();
                process.env.entry("ERASURE_SETTLE_SECS".into()).or_insert(settle);
                let (lambda, taps) = process
                    .start(&template, &names, &aws_endpoint, sandbox.base_url(), principals.get("SyncWorkerFunction"))
                    .await?;
                settings.timeout = lambda.timeout();
                if process.fast_forward {
                    settings.fast_forward = Some(aws_sdk_sqs::Client::new(&sdk));
                }
                let lambda = Arc::new(lambda);
                (lambda.clone() as Arc<dyn SqsTarget>, Some(lambda), taps)
            }
        };
        let fresh_settings = PollerSettings {
            queue_url: fresh_queue.clone(),
            queue_arn: queue_arns.get("FreshJobsQueue").cloned().unwrap_or_default(),
            ..settings.clone()
        };
        let fresh_poller = (options.run_worker || options.run_fresh_worker)
            .then(|| -> Result<SqsPoller, StackError> {
                let events = clients_of("SyncWorkerFunction.events")?;
                Ok(SqsPoller::start(events.sqs, fresh_settings, target.clone()))
            })
            .transpose()?;
        let poller = options
            .run_worker
            .then(|| -> Result<SqsPoller, StackError> {
                // The event source mapping polls with the worker's role and SAM's SQS permissions.
                let events = clients_of("SyncWorkerFunction.events")?;
                Ok(SqsPoller::start(events.sqs, settings, target))
            })
            .transpose()?;
        let scheduler_clients = clients_of("SchedulerFunction")?;
        let scheduler = options.schedule_every.map(|every| {
            let (store, queue) = wiring::scheduler(
                &scheduler_clients,
                SchedulerConfig {
                    table_name: platform_table.clone(),
                    queue_url: sync_queue.clone(),
                    fresh_queue_url: fresh_queue.clone(),
                    sweep: options.sweep,
                    history: options.history,
                },
            );
            let (ahead, reports, sweep) = (options.schedule_ahead, options.tick_reports.clone(), options.sweep);
            tokio::spawn(async move {
                let mut ticks = tokio::time::interval(every);
                loop {
                    ticks.tick().await;
                    let now = chrono::Utc::now();
                    let tick = shared::scheduler::scheduled_tick(
                        &store,
                        &queue,
                        now,
                        &sweep,
                        ahead,
                        shared::scheduler::TICK_BUDGET,
                    );
                    match tick.await {
                        Ok(report) => {
                            if let Some(reports) = &reports {
                                let _ = reports.send(report);
                            }
                        }
                        Err(e) => tracing::warn!(error = %e, "scheduler tick failed"),
                    }
                }
            })
        });
        let (webhooks, webhooks_lambda) = match options.run_webhooks {
            false => (None, None),
            true => {
                let (stream, retries, lambda) = start_webhooks(
                    &template,
                    &sdk,
                    &tables,
                    &queues,
                    &queue_arns,
                    &principals,
                    &aws_endpoint,
                    &options,
                    &api_url,
                )
                .await?;
                (Some((stream, retries)), lambda)
            }
        };
        let resources = Resources { tables: tables.clone(), queues, queue_arns, secret_prefix, link_key_secret };
        Ok(Self {
            moto,
            runner,
            poller,
            fresh_poller,
            worker_records,
            worker_lambda,
            _taps: taps,
            scheduler,
            webhooks,
            webhooks_lambda,
            sandbox,
            aws_endpoint,
            api_url,
            api_key,
            tables,
            resources,
            admin,
            principals,
        })
    }

    /// Starts `function` (a logical id) from its `binary` as Lambda runs it (see
    /// [`crate::lambda`]): the template's environment resolved to this stack's resources, its
    /// own principal, the sandbox as its BigCommerce, with `env` over it. For tests that feed
    /// a function events through the Runtime API (its `lambda_runtime` code path included).
    pub async fn function_process(
        &self,
        function: &str,
        binary: std::path::PathBuf,
        env: BTreeMap<String, String>,
        log: Option<std::path::PathBuf>,
    ) -> Result<LocalLambda, StackError> {
        let template = Template::load_default()?;
        let principal =
            self.principals.get(function).ok_or_else(|| StackError::Config(format!("no principal for {function}")))?;
        let mut names: BTreeMap<String, String> =
            self.resources.tables.clone().into_iter().chain(self.resources.queues.clone()).collect();
        names.insert("LinkSigningKeySecret".into(), self.resources.link_key_secret.clone());
        let parameters = BTreeMap::from([
            ("BigCommerceApiBase".to_string(), self.sandbox.base_url().to_string()),
            ("ApiKeySha256".to_string(), ApiKeys::digest_hex(&self.api_key)),
            ("SecretPrefix".to_string(), self.resources.secret_prefix.clone()),
        ]);
        let mut environment = template.function_environment(function, &parameters, &names)?;
        environment.extend(lambda_environment(&self.aws_endpoint, principal));
        environment.extend(env);
        let spec = LambdaSpec {
            name: function.to_string(),
            binary,
            args: Vec::new(),
            env: environment,
            timeout: template.function_timeout(function),
            memory_mb: template.function_memory_mb(function),
            log,
        };
        Ok(LocalLambda::start(spec).await?)
    }

    /// What the in-process worker has read from the data table so far (calls, items, bytes,
    /// capacity, by the adapter's meter); `None` when the worker runs elsewhere or over memory.
    pub fn worker_reads(&self) -> Option<shared::ports::ReadStats> {
        use shared::ports::RecordReader;
        self.worker_records.as_ref().map(|r| r.stats())
    }

    /// SDK configuration of the admin principal (setup and inspection only).
    pub fn admin_sdk(&self) -> aws_config::SdkConfig {
        self.admin.sdk_config(&self.aws_endpoint)
    }

    /// SDK configuration of `function`'s principal (a logical id, or `<function>.events` for
    /// its event source mapping).
    pub fn function_sdk(&self, function: &str) -> Result<aws_config::SdkConfig, StackError> {
        let principal =
            self.principals.get(function).ok_or_else(|| StackError::Config(format!("no principal for {function}")))?;
        Ok(principal.sdk_config(&self.aws_endpoint))
    }

    /// The sandbox store merchants link in the demo: its API base and the credentials of its
    /// full-access API account, as `target/devstack.json` describes them.
    pub fn sandbox_description(&self) -> Value {
        let Some(store) = self.sandbox.stores().into_iter().next() else {
            return Value::Null;
        };
        let config = store.config();
        let account = &config.accounts[0];
        json!({
            "api_base": self.sandbox.base_url(),
            "store_hash": config.hash,
            "client_id": account.client_id,
            "client_secret": account.client_secret,
            "access_token": account.access_token,
            "api_path": config.api_path(),
        })
    }

    /// The body of `PUT …/authorization` that links the sandbox store (what a merchant pastes).
    pub fn sandbox_credentials(&self) -> Value {
        let store = self.sandbox_description();
        json!({
            "clientId": store["client_id"],
            "clientSecret": store["client_secret"],
            "accessToken": store["access_token"],
            "apiPath": store["api_path"],
        })
    }

    /// Writes `target/devstack.json` (readable by the owner only: it holds the API key).
    pub fn write_description(&self, company_id: Option<&str>, link_url: Option<&str>) -> std::io::Result<PathBuf> {
        let path = crate::repo_root().join("target/devstack.json");
        std::fs::create_dir_all(path.parent().unwrap_or(&crate::repo_root()))?;
        let body = json!({
            "api_url": self.api_url,
            "portal_url": format!("{}/portal", self.api_url),
            "api_key": self.api_key,
            "company_id": company_id,
            "link_url": link_url,
            "aws_endpoint": self.aws_endpoint,
            "aws_admin": {"access_key_id": self.admin.access_key_id, "secret_access_key": self.admin.secret_access_key},
            "link_key_secret": self.resources.link_key_secret,
            "sandbox": self.sandbox_description(),
        });
        let text = serde_json::to_string_pretty(&body).map_err(std::io::Error::other)?;
        write_private(&path, &text)?;
        Ok(path)
    }

    /// Messages waiting on the sync queue (approximate, as SQS counts).
    pub async fn queued_jobs(&self) -> Result<u64, StackError> {
        use aws_sdk_sqs::types::QueueAttributeName;
        let client = aws_sdk_sqs::Client::new(&self.admin_sdk());
        let url =
            self.resources.queues.get("SyncJobsQueue").ok_or_else(|| StackError::Config("no SyncJobsQueue".into()))?;
        let out = client
            .get_queue_attributes()
            .queue_url(url)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
            .send()
            .await
            .map_err(|e| StackError::Config(format!("{e:?}")))?;
        Ok(out
            .attributes
            .and_then(|a| a.get(&QueueAttributeName::ApproximateNumberOfMessages).and_then(|n| n.parse().ok()))
            .unwrap_or(0))
    }

    /// Address the runner listens on.
    pub fn runner_addr(&self) -> std::net::SocketAddr {
        self.runner.addr()
    }

    /// Stops the runner, the queue poller, the sandbox and moto.
    pub async fn stop(self) {
        if let Some(scheduler) = self.scheduler {
            scheduler.abort();
        }
        self.runner.stop().await;
        if let Some((stream, retries)) = self.webhooks {
            stream.stop().await;
            retries.stop().await;
        }
        if let Some(poller) = self.poller {
            poller.stop().await;
        }
        if let Some(poller) = self.fresh_poller {
            poller.stop().await;
        }
        self.sandbox.stop().await;
        if let Some(moto) = self.moto {
            moto.stop().await;
        }
    }
}

/// fn webhooks in this process, with its own principal, fed by its two event source mappings:
/// the platform table's stream (the outbox) and the retry queue.
#[allow(clippy::too_many_arguments)]
async fn start_webhooks(
    template: &Template,
    admin: &aws_config::SdkConfig,
    tables: &BTreeMap<String, String>,
    queues: &BTreeMap<String, String>,
    queue_arns: &BTreeMap<String, String>,
    principals: &Principals,
    endpoint: &str,
    options: &StackOptions,
    api_url: &str,
) -> Result<WebhooksRun, StackError> {
    let function = "WebhooksFunction";
    let missing = |what: &str| StackError::Config(format!("no {what}"));
    let principal = |id: &str| principals.get(id).ok_or_else(|| missing(id)).map(|p| p.sdk_config(endpoint));
    let table = tables.get("PlatformTable").ok_or_else(|| missing("PlatformTable"))?;
    let retry_queue = queues.get("WebhookRetryQueue").ok_or_else(|| missing("WebhookRetryQueue"))?;
    let secret_prefix = format!("{}commerce-link-webhooks/", options.name_prefix);
    // The relay in this process, or fn webhooks' binary as Lambda runs it.
    let (stream_target, retry_target, lambda): (Arc<dyn StreamTarget>, Arc<dyn SqsTarget>, _) =
        match &options.webhooks_process {
            None => {
                let relay = Arc::new(wiring::webhooks(
                    &Clients::new(&principal(function)?),
                    shared::config::WebhooksConfig {
                        table_name: table.clone(),
                        retry_queue_url: retry_queue.clone(),
                        webhook_secret_prefix: secret_prefix,
                        // The dev stack's setting, as fn companies': consumers may be plain http
                        // on 127.0.0.1.
                        transport: shared::webhooks::address::Transport::LoopbackHttp,
                        public_base_url: url::Url::parse(api_url).ok(),
                    },
                ));
                (relay.clone(), relay, None)
            }
            Some(binary) => {
                let own = principals.get(function).ok_or_else(|| missing(function))?;
                let names: BTreeMap<String, String> = tables.clone().into_iter().chain(queues.clone()).collect();
                let parameters = BTreeMap::from([
                    ("WebhookSecretPrefix".to_string(), secret_prefix),
                    ("PublicBaseUrl".to_string(), api_url.to_string()),
                ]);
                let mut env = template.function_environment(function, &parameters, &names)?;
                env.extend(lambda_environment(endpoint, own));
                let spec = LambdaSpec {
                    name: function.to_string(),
                    binary: binary.clone(),
                    args: Vec::new(),
                    env,
                    timeout: template.function_timeout(function),
                    memory_mb: template.function_memory_mb(function),
                    log: None,
                };
                let lambda = Arc::new(LocalLambda::start(spec).await?);
                (lambda.clone(), lambda.clone(), Some(lambda))
            }
        };
    let described = DynamoClient::new(admin)
        .describe_table()
        .table_name(table)
        .send()
        .await
        .map_err(|e| StackError::Config(format!("{e:?}")))?;
    let stream_arn =
        described.table.and_then(|t| t.latest_stream_arn).ok_or_else(|| missing("stream on PlatformTable"))?;
    let streams = aws_sdk_dynamodbstreams::Client::new(&principal("WebhooksFunction.stream")?);
    let stream = crate::streams::StreamPoller::start(streams, stream_arn, 10, stream_target);
    let settings = PollerSettings {
        queue_url: retry_queue.clone(),
        queue_arn: queue_arns.get("WebhookRetryQueue").cloned().unwrap_or_default(),
        batch_size: template.sqs_batch_size("WebhooksFunction").unwrap_or(10),
        timeout: template.function_timeout("WebhooksFunction"),
        fast_forward: None,
    };
    let events = aws_sdk_sqs::Client::new(&principal("WebhooksFunction.events")?);
    Ok((stream, SqsPoller::start(events, settings, retry_target), lambda))
}

/// fn webhooks' two event source mappings, and its process when it runs as one.
type WebhooksRun = (crate::streams::StreamPoller, SqsPoller, Option<Arc<LocalLambda>>);

#[cfg(unix)]
fn write_private(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(path)?;
    file.write_all(text.as_bytes())
}

#[cfg(not(unix))]
fn write_private(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    std::fs::write(path, text)
}
