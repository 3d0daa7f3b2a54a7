//! What the binary's subcommands do, as library functions: load configuration, announce a
//! generated key, open and migrate the store, bind the port with a clear error, and serve.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Duration;

use tokio::net::TcpListener;

use crate::config::{Config, Overrides};
use crate::server;
use crate::state::AppState;
use crate::store::Store;

/// A start-up failure, with a message meant for the operator.
#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    /// Configuration is invalid.
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    /// The database could not be opened or migrated.
    #[error("database: {0}")]
    Store(#[from] crate::store::StoreError),
    /// The port could not be bound.
    #[error("cannot listen on {address}: {reason}")]
    Bind {
        /// host:port.
        address: String,
        /// What went wrong, in words.
        reason: String,
    },
    /// The agent could not be set up (e.g. an invalid upstream configuration).
    #[error("agent: {0}")]
    Agent(crate::error::Error),
    /// Serving failed.
    #[error(transparent)]
    Serve(#[from] server::ServeError),
}

/// Loads configuration from the process environment plus `overrides`, announcing a generated key.
pub fn load_config(overrides: &Overrides) -> Result<Config, LaunchError> {
    let env: HashMap<String, String> = std::env::vars().collect();
    let config = Config::load(&env, overrides)?;
    if let Some(path) = &config.generated_key_path {
        // Printed once, on stderr, so the operator can copy it; it is stored in `path` (mode 0600).
        eprintln!(
            "caduceus: no API_SERVER_KEY was configured; generated one and saved it to {}:\n\n    API_SERVER_KEY={}\n",
            path.display(),
            config.api_key.expose()
        );
    }
    Ok(config)
}

/// Opens the store and runs its migrations.
pub async fn open_store(config: &Config) -> Result<Store, LaunchError> {
    let store = Store::connect(&config.database_url).await?;
    store.migrate().await?;
    Ok(store)
}

/// Binds `host:port`, turning "address in use" into a message naming the port.
pub async fn bind(host: &str, port: u16) -> Result<TcpListener, LaunchError> {
    let address = if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    };
    TcpListener::bind(&address).await.map_err(|error| {
        let reason = match error.kind() {
            std::io::ErrorKind::AddrInUse => format!(
                "port {port} is already in use (is another Caduceus running? set API_SERVER_PORT or --port)"
            ),
            std::io::ErrorKind::PermissionDenied => {
                format!("permission denied for port {port}")
            }
            _ => error.to_string(),
        };
        LaunchError::Bind { address, reason }
    })
}

/// `caduceus serve`: everything until SIGTERM/SIGINT, then drain and return.
pub async fn serve(config: Config, grace: Duration) -> Result<(), LaunchError> {
    let listener = bind(&config.host, config.port).await?;
    warn_if_exposed(&config.host);
    if let Some(upstream) = config.grpc_upstream.clone() {
        server::serve_facade(
            listener,
            &upstream,
            config.cors_origins.clone(),
            server::shutdown_signal(),
            grace,
        )
        .await?;
        return Ok(());
    }
    let store = open_store(&config).await?;
    if !config.model.is_configured() {
        tracing::warn!(
            "no upstream LLM configured: agent routes answer 503 until model.base_url and model.default are set in config.yaml"
        );
    }
    let state = AppState::new(config, store).map_err(LaunchError::Agent)?;
    if let Some(every) = sweep_interval(std::env::var(SWEEP_ENV).ok().as_deref())? {
        state.runs.set_sweep_interval(every);
    }
    server::serve(listener, state, server::shutdown_signal(), grace).await?;
    tracing::info!("stopped");
    Ok(())
}

/// `caduceus migrate`.
pub async fn migrate(config: &Config) -> Result<(), LaunchError> {
    open_store(config).await?;
    tracing::info!("migrations applied");
    Ok(())
}

/// Seconds between sweeps for runs of dead replicas (default 30; PostgreSQL multi-replica mode).
pub const SWEEP_ENV: &str = "CADUCEUS_RUN_SWEEP_SECONDS";

/// The sweep period `CADUCEUS_RUN_SWEEP_SECONDS` asks for: a number of seconds in 0.1..=3600.
fn sweep_interval(value: Option<&str>) -> Result<Option<Duration>, LaunchError> {
    let Some(text) = value.map(str::trim).filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    match text.parse::<f64>() {
        Ok(seconds) if (0.1..=3600.0).contains(&seconds) => {
            Ok(Some(Duration::from_secs_f64(seconds)))
        }
        _ => Err(crate::config::ConfigError::InvalidValue {
            name: SWEEP_ENV.to_owned(),
            value: text.to_owned(),
            expected: "a number of seconds between 0.1 and 3600",
        }
        .into()),
    }
}

fn warn_if_exposed(host: &str) {
    let loopback = host == "localhost"
        || host
            .trim_matches(['[', ']'])
            .parse::<IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    if !loopback {
        tracing::warn!(
            host,
            "binding a non-loopback address: the agent's tools run shell commands on THIS host for any client holding the key"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sweep_interval_is_a_bounded_number_of_seconds() {
        assert!(matches!(sweep_interval(None), Ok(None)));
        assert!(matches!(sweep_interval(Some(" ")), Ok(None)));
        assert_eq!(
            sweep_interval(Some("2.5")).ok().flatten(),
            Some(Duration::from_millis(2500))
        );
        for bad in ["0", "-1", "abc", "1e9", "NaN"] {
            let error = sweep_interval(Some(bad)).unwrap_err().to_string();
            assert!(error.contains(SWEEP_ENV), "{error}");
        }
    }
}
