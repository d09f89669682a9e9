//! `sandbox serve` runs a local BigCommerce API until Ctrl-C; `sandbox export` writes a store's
//! ground truth as JSON lines.
//!
//! Options (`serve` and `export`): `--port N` (default 4000; 0 = any), `--host IP` (default
//! 127.0.0.1), `--seed N` (default 7), `--orders N`, `--products N`, `--customers N`,
//! `--categories N`, `--quota N` (default 150), `--window-ms N` (default 30000),
//! `--loopback-hooks true|false` (default false: accept webhook destinations on localhost).

use std::net::{IpAddr, SocketAddr};
use std::process::ExitCode;
use std::time::Duration;

use sandbox::{Sandbox, SandboxOptions, Sizes, StoreConfig};

struct Cli {
    command: String,
    host: IpAddr,
    port: u16,
    config: StoreConfig,
    loopback_hooks: bool,
}

fn parse() -> Result<Cli, String> {
    let mut args = std::env::args().skip(1);
    let command = args.next().unwrap_or_default();
    let (mut host, mut port, mut seed) = (IpAddr::from([127, 0, 0, 1]), 4000u16, 7u64);
    let mut sizes = Sizes::default();
    let (mut quota, mut window) = (150u32, 30_000u64);
    let mut loopback_hooks = false;
    while let Some(flag) = args.next() {
        let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let number = || value.parse::<u64>().map_err(|_| format!("{flag} needs a number, got '{value}'"));
        let small = || value.parse::<u32>().map_err(|_| format!("{flag} needs a number, got '{value}'"));
        match flag.as_str() {
            "--host" => host = value.parse().map_err(|_| format!("--host needs an IP address, got '{value}'"))?,
            "--port" => port = value.parse().map_err(|_| format!("--port needs a port, got '{value}'"))?,
            "--seed" => seed = number()?,
            "--orders" => sizes.orders = small()?,
            "--products" => sizes.products = small()?,
            "--customers" => sizes.customers = small()?,
            "--categories" => sizes.categories = small()?,
            "--quota" => quota = small()?,
            "--window-ms" => window = number()?,
            "--loopback-hooks" => {
                loopback_hooks =
                    value.parse().map_err(|_| format!("--loopback-hooks needs true or false, got '{value}'"))?
            }
            other => return Err(format!("unknown option {other}")),
        }
    }
    let mut config = StoreConfig::from_seed(seed, sizes);
    config.quota = quota;
    config.window = Duration::from_millis(window.max(1));
    Ok(Cli { command, host, port, config, loopback_hooks })
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = match parse() {
        Ok(cli) => cli,
        Err(e) => {
            eprintln!(
                "error: {e}\nusage: sandbox serve|export [--host IP] [--port N] [--seed N] [--orders N] [--products N] [--customers N] [--categories N] [--quota N] [--window-ms N] [--loopback-hooks true|false]"
            );
            return ExitCode::FAILURE;
        }
    };
    match cli.command.as_str() {
        "serve" => {
            let options = SandboxOptions {
                bind: SocketAddr::new(cli.host, cli.port),
                stores: vec![cli.config.clone()],
                loopback_hooks: cli.loopback_hooks,
            };
            let sandbox = match Sandbox::start(options).await {
                Ok(s) => s,
                Err(e) => {
                    eprintln!("error: cannot listen on {}:{}: {e}", cli.host, cli.port);
                    return ExitCode::FAILURE;
                }
            };
            let c = &cli.config;
            println!("BigCommerce sandbox on {} (Ctrl-C to stop)", sandbox.base_url());
            println!(
                "  store hash:  {}  ({} orders, {} products, {} customers)",
                c.hash, c.sizes.orders, c.sizes.products, c.sizes.customers
            );
            println!("  API base:    {}/stores/{}/v3/", sandbox.base_url(), c.hash);
            println!("  rate limit:  {} requests per {} ms", c.quota, c.window.as_millis());
            for account in &c.accounts {
                let scopes: Vec<_> = account.scopes.iter().map(|s| s.name()).collect();
                println!(
                    "  account {}: X-Auth-Token {}  scopes {}",
                    account.name,
                    account.access_token,
                    scopes.join(",")
                );
            }
            println!(
                "  admin:       {}/admin/stores/{}  (faults, rate-limit, mutate, hooks, metrics, export)",
                sandbox.base_url(),
                c.hash
            );
            let _ = tokio::signal::ctrl_c().await;
            sandbox.stop().await;
            ExitCode::SUCCESS
        }
        "export" => {
            let store = sandbox::Store::new(cli.config);
            let base = format!("http://{}:{}/stores/{}", cli.host, cli.port, store.hash());
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            match sandbox::api::export(&store.data(), &base, &mut out) {
                Ok(lines) => {
                    eprintln!("{lines} records");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        other => {
            eprintln!("error: unknown command '{other}'; use serve or export");
            ExitCode::FAILURE
        }
    }
}
