//! Command-line interface of the `caduceus` binary: `serve` (the default) and `migrate`.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::config::Overrides;

const ENV_HELP: &str = "\
Environment (also read from $HERMES_HOME/.env; the process environment wins; config.yaml is the fallback):
  HERMES_HOME                  home directory (default ~/.hermes)
  API_SERVER_KEY               bearer key, >= 16 chars, not a placeholder; generated into $HERMES_HOME/.env when absent
  API_SERVER_HOST              bind address (default 127.0.0.1)
  API_SERVER_PORT              port for REST, gRPC and gRPC-Web (default 8642)
  API_SERVER_CORS_ORIGINS      comma-separated allowed browser origins; * = any (default none)
  API_SERVER_MODEL_NAME        model id advertised in /v1/models (default hermes-agent)
  DATABASE_URL                 sqlite://... or postgres://... (default sqlite://$HERMES_HOME/caduceus.db)
  HERMES_MAX_ITERATIONS        max agent loop iterations per turn (default 90)
  CUSTOM_BASE_URL              overrides model.base_url of config.yaml
  OPENAI_API_KEY, OPENROUTER_API_KEY, ...  upstream provider keys by provider
  OTEL_EXPORTER_OTLP_ENDPOINT  enables OTLP trace export (with the standard OTEL_* variables)
  RUST_LOG, LOG_FORMAT=json    log filter and format";

/// Caduceus: a gRPC-first API server for a tool-using LLM agent, with an OpenAI-compatible REST/SSE facade.
#[derive(Debug, Parser)]
#[command(name = "caduceus", version, after_help = ENV_HELP)]
pub struct Cli {
    /// What to do (default: serve).
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Options of `serve`, accepted without the subcommand too.
    #[command(flatten)]
    pub serve: ServeArgs,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve REST, gRPC and gRPC-Web on one port (the default).
    Serve(ServeArgs),
    /// Run the database migrations and exit.
    Migrate(CommonArgs),
}

/// Options shared by every subcommand.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct CommonArgs {
    /// Home directory (overrides HERMES_HOME).
    #[arg(long, value_name = "DIR")]
    pub home: Option<PathBuf>,
    /// Database URL (overrides DATABASE_URL).
    #[arg(long, value_name = "URL")]
    pub database_url: Option<String>,
}

/// Options of `serve`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ServeArgs {
    /// Home, database.
    #[command(flatten)]
    pub common: CommonArgs,
    /// Bind address (overrides API_SERVER_HOST).
    #[arg(long, value_name = "ADDR")]
    pub host: Option<String>,
    /// Port (overrides API_SERVER_PORT; 0 picks a free port).
    #[arg(long, value_name = "PORT")]
    pub port: Option<u16>,
    /// Run only the REST facade, calling the gRPC API of a remote Caduceus core at this URL.
    #[arg(long, value_name = "URL")]
    pub grpc_upstream: Option<String>,
    /// Seconds open requests may run after SIGTERM/SIGINT before the server exits.
    #[arg(long, value_name = "SECONDS", default_value_t = 30)]
    pub grace_seconds: u64,
}

impl ServeArgs {
    /// The configuration overrides these flags make.
    pub fn overrides(&self) -> Overrides {
        Overrides {
            home: self.common.home.clone(),
            host: self.host.clone(),
            port: self.port,
            database_url: self.common.database_url.clone(),
            grpc_upstream: self.grpc_upstream.clone(),
        }
    }
}

impl CommonArgs {
    /// The configuration overrides these flags make.
    pub fn overrides(&self) -> Overrides {
        Overrides {
            home: self.home.clone(),
            database_url: self.database_url.clone(),
            ..Overrides::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serve_is_the_default_and_flags_work_without_subcommand() {
        let cli = Cli::parse_from(["caduceus", "--port", "0", "--host", "0.0.0.0"]);
        assert!(cli.command.is_none());
        assert_eq!(cli.serve.port, Some(0));
        let cli = Cli::parse_from(["caduceus", "migrate", "--database-url", "sqlite://x.db"]);
        assert!(
            matches!(cli.command, Some(Command::Migrate(args)) if args.database_url.as_deref() == Some("sqlite://x.db"))
        );
    }
}
