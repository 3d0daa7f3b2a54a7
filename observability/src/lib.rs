//! Logging and tracing set-up shared by the Caduceus binaries. Libraries only emit `tracing`
//! events and spans; the binary calls [`init`] once to install the subscriber.
//!
//! `RUST_LOG` filters (default `info`); `LOG_FORMAT=json` switches to one JSON object per line.
//! Logs go to stderr so stdout stays free for command output.

use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// Why the subscriber could not be installed.
#[derive(Debug)]
pub struct InitError(String);

impl std::fmt::Display for InitError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "cannot initialise logging: {}", self.0)
    }
}

impl std::error::Error for InitError {}

/// Installs the global subscriber: env filter plus fmt (text or JSON) on stderr.
pub fn init() -> Result<(), InitError> {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let json = std::env::var("LOG_FORMAT").is_ok_and(|format| format.eq_ignore_ascii_case("json"));
    let registry = tracing_subscriber::registry().with(filter);
    let result = if json {
        registry
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .with_writer(std::io::stderr),
            )
            .try_init()
    } else {
        registry
            .with(tracing_subscriber::fmt::layer().with_writer(std::io::stderr))
            .try_init()
    };
    result.map_err(|error| InitError(error.to_string()))
}
