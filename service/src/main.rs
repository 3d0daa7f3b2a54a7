//! The `caduceus` binary: parse flags, start logging and tracing, hand over to
//! `caduceus_service::launch`. The telemetry guard lives until `main` returns, so buffered spans
//! are exported before the process exits.

use std::process::ExitCode;
use std::time::Duration;

use caduceus_service::cli::{Cli, Command};
use caduceus_service::launch;
use clap::Parser;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let telemetry = match caduceus_observability::init() {
        Ok(guard) => Some(guard),
        Err(error) => {
            eprintln!("caduceus: {error}");
            None
        }
    };
    let result = match cli.command {
        Some(Command::Migrate(args)) => match launch::load_config(&args.overrides()) {
            Ok(config) => launch::migrate(&config).await,
            Err(error) => Err(error),
        },
        Some(Command::Serve(args)) => serve(args).await,
        None => serve(cli.serve).await,
    };
    let code = match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("caduceus: {error}");
            ExitCode::FAILURE
        }
    };
    if let Some(guard) = telemetry {
        // Flush buffered spans on a blocking thread: the exporter needs the runtime meanwhile.
        let _ = tokio::task::spawn_blocking(move || guard.shutdown()).await;
    }
    code
}

async fn serve(args: caduceus_service::cli::ServeArgs) -> Result<(), launch::LaunchError> {
    let config = launch::load_config(&args.overrides())?;
    launch::serve(config, Duration::from_secs(args.grace_seconds)).await
}
