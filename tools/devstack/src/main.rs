//! `devstack demo` runs the demo end to end and stops; `devstack dev` keeps the stack running;
//! `devstack change` makes a change in the running dev stack's sandbox store and follows it until
//! the read API shows it.
//!
//! Environment: `DEV_PORT` (default 3000 for dev, any free port for demo), `SANDBOX_PORT`
//! (the BigCommerce sandbox, default 4000 for dev), `MOTO_SERVER` (moto executable, default
//! `.venv/bin/moto_server`), `AWS_ENDPOINT_URL` (use a running emulator instead of starting one).

use std::collections::BTreeMap;
use std::process::ExitCode;

use devstack::client::ApiClient;
use devstack::stack::{DevStack, StackOptions};
use serde_json::{Value, json};

#[tokio::main]
async fn main() -> ExitCode {
    shared::config::init_tracing("warn");
    let command = std::env::args().nth(1).unwrap_or_default();
    let result = match command.as_str() {
        "demo" => demo().await,
        "dev" => dev().await,
        "change" => change(std::env::args().nth(2)).await,
        "invoke" => invoke(std::env::args().nth(2), std::env::args().nth(3)).await,
        "rotate-link-key" => {
            rotate_link_key(std::env::args().nth(2).filter(|s| s != "-"), std::env::args().nth(3)).await
        }
        _ => Err("usage: devstack demo | dev | change [COUNT] | invoke FUNCTION EVENT_FILE | rotate-link-key [SECRET [HOURS]]"
            .into()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

/// `devstack rotate-link-key [SECRET [HOURS]]`: rotates the link keys of a deployed stack
/// (SECRET: the `LinkSigningKeySecret` ARN, with the AWS credentials of the environment), or
/// with no SECRET (or `-`) of the running `make dev` stack (`target/devstack.json`). The previous key
/// stays accepted for HOURS (default 24).
async fn rotate_link_key(secret: Option<String>, hours: Option<String>) -> Result<()> {
    let hours: i64 = hours.map(|h| h.parse()).transpose().map_err(|_| "HOURS must be a whole number")?.unwrap_or(24);
    let (client, secret) = match secret {
        Some(secret) => {
            let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
            (aws_sdk_secretsmanager::Client::new(&sdk), secret)
        }
        None => {
            let path = devstack::repo_root().join("target/devstack.json");
            let text = std::fs::read_to_string(&path)
                .map_err(|_| "no running dev stack (target/devstack.json): pass SECRET")?;
            let description: Value = serde_json::from_str(&text)?;
            let admin = devstack::iam::Principal {
                name: "admin".into(),
                access_key_id: description["aws_admin"]["access_key_id"].as_str().unwrap_or_default().into(),
                secret_access_key: description["aws_admin"]["secret_access_key"].as_str().unwrap_or_default().into(),
            };
            let endpoint = description["aws_endpoint"].as_str().unwrap_or_default();
            let secret = description["link_key_secret"].as_str().ok_or("devstack.json has no link_key_secret")?;
            (aws_sdk_secretsmanager::Client::new(&admin.sdk_config(endpoint)), secret.to_string())
        }
    };
    let sign_after = shared::keyring::SIGN_AFTER;
    let until = devstack::keys::rotate_link_key(&client, &secret, chrono::Duration::hours(hours), sign_after).await?;
    println!(
        "link keys rotated: the new key is accepted now and signs in {} s; the previous one is accepted until {until}",
        sign_after.as_secs()
    );
    Ok(())
}

fn options(default_port: u16) -> Result<StackOptions> {
    let port = match std::env::var("DEV_PORT") {
        Ok(p) => p.parse().map_err(|_| format!("DEV_PORT must be a port number, got '{p}'"))?,
        Err(_) => default_port,
    };
    let aws_endpoint = std::env::var("AWS_ENDPOINT_URL").ok().filter(|e| !e.is_empty());
    let sandbox_port = match std::env::var("SANDBOX_PORT") {
        Ok(p) => p.parse().map_err(|_| format!("SANDBOX_PORT must be a port number, got '{p}'"))?,
        Err(_) if default_port == 0 => 0,
        Err(_) => 4000,
    };
    let sandbox = sandbox::SandboxOptions {
        bind: std::net::SocketAddr::from(([127, 0, 0, 1], sandbox_port)),
        ..Default::default()
    };
    Ok(StackOptions { port, aws_endpoint, sandbox, run_webhooks: true, ..StackOptions::default() })
}

/// Creates a company and a BigCommerce connection; returns both.
async fn create_demo_company(client: &ApiClient) -> Result<(Value, Value)> {
    let company = client.expect("POST", "/companies", Some(&json!({"name": "Demo Outdoor Supplies"})), 200).await?;
    let id = company["id"].as_str().ok_or("company without id")?;
    let connection = client
        .expect("POST", &format!("/companies/{id}/connections"), Some(&json!({"platformKey": "vqzp"})), 200)
        .await?;
    Ok((company, connection))
}

/// How long the demo waits for the first sync.
const DEMO_SYNC_LIMIT: std::time::Duration = std::time::Duration::from_secs(600);

async fn demo() -> Result<()> {
    let mut options = options(0)?;
    // A store of a few thousand orders, with BigCommerce's quota (150 requests per window) in a
    // 1 s window instead of 30 s, so the demo takes a minute rather than half an hour.
    let mut store = sandbox::StoreConfig::from_seed(
        7,
        sandbox::Sizes { orders: 2_000, products: 500, customers: 1_000, categories: 12 },
    );
    store.window = std::time::Duration::from_secs(1);
    options.sandbox.stores = vec![store];
    let (sender, reports) = tokio::sync::mpsc::unbounded_channel();
    options.worker_reports = Some(sender);
    let stack = DevStack::start(options).await?;
    let outcome = run_demo(&stack, reports).await;
    stack.stop().await;
    outcome?;
    println!("\nstopped everything the demo started");
    Ok(())
}

async fn run_demo(
    stack: &DevStack,
    mut reports: tokio::sync::mpsc::UnboundedReceiver<shared::sync::JobReport>,
) -> Result<()> {
    println!("commerce-link demo");
    println!("  AWS emulator (moto): {}", stack.aws_endpoint);
    println!("  API:                 {}", stack.api_url);
    println!("  Portal:              {}/portal", stack.api_url);
    let store = stack.sandbox_description();
    println!(
        "  BigCommerce sandbox: {} (store {})",
        store["api_base"].as_str().unwrap_or_default(),
        store["store_hash"].as_str().unwrap_or_default()
    );
    if let Some(config) = stack.sandbox.stores().first().map(|s| s.config()) {
        println!(
            "                       {} orders, {} products, {} customers; quota {} requests per {} s window",
            config.sizes.orders,
            config.sizes.products,
            config.sizes.customers,
            config.quota,
            config.window.as_secs_f64()
        );
    }
    let client = ApiClient::new(&stack.api_url, &stack.api_key);
    let integration = client.expect("GET", "/integrations/vqzp", None, 200).await?;
    println!("\n1. integration {} ({}) enabled={}", integration["key"], integration["name"], integration["enabled"]);
    // A platform's webhook endpoint: a receiver on loopback that checks each signature.
    let receiver = devstack::receiver::Receiver::start().await?;
    let types = [
        "company.created",
        "connection.created",
        "connection.connected",
        "connection.failed",
        "read.completed.initial",
    ];
    let consumer =
        client.expect("POST", "/webhooks", Some(&json!({"url": receiver.url(), "eventTypes": types})), 201).await?;
    receiver.set_secret(consumer["secret"].as_str().unwrap_or_default());
    println!("   webhook consumer {} at {}", consumer["id"].as_str().unwrap_or_default(), receiver.url());
    let (company, connection) = create_demo_company(&client).await?;
    println!("2. company created");
    println!("     id:        {}", company["id"].as_str().unwrap_or_default());
    println!("     name:      {}", company["name"].as_str().unwrap_or_default());
    println!("     Link URL:  {}", company["redirect"].as_str().unwrap_or_default());
    println!("3. BigCommerce connection created");
    println!("     id:        {}", connection["id"].as_str().unwrap_or_default());
    println!("     status:    {}", connection["status"].as_str().unwrap_or_default());
    println!("     linkUrl:   {}", connection["linkUrl"].as_str().unwrap_or_default());
    let list = client.expect("GET", "/companies?query=dataConnections.status%3DPendingAuth", None, 200).await?;
    println!("4. companies waiting for a merchant: totalResults={}", list["totalResults"]);

    // The merchant's credentials, as Link would submit them (here through the API).
    let body = stack.sandbox_credentials();
    let company_id = company["id"].as_str().unwrap_or_default();
    let connection_id = connection["id"].as_str().unwrap_or_default();
    let path = format!("/companies/{company_id}/connections/{connection_id}/authorization");
    let linked = client.expect("PUT", &path, Some(&body), 200).await?;
    println!("5. credentials verified with the store and linked");
    println!("     status:    {}", linked["status"].as_str().unwrap_or_default());
    println!(
        "     store:     {} ({})",
        linked["connectionInfo"]["storeName"].as_str().unwrap_or_default(),
        linked["connectionInfo"]["storeHash"].as_str().unwrap_or_default()
    );
    println!("     scopes:    {}", linked["connectionInfo"]["grantedScopes"].as_str().unwrap_or_default());
    let waited = std::time::Instant::now();
    while receiver.received().len() < 3 && waited.elapsed() < std::time::Duration::from_secs(10) {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    println!("   webhook events received (signature checked with the standardwebhooks crate):");
    for message in receiver.received().iter().filter(|m| m.body["eventType"] != "read.completed.initial") {
        print_event(message);
    }
    println!("6. first syncs queued; the sync worker takes them off SyncJobsQueue:");
    let started = std::time::Instant::now();
    let statuses = client
        .wait_for_syncs(company_id, DEMO_SYNC_LIMIT, |data_type, status, progress| {
            println!("     [{:>5.1} s] {data_type:<28} {status} {progress}%", started.elapsed().as_secs_f64());
        })
        .await?
        .ok_or_else(|| format!("the first sync did not finish within {} s", DEMO_SYNC_LIMIT.as_secs()))?;
    let wall = started.elapsed();

    // What each data type cost, from the worker's run reports.
    let mut cost: BTreeMap<String, (u64, u64, f64)> = BTreeMap::new();
    while let Ok(report) = reports.try_recv() {
        cost.entry(report.data_type.key().to_string()).or_default();
        for (partner, _) in &report.partners {
            cost.entry(partner.key().to_string()).or_default(); // its calls are the driver's
        }
        let entry = cost.entry(report.data_type.key().to_string()).or_default();
        entry.0 += report.requests;
        entry.1 += report.rate_limited;
        entry.2 += report.elapsed.as_secs_f64();
    }
    let truth = devstack::truth::of_store(&stack.sandbox.stores()[0]);
    let sdk = stack.admin_sdk();
    let records = shared::adapters::dynamodb::records::DynamoRecords::new(
        aws_sdk_dynamodb::Client::new(&sdk),
        stack.tables["DataTable"].clone(),
    );
    let connection = uuid::Uuid::parse_str(connection_id)?;
    println!(
        "\n7. first sync finished in {:.1} s; stored records against the sandbox's ground truth:",
        wall.as_secs_f64()
    );
    println!(
        "     {:<28} {:<13} {:>8} {:>8} {:>9} {:>5} {:>8}",
        "data type", "status", "records", "truth", "API calls", "429s", "seconds"
    );
    let mut mismatches = Vec::new();
    for (key, status) in &statuses {
        let data_type: shared::domain::DataType = serde_json::from_value(json!(key))?;
        let (calls, limited, seconds) = cost.get(key).copied().unwrap_or_default();
        let (stored, expected) = match truth.counts.get(&data_type) {
            Some(expected) => {
                let stored = shared::ports::RecordReader::every_record(
                    &records,
                    shared::ports::RecordSet::new(connection, data_type),
                )
                .await?
                .len();
                if stored != *expected || status != "Complete" {
                    mismatches.push(format!("{key}: {status}, {stored} stored, {expected} expected"));
                }
                (stored.to_string(), expected.to_string())
            }
            None => ("-".to_string(), "-".to_string()),
        };
        println!("     {key:<28} {status:<13} {stored:>8} {expected:>8} {calls:>9} {limited:>5} {seconds:>8.1}");
    }
    let (calls, limited): (u64, u64) = cost.values().fold((0, 0), |(c, l), v| (c + v.0, l + v.1));
    println!("     {:<28} {:<13} {:>8} {:>8} {calls:>9} {limited:>5} {:>8.1}", "total", "", "", "", wall.as_secs_f64());
    if !mismatches.is_empty() {
        return Err(format!("the stored data does not match the ground truth: {}", mismatches.join("; ")).into());
    }
    println!(
        "   every data type matches the ground truth (locations, tax components and disputes: BigCommerce has none)"
    );
    let initial = |r: &devstack::receiver::Received| r.body["eventType"] == "read.completed.initial";
    let waited = std::time::Instant::now();
    while !receiver.received().iter().any(initial) && waited.elapsed() < std::time::Duration::from_secs(10) {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    match receiver.received().into_iter().find(initial) {
        Some(message) => {
            println!("   the platform's webhook: every first-link data type is final");
            print_event(&message);
            let types = message.body["payload"]["dataTypes"].as_array().map_or(0, Vec::len);
            println!("     dataTypes: {types}");
        }
        None => return Err("read.completed.initial did not arrive within 10 s of the first sync".into()),
    }
    print_first_orders(&client, company_id, connection_id).await?;
    print_fresh_change(stack, &client, company_id, connection_id).await
}

/// Step 9: a change made in the store reaches the Commerce API through the store's webhooks
/// and a targeted sync (the demo runs no scheduler: no listing could bring it).
async fn print_fresh_change(stack: &DevStack, client: &ApiClient, company_id: &str, connection_id: &str) -> Result<()> {
    use devstack::change::{self as ch, Route};
    let store = stack.sandbox_description();
    let admin = format!(
        "{}/admin/stores/{}",
        store["api_base"].as_str().unwrap_or_default(),
        store["store_hash"].as_str().unwrap_or_default()
    );
    let before = ch::store_calls(&admin).await?;
    let change = ch::make_change(&admin).await?;
    println!(
        "\n9. a change in the store (order {} added, order {} updated), announced by the store's webhooks:",
        change.added, change.updated
    );
    let limit = std::time::Duration::from_secs(60);
    let took = ch::until_seen(client, company_id, connection_id, &change, limit, |_, _| {}).await?;
    let trail = ch::Trail::between(&before, &ch::store_calls(&admin).await?, ch::delivered(&admin, &change).await?);
    let spent: Vec<String> = trail.calls.iter().map(|(endpoint, n)| format!("{endpoint} ×{n}")).collect();
    println!(
        "     both readable through the Commerce API after {:.1} s: {} callbacks delivered, then a targeted sync of {} store calls ({})",
        took.as_secs_f64(),
        trail.delivered,
        trail.total_calls(),
        spent.join(", ")
    );
    if trail.route() != Route::Webhooks {
        return Err("the change did not come through the store's webhooks alone".into());
    }
    Ok(())
}

/// One webhook delivery: its type, id, whether it verified, and how long after the change.
fn print_event(message: &devstack::receiver::Received) {
    let generated = message.body["generatedDate"].as_str().and_then(|d| chrono::DateTime::parse_from_rfc3339(d).ok());
    let latency = generated.map(|g| (message.arrived - g.to_utc()).num_milliseconds()).unwrap_or_default();
    println!(
        "     {:<22} id {}  verified={}  {} ms after the change",
        message.body["eventType"].as_str().unwrap_or_default(),
        message.id,
        message.verified,
        latency
    );
}

/// Step 8: the first orders, read back through the Commerce API as a platform would.
async fn print_first_orders(client: &ApiClient, company_id: &str, connection_id: &str) -> Result<()> {
    let data = format!("/companies/{company_id}/connections/{connection_id}/data");
    let page = client.expect("GET", &format!("{data}/commerce-orders?page=1&pageSize=5"), None, 200).await?;
    println!("\n8. the first orders through the Commerce API (GET {data}/commerce-orders?page=1&pageSize=5):");
    println!(
        "     totalResults={} pageSize={} next={}",
        page["totalResults"],
        page["pageSize"],
        page["_links"]["next"]["href"].as_str().unwrap_or("-")
    );
    println!("     {:<8} {:<25} {:>12} {:<4} {:>6}  customer", "id", "created", "total", "", "lines");
    for order in page["results"].as_array().into_iter().flatten() {
        println!(
            "     {:<8} {:<25} {:>12.2} {:<4} {:>6}  {}",
            order["id"].as_str().unwrap_or_default(),
            order["createdDate"].as_str().unwrap_or_default(),
            order["totalAmount"].as_f64().unwrap_or_default(),
            order["currency"].as_str().unwrap_or_default(),
            order["orderLineItems"].as_array().map_or(0, Vec::len),
            order["customerRef"]["name"].as_str().unwrap_or("(guest)")
        );
    }
    let big = client
        .expect(
            "GET",
            &format!("{data}/commerce-orders?pageSize=1&query=totalAmount%3E500&orderBy=-totalAmount"),
            None,
            200,
        )
        .await?;
    if let Some(top) = big["results"].get(0) {
        println!(
            "     query=totalAmount>500: {} orders; the largest is {} ({} {})",
            big["totalResults"],
            top["id"].as_str().unwrap_or_default(),
            top["totalAmount"],
            top["currency"].as_str().unwrap_or_default()
        );
    }
    let info = client.expect("GET", &format!("{data}/commerce-info"), None, 200).await?;
    println!(
        "     commerce-info: {} ({})",
        info["companyName"].as_str().unwrap_or_default(),
        info["baseCurrency"].as_str().unwrap_or_default()
    );
    Ok(())
}

/// How often `make dev` runs the scheduler (EventBridge's `rate(15 minutes)` in the template).
const DEV_SCHEDULE_EVERY: std::time::Duration = std::time::Duration::from_secs(60);

/// `make dev`'s scheduler counts as due what comes due within a day: every data type (default
/// `syncSchedule` 24 hours) is synced again at each tick, so changes show within a minute or so.
fn dev_schedule_ahead() -> chrono::Duration {
    chrono::Duration::days(1)
}

/// `make dev`'s retries: 2 s, then three times longer, at most 20 s (deployed: 10 s to 300 s),
/// so a job that fails every attempt is final within about a minute.
fn dev_retries() -> shared::sync::RetryPolicy {
    shared::sync::RetryPolicy {
        first_backoff: std::time::Duration::from_secs(2),
        max_backoff: std::time::Duration::from_secs(20),
        continuation_wait: std::time::Duration::from_secs(120),
        ..shared::sync::RetryPolicy::default()
    }
}

/// `make dev`'s sweep: unsent after 30 s, dead after 2 minutes without a sign of life (deployed:
/// 2 and 20 minutes), so with a tick a minute a dead sync is final within about 3 minutes.
fn dev_sweep() -> shared::sweep::SweepPolicy {
    shared::sweep::SweepPolicy {
        unsent_after: chrono::Duration::seconds(30),
        dead_after: chrono::Duration::minutes(2),
        ..shared::sweep::SweepPolicy::default()
    }
}

/// Prints each scheduler tick that queued something and each sync run, as they happen.
fn print_activity(
    mut ticks: tokio::sync::mpsc::UnboundedReceiver<shared::scheduler::ScheduledTick>,
    mut runs: tokio::sync::mpsc::UnboundedReceiver<shared::sync::JobReport>,
) {
    tokio::spawn(async move {
        let clock = || chrono::Local::now().format("%H:%M:%S");
        loop {
            tokio::select! {
                Some(tick) = ticks.recv() => {
                    if tick.due.queued > 0 {
                        println!("{}  scheduler: {} syncs queued", clock(), tick.due.queued);
                    }
                    if let Some(sweep) = tick.sweep.filter(|s| s.resent + s.unsent_ended + s.dead_ended > 0) {
                        println!(
                            "{}  sweep: {} unsent jobs sent again, {} ended unsent, {} dead syncs ended, {} queued again",
                            clock(), sweep.resent, sweep.unsent_ended, sweep.dead_ended, sweep.requeued
                        );
                    }
                },
                Some(run) = runs.recv() => {
                    let status = match (run.status, run.continued) {
                        (Some(status), _) => status.as_str().to_string(),
                        (None, true) => "continues".to_string(),
                        (None, false) => "will retry".to_string(),
                    };
                    let kind = if run.incremental { "changes only" } else { "full" };
                    println!(
                        "{}  sync {:<28} {status:<10} {kind:<12} {} stored, {} removed, {} calls, {:.1} s",
                        clock(),
                        run.data_type.key(),
                        run.records + run.partners.iter().map(|(_, n)| n).sum::<u64>(),
                        run.removed,
                        run.requests,
                        run.elapsed.as_secs_f64()
                    );
                },
                else => return,
            }
        }
    });
}

async fn dev() -> Result<()> {
    let (tick_tx, tick_rx) = tokio::sync::mpsc::unbounded_channel();
    let (run_tx, run_rx) = tokio::sync::mpsc::unbounded_channel();
    let stack = DevStack::start(StackOptions {
        schedule_every: Some(DEV_SCHEDULE_EVERY),
        schedule_ahead: dev_schedule_ahead(),
        tick_reports: Some(tick_tx),
        worker_reports: Some(run_tx),
        retries: dev_retries(),
        sweep: dev_sweep(),
        // Shorter than the dev sweep's 2 minutes, as the deployed 600 s are than its 20.
        job_budget: std::time::Duration::from_secs(90),
        ..options(3000)?
    })
    .await?;
    let client = ApiClient::new(&stack.api_url, &stack.api_key);
    let (company, _) = match create_demo_company(&client).await {
        Ok(created) => created,
        Err(e) => {
            stack.stop().await;
            return Err(e);
        }
    };
    let link_url = company["redirect"].as_str().unwrap_or_default().to_string();
    let path = stack.write_description(company["id"].as_str(), Some(&link_url))?;
    println!("commerce-link dev stack is running (Ctrl-C to stop)");
    println!("  Portal:    {}/portal (sign in with the API key)", stack.api_url);
    println!("  API URL:   {}", stack.api_url);
    println!("  API key:   {}", stack.api_key);
    println!("  Link URL:  {link_url}");
    println!("  AWS:       {}", stack.aws_endpoint);
    let store = stack.sandbox_description();
    println!(
        "  Sandbox:   {} store {} (API Path {})",
        store["api_base"].as_str().unwrap_or_default(),
        store["store_hash"].as_str().unwrap_or_default(),
        store["api_path"].as_str().unwrap_or_default()
    );
    println!("\n  To connect the sandbox store, open the Link URL and paste:");
    for (label, key) in [
        ("Client ID", "client_id"),
        ("Client Secret", "client_secret"),
        ("Access Token", "access_token"),
        ("API Path", "api_path"),
    ] {
        println!("    {label:<14} {}", store[key].as_str().unwrap_or_default());
    }
    println!("\n  written:   {}", path.display());
    println!(
        "\n  curl -s -H \"Authorization: Basic $(printf %s '{}' | base64)\" {}/companies",
        stack.api_key, stack.api_url
    );
    println!(
        "\n  Scheduled syncs: the scheduler ticks every {} s and, in this dev stack, counts as due",
        DEV_SCHEDULE_EVERY.as_secs()
    );
    println!("  what is due within a day: once linked, every data type syncs again (changes only) each tick.");
    println!(
        "  `make dev-change` adds an order and updates one in the sandbox, then waits until the API shows them.\n"
    );
    print_activity(tick_rx, run_rx);
    wait_for_shutdown().await;
    println!("\nstopping");
    stack.stop().await;
    Ok(())
}

/// How long `make dev-change` waits for each change to reach the read API.
const CHANGE_LIMIT: std::time::Duration = std::time::Duration::from_secs(300);

/// `devstack change [COUNT]`: makes COUNT (default 1) changes in the running dev stack's sandbox,
/// one after the other, follows each until the read API shows it, and reports how it came
/// (the store's webhooks or a scheduled sync), how long it took and what it cost in store calls.
async fn change(count: Option<String>) -> Result<()> {
    use devstack::change::{self as ch, Route, Seen};
    let count: usize = match count.filter(|c| !c.is_empty()) {
        Some(c) => {
            c.parse().ok().filter(|n| (1..=1000).contains(n)).ok_or("COUNT must be a whole number from 1 to 1000")?
        }
        None => 1,
    };
    let path = devstack::repo_root().join("target/devstack.json");
    let text = std::fs::read_to_string(&path)
        .map_err(|e| format!("{} could not be read ({e}): start `make dev` first", path.display()))?;
    let dev: Value = serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    let field = |pointer: &str| {
        dev.pointer(pointer)
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| format!("{} has no {pointer}: restart `make dev`", path.display()))
    };
    let (api_url, api_key, company) = (field("/api_url")?, field("/api_key")?, field("/company_id")?);
    let admin = format!("{}/admin/stores/{}", field("/sandbox/api_base")?, field("/sandbox/store_hash")?);
    let client = ApiClient::new(&api_url, &api_key);
    let connection = ch::linked_connection(&client, &company)
        .await
        .map_err(|e| format!("{e} (is `make dev` still running?)"))?
        .ok_or("the dev company has no Linked connection yet: open the Link URL `make dev` printed and connect the sandbox store")?;
    let mut latencies = Vec::with_capacity(count);
    let mut through_webhooks = 0;
    let mut calls = 0;
    for n in 1..=count {
        let before = ch::store_calls(&admin).await?;
        let change = ch::make_change(&admin).await?;
        println!(
            "{}  change {n}/{count}  sandbox: order {} added, order {} updated",
            change.at.with_timezone(&chrono::Local).format("%H:%M:%S"),
            change.added,
            change.updated
        );
        let took = ch::until_seen(&client, &company, &connection, &change, CHANGE_LIMIT, |seen, after| {
            let what = match seen {
                Seen::Nothing => "not yet: waiting for the store's webhooks or the next scheduled sync",
                Seen::Partly => "one of the two orders shows the change",
                Seen::Fully => "both orders show the change",
            };
            println!("  +{:>5.1} s  read API: {what}", after.as_secs_f64());
        })
        .await?;
        let trail = ch::Trail::between(&before, &ch::store_calls(&admin).await?, ch::delivered(&admin, &change).await?);
        let route = match trail.route() {
            Route::Webhooks => "through the store's webhooks (a targeted sync fetched the orders by id)",
            Route::Schedule => "through a scheduled sync (no webhook callback was delivered)",
            Route::Both => "webhook callbacks delivered, and a scheduled sync listed the orders too",
        };
        let spent: Vec<String> = trail.calls.iter().map(|(endpoint, n)| format!("{endpoint} ×{n}")).collect();
        println!(
            "  readable after {:.1} s, {route}; {} store calls meanwhile ({})",
            took.as_secs_f64(),
            trail.total_calls(),
            spent.join(", ")
        );
        through_webhooks += usize::from(trail.route() == Route::Webhooks);
        calls += trail.total_calls();
        latencies.push(took);
    }
    println!(
        "\n  GET {api_url}/companies/{company}/connections/{connection}/data/commerce-orders/{{id}} shows each change"
    );
    if count > 1 {
        let secs = |d: std::time::Duration| d.as_secs_f64();
        println!(
            "  {count} changes: {through_webhooks} through webhooks alone; readable after median {:.1} s, p95 {:.1} s, max {:.1} s; {:.1} store calls per change",
            secs(ch::percentile(&latencies, 50.0)),
            secs(ch::percentile(&latencies, 95.0)),
            secs(ch::percentile(&latencies, 100.0)),
            calls as f64 / count as f64
        );
    }
    Ok(())
}

async fn invoke(function: Option<String>, event: Option<String>) -> Result<()> {
    let (Some(function), Some(event)) = (function, event) else {
        return Err("usage: devstack invoke FUNCTION EVENT_FILE".into());
    };
    let options = options(0)?;
    let moto = match &options.aws_endpoint {
        Some(_) => None,
        None => Some(devstack::moto::MotoServer::start(&options.moto_binary).await?),
    };
    let sdk = match &moto {
        Some(moto) => moto.admin().sdk_config(moto.endpoint()),
        None => devstack::emulator_sdk_config(),
    };
    let result = devstack::invoke::invoke(&sdk, &function, std::path::Path::new(&event)).await;
    if let Some(moto) = moto {
        moto.stop().await;
    }
    let response = result?;
    println!("{}", response.status());
    for (name, value) in response.headers() {
        println!("{name}: {}", value.to_str().unwrap_or("<binary>"));
    }
    if let lambda_http::Body::Text(text) = response.body() {
        let pretty = serde_json::from_str::<Value>(text).and_then(|v| serde_json::to_string_pretty(&v));
        println!("\n{}", pretty.unwrap_or_else(|_| text.clone()));
    }
    Ok(())
}

async fn wait_for_shutdown() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(term) => term,
            Err(_) => {
                let _ = ctrl_c.await;
                return;
            }
        };
        tokio::select! {
            _ = ctrl_c => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
