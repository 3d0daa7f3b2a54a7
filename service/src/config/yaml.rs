//! The shape of `<home>/config.yaml` as written by users of the reference server, and reading it.
//! Every section is optional, unknown keys are ignored, and scalar types are lenient where users
//! plausibly vary (a port as a number or a string, CORS origins as a string or a list, `model:` as
//! a bare model name). Merging with the environment happens in `mod.rs`.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use super::ConfigError;
use super::model::ProviderConfig;

/// The whole file. Absent file, empty file and a document of only comments all mean "all defaults".
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct YamlFile {
    pub model: Option<ModelSection>,
    pub fallback_providers: Option<Vec<ProviderConfig>>,
    pub platforms: Option<Platforms>,
    pub gateway: Option<Gateway>,
    pub platform_toolsets: Option<PlatformToolsets>,
    pub approvals: Option<ApprovalsSection>,
    pub command_allowlist: Option<Vec<String>>,
    pub agent: Option<AgentSection>,
    pub responses: Option<ResponsesSection>,
    /// The seed guide's legacy `api_server: {enabled, port}` block.
    pub api_server: Option<LegacyApiServer>,
}

/// `model:` is either a bare model id or the full upstream block.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum ModelSection {
    Name(String),
    Full(ModelFields),
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct ModelFields {
    pub provider: Option<String>,
    pub default: Option<String>,
    pub base_url: Option<String>,
    pub api_key: Option<String>,
    pub max_tokens: Option<u32>,
    pub context_length: Option<u32>,
    /// Seconds (may be fractional).
    pub connect_timeout: Option<f64>,
    /// Seconds (may be fractional).
    pub read_timeout: Option<f64>,
    /// Most bytes one upstream answer may take (streamed or not) before it is cut off.
    pub max_response_bytes: Option<u64>,
    /// Most seconds one upstream answer may take in total, however steadily it streams.
    pub max_response_seconds: Option<f64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Platforms {
    pub api_server: Option<PlatformApiServer>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct PlatformApiServer {
    pub extra: Option<ApiServerExtra>,
}

/// `platforms.api_server.extra` — the API server's own settings; the environment wins over them.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ApiServerExtra {
    pub key: Option<String>,
    pub host: Option<String>,
    pub port: Option<Scalar>,
    pub cors_origins: Option<OneOrMany>,
    pub model_name: Option<String>,
    pub model_routes: Option<BTreeMap<String, ProviderConfig>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Gateway {
    pub api_server: Option<GatewayApiServer>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct GatewayApiServer {
    pub max_concurrent_runs: Option<u32>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct PlatformToolsets {
    pub api_server: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ApprovalsSection {
    /// `manual` / `off`; a YAML boolean is accepted too (`false` = off).
    pub mode: Option<Scalar>,
    /// Seconds.
    pub timeout: Option<f64>,
    pub deny: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct AgentSection {
    pub max_turns: Option<u32>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ResponsesSection {
    pub max_stored: Option<u32>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct LegacyApiServer {
    pub enabled: Option<bool>,
    pub port: Option<Scalar>,
}

/// A scalar users write either bare or quoted (`port: 8642` / `port: "8642"`, `mode: off`).
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Scalar {
    Int(i64),
    Bool(bool),
    Float(f64),
    Text(String),
}

impl Scalar {
    /// The scalar as text, the way the user would read it back.
    pub fn as_text(&self) -> String {
        match self {
            Scalar::Int(i) => i.to_string(),
            Scalar::Bool(b) => b.to_string(),
            Scalar::Float(f) => f.to_string(),
            Scalar::Text(s) => s.trim().to_owned(),
        }
    }
}

/// A comma-separated string or a YAML list.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    pub fn into_vec(self) -> Vec<String> {
        match self {
            OneOrMany::One(s) => s.split(',').map(str::to_owned).collect(),
            OneOrMany::Many(v) => v,
        }
    }
}

impl YamlFile {
    /// `platforms.api_server.extra`, if present.
    pub fn extra(&self) -> Option<&ApiServerExtra> {
        self.platforms.as_ref()?.api_server.as_ref()?.extra.as_ref()
    }
}

/// Reads and parses `path`; a missing file means defaults. Syntax and type errors name the file
/// and the line.
pub fn read(path: &Path) -> Result<YamlFile, ConfigError> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(YamlFile::default()),
        Err(source) => {
            return Err(ConfigError::Io {
                path: path.to_path_buf(),
                source,
            });
        }
    };
    parse(path, &text)
}

/// Parses YAML text; `path` is only used in error messages.
pub fn parse(path: &Path, text: &str) -> Result<YamlFile, ConfigError> {
    let parsed: Option<YamlFile> =
        serde_yaml_ng::from_str(text).map_err(|err| ConfigError::Yaml {
            path: path.to_path_buf(),
            line: err.location().map(|loc| loc.line()),
            message: err.to_string(),
        })?;
    Ok(parsed.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(text: &str) -> Result<YamlFile, ConfigError> {
        parse(Path::new("/h/config.yaml"), text)
    }

    #[test]
    fn empty_and_comment_only_files_are_defaults() {
        assert!(p("").unwrap().model.is_none());
        assert!(p("# nothing here\n").unwrap().model.is_none());
    }

    #[test]
    fn legacy_block_and_unknown_keys() {
        let y = p("api_server:\n  enabled: true\n  port: 8642\nsomething_else: {a: 1}\n").unwrap();
        let legacy = y.api_server.unwrap();
        assert_eq!(legacy.enabled, Some(true));
        assert_eq!(legacy.port.unwrap().as_text(), "8642");
    }

    #[test]
    fn model_may_be_a_bare_name() {
        let y = p("model: anthropic/claude-sonnet-4\n").unwrap();
        assert!(
            matches!(y.model, Some(ModelSection::Name(ref n)) if n == "anthropic/claude-sonnet-4")
        );
    }

    #[test]
    fn cors_origins_string_or_list() {
        let y = p("platforms:\n  api_server:\n    extra:\n      cors_origins: \"a, b\"\n").unwrap();
        let v = y.extra().unwrap().cors_origins.clone().unwrap().into_vec();
        assert_eq!(v, vec!["a", " b"]);
        let y = p("platforms:\n  api_server:\n    extra:\n      cors_origins: [a, b]\n").unwrap();
        let v = y.extra().unwrap().cors_origins.clone().unwrap().into_vec();
        assert_eq!(v, vec!["a", "b"]);
    }

    #[test]
    fn syntax_error_names_file_and_line() {
        let err = p("model:\n  provider: openai\n  default: [unclosed\nother: 1\n").unwrap_err();
        match &err {
            ConfigError::Yaml { path, line, .. } => {
                assert_eq!(path, Path::new("/h/config.yaml"));
                assert!(line.is_some());
            }
            other => panic!("unexpected {other:?}"),
        }
        let text = err.to_string();
        assert!(text.contains("/h/config.yaml"), "{text}");
        assert!(text.contains("line"), "{text}");
    }

    #[test]
    fn type_error_names_the_line() {
        let err = p("agent:\n  max_turns: lots\n").unwrap_err();
        match err {
            ConfigError::Yaml { line, .. } => assert_eq!(line, Some(2)),
            other => panic!("unexpected {other:?}"),
        }
    }
}
