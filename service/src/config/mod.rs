//! Start-up configuration: [`Config`] and its one constructor [`Config::load`], which merges CLI
//! [`Overrides`] > process environment > `<home>/.env` > `<home>/config.yaml` > defaults, validates
//! the API key (generating one if none is configured) and reports every problem as a
//! [`ConfigError`] a human can act on. File formats live in `dotenv.rs` / `yaml.rs`, key rules in
//! `key.rs`, upstream/policy types in `model.rs`, per-setting precedence in `resolve.rs`. Nothing
//! here reads `std::env` or prints.

mod dotenv;
mod key;
mod model;
mod resolve;
mod yaml;

#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::time::Duration;

pub use key::{ApiKey, KeyProblem, MIN_KEY_LEN};
pub use model::{
    ApprovalMode, ApprovalsConfig, ModelConfig, ModelRoute, ProviderConfig, provider_base_url,
    provider_key_var,
};

use resolve::{
    DEFAULT_HOST, DEFAULT_MAX_CONCURRENT_RUNS, DEFAULT_MAX_ITERATIONS, DEFAULT_MODEL_NAME,
    DEFAULT_RESPONSE_STORE_CAPACITY, Vars, default_database_url, invalid, non_empty, parse_number,
    resolve_approvals, resolve_home, resolve_key, resolve_model, resolve_port,
    resolve_response_limits, split_origins,
};

/// Everything the server needs to start, resolved once at start-up.
#[derive(Debug, Clone)]
pub struct Config {
    /// `$HERMES_HOME`, else `~/.hermes`: holds `.env`, `config.yaml` and the default database.
    pub home: PathBuf,
    pub api_key: ApiKey,
    /// `Some(<home>/.env)` when the key was generated during this load, so the binary can print
    /// the key once together with where it was saved.
    pub generated_key_path: Option<PathBuf>,
    pub host: String,
    pub port: u16,
    /// Allowed browser origins; an entry `*` means any origin.
    pub cors_origins: Vec<String>,
    /// Model id advertised in `/v1/models` and echoed back by default.
    pub model_name: String,
    pub database_url: String,
    pub max_iterations: u32,
    pub model: ModelConfig,
    pub fallback_providers: Vec<ProviderConfig>,
    pub model_routes: BTreeMap<String, ModelRoute>,
    /// 0 = unlimited.
    pub max_concurrent_runs: u32,
    /// `None` = every built-in toolset.
    pub toolsets: Option<Vec<String>>,
    pub approvals: ApprovalsConfig,
    pub command_allowlist: Vec<String>,
    pub response_store_capacity: u32,
    pub upstream_connect_timeout: Duration,
    pub upstream_read_timeout: Duration,
    /// `model.max_response_bytes`: one upstream answer larger than this fails the call.
    pub upstream_max_response_bytes: u64,
    /// `model.max_response_seconds`: one upstream answer taking longer than this fails the call.
    pub upstream_max_response_time: Duration,
    /// Facade-only mode: forward gRPC to this upstream instead of running the core (CLI only).
    pub grpc_upstream: Option<String>,
}

/// CLI flags; they win over the environment, `.env` and `config.yaml`.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub home: Option<PathBuf>,
    pub host: Option<String>,
    pub port: Option<u16>,
    pub database_url: Option<String>,
    pub grpc_upstream: Option<String>,
}

/// Why the server cannot start with the configuration it found; every message says what to fix.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot find the home directory: set HERMES_HOME")]
    NoHome,
    #[error("cannot access {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot parse {path}: {message}")]
    DotEnv { path: PathBuf, message: String },
    #[error("invalid YAML in {path}{}: {message}", line.map(|l| format!(" at line {l}")).unwrap_or_default())]
    Yaml {
        path: PathBuf,
        line: Option<usize>,
        message: String,
    },
    #[error("{name} must be {expected}, got {value:?}")]
    InvalidValue {
        name: String,
        value: String,
        expected: &'static str,
    },
    #[error(
        "the API key from {origin} is too short ({len} characters; the minimum is {min}). \
         Generate one with `openssl rand -hex 32`, or remove it to have one generated"
    )]
    KeyTooShort {
        origin: String,
        len: usize,
        min: usize,
    },
    #[error(
        "the API key from {origin} is a placeholder, not a secret. \
         Set a real key (e.g. `openssl rand -hex 32`), or remove it to have one generated"
    )]
    KeyPlaceholder { origin: String },
    #[error("the API key from {origin} contains whitespace or control characters")]
    KeyBadCharacters { origin: String },
}

impl Config {
    /// Loads from `<home>/.env`, then `env` (wins over .env), then `<home>/config.yaml` as the
    /// fallback for anything not set by the environment; `overrides` win over all of them. `env`
    /// is injected (the binary passes `std::env::vars()`) so tests never touch the process
    /// environment. May write `<home>/.env` when it has to generate the API key.
    pub fn load(
        env: &HashMap<String, String>,
        overrides: &Overrides,
    ) -> Result<Config, ConfigError> {
        let home = resolve_home(env, overrides)?;
        let dotenv_path = home.join(".env");
        let dotenv_vars = dotenv::read(&dotenv_path)?;
        let vars = Vars {
            env,
            dotenv: &dotenv_vars,
            dotenv_path: &dotenv_path,
        };
        let yaml = yaml::read(&home.join("config.yaml"))?;
        let extra = yaml.extra();

        let (api_key, generated_key_path) = resolve_key(&vars, &yaml, &dotenv_path)?;

        let host = overrides
            .host
            .clone()
            .or_else(|| vars.value("API_SERVER_HOST"))
            .or_else(|| extra.and_then(|e| non_empty(e.host.as_deref())))
            .unwrap_or_else(|| DEFAULT_HOST.to_owned());

        let port = match overrides.port {
            Some(port) => port,
            None => resolve_port(&vars, &yaml)?,
        };

        let cors_origins = match vars.get("API_SERVER_CORS_ORIGINS") {
            Some((v, _)) => split_origins(v.split(',').map(str::to_owned)),
            None => extra
                .and_then(|e| e.cors_origins.clone())
                .map(|o| split_origins(o.into_vec()))
                .unwrap_or_default(),
        };

        let model_name = vars
            .value("API_SERVER_MODEL_NAME")
            .or_else(|| extra.and_then(|e| non_empty(e.model_name.as_deref())))
            .unwrap_or_else(|| DEFAULT_MODEL_NAME.to_owned());

        let database_url = overrides
            .database_url
            .clone()
            .or_else(|| vars.value("DATABASE_URL"))
            .unwrap_or_else(|| default_database_url(&home));

        let max_iterations = match vars.get("HERMES_MAX_ITERATIONS") {
            Some((v, origin)) => parse_number(&origin, &v, "a whole number of at least 1")?,
            None => yaml
                .agent
                .as_ref()
                .and_then(|a| a.max_turns)
                .unwrap_or(DEFAULT_MAX_ITERATIONS),
        };
        if max_iterations == 0 {
            return Err(invalid("HERMES_MAX_ITERATIONS", "0", "at least 1"));
        }

        let response_store_capacity = match vars.get("CADUCEUS_RESPONSE_STORE_CAPACITY") {
            Some((v, origin)) => parse_number(&origin, &v, "a whole number")?,
            None => yaml
                .responses
                .as_ref()
                .and_then(|r| r.max_stored)
                .unwrap_or(DEFAULT_RESPONSE_STORE_CAPACITY),
        };

        let merged = vars.merged();
        let (model, connect_timeout, read_timeout) = resolve_model(&yaml, &vars, &merged)?;
        let (max_response_bytes, max_response_time) = resolve_response_limits(&yaml)?;
        let with_key = |mut p: ProviderConfig| {
            p.api_key = p.resolved_api_key(&merged);
            p
        };
        let fallback_providers = yaml
            .fallback_providers
            .clone()
            .unwrap_or_default()
            .into_iter()
            .map(with_key)
            .collect();
        let model_routes = extra
            .and_then(|e| e.model_routes.clone())
            .unwrap_or_default()
            .into_iter()
            .map(|(alias, route)| (alias, with_key(route)))
            .collect();

        Ok(Config {
            api_key,
            generated_key_path,
            host,
            port,
            cors_origins,
            model_name,
            database_url,
            max_iterations,
            model,
            fallback_providers,
            model_routes,
            max_concurrent_runs: yaml
                .gateway
                .as_ref()
                .and_then(|g| g.api_server.as_ref())
                .and_then(|a| a.max_concurrent_runs)
                .unwrap_or(DEFAULT_MAX_CONCURRENT_RUNS),
            toolsets: yaml
                .platform_toolsets
                .as_ref()
                .and_then(|t| t.api_server.clone()),
            approvals: resolve_approvals(&yaml)?,
            command_allowlist: yaml.command_allowlist.clone().unwrap_or_default(),
            response_store_capacity,
            upstream_connect_timeout: connect_timeout,
            upstream_read_timeout: read_timeout,
            upstream_max_response_bytes: max_response_bytes,
            upstream_max_response_time: max_response_time,
            grpc_upstream: overrides.grpc_upstream.clone(),
            home,
        })
    }
}
