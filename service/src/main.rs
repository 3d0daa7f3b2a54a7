//! The `caduceus` binary: parse flags, start logging, hand over to `caduceus_service::launch`.

use std::process::ExitCode;
use std::time::Duration;

use caduceus_service::cli::{Cli, Command};
use caduceus_service::launch;
use clap::Parser;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Err(error) = caduceus_observability::init() {
        eprintln!("caduceus: {error}");
    }
    let result = match cli.command {
        Some(Command::Migrate(args)) => match launch::load_config(&args.overrides()) {
            Ok(config) => launch::migrate(&config).await,
            Err(error) => Err(error),
        },
        Some(Command::Serve(args)) => serve(args).await,
        None => serve(cli.serve).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("caduceus: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(args: caduceus_service::cli::ServeArgs) -> Result<(), launch::LaunchError> {
    let config = launch::load_config(&args.overrides())?;
    launch::serve(config, Duration::from_secs(args.grace_seconds)).await
}
