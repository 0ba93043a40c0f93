//! The `latchkey` command: see `latchkey --help` and the crate docs of `latchkey_server`.

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use latchkey_engine::{Engine, NoMetadataFetcher};
use latchkey_server::admin::{self, NewClient};
use latchkey_server::config::ServerConfig;
use latchkey_server::{ServerError, now, os_rng, secrets};
use latchkey_types::{Scope, SecretString};

/// Latchkey: an OAuth 2.1 authorization server for MCP servers.
///
/// With no configuration at all, `latchkey serve` listens on 127.0.0.1:8080,
/// keeps its data in ./latchkey.db and creates a user named `demo`.
#[derive(Debug, Parser)]
#[command(
    name = "latchkey",
    version,
    after_help = "Environment: LATCHKEY_ISSUER, LATCHKEY_BIND, LATCHKEY_DATABASE, LATCHKEY_DATABASE_SYNCHRONOUS, \
LATCHKEY_PROFILE, \
LATCHKEY_RESOURCE, LATCHKEY_ALLOW_INSECURE_HTTP_ISSUER, LATCHKEY_TLS_CERT, LATCHKEY_TLS_KEY, \
LATCHKEY_ALLOWED_ORIGINS, LATCHKEY_TRUSTED_PROXIES, LATCHKEY_LOGIN_MAX_FAILURES_PER_USER, \
LATCHKEY_LOGIN_MAX_FAILURES_PER_ADDRESS, LATCHKEY_LOGIN_WINDOW_SECS, LATCHKEY_LOGIN_MAX_LOCKOUT_SECS and \
LATCHKEY_DEMO_PASSWORD override the configuration file; RUST_LOG filters the logs \
(default warn,latchkey=info,latchkey::access=off; RUST_LOG=warn,latchkey=info adds an access line per request)."
)]
struct Cli {
    /// A TOML configuration file. LATCHKEY_* environment variables override it.
    #[arg(long, global = true, env = "LATCHKEY_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Start the server.
    Serve,
    /// Check the configuration and explain each problem in one line.
    Check,
    /// Manage the people who can log in.
    #[command(subcommand)]
    Users(UsersCommand),
    /// Manage registered clients (applications).
    #[command(subcommand)]
    Clients(ClientsCommand),
    /// Manage the keys that sign access tokens.
    #[command(subcommand)]
    Keys(KeysCommand),
}

#[derive(Debug, Subcommand)]
enum UsersCommand {
    /// Add a user. Without --password-stdin a password is generated and printed once.
    Add {
        /// The user name (letters, digits, . _ - @).
        name: String,
        /// Read the password from standard input (first line).
        #[arg(long)]
        password_stdin: bool,
    },
    /// List the users.
    List,
    /// Remove a user and the consents they gave, and revoke their grants.
    Remove {
        /// The user name.
        name: String,
    },
}

#[derive(Debug, Subcommand)]
enum ClientsCommand {
    /// List the registered clients: id, public or confidential, whether it
    /// may introspect (`introspect`, or `introspect (introspection_clients)`
    /// when only the setting lists it; `-` if not), name, redirect URIs.
    List,
    /// Register a client. Confidential clients get a secret, printed once.
    Add {
        /// The client id; a random one if left out.
        #[arg(long)]
        id: Option<String>,
        /// The name shown on the consent page.
        #[arg(long)]
        name: Option<String>,
        /// A redirect URI (repeat for several): https, or http on 127.0.0.1, ::1 or localhost.
        #[arg(long = "redirect-uri")]
        redirect_uris: Vec<String>,
        /// How the client authenticates: none (public), client_secret_basic or client_secret_post.
        #[arg(long, default_value = "none")]
        auth_method: String,
        /// The scopes the client may ask for, separated by spaces.
        #[arg(long)]
        scope: Option<String>,
        /// Allow the client_credentials grant (confidential clients only).
        #[arg(long)]
        client_credentials: bool,
        /// Allow the client to introspect tokens at /introspect (RFC 7662;
        /// confidential clients only). Stored with the client, so it needs no
        /// introspection_clients entry and survives restarts.
        #[arg(long)]
        introspect: bool,
    },
    /// Remove a client and revoke every token it holds.
    Remove {
        /// The client id.
        id: String,
    },
    /// Delete the dynamically registered clients that never obtained a token
    /// within a day of registering (`serve` also does this every few minutes).
    Purge,
}

#[derive(Debug, Subcommand)]
enum KeysCommand {
    /// List the signing keys.
    List,
    /// Create a new signing key; the old one keeps verifying until retired.
    Rotate,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match ServerConfig::load(cli.config.as_deref(), |name| std::env::var(name).ok()) {
        Ok(config) => config,
        Err(error) if matches!(cli.command, Command::Check) => {
            println!("problem: {error}");
            return ExitCode::FAILURE;
        }
        Err(error) => {
            eprintln!("latchkey: {error}");
            return ExitCode::FAILURE;
        }
    };
    if let Command::Check = cli.command {
        return check(&config);
    }
    let problems = config.problems();
    if !problems.is_empty() {
        for problem in problems {
            eprintln!("latchkey: {problem}");
        }
        return ExitCode::FAILURE;
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("latchkey: the async runtime could not start: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli.command, config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("latchkey: {error}");
            ExitCode::FAILURE
        }
    }
}

fn check(config: &ServerConfig) -> ExitCode {
    let mut problems: Vec<String> = config.problems().iter().map(ToString::to_string).collect();
    if problems.is_empty() && !config.identity_providers.is_empty() {
        problems.extend(check_identity_providers(config));
    }
    if problems.is_empty() {
        println!(
            "the configuration is fine: issuer {}, listening on {}",
            config.issuer, config.bind
        );
        println!("{}", config.login_summary());
        println!("{}", config.sign_in_summary());
        println!("{}", config.introspection_summary());
        println!("{}", config.scope_hierarchy_summary());
        for line in config.limits_summary() {
            println!("{line}");
        }
        println!("{}", config.housekeeping_summary());
        println!("{}", config.metrics_summary());
        return ExitCode::SUCCESS;
    }
    for problem in problems {
        println!("problem: {problem}");
    }
    ExitCode::FAILURE
}

/// Fetches each OpenID provider's discovery document: one line per problem.
fn check_identity_providers(config: &ServerConfig) -> Vec<String> {
    let upstream = config
        .upstream_providers()
        .and_then(|list| latchkey_server::upstream::UpstreamSignIn::new(list, &config.issuer));
    let upstream = match upstream {
        Ok(upstream) => upstream,
        Err(error) => return vec![error.to_string()],
    };
    match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime.block_on(upstream.check()),
        Err(error) => vec![format!("the async runtime could not start: {error}")],
    }
}

async fn run(command: Command, config: ServerConfig) -> Result<(), ServerError> {
    // Not `.lock()`: the log writer on other threads needs stdout while `serve` runs.
    let mut out = std::io::stdout();
    let mut rng = os_rng();
    let now = now();
    // Every command opens the database only if others cannot read it.
    let open =
        || latchkey_server::database::open_with(&config.database, config.database_synchronous);
    match command {
        Command::Check => Ok(()),
        Command::Serve => latchkey_server::serve::run(config).await,
        Command::Users(UsersCommand::Add {
            name,
            password_stdin,
        }) => {
            let password = if password_stdin {
                let mut line = String::new();
                std::io::stdin().read_to_string(&mut line)?;
                let password = line.lines().next().unwrap_or_default().to_owned();
                line.clear();
                Some(SecretString::new(password))
            } else {
                None
            };
            admin::users_add(&open().await?, &name, password, now, &mut rng, &mut out).await
        }
        Command::Users(UsersCommand::List) => admin::users_list(&open().await?, &mut out).await,
        Command::Users(UsersCommand::Remove { name }) => {
            admin::users_remove(&open().await?, &name, now, &mut out).await
        }
        Command::Clients(ClientsCommand::List) => {
            admin::clients_list(&open().await?, &config.introspection_clients, &mut out).await
        }
        Command::Clients(ClientsCommand::Add {
            id,
            name,
            redirect_uris,
            auth_method,
            scope,
            client_credentials,
            introspect,
        }) => {
            let new = NewClient {
                client_id: id,
                name,
                redirect_uris,
                auth_method,
                scope,
                client_credentials,
                introspect,
            };
            let scopes = config
                .engine_config()?
                .resources
                .iter()
                .fold(Scope::empty(), |all, resource| {
                    all.union(&resource.scopes_supported)
                });
            admin::clients_add(&open().await?, &new, &scopes, now, &mut rng, &mut out)
                .await
                .map(|_| ())
        }
        Command::Clients(ClientsCommand::Remove { id }) => {
            admin::clients_remove(&open().await?, &id, now, &mut out).await
        }
        Command::Clients(ClientsCommand::Purge) => {
            let ttl = config.purge_settings()?.unused_client_ttl;
            admin::clients_purge(&open().await?, ttl, now, &mut out)
                .await
                .map(|_| ())
        }
        Command::Keys(KeysCommand::List) => admin::keys_list(&open().await?, &mut out).await,
        Command::Keys(KeysCommand::Rotate) => {
            let store = Arc::new(open().await?);
            let secrets = secrets::load_or_create(&config.secrets_path(), &mut rng)?;
            let engine = Engine::new(
                store,
                config.engine_config()?,
                secrets,
                NoMetadataFetcher,
                now,
                &mut rng,
            )
            .await
            .map_err(ServerError::Engine)?;
            admin::keys_rotate(&engine, now, &mut rng, &mut out).await
        }
    }
}
