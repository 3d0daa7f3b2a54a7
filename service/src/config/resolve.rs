//! The precedence rules behind `Config::load`, one resolver per setting that needs more than a
//! lookup: the home directory, the API key (validate or generate), the port, the upstream model,
//! approvals, plus the small parsing helpers they share. Defaults live here too. File formats are
//! in `dotenv.rs` / `yaml.rs`; the assembled `Config` is in `mod.rs`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use super::yaml::{self, ModelSection, YamlFile};
use super::{
    ApiKey, ApprovalMode, ApprovalsConfig, ConfigError, KeyProblem, MIN_KEY_LEN, ModelConfig,
    Overrides, dotenv,
};

pub(super) const DEFAULT_HOST: &str = "127.0.0.1";
pub(super) const DEFAULT_PORT: u16 = 8642;
pub(super) const DEFAULT_MODEL_NAME: &str = "hermes-agent";
pub(super) const DEFAULT_MAX_ITERATIONS: u32 = 90;
pub(super) const DEFAULT_MAX_CONCURRENT_RUNS: u32 = 10;
pub(super) const DEFAULT_RESPONSE_STORE_CAPACITY: u32 = 10_000;
pub(super) const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
pub(super) const DEFAULT_READ_TIMEOUT: Duration = Duration::from_secs(300);
/// 16 MiB: far above any real chat answer, small enough that a runaway upstream cannot exhaust
/// memory.
pub(super) const DEFAULT_MAX_RESPONSE_BYTES: u64 = 16 * 1024 * 1024;
/// 30 minutes for one upstream call, however steadily it streams.
pub(super) const DEFAULT_MAX_RESPONSE_TIME: Duration = Duration::from_secs(30 * 60);

/// Process environment over `.env`, remembering which of the two supplied each value so error
/// messages can point at the right place. Empty values count as unset.
pub(super) struct Vars<'a> {
    pub(super) env: &'a HashMap<String, String>,
    pub(super) dotenv: &'a HashMap<String, String>,
    pub(super) dotenv_path: &'a Path,
}

impl Vars<'_> {
    pub(super) fn get(&self, name: &str) -> Option<(String, String)> {
        let non_empty = |v: &String| Some(v.trim().to_owned()).filter(|v| !v.is_empty());
        if let Some(v) = self.env.get(name).and_then(non_empty) {
            return Some((v, format!("{name} (environment)")));
        }
        self.dotenv
            .get(name)
            .and_then(non_empty)
            .map(|v| (v, format!("{name} ({})", self.dotenv_path.display())))
    }

    pub(super) fn value(&self, name: &str) -> Option<String> {
        self.get(name).map(|(v, _)| v)
    }

    /// The merged map handed to provider key lookups.
    pub(super) fn merged(&self) -> HashMap<String, String> {
        let mut all = self.dotenv.clone();
        all.extend(self.env.iter().map(|(k, v)| (k.clone(), v.clone())));
        all
    }
}

pub(super) fn resolve_home(
    env: &HashMap<String, String>,
    overrides: &Overrides,
) -> Result<PathBuf, ConfigError> {
    if let Some(home) = &overrides.home {
        return Ok(home.clone());
    }
    if let Some(home) = env.get("HERMES_HOME").filter(|h| !h.trim().is_empty()) {
        return Ok(PathBuf::from(home.trim()));
    }
    dirs::home_dir()
        .map(|h| h.join(".hermes"))
        .ok_or(ConfigError::NoHome)
}

/// Environment/.env key, else `platforms.api_server.extra.key`, else a generated key appended to
/// `.env`. A configured key that breaks the rules is an error, never silently replaced.
pub(super) fn resolve_key(
    vars: &Vars<'_>,
    yaml: &YamlFile,
    dotenv_path: &Path,
) -> Result<(ApiKey, Option<PathBuf>), ConfigError> {
    let configured = vars.get(dotenv::KEY_VAR).or_else(|| {
        let key = yaml.extra().and_then(|e| non_empty(e.key.as_deref()))?;
        Some((
            key,
            "platforms.api_server.extra.key (config.yaml)".to_owned(),
        ))
    });
    match configured {
        Some((raw, origin)) => ApiKey::parse(&raw)
            .map(|key| (key, None))
            .map_err(|problem| match problem {
                KeyProblem::TooShort { len } => ConfigError::KeyTooShort {
                    origin,
                    len,
                    min: MIN_KEY_LEN,
                },
                KeyProblem::Placeholder => ConfigError::KeyPlaceholder { origin },
                KeyProblem::BadCharacters => ConfigError::KeyBadCharacters { origin },
            }),
        None => {
            let key = ApiKey::generate();
            dotenv::append_key(dotenv_path, &key)?;
            Ok((key, Some(dotenv_path.to_path_buf())))
        }
    }
}

pub(super) fn resolve_port(vars: &Vars<'_>, yaml: &YamlFile) -> Result<u16, ConfigError> {
    if let Some((v, origin)) = vars.get("API_SERVER_PORT") {
        return parse_number(&origin, &v, "a port number (0-65535)");
    }
    let extra_port = yaml.extra().and_then(|e| e.port.as_ref());
    if let Some(port) = extra_port {
        return parse_number(
            "platforms.api_server.extra.port (config.yaml)",
            &port.as_text(),
            "a port number (0-65535)",
        );
    }
    if let Some(port) = yaml.api_server.as_ref().and_then(|a| a.port.as_ref()) {
        return parse_number(
            "api_server.port (config.yaml)",
            &port.as_text(),
            "a port number (0-65535)",
        );
    }
    Ok(DEFAULT_PORT)
}

pub(super) fn resolve_model(
    yaml: &YamlFile,
    vars: &Vars<'_>,
    merged: &HashMap<String, String>,
) -> Result<(ModelConfig, Duration, Duration), ConfigError> {
    let fields = match &yaml.model {
        None => yaml::ModelFields::default(),
        Some(ModelSection::Name(name)) => yaml::ModelFields {
            default: Some(name.clone()),
            ..Default::default()
        },
        Some(ModelSection::Full(fields)) => fields.clone(),
    };
    let mut model = ModelConfig {
        provider: non_empty(fields.provider.as_deref()),
        default: non_empty(fields.default.as_deref()),
        base_url: vars
            .value("CUSTOM_BASE_URL")
            .or_else(|| non_empty(fields.base_url.as_deref())),
        api_key: non_empty(fields.api_key.as_deref()),
        max_tokens: fields.max_tokens,
        context_length: fields.context_length,
    };
    model.api_key = model.resolved_api_key(merged);
    let connect = seconds("model.connect_timeout", fields.connect_timeout)?
        .unwrap_or(DEFAULT_CONNECT_TIMEOUT);
    let read = seconds("model.read_timeout", fields.read_timeout)?.unwrap_or(DEFAULT_READ_TIMEOUT);
    Ok((model, connect, read))
}

/// `model.max_response_bytes` and `model.max_response_seconds`: the bounds on one upstream
/// answer (size, total time), defaults when unset.
pub(super) fn resolve_response_limits(yaml: &YamlFile) -> Result<(u64, Duration), ConfigError> {
    let fields = match &yaml.model {
        Some(ModelSection::Full(fields)) => Some(fields),
        _ => None,
    };
    let bytes = match fields.and_then(|f| f.max_response_bytes) {
        None => DEFAULT_MAX_RESPONSE_BYTES,
        Some(0) => return Err(invalid("model.max_response_bytes", "0", "at least 1")),
        Some(n) => n,
    };
    let time = seconds(
        "model.max_response_seconds",
        fields.and_then(|f| f.max_response_seconds),
    )?
    .unwrap_or(DEFAULT_MAX_RESPONSE_TIME);
    Ok((bytes, time))
}

pub(super) fn resolve_approvals(yaml: &YamlFile) -> Result<ApprovalsConfig, ConfigError> {
    let mut approvals = ApprovalsConfig::default();
    let Some(section) = &yaml.approvals else {
        return Ok(approvals);
    };
    if let Some(mode) = &section.mode {
        approvals.mode = match mode.as_text().to_ascii_lowercase().as_str() {
            "manual" | "true" => ApprovalMode::Manual,
            "off" | "false" => ApprovalMode::Off,
            other => return Err(invalid("approvals.mode", other, "`manual` or `off`")),
        };
    }
    if let Some(timeout) = seconds("approvals.timeout", section.timeout)? {
        approvals.timeout = timeout;
    }
    approvals.deny = section.deny.clone().unwrap_or_default();
    Ok(approvals)
}

/// A positive, finite number of seconds from YAML.
pub(super) fn seconds(name: &str, value: Option<f64>) -> Result<Option<Duration>, ConfigError> {
    match value {
        None => Ok(None),
        Some(secs) => Duration::try_from_secs_f64(secs)
            .ok()
            .filter(|d| !d.is_zero())
            .map(Some)
            .ok_or_else(|| invalid(name, &secs.to_string(), "a positive number of seconds")),
    }
}

pub(super) fn parse_number<T: FromStr>(
    name: &str,
    value: &str,
    expected: &'static str,
) -> Result<T, ConfigError> {
    value
        .trim()
        .parse()
        .map_err(|_| invalid(name, value, expected))
}

pub(super) fn invalid(name: &str, value: &str, expected: &'static str) -> ConfigError {
    ConfigError::InvalidValue {
        name: name.to_owned(),
        value: value.to_owned(),
        expected,
    }
}

pub(super) fn non_empty(value: Option<&str>) -> Option<String> {
    value
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
}

/// Trims entries and drops empty ones; `*` stays as an entry meaning "any origin".
pub(super) fn split_origins(items: impl IntoIterator<Item = String>) -> Vec<String> {
    items
        .into_iter()
        .flat_map(|item| {
            item.split(',')
                .map(str::trim)
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .filter(|o| !o.is_empty())
        .collect()
}

/// `sqlite://<home>/caduceus.db`, escaping the characters the SQLite URL parser treats specially.
pub(super) fn default_database_url(home: &Path) -> String {
    let path = home.join("caduceus.db").to_string_lossy().into_owned();
    let escaped = path
        .replace('%', "%25")
        .replace('?', "%3F")
        .replace('#', "%23");
    format!("sqlite://{escaped}")
}
