//! `nimbus`: the command line. `nimbus serve` runs every service on one port.

mod config;
mod keyring;
mod wiring;

/// glibc's malloc spent about 40% of the server's CPU on the API Gateway -> Lambda path
/// (allocations freed on other threads, arena consolidation); mimalloc does not.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use tokio::net::TcpListener;

use config::{parse_access_keys, Auth, Config, Durability, Isolation, LambdaPermissions};
use nimbus_edge::{AuthMode, Edge, EdgeConfig};
use nimbus_store::{Store, StoreConfig};
use nimbus_sts::{Keys, Sts};

#[derive(Parser)]
#[command(name = "nimbus", version, about = "A serverless cloud in one binary: AWS Lambda, API Gateway, DynamoDB and friends on one port")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve every service on one port until SIGINT/SIGTERM.
    Serve(ServeArgs),
}

#[derive(clap::Args)]
struct ServeArgs {
    /// TOML config file; flags and NIMBUS_* variables override it.
    #[arg(long, env = "NIMBUS_CONFIG")]
    config: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1:4566].
    #[arg(long, env = "NIMBUS_LISTEN")]
    listen: Option<SocketAddr>,
    /// Directory for state [default: ./.nimbus].
    #[arg(long, env = "NIMBUS_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Region for requests that name none [default: us-east-1].
    #[arg(long, env = "NIMBUS_REGION")]
    region: Option<String>,
    /// Account for requests whose access key names none [default: 000000000000].
    #[arg(long, env = "NIMBUS_ACCOUNT_ID")]
    account_id: Option<String>,
    /// Signature checking: off or sigv4 [default: off on loopback, sigv4 otherwise].
    #[arg(long, env = "NIMBUS_AUTH", value_enum)]
    auth: Option<Auth>,
    /// When a write is acknowledged: os (survives kill -9) or fsync (survives power loss) [default: os].
    #[arg(long, env = "NIMBUS_DURABILITY", value_enum)]
    durability: Option<Durability>,
    /// Lambda isolation: strict, best-effort or off [default: best-effort].
    #[arg(long, env = "NIMBUS_LAMBDA_ISOLATION", value_enum)]
    isolation: Option<Isolation>,
    /// Access keys accepted in sigv4 mode: ID:SECRET[:ACCOUNT], comma-separated.
    #[arg(long, env = "NIMBUS_ACCESS_KEYS")]
    access_keys: Option<String>,
    /// API Gateway → Lambda: enforce the function's resource policy (as AWS) or allow-all [default: enforce].
    #[arg(long, env = "NIMBUS_APIGATEWAY_LAMBDA_PERMISSIONS", value_enum)]
    apigateway_lambda_permissions: Option<LambdaPermissions>,
    /// Lambda function URLs: enforce the function's resource policy (as AWS) or allow-all [default: enforce].
    #[arg(long, env = "NIMBUS_LAMBDA_URL_PERMISSIONS", value_enum)]
    lambda_url_permissions: Option<LambdaPermissions>,
    /// Log filter, e.g. info or nimbus_edge=debug [default: info].
    #[arg(long, env = "NIMBUS_LOG")]
    log: Option<String>,
}

impl ServeArgs {
    fn into_config(self) -> Result<Config, config::ConfigError> {
        let mut config = match &self.config {
            Some(path) => Config::from_file(path)?,
            None => Config::default(),
        };
        if let Some(v) = self.listen { config.listen = v; }
        if let Some(v) = self.data_dir { config.data_dir = v; }
        if let Some(v) = self.region { config.region = v; }
        if let Some(v) = self.account_id { config.account_id = v; }
        if let Some(v) = self.auth { config.auth = Some(v); }
        if let Some(v) = self.durability { config.durability = v; }
        if let Some(v) = self.isolation { config.isolation = v; }
        if let Some(v) = self.access_keys { config.access_keys.extend(parse_access_keys(&v)?); }
        if let Some(v) = self.apigateway_lambda_permissions { config.apigateway_lambda_permissions = v; }
        if let Some(v) = self.lambda_url_permissions { config.lambda_url_permissions = v; }
        if let Some(v) = self.log { config.log = v; }
        config.check()?;
        Ok(config)
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => {
            let config = match args.into_config() {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("nimbus: {e}");
                    return ExitCode::from(2);
                }
            };
            let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("nimbus: cannot start the runtime: {e}");
                    return ExitCode::FAILURE;
                }
            };
            match runtime.block_on(serve(config)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("nimbus: {e}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

async fn serve(config: Config) -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_new(&config.log).unwrap_or_else(|_| "info".into()))
        .with_writer(std::io::stderr)
        .init();
    let store = Store::open(StoreConfig::new(&config.data_dir).durability(config.durability.store()))
        .map_err(|e| format!("cannot open the data directory {}: {e}", config.data_dir.display()))?;
    let auth = config.auth_mode();
    if auth == AuthMode::Sigv4 && config.access_keys.is_empty() {
        tracing::warn!("auth is sigv4 but no access keys are configured (--access-keys): every signed request will be refused");
    }
    let keys = Arc::new(Keys::new(config.access_keys.clone(), store.clone()));
    let edge_config = EdgeConfig {
        region: config.region.clone(),
        account_id: config.account_id.clone(),
        auth,
        max_body_bytes: config.max_body_bytes,
    };
    let ring = keyring::KeyRing { keys: keys.clone(), default_account: config.account_id.clone() };
    let mut edge = Edge::new(edge_config, Arc::new(ring));
    edge.register(Arc::new(Sts::new(keys.clone())));
    let dynamodb = nimbus_dynamodb::DynamoDb::new(store.clone());
    edge.register(Arc::new(dynamodb.streams()));
    edge.register(Arc::new(dynamodb.clone()));
    let logs = nimbus_logs::Logs::new(store.clone());
    edge.register(Arc::new(logs.clone()));
    let s3_config = nimbus_s3::S3Config { region: config.region.clone(), account_id: config.account_id.clone(), auth };
    let s3 = nimbus_s3::service(store.clone(), edge.credentials(), s3_config);
    edge.register_s3(s3.clone());
    // ExportTableToPointInTime writes to, and ImportTable reads from, Nimbus' own S3.
    dynamodb.set_object_store(Arc::new(wiring::S3Objects(s3.clone())));
    let listener = TcpListener::bind(config.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", config.listen))?;
    let addr = listener.local_addr()?;
    // Lambda needs the bound edge address (functions get AWS_ENDPOINT_URL pointing at it).
    let lambda_config = nimbus_lambda::LambdaConfig {
        isolation: config.isolation.sandbox(),
        ..nimbus_lambda::LambdaConfig::new(&config.data_dir, addr)
    };
    let lambda = nimbus_lambda::Lambda::start(store.clone(), lambda_config).await?;
    lambda.send_logs_to(logs.clone());
    // Each environment gets STS credentials for its function's execution role.
    lambda.issue_credentials_with(Arc::new(wiring::RoleSessions(keys)));
    // CreateFunction/UpdateFunctionCode with S3Bucket/S3Key read Nimbus' own S3.
    lambda.read_code_from(Arc::new(wiring::S3Code(s3.clone())));
    // S3 event notifications go to Lambda's durable async queue.
    s3.set_event_target(Arc::new(wiring::LambdaEvents(lambda.clone())));
    // Event source mappings read DynamoDB streams.
    lambda.read_streams_from(Arc::new(wiring::DynamoStreams(dynamodb.streams())));
    edge.register(lambda.clone());
    // Function URLs: HTTP requests to `{id}.lambda-url.{region}.*` invoke their function.
    lambda.set_url_permissions_allow_all(config.lambda_url_permissions == LambdaPermissions::AllowAll);
    edge.register_lambda_url(Arc::new(wiring::LambdaUrls(lambda.clone())));
    let vpc_lambda = lambda.clone();
    // API Gateway invokes proxy integrations through Lambda's Invoke operation.
    let apigw = nimbus_apigateway::ApiGateway::new(store.clone(), Arc::new(nimbus_apigateway::HandlerInvoker::new(lambda)), addr.port());
    apigw.set_lambda_permissions(config.apigateway_lambda_permissions.apigateway());
    apigw.send_logs_to(logs.clone());
    // One handler for both models: apigateway and apigatewayv2 share the endpoint prefix.
    edge.register(apigw.rest_apis());
    edge.register(apigw.http_apis());
    edge.register_execute_api(apigw.execute_api());
    println!(
        "nimbus {} listening on http://{addr} (data {}, auth {}, durability {})",
        env!("CARGO_PKG_VERSION"),
        config.data_dir.display(),
        if auth == AuthMode::Off { "off" } else { "sigv4" },
        config.durability.as_str(),
    );
    let edge = Arc::new(edge);
    // VPC functions reach Nimbus through the same router, served inside their network.
    vpc_lambda.serve_vpc_endpoint_with(Arc::new(wiring::EdgeInVpc(Arc::downgrade(&edge))));
    nimbus_edge::serve(listener, edge, shutdown_signal()).await;
    store.sync().map_err(|e| format!("could not flush storage: {e}"))?;
    tracing::info!("stopped");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => {
                let _ = ctrl_c.await;
                return;
            }
        };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
