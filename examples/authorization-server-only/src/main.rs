//! Latchkey as an authorization server only, for several MCP servers (see
//! the library docs and `latchkey.toml` next to `Cargo.toml`).
//!
//! # Running it
//!
//! From the repository root:
//!
//! ```sh
//! cargo run -p authorization-server-only                      # the bundled latchkey.toml
//! cargo run -p authorization-server-only -- --config my.toml  # or your own
//! ```
//!
//! It prints what each resource server needs to know, then serves exactly
//! what `latchkey serve` serves with that configuration; this is the same:
//!
//! ```sh
//! cargo run -p latchkey-server -- --config examples/authorization-server-only/latchkey.toml serve
//! ```
//!
//! `LATCHKEY_*` variables override the file (`LATCHKEY_ISSUER`,
//! `LATCHKEY_BIND`, `LATCHKEY_DATABASE`, `LATCHKEY_DEMO_PASSWORD`, ...). On
//! first start it creates the `demo` user and prints its password. Then start
//! the resource servers the configuration names:
//!
//! ```sh
//! cargo run -p axum-resource-server    # http://127.0.0.1:3000/mcp
//! cargo run -p actix-resource-server   # http://127.0.0.1:3001/mcp
//! ```
//!
//! and a client for each with `latchkey clients add` (see those examples).
//! A token asked for `resource=http://127.0.0.1:3000/mcp` works there and is
//! refused by the other; asking for `scope=calendar:read` together with that
//! resource is `invalid_scope`, and a resource not configured is
//! `invalid_target`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;

/// Latchkey as an authorization server only.
#[derive(Debug, Parser)]
struct Options {
    /// A TOML configuration file instead of the bundled one.
    #[arg(long)]
    config: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> ExitCode {
    let options = Options::parse();
    let config = match authorization_server_only::load(options.config.as_deref(), |name| {
        std::env::var(name).ok()
    }) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("{error}");
            return ExitCode::FAILURE;
        }
    };
    let problems = config.problems();
    if !problems.is_empty() {
        for problem in problems {
            eprintln!("{problem}");
        }
        return ExitCode::FAILURE;
    }
    match authorization_server_only::describe(&config) {
        Ok(text) => println!("{text}"),
        Err(error) => {
            eprintln!("{error}");
            return ExitCode::FAILURE;
        }
    }
    match latchkey_server::serve::run(config).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("{error}");
            ExitCode::FAILURE
        }
    }
}
